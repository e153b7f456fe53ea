"""Tables and figures of a finished run, from its paths (`pipeline.PathProjection` chunks in a store).

Tables (tidy: one row per variable, dims and value; CSV and/or parquet as the spec says):
* quantiles: every indicator by year (and sex for e0) at the spec's quantiles;
* variants: SSB-style L/M/H of every indicator, as quantiles;
* population_quantiles: population by year, sex and age at the spec's quantiles;
* alternatives: indicators of each SSB alternative code (`pipeline.project_alternatives`).
Figures: fan charts (50/80/95% bands, registered history) of the main indicators, pyramids with bands.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from stochpop.outputs.charts import fan_chart, pyramid, save
from stochpop.outputs.quantiles import draw_quantiles, quantiles, tidy, variants_of, write_table
from stochpop.run.store import chunk_paths, open_results, step_reader

FAN_CHARTS: dict[str, tuple[str, str | None]] = {
    "total_population": ("Population on 1 January (millions)", None),
    "births": ("Live births (thousands)", None),
    "deaths": ("Deaths (thousands)", None),
    "net_migration": ("Net migration (thousands)", None),
    "tfr": ("Total fertility rate (births per woman)", None),
    "e0_female": ("Life expectancy at birth, women (years)", "female"),
    "e0_male": ("Life expectancy at birth, men (years)", "male"),
    "old_age_dependency": ("Old-age dependency ratio (65+ / 20-64)", None),
}
"""Fan charts drawn by `write_figures`: file name -> (title, sex for e0)."""
SCALE = {"total_population": 1e-6, "births": 1e-3, "deaths": 1e-3, "net_migration": 1e-3}


def indicator_paths(paths: xr.Dataset) -> xr.Dataset:
    """The per-path indicators of a run (everything but population by age), loaded into memory."""
    names = [name for name, v in paths.data_vars.items() if "age" not in v.dims and name != "population"]
    return paths[names].load(scheduler="threads")  # many small reads: here, not through a cluster


QUANTILE_MEMORY_BYTES = 2 * 2**30
"""Memory the population's quantiles may use at once; a year of draws takes about 6x its size while its
quantiles are found (the values, their bucket numbers, the candidates)."""


def population_quantiles(store: Path, q: Sequence[float]) -> xr.Dataset:
    """Quantiles of population (year, sex, age) over the draws of the run in `store`: one year at a time,
    read straight from the chunks (`distributed.step_reader`), the years spread over a thread per usable
    core (NumPy releases the GIL) as far as `QUANTILE_MEMORY_BYTES` allows."""
    chunks = chunk_paths(store)
    first_chunk = xr.open_zarr(chunks[0], consolidated=None)["population"]
    read = step_reader(store, "population")

    def year(index: int) -> np.ndarray:
        return draw_quantiles(read(index), q, axis=0)  # (quantile, sex, age)

    year_bytes = len(chunks) * first_chunk.isel(year=0).nbytes  # at most: the last chunk may be shorter
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, min(cores, QUANTILE_MEMORY_BYTES // (6 * year_bytes)))
    with ThreadPoolExecutor(threads) as pool:
        by_year = np.stack(list(pool.map(year, range(first_chunk.sizes["year"]))), axis=1)
    template = first_chunk.isel(draw=0, drop=True).expand_dims(quantile=list(q))
    return template.copy(data=by_year).to_dataset()


def write_tables(
    store: Path,
    alternatives: xr.Dataset | None,
    out: Path,
    q: Sequence[float],
    variant_levels: dict[str, float],
    formats: Sequence[str],
) -> list[Path]:
    """Write the tables of the run in `store` into `out` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    levels = sorted({*q, *variant_levels.values()})
    with ThreadPoolExecutor(1) as background:  # the population's quantiles while the indicators load
        population = background.submit(population_quantiles, store, q)
        per_path = quantiles(indicator_paths(open_results(store)), levels)  # quantiles and variants at once
        tables = {
            "quantiles": per_path.sel(quantile=list(q)),
            "variants": variants_of(per_path, variant_levels),
            "population_quantiles": population.result(),
        }
    if alternatives is not None:
        tables["alternatives"] = alternatives
    written = []
    for name, table in tables.items():
        written += write_table(tidy(table), out / name, formats)
    return written


def _fan_series(per_path: xr.Dataset, name: str, sex: str | None) -> xr.DataArray:
    variable = per_path["e0" if sex else name]
    return (variable.sel(sex=sex) if sex else variable) * SCALE.get(name, 1.0)


def write_figures(
    paths: xr.Dataset,
    history: xr.Dataset,
    out: Path,
    pyramid_years: Sequence[int],
    formats: Sequence[str],
    history_years: int = 40,
) -> list[Path]:
    """Fan charts (one file each and an overview) with the last `history_years` registered years, and a
    pyramid per year of `pyramid_years`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    per_path = indicator_paths(paths)
    written = []
    overview, axes = plt.subplots(2, 4, figsize=(16, 7.5), constrained_layout=True)
    for ax_overview, (name, (title, sex)) in zip(axes.ravel(), FAN_CHARTS.items(), strict=True):
        series = _fan_series(per_path, name, sex)
        time = next(d for d in series.dims if d != "draw")
        observed = _fan_series(history, name, sex).dropna(time)
        observed = observed.isel({time: slice(-history_years, None)})
        fig, ax = plt.subplots(figsize=(6, 4))
        for axis in (ax, ax_overview):
            fan_chart(axis, series, observed)
            axis.set_title(title, fontsize=10)
        ax.legend(frameon=False, fontsize=8, loc="best")
        written += save(fig, out / f"fan_{name}", formats)
    axes[0, 0].legend(frameon=False, fontsize=8, loc="upper left")
    written += save(overview, out / "fan_overview", formats)
    for year in pyramid_years:
        fig, ax = plt.subplots(figsize=(6, 6))
        pyramid(ax, paths["population"].sel(year=year).load())
        ax.set_title(f"Population on 1 January {year}: median, 50/80/95% intervals", fontsize=10)
        written += save(fig, out / f"pyramid_{year}", formats)
    return written
