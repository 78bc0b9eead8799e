"""The ``healthgap`` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthgap.errors import HealthgapError, InputError, ParameterError

if TYPE_CHECKING:
    import pandas as pd
    from healthgap.services.batch import TaskOutcome
    from healthgap.services.build import BuildOptions, BuildResult

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="healthgap: where, and why, life expectancy is unequal between the "
                       "neighbourhoods of England's Integrated Care Systems.")
console = Console(stderr=True)
out = Console()

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

DataOpt = Annotated[Path, typer.Option("--data", help="Data directory laid out like "
                                       "../shared/data.")]
IncompleteOpt = Annotated[bool, typer.Option(
    "--allow-incomplete", help="Build even when a national input does not cover England (or a "
    "boundary file the area); the gaps are reported in the join report, the manifest and on "
    "the story page. Without it such inputs are refused before any computing.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output directory (default "
                                             "out/<area code>).")]


def _run_build(options: BuildOptions) -> BuildResult:
    from healthgap.services.build import build

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("starting", total=1)

        def on_stage(stage: str, i: int, n: int) -> None:
            progress.update(task, description=stage, completed=i, total=n)

        return build(options, on_stage=on_stage)


def _report(result: BuildResult) -> None:
    counts = result.manifest["counts"]
    table = Table(title=f"{result.area.ref.name} ({result.area.ref.code})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for k, v in counts.items():
        table.add_row(k.replace("_", " "), str(v))
    out.print(table)
    for note in result.area.notes:
        out.print(f"[dim]note:[/dim] {note}")
    for name, path in result.outputs.items():
        out.print(f"{name}: [bold]{path}[/bold]")


#: Which work --permutations reaches; the other counts are the plan's (geo/model_plan.py; a
#: test checks these figures against it, the plan itself is not imported for --help).
_PERMUTATIONS_HELP = (
    "Permutations of the local statistics (LISA, Gi*, cluster stability), or 'auto'. The "
    "global statistics use 999 and the correlogram 99 (geo/model_plan.py).")


@app.command()
def build(area: Annotated[str, typer.Option("--area", help="ICB, sub-ICB or local authority "
                                            "code or name, or 'england'.")],
          data: DataOpt = DEFAULT_DATA, out_dir: OutOpt = None,
          ring: Annotated[int, typer.Option(help="Rings of neighbours kept outside the "
                                            "area.")] = 1,
          weights: Annotated[str, typer.Option(help="queen, rook, knn, distance_band.")] = "queen",
          permutations: Annotated[str, typer.Option(help=_PERMUTATIONS_HELP)] = "auto",
          seed: Annotated[int, typer.Option(help="Seed of every permutation.")] = 2019,
          correction: Annotated[str, typer.Option(help="fdr, bonferroni or none.")] = "fdr",
          max_loss: Annotated[float, typer.Option(help="Largest share of rows a join may "
                                                  "lose.")] = 0.0,
          access: Annotated[bool, typer.Option(help="Build access/environment layers.")] = True,
          models: Annotated[bool, typer.Option(help="Fit the life-expectancy models.")] = True,
          maps: Annotated[bool, typer.Option(help="Write the HTML atlas.")] = True,
          neighbourhoods: Annotated[Path | None, typer.Option(
              "--neighbourhoods", help="CSV of lsoa_code,nbhd_cd,nbhd_nm (e.g. from `healthgap "
              "neighbourhoods`); default: PCN catchments if their files are in --data, else "
              "generated.")] = None,
          vintage: Annotated[str | None, typer.Option(
              "--vintage", help="Geography vintage: 2025 (LSOA 2021, ICB April 2024, IoD 2025, "
              "Census 2021) or 2019 (LSOA 2011, ICB 2022, IMD 2019); default: the one --data "
              "declares, else 2025.")] = None,
          footprint: Annotated[Path | None, typer.Option(
              "--footprint", help="CSV lsoa_code,system_code,system_name,place_code,place_name "
              "(+ neighbourhood_code,neighbourhood_name): build a system of this file; --area "
              "is then one of its system codes.")] = None,
          allow_incomplete: IncompleteOpt = False,
          report: Annotated[bool, typer.Option(help="Also write the board pack (Excel "
                                               "workbook, PowerPoint deck, print maps) into "
                                               "<out>/report.")] = False) -> None:
    """Build an area's layers, statistics, models and atlas into one GeoPackage.

    Every option, the data folder, the output folder and the area are checked before any
    computing. The build is written beside ``--out`` and swapped in only when complete, so a
    failed or interrupted build leaves the previous one as it was.
    """
    from healthgap.data.layout import DataDir
    from healthgap.data.vintages import resolve_vintage
    from healthgap.services.build import BuildOptions, load_hierarchy
    from healthgap.services.store import check_output_dir
    from healthgap.services.vintage_inputs import VintageInputs

    perms: int | str = permutations if permutations == "auto" else _int(permutations,
                                                                         "--permutations")
    options = BuildOptions(area=area, data_dir=data, out_dir=out_dir or Path("out"), ring=ring,
                           weights=weights, permutations=perms, seed=seed,
                           correction=correction, max_loss=max_loss, access=access,
                           models=models, maps=maps, neighbourhoods=neighbourhoods,
                           vintage=vintage, footprint=footprint,
                           allow_incomplete=allow_incomplete, report=report)
    options.validate()
    if out_dir is not None:
        check_output_dir(out_dir)
    data_dir = DataDir(data)
    chosen = resolve_vintage(vintage, data)
    VintageInputs(data_dir, chosen).require()
    ref = load_hierarchy(data_dir, chosen, footprint).resolve(area)
    if out_dir is None:
        options.out_dir = Path("out") / ref.slug
        check_output_dir(options.out_dir)
    console.print(f"building {ref.name} ({ref.code}, {ref.level}) into {options.out_dir}; "
                  f"{chosen.label}")
    _report(_run_build(options))


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] =
         Path("out/demo"),
         seed: Annotated[int, typer.Option(help="Seed of the synthetic area.")] = 2019) -> None:
    """Generate the synthetic demo area and build it (no internet needed)."""
    from healthgap.data.demo import DEMO_ICB, generate_demo
    from healthgap.services.build import BuildOptions

    data_dir = out_dir.with_name(f"{out_dir.name}-data")
    console.print(f"generating the SYNTHETIC demo area in {data_dir}")
    generate_demo(data_dir, seed=seed)
    result = _run_build(BuildOptions(area=DEMO_ICB, data_dir=data_dir, out_dir=out_dir,
                                     seed=seed, synthetic=True, report=True))
    _report(result)
    out.print("[bold yellow]The demo data is SYNTHETIC: it describes no real place.[/bold yellow]")
    atlas = result.outputs.get("atlas")
    if atlas:
        out.print(f"Open the atlas in a browser: [bold]{Path(atlas).resolve().as_uri()}[/bold]")
    out.print(f"Headline figures: healthgap headline --store {out_dir}")


VintageOpt = Annotated[str | None, typer.Option(
    "--vintage", help="Geography vintage (2025 or 2019); default: the one --data declares, "
    "else 2025.")]


@app.command("report")
def report_command(
        store: Annotated[Path, typer.Option("--store", help="A build directory (out/<area>).")],
        formats: Annotated[str, typer.Option("--format", help="Comma-separated: xlsx, pptx, "
                                             "png (default: all three).")] = "xlsx,pptx,png"
) -> None:
    """Write a build's board pack into <store>/report: workbook, deck and print maps.

    Every figure is read from the build's GeoPackage. The report folder is written beside and
    swapped in whole.
    """
    import time

    from healthgap.services.report import parse_formats, write_report

    chosen = parse_formats(formats)
    started = time.perf_counter()
    with console.status(f"writing the board pack of {store}"):
        paths = write_report(store, formats=chosen)
    for kind, path in paths.items():
        out.print(f"{kind}: [bold]{path}[/bold]")
    console.print(f"board pack written in {time.perf_counter() - started:.1f} s")


@app.command()
def areas(data: DataOpt = DEFAULT_DATA,
          level: Annotated[str, typer.Option(help="icb, sicb or lad.")] = "icb",
          vintage: VintageOpt = None,
          footprint: Annotated[Path | None, typer.Option(
              "--footprint", help="A footprint CSV: list its systems instead.")] = None
          ) -> None:
    """List the vintages, then the ICBs (or sub-ICBs, local authorities) of one, with codes."""
    from healthgap.data.layout import DataDir
    from healthgap.data.vintages import VINTAGES, resolve_vintage
    from healthgap.services.build import load_hierarchy
    from healthgap.services.vintage_inputs import VintageInputs

    d = DataDir(data)
    chosen = resolve_vintage(vintage, data)
    for v in VINTAGES.values():
        missing = [k for k in v.required() if d.optional(k) is None]
        state = "files present" if not missing else f"{len(missing)} file(s) missing"
        mark = "*" if v is chosen else " "
        out.print(f"{mark} vintage {v.name}: {v.label} ({state})", markup=False,
                  highlight=False)
    VintageInputs(d, chosen).require()
    h = load_hierarchy(d, chosen, footprint)
    frame = h.areas(level)
    table = Table(title=f"{level} areas of the {chosen.name} vintage"
                  + (f" with footprint {footprint}" if footprint else ""))
    table.add_column("code")
    for col in frame.columns:  # what a key column holds in this vintage, not its internal name
        table.add_column(chosen.key_meaning.get(col, "name" if col == frame.columns[0] else col))
    for code, row in frame.iterrows():
        table.add_row(str(code), *[str(v) for v in row])
    out.print(table)


@app.command()
def batch(icbs: Annotated[str, typer.Option("--icbs", help="'all' or comma-separated ICB "
                                            "codes/names.")] = "all",
          data: DataOpt = DEFAULT_DATA,
          out_dir: Annotated[Path, typer.Option("--out", help="Root of the builds.")] =
          Path("out/batch"),
          scheduler: Annotated[str | None, typer.Option(help="tcp://host:port of an existing "
                                                        "Dask scheduler.")] = None,
          scheduler_timeout: Annotated[float, typer.Option(
              help="Seconds to wait for --scheduler to answer.")] = 10.0,
          workers: Annotated[int, typer.Option(help="LocalCluster worker processes.")] = 2,
          retries: Annotated[int, typer.Option(help="Retries of a failing ICB.")] = 1,
          force: Annotated[bool, typer.Option(help="Rebuild up-to-date ICBs too.")] = False,
          maps: Annotated[bool, typer.Option(help="Write each ICB's atlas.")] = True,
          verbose: Annotated[bool, typer.Option(help="Show Dask's own log messages.")] = False,
          vintage: VintageOpt = None,
          footprint: Annotated[Path | None, typer.Option(
              "--footprint", help="A footprint CSV: build its systems.")] = None,
          allow_incomplete: IncompleteOpt = False) -> None:
    """Build every ICS atlas (each with its edge ring) as tasks on Dask distributed.

    Every option, the data folder (each file whole, each national input complete) and --out
    are checked on this machine before anything is scheduled; paths are made absolute, so
    workers started in other folders find them. batch_report.json is written into --out even
    when every ICS fails.
    """
    from healthgap.data.layout import DataDir
    from healthgap.data.vintages import resolve_vintage
    from healthgap.services.batch import check_batch_options, run_batch
    from healthgap.services.build import BuildOptions, check_build_inputs, load_hierarchy
    from healthgap.services.vintage_inputs import VintageInputs

    check_batch_options(n_workers=workers, retries=retries, scheduler=scheduler,
                        out_root=out_dir, scheduler_timeout_s=scheduler_timeout)
    d = DataDir(data)
    chosen = resolve_vintage(vintage, data)
    vin = VintageInputs(d, chosen)
    vin.require()
    h = load_hierarchy(d, chosen, footprint)
    codes = (list(h.areas("icb").index) if icbs.strip().lower() == "all"
             else [h.resolve(q).code for q in icbs.split(",") if q.strip()])
    if not codes:
        raise ParameterError(f"--icbs {icbs!r}: no ICB named")
    template = BuildOptions(area="", data_dir=data.resolve(), out_dir=out_dir.resolve(),
                            maps=maps, allow_incomplete=allow_incomplete,
                            vintage=chosen.name,
                            footprint=None if footprint is None else footprint.resolve())
    template.validate()
    check_build_inputs(d, h, template, vin)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("building ICSs", total=len(codes))

        def done(o: TaskOutcome) -> None:
            progress.advance(task)
            progress.console.print(f"{o.area}: {o.status} {o.error}", markup=False,
                                   highlight=False)

        report = run_batch(codes, data_dir=data, out_root=out_dir, template=template,
                           scheduler=scheduler, n_workers=workers, retries=retries,
                           force=force, on_done=done, verbose=verbose,
                           scheduler_timeout_s=scheduler_timeout)
    table = Table(title=f"batch of {len(codes)} ICB(s) in {report.seconds:.0f} s")
    for c in ("area", "status", "seconds", "attempts"):
        table.add_column(c, no_wrap=True)
    table.add_column("error", overflow="fold")
    for o in report.outcomes:
        table.add_row(o.area, o.status, f"{o.seconds:.1f}", str(o.attempts), escape(o.error))
    out.print(table)
    out.print(f"report: [bold]{out_dir / 'batch_report.json'}[/bold]")
    if report.by_status("failed"):
        raise typer.Exit(code=1)


@app.command()
def serve(store: Annotated[Path, typer.Option("--store", help="A build directory (holding "
                                             "healthgap.gpkg) or a directory of builds, one "
                                             "subdirectory per area.")] = Path("out"),
          host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                               help="Server processes (one per core is a "
                                               "good start).")] = 1,
          public_url: Annotated[str | None, typer.Option(
              "--public-url", help="Base URL clients use (links start with it); default "
              "http://HOST:PORT or HEALTHGAP_PUBLIC_URL.")] = None) -> None:
    """Serve the builds over HTTP: OGC API Features, GeoJSON layers, maps, statistics, runs.

    Other settings come from HEALTHGAP_* environment variables (see services/settings.py).
    The OpenAPI documentation is at /docs. With --workers N, N processes share the port and
    the runs database.
    """
    import uvicorn
    from healthgap.services.api.catalog import Catalog
    from healthgap.services.settings import Settings
    from pydantic import ValidationError

    if not 0 <= port <= 65535:
        raise ParameterError(f"--port {port}: a port number from 0 to 65535")
    os.environ["HEALTHGAP_STORE_ROOT"] = str(store.resolve())
    if public_url is not None:
        os.environ["HEALTHGAP_PUBLIC_URL"] = public_url
    os.environ.setdefault("HEALTHGAP_PUBLIC_URL", f"http://{host}:{port}")
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"settings (HEALTHGAP_* environment): {problems}") from None
    logging.getLogger().setLevel(settings.log_level)
    _check_served(store)
    builds = Catalog(store).scan()
    if not builds:
        raise InputError(f"{store}: no build found (a healthgap.gpkg here or in a "
                         "subdirectory); run `healthgap build` first")
    console.print(f"serving {len(builds)} build(s): {', '.join(sorted(builds))} on "
                  f"http://{host}:{port} with {workers} worker(s) (docs at /docs)")
    from healthgap.services.api.server import PROTOCOL, log_config

    # headers have a deadline (PROTOCOL); every process logs, access log included; forwarded
    # headers are believed only from HEALTHGAP_TRUSTED_PROXIES
    uvicorn.run("healthgap.services.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, loop="uvloop", http=PROTOCOL,
                log_level=settings.log_level.lower(), log_config=log_config(settings.log_level),
                access_log=settings.access_log, timeout_keep_alive=5,
                timeout_graceful_shutdown=10, proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=",".join(settings.trusted_proxies) or "")


def _check_served(store: Path) -> None:
    """Refuse to serve a damaged build (named with what is wrong) before the server starts."""
    from healthgap.services.store import STORE_NAME, require_build

    if not store.is_dir():
        raise InputError(f"--store {store}: no such folder")
    dirs = [store] if (store / STORE_NAME).is_file() else sorted(
        p for p in store.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / STORE_NAME).is_file())
    for d in dirs:
        require_build(d)


@app.command()
def fetch(ids: Annotated[list[str] | None, typer.Argument(help="Source ids (default: all); "
                                                      "see data/sources.yml.")] = None,
          cache: Annotated[Path, typer.Option("--cache", help="Download cache.")] =
          Path(".cache/healthgap"),
          base_url: Annotated[str | None, typer.Option(help="Fetch from a mirror of a data "
                                                       "directory instead.")] = None,
          force: Annotated[bool, typer.Option(help="Download again.")] = False) -> None:
    """Download the official releases (ONS, MHCLG, OHID, NHS ODS, Geofabrik) into a cache."""
    from healthgap.data.fetch import fetch as run_fetch

    report = run_fetch(ids or None, cache_dir=cache, base_url=base_url, force=force)
    out.print(report.table())
    if not report.ok:
        raise typer.Exit(code=1)


#: Headline tables: (layer, title, [(column, header, format)]); headers are short so that the
#: tables fit 80 columns without cutting a value.
HEADLINE_TABLES: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    ("model_sii", "Life expectancy range and slope index of inequality (years), per level",
     [("sex", "sex", ""), ("level", "level", ""), ("code", "code", ""), ("n_areas", "MSOAs", "d"),
      ("le_range", "range", ".1f"), ("sii_ci", "SII (95% CI)", ""), ("rii", "RII", ".3f")]),
    ("model_sii_vs_england", "Against England, same method (SII in years, difference with its "
     "95% interval; the SII grows with the IMD range an area spans, so the verdict is the "
     "gradient's below)",
     [("sex", "sex", ""), ("level", "level", ""), ("code", "code", ""), ("sii", "SII", ".2f"),
      ("england_sii", "England", ".2f"), ("sii_difference_ci", "difference (95% CI)", ""),
      ("compared_with_england", "vs England", "")]),
    ("model_gradient_vs_england", "Fall in life expectancy per 10 IMD points, the area and "
     "England over the area's own IMD range (years; difference with its 95% interval)",
     [("sex", "sex", ""), ("level", "level", ""), ("code", "code", ""),
      ("le_drop_per_10_imd", "area", ".2f"), ("england_le_drop_per_10_imd", "England", ".2f"),
      ("difference_ci", "difference (95% CI)", ""), ("steepness", "verdict", "")]),
    ("outcome_gap", "What makes up the gap: most vs least deprived fifth, Core20 vs the rest "
     "(ratios)",
     [("level", "level", ""), ("outcome", "outcome", ""), ("q1_q5_ratio_ci", "Q1/Q5 (95% CI)", ""),
      ("core20_rest_ratio_ci", "Core20/rest (95% CI)", "")]),
    ("model_headline", "Distance decay: the system-wide claims",
     [("index", "LE", ""), ("n_areas", "MSOAs", "d"), ("range_years", "range", ".1f"),
      ("median_years_per_mile", "median yr/mile", ".2f"),
      ("share_pairs_at_or_above_threshold", "share >=1 yr/mile", ".2f")]),
    ("model_distance_decay", "Distance decay over every pair of MSOAs within 10 miles (extra "
     "years of difference per mile of separation; p from shuffling values over fixed places)",
     [("sex", "sex", ""), ("n_pairs", "pairs", "d"), ("mean_abs_diff", "mean diff", ".2f"),
      ("decay_ci", "years per mile (95% CI)", ""), ("p_value", "p", ".3f"),
      ("verdict", "verdict", "")]),
    ("cliffs", "Largest life-expectancy differences across a shared MSOA border, both sexes "
     "(a difference in years; cliff = passes the 5% false discovery rate across all borders)",
     [("sex", "sex", ""), ("code_a", "MSOA a", ""), ("code_b", "MSOA b", ""),
      ("le_a", "LE a", ".1f"), ("le_b", "LE b", ".1f"), ("abs_diff", "years", ".1f"),
      ("p_value", "p", ".4f"), ("q_value", "q", ".3f"), ("cliff", "cliff", ""),
      ("noise_p", "p", ".3f"), ("exceeds_noise", "beyond noise", "")]),
    ("model_regression", "Regression of life expectancy (OLS, spatial lag, spatial error)",
     [("sex", "sex", ""), ("model", "model", ""), ("variable", "term", ""),
      ("term", "term", ""), ("estimate", "estimate", ".3f"), ("std_error", "s.e.", ".3f"),
      ("t", "t", ".2f"), ("z", "z", ".2f"), ("p_value", "p", ".3f")]),
    ("model_fit", "Model fit",
     [("sex", "sex", ""), ("model", "model", ""), ("n", "n", "d"),
      ("log_likelihood", "log lik", ".1f"), ("aic", "AIC", ".1f"), ("rho", "rho", ".3f"),
      ("lambda", "lambda", ".3f")]),
]

#: Why the two life-expectancy ranges can differ (printed under the distance-decay table).
RANGE_NOTE = ("The SII table's range covers every in-area MSOA with that sex's life expectancy; "
              "the distance-decay range covers only the MSOAs with both sexes' values (the "
              "models pair them), so an extreme MSOA whose other sex is suppressed can make it "
              "smaller. 'MSOAs' gives the count behind each range.")


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if fmt == "d" and isinstance(value, int | float):
        return f"{int(value):,}"
    if fmt and isinstance(value, int | float):
        return format(value, fmt)
    return str(value)


def _headline_table(title: str, frame: pd.DataFrame, spec: list[tuple[str, str, str]]) -> Table:
    from rich import box

    cols = [(c, h, f) for c, h, f in spec if c in frame.columns]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  collapse_padding=True)
    rows = [[_cell(v, f) for v, (_, _, f) in zip(row, cols, strict=True)]
            for row in frame[[c for c, _, _ in cols]].itertuples(index=False)]
    for k, (_, header, fmt) in enumerate(cols):
        widest = max([len(r[k]) for r in rows] or [1])
        table.add_column(header, justify="right" if fmt else "left", min_width=widest,
                         overflow="fold")
    for r in rows:
        table.add_row(*r)
    return table


def headline_frames(store: Path) -> dict[str, pd.DataFrame]:
    """Return the frames `headline` prints, by layer (cliffs sorted across both sexes)."""
    from healthgap.services.store import BuildStore

    st = BuildStore(store)
    layers = st.layers()
    frames: dict[str, pd.DataFrame] = {}
    for name, _, _ in HEADLINE_TABLES:
        if name not in layers:
            continue
        if name == "cliffs":
            cl = st.read_layer(name).drop(columns="geometry", errors="ignore")
            frames["cliffs_verdict"] = _cliff_verdicts(cl)
            if "p_value" in cl.columns:  # the FDR test replaces the old noise columns
                cl = cl.drop(columns=["noise_p", "exceeds_noise"], errors="ignore")
            frames[name] = (cl.sort_values(["abs_diff", "sex", "code_a", "code_b"],
                                           ascending=[False, True, True, True])
                            .head(10))
        else:
            frames[name] = _with_intervals(st.read_layer(name))
    return frames


#: Estimates shown with their interval in one cell: (new column, estimate, low, high).
_INTERVALS = (("sii_ci", "sii", "sii_lo", "sii_hi"),
              ("sii_difference_ci", "sii_difference", "sii_difference_lo", "sii_difference_hi"),
              ("difference_ci", "difference", "difference_lo", "difference_hi"),
              ("q1_q5_ratio_ci", "q1_q5_ratio", "q1_q5_ratio_lo", "q1_q5_ratio_hi"),
              ("core20_rest_ratio_ci", "core20_rest_ratio", "core20_rest_ratio_lo",
               "core20_rest_ratio_hi"),
              ("transect_ci", "transect_loss_per_mile", "transect_loss_per_mile_lo",
               "transect_loss_per_mile_hi"),
              ("decay_ci", "slope_per_mile", "slope_per_mile_lo", "slope_per_mile_hi"))


def _cliff_verdicts(cliffs: pd.DataFrame) -> pd.DataFrame:
    """One verdict sentence per sex (geo.verdicts.cliffs_verdict), where the test was run."""
    import pandas as pd
    from healthgap.geo.verdicts import cliffs_verdict

    rows = []
    if {"cliff", "p_value", "sex"} <= set(cliffs.columns):
        for sex, c in cliffs.groupby("sex", sort=True):
            v = cliffs_verdict(int(c["cliff"].astype(bool).sum()), len(c),
                               n_raw=int((c["p_value"] < 0.05).sum()), alpha=0.05)
            rows.append({"sex": sex, "sentence": v.sentence})
    return pd.DataFrame(rows, columns=["sex", "sentence"])


def _with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``estimate (low–high)`` text columns where a table has an estimate and its CI."""
    for new, est, lo, hi in _INTERVALS:
        if {est, lo, hi} <= set(frame.columns):
            frame = frame.assign(**{new: [
                f"{_cell(e, '.2f')} ({_cell(a, '.2f')}–{_cell(b, '.2f')})"
                for e, a, b in zip(frame[est], frame[lo], frame[hi], strict=True)]})
        elif est in frame.columns:
            frame = frame.assign(**{new: [_cell(e, ".2f") for e in frame[est]]})
    return frame


