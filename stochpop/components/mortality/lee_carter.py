"""`LeeCarter`: the classic one-sex Lee-Carter component, each sex on its own; the fast baseline."""

from collections.abc import Sequence
from dataclasses import dataclass

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import Drivers, MortalityValues, cast_options, component_attrs
from stochpop.components.fitting import constant_values
from stochpop.components.mortality.forecast import (
    check_forecast_years,
    labelled_forecast,
    lee_carter_index_paths,
    mortality_values,
)
from stochpop.components.mortality.window import DEFAULT_FIRST_YEAR, filled_log_rates, fit_window
from stochpop.components.randomness import Paths, path_indices, path_keys, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import SEXES
from stochpop.data.container import CountryData

Array = jax.Array


@dataclass(frozen=True)
class LeeCarter:
    """Classic one-sex Lee-Carter (Lee & Carter 1992), each sex on its own; the fast baseline.

    Fitted without MCMC: a(x) = mean log rate over the fit years, b(x) and k(t) from the first singular
    vectors of the centred log rates (ages 0..100, empty cells interpolated; b averages 1 over age), then
    (if `reestimate_k`) k(t) re-estimated so the fitted deaths of each year equal the observed total
    (Lee-Carter's second stage). k follows a random walk with drift; the "posterior" holds draws of
    (drift, sigma) from their exact posterior under the reference prior p(drift, sigma) ~ 1/sigma with
    normal increments: sigma^2 ~ s^2 (T-2) / chi2(T-2), drift ~ N(mean increment, sigma^2 / (T-1)).
    a, b and k are point estimates (in constant_data). Forecasts jump off from the fitted k(T) (with the
    re-estimated k the fitted deaths of year T equal the observed ones) and extend ages by Kannisto.
    Its median is the SSB-like deterministic baseline; sexes can diverge (no coherence).
    """

    name: str = "mortality"
    first_year: int | None = DEFAULT_FIRST_YEAR
    last_year: int | None = None
    reestimate_k: bool = True

    def __post_init__(self) -> None:
        cast_options(self, {"first_year": int, "last_year": int, "reestimate_k": bool})

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
        """Point estimates of a, b (sex, age), k (sex, year) and posterior draws of drift and sigma (per
        year), per sex."""
        window = fit_window(data, self.first_year, self.last_year)
        log_m = filled_log_rates(window.deaths, window.exposure)  # (year, sex, age)
        n_years, n_ages = log_m.shape[0], log_m.shape[2]
        a = log_m.mean(0)  # (sex, age)
        centred = log_m - a
        b_rows: list[np.ndarray] = []
        k_rows: list[np.ndarray] = []
        for s in range(len(SEXES)):
            u, sv, vt = np.linalg.svd(centred[:, s].T, full_matrices=False)
            factor = u[:, 0].sum() / n_ages
            b_rows.append(u[:, 0] / factor)
            k_rows.append(sv[0] * vt[0] * factor)
        b, k = np.asarray(b_rows), np.asarray(k_rows)  # (sex, age), (sex, year)
        if self.reestimate_k:
            k = reestimate_indices(a, b, k, window.deaths, window.exposure)
        steps = np.diff(k, axis=1)
        mean_step, s2 = steps.mean(1), steps.var(1, ddof=1)
        n_samples = settings.chains * settings.samples
        rng = np.random.default_rng(settings.seed)
        sigma2 = s2 * (n_years - 2) / rng.chisquare(n_years - 2, (n_samples, len(SEXES)))
        drift = mean_step + np.sqrt(sigma2 / (n_years - 1)) * rng.standard_normal((n_samples, len(SEXES)))
        shape = (settings.chains, settings.samples, len(SEXES))
        coords = {"sex": list(SEXES), "age": window.ages, "year": window.years}
        idata = az.from_dict(
            posterior={"drift": drift.reshape(shape), "sigma": np.sqrt(sigma2).reshape(shape)},
            dims={"drift": ["sex"], "sigma": ["sex"]},
            coords=coords,
        )
        idata.add_groups(
            constant_data=xr.Dataset(
                {
                    "a": (("sex", "age"), a),
                    "b": (("sex", "age"), b),
                    "k": (("sex", "year"), k),
                    "observed_deaths": (("year", "sex", "age"), window.deaths),
                    "exposure": (("year", "sex", "age"), window.exposure),
                },
                coords=coords,
            )
        )
        idata["posterior"].attrs.update({"fit_method": "svd", **component_attrs(self)})
        return idata

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """`years` after the fit period: k_s continues its random walk with drift from k_s(T) for each sex
        independently (normal innovations), drift and sigma drawn from their posterior; path i from
        fold_in(key, i) alone (`stochpop.components.randomness.path_keys`). fixed: a, b (sex, age 0..100),
        shared by every path; series: k (draw, year, sex)."""
        fitted_years = constant_values(idata, "year")
        forecast_years = check_forecast_years(years, int(fitted_years[-1]))
        horizon = int(forecast_years.max() - fitted_years[-1])
        index, keys = path_indices(paths), path_keys(key, paths)
        draws = posterior_draws(idata, keys, ["drift", "sigma"])
        with jax.enable_x64(False):  # float32 paths, as the coherent model's
            a, b, k = (
                jnp.asarray(constant_values(idata, name), dtype=jnp.float32) for name in ("a", "b", "k")
            )
            last = jnp.broadcast_to(k[:, -1], (index.size, k.shape[0]))
            pick = jnp.asarray(forecast_years - int(fitted_years[-1]) - 1)
            drift, sigma = (jnp.asarray(draws[name], dtype=jnp.float32) for name in ("drift", "sigma"))
            k = lee_carter_index_paths(last, drift, sigma, pick, keys, horizon)
        return Drivers({"a": a, "b": b}, {"k": k})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> MortalityValues:
        """Rates (draw, sex, age 0..119) per person-year and e0 (draw, sex) in years of one year:
        exp(a + b k) extended by Kannisto (`mortality_values`)."""
        return mortality_values(fixed["a"] + fixed["b"] * step["k"][..., None])

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """Rates (draw, year, sex, age 0..119) and e0 (draw, year, sex) (`drivers`, `values`)."""
        return labelled_forecast(self, idata, years, paths, key, "fitted")


def reestimate_indices(
    a: np.ndarray,
    b: np.ndarray,
    k: np.ndarray,
    deaths: np.ndarray,
    exposure: np.ndarray,
    iterations: int = 30,
) -> np.ndarray:
    """Lee-Carter's second stage: k(t) (sex, year) such that sum_x E exp(a + b k) = sum_x D each year
    (Newton's method, all sexes and years at once). a, b: (sex, age); deaths, exposure: (year, sex, age)."""
    exposure = np.moveaxis(exposure, 0, 1)  # (sex, year, age)
    total = np.moveaxis(deaths, 0, 1).sum(-1)
    k = k.copy()
    for _ in range(iterations):
        fitted = exposure * np.exp(a[:, None] + b[:, None] * k[..., None])
        k -= (fitted.sum(-1) - total) / (fitted * b[:, None]).sum(-1)
    return k
