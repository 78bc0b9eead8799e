"""healthgap fetch against a real HTTP server on 127.0.0.1 serving ../shared/data (read-only).

No mocks: the server is the standard library's http.server in a thread; checksums are checked
against hashlib computed here, and the files against the bytes of the shared copies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from healthgap.data.fetch import LOCK_NAME, Source, fetch, load_sources, sha256_file

from healthgap.errors import ChecksumError, DownloadError, ParameterError, ValidationError

SMALL = ("hospitals", "nhs_trusts")  # 51 kB and 17 kB real files


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).requests.append(self.path)
        super().do_GET()

    def do_PUT(self) -> None:  # noqa: N802 - read-only server
        self.send_error(405)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(shared_data: Path) -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(shared_data)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _by_id() -> dict[str, Source]:
    return {s.id: s for s in load_sources()}


def _no_partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


# ---------------------------------------------------------------------------------------------
# sources.yml
# ---------------------------------------------------------------------------------------------


def test_sources_yml_covers_every_shared_file_with_its_checksum(shared_data: Path) -> None:
    sources = load_sources()
    ids = [s.id for s in sources]
    assert len(ids) == len(set(ids))
    shared = {str(p.relative_to(shared_data)) for p in shared_data.rglob("*")
              if p.is_file() and p.name != "SOURCES.md"}
    # sources not in the shared copy (the PCN files of issue #14) carry no mirror_sha256
    assert {s.path for s in sources if s.mirror_sha256 is not None} == shared
    for s in sources:
        if s.mirror_sha256 is None:
            assert s.path not in shared, s.id
            assert s.notes and s.page, s.id
            continue
        digest = hashlib.sha256((shared_data / s.path).read_bytes()).hexdigest()
        assert s.mirror_sha256 == digest, s.id
        assert s.licence and s.attribution and s.publisher, s.id
        assert s.url or s.page or s.notes, s.id
        if s.sha256 is not None:
            # only where the official file IS the shared copy
            assert s.same_file and s.sha256 == s.mirror_sha256, s.id


def test_official_urls_are_the_publishers(shared_data: Path) -> None:
    by_id = _by_id()
    assert by_id["imd2019_lsoa"].url.startswith(  # type: ignore[union-attr]
        "https://assets.publishing.service.gov.uk/")
    assert "fingertips.phe.org.uk" in by_id["life_expectancy_msoa"].url  # type: ignore[operator]
    assert by_id["gp_practices"].url == "https://files.digital.nhs.uk/assets/ods/current/epraccur.zip"
    assert by_id["osm_rutland"].url.startswith(  # type: ignore[union-attr]
        "https://download.geofabrik.de/")
    assert "services1.arcgis.com" in by_id["lsoa11_boundaries"].api  # type: ignore[operator]


def test_load_sources_collects_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yml"
    bad.write_text(
        "sources:\n"
        "  - {id: a, title: t, publisher: p, licence: l, attribution: x, path: a.csv,\n"
        "     same_file: false, sha256: nothex, url: ftp://x}\n"
        "  - {id: a, title: t, publisher: p, licence: l, attribution: x, path: ../b.csv,\n"
        "     same_file: true}\n"
        "  - {id: c, title: t}\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_sources(bad)
    text = str(info.value)
    for needle in ("sha256 must be 64", "url must be an http(s) URL", "duplicate id",
                   "path must be relative", "same_file is true but url is null",
                   "missing publisher"):
        assert needle in text
    assert str(bad) in text


# ---------------------------------------------------------------------------------------------
# downloads from a local mirror
# ---------------------------------------------------------------------------------------------


def test_mirror_download_verifies_then_rerun_skips(server: tuple[str, list[str]],
                                                   shared_data: Path, tmp_path: Path) -> None:
    base, requests = server
    report = fetch(SMALL, cache_dir=tmp_path, base_url=base, progress=False)
    assert report.ok
    assert [i.id for i in report.fetched] == list(SMALL)
    by_id = _by_id()
    for item in report.fetched:
        src = by_id[item.id]
        got = tmp_path / src.path
        assert item.path == got
        assert got.read_bytes() == (shared_data / src.path).read_bytes()
        assert item.sha256 == hashlib.sha256(got.read_bytes()).hexdigest() == src.mirror_sha256
        assert item.bytes == got.stat().st_size
        assert "verified" in item.message
    assert not _no_partials(tmp_path)

    before = len(requests)
    again = fetch(SMALL, cache_dir=tmp_path, base_url=base + "/", progress=False)
    assert [i.id for i in again.skipped] == list(SMALL)
    assert len(requests) == before  # nothing was downloaded again

    forced = fetch(["hospitals"], cache_dir=tmp_path, base_url=base, force=True,
                   progress=False)
    assert [i.id for i in forced.fetched] == ["hospitals"]
    assert len(requests) == before + 1
    assert "2 fetched" not in forced.summary() and "1 fetched" in forced.summary()


def test_corrupt_file_in_cache_is_downloaded_again(server: tuple[str, list[str]],
                                                   shared_data: Path, tmp_path: Path) -> None:
    base, _ = server
    src = _by_id()["nhs_trusts"]
    target = tmp_path / src.path
    target.parent.mkdir(parents=True)
    target.write_text("not the file\n", encoding="utf-8")
    report = fetch(["nhs_trusts"], cache_dir=tmp_path, base_url=base, progress=False)
    assert [i.id for i in report.fetched] == ["nhs_trusts"]
    assert target.read_bytes() == (shared_data / src.path).read_bytes()


def test_tampered_checksum_fails_clearly_and_leaves_nothing(server: tuple[str, list[str]],
                                                            tmp_path: Path) -> None:
    base, _ = server
    sources = load_sources()
    wrong = "0" * 64
    sources = [dataclasses.replace(s, mirror_sha256=wrong) if s.id == "hospitals" else s
               for s in sources]
    report = fetch(["hospitals", "nhs_trusts"], cache_dir=tmp_path, base_url=base,
                   progress=False, sources=sources)
    assert not report.ok
    assert [i.id for i in report.fetched] == ["nhs_trusts"]  # the others still come
    (item,) = report.failed
    assert isinstance(item.error, ChecksumError)
    url = f"{base}/health_services/hospitals_2022_geographr.csv"
    real = _by_id()["hospitals"].mirror_sha256
    for needle in ("hospitals", url, f"expected {wrong}", f"got {real}"):
        assert needle in item.message
    assert not (tmp_path / "health_services/hospitals_2022_geographr.csv").exists()
    assert not _no_partials(tmp_path)
    with pytest.raises(ChecksumError, match="hospitals"):
        report.raise_for_failures()


def test_bad_file_already_in_cache_is_removed_when_the_download_fails_the_check(
        server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, _ = server
    src = dataclasses.replace(_by_id()["hospitals"], mirror_sha256="1" * 64)
    target = tmp_path / src.path
    target.parent.mkdir(parents=True)
    target.write_text("stale\n", encoding="utf-8")
    report = fetch(["hospitals"], cache_dir=tmp_path, base_url=base, progress=False,
                   sources=[src])
    assert report.failed and not target.exists()


def test_404_is_reported_naming_the_source(server: tuple[str, list[str]],
                                           tmp_path: Path) -> None:
    base, _ = server
    ghost = Source(id="ghost_data", title="t", publisher="p", licence="OGL-3.0",
                   attribution="x", path="health_services/does_not_exist.csv")
    report = fetch(["ghost_data"], cache_dir=tmp_path, base_url=base, progress=False,
                   sources=[ghost])
    (item,) = report.failed
    assert isinstance(item.error, DownloadError)
    assert "ghost_data" in item.message and "404" in item.message
    assert f"{base}/health_services/does_not_exist.csv" in item.message
    assert not (tmp_path / ghost.path).exists() and not _no_partials(tmp_path)
    with pytest.raises(DownloadError, match="ghost_data"):
        report.raise_for_failures()


def test_connection_refused_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = fetch(["hospitals"], cache_dir=tmp_path, base_url=f"http://127.0.0.1:{port}",
                   progress=False, timeout=5.0)
    (item,) = report.failed
    assert isinstance(item.error, DownloadError)
    assert "hospitals" in item.message and str(port) in item.message


def test_unknown_checksum_is_pinned_and_then_enforced(server: tuple[str, list[str]],
                                                      tmp_path: Path) -> None:
    base, _ = server
    src = dataclasses.replace(_by_id()["nhs_trusts"], mirror_sha256=None)
    first = fetch(["nhs_trusts"], cache_dir=tmp_path, base_url=base, progress=False,
                  sources=[src])
    (item,) = first.fetched
    assert "pinned" in item.message
    lock = json.loads((tmp_path / LOCK_NAME).read_text(encoding="utf-8"))
    url = f"{base}/health_services/nhs_trusts_2022_geographr.csv"
    assert lock["pinned"][url]["sha256"] == item.sha256
    # the publisher "changes" the file: a forced download no longer matches the pin
    lock["pinned"][url]["sha256"] = "2" * 64
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock), encoding="utf-8")
    again = fetch(["nhs_trusts"], cache_dir=tmp_path, base_url=base, progress=False,
                  sources=[src], force=True)
    (bad,) = again.failed
    assert "pinned" in bad.message and LOCK_NAME in bad.message


def test_official_mode_reports_sources_without_a_single_file(tmp_path: Path) -> None:
    # no network is touched: these sources have no single-file official download
    report = fetch(["lsoa11_boundaries", "lsoa11_postcode_centroids"], cache_dir=tmp_path,
                   progress=False)
    assert [i.status for i in report.items] == ["manual", "manual"]
    assert "services1.arcgis.com" in report.items[0].message
    assert report.ok and not any(tmp_path.iterdir())


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no_such_source"):
        fetch(["hospitals", "no_such_source"], cache_dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="base_url"):
        fetch(["hospitals"], cache_dir=tmp_path, base_url="ftp://x", progress=False)


def test_sha256_file_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MiB: several 1 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()
    from healthgap.errors import InputError

    with pytest.raises(InputError, match="missing"):
        sha256_file(tmp_path / "missing")


def _render(table: object, width: int = 400) -> str:
    from rich.console import Console

    console = Console(record=True, width=width)
    console.print(table)
    return " ".join(console.export_text().split())


def test_table_names_each_source_with_its_reason(server: tuple[str, list[str]],
                                                 tmp_path: Path) -> None:
    base, _ = server
    wrong = "0" * 64
    sources = [dataclasses.replace(s, mirror_sha256=wrong) if s.id == "hospitals" else s
               for s in load_sources()]
    report = fetch(["hospitals", "nhs_trusts"], cache_dir=tmp_path, base_url=base,
                   progress=False, sources=sources)
    text = _render(report.table())
    real = _by_id()["hospitals"].mirror_sha256
    assert "1 fetched, 0 skipped, 1 failed, 0 manual" in text
    assert f"hospitals failed sha256 mismatch for {base}/health_services/" in text
    assert f"expected {wrong}, got {real}" in text
    trusts = tmp_path / _by_id()["nhs_trusts"].path
    assert f"nhs_trusts ok (downloaded) {trusts} sha256 {sha256_file(trusts)}" in text


def test_cli_fetch_offline_prints_a_row_per_source(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nobody listens on: "offline"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "fetch", "hospitals",
                          "--cache", str(tmp_path), "--base-url", f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=120,
                         env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    text = " ".join(run.stdout.split())
    assert f"hospitals failed GET http://127.0.0.1:{port}/health_services/" in text
    assert "ConnectionError" in text
    manual = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "fetch",
                             "lsoa11_boundaries", "--cache", str(tmp_path / "m")],
                            capture_output=True, text=True, timeout=120,
                            env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})
    assert manual.returncode == 0
    text = " ".join(manual.stdout.split())
    assert "lsoa11_boundaries manual no single-file official download; see https://" in text
    assert "services1.arcgis.com" in text
