"""The coherent model's data-generating process: death counts from known parameters (for recovery tests)."""

from collections.abc import Mapping

import jax
import numpy as np
import xarray as xr
from jax.typing import ArrayLike

from stochpop.components.mortality.indices import ar1_correlation
from stochpop.components.mortality.parameters import product_ratio_log_rates

Array = jax.Array


def simulate_deaths(
    parameters: Mapping[str, ArrayLike], exposure: xr.DataArray, key: Array, nu: float | None = None
) -> xr.Dataset:
    """Death counts from known parameters: the coherent model's data-generating process.

    parameters: a_p, a_r (age,), b_p (n_product, age), b_r (n_ratio, age), drift, sigma (n_product,), phi,
    tau (n_ratio,), dispersion (scalar; 0 gives Poisson counts). exposure: (year, sex, age) person-years.
    k_p is a random walk with drift (normal, or Student-t(nu) innovations), centred; k_r a stationary
    AR(1) conditioned on summing to zero (the model's identification). Returns a Dataset with deaths
    (year, sex, age) and the simulated k_p (p_component, year), k_r (r_component, year).
    """
    exposure = exposure.transpose("year", "sex", "age")
    n_years = exposure.sizes["year"]
    p = {name: np.asarray(value, float) for name, value in parameters.items()}
    keys = jax.random.split(key, 4)
    n_product, n_ratio = p["drift"].shape[0], p["phi"].shape[0]
    with jax.enable_x64(True):
        if nu is None:
            e = jax.random.normal(keys[0], (n_product, n_years - 1))
        else:
            e = jax.random.t(keys[0], nu, (n_product, n_years - 1))
        steps = p["drift"][:, None] + p["sigma"][:, None] * np.asarray(e)
        k_p = np.concatenate([np.zeros((n_product, 1)), np.cumsum(steps, axis=1)], axis=1)
        k_p = k_p - k_p.mean(1, keepdims=True)
        cov = p["tau"][:, None, None] ** 2 * ar1_correlation(p["phi"], n_years)
        chol = np.linalg.cholesky(cov)
        k_free = np.einsum("jts,js->jt", chol, np.asarray(jax.random.normal(keys[1], (n_ratio, n_years))))
        row_sums = cov.sum(-1)  # Cov(k, sum k)
        k_r = k_free - row_sums * (k_free.sum(1) / row_sums.sum(1))[:, None]
        log_m = np.asarray(product_ratio_log_rates(p["a_p"], p["b_p"], k_p, p["a_r"], p["b_r"], k_r))
        mean = exposure.values * np.exp(log_m)
        if float(p["dispersion"]) > 0:
            concentration = 1 / float(p["dispersion"])
            rate = jax.random.gamma(keys[2], concentration, mean.shape) / concentration
            mean = mean * np.asarray(rate)
        deaths = np.asarray(jax.random.poisson(keys[3], mean), float)
    return xr.Dataset(
        {
            "deaths": (("year", "sex", "age"), deaths),
            "k_p": (("p_component", "year"), k_p),
            "k_r": (("r_component", "year"), k_r),
        },
        coords={name: exposure[name].values for name in ("year", "sex", "age")},
    )
