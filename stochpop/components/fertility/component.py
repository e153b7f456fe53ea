"""`FertilityModel`: the fertility component (`stochpop.components.contract`) - fit, drivers, values,
forecast, posterior predictive check and simulation."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from numpyro.infer import Predictive

from stochpop.components.contract import Drivers, FertilityValues, component_attrs, values_by_year
from stochpop.components.fertility.forecast import fertility_drivers, fertility_values, forecast_dataset
from stochpop.components.fertility.inputs import (
    ages_with_births,
    inputs_as_constant_data,
    inputs_from_constant_data,
    model_inputs,
    observations,
)
from stochpop.components.fertility.long_run import (
    WORLD_FIT_SETTINGS,
    fit_world_long_run,
    read_world_fertility,
)
from stochpop.components.fertility.model import (
    LATENTS,
    LONG_RUN_LOG_SD,
    LONG_RUN_TFR,
    SCALARS,
    add_timing_shock_scale,
    fertility_model,
)
from stochpop.components.fertility.simulate import FertilityParams, with_simulated_asfr
from stochpop.components.fitting import constant_values, fit_model, interval_share
from stochpop.components.randomness import Paths, path_keys, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.data.container import CountryData
from stochpop.data.wpp import countries_named

Array = jax.Array


@dataclass(frozen=True)
class FertilityModel:
    """Bayesian ASFR model (`stochpop.components.fertility.model`) fitted to `CountryData.asfr` x female
    exposure over first_year..last_year (None: the first / last year with data). Ages: those of the data's
    ASFR with a birth in the fit period."""

    first_year: int | None = 1990
    last_year: int | None = None
    long_run_tfr: float = LONG_RUN_TFR
    """Prior median of the long-run TFR exp(m) in births per woman (`stochpop.components.fertility.model`)."""
    long_run_log_sd: float = LONG_RUN_LOG_SD
    """Prior sd of m = log long-run TFR; the 2100 sanity bound in the model's docstring holds for the
    defaults."""
    long_run_world: str | None = None
    """A WPP 2024 world folder (tfr.txt, births.txt, UNlocations.txt). If set, the prior of m is learnt
    there at fit time instead (`long_run_prior`) and long_run_tfr / long_run_log_sd are not used."""
    jump_off: str = "fitted"
    """"fitted": forecasts continue from the model's ASFR of the last fitted year; "observed": from the
    observed ones (the last year's log residual carried into every forecast year,
    `forecast.jump_off_log_residual`)."""
    dynamics: str = "annual"
    """"annual": the AR(2) of log TFR under its own priors; "world": also held to the five-year dynamics
    (persistence and shock sd) of the world fit (`model.five_year_dynamics`); needs long_run_world."""
    name: str = "fertility"

    def __post_init__(self) -> None:
        if self.jump_off not in ("fitted", "observed"):
            raise ValueError(f"fertility jump_off must be 'fitted' or 'observed', not {self.jump_off!r}")
        if self.dynamics not in ("annual", "world"):
            raise ValueError(f"fertility dynamics must be 'annual' or 'world', not {self.dynamics!r}")
        if self.dynamics == "world" and self.long_run_world is None:
            raise ValueError("fertility dynamics 'world' needs long_run_world (the world fit it comes from)")
        if not (0.5 <= self.long_run_tfr <= 4.0 and 0.0 < self.long_run_log_sd <= 0.5):
            raise ValueError(
                "fertility prior: long_run_tfr must be in [0.5, 4] and long_run_log_sd in (0, 0.5], got "
                f"{self.long_run_tfr} and {self.long_run_log_sd}"
            )

    def observations(self, data: CountryData) -> xr.Dataset:
        """Births and female exposure (year, age) of the fit period (`inputs.observations`)."""
        return observations(data, self.first_year, self.last_year)

    def long_run_prior(
        self, data: CountryData, last_year: int, settings: FitSettings = WORLD_FIT_SETTINGS
    ) -> tuple[float, float, dict]:
        """(median, log sd) of the prior of m = log long-run TFR, and where they come from ({"source":
        "spec"}, or "world" with `WorldLongRun.summary`). With `long_run_world`: the world fit's predictive
        for a new country (`long_run.fit_world_long_run` with `settings`) on WPP years <= last_year,
        leaving out the WPP country named like `data` (its data enter its own likelihood)."""
        if self.long_run_world is None:
            return self.long_run_tfr, self.long_run_log_sd, {"source": "spec"}
        tfr, births = read_world_fertility(self.long_run_world)
        world = fit_world_long_run(tfr, births, last_year, countries_named(tfr, data.name), settings)
        return world.median, world.log_sd, {"source": "world", **world.summary()}

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
        """NUTS (or SVI) fit; posterior of the scalars (`SCALARS`, and `age_shock_scale`), log_tfr / tfr /
        kappa / mean_age (year), alpha / beta (age) and the sampling coordinates; constant_data holds the
        observed births and the model inputs; posterior.attrs the class ("model"), its options and the
        prior of m used ("long_run_prior", JSON: `long_run_prior`, learnt up to the last fitted year)."""
        obs = ages_with_births(self.observations(data))
        inputs = model_inputs(obs)
        years, ages = obs["year"].values, obs["age"].values
        world_settings = replace(WORLD_FIT_SETTINGS, seed=settings.seed)
        long_run_tfr, long_run_log_sd, source = self.long_run_prior(data, int(years[-1]), world_settings)
        world_dynamics = None
        if self.dynamics == "world":
            world = source["posterior"]
            world_dynamics = tuple(
                world[name][moment] for name in ("persistence", "shock_sd") for moment in ("mean", "sd")
            )
        n_below, n_above = inputs.below.shape[0], inputs.above.shape[0]
        coords = {
            "year": years,
            "age": ages,
            "free_age": ages[n_below : ages.size - n_above],
            "tail": ["below", "above"],
        }
        dims = {
            "log_tfr_u": ["year"],
            "log_tfr": ["year"],
            "tfr": ["year"],
            "kappa_u": ["year"],
            "kappa": ["year"],
            "mean_age": ["year"],
            "alpha_u": ["free_age"],
            "beta_u": ["free_age"],
            "alpha": ["age"],
            "beta": ["age"],
            "births": ["year", "age"],
            "tail_decay": ["tail"],
        }
        attrs = {
            **component_attrs(self),
            "country": data.name,
            "first_year": int(years[0]),
            "last_year": int(years[-1]),
            "units": "births per woman-year",
            "long_run_prior": json.dumps({"median": long_run_tfr, "log_sd": long_run_log_sd, **source}),
        }
        # float64: the likelihood sums about a thousand negative-binomial terms of births in the thousands;
        # in float32 its rounding noise (~0.1 in the log density) makes NUTS's step size collapse
        with jax.enable_x64(True):
            idata = fit_model(
                fertility_model,
                {
                    "inputs": inputs,
                    "births": obs["births"].values,
                    "long_run_tfr": long_run_tfr,
                    "long_run_log_sd": long_run_log_sd,
                    "world_dynamics": world_dynamics,
                },
                settings,
                coords,
                dims,
                constant_data={"births": obs["births"], **inputs_as_constant_data(inputs, obs)},
                check=[*SCALARS, *LATENTS],
                attrs=attrs,
            )
        return add_timing_shock_scale(idata, jax.random.fold_in(jax.random.PRNGKey(settings.seed), 7))

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """The forecast of `paths` for `years` in factored form (`forecast.fertility_drivers`)."""
        return fertility_drivers(idata, years, paths, key, observed_jump_off=self.jump_off == "observed")

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> FertilityValues:
        """One year's ASFR, TFR and mean age at birth (`forecast.fertility_values`)."""
        return fertility_values(fixed, step)

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """fertility (draw, year, age) in births per woman-year, tfr (draw, year) and mean_age (draw, year)
        in years of `drivers`; `draw` holds the path indices."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        return forecast_dataset(values, paths, years, idata["posterior"]["age"].values, self.name)

    def posterior_predictive_check(
        self,
        idata: az.InferenceData,
        data: CountryData | None = None,
        level: float = 0.9,
        n_draws: int = 500,
        seed: int = 0,
    ) -> dict[str, float]:
        """{"births": share of observed births by (year, age) inside their central `level` posterior
        predictive intervals} (`numpyro.infer.Predictive` with `n_draws` posterior draws). The births are
        those stored with the fit, or those of `data` over the fit's years and ages."""
        if data is not None:
            years, ages = idata["posterior"]["year"].values, idata["posterior"]["age"].values
            observed = observations(data, int(years[0]), int(years[-1]))["births"].sel(age=ages).values
        elif "constant_data" in idata and "births" in idata["constant_data"]:
            observed = constant_values(idata, "births")
        else:
            raise ValueError("this fertility fit stores no observed births: pass the data it was fitted to")
        inputs = inputs_from_constant_data(idata)
        key_draws, key_predict = jax.random.split(jax.random.PRNGKey(seed))
        p = posterior_draws(idata, path_keys(key_draws, n_draws))
        with jax.enable_x64(True):  # as in the fit
            samples = {name: jnp.asarray(p[name], dtype=jnp.float64) for name in (*SCALARS, *LATENTS)}
            predictive = Predictive(fertility_model, posterior_samples=samples, return_sites=["births"])
            replicates = predictive(key_predict, inputs=inputs)["births"]
        return {"births": interval_share(observed, np.asarray(replicates), level)}

    def simulate(self, parameters: FertilityParams, data: CountryData, key: Array) -> CountryData:
        """`data` with its ASFR replaced, for the fit period, by rates simulated from `parameters` on the
        data's female exposure (births drawn from the model's likelihood, divided by exposure)."""
        return with_simulated_asfr(data, self.observations(data)["exposure"], parameters, key)
