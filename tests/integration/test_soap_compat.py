"""Compatibility with the vendor's own WSDL (``../shared/reference/etframework.wsdl``).

The project never contains a copy of that file; these tests read it in place
and skip when it is absent. Its one remote import (``ETFrameworkFault.xsd``,
used by nothing) is answered locally, so nothing here touches the network.

* Every request document ettui's client sends validates against the vendor's schema.
* A bare zeep client built from the vendor's WSDL calls the sandbox's Extract.
* The sandbox's replies validate against the vendor's schema (ObjectExtension form).
* ettui reads both status taggings whether built from its own WSDL or the vendor's,
  where a typed zeep read of the vendor WSDL fails with ``LookupError``.
* Every type and field of ettui's WSDL exists in the vendor's, same name, namespace
  and order; deliberate additions and omissions are listed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import zeep
import zeep.exceptions
from lxml import etree
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsse import UsernameToken as ZeepUsernameToken

from ettui.api.soap import PACKAGED_WSDL, OAuth, SoapApi, UsernameToken
from ettui.model import BatchRequest, JobStatus
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.sandbox.soap import endpoint

VENDOR_WSDL = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "etframework.wsdl"
pytestmark = pytest.mark.skipif(not VENDOR_WSDL.is_file(), reason="the vendor WSDL is not beside the repository")

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
PARTNER = "http://exacttarget.com/wsdl/partnerAPI"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FAULT_STUB = b'<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:fault.partner.exacttarget.com"/>'

ADDITIONS = {"AsyncActivityStatus"}
"""Types in ettui's WSDL that the vendor's lacks (explained in the WSDL's comments)."""
OMITTED_FIELDS = {("APIObject", "Owner")}
"""Optional vendor fields ettui's subset leaves out (explained in the WSDL's comments)."""

EXTRACT = BatchRequest("tracking-extract", {"StartDate": "3/1/2012", "EndDate": "3/7/2012 6:00 PM",
                                            "OutputFileName": "compat.zip", "SendIDs": "1,2", "AccountIDs": "*"})


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vendor_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The vendor's schema from the WSDL types, its fault import pointed at a local stub."""
    xmlschema = pytest.importorskip("xmlschema")
    folder = tmp_path_factory.mktemp("vendor-schema")
    (folder / "fault.xsd").write_bytes(FAULT_STUB)
    schema = etree.parse(str(VENDOR_WSDL)).find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    assert schema is not None
    for imported in schema.findall(f"{{{XSD}}}import"):
        imported.set("schemaLocation", (folder / "fault.xsd").as_uri())
    return xmlschema.XMLSchema(etree.tostring(schema).decode(), base_url=str(folder))


class StubFaultTransport(AsyncTransport):  # type: ignore[misc]
    """A plain zeep transport that answers the fault-schema import locally (no ettui code)."""

    def load(self, url: str) -> bytes:
        if url.endswith("ETFrameworkFault.xsd"):
            return FAULT_STUB
        return super().load(url)  # type: ignore[no-any-return]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(root=tmp_path, records=5)) as sb:
        yield sb


def async_service(client: zeep.AsyncClient, address: str) -> AsyncServiceProxy:
    """The vendor binding at the sandbox's address (``create_service`` would give a sync proxy)."""
    return AsyncServiceProxy(client, client.wsdl.bindings[f"{{{PARTNER}}}SoapBinding"], address=address)


def body_of(envelope: bytes) -> etree._Element:
    root = etree.fromstring(envelope)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    return next(iter(body))


def assert_valid(schema: Any, element: etree._Element) -> None:
    errors = [str(e.reason or e) for e in schema.iter_errors(etree.tostring(element).decode())]
    assert not errors, errors


async def recording_client(sb: Sandbox, sent: list[bytes], *, wsdl: str | None = None,
                           oauth: bool = False) -> SoapApi:
    auth: UsernameToken | OAuth = UsernameToken(sb.info.api_username, sb.info.api_password)
    if oauth:
        auth = OAuth(sb.info.soap_url.rsplit("/", 1)[0] + "/v2/token", sb.info.api_username, sb.info.api_password)
    api = await SoapApi.create(sb.info.soap_url, wsdl=wsdl, auth=auth, today=lambda: date(2012, 3, 15))
    original = api.transport.send

    async def spy(url: str, content: bytes, headers: Mapping[str, str], **kw: Any) -> Any:
        sent.append(content)  # the token call does not go through send
        return await original(url, content, headers, **kw)

    api.transport.send = spy  # type: ignore[method-assign]
    return api


# -- request documents ---------------------------------------------------------------


@pytest.mark.parametrize("wsdl", [None, str(VENDOR_WSDL)], ids=["ettui-wsdl", "vendor-wsdl"])
async def test_every_request_document_validates(vendor_schema: Any, sandbox: Sandbox, wsdl: str | None) -> None:
    sent: list[bytes] = []
    for oauth in (False, True):
        api = await recording_client(sandbox, sent, wsdl=wsdl, oauth=oauth)
        endpoint(sandbox).page_size = 0  # also send a ContinueRequest
        result = await api.submit(EXTRACT)
        await api.inquire(result.batch_id)
        await api.aclose()
    kinds = {etree.QName(body_of(doc)).localname for doc in sent}
    assert kinds == {"ExtractRequestMsg", "RetrieveRequestMsg"}
    assert any(b"ContinueRequest" in doc for doc in sent) and any(b"SimpleFilterPart" in doc for doc in sent)
    for document in sent:
        assert_valid(vendor_schema, body_of(document))


# -- the sandbox seen through the vendor's WSDL ----------------------------------------


async def test_vendor_wsdl_zeep_client_calls_sandbox_extract(sandbox: Sandbox, vendor_schema: Any) -> None:
    transport = StubFaultTransport()
    client = zeep.AsyncClient(str(VENDOR_WSDL), transport=transport,
                              wsse=ZeepUsernameToken(sandbox.info.api_username, sandbox.info.api_password))
    service = async_service(client, sandbox.info.soap_url)
    answer = await service.Extract(Requests=[{
        "ID": "c7219016-a7f0-4c72-8657-1ec12c28a0db",
        "Options": {},
        "Parameters": {"Parameter": [{"Name": "StartDate", "Value": "3/1/2012 12:00:00 AM"},
                                     {"Name": "EndDate", "Value": "3/7/2012 12:00:00 AM"},
                                     {"Name": "OutputFileName", "Value": "vendor.zip"}]},
    }])
    await transport.aclose()
    assert answer.OverallStatus == "OK" and answer.RequestID
    assert answer.Results[0].StatusCode == "OK"
    assert endpoint(sandbox).requests[answer.RequestID]


async def test_sandbox_replies_validate_against_the_vendor_schema(sandbox: Sandbox, vendor_schema: Any) -> None:
    api = await SoapApi.create(sandbox.info.soap_url, auth=UsernameToken(sandbox.info.api_username,
                                                                         sandbox.info.api_password),
                               today=lambda: date(2012, 3, 15))
    result = await api.submit(EXTRACT)
    assert_valid(vendor_schema, body_of(result.reply.encode()))
    inquiry = await api.inquire(result.batch_id)  # ObjectExtension form: a vendor type
    assert_valid(vendor_schema, body_of(inquiry.reply.encode()))
    await api.aclose()
    described = endpoint(sandbox).retrieve(etree.fromstring(
        f'<RetrieveRequestMsg xmlns="{PARTNER}"><RetrieveRequest><ObjectType>ExtractDescription</ObjectType>'
        "</RetrieveRequest></RetrieveRequestMsg>"))
    assert_valid(vendor_schema, described)


async def test_vendor_wsdl_typed_read_fails_on_the_addition_but_ettui_reads_both(sandbox: Sandbox) -> None:
    endpoint(sandbox).status_form = "AsyncActivityStatus"
    transport = StubFaultTransport()
    bare = zeep.AsyncClient(str(VENDOR_WSDL), transport=transport,
                            wsse=ZeepUsernameToken(sandbox.info.api_username, sandbox.info.api_password))
    service = async_service(bare, sandbox.info.soap_url)
    ours = await SoapApi.create(sandbox.info.soap_url, wsdl=str(VENDOR_WSDL), today=lambda: date(2012, 3, 15),
                                auth=UsernameToken(sandbox.info.api_username, sandbox.info.api_password))
    result = await ours.submit(EXTRACT)
    with pytest.raises(zeep.exceptions.LookupError, match="No type 'AsyncActivityStatus'"):
        await service.Retrieve(RetrieveRequest={"ObjectType": "AsyncActivityStatus", "Properties": ["Status"]})
    await transport.aclose()
    for form in ("AsyncActivityStatus", "ObjectExtension"):
        endpoint(sandbox).status_form = form
        inquiry = await ours.inquire(result.batch_id)
        assert inquiry.status is JobStatus.SCHEDULED and f'xsi:type="{form}"' in inquiry.reply
    assert ours.transport.downloads == 0  # the vendor WSDL loaded without touching the network
    await ours.aclose()


# -- ettui's WSDL is a faithful subset ------------------------------------------------------


def _definitions(path: Path) -> dict[tuple[str, str], etree._Element]:
    schema = etree.parse(str(path)).find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    assert schema is not None and schema.get("targetNamespace") == PARTNER
    return {(etree.QName(el).localname, el.get("name", "")): el for el in schema if isinstance(el.tag, str)
            and el.get("name")}


def _qname(element: etree._Element, value: str | None) -> str | None:
    """A type reference resolved to {namespace}name (the vendor mixes ``string`` and ``xsd:string``)."""
    if not value:
        return None
    prefix, _, local = value.rpartition(":")
    return f"{{{element.nsmap.get(prefix or None)}}}{local}"


def _shape(definition: etree._Element) -> tuple[str | None, list[tuple[str, str | None]], list[str]]:
    """(base type, [(field name, field type)] in order, enumeration values)."""
    base = next((_qname(e, e.get("base")) for e in definition.iter(f"{{{XSD}}}extension", f"{{{XSD}}}restriction")),
                None)
    fields = [(e.get("name", ""), _qname(e, e.get("type"))) for e in definition.iter(f"{{{XSD}}}element")
              if e is not definition]
    enums = [e.get("value", "") for e in definition.iter(f"{{{XSD}}}enumeration")]
    return base, fields, enums


def test_project_wsdl_is_a_subset_of_the_vendors() -> None:
    ours, vendor = _definitions(PACKAGED_WSDL), _definitions(VENDOR_WSDL)
    additions = {name for kind, name in ours if (kind, name) not in vendor}
    assert additions == ADDITIONS
    omitted: set[tuple[str, str]] = set()
    for key, definition in ours.items():
        if key[1] in ADDITIONS:
            continue
        our_base, our_fields, our_enums = _shape(definition)
        vendor_base, vendor_fields, vendor_enums = _shape(vendor[key])
        assert our_base == vendor_base, key
        assert our_enums == vendor_enums, key
        # Same fields, same types, same order; leaving optional fields out keeps the order.
        position = 0
        for field in our_fields:
            assert field in vendor_fields[position:], (key, field)
            skipped = vendor_fields[position:vendor_fields.index(field, position)]
            omitted.update((key[1], name) for name, _ in skipped)
            position = vendor_fields.index(field, position) + 1
        omitted.update((key[1], name) for name, _ in vendor_fields[position:])
    assert omitted == OMITTED_FIELDS


def test_project_wsdl_operations_match_and_nothing_is_imported() -> None:
    ours, vendor = etree.parse(str(PACKAGED_WSDL)), etree.parse(str(VENDOR_WSDL))
    assert not ours.findall(f".//{{{XSD}}}import") and not ours.findall(f".//{{{WSDL_NS}}}import")
    assert ours.getroot().get("targetNamespace") == vendor.getroot().get("targetNamespace") == PARTNER
    ns = {"w": WSDL_NS, "s": "http://schemas.xmlsoap.org/wsdl/soap/"}

    def found(doc: Any, path: str) -> Any:
        element = doc.find(path, ns)
        assert element is not None, path
        return element

    for operation in ("Extract", "Retrieve"):
        for doc in (ours, vendor):
            assert found(doc, f"w:binding/w:operation[@name='{operation}']/s:operation").get("soapAction") == operation
        for direction in ("input", "output"):
            message = found(ours, f"w:portType/w:operation[@name='{operation}']/w:{direction}").get("message")
            vendor_message = found(vendor, f"w:portType/w:operation[@name='{operation}']/w:{direction}").get("message")
            assert message == vendor_message
            assert message is not None
            name = message.split(":")[1]
            assert found(ours, f"w:message[@name='{name}']/w:part").get("element") == \
                found(vendor, f"w:message[@name='{name}']/w:part").get("element")
