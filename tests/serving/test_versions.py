"""Version discovery: hot swap under load, half-written versions, policies."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest

from serving import config as config_lib
from serving.client import GrpcClient, RestClient
from serving.manager import ModelManager
from serving.servable import is_complete_version
from serving.server import ModelServer
from tests.fixtures import toy_model
from tests.fixtures.toy_model import copy_version


def _served_seed(probabilities: np.ndarray, images: np.ndarray) -> int:
    for seed in (1, 2, 3):
        if np.allclose(probabilities, toy_model.toy_predict(images, seed), atol=1e-5):
            return seed
    raise AssertionError("answer matches no published version")


def test_hot_swap_under_concurrent_load_has_zero_failures(toy_base, tmp_path, images):
    base = str(tmp_path / "swap")
    copy_version(toy_base, 1, base)
    with ModelServer(config_lib.single_model_config("swap", base), file_system_poll_wait_seconds=0.05) as srv:
        rest = RestClient(f"http://127.0.0.1:{srv.rest_port}")
        grpc_client = GrpcClient(f"127.0.0.1:{srv.grpc_port}")
        stop = threading.Event()
        failures: list[str] = []
        seen: list[set[int]] = [set() for _ in range(4)]

        def worker(index: int) -> None:
            while not stop.is_set():
                try:
                    if index % 2:
                        out = grpc_client.predict("swap", {"image": images}, "predict_raw")["probabilities"]
                    else:
                        rows = rest.predict("swap", instances=images.tolist(), signature_name="predict_raw")
                        out = np.array([r["probabilities"] for r in rows["predictions"]])
                    seen[index].add(_served_seed(out, images))
                except Exception as e:  # every failure counts
                    failures.append(repr(e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            for _ in range(600):  # every worker answered by version 1 first
                if all(1 in s for s in seen) or failures:
                    break
                threading.Event().wait(0.05)
            for version in (2, 3):
                copy_version(toy_base, version, base)
                # Wait (bounded) until every worker has been answered by the new version.
                deadline = threading.Event()
                for _ in range(600):
                    if all(version in s for s in seen) or failures:
                        break
                    deadline.wait(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
        grpc_client.close()
        assert failures == []
        assert all({1, 3} <= s for s in seen), seen
        states = rest.status("swap")["model_version_status"]
        assert [(s["version"], s["state"]) for s in states] == [("3", "AVAILABLE"), ("2", "END"), ("1", "END")]


def test_half_written_version_is_never_loaded(toy_base, tmp_path, images):
    base = str(tmp_path / "half")
    copy_version(toy_base, 1, base)
    with ModelServer(config_lib.single_model_config("half", base), port=None,
                     file_system_poll_wait_seconds=0) as srv:
        target = os.path.join(base, "2")
        source = os.path.join(toy_base, "2")
        # Written in place, step by step: variables first, then a truncated graph, then all of it.
        shutil.copytree(os.path.join(source, "variables"), os.path.join(target, "variables"))
        srv.core.poll_all()
        assert not is_complete_version(target)
        with open(os.path.join(source, "saved_model.pb"), "rb") as f:
            graph = f.read()
        with open(os.path.join(target, "saved_model.pb"), "wb") as f:
            f.write(graph[: len(graph) // 2])
        srv.core.poll_all()
        assert sorted(srv.core.manager("half").servables) == [1]
        os.remove(os.path.join(target, "variables", "variables.index"))
        with open(os.path.join(target, "saved_model.pb"), "wb") as f:
            f.write(graph)
        srv.core.poll_all()  # graph whole, but a variables file still missing
        assert sorted(srv.core.manager("half").servables) == [1]
        shutil.copy(os.path.join(source, "variables", "variables.index"), os.path.join(target, "variables"))
        srv.core.poll_all()
        assert sorted(srv.core.manager("half").servables) == [2]
        out = srv.core.resolve("half").run("predict_raw", {"image": images})[1]["probabilities"]
        np.testing.assert_allclose(out, toy_model.toy_predict(images, 2), atol=1e-5)


def test_a_version_that_fails_to_load_keeps_the_old_one_serving(toy_base, tmp_path):
    base = str(tmp_path / "broken")
    copy_version(toy_base, 1, base)
    with ModelServer(config_lib.single_model_config("broken", base), port=None,
                     file_system_poll_wait_seconds=0) as srv:
        target = copy_version(toy_base, 2, base)
        with open(os.path.join(target, "variables", "variables.data-00000-of-00001"), "wb") as f:
            f.write(b"garbage")  # complete-looking but corrupt
        srv.core.poll_all()
        manager = srv.core.manager("broken")
        assert sorted(manager.servables) == [1]
        states = {v: (state, code) for v, state, code, _ in manager.version_states()}
        assert states[2][1] != 0  # load error reported in the status


def test_staging_and_non_numeric_directories_are_ignored(toy_base, tmp_path):
    base = str(tmp_path / "ignored")
    copy_version(toy_base, 1, base)
    shutil.copytree(os.path.join(toy_base, "3"), os.path.join(base, ".incomplete-3-123"))
    shutil.copytree(os.path.join(toy_base, "3"), os.path.join(base, "v3"))
    manager = ModelManager(config_lib.single_model_config("m", base).model_config_list.config[0],
                           lambda name, version, path: (name, version))
    manager.poll()
    assert manager.servables == {1: ("m", 1)}


def test_config_rejects_duplicates_and_relative_paths():
    with pytest.raises(ValueError, match="multiple times"):
        config_lib.validate(config_lib.parse_model_config(
            'model_config_list { config { name: "a" base_path: "/x" } config { name: "a" base_path: "/y" } }'))
    with pytest.raises(ValueError, match="absolute path"):
        config_lib.validate(config_lib.parse_model_config(
            'model_config_list { config { name: "a" base_path: "rel" } }'))
    with pytest.raises(ValueError, match="invalid ModelServerConfig"):
        config_lib.parse_model_config("model_config_list { nonsense: 1 }")
