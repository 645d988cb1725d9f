"""The Pusher's executor alone: what it writes, and what it records, for each blessing."""

from __future__ import annotations

import itertools
import os
import shutil

import pytest
import tfx
from google.protobuf import message
from ml_metadata.proto import metadata_store_pb2
from tfx.types import channel_utils, standard_artifacts
from tfx.types.standard_artifact_utils import ARTIFACT_TFX_VERSION_CUSTOM_PROPERTY_KEY
from tfx.utils import proto_utils

from components.artifacts import serving_model_dir
from components.pusher import executor
from components.pusher.component import ServingPusher
from serving.versions import list_versions, model_digest, version_dirs

_uris = itertools.count()


def _resolved(artifact, root):
    """``artifact`` with a fresh uri under ``root``, as an input resolved from ML Metadata."""
    artifact.uri = str(root / f"{artifact.type_name}-{next(_uris)}")
    artifact.mlmd_artifact.state = metadata_store_pb2.Artifact.LIVE
    artifact.set_string_custom_property(ARTIFACT_TFX_VERSION_CUSTOM_PROPERTY_KEY, tfx.__version__)
    return artifact


def _model(root, toy_base, version):
    """A Trainer's Model artifact holding the toy SavedModel ``version``."""
    model = _resolved(standard_artifacts.Model(), root)
    shutil.copytree(os.path.join(toy_base, str(version)), serving_model_dir(model.uri, check=False))
    return model


def _blessing(artifact_type, root, blessed):
    """A blessing as the Evaluator / serving validation write it (the ``blessed`` int property)."""
    blessing = _resolved(artifact_type(), root)
    os.makedirs(blessing.uri)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _exec_properties(base_dir):
    """The component's execution properties, protos as JSON strings as the launcher passes them."""
    channels = {"model": channel_utils.as_channel([standard_artifacts.Model()]),
                "model_blessing": channel_utils.as_channel([standard_artifacts.ModelBlessing()]),
                "infra_blessing": channel_utils.as_channel([standard_artifacts.InfraBlessing()])}
    component = ServingPusher(base_directory=base_dir, **channels)
    return {key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
            for key, value in component.exec_properties.items() if value is not None}


def _push(root, model, blessed=True, infra_blessed=True):
    """Runs the executor; returns the PushedModel artifact."""
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / f"pushed-{next(_uris)}")
    os.makedirs(pushed.uri)
    inputs = {"model": [model],
              "model_blessing": [_blessing(standard_artifacts.ModelBlessing, root, blessed)],
              "infra_blessing": [_blessing(standard_artifacts.InfraBlessing, root, infra_blessed)]}
    executor.Executor().Do(inputs, {"pushed_model": [pushed]}, _exec_properties(str(root / "serving" / "toy")))
    return pushed


@pytest.fixture()
def base(tmp_path):
    return str(tmp_path / "serving" / "toy")


@pytest.fixture()
def copies(monkeypatch, base):
    """``(destination, versions visible in base then)`` of every copy into ``base``."""
    seen = []
    copytree = shutil.copytree

    def recording(src, dst, *args, **kwargs):
        before = list_versions(base)
        result = copytree(src, dst, *args, **kwargs)
        if os.path.dirname(os.path.abspath(dst)) == os.path.abspath(base):
            seen.append((os.path.basename(dst), before, list_versions(base)))
        return result

    monkeypatch.setattr(shutil, "copytree", recording)
    return seen


def test_blessed_model_is_pushed_as_a_new_version_atomically(tmp_path, toy_base, base, copies):
    model = _model(tmp_path, toy_base, 1)
    pushed = _push(tmp_path, model)

    [version] = list_versions(base)
    assert os.listdir(base) == [str(version)]  # no hidden staging directory left behind
    assert model_digest(os.path.join(base, str(version))) == model_digest(serving_model_dir(model.uri))
    # Written under a hidden, non-numeric name: no version was visible until the rename.
    [(staging, before, after)] = copies
    assert not staging.isdigit() and before == after == []
    assert pushed.get_int_custom_property(executor.PUSHED) == 1
    assert pushed.get_string_custom_property(executor.PUSHED_VERSION) == str(version)
    assert pushed.get_string_custom_property(executor.PUSHED_DESTINATION) == os.path.join(base, str(version))
    assert pushed.get_string_custom_property(executor.PUSH_REASON) == "pushed"


