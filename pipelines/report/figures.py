"""Renders the figures an evaluator or the Trainer wrote (``components/figures.py``), by kind.

Each figure becomes a heading, its caption and a PNG (an HTML table for
``table``). A figure that cannot be drawn (a wrong shape, labels that do not
match) says why in its place; the other figures still render.

>>> mosaic(np.ones((2, 3, 4, 5))).shape  # 2 x 3 tiles of 4 x 5 pixels, one pixel apart, in RGB
(9, 17, 3)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from components.figures import Figure, read_figures
from pipelines.report.helpers import Canvas, canvas, explain, heading, image, paragraph, render_or_explain, save, table

SEPARATOR = (0.5, 0.62, 0.75)  # the colour between the tiles of an image grid (and of blank tiles)
HISTOGRAM_BINS = 40
ANNOTATED_CLASSES = 20  # a confusion matrix shows its counts up to this many classes


def figures_html(source: str, folder: str, prefix: str) -> str:
    """Every figure written into the artifact folder ``source``, its PNGs saved in the report's
    ``folder`` as ``<prefix>-<name>.png``; ``""`` when there are none."""
    try:
        figures = read_figures(source)
    except Exception as error:
        return explain(f"The figures in {source}", error)
    return "\n".join(render_or_explain(f"Figure {f.name!r} ({f.title})", lambda f=f: figure_html(f, folder, prefix))
                     for f in figures)


def figure_html(figure: Figure, folder: str, prefix: str) -> str:
    slug = re.sub(r"[^\w.-]", "_", f"{prefix}-{figure.name}")  # unique in the report: names are in a folder
    if figure.kind == "table":
        body = table(figure.labels.get("header"), _table_rows(figure.labels))
    else:
        body = image(save(PLOTS[figure.kind](figure), os.path.join(folder, slug + ".png")))
    caption = paragraph(figure.caption) if figure.caption else ""
    return f'<div class="figure" id="{slug}">\n{heading(figure.title)}\n{caption}{body}\n</div>'


def _table_rows(labels: Mapping[str, Any]) -> list[Sequence[Any]]:
    rows, header = labels["rows"], labels.get("header")
    if any(isinstance(row, str) or not isinstance(row, Sequence) for row in rows):
        raise ValueError("table rows must be lists of cells")
    if header and any(len(row) != len(header) for row in rows):
        raise ValueError(f"table rows must have {len(header)} cells, one per header column")
    return rows


def _labels(labels: Any, count: int, what: str) -> list[str]:
    """``labels`` as strings, checked to name all ``count`` ``what``s; ``[]`` when there are none."""
    if labels is None:
        return []
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"{len(labels)} {what} labels for {count} {what}s")
    return labels


def _matrix(values: Any, what: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or not matrix.size:
        raise ValueError(f"{what} must be a non-empty 2-D array, not of shape {matrix.shape}")
    return matrix


def _tick_labels(axes: Any, rows: list[str], columns: list[str]) -> None:
    """Labels the rows and columns of an ``imshow`` of a matrix (one cell per index)."""
    if columns:
        long = max(len(c) for c in columns) > 3
        axes.set_xticks(range(len(columns)), columns, fontsize=7, rotation=90 if long else 0)
    if rows:
        axes.set_yticks(range(len(rows)), rows, fontsize=7)


def mosaic(images: Any) -> np.ndarray:
    """One RGB image of a ``(rows, columns, h, w[, 1 or 3])`` grid of images in [0, 1], the tiles
    one :data:`SEPARATOR` pixel apart (NaN pixels, e.g. blank tiles, in that colour too)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., None]
    if images.ndim != 5 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape (rows, columns, h, w[, 1 or 3]), not {images.shape}")
    rows, columns, height, width, _ = images.shape
    padded = np.full((rows, columns, height + 1, width + 1, 3), np.nan, np.float32)
    padded[:, :, :height, :width] = images
    grid = padded.transpose(0, 2, 1, 3, 4).reshape(rows * (height + 1), columns * (width + 1), 3)[:-1, :-1]
    return np.where(np.isnan(grid), np.float32(SEPARATOR), np.clip(grid, 0.0, 1.0))


