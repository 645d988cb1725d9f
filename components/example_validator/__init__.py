"""ExampleValidator that stops the pipeline on anomalies (see ``component.py``)."""
