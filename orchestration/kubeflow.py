"""``zoo compile <pipeline> --target kubeflow``: a Kubeflow Pipelines v2 / Vertex AI pipeline spec.

TFX's ``KubeflowV2DagRunner`` compiles the same pipeline ``zoo run`` runs
(``pipelines/factory.py``) into a ``PipelineJob`` JSON. Every component runs
in the project's container image (``orchestration/deploy/Dockerfile``: the
project installed on TFX's image ``gcr.io/tfx-oss-public/tfx:1.16.0``; the
Trainer may use the GPU variant, ``Dockerfile.gpu``) through TFX's entry point
``python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
--executor_class_path <the component's executor>``. ML Metadata is the
platform's (Vertex ML Metadata / KFP's), so the local SQLite path plays no part.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from orchestration.beam import check_beam_args
from pipelines.config import PipelineConfig

DEFAULT_IMAGE = "tfx-model-zoo:1.16.0"
ENTRY_POINT = ("python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor")
# Beam inside each component's container: DirectRunner, one worker process per CPU of the pod.
DEFAULT_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
GPU_COMPONENTS = ("Trainer",)  # component classes that run on the GPU image


def pipeline_job(config: PipelineConfig, pipeline_root: str, serving_dir: str, image: str = DEFAULT_IMAGE,
                 gpu_image: str | None = None, beam_args: Sequence[str] = DEFAULT_BEAM_ARGS,
                 enable_cache: bool = True) -> dict[str, Any]:
    """The ``PipelineJob`` (pipeline spec + runtime config) of ``config`` as a JSON-ready dict."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
    from tfx.orchestration.kubeflow.v2.pipeline_builder import DEFAULT_IMAGE_PATH_KEY

    from pipelines.factory import create_pipeline

    beam_args = check_beam_args(beam_args)
    root = f"{pipeline_root.rstrip('/')}/{config.name}"
    # KFP's names are [a-z0-9-]; the served model keeps its name.
    config = config.with_overrides(name=kfp_name(config.name), serving_model_name=config.model_name)
    # The metadata path is unused: Vertex / KFP keep their own ML Metadata.
    pipeline = create_pipeline(config, root, "unused-on-kubeflow.sqlite", serving_dir, beam_args, enable_cache)
    images: Any = image
    if gpu_image:  # every Trainer (a multi-stage pipeline has one per stage) trains on the GPU image
        images = {DEFAULT_IMAGE_PATH_KEY: image,
                  **{c.id: gpu_image for c in pipeline.components if type(c).__name__ in GPU_COMPONENTS}}
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=images, default_commands=list(ENTRY_POINT), display_name=f"zoo-{config.name}"),
        output_dir=".", output_filename="unused.json")
    return runner.run(pipeline, write_out=False)


def kfp_name(name: str) -> str:
    """The pipeline's name as Kubeflow Pipelines allows it (``[a-z0-9][a-z0-9-]*``).

    >>> kfp_name("digits_vae")
    'digits-vae'
    """
    return name.lower().replace("_", "-")


def compile_kubeflow(config: PipelineConfig, output_file: str, **kwargs: Any) -> str:
    """Writes the pipeline spec JSON of ``config`` to ``output_file``; returns its path."""
    job = pipeline_job(config, **kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(output_file)), exist_ok=True)
    with open(output_file, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    return output_file


def containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Executor label -> its container spec (``image``, ``command``, ``args``) in a compiled job."""
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    return {name: spec["container"] for name, spec in executors.items() if "container" in spec}


def executor_class(container: dict[str, Any]) -> str:
    args = container.get("args", [])
    return args[args.index("--executor_class_path") + 1]
