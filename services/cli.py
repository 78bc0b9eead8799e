"""The ``healthgap`` command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthgap.errors import HealthgapError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="healthgap: where, and why, life expectancy is unequal between the "
                       "neighbourhoods of England's Integrated Care Systems.")
console = Console(stderr=True)
out = Console()

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

DataOpt = Annotated[Path, typer.Option("--data", help="Data directory laid out like "
                                       "../shared/data.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output directory (default "
                                             "out/<area code>).")]


def _run_build(options: object) -> object:
    from healthgap.services.build import build

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("starting", total=1)

        def on_stage(stage: str, i: int, n: int) -> None:
            progress.update(task, description=stage, completed=i, total=n)

        return build(options, on_stage=on_stage)  # type: ignore[arg-type]


def _report(result: object) -> None:
    from healthgap.services.build import BuildResult

    assert isinstance(result, BuildResult)
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


@app.command()
def build(area: Annotated[str, typer.Option("--area", help="ICB, sub-ICB or local authority "
                                            "code or name, or 'england'.")],
          data: DataOpt = DEFAULT_DATA, out_dir: OutOpt = None,
          ring: Annotated[int, typer.Option(help="Rings of neighbours kept outside the "
                                            "area.")] = 1,
          weights: Annotated[str, typer.Option(help="queen, rook, knn, distance_band.")] = "queen",
          permutations: Annotated[str, typer.Option(help="Permutations, or 'auto'.")] = "auto",
          seed: Annotated[int, typer.Option(help="Seed of every permutation.")] = 2019,
          correction: Annotated[str, typer.Option(help="fdr, bonferroni or none.")] = "fdr",
          max_loss: Annotated[float, typer.Option(help="Largest share of rows a join may "
                                                  "lose.")] = 0.0,
          access: Annotated[bool, typer.Option(help="Build access/environment layers.")] = True,
          models: Annotated[bool, typer.Option(help="Fit the life-expectancy models.")] = True,
          maps: Annotated[bool, typer.Option(help="Write the HTML atlas.")] = True,
          neighbourhoods: Annotated[Path | None, typer.Option(
              "--neighbourhoods", help="CSV of lsoa11cd,nbhd_cd,nbhd_nm (e.g. from `healthgap "
              "neighbourhoods`); default: PCN catchments if their files are in --data, else "
              "generated.")] = None) -> None:
    """Build an area's layers, statistics, models and atlas into one GeoPackage."""
    from healthgap.services.build import BuildOptions

    perms: int | str = permutations if permutations == "auto" else _int(permutations,
                                                                         "--permutations")
    target = out_dir or Path("out") / area.strip().lower().replace(" ", "-")
    result = _run_build(BuildOptions(area=area, data_dir=data, out_dir=target, ring=ring,
                                     weights=weights, permutations=perms, seed=seed,
                                     correction=correction, max_loss=max_loss, access=access,
                                     models=models, maps=maps,
                                     neighbourhoods=neighbourhoods))
    _report(result)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] =
         Path("out/demo"),
         seed: Annotated[int, typer.Option(help="Seed of the synthetic area.")] = 2019) -> None:
    """Generate the synthetic demo area and build it (no internet needed)."""
    from healthgap.data.demo import DEMO_ICB, generate_demo
    from healthgap.services.build import BuildOptions

    data_dir = out_dir / "data"
    console.print(f"generating the SYNTHETIC demo area in {data_dir}")
    generate_demo(data_dir, seed=seed)
    result = _run_build(BuildOptions(area=DEMO_ICB, data_dir=data_dir, out_dir=out_dir,
                                     seed=seed, synthetic=True))
    _report(result)
    out.print("[bold yellow]The demo data is SYNTHETIC: it describes no real place.[/bold yellow]")
    atlas = result.outputs.get("atlas")  # type: ignore[attr-defined]
    if atlas:
        out.print(f"Open the atlas in a browser: [bold]{Path(atlas).resolve().as_uri()}[/bold]")
    out.print(f"Headline figures: healthgap headline --store {out_dir}")


