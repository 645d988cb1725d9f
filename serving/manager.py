"""Model versions on disk -> loaded servables, per TF Serving's rules.

A :class:`ModelManager` watches ``<base_path>/<version>/`` for one model:
integer directory names only (:func:`serving.versions.version_dirs`, so a
Pusher's hidden staging directory is never seen), complete SavedModels only,
the ``model_version_policy`` picks the versions to serve, a new version is
loaded before an old one is dropped (no request ever finds the model without a
version), and requests that already hold the old version finish on it. :class:`ServerCore` holds one manager per
configured model and applies ``ModelServerConfig`` reloads and version labels.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving import config as config_lib
from serving import errors, monitoring, warmup
from serving.batching import BatchingOptions, BatchScheduler
from serving.servable import Servable, is_complete_version
from serving.versions import version_dirs

State = get_model_status_pb2.ModelVersionStatus.State
_LOG = logging.getLogger(__name__)


class ModelManager:
    """Loads, serves and unloads the versions of one model."""

    def __init__(self, model_config: config_lib.ModelConfig,
                 servable_factory: Callable[[str, int, str], Servable]):
        self.config = model_config
        self._factory = servable_factory
        self._servables: dict[int, Servable] = {}  # replaced whole, never mutated
        self._states: dict[int, tuple[int, int, str]] = {}  # version -> (state, code, message)
        self._failed: dict[int, float] = {}  # version -> mtime of the failed load
        self.labels: dict[str, int] = {}
        self._poll_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def servables(self) -> dict[int, Servable]:
        return self._servables

    def _loadable(self, version: int, path: str) -> bool:
        if version in self._servables:
            return True
        if version in self._failed and self._failed[version] == os.path.getmtime(path):
            return False
        return is_complete_version(path)

    def poll(self) -> None:
        """One file-system poll: load what the policy wants, then unload the rest."""
        with self._poll_lock:
            on_disk = version_dirs(self.config.base_path)
            candidates = {v for v, p in on_disk.items() if self._loadable(v, p)}
            loaded = dict(self._servables)
            while True:  # a version that fails to load gives way to the next the policy wants
                aspired = config_lib.aspired_versions(self.config, candidates)
                failed = set()
                for version in aspired:
                    if version not in loaded:
                        servable = self._load(version, on_disk[version])
                        if servable is None:
                            failed.add(version)
                        else:
                            loaded[version] = servable
                if not failed:
                    break
                candidates -= failed
            keep = {v: s for v, s in loaded.items() if v in aspired}
            self._servables = keep
            for version in set(loaded) - set(keep):
                self._states[version] = (State.END, 0, "")
                _LOG.info("Unloaded %s version %d", self.name, version)

    def _load(self, version: int, path: str) -> Servable | None:
        self._states[version] = (State.LOADING, 0, "")
        try:
            servable = self._factory(self.name, version, path)
        except Exception as e:
            message = " ".join(str(e).split())
            _LOG.error("Failed to load %s version %d: %s", self.name, version, message)
            self._failed[version] = os.path.getmtime(path)
            self._states[version] = (State.END, grpc.StatusCode.UNKNOWN.value[0], message)
            return None
        self._failed.pop(version, None)
        self._states[version] = (State.AVAILABLE, 0, "")
        _LOG.info("Loaded %s version %d", self.name, version)
        return servable

    def set_labels(self, labels: dict[str, int], allow_unavailable: bool) -> None:
        if not allow_unavailable:
            for version in labels.values():
                if version not in self._servables:
                    raise errors.failed_precondition(
                        f"Request to assign label to version {version} of model {self.name}, "
                        "which is not currently available for inference")
        self.labels = dict(labels)

    def resolve(self, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a ModelSpec names (latest when neither version nor label)."""
        if version is not None and label:
            raise errors.invalid_argument(
                f"Both model version ({version}) and model version label ({label}) cannot be supplied.")
        if label:
            if label not in self.labels:
                raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        servables = self._servables
        if version is None:
            if not servables:
                raise errors.not_found(f"Servable not found for request: Latest({self.name})")
            return servables[max(servables)]
        if version not in servables:
            raise errors.not_found(f"Servable not found for request: Specific({self.name}, {version})")
        return servables[version]

    def version_states(self, version: int | None = None) -> list[tuple[int, int, int, str]]:
        """``[(version, state, error code, message)]`` as GetModelStatus reports them."""
        states = dict(self._states)
        if version is not None:
            if version not in states:
                raise errors.not_found(f"Could not find version {version} of model {self.name}")
            return [(version, *states[version])]
        if not states:
            raise errors.not_found(f"Could not find any versions of model {self.name}")
        return [(v, *states[v]) for v in sorted(states, reverse=True)]


