"""``ettui.keys`` (read by the config check, which may not import textual) matches the real app."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.theme import BUILTIN_THEMES

import ettui.ui
from ettui import keys


def app_bindings() -> dict[str, str]:
    """Binding id -> default keys of every class in ``ettui.ui`` that declares BINDINGS."""
    found: dict[str, str] = {}
    for module_info in pkgutil.walk_packages(ettui.ui.__path__, "ettui.ui."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for binding in cls.__dict__.get("BINDINGS", []):
                if isinstance(binding, Binding) and binding.id:
                    assert binding.id not in found, f"binding id {binding.id} is declared twice"
                    found[binding.id] = binding.key
    return found


def test_binding_ids_and_default_keys_match_the_app() -> None:
    assert app_bindings() == {binding: default for binding, (_, default) in keys.BINDINGS.items()}


def test_theme_names_match_textual() -> None:
    assert keys.BUILTIN_THEMES == frozenset(BUILTIN_THEMES)


def test_special_key_names_are_textual_keys() -> None:
    from textual.keys import Keys

    assert keys.SPECIAL_KEYS <= {k.value for k in Keys}
