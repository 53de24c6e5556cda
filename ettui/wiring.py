"""Building a profile's parts: its API client, and the embedded sandbox when it is one.

``Session.open`` and ``ettui sandbox`` use these; nothing else needs them.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettui import paths
from ettui.api.base import BatchApi
from ettui.clock import Clock, WallClock
from ettui.config import Config, Profile, SecretSource

if TYPE_CHECKING:
    from ettui.sandbox import Sandbox, SandboxOptions


async def make_api(profile: Profile, clock: Clock | None = None) -> BatchApi:
    """Build the profile's API client (the SOAP client is built off the loop).

    Relative dates (``-7d``, ``today``) count from ``clock``: the sandbox's
    own (possibly fast) clock on the sandbox, the wall clock otherwise.
    """
    clock = clock or WallClock()

    def today() -> date:
        return clock.now().date()

    if profile.dialect == "soap":
        from ettui.api.soap import OAuth, SoapApi, UsernameToken

        auth: Any
        if profile.soap_auth == "oauth":
            auth = OAuth(
                auth_url=profile.auth_url or "",
                client_id=profile.client_id or "",
                client_secret=profile.client_secret.resolve("OAuth client secret"),
                account_id=profile.member_id,
            )
        else:
            auth = UsernameToken(profile.api_username, profile.api_password.resolve("API password"))
        return await SoapApi.create(
            profile.soap_url,
            wsdl=profile.wsdl,
            auth=auth,
            connect_timeout=profile.connect_timeout,
            read_timeout=profile.read_timeout,
            request_deadline=profile.request_deadline,
            max_reply_bytes=profile.max_reply_bytes,
            cache_dir=paths.wsdl_cache_dir(),
            today=today,
        )
    from ettui.api.xmlapi import XmlApi

    return XmlApi(
        profile.endpoint,
        profile.api_username,
        profile.api_password.resolve("API password"),
        connect_timeout=profile.connect_timeout,
        read_timeout=profile.read_timeout,
        request_deadline=profile.request_deadline,
        max_reply_bytes=profile.max_reply_bytes,
        today=today,
    )


def sandbox_options(config: Config, **overrides: Any) -> SandboxOptions:
    """The sandbox's options from the config's ``[sandbox]`` table; ``overrides`` win."""
    from ettui.sandbox import SandboxOptions

    settings: dict[str, Any] = {f.name: getattr(config.sandbox, f.name) for f in dataclasses.fields(config.sandbox)}
    settings["root"] = paths.ensure_private_dir(paths.sandbox_dir())
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return SandboxOptions(**settings)


async def start_sandbox(
    config: Config, profile: Profile, options: SandboxOptions | None
) -> tuple[Sandbox, Profile]:
    """Start the embedded sandbox and return the profile pointed at it."""
    from ettui.sandbox import Sandbox

    options = options or sandbox_options(config)
    sandbox = Sandbox(options)
    await sandbox.__aenter__()
    info = sandbox.info
    # We started this server and hold its host key, so its key is known without TOFU.
    known_hosts = Path(options.root) / "known_hosts"
    known_hosts.write_text(sandbox.known_hosts_line + "\n", encoding="utf-8")
    profile = dataclasses.replace(
        profile,
        endpoint=info.xml_api_url,
        soap_url=info.soap_url,
        api_username=info.api_username,
        api_password=SecretSource(literal=info.api_password),
        auth_url=info.soap_url.rsplit("/", 1)[0] + "/v2/token",
        client_id=getattr(info, "client_id", None) or info.api_username,
        client_secret=SecretSource(literal=getattr(info, "client_secret", None) or info.api_password),
        member_id=info.member_id,
        sftp_host=info.sftp_host,
        sftp_port=info.sftp_port,
        sftp_username=info.sftp_username,
        sftp_password=SecretSource(literal=info.sftp_password),
        known_hosts=str(known_hosts),
        # FTPS too, so a sandbox profile can use either drop_protocol; its certificate is pinned.
        ftps_host=info.sftp_host,
        ftps_port=info.ftps_port,
        ftps_username=info.ftps_username,
        ftps_password=SecretSource(literal=info.ftps_password),
        ftps_fingerprint=info.ftps_cert_fingerprint,
        retention_hours=options.retention_hours,
        export_retention_hours=options.export_retention_hours,
    )
    return sandbox, profile
