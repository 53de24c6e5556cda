"""Synthetic, deterministic output files for the sandbox's finished jobs.

The vendor never published the record layout inside a bulk-async zip, so the
layout here is our inference (documented in ``docs/sandbox.md``): one XML file
``<exacttarget><{section}><batchid>N</batchid><record>...</record>...``, one
repeating ``record`` element whose children are the columns, the same children
on every record (empty when not applicable).

Everything is streamed: records are generated in chunks and written straight
into ``zipfile.ZipFile.open(name, "w")``, so a file of hundreds of MB never
sits in memory. The same seed and batch ID always give the same bytes.

Generators are pluggable: ``register(kind, generator)`` adds one for a new job
kind (the SOAP tracking extract registers the CSV one below).
"""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

CHUNK_BYTES = 256 * 1024
"""Records are joined into chunks of about this size before each zip write."""

DEFAULT_RECORDS = 200

STATUSES = ("Active", "Unsubscribed", "Undeliverable", "Returned")
"""The four subscriber statuses the vendor documents (spec §3 C3)."""

_FIRST = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
          "Kemal", "Lena", "Marco", "Nadia", "Owen", "Priya", "Quinn", "Rosa", "Sven", "Tara")
_LAST = ("Almeida", "Brooks", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
         "Jansen", "Kowalski", "Larsen", "Moreau", "Nguyen", "Okafor", "Patel", "Rossi", "Schmidt")
