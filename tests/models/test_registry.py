"""The family registry: families load on first use, and a family that cannot load says why."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from models import registry


def test_importing_the_registry_loads_no_family_until_it_is_asked():
    code = ("import sys\nfrom models import registry\n"
            "print('models.cnn' in sys.modules, 'keras_hub' in sys.modules)\n"
            "family = registry.get('cnn')\n"
            "print(family.name, 'rnn' in registry.names(), 'models.bert' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    assert result.stdout.strip().splitlines()[-2:] == ["False False", "cnn True True"]


def test_every_family_module_is_listed():
    listed = {type(registry.get(name)).__module__ for name in registry.names()}
    assert listed == {f"models.{module}" for module in registry.FAMILY_MODULES}


def _fake_import(missing: str):
    real = importlib.import_module

    def fake(name: str, *args: object) -> object:
        if name == "models.ghost":
            raise ModuleNotFoundError(f"No module named '{missing}'", name=missing)
        return real(name, *args)
    return fake


def test_a_family_whose_library_is_not_installed_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry, "FAMILY_MODULES", (*registry.FAMILY_MODULES, "ghost"))
    monkeypatch.setattr(registry, "_UNAVAILABLE", {})
    monkeypatch.setattr(registry.importlib, "import_module", _fake_import("ghostlib"))
    with pytest.raises(KeyError, match="unknown model 'ghost'; choices: .*cnn.*; models/ghost.py needs ghostlib"):
        registry.get("ghost")
    assert "cnn" in registry.names()


def test_a_missing_project_module_is_not_hidden(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry, "FAMILY_MODULES", (*registry.FAMILY_MODULES, "ghost"))
    monkeypatch.setattr(registry, "_UNAVAILABLE", {})
    monkeypatch.setattr(registry.importlib, "import_module", _fake_import("models.ghost_layers"))
    with pytest.raises(ModuleNotFoundError, match="models.ghost_layers"):
        registry.names()
