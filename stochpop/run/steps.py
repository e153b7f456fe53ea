"""The steps of a run, as the library offers them and the `stochpop` command calls them.

    spec = stochpop.load_spec("models/demo.toml")
    run = stochpop.fit(spec, "out/demo")          # a RunDirectory: spec.json, posteriors, fits.json
    stochpop.project(run)                         # paths.zarr (resumes an interrupted run)
    stochpop.summarise(run)                       # tables/
    stochpop.plot(run)                            # figures/

`run_all(spec, out)` does all four sharing one Dask cluster, computing SSB's alternatives on a worker
while the paths run; `backtest(spec, out)` refits and projects from past jump-offs and scores them.
"""

import json
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import xarray as xr
from dask.distributed import Client
from tqdm import tqdm

from stochpop.backtest.evaluate import External, evaluate
from stochpop.backtest.run import run_backtest
from stochpop.data.container import CountryData
from stochpop.demography.indicators import observed_indicators
from stochpop.groups.projection import GroupedProjection
from stochpop.outputs.figures import write_figures
from stochpop.outputs.groups import group_fan_charts
from stochpop.outputs.regional import regional_fan_charts, write_regional_tables
from stochpop.outputs.tables import write_tables
from stochpop.projection.alternatives import project_alternatives
from stochpop.projection.sampled import PATHS_FORMAT, PathProjection
from stochpop.regions.projection import RegionalProjection
from stochpop.results.store import ChunkDamage, ChunkFn, open_results, require_whole, verify_store
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client
from stochpop.run.directory import RunDirectory, write_atomically
from stochpop.run.fitting import fit_and_save
from stochpop.run.groups import FILES as GROUP_FILES
from stochpop.run.groups import fit_groups, group_model, registered_history
from stochpop.run.inputs import build_components, load_data
from stochpop.run.lock import run_lock
from stochpop.run.regions import fit_regions, parts, regional_model, registered_totals
from stochpop.run.spec import Spec, spec_to_dict

RunLike = RunDirectory | str | Path
"""A run directory, as a `RunDirectory` or its path."""


def _run(run: RunLike) -> RunDirectory:
    return run if isinstance(run, RunDirectory) else RunDirectory(run)


def fit(spec: Spec, out: str | Path, data: CountryData | None = None) -> RunDirectory:
    """Fit the spec's components (and its regional parts, if it has regions) on its data (`data`, if
    already loaded) and save them in the run directory `out`: spec.json, the posteriors and fits.json.
    Paths of an earlier fit in `out` are removed (they must not be resumed)."""
    run = RunDirectory(out)
    data = load_data(spec) if data is None else data
    components = build_components(spec, data)
    with run.lock("fit"):
        if run.store.exists():
            shutil.rmtree(run.store)
            print(f"removed {run.store}: its paths came from the earlier fit")
        run.write_spec(spec)
        fit_and_save(components, data, spec.fit, run)
        extra = {}
        if spec.regions.division != "none":
            extra["regions"] = fit_regions(spec, data, run.regional_files(parts(spec)), spec.fit, tqdm.write)
        if spec.groups.enabled:
            extra["groups"] = fit_groups(spec, run.group_files(GROUP_FILES), spec.fit, tqdm.write)
        if extra:
            fits = json.loads(run.fits_file.read_text())
            write_atomically(run.fits_file, json.dumps({**fits, **extra}, indent=2))
    return run


def chunk_function(run: RunLike, projection: PathProjection) -> ChunkFn:
    """What computes a chunk of the run's paths: `projection`, with its regions or its population groups if
    the spec has them (`regions.projection.RegionalProjection`, `groups.projection.GroupedProjection`)."""
    run = _run(run)
    spec = run.spec()
    if spec.groups.enabled:
        return GroupedProjection(projection, group_model(spec, run.group_files(GROUP_FILES)))
    if spec.regions.division == "none":
        return projection
    files = run.regional_files(parts(spec))
    return RegionalProjection(projection, regional_model(spec, files))


def path_projection(run: RunLike, data: CountryData | None = None) -> PathProjection:
    """The run's `PathProjection` from its spec, its data (`data`, if already loaded) and its saved
    posteriors (SpecError if it has none)."""
    run = _run(run)
    spec = run.spec()
    files = run.fitted_posteriors()
    data = load_data(spec) if data is None else data
    p = spec.projection
    return PathProjection.create(
        data, build_components(spec, data), files, p.jump_off, p.horizon, spec.paths.seed
    )


