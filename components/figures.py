"""Figures as data: what evaluators and the Trainer write for the report to show.

Whoever computes a result writes it next to its artifact; the report only
renders (``pipelines/report/``). A folder holds ``figures.json`` (the records,
in order) and ``figures.npz`` (their arrays, keyed ``<figure>/<array>``).
numpy and json only: no TensorFlow, no TFX.

Kinds and what each needs:

* ``image_grid``: ``arrays["images"]`` of shape ``(rows, columns, h, w[, c])``
  with values in [0, 1]; optional ``labels["rows"]``.
* ``histogram``: one 1-D array per series (the array name is the legend).
* ``heatmap``: ``arrays["weights"]`` 2-D, ``labels["rows"]``/``labels["columns"]``
  name its axes' ticks (attention: target tokens by source tokens).
* ``confusion_matrix``: ``arrays["counts"]`` (true class by predicted class),
  ``labels["classes"]``.
* ``table``: ``labels["header"]`` and ``labels["rows"]`` (lists of strings).

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> write_figures(folder, [Figure("errors", "histogram", "Reconstruction error",
...                               arrays={"clean": np.zeros(3), "corrupted": np.ones(3)})])
>>> [(f.name, f.kind, sorted(f.arrays)) for f in read_figures(folder)]
[('errors', 'histogram', ['clean', 'corrupted'])]
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RECORDS_FILE = "figures.json"
ARRAYS_FILE = "figures.npz"
KINDS = ("image_grid", "histogram", "heatmap", "confusion_matrix", "table")


@dataclasses.dataclass(frozen=True)
class Figure:
    """One figure: ``name`` is unique in its folder; ``caption`` says what it shows."""

    name: str
    kind: str
    title: str
    caption: str = ""
    arrays: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"figure {self.name!r}: unknown kind {self.kind!r}; known: {', '.join(KINDS)}")
        if not self.name or "/" in self.name:
            raise ValueError(f"figure name must be non-empty and have no '/': {self.name!r}")


def write_figures(folder: str, figures: Sequence[Figure]) -> None:
    """Writes ``figures`` into ``folder`` (replacing what was there)."""
    names = [f.name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"figure names repeat: {names}")
    os.makedirs(folder, exist_ok=True)
    arrays = {f"{f.name}/{key}": np.asarray(value) for f in figures for key, value in f.arrays.items()}
    with open(os.path.join(folder, ARRAYS_FILE), "wb") as out:
        np.savez_compressed(out, **arrays)
    records = [{"name": f.name, "kind": f.kind, "title": f.title, "caption": f.caption,
                "arrays": list(f.arrays), "labels": dict(f.labels)} for f in figures]
    with open(os.path.join(folder, RECORDS_FILE), "w") as out:
        json.dump(records, out, indent=1)


def read_figures(folder: str) -> list[Figure]:
    """The figures written into ``folder``, in order; ``[]`` when there are none."""
    path = os.path.join(folder, RECORDS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        records = json.load(f)
    with np.load(os.path.join(folder, ARRAYS_FILE), allow_pickle=False) as data:
        return [Figure(r["name"], r["kind"], r["title"], r.get("caption", ""),
                       {key: data[f"{r['name']}/{key}"] for key in r["arrays"]}, r.get("labels", {}))
                for r in records]
