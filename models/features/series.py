"""Time series: what ``components/transforms/series.py`` writes and the forecasters read.

A raw example is one forecast origin of a series: :data:`PAST`, the
:data:`WINDOW` values before it, and :data:`FUTURE`, the :data:`HORIZON`
values from it on (the label, so serving drops it: a served request is a
window of past values). The Transform normalises both with the training
split's mean and standard deviation and writes :data:`WINDOW_FEATURE`
(``(WINDOW,)``), the label under its raw name (``(HORIZON,)``), and the
statistics themselves, :data:`OFFSET` and :data:`SCALE` (``(1,)`` each,
the same in every row), with which a forecaster's served signature turns
its normalised forecast back into the series' units.
"""

from __future__ import annotations

PAST = "past"               # raw: the window of past values, float32 (WINDOW,)
FUTURE = "future"           # raw and transformed: the next HORIZON values, the label
WINDOW_FEATURE = "window"   # transformed: PAST, normalised
OFFSET = "offset"           # transformed: the training mean, (1,)
SCALE = "scale"             # transformed: the training standard deviation, (1,)
FORECAST = "forecast"       # served output: the forecast over the horizon, in the series' units

WINDOW = 32                 # past values in a window
HORIZON = 8                 # values forecast from one window