@app.command()
def headline(store: Annotated[Path, typer.Option("--store", help="A build directory.")]) -> None:
    """Print the headline figures of a build: LE range and SII per level, cliffs, model fit.

    Tables fit the terminal (80 columns and up) without cutting a value; the steepest cliffs
    are ranked across both sexes.
    """
    from healthgap.services.store import require_build

    man = require_build(store).read_manifest()
    out.print(f"[bold]{escape(man['area']['name'])} ({man['area']['code']})[/bold]"
              + ("  [yellow]SYNTHETIC DEMO DATA[/yellow]" if man.get("synthetic") else ""))
    frames = headline_frames(store)
    for name, title, spec in HEADLINE_TABLES:
        if name in frames:
            out.print(_headline_table(title, frames[name], spec))
            if name == "model_headline":
                out.print(f"[dim]{RANGE_NOTE}[/dim]")
            if name == "model_sii_vs_england":
                from healthgap.geo.england import SII_NOT_A_RANKING

                out.print(f"[dim]{SII_NOT_A_RANKING}[/dim]")
            if name == "model_distance_decay" and "verdict_sentence" in frames[name].columns:
                for r in frames[name].itertuples():
                    out.print(f"{str(r.sex).capitalize()}: {escape(str(r.verdict_sentence))}")
            if name == "model_gradient_vs_england" and "verdict" in frames[name].columns:
                for r in frames[name][frames[name]["level"] == "system"].itertuples():
                    out.print(escape(str(r.verdict)))
            if name == "cliffs":
                for r in frames["cliffs_verdict"].itertuples(index=False):
                    out.print(f"{str(r.sex).capitalize()}: {escape(str(r.sentence))}")
    if not frames:
        out.print("no model tables in this build (built with --no-models?)")
    methods = man.get("results", {}).get("england", {}).get("methods")
    if methods:
        out.print(f"[dim]{escape(methods)}[/dim]")
    st = require_build(store)
    _headline_core20(st, st.layers(), man)


