"""One error family in one place (issue 16.2): every ``EttuiError`` subclass lives in ``ettui.errors``,
each with a title, a sentence (its docstring) and an exit code, and the README's table lists the codes."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import ettui
from ettui import errors
from ettui.errors import ApiConnectionError, DropError, DropUnreachable, EttuiError, ExitCode, OutputError

README = Path(__file__).resolve().parents[2] / "README.md"


def _every_subclass(cls: type[EttuiError]) -> set[type[EttuiError]]:
    found: set[type[EttuiError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_every_subclass(sub)}
    return found


def _codes() -> dict[str, int]:
    return {name: value for name, value in vars(ExitCode).items() if not name.startswith("_")}


def test_every_subclass_in_the_package_is_defined_in_errors() -> None:
    for module in pkgutil.walk_packages(ettui.__path__, "ettui."):
        if module.name != "ettui.__main__":
            importlib.import_module(module.name)
    ours = {cls for cls in _every_subclass(EttuiError) if cls.__module__.startswith("ettui")}
    elsewhere = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in ours if cls.__module__ != "ettui.errors")
    assert elsewhere == []
    # The walk found the family (not a vacuous pass): the classes that once lived in other modules are among them.
    names = {cls.__name__ for cls in ours}
    assert {"UsageError", "StoreError", "OutputError", "DropUnreachable", "SubmitUnconfirmed", "FilterError"} <= names


def test_each_error_has_a_title_a_sentence_and_a_known_exit_code() -> None:
    codes = set(_codes().values())
    family: list[type[EttuiError]] = [EttuiError, *_every_subclass(EttuiError)]
    for cls in family:
        if cls.__module__ != "ettui.errors":
            continue
        assert (cls.title and cls.title != "Error") or cls is EttuiError, cls
        assert "title" in vars(cls), f"{cls.__name__} inherits its title"
        assert (cls.__doc__ or "").strip().endswith((".", ")")), cls
        assert cls.exit_code in codes, cls


def test_output_errors_and_drop_connection_errors_have_their_own_codes() -> None:
    assert OutputError.exit_code == ExitCode.OUTPUT != DropError.exit_code
    assert DropUnreachable.exit_code == ApiConnectionError.exit_code == ExitCode.CONNECTION
    assert issubclass(DropUnreachable, DropError)  # still caught as a drop problem by the transports


def test_the_readme_table_lists_every_exit_code() -> None:
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", README.read_text(encoding="utf-8"), re.M)
    assert sorted(int(code) for code, _ in rows) == sorted(_codes().values())
    table = {int(code): meaning for code, meaning in rows}
    for name, value in _codes().items():
        word = {"OK": "ok", "FAILURE": "failure", "DROP": "drop", "SERVICE": "service"}.get(name, name.lower())
        assert word in table[value].lower(), (name, table[value])


def test_the_errors_module_is_the_only_home() -> None:
    # errors.py imports nothing of ettui at run time, so any layer may import it (no cycle).
    source = Path(errors.__file__).read_text(encoding="utf-8")
    runtime = [line for line in source.splitlines() if line.startswith(("from ettui", "import ettui"))]
    assert runtime == []
