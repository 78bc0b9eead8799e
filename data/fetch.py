"""Download the official releases (or a mirror of a data directory) into a local cache.

Every source is described in ``data/sources.yml``: official URL, licence, attribution, the
path it takes in a data directory laid out like ``../shared/data``, and the SHA-256 expected.

Two modes:

* **official** (``base_url=None``): each source with a single-file ``url`` is downloaded from its
  publisher. When the official file is the data file itself (``same_file: true``) it is written
  to ``<cache>/<path>``; otherwise the release (an Excel workbook, a zip, an R file ...) is kept
  as ``<cache>/official/<id>/<file name>`` for a conversion step. Sources with no single-file
  download (paged ArcGIS services, files we derived) are reported as *manual*.
* **mirror** (``base_url="https://host/prefix"``): every source is fetched from
  ``base_url + "/" + path``, i.e. from a server that holds a data directory, and written to
  ``<cache>/<path>``; the file is checked against ``mirror_sha256``.

Downloads are made by `pooch` (``pooch.retrieve`` with its HTTP downloader) into a temporary
folder beside the target; the SHA-256 is checked here (so a mismatch can name both digests) and
the file is renamed into place only after it matched, so a failed or tampered download never
leaves a file in the cache. When no checksum is known the first download's SHA-256 is pinned in
``<cache>/.healthgap-fetch-lock.json`` and later downloads must match it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

import pooch
import requests
import yaml
from healthgap.data._checksum import sha256_file

from healthgap.errors import (
    ChecksumError,
    DownloadError,
    HealthgapError,
    ParameterError,
    ValidationError,
)

__all__ = ["FetchItem", "FetchReport", "LOCK_NAME", "SOURCES_YML", "Source", "fetch",
           "load_sources", "sha256_file"]

logger = logging.getLogger(__name__)

#: The source definitions shipped with healthgap.
SOURCES_YML = Path(__file__).with_name("sources.yml")
#: File in the cache directory that pins the SHA-256 of downloads that had none.
LOCK_NAME = ".healthgap-fetch-lock.json"

_SHA = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16
_REQUIRED = ("id", "title", "publisher", "licence", "attribution", "path", "same_file")


@dataclass(frozen=True)
class Source:
    """One input as described in ``sources.yml``.

    Attributes
    ----------
    id
        Short name (``imd2019_lsoa``).
    title, publisher, licence, attribution
        What it is, who publishes it, under which licence, and the attribution to show.
    path
        Relative path in a data directory laid out like ``../shared/data``.
    url
        Official single-file download, or None when there is none.
    same_file
        True when the official download is the data file itself.
    sha256
        Expected SHA-256 of the official download, or None (pinned on first download).
    mirror_sha256
        SHA-256 of the data-directory file, checked when fetching from a mirror.
    page, api, origin, format, notes
        Landing page, paged query endpoint, the files our copy was made from, format notes.
    """

    id: str
    title: str
    publisher: str
    licence: str
    attribution: str
    path: str
    url: str | None = None
    same_file: bool = False
    sha256: str | None = None
    mirror_sha256: str | None = None
    page: str | None = None
    api: str | None = None
    origin: tuple[str, ...] = ()
    format: str = ""
    notes: str = ""


@dataclass
class FetchItem:
    """What happened to one source.

    Attributes
    ----------
    id
        The source id.
    status
        ``fetched``, ``skipped`` (already present and valid), ``failed`` or ``manual`` (no
        single-file download; see ``message``).
    url
        The URL used (None for manual sources).
    path
        Where the file is (or would be) in the cache.
    sha256
        SHA-256 of the file in the cache, when there is one.
    bytes
        Size of the file in the cache.
    message
        A sentence for the user.
    error
        The exception of a failed source.
    """

    id: str
    status: str
    url: str | None
    path: Path | None
    sha256: str | None = None
    bytes: int = 0
    message: str = ""
    error: HealthgapError | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values (the exception as its message)."""
        return {"id": self.id, "status": self.status, "url": self.url,
                "path": None if self.path is None else str(self.path), "sha256": self.sha256,
                "bytes": self.bytes, "message": self.message}


