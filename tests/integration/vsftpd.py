"""A real vsftpd for the FTPS drop tests, on 127.0.0.1, enforcing TLS session reuse.

``vsftpd_server(home, drop)`` starts ``/usr/sbin/vsftpd`` in the foreground
with a private config on a free port: explicit TLS required for logins and
data (``force_local_*_ssl``), ``require_ssl_reuse=YES``, passive only on a
private port range, read-only, the protocol log on (so a test can see
``REST``), chrooted to ``drop``. It logs in a real local user, so it needs
root (``useradd``); ``vsftpd_unavailable()`` says why it cannot run here and
the tests skip with that reason.

Certificates are generated with ``cryptography`` (self-signed, SAN
127.0.0.1); ``make_cert`` gives a second one for the "changed certificate" case.
``debug_ssl=YES`` makes the log say "reused" for each resumed data connection.
``ETTUI_VSFTPD_WRAP="strace -f -o FILE"`` runs vsftpd under a wrapper for debugging.

Why the chroot lives under ``/var/tmp``, not in the test's ``tmp_path``: vsftpd
writes its fatal errors (``500 OOPS: ...``) to the control socket in
plain text, even inside TLS, so a client sees "not TLS" (``WRONG_VERSION_NUMBER``)
right after ``OK LOGIN`` whenever the post-login process cannot enter its
chroot. Every pytest that starts on this host (another engineer's run, CI,
a nested pytest) resets ``/tmp/pytest-of-root`` to 0700, so a chroot below
it became unreachable for the FTP user now and then ("500 OOPS: cannot
change directory", seen through a snooping proxy): that was the old flake of
about one run in eight. The served tree is moved to a private 0755 folder
under ``/var/tmp`` for the server's life (the test's ``drop`` path is a link
to it meanwhile, and gets its tree back afterwards), and the chroot is named
by ``local_root`` in the private config rather than by the shared user's
home, so concurrent runs no longer repoint one another's logins.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.sshd import _descendants

VSFTPD = Path("/usr/sbin/vsftpd")
USER = "ettuiftp"
PASSWORD = "ftps-s3cret"
HOME = "/"
"""The FTP user's home: fixed and always reachable (vsftpd enters it before ``local_root``)."""


def vsftpd_unavailable() -> str | None:
    """Why a real vsftpd cannot run here, or None."""
    if not VSFTPD.exists():
        return "vsftpd is not installed (apt-get install vsftpd; .ci/run does)"
    if os.geteuid() != 0:
        return "vsftpd logs in a real local user; the fixture needs root to create one"
    if shutil.which("useradd") is None or shutil.which("chpasswd") is None:
        return "useradd/chpasswd are missing, so no local FTP user can be made"
    if not Path("/etc/pam.d/vsftpd").exists():
        return "vsftpd's PAM service (/etc/pam.d/vsftpd) is missing"
    return None


def _user_exists() -> bool:
    return subprocess.run(["id", USER], capture_output=True, check=False).returncode == 0


def ensure_user() -> None:
    """The local FTP user (created once, password set every run); its shell must be in /etc/shells.

    Its home is never changed: each server names its own chroot with
    ``local_root``, so runs in parallel (other worktrees, CI) cannot repoint
    one another's logins.
    """
    if not _user_exists():
        made = subprocess.run(["useradd", "-M", "-d", HOME, "-s", "/bin/sh", USER], capture_output=True, check=False)
        if made.returncode != 0 and not _user_exists():  # a parallel run may have just made it
            raise RuntimeError(f"useradd {USER} failed: {made.stderr.decode(errors='replace').strip()}")
    if pwd.getpwnam(USER).pw_dir != HOME:
        # vsftpd enters the home before local_root: it must exist for every run (older
        # fixtures pointed it at a test's tmp_path, long gone).
        subprocess.run(["usermod", "-d", HOME, USER], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}\n".encode(), check=True, capture_output=True)


