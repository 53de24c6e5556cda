"""Importing asyncssh through ``_asyncssh_import``: its optional C libraries are found without ``ldconfig``."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from ettui.drop._asyncssh_import import _quick_find


def test_the_optional_libraries_are_looked_up_without_the_slow_search() -> None:
    def slow(name: str) -> str | None:
        raise AssertionError(f"ldconfig search for {name}")

    find = _quick_find(slow)
    for name in ("oqs", "liboqs", "nettle", "libnettle", "libnettle-6"):
        find(name)  # answered from the library folders, never by the original


def test_other_names_still_go_to_ctypes() -> None:
    asked: list[str] = []

    def original(name: str) -> str | None:
        asked.append(name)
        return None

    assert _quick_find(original)("z") is None
    assert asked == ["z"]


@pytest.mark.parametrize(("module", "attribute", "name"), [("umac", "_nettle_lib", "nettle"), ("pq", "_oqs_lib", "oqs")])
def test_asyncssh_finds_what_ctypes_would(module: str, attribute: str, name: str) -> None:
    """Same answer as ``ctypes.util.find_library`` (found or not), in a fresh interpreter."""
    code = (
        "import ettui.drop._asyncssh_import, importlib; "
        f"print(getattr(importlib.import_module('asyncssh.crypto.{module}'), '{attribute}'))"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    expected = ctypes.util.find_library(name)
    assert (got != "None") == (expected is not None), (got, expected)
    if expected is not None:
        assert got == expected
