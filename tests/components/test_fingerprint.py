"""The Trainer's and Transform's cache keys follow exactly the code they run.

The keys are read from the pipeline the factory really builds (building runs
nothing), over an edited copy of the project tree.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from components import fingerprint
from models import registry as models
from pipelines import factory, nodes, registry

PACKAGES = ("components", "datasets", "models", "pipelines", "serving", "zoo")
PIPELINES = registry.names()


@pytest.fixture()
def tree(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A copy of the project's packages to edit, made the root that fingerprints read."""
    root = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(fingerprint.PROJECT_ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PROJECT_ROOT", root)
    return root


@pytest.fixture()
def fingerprinted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The module lists the factory asks to fingerprint, recorded as it builds."""
    calls: list[tuple[str, ...]] = []
    original = fingerprint.project_sources

    def recording(modules, root=None):
        modules = tuple(modules)
        calls.append(modules)
        return original(modules, root)

    monkeypatch.setattr(fingerprint, "project_sources", recording)
    return calls


def _build(name: str, out: pathlib.Path) -> dict[str, str]:
    """``{node id: code_fingerprint}`` of the Trainer and Transform the factory builds for ``name``."""
    pipeline = factory.create_pipeline(registry.get(name), pipeline_root=str(out / "root"),
                                       metadata_path=str(out / "metadata.sqlite"),
                                       serving_dir=str(out / "serving"))
    by_id = {component.id: component for component in pipeline.components}
    return {node: json.loads(by_id[node].exec_properties["custom_config"])["code_fingerprint"]
            for node in (nodes.TRAINER, nodes.TRANSFORM)}


def _edit(path: pathlib.Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def _file(root: pathlib.Path, module: str) -> pathlib.Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _family_module(name: str) -> str:
    return type(models.get(registry.get(name).model)).__module__


def _trainer_modules(name: str, out: pathlib.Path, calls: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The modules whose sources make up the Trainer's key in the pipeline ``name``."""
    calls.clear()  # only this pipeline's fingerprints: matching every earlier one is quadratic
    key = _build(name, out)[nodes.TRAINER]
    matching = {modules for modules in list(calls) if fingerprint.code_fingerprint(modules) == key}
    assert len(matching) == 1, f"the Trainer's key is not one fingerprint of {calls}"
    return matching.pop()


def test_trainer_sources_follow_imports_and_reexports(tmp_path, fingerprinted):
    sources = fingerprint.project_sources(_trainer_modules("digits", tmp_path, fingerprinted))
    # conv.py is reached through the re-export in models/layers/__init__.py.
    assert {"components.trainer.module", "models.cnn", "models.base", "models.registry", "models.layers.conv",
            "components.trainer.data", "components.trainer.export"} <= set(sources)
    # the registry imports every family by name; that must not drag them in.
    assert "models" not in sources
    assert "models.rnn" not in sources


def test_model_edit_changes_trainer_key_only(tree, tmp_path):
    before = _build("digits", tmp_path)
    _edit(tree / "models" / "cnn.py")
    after = _build("digits", tmp_path)
    assert after[nodes.TRAINER] != before[nodes.TRAINER]
    assert after[nodes.TRANSFORM] == before[nodes.TRANSFORM]
    _edit(tree / "models" / "layers" / "conv.py")  # reached through a re-export
    assert _build("digits", tmp_path)[nodes.TRAINER] != after[nodes.TRAINER]


def test_transform_edit_changes_transform_key(tree, tmp_path):
    before = _build("digits", tmp_path)
    _edit(tree / "components" / "transforms" / "image.py")
    assert _build("digits", tmp_path)[nodes.TRANSFORM] != before[nodes.TRANSFORM]


def test_unrelated_edits_change_nothing(tree, tmp_path):
    before = _build("digits", tmp_path)
    _edit(tree / "models" / "__init__.py")
    _edit(tree / "models" / "rnn.py")  # another family
    _edit(tree / "pipelines" / "runner.py")
    _edit(tree / "zoo" / "cli.py")
    _edit(tree / "serving" / "server.py")
    (tree / "models" / "another_family.py").write_text("import keras\n")
    assert _build("digits", tmp_path) == before


@pytest.mark.parametrize("name", PIPELINES)
def test_keys_cover_the_family_and_the_preprocessing_fn(name, tree, tmp_path):
    before = _build(name, tmp_path)
    _edit(_file(tree, _family_module(name)))
    after = _build(name, tmp_path)
    assert after[nodes.TRAINER] != before[nodes.TRAINER], f"{name}: the family's module is not in the Trainer's key"
    assert after[nodes.TRANSFORM] == before[nodes.TRANSFORM]
    _edit(_file(tree, fingerprint.callable_module(registry.get(name).preprocessing_fn)))
    assert _build(name, tmp_path)[nodes.TRANSFORM] != after[nodes.TRANSFORM]


# Run in a fresh interpreter: records, for every project module executed, the
# project modules its import statements load (the module that defines a name
# taken with ``from x import name``, where x re-exports it).
_TRACE = r"""
import builtins, collections, importlib.util, json, sys

out, packages, entries = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3:]
edges = collections.defaultdict(set)
real_import = builtins.__import__


def traced(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    if level:
        name = importlib.util.resolve_name("." * level + name, globals["__package__"])
    parts = name.split(".")
    if parts[0] in packages:
        found = edges[(globals or {}).get("__name__", "")]
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        for item in fromlist or ():
            defined_in = getattr(getattr(module, item, None), "__module__", None) or ""
            found.add(f"{name}.{item}" if f"{name}.{item}" in sys.modules else defined_in)
    return module


builtins.__import__ = traced
for entry in entries:
    __import__(entry)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in packages)
edges = {k: sorted(m for m in v if m.split(".")[0] in packages) for k, v in edges.items()}
with open(out, "w") as f:
    json.dump({"loaded": loaded, "edges": edges}, f)
"""


def _only_gathers(module: str) -> bool:
    """Whether ``module`` is a package ``__init__`` with nothing but a docstring, imports and ``__all__``."""
    path = fingerprint.PROJECT_ROOT.joinpath(*module.split("."), "__init__.py")
    if not path.is_file():
        return False
    for statement in ast.parse(path.read_text()).body:
        docstring = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
        dunder_all = isinstance(statement, ast.Assign) and [getattr(t, "id", "") for t in statement.targets] == [
            "__all__"]
        if not (docstring or dunder_all or isinstance(statement, ast.Import | ast.ImportFrom)):
            return False
    return True


def _really_loaded(entries: list[str], edges: dict[str, list[str]], loaded: set[str]) -> set[str]:
    """Project modules executed for ``entries``, not counting what gathering ``__init__``s import."""
    pending = [".".join(e.split(".")[:i]) for e in entries for i in range(1, e.count(".") + 2)]
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen or module not in loaded:
            continue
        seen.add(module)
        if not _only_gathers(module):
            pending.extend(edges.get(module, ()))
    return {m for m in seen if not _only_gathers(m)}


def test_modules_the_trainer_loads_are_in_its_key(tmp_path, fingerprinted):
    trainer_module = fingerprint.callable_module(factory.TRAINER_RUN_FN)
    families = sorted({_family_module(name) for name in PIPELINES})
    trace = tmp_path / "trace.json"
    env = {**os.environ, "PYTHONPATH": str(fingerprint.PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", _TRACE, str(trace), ",".join(PACKAGES), trainer_module, *families],
                   cwd=fingerprint.PROJECT_ROOT, env=env, check=True, timeout=600)
    recorded = json.loads(trace.read_text())
    for name in PIPELINES:
        keyed = fingerprint.project_sources(_trainer_modules(name, tmp_path, fingerprinted))
        loaded = _really_loaded([trainer_module, _family_module(name)], recorded["edges"], set(recorded["loaded"]))
        assert _family_module(name) in loaded
        assert loaded <= set(keyed), f"{name}: the Trainer runs modules its key misses: {sorted(loaded - set(keyed))}"