def plot_image_grid(figure: Figure) -> Canvas:
    images = figure.arrays["images"]
    picture = mosaic(images)
    rows, columns, height, width = images.shape[:4]
    side = max(height, width)
    inch = min(min(max(0.4, 0.07 * side), 1.2) / side, 12 / (columns * width), 14 / (rows * height))  # per pixel
    drawing = canvas(1.5 + inch * columns * width, 1.3 + inch * rows * height)
    axes = drawing.add_subplot()
    axes.imshow(picture, interpolation="nearest")
    row_labels = _labels(figure.labels.get("rows"), rows, "row")
    column_labels = _labels(figure.labels.get("columns"), columns, "column")
    axes.set_yticks([r * (height + 1) + (height - 1) / 2 for r in range(len(row_labels))], row_labels, fontsize=8)
    axes.set_xticks([c * (width + 1) + (width - 1) / 2 for c in range(len(column_labels))], column_labels,
                    fontsize=7)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return drawing


def plot_histogram(figure: Figure) -> Canvas:
    series = {name: np.asarray(values, dtype=np.float64) for name, values in figure.arrays.items()}
    if not series or any(values.ndim != 1 for values in series.values()):
        raise ValueError("a histogram needs one or more 1-D arrays, one per series")
    series = {name: values[np.isfinite(values)] for name, values in series.items()}
    everything = np.concatenate(list(series.values()))
    if not everything.size:
        raise ValueError("the histogram's series hold no finite values")
    bins = np.histogram_bin_edges(everything, bins=HISTOGRAM_BINS)
    drawing = canvas(6.5, 3.6)
    axes = drawing.add_subplot()
    for name, values in series.items():
        axes.hist(values, bins=bins, alpha=0.55, label=f"{name} ({len(values)})")
    axes.set_xlabel("value")
    axes.set_ylabel("count")
    axes.legend(fontsize=8)
    return drawing


def plot_heatmap(figure: Figure) -> Canvas:
    weights = _matrix(figure.arrays["weights"], "weights")
    rows = _labels(figure.labels.get("rows"), weights.shape[0], "row")
    columns = _labels(figure.labels.get("columns"), weights.shape[1], "column")
    drawing = canvas(min(14.0, 3.0 + 0.25 * weights.shape[1]), min(14.0, 2.0 + 0.22 * weights.shape[0]))
    axes = drawing.add_subplot()
    shown = axes.imshow(weights, cmap="viridis", aspect="auto", interpolation="nearest")
    drawing.colorbar(shown, ax=axes, shrink=0.8)
    _tick_labels(axes, rows, columns)
    return drawing


def plot_confusion_matrix(figure: Figure) -> Canvas:
    counts = _matrix(figure.arrays["counts"], "counts")
    if counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix must be square, not {counts.shape}")
    n = len(counts)
    classes = _labels(figure.labels.get("classes"), n, "class") or [str(i) for i in range(n)]
    size = min(2.5 + 0.4 * n, 10.0)
    drawing = canvas(size + 1.2, size)
    axes = drawing.add_subplot()
    shown = axes.imshow(counts, cmap="Blues")
    drawing.colorbar(shown, ax=axes, shrink=0.8)
    if n <= ANNOTATED_CLASSES:
        for (row, column), count in np.ndenumerate(counts):
            axes.text(column, row, _count(count), ha="center", va="center", fontsize=8,
                      color="white" if count > counts.max() / 2 else "black")
    _tick_labels(axes, classes, classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    total = counts.sum()
    axes.set_title(f"{_count(total)} examples, {np.trace(counts) / max(total, 1):.2%} on the diagonal", fontsize=9)
    return drawing


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


PLOTS: dict[str, Callable[[Figure], Canvas]] = {
    "image_grid": plot_image_grid,
    "histogram": plot_histogram,
    "heatmap": plot_heatmap,
    "confusion_matrix": plot_confusion_matrix,
}
