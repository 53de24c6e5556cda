"""SSH servers for the drop tests, on 127.0.0.1: in-process asyncssh, and real OpenSSH.

``sftp_server(...)`` runs an asyncssh server in the test's own loop on port 0,
its SFTP root chrooted to a folder, with fault knobs (drop the connection after
N bytes read, count any write attempt) in the style of asyncssh's own tests.

``openssh_sshd(...)`` starts ``/usr/sbin/sshd -D -e`` with a config, host key
and authorized_keys of its own in a temp folder. ``sshd_unavailable()`` says
why it cannot run here (then the tests skip with that reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = Path("/usr/sbin/sshd")
USER = "tester"
PASSWORD = "s3cret-drop"


@dataclass
class Faults:
    """Knobs the in-process server reads on every request."""

    drop_after_bytes: int | None = None
    """Close the whole SSH connection once this many bytes were served on it."""
    drops: int = 0
    """How many connections were dropped so far."""
    max_drops: int | None = None
    """Stop dropping after this many (None: always)."""
    stall_after_bytes: int | None = None
    """Stop answering reads (the connection stays up) once this many bytes were served on it."""
    stall_at_offset: int | None = None
    """Never answer a read that reaches past this file offset, on any connection."""
    stalls: int = 0
    """How many connections stalled so far."""
    max_stalls: int | None = None
    """Stop stalling after this many (None: always)."""
    writes: list[str] = field(default_factory=list)
    """Every write-like request any client made (must stay empty)."""


class FaultySFTPServer(asyncssh.SFTPServer):
    """A chrooted SFTP server that can break the connection mid-read and logs writes."""

    def __init__(self, chan: asyncssh.SSHServerChannel, *, root: Path, faults: Faults) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self._faults = faults
        self._served = 0

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND):
            self._faults.writes.append(f"open-for-write {path!r}")
        return super().open(path, pflags, attrs)

    def read(self, file_obj: object, offset: int, size: int) -> bytes | Awaitable[bytes]:
        faults = self._faults
        if faults.stall_at_offset is not None and offset + size > faults.stall_at_offset:
            faults.stalls += 1
            return asyncio.get_running_loop().create_future()
        stall = faults.stall_after_bytes
        if (stall is not None and (faults.max_stalls is None or faults.stalls < faults.max_stalls)
                and self._served + size > stall):
            if not getattr(self, "_stalled", False):
                self._stalled = True
                faults.stalls += 1
            return asyncio.get_running_loop().create_future()  # never answered
        limit = faults.drop_after_bytes
        if (limit is not None and (faults.max_drops is None or faults.drops < faults.max_drops)
                and self._served + size > limit):
            faults.drops += 1
            self.channel.get_connection().abort()
            raise asyncssh.SFTPConnectionLost("dropped by the test")
        data = super().read(file_obj, offset, size)
        assert isinstance(data, bytes)
        self._served += len(data)
        return data

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        self._faults.writes.append("write")
        raise asyncssh.SFTPPermissionDenied("read-only drop")

    def remove(self, path: bytes) -> None:
        self._faults.writes.append(f"remove {path!r}")
        raise asyncssh.SFTPPermissionDenied("read-only drop")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._faults.writes.append(f"rename {oldpath!r}")
        raise asyncssh.SFTPPermissionDenied("read-only drop")


class _PasswordServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


@dataclass
class InProcessServer:
    """A running in-process server: where it listens and what key it shows."""

    host: str
    port: int
    host_key: asyncssh.SSHKey
    root: Path
    faults: Faults

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    @property
    def key_line(self) -> str:
        return " ".join(self.host_key.export_public_key().decode().split()[:2])


@contextlib.asynccontextmanager
async def sftp_server(root: Path, *, host_key: asyncssh.SSHKey | None = None) -> AsyncIterator[InProcessServer]:
    """An asyncssh SFTP server on 127.0.0.1:0 serving ``root`` (password login ``USER``/``PASSWORD``)."""
    key = host_key or asyncssh.generate_private_key("ssh-ed25519")
    faults = Faults()
    listener = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_factory=_PasswordServer,
        server_host_keys=[key],
        sftp_factory=lambda chan: FaultySFTPServer(chan, root=root, faults=faults),
        allow_scp=False,
    )
    try:
        yield InProcessServer("127.0.0.1", listener.get_port(), key, root, faults)
    finally:
        listener.close()
        await listener.wait_closed()


# -- real OpenSSH -----------------------------------------------------------------


def sshd_unavailable() -> str | None:
    """Why a real sshd cannot run here, or None when it can."""
    if not SSHD.exists():
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed"
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        # As root sshd insists on its privilege-separation directory; the package
        # normally creates it when the service starts. An empty root-owned
        # folder is all it needs.
        try:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            return f"sshd needs /run/sshd and it cannot be created ({exc})"
    return None


def free_port() -> int:
    """A port free right now on 127.0.0.1 (sshd cannot listen on 0 and report it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)


