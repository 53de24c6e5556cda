"""The sandbox: an in-process peer of the ExactTarget endpoints on 127.0.0.1.

``async with Sandbox(SandboxOptions(root=...)) as sb:`` starts the XML API
(and any installed extension such as SOAP) over HTTP, the drop over SFTP (SSH)
and over FTPS (explicit TLS),
a ticker that completes jobs and a retention sweeper; ``sb.info`` says how to
connect. It is a peer, not a mock: it never imports ettui's client layers
(``ettui.api``, ``ettui.jobs``, ``ettui.drop``, ``ettui.ui``), so the client
talks to it exactly as it would to the vendor.

Files under ``root`` (mode 0700): ``drop/`` (the served tree), ``work/``
(zips being written, renamed into ``drop/`` when whole), the SSH host key, the
FTPS certificate and ``credentials.json`` (0600), the passwords generated for this root.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import asyncssh
from aiohttp import web

from ettui.sandbox.clock import ScaledClock
from ettui.sandbox.credentials import load_credentials
from ettui.sandbox.faults import Faults
from ettui.sandbox.journal import clock_start
from ettui.sandbox.queue import QueueSettings, RetentionPolicy, SandboxBatch, SandboxQueue, sweep

if TYPE_CHECKING:
    from ettui.sandbox.ftps import FtpsDropServer

TICK_SECONDS = 0.25
"""Real seconds between ticker passes that complete due jobs without an inquiry."""


@dataclass
class SandboxOptions:
    """Everything a sandbox run can be told; every field has a usable default but ``root``."""

    root: Path
    """Holds the drop folder, the work folder and the persistent SSH host key."""
    seed: int = 1
    """Makes batch IDs, output records and fault draws reproducible."""
    time_scale: float = 1.0
    """Sandbox seconds per real second (3600: an hour a second, for demos)."""
    http_port: int = 0
    sftp_port: int = 0
    host: str = "127.0.0.1"
    api_username: str = "sandbox-api"
    api_password: str | None = None
    """None: the password generated for ``root`` (``credentials.json``, 0600)."""
    sftp_username: str = "sandbox-drop"
    sftp_password: str | None = None
    """None: the password generated for ``root``."""
    ftps_port: int = 0
    """The FTPS (explicit TLS) drop's control port; 0 picks a free one."""
    ftps_username: str = "sandbox-drop"
    ftps_password: str | None = None
    """None: the same generated password as the SFTP drop's."""
    member_id: str = "10012345"
    multi_account: bool = False
    """True: outputs go to a member-ID subfolder, as for a multi-account FTP login."""
    scheduled_seconds: float = 4.0
    processing_seconds: float = 8.0
    error_share: float = 0.0
    """Initial ``Faults.error_share``: share of jobs ending in Error."""
    records: int = 200
    """Records per output file, unless ``record_bytes`` is set."""
    record_bytes: int | None = None
    """Target uncompressed size of each output XML (up to hundreds of MB)."""
    retention_hours: float = 72.0
    export_retention_hours: float = 504.0
    """Retention for files under ``/Export`` (21 days)."""
    authorized_keys: Path | None = None
    """An OpenSSH authorized_keys file enabling public-key login to the drop."""
    sweep_interval_seconds: float = 1.0
    """Real seconds between retention sweeps."""
    sftp_max_connections: int = 10
    """Connections one drop user may hold at once, SFTP and FTPS together; the next is disconnected (0: no limit)."""
    sftp_lockout_failures: int = 3
    """Bad passwords in a row that lock the drop user out (0: never)."""
    sftp_lockout_minutes: float = 30.0
    """How long the lockout lasts, on the sandbox clock."""
    sftp_idle_close_seconds: float = 600.0
    """Real seconds without traffic after which the drop closes a connection (0: never)."""
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True)
class SandboxInfo:
    """How to connect to a running sandbox (printed by ``ettui sandbox``)."""

    xml_api_url: str
    soap_url: str
    sftp_host: str
    sftp_port: int
    api_username: str
    api_password: str
    sftp_username: str
    sftp_password: str
    host_key_fingerprint: str
    drop_dir: str
    member_id: str
    ftps_port: int
    """The FTPS drop on ``sftp_host``: explicit TLS, passive, TLS session reuse required."""
    ftps_username: str
    ftps_password: str
    ftps_cert_fingerprint: str
    """``SHA256:...`` of the sandbox's self-signed certificate (kept in the root)."""

    def as_json(self) -> dict[str, Any]:
        """Exactly the fields above, JSON-ready."""
        return dataclasses.asdict(self)


