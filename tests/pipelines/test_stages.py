"""Multi-stage pipelines: a config's ``pretraining`` stage, whose blessed model starts its Trainer.

The stage concept belongs to the pipeline layer, not to one family, so it is
tested here with a small family that already exists: the digits CNN as
both the upstream stage and the final one (each pushed under its own name). The
end-to-end test checks the cache behaviour the BERT-style pipelines rely on:
editing the final stage re-runs that stage only, never the pretraining.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from pipelines import nodes, registry
from pipelines.config import PipelineConfig, Threshold


def _two_stages(final_epochs: int = 1) -> PipelineConfig:
    lenient = (Threshold("sparse_categorical_accuracy", lower_bound=0.0),)
    upstream = registry.get("digits").with_overrides(
        name="digits_upstream", serving_model_name="digits_upstream", hparams={"epochs": 1, "steps_per_epoch": 3},
        thresholds=lenient)
    final = registry.get("digits").with_overrides(
        name="digits_staged", serving_model_name="digits_staged", pretraining=upstream,
        hparams={"epochs": final_epochs, "steps_per_epoch": 3},
        thresholds=lenient)
    return final


def _build(config: PipelineConfig, tmp_path):
    from pipelines import factory
    return factory.create_pipeline(config, str(tmp_path), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))


def test_a_pretraining_stage_is_a_whole_stage_before_the_final_one(tmp_path):
    built = _build(_two_stages(), tmp_path)
    ids = [c.id for c in built.components]
    for node in (nodes.EXAMPLE_GEN, nodes.TRANSFORM, nodes.TRAINER, nodes.EVALUATOR, nodes.SERVING_VALIDATOR,
                 nodes.PUSHER):
        assert node in ids and nodes.staged(node, nodes.PRETRAINING) in ids
    by_id = {c.id: c for c in built.components}
    final_trainer, upstream_trainer = by_id[nodes.TRAINER], by_id[nodes.staged(nodes.TRAINER, nodes.PRETRAINING)]
    resolver = by_id[nodes.BASE_MODEL_RESOLVER]
    # The final Trainer starts from the resolved (blessed) pretrained model, resolved after its Evaluator ran.
    assert final_trainer.inputs["base_model"] is resolver.outputs["model"]
    assert nodes.staged(nodes.EVALUATOR, nodes.PRETRAINING) in {n.id for n in resolver.upstream_nodes}
    assert resolver.raw_inputs["model"].producer_component_id == upstream_trainer.id
    # Only a model that feeds another stage is also saved as a Keras file.
    assert json.loads(upstream_trainer.exec_properties["custom_config"])["save_keras"] is True
    assert json.loads(final_trainer.exec_properties["custom_config"])["save_keras"] is False
    # The final Trainer knows which stage it waits for (a clear error when that stage blessed nothing).
    assert json.loads(final_trainer.exec_properties["custom_config"])["pretraining_stage"] == "digits_upstream"
    assert "pretraining_stage" not in json.loads(upstream_trainer.exec_properties["custom_config"])
    # Each stage's no-regression baseline is its own Trainer's last blessed model, never the other stage's.
    for stage in (None, nodes.PRETRAINING):
        baseline = by_id[nodes.staged(nodes.BASELINE_RESOLVER, stage)]
        assert baseline.raw_inputs["model"].producer_component_id == nodes.staged(nodes.TRAINER, stage)
        assert baseline.raw_inputs["model_blessing"].producer_component_id == nodes.staged(nodes.EVALUATOR, stage)
    # The two stages push to their own serving names.
    pushed = {str(by_id[nodes.staged(nodes.PUSHER, s)].exec_properties["push_destination"])
              for s in (None, nodes.PRETRAINING)}
    assert len(pushed) == 2


def test_a_pipeline_without_stages_is_unchanged(tmp_path):
    ids = [c.id for c in _build(registry.get("digits"), tmp_path).components]
    assert not [i for i in ids if i.endswith(nodes.PRETRAINING)] and nodes.BASE_MODEL_RESOLVER not in ids


def test_only_one_pretraining_stage(tmp_path):
    config = _two_stages()
    nested = dataclasses.replace(config, pretraining=dataclasses.replace(config.pretraining, pretraining=config))
    with pytest.raises(ValueError, match="one pretraining stage"):
        _build(nested, tmp_path)


def test_the_run_key_covers_the_pretraining_stage(tmp_path):
    from pipelines import run_key

    config = _two_stages()
    modules = run_key.code_modules(config)
    assert "models.cnn" in modules and "datasets" in modules
    changed = config.with_overrides(pretraining=config.pretraining.with_overrides(hparams={"epochs": 2}))
    assert run_key.config_digest(changed) != run_key.config_digest(config)


# ------------------------------------------------------------------ end to end


def _inputs_of(metadata_path: str, pipeline: str, node: str) -> dict[str, list[int]]:
    """Input artifact ids of ``node``'s last execution, by input key."""
    from ml_metadata.proto import metadata_store_pb2

    from pipelines.runs import open_store

    store = open_store(metadata_path)
    context = store.get_context_by_type_and_name("node", f"{pipeline}.{node}")
    execution = max(store.get_executions_by_context(context.id), key=lambda e: e.id)
    inputs: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type == metadata_store_pb2.Event.INPUT:
            inputs.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    return inputs


