"""``zoo compile --target kubeflow``: every pipeline compiles to a KFP v2 / Vertex pipeline spec that
parses with the pipeline-spec protos, runs the project's executors in the project's image through
TFX's entry point, and carries the configured pipeline root, serving folder and Beam arguments."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from orchestration import kubeflow
from pipelines import registry

IMAGE = "europe-docker.pkg.dev/p/zoo/tfx-model-zoo:1.16.0"
GPU_IMAGE = IMAGE + "-gpu"
ROOT = "gs://bucket/zoo/pipelines"
SERVING = "gs://bucket/zoo/serving"
BEAM = ["--runner=DataflowRunner", "--project=p", "--region=europe-west4", "--temp_location=gs://bucket/tmp",
        f"--sdk_container_image={IMAGE}"]
# Components that run Beam (their executors take the Beam arguments).
BEAM_NODES = ("StatisticsGen", "Transform")


@pytest.fixture(scope="module")
def jobs() -> dict[str, dict]:
    return {name: kubeflow.pipeline_job(registry.get(name), ROOT, SERVING, image=IMAGE, gpu_image=GPU_IMAGE,
                                        beam_args=BEAM)
            for name in registry.names()}


@pytest.mark.parametrize("name", registry.names())
def test_every_pipeline_compiles_to_a_spec_the_protos_parse(jobs, name):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    job = jobs[name]
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == name.replace("_", "-")
    assert job["displayName"] == f"zoo-{name.replace('_', '-')}"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"{ROOT}/{name}"
    tasks = set(spec.root.dag.tasks)
    for node in ("TfdsExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator", "ServingValidator", "Pusher"):
        assert node in tasks, sorted(tasks)


@pytest.mark.parametrize("name", registry.names())
def test_every_container_runs_a_project_executor_in_the_project_image(jobs, name):
    containers = kubeflow.containers(jobs[name])
    assert containers
    for label, container in containers.items():
        assert tuple(container["command"]) == kubeflow.ENTRY_POINT
        expected = GPU_IMAGE if label.startswith("Trainer") else IMAGE
        assert container["image"] == expected, label
        module, _, attribute = kubeflow.executor_class(container).rpartition(".")
        assert getattr(importlib.import_module(module), attribute)  # the entry point can load it
    executors = {label.removesuffix("_executor"): kubeflow.executor_class(c) for label, c in containers.items()}
    assert executors["TfdsExampleGen"] == "components.tfds_example_gen.executor.Executor"
    assert executors["Pusher"].startswith("components.pusher.")
    for node in BEAM_NODES:
        assert all(arg in containers[f"{node}_executor"]["args"] for arg in BEAM)


def test_trainer_and_pusher_carry_the_project_module_and_the_serving_folder(jobs):
    job = json.dumps(jobs["digits"])
    assert "components.trainer.module.run_fn" in job
    assert f"{SERVING}/{registry.get('digits').model_name}" in job
    vae = registry.get("digits_vae").model_name
    assert "_" in vae and f"{SERVING}/{vae}\\\"" in json.dumps(jobs["digits_vae"])  # the served name is kept


def test_one_image_for_everything_without_a_gpu_image(tmp_path):
    path = kubeflow.compile_kubeflow(registry.get("digits"), str(tmp_path / "digits.json"), pipeline_root=ROOT,
                                     serving_dir=SERVING, image=IMAGE)
    with open(path) as f:
        job = json.load(f)
    assert {c["image"] for c in kubeflow.containers(job).values()} == {IMAGE}
    beam_args = kubeflow.containers(job)["StatisticsGen_executor"]["args"]
    assert all(arg in beam_args for arg in kubeflow.DEFAULT_BEAM_ARGS)


@pytest.mark.parametrize("argv, message", [
    (["--beam-arg=--runner=DataflowRunner", "--beam-arg=--project=p"], "Beam DataflowRunner needs --region"),
    (["--hparam", "no_such_hparam=1"], "pipeline 'digits': "),
])
def test_cli_reports_bad_compile_arguments_in_one_line(tmp_path, argv, message):
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "compile", "digits", "--target", "kubeflow",
                           "--out", str(tmp_path / "x.json"), *argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr[-2000:]
    assert not os.path.exists(tmp_path / "x.json")


def test_dockerfiles_build_the_project_on_tfx_image():
    folder = os.path.join(os.path.dirname(kubeflow.__file__), "deploy")
    with open(os.path.join(folder, "Dockerfile")) as f:
        cpu = f.read()
    assert "ARG TFX_IMAGE=gcr.io/tfx-oss-public/tfx:1.16.0" in cpu and "FROM ${TFX_IMAGE}" in cpu
    assert "pip install --no-cache-dir -c constraints.txt -e ." in cpu
    for package in ("components", "models", "pipelines", "datasets"):
        assert f"COPY {package} ./{package}" in cpu
    with open(os.path.join(folder, "Dockerfile.gpu")) as f:
        gpu = f.read()
    assert '"tensorflow[and-cuda]==2.16.2"' in gpu
