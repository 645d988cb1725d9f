"""TF Serving's ``ModelServerConfig``: parsing, single-model configs and validation.

Uses the protos shipped in tensorflow-serving-api, so a ``--model_config_file``
written for ``tensorflow_model_server`` means the same thing here.

>>> cfg = parse_model_config('''
...   model_config_list { config { name: "digits" base_path: "/models/digits"
...     model_platform: "tensorflow" model_version_policy { latest { num_versions: 2 } } } }''')
>>> [c.name for c in cfg.model_config_list.config]
['digits']
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
PLATFORM = "tensorflow"


def parse_model_config(text: str) -> ModelServerConfig:
    """Parses a ModelServerConfig text proto; ValueError on a syntax error."""
    try:
        return text_format.Parse(text, ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"invalid ModelServerConfig text proto: {e}") from None


def read_model_config_file(path: str) -> ModelServerConfig:
    with open(path, encoding="utf-8") as f:
        return parse_model_config(f.read())


def single_model_config(model_name: str, model_base_path: str) -> ModelServerConfig:
    """The config ``--model_name``/``--model_base_path`` stand for (latest version)."""
    config = ModelServerConfig()
    config.model_config_list.config.add(name=model_name, base_path=model_base_path,
                                        model_platform=PLATFORM)
    return config


def validate(config: ModelServerConfig) -> list[ModelConfig]:
    """Checks a config as TF Serving's ServerCore does; returns its model configs."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ValueError("custom_model_config is not supported; use model_config_list")
    configs = list(config.model_config_list.config)
    seen: set[str] = set()
    for c in configs:
        if not c.name:
            raise ValueError(f"a model config has no name: {c}")
        if c.name in seen:
            raise ValueError(f"Illegal to list model {c.name} multiple times in config list")
        seen.add(c.name)
        if not os.path.isabs(c.base_path):
            raise ValueError(f"Expected model {c.name} to have an absolute path or URI; "
                             f"got base_path()={c.base_path}")
        platform = c.model_platform or PLATFORM
        if platform != PLATFORM:
            raise ValueError(f"model {c.name}: model_platform '{platform}' is not supported; "
                             f"choices: ['{PLATFORM}']")
    return configs


def aspired_versions(config: ModelConfig, available: Iterable[int]) -> list[int]:
    """Versions the model's ``model_version_policy`` wants served, from those on disk.

    >>> c = ModelConfig(name="m", base_path="/m")
    >>> aspired_versions(c, [3, 1, 2])
    [3]
    >>> c.model_version_policy.latest.num_versions = 2
    >>> aspired_versions(c, [3, 1, 2])
    [2, 3]
    >>> c.model_version_policy.specific.versions[:] = [1, 7]
    >>> aspired_versions(c, [3, 1, 2])
    [1]
    >>> c.model_version_policy.all.SetInParent()
    >>> aspired_versions(c, [3, 1, 2])
    [1, 2, 3]
    """
    versions = sorted(set(available))
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return versions
    if kind == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in versions if v in wanted]
    n = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
    return versions[-n:]


def model_config_text(config: ModelServerConfig) -> str:
    """Text form of a config, as ``--model_config_file`` expects it."""
    return text_format.MessageToString(config)
