"""Trust on first use in the app: a real SFTP server whose key the profile does not know."""

from __future__ import annotations

from pathlib import Path

from ettui.config import Config, Profile, SecretSource
from ettui.sandbox import Sandbox, SandboxOptions
from ettui.session import Session
from ettui.ui.app import EttuiApp
from ettui.ui.screens.dialogs import HostKeyScreen
from tests.ui.conftest import wait_for


def account_profile(sb: Sandbox, tmp_path: Path) -> Profile:
    """A real-account style profile (no sandbox flag) pointed at a running sandbox."""
    info = sb.info
    return Profile(
        name="acct",
        endpoint=info.xml_api_url,
        api_username=info.api_username,
        api_password=SecretSource(literal=info.api_password),
        sftp_host=info.sftp_host,
        sftp_port=info.sftp_port,
        sftp_username=info.sftp_username,
        sftp_password=SecretSource(literal=info.sftp_password),
        known_hosts=str(tmp_path / "known_hosts"),
        download_dir=str(tmp_path / "downloads"),
    )


def app_for(profile: Profile, tmp_path: Path) -> EttuiApp:
    config = Config(path=tmp_path / "none.toml", exists=False, default_profile="acct", profiles={"acct": profile})

    async def factory() -> Session:
        return await Session.open(config, store_path=tmp_path / "jobs.sqlite3")

    return EttuiApp(config, session_factory=factory, activity_path=tmp_path / "activity.log")


async def test_unknown_key_modal_shows_fingerprint_then_accept_and_save(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        app = app_for(account_profile(sb, tmp_path), tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen), "the host-key modal")
            modal = app.screen
            assert isinstance(modal, HostKeyScreen)
            assert modal.fingerprint == sb.info.host_key_fingerprint
            assert not (tmp_path / "known_hosts").exists()
            await pilot.press("a")
            await wait_for(pilot, lambda: (tmp_path / "known_hosts").exists(), "the key to be saved")
            assert not isinstance(app.screen, HostKeyScreen)
            saved = (tmp_path / "known_hosts").read_text()
            assert f"[{sb.info.sftp_host}]:{sb.info.sftp_port}" in saved


async def test_cancel_keeps_the_drop_closed_and_does_not_nag(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        app = app_for(account_profile(sb, tmp_path), tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen), "the host-key modal")
            await pilot.press("c")
            await wait_for(pilot, lambda: not isinstance(app.screen, HostKeyScreen), "the modal to close")
            app.drop_pane.refresh_drop()  # what the periodic refresh does
            await pilot.pause(0.5)
            assert not isinstance(app.screen, HostKeyScreen), "a refused key is not asked again by the timer"
            assert not (tmp_path / "known_hosts").exists()
            await pilot.press("R")  # asking explicitly asks again
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen), "the modal on manual refresh")
            assert sum(isinstance(s, HostKeyScreen) for s in app.screen_stack) == 1


async def test_unknown_ftps_certificate_modal_then_accept_saves_to_known_certs(tmp_path: Path) -> None:
    """The same flow on an FTPS drop: the modal shows the certificate's fingerprint and subject."""
    import dataclasses

    from ettui.drop.certs import known_certs_path

    async with Sandbox(SandboxOptions(root=tmp_path / "sb")) as sb:
        info = sb.info
        profile = dataclasses.replace(
            account_profile(sb, tmp_path),
            drop_protocol="ftps",
            ftps_host=info.sftp_host,
            ftps_port=info.ftps_port,
            ftps_username=info.ftps_username,
            ftps_password=SecretSource(literal=info.ftps_password),
        )
        app = app_for(profile, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen), "the certificate modal")
            modal = app.screen
            assert isinstance(modal, HostKeyScreen)
            assert modal.kind == "certificate" and modal.fingerprint == info.ftps_cert_fingerprint
            assert any("ettui sandbox drop" in line for line in modal.details)
            await pilot.press("a")
            await wait_for(pilot, lambda: known_certs_path().exists(), "the certificate to be saved")
            assert f"{info.sftp_host}:{info.ftps_port} {info.ftps_cert_fingerprint}" in known_certs_path().read_text()
            await wait_for(pilot, lambda: bool(app.drop.files) or not isinstance(app.screen, HostKeyScreen), "the drop to load")
