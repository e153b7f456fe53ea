"""Fertility simulated from known parameters (for recovery tests): `FertilityParams`, a simulated history
of log TFR, kappa, ASFR and births (`simulate_history`), and country data with that ASFR
(`with_simulated_asfr`)."""

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.fertility.forecast import StateDraws, project_states
from stochpop.components.fertility.schedule import asfr_from
from stochpop.components.likelihoods import NegativeBinomialCounts
from stochpop.data.container import CountryData

Array = jax.Array


@dataclass(frozen=True)
class FertilityParams:
    """Known parameters for `FertilityModel.simulate` (names and units as in the model; alpha, beta (A,)).

    log_tfr_start: log TFR of the two years before the first simulated one; kappa_start: kappa (years) of
    the year before.
    """

    log_tfr_mean: float
    tfr_pacf1: float
    tfr_pacf2: float
    tfr_shock_scale: float
    age_drift: float
    age_shock_scale: float
    overdispersion: float
    alpha: np.ndarray
    beta: np.ndarray
    log_tfr_start: tuple[float, float]
    kappa_start: float = 0.0

    @classmethod
    def example(cls, ages: np.ndarray, mean_age: float = 29.5, sd: float = 5.2) -> "FertilityParams":
        """Norway-like values: a normal-shaped schedule at `mean_age` (years) that shifts by one year per
        unit of kappa (beta = d log g / d mean age), TFR 1.8 with AR(2) momentum, postponement 0.1 year a
        year."""
        x = np.asarray(ages) + 0.5
        alpha = -0.5 * ((x - mean_age) / sd) ** 2
        beta = (x - mean_age) / sd**2
        return cls(
            log_tfr_mean=float(np.log(1.8)),
            tfr_pacf1=0.92,
            tfr_pacf2=-0.4,
            tfr_shock_scale=0.02,
            age_drift=0.1,
            age_shock_scale=0.03,
            overdispersion=0.02,
            alpha=alpha,
            beta=beta,
            log_tfr_start=(float(np.log(1.8)), float(np.log(1.8))),
            kappa_start=-1.5,
        )


def simulate_history(key: Array, params: FertilityParams, exposure: np.ndarray) -> dict[str, np.ndarray]:
    """Simulate log TFR (T,), kappa (T,), ASFR (T, A) in births per woman-year and births (T, A) for female
    exposure (T, A) in person-years: the forecast's processes without damping, births from the likelihood."""
    n_years = exposure.shape[0]
    one = lambda v: jnp.asarray([v], dtype=jnp.float32)  # noqa: E731
    s = StateDraws(
        log_tfr_mean=one(params.log_tfr_mean),
        tfr_pacf1=one(params.tfr_pacf1),
        tfr_pacf2=one(params.tfr_pacf2),
        tfr_shock_scale=one(params.tfr_shock_scale),
        age_drift=one(params.age_drift),
        age_shock_scale=one(params.age_shock_scale),
        age_damping=one(1.0),  # no damping within the observed period
        log_tfr_last=jnp.asarray([params.log_tfr_start], dtype=jnp.float32),
        kappa_last=jnp.asarray([[params.kappa_start, params.kappa_start]], dtype=jnp.float32),
    )
    key_states, key_births = jax.random.split(key)
    log_tfr, kappa = project_states(key_states[None], s, n_years)
    asfr = asfr_from(log_tfr[0], jnp.asarray(params.alpha), jnp.asarray(params.beta), kappa[0])
    mean = jnp.asarray(exposure) * asfr
    concentration = jnp.asarray(1.0 / params.overdispersion**2, dtype=mean.dtype)
    likelihood = NegativeBinomialCounts(jnp.maximum(mean, 1e-12), concentration)
    births = likelihood.sample(key_births)
    return {
        "log_tfr": np.asarray(log_tfr[0]),
        "kappa": np.asarray(kappa[0]),
        "asfr": np.asarray(asfr),
        "births": np.asarray(births, dtype=float),
    }


def with_simulated_asfr(
    data: CountryData, exposure: xr.DataArray, params: FertilityParams, key: Array
) -> CountryData:
    """`data` with its ASFR replaced, over the years and ages of female `exposure` (year, age), by rates
    simulated from `params` (`simulate_history`'s births divided by exposure)."""
    sim = simulate_history(key, params, exposure.values)
    asfr = xr.DataArray(
        sim["births"] / exposure.values,
        dims=("year", "age"),
        coords={"year": exposure["year"].values, "age": exposure["age"].values},
        attrs={**data.asfr.attrs, "simulated": "FertilityModel.simulate"},
    )
    return replace(data, asfr=asfr)
