"""The commands of the drop and of downloaded files: ``drop ls``, ``fetch``, ``preview``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ettui.cli_common import SentenceFormatter, load_config, with_session
from ettui.cli_output import ProgressBar, drop_json, print_json, text_table
from ettui.config_model import absolute_time
from ettui.errors import ExitCode, HostKeyUnknown, RemoteFileMissing, ServerIdentityUnknown, ServiceError, UsageError
from ettui.model import Job, JobStatus, format_duration
from ettui.safetext import clean, clean_cells, clean_json


async def cmd_drop(args: argparse.Namespace) -> int:
    async def body(session: Any) -> int:
        files = await _retry_host_key(session, args, session.drop_files)
        now = session.clock.now()
        if args.json:
            print_json([drop_json(f, now) for f in files])
            return ExitCode.OK
        zone = session.config.ui.zone  # [ui] time_zone, else the local zone
        rows: list[tuple[str, ...]] = [("NAME", "SIZE", "AGE", "TIME LEFT", "EXPIRES", "BATCH")]
        for f in files:
            left = f.expiry.time_left(now)
            left_text = "EXPIRED" if left.total_seconds() <= 0 else format_duration(left)
            shown = clean(f.path) + ("" if f.listed else "  (not in drop)")
            rows.append((shown, f"{f.size:,}", format_duration(now - f.mtime), left_text, absolute_time(f.expires_at, zone),
                         f.batch_id or "-"))
        print(text_table(rows))
        return ExitCode.OK

    return await with_session(args, body, start_poller=False, api=False)


async def _retry_host_key(session: Any, args: argparse.Namespace, op: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``op``; on an unknown host key or certificate, accept it only when ``--accept-host-key`` /
    ``--accept-cert`` matches."""
    try:
        return await op()
    except ServerIdentityUnknown as err:
        flag = "--accept-host-key" if isinstance(err, HostKeyUnknown) else "--accept-cert"
        wanted = getattr(args, "accept_host_key", None) if isinstance(err, HostKeyUnknown) else getattr(args, "accept_cert", None)
        if wanted and not isinstance(err, HostKeyUnknown):
            from ettui.drop.certs import normalise_fingerprint

            wanted = normalise_fingerprint(wanted)
        if wanted and wanted == err.fingerprint:
            session.accept_identity(err, save=True)
            return await op()
        hint = f"it does not match {flag}" if wanted else f"check it with the server's admin, then pass {flag} {err.fingerprint}"
        details = "".join(f"\n  {line}" for line in err.description)
        err.message = f"The {err.kind} of {err.host}:{err.port} is unknown ({err.fingerprint}); {hint}.{details}"
        err.args = (err.message,)
        raise err from None


def _say_rates() -> None:
    """On a terminal (beside the progress bar), ``ettui fetch`` says the rate of a large download and what limited it.

    Not when stderr is a file or a pipe (scripts read it for the one error
    sentence), unless ``ETTUI_SHOW_RATE=1`` asks for it (the benchmark does).
    """
    rates = logging.getLogger("ettui.drop.rate")
    wanted = sys.stderr.isatty() or os.environ.get("ETTUI_SHOW_RATE") == "1"
    if wanted and not rates.handlers and not os.environ.get("ETTUI_DEBUG"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SentenceFormatter())
        rates.addHandler(handler)
        rates.setLevel(logging.INFO)
        rates.propagate = False


async def _fetch_target(session: Any, target: str) -> Job | None:
    """The job ``target`` names (a batch ID or its file's name, as ``Session.fetch`` reads it), or None.

    A job the vendor ended in Error is refused here: it will never have a file.
    """
    job: Job | None = await session.find(target)
    if job is None:
        job = await session.store.find_by_file(target.rsplit("/", 1)[-1], profile=session.profile.name)
    if job is None:
        return None
    if job.status is JobStatus.ERROR:
        reason = f" ({job.last_error.rstrip('.')})" if job.last_error else ""
        raise ServiceError(
            f"The vendor reported an error for {job.label}{reason}, so it has no output file and waiting will not help; "
            "check the request, then submit it again.",
            title="Batch failed",
        )
    return job


async def cmd_fetch(args: argparse.Namespace) -> int:
    if not args.json:
        _say_rates()

    async def body(session: Any) -> int:
        dest = Path(args.dest).expanduser() if args.dest else None
        known = await _fetch_target(session, args.target)
        show_bar = sys.stderr.isatty() and not args.json
        bar = ProgressBar() if show_bar else None
        try:
            outcome = await _retry_host_key(
                session,
                args,
                lambda: session.fetch(
                    args.target, dest=dest, extract=not args.no_extract, progress=bar.update if bar else None,
                    retries=args.retries,
                ),
            )
        except RemoteFileMissing as missing:
            if known is not None:
                raise  # the job's file expired or was swept: the drop's own sentence says so
            profile = session.profile.name
            raise RemoteFileMissing(
                f"No job or drop file {args.target} for profile {profile!r}: it is neither a batch ID in the job store "
                "(see `ettui jobs`) nor a file on the drop (see `ettui drop ls`)."
            ) from missing
        finally:
            if bar:
                bar.stop()
        if args.json:
            print_json(
                {
                    "zip_path": str(outcome.zip_path),
                    "sha256": outcome.sha256,
                    "size": outcome.size,
                    "extract_dir": str(outcome.extract_dir) if outcome.extract_dir else None,
                    "files": [str(p) for p in outcome.files],
                    "batch_id": outcome.job.batch_id if outcome.job else None,
                }
            )
        else:
            print(clean(f"downloaded {outcome.zip_path} ({outcome.size:,} bytes, sha256 {outcome.sha256})"))
            for p in outcome.files:
                print(clean(f"extracted  {p}"))
        return ExitCode.OK

    return await with_session(args, body, start_poller=False, api=False)


def cmd_preview(args: argparse.Namespace) -> int:
    from ettui.output import open_output
    from ettui.output.export import format_table

    load_config(args)  # no command starts on a config that `config check` refuses
    path = Path(args.file).expanduser()
    if not path.exists():
        raise UsageError(f"{path} does not exist; pass an extracted XML file or a downloaded zip.")
    reader = open_output(path, args.member)
    if args.format == "table":
        first = list(reader.iter_rows(limit=args.limit or None))
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 160
        print(format_table(first, reader.columns, width))
        return ExitCode.OK
    limit = args.limit or None  # --limit 0: every record
    rows: Iterator[dict[str, str]] = reader.iter_rows(limit=limit)
    # Cells hold subscriber-entered text: to a file or pipe they stay byte-exact
    # (it is data), to a terminal their controls are made visible.
    terminal = sys.stdout.isatty()
    if args.format == "jsonl":
        for row in rows:
            line = json.dumps(row, ensure_ascii=False)
            sys.stdout.write((clean_json(line) if terminal else line) + "\n")
        return ExitCode.OK
    import csv

    if limit is None:
        # Every record to a pipe: a first pass learns every column, a second
        # streams the rows, so memory stays flat and late columns get a header.
        for _ in rows:
            pass
        rows = reader.iter_rows()
    else:
        rows = iter(list(rows))
    columns = reader.columns
    if terminal:
        columns = [clean(c) for c in columns]
        rows = map(clean_cells, rows)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return ExitCode.OK


