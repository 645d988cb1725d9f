"""``zoo compile <pipeline> --target kubeflow|airflow``: the pipeline for another orchestrator.

* ``kubeflow``: the Kubeflow Pipelines v2 / Vertex AI pipeline spec JSON
  (:mod:`orchestration.kubeflow`), components in the project's image;
* ``airflow``: an Airflow 3 DAG that runs ``zoo run`` (:mod:`orchestration.airflow`).

Importing this module imports neither TFX nor TensorFlow (``zoo list`` builds
the parser that holds these arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

TARGETS = ("kubeflow", "airflow")


class CompileError(ValueError):
    """Bad compile arguments: reported as one line."""


def add_arguments(parser: argparse.ArgumentParser, pipelines: Sequence[str]) -> None:
    parser.add_argument("pipeline", choices=pipelines)
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--out", help="kubeflow: the spec's JSON file (default outputs/compiled/kubeflow/"
                                      "<pipeline>.json); airflow: the DAGs folder (default outputs/compiled/airflow)")
    kfp = parser.add_argument_group("kubeflow")
    kfp.add_argument("--image", help="the project's container image (orchestration/deploy/Dockerfile)")
    kfp.add_argument("--gpu-image", help="the Trainer's image (orchestration/deploy/Dockerfile.gpu)")
    kfp.add_argument("--pipeline-root", default="gs://tfx-model-zoo/pipelines",
                     help="artifacts root; the pipeline's root is <this>/<pipeline>")
    kfp.add_argument("--serving-dir", default="gs://tfx-model-zoo/serving",
                     help="where the Pusher writes: <this>/<model name>/<version>")
    kfp.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam argument for every Beam component, repeatable (e.g. Dataflow's; "
                          "see orchestration/beam.py)")
    kfp.add_argument("--epochs", type=int, help="override the model's epochs")
    kfp.add_argument("--hparam", action="append", metavar="NAME=VALUE", help="override a hyperparameter")
    air = parser.add_argument_group("airflow")
    air.add_argument("--schedule", help="the DAG's cron schedule (default: none, triggered by hand)")
    air.add_argument("--retries", type=int, default=2)
    air.add_argument("--timeout", default="6h", help="time limit per run: seconds or 30m, 2h ...")
    air.add_argument("--zoo", help="the project's zoo command (default: this environment's)")
    air.add_argument("--workdir", help="the project's working directory (default: .)")
    air.add_argument("--run-output", default="outputs", help="zoo run's --output (default ./outputs)")
    air.add_argument("--run-arg", action="append", metavar="ARG", help="one more zoo run argument, repeatable")


def _hparams(args: argparse.Namespace) -> dict[str, object]:
    hparams: dict[str, object] = {}
    for text in args.hparam or []:
        name, eq, value = text.partition("=")
        if not eq:
            raise CompileError(f"--hparam takes NAME=VALUE, got '{text}'")
        try:
            hparams[name] = json.loads(value)
        except json.JSONDecodeError:
            hparams[name] = value
    if args.epochs is not None:
        hparams["epochs"] = args.epochs
    return hparams


def parser() -> argparse.ArgumentParser:
    from pipelines import registry
    result = argparse.ArgumentParser(prog="zoo compile", description=__doc__.split("\n\n")[0])
    add_arguments(result, registry.names())
    return result


def main(argv: Sequence[str]) -> int:
    """What ``zoo compile`` does with its arguments; returns the exit code."""
    from orchestration.schedule import parse_duration

    args = parser().parse_args(argv)

    if args.target == "kubeflow":
        from orchestration.kubeflow import DEFAULT_BEAM_ARGS, DEFAULT_IMAGE, compile_kubeflow
        from pipelines import registry

        config = registry.get(args.pipeline)
        hparams = _hparams(args)
        if hparams:
            config = config.with_overrides(hparams=hparams)
        from models import registry as model_registry
        try:
            model_registry.get(config.model).hparams(config.hparams)
        except (KeyError, TypeError, ValueError) as error:
            raise CompileError(f"pipeline '{args.pipeline}': {str(error).splitlines()[0]}") from None
        out = args.out or os.path.join("outputs", "compiled", "kubeflow", f"{args.pipeline}.json")
        try:
            path = compile_kubeflow(config, out, pipeline_root=args.pipeline_root, serving_dir=args.serving_dir,
                                    image=args.image or DEFAULT_IMAGE, gpu_image=args.gpu_image,
                                    beam_args=args.beam_arg or DEFAULT_BEAM_ARGS)
        except ValueError as error:
            raise CompileError(str(error).splitlines()[0]) from None
        print(f"wrote {path}: Kubeflow Pipelines v2 / Vertex AI pipeline spec of '{args.pipeline}' "
              f"(image {args.image or DEFAULT_IMAGE}, root {args.pipeline_root}/{args.pipeline})")
        return 0

    from orchestration.airflow import write_dag
    zoo = args.zoo or os.path.join(os.path.dirname(sys.executable), "zoo")
    try:
        path = write_dag(args.pipeline, args.out or os.path.join("outputs", "compiled", "airflow"), zoo=zoo,
                         workdir=os.path.abspath(args.workdir or os.getcwd()),
                         output=os.path.abspath(args.run_output), schedule=args.schedule,
                         args=args.run_arg or (), retries=args.retries,
                         timeout_s=int(parse_duration(args.timeout)))
    except ValueError as error:
        raise CompileError(str(error).splitlines()[0]) from None
    print(f"wrote {path}: Airflow 3 DAG '{'zoo_' + args.pipeline}' (runs {zoo} run {args.pipeline}; "
          "Airflow lives in its own environment: orchestration/README.md)")
    return 0
