"""Runs a pipeline locally: LocalDagRunner (default) or BeamDagRunner.

Kept apart from the pipeline definitions, as in TFX's templates. The output
folder holds everything a run writes::

    <output>/metadata.sqlite          ML Metadata store (runs, artifacts, cache)
    <output>/pipelines/<name>/        pipeline root (component artifacts)
    <output>/serving/<model_name>/    TF Serving model base path (pushed versions)
    <output>/reports/<name>/<run>/    HTML report of each run
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from components.trainer import PROGRESS_FD_ENV
from pipelines.config import PipelineConfig

RUNNERS = ("local", "beam")
# In-process Beam: the fastest choice for small data on a laptop or a 2-core CI box. Without a
# dependency flag every TFX Beam executor packages TFX itself for remote workers (copies its install
# and runs `setup.py sdist`: 2-6 s and 42 MB left in TMPDIR per Beam component); DirectRunner workers
# run in this environment and stage nothing, so the project's own setup.py is named (what a remote
# runner would need, orchestration/beam.py) and TFX skips its package.
DEFAULT_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1",
                     "--setup_file=" + os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                    "setup.py"))


@dataclasses.dataclass(frozen=True)
class Paths:
    output: str
    mysql: str | None = None  # ML Metadata in MySQL (else ZOO_METADATA_MYSQL, else SQLite): pipelines/metadata.py

    @property
    def metadata(self) -> str:
        return os.path.join(self.output, "metadata.sqlite")

    @property
    def metadata_config(self):
        """ML Metadata's ``ConnectionConfig``: MySQL when ``mysql`` or ``ZOO_METADATA_MYSQL`` names one,
        else the SQLite file ``metadata``."""
        from pipelines.metadata import connection_config
        return connection_config(self.metadata, self.mysql)

    def pipeline_root(self, name: str) -> str:
        return os.path.join(self.output, "pipelines", name)

    @property
    def serving(self) -> str:
        return os.path.join(self.output, "serving")

    def reports(self, name: str) -> str:
        return os.path.join(self.output, "reports", name)

    @property
    def runs(self) -> str:
        """Run history kept beside ML Metadata: last successful run, skipped runs."""
        return os.path.join(self.output, "runs")

    def log(self, name: str, started: float) -> str:
        """The log file of one run: everything a quiet run does not print."""
        return os.path.join(self.output, "logs", name, time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
                            + ".log")


class _Progress(logging.Handler):
    """Turns the orchestrator's logs into one line per component: its state and seconds."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.echo = echo
        self.started: dict[str, float] = {}
        self.state = "ran"

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Component ") and message.endswith(" is running."):
            self.started[message[len("Component "):-len(" is running.")]] = time.time()
            self.state = "ran"
        elif message.startswith("A cached execution"):
            self.state = "cached"
        elif message.startswith("Skipping execution"):
            self.state = "skipped"
        elif message.startswith("Component ") and message.endswith(" is finished."):
            node = message[len("Component "):-len(" is finished.")]
            seconds = time.time() - self.started.pop(node, time.time())
            self.echo(f"  {node:32s} {self.state:7s} {seconds:6.1f}s")


@contextlib.contextmanager
def quiet_output(log_path: str | None) -> Iterator[Callable[[str], None]]:
    """Sends everything written to file descriptors 1 and 2 (TensorFlow's C++
    start-up lines, Python warnings, absl and Beam logs, Keras' epoch lines)
    to ``log_path`` and yields a function that prints to the real terminal.
    With ``log_path=None`` nothing is redirected."""
    if log_path is None:
        yield lambda line: print(line, flush=True)
        return
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    # Left open: log handlers made during the run (absl's, Beam's) keep writing to the log afterwards.
    log = open(log_path, "a", buffering=1)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        # Both levels: the file descriptors (C++ and subprocess output) and Python's
        # streams (which may not be the descriptors, e.g. under a test's capture).
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.environ[PROGRESS_FD_ENV] = str(terminal.fileno())
        try:
            yield lambda line: print(line, file=terminal, flush=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.environ.pop(PROGRESS_FD_ENV, None)
            for fd in saved:
                os.close(fd)
            terminal.close()


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

    from pipelines.factory import create_pipeline
    from pipelines.metadata import HidePassword

    os.makedirs(paths.output, exist_ok=True)
    tfds.disable_progress_bar()
    pipeline = create_pipeline(config, paths.pipeline_root(config.name), paths.metadata,
                               paths.serving, beam_args, enable_cache)
    pipeline.metadata_connection_config = paths.metadata_config
    # The orchestrator logs its progress at INFO: turn that into one line per
    # component, and send every log line to stderr (the run's log file when quiet).
    logger = absl_logging.get_absl_logger()
    absl_logging.set_verbosity(absl_logging.INFO)
    everything = logging.StreamHandler(sys.stderr)
    everything.setLevel(logging.INFO)
    everything.addFilter(HidePassword(paths.metadata_config))  # TFX logs the store's connection config
    handlers = [_Progress(echo), everything]
    for handler in handlers:
        logger.addHandler(handler)
    logger.propagate = False
    try:
        if runner == "local":
            from tfx.orchestration.local.local_dag_runner import LocalDagRunner as Runner
            run_id = datetime.datetime.now().isoformat()  # LocalDagRunner's own run id format
        else:
            from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner as Runner
            run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S.%f")  # BeamDagRunner's
        Runner().run_with_ir(with_run_id(pipeline, run_id))
    finally:
        logger.propagate = True
        for handler in handlers:
            logger.removeHandler(handler)
    return run_id


def with_run_id(pipeline, run_id: str):
    """The pipeline's IR (TFX's compiler), with its run id already bound.

    The runners bind a run id of their own only where none is bound yet, so this process knows which
    ML Metadata run is its own, even while another process runs the same pipeline into the same store
    (the latest run in the store may be the other one's). A runner's ``run`` also packages each
    component's ``module_file`` as a wheel before compiling; this project's components name their code
    by dotted path (``run_fn``, ``preprocessing_fn``), so there is nothing to package.
    """
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    if any(component.exec_properties.get("module_file") for component in pipeline.components):
        raise ValueError("with_run_id compiles components that name their code by dotted path, not module_file")
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    return ir
