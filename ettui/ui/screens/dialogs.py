"""Small modal screens: confirm a destructive action, trust an unknown host key.

Questions name remote things (a folder named after a drop file, a host), so
every text here is a ``Text`` from :func:`ettui.safetext.clean_text`, never markup.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from ettui.safetext import clean_text

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 95%; height: auto;
    border: thick $accent; background: $surface; padding: 1 2;
}}
{name} .dialog-title {{ text-style: bold; margin-bottom: 1; }}
{name} Horizontal {{ height: auto; margin-top: 1; align-horizontal: right; }}
{name} Button {{ margin-left: 1; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """Ask before a destructive action; ``y`` confirms, ``n``/``escape`` cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean_text(self.title_text), classes="dialog-title")
            yield Static(clean_text(self.question, multiline=True))
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no")
        yield Footer()  # its own: the main screen's footer would offer the panes' keys

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HostKeyScreen(ModalScreen[str | None]):
    """Trust on first use: show the drop's SHA-256 fingerprint and ask.

    Dismisses with ``"save"`` (accept and remember), ``"once"`` (this session
    only) or None (cancel).
    """

    DEFAULT_CSS = DIALOG_CSS.format(name="HostKeyScreen") + """
    HostKeyScreen #fingerprint { color: $warning; text-style: bold; margin: 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "choose('save')", "Accept and save", id="hostkey.save"),
        Binding("o", "choose('once')", "Connect once", id="hostkey.once"),
        Binding("escape,c", "choose(None)", "Cancel", id="hostkey.cancel"),
    ]

    def __init__(
        self, host: str, port: int, fingerprint: str, *, kind: str = "host key", details: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.fingerprint = fingerprint
        self.kind = kind
        """``host key`` (SFTP) or ``certificate`` (FTPS)."""
        self.details = details
        """A certificate's subject, issuer and validity (text from the server: shown as plain text)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.kind == "host key":
                yield Label("Unknown host key", classes="dialog-title")
                yield Static(
                    clean_text(
                        f"The drop at {self.host} port {self.port} presented a key that is not in known_hosts. "
                        "Compare this fingerprint with the one your administrator published before trusting it:"
                    )
                )
            else:
                yield Label(f"Unknown {self.kind}", classes="dialog-title")
                yield Static(
                    clean_text(
                        f"The drop at {self.host} port {self.port} presented a TLS {self.kind} that no trusted CA signed "
                        "and ettui has not seen. "
                        "Compare this fingerprint with the one your administrator published before trusting it:"
                    )
                )
            yield Static(clean_text(self.fingerprint), id="fingerprint")
            for line in self.details:
                yield Static(clean_text(line))
            with Horizontal():
                yield Button("Accept and save (a)", id="save", variant="warning")
                yield Button("Connect once (o)", id="once")
                yield Button("Cancel (c)", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)
