"""How evaluators record their verdict in ML Metadata (read by ``pipelines/runs.py``).

Every evaluator of the project, TFMA-based or not, writes the candidate's
metrics as float custom properties ``metric:<name>`` of its ``evaluation``
artifact and the reasons for not blessing as the ``blessing`` artifact's
``not_blessed_reasons``. Plain code: no TFX or TensorFlow import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

METRIC_PREFIX = "metric:"
NOT_BLESSED_REASONS = "not_blessed_reasons"


def record_verdict(evaluation: Any, blessing: Any | None, metrics: Mapping[str, float],
                   reasons: Iterable[str]) -> None:
    """Sets the custom properties on TFX ``evaluation``/``blessing`` artifacts."""
    for name, value in metrics.items():
        if value is not None and not math.isnan(float(value)):
            evaluation.set_float_custom_property(METRIC_PREFIX + name, float(value))
    if blessing is not None:
        blessing.set_string_custom_property(NOT_BLESSED_REASONS, "; ".join(reasons))
