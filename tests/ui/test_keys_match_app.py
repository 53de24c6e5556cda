"""``ettui.keys`` (read by the config check, which may not import textual) matches the real app."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from textual.binding import Binding
from textual.theme import BUILTIN_THEMES

import ettui.ui
from ettui import config, keys


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
    assert frozenset(BUILTIN_THEMES) == keys.BUILTIN_THEMES


def test_special_key_names_are_textual_keys() -> None:
    from textual.keys import Keys

    assert {k.value for k in Keys} >= keys.SPECIAL_KEYS


def test_character_names_match_textual() -> None:
    from textual.keys import KEY_NAME_REPLACEMENTS, _character_to_key

    assert keys.KEY_NAME_REPLACEMENTS == KEY_NAME_REPLACEMENTS
    for code in range(0x21, 0x7F):
        character = chr(code)
        if character != ",":
            assert keys.character_to_key(character) == _character_to_key(character), character


async def test_a_keymap_and_theme_from_the_file_work_in_the_app(tmp_path: Path) -> None:
    """What the config check accepts, the app applies: ``"!"`` and ``" A"`` fire as Textual keys."""
    from ettui.ui.screens.activity import ActivityScreen

    from .conftest import make_app, wait_for

    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "nord"\nkeymap = { activity = "!, A" }\n', encoding="utf-8")
    path.chmod(0o600)
    loaded = config.load(path)
    app = make_app(tmp_path, keymap=loaded.ui.keymap, theme=loaded.ui.theme)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, "the session")
        assert app.theme == "nord"
        await pilot.press("2", "exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, ActivityScreen), "the activity log via '!'")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ActivityScreen), "the log closed")
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ActivityScreen), "the activity log via 'A'")