@app.command()
def areas(data: DataOpt = DEFAULT_DATA,
          level: Annotated[str, typer.Option(help="icb, sicb or lad.")] = "icb") -> None:
    """List the ICBs (or sub-ICBs, local authorities) with their codes."""
    from healthgap.data.layout import DataDir
    from healthgap.services.build import load_hierarchy

    h = load_hierarchy(DataDir(data))
    frame = h.areas(level)
    table = Table()
    table.add_column("code")
    for col in frame.columns:
        table.add_column(col)
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
          workers: Annotated[int, typer.Option(help="LocalCluster worker processes.")] = 2,
          retries: Annotated[int, typer.Option(help="Retries of a failing ICB.")] = 1,
          force: Annotated[bool, typer.Option(help="Rebuild up-to-date ICBs too.")] = False,
          maps: Annotated[bool, typer.Option(help="Write each ICB's atlas.")] = True) -> None:
    """Build every ICS atlas (each with its edge ring) as tasks on Dask distributed."""
    from healthgap.data.layout import DataDir
    from healthgap.services.batch import run_batch
    from healthgap.services.build import BuildOptions, load_hierarchy

    h = load_hierarchy(DataDir(data))
    codes = (list(h.areas("icb").index) if icbs.strip().lower() == "all"
             else [h.resolve(q).code for q in icbs.split(",") if q.strip()])
    template = BuildOptions(area="", data_dir=data, out_dir=out_dir, maps=maps)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("building ICSs", total=len(codes))

        def done(o: object) -> None:
            progress.advance(task)
            progress.console.print(f"{o.area}: {o.status} {o.error}")  # type: ignore[attr-defined]

        report = run_batch(codes, data_dir=data, out_root=out_dir, template=template,
                           scheduler=scheduler, n_workers=workers, retries=retries,
                           force=force, on_done=done)
    table = Table(title=f"batch of {len(codes)} ICB(s) in {report.seconds:.0f} s")
    for c in ("area", "status", "seconds", "attempts", "error"):
        table.add_column(c)
    for o in report.outcomes:
        table.add_row(o.area, o.status, f"{o.seconds:.1f}", str(o.attempts), o.error[:80])
    out.print(table)
    (out_dir / "batch_report.json").write_text(__import__("json").dumps(report.to_dict(),
                                                                        indent=2))
    if report.by_status("failed"):
        raise typer.Exit(code=1)


@app.command()
def serve(store: Annotated[Path, typer.Option("--store", help="A build directory (holding "
                                             "healthgap.gpkg) or a directory of builds, one "
                                             "subdirectory per area.")] = Path("out"),
          host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000) -> None:
    """Serve the builds over HTTP: GeoJSON layers, maps, statistics and model reruns.

    Other settings come from HEALTHGAP_* environment variables (see services/settings.py).
    The OpenAPI documentation is at /docs.
    """
    import uvicorn
    from healthgap.services.api.app import create_app
    from healthgap.services.api.catalog import Catalog
    from healthgap.services.settings import Settings
    from pydantic import ValidationError

    try:
        settings = Settings(store_root=store)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"settings (HEALTHGAP_* environment): {problems}") from None
    logging.getLogger().setLevel(settings.log_level)
    builds = Catalog(store).scan()
    if not builds:
        raise InputError(f"{store}: no build found (a healthgap.gpkg here or in a "
                         "subdirectory); run `healthgap build` first")
    console.print(f"serving {len(builds)} build(s): {', '.join(sorted(builds))} on "
                  f"http://{host}:{port} (docs at /docs)")
    uvicorn.run(create_app(settings), host=host, port=port,
                log_level=settings.log_level.lower(), log_config=None)


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
    out.print(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def headline(store: Annotated[Path, typer.Option("--store", help="A build directory.")]) -> None:
    """Print the headline figures of a build: LE range and SII per level, cliffs, regression."""
    import pandas as pd
    from healthgap.services.store import BuildStore

    st = BuildStore(store)
    layers = st.layers()
    man = st.read_manifest()
    out.print(f"[bold]{man['area']['name']} ({man['area']['code']})[/bold]"
              + ("  [yellow]SYNTHETIC DEMO DATA[/yellow]" if man.get("synthetic") else ""))

    def show(title: str, frame: pd.DataFrame, cols: list[str]) -> None:
        table = Table(title=title)
        cols = [c for c in cols if c in frame.columns]
        for c in cols:
            table.add_column(c, justify="right" if frame[c].dtype.kind in "fi" else "left")
        for _, row in frame[cols].iterrows():
            table.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row])
        out.print(table)

    if "model_sii" in layers:
        sii = st.read_layer("model_sii")
        show("Life expectancy range and slope index of inequality (years) per level", sii,
             ["sex", "level", "code", "n_msoa", "le_min", "le_max", "le_range", "sii",
              "sii_lci", "sii_uci", "gap"])
    if "model_headline" in layers:
        hl = st.read_layer("model_headline")
        show("Distance decay: the system-wide claims", hl,
             ["index", "range_years", "name_min", "name_max", "median_years_per_mile",
              "share_pairs_at_or_above_threshold", "transect_loss_per_mile",
              "transect_loss_per_mile_lo", "transect_loss_per_mile_hi"])
    if "cliffs" in layers:
        cl = st.read_layer("cliffs").head(10)
        show("Steepest health cliffs (years per mile between neighbouring MSOAs)", cl,
             ["sex", "code_a", "code_b", "le_a", "le_b", "distance_miles", "years_per_mile"])
    if "model_regression" in layers:
        rg = st.read_layer("model_regression")
        cols = [c for c in rg.columns if c not in ("sex",)]
        show("Regression of life expectancy (OLS, spatial lag, spatial error)", rg,
             ["sex", *cols[:7]])
    if "model_fit" in layers:
        show("Model fit", st.read_layer("model_fit"),
             ["sex", "model", "n", "log_likelihood", "aic", "rho", "lambda"])
    _headline_core20(st, layers, man)


