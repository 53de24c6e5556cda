"""Hostile output cells in ``ettui preview``: byte-exact to a file, made safe on a terminal."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.hostile.hostile import HOSTILE_VALUES, assert_terminal_safe, run_cli
from tests.hostile.outputs import (
    HOSTILE_COLUMN,
    XML_LEGAL,
    bad_crc_zip,
    hostile_csv,
    hostile_xml,
)

FORMATS = ["table", "csv", "jsonl"]


def run_on_pty(args: list[str], home: Path) -> tuple[int, bytes, bytes]:
    """``ettui ARGS`` with stdout on a pseudo-terminal (what an operator sees); stderr piped."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "ETTUI_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "ettui", *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read()
    return proc.wait(timeout=60), b"".join(chunks), err


@pytest.fixture(params=["csv", "xml"])
def hostile_output(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """An output file and the rows it holds, exactly."""
    if request.param == "csv":
        rows = [{"Attack": k, "EmailAddress": f"{k}@example.com", "Note": v, HOSTILE_COLUMN: "t"}
                for k, v in HOSTILE_VALUES.items()]
        return hostile_csv(tmp_path / "Sent.csv"), rows
    return hostile_xml(tmp_path / "output.xml"), [{"Attack": k, "Note": v} for k, v in XML_LEGAL.items()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_preview_on_a_terminal_is_safe(tmp_path: Path, hostile_output: tuple[Path, list[dict[str, str]]], fmt: str) -> None:
    path, _values = hostile_output
    code, out, err = run_on_pty(["preview", str(path), "--format", fmt], tmp_path / "home")
    assert code == 0, err
    assert_terminal_safe(out, f"preview --format {fmt} on a terminal")
    assert_terminal_safe(err, "stderr")
    assert b"x[b=" in out and b"[@click=app.quit]" in out  # markup shown as typed
    if fmt == "jsonl":
        for line in out.decode().replace("\r\n", "\n").splitlines():
            json.loads(line)  # still JSON: the controls are \\u escapes


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_preview_to_a_file_is_byte_exact(tmp_path: Path, hostile_output: tuple[Path, list[dict[str, str]]], fmt: str) -> None:
    path, rows = hostile_output
    done = run_cli(["preview", str(path), "--format", fmt, "--limit", "0"], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    if fmt == "jsonl":
        expected = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        expected = buffer.getvalue()
    assert done.stdout == expected.encode("utf-8")  # data: every control and bracket as in the file


def test_preview_of_a_damaged_zip_is_one_sentence(tmp_path: Path) -> None:
    path = bad_crc_zip(tmp_path / "bulkasync_1.zip")
    done = run_cli(["preview", str(path), "--limit", "0"], tmp_path / "home")
    assert done.returncode == 8  # an output error: the file's content, not the drop
    assert b"Traceback" not in done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and "output.xml" in lines[0], lines


def test_config_path_names_the_error_log(tmp_path: Path) -> None:
    done = run_cli(["config", "path", "--json"], tmp_path / "home")
    assert done.returncode == 0
    where = json.loads(done.stdout)
    assert where["error_log"] == str(tmp_path / "home" / "state" / "errors.log")


def test_library_errors_become_sentences() -> None:
    import sqlite3
    import zipfile

    from ettui.errors import DropError, EttuiError, library_error

    damaged = library_error(zipfile.BadZipFile("Bad CRC-32 for file 'a.xml'"))
    assert isinstance(damaged, DropError) and damaged.exit_code == 6 and "a.xml" in damaged.message
    store = library_error(sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(store, EttuiError) and "job store" in store.message
    rename = library_error(PermissionError(13, "Permission denied", "/x/a.part", None, "/x/a.zip"))
    assert rename is not None and "/x/a.part -> /x/a.zip" in rename.message
    assert library_error(RuntimeError("a bug")) is None


def test_cli_log_lines_are_cleaned() -> None:
    import logging

    from ettui.cli_common import CleanFormatter, SentenceFormatter

    try:
        raise ValueError("reply said \x1b]52;c;cm0gLXJmIH4K\x1b\\ \x9b2J ok\rFAKE")
    except ValueError:
        import sys

        record = logging.LogRecord("ettui.jobs.poller", logging.ERROR, __file__, 1, "batch %s failed", ("55\x1b[2J",),
                                   sys.exc_info())
    line = CleanFormatter("%(message)s").format(record)  # ETTUI_DEBUG
    assert_terminal_safe(line.encode(), "a log line")
    assert "Traceback" in line and "\n" in line  # still a readable multi-line traceback
    sentence = SentenceFormatter().format(record)  # what a user sees
    assert_terminal_safe(sentence.encode(), "a log sentence")
    assert "\n" not in sentence and sentence.startswith("ettui: batch 55\\x1b[2J failed")
