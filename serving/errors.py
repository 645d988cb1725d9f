"""Errors carrying TF Serving's status codes, and their HTTP mapping.

Every failure the server reports is a :class:`ServingError` with a gRPC status
code; the gRPC servicers abort with it and the REST handler maps it to the
HTTP status TF Serving uses (``http_server.cc``'s ``ToHTTPStatusCode``).
"""

from __future__ import annotations

import grpc

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A request failure with a gRPC status code and a one-line message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers for this code."""
        return _HTTP_STATUS.get(self.code, 500)

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def from_tf_error(error: Exception) -> ServingError:
    """Maps a ``tf.errors.OpError`` (or anything else) to a ServingError."""
    code = getattr(error, "error_code", None)
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.startswith(("\t", " ", "Graph execution error", "Detected at node"))]
    message = " ".join(lines or message.split())  # one line, without the graph-building traceback
    try:
        status = grpc.StatusCode[_TF_CODE_NAMES[code]] if code is not None else grpc.StatusCode.INTERNAL
    except KeyError:
        status = grpc.StatusCode.INTERNAL
    return ServingError(status, message)


# tf.errors codes are the gRPC numeric codes.
_TF_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}