@dataclass
class FetchReport:
    """What `fetch` did, one item per source requested, in the order requested."""

    cache_dir: Path
    items: list[FetchItem] = field(default_factory=list)

    def _with(self, status: str) -> list[FetchItem]:
        return [i for i in self.items if i.status == status]

    @property
    def fetched(self) -> list[FetchItem]:
        """Sources downloaded in this run."""
        return self._with("fetched")

    @property
    def skipped(self) -> list[FetchItem]:
        """Sources already in the cache with a valid checksum."""
        return self._with("skipped")

    @property
    def failed(self) -> list[FetchItem]:
        """Sources that could not be downloaded or verified."""
        return self._with("failed")

    @property
    def manual(self) -> list[FetchItem]:
        """Sources with no single-file download (see each message)."""
        return self._with("manual")

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise the error of the failed sources (all messages joined) if any failed."""
        if not self.failed:
            return
        first = self.failed[0].error
        kind: type[HealthgapError] = type(first) if first is not None else DownloadError
        lines = "\n".join(f"  - {i.message}" for i in self.failed)
        raise kind(f"{len(self.failed)} source(s) failed:\n{lines}")

    def table(self) -> Any:
        """Return a rich Table: one row per source with its status and what to do about it.

        ``ok`` rows give the file and its SHA-256, ``failed`` rows the reason (a checksum
        mismatch shows the expected and the actual digest), ``manual`` rows where to get it.
        """
        from rich import box
        from rich.table import Table

        table = Table(title=self.summary(), title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("source", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", overflow="fold")
        label = {"fetched": "ok (downloaded)", "skipped": "ok (in cache)"}
        for i in self.items:
            detail = i.message.removeprefix(f"{i.id}: ")
            if i.status in label and i.path is not None:
                detail = f"{i.path}  sha256 {i.sha256}"
            table.add_row(i.id, label.get(i.status, i.status), detail)
        return table

    def summary(self) -> str:
        """One line: counts by status."""
        return (f"{len(self.fetched)} fetched, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed, {len(self.manual)} manual "
                f"(cache {self.cache_dir})")

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {"cache_dir": str(self.cache_dir), "items": [i.to_dict() for i in self.items]}


# --------------------------------------------------------------------------------------------
# sources.yml
# --------------------------------------------------------------------------------------------


def _field_problems(e: dict[str, Any], where: str) -> list[str]:
    """Return the problems with the checksums, URLs and path of one ``sources.yml`` entry."""
    problems: list[str] = []
    for key in ("sha256", "mirror_sha256"):
        v = e.get(key)
        if v is not None and not (isinstance(v, str) and _SHA.match(v)):
            problems.append(f"{where}: {key} must be 64 lower-case hex digits or null, "
                            f"got {v!r}")
    for key in ("url", "api", "page"):
        v = e.get(key)
        if v is not None and urlparse(str(v)).scheme not in ("http", "https"):
            problems.append(f"{where}: {key} must be an http(s) URL or null, got {v!r}")
    rel = PurePosixPath(str(e["path"]))
    if rel.is_absolute() or ".." in rel.parts:
        problems.append(f"{where}: path must be relative without '..', got {e['path']!r}")
    if e.get("same_file") and e.get("url") is None:
        problems.append(f"{where}: same_file is true but url is null")
    if e.get("sha256") is not None and e.get("url") is None:
        problems.append(f"{where}: sha256 is given but url is null")
    return problems


def load_sources(path: str | Path | None = None) -> list[Source]:
    """Read and check ``sources.yml``.

    Parameters
    ----------
    path
        The YAML file; the one shipped in ``data/`` by default.

    Returns
    -------
    list of Source
        In file order.

    Raises
    ------
    ValidationError
        Listing every problem found (missing fields, duplicate ids, malformed checksums, URLs or
        paths).
    """
    path = Path(path) if path is not None else SOURCES_YML
    if not path.is_file():
        raise ValidationError(str(path), ["file not found"])
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(str(path), [f"not valid YAML: {exc}"]) from exc
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValidationError(str(path), ["expected a top-level 'sources:' list"])
    problems: list[str] = []
    out: list[Source] = []
    seen: set[str] = set()
    for k, e in enumerate(entries):
        where = f"entry {k + 1}"
        if not isinstance(e, dict):
            problems.append(f"{where}: expected a mapping, got {type(e).__name__}")
            continue
        sid = e.get("id")
        where = f"entry {k + 1} ({sid!r})"
        missing = [f for f in _REQUIRED if e.get(f) in (None, "")]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if sid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(str(sid))
        problems.extend(_field_problems(e, where))
        origin = e.get("origin") or ()
        if isinstance(origin, str):
            origin = (origin,)
        unknown = set(e) - {f.name for f in Source.__dataclass_fields__.values()}
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            continue
        out.append(Source(**{**e, "id": str(sid), "same_file": bool(e["same_file"]),
                             "origin": tuple(str(o) for o in origin),
                             "notes": str(e.get("notes") or "").strip(),
                             "format": str(e.get("format") or "")}))
    if problems:
        raise ValidationError(str(path), problems)
    return out


# --------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------


def fetch(ids: Iterable[str] | None = None, *, cache_dir: str | Path,
          base_url: str | None = None, force: bool = False, progress: bool = True,
          sources: Sequence[Source] | str | Path | None = None,
          timeout: float = 60.0) -> FetchReport:
    """Download sources into ``cache_dir``, verify their SHA-256 and report what happened.

    Parameters
    ----------
    ids
        Source ids to fetch; all sources when None.
    cache_dir
        Where files go (created if missing). With ``base_url`` the cache is laid out like a
        data directory and can be passed to ``healthgap build --data``.
    base_url
        A mirror of a data directory: every source is fetched from ``base_url/<path>`` instead
        of its official URL and checked against ``mirror_sha256``.
    force
        Download again even when a valid file is present.
    progress
        Show a progress bar (rich) on the terminal.
    sources
        The source definitions: a list, or a path to a YAML file; ``data/sources.yml`` by
        default.
    timeout
        Seconds to wait for the server at each step of a download.

    Returns
    -------
    FetchReport
        One item per requested source: fetched, skipped, failed (with the error naming the
        source id, URL and reason) or manual. Call ``raise_for_failures()`` to turn failures
        into an exception.

    Raises
    ------
    ParameterError
        If an id is unknown or ``base_url`` is not an http(s) URL.
    """
    defs = list(sources) if isinstance(sources, Sequence) and not isinstance(sources, str) \
        else load_sources(sources)
    by_id = {s.id: s for s in defs}
    wanted = list(by_id) if ids is None else list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise ParameterError(f"ids: unknown source id(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(by_id)}")
    if base_url is not None and urlparse(base_url).scheme not in ("http", "https"):
        raise ParameterError(f"base_url={base_url!r}: expected an http(s) URL")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    lock = _Lock(cache / LOCK_NAME)
    report = FetchReport(cache_dir=cache)
    bar = _Progress(enabled=progress)
    with bar:
        for sid in wanted:
            get = _Getter(timeout=timeout, bar=bar)
            item = _fetch_one(get, by_id[sid], cache, base_url, force, lock)
            logger.info("%s: %s %s", item.id, item.status, item.message)
            report.items.append(item)
    lock.save()
    return report


def _plan(src: Source, cache: Path, base_url: str | None) -> tuple[str | None, Path, str | None]:
    """Return (url, target, expected sha256) for one source, url None when manual."""
    if base_url is not None:
        url = base_url.rstrip("/") + "/" + quote(src.path)
        return url, cache / src.path, src.mirror_sha256
    if src.url is None:
        return None, cache / src.path, None
    if src.same_file:
        return src.url, cache / src.path, src.sha256
    name = PurePosixPath(urlparse(src.url).path).name
    if "." not in name:
        name = f"{src.id}.download"
    return src.url, cache / "official" / src.id / name, src.sha256


def _fetch_one(get: _Getter, src: Source, cache: Path, base_url: str | None,
               force: bool, lock: _Lock) -> FetchItem:
    url, target, expected = _plan(src, cache, base_url)
    if url is None:
        where = src.page or "no public page"
        api = f"; paged API: {src.api}" if src.api else ""
        return FetchItem(src.id, "manual", None, target,
                         message=f"{src.id}: no single-file official download; see {where}{api}"
                                 f" (or fetch a data-directory mirror with base_url)")
    pinned = lock.get(url)
    want = expected or pinned
    if target.is_file() and not force:
        got = sha256_file(target)
        if want is None:
            lock.pin(url, src.id, got, target)
            return FetchItem(src.id, "skipped", url, target, got, target.stat().st_size,
                             f"{src.id}: already in the cache; sha256 {got} pinned")
        if got == want:
            return FetchItem(src.id, "skipped", url, target, got, target.stat().st_size,
                             f"{src.id}: already in the cache, sha256 verified")
        logger.warning("%s: %s has sha256 %s, expected %s; downloading again", src.id, target,
                       got, want)
    try:
        got, size = _download(get, src.id, url, target, want,
                              "pinned" if expected is None else "expected")
    except (DownloadError, ChecksumError) as exc:
        if isinstance(exc, ChecksumError) and target.is_file() and sha256_file(target) != want:
            target.unlink()  # never leave a file that does not match in the cache
        return FetchItem(src.id, "failed", url, target, message=str(exc), error=exc)
    if want is None:
        lock.pin(url, src.id, got, target)
    verb = "sha256 verified" if want else "sha256 pinned"
    return FetchItem(src.id, "fetched", url, target, got, size,
                     f"{src.id}: downloaded {size:,} bytes from {url}; {verb}")


def _download(get: _Getter, sid: str, url: str, target: Path, want: str | None,
              kind: str) -> tuple[str, int]:
    """Download ``url`` beside ``target`` (pooch); rename it into place if its SHA-256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", suffix=".part",
                                     dir=target.parent) as tmp:
        got_path = get(sid, url, Path(tmp) / target.name)
        got = sha256_file(got_path)
        size = got_path.stat().st_size
        if want is not None and got != want:
            hint = (f"; if the publisher replaced the file, remove its entry from {LOCK_NAME}"
                    if kind == "pinned" else "")
            raise ChecksumError(
                f"{sid}: sha256 mismatch for {url}: {kind} {want}, got {got} "
                f"({size:,} bytes); the download was discarded{hint}")
        os.replace(got_path, target)
    return got, size


