"""Fixtures: servers on free loopback ports over the toy model (tests/conftest.py)."""

from __future__ import annotations

import pytest

from serving import config as config_lib
from serving.client import GrpcClient, RestClient
from serving.server import ModelServer

MODELS_CONFIG = """
model_config_list {{
  config {{ name: "latest" base_path: "{base}" model_platform: "tensorflow" }}
  config {{ name: "latest2" base_path: "{base}" model_platform: "tensorflow"
           model_version_policy {{ latest {{ num_versions: 2 }} }} }}
  config {{ name: "pinned" base_path: "{base}" model_platform: "tensorflow"
           model_version_policy {{ specific {{ versions: 2 }} }} }}
  config {{ name: "all" base_path: "{base}" model_platform: "tensorflow"
           model_version_policy {{ all {{}} }}
           version_labels {{ key: "stable" value: 1 }}
           version_labels {{ key: "canary" value: 3 }} }}
}}
"""


@pytest.fixture(scope="session")
def server(toy_base: str, tmp_path_factory: pytest.TempPathFactory) -> ModelServer:
    """One server for the read-only tests, configured from a models.config file."""
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(MODELS_CONFIG.format(base=toy_base))
    srv = ModelServer(config_lib.read_model_config_file(str(path)), port=0, rest_api_port=0,
                      file_system_poll_wait_seconds=0, max_request_bytes=1 << 20)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def rest(server: ModelServer) -> RestClient:
    return RestClient(f"http://127.0.0.1:{server.rest_port}")


@pytest.fixture(scope="session")
def grpc_client(server: ModelServer) -> GrpcClient:
    client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
    yield client
    client.close()
