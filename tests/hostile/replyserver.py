"""A small XML API on 127.0.0.1 port 0 whose Batch Inquire replies carry hostile values."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

SUBMITTED = """<?xml version="1.0"?>
<exacttarget><system><subscriber><info>Your request has been recorded</info>
<batchID>552210</batchID></subscriber></system></exacttarget>"""


def _xml_text(value: str) -> str:
    """``value`` in XML text: CR as ``&#13;`` so it survives the parser's newline
    normalisation; other characters as they are (ESC, which XML forbids, raw: a
    hostile server sends what it likes)."""
    return escape(value).replace("\r", "&#13;")


def complete_with_file(value: str) -> str:
    return f"""<?xml version="1.0"?>
<exacttarget><system><Batch><batchid>552210</batchid><status>Complete</status>
<filename>{_xml_text(value)}</filename></Batch></system></exacttarget>"""


def error_with_description(value: str) -> str:
    return f"""<?xml version="1.0"?>
<exacttarget><system><subscriber><error>4</error>
<error_description>{_xml_text(value)}</error_description></subscriber></system></exacttarget>"""


def status_word(value: str) -> str:
    return f"""<?xml version="1.0"?>
<exacttarget><system><Batch><batchid>552210</batchid><status>{_xml_text(value)}</status>
<message>{_xml_text(value)}</message></Batch></system></exacttarget>"""


REPLIES = {"filename": complete_with_file, "error_description": error_with_description, "status": status_word}
"""Where the hostile value goes in the Inquire reply."""


def submitted_as(batch_id: str) -> str:
    """A submit reply whose batchID is ``batch_id`` (a hostile one is the attack)."""
    return SUBMITTED.replace("552210", _xml_text(batch_id))


@dataclass
class ReplyServer:
    url: str
    inquire_body: str
    inquiries: int = 0
    submit_body: str = SUBMITTED

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        document = str(form.get("xml", ""))
        if "inquire" in document.lower():
            self.inquiries += 1
            body = self.inquire_body
        else:
            body = self.submit_body
        return web.Response(body=body.encode("utf-8"), content_type="text/xml")


@contextlib.asynccontextmanager
async def reply_server(inquire_body: str, submit_body: str = SUBMITTED) -> AsyncIterator[ReplyServer]:
    state = ReplyServer("", inquire_body, submit_body=submit_body)
    app = web.Application()
    app.router.add_post("/integrate.aspx", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/integrate.aspx"
    try:
        yield state
    finally:
        await runner.cleanup()


def write_config(path: Path, url: str, download_dir: Path) -> Path:
    """A real-account profile on ``url``; its drop is a closed port (listing fails at once)."""
    path.write_text(
        f"""default_profile = "hostile"

[profiles.hostile]
dialect = "xml"
endpoint = "{url}"
api_username = "ops"
api_password_env = "ETTUI_API_PW"
sftp_host = "127.0.0.1"
sftp_port = 9
sftp_username = "ops"
sftp_password_env = "ETTUI_API_PW"
download_dir = "{download_dir}"
poll_initial = 0.2
poll_max = 0.5
"""
    )
    path.chmod(0o600)
    return path
