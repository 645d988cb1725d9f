"""Source fingerprints that make TFX's cache follow code changes.

TFX caches a component on its inputs and execution properties. A ``run_fn``
or ``preprocessing_fn`` given as a dotted path carries no trace of the code
behind it, so the pipeline passes ``code_fingerprint(...)`` in the component's
``custom_config``: it hashes the named modules and every project module they
import, transitively. Editing the CNN then re-runs the Trainer (and so the
Evaluator and Pusher downstream) and nothing upstream; editing an unrelated
file re-runs nothing.

Package ``__init__`` files are not followed: in this project they only
gather imports or re-export, and one family's edit must not invalidate another's
Trainer (``models.registry`` imports the families by name, on first use, which
an import statement does not show either).
"""

from __future__ import annotations

import ast
import hashlib
import pathlib
from collections.abc import Iterable

PROJECT_PACKAGES = frozenset({"components", "datasets", "models", "pipelines", "serving", "zoo"})
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _module_file(name: str, root: pathlib.Path) -> tuple[pathlib.Path, bool] | None:
    """``(path, is_package)`` of a project module, found without importing it."""
    base = root.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    return None  # a name imported from a module, not a module itself


def _imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names ``source`` imports (relative imports resolved).

    ``from a.b import c`` yields ``a.b.c``: the submodule when there is one,
    else a name that ``a.b`` defines or re-exports.
    """
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}


def project_sources(modules: Iterable[str], root: pathlib.Path | None = None) -> dict[str, bytes]:
    """Source of ``modules`` and the project modules they import, by module name.

    Modules are looked up under ``root``, by default :data:`PROJECT_ROOT` as it
    is when called (tests point it at an edited copy of the tree). A package's
    ``__init__`` is followed only when a name is taken from it that is not one
    of its submodules (a re-export such as ``from models.layers import ConvBlock``).
    """
    root = PROJECT_ROOT if root is None else root
    modules = list(modules)
    sources: dict[str, bytes] = {}
    pending = list(modules)
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        found = _module_file(name, root)
        if found is None:
            parent = name.rpartition(".")[0]
            if parent and _module_file(parent, root) is not None and parent not in sources:
                modules.append(parent)  # a name defined or re-exported by `parent`
                pending.append(parent)
            continue
        path, is_package = found
        if is_package and name not in modules:
            continue  # `import pkg` alone does not pull in what pkg/__init__ gathers
        source = path.read_bytes()
        sources[name] = source
        pending.extend(_imported_modules(source.decode("utf-8"), name, is_package))
    return sources


def code_fingerprint(modules: Iterable[str], root: pathlib.Path | None = None) -> str:
    """SHA-256 over the sources of ``modules`` and their project imports (under ``root``, as above)."""
    digest = hashlib.sha256()
    for name, source in sorted(project_sources(modules, root).items()):
        digest.update(name.encode() + b"\0" + source + b"\0")
    return digest.hexdigest()


def callable_module(dotted_path: str) -> str:
    """``'components.trainer.module.run_fn'`` -> ``'components.trainer.module'``."""
    return dotted_path.rpartition(".")[0]
