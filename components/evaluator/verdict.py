"""How evaluators record their verdict in ML Metadata (read by ``pipelines/runs.py``).

The names live in :mod:`components.evaluator.blessing`, the one blessing
module; this module keeps them importable from where ``pipelines/runs.py``
reads them. Plain code: no TFX or TensorFlow import.
"""

from components.evaluator.blessing import METRIC_PREFIX, NOT_BLESSED_REASONS, record_verdict

__all__ = ["METRIC_PREFIX", "NOT_BLESSED_REASONS", "record_verdict"]
