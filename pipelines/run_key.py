"""What a pipeline run depends on, as digests: a run whose key equals the last
successful run's key has nothing to do.

The key has four parts, each a digest:

* ``config``: the pipeline config with every override (hyperparameters,
  dataset, thresholds ...);
* ``code``: the project code the pipeline's components run (the factory and
  every module it imports, the Transform's ``preprocessing_fn`` module, the
  Trainer module and the model family's file, followed through their project
  imports as the components' own cache keys are, see ``components/fingerprint.py``);
* ``dataset``: the TFDS dataset's name and version, the code of the local
  builders, and the prepared files' names, sizes and modification times;
* ``stack``: the Python version and every installed distribution's version.

Computing it imports neither TensorFlow nor TFX (a no-op run must answer in
seconds): the family's file is found by reading ``models/*.py``, not by
importing the registry.

>>> key = RunKey(config="a", code="b", dataset="c", stack="d")
>>> key.changed(RunKey(config="a", code="x", dataset="c", stack="d"))
['code']
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import pathlib
import sys
import sysconfig
from typing import Any

from components.fingerprint import PROJECT_ROOT, callable_module, code_fingerprint
from pipelines.config import PipelineConfig

TRAINER_MODULE = "components.trainer.module"
FACTORY_MODULE = "pipelines.factory"


@dataclasses.dataclass(frozen=True)
class RunKey:
    config: str
    code: str
    dataset: str | None  # None: the dataset is not prepared yet, so the run has work to do
    stack: str

    def changed(self, other: RunKey) -> list[str]:
        """Names of the parts that differ from ``other``."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunKey:
        return cls(**{f.name: values.get(f.name) for f in dataclasses.fields(cls)})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def family_module(model: str, root: str | os.PathLike | None = None) -> str:
    """The module under ``models/`` whose registered family is named ``model``
    (a class body assigning ``name = "<model>"``), found without importing it."""
    folder = os.path.join(root or PROJECT_ROOT, "models")
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".py"):
            continue
        with open(os.path.join(folder, file)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name"
                                                         for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant) and stmt.value.value == model
                    for stmt in node.body):
                return f"models.{file[:-3]}"
    raise KeyError(f"no model family named {model!r} in {folder}")


def code_modules(config: PipelineConfig, root: str | os.PathLike | None = None) -> list[str]:
    """The modules whose code (with their project imports) a run of ``config`` executes,
    its pretraining stage's included."""
    modules = [FACTORY_MODULE, callable_module(config.preprocessing_fn), TRAINER_MODULE,
               family_module(config.model, root), *config.dataset.builder_modules]
    if config.pretraining is not None:
        modules += [m for m in code_modules(config.pretraining, root) if m not in modules]
    return modules


def config_digest(config: PipelineConfig) -> str:
    return _digest(json.dumps(dataclasses.asdict(config), sort_keys=True, default=repr))


