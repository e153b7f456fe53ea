"""Figures of a finished run: fan charts (50/80/95% bands, registered history) of the main indicators, and
population pyramids with bands."""

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from stochpop.outputs.charts import fan_chart, pyramid, save
from stochpop.outputs.tables import indicator_paths

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