_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "corp.example.net")
_CITIES = (("Portland", "OR", "97205"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"),
           ("Boston", "MA", "02108"), ("Chicago", "IL", "60601"), ("Seattle", "WA", "98101"),
           ("Atlanta", "GA", "30303"), ("Indianapolis", "IN", "46204"))
_BOUNCES = ("Hard bounce", "Soft bounce", "Block bounce", "Technical/Other bounce")
_URLS = ("https://www.example.com/spring-sale", "https://www.example.com/account",
         "https://shop.example.com/new-arrivals", "https://www.example.com/unsubscribe-center",
         "https://blog.example.com/tips")

_DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")


@dataclass(frozen=True)
class OutputRequest:
    """What to write for one finished job."""

    kind: str
    """The job kind, e.g. ``tracking-all-jobs`` or ``tracking-extract``."""
    params: Mapping[str, str]
    batch_id: int
    member_id: str
    seed: int
    completed_at: datetime
    member_name: str
    """Name of the (XML) file inside the zip."""
    records: int | None = None
    target_bytes: int | None = None
    """When set, write records until the uncompressed output reaches this size."""

    def rng(self, salt: str = "") -> random.Random:
        """A generator that depends only on the seed, the batch ID and ``salt``."""
        return random.Random(f"{self.seed}:{self.batch_id}:{salt}")


Generator = Callable[[zipfile.ZipFile, OutputRequest], int]
"""Writes the members of one job's zip and returns the number of records."""

_GENERATORS: dict[str, Generator] = {}


def register(kind: str, generator: Generator) -> None:
    """Install (or replace) the generator for a job kind."""
    _GENERATORS[kind] = generator


def write_zip(path: Path, request: OutputRequest) -> int:
    """Write the job's zip to ``path`` (a temporary name: the caller renames it).

    Unknown kinds get tracking events, so a new SOAP extract still has output.
    Returns the number of records written.
    """
    generator = _GENERATORS.get(request.kind, _GENERATORS["tracking-send"])
    # zip64 only when the member could pass 2 GiB; the stdlib refuses otherwise.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as zf:
        return generator(zf, request)


# ---------------------------------------------------------------- helpers


def parse_us_date(text: str | None) -> datetime | None:
    """``M/D/YYYY`` (zero padding and a trailing time allowed) at 00:00 UTC, else None."""
    if not text:
        return None
    match = _DATE_RE.match(text)
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def format_event_date(moment: datetime) -> str:
    """US style with a 12-hour time, as the vendor's other exports write it: ``3/5/2012 2:07:09 PM``."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"


@dataclass
class _Window:
    """The time span events fall in: the request's date range or the week before completion."""

    start: datetime
    seconds: float

    @classmethod
    def for_request(cls, request: OutputRequest, start_key: str = "startdate", end_key: str = "enddate") -> _Window:
        start = parse_us_date(request.params.get(start_key))
        end = parse_us_date(request.params.get(end_key))
        if start and end and end >= start:
            seconds = (end - start).total_seconds() + 86399
            # Activity cannot happen after the export ran: a range ending
            # "today" stops at the completion time, not at midnight.
            limit = (request.completed_at - start).total_seconds()
            return cls(start, max(0.0, min(seconds, limit)))
        end_at = request.completed_at
        return cls(end_at - timedelta(days=7), 7 * 86400.0)

    def pick(self, rng: random.Random) -> str:
        return format_event_date(self.start + timedelta(seconds=int(rng.random() * self.seconds)))


@dataclass
class _Subscribers:
    """A deterministic pool of subscribers; subscriber ``i`` is always the same person."""

    seed: int
    cache: dict[int, tuple[str, str, str, str, tuple[str, str, str]]] = field(default_factory=dict)

    def get(self, index: int) -> tuple[str, str, str, str, tuple[str, str, str]]:
        found = self.cache.get(index)
        if found is None:
            mix = (index * 2654435761 + self.seed * 40503) & 0xFFFFFFFF
            first = _FIRST[mix % len(_FIRST)]
            last = _LAST[(mix >> 5) % len(_LAST)]
            domain = _DOMAINS[(mix >> 11) % len(_DOMAINS)]
            key = f"SUB{100000 + index:08d}"
            email = f"{first}.{last}{index}@{domain}".lower()
            found = (key, email, first, last, _CITIES[(mix >> 15) % len(_CITIES)])
            if len(self.cache) < 200_000:
                self.cache[index] = found
        return found


def _pools(request: OutputRequest, rng: random.Random) -> tuple[list[str], list[str]]:
    """Job IDs and list IDs: the ones the request named, else a few plausible ones."""
    job = request.params.get("job_id")
    jobs = [job] if job else [str(8812000 + rng.randrange(1000)) for _ in range(rng.randint(3, 8))]
    lst = request.params.get("list_id")
    lists = [lst] if lst else [str(40000 + rng.randrange(100)) for _ in range(rng.randint(2, 4))]
    return jobs, lists


def _budget(request: OutputRequest) -> Callable[[int, int], bool]:
    """A predicate ``more(records, bytes)``: keep writing while it is True."""
    if request.target_bytes:
        target = request.target_bytes
        return lambda _records, written: written < target
    limit = request.records if request.records is not None else DEFAULT_RECORDS
    return lambda records, _written: records < limit


# ---------------------------------------------------------------- XML


RowMaker = Callable[[random.Random, int], tuple[str, ...]]


def xml_generator(section: str, fields: tuple[str, ...], rows: Callable[[OutputRequest], RowMaker]) -> Generator:
    """A generator writing one XML file of ``<record>`` elements with ``fields`` as children.

    ``rows(request)`` returns the function that makes record ``i``; values must
    not contain XML specials (they come from fixed pools and numeric IDs).
    """
    opens = tuple(f"<{name}>" for name in fields)
    closes = tuple(f"</{name}>" for name in fields)

    def generate(zf: zipfile.ZipFile, request: OutputRequest) -> int:
        make = rows(request)
        rng = request.rng("records")
        more = _budget(request)
        big = bool(request.target_bytes and request.target_bytes > 1_500_000_000)
        count = written = 0
        with zf.open(request.member_name, "w", force_zip64=big) as out:
            head = (f'<?xml version="1.0" encoding="utf-8"?>\n<exacttarget>\n<{section}>\n'
                    f"<batchid>{request.batch_id}</batchid>\n").encode()
            out.write(head)
            written += len(head)
            while more(count, written):
                parts: list[str] = []
                size = 0
                while size < CHUNK_BYTES and more(count, written + size):
                    values = make(rng, count)
                    record = "<record>" + "".join(
                        o + v + c for o, v, c in zip(opens, values, closes, strict=True)
                    ) + "</record>\n"
                    parts.append(record)
                    size += len(record)
                    count += 1
                data = "".join(parts).encode()
                out.write(data)
                written += len(data)
            out.write(f"</{section}>\n</exacttarget>\n".encode())
        return count

    return generate


TRACKING_FIELDS = ("ClientID", "SubscriberKey", "EmailAddress", "EventType", "EventDate", "JobID",
                   "ListID", "URL", "BounceCategory")
ATTRIBUTE_FIELDS = ("FirstName", "LastName", "City", "State", "PostalCode")


def _tracking_rows(events: tuple[tuple[str, int], ...], attributes: bool,
                   window_keys: tuple[str, str] = ("startdate", "enddate")) -> Callable[[OutputRequest], RowMaker]:
    """Rows of tracking events drawn from ``events`` (name, weight), optionally with attributes."""
    names = [name for name, _ in events]
    weights = [weight for _, weight in events]

    def rows(request: OutputRequest) -> RowMaker:
        setup = request.rng("pools")
        jobs, lists = _pools(request, setup)
        window = _Window.for_request(request, *window_keys)
        people = _Subscribers(request.seed)
        client = request.member_id
        pool = max(10, (request.records or DEFAULT_RECORDS) // 3)

        def make(rng: random.Random, _index: int) -> tuple[str, ...]:
            event = rng.choices(names, weights)[0]
            key, email, first, last, (city, state, postal) = people.get(rng.randrange(pool))
            url = rng.choice(_URLS) if event == "Click" else ""
            bounce = rng.choice(_BOUNCES) if event == "Bounce" else ""
            row = (client, key, email, event, window.pick(rng), rng.choice(jobs), rng.choice(lists), url, bounce)
            return (*row, first, last, city, state, postal) if attributes else row

        return make

    return rows


_ENGAGED = (("Open", 50), ("Click", 25), ("Bounce", 15), ("Unsubscribe", 10))
"""C1/C2: only subscribers who opened, bounced or were undeliverable appear (spec §3 C1)."""
_ALL_EVENTS = (("Sent", 40), ("Open", 30), ("Click", 15), ("Bounce", 8), ("Unsubscribe", 7))
_SENT = (("Sent", 1),)


def _status_rows(request: OutputRequest) -> RowMaker:
    people = _Subscribers(request.seed)
    list_id = request.params.get("list_id", "")
    created = _Window(request.completed_at - timedelta(days=900), 890 * 86400.0)

    def make(rng: random.Random, index: int) -> tuple[str, ...]:
        key, email, *_ = people.get(index)
        status = rng.choices(STATUSES, (85, 8, 4, 3))[0]
        unsub = created.pick(rng) if status == "Unsubscribed" else ""
        return (key, email, status, created.pick(rng), unsub, list_id)

    return make


def _member_rows(request: OutputRequest) -> RowMaker:
    people = _Subscribers(request.seed)
    list_id = request.params.get("list_id", "")
    wanted = request.params.get("search_status", "").strip().lower()
    fixed = next((s for s in STATUSES if s.lower() == wanted), None)
    joined = _Window(request.completed_at - timedelta(days=700), 690 * 86400.0)

    def make(rng: random.Random, index: int) -> tuple[str, ...]:
        key, email, first, last, _ = people.get(index)
        status = fixed or rng.choices(STATUSES, (85, 8, 4, 3))[0]
        return (list_id, key, email, status, joined.pick(rng), first, last)

    return make


register("tracking-all-jobs", xml_generator("tracking", TRACKING_FIELDS + ATTRIBUTE_FIELDS,
                                            _tracking_rows(_ENGAGED, True)))
register("tracking-all-jobs-enterprise", xml_generator("tracking", TRACKING_FIELDS + ATTRIBUTE_FIELDS,
                                                       _tracking_rows(_ENGAGED, True)))
register("tracking-send", xml_generator("tracking", TRACKING_FIELDS, _tracking_rows(_ALL_EVENTS, False)))
register("tracking-send-attributes", xml_generator("tracking", TRACKING_FIELDS + ATTRIBUTE_FIELDS,
                                                   _tracking_rows(_ALL_EVENTS, True)))
register("sent-send", xml_generator("tracking", TRACKING_FIELDS, _tracking_rows(_SENT, False)))
register("sent-send-attributes", xml_generator("tracking", TRACKING_FIELDS + ATTRIBUTE_FIELDS,
                                               _tracking_rows(_SENT, True)))
register("subscriber-statuses", xml_generator(
    "subscriber", ("SubscriberKey", "EmailAddress", "Status", "DateCreated", "DateUnsubscribed", "ListID"),
    _status_rows))
register("list-members", xml_generator(
    "list", ("ListID", "SubscriberKey", "EmailAddress", "Status", "DateJoined", "FirstName", "LastName"),
    _member_rows))


# ---------------------------------------------------------------- CSV (SOAP tracking extract)


EXTRACT_FILES = (
    # (zip member, Extract* parameter, event type, extra columns)
    ("Sent.csv", "ExtractSent", "Sent", ()),
    ("Opens.csv", "ExtractOpens", "Open", ()),
    ("Clicks.csv", "ExtractClicks", "Click", ("URL",)),
    ("Bounces.csv", "ExtractBounces", "Bounce", ("BounceCategory",)),
    ("Unsubs.csv", "ExtractUnsubs", "Unsubscribe", ()),
)
EXTRACT_COLUMNS = ("ClientID", "SendID", "SubscriberKey", "EmailAddress", "SubscriberID", "ListID",
                   "EventDate", "EventType")


def _flag(params: Mapping[str, str], name: str) -> bool:
    """An ``Extract*`` switch; absent means on, matched case-insensitively like the vendor's mixed case."""
    for key, value in params.items():
        if key.lower() == name.lower():
            return value.strip().lower() in ("true", "1", "yes")
    return True


def _extract_generator(zf: zipfile.ZipFile, request: OutputRequest) -> int:
    """The tracking extract: one CSV per event type, as the real extract writes (spec §5.4)."""
    files = [f for f in EXTRACT_FILES if _flag(request.params, f[1])] or [EXTRACT_FILES[0]]
    setup = request.rng("pools")
    send_ids = [s.strip() for s in request.params.get("SendIDs", "").split(",") if s.strip().isdigit()]
    jobs, lists = _pools(request, setup)
    jobs = send_ids or jobs
    window = _Window.for_request(request, "StartDate", "EndDate")
    people = _Subscribers(request.seed)
    total = 0
    share = len(files)
    for member, _flag_name, event, extra in files:
        rng = request.rng(member)
        per_file = OutputRequest(
            kind=request.kind, params=request.params, batch_id=request.batch_id, member_id=request.member_id,
            seed=request.seed, completed_at=request.completed_at, member_name=member,
            records=None if request.records is None else max(1, request.records // share),
            target_bytes=None if request.target_bytes is None else max(1, request.target_bytes // share),
        )
        more = _budget(per_file)
        count = written = 0
        with zf.open(member, "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(EXTRACT_COLUMNS + extra)
            while more(count, written):
                index = rng.randrange(max(10, (per_file.records or DEFAULT_RECORDS)))
                key, email, *_ = people.get(index)
                row = [request.member_id, rng.choice(jobs), key, email, str(1000000 + index),
                       rng.choice(lists), window.pick(rng), event]
                if extra == ("URL",):
                    row.append(rng.choice(_URLS))
                elif extra:
                    row.append(rng.choice(_BOUNCES))
                writer.writerow(row)
                written += sum(len(v) for v in row) + len(row)
                count += 1
            text.flush()
            text.detach()
        total += count
    return total


register("tracking-extract", _extract_generator)


def iter_kinds() -> Iterator[str]:
    """The job kinds with a registered generator."""
    return iter(sorted(_GENERATORS))
