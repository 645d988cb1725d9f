"""pipelines.runner.with_run_id: the compiled pipeline carries this process's run id."""

from __future__ import annotations

import pathlib

import pytest


def _digits_pipeline(out: pathlib.Path):
    from pipelines import factory, registry
    return factory.create_pipeline(registry.get("digits"), pipeline_root=str(out / "root"),
                                   metadata_path=str(out / "metadata.sqlite"), serving_dir=str(out / "serving"))


def test_with_run_id_binds_the_run_id_every_node_would_wait_for(tmp_path: pathlib.Path):
    from tfx.dsl.compiler import compiler, constants

    from pipelines import runner

    pipeline = _digits_pipeline(tmp_path)
    unbound = str(compiler.Compiler().compile(pipeline))
    parameter = f'name: "{constants.PIPELINE_RUN_ID_PARAMETER_NAME}"'
    assert parameter in unbound  # what a runner would fill with an id of its own
    bound = str(runner.with_run_id(pipeline, "run-42"))
    assert parameter not in bound
    assert bound.count('string_value: "run-42"') >= len(pipeline.components)


def test_with_run_id_refuses_a_module_file_it_would_not_package(tmp_path: pathlib.Path):
    from pipelines import runner

    pipeline = _digits_pipeline(tmp_path)
    pipeline.components[0].exec_properties["module_file"] = "trainer_module.py"
    with pytest.raises(ValueError, match="module_file"):
        runner.with_run_id(pipeline, "run-42")
