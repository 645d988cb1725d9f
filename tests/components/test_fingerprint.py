"""The Trainer's and Transform's cache keys follow exactly the code they run."""

import pathlib
import shutil

import pytest

from components.fingerprint import PROJECT_ROOT, code_fingerprint, project_sources

TRAINER = ["components.trainer.module", "models.cnn"]
TRANSFORM = ["components.transforms.image"]


@pytest.fixture()
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the project's packages to edit."""
    for package in ("components", "models", "pipelines", "zoo"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit(path: pathlib.Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_trainer_sources_follow_imports_and_reexports():
    sources = project_sources(TRAINER)
    # conv.py is reached through the re-export in models/layers/__init__.py.
    assert {"models.cnn", "models.base", "models.registry", "models.layers.conv",
            "components.trainer.data", "components.trainer.export"} <= set(sources)
    # models/__init__.py imports every family; it must not drag them in.
    assert "models" not in sources


def test_model_edit_changes_trainer_key_only(tree):
    trainer, transform = code_fingerprint(TRAINER, tree), code_fingerprint(TRANSFORM, tree)
    _edit(tree / "models" / "layers" / "conv.py")
    assert code_fingerprint(TRAINER, tree) != trainer
    assert code_fingerprint(TRANSFORM, tree) == transform


def test_transform_edit_changes_transform_key(tree):
    transform = code_fingerprint(TRANSFORM, tree)
    _edit(tree / "components" / "transforms" / "image.py")
    assert code_fingerprint(TRANSFORM, tree) != transform


def test_unrelated_edits_change_nothing(tree):
    before = code_fingerprint(TRAINER, tree), code_fingerprint(TRANSFORM, tree)
    _edit(tree / "models" / "__init__.py")
    _edit(tree / "pipelines" / "runner.py")
    _edit(tree / "zoo" / "cli.py")
    (tree / "models" / "another_family.py").write_text("import keras\n")
    assert (code_fingerprint(TRAINER, tree), code_fingerprint(TRANSFORM, tree)) == before
