"""TF Serving's version layout on disk: listing, atomic publication, content identity.

TF Serving watches ``<base>/<model_name>/`` and loads every child whose name
is an integer. A version is published by writing it under a hidden,
non-numeric name and renaming it into place, so the server never sees a
half-written model. Pure filesystem code (no TFX, no TensorFlow): the Pusher
(``components/pusher``) writes versions with it, the model server
(:mod:`serving.manager`) and the deployment tools (:mod:`serving.production`)
list them with it.

>>> import tempfile
>>> base = tempfile.mkdtemp()
>>> for name in ("2", "10", ".incomplete-11-1", "notes"):
...     os.mkdir(os.path.join(base, name))
>>> list_versions(base)
[2, 10]
>>> version_dirs(base) == {2: os.path.join(base, "2"), 10: os.path.join(base, "10")}
True
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time


def version_dirs(base_dir: str) -> dict[int, str]:
    """``{version: path}`` of the integer-named directories under ``base_dir`` ({} if none)."""
    try:
        names = os.listdir(base_dir)
    except OSError:
        return {}
    return {int(name): os.path.join(base_dir, name) for name in names
            if name.isascii() and name.isdigit() and os.path.isdir(os.path.join(base_dir, name))}


def list_versions(base_dir: str) -> list[int]:
    """Integer version numbers under ``base_dir``, ascending."""
    return sorted(version_dirs(base_dir))


def model_digest(model_dir: str) -> str:
    """SHA-256 of a SavedModel's files (paths and contents), independent of its location."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(model_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, model_dir).encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def publish_version(model_dir: str, base_dir: str, version: int | None = None) -> int:
    """Copies ``model_dir`` to ``base_dir/<version>`` atomically; returns the version.

    The version defaults to the current unix time, bumped past the latest one
    so two pushes within one second still get distinct, increasing numbers.
    """
    os.makedirs(base_dir, exist_ok=True)
    existing = list_versions(base_dir)
    if version is None:
        version = max([int(time.time()), *(v + 1 for v in existing[-1:])])
    elif version in existing:
        raise FileExistsError(f"version {version} already exists in {base_dir}")
    staging = os.path.join(base_dir, f".incomplete-{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    os.rename(staging, os.path.join(base_dir, str(version)))  # atomic on one filesystem
    return version
