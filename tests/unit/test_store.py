"""The job store in one process: schema, migrations, round trips, filters."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ettui.jobs.store import MIGRATIONS, SCHEMA_VERSION, JobStore, StoreError, from_text, to_text
from ettui.model import JobStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add(store: JobStore, batch_id: str, *, profile: str = "main", at: datetime = T0, call: str = "C1"):
    return store.add(
        profile=profile,
        dialect="xml",
        call=call,
        batch_id=batch_id,
        submitted_at=at,
        request_doc="<exacttarget><authorization><username>u</username></authorization></exacttarget>",
        params={"StartDate": "1/1/2026"},
    )


@pytest.fixture
def store(tmp_path: Path):
    with JobStore(tmp_path / "jobs.sqlite3") as s:
        yield s


def test_new_file_is_wal_at_current_version_and_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jobs.sqlite3"
    with JobStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert path.stat().st_mode & 0o077 == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_add_round_trips_every_field(store: JobStore) -> None:
    job = add(store, "552210")
    again = store.get(job.id)
    assert again == job
    assert job.profile == "main" and job.dialect == "xml" and job.call == "C1"
    assert job.submitted_at == T0 and job.submitted_at.tzinfo is not None
    assert job.status is JobStatus.SCHEDULED and job.status_changed_at == T0
    assert job.params == {"StartDate": "1/1/2026"}
    assert [h.status for h in job.history] == [JobStatus.SCHEDULED]


def test_duplicate_batch_in_one_profile_is_refused_but_other_profiles_may_share(store: JobStore) -> None:
    add(store, "7")
    add(store, "7", profile="other")
    with pytest.raises(StoreError, match="already has a job with batch ID 7"):
        add(store, "7")


def test_naive_times_are_refused(store: JobStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        add(store, "1", at=datetime(2026, 1, 1))


def test_time_text_is_fixed_width_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    text = to_text(datetime(2026, 1, 1, 14, 0, tzinfo=plus2))
    assert text == "2026-01-01T12:00:00.000000+00:00"
    assert from_text(text) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_record_status_appends_history_only_when_raw_status_changes(store: JobStore) -> None:
    job = add(store, "1")
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (5, 10, 15))
    job, changed = store.record_status(job.id, JobStatus.SCHEDULED, "Scheduled", t1)
    assert not changed and len(job.history) == 1
    job, changed = store.record_status(job.id, JobStatus.PROCESSING, "Processing", t2)
    assert changed and job.status_changed_at == t2
    # an unknown status whose wording changes is still a change
    job, changed = store.record_status(job.id, JobStatus.UNKNOWN, "Held", t3)
    assert changed
    job, changed = store.record_status(job.id, JobStatus.UNKNOWN, "Held", t3 + timedelta(seconds=1))
    assert not changed and job.status_changed_at == t3
    assert [h.status_raw for h in job.history] == ["Scheduled", "Processing", "Held"]
    assert [h.at for h in job.history] == [T0, t2, t3]


def test_record_status_keeps_file_name_and_error_message(store: JobStore) -> None:
    job = add(store, "1")
    job, _ = store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0, file_name="bulkasync_1_2_1.zip")
    job, _ = store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0)
    assert job.file_name == "bulkasync_1_2_1.zip"
    assert store.find_by_file("bulkasync_1_2_1.zip") == job
    assert store.find_by_file("bulkasync_1_2_1.zip", profile="other") is None
    other = add(store, "2")
    other, _ = store.record_status(other.id, JobStatus.ERROR, "Error", T0, message="No data for range")
    assert other.last_error == "No data for range"


def test_record_poll_download_extract_expiry(store: JobStore) -> None:
    job = add(store, "1")
    store.record_poll(job.id, at=T0, next_at=T0 + timedelta(seconds=5), error="Connection failed")
    got = store.get(job.id)
    assert got is not None
    assert (got.last_poll_at, got.next_poll_at, got.last_error) == (T0, T0 + timedelta(seconds=5), "Connection failed")
    store.record_poll(job.id, at=T0 + timedelta(seconds=5), next_at=None)
    store.record_download(job.id, path=Path("/tmp/x.zip"), sha256="ab" * 32)
    store.record_extract(job.id, path="/tmp/x")
    store.set_expires(job.id, T0 + timedelta(hours=72))
    got = store.get(job.id)
    assert got is not None
    assert got.next_poll_at is None and got.last_error is None
    assert (got.download_path, got.sha256, got.extract_dir) == ("/tmp/x.zip", "ab" * 32, "/tmp/x")
    assert got.expires_at == T0 + timedelta(hours=72)
    with pytest.raises(KeyError):
        store.record_poll(999, at=T0, next_at=None)
    with pytest.raises(KeyError):
        store.record_status(999, JobStatus.COMPLETE, "Complete", T0)


def test_find_prefers_profile_and_newest(store: JobStore) -> None:
    old = add(store, "42", profile="a", at=T0)
    new = add(store, "42", profile="b", at=T0 + timedelta(hours=1))
    assert store.find("42") == new
    assert store.find("42", profile="a") == old
    assert store.find("nope") is None
    assert store.get(12345) is None


def test_list_filters_order_and_paging(store: JobStore) -> None:
    for i in range(10):
        job = add(store, str(i), profile="a" if i % 2 else "b", at=T0 + timedelta(minutes=i))
        if i % 3 == 0:
            store.record_status(job.id, JobStatus.COMPLETE, "Complete", T0)
    ids = lambda jobs: [j.batch_id for j in jobs]  # noqa: E731
    assert ids(store.list()) == [str(i) for i in range(9, -1, -1)]
    assert ids(store.list(order="submitted_at asc", limit=3, offset=2)) == ["2", "3", "4"]
    assert ids(store.list(status=JobStatus.COMPLETE)) == ["9", "6", "3", "0"]
    assert ids(store.list(status=[JobStatus.COMPLETE, "Scheduled"], profile="a")) == ["9", "7", "5", "3", "1"]
    assert ids(store.list(since=T0 + timedelta(minutes=7))) == ["9", "8", "7"]
    assert store.count() == 10 and store.count(status=JobStatus.COMPLETE, profile="b") == 2
    assert store.count(status=[]) == 0
    assert ids(store.live(profile="a")) == ["1", "5", "7"]
    assert all(j.history == [] for j in store.list())
    with pytest.raises(ValueError, match="cannot order jobs by"):
        store.list(order="status; DROP TABLE jobs")


def _make_v1_file(path: Path) -> None:
    """A file as the first release left it: only MIGRATIONS[0] applied, one job in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO jobs (profile, dialect, call, batch_id, submitted_at, status, status_raw, request_doc, "
        "params_json, file_name) VALUES ('main', 'xml', 'C3', '9001', ?, 'Complete', 'Complete', '<x/>', "
        "'{\"ListID\": \"5\"}', 'bulkasync_9_1_1.zip')",
        (to_text(T0),),
    )
    conn.execute("INSERT INTO status_history (job_id, at, status, status_raw) VALUES (1, ?, 'Complete', 'Complete')",
                 (to_text(T0),))
    conn.close()


