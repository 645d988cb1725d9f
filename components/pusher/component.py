"""The stock TFX Pusher with :mod:`components.pusher.executor`."""

from __future__ import annotations

from typing import Any

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


def ServingPusher(base_directory: str, **inputs: Any) -> tfx.components.Pusher:
    """A Pusher to ``base_directory`` (TF Serving's ``<model_base_path>``).

    ``inputs`` are the stock Pusher's: ``model``, ``model_blessing``, ``infra_blessing``.
    """
    return tfx.components.Pusher(
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base_directory)),
        custom_executor_spec=executor_spec.ExecutorClassSpec(executor.Executor),
        **inputs)
