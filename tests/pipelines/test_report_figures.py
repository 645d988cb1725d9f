"""How the report draws each kind of ``components.figures.Figure``: what ends up on the canvas
(tiles, tick labels, legend, counts), and what a figure that cannot be drawn shows instead.

The whole report, with figures written into artifact folders: ``test_report.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.figures import Figure, write_figures
from pipelines.report import figures


def _ticks(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_mosaic_places_tiles_row_by_row_one_separator_apart() -> None:
    grey = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1) / 10 * np.ones((1, 1, 2, 2))
    grey[1, 2, 0, 0] = np.nan  # a blank pixel
    grey[0, 0, 0, 0] = 7.0  # out of [0, 1]
    canvas = figures.mosaic(grey)
    assert canvas.shape == (5, 8, 3)
    np.testing.assert_allclose(canvas[3:5, 3:5], 0.4)  # second row, second column, all channels
    np.testing.assert_allclose(canvas[0, 0], 1.0)  # clipped
    np.testing.assert_allclose(canvas[2], np.broadcast_to(figures.SEPARATOR, (8, 3)))
    np.testing.assert_allclose(canvas[:, 2], np.broadcast_to(figures.SEPARATOR, (5, 3)))
    np.testing.assert_allclose(canvas[3, 6], figures.SEPARATOR)  # the NaN pixel
    colour = np.zeros((1, 2, 3, 3, 3))
    colour[0, 1, ..., 0] = 1.0  # second tile red
    np.testing.assert_allclose(figures.mosaic(colour)[:, 4:], np.broadcast_to([1.0, 0, 0], (3, 3, 3)))
    with pytest.raises(ValueError, match=r"\(rows, columns, h, w"):
        figures.mosaic(np.zeros((4, 8, 8)))


def test_image_grid_draws_the_mosaic_with_row_labels() -> None:
    images = np.random.default_rng(0).random((3, 5, 8, 8))
    figure = Figure("samples", "image_grid", "Samples", arrays={"images": images}, labels={"rows": ["a", "b", "c"]})
    axes = figures.plot_image_grid(figure).axes[0]
    np.testing.assert_allclose(axes.images[0].get_array(), figures.mosaic(images))
    assert _ticks(axes.get_yticklabels()) == ["a", "b", "c"]
    np.testing.assert_allclose(axes.get_yticks(), [3.5, 12.5, 21.5])  # the middle of each row of tiles
    unlabelled = Figure("samples", "image_grid", "Samples", arrays={"images": images})
    assert _ticks(figures.plot_image_grid(unlabelled).axes[0].get_yticklabels()) == []
    with pytest.raises(ValueError, match="2 row labels for 3 rows"):
        figures.plot_image_grid(Figure("s", "image_grid", "S", arrays={"images": images}, labels={"rows": "ab"}))


def test_histogram_overlays_every_series_on_shared_bins_with_a_legend() -> None:
    clean, corrupted = np.array([0.1, 0.2, np.nan, 0.3]), np.array([0.5, 0.9, 1.0, 1.2, 2.0])
    figure = Figure("scores", "histogram", "Scores", arrays={"clean": clean, "corrupted": corrupted})
    axes = figures.plot_histogram(figure).axes[0]
    assert _ticks(axes.get_legend().get_texts()) == ["clean (3)", "corrupted (5)"]  # NaN left out
    assert len(axes.containers) == 2
    edges = [[patch.get_x() for patch in bars] for bars in axes.containers]
    assert edges[0] == edges[1] and len(edges[0]) == figures.HISTOGRAM_BINS
    assert edges[0][0] == pytest.approx(0.1) and sum(p.get_height() for p in axes.containers[1]) == 5
    with pytest.raises(ValueError, match="1-D"):
        figures.plot_histogram(Figure("s", "histogram", "S", arrays={"scores": np.zeros((2, 2))}))


def test_heatmap_labels_both_axes_and_has_a_colour_bar() -> None:
    weights = np.random.default_rng(0).random((3, 4))
    figure = Figure("attention", "heatmap", "Attention", arrays={"weights": weights},
                    labels={"rows": ["x", "y", "z"], "columns": ["alpha", "b", "c", "d"]})
    drawing = figures.plot_heatmap(figure)
    axes = drawing.axes[0]
    np.testing.assert_allclose(axes.images[0].get_array(), weights)
    assert _ticks(axes.get_yticklabels()) == ["x", "y", "z"]
    assert _ticks(axes.get_xticklabels()) == ["alpha", "b", "c", "d"]
    assert len(drawing.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="1 column labels for 4 columns"):
        figures.plot_heatmap(Figure("a", "heatmap", "A", arrays={"weights": weights}, labels={"columns": ["x"]}))


def test_confusion_matrix_writes_every_count_in_its_cell() -> None:
    counts = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 3]])
    figure = Figure("confusion", "confusion_matrix", "Confusion", arrays={"counts": counts},
                    labels={"classes": ["cat", "dog", "eel"]})
    axes = figures.plot_confusion_matrix(figure).axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts}
    assert cells == {(row, column): str(count) for (row, column), count in np.ndenumerate(counts)}
    assert _ticks(axes.get_xticklabels()) == _ticks(axes.get_yticklabels()) == ["cat", "dog", "eel"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted class", "true class")
    assert axes.get_title() == "18 examples, 83.33% on the diagonal"
    many = Figure("c", "confusion_matrix", "C", arrays={"counts": np.eye(figures.ANNOTATED_CLASSES + 1)})
    assert not figures.plot_confusion_matrix(many).axes[0].texts  # too many classes to write counts
    with pytest.raises(ValueError, match="square"):
        figures.plot_confusion_matrix(Figure("c", "confusion_matrix", "C", arrays={"counts": np.zeros((2, 3))}))


def test_figures_html_renders_each_figure_and_explains_the_broken_one(tmp_path: Path) -> None:
    source, folder = tmp_path / "evaluation", tmp_path / "report"
    folder.mkdir()
    assert figures.figures_html(str(source), str(folder), "evaluation") == ""  # nothing written
    write_figures(str(source), [
        Figure("metrics by slice", "table", "Slices", "Per <slice>.",
               labels={"header": ["slice", "accuracy"], "rows": [["label = <1>", "0.5"]]}),
        Figure("bad_table", "table", "Bad table", labels={"header": ["a", "b"], "rows": [["only a"]]}),
        Figure("scores", "histogram", "Scores", arrays={"clean": np.arange(10.0)}),
    ])
    html = figures.figures_html(str(source), str(folder), "evaluation")
    assert '<div class="figure" id="evaluation-metrics_by_slice">' in html
    assert "<p>Per &lt;slice&gt;.</p>" in html and "<tr><td>label = &lt;1&gt;</td><td>0.5</td></tr>" in html
    assert ("Figure &#x27;bad_table&#x27; (Bad table) could not be rendered: ValueError: "
            "table rows must have 2 cells") in html
    assert '<img src="evaluation-scores.png"' in html and (folder / "evaluation-scores.png").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["evaluation-scores.png"]  # tables need no PNG
