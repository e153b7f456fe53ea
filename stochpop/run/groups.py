"""A run's population groups (spec [groups]): the group components fitted into the run directory, the
grouped jump-off stock and the group model its paths draw from.

The components are fitted on Norway's registered group data (`groups.registered`, in the spec's data
folder): fertility (`groups.fertility`), emigration (`groups.emigration`) and immigration
(`groups.immigration`), each on the registered years its module names before the jump-off (the event
years <= jump-off - 1, the stocks up to 1 January of the jump-off: `GroupFit`). The jump-off
stock is the reconstruction of the last year whose immigrants are registered by age, replayed with
observed flows to the jump-off (`groups.replay.replayed_jump_off`), in `JUMP_OFF_DRAWS` draws of the
reconstruction's spread (`groups.jump_off.jump_off_draws`), saved beside the posteriors at fit time; each
path starts from one of them (`groups.model.GroupModel`).
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import arviz as az
import numpy as np
import xarray as xr

from stochpop.components.fitting import read_diagnostics
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.settings import FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE
from stochpop.demography.groups import GroupCells
from stochpop.groups.emigration import fit_group_emigration
from stochpop.groups.fertility import fit_group_fertility
from stochpop.groups.immigration import fit_group_immigration
from stochpop.groups.jump_off import jump_off_draws
from stochpop.groups.model import PARTS, GroupModel
from stochpop.groups.registered import RegisteredGroups, load_registered
from stochpop.groups.replay import reconstruction_year, replayed_jump_off
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.run.inputs import data_folder
from stochpop.run.spec import Spec, SpecError

Log = Callable[[str], None]
JUMP_OFF = "jump_off"
"""The file (beside the components' posteriors) of the grouped jump-off's draws."""
FILES = (*PARTS, JUMP_OFF)
"""What a grouped fit saves in posteriors/groups/: the components and the jump-off draws."""
JUMP_OFF_DRAWS = 20
"""Reconstructions of the grouped jump-off (each replayed to the jump-off): the paths' start draws."""


class GroupFit(Protocol):
    """A group component's fit on the registered data of the event years <= `last_year` (None: all)."""

    def __call__(
        self, reg: RegisteredGroups, settings: FitSettings, /, *, last_year: int | None = None
    ) -> az.InferenceData: ...


FITS: dict[str, GroupFit] = {
    "fertility": fit_group_fertility,
    "emigration": fit_group_emigration,
    "immigration": fit_group_immigration,
}
"""Each part's fit on the registered group data (`fit_groups`: up to the year before the jump-off)."""


def cells(spec: Spec) -> GroupCells:
    """The spec's cells: SSB's three country groups, durations 0..groups.max_duration (open)."""
    return GroupCells(max_duration=spec.groups.max_duration)


def registered(spec: Spec) -> RegisteredGroups:
    """Norway's registered group data, from the spec's data folder."""
    return load_registered(data_folder(spec))


def group_settings(spec: Spec, settings: FitSettings) -> FitSettings:
    """`settings` with the warm-up and kept draws per chain that [groups] sets, where it sets them."""
    return settings.with_draws(spec.groups.warmup, spec.groups.samples)


def fit_groups(
    spec: Spec, files: dict[str, Path], settings: FitSettings, log: Log = print
) -> dict[str, dict[str, object]]:
    """Fit the group components with [groups]' draws (`group_settings`) and reconstruct the jump-off's
    draws (`jump_off_stocks`); save each into `files` (`FILES` -> file) as it finishes; return each
    step's seconds and diagnostics (for fits.json)."""
    settings = group_settings(spec, settings)
    reg = registered(spec)
    report: dict[str, dict[str, object]] = {}
    for part in FILES:
        start = time.perf_counter()
        if part == JUMP_OFF:
            staged = files[part].with_suffix(".partial")
            jump_off_stocks(reg, spec).to_netcdf(staged)
            staged.replace(files[part])
            report[part] = {"draws": JUMP_OFF_DRAWS}
        else:
            idata = FITS[part](reg, settings, last_year=spec.projection.jump_off - 1)
            save_posterior(idata, files[part])
            report[part] = {"diagnostics": str(read_diagnostics(idata))}
        report[part]["seconds"] = round(time.perf_counter() - start, 1)
        log(f"group {part} in {report[part]['seconds']:.0f} s: {report[part]}")
    return report


def jump_off_stocks(reg: RegisteredGroups, spec: Spec) -> xr.DataArray:
    """`JUMP_OFF_DRAWS` grouped stocks (draw, cell, sex, age) on 1 January of the spec's jump-off: draws of
    the reconstruction's spread (`jump_off_draws`, seeded by the run's seed) each replayed to the jump-off
    (`replayed_jump_off`); persons."""
    year, c = spec.projection.jump_off, cells(spec)
    first = reconstruction_year(reg, year)
    draws = jump_off_draws(reg, first, JUMP_OFF_DRAWS, spec.paths.seed, c)
    stocks = [replayed_jump_off(reg, year, c, draws.isel(draw=i, drop=True)) for i in range(JUMP_OFF_DRAWS)]
    return xr.concat(stocks, "draw").assign_attrs(
        units="persons", date=f"1 January {year}", reconstructed=first
    )


def group_model(spec: Spec, files: dict[str, Path]) -> GroupModel:
    """The group model of a fitted run: the saved jump-off draws at kernel ages, the saved posteriors,
    the run's seed (`files`: `FILES` -> file)."""
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise SpecError(f"no saved group posteriors {missing} (run `stochpop fit` first)")
    for part in PARTS:
        load_posterior(files[part])  # fail here, not on a worker, if one is damaged
    with xr.open_dataarray(files[JUMP_OFF]) as stocks:
        start = to_kernel_ages(stocks.load()).transpose("draw", "cell", "sex", "age").values
    return GroupModel(
        cells=cells(spec),
        start=start.astype(np.float32),
        posteriors={part: str(files[part].resolve()) for part in PARTS},
        seed=spec.paths.seed,
        max_age=MIGRATION_MAX_AGE,
    )


def registered_history(spec: Spec) -> dict[str, xr.DataArray]:
    """The registered series (year,) of the group fan charts (`outputs.groups.GROUP_FANS`), in their units:
    immigrants by country group (thousands; 2006-2022), immigrants (thousands; 1986-2015 by IMDi's main
    groups, then the country groups' sum), Norwegian-born to immigrant parents (thousands; 1986-2015) and
    the immigrants' share of the population (%)."""
    reg = registered(spec)
    by_group = reg.country_groups.sel(group=[1, 2, 3])
    main = reg.main_groups.sum("sex")
    total = reg.population.sum(["sex", "age"])
    registered_by_age = main.sel(category="immigrants").dropna("year")
    later = by_group.sum("group").sel(year=by_group["year"] > registered_by_age["year"].max())
    immigrants = xr.concat([registered_by_age, later], "year")
    history = {f"immigrants g{g}": by_group.sel(group=g, drop=True) / 1e3 for g in (1, 2, 3)}
    history["immigrants"] = immigrants / 1e3
    history["norwegian_born_to_immigrant_parents"] = main.sel(category="norwegian_born").dropna("year") / 1e3
    history["immigrant_share"] = immigrants / total.sel(year=immigrants["year"]) * 100
    return history
