"""The output reader: record discovery, columns, sources, and refusing unsafe XML."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import pytest

from ettui.errors import EttuiError, ExitCode
from ettui.output.reader import OutputReader
from ettui.output.stream import OutputError, guarded_stream


def write(tmp_path: Path, xml: str, name: str = "out.xml") -> Path:
    path = tmp_path / name
    path.write_text(xml, encoding="utf-8")
    return path


def rows_of(tmp_path: Path, xml: str) -> tuple[OutputReader, list[dict[str, str]]]:
    reader = OutputReader(write(tmp_path, xml))
    return reader, list(reader.iter_rows())


# ------------------------------------------------------------------ discovery


def test_flat_records_under_root(tmp_path: Path) -> None:
    reader, rows = rows_of(tmp_path, "<r><row><a>1</a><b>2</b></row><row><a>3</a><b>4</b></row></r>")
    assert reader.record_tag == "row"
    assert rows == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_sandbox_shape_nested_wrapper(tmp_path: Path) -> None:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!-- generated -->\n'
        "<exacttarget><tracking>\n"
        "  <record><SubscriberKey>k1</SubscriberKey><EmailAddress>a@x.org</EmailAddress>"
        "<EventDate>2024-01-01</EventDate></record>\n"
        "  <record><SubscriberKey>k2</SubscriberKey><EmailAddress/>"
        "<EventDate>2024-01-02</EventDate></record>\n"
        "</tracking></exacttarget>"
    )
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "record"
    assert reader.columns == ["SubscriberKey", "EmailAddress", "EventDate"]
    assert rows[1] == {"SubscriberKey": "k2", "EmailAddress": "", "EventDate": "2024-01-02"}
    assert reader.count() == 2


def test_single_record_is_the_innermost_wrapper(tmp_path: Path) -> None:
    xml = "<exacttarget><tracking><record><a>1</a><b>2</b></record></tracking></exacttarget>"
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "record"
    assert rows == [{"a": "1", "b": "2"}]


def test_repeated_child_inside_a_record_does_not_win(tmp_path: Path) -> None:
    record = "<sub><key>{k}</key><attr><name>n{k}</name></attr><attr><name>m{k}</name></attr></sub>"
    xml = "<root><subs>" + "".join(record.format(k=k) for k in range(3)) + "</subs></root>"
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "sub"
    assert rows[0] == {"key": "0", "attr.name": "n0", "attr.name[2]": "m0"}


def test_header_fields_lose_to_the_more_numerous_records(tmp_path: Path) -> None:
    xml = (
        "<root><head><f><x>1</x></f><f><x>2</x></f></head>"
        "<data>" + "<rec><v>1</v></rec>" * 5 + "</data></root>"
    )
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "rec"
    assert len(rows) == 5


def test_mixed_case_tags_are_one_record_and_one_column(tmp_path: Path) -> None:
    xml = (
        "<Root><Record><EmailAddress>a</EmailAddress></Record>"
        "<record><emailaddress>b</emailaddress><Extra>e</Extra></record>"
        "<RECORD><EMAILADDRESS>c</EMAILADDRESS></RECORD></Root>"
    )
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "record"
    assert reader.columns == ["EmailAddress", "Extra"]
    assert rows == [{"EmailAddress": "a"}, {"EmailAddress": "b", "Extra": "e"}, {"EmailAddress": "c"}]


def test_spelling_first_seen_after_the_discovery_window_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ettui.output.reader.DISCOVERY_ELEMENTS", 4)
    monkeypatch.setattr("ettui.output.reader.DISCOVERY_CHUNK", 16)
    body = "<r>" + "<rec><v>1</v></rec>" * 10 + "<REC><v>2</v></REC><rec><v>3</v></rec><REC><v>4</v></REC></r>"
    _reader, rows = rows_of(tmp_path, body)
    assert [r["v"] for r in rows] == ["1"] * 10 + ["2", "3", "4"]


def test_attributes_become_at_columns(tmp_path: Path) -> None:
    xml = '<r><rec id="1"><a unit="kg">5</a></rec><rec id="2"><a>6</a></rec></r>'
    reader, rows = rows_of(tmp_path, xml)
    assert rows == [{"@id": "1", "a@unit": "kg", "a": "5"}, {"@id": "2", "a": "6"}]
    assert reader.columns == ["@id", "a@unit", "a"]


def test_namespaces_are_ignored_in_names(tmp_path: Path) -> None:
    xml = (
        '<et:exacttarget xmlns:et="urn:et" xmlns="urn:default">'
        "<et:record><Key>1</Key></et:record><et:record><Key>2</Key></et:record></et:exacttarget>"
    )
    reader, rows = rows_of(tmp_path, xml)
    assert reader.record_tag == "record"
    assert rows == [{"Key": "1"}, {"Key": "2"}]


def test_nested_leaves_are_flattened_and_columns_keep_first_seen_order(tmp_path: Path) -> None:
    xml = (
        "<r><rec><b>1</b><addr><city>X</city><zip>9</zip></addr></rec>"
        "<rec><a>0</a><b>2</b><late>L</late></rec></r>"
    )
    reader, rows = rows_of(tmp_path, xml)
    assert reader.columns == ["b", "addr.city", "addr.zip", "a", "late"]
    assert rows[0] == {"b": "1", "addr.city": "X", "addr.zip": "9"}


def test_same_tag_at_another_depth_is_not_a_record(tmp_path: Path) -> None:
    xml = "<r><meta><rec>not me</rec></meta><list><rec><v>1</v></rec><rec><v>2</v></rec></list></r>"
    _reader, rows = rows_of(tmp_path, xml)
    assert rows == [{"v": "1"}, {"v": "2"}]


def test_empty_document_has_no_records(tmp_path: Path) -> None:
    reader, rows = rows_of(tmp_path, "<exacttarget/>")
    assert reader.record_tag is None and rows == [] and reader.count() == 0


def test_limit_and_batches(tmp_path: Path) -> None:
    reader = OutputReader(write(tmp_path, "<r>" + "".join(f"<x><n>{i}</n></x>" for i in range(1200)) + "</r>"))
    assert [r["n"] for r in reader.iter_rows(limit=3)] == ["0", "1", "2"]
    sizes = [len(b) for b in reader.batches(size=500)]
    assert sizes == [500, 500, 200]


def test_usable_from_worker_threads(tmp_path: Path) -> None:
    reader = OutputReader(write(tmp_path, "<r>" + "<x><n>1</n><m>2</m></x>" * 2000 + "</r>"))
    counts: list[int] = []

    def work() -> None:
        counts.append(sum(len(b) for b in reader.batches(300)))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == [2000, 2000, 2000]
    assert reader.columns == ["n", "m"]


# --------------------------------------------------------------------- sources


def test_zip_source_is_read_without_extracting(tmp_path: Path) -> None:
    archive = tmp_path / "bulkasync_1_2_1.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "hello")
        zf.writestr("a.xml", "<r><x><v>1</v></x><x><v>2</v></x></r>")
        zf.writestr("b.xml", "<r><y><w>9</w></y></r>")
    reader = OutputReader(archive)
    assert reader.members() == ["a.xml", "b.xml"]
    assert reader.name == "bulkasync_1_2_1.zip:a.xml"
    assert [r["v"] for r in reader.iter_rows()] == ["1", "2"]
    assert list(OutputReader(archive, member="b.xml").iter_rows()) == [{"w": "9"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bulkasync_1_2_1.zip"]
    with pytest.raises(OutputError, match="no member 'c.xml'"):
        OutputReader(archive, member="c.xml")


def test_missing_file_and_malformed_xml_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        OutputReader(tmp_path / "gone.xml")
    reader = OutputReader(write(tmp_path, "<r><x><v>1</v></x><x><v>2</v></x>"))  # cut short
    with pytest.raises(OutputError, match="not well-formed"):
        list(reader.iter_rows())
    assert issubclass(OutputError, EttuiError) and OutputError.exit_code == ExitCode.OUTPUT  # its own code (issue 16.2)


# ---------------------------------------------------------------------- safety

XXE = '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<r><x><v>&xxe;</v></x><x><v>&xxe;</v></x></r>'

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10))
    + "]>\n<lolz><x><v>&lol9;</v></x><x><v>&lol9;</v></x></lolz>"
)


@pytest.mark.parametrize("xml", [XXE, LAUGHS], ids=["external-entity", "billion-laughs"])
def test_doctype_documents_are_refused(tmp_path: Path, xml: str) -> None:
    with pytest.raises(OutputError, match="DOCTYPE") as caught:
        list(OutputReader(write(tmp_path, xml)).iter_rows())
    assert "root:" not in str(caught.value) and "lol" not in str(caught.value)


class CountingStream(io.BytesIO):
    """Counts bytes handed out, to prove a refusal reads only the prolog."""

    handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.handed_out += len(data)
        return data


def test_refusal_reads_only_the_prolog() -> None:
    body = b"<!-- c -->" + LAUGHS.encode() + b"<pad/>" * 2_000_000
    raw = CountingStream(body)
    with pytest.raises(OutputError, match="DOCTYPE"):
        guarded_stream(raw, "big.xml")
    assert raw.handed_out <= 16 * 1024


def test_doctype_inside_a_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("out.xml", XXE)
    with pytest.raises(OutputError, match="evil.zip:out.xml declares a DOCTYPE"):
        OutputReader(archive).count()


def test_undeclared_entity_is_an_error_not_a_lookup(tmp_path: Path) -> None:
    reader = OutputReader(write(tmp_path, "<r><x><v>&xxe;</v></x><x><v>2</v></x></r>"))
    with pytest.raises(OutputError, match="not well-formed"):
        list(reader.iter_rows())


def test_utf16_document_with_doctype_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u16.xml"
    path.write_bytes(XXE.replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16"))
    with pytest.raises(OutputError, match="DOCTYPE"):
        OutputReader(path).count()
