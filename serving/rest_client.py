"""TF Serving's REST API client, free of TensorFlow imports (``zoo predict`` over REST stays fast).

Example::

    rest = RestClient("http://127.0.0.1:8501")
    rest.predict("digits", instances=[{"b64": b64_example}])
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit


class RestError(Exception):
    """A non-200 REST answer: ``status`` and TF Serving's ``error`` message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def b64(data: bytes) -> dict[str, str]:
    """``{"b64": ...}``: how REST carries binary strings."""
    return {"b64": base64.b64encode(data).decode("ascii")}


def model_path(model: str, version: int | None, label: str | None) -> str:
    path = f"/v1/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label:
        path += f"/labels/{quote(label, safe='')}"
    return path


class RestClient:
    """TF Serving's REST API over keep-alive HTTP connections (one per thread)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8501", timeout: float = 30.0):
        parts = urlsplit(base_url if "//" in base_url else f"http://{base_url}")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 8501
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Sends one request; returns ``(HTTP status, decoded JSON)``."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return response.status, json.loads(payload) if payload else None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Sends one request; returns the decoded JSON of a 200 answer, raises RestError otherwise."""
        status, payload = self.request(method, path, body)
        if status != 200:
            raise RestError(status, (payload or {}).get("error", "") if isinstance(payload, dict) else str(payload))
        return payload

    def status(self, model: str, version: int | None = None, label: str | None = None) -> Any:
        return self.call("GET", model_path(model, version, label))

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> Any:
        return self.call("GET", model_path(model, version, label) + "/metadata")

    def predict(self, model: str, instances: Sequence[Any] | None = None, inputs: Any = None,
                signature_name: str | None = None, version: int | None = None,
                label: str | None = None) -> Any:
        """``instances`` (row format) or ``inputs`` (columnar); returns the JSON answer."""
        body: dict[str, Any] = {"instances": list(instances)} if inputs is None else {"inputs": inputs}
        if signature_name:
            body["signature_name"] = signature_name
        return self.call("POST", model_path(model, version, label) + ":predict", body)

    def _examples_call(self, verb: str, model: str, examples: Sequence[Mapping[str, Any]],
                       context: Mapping[str, Any] | None, signature_name: str | None,
                       version: int | None, label: str | None) -> Any:
        body: dict[str, Any] = {"examples": list(examples)}
        if context is not None:
            body["context"] = dict(context)
        if signature_name:
            body["signature_name"] = signature_name
        return self.call("POST", model_path(model, version, label) + f":{verb}", body)

    def classify(self, model: str, examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None,
                 signature_name: str | None = None, version: int | None = None, label: str | None = None) -> Any:
        return self._examples_call("classify", model, examples, context, signature_name, version, label)

    def regress(self, model: str, examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None,
                signature_name: str | None = None, version: int | None = None, label: str | None = None) -> Any:
        return self._examples_call("regress", model, examples, context, signature_name, version, label)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
