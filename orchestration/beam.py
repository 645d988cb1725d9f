"""Beam runner configurations: the arguments each runner needs, checked before a run starts.

``zoo run --beam-arg=...`` passes Beam pipeline options to every Beam-based
component (StatisticsGen, Transform, Evaluator ...). The named configurations
below are the ones the project documents (orchestration/README.md); any other
list of arguments is checked the same way, by the runner it names:

* ``direct`` (default): in-process DirectRunner, the fastest on small data;
* ``direct_mp``: DirectRunner with worker processes (``multi_processing``);
* ``dataflow``: Google Cloud Dataflow (project, region, temp_location; the
  workers need the project's code: its container image or ``--setup_file``);
* ``flink`` / ``spark``: a Flink or Spark cluster that runs Beam's job server
  (PortableRunner with ``--job_endpoint``; the job server is a separate
  service: starting one here needs a download, so it is not run here).

>>> check_beam_args(["--runner=DataflowRunner", "--project=p", "--region=r"])
Traceback (most recent call last):
ValueError: Beam DataflowRunner needs --temp_location (gs://...); given: --runner=DataflowRunner --project=p --region=r
>>> check_beam_args(preset("direct_mp", workers=4))
['--direct_running_mode=multi_processing', '--direct_num_workers=4']
"""

from __future__ import annotations

from collections.abc import Sequence

RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner", "PrismRunner")
DIRECT_MODES = ("in_memory", "multi_threading", "multi_processing")
PRESETS = ("direct", "direct_mp", "dataflow", "flink", "spark")


def options(args: Sequence[str]) -> dict[str, str]:
    """``--name=value`` / ``--name value`` / ``--flag`` arguments as a dict (a flag maps to ``'true'``)."""
    found: dict[str, str] = {}
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        if not arg.startswith("--"):
            raise ValueError(f"bad Beam argument {arg!r}: expected --name=value")
        name, eq, value = arg[2:].partition("=")
        if not eq and i + 1 < len(items) and not items[i + 1].startswith("--"):
            value, i = items[i + 1], i + 1
        elif not eq:
            value = "true"
        found[name] = value
        i += 1
    return found


def check_beam_args(args: Sequence[str]) -> list[str]:
    """``args`` when the runner they name has what it needs; a one-line ``ValueError`` otherwise."""
    args = list(args)
    given = " ".join(args)
    opts = options(args)
    runner = opts.get("runner", "DirectRunner")
    if not runner.endswith("Runner"):
        runner += "Runner"
    if runner not in RUNNERS:
        raise ValueError(f"unknown Beam runner {opts['runner']!r}; choices: {', '.join(RUNNERS)}")

    def need(*names: str, hint: str = "") -> None:
        for name in names:
            if not opts.get(name):
                raise ValueError(f"Beam {runner} needs --{name}{hint}; given: {given}")

    if runner == "DirectRunner":
        mode = opts.get("direct_running_mode", "in_memory")
        if mode not in DIRECT_MODES:
            raise ValueError(f"bad --direct_running_mode {mode!r}; choices: {', '.join(DIRECT_MODES)}")
        workers = opts.get("direct_num_workers", "1")
        if not workers.isdigit():
            raise ValueError(f"--direct_num_workers must be a whole number (0: one per CPU), got {workers!r}")
    elif runner == "DataflowRunner":
        need("project", "region")
        need("temp_location", hint=" (gs://...)")
        if not opts["temp_location"].startswith("gs://"):
            raise ValueError(f"Beam DataflowRunner's --temp_location must be on gs://, got {opts['temp_location']!r}")
        if not (opts.get("sdk_container_image") or opts.get("setup_file") or opts.get("requirements_file")):
            raise ValueError("Beam DataflowRunner workers need the project's code: --sdk_container_image=<the "
                             "project's image> (orchestration/deploy/Dockerfile) or --setup_file=./setup.py")
    elif runner in ("FlinkRunner", "SparkRunner", "PortableRunner"):
        if runner == "PortableRunner" or opts.get("job_endpoint"):
            need("job_endpoint", hint=" (host:port of the cluster's Beam job server)")
            if ":" not in opts["job_endpoint"]:
                raise ValueError(f"--job_endpoint must be host:port, got {opts['job_endpoint']!r}")
        else:
            master = "flink_master" if runner == "FlinkRunner" else "spark_master_url"
            need(master, hint=" (the cluster's address; or --job_endpoint of a running Beam job server)")
        env = opts.get("environment_type", "DOCKER")
        if env not in ("DOCKER", "PROCESS", "EXTERNAL", "LOOPBACK"):
            raise ValueError(f"bad --environment_type {env!r}; choices: DOCKER, PROCESS, EXTERNAL, LOOPBACK")
    return args


def preset(name: str, *, workers: int = 0, project: str = "", region: str = "", temp_location: str = "",
           image: str = "", job_endpoint: str = "") -> list[str]:
    """The arguments of a named configuration (not yet checked: :func:`check_beam_args`)."""
    if name == "direct":
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    if name == "direct_mp":
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    if name == "dataflow":
        args = ["--runner=DataflowRunner", f"--project={project}", f"--region={region}",
                f"--temp_location={temp_location}"]
        if image:
            args += [f"--sdk_container_image={image}", "--experiments=use_runner_v2"]
        return args
    if name in ("flink", "spark"):
        return [f"--runner={'FlinkRunner' if name == 'flink' else 'SparkRunner'}",
                f"--job_endpoint={job_endpoint}", "--environment_type=DOCKER",
                *([f"--environment_config={image}"] if image else [])]
    raise ValueError(f"unknown Beam configuration {name!r}; choices: {', '.join(PRESETS)}")
