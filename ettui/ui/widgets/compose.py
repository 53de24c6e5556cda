"""The Compose pane: pick a call, fill its parameters, see the exact request, submit.

Validation runs on every keystroke through ``Session.validate`` (the API
layer owns the rules; this pane only shows them): the field at fault gets a
red border and the sentence under it. The preview is ``Session.preview``,
which masks the password; while the form is invalid the last valid document
of the same call stays on show, dimmed, else a muted line says when it comes. Dates accept ``M/D/YYYY``, ``YYYY-MM-DD``,
``today``, ``yesterday``, ``-7d`` and ``-2w``.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, Select, Static

from ettui.api.base import CallSpec, ParamKind, ParamSpec
from ettui.errors import EttuiError, ValidationError
from ettui.model import BatchRequest
from ettui.safetext import clean, clean_text

PLACEHOLDERS = {
    ParamKind.DATE: "M/D/YYYY, today, -7d",
    ParamKind.DATETIME: "M/D/YYYY h:mm",
    ParamKind.INT: "a number",
    ParamKind.BOOL: "true / false",
}


NO_PREVIEW = "The request document appears here once the request is valid."
PREVIEW_TITLE = "Request (password masked)"
STALE_TITLE = "Last valid request (stale)"

SAMPLES = {ParamKind.DATE: "today", ParamKind.DATETIME: "today", ParamKind.INT: "1", ParamKind.BOOL: "true", ParamKind.TEXT: "x"}
"""Stand-ins for unfilled required fields while probing the fields already typed."""


def _xml(document: str) -> Syntax:
    # Never wrapped: the preview is the exact document, so long lines scroll sideways instead.
    return Syntax(clean(document, multiline=True), "xml", word_wrap=False, theme="ansi_dark", background_color="default")


class RequestChecker(Protocol):
    """The part of ``Session`` this pane uses."""

    def calls(self) -> list[CallSpec]: ...

    def validate(self, request: BatchRequest) -> None: ...

    def preview(self, request: BatchRequest) -> str: ...


class ComposePane(VerticalScroll):
    """The request form with live validation and preview."""

    DEFAULT_CSS = """
    ComposePane { padding: 0 1; scrollbar-gutter: stable; scrollbar-size-vertical: 1; }
    ComposePane #params { height: auto; }
    ComposePane .param-label { margin-top: 1; color: $text-muted; }
    ComposePane .param-error { color: $error; height: auto; display: none; }
    ComposePane .param-error.-shown { display: block; }
    ComposePane Input { margin: 0 0; }
    ComposePane Input:focus { background: $primary 35%; text-style: bold; }
    ComposePane Input.-at-fault { background: $error 30%; }
    ComposePane #compose-status { margin-top: 1; height: auto; }
    ComposePane #compose-status.-ok { color: $success; }
    ComposePane #compose-status.-bad { color: $error; }
    ComposePane #submit { margin-top: 1; width: 100%; }
    ComposePane #preview-box {
        margin-top: 1; height: auto; border: round $panel-lighten-2; border-title-color: $text-muted;
        overflow-x: auto; overflow-y: hidden; scrollbar-size-horizontal: 1;
    }
    ComposePane #preview { width: auto; height: auto; }
    ComposePane #preview.-empty { width: 1fr; color: $text-muted; text-style: italic; }
    ComposePane #preview.-stale { text-opacity: 45%; }
    ComposePane #call-help { color: $text-muted; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Jobs", id="compose.leave"),
    ]

    valid: reactive[bool] = reactive(False)
    """Whether the form as typed would be accepted."""

    class SubmitRequested(Message):
        """The user pressed Submit on a valid request."""

        def __init__(self, pane: ComposePane, request: BatchRequest) -> None:
            super().__init__()
            self.pane = pane
            self.request = request

        @property
        def control(self) -> ComposePane:
            """The ComposePane that sent it (so ``@on(..., "#id")`` selects by its id)."""
            return self.pane

    def __init__(self, *, readonly: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.readonly = readonly
        self.checker: RequestChecker | None = None
        self.specs: list[CallSpec] = []
        self.touched: set[str] = set()
        self._submitted_once = False
        self.preview_text = ""
        """The request document as last previewed (password masked)."""
        self._preview_call: str | None = None
        """The call ``preview_text`` belongs to."""
        self._pending_fill: dict[str, str] | None = None
        """Parameters to put in the fields once the chosen call's fields are mounted (a clone)."""

    def compose(self) -> ComposeResult:
        yield Select[str]([], prompt="Choose a call", id="call-select", allow_blank=True, compact=True)
        yield Static("", id="call-help")
        yield Vertical(id="params")
        yield Static("", id="compose-status")
        label = "Submit (read-only)" if self.readonly else "Submit  ctrl+s"
        yield Button(label, id="submit", variant="primary", disabled=True, compact=True)
        with ScrollableContainer(id="preview-box"):
            yield Static(NO_PREVIEW, id="preview", classes="-empty")

    # -- wiring -------------------------------------------------------------

    def attach(self, checker: RequestChecker, call_id: str | None = None) -> None:
        """Use this session's catalogue and rules (called when a session opens)."""
        self.checker = checker
        self.specs = checker.calls()
        select: Select[str] = self.query_one("#call-select", Select)
        select.set_options([(f"{s.id}  {s.name}", s.id) for s in self.specs])
        if self.specs:
            select.value = call_id or self.specs[0].id

    @property
    def spec(self) -> CallSpec | None:
        value = self.query_one("#call-select", Select).value
        for spec in self.specs:
            if spec.id == value:
                return spec
        return None

    @on(Select.Changed, "#call-select")
    async def _call_changed(self) -> None:
        spec = self.spec
        self.touched.clear()
        self._submitted_once = False
        self.preview_text, self._preview_call = "", None
        self.query_one("#call-help", Static).update(clean_text(spec.help if spec else ""))
        params = self.query_one("#params", Vertical)
        await params.remove_children()
        if spec is not None:
            await params.mount_all(self._param_widgets(spec))
        if self._pending_fill is not None:
            self._apply_fill()
        self.revalidate()

    def fill(self, call_id: str, params: dict[str, str]) -> bool:
        """Load a request into the form (clone a job); False when this profile has no such call."""
        if not any(spec.id == call_id for spec in self.specs):
            return False
        self._pending_fill = dict(params)
        select: Select[str] = self.query_one("#call-select", Select)
        if select.value == call_id:
            self._apply_fill()
        else:
            select.value = call_id  # _call_changed fills the fields once they exist
        return True

    def _apply_fill(self) -> None:
        params, self._pending_fill = self._pending_fill or {}, None
        for field in self.query("#params Input").results(Input):
            name = (field.id or "").removeprefix("param-")
            field.value = params.get(name, "")
            self.touched.add(name)
        self.revalidate()

    def _param_widgets(self, spec: CallSpec) -> list[Label | Input | Static]:
        widgets: list[Label | Input | Static] = []
        for param in spec.params:
            mark = " *" if param.required else ""
            widgets.append(Label(clean_text(f"{param.name}{mark}"), classes="param-label"))
            widgets.append(
                Input(
                    value=param.default or "",
                    placeholder=self._placeholder(param),
                    id=f"param-{param.name}",
                    tooltip=clean_text(param.help) if param.help else None,
                    compact=True,
                )
            )
            widgets.append(Static("", id=f"error-{param.name}", classes="param-error"))
        return widgets

    @staticmethod
    def _placeholder(param: ParamSpec) -> str:
        if param.choices:
            return " / ".join(param.choices)
        return PLACEHOLDERS.get(param.kind, param.help[:30])

    def request(self) -> BatchRequest | None:
        """The request as typed (None before a call is chosen)."""
        spec = self.spec
        if spec is None:
            return None
        params: dict[str, str] = {}
        for param in spec.params:
            fields = self.query(f"#param-{param.name}")
            if not fields:
                return None  # the call's fields are being rebuilt (a call change, or the app closing)
            text = fields.first(Input).value.strip()
            if text:
                params[param.name] = text
        return BatchRequest(spec.id, params)

    def clear(self) -> None:
        """Empty every field (``n`` new request)."""
        for field in self.query("#params Input").results(Input):
            field.value = ""
        self.touched.clear()
        self._submitted_once = False
        self.revalidate()

    # -- validation -----------------------------------------------------------

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self.touched.add(event.input.id.removeprefix("param-"))
            self.revalidate()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()

    def revalidate(self) -> None:
        """Check the form now; mark the field at fault and refresh the preview."""
        request = self.request()
        status = self.query_one("#compose-status", Static)
        for field in self.query("#params Input").results(Input):
            field.remove_class("-at-fault")
        for error in self.query(".param-error").results(Static):
            error.update("")
            error.remove_class("-shown")
        if request is None or self.checker is None:
            self.valid = False
            status.update("")
            self._show_preview(None)
            return
        try:
            self._probe(request)
            self.checker.validate(request)
            document = self.checker.preview(request)
        except ValidationError as exc:
            self.valid = False
            errors = self._field_errors(request)
            if exc.param and exc.param not in errors:
                errors[exc.param] = exc.message
            self._show_invalid(exc, errors)
            self._show_preview(None)
            return
        except EttuiError as exc:
            self.valid = False
            status.set_classes("-bad")
            # Error sentences quote what was typed (and what the service said): Text, never markup.
            status.update(clean_text(exc.message))
            self._show_preview(None)
            return
        self.valid = True
        status.set_classes("-ok")
        status.update("✔ Ready to submit." if not self.readonly else "✔ Valid (read-only: submit is off).")
        self._show_preview(document)

    def _show_preview(self, document: str | None) -> None:
        """The document as it would be sent; when invalid, the last valid one of this call, dimmed."""
        preview = self.query_one("#preview", Static)
        box = self.query_one("#preview-box", ScrollableContainer)
        call = self.spec.id if self.spec is not None else None
        if document is not None:
            self.preview_text, self._preview_call = document, call
            preview.set_classes("")
            box.border_title = PREVIEW_TITLE
            preview.update(_xml(document))
        elif self.preview_text and self._preview_call == call:
            preview.set_classes("-stale")
            box.border_title = STALE_TITLE
            preview.update(_xml(self.preview_text))
        else:
            preview.set_classes("-empty")
            box.border_title = None
            preview.update(NO_PREVIEW)

    def _probe(self, request: BatchRequest) -> None:
        """Validate what the user typed so far, with samples in the required fields not yet filled.

        The API reports one problem at a time; without this, a bad start date
        would hide behind "end_date is missing" while the user is still typing.
        """
        spec = self.spec
        if spec is None or self.checker is None:
            return
        params = dict(request.params)
        for param in spec.params:
            if param.required and param.name not in params:
                params[param.name] = SAMPLES.get(param.kind, param.choices[0] if param.choices else "1")
        if params != request.params:
            self.checker.validate(BatchRequest(request.call, params))

    def _field_errors(self, request: BatchRequest) -> dict[str, str]:
        """Every filled field's own problem, each checked alone (samples in the other required fields).

        The API stops at the first problem; checking field by field marks all the bad
        ones at once, so a user fixes them in one pass.
        """
        spec = self.spec
        if spec is None or self.checker is None:
            return {}
        base = {
            p.name: SAMPLES.get(p.kind, p.choices[0] if p.choices else "1") for p in spec.params if p.required
        }
        errors: dict[str, str] = {}
        for param in spec.params:
            value = request.params.get(param.name)
            if value is None:
                continue
            try:
                self.checker.validate(BatchRequest(request.call, {**base, param.name: value}))
            except ValidationError as exc:
                if exc.param == param.name:
                    errors[param.name] = exc.message
            except EttuiError:
                continue
        return errors

    def _show_invalid(self, exc: ValidationError, errors: dict[str, str]) -> None:
        status = self.query_one("#compose-status", Static)
        shown = {name: message for name, message in errors.items() if self._submitted_once or name in self.touched}
        status.set_classes("-bad" if shown or self._submitted_once or exc.param in self.touched else "")
        for name, message in shown.items():
            fields = self.query(f"#param-{name}")
            if not fields:
                continue
            # The sentence goes under the field at fault, once; the status line only points at them.
            fields.first(Input).add_class("-at-fault")  # not "-invalid": Input clears that on blur
            error = self.query_one(f"#error-{name}", Static)
            error.update(clean_text(message))
            error.add_class("-shown")
        if shown:
            status.update(clean_text(f"✖ Fix {', '.join(shown)} (marked above) to submit."))
        elif self._submitted_once or (exc.param is not None and exc.param in self.touched):
            status.update(clean_text(exc.message))
        else:
            status.update(clean_text(f"To do: {exc.message}"))

    def watch_valid(self, valid: bool) -> None:
        self.set_class(valid, "-valid")
        self.query_one("#submit", Button).disabled = self.readonly or not valid

    async def action_leave(self) -> None:
        """Leave the form for the board (digits and letters type into fields here)."""
        await self.app.run_action("focus_pane('jobs')")

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.submit()

    def submit(self) -> bool:
        """Ask the app to submit; with an invalid form, show every problem instead."""
        self._submitted_once = True
        self.revalidate()
        request = self.request()
        if self.readonly or not self.valid or request is None:
            return False
        self.post_message(self.SubmitRequested(self, request))
        return True