def make_cert(folder: Path, name: str = "server") -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem, ``SHA256:...`` fingerprint)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ettui-test-{name}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = folder / f"{name}.crt", folder / f"{name}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_pem.chmod(0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_pem, key_pem, "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class VsftpdServer:
    """One vsftpd process group, restartable on the same port with the same log."""

    home: Path
    drop: Path
    cert: Path
    key: Path
    fingerprint: str
    port: int = 0
    pasv_min: int = 0
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "vsftpd.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def write_config(self) -> Path:
        empty = self.home / "empty"
        empty.mkdir(exist_ok=True)
        empty.chmod(0o755)  # secure_chroot_dir: root-owned, not writable
        conf = self.home / "vsftpd.conf"
        conf.write_text(
            "\n".join(
                [
                    "listen=YES",
                    "listen_ipv6=NO",
                    f"listen_address={self.host}",
                    f"listen_port={self.port}",
                    "background=NO",
                    "anonymous_enable=NO",
                    "local_enable=YES",
                    "write_enable=NO",
                    "chroot_local_user=YES",
                    f"local_root={self.drop}",
                    f"secure_chroot_dir={empty}",
                    "pasv_enable=YES",
                    "port_enable=NO",
                    f"pasv_min_port={self.pasv_min}",
                    f"pasv_max_port={self.pasv_min + 9}",
                    "ssl_enable=YES",
                    "require_ssl_reuse=YES",
                    "force_local_logins_ssl=YES",
                    "force_local_data_ssl=YES",
                    f"rsa_cert_file={self.cert}",
                    f"rsa_private_key_file={self.key}",
                    "log_ftp_protocol=YES",
                    "xferlog_enable=YES",
                    "xferlog_std_format=NO",
                    f"vsftpd_log_file={self.log}",
                    "pam_service_name=vsftpd",
                    "seccomp_sandbox=NO",
                    "isolate=NO",
                    "isolate_network=NO",
                    "debug_ssl=YES",
                    "ssl_ciphers=HIGH",  # the default, DES-CBC3-SHA, is gone from OpenSSL 3 (TLS 1.2 would fail)
                    "max_login_fails=1",
                    "delay_failed_login=0",
                    "",
                ]
            )
        )
        conf.chmod(0o600)
        return conf

    async def start(self) -> None:
        if not self.port:
            self.port = free_port()
            self.pasv_min = _free_range(10)
        conf = self.write_config()
        self.proc = subprocess.Popen(
            [*os.environ.get("ETTUI_VSFTPD_WRAP", "").split(), str(VSFTPD), str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        for _ in range(200):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"vsftpd exited with {self.proc.returncode}: {err}")
            # Not a probe connection: a session that connects and drops while the
            # test's own client logs in has made vsftpd 3.0.3 lose that login.
            if _listening(self.port):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("vsftpd did not start listening")

    def kill(self) -> None:
        """SIGKILL the listener and every session process it forked (they call setsid: no process group)."""
        if self.proc is not None and self.proc.poll() is None:
            # Also any session process already orphaned (reparented to init): found by our config path.
            victims = [*_descendants(self.proc.pid), self.proc.pid, *_running_with(self.home / "vsftpd.conf")]
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()
            # Session processes are reaped by init: wait until none still holds a socket.
            for _ in range(400):
                if not any(_alive(pid) for pid in victims):
                    break
                time.sleep(0.005)

    async def stop(self) -> None:
        self.kill()
        self.proc = None


def _running_with(conf: Path) -> list[int]:
    """Processes whose command line names ``conf``."""
    found = []
    needle = os.fsencode(str(conf))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _listening(port: int) -> bool:
    """True once something listens on 127.0.0.1:``port`` (read from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(r.split()[1] == want and r.split()[3] == "0A" for r in rows)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _free_range(count: int) -> int:
    """A start port with ``count`` free ports after it (pasv range)."""
    for _ in range(50):
        start = free_port()
        if start + count >= 65535:
            continue
        try:
            socks = []
            for p in range(start, start + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return start
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free passive port range")


@contextlib.asynccontextmanager
async def vsftpd_server(home: Path, drop: Path, *, cert_name: str = "server") -> AsyncIterator[VsftpdServer]:
    """A running vsftpd serving the tree at ``drop`` to the test user.

    For the server's life the tree sits in a root-owned 0755 folder under
    ``/var/tmp`` (the FTP user must reach its chroot whatever pytest does to
    its own temp root) and ``drop`` is a link to it; ``server.drop`` is the
    real folder. Afterwards the tree is back at ``drop``.
    """
    home.mkdir(parents=True, exist_ok=True)
    drop.mkdir(parents=True, exist_ok=True)
    outside = Path(tempfile.mkdtemp(prefix="ettui-vsftpd-", dir="/var/tmp"))
    outside.chmod(0o755)
    served = outside / "drop"
    shutil.move(str(drop), served)
    drop.symlink_to(served, target_is_directory=True)
    try:
        served.chmod(0o755)  # root-owned, not writable by the user: vsftpd's chroot rule
        ensure_user()
        cert, key, fp = make_cert(home / "tls", cert_name)
        server = VsftpdServer(home=home, drop=served, cert=cert, key=key, fingerprint=fp)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
    finally:
        drop.unlink()
        shutil.move(str(served), drop)
        shutil.rmtree(outside, ignore_errors=True)
