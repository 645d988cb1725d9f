"""Generates real TF Serving's ``models.config`` and batching config for pushed models.

The files are what ``tensorflow_model_server --model_config_file=...
--enable_batching --batching_parameters_file=...`` (the official
``tensorflow/serving`` image, see ``serving/deploy/``) reads, with model base
paths as the container sees them (the host's model base path mounted at
``/models``)::

    python -m serving.production --model_base_path outputs/serving --out serving/deploy
"""

from __future__ import annotations

import argparse
import os
import posixpath
from collections.abc import Mapping, Sequence

from serving import batching
from serving import config as config_lib
from serving.versions import version_dirs


def discover_models(model_base_path: str) -> list[str]:
    """Names of the model directories under ``model_base_path`` that hold a version."""
    if not os.path.isdir(model_base_path):
        raise ValueError(f"model base path {model_base_path!r} is not a directory")
    return sorted(name for name in os.listdir(model_base_path)
                  if version_dirs(os.path.join(model_base_path, name)))


def models_config(model_names: Sequence[str], container_base: str = "/models", num_versions: int = 1,
                  version_labels: Mapping[str, Mapping[str, int]] | None = None
                  ) -> config_lib.ModelServerConfig:
    """A ModelServerConfig serving the latest ``num_versions`` of each model.

    >>> print(config_lib.model_config_text(models_config(["digits"])).strip())
    model_config_list {
      config {
        name: "digits"
        base_path: "/models/digits"
        model_platform: "tensorflow"
        model_version_policy {
          latest {
            num_versions: 1
          }
        }
      }
    }
    """
    if not model_names:
        raise ValueError("no models to configure")
    config = config_lib.ModelServerConfig()
    for name in model_names:
        entry = config.model_config_list.config.add(
            name=name, base_path=posixpath.join(container_base, name), model_platform=config_lib.PLATFORM)
        entry.model_version_policy.latest.num_versions = num_versions
        for label, version in (version_labels or {}).get(name, {}).items():
            entry.version_labels[label] = version
    config_lib.validate(config)
    return config


def write_production_config(model_names: Sequence[str], out_dir: str, container_base: str = "/models",
                            options: batching.BatchingOptions | None = None) -> tuple[str, str]:
    """Writes ``models.config`` and ``batching.config`` into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    options = options or batching.BatchingOptions(max_batch_size=32, batch_timeout_micros=2000,
                                                  max_enqueued_batches=100, num_batch_threads=4)
    models_path = os.path.join(out_dir, "models.config")
    batching_path = os.path.join(out_dir, "batching.config")
    with open(models_path, "w", encoding="utf-8") as f:
        f.write(config_lib.model_config_text(models_config(model_names, container_base)))
    with open(batching_path, "w", encoding="utf-8") as f:
        f.write(batching.batching_parameters_text(options))
    return models_path, batching_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_base_path", default="", help="host directory holding <model>/<version>/")
    parser.add_argument("--model_names", nargs="*", default=None, help="models (default: discovered)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--container_base", default="/models")
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    parser.add_argument("--num_batch_threads", type=int, default=4)
    args = parser.parse_args(argv)
    names = args.model_names or discover_models(args.model_base_path)
    options = batching.BatchingOptions(max_batch_size=args.max_batch_size,
                                       batch_timeout_micros=args.batch_timeout_micros,
                                       max_enqueued_batches=100, num_batch_threads=args.num_batch_threads)
    for path in write_production_config(names, args.out, args.container_base, options):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
