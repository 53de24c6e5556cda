"""The one error family every layer raises and every front end shows.

A user-caused or environment-caused failure is an ``EttuiError``: a short
``title`` and one ``message`` sentence that names the thing and what to do.
The CLI prints ``message`` and exits with ``exit_code``; the UI shows it in a
toast or modal. Nothing in this family ever carries a secret.

Every subclass lives here, whatever layer raises it, so one module answers
"what can go wrong, what is it called, how does the CLI exit": each class
sets its ``title`` and ``exit_code`` and says in its docstring when it is
raised. The README's exit-code table lists the same codes (a test checks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ettui.model import Job


class ExitCode:
    """Process exit codes of the headless commands."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    VALIDATION = 3
    SERVICE = 4
    CONNECTION = 5
    DROP = 6
    CONFIG = 7
    OUTPUT = 8
    INTERRUPTED = 130
    """Ctrl+C (128 + SIGINT, as shells report it)."""


class EttuiError(Exception):
    """Base of the family: a title, one clear sentence, and an exit code."""

    title = "Error"
    exit_code = ExitCode.FAILURE
    maybe_sent = False
    """For a failed API call: True when the request may have reached the service
    (it was sent, then the reply timed out, broke off or could not be read), so a
    submit may have been accepted. False when it certainly was not acted on: never
    sent (connection refused, DNS, TLS, connect timeout), or answered with a refusal
    (an ``<error>``, a fault, throttling). Subclasses set the usual value; the API
    layer sets it per instance where the phase of the exchange decides."""

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        call: str | None = None,
        code: str | None = None,
        maybe_sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        self.call = call
        """The API call or operation that failed, when there is one."""
        self.code = code
        """The vendor's own error code, when it gave one."""
        if maybe_sent is not None:
            self.maybe_sent = maybe_sent

    def __str__(self) -> str:
        return self.message


class UsageError(EttuiError):
    """The command line is wrong: an unknown option, a bad value, a job or file that is not there."""

    title = "Usage"
    exit_code = ExitCode.USAGE


class Interrupted(EttuiError):
    """The operator pressed Ctrl+C; what was under way stopped (a download's ``.part`` resumes next time)."""

    title = "Interrupted"
    exit_code = ExitCode.INTERRUPTED


class ConfigError(EttuiError):
    """The config file, a profile or a secret source is wrong."""

    title = "Configuration error"
    exit_code = ExitCode.CONFIG


class ConfigProblems(ConfigError):
    """Every problem of one config file; ``message`` is their sentences, one a line."""

    title = "Configuration problems"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ValidationError(EttuiError):
    """A request failed validation before anything was sent."""

    title = "Invalid request"
    exit_code = ExitCode.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        title: str | None = None,
        call: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, title=title, call=call, code=code)
        self.param = param
        """The parameter at fault, so a form can point at its field."""


class ServiceError(EttuiError):
    """The service answered with an error (an XML ``<error>`` or a SOAP fault)."""

    title = "Service error"
    exit_code = ExitCode.SERVICE


class AuthError(ServiceError):
    """The service refused the credentials."""

    title = "Login refused"


class ThrottledError(ServiceError):
    """HTTP 500 from the service: treated as throttling, back off and retry later.

    The service refused the call (``maybe_sent`` is False): a submit refused
    this way was not recorded and is safe to send again after a back-off.
    """

    title = "Service busy"


class MalformedReplyError(ServiceError):
    """The reply could not be read (not XML, not the expected shape, too large, or a value that fails validation).

    The service did answer, so a submit may have been recorded: ``maybe_sent`` is True.
    """

    title = "Unreadable reply"
    maybe_sent = True


class ApiConnectionError(EttuiError):
    """The endpoint could not be reached, timed out, or TLS failed.

    ``maybe_sent`` tells a refused or failed connect (False) from a request that
    went out and whose reply never came complete (True).
    """

    title = "Connection failed"
    exit_code = ExitCode.CONNECTION


class SubmitUnconfirmed(EttuiError):
    """A submit whose request may have reached the service, but no acceptance was read.

    The job is in the store as Unconfirmed (``job``); the message says so and
    what the operator can do. The exit code is the cause's (a timeout exits 5).
    """

    title = "Submit unconfirmed"

    def __init__(self, message: str, *, job: Job, cause: EttuiError | None = None) -> None:
        super().__init__(message)
        self.job = job
        if cause is not None:
            self.exit_code = cause.exit_code


class StoreError(EttuiError):
    """The job store cannot be used (newer schema, duplicate batch, corrupt file, unreachable database)."""

    title = "Job store error"
    exit_code = ExitCode.FAILURE


class FilterError(EttuiError):
    """The UI's filter text cannot be read (an unknown qualifier, a bad value)."""

    title = "Filter"
    exit_code = ExitCode.USAGE


class UnexpectedError(EttuiError):
    """A bug, caught by the UI's backstop: the app keeps running, the details are in the error log."""

    title = "Unexpected error"
    exit_code = ExitCode.FAILURE


class DropError(EttuiError):
    """A problem with the drop (SFTP or FTPS) or a local file: listing, download, extraction."""

    title = "Drop error"
    exit_code = ExitCode.DROP


class DropConnectionLost(DropError):
    """The drop connection broke mid-operation; retrying with a new connection may succeed."""

    title = "Connection lost"


class DropStalled(DropConnectionLost):
    """No byte arrived for ``stall_timeout`` seconds: the connection is treated as dead."""

    title = "Transfer stalled"


