"""`GrossMigrationModel`: the gross migration component (`gross_model`), fitted to the immigration and
emigration counts of `CountryData` and forecast by running both levels' AR(1)s on for every posterior draw
at once."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import Drivers, MigrationValues, values_by_year
from stochpop.components.fitting import constant_values, fit_model, interval_share
from stochpop.components.migration.checks import (
    check_draws,
    checked_observations,
    one_step_replicates,
)
from stochpop.components.migration.gross_model import (
    GROSS_SCALARS,
    LEVEL_PARAMETERS,
    SCHEDULES,
    emigration_probabilities,
    gross_design,
    gross_migration_model,
    simulate_gross_flows,
)
from stochpop.components.migration.inputs import (
    fit_attributes,
    fit_constants,
    fit_years,
    level_unit,
    reference_population,
)
from stochpop.components.migration.paths import forecast_dataset, forecast_steps, level_paths, pad_ages
from stochpop.components.randomness import Paths, path_keys, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE, SEXES
from stochpop.data.container import CountryData
from stochpop.demography.ageing import aged_population

Array = jax.Array
FLOWS = ("immigration", "emigration")
"""The gross flows, as `CountryData` fields and observation names."""


@jax.jit
def expected_emigrations(probabilities: Array, at_risk: Array) -> Array:
    """Emigrations (...) that emigration `probabilities` (..., 2, A) give on a population `at_risk` (2, A)."""
    return (probabilities * at_risk).sum((-2, -1))


@dataclass(frozen=True)
class GrossMigrationModel:
    """Bayesian immigration counts and emigration probabilities by sex and age (`gross_migration_model`),
    fitted to the gross flows of `CountryData` (immigration, emigration) with the population at risk
    `stochpop.demography.ageing.aged_population`, years first_year..last_year (default: all with flows).

    max_age: oldest age with migration (default `conventions.MIGRATION_MAX_AGE`, None: every age of the
    data); older ages get no immigrants and emigration probability zero. Forecasts carry parameter and
    process (level shock) uncertainty; immigration is the expected count of each path (no Poisson noise).
    """

    first_year: int | None = None
    last_year: int | None = None
    max_age: int | None = MIGRATION_MAX_AGE
    name: str = "migration"

    def observations(self, data: CountryData) -> xr.Dataset:
        """immigration, emigration (counts) and at_risk (persons), (year, sex, age), as `fit` uses them."""
        if data.immigration is None or data.emigration is None:
            raise ValueError(
                f"{data.name}: GrossMigrationModel needs gross flows (CountryData.immigration and "
                "CountryData.emigration), but the data have none; use NetMigrationModel"
            )
        available = np.intersect1d(data.immigration["year"], data.emigration["year"])
        available = available[
            np.isin(available, data.population["year"]) & np.isin(available, data.births["year"])
        ]
        years = fit_years(available, self.first_year, self.last_year, f"{data.name} gross migration")
        out = xr.Dataset(
            {
                "immigration": data.immigration.sel(year=years),
                "emigration": data.emigration.sel(year=years),
                "at_risk": aged_population(data, years),
            }
        )
        return out if self.max_age is None else out.sel(age=slice(0, self.max_age))

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
        """Fit to `data`'s gross flows (see `fit_observed`); ValueError if it has none."""
        obs = self.observations(data)
        population = reference_population(data, int(obs["year"].values[-1]))
        return self.fit_observed(
            obs["immigration"], obs["emigration"], obs["at_risk"], population, settings, country=data.name
        )

    def fit_observed(
        self,
        immigration: xr.DataArray,
        emigration: xr.DataArray,
        at_risk: xr.DataArray,
        population: float,
        settings: FitSettings = DEFAULT_FIT_SETTINGS,
        country: str = "",
    ) -> az.InferenceData:
        """Fit to immigration and emigration counts and the population at risk, (year, sex, age) each,
        persons; `population` (persons) scales the level priors.

        InferenceData: posterior (parameters, `immigration_schedule` shares, `emigration_schedule` log-hazard
        offsets g with sum(emigration_weight * g) = 0; attrs with this component's class and options),
        observed_data (the yearly levels), constant_data with the observations, `immigration_level` (year,
        log thousands), `emigration_level` (year, log hazard), `emigration_weight` (sex, age), `last_year`,
        `population` and `unit`.
        """
        imm, emi, risk = (a.transpose("year", "sex", "age") for a in (immigration, emigration, at_risk))
        years, ages = imm["year"].values, imm["age"].values
        if np.any(emi.values > risk.values):
            raise ValueError("emigration exceeds the population at risk in some cells")
        design = gross_design(ages, imm.values, emi.values, risk.values)
        n_coef = design["immigration_design"].matrix.shape[1]
        coords = {
            "year": years,
            "sex": list(SEXES),
            "age": ages,
            "coef": np.arange(n_coef),
            "free_coef": np.arange(n_coef - 1),
        }
        dims = {
            "immigration_level": ["year"],
            "emigration_level": ["year"],
            "immigration_schedule_coef": ["coef"],
            "emigration_schedule_coef": ["coef"],
            "immigration_schedule_coef_z": ["free_coef"],
            "emigration_schedule_coef_z": ["free_coef"],
            "immigration_schedule": ["sex", "age"],
            "emigration_schedule": ["sex", "age"],
        }
        constant_data = {
            "immigration": imm.astype(float),
            "emigration": emi.astype(float),
            "at_risk": risk.astype(float),
            "immigration_level": xr.DataArray(
                design["immigration_level"],
                dims="year",
                coords={"year": years},
                attrs={"units": "log thousands"},
            ),
            "emigration_level": xr.DataArray(
                design["emigration_level"], dims="year", coords={"year": years}, attrs={"units": "log hazard"}
            ),
            "emigration_weight": emi.sum("year").astype(float) + 0.5,
            **fit_constants(years, population),
        }
        return fit_model(
            gross_migration_model,
            {
                **design,
                "unit": level_unit(population),
                "immigration": imm.values.astype(float),
                "emigration": emi.values.astype(float),
            },
            settings,
            coords,
            dims,
            constant_data,
            check=[*GROSS_SCALARS, "immigration_schedule_coef_z", "emigration_schedule_coef_z"],
            attrs=fit_attributes(self, "gross", country),
        )

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """Paths after the fit period (keyed as in `stochpop.components.randomness.path_keys`): the
        immigration and emigration levels' AR(1)s run on from the last fitted year. fixed: immigration shares
        and emigration log-hazard offsets (draw, sex, age 0..119; zero and -inf above the fitted ages);
        series: total_immigration (draw, year) persons and emigration_level (draw, year) log hazard."""
        index = forecast_steps(years, int(constant_values(idata, "last_year")))
        keys = path_keys(key, paths)
        levels = [f"{flow}_{name}" for flow in FLOWS for name in LEVEL_PARAMETERS]
        p = posterior_draws(idata, keys, [*levels, "immigration_shock_df", *SCHEDULES])
        ages = idata["posterior"]["age"].values
        level_i, level_e = (
            level_paths(
                keys,
                stream,
                constant_values(idata, f"{flow}_level")[-1],
                p[f"{flow}_mean"],
                p[f"{flow}_persistence"],
                p[f"{flow}_shock_scale"],
                df,
                index,
            )
            for stream, flow, df in ((1, "immigration", p["immigration_shock_df"]), (2, "emigration", None))
        )
        fixed = {
            "shares": pad_ages(p["immigration_schedule"], ages),
            "offsets": pad_ages(p["emigration_schedule"], ages, fill=-np.inf),
        }
        series = {"total_immigration": 1000.0 * np.exp(level_i), "emigration_level": level_e}
        f32 = lambda tree: jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), tree)  # noqa: E731
        return Drivers(f32(fixed), f32(series))

    def values(
        self, fixed: dict[str, Array], step: dict[str, Array], population: Array | None = None
    ) -> MigrationValues:
        """One year by age at end of year: immigration (draw, sex, age 0..119) persons, its total (draw,)
        persons, and emigration (draw, sex, age 0..119) probabilities of the aged population (the
        population is not needed: immigration is a count, emigration a probability)."""
        total = step["total_immigration"]
        return MigrationValues(
            total=total,
            immigration=total[..., None, None] * fixed["shares"],
            emigration=emigration_probabilities(step["emigration_level"], fixed["offsets"]),
        )

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """The `values` of `drivers` for every year: immigration, emigration (draw, year, sex, age 0..119),
        total_immigration (draw, year) and total_emigration (draw, year), the emigrations these
        probabilities give on the last fitted year's population at risk (the kernel applies them to the
        projected population); `draw` holds the path indices."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        at_risk = pad_ages(constant_values(idata, "at_risk")[-1], idata["posterior"]["age"].values)
        return forecast_dataset(
            {
                "emigration": values.emigration,
                "immigration": values.immigration,
                "total_emigration": expected_emigrations(values.emigration, at_risk),
                "total_immigration": values.total,
            },
            paths,
            years,
            {
                "age": "age at end of year",
                "component": self.name,
                "units": "immigration: persons; emigration: probability for the aged population",
            },
        )

    def posterior_predictive_check(
        self,
        idata: az.InferenceData,
        data: CountryData | None = None,
        level: float = 0.9,
        n_draws: int = 500,
        seed: int = 0,
    ) -> dict[str, float]:
        """Shares of observed cells and yearly totals inside their central `level` posterior predictive
        intervals, from `n_draws` posterior draws, for immigration and emigration ("immigration_cells",
        "emigration_cells", "immigration_totals", "emigration_totals"). Cells: Poisson replicates given the
        year's level (the model's likelihood); totals: the level one step ahead given the previous year's.
        `data`: the CountryData fitted, or None for the observations stored with the fit.
        """
        obs = checked_observations(
            idata, data, [*FLOWS, "at_risk"], GrossMigrationModel(max_age=None).observations
        )
        imm, emi, risk = (obs[v].values for v in (*FLOWS, "at_risk"))
        rng, p = check_draws(idata, n_draws, seed)
        shares, offsets = p["immigration_schedule"][:, None], p["emigration_schedule"][:, None]
        level_i = np.log(np.maximum(imm.sum((1, 2)), 0.5) / 1000.0)
        level_e = constant_values(idata, "emigration_level")
        step_i, step_e = (
            one_step_replicates(
                rng, level, p[f"{flow}_mean"], p[f"{flow}_persistence"], p[f"{flow}_shock_scale"], df
            )
            for flow, level, df in (
                ("immigration", level_i, p["immigration_shock_df"]),
                ("emigration", level_e, None),
            )
        )
        hazard = risk * np.exp(offsets)
        return {
            "immigration_cells": interval_share(
                imm, rng.poisson(1000.0 * np.exp(level_i)[:, None, None] * shares), level
            ),
            "emigration_cells": interval_share(
                emi, rng.poisson(hazard * np.exp(level_e)[:, None, None]), level
            ),
            "immigration_totals": interval_share(
                imm.sum((1, 2)), rng.poisson(1000.0 * np.exp(step_i)), level
            ),
            "emigration_totals": interval_share(
                emi.sum((1, 2)), rng.poisson((hazard * np.exp(step_e)[..., None, None]).sum((2, 3))), level
            ),
        }

    def simulate(self, parameters: Mapping[str, Any], data: CountryData, key: Array) -> CountryData:
        """`data` with its immigration and emigration over the fit years and ages (`observations`) replaced
        by counts simulated from known `parameters` (`simulate_gross_flows`; schedules (2, A) over those
        ages) on the data's population at risk."""
        obs = self.observations(data)
        simulated = simulate_gross_flows(parameters, obs["at_risk"], key)
        flows: dict[str, Any] = {
            flow: _with_cells(getattr(data, flow), obs[flow].copy(data=values))
            for flow, values in zip(FLOWS, simulated, strict=True)
        }
        return replace(data, **flows)


def _with_cells(whole: xr.DataArray, part: xr.DataArray) -> xr.DataArray:
    """`whole` (year, sex, age) with the cells of `part` (its years and ages) replaced by part's values."""
    out = whole.copy()
    out.loc[{"year": part["year"].values, "age": part["age"].values}] = part.transpose(*whole.dims).values
    out.attrs = {**whole.attrs, "simulated": "GrossMigrationModel.simulate"}
    return out