class ServerCore:
    """All configured models: config reloads, polling threads, request resolution.

    Args:
        config: the ModelServerConfig to serve.
        file_system_poll_wait_seconds: seconds between polls (<= 0: poll once).
        batching: batching options, or None for no server-side batching.
        allow_version_labels_for_unavailable_models: as TF Serving's flag.
        session_config: optional ``tf.compat.v1.ConfigProto`` for every session.
    """

    def __init__(self, config: config_lib.ModelServerConfig, file_system_poll_wait_seconds: float = 1.0,
                 batching: BatchingOptions | None = None,
                 allow_version_labels_for_unavailable_models: bool = False,
                 session_config: Any = None, saved_model_tags: tuple[str, ...] = ("serve",),
                 enable_signature_method_name_check: bool = False, enable_model_warmup: bool = True,
                 num_request_iterations_for_warmup: int = 1, metrics: monitoring.Registry | None = None,
                 rest_api_timeout_in_ms: int = 0):
        self.poll_wait = file_system_poll_wait_seconds
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._session_config = session_config
        self.saved_model_tags = tuple(saved_model_tags)
        self.method_name_check = enable_signature_method_name_check
        self.enable_model_warmup = enable_model_warmup
        self.warmup_iterations = max(num_request_iterations_for_warmup, 1)
        self.metrics = metrics or monitoring.REGISTRY
        # Every timeout shares the session's executors (Servable.run_unbatched), so one replay warms all.
        self.warmup_timeouts = (0,)
        self.batcher = BatchScheduler(batching) if batching is not None else None
        self._managers: dict[str, ModelManager] = {}
        self._pollers: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._reload_lock = threading.Lock()
        self.config = config_lib.ModelServerConfig()
        self.reload_config(config)

    def arriving(self) -> contextlib.AbstractContextManager:
        """Wraps a front's handling of one inference request (decoding included): with batching, an
        eager batch waits for requests in such a block, not for its timeout (BatchScheduler.arriving)."""
        return self.batcher.arriving() if self.batcher is not None else contextlib.nullcontext()

    def _make_servable(self, name: str, version: int, path: str) -> Servable:
        """Loads a version and replays its warmup requests: only then may it become AVAILABLE."""
        start = time.monotonic()
        try:
            servable = Servable(name, version, path, self._session_config, tags=self.saved_model_tags,
                                method_name_check=self.method_name_check)
        except Exception:
            self.metrics.load_attempt_count.increment(path, "fail")
            raise
        self.metrics.load_attempt_count.increment(path, "success")
        self.metrics.load_latency.increment(path, by=int((time.monotonic() - start) * 1e6))
        servable.batcher = self.batcher
        if self.enable_model_warmup:
            try:
                count = warmup.run_warmup(servable, self.warmup_iterations, self.metrics, self.warmup_timeouts)
            except Exception:
                servable.close()
                raise
            if count:
                _LOG.info("Warmed up %s version %d with %d request(s) in %.0f ms", name, version, count,
                          (time.monotonic() - start) * 1e3)
        return servable

    def reload_config(self, config: config_lib.ModelServerConfig) -> None:
        """Serves exactly the models of ``config`` (ValueError/ServingError if it is invalid)."""
        with self._reload_lock:
            try:
                configs = config_lib.validate(config)
            except ValueError as e:
                raise errors.invalid_argument(str(e)) from None
            managers = dict(self._managers)
            for c in configs:
                manager = managers.get(c.name)
                if manager is None:
                    manager = managers[c.name] = ModelManager(c, self._make_servable)
                else:
                    manager.config = c
                manager.poll()
            for c in configs:  # labels only once every model has loaded
                managers[c.name].set_labels(dict(c.version_labels), self.allow_unavailable_labels)
            removed = set(managers) - {c.name for c in configs}
            for name in removed:
                del managers[name]
            self._managers = managers
            self.config = config
            for name in removed:
                self._stop_poller(name)
            for name in managers:
                self._start_poller(name)

    def _start_poller(self, name: str) -> None:
        if self.poll_wait <= 0 or name in self._pollers:
            return
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.poll_wait):
                manager = self._managers.get(name)
                if manager is None:
                    return
                try:
                    manager.poll()
                except Exception:
                    _LOG.exception("poll of model %s failed", name)

        thread = threading.Thread(target=loop, name=f"poll-{name}", daemon=True)
        self._pollers[name] = (thread, stop)
        thread.start()

    def _stop_poller(self, name: str) -> None:
        thread, stop = self._pollers.pop(name, (None, None))
        if stop is not None:
            stop.set()
            thread.join(timeout=10)

    def find(self, name: str) -> ModelManager | None:
        return self._managers.get(name)

    def manager(self, name: str) -> ModelManager:
        if not name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        manager = self._managers.get(name)
        if manager is None:
            raise errors.not_found(f"Servable not found for request: Latest({name})")
        return manager

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        return self.manager(name).resolve(version, label)

    @property
    def model_names(self) -> list[str]:
        return sorted(self._managers)

    def poll_all(self) -> None:
        """Polls every model now (what the poller threads do periodically)."""
        for manager in list(self._managers.values()):
            manager.poll()

    def stop(self) -> None:
        for name in list(self._pollers):
            self._stop_poller(name)
        if self.batcher is not None:
            self.batcher.stop()
