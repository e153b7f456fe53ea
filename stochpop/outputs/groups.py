"""Figures of a grouped run (`groups.projection`): fan charts of the population groups as small multiples,
with their registered history where there is one."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from stochpop.outputs.charts import fan_chart, save

GROUP_FANS: dict[str, str] = {
    "immigrants g1": "Immigrants, group 1 (thousands)",
    "immigrants g2": "Immigrants, group 2 (thousands)",
    "immigrants g3": "Immigrants, group 3 (thousands)",
    "immigrants": "Immigrants (thousands)",
    "norwegian-born g1": "Norwegian-born to immigrant parents, group 1 (thousands)",
    "norwegian-born g2": "Norwegian-born to immigrant parents, group 2 (thousands)",
    "norwegian-born g3": "Norwegian-born to immigrant parents, group 3 (thousands)",
    "norwegian_born_to_immigrant_parents": "Norwegian-born to immigrant parents (thousands)",
    "immigrant_share": "Immigrants' share of the population (%)",
    "immigrant_share_70plus": "Immigrants' share of ages 70+ (%)",
    "group_births": "Births to immigrant mothers (thousands)",
    "born_share": "Norwegian-born to immigrant parents' share (%)",
}
"""The panels of `group_fan_charts`: series name -> title."""


def group_series(paths: xr.Dataset) -> dict[str, xr.DataArray]:
    """The per-path series (draw, year) of `GROUP_FANS` from a grouped run's paths, in their units."""
    population = paths["group_population"].load()
    share, old = paths["group_share"].load(), paths["group_share_70plus"].load()
    immigrant_kinds = [k for k in population["group_kind"].values if str(k).startswith("immigrants")]
    born_kinds = [k for k in population["group_kind"].values if str(k).startswith("norwegian-born")]
    series = {
        kind: population.sel(group_kind=kind, drop=True) / 1e3 for kind in [*immigrant_kinds, *born_kinds]
    }
    series["immigrants"] = paths["immigrants"].load() / 1e3
    series["norwegian_born_to_immigrant_parents"] = paths["norwegian_born_to_immigrant_parents"].load() / 1e3
    series["immigrant_share"] = share.sel(group_kind=immigrant_kinds).sum("group_kind") * 100
    series["immigrant_share_70plus"] = old.sel(group_kind=immigrant_kinds).sum("group_kind") * 100
    series["group_births"] = (
        paths["group_births"].sel(group_kind=immigrant_kinds).sum("group_kind").load() / 1e3
    )
    series["born_share"] = share.sel(group_kind=born_kinds).sum("group_kind") * 100
    return series


def group_fan_charts(
    paths: xr.Dataset, history: Mapping[str, xr.DataArray], out: Path, formats: Sequence[str]
) -> list[Path]:
    """One figure of small multiples (`GROUP_FANS`), each with its registered `history` (series name ->
    (year,) in the same units) if given; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    series = group_series(paths)
    fig, axes = plt.subplots(3, 4, figsize=(17, 11), constrained_layout=True)
    for ax, (name, title) in zip(axes.ravel(), GROUP_FANS.items(), strict=True):
        fan_chart(ax, series[name], history.get(name))
        ax.set_title(title, fontsize=9)
    axes[0, 0].legend(frameon=False, fontsize=7, loc="upper left")
    return save(fig, out / "fan_groups", formats)
