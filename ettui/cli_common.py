"""What every headless command shares: the config and session plumbing, argument helpers, log formatting.

The commands live by concern in ``cli_jobs`` (the API and the job history),
``cli_drop`` (the drop and downloaded files) and ``cli`` (local things, the
parser and ``main``); each imports this module, never ``cli`` (no cycle).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ettui import config as config_mod
from ettui.errors import UsageError
from ettui.model import parse_duration
from ettui.safetext import clean


def parse_age(text: str) -> timedelta:
    """``30m``, ``6h``, ``2d``, ``1w`` -> a timedelta."""
    age = parse_duration(text)
    if age is None:
        raise UsageError(f"--since takes an age like 30m, 6h, 2d or 1w, not {text!r}.")
    return age


# -- session plumbing ------------------------------------------------------------


def load_config(args: argparse.Namespace) -> config_mod.Config:
    path = Path(args.config).expanduser() if args.config else None
    return config_mod.load(path)


async def with_session(args: argparse.Namespace, body: Callable[[Any], Awaitable[int]], **open_kw: Any) -> int:
    from ettui.session import Session

    cfg = load_config(args)
    name = args.profile
    if getattr(args, "api", None):
        import dataclasses

        profile = cfg.with_dialect(name, args.api)
        cfg = dataclasses.replace(cfg, profiles={**cfg.profiles, profile.name: profile})
        name = profile.name
    session = await Session.open(cfg, name, **open_kw)
    try:
        return await body(session)
    finally:
        await session.close()



class SentenceFormatter(logging.Formatter):
    """``ettui: <sentence>``; a traceback never reaches the terminal (ETTUI_DEBUG shows everything)."""

    def __init__(self) -> None:
        super().__init__("ettui: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        # A record may quote a remote value (a batch ID, a reply): one clean line.
        return clean(super().format(record))


class CleanFormatter(logging.Formatter):
    """``ETTUI_DEBUG``'s full records, tracebacks too, with every control made visible."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record), multiline=True)