class _Getter:
    """One HTTP download by `pooch.retrieve`, its failures turned into `DownloadError`."""

    def __init__(self, *, timeout: float, bar: _Progress) -> None:
        self.timeout = timeout
        self.bar = bar

    def __call__(self, sid: str, url: str, out: Path) -> Path:
        task = self.bar.start(sid, None)
        downloader = pooch.HTTPDownloader(progressbar=self.bar.pooch_bar(task),
                                          timeout=self.timeout,
                                          headers={"User-Agent": "healthgap-fetch"})
        try:
            path = pooch.retrieve(url, known_hash=None, fname=out.name, path=out.parent,
                                  downloader=downloader)
        except requests.HTTPError as exc:
            r = exc.response
            why = f"HTTP {r.status_code} {r.reason}" if r is not None else str(exc)
            if r is not None:  # pooch leaves a refused response open
                r.close()
            raise DownloadError(f"{sid}: GET {url} failed: {why}") from exc
        except (requests.RequestException, OSError) as exc:
            raise DownloadError(f"{sid}: GET {url} failed: {type(exc).__name__}: "
                                f"{exc}") from exc
        finally:
            self.bar.stop(task)
        return Path(path)


class _Lock:
    """The pinned checksums of downloads that had none in sources.yml."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, str]] = {}
        self.changed = False
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValidationError(str(path), [f"not valid JSON: {exc}"]) from exc
            self.entries = dict(data.get("pinned", {}))

    def get(self, url: str) -> str | None:
        entry = self.entries.get(url)
        return entry.get("sha256") if entry else None

    def pin(self, url: str, sid: str, sha: str, target: Path) -> None:
        self.entries[url] = {"id": sid, "sha256": sha, "path": target.name}
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        text = json.dumps({"pinned": dict(sorted(self.entries.items()))}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".lock.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.path)


class _Progress:
    """A rich progress bar when enabled, otherwise nothing."""

    def __init__(self, *, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(), transient=True)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, name: str, total: int | None) -> Any:
        return None if self._bar is None else self._bar.add_task(name, total=total)

    def advance(self, task: Any, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(task, n)

    def stop(self, task: Any) -> None:
        if self._bar is not None and task is not None:
            self._bar.remove_task(task)

    def pooch_bar(self, task: Any) -> Any:
        """Return an object pooch's downloader can drive (total, update, reset, close)."""
        return False if self._bar is None else _PoochBar(self._bar, task)


class _PoochBar:
    """The progress-bar protocol of ``pooch.HTTPDownloader`` over one rich task."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar, self._task, self._total = bar, task, 0

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = value
        self._bar.update(self._task, total=value or None)

    def update(self, n: int) -> None:
        self._bar.advance(self._task, n)

    def reset(self) -> None:
        self._bar.reset(self._task, total=self._total or None)

    def close(self) -> None:
        pass
