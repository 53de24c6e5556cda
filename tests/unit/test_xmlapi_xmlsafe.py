"""The hardened parser (``ettui.api.xmlsafe``): hostile documents are refused, never expanded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ettui.api.xmlsafe import XmlRejected, hardened_parser, local_name, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<exacttarget><system><batch><batchid>&lol9;</batchid></batch></system></exacttarget>
"""


def external_entity(secret: Path) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://'
        + str(secret).encode()
        + b'">]>\n<exacttarget><status>&xxe;</status></exacttarget>'
    )


def test_plain_reply_parses() -> None:
    root = parse_xml(b'<?xml version="1.0"?><exacttarget><system/></exacttarget>')
    assert local_name(root) == "exacttarget"


def test_str_input_with_declaration_parses() -> None:
    root = parse_xml('<?xml version="1.0" encoding="UTF-8"?><Batch><Status>Complete</Status></Batch>')
    assert local_name(root) == "batch"


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(BILLION_LAUGHS)
    assert caught.value.doctype


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-value")
    with pytest.raises(XmlRejected) as caught:
        parse_xml(external_entity(secret))
    assert "top-secret-value" not in str(caught.value)


def test_doctype_in_utf16_is_refused_after_parsing(tmp_path: Path) -> None:
    """The byte scan cannot see UTF-16; the docinfo check after parsing must."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-value")
    document = external_entity(secret).decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(XmlRejected) as caught:
        parse_xml(document.encode("utf-16"))
    assert caught.value.doctype


def test_parser_itself_never_expands_entities(tmp_path: Path) -> None:
    """Even bypassing the DOCTYPE refusal, the parser settings keep entities unexpanded."""
    from lxml import etree

    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-value")
    root = etree.fromstring(external_entity(secret), parser=hardened_parser())
    assert b"top-secret-value" not in etree.tostring(root)
    try:
        laughs = etree.fromstring(BILLION_LAUGHS, parser=hardened_parser())
    except etree.XMLSyntaxError:
        return  # refusing outright is as good as not expanding
    assert len(etree.tostring(laughs)) < 10_000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<html><body>Bad gateway", "not well-formed"),
        (b"batchID=552210", "not well-formed"),
        (b"<a><b></a>", "not well-formed"),
    ],
)
def test_junk_is_rejected_with_a_reason(body: bytes, words: str) -> None:
    with pytest.raises(XmlRejected, match=words):
        parse_xml(body)


def test_local_name_ignores_namespace_and_case() -> None:
    root = parse_xml(b'<X:BatchID xmlns:X="urn:x">1</X:BatchID>')
    assert local_name(root) == "batchid"
