"""The one registry of model families.

A family registers itself when its module is imported::

    @registry.register
    class Cnn(ClassifierFamily):
        name = "cnn"
        ...

``models/__init__.py`` imports every family module, so ``registry.get`` sees
them all. Adding a family is one new file plus its import line there.
"""

from __future__ import annotations

import dataclasses

from models.base import ROLES, TASKS, ModelFamily
from models.common import PRECISIONS
from models.hparams import HParams

_FAMILIES: dict[str, ModelFamily] = {}


def register(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: registers one instance of ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if not (dataclasses.is_dataclass(cls.hparams_cls) and issubclass(cls.hparams_cls, HParams)):
        raise ValueError(f"{cls.__qualname__}.hparams_cls must be a dataclass extending models.hparams.HParams")
    if not cls.precisions or set(cls.precisions) - set(PRECISIONS):
        raise ValueError(f"{cls.__qualname__}.precisions is {cls.precisions!r}; known: {', '.join(PRECISIONS)}")
    if cls.task not in TASKS:
        raise ValueError(f"{cls.__qualname__}.task is {cls.task!r}; known: {', '.join(TASKS)}")
    bad = sorted(set(cls.signature_roles.values()) - set(ROLES))
    if bad:
        raise ValueError(f"{cls.__qualname__} declares unknown signature role(s) {bad}; known: {', '.join(ROLES)}")
    if cls.main_signature not in cls.signature_roles:
        raise ValueError(f"{cls.__qualname__}.main_signature {cls.main_signature!r} is not among its "
                         f"signature_roles {sorted(cls.signature_roles)}")
    if cls.name in _FAMILIES and type(_FAMILIES[cls.name]) is not cls:
        raise ValueError(f"model family '{cls.name}' is registered twice")
    _FAMILIES[cls.name] = cls()
    return cls


def get(name: str) -> ModelFamily:
    """Returns the family registered as ``name``; the error lists the choices."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model '{name}'; choices: {', '.join(names())}") from None


def names() -> list[str]:
    return sorted(_FAMILIES)
