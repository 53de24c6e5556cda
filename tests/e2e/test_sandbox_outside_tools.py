"""`ettui sandbox --json` used by tools that share no code with ettui: curl and OpenSSH sftp."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("sftp") and shutil.which("ssh-keygen")),
    reason="needs curl, OpenSSH sftp and ssh-keygen on PATH",
)

C1 = """<?xml version="1.0"?>
<exacttarget>
  <authorization><username>{user}</username><password>{password}</password></authorization>
  <system>
    <system_name>tracking</system_name>
    <action>BulkAsync</action>
    <sub_action>all_jobs_ToFTP</sub_action>
    <search_type/>
    <daterange><startdate>3/1/2012</startdate><enddate>3/7/2012</enddate></daterange>
  </system>
</exacttarget>"""

INQUIRE = """<?xml version="1.0"?>
<exacttarget>
  <authorization><username>{user}</username><password>{password}</password></authorization>
  <system><system_name>batch</system_name><action>inquire</action>
  <search_type>batchid</search_type><search_value>{batch}</search_value></system>
</exacttarget>"""


def curl(url: str, document: str) -> str:
    done = subprocess.run(
        ["curl", "-sS", "--fail", "--data", "qf=xml", "--data-urlencode", f"xml={document}", url],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return done.stdout


def test_curl_submit_inquire_then_openssh_sftp_download(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    env = {**os.environ, "ETTUI_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ettui", "sandbox", "--json", "--root", str(tmp_path / "sb"),
         "--authorized-keys", str(key) + ".pub", "--time-scale", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        for k in ("xml_api_url", "sftp_host", "sftp_port", "api_username", "api_password", "sftp_username",
                  "sftp_password", "host_key_fingerprint", "drop_dir", "member_id"):
            assert k in info
        creds = {"user": info["api_username"], "password": info["api_password"]}

        reply = etree.fromstring(curl(info["xml_api_url"], C1.format(**creds)).encode())
        batch = reply.findtext(".//batchID")
        assert batch and batch.isdigit()

        status, filename = "", None
        for _ in range(200):  # sandbox time runs 20x: Complete within about a real second
            answer = etree.fromstring(curl(info["xml_api_url"], INQUIRE.format(batch=batch, **creds)).encode())
            status = answer.findtext(".//status") or ""
            filename = answer.findtext(".//filename")
            if status in ("Complete", "Error"):
                break
            time.sleep(0.1)
        assert status == "Complete"
        assert filename and re.fullmatch(r"bulkasync_\d+_\d{17}_1\.zip", filename)

        known = tmp_path / "known_hosts"
        scan = subprocess.run(["ssh-keyscan", "-p", str(info["sftp_port"]), info["sftp_host"]],
                              capture_output=True, text=True, timeout=30)
        known.write_text(scan.stdout)
        fp = subprocess.run(["ssh-keygen", "-lf", str(known)], capture_output=True, text=True).stdout
        assert info["host_key_fingerprint"] in fp, "the fingerprint the sandbox prints is the key it serves"

        dest = tmp_path / "got"
        dest.mkdir()
        subprocess.run(
            ["sftp", "-b", "-", "-i", str(key), "-P", str(info["sftp_port"]),
             "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
             f"{info['sftp_username']}@{info['sftp_host']}"],
            input=f"get /{filename} {dest}/\n", capture_output=True, text=True, timeout=60, check=True,
        )
        with zipfile.ZipFile(dest / filename) as zf:
            assert zf.testzip() is None
            (member,) = zf.namelist()
            root = etree.fromstring(zf.read(member))
        assert len(root.findall(".//record")) > 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