@app.command()
def whatif(store: Annotated[Path, typer.Option("--store", help="A build directory.")],
           scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario file "
                                                        "(YAML or JSON).")] = None,
           close: Annotated[list[str] | None, typer.Option("--close", help="Close the facility "
                                                           "with this code (repeatable).")
                            ] = None,
           open_: Annotated[list[str] | None, typer.Option("--open", help="Open a facility at "
                                                           "'POSTCODE', 'x,y' (EPSG:27700) or "
                                                           "'lon,lat', then ':supply=N', "
                                                           "':kind=gp', ':code=..', ':name=..' "
                                                           "(repeatable).")] = None,
           supply: Annotated[list[str] | None, typer.Option("--supply", help="CODE=N: change "
                                                            "a facility's supply "
                                                            "(repeatable).")] = None,
           name: Annotated[str | None, typer.Option(help="Name of the scenario.")] = None,
           straight_line: Annotated[bool, typer.Option(help="Where the build has no road "
                                                       "network, give a straight-line "
                                                       "ESTIMATE instead of an error.")
                                    ] = False,
           data: Annotated[Path | None, typer.Option("--data", help="Data directory for the "
                                                     "postcode lookup (default: the "
                                                     "build's).")] = None,
           write: Annotated[bool, typer.Option(help="Write the whatif_* layers and the "
                                               "atlas page into the build.")] = True,
           json_out: Annotated[Path | None, typer.Option("--json", help="Also write every "
                                                         "number as JSON to this file "
                                                         "('-' = stdout).")] = None) -> None:
    """Show who gains or loses access if facilities open, close, move or change size."""
    import json

    from healthgap.data.access_inputs import read_scenario_file
    from healthgap.services.whatif import merge_spec, run_whatif

    spec = merge_spec(read_scenario_file(scenario) if scenario else None, close=close,
                      open_=open_, supply=supply, name=name)
    if data is not None and not data.is_dir():
        raise ParameterError(f"--data {data}: not a folder")
    if json_out is not None and str(json_out) != "-":
        _check_writable(json_out.parent, "--json")
    result = run_whatif(store, spec, straight_line=straight_line, data_dir=data, write=write)
    if write:  # written with the layers, in the same swap
        console.print(f"atlas page: [bold]{store / 'atlas' / 'whatif.html'}[/bold]")
    if json_out is not None:
        text = json.dumps(result.to_dict(), indent=1)
        if str(json_out) == "-":
            out.print_json(text)
        else:
            json_out.write_text(text)
    for sentence in result.summary.sentences:
        console.print(sentence, soft_wrap=True)
    table = Table(title="Residents crossing a travel-time threshold (in the area)")
    for c in ("kind", "threshold", "lost", "lost Core20", "gained", "gained Core20"):
        table.add_column(c, justify="right")
    cr = result.summary.crossings
    for (kind, t), g in cr.groupby(["kind", "threshold_min"]):
        lost = g[g["direction"] == "lost"].iloc[0]
        gained = g[g["direction"] == "gained"].iloc[0]
        table.add_row(str(kind), f"{t:g} min", f"{lost['population']:,.0f}",
                      f"{lost['core20_population']:,.0f}", f"{gained['population']:,.0f}",
                      f"{gained['core20_population']:,.0f}")
    console.print(table)
    if write:
        console.print(f"wrote {', '.join(result.written)} into {store}")