class Sandbox:
    """One running sandbox: HTTP (XML API + extensions), SFTP drop, ticker and sweeper."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.root = Path(options.root)
        self.drop_dir = self.root / "drop"
        self.work_dir = self.root / "work"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        generated = None
        if options.api_password is None or options.sftp_password is None or options.ftps_password is None:
            generated = load_credentials(self.root)
        self.api_password: str = options.api_password or (generated.api_password if generated else "")
        """The API password in force (the option, else this root's generated one)."""
        self.sftp_password: str = options.sftp_password or (generated.sftp_password if generated else "")
        self.ftps_password: str = options.ftps_password or (generated.sftp_password if generated else "")
        """The drop password in force."""
        self.clock = ScaledClock(options.time_scale, start=clock_start(self.root / "clock.json", options.time_scale))
        self.faults = options.faults
        from ettui.sandbox.sftp import DropLimits

        self.drop_limits = DropLimits(
            max_connections=options.sftp_max_connections,
            lockout_failures=options.sftp_lockout_failures,
            lockout_seconds=options.sftp_lockout_minutes * 60,
            idle_close_seconds=options.sftp_idle_close_seconds,
        )
        """The drop's limits and their live counters (changeable while running)."""
        self.faults.reseed(options.seed)
        if options.error_share:
            self.faults.error_share = options.error_share
        self.queue = SandboxQueue(
            QueueSettings(
                drop_dir=self.drop_dir,
                work_dir=self.work_dir,
                seed=options.seed,
                member_id=options.member_id,
                multi_account=options.multi_account,
                scheduled_seconds=options.scheduled_seconds,
                processing_seconds=options.processing_seconds,
                records=options.records,
                record_bytes=options.record_bytes,
                journal=self.root / "batches.jsonl",
            ),
            self.clock,
            self.faults,
        )
        self.retention = RetentionPolicy(options.retention_hours, options.export_retention_hours)
        self.app: web.Application | None = None
        self._info: SandboxInfo | None = None
        self._runner: web.AppRunner | None = None
        self._sftp: asyncssh.SSHAcceptor | None = None
        self.ftps: FtpsDropServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def info(self) -> SandboxInfo:
        """Connection details; only valid inside ``async with``."""
        if self._info is None:
            raise RuntimeError("the sandbox is not running")
        return self._info

    def sweep(self) -> list[str]:
        """Delete drop files past retention now (sandbox clock); return their drop paths."""
        return sweep(self.drop_dir, self.clock.now(), self.retention)

    def batch(self, batch_id: int) -> SandboxBatch | None:
        """Shortcut for ``queue.get``."""
        return self.queue.get(batch_id)

    async def __aenter__(self) -> "Sandbox":
        # Imported here so `import ettui.sandbox` stays cheap and cycle-free.
        from ettui.sandbox.http import SOAP_PATH, XML_API_PATH, build_app
        from ettui.sandbox.ftps import FtpsDropServer, load_cert
        from ettui.sandbox.sftp import bound_port, fingerprint, load_host_key, start_sftp_server

        for folder in (self.root, self.drop_dir, self.work_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        host_key = load_host_key(self.root)
        cert, cert_key, cert_fingerprint = load_cert(self.root)
        opts = self.options
        try:
            self.app = build_app(self)
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, opts.host, opts.http_port)
            await site.start()
            http_port = int(self._runner.addresses[0][1])
            self._sftp = await start_sftp_server(
                host=opts.host,
                port=opts.sftp_port,
                drop_dir=self.drop_dir,
                host_key=host_key,
                username=opts.sftp_username,
                password=self.sftp_password,
                authorized_keys=opts.authorized_keys,
                faults=self.faults,
                limits=self.drop_limits,
                now=self.clock.now,
            )
            self.ftps = FtpsDropServer(
                host=opts.host,
                port=opts.ftps_port,
                drop_dir=self.drop_dir,
                cert=cert,
                key=cert_key,
                username=opts.ftps_username,
                password=self.ftps_password,
                faults=self.faults,
                limits=self.drop_limits,
                now=self.clock.now,
            )
            await self.ftps.start()
        except BaseException:
            await self._stop()
            raise
        base = f"http://{opts.host}:{http_port}"
        self._info = SandboxInfo(
            xml_api_url=base + XML_API_PATH,
            soap_url=base + SOAP_PATH,
            sftp_host=opts.host,
            sftp_port=bound_port(self._sftp),
            api_username=opts.api_username,
            api_password=self.api_password,
            sftp_username=opts.sftp_username,
            sftp_password=self.sftp_password,
            host_key_fingerprint=fingerprint(host_key),
            drop_dir=str(self.drop_dir),
            member_id=opts.member_id,
            ftps_port=self.ftps.port,
            ftps_username=opts.ftps_username,
            ftps_password=self.ftps_password,
            ftps_cert_fingerprint=cert_fingerprint,
        )
        # known_hosts form, so the in-process owner can trust the key it holds.
        self.known_hosts_line = f"[{opts.host}]:{self._info.sftp_port} " + host_key.export_public_key().decode().strip()
        self._tasks = [asyncio.create_task(self._tick()), asyncio.create_task(self._sweep_loop())]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.ftps is not None:
            await self.ftps.close()
            self.ftps = None
        if self._sftp is not None:
            self._sftp.close()
            await self._sftp.wait_closed()
            self._sftp = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # Let writer threads finish so nothing lands in the drop after we return.
        await self.queue.settle_writes()
        self.queue.close()
        self._info = None

    async def _tick(self) -> None:
        """Complete due jobs even when nobody inquires (files land on time)."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.queue.refresh_all()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.sweep_interval_seconds)
            await asyncio.to_thread(self.sweep)


async def run_forever(options: SandboxOptions, on_ready: Callable[[SandboxInfo], None]) -> None:
    """Run a sandbox until cancelled; ``on_ready`` gets the connection details once listening."""
    async with Sandbox(options) as sandbox:
        on_ready(sandbox.info)
        await asyncio.Event().wait()


__all__ = [
    "Faults",
    "Sandbox",
    "SandboxBatch",
    "SandboxInfo",
    "SandboxOptions",
    "SandboxQueue",
    "ScaledClock",
    "run_forever",
]
