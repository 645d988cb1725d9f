"""``zoo``: run pipelines, list past runs, serve and query models.

Exit codes: 0 success (pushed, or already serving that very model),
1 the run failed (the message says where and why), 2 bad usage,
3 the model was trained but not blessed, so not pushed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_BLESSED = 1, 2, 3


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
    for name in registry.names():
        config = registry.get(name)
        print(f"{name:12s} model={config.model:10s} dataset={config.dataset.name:20s} {config.description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from pipelines import registry
    from pipelines.runner import DEFAULT_BEAM_ARGS, Paths, run_pipeline
    from pipelines.runs import load_runs

    config = registry.get(args.pipeline)
    hparams = dict(args.hparam or [])
    if args.epochs is not None:
        hparams["epochs"] = args.epochs
    if hparams:
        config = config.with_overrides(hparams=hparams)
    if args.dataset or args.builder_module:
        import dataclasses
        name, _, version = (args.dataset or config.dataset.name).partition(":")
        config = config.with_overrides(dataset=dataclasses.replace(
            config.dataset, name=name, version=version or None,
            builder_modules=tuple(config.dataset.builder_modules) + tuple(args.builder_module or ())))
    paths = Paths(os.path.abspath(args.output))
    print(f"running pipeline '{config.name}' ({args.runner} runner) into {paths.output}", flush=True)
    start = time.time()
    try:
        run_pipeline(config, paths, args.runner, args.beam_arg or DEFAULT_BEAM_ARGS,
                     enable_cache=not args.no_cache)
    except Exception as error:
        if args.debug:
            raise
        print(f"error: pipeline '{config.name}' failed: {_explain(error)}", file=sys.stderr)
        return EXIT_FAILED
    record = load_runs(paths.metadata, config.name)[-1]
    print(f"\nrun {record.run_id}: {record.status} in {time.time() - start:.1f}s")
    for step in record.steps:
        print(f"  {step.node:32s} {step.state:7s} {step.seconds:6.1f}s")
    for name, value in sorted(record.metrics.items()):
        print(f"  metric {name} = {value:.4f}")
    if args.report:
        from pipelines.report import write_report
        print(f"report: {write_report(record, paths, config)}")
    push = record.push
    if push.get("pushed"):
        print(f"PUSHED version {push['pushed_version']} to {push['pushed_destination']}")
        return 0
    if push.get("pushed_version"):
        print(f"NOT PUSHED AGAIN: {push.get('push_reason')} ({push.get('pushed_destination')})")
        return 0
    reasons = [r for r in (push.get("push_reason"), record.not_blessed_reasons) if r]
    print(f"NOT PUSHED: {': '.join(reasons) or 'the model was not blessed'}")
    return EXIT_NOT_BLESSED


def cmd_runs(args: argparse.Namespace) -> int:
    from pipelines.runner import Paths
    from pipelines.runs import load_runs
    try:
        runs = load_runs(Paths(os.path.abspath(args.output)).metadata, args.pipeline)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{'started':19s}  {'pipeline':10s} {'status':10s} {'time':>7s} {'ran':>3s} {'cached':>6s}  "
          f"{'blessed':7s} {'pushed':14s} metrics")
    for run in runs[-args.last:]:
        ran = sum(s.state == "ran" for s in run.steps)
        cached = sum(s.state == "cached" for s in run.steps)
        push = run.push
        pushed = (f"v{push['pushed_version']}" if push.get("pushed") else
                  f"same v{push['pushed_version']}" if push.get("pushed_version") else "no")
        blessed = {True: "yes", False: "no", None: "-"}[run.blessed]
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(run.metrics.items()) if k != "example_count")
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run.started))}  {run.pipeline:10s} "
              f"{run.status:10s} {run.seconds:6.1f}s {ran:3d} {cached:6d}  {blessed:7s} {pushed:14s} {metrics}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pipelines import registry
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,runs,serve,predict}")

    sub.add_parser("list", help="list the pipelines").set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="run a pipeline end to end")
    run.add_argument("pipeline", choices=registry.names())
    run.add_argument("--runner", choices=("local", "beam"), default="local")
    run.add_argument("--epochs", type=int, help="override the model's epochs")
    run.add_argument("--hparam", action="append", type=_parse_hparam, metavar="NAME=VALUE",
                     help="override a hyperparameter (JSON value), repeatable")
    run.add_argument("--dataset", metavar="NAME[:VERSION]",
                     help="another TFDS dataset with the same features (a new span, 'mnist', ...)")
    run.add_argument("--builder-module", action="append", metavar="MODULE",
                     help="import MODULE first so its local TFDS builders register, repeatable")
    run.add_argument("--output", default="outputs", help="output folder (default: ./outputs)")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam pipeline argument, repeatable (default: in-process DirectRunner)")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--no-report", dest="report", action="store_false", help="skip the HTML report")
    run.add_argument("--debug", action="store_true", help="show the full traceback on failure")
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="past runs, from ML Metadata")
    runs.add_argument("pipeline", nargs="?", choices=registry.names())
    runs.add_argument("--output", default="outputs")
    runs.add_argument("--last", type=int, default=20)
    runs.set_defaults(func=cmd_runs)

    from serving.cli import add_predict_parser, add_serve_parser
    add_serve_parser(sub)
    add_predict_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
