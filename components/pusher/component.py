"""The stock TFX Pusher with :mod:`components.pusher.executor`."""

from __future__ import annotations

from typing import Any

from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2

from components.pusher import executor


class AtomicPusher(Pusher):
    """TFX's ``Pusher`` whose executor publishes atomically and skips a copy of the served model."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)


def ServingPusher(base_directory: str, **inputs: Any) -> AtomicPusher:
    """A Pusher to ``base_directory`` (TF Serving's ``<model_base_path>``).

    ``inputs`` are the stock Pusher's: ``model``, ``model_blessing``, ``infra_blessing``.
    """
    return AtomicPusher(
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_directory)),
        **inputs)
