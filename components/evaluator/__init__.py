"""TFMA Evaluator that also records its verdict in ML Metadata (see ``component.py``)."""
