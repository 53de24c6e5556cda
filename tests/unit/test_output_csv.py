"""CSV outputs (the SOAP tracking extract) through the same reader interface as XML."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ettui.output import CsvOutputReader, OutputReader, open_output, output_members
from ettui.output.export import export_jsonl
from ettui.output.stream import OutputError


def make_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Sent.csv", "\ufeffClientID,EmailAddress\n1,a@example.org\n2,\"b, jr@example.org\"\n")
        zf.writestr("Opens.csv", "ClientID,EmailAddress,EventDate\n1,a@example.org,3/1/2024 1:00:00 PM\n")
    return path


def test_zip_of_csvs_reads_first_member_and_named_ones(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "ops.zip")
    assert output_members(path) == ["Sent.csv", "Opens.csv"]
    reader = open_output(path)
    assert isinstance(reader, CsvOutputReader)
    assert reader.columns == ["ClientID", "EmailAddress"], "the BOM is not part of the first column"
    assert list(reader.iter_rows()) == [
        {"ClientID": "1", "EmailAddress": "a@example.org"},
        {"ClientID": "2", "EmailAddress": "b, jr@example.org"},
    ]
    opens = open_output(path, "Opens.csv")
    assert opens.record_tag == "Opens" and opens.count() == 1
    with pytest.raises(OutputError, match="no CSV member 'Clicks.csv'"):
        open_output(path, "Clicks.csv")


def test_export_takes_either_reader(tmp_path: Path) -> None:
    reader = open_output(make_zip(tmp_path / "ops.zip"))
    dest = tmp_path / "out.jsonl"
    assert export_jsonl(reader, dest) == 2
    assert '"b, jr@example.org"' in dest.read_text()


def test_xml_is_still_the_xml_reader(tmp_path: Path) -> None:
    xml = tmp_path / "o.xml"
    xml.write_text("<r><rec><A>1</A></rec><rec><A>2</A></rec></r>")
    assert isinstance(open_output(xml), OutputReader)
