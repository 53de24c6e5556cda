"""Reading SOAP replies from the envelope itself: faults and Retrieve rows.

``Retrieve`` results are polymorphic (``xsi:type``) and the tagging of
``AsyncActivityStatus`` rows is unsettled (``ObjectExtension`` or
``AsyncActivityStatus``, spec §7.7), and the vendor's WSDL lacks the latter
type, so rows are read here by element name, which works for every tagging
and for a client built from either WSDL.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["read_retrieve", "body_child", "find_fault", "XSI_TYPE"]

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def read_retrieve(root: etree._Element) -> tuple[str, str, list[dict[str, str]]]:
    """``OverallStatus``, ``RequestID`` and the rows (name -> value) of a ``RetrieveResponseMsg`` envelope.

    A row's values come from its ``Properties/Property`` ``Name``/``Value``
    pairs (``ObjectExtension`` or ``AsyncActivityStatus`` tagging alike) and
    from any simple child elements, for a service that answers with fields.
    """
    message = body_child(root)
    if message is None:
        return "", "", []
    overall = request_id = ""
    rows: list[dict[str, str]] = []
    for child in message:
        name = _local(child)
        if name == "overallstatus":
            overall = (child.text or "").strip()
        elif name == "requestid":
            request_id = (child.text or "").strip()
        elif name == "results":
            rows.append(_row(child))
    return overall, request_id, rows


def _local(element: etree._Element) -> str:
    """Lower-cased local name by string slicing: the status read runs on every poll."""
    tag = element.tag
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _row(result: etree._Element) -> dict[str, str]:
    row: dict[str, str] = {}
    for child in result:
        if not isinstance(child.tag, str):
            continue
        if _local(child) == "properties":
            for prop in child:
                if _local(prop) != "property":
                    continue
                parts = {_local(part): (part.text or "").strip() for part in prop}
                if parts.get("name"):
                    row[parts["name"]] = parts.get("value", "")
        elif len(child) == 0 and child.text and child.text.strip():
            row.setdefault(child.tag.rpartition("}")[2], child.text.strip())
    kind = result.get(XSI_TYPE)
    if kind:
        row.setdefault("_type", kind.rsplit(":", 1)[-1])
    return row


def body_child(root: etree._Element) -> etree._Element | None:
    body = next((child for child in root if _local(child) == "body"), None)
    if body is None:
        return None
    return next((child for child in body if isinstance(child.tag, str)), None)


def find_fault(root: etree._Element) -> tuple[str, str] | None:
    """(faultcode, faultstring) of a SOAP 1.1 or 1.2 fault in the body, or None."""
    child = body_child(root)
    if child is None or _local(child) != "fault":
        return None
    texts = {_local(e): (e.text or "").strip() for e in child.iter() if isinstance(e.tag, str)}
    code = texts.get("faultcode") or texts.get("value", "")
    message = texts.get("faultstring") or texts.get("text", "")
    return code, message