def _headline_core20(st: object, layers: dict[str, str | None], man: dict[str, object]) -> None:
    """Core20 per level and the neighbourhoods furthest behind (issue #14)."""
    from healthgap.services.store import BuildStore

    assert isinstance(st, BuildStore)
    results = man.get("results", {})
    core = results.get("core20", {}) if isinstance(results, dict) else {}
    table = Table(title="Core20: residents of England's 20% most deprived LSOAs "
                        f"(population {core.get('population_year', '?')}; England share "
                        f"{core.get('england_core20_share', float('nan')):.1%})")
    for c in ("level", "code", "name", "population", "core20_pop", "core20_share",
              "LE male Core20 / other (approx.)"):
        table.add_column(c)
    for level, code, name in (("system", "icb22cd", "icb22nm"), ("place", "lad22cd", "lad22nm"),
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
        seed: Annotated[int, typer.Option(help="Seed of the regionalisation.")] = 2019) -> None:
    """Propose neighbourhoods of 30-50k people (or check a lookup) for a team to review.

    Writes neighbourhoods.csv (the --neighbourhoods format of `healthgap build`) and
    neighbourhoods.gpkg (layer `neighbourhood`, table `neighbourhood_exceptions`, and the LSOAs
    with their nbhd_cd).
    """
    from healthgap.data.layout import DataDir
    from healthgap.geo.layers import join_imd
    from healthgap.geo.neighbourhoods import attach_neighbourhoods
    from healthgap.services.build import (
        choose_neighbourhoods,
        load_area,
        load_hierarchy,
        read_cached,
    )
    from healthgap.services.store import BuildStore

    d = DataDir(data)
    h = load_hierarchy(d)
    ref = h.resolve(area)
    study = load_area(d, ref, h, ring=0)
    join_imd(study, read_cached("read_imd", d.path("imd")))
    nb = choose_neighbourhoods(study, supplied=supplied, registrations=d.optional(
        "gp_registrations"), epcn=d.optional("epcn"), seed=seed)
    attach_neighbourhoods(study, nb)
    target = out_dir or Path("out") / ref.slug / "neighbourhoods"
    target.mkdir(parents=True, exist_ok=True)
    nb.to_csv_frame().to_csv(target / "neighbourhoods.csv", index=False)
    gpkg = target / "neighbourhoods.gpkg"
    gpkg.unlink(missing_ok=True)
    store = BuildStore(gpkg)
    assert study.neighbourhood is not None
    store.write_layer("neighbourhood", study.neighbourhood)
    store.write_layer("lsoa", study.inside[["lsoa11nm", "msoa11cd", "lad22cd", "nbhd_cd",
                                            "population", "geometry"]])
    store.write_layer("neighbourhood_exceptions", nb.exceptions)
    pops = study.neighbourhood["population"]
    out.print(f"{ref.name} ({ref.code}): {len(pops)} neighbourhoods ({nb.source}), "
              f"{int(pops.min()):,}-{int(pops.max()):,} residents, {len(nb.exceptions)} "
              "exception(s)")
    for row in nb.exceptions.itertuples(index=False):
        out.print(f"[dim]exception:[/dim] {row.nbhd_cd} {row.nbhd_nm}: {row.reason}")
    for note in nb.notes:
        out.print(f"[dim]note:[/dim] {note}")
    out.print(f"lookup: [bold]{target / 'neighbourhoods.csv'}[/bold]  map layers: "
              f"[bold]{gpkg}[/bold]")


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
        console.print(f"[bold red]error:[/bold red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