def _headline_core20(st: object, layers: dict[str, str | None], man: dict[str, object]) -> None:
    """Core20 per level and the neighbourhoods furthest behind (issue #14)."""
    from healthgap.services.store import BuildStore

    assert isinstance(st, BuildStore)
    results = man.get("results", {})
    core = results.get("core20", {}) if isinstance(results, dict) else {}
    table = Table(title="Core20: residents of England's 20% most deprived LSOAs "
                        f"(population {core.get('population_year', '?')}; England share "
                        f"{core.get('england_core20_share', float('nan')):.1%})")
    for c in ("level", "code", "name", "people", "Core20", "share",
              "male LE Core20 / other (approx.)"):
        table.add_column(c, overflow="fold")
    for level, code, name in (("system", "system_code", "system_name"),
                              ("place", "place_code", "place_name"),
                              ("neighbourhood", "nbhd_cd", "nbhd_nm")):
        if level not in layers:
            continue
        frame = st.read_layer(level)
        if "core20_pop" not in frame.columns:
            continue
        if level == "neighbourhood":
            frame = frame.sort_values("core20_share", ascending=False).head(10)
        for _, r in frame.iterrows():
            le = (f"{r.get('le_male_core20_pwmean', float('nan')):.1f} / "
                  f"{r.get('le_male_noncore20_pwmean', float('nan')):.1f}")
            table.add_row(level, str(r[code]), str(r.get(name, "")), f"{r['population']:,.0f}",
                          f"{r['core20_pop']:,.0f}", f"{r['core20_share']:.1%}", le)
    out.print(table)
    if "neighbourhood" in layers:
        nb = st.read_layer("neighbourhood")
        col = "le_male_pwmean"
        if col in nb.columns and nb[col].notna().any():
            low = nb.sort_values(col).head(5)
            out.print("Neighbourhoods with the lowest male life expectancy (approx.): "
                      + "; ".join(f"{r.nbhd_nm} {getattr(r, col):.1f}"
                                  for r in low.itertuples()))