@contextmanager
def cluster(spec: Spec, scheduler: str | None = None) -> Iterator[Client | None]:
    """A run's Dask client: on `scheduler`, on a LocalCluster of `paths.workers` processes, or None
    (workers = 0: compute in this process)."""
    if spec.paths.workers == 0 and scheduler is None:
        yield None
        return
    with dask_client(max(spec.paths.workers, 1), scheduler) as client:
        yield client


def project(run: RunLike, client: Client | None = None, projection: PathProjection | None = None) -> Path:
    """Every path of the run's spec into its store, with a progress bar, on `client`'s workers or in this
    process: resumes what is there after verifying it, recomputing damaged chunks (bit-identical: paths are
    keyed by their index). Returns the store."""
    run = _run(run)
    spec = run.spec()
    projection = path_projection(run) if projection is None else projection
    p = spec.paths
    identity = {
        "seed": p.seed,
        "jump_off": spec.projection.jump_off,
        "horizon": spec.projection.horizon,
        "paths_format": PATHS_FORMAT,
        "regions": spec_to_dict(spec)["regions"],
        "groups": spec_to_dict(spec)["groups"],
    }

    def repairing(damaged: list[ChunkDamage]) -> None:
        print(f"recomputing {len(damaged)} damaged chunks: " + "; ".join(str(d) for d in damaged))

    start = time.perf_counter()
    bar = tqdm(total=-(-p.n // p.chunk_size), desc="paths", unit="chunk", file=sys.stderr, leave=False)
    with run.lock("project"), bar:
        run_chunks(
            chunk_function(run, projection),
            p.n,
            p.chunk_size,
            run.store,
            client,
            lambda _: bar.update(),
            identity,
            repairing,
        )
    print(f"projected {p.n} paths to {run.store} in {time.perf_counter() - start:.1f} s")
    return run.store


def alternatives(run: RunLike, projection: PathProjection | None = None) -> xr.Dataset | None:
    """SSB's alternatives of the run's spec (`project_alternatives`), or None if it asks for none."""
    run = _run(run)
    spec = run.spec()
    if not spec.outputs.alternatives:
        return None
    projection = path_projection(run) if projection is None else projection
    return project_alternatives(projection, *_alternatives_arguments(spec))


def _alternatives_arguments(spec: Spec) -> tuple[tuple[str, ...], int, dict[str, float]]:
    n = min(spec.outputs.alternative_paths, spec.paths.n)
    return spec.outputs.alternatives, n, _variant_levels(spec)


def _variant_levels(spec: Spec) -> dict[str, float]:
    return dict(zip("LMH", spec.outputs.variants, strict=True))


def summarise(run: RunLike, computed_alternatives: xr.Dataset | None = None) -> list[Path]:
    """The tables of the run's paths (and of SSB's alternatives, computed unless given) into tables/.
    IntegrityError naming the damaged or missing chunks if the store is not whole (`verify`)."""
    run = _run(run)
    spec = run.spec()
    with run.lock("summary"):
        require_whole(run.store)
        if computed_alternatives is None:
            computed_alternatives = alternatives(run)
        written = write_tables(
            run.store,
            computed_alternatives,
            run.tables,
            spec.outputs.quantiles,
            _variant_levels(spec),
            spec.outputs.table_formats,
        )
        if spec.regions.division != "none":
            written += write_regional_tables(
                open_results(run.store),
                run.tables,
                spec.outputs.quantiles,
                spec.probability_years,
                spec.outputs.table_formats,
            )
    print(f"wrote {len(written)} tables to {run.tables}")
    return written


def plot(run: RunLike, data: CountryData | None = None) -> list[Path]:
    """Fan charts and pyramids of the run's paths, with the registered history of its data (`data`, if
    already loaded), into figures/. IntegrityError if the store is not whole (`verify`)."""
    run = _run(run)
    spec = run.spec()
    history = observed_indicators(load_data(spec) if data is None else data)
    with run.lock("plot"):
        require_whole(run.store)
        paths = open_results(run.store)
        written = write_figures(paths, history, run.figures, spec.pyramid_years, spec.outputs.plot_formats)
        if spec.regions.division != "none":
            registered = registered_totals(spec)
            names = dict(zip(registered["region"].values, registered["region_name"].values, strict=True))
            written += regional_fan_charts(paths, registered, run.figures, spec.outputs.plot_formats, names)
        if spec.groups.enabled:
            written += group_fan_charts(
                paths, registered_history(spec), run.figures, spec.outputs.plot_formats
            )
    print(f"wrote {len(written)} figures to {run.figures}")
    return written


def project_and_summarise(
    run: RunLike, client: Client | None = None, projection: PathProjection | None = None
) -> list[Path]:
    """`project`, then `summarise`; with a client, SSB's alternatives are computed on a worker while the
    paths run. Returns the tables written."""
    run = _run(run)
    spec = run.spec()
    projection = path_projection(run) if projection is None else projection
    pending = None
    if client is not None and spec.outputs.alternatives:
        arguments = _alternatives_arguments(spec)
        pending = client.submit(project_alternatives, projection, *arguments, pure=False)
    project(run, client, projection)
    computed = pending.result() if pending is not None else alternatives(run, projection)
    return summarise(run, computed)


def run_all(spec: Spec, out: str | Path, scheduler: str | None = None) -> RunDirectory:
    """fit, then `project_and_summarise` on one cluster, then plot, reading the data once; prints where the
    results are and the headline figures."""
    data = load_data(spec)
    run = RunDirectory(out)
    with run.lock("run"):
        fit(spec, run.path, data)
        with cluster(spec, scheduler) as client:
            project_and_summarise(run, client, path_projection(run, data))
        plot(run, data)
    print(headline(run))
    return run


def verify(run: RunLike) -> list[ChunkDamage]:
    """Every chunk of the run's store checked against its manifest and integrity record (sizes and CRC-32C
    of every file): the damaged or missing chunks, empty if the store is whole (`results.store`)."""
    return verify_store(_run(run).store)


def headline(run: RunLike) -> str:
    """Where a summarised run's results are, and its headline figures: the population (median and 80%
    interval) at the jump-off and in the pyramid years, and TFR and e0 by sex in the last projected year."""
    run = _run(run)
    spec = run.spec()
    table = _read_table(run.tables / "quantiles")

    def nearest(q: float) -> float:
        return min(spec.outputs.quantiles, key=lambda x: abs(x - q))

    near = {q: nearest(q) for q in (0.1, 0.5, 0.9)}
    low, high = near[0.1], near[0.9]
    lines = [f"results in {run.path}: tables/, figures/, paths.zarr ({spec.paths.n} paths)"]
    years = (spec.projection.jump_off, *spec.pyramid_years)

    def value(variable: str, year_column: str, year: int, q: float, sex: str | None = None) -> float:
        rows = table[
            (table["variable"] == variable) & (table[year_column] == year) & (table["quantile"] == q)
        ]
        if sex is not None:
            rows = rows[rows["sex"] == sex]
        return float(rows["value"].iloc[0])

    interval = f"{round((high - low) * 100)}%"
    for year in years:
        m, lo, hi = (value("total_population", "year", year, q) / 1e6 for q in (near[0.5], low, high))
        lines.append(
            f"  population 1 January {year}: {m:.2f} million ({interval} interval {lo:.2f}-{hi:.2f})"
        )
    last = spec.projection.jump_off + spec.projection.horizon - 1
    tfr = value("tfr", "event_year", last, near[0.5])
    e0 = {sex: value("e0", "event_year", last, near[0.5], sex) for sex in ("female", "male")}
    lines.append(f"  {last}: TFR {tfr:.2f}, e0 women {e0['female']:.1f}, men {e0['male']:.1f} (medians)")
    return "\n".join(lines)


def _read_table(path_without_suffix: Path) -> pd.DataFrame:
    """A table written by `outputs.tables`, from its CSV or its parquet file."""
    for suffix, read in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        if path_without_suffix.with_suffix(suffix).is_file():
            return read(path_without_suffix.with_suffix(suffix))
    raise FileNotFoundError(f"{path_without_suffix}: no .csv or .parquet table (run `stochpop summary`)")


def backtest(spec: Spec, out: str | Path, externals: Sequence[External] = ()) -> list[Path]:
    """Refit and project from every jump-off of `spec.backtest` into `out` (resuming what is done), then
    score and report beside the SSB-like baseline and any `externals`; returns the files written."""
    data = load_data(spec)
    out = Path(out)
    start = time.perf_counter()
    with run_lock(out, "backtest"):
        computed = run_backtest(spec, data, out)
        print(f"back-tested {len(computed)} jump-offs in {time.perf_counter() - start:.0f} s")
        written = evaluate(out, data, externals)
    print(f"wrote {len(written)} tables and figures to {out / 'tables'} and {out / 'figures'}")
    return written
