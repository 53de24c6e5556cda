"""Details of one job: status history, the request (secrets already removed), errors, files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ettui.model import DropFile, Job, JobStatus
from ettui.safetext import clean_text
from ettui.ui.formatting import expiry_text, human_size, since, status_text


def job_summary(job: Job, now: datetime, landed: DropFile | None = None) -> RenderableType:
    """The job as a two-column table plus its history and request document."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Batch ID", job.batch_id or "- (none read: Unconfirmed)")
    facts.add_row("Call", job.call)
    facts.add_row("Profile", f"{job.profile} ({job.dialect})")
    facts.add_row("Status", status_text(job.status, job.status_raw))
    facts.add_row("Submitted", f"{job.submitted_at:%Y-%m-%d %H:%M:%S} UTC ({since(job.submitted_at, now)} ago)")
    if job.submitted_by or job.fetched_by:
        # Written by other hosts of a shared store: shown as plain, safe text.
        who = f"submitted by {job.submitted_by or '?'}" + (f", fetched by {job.fetched_by}" if job.fetched_by else "")
        facts.add_row("Who", clean_text(who))
    if job.params:
        facts.add_row("Parameters", ", ".join(f"{k}={v}" for k, v in job.params.items()))
    facts.add_row("File", job.file_name or "-")
    if landed is not None:
        facts.add_row("In the drop", f"{landed.path} ({human_size(landed.size)})")
        facts.add_row("Expires", expiry_text(landed.expires_at, now))
    elif job.expires_at is not None:
        facts.add_row("Expires", expiry_text(job.expires_at, now))
    if job.download_path:
        facts.add_row("Downloaded", job.download_path)
    if job.sha256:
        facts.add_row("SHA-256", job.sha256)
    if job.extract_dir:
        facts.add_row("Extracted", job.extract_dir)
    if job.status is JobStatus.UNCONFIRMED:
        from ettui.session import unconfirmed_sentence

        sentence = unconfirmed_sentence(job, job.last_error or "no acceptance was read")
        facts.add_row("Unconfirmed", Text(sentence + " (D dismisses, S resubmits.)", style="bold yellow"))
    elif job.last_error:
        failures = f" ({job.poll_failures} polls failed in a row)" if job.poll_failures > 1 else ""
        facts.add_row("Last error", Text(job.last_error + failures, style="bold red"))
    if job.replaces_id is not None:
        facts.add_row("Resubmits", f"job {job.replaces_id}")
    history = Table(title="Status history", title_justify="left", expand=True, box=None)
    history.add_column("At (UTC)")
    history.add_column("Status")
    for change in job.history:
        history.add_row(f"{change.at:%Y-%m-%d %H:%M:%S}", status_text(change.status, change.status_raw))
    parts: list[RenderableType] = [facts, Text(""), history]
    if job.request_doc:
        parts += [Text(""), Text("Request (secrets removed)", style="bold")]
        parts.append(Syntax(job.request_doc, "xml", word_wrap=True, theme="ansi_dark", background_color="default"))
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

    def __init__(self, job: Job, now: Callable[[], datetime], landed: DropFile | None = None) -> None:
        super().__init__()
        self.job = job
        self.now = now
        self.landed = landed

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(job_summary(self.job, self.now(), self.landed), id="job-details")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).border_title = f"Job {self.job.id}: {self.job.batch_id or 'Unconfirmed'}"