def test_v1_file_is_migrated_keeping_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    _make_v1_file(path)
    with JobStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        job = store.find("9001")
        assert job is not None
        assert job.params == {"ListID": "5"} and job.status is JobStatus.COMPLETE
        assert job.extract_dir is None  # the v2 column exists and is empty
        store.record_extract(job.id, path="/x")
        assert job.file_name and store.find_by_file(job.file_name) is not None
    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert {"jobs_status", "jobs_profile", "jobs_submitted", "jobs_batch", "jobs_file"} <= indexes  # v2
    assert {"jobs_live", "jobs_profile_status", "jobs_expires"} <= indexes  # v3
    # reopening an up-to-date file changes nothing
    with JobStore(path) as store:
        assert store.count() == 1


def test_listing_uses_indexes_not_scans(store: JobStore) -> None:
    plan = lambda sql: " ".join(r[3] for r in store._conn.execute("EXPLAIN QUERY PLAN " + sql))  # noqa: E731
    assert "jobs_status" in plan("SELECT * FROM jobs WHERE status IN ('Complete') ORDER BY submitted_at DESC LIMIT 50")
    assert "jobs_batch" in plan("SELECT * FROM jobs WHERE batch_id = '1'")
    assert "jobs_file" in plan("SELECT * FROM jobs WHERE file_name = 'x'")
    assert "jobs_submitted" in plan("SELECT * FROM jobs ORDER BY submitted_at DESC LIMIT 50")
    assert "jobs_profile_status" in plan("SELECT count(*) FROM jobs WHERE profile = 'a' AND status IN ('Error')")
    assert "jobs_expires" in plan("SELECT * FROM jobs ORDER BY expires_at LIMIT 50")
    store.live()  # INDEXED BY jobs_live: SQLite raises if the partial index stopped matching
    store.live("a")


def test_file_from_a_newer_ettui_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer ettui"):
        JobStore(path)


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite file"):
        JobStore(path)


def test_drop_listing_lookup_uses_the_file_name_index(store: JobStore) -> None:
    # INDEXED BY jobs_file: SQLite raises if the query stopped using the index.
    assert store.find_by_files(["a", "b"], "main") == {}
    for n, at in enumerate([T0, T0 + timedelta(hours=1)]):
        job = add(store, str(n), at=at)
        store.record_status(job.id, JobStatus.COMPLETE, "Complete", at, file_name="same.zip")
    assert store.find_by_files(["same.zip"], "main")["same.zip"].batch_id == "1", "the newest job wins"
