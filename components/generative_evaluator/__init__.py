"""GenerativeEvaluator TFX component; ``metrics`` and ``reference`` import no TFX.

The component is imported lazily so ``components.generative_evaluator.metrics``
works without TFX installed.
"""

from typing import Any

__all__ = ["GenerativeEvaluator"]


def __getattr__(name: str) -> Any:
    if name in ("GenerativeEvaluator", "GenerativeEvaluatorSpec"):
        from components.generative_evaluator import component

        return getattr(component, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
