"""Orchestration beyond one hand-started run: schedules (``zoo schedule``),
Kubeflow Pipelines v2 / Vertex AI and Airflow 3 targets (``zoo compile``), Beam
runner configurations and the ML Metadata store's connection.

Imports ``pipelines`` (never the reverse). Importing this package imports
neither TFX nor TensorFlow; the Kubeflow compiler does, when it runs.
"""