@dataclass
class OpenSSHServer:
    """A real sshd run by the tests; ``kill()`` and ``start()`` break and restore it."""

    home: Path
    port: int
    user: str
    user_key: Path
    host_key: Path
    proc: asyncio.subprocess.Process | None = None
    log: list[str] = field(default_factory=list)
    """Every line sshd (and its per-connection children) wrote to stderr, in order."""
    log_level: str = "INFO"
    extra_config: tuple[str, ...] = ()
    """More ``sshd_config`` lines (e.g. ``RekeyLimit 1M``)."""

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def key_line(self) -> str:
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def fingerprint(self) -> str:
        """The host key's fingerprint as OpenSSH itself prints it."""
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{self.host_key}.pub"], capture_output=True, text=True,
                             check=True)
        return out.stdout.split()[1]

    def write_config(self) -> Path:
        cfg = self.home / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    "PidFile none",
                    f"AuthorizedKeysFile {self.home / 'authorized_keys'}",
                    # The temp folder belongs to the test user, not to a login account.
                    "StrictModes no",
                    f"PermitRootLogin {'yes' if os.geteuid() == 0 else 'no'}",
                    "UsePAM no",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "Subsystem sftp internal-sftp",
                    f"LogLevel {self.log_level}",
                    *self.extra_config,
                    "",
                ]
            )
        )
        return cfg

    async def start(self) -> None:
        """Start sshd and wait until it says it is listening (an event, not a sleep)."""
        cfg = self.home / "sshd_config"
        self.proc = await asyncio.create_subprocess_exec(
            str(SSHD), "-D", "-e", "-f", str(cfg), "-p", str(self.port),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        seen: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), 20)
            if not line:
                raise RuntimeError(f"sshd exited: {b''.join(seen).decode(errors='replace')}")
            seen.append(line)
            if b"Server listening on" in line:
                break
        # Keep draining stderr so sshd never blocks on a full pipe.
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        proc = self.proc
        if proc is not None and proc.stderr is not None:
            while line := await proc.stderr.readline():
                self.log.append(line.decode(errors="replace").rstrip("\n"))

    def kill(self) -> None:
        """SIGKILL sshd and every session process it forked (found by parent pid)."""
        if self.proc is None:
            return
        for pid in [*_descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def stop(self) -> None:
        self.kill()
        if self.proc is not None:
            await self.proc.wait()
            self.proc = None


def _descendants(pid: int) -> list[int]:
    """Processes under ``pid`` (sshd's per-connection children call setsid, so no process group)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextlib.asynccontextmanager
async def openssh_sshd(
    home: Path, *, log_level: str = "INFO", extra_config: tuple[str, ...] = ()
) -> AsyncIterator[OpenSSHServer]:
    """A real sshd on 127.0.0.1 with its own host key and a user key in ``authorized_keys``."""
    home.mkdir(parents=True, exist_ok=True)
    keygen(home / "host_ed25519")
    keygen(home / "user_ed25519")
    (home / "authorized_keys").write_text((home / "user_ed25519.pub").read_text())
    import pwd

    server = OpenSSHServer(
        home=home, port=free_port(), user=pwd.getpwuid(os.geteuid()).pw_name,
        user_key=home / "user_ed25519", host_key=home / "host_ed25519", log_level=log_level,
        extra_config=extra_config,
    )
    server.write_config()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
