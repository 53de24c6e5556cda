"""The streaming zip check: same verdict as ``testzip``, from the bytes as they pass."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from ettui.drop.zipcheck import StreamingZipCheck


def _zip(method: int, **members: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _check(data: bytes, path: Path, step: int) -> bool | str:
    path.write_bytes(data)
    check = StreamingZipCheck()
    for at in range(0, len(data), step):
        check.update(data[at : at + step])
    return check.confirm(path)


@pytest.mark.parametrize("step", [1, 13, 4096, 1 << 20])
@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_good_zip_is_confirmed_however_it_is_chunked(tmp_path: Path, method: int, step: int) -> None:
    data = _zip(method, **{"a.xml": b"<row/>" * 50_000, "empty.txt": b"", "b.bin": os.urandom(3000)})
    assert _check(data, tmp_path / "x.zip", step) is True


def test_a_flipped_byte_in_stored_data_names_the_member(tmp_path: Path) -> None:
    data = bytearray(_zip(zipfile.ZIP_STORED, **{"a.xml": b"x" * 10_000, "b.xml": b"y" * 10_000}))
    data[data.find(b"y" * 100) + 50] ^= 0x01
    assert _check(bytes(data), tmp_path / "x.zip", 4096) == "member b.xml fails its CRC check"


def test_a_zip64_member_is_followed(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z, z.open("big.xml", "w", force_zip64=True) as member:
        member.write(os.urandom(100_000))
    assert _check(buf.getvalue(), tmp_path / "x.zip", 65536) is True


def test_a_data_descriptor_makes_it_leave_the_check_to_testzip(tmp_path: Path) -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:  # type: ignore[arg-type]
        with z.open("a.xml", "w") as member:  # not seekable: sizes follow the data
            member.write(b"<row/>" * 1000)
    assert _check(bytes(out.data), tmp_path / "x.zip", 4096) is False


def test_deflated_garbage_gives_up_instead_of_raising(tmp_path: Path) -> None:
    data = bytearray(_zip(zipfile.ZIP_DEFLATED, **{"a.xml": os.urandom(5000)}))
    data[40:60] = b"\xff" * 20
    check = StreamingZipCheck()
    check.update(bytes(data))
    (tmp_path / "x.zip").write_bytes(bytes(data))
    assert check.confirm(tmp_path / "x.zip") is not True
