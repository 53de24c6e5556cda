"""Safe extraction: zip-slip, links, bombs, lying headers, clean failure."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from ettui.drop.extract import extract_zip, safe_member_path
from ettui.errors import ExtractError


def write_zip(path: Path, members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_extracts_into_its_own_folder(tmp_path: Path) -> None:
    zp = write_zip(tmp_path / "job.zip", {"output.xml": b"<a/>", "sub/more.xml": b"<b/>", "sub/": b""})
    files = extract_zip(zp, tmp_path / "job")
    assert sorted(p.relative_to(tmp_path) for p in files) == [Path("job/output.xml"), Path("job/sub/more.xml")]
    assert (tmp_path / "job/output.xml").read_bytes() == b"<a/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job", "job.zip"]  # no scratch left


def test_reextract_replaces_previous_folder(tmp_path: Path) -> None:
    dest = tmp_path / "job"
    extract_zip(write_zip(tmp_path / "a.zip", {"old.xml": b"1"}), dest)
    extract_zip(write_zip(tmp_path / "b.zip", {"new.xml": b"2"}), dest)
    assert [p.name for p in dest.iterdir()] == ["new.xml"]


@pytest.mark.parametrize(
    "name",
    ["../evil.xml", "a/../../evil.xml", "/etc/evil.xml", "C:/evil.xml", "..\\evil.xml", "a/b/../../../evil"],
)
def test_zip_slip_refused_and_names_member(tmp_path: Path, name: str) -> None:
    zp = write_zip(tmp_path / "slip.zip", {"good.xml": b"ok", name: b"pwned"})
    with pytest.raises(ExtractError) as info:
        extract_zip(zp, tmp_path / "out" / "job")
    assert repr(name) in info.value.message
    assert not (tmp_path / "out" / "job").exists()
    assert not any(p.name.startswith("evil") for p in tmp_path.rglob("*"))


def test_symlink_member_refused(tmp_path: Path) -> None:
    zp = tmp_path / "link.zip"
    with zipfile.ZipFile(zp, "w") as z:
        info = zipfile.ZipInfo("passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ExtractError, match="'passwd'.*symbolic link"):
        extract_zip(zp, tmp_path / "job")
    assert not (tmp_path / "job").exists()


def test_zip_bomb_ratio_refused(tmp_path: Path) -> None:
    zp = write_zip(tmp_path / "bomb.zip", {"bomb.xml": b"\0" * (50 * 1024 * 1024)})
    assert zp.stat().st_size < 200 * 1024
    with pytest.raises(ExtractError, match="'bomb.xml'.*compresses"):
        extract_zip(zp, tmp_path / "job")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_member_over_size_limit_refused(tmp_path: Path) -> None:
    zp = write_zip(tmp_path / "big.zip", {"big.xml": bytes(range(256)) * 8192}, method=zipfile.ZIP_STORED)
    with pytest.raises(ExtractError, match="'big.xml'.*over the limit"):
        extract_zip(zp, tmp_path / "job", max_member_bytes=1024 * 1024)


def test_lying_size_header_is_caught_while_streaming(tmp_path: Path) -> None:
    """The central directory claims 10 bytes; the stream holds 3 MiB. Nothing partial is left."""
    real = b"<r>" + b"x" * (3 * 1024 * 1024) + b"</r>"
    zp = write_zip(tmp_path / "liar.zip", {"first.xml": b"fine", "liar.xml": real})
    raw = bytearray(zp.read_bytes())
    with zipfile.ZipFile(zp) as z:
        info = z.getinfo("liar.xml")
    # Patch the uncompressed size in the central directory entry (offset 24 in the header).
    cd = raw.rfind(b"PK\x01\x02")
    assert raw[cd + 46 : cd + 46 + len(b"liar.xml")] == b"liar.xml"
    raw[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    zp.write_bytes(bytes(raw))
    assert info.file_size == len(real)
    with pytest.raises(ExtractError, match="'liar.xml'"):
        extract_zip(zp, tmp_path / "job")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liar.zip"]


def test_total_size_limit(tmp_path: Path) -> None:
    zp = write_zip(tmp_path / "many.zip", {f"{i}.bin": bytes(range(256)) * 64 for i in range(10)}, method=zipfile.ZIP_STORED)
    with pytest.raises(ExtractError, match="in total"):
        extract_zip(zp, tmp_path / "job", max_total_bytes=100_000)


def test_duplicate_names_refused(tmp_path: Path) -> None:
    zp = tmp_path / "dup.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("a.xml", b"1")
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("a.xml", b"2")
    with pytest.raises(ExtractError, match="appears twice"):
        extract_zip(zp, tmp_path / "job")


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(ExtractError, match="x.zip"):
        extract_zip(tmp_path / "x.zip", tmp_path / "job")


def test_safe_member_path() -> None:
    assert str(safe_member_path("./a//b.xml")) == "a/b.xml"
    for bad in ("", "/", "..", "a\0b"):
        with pytest.raises(ValueError, match=r"^its (name|path) "):
            safe_member_path(bad)
