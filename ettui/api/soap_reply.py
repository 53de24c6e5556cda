"""Reading SOAP replies from the envelope itself: faults and Retrieve rows.

``Retrieve`` results are polymorphic (``xsi:type``) and the tagging of
``AsyncActivityStatus`` rows is unsettled (``ObjectExtension`` or
``AsyncActivityStatus``, spec §7.7), and the vendor's WSDL lacks the latter
type, so rows are read here by element name, which works for every tagging
and for a client built from either WSDL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree

from ettui.api.xmlsafe import local_name, local_tag
from ettui.safetext import clean

__all__ = ["XSI_TYPE", "ExtractReply", "body_child", "find_fault", "read_extract", "read_retrieve"]

log = logging.getLogger(__name__)

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

# What the WSDL subset declares for ExtractResponseMsg and its ExtractResult
# (lower-cased local names); anything else is the vendor adding elements.
_EXTRACT_DECLARED = {"overallstatus", "requestid", "results"}
_RESULT_DECLARED = {
    "statuscode", "statusmessage", "ordinalid", "errorcode", "requestid", "conversationid",
    "overallstatuscode", "requesttype", "resulttype", "resultdetailxml", "request",
}
_UNDECLARED_SEEN: set[str] = set()


@dataclass(frozen=True)
class ExtractReply:
    """What an ``ExtractResponseMsg`` says, read by element name."""

    overall: str
    request_id: str
    """The message's ``RequestID``, else the first result's."""
    status_message: str
    error_code: str


def read_extract(root: etree._Element) -> ExtractReply | None:
    """The ``ExtractResponseMsg`` of an envelope, leniently; None when the body holds something else.

    Elements the WSDL does not declare are ignored (each new name is logged
    once): the vendor adds elements, and an extract it accepted must still be
    recorded.
    """
    message = body_child(root)
    if message is None or local_name(message) != "extractresponsemsg":
        return None
    overall = request_id = result_id = status_message = error_code = ""
    first_result = True
    for child in message:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if name == "overallstatus":
            overall = (child.text or "").strip()
        elif name == "requestid":
            request_id = (child.text or "").strip()
        elif name == "results":
            for part in child:
                if not isinstance(part.tag, str):
                    continue
                part_name = local_name(part)
                if part_name not in _RESULT_DECLARED:
                    _note_undeclared(f"ExtractResult/{part.tag.rpartition('}')[2]}")
                elif first_result and part_name == "requestid":
                    result_id = (part.text or "").strip()
                elif first_result and part_name == "statusmessage":
                    status_message = (part.text or "").strip()
                elif first_result and part_name == "errorcode":
                    error_code = (part.text or "").strip()
            first_result = False
        else:
            _note_undeclared(f"ExtractResponseMsg/{child.tag.rpartition('}')[2]}")
    return ExtractReply(overall, request_id or result_id, status_message, error_code)


def _note_undeclared(path: str) -> None:
    if path not in _UNDECLARED_SEEN:
        _UNDECLARED_SEEN.add(path)
        log.info("ignoring %s in an Extract reply: the WSDL does not declare it", clean(path[:120]))


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
        name = local_name(child)
        if name == "overallstatus":
            overall = (child.text or "").strip()
        elif name == "requestid":
            request_id = (child.text or "").strip()
        elif name == "results":
            rows.append(_row(child))
    return overall, request_id, rows


def _row(result: etree._Element) -> dict[str, str]:
    row: dict[str, str] = {}
    for child in result:
        if not isinstance(child.tag, str):
            continue
        if local_name(child) == "properties":
            for prop in child:
                if local_name(prop) != "property":
                    continue
                parts = {local_name(part): (part.text or "").strip() for part in prop}
                if parts.get("name"):
                    row[parts["name"]] = parts.get("value", "")
        elif len(child) == 0 and child.text and child.text.strip():
            row.setdefault(local_tag(child.tag), child.text.strip())
    kind = result.get(XSI_TYPE)
    if kind:
        row.setdefault("_type", kind.rsplit(":", 1)[-1])
    return row


def body_child(root: etree._Element) -> etree._Element | None:
    body = next((child for child in root if local_name(child) == "body"), None)
    if body is None:
        return None
    return next((child for child in body if isinstance(child.tag, str)), None)


def find_fault(root: etree._Element) -> tuple[str, str] | None:
    """(faultcode, faultstring) of a SOAP 1.1 or 1.2 fault in the body, or None."""
    child = body_child(root)
    if child is None or local_name(child) != "fault":
        return None
    texts = {local_name(e): (e.text or "").strip() for e in child.iter() if isinstance(e.tag, str)}
    code = texts.get("faultcode") or texts.get("value", "")
    message = texts.get("faultstring") or texts.get("text", "")
    return code, message
