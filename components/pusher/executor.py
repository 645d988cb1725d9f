"""Pusher executor: atomic version directories, and no duplicate of the serving model.

TFX's stock Pusher writes every blessed model as a new timestamped version,
even when it is the very model already being served (a re-run whose Trainer
was cached but whose Evaluator ran again against a new baseline). This one
compares the candidate with the latest served version byte for byte and, when
they are the same, records that version instead of writing a copy.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from serving.versions import model_digest, publish_version, version_dirs

# Custom properties on the PushedModel artifact (the stock ones plus a reason).
PUSHED = "pushed"
PUSHED_VERSION = "pushed_version"
PUSHED_DESTINATION = "pushed_destination"
PUSH_REASON = "push_reason"
INFRA_BLESSING_MODEL_FLAG_KEY = "has_model"  # TFX's: the InfraBlessing holds a warmed-up model
STAMPED_MODEL_DIR = "stamped_model"  # TFX's path_constants.STAMPED_MODEL_DIR


def _refusal(input_dict: dict[str, list[types.Artifact]]) -> str:
    """Which validator did not bless the model."""
    reasons = []
    for key, who in ((standard_component_specs.MODEL_BLESSING_KEY, "the Evaluator"),
                     (standard_component_specs.INFRA_BLESSING_KEY, "the serving validation")):
        artifacts = input_dict.get(key)
        if artifacts and not artifacts[0].get_int_custom_property("blessed"):
            reasons.append(f"not blessed by {who}")
    return " and ".join(reasons) or "not blessed"


class Executor(pusher_executor.Executor):
    """Pushes to a filesystem destination in TF Serving's layout."""

    def GetModelPath(self, input_dict: dict[str, list[types.Artifact]]) -> str:
        """The warmed-up model of an InfraBlessing that carries one (``has_model``), else the Model's.

        The ServingValidator, like TFX's InfraValidator with ``make_warmup``,
        writes a copy of the model with TF Serving warmup records into its
        blessing; that copy is what was served and checked, so it is pushed.
        """
        infra = input_dict.get(standard_component_specs.INFRA_BLESSING_KEY)
        if infra:
            blessing = artifact_utils.get_single_instance(infra)
            if blessing.get_int_custom_property(INFRA_BLESSING_MODEL_FLAG_KEY):
                path = os.path.join(blessing.uri, STAMPED_MODEL_DIR)
                if not os.path.isfile(os.path.join(path, "saved_model.pb")):
                    raise RuntimeError(f"InfraBlessing says it has a model but {path} holds no SavedModel")
                return path
        return super().GetModelPath(input_dict)

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(PUSH_REASON, _refusal(input_dict))
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("only filesystem push destinations are supported")
        base_dir = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)

        served = version_dirs(base_dir)
        latest = max(served, default=None)
        if latest is not None and model_digest(served[latest]) == model_digest(model_path):
            version = latest
            logging.info("Model is identical to served version %d; not pushed again.", version)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(PUSHED_VERSION, str(version))
            model_push.set_string_custom_property(PUSHED_DESTINATION, served[version])
            model_push.set_string_custom_property(PUSH_REASON, f"identical to served version {version}")
            return
        version = publish_version(model_path, base_dir)
        io_utils.copy_dir(model_path, model_push.uri)  # archive, as the stock Pusher does
        self._MarkPushed(model_push, pushed_destination=os.path.join(base_dir, str(version)),
                         pushed_version=str(version))
        model_push.set_string_custom_property(PUSH_REASON, "pushed")
        logging.info("Model pushed as version %d to %s.", version, base_dir)
