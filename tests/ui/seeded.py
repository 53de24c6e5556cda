"""A deterministic app for snapshot tests: a seeded job store, a stopped clock, a fixed drop.

The session is a real ``Session`` (real catalogue, validation and preview, a
real SQLite store) whose poller is not started and whose clock never moves;
the drop listing is a fixed list, so no port, fingerprint, temp path or
wall-clock time reaches the screen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ettui.clock import ManualClock
from ettui.config import Config, Profile, SecretSource, UiSettings
from ettui.jobs.store import JobStore
from ettui.model import DropFile, JobStatus, Progress
from ettui.ui.app import EttuiApp
from ettui.ui.widgets.drop_pane import DropPane

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
RETENTION = timedelta(hours=72)

# (batch id, call, submitted before NOW, final status raw, minutes to finish, error)
JOBS = [
    ("553201", "C1", timedelta(hours=77), "Complete", 10, None),
    ("553202", "C2", timedelta(hours=71, minutes=20), "Complete", 12, None),
    ("553203", "C4", timedelta(hours=66, minutes=15), "Complete", 9, None),
    ("553204", "C5", timedelta(hours=3), "Complete", 6, None),
    ("553205", "C3", timedelta(hours=2), "Error", 4, "List 999 does not exist in this account."),
    ("553206", "C1", timedelta(minutes=20), "Processing", 3, None),
    ("553207", "C6", timedelta(minutes=4), "Pending review", 1, None),
    ("553208", "C7", timedelta(minutes=2), "Scheduled", 0, None),
]


def many_jobs(count: int) -> list[tuple[str, str, timedelta, str, int, str | None]]:
    """``count`` jobs: the eight above and Complete ones spread over the last 70 hours."""
    extra = [
        (f"5533{i:02d}", "C1" if i % 3 else "C2", timedelta(hours=70 - i * 2, minutes=i), "Complete", 5 + i, None)
        for i in range(max(0, count - len(JOBS)))
    ]
    return JOBS + extra


def file_name(batch_id: str, finished: datetime) -> str:
    return f"bulkasync_10012345_{finished:%Y%m%d%H%M%S}_{batch_id[-1]}.zip"


def seed_store(path: Path, profile: str = "acme", jobs: int = len(JOBS), files_wanted: int = 0) -> list[DropFile]:
    """Write the jobs above into a store; return the drop listing that goes with them.

    ``jobs`` above eight adds Complete jobs (:func:`many_jobs`); ``files_wanted``
    pads the listing with Export-folder files of long names, not linked to jobs.
    """
    files: list[DropFile] = []
    with JobStore(path) as store:
        for batch_id, call, ago, raw, minutes, error in many_jobs(jobs):
            submitted = NOW - ago
            job = store.add(
                profile=profile, dialect="xml", call=call, batch_id=batch_id, submitted_at=submitted,
                request_doc=f"<exacttarget><authorization><username>ops</username></authorization><!-- {call} --></exacttarget>",
                params={"start_date": "2/1/2026", "end_date": "3/1/2026"},
            )
            status = JobStatus.parse(raw)
            if status is JobStatus.SCHEDULED:
                store.record_poll(job.id, at=NOW - timedelta(seconds=20), next_at=NOW + timedelta(seconds=40))
                continue
            finished = submitted + timedelta(minutes=minutes)
            name = file_name(batch_id, finished) if status is JobStatus.COMPLETE else None
            next_at = None if status.terminal else NOW + timedelta(seconds=25 + minutes)
            store.record_status(job.id, status, raw, finished, file_name=name, message=error, next_poll=(next_at, next_at))
            if name is not None:
                expires = finished + RETENTION
                size = 2_400_000 + 1000 * minutes
                files.append(DropFile("/" + name, size, finished, expires, job.id, batch_id, listed=expires > NOW))
    files.append(
        DropFile("/Export/tracking_weekly.zip", 18_200_000, NOW - timedelta(days=2), NOW + timedelta(days=19), None, None)
    )
    for i in range(max(0, files_wanted - len(files))):
        mtime = NOW - timedelta(days=1, hours=i)
        name = f"/Export/tracking_extract_weekly_{i:02d}_all_subscribers.zip"
        files.append(DropFile(name, 1_000_000 + i, mtime, mtime + timedelta(days=21), None, None))
    return sorted(files, key=lambda f: f.expires_at)


class SeededDropPane(DropPane):
    """The Drop pane on a fixed listing: ``refresh_drop`` shows it (no drop is ever contacted)."""

    def refresh_drop(self, manual: bool = False) -> None:  # type: ignore[override]
        # A stand-in for a session that polled and listed at NOW: the status line shows both connected.
        app = self.app
        assert isinstance(app, SeededApp)
        app.api_health.ok(NOW)
        self.drop_health.ok(NOW)
        app.update_status_line()
        self._announce_landed(app.files)
        self.browser.load(app.files)
        self.post_message(self.Listed(self, app.files))
        running = next(f for f in app.files if f.batch_id == "553204")
        self.browser.update_transfer(running.path, state="downloading", progress=Progress(1_150_000, 2_406_000, 820_000.0))


class SeededApp(EttuiApp):
    """The real app on the seeded store; the Drop pane's ``refresh_drop`` shows the fixed listing."""

    DROP_PANE = SeededDropPane

    def __init__(self, tmp_path: Path, files: list[DropFile], ui: UiSettings | None = None) -> None:
        profile = Profile(
            name="acme", endpoint="https://api.example.invalid/integrate.aspx", api_username="ops",
            api_password=SecretSource(literal="not-used"), sftp_host="drop.example.invalid",
        )
        config = Config(path=tmp_path / "none.toml", exists=True, default_profile="acme",
                        profiles={"acme": profile}, ui=ui or UiSettings(expiring_soon_hours=0))
        self.files = files

        async def factory():  # type: ignore[no-untyped-def]
            from ettui.session import Session

            return await Session.open(config, store_path=tmp_path / "jobs.sqlite3", clock=ManualClock(NOW), start_poller=False)

        super().__init__(config, session_factory=factory, activity_path=None)


def seeded_app(tmp_path: Path, jobs: int = len(JOBS), files: int = 0, ui: UiSettings | None = None) -> SeededApp:
    """The seeded app; ``jobs`` and ``files`` ask for a fuller board and drop (25 and 25 in the issue)."""
    listing = seed_store(tmp_path / "jobs.sqlite3", jobs=jobs, files_wanted=files)
    return SeededApp(tmp_path, listing, ui)


def sample_output(path: Path, records: int = 60) -> Path:
    """A small bulk-async style XML output with fixed content."""
    events = ["Sent", "Open", "Click", "Bounce", "Unsubscribe"]
    rows = []
    for i in range(records):
        rows.append(
            f"<Record><ClientID>10012345</ClientID><SubscriberKey>SUB{i:06d}</SubscriberKey>"
            f"<EmailAddress>user{i}@example.com</EmailAddress><EventType>{events[i % 5]}</EventType>"
            f"<EventDate>3/{1 + i % 4}/2026 {1 + i % 12}:{i % 60:02d}:00 PM</EventDate><JobID>88{i % 7}1</JobID></Record>"
        )
    path.write_text('<?xml version="1.0" encoding="utf-8"?><Records>' + "".join(rows) + "</Records>", encoding="utf-8")
    return path
