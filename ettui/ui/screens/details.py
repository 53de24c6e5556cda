"""Details of one job: status history, the request (secrets already removed), errors, files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ettui.model import DropFile, Job, JobStatus
from ettui.safetext import clean, clean_text
from ettui.ui.formatting import expiry_at_text, human_size, local_time, since, status_text


def job_summary(job: Job, now: datetime, landed: DropFile | None = None, zone: tzinfo | None = None) -> RenderableType:
    """The job as a two-column table plus its history and request document.

    Every value is a ``Text`` made by :func:`~ettui.safetext.clean_text`: a str
    cell of a Rich table would be parsed as markup, and most of these values
    came from the service.
    """
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()

    def add(label: str, value: str | Text) -> None:
        facts.add_row(label, value if isinstance(value, Text) else clean_text(value))

    add("Batch ID", job.batch_id or "- (none read: Unconfirmed)")
    add("Call", job.call)
    add("Profile", f"{job.profile} ({job.dialect})")
    add("Status", status_text(job.status, job.status_raw))
    if job.status_changed_at is not None:
        # The service's replies carry no time of the change: what ettui has is when its poll saw it.
        noticed = local_time(job.status_changed_at, "%Y-%m-%d %H:%M %Z", zone)
        add("In state", f"{since(job.status_changed_at, now)}, noticed at {noticed} (the service does not say when it changed)")
    add("Submitted", f"{job.submitted_at:%Y-%m-%d %H:%M:%S} UTC ({since(job.submitted_at, now)} ago)")
    if job.submitted_by or job.fetched_by:
        # Written by other hosts of a shared store: shown as plain, safe text (add cleans it).
        add("Who", f"submitted by {job.submitted_by or '?'}" + (f", fetched by {job.fetched_by}" if job.fetched_by else ""))
    if job.params:
        add("Parameters", ", ".join(f"{k}={v}" for k, v in job.params.items()))
    add("File", job.file_name or "-")
    if landed is not None:
        add("In the drop", f"{landed.path} ({human_size(landed.size)})")
        add("Expires", expiry_at_text(landed.expires_at, now, zone))
    elif job.expires_at is not None:
        add("Expires", expiry_at_text(job.expires_at, now, zone))
    if job.download_path:
        add("Downloaded", job.download_path)
    if job.sha256:
        add("SHA-256", job.sha256)
    if job.extract_dir:
        add("Extracted", job.extract_dir)
    if job.status is JobStatus.UNCONFIRMED:
        from ettui.session import unconfirmed_sentence

        sentence = unconfirmed_sentence(job, job.last_error or "no acceptance was read")
        add("Unconfirmed", clean_text(sentence + " (D dismisses, U resubmits.)", multiline=True, style="bold yellow"))
    elif job.last_error:
        failures = f" ({job.poll_failures} polls failed in a row)" if job.poll_failures > 1 else ""
        add("Last error", clean_text(job.last_error + failures, multiline=True, style="bold red"))
    if job.replaces_id is not None:
        add("Resubmits", f"job {job.replaces_id}")
    history = Table(title="Status history", title_justify="left", expand=True, box=None)
    history.add_column("Noticed at (UTC)")  # when the poller saw the change: the reply carries no vendor time
    history.add_column("Status")
    for change in job.history:
        history.add_row(f"{change.at:%Y-%m-%d %H:%M:%S}", status_text(change.status, change.status_raw))
    parts: list[RenderableType] = [facts, Text(""), history]
    if job.request_doc:
        parts += [Text(""), Text("Request (secrets removed)", style="bold")]
        parts.append(
            Syntax(clean(job.request_doc, multiline=True), "xml", word_wrap=True, theme="ansi_dark", background_color="default")
        )
    return Group(*parts)


class JobDetailsScreen(ModalScreen[None]):
    """A job's full story; ``escape`` closes, ``y`` copies the batch ID."""

    DEFAULT_CSS = """
    JobDetailsScreen { align: center middle; }
    JobDetailsScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
        scrollbar-gutter: stable;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Close", id="details.close"),
    ]

    def __init__(
        self, job: Job, now: Callable[[], datetime], landed: DropFile | None = None, zone: tzinfo | None = None
    ) -> None:
        super().__init__()
        self.job = job
        self.now = now
        self.landed = landed
        self.zone = zone

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(job_summary(self.job, self.now(), self.landed, self.zone), id="job-details")
        yield Footer()  # its own: the main screen's footer would offer the panes' keys

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).border_title = clean_text(f"Job {self.job.id}: {self.job.batch_id or 'Unconfirmed'}")
