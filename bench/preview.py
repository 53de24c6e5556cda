"""Output preview and export on a big output zip: first rows, throughput, peak memory.

Run: ``python bench/preview.py [--zip-mb 300] [--dir DIR]``

Builds (once; reused from ``--dir`` when present) an output zip of about
``--zip-mb`` MB compressed, in the sandbox's shape
``<exacttarget><tracking><record><SubscriberKey/>...<EventDate/></record>...``,
streaming the XML straight into the zip. Then each phase runs in its own
subprocess so its peak RSS (``ru_maxrss``) is its own, ``--repeat`` times
interleaved, keeping the fastest run (the machine may be shared):

* ``first``: ``OutputReader(zip).iter_rows(limit=100)``, time to the 100th row.
* ``export``: ``export_csv`` of the whole file.
* ``bare-tag``: the strongest bare baseline, ``lxml.etree.iterparse(member,
  tag="record")`` counting records, clearing each and deleting its previous
  siblings (without that, memory grows with the file).
* ``bare-all``: the common bare loop, ``iterparse(member)`` over every element
  with ``clear()``, counting records.

Ratios are throughput, export over bare (1.0 = as fast as a bare count).
Goals: first rows under 0.5 s, export within 0.8 of the bare parse, peak RSS
under 100 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEMBER = "bulkasync_12345678_20240501101500000_1.xml"
EVENTS = ["Open", "Click", "Bounce", "Sent", "Unsubscribe"]


def build(path: Path, zip_mb: int) -> int:
    """Stream records into ``path`` until it is ``zip_mb`` MB compressed; return the count."""
    rng = random.Random(7)
    count = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        with archive.open(MEMBER, "w", force_zip64=True) as member:
            member.write(b'<?xml version="1.0" encoding="utf-8"?>\n<exacttarget>\n<tracking>\n')
            while archive.fp is not None and archive.fp.tell() < zip_mb * 1_000_000:
                chunk = []
                for _ in range(5000):
                    # f-string fields evaluate left to right: the same rng draws, in the same order.
                    chunk.append(
                        f"<record><SubscriberKey>{rng.getrandbits(64):016x}</SubscriberKey>"
                        f"<EmailAddress>{rng.getrandbits(40):x}@example.com</EmailAddress>"
                        f"<SubscriberID>{rng.getrandbits(30)}</SubscriberID><ListID>{rng.randrange(1000)}</ListID>"
                        f"<SendID>{rng.getrandbits(24)}</SendID>"
                        f"<EventType>{rng.choice(EVENTS)}</EventType><BatchID>{rng.randrange(10**6)}</BatchID>"
                        f"<EventDate>2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                        f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}</EventDate></record>\n"
                    )
                member.write("".join(chunk).encode())
                count += len(chunk)
            member.write(b"</tracking>\n</exacttarget>\n")
    return count


# ------------------------------------------------------------------ phases (subprocess)


def phase_first(zip_path: Path, _tmp: Path) -> dict[str, float]:
    from ettui.output.reader import OutputReader

    start = time.perf_counter()
    rows = list(OutputReader(zip_path).iter_rows(limit=100))
    return {"seconds": time.perf_counter() - start, "rows": len(rows)}


def phase_export(zip_path: Path, tmp: Path) -> dict[str, float]:
    from ettui.output.export import export_csv
    from ettui.output.reader import OutputReader

    dest = tmp / "export.csv"
    start = time.perf_counter()
    rows = export_csv(OutputReader(zip_path), dest)
    seconds = time.perf_counter() - start
    size = dest.stat().st_size
    dest.unlink()
    return {"seconds": seconds, "rows": rows, "csv_bytes": size}


def phase_bare_tag(zip_path: Path, _tmp: Path) -> dict[str, float]:
    from lxml import etree

    start = time.perf_counter()
    count = 0
    with zipfile.ZipFile(zip_path) as archive, archive.open(MEMBER) as member:
        for _event, elem in etree.iterparse(member, tag="record"):
            count += 1
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    return {"seconds": time.perf_counter() - start, "rows": count}


def phase_bare_all(zip_path: Path, _tmp: Path) -> dict[str, float]:
    from lxml import etree

    start = time.perf_counter()
    count = 0
    with zipfile.ZipFile(zip_path) as archive, archive.open(MEMBER) as member:
        for _event, elem in etree.iterparse(member):
            if elem.tag == "record":
                count += 1
            elem.clear(keep_tail=True)
    return {"seconds": time.perf_counter() - start, "rows": count}


PHASES = {"first": phase_first, "export": phase_export, "bare-tag": phase_bare_tag, "bare-all": phase_bare_all}


def run_phase(name: str, zip_path: Path, tmp: Path) -> dict[str, float]:
    """Run one phase in a fresh interpreter and return its figures plus peak RSS."""
    done = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--zip", str(zip_path), "--dir", str(tmp)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip-mb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase, interleaved; the fastest counts")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ettui-bench-preview")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--zip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        figures = PHASES[args.phase](args.zip, args.dir)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    args.dir.mkdir(parents=True, exist_ok=True)
    zip_path = args.dir / f"bulkasync_bench_{args.zip_mb}mb.zip"
    if not zip_path.exists():
        start = time.perf_counter()
        part = zip_path.with_suffix(".part")
        records = build(part, args.zip_mb)
        part.rename(zip_path)
        print(f"built {zip_path} ({records:,} records) in {time.perf_counter() - start:.1f} s")
    with zipfile.ZipFile(zip_path) as archive:
        xml_bytes = archive.getinfo(MEMBER).file_size
    print(f"zip {zip_path.stat().st_size / 1e6:.0f} MB, XML {xml_bytes / 1e6:.0f} MB")

    # Other work on the machine skews any single run; interleave the phases and
    # keep each one's fastest run (peak RSS: the largest seen).
    results: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for name in ("first", "bare-tag", "bare-all", "export"):
            fig = run_phase(name, zip_path, args.dir)
            best = results.setdefault(name, fig)
            best["peak_rss_mb"] = max(best["peak_rss_mb"], fig["peak_rss_mb"])
            if fig["seconds"] < best["seconds"]:
                best["seconds"] = fig["seconds"]
    for name, fig in results.items():
        rate = xml_bytes / fig["seconds"] / 1e6
        print(f"{name:9} {fig['seconds']:8.3f} s  {rate:7.1f} MB/s  rows {int(fig['rows']):>11,}"
              f"  peak RSS {fig['peak_rss_mb']:6.1f} MB")
    export = results["export"]["seconds"]
    first = results["first"]["seconds"]
    peak = max(fig["peak_rss_mb"] for name, fig in results.items() if name in ("first", "export"))
    for base in ("bare-tag", "bare-all"):
        ratio = results[base]["seconds"] / export
        print(f"export vs {base}: {ratio:.2f}  (goal >= 0.8: {'met' if ratio >= 0.8 else 'missed'})")
    print(f"first 100 rows: {first:.3f} s  (goal < 0.5 s: {'met' if first < 0.5 else 'missed'})")
    print(f"peak RSS (reader): {peak:.1f} MB  (goal < 100 MB: {'met' if peak < 100 else 'missed'})")


if __name__ == "__main__":
    main()
