"""TF Serving's metrics and its Prometheus exporter (``--monitoring_config_file``).

The metric names, labels, kinds and buckets are TF Serving 2.16's
(``servables/tensorflow/util.cc``, ``saved_model_warmup_util.cc``, TF's
SavedModel loader), and the page is written as its ``PrometheusExporter``
writes it: ``/`` and other punctuation in a name become ``:``, histograms
have cumulative ``_bucket{le=...}`` lines, ``_sum`` and ``_count``.

>>> registry = Registry()
>>> registry.request_count.increment("digits", "OK")
>>> print(registry.page().splitlines()[1])
:tensorflow:serving:request_count{model_name="digits",status="OK"} 1
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, text_format

try:
    from google.protobuf.message_factory import GetMessageClass as _get_message_class
except ImportError:  # pragma: no cover - older protobuf
    _get_message_class = None

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """TF's ``Buckets::Exponential``: ``count`` upper bounds ``scale * growth**i`` (the last is +Inf)."""
    bounds, value = [], scale
    for _ in range(count - 1):
        bounds.append(value)
        value *= growth
    return bounds


class Counter:
    """A cumulative int64 metric with labels."""

    kind = "counter"

    def __init__(self, name: str, description: str, *labels: str):
        self.name, self.description, self.labels = name, description, labels
        self._cells: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def increment(self, *values: str, by: int = 1) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + by

    def value(self, *values: str) -> int:
        return self._cells.get(values, 0)

    def lines(self, name: str) -> list[str]:
        with self._lock:
            cells = sorted(self._cells.items())
        return [f"{name}{{{_labels(self.labels, values)}}} {count}" for values, count in cells]


class Sampler:
    """A histogram metric with labels (TF's ``monitoring::Sampler``)."""

    kind = "histogram"

    def __init__(self, name: str, description: str, bounds: Sequence[float], *labels: str):
        self.name, self.description, self.labels = name, description, labels
        self.bounds = list(bounds)
        self._cells: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def add(self, value: float, *values: str) -> None:
        with self._lock:
            buckets, total = self._cells.setdefault(values, ([0] * (len(self.bounds) + 1), [0.0]))
            buckets[bisect.bisect_right(self.bounds, value)] += 1
            total[0] += value

    def count(self, *values: str) -> int:
        cell = self._cells.get(values)
        return sum(cell[0]) if cell else 0

    def lines(self, name: str) -> list[str]:
        with self._lock:
            cells = sorted((k, (list(b), t[0])) for k, (b, t) in self._cells.items())
        out = []
        for values, (buckets, total) in cells:
            labels = _labels(self.labels, values)
            prefix = f"{name}_bucket{{{labels}{',' if labels else ''}"
            cumulative = 0
            for i, n in enumerate(buckets):
                cumulative += n
                le = _number(self.bounds[i]) if i < len(self.bounds) else "+Inf"
                out.append(f'{prefix}le="{le}"}} {cumulative}')
            out.append(f"{name}_sum{{{labels}}} {_number(total)}")
            out.append(f"{name}_count{{{labels}}} {cumulative}")
        return out


def _number(value: float) -> str:
    """A number as absl::StrCat writes a double (up to 6 significant digits, no trailing zeros)."""
    return f"{value:.6g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{re.sub("[^a-zA-Z0-9]", "_", n)}="{_escape(v)}"' for n, v in zip(names, values))


def prometheus_name(name: str) -> str:
    """``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``."""
    name = re.sub("[^a-zA-Z0-9_]", ":", name)
    return "_" + name if name[:1].isdigit() else name


class Registry:
    """The server's metrics, under TF Serving's names."""

    def __init__(self):
        latency_buckets = exponential_buckets(10, 1.8, 33)
        self.request_count = Counter("/tensorflow/serving/request_count", "The total number of requests.",
                                     "model_name", "status")
        self.request_latency = Sampler(
            "/tensorflow/serving/request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            latency_buckets, "model_name", "API", "entrypoint")
        self.runtime_latency = Sampler(
            "/tensorflow/serving/runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            latency_buckets, "model_name", "API", "runtime")
        self.example_counts = Sampler("/tensorflow/serving/request_example_counts",
                                      "The number of tensorflow.Examples per request.",
                                      exponential_buckets(1, 2, 15), "model")
        self.example_count_total = Counter("/tensorflow/serving/request_example_count_total",
                                           "The total number of tensorflow.Examples.", "model")
        self.load_attempt_count = Counter("/tensorflow/cc/saved_model/load_attempt_count",
                                          "The number of times a SavedModel was successfully loaded.",
                                          "model_path", "status")
        self.load_latency = Counter("/tensorflow/cc/saved_model/load_latency",
                                    "Latency in microseconds for SavedModels that were successfully loaded.",
                                    "model_path")
        self.warmup_latency = Sampler(
            "/tensorflow/serving/model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            latency_buckets, "model_path", "status")
        self.metrics = [self.load_attempt_count, self.load_latency, self.example_count_total,
                        self.example_counts, self.warmup_latency, self.request_count, self.request_latency,
                        self.runtime_latency]

    def record_request(self, model_name: str, api: str, entrypoint: str, status: str, micros: float) -> None:
        """One request's count (every status) and latency (successes only), as TF Serving records them."""
        if status == "OK":
            self.request_latency.add(micros, model_name, api, entrypoint)
        self.request_count.increment(model_name, status)

    def page(self) -> str:
        """The Prometheus text page (only metrics with at least one cell, as TF's registry)."""
        lines: list[str] = []
        for metric in sorted(self.metrics, key=lambda m: m.name):
            name = prometheus_name(metric.name)
            body = metric.lines(name)
            if body:
                lines.append(f"# TYPE {name} {metric.kind}")
                lines.extend(body)
        return "\n".join(lines) + "\n"


# The process-wide registry, as TF's CollectionRegistry::Default().
REGISTRY = Registry()


def _monitoring_config_class():
    """TF Serving's ``MonitoringConfig`` (not shipped in tensorflow-serving-api), by its field numbers."""
    pool = descriptor_pool.DescriptorPool()
    f = descriptor_pb2.FileDescriptorProto(name="zoo_monitoring_config.proto", package="tensorflow.serving",
                                           syntax="proto3")
    fd = descriptor_pb2.FieldDescriptorProto
    prom = f.message_type.add(name="PrometheusConfig")
    prom.field.add(name="enable", number=1, type=fd.TYPE_BOOL, label=fd.LABEL_OPTIONAL)
    prom.field.add(name="path", number=2, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
    mon = f.message_type.add(name="MonitoringConfig")
    mon.field.add(name="prometheus_config", number=1, type=fd.TYPE_MESSAGE, label=fd.LABEL_OPTIONAL,
                  type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(f)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    if _get_message_class is not None:
        return _get_message_class(descriptor)
    from google.protobuf import message_factory  # pragma: no cover
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


MonitoringConfig = _monitoring_config_class()


def prometheus_path(text: str) -> str | None:
    """The Prometheus path a ``MonitoringConfig`` text proto enables, or None.

    >>> prometheus_path("prometheus_config { enable: true }")
    '/monitoring/prometheus/metrics'
    >>> prometheus_path('prometheus_config { enable: true, path: "/metrics" }')
    '/metrics'
    >>> prometheus_path("") is None
    True
    """
    config = text_format.Parse(text, MonitoringConfig())
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
