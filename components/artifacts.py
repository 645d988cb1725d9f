"""Where things live inside TFX artifacts: the one place that knows the layout.

A Trainer's ``Model`` artifact holds its SavedModel under ``Format-Serving``
(``tfx.utils.path_utils.serving_model_path``); an ``Examples`` artifact holds
one folder per split, ``Split-<name>``, of (gzip) TFRecord files. Plain code:
no TFX import, so the report and the CLI can use it without loading TFX.

>>> serving_model_dir("/p/Trainer/model/7", check=False)
'/p/Trainer/model/7/Format-Serving'
>>> split_dir("/p/TfdsExampleGen/examples/3", "eval")
'/p/TfdsExampleGen/examples/3/Split-eval'
"""

from __future__ import annotations

import os

SERVING_MODEL_DIR = "Format-Serving"
SPLIT_PREFIX = "Split-"


class ArtifactContentError(ValueError):
    """An artifact does not hold what its type promises (no SavedModel, an empty split)."""


def serving_model_dir(model_uri: str, *, check: bool = True) -> str:
    """The SavedModel directory of a Trainer's ``Model`` artifact at ``model_uri``.

    With ``check`` (the default) a missing ``saved_model.pb`` raises
    :class:`ArtifactContentError` naming the path.
    """
    path = os.path.join(model_uri, SERVING_MODEL_DIR)
    if check and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ArtifactContentError(f"no SavedModel at {path}")
    return path


def split_dir(examples_uri: str, split: str) -> str:
    """The folder of one split of an ``Examples`` artifact."""
    return os.path.join(examples_uri, SPLIT_PREFIX + split)


def read_split(examples_uri: str, split: str, limit: int | None = None) -> list[bytes]:
    """Up to ``limit`` serialized examples of one split, in file order.

    Raises :class:`ArtifactContentError` when the split has no files or no records.
    """
    from serving.records import read_files  # TensorFlow only when records are really read

    path = split_dir(examples_uri, split)
    records = read_files(os.path.join(path, "*"), limit,
                         error=ArtifactContentError(f"no files in split {split!r} at {path}"))
    if not records:
        raise ArtifactContentError(f"split {split!r} at {path} has no examples")
    return records
