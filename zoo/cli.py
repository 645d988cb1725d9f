"""``zoo``: run pipelines, list past runs, serve and query models.

Exit codes: 0 success (pushed, or already serving that very model),
1 the run failed (the message says where and why), 2 bad usage,
3 the model was trained but not blessed, so not pushed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_BLESSED = 1, 2, 3
METADATA_MYSQL_HELP = ("ML Metadata in MySQL, [user[:password]@]host[:port]/database (default: $ZOO_METADATA_MYSQL, "
                       "else <output>/metadata.sqlite)")


class ZooError(Exception):
    """An error the CLI reports as one line, without a traceback."""


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TMPDIR", os.path.join(os.getcwd(), ".tmp"))
    os.makedirs(os.environ["TMPDIR"], exist_ok=True)


def _parse_hparam(text: str) -> tuple[str, object]:
    import json
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--hparam takes NAME=VALUE, got '{text}'")
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _explain(error: BaseException) -> str:
    """One line for an exception raised anywhere under a pipeline run."""
    seen = error
    while seen is not None:
        name = type(seen).__name__
        if name in ("DatasetNotAvailableError", "DataValidationError", "ZooError"):
            prefix = "stopped at ExampleValidator: " if name == "DataValidationError" else ""
            return prefix + str(seen).splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"


def cmd_list(args: argparse.Namespace) -> int:
    from pipelines import registry
    configs = [registry.get(name) for name in registry.names()]
    width = {"name": max(len(c.name) for c in configs), "model": max(len(c.model) for c in configs),
             "dataset": max(len(c.dataset.name) for c in configs)}
    for config in configs:
        print(f"{config.name:{width['name']}s}  model={config.model:{width['model']}s}  "
              f"dataset={config.dataset.name:{width['dataset']}s}  {config.description}")
    return 0


def _configured(args: argparse.Namespace):
    """The pipeline's config with the command line's overrides applied."""
    from pipelines import registry

    config = registry.get(args.pipeline)
    hparams = dict(args.hparam or [])
    if args.epochs is not None:
        hparams["epochs"] = args.epochs
    if hparams:
        config = config.with_overrides(hparams=hparams)
    if getattr(args, "distribution", None):  # every Trainer of the run, a pretraining stage's too
        pretraining = config.pretraining and config.pretraining.with_overrides(distribution=args.distribution)
        config = config.with_overrides(distribution=args.distribution, pretraining=pretraining)
    if args.dataset or args.builder_module:
        name, _, version = (args.dataset or config.dataset.name).partition(":")
        config = config.with_overrides(dataset=dataclasses.replace(
            config.dataset, name=name, version=version or None,
            builder_modules=tuple(config.dataset.builder_modules) + tuple(args.builder_module or ())))
    return config


def cmd_run(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipelines.run_key import RunHistory, Success, dataset_digest, nothing_to_do, run_key
    from pipelines.runner import DEFAULT_BEAM_ARGS, Paths, quiet_output, run_pipeline

    start = time.time()
    config = _configured(args)
    paths = Paths(os.path.abspath(args.output), args.metadata_mysql)
    from pipelines.metadata import MetadataStoreError, check_reachable
    try:  # before any component runs: an unreachable store is one line
        os.makedirs(paths.output, exist_ok=True)
        check_reachable(paths.metadata_config)
    except MetadataStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    history = RunHistory(paths.runs, paths.metadata_config)
    key = run_key(config)
    reasons = ["--force" if args.force else "--no-cache"]
    if not (args.force or args.no_cache):
        last, reasons = nothing_to_do(config, history, key=key)
        if last is not None:
            history.record_skip(config.name, start, time.time() - start, last)
            print(f"nothing changed since run {last.run_id}: version {last.served_version} is served "
                  f"({last.served_path}); --force runs anyway")
            return 0
    log_path = None if args.verbose else paths.log(config.name, start)
    print(f"running pipeline '{config.name}' ({args.runner} runner, {'; '.join(reasons)}) into {paths.output}",
          flush=True)
    with quiet_output(log_path) as echo:
        try:
            run_id = run_pipeline(config, paths, args.runner, args.beam_arg or DEFAULT_BEAM_ARGS,
                                  enable_cache=not args.no_cache, echo=echo)
            error = None
        except Exception as exc:  # reported below, once the terminal is ours again
            if args.debug:
                raise
            error = exc
    if error is not None:
        print(f"error: pipeline '{config.name}' failed: {_explain(error)}", file=sys.stderr)
        if log_path:
            print(f"log: {log_path}", file=sys.stderr)
        return EXIT_FAILED
    if log_path:  # the run's INFO logs went to its log file; reading the store afterwards logs nothing here
        import logging

        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
    from pipelines.runs import load_runs

    # This process's own run: another may have started one of the same pipeline since.
    record = next(r for r in load_runs(paths.metadata_config, config.name) if r.run_id == run_id)
    print(f"run {record.run_id}: {record.status} in {time.time() - start:.1f}s")
    for name, value in sorted(record.metrics.items()):
        print(f"  metric {name} = {value:.4f}")
    if args.report:
        from pipelines.report import write_report
        print(f"report: {write_report(record, paths, config)}")
    if log_path:
        print(f"log: {log_path}")
    push = record.push
    if push.get("pushed_version"):
        history.record_success(config.name, Success(
            record.run_id, dataclasses.replace(key, dataset=dataset_digest(config)),
            str(push["pushed_version"]), push.get("pushed_destination", ""), time.time()))
        if push.get("pushed"):
            print(f"PUSHED version {push['pushed_version']} to {push['pushed_destination']}")
        else:
            print(f"NOT PUSHED AGAIN: {push.get('push_reason')} ({push.get('pushed_destination')})")
        return 0
    reasons = [r for r in (push.get("push_reason"), record.not_blessed_reasons) if r]
    print(f"NOT PUSHED: {': '.join(reasons) or 'the model was not blessed'}")
    return EXIT_NOT_BLESSED


def cmd_runs(args: argparse.Namespace) -> int:
    from pipelines.metadata import MetadataStoreError, check_reachable
    from pipelines.run_key import RunHistory
    from pipelines.runner import Paths
    from pipelines.runs import load_runs

    paths = Paths(os.path.abspath(args.output), args.metadata_mysql)
    try:
        if paths.metadata_config.HasField("mysql"):
            check_reachable(paths.metadata_config)
        runs = load_runs(paths.metadata_config, args.pipeline)
    except (FileNotFoundError, MetadataStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    rows = []
    for run in runs:
        ran = sum(s.state == "ran" for s in run.steps)
        cached = sum(s.state == "cached" for s in run.steps)
        push = run.push
        pushed = (f"v{push['pushed_version']}" if push.get("pushed") else
                  f"same v{push['pushed_version']}" if push.get("pushed_version") else "no")
        blessed = {True: "yes", False: "no", None: "-"}[run.blessed]
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(run.metrics.items()) if k != "example_count")
        rows.append((run.started, run.pipeline, run.status, run.seconds, f"{ran:3d} {cached:6d}", blessed, pushed,
                     metrics))
    for skip in RunHistory(paths.runs, paths.metadata_config).skipped(args.pipeline):
        rows.append((skip["started"], skip["pipeline"], "no-op", skip["seconds"], f"{0:3d} {0:6d}", "-",
                     f"same v{skip['served_version']}", f"nothing changed since {skip['same_as']}"))
    from pipelines.runs import firing_of, load_firings
    firings, shown = load_firings(paths.metadata_config, args.pipeline, paths.runs), set()
    for i, (started, pipeline, status, *middle, metrics) in enumerate(rows):  # runs `zoo schedule` started
        firing = firing_of(firings, pipeline, started)
        if firing is not None:
            shown.add(id(firing))
            status = "timeout" if firing["outcome"] == "timeout" else status
            rows[i] = (started, pipeline, status, *middle, f"[{firing['trigger']}] {metrics}".strip())
    rows += [(f["started"], f["pipeline"], f["outcome"], f["seconds"], f"{0:3d} {0:6d}", "-", "no",
              f"[{f['trigger']}] {f['reason']}") for f in firings if id(f) not in shown]
    print(f"{'started':19s}  {'pipeline':10s} {'status':10s} {'time':>7s} {'ran':>3s} {'cached':>6s}  "
          f"{'blessed':7s} {'pushed':14s} metrics")
    for started, pipeline, status, seconds, counts, blessed, pushed, metrics in sorted(rows)[-args.last:]:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}  {pipeline:10s} "
              f"{status:10s} {seconds:6.1f}s {counts}  {blessed:7s} {pushed:14s} {metrics}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from orchestration.schedule import ScheduleError, main
    try:
        return main(args.file, output=args.output, once=args.once, emit=args.print, check=args.check,
                    stop_after=args.stop_after, workdir=args.workdir, mysql=args.metadata_mysql)
    except ScheduleError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


def cmd_compile(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from orchestration.compile import CompileError, main
    try:
        return main(args.argv)
    except CompileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    from pipelines import registry
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{list,run,runs,schedule,compile,serve,predict}")

    sub.add_parser("list", help="list the pipelines").set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="run a pipeline end to end")
    run.add_argument("pipeline", choices=registry.names())
    run.add_argument("--runner", choices=("local", "beam"), default="local")
    run.add_argument("--epochs", type=int, help="override the model's epochs")
    from components.trainer.distribute import STRATEGIES  # multi_worker needs a Trainer process of its own
    run.add_argument("--distribution", choices=[s for s in STRATEGIES if s != "multi_worker"],
                     help="the Trainer's tf.distribute strategy (default: the config's, else $ZOO_DISTRIBUTION)")
    run.add_argument("--hparam", action="append", type=_parse_hparam, metavar="NAME=VALUE",
                     help="override a hyperparameter (JSON value), repeatable")
    run.add_argument("--dataset", metavar="NAME[:VERSION]",
                     help="another TFDS dataset with the same features (a new span, 'mnist', ...)")
    run.add_argument("--builder-module", action="append", metavar="MODULE",
                     help="import MODULE first so its local TFDS builders register, repeatable")
    run.add_argument("--output", default="outputs", help="output folder (default: ./outputs)")
    run.add_argument("--metadata-mysql", metavar="ADDRESS", help=METADATA_MYSQL_HELP)
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam pipeline argument, repeatable (default: in-process DirectRunner)")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--force", action="store_true",
                     help="run the pipeline even when nothing it depends on changed since its last success")
    run.add_argument("--verbose", action="store_true",
                     help="print everything (TensorFlow, Beam, TFX logs) instead of writing it to the run's log")
    run.add_argument("--no-report", dest="report", action="store_false", help="skip the HTML report")
    run.add_argument("--debug", action="store_true", help="show the full traceback on failure")
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="past runs, from ML Metadata")
    runs.add_argument("pipeline", nargs="?", choices=registry.names())
    runs.add_argument("--output", default="outputs")
    runs.add_argument("--last", type=int, default=20)
    runs.add_argument("--metadata-mysql", metavar="ADDRESS", help=METADATA_MYSQL_HELP)
    runs.set_defaults(func=cmd_runs)

    schedule = sub.add_parser("schedule", help="run pipelines on cron schedules (orchestration/README.md)")
    schedule.add_argument("file", help="schedule file (.toml or .json)")
    schedule.add_argument("--output", help="output folder (default: the schedule's 'output')")
    schedule.add_argument("--once", metavar="PIPELINE", help="one firing now (what cron or a systemd timer runs)")
    schedule.add_argument("--print", choices=("crontab", "systemd"), help="print crontab lines or systemd units")
    schedule.add_argument("--check", action="store_true", help="validate and print each pipeline's next firings")
    schedule.add_argument("--workdir", help="working directory of printed crontab/systemd entries (default: .)")
    schedule.add_argument("--stop-after", type=float, metavar="SECONDS", help="stop the foreground scheduler")
    schedule.add_argument("--metadata-mysql", metavar="ADDRESS", help=METADATA_MYSQL_HELP)
    schedule.set_defaults(func=cmd_schedule)

    compile_ = sub.add_parser("compile", add_help=False, prefix_chars="+",  # its own parser reads every argument
                              help="compile a pipeline for Kubeflow Pipelines v2 / Vertex AI or Airflow")
    compile_.add_argument("argv", nargs="*", help="see zoo compile --help")
    compile_.set_defaults(func=cmd_compile)

    from serving.cli import add_predict_parser, add_serve_parser
    add_serve_parser(sub)
    add_predict_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
