"""Regional and municipal summaries of a regional run (`regions.projection`): tables and small-multiple fan
charts.

Tables (tidy, as `outputs.tables`):
* regional_quantiles: per region, at the spec's quantiles: population on 1 January in total and in the
  broad age groups (`BROAD_GROUPS`), and per event year births, deaths, internal in- and out-moves, net
  internal and net international migration and the adjustment to the national path;
* regional_probabilities: per region and year of `years`, the share of paths in which the population is
  below the jump-off's (`below_jump_off`), more than 10% below it (`decline_over_10pct`) and more than 10%
  above it (`growth_over_10pct`): "population in 2040 below 2024" as planners ask;
* municipal_quantiles, municipal_probabilities: the same for the municipalities' totals, if stored.
Every probability is a share of the paths, so its Monte Carlo standard error is at most 0.5 / sqrt(paths).
"""

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from stochpop.outputs.charts import fan_chart, save
from stochpop.outputs.quantiles import quantiles, tidy, write_table

BROAD_GROUPS: dict[str, tuple[int, int | None]] = {
    "total": (0, None),
    "age_0_19": (0, 19),
    "age_20_64": (20, 64),
    "age_65_plus": (65, None),
    "age_80_plus": (80, None),
}
"""Broad age groups: name -> (first age, last age or None for open), in whole five-year groups."""


def _first_age(group: str) -> int:
    return int(group.rstrip("+").split("-")[0])


def broad_groups(population: xr.DataArray) -> xr.Dataset:
    """Regional population (..., sex, age_group) -> the `BROAD_GROUPS` (...) summed over sex."""
    first = np.array([_first_age(g) for g in population["age_group"].values])
    both = population.sum("sex")

    def group(low: int, high: int | None) -> xr.DataArray:
        inside = (first >= low) & (first <= (high if high is not None else first.max()))
        return both.isel(age_group=np.flatnonzero(inside)).sum("age_group")

    return xr.Dataset({name: group(*bounds) for name, bounds in BROAD_GROUPS.items()})


def regional_per_path(paths: xr.Dataset) -> xr.Dataset:
    """The regional variables summarised per path (loaded): population by `BROAD_GROUPS` (year, draw,
    region) and the flows (event_year, draw, region), net internal and net international migration."""
    population = broad_groups(paths["regional_population"])
    flows = paths[
        [n for n in paths.data_vars if str(n).startswith("regional_") and "event_year" in paths[n].dims]
    ]
    flows = flows.rename({n: str(n).removeprefix("regional_") for n in flows.data_vars})
    flows["net_internal"] = flows["internal_in"] - flows["internal_out"]
    flows["net_international"] = flows["immigrations"] - flows["emigrations"]
    return xr.merge([population, flows]).load(scheduler="threads")


def probabilities(totals: xr.DataArray, years: Sequence[int]) -> xr.Dataset:
    """Shares of paths (draw) whose totals (year, draw, place) in each of `years` are below the jump-off
    year's (the first), more than 10% below it, more than 10% above it: (year, place)."""
    start = totals.isel(year=0)
    later = totals.sel(year=list(years))
    return xr.Dataset(
        {
            "below_jump_off": (later < start).mean("draw"),
            "decline_over_10pct": (later < 0.9 * start).mean("draw"),
            "growth_over_10pct": (later > 1.1 * start).mean("draw"),
        }
    )


def regional_tables(paths: xr.Dataset, q: Sequence[float], years: Sequence[int]) -> dict[str, xr.Dataset]:
    """The tables of the module docstring from a run's paths (`results.store.open_results`)."""
    per_path = regional_per_path(paths)
    tables = {
        "regional_quantiles": quantiles(per_path, q),
        "regional_probabilities": probabilities(per_path["total"], years),
    }
    if "municipal_population" in paths:
        municipal = paths["municipal_population"].load(scheduler="threads")
        tables["municipal_quantiles"] = quantiles(municipal.rename("population"), q)
        tables["municipal_probabilities"] = probabilities(municipal, years)
    return tables


def write_regional_tables(
    paths: xr.Dataset, out: Path, q: Sequence[float], years: Sequence[int], formats: Sequence[str]
) -> list[Path]:
    """Write `regional_tables` into `out`; returns the files written."""
    written = []
    for name, table in regional_tables(paths, q, years).items():
        written += write_table(tidy(table), out / name, formats)
    return written


def regional_fan_charts(
    paths: xr.Dataset,
    history: xr.DataArray,
    out: Path,
    formats: Sequence[str],
    names: dict[str, str] | None = None,
    history_years: int = 20,
) -> list[Path]:
    """Small multiples: each region's population on 1 January (thousands; median, 50/80/95% bands) with
    its registered `history` (year, region), one panel per region on its own scale."""
    totals = paths["regional_population"].sum(["sex", "age_group"]).load(scheduler="threads") / 1e3
    regions = list(totals["region"].values)
    columns = min(5, len(regions))
    rows = -(-len(regions) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.4 * rows), constrained_layout=True, squeeze=False
    )
    observed = history.sel(year=history["year"].values[-history_years:]) / 1e3
    for ax, region in zip(axes.ravel(), regions, strict=False):
        fan_chart(ax, totals.sel(region=region), observed.sel(region=region))
        ax.set_title((names or {}).get(region, region), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(regions) :]:
        ax.set_visible(False)
    axes[0, 0].legend(frameon=False, fontsize=6, loc="upper left")
    fig.suptitle(
        "Population on 1 January by region (thousands): median, 50/80/95% intervals, registered", fontsize=10
    )
    return save(fig, out / "fan_regions", formats)
