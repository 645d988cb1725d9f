"""Runs a pipeline locally: LocalDagRunner (default) or BeamDagRunner.

Kept apart from the pipeline definitions, as in TFX's templates. The output
folder holds everything a run writes::

    <output>/metadata.sqlite          ML Metadata store (runs, artifacts, cache)
    <output>/pipelines/<name>/        pipeline root (component artifacts)
    <output>/serving/<model_name>/    TF Serving model base path (pushed versions)
    <output>/reports/<name>/<run>/    HTML report of each run
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence

from pipelines.config import PipelineConfig

RUNNERS = ("local", "beam")
# In-process Beam: the fastest choice for small data on a laptop or a 2-core CI box.
DEFAULT_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


@dataclasses.dataclass(frozen=True)
class Paths:
    output: str

    @property
    def metadata(self) -> str:
        return os.path.join(self.output, "metadata.sqlite")

    def pipeline_root(self, name: str) -> str:
        return os.path.join(self.output, "pipelines", name)

    @property
    def serving(self) -> str:
        return os.path.join(self.output, "serving")

    def reports(self, name: str) -> str:
        return os.path.join(self.output, "reports", name)


class _Progress(logging.Handler):
    """Turns the orchestrator's 'Component X is running/finished' logs into progress lines."""

    def __init__(self, start: float, echo) -> None:
        super().__init__(logging.INFO)
        self.start, self.echo = start, echo

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for marker, verb in ((" is running.", "running"), (" is finished.", "done")):
            if message.startswith("Component ") and message.endswith(marker):
                node = message[len("Component "):-len(marker)]
                self.echo(f"[{time.time() - self.start:6.1f}s] {node} {verb}")


def run_pipeline(config: PipelineConfig, paths: Paths, runner: str = "local",
                 beam_args: Sequence[str] = DEFAULT_BEAM_ARGS, enable_cache: bool = True,
                 echo=print) -> str:
    """Builds and runs the pipeline; returns the run id.

    Raises whatever the failing component raised (the CLI turns it into one line).
    """
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner '{runner}'; choices: {', '.join(RUNNERS)}")
    import tensorflow_datasets as tfds
    from absl import logging as absl_logging
    from tfx import v1 as tfx

    from pipelines.factory import create_pipeline

    os.makedirs(paths.output, exist_ok=True)
    tfds.disable_progress_bar()
    pipeline = create_pipeline(config, paths.pipeline_root(config.name), paths.metadata,
                               paths.serving, beam_args, enable_cache)
    # The orchestrator logs its progress at INFO: turn that into progress lines,
    # and let only warnings through to stderr.
    logger = absl_logging.get_absl_logger()
    absl_logging.set_verbosity(absl_logging.INFO)
    warnings = logging.StreamHandler()
    warnings.setLevel(logging.WARNING)
    handlers = [_Progress(time.time(), echo), warnings]
    for handler in handlers:
        logger.addHandler(handler)
    logger.propagate = False
    try:
        if runner == "local":
            tfx.orchestration.LocalDagRunner().run(pipeline)
        else:
            from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
            BeamDagRunner().run(pipeline)
    finally:
        logger.propagate = True
        for handler in handlers:
            logger.removeHandler(handler)
    from pipelines.runs import load_runs
    return load_runs(paths.metadata, config.name)[-1].run_id
