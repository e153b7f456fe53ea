"""`NetMigrationModel`: the net migration component (`net_model`), fitted to the cohort-residual net
migration of `CountryData` and forecast by running the total's process on for every posterior draw at once."""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
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
from stochpop.components.migration.inputs import (
    fit_attributes,
    fit_constants,
    fit_years,
    level_unit,
    reference_population,
    reference_stock,
)
from stochpop.components.migration.net_model import (
    NET_COEF_SD,
    NET_SCALARS,
    SHIFTING_SCALARS,
    net_design,
    net_migration_model,
    shifting_net_migration_model,
    simulate_net_migration,
)
from stochpop.components.migration.paths import (
    forecast_dataset,
    forecast_steps,
    level_paths,
    level_shift_total_paths,
    pad_ages,
)
from stochpop.components.migration.schedules import spline_values
from stochpop.components.migration.shocks import (
    DECADE_ENDS,
    future_level_scale,
    learn_level_shift_prior,
    record_rates,
)
from stochpop.components.randomness import Paths, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.data.wpp import shared_world_folder

Array = jax.Array


def per_person(stock: np.ndarray) -> np.ndarray:
    """1 / stock where the stock is positive, 0 where it is empty (float32): a path's stock times it is its
    ratio to the reference stock, computed once per forecast rather than every projected year."""
    inverse = np.divide(1.0, stock, out=np.zeros(stock.shape), where=stock > 0)
    return inverse.astype(np.float32)


