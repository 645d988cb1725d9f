"""Evaluators' shared half and TFMA's wrapper.

* ``blessing``: thresholds, metric directions, no regression, the blessing and
  the verdict record (plain code; ``verdict`` re-exports what ``zoo runs`` reads);
* ``base``: the spec, component and executor flow every project evaluator
  shares (an evaluator is its metrics' directions plus ``evaluate()``);
* ``served``: a served SavedModel called on numpy, signatures picked by role;
* ``component``: the stock TFX Evaluator (TFMA) with its verdict recorded and
  its figures (confusion matrix, per-slice metrics) written for the report.
"""