class DropUnreachable(DropError):
    """The drop could not be reached (refused, timed out, reset during the handshake); the sentence names host:port.

    A connection error like the API's: it exits 5 whatever the protocol (SFTP,
    FTPS), so a script tells "cannot reach" from "the file is wrong" the same way.
    """

    title = "Drop unreachable"
    exit_code = ExitCode.CONNECTION


class RemoteFileMissing(DropError):
    """The remote file (or folder) is not on the drop: expired, swept, or never there."""

    title = "File not on the drop"


class LocalWriteError(DropError):
    """Writing the local copy failed (disk full, permission denied): retrying will not help."""

    title = "Cannot write the download"


class LoginRefused(DropError):
    """The drop refused the password, key or login; never retried (the vendor locks the user)."""

    title = "Login refused"


class ExtractError(DropError):
    """A member of a downloaded zip was refused, or extraction failed; the message names the member."""

    title = "Cannot extract"


class OutputError(EttuiError):
    """An output file that cannot or must not be read (unsafe, malformed, missing member): ``preview``, the viewer, export.

    Its own exit code: the download is fine, the file's content is the problem.
    """

    title = "Unreadable output"
    exit_code = ExitCode.OUTPUT


class AlreadyFetched(DropError):
    """Someone else (a teammate, another watcher) fetched the file while this fetch waited to start."""

    title = "Already fetched"


class FetchInProgress(DropError):
    """Another process (a teammate, another watcher) holds the job's fetch claim right now; ``holder`` names it."""

    title = "Being fetched"

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class ServerIdentityUnknown(DropError):
    """The drop server's identity (SSH host key or TLS certificate) was never seen: trust on first use.

    Front ends show ``fingerprint`` and ``description``, and on the user's yes
    accept it for the session (``Session.accept_identity``), saving
    ``save_line`` to ``save_to`` when asked to remember it.
    """

    title = "Unknown server identity"

    def __init__(
        self,
        message: str,
        *,
        host: str,
        port: int,
        fingerprint: str,
        kind: str,
        description: tuple[str, ...] = (),
        save_line: str = "",
        save_to: str = "",
    ) -> None:
        super().__init__(message)
        self.host = host
        self.port = port
        self.fingerprint = fingerprint
        """``SHA256:...`` (unpadded base64, as OpenSSH prints it)."""
        self.kind = kind
        """What the identity is, in the user's words: ``host key`` or ``certificate``."""
        self.description = description
        """Lines to show beside the fingerprint (a certificate's subject, issuer, validity)."""
        self.save_line = save_line
        """The entry that trusts this identity, in the format of ``save_to``."""
        self.save_to = save_to
        """The file accepted identities are appended to (known_hosts, known_certs)."""


class ServerIdentityChanged(DropError):
    """The drop server's identity differs from the trusted (or pinned) one: a hard error, never accepted."""

    title = "Server identity changed"


class HostKeyUnknown(ServerIdentityUnknown):
    """The SFTP server's host key is not in known_hosts (trust on first use)."""

    title = "Unknown host key"

    def __init__(
        self, message: str, *, host: str, port: int, fingerprint: str, key_line: str, save_to: str = ""
    ) -> None:
        super().__init__(
            message, host=host, port=port, fingerprint=fingerprint, kind="host key", save_line=key_line, save_to=save_to
        )
        self.key_line = key_line
        """The public key in OpenSSH format, ready to save to known_hosts."""


class HostKeyChanged(ServerIdentityChanged):
    """The SFTP server's host key differs from the one in known_hosts: a hard error."""

    title = "Host key changed"


class CertificateUnknown(ServerIdentityUnknown):
    """The FTPS server's certificate is neither CA-verified, pinned nor in known_certs (trust on first use)."""

    title = "Unknown certificate"

    def __init__(
        self, message: str, *, host: str, port: int, fingerprint: str, description: tuple[str, ...], save_line: str, save_to: str
    ) -> None:
        super().__init__(
            message,
            host=host,
            port=port,
            fingerprint=fingerprint,
            kind="certificate",
            description=description,
            save_line=save_line,
            save_to=save_to,
        )


class CertificateChanged(ServerIdentityChanged):
    """The FTPS server's certificate differs from the pinned or remembered one: a hard error."""

    title = "Certificate changed"


TRANSIENT = (ThrottledError, ApiConnectionError, MalformedReplyError)
"""Errors a poller retries with back-off; they never turn a job into Error."""


def library_error(exc: BaseException) -> EttuiError | None:
    """The ``EttuiError`` for a library exception a user can cause, or None for a bug.

    A layer that knows the context raises its own sentence first; this is the
    net under the front ends (the CLI's ``main``, the TUI's backstop) for what
    slipped through: a damaged zip, an unusable job store, a failed rename.
    Matched by name, so this module imports neither zipfile nor sqlite3.
    """
    modules = {klass.__module__ for klass in type(exc).__mro__}
    if type(exc).__name__ == "BadZipFile" or "zlib" in modules:
        return DropError(f"A zip file is damaged ({exc}); fetch it again.")
    if "sqlite3" in modules:
        return EttuiError(
            f"The job store could not be used ({exc}); check the disk and the state folder (`ettui config path`), "
            "then try again.",
            title="Job store",
        )
    if isinstance(exc, OSError):
        names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n)
        where = f" ({names})" if names else ""
        return EttuiError(f"{exc.strerror or exc}{where}; check the path and permissions.", title="File error")
    return None
