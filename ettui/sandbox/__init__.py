"""The sandbox: an in-process peer of the ExactTarget endpoints on 127.0.0.1.

``async with Sandbox(SandboxOptions(root=...)) as sb:`` starts the XML and
SOAP APIs over HTTP, the drop over SFTP (SSH) and over FTPS (explicit TLS), a
ticker that completes jobs and a retention sweeper; ``sb.info`` says how to
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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import asyncssh
from aiohttp import web

from ettui.sandbox.clock import ScaledClock
from ettui.sandbox.clock_state import ClockState
from ettui.sandbox.credentials import load_credentials
from ettui.sandbox.faults import Faults
from ettui.sandbox.options import SandboxOptions
from ettui.sandbox.queue import RetentionPolicy, SandboxBatch, SandboxQueue, sweep

if TYPE_CHECKING:
    from ettui.sandbox.ftps import FtpsDropServer

TICK_SECONDS = 0.25
"""Real seconds between ticker passes that complete due jobs without an inquiry."""


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
        self.clock_state = ClockState(self.root / "clock.json", journal=self.root / "batches.jsonl", drop_dir=self.drop_dir)
        """This root's runs: a fast clock carries on between fast runs; a 1x run first brings their stamps back to real time."""
        self.clock = ScaledClock(options.time_scale, start=self.clock_state.start(options.time_scale))
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
            options, self.clock, self.faults,
            drop_dir=self.drop_dir, work_dir=self.work_dir, journal=self.root / "batches.jsonl",
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

    async def __aenter__(self) -> Sandbox:
        # Imported here so `import ettui.sandbox` stays cheap and cycle-free.
        from ettui.sandbox.ftps import FtpsDropServer, load_cert
        from ettui.sandbox.http import XML_API_PATH, build_app
        from ettui.sandbox.sftp import bound_port, fingerprint, load_host_key, start_sftp_server
        from ettui.sandbox.soap import SOAP_PATH

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
        self.clock_state.stop(self.clock.now())

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
