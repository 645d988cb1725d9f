"""The pipelines ``zoo`` knows, by name. Importing this module imports no TFX."""

from __future__ import annotations

import importlib

from pipelines.config import PipelineConfig

# name -> module holding ``CONFIG``. One line per pipeline.
PIPELINES: dict[str, str] = {
    "digits": "pipelines.digits",
}


def get(name: str) -> PipelineConfig:
    """The config of pipeline ``name``; the error lists the choices."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline '{name}'; choices: {', '.join(sorted(PIPELINES))}")
    return importlib.import_module(PIPELINES[name]).CONFIG


def names() -> list[str]:
    return sorted(PIPELINES)