@dataclass(frozen=True)
class NetMigrationModel:
    """Bayesian net migration by sex and age (`net_migration_model`), fitted to the cohort-residual net
    migration `CountryData.net_migration` of years first_year..last_year (default: all).

    max_age: oldest age fitted and forecast (None: every age of the data); older ages get zero.
    level: "stationary" (`net_migration_model`) or "shifting" (`shifting_net_migration_model`, its priors
    learnt from the WPP world files in `long_record` up to `last_year`; default: wpp2024_world in the
    shared data folder).
    total: "count" (the total is persons a year, whatever the population) or "rate" (the total is a rate
    of the 1 January population, as bayesPop's net migration rates, Azose, Sevcikova & Raftery 2016): each
    fitted year's net migration is scaled to the reference population (the 1 January population after the
    fit) by that population over the year's, the models run unchanged on those totals, and a path's year
    takes its total times its own 1 January population over the reference one if it is an inflow, and as
    rates by age applied to the path's own stock if it is an outflow (`values`), so a long net outflow
    shrinks with the population it leaves, and with the ages it takes, instead of emptying them.
    bounds: "none", or "record" (level "shifting" only): the forecast's level is bent into the extremes of
    the long record's 10-year mean rates, unchanged between their 1% and 99% quantiles
    (`shocks.decade_bounds`, `processes.soft_bounds`); per 1000 of each path's population with total
    "rate", of the reference population with "count".
    future_scale: the forecast level scale of each path (level "shifting"): "drawn" from its law
    (`shocks.future_level_scale`), or "rms", that law's root mean square for every path (the same mean
    variance of level shocks without the mixture over scales: wider central intervals, thinner tails).
    `forecast` runs the total's process on from the last fitted year and spreads each path by its draw's
    schedule: parameter uncertainty (posterior draws) plus process uncertainty (shocks); a shifting level's
    future scale regresses from the fitted one towards the record's (`shocks.future_level_scale`). The cells'
    observation noise (registration and residual-method error) is not added to forecasts.
    """

    first_year: int | None = None
    last_year: int | None = None
    max_age: int | None = None
    level: str = "stationary"
    long_record: str | None = None
    total: str = "count"
    bounds: str = "none"
    future_scale: str = "drawn"
    name: str = "migration"

    def __post_init__(self) -> None:
        if self.level not in ("stationary", "shifting"):
            raise ValueError(f"level must be 'stationary' or 'shifting', not {self.level!r}")
        if self.total not in ("count", "rate"):
            raise ValueError(f"total must be 'count' or 'rate', not {self.total!r}")
        if self.bounds not in ("none", "record"):
            raise ValueError(f"bounds must be 'none' or 'record', not {self.bounds!r}")
        if self.future_scale not in ("drawn", "rms"):
            raise ValueError(f"future_scale must be 'drawn' or 'rms', not {self.future_scale!r}")
        for option, default in (("bounds", "none"), ("future_scale", "drawn")):
            if getattr(self, option) != default and self.level != "shifting":
                raise ValueError(
                    f"{option} {getattr(self, option)!r} is of a shifting level: it needs level 'shifting'"
                )

    @property
    def scalars(self) -> tuple[str, ...]:
        """The model's scalar parameters."""
        return SHIFTING_SCALARS if self.level == "shifting" else NET_SCALARS

    def long_record_dir(self) -> Path:
        """The folder of WPP's world files that the shifting level's priors are learnt from."""
        if self.long_record is not None:
            return Path(self.long_record)
        return shared_world_folder()

    def observations(self, data: CountryData) -> xr.DataArray:
        """The residual net migration (year, sex, age) persons that `fit` uses; with total "rate", each
        year's scaled to the reference population (`reference_population`) by that population over the
        year's 1 January one."""
        net = data.net_migration
        years = fit_years(net["year"].values, self.first_year, self.last_year, f"{data.name} net migration")
        net = net.sel(year=years)
        net = net if self.max_age is None else net.sel(age=slice(0, self.max_age))
        if self.total == "count":
            return net
        reference = reference_population(data, int(years[-1]))
        scaled = net * (reference / data.population.sel(year=years).sum(("sex", "age")))
        scaled.attrs = {**net.attrs, "units": f"persons at the population of {reference:.0f}"}
        return scaled

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
        """Fit to `data`'s residual net migration (`observations`, see `fit_observed`)."""
        observed = self.observations(data)
        stock = reference_stock(data, int(observed["year"].values[-1]))
        return self.fit_observed(observed, stock, settings, country=data.name)

    def fit_observed(
        self,
        net_migration: xr.DataArray,
        population: float | xr.DataArray,
        settings: FitSettings = DEFAULT_FIT_SETTINGS,
        country: str = "",
    ) -> az.InferenceData:
        """Fit to net migration (year, sex, age) persons; `population` (persons), or the stock (sex, age)
        persons it sums, scales the level priors (with total "rate": the reference population that
        `net_migration` is scaled to, `observations`; total "rate" needs the stock, at whose age structure
        a net outflow's rates by age are taken, `values`).

        NUTS always adapts a dense mass matrix here: neighbouring spline coefficients of the schedule are
        strongly correlated (on Norway 1990-2017 it raises the smallest bulk ESS from ~850 to ~1200).

        InferenceData: posterior (the parameters, `schedule` (sex, age) summing to one, `noise_sd`; attrs
        with this component's class and options), observed_data, and constant_data with the observations
        `net_migration` (year, sex, age) persons, `total` (year, thousands), `last_year`, `population` and
        `unit` (and the `reference_stock` (sex, stock_age) if given); for level "shifting" also the level
        path `level` (year) and `level_coef` in the posterior and the learnt `LevelShiftPrior`'s fields as
        `prior_*` (per 1000 residents) in constant_data.
        """
        stock = None
        if isinstance(population, xr.DataArray):
            stock = population.transpose("sex", "age").rename(age="stock_age").astype(float)
            population = float(stock.sum())
        elif self.total == "rate":
            raise ValueError("a net total 'rate' needs the reference population by sex and age, not a number")
        net = net_migration.transpose("year", "sex", "age")
        years, ages = net["year"].values, net["age"].values
        design = net_design(ages)
        unit = level_unit(population)
        total = net.sum(("sex", "age")).values / 1000.0
        coords = {
            "year": years,
            "sex": list(SEXES),
            "age": ages,
            "coef": np.arange(design["basis"].shape[1]),
            "noise_knot": np.arange(design["noise_basis"].shape[1]),
        }
        dims = {
            "schedule_coef": ["sex", "coef"],
            "schedule": ["sex", "age"],
            "noise_coef": ["sex", "noise_knot"],
            "noise_sd": ["sex", "age"],
            "total": ["year"],
            "net_migration": ["year", "sex", "age"],
        }
        constant_data = {
            "net_migration": net.astype(float),
            "total": xr.DataArray(total, dims="year", coords={"year": years}, attrs={"units": "thousands"}),
            **fit_constants(years, population),
            **({} if stock is None else {"reference_stock": stock}),
        }
        model: Any = net_migration_model
        if self.level == "shifting":
            prior = learn_level_shift_prior(record_rates(self.long_record_dir(), int(years[-1])))
            model = partial(shifting_net_migration_model, prior=prior)
            dims |= {"level": ["year"], "level_coef": ["year"]}
            constant_data |= {f"prior_{k}": xr.DataArray(v) for k, v in asdict(prior).items()}
        return fit_model(
            model,
            {**design, "unit": unit, "total": total, "observed": net.values / 1000.0},
            replace(settings, dense_mass=True),
            coords,
            dims,
            constant_data,
            check=[*self.scalars, "schedule_coef", "noise_coef"],
            attrs={**fit_attributes(self, "net", country), "units": "thousands of persons"},
        )

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """Paths after the fit period (path i depends on fold_in(key, i) alone,
        `stochpop.components.randomness.path_keys`): the total's process runs on from the last fitted year
        (a shifting level from its draw's last level and deviation, its level scale the draw's carried into
        the future by `shocks.future_level_scale`, normal z from stream 3, or its root mean square).
        fixed: schedule (draw, sex, age 0..119) of each path's posterior draw, summing to one (zero above the
        fitted ages), and the fit's reference `population` (persons); series: total_net (draw, year) persons
        (with total "rate": persons at the reference population, `values`); with bounds "record" the
        level bent into the record's (`shocks.decade_bounds`) times the fit's unit."""
        index = forecast_steps(years, int(constant_values(idata, "last_year")))
        keys = path_keys(key, paths)
        shifting = self.level == "shifting"
        p = posterior_draws(idata, keys, [*self.scalars, "schedule", *(["level"] if shifting else [])])
        last = constant_values(idata, "total")[-1]
        args = (p["long_run_mean"], p["persistence"], p["shock_scale"], p["shock_df"], index)
        if shifting:
            level = p["level"][:, -1]
            damping = np.full_like(level, constant_values(idata, "prior_damping"))
            change_sd = float(constant_values(idata, "prior_scale_change_sd"))
            z = np.asarray(path_shocks(keys, 3, ()))
            level_scale = future_level_scale(
                p["level_scale"],
                float(constant_values(idata, "unit") * constant_values(idata, "prior_level_scale_median")),
                float(constant_values(idata, "prior_scale_carryover")),
                change_sd,
                z if self.future_scale == "drawn" else np.zeros_like(z),
            )
            if self.future_scale == "rms":  # exp(c + s z)'s root mean square over z: exp(c + s^2)
                level_scale = level_scale * np.exp(change_sd**2)
            bounds = None
            if self.bounds == "record":
                bounds = constant_values(idata, "unit") * np.array(
                    [constant_values(idata, f"prior_decade_{end}") for end in DECADE_ENDS]
                )
            total = 1000.0 * level_shift_total_paths(
                keys, level, last - level, damping, level_scale, *args, bounds=bounds
            )
        else:
            total = 1000.0 * level_paths(keys, 1, last, *args)
        schedule = pad_ages(p["schedule"], idata["posterior"]["age"].values)
        fixed = {
            "schedule": jnp.asarray(schedule),
            "population": jnp.asarray(constant_values(idata, "population"), jnp.float32),
        }
        if self.total == "rate":
            if "reference_stock" not in idata["constant_data"]:
                raise ValueError(
                    "this net migration fit (total 'rate') has no reference_stock, the population by sex and "
                    "age its outflows' rates are taken at: it was fitted before those were stored; refit it"
                )
            stock = idata["constant_data"]["reference_stock"]
            fixed["per_stock"] = jnp.asarray(per_person(pad_ages(stock.values, stock["stock_age"].values)))
        return Drivers(fixed, {"total_net": jnp.asarray(total, jnp.float32)})

    def values(
        self, fixed: dict[str, Array], step: dict[str, Array], population: Array | None = None
    ) -> MigrationValues:
        """One year by age at end of year: net_migration (draw, sex, age 0..119) persons and its total
        (draw,) persons. With total "rate" and the paths' 1 January `population` (draw, sex, age 0..119)
        persons, the year's `total_net` is a rate of the reference population (`fixed["population"]`; by
        sex and age one over it, `fixed["per_stock"]`, `per_person`): a net inflow is its count times the
        path's population over the reference one, spread by the schedule; a net outflow leaves at the
        rates by age that the schedule gives it at the reference stock, applied to the path's own stock:
        at age x at the end of the year, total_net schedule(x) times the cohort's 1 January stock over the
        reference one (age x - 1; age 0 takes the infants'), so ages emptied by past outflows lose fewer
        and a long outflow cannot drain the young (SSB's emigration is a rate by age). At the reference
        stock both are the count spread by the schedule; without `population` (None) they are that, as
        `forecast` reports it."""
        total, schedule = step["total_net"], fixed["schedule"]
        if self.total == "count" or population is None:
            return MigrationValues(total=total, net_migration=total[..., None, None] * schedule)
        grown = population.sum((-2, -1)) / fixed["population"]
        ratio = population * fixed["per_stock"]
        cohort = jnp.concatenate([ratio[..., :1], ratio[..., :-1]], axis=-1)  # by age at the end of the year
        inflow = (total * grown)[..., None, None] * schedule
        outflow = total[..., None, None] * schedule * cohort
        net = jnp.where((total >= 0)[..., None, None], inflow, outflow)
        return MigrationValues(total=net.sum((-2, -1)), net_migration=net)

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """net_migration (draw, year, sex, age 0..119) and total_net (draw, year) persons of `drivers`;
        `draw` holds the path indices. With total "rate": persons at the fit's reference population (a
        projection multiplies them by each path's population over it)."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        return forecast_dataset(
            {"net_migration": values.net_migration, "total_net": values.total},
            paths,
            years,
            {"units": "persons", "age": "age at end of year", "component": self.name},
        )

    def posterior_predictive_check(
        self,
        idata: az.InferenceData,
        data: CountryData | None = None,
        level: float = 0.9,
        n_draws: int = 500,
        seed: int = 0,
    ) -> dict[str, float]:
        """Shares of observed cells ("cells") and yearly totals ("totals") inside their central `level`
        posterior predictive intervals, from `n_draws` posterior draws.

        Cells: replicated given the year's total (the model's likelihood); totals: one step ahead given the
        previous year's. `data`: the CountryData fitted, or None for the observations stored with the fit.
        """
        observations = checked_observations(
            idata, data, ["net_migration"], lambda d: self.observations(d).to_dataset(name="net_migration")
        )
        observed = observations["net_migration"].values / 1000.0
        total = observed.sum((1, 2))
        rng, p = check_draws(idata, n_draws, seed)
        w = spline_values(
            NET_COEF_SD * p["schedule_coef"], net_design(idata["posterior"]["age"].values)["basis"]
        )
        cells = total[:, None, None] * w[:, None] + p["noise_sd"][:, None] * rng.standard_normal(
            (n_draws, *observed.shape)
        )
        if self.level == "shifting":  # one step ahead given the past deviations and each draw's level
            fitted_level = p["level"]
            totals = fitted_level + one_step_replicates(
                rng,
                total - fitted_level,
                np.zeros_like(p["shock_scale"]),
                p["persistence"],
                p["shock_scale"],
                p["shock_df"],
            )
        else:
            totals = one_step_replicates(
                rng, total, p["long_run_mean"], p["persistence"], p["shock_scale"], p["shock_df"]
            )
        return {
            "cells": interval_share(observed, cells, level),
            "totals": interval_share(total, totals, level),
        }

    def simulate(self, parameters: Mapping[str, Any], data: CountryData, key: Array) -> xr.DataArray:
        """Net migration (year, sex, age) persons from known `parameters` (`simulate_net_migration`; schedule
        and noise_sd (2, A) over the ages of `observations(data)`), labelled like `observations(data)`:
        what `fit_observed` takes in place of the observations.

        Not a CountryData: `CountryData.net_migration` is the cohort residual of the stocks, births and
        deaths, so simulated net migration cannot replace it without invented stocks.
        """
        observed = self.observations(data)
        simulated = simulate_net_migration(parameters, observed["year"].values, key)
        if not np.array_equal(simulated["age"].values, observed["age"].values):
            raise ValueError(
                f"the parameters' schedules have {simulated.sizes['age']} ages, the observations "
                f"{observed.sizes['age']} (ages {observed['age'].values[0]}-{observed['age'].values[-1]})"
            )
        return simulated