@app.command("neighbourhoods")
def neighbourhoods_command(
        area: Annotated[str, typer.Option("--area", help="ICB, sub-ICB or local authority code "
                                          "or name.")],
        data: DataOpt = DEFAULT_DATA,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Output directory (default "
                                                     "out/<area>/neighbourhoods).")] = None,
        supplied: Annotated[Path | None, typer.Option(
            "--neighbourhoods", help="Check this lookup instead of proposing one.")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the regionalisation.")] = 2019,
        vintage: VintageOpt = None) -> None:
    """Propose neighbourhoods of 30-50k people (or check a lookup) for a team to review.

    Writes neighbourhoods.csv (the --neighbourhoods format of `healthgap build`) and
    neighbourhoods.gpkg (layer `neighbourhood`, table `neighbourhood_exceptions`, and the LSOAs
    with their nbhd_cd).
    """
    from healthgap.data import readers
    from healthgap.data.contracts import check_files
    from healthgap.data.layout import DataDir
    from healthgap.data.vintages import resolve_vintage
    from healthgap.geo.layers import with_imd
    from healthgap.geo.neighbourhoods import with_neighbourhoods
    from healthgap.services.build import (
        choose_neighbourhoods,
        load_area,
        load_hierarchy,
    )
    from healthgap.services.store import BuildStore
    from healthgap.services.vintage_inputs import VintageInputs

    if seed < 0:
        raise ParameterError(f"--seed {seed}: a whole number >= 0")
    if supplied is not None:  # the lookup's file and columns, before any computing
        check_files([supplied])
        readers.read_neighbourhood_lookup(supplied)
    d = DataDir(data)
    vin = VintageInputs(d, resolve_vintage(vintage, data))
    vin.require()
    check_files(p for k in ("msoa_boundaries",) if (p := vin.optional(k)) is not None)
    check_files(p for k in ("gp_registrations", "epcn") if (p := d.optional(k)) is not None)
    h = load_hierarchy(d, vin.vintage)
    ref = h.resolve(area)
    target = out_dir or Path("out") / ref.slug / "neighbourhoods"
    _check_writable(target, "--out")
    study = with_imd(load_area(d, ref, h, ring=0, vintage=vin.vintage), vin.imd())
    nb = choose_neighbourhoods(study, supplied=supplied, registrations=d.optional(
        "gp_registrations"), epcn=d.optional("epcn"), seed=seed)
    study = with_neighbourhoods(study, nb)
    target.mkdir(parents=True, exist_ok=True)
    nb.to_csv_frame().to_csv(target / "neighbourhoods.csv", index=False)
    gpkg = target / "neighbourhoods.gpkg"
    gpkg.unlink(missing_ok=True)
    store = BuildStore(gpkg, vintage=vin.vintage)
    neighbourhood = study.frame("neighbourhood")
    store.write_layer("neighbourhood", neighbourhood)
    store.write_layer("lsoa", study.inside[["lsoa_name", "msoa_code", "place_code", "nbhd_cd",
                                            "population", "geometry"]])
    store.write_layer("neighbourhood_exceptions", nb.exceptions)
    pops = neighbourhood["population"]
    out.print(f"{ref.name} ({ref.code}): {len(pops)} neighbourhoods ({nb.source}), "
              f"{int(pops.min()):,}-{int(pops.max()):,} residents, {len(nb.exceptions)} "
              "exception(s)")
    for row in nb.exceptions.itertuples(index=False):
        out.print(f"[dim]exception:[/dim] {row.nbhd_cd} {row.nbhd_nm}: {row.reason}")
    for note in nb.notes:
        out.print(f"[dim]note:[/dim] {note}")
    out.print(f"lookup: [bold]{target / 'neighbourhoods.csv'}[/bold]  map layers: "
              f"[bold]{gpkg}[/bold]")


def _check_writable(target: Path, option: str) -> None:
    from healthgap.services.store import check_writable

    check_writable(target, option)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{name}={value!r}: a whole number or 'auto'") from None


def main() -> None:
    """Entry point: run the app and turn healthgap's errors into one clear line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except HealthgapError as exc:
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False,
                      soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: an unfinished build was discarded; the output folder holds "
                      "the last complete build")
        sys.exit(130)


if __name__ == "__main__":
    main()