@pytest.mark.pipeline
def test_editing_the_final_stage_never_reruns_pretraining(tmp_path):
    from pipelines.runner import Paths, run_pipeline
    from pipelines.runs import load_runs
    from serving.versions import list_versions

    paths = Paths(str(tmp_path))
    config = _two_stages(final_epochs=1)
    run_pipeline(config, paths, echo=lambda line: None)
    first = load_runs(paths.metadata, config.name)[-1]
    upstream_model = first.output(nodes.staged(nodes.TRAINER, nodes.PRETRAINING), "model")
    assert os.path.isfile(os.path.join(upstream_model.uri, "Format-Keras", "model.keras"))
    assert _inputs_of(paths.metadata, config.name, nodes.TRAINER)["base_model"] == [upstream_model.id]
    assert first.push.get("pushed")  # the final model was blessed and pushed

    upstream_versions = list_versions(os.path.join(paths.serving, "digits_upstream"))
    assert len(upstream_versions) == 1

    run_pipeline(_two_stages(final_epochs=2), paths, echo=lambda line: None)
    second = load_runs(paths.metadata, config.name)[-1]
    states = {step.node: step.state for step in second.steps}
    # Pretraining is not trained again; its Evaluator and Pusher only settle that nothing changed
    # (the candidate is its own baseline; the served version is the same model).
    for node in (nodes.EXAMPLE_GEN, nodes.TRANSFORM, nodes.TRAINER, nodes.SERVING_VALIDATOR):
        assert states[nodes.staged(node, nodes.PRETRAINING)] == "cached", states
    assert list_versions(os.path.join(paths.serving, "digits_upstream")) == upstream_versions
    assert states[nodes.TRAINER] == "ran" and states[nodes.EVALUATOR] == "ran", states
    assert _inputs_of(paths.metadata, config.name, nodes.TRAINER)["base_model"] == [upstream_model.id]


@pytest.mark.pipeline
def test_a_pretraining_stage_that_blesses_nothing_stops_the_final_stage_clearly(tmp_path):
    from pipelines.runner import Paths, run_pipeline

    config = _two_stages()
    unreachable = (Threshold("sparse_categorical_accuracy", lower_bound=1.01),)
    config = config.with_overrides(pretraining=config.pretraining.with_overrides(thresholds=unreachable))
    with pytest.raises(Exception, match="no blessed model from the pretraining stage 'digits_upstream'"):
        run_pipeline(config, Paths(str(tmp_path)), echo=lambda line: None)
