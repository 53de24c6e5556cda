"""The SSH side of the SFTP client: connect with strict host keys and exactly one login attempt.

Host keys are checked against a known_hosts file (plain and ``|1|`` hashed
entries, both handled by asyncssh's parser). asyncssh calls
``validate_host_public_key`` only for a key the file does not already trust;
that hook is where we capture the server's key, so an unknown key becomes a
:class:`~ettui.errors.HostKeyUnknown` carrying the fingerprint the UI shows for
trust-on-first-use, and a key that differs from a listed one becomes a hard
:class:`~ettui.errors.HostKeyChanged`.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable

from ettui.drop._asyncssh_import import asyncssh
from ettui.drop._fast_start import lean_reads, lean_writes, skip_none_auth
from ettui.drop.hostkeys import HostKeyCheck, fingerprint, key_line, known_hosts_name, load_known_hosts
from ettui.drop.sftp_login import SshLogin
from ettui.drop.transport import REFUSED_LOGINS, DropConnectionLost, DropUnreachable, LoginRefused
from ettui.errors import DropError, HostKeyChanged, HostKeyUnknown

__all__ = ["is_connection_error", "open_ssh", "reason"]

class _ClientHooks(HostKeyCheck):
    """The host-key check, plus: the first login request uses the configured method (no ``none`` probe)."""

    def __init__(self, known: asyncssh.SSHKnownHosts, accept_fingerprint: str | None, method: str | None) -> None:
        super().__init__(known, accept_fingerprint)
        self._method = method
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn
        lean_writes(conn)
        lean_reads(conn)

    def begin_auth(self, username: str) -> None:
        if self._method is not None and self._conn is not None:
            skip_none_auth(self._conn, self._method)


async def open_ssh(login: SshLogin, dialing: Awaitable[socket.socket]) -> asyncssh.SSHClientConnection:
    """Log in over the TCP connection ``dialing`` yields (see :func:`~ettui.drop.sftp_login.dial`), or raise one sentence.

    ``HostKeyUnknown`` / ``HostKeyChanged`` for the host key, ``LoginRefused``
    for a refused login (remembered in ``REFUSED_LOGINS``: the caller checks it
    first, so this process never offers those credentials again),
    ``DropUnreachable`` / ``DropError`` for the rest.
    """
    known = load_known_hosts(login.known_hosts)
    method = "password" if login.password is not None else "publickey" if login.key_file is not None else None
    check = _ClientHooks(known, login.accept_fingerprint, method)
    options: dict[str, object] = {}
    if login.password is not None:
        # A password login tries no keys first: the vendor locks the account
        # after repeated failures, and key attempts must not eat into that.
        # One method only: asyncssh would otherwise offer the same password to
        # keyboard-interactive too, and each offer counts as a failure.
        options.update(password=login.password, client_keys=None, agent_path=None, preferred_auth="password")
    elif login.key_file is not None:
        options.update(client_keys=[login.key_file], agent_path=None, preferred_auth="publickey")
    if login.encryption_algs is not None:
        options["encryption_algs"] = list(login.encryption_algs)
    where = f"{login.host}:{login.port}"
    try:
        sock = await dialing
        return await asyncssh.connect(
            login.host,
            login.port,
            sock=sock,
            username=login.username or None,
            known_hosts=known,
            client_factory=lambda: check,
            connect_timeout=login.connect_timeout,
            login_timeout=login.connect_timeout,
            # Compression buys nothing on already-zipped output and costs CPU.
            compression_algs=None,
            window=login.window,
            max_pktsize=login.max_pktsize,
            keepalive_interval=login.keepalive_interval,
            **options,
        )
    except asyncssh.HostKeyNotVerifiable:
        raise _host_key_error(login, check) from None
    except asyncssh.PermissionDenied:
        message = (
            f"The drop refused the login for {login.username}@{login.host}; ettui will not try it again, because "
            "repeated failed logins lock the user out for 30 minutes: fix the SFTP user name and password or key first."
        )
        REFUSED_LOGINS[login.credential_key()] = message
        raise LoginRefused(message) from None
    except ConnectionRefusedError:
        raise DropUnreachable(
            f"Nothing accepted the connection at {where}; check the SFTP host and port and that the server is up."
        ) from None
    except TimeoutError:
        raise DropUnreachable(
            f"Connecting to the drop at {where} timed out after {login.connect_timeout:g} s; "
            "check the network and the SFTP host."
        ) from None
    except socket.gaierror:
        raise DropUnreachable(
            f"The SFTP host name {login.host} could not be resolved; check the profile's sftp_host."
        ) from None
    except asyncssh.KeyImportError as exc:
        raise DropError(f"The SSH key file {login.key_file} could not be loaded ({exc}).") from None
    except (OSError, asyncssh.Error) as exc:
        raise DropUnreachable(f"Could not connect to the drop at {where}: {reason(exc)}.") from None


def _host_key_error(login: SshLogin, check: HostKeyCheck) -> DropError:
    name = known_hosts_name(login.host, login.port)
    if check.offered is None:
        return DropError(f"The host key of {name} could not be verified; check {login.known_hosts}.")
    offered = fingerprint(check.offered)
    if check.listed:
        was = ", ".join(fingerprint(k) for k in check.listed)
        return HostKeyChanged(
            f"The host key of {name} has changed: known_hosts has {was} but the server now offers {offered}; "
            f"if the change is expected, remove the old entry from {login.known_hosts}."
        )
    return HostKeyUnknown(
        f"The host key of {name} is not known (fingerprint {offered}); accept it to connect.",
        host=login.host,
        port=login.port,
        fingerprint=offered,
        key_line=key_line(check.offered),
    )


def is_connection_error(exc: BaseException) -> bool:
    """True for the many shapes a broken SSH connection takes in asyncssh.

    A dropped socket can surface as ``SFTPConnectionLost``, ``ConnectionLost``
    or any ``DisconnectError``, a plain ``OSError`` (``ECONNRESET``, ``EPIPE``),
    ``BrokenPipeError``, or an ``EOFError`` from a half-read packet.
    """
    return isinstance(
        exc,
        (
            DropConnectionLost,
            asyncssh.SFTPConnectionLost,
            asyncssh.DisconnectError,
            asyncssh.ChannelOpenError,
            ConnectionError,
            EOFError,
            OSError,
        ),
    )


def reason(exc: BaseException) -> str:
    """An asyncssh/OS error's own words, for the end of a sentence."""
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")