@pytest.mark.parametrize(("blessed", "infra_blessed", "named", "not_named"), [
    (False, True, "the Evaluator", "serving validation"),
    (True, False, "the serving validation", "Evaluator"),
])
def test_model_not_blessed_is_not_pushed(tmp_path, toy_base, base, blessed, infra_blessed, named, not_named):
    pushed = _push(tmp_path, _model(tmp_path, toy_base, 1), blessed=blessed, infra_blessed=infra_blessed)
    assert not os.path.exists(base) or os.listdir(base) == []
    assert pushed.get_int_custom_property(executor.PUSHED) == 0
    reason = pushed.get_string_custom_property(executor.PUSH_REASON)
    assert named in reason and not_named not in reason
    assert not pushed.has_custom_property(executor.PUSHED_VERSION)


def test_model_identical_to_the_served_one_is_not_pushed_again(tmp_path, toy_base, base):
    first = _push(tmp_path, _model(tmp_path, toy_base, 1))
    version = int(first.get_string_custom_property(executor.PUSHED_VERSION))

    again = _push(tmp_path, _model(tmp_path, toy_base, 1))  # the same model, another Trainer run

    assert list_versions(base) == [version]
    assert again.get_int_custom_property(executor.PUSHED) == 0
    assert again.get_string_custom_property(executor.PUSHED_VERSION) == str(version)
    assert again.get_string_custom_property(executor.PUSHED_DESTINATION) == os.path.join(base, str(version))
    assert again.get_string_custom_property(executor.PUSH_REASON) == f"identical to served version {version}"


def test_a_different_model_after_that_is_a_new_larger_version(tmp_path, toy_base, base):
    _push(tmp_path, _model(tmp_path, toy_base, 1))
    _push(tmp_path, _model(tmp_path, toy_base, 1))
    [first] = list_versions(base)

    other = _model(tmp_path, toy_base, 2)
    pushed = _push(tmp_path, other)

    assert list_versions(base) == [first, int(pushed.get_string_custom_property(executor.PUSHED_VERSION))]
    second = list_versions(base)[-1]
    assert second > first
    assert pushed.get_int_custom_property(executor.PUSHED) == 1
    assert model_digest(version_dirs(base)[second]) == model_digest(serving_model_dir(other.uri))


def test_only_the_latest_version_counts_as_served(tmp_path, toy_base, base):
    """A model equal to an older version (a rollback) is pushed again, as the newest version."""
    _push(tmp_path, _model(tmp_path, toy_base, 1))
    _push(tmp_path, _model(tmp_path, toy_base, 2))
    rollback = _push(tmp_path, _model(tmp_path, toy_base, 1))

    first, second, third = list_versions(base)
    assert rollback.get_int_custom_property(executor.PUSHED) == 1
    assert rollback.get_string_custom_property(executor.PUSHED_VERSION) == str(third)
    assert model_digest(version_dirs(base)[third]) == model_digest(version_dirs(base)[first])


def test_the_warmed_up_model_of_an_infra_blessing_is_pushed(tmp_path, toy_base, base):
    """As TFX's Pusher with an InfraValidator that ``make_warmup``: the blessing's ``stamped_model`` goes out."""
    from serving import warmup

    model = _model(tmp_path, toy_base, 1)
    infra = _blessing(standard_artifacts.InfraBlessing, tmp_path, True)
    stamped = os.path.join(infra.uri, executor.STAMPED_MODEL_DIR)
    shutil.copytree(serving_model_dir(model.uri), stamped)
    warmup.write_warmup_requests(stamped, [warmup.predict_log({"x": [1.0]})])
    infra.set_int_custom_property(executor.INFRA_BLESSING_MODEL_FLAG_KEY, 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed-warm")
    os.makedirs(pushed.uri)
    inputs = {"model": [model], "model_blessing": [_blessing(standard_artifacts.ModelBlessing, tmp_path, True)],
              "infra_blessing": [infra]}
    executor.Executor().Do(inputs, {"pushed_model": [pushed]}, _exec_properties(base))
    [version] = list_versions(base)
    assert pushed.get_int_custom_property(executor.PUSHED) == 1
    assert os.path.isfile(warmup.warmup_path(os.path.join(base, str(version))))
    assert model_digest(os.path.join(base, str(version))) == model_digest(stamped)

    infra.set_int_custom_property(executor.INFRA_BLESSING_MODEL_FLAG_KEY, 1)
    shutil.rmtree(stamped)  # says it has a model, but holds none: a clear error, nothing pushed
    with pytest.raises(RuntimeError, match="holds no SavedModel"):
        executor.Executor().Do(inputs, {"pushed_model": [pushed]}, _exec_properties(base))
    assert list_versions(base) == [version]