def data_dir() -> str:
    """TFDS' data folder, as TFDS resolves it (``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``)."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def dataset_digest(config: PipelineConfig, root: str | os.PathLike | None = None) -> str | None:
    """Digest of the prepared dataset (and the pretraining stage's), or ``None`` when
    one is not prepared (then the run must go through TFDS to prepare or find it)."""
    own = _one_dataset_digest(config, root)
    if config.pretraining is None or own is None:
        return own
    upstream = dataset_digest(config.pretraining, root)
    return None if upstream is None else _digest(own + upstream)


def _one_dataset_digest(config: PipelineConfig, root: str | os.PathLike | None = None) -> str | None:
    name, version = config.dataset.name, config.dataset.version
    folder = os.path.join(data_dir(), *name.split("/"))
    if not os.path.isdir(folder):
        return None
    versions = sorted(v for v in os.listdir(folder) if v[:1].isdigit() and not v.endswith(".incomplete"))
    chosen = version if version in versions else (versions[-1] if versions and version is None else None)
    if chosen is None:
        return None
    manifest = [name, chosen, code_fingerprint(config.dataset.builder_modules, pathlib.Path(root or PROJECT_ROOT))]
    base = os.path.join(folder, chosen)
    for dirpath, dirnames, files in os.walk(base):
        dirnames.sort()
        for file in sorted(files):
            stat = os.stat(os.path.join(dirpath, file))
            manifest.append(f"{os.path.relpath(os.path.join(dirpath, file), base)}:{stat.st_size}:{stat.st_mtime_ns}")
    return _digest("\n".join(manifest))


def stack_digest() -> str:
    """Digest of the Python version and every distribution installed in this
    environment (its site-packages, whatever ``sys.path`` holds), by name and version."""
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions(path=site)
                    if d.metadata["Name"]})
    return _digest("\n".join([sys.version, *dists]))


def run_key(config: PipelineConfig, root: str | os.PathLike | None = None) -> RunKey:
    root = pathlib.Path(root or PROJECT_ROOT)
    return RunKey(config=config_digest(config), code=code_fingerprint(code_modules(config, root), root),
                  dataset=dataset_digest(config, root), stack=stack_digest())


# ----------------------------------------------------------------- run history


@dataclasses.dataclass(frozen=True)
class Success:
    """The last run that ended with its model served: its key and what it served."""

    run_id: str
    key: RunKey
    served_version: str
    served_path: str
    finished: float


class RunHistory:
    """``<output>/runs/<pipeline>.json`` (the last success, a plain file) and the runs that found nothing
    to do: ``zoo.SkippedRun`` executions in ML Metadata (``pipelines.metadata``), so ``zoo runs`` reads
    them from the store that holds TFX's runs. ``metadata`` is that store (a ``ConnectionConfig`` or a
    SQLite path; default ``metadata.sqlite`` beside ``folder``). Skipped runs that older outputs kept in
    ``<pipeline>.skipped.jsonl`` are still read."""

    def __init__(self, folder: str, metadata: Any = None) -> None:
        self.folder = folder
        self.metadata = metadata if metadata is not None else os.path.join(
            os.path.dirname(os.path.abspath(folder)), "metadata.sqlite")

    def _path(self, pipeline: str, suffix: str) -> str:
        return os.path.join(self.folder, pipeline + suffix)

    def last_success(self, pipeline: str) -> Success | None:
        try:
            with open(self._path(pipeline, ".json")) as f:
                values = json.load(f)
            return Success(values["run_id"], RunKey.from_dict(values["key"]), values["served_version"],
                           values["served_path"], values["finished"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no usable record: the run goes through TFX

    def record_success(self, pipeline: str, success: Success) -> None:
        os.makedirs(self.folder, exist_ok=True)
        tmp = self._path(pipeline, ".json.tmp")
        with open(tmp, "w") as f:
            json.dump(dataclasses.asdict(success), f, indent=1)
        os.replace(tmp, self._path(pipeline, ".json"))

    def record_skip(self, pipeline: str, started: float, seconds: float, success: Success) -> None:
        """One ``zoo.SkippedRun`` execution in the pipeline's ML Metadata context (a line of
        ``<pipeline>.skipped.jsonl`` when the store cannot take it: nothing is lost)."""
        from pipelines.metadata import SKIPPED_RUN, MetadataStoreError, record_execution

        record = {"pipeline": pipeline, "started": started, "seconds": seconds, "same_as": success.run_id,
                  "served_version": success.served_version}
        if isinstance(self.metadata, str):
            os.makedirs(os.path.dirname(self.metadata) or ".", exist_ok=True)
        try:
            record_execution(self.metadata, SKIPPED_RUN, {**record, "outcome": "no-op"})
        except MetadataStoreError:
            os.makedirs(self.folder, exist_ok=True)
            with open(self._path(pipeline, ".skipped.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")

    def skipped(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Skipped runs, oldest first, of one pipeline or all (ML Metadata's and older outputs' JSONL)."""
        from pipelines.metadata import SKIPPED_RUN, load_executions, read_jsonl

        rows = load_executions(self.metadata, SKIPPED_RUN, pipeline) + read_jsonl(self.folder, ".skipped.jsonl",
                                                                                  pipeline)
        return sorted(rows, key=lambda row: row["started"])


def nothing_to_do(config: PipelineConfig, history: RunHistory, root: str | os.PathLike | None = None,
                  key: RunKey | None = None) -> tuple[Success | None, list[str]]:
    """``(last success, [])`` when a run of ``config`` would change nothing: its key
    equals the last successful run's and that run's model is still being served.
    Otherwise ``(None, reasons)``."""
    last = history.last_success(config.name)
    if last is None:
        return None, ["no successful run recorded"]
    key = key or run_key(config, root)
    if key.dataset is None:
        return None, [f"dataset {config.dataset.name!r} is not prepared in {data_dir()}"]
    changed = key.changed(last.key)
    if changed:
        return None, [f"{part} changed" for part in changed]
    if not os.path.isfile(os.path.join(last.served_path, "saved_model.pb")):
        return None, [f"served version {last.served_version} is gone from {last.served_path}"]
    return last, []
