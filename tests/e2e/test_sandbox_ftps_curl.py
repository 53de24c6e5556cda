"""`ettui sandbox --json`'s FTPS drop used by curl, which shares no code with ettui."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from tests.e2e.test_sandbox_outside_tools import C1, INQUIRE, curl

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="needs curl on PATH")


def test_curl_ssl_reqd_lists_and_downloads_a_landed_zip(tmp_path: Path) -> None:
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home")}
    root = tmp_path / "sb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ettui", "sandbox", "--json", "--root", str(root), "--time-scale", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        for k in ("ftps_port", "ftps_username", "ftps_password", "ftps_cert_fingerprint"):
            assert k in info
        creds = {"user": info["api_username"], "password": info["api_password"]}
        batch = etree.fromstring(curl(info["xml_api_url"], C1.format(**creds)).encode()).findtext(".//batchID")
        status, filename = "", None
        for _ in range(200):
            answer = etree.fromstring(curl(info["xml_api_url"], INQUIRE.format(batch=batch, **creds)).encode())
            status, filename = answer.findtext(".//status") or "", answer.findtext(".//filename")
            if status in ("Complete", "Error"):
                break
            time.sleep(0.1)
        assert status == "Complete" and filename and re.fullmatch(r"bulkasync_\d+_\d{17}_1\.zip", filename)

        cert = root / "ftps_cert.pem"
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert info["ftps_cert_fingerprint"] == "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
        base = f"ftp://{info['sftp_host']}:{info['ftps_port']}/"
        common = ["curl", "-sS", "--fail", "--ssl-reqd", "--cacert", str(cert),
                  "--user", f"{info['ftps_username']}:{info['ftps_password']}"]
        listing = subprocess.run([*common, base], capture_output=True, text=True, timeout=60, check=True).stdout
        assert filename in listing
        dest = tmp_path / filename
        subprocess.run([*common, "-o", str(dest), base + filename], capture_output=True, text=True, timeout=60, check=True)
        with zipfile.ZipFile(dest) as zf:
            assert zf.testzip() is None
            assert len(etree.fromstring(zf.read(zf.namelist()[0])).findall(".//record")) > 0
        # Plain FTP (no TLS) is refused: the drop is FTPS only.
        plain = subprocess.run(["curl", "-sS", "--user", f"{info['ftps_username']}:{info['ftps_password']}", base],
                               capture_output=True, text=True, timeout=60)
        assert plain.returncode != 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
