"""`CoherentLeeCarter`: the Bayesian coherent (product-ratio) two-sex Lee-Carter component."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.typing import ArrayLike
from numpyro.infer import Predictive

from stochpop.components.contract import Drivers, MortalityValues, cast_options, component_attrs
from stochpop.components.fitting import constant_values, fit_model, interval_share
from stochpop.components.mortality.forecast import (
    check_forecast_years,
    coherent_index_paths,
    e0_sensitivity,
    jump_off_residual,
    labelled_forecast,
    mortality_values,
)
from stochpop.components.mortality.model import DEFAULT_NU, LIKELIHOODS, coherent_lee_carter_model
from stochpop.components.mortality.parameters import (
    LOADING_NODES,
    PARAM_DIMS,
    loading_basis,
    product_ratio_log_rates,
)
from stochpop.components.mortality.reference import Frame, frame_from_idata, make_frame, reference_fit
from stochpop.components.mortality.simulate import simulate_deaths
from stochpop.components.mortality.window import (
    DEFAULT_FIRST_YEAR,
    FITTED_AGES,
    FitWindow,
    fit_window,
)
from stochpop.components.mortality.world_drift import (
    DriftVariation,
    drift_departures,
    fit_drift_variation,
    read_world_e0,
)
from stochpop.components.randomness import Paths, path_indices, path_keys, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.data.wpp import countries_named

Array = jax.Array

JUMP_OFFS = ("fitted", "observed")
RATIOS = ("stationary", "walk")
DRIFTS = ("constant", "world")
COORDINATE_DIMS: dict[str, list[str]] = {
    "level_z": ["sex", "age"],
    "b_p_z": ["p_component", "node"],
    "b_r_z": ["r_component", "node"],
    "k_p_z": ["p_component", "step"],
    "k_r_z": ["r_component", "step"],
    "drift_z": ["p_component"],
    "sigma_z": ["p_component"],
    "phi_z": ["r_component"],
    "tau_z": ["r_component"],
}
"""Dims of the standardised coordinates NUTS samples (`model.natural_parameters`)."""


@dataclass(frozen=True)
class CoherentLeeCarter:
    """Bayesian coherent (product-ratio) two-sex Lee-Carter fitted by NUTS to death counts (equations,
    priors and identification: `stochpop.components.mortality.model`).

    Options:
    * n_product (default 2, SSB's choice after Keilman & Pham 2005): random-walk components of log p.
      On Norway 1990-2017 the second is weak (sigma_2 ~ 0.005, drift_2 ~ 0): it mostly adds width.
    * n_ratio (default 1): AR(1) components of log r. One carries the systematic narrowing of the male
      excess; a second, stationary one would only add transient noise that the forecast forgets within a
      few years (its AR coefficient is ~0.5 in an ML fit), for ~55 more parameters and slower mixing.
    * first_year (default 1990, as SSB): the fit period should be one regime of decline, as Lee-Carter
      holds the loadings b(x) fixed; Norwegian male mortality stagnated from the 1950s to the 1980s
      (cardiovascular epidemic) and has fallen fast since about 1990, so earlier years would bias the
      drift and b. last_year: default the last year with deaths and exposures.
    * nu (default 5): Student-t degrees of freedom of the product innovations, so years like 2022 (male
      e0 down 0.7) are not many-sigma events; None for normal innovations.
    * likelihood "negbin" (default; Norway's dispersion is small, 2.4e-4 (90% 1.3e-4 to 3.6e-4), but
      clearly above 0, and it widens old-age uncertainty) or "poisson" (Brouhns et al. 2002; its
      gradient is about half as costly, so the fit is faster).
    * jump_off "fitted" (default): paths continue from the posterior of the last fitted year's indices
      k(T), i.e. from the model's rates for year T. These carry the last year's data through k(T) but
      not the single-age noise of the observed rates (a young age with 3-10 deaths has a log rate sd of
      0.3-0.6), which Lee & Miller's (2001) observed jump-off would copy into every future year; the
      price is a level offset (Norway 2017: fitted e0 0.07 above the registered for women, 0.21 below
      for men). "observed" adds the last year's log residual (observed - fitted, where there were
      deaths) to every path instead.
    * ratio "stationary" (default): AR(1) ratio indices, reverting to the fitted period's mean sex gap;
      "walk": random walks without drift, so the gap stays at its jump-off level in expectation with an
      uncertainty that grows with the horizon (the sex gap of Norway's e0 widened from 3.3 to 6.9 years
      1950-1986 and narrowed to 3.4 by 2022: no fitted period's mean was a level to revert to).
    * drift "constant" (default): each path keeps its posterior draw of the drift; "world": the drift
      also moves as it has in the high-life-expectancy countries of UN WPP (`world_drift`): each path's
      first product index departs from its trend by a path of `drift_departures`, converted from e0
      years to index units by the jump-off's d e0 / d k_p1 (`forecast.e0_sensitivity`), never turning
      the path's trend gain in e0 into a loss. The variation is learnt at fit time from the WPP world
      folder `drift_world` on years up to the last fitted one, without the country itself, and stored in
      the posterior's attrs ("drift_variation").
    """

    name: str = "mortality"
    n_product: int = 2
    n_ratio: int = 1
    first_year: int | None = DEFAULT_FIRST_YEAR
    last_year: int | None = None
    nu: float | None = DEFAULT_NU
    likelihood: str = "negbin"
    jump_off: str = "fitted"
    ratio: str = "stationary"
    drift: str = "constant"
    drift_world: str | None = None

    def __post_init__(self) -> None:
        cast_options(
            self, {"n_product": int, "n_ratio": int, "first_year": int, "last_year": int, "nu": float}
        )
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be 'negbin' or 'poisson', not {self.likelihood!r}")
        if self.jump_off not in JUMP_OFFS:
            raise ValueError(f"jump_off must be 'fitted' or 'observed', not {self.jump_off!r}")
        if self.ratio not in RATIOS:
            raise ValueError(f"ratio must be 'stationary' or 'walk', not {self.ratio!r}")
        if self.drift not in DRIFTS:
            raise ValueError(f"drift must be 'constant' or 'world', not {self.drift!r}")
        if self.drift == "world" and self.drift_world is None:
            raise ValueError("drift 'world' needs drift_world (the WPP world folder it is learnt from)")
        if self.n_product < 1 or self.n_ratio < 1:
            raise ValueError("n_product and n_ratio must be at least 1")

    def model_inputs(self, window: FitWindow) -> dict[str, Any]:
        """Keyword arguments of `coherent_lee_carter_model` (runs the ML reference fit)."""
        basis = loading_basis(window.ages)
        reference = reference_fit(
            window.deaths,
            window.exposure,
            self.n_product,
            self.n_ratio,
            basis,
            ratio_walk=self.ratio == "walk",
        )
        return self._inputs(window.exposure, window.deaths, make_frame(reference, window.exposure))

    def _inputs(self, exposure: np.ndarray, deaths: np.ndarray | None, frame: Frame) -> dict[str, Any]:
        return {
            "frame": frame,
            "exposure": exposure,
            "deaths": deaths,
            "nu": self.nu,
            "likelihood": self.likelihood,
        }

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
        """Fit by NUTS (or SVI) via `stochpop.components.fitting.fit_model`, diagnosed over the natural
        parameters (`PARAM_DIMS`).

        constant_data holds the fitted ages and years, observed deaths and exposures and the reference
        estimates (`reference_*`) from which `make_frame` rebuilds the model for
        `posterior_predictive_check`.
        """
        window = fit_window(data, self.first_year, self.last_year)
        with jax.enable_x64(True):
            inputs = self.model_inputs(window)
            coords = {
                "age": window.ages,
                "year": window.years,
                "sex": np.asarray(SEXES),
                "p_component": np.arange(1, self.n_product + 1),
                "r_component": np.arange(1, self.n_ratio + 1),
                "node": np.asarray(LOADING_NODES),
                "step": window.years[1:],
            }
            idata = fit_model(
                coherent_lee_carter_model,
                inputs,
                settings,
                coords,
                {**PARAM_DIMS, **COORDINATE_DIMS},
                self._constant_data(window, inputs["frame"], coords),
                check=[name for name in PARAM_DIMS if not (name == "phi" and self.ratio == "walk")],
                attrs={**component_attrs(self), **self._drift_attrs(data, int(window.years[-1]))},
            )
        return idata

    def _drift_attrs(self, data: CountryData, last_year: int) -> dict[str, str]:
        """{"drift_variation": JSON of `fit_drift_variation` up to last_year} for drift "world", else {}."""
        if self.drift == "constant" or self.drift_world is None:
            return {}
        e0 = read_world_e0(self.drift_world)
        variation = fit_drift_variation(e0, last_year, exclude=countries_named(e0, data.name))
        return {"drift_variation": variation.to_json()}

    def _constant_data(
        self, window: FitWindow, frame: Frame, coords: dict[str, np.ndarray]
    ) -> dict[str, xr.DataArray]:
        def labelled(value: Any, dims: Sequence[str]) -> xr.DataArray:
            return xr.DataArray(np.asarray(value), {d: coords[d] for d in dims}, list(dims))

        out = {
            "exposure": labelled(window.exposure, ("year", "sex", "age")),
            "observed_deaths": labelled(window.deaths, ("year", "sex", "age")),
        }
        for field, value in frame.reference._asdict().items():
            out[f"reference_{field}"] = labelled(value, PARAM_DIMS[field])
        return out

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """`years` after the fit period, all paths at once. Each path takes one joint posterior draw
        (parameter uncertainty) and its own future innovations (process uncertainty), both from
        fold_in(key, path index) (`stochpop.components.randomness.path_keys`): product indices continue
        their random walks with drift from k(T), ratio indices their AR(1)s (`coherent_index_paths`);
        with drift "world" the first product index also departs from its trend (`drift_departures`).

        fixed: a_p, b_p, a_r, b_r (draw, [component,] age 0..100) and the log-rate offset (draw, sex, age;
        the jump-off residual, or 0); series: k_p (draw, year, n_product) and k_r (draw, year, n_ratio).
        """
        fitted_years = constant_values(idata, "year")
        forecast_years = check_forecast_years(years, int(fitted_years[-1]))
        index, keys = path_indices(paths), path_keys(key, paths)
        draws = posterior_draws(idata, keys, list(PARAM_DIMS))
        with jax.enable_x64(False):  # float32 paths, as the kernel runs
            params = {name: jnp.asarray(draws[name], dtype=jnp.float32) for name in PARAM_DIMS}
            if self.jump_off == "observed":
                offset = jump_off_residual(idata, params)
            else:
                offset = jnp.zeros((index.size, len(SEXES), FITTED_AGES.size), jnp.float32)
            horizon = int(forecast_years.max() - fitted_years[-1])
            pick = jnp.asarray(forecast_years - int(fitted_years[-1]) - 1)
            k_p, k_r = coherent_index_paths(params, pick, keys, horizon, self.nu)
            if self.drift == "world":
                variation = DriftVariation.from_json(idata["posterior"].attrs["drift_variation"])
                sensitivity = e0_sensitivity(params, offset)
                trend_gain = sensitivity * params["drift"][:, 0]
                departures = drift_departures(variation, fitted_years.size - 1, horizon, keys, trend_gain)
                k_p = k_p.at[..., 0].add(departures[:, pick] / sensitivity[:, None])
        fixed = {name: params[name] for name in ("a_p", "b_p", "a_r", "b_r")}
        return Drivers({**fixed, "offset": offset}, {"k_p": k_p, "k_r": k_r})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> MortalityValues:
        """Rates (draw, sex, age 0..119) per person-year and e0 (draw, sex) in years of one year
        (`mortality_values`)."""
        log_m = product_ratio_log_rates(
            fixed["a_p"],
            fixed["b_p"],
            step["k_p"][..., None],
            fixed["a_r"],
            fixed["b_r"],
            step["k_r"][..., None],
        )
        return mortality_values(log_m[..., 0, :, :] + fixed["offset"])

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """Rates (draw, year, sex, age 0..119) and e0 (draw, year, sex) for `years` after the fit period
        (`drivers`, `values`)."""
        return labelled_forecast(self, idata, years, paths, key, self.jump_off)

    def posterior_predictive_check(
        self,
        idata: az.InferenceData,
        data: CountryData | None = None,
        level: float = 0.9,
        n_draws: int = 500,
        seed: int = 0,
    ) -> dict[str, float]:
        """Share of observed death counts (fitted years, ages 0..100) inside their central `level`
        posterior predictive intervals, by sex.

        Replicated counts come from `numpyro.infer.Predictive` on `coherent_lee_carter_model` of the
        component that made the fit (rebuilt from `idata`) with `n_draws` evenly spaced posterior draws
        (all if fewer) and PRNGKey(seed). `data` defaults to the counts stored with the fit; otherwise its
        deaths over the fitted years are checked.
        """
        from stochpop.components.registry import component_from_posterior  # the registry imports this

        fitted = component_from_posterior(idata)
        if not isinstance(fitted, CoherentLeeCarter):
            raise TypeError(f"not a CoherentLeeCarter fit: {type(fitted).__name__}")
        years = constant_values(idata, "year")
        if data is None:
            deaths = constant_values(idata, "observed_deaths")
        else:
            deaths = fit_window(data, int(years[0]), int(years[-1])).deaths
        names = [
            name for name in idata["posterior"].data_vars if isinstance(name, str) and name.endswith("_z")
        ]
        stacked = idata["posterior"][names].stack(sample=("chain", "draw"))
        available = stacked.sizes["sample"]
        stacked = stacked.isel(sample=np.linspace(0, available - 1, min(n_draws, available)).astype(int))
        samples = {name: stacked[name].transpose("sample", ...).values for name in names}
        with jax.enable_x64(True):
            inputs = fitted._inputs(constant_values(idata, "exposure"), None, frame_from_idata(idata))
            predictive = Predictive(
                coherent_lee_carter_model, posterior_samples=samples, return_sites=["deaths"]
            )
            replicates = np.asarray(predictive(jax.random.PRNGKey(seed), **inputs)["deaths"])
        return {sex: interval_share(deaths[:, i], replicates[:, :, i], level) for i, sex in enumerate(SEXES)}

    def simulate(self, parameters: Mapping[str, ArrayLike], data: CountryData, key: Array) -> CountryData:
        """`data` with its deaths over the fit window (years first_year..last_year, ages 0..100) replaced by
        counts drawn from the model with known `parameters` on the data's exposures (`simulate_deaths`,
        with this component's nu; the parameters as there)."""
        window = fit_window(data, self.first_year, self.last_year)
        coords = {"year": window.years, "sex": list(SEXES), "age": window.ages}
        exposure = xr.DataArray(window.exposure, coords, ("year", "sex", "age"))
        simulated = simulate_deaths(parameters, exposure, key, self.nu)["deaths"]
        deaths = data.deaths.astype(float)
        deaths.loc[{"year": window.years, "age": window.ages}] = simulated.values
        deaths.attrs = {**data.deaths.attrs, "simulated": f"{type(self).__name__}.simulate"}
        return replace(data, deaths=deaths)
