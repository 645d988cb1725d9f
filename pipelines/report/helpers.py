"""What every section of the report uses: HTML escaping, tables, paragraphs, images and PNGs.

>>> print(table(["name", "value"], [["<x>", 0.123456], ["n", 3.0], ["ok", True], ["none", None]]))
<table>
<tr><th>name</th><th>value</th></tr>
<tr><td>&lt;x&gt;</td><td>0.1235</td></tr>
<tr><td>n</td><td>3</td></tr>
<tr><td>ok</td><td>yes</td></tr>
<tr><td>none</td><td></td></tr>
</table>
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from matplotlib.figure import Figure as Canvas

DPI = 100


class Raw(str):
    """Content that is already HTML: :func:`table` does not escape it."""


def escape(value: Any) -> str:
    return html.escape(str(value))


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        whole = math.isfinite(value) and value == int(value) and abs(value) < 1e6
        return escape(f"{value:.0f}" if whole else f"{value:.4g}")
    return escape(value)


def table(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>\n" if header else ""
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>\n{head}{body}\n</table>"


def paragraph(text: str, css_class: str = "") -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{escape(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def image(path: str) -> str:
    """An ``<img>`` of a PNG in the report's folder (referred to by its file name)."""
    name = os.path.basename(path)
    return f'<p><img src="{escape(name)}" alt="{escape(name)}"></p>'


def canvas(width: float, height: float) -> Canvas:
    """A matplotlib figure of ``width`` x ``height`` inches (no pyplot, no GUI backend)."""
    return Canvas(figsize=(width, height), layout="constrained")


def save(figure: Canvas, path: str) -> str:
    figure.savefig(path, dpi=DPI)
    return path


def explain(what: str, error: Exception) -> str:
    """A paragraph saying that ``what`` could not be rendered, and why."""
    return paragraph(f"{what} could not be rendered: {type(error).__name__}: {error}", "bad")


def render_or_explain(what: str, render: Callable[[], str]) -> str:
    """``render()``, or :func:`explain` of its error: one broken part does not break the report."""
    try:
        return render()
    except Exception as error:
        logging.warning("report: %s could not be rendered", what, exc_info=True)
        return explain(what, error)
