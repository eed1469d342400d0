"""The local archive under $SUMMARIZER_HOME: raw responses and normalized papers per day, the dedup index,
the atomic write every stage uses to save, and the locks that keep two runs from writing one day at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from summarizer import SummarizerError
from summarizer.papers import Paper

log = logging.getLogger(__name__)

# Layout:
#   $SUMMARIZER_HOME/archive/YYYY-MM-DD/papers.json      {"date", "source", "fetched_at", "raw", "papers": [...]}
#   $SUMMARIZER_HOME/archive/YYYY-MM-DD/raw-<stamp>/...  the responses that papers.json was built from
#   $SUMMARIZER_HOME/archive/digested.json               {arxiv id: first day it was digested}
#   $SUMMARIZER_HOME/locks/YYYY-MM-DD.lock, index.lock    held while a run writes the day / the shared indexes
# papers.json is the commit point: raw files land in a fresh raw-<stamp>/ first, so a crash or a failed fetch
# leaves the previous papers.json (and the raw dir it names) as they were.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def home() -> Path:
    """$SUMMARIZER_HOME, default ./data."""
    return Path(os.environ.get("SUMMARIZER_HOME") or "data")


def validate_date(date: str) -> str:
    """Return `date` if it is a real YYYY-MM-DD day, else raise; used before any I/O touches the day."""
    if not isinstance(date, str) or not _DATE.match(date):
        raise SummarizerError(f"The date {date!r} is not of the form YYYY-MM-DD.")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise SummarizerError(f"The date {date!r} is not a real calendar day.") from None
    return date


# UTC+14 is the earliest time zone: a day that has begun nowhere on Earth has no Daily Papers list yet.
_EARLIEST_ZONE = dt.timezone(dt.timedelta(hours=14))


def validate_day(date: str, now: dt.datetime | None = None) -> str:
    """`validate_date`, and the day has begun somewhere; the CLI and the fetch call it before any I/O."""
    validate_date(date)
    today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(_EARLIEST_ZONE).date()
    if dt.date.fromisoformat(date) > today:
        raise SummarizerError(f"The date {date} is in the future; there is no Daily Papers list for it yet.")
    return date


def lock_timeout() -> float:
    """Seconds a run waits for another one holding its day before giving up: SUMMARIZER_LOCK_TIMEOUT, default 600."""
    try:
        return float(os.environ.get("SUMMARIZER_LOCK_TIMEOUT") or 600)
    except ValueError:
        raise SummarizerError("The environment variable SUMMARIZER_LOCK_TIMEOUT must be a number of seconds.") from None


@contextlib.contextmanager
def _locked(name: str, what: str, home_dir: Path | None, timeout: float | None) -> Iterator[None]:
    path = (home_dir or home()) / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One lock object per path in a process (is_singleton): a run that already holds it re-enters instead of
    # waiting for itself (digest holds the day while its fetch takes it again).
    lock = FileLock(path, is_singleton=True)
    wait = lock_timeout() if timeout is None else timeout
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("warning: another run is writing %s (lock %s); waiting up to %g s for it.", what, path, wait)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise SummarizerError(
                f"Another summarizer run is still writing {what} after {wait:g} s (lock file {path}); try again "
                "when it has finished, or set SUMMARIZER_LOCK_TIMEOUT to wait longer."
            ) from None
    try:
        yield
    finally:
        lock.release()


def day_lock(date: str, home_dir: Path | None = None, timeout: float | None = None):
    """Held while a run writes a day (its archive, digests and sidecars): a second run waits, then fails clearly."""
    return _locked(validate_date(date), f"the day {date}", home_dir, timeout)


def index_lock(home_dir: Path | None = None, timeout: float | None = None):
    """Held while the indexes every day shares (digested.json, digests/README.md) are read and rewritten."""
    return _locked("index", "the digests index", home_dir, timeout)


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temp file in the same directory, fsync, then os.replace: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; digests and cards are meant to be shared like any file
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every filesystem allows fsync on a directory
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def day_dir(date: str, home_dir: Path | None = None) -> Path:
    return (home_dir or home()) / "archive" / validate_date(date)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SummarizerError(f"The archive file {path} cannot be read ({exc}); remove it or fetch with --refresh.") from None


def load_record(date: str, home: Path | None = None) -> dict | None:
    """The archived papers.json of `date` (papers still as dicts) or None when the day was never fetched."""
    record = _read_json(day_dir(date, home) / "papers.json")
    if record is not None and not (isinstance(record, dict) and isinstance(record.get("papers"), list)):
        raise SummarizerError(f"The archive file for {date} has an unexpected shape; fetch it again with --refresh.")
    return record


def load_papers(date: str, home: Path | None = None) -> list[Paper] | None:
    """The archived Papers of `date` in stored order, or None when the day was never fetched."""
    record = load_record(date, home)
    return None if record is None else [Paper.from_dict(d) for d in record["papers"]]


def save_day(date: str, source: str, papers: list[Paper], raw: dict[str, bytes], home: Path | None = None,
             fetched_at: str | None = None, earlier_raw: tuple[str, ...] = ()) -> Path:
    """Archive one fetch: the raw responses (name → bytes), then papers.json naming them; returns papers.json.

    earlier_raw: raw dirs of earlier fetches whose papers were merged into `papers`; they are kept and named."""
    d = day_dir(date, home)
    fetched_at = fetched_at or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    d.mkdir(parents=True, exist_ok=True)
    raw_dir = Path(tempfile.mkdtemp(dir=d, prefix="raw-" + fetched_at.replace(":", "").replace("-", "") + "-"))
    for name, body in raw.items():
        write_atomic(raw_dir / Path(name).name, body)
    record = {
        "date": date,
        "source": source,
        "fetched_at": fetched_at,
        "raw": raw_dir.name,
        "earlier_raw": list(earlier_raw),  # the answers of earlier fetches still behind some papers (a refresh merges)
        # repeat_of is derived from the dedup index at load time, never stored.
        "papers": [p.replace(repeat_of=None).to_dict() for p in papers],
    }
    out = d / "papers.json"
    write_atomic(out, json.dumps(record, ensure_ascii=False, indent=1))
    for old in d.glob("raw-*"):  # only after the commit above: the raw dirs no papers.json names any more
        if old.is_dir() and old.name != raw_dir.name and old.name not in earlier_raw:
            shutil.rmtree(old, ignore_errors=True)
    return out


def _index_path(home_dir: Path | None) -> Path:
    return (home_dir or home()) / "archive" / "digested.json"


def _load_index(home_dir: Path | None) -> dict[str, str]:
    index = _read_json(_index_path(home_dir))
    return index if isinstance(index, dict) else {}


def mark_digested(date: str, ids, home: Path | None = None) -> None:
    """Record that the papers `ids` were digested on `date`; a paper keeps the earliest day it was digested."""
    validate_date(date)
    with index_lock(home):  # read-modify-write: two days digested at once must not drop each other's ids
        index = _load_index(home)
        changed = False
        for pid in ids:
            if pid not in index or date < index[pid]:
                index[pid] = date
                changed = True
        if changed:
            write_atomic(_index_path(home), json.dumps(dict(sorted(index.items())), indent=1))


def digested_before(date: str, home: Path | None = None) -> dict[str, str]:
    """{arXiv id: earlier day} for every paper digested on a day before `date`."""
    validate_date(date)
    return {pid: day for pid, day in _load_index(home).items() if isinstance(day, str) and day < date}
