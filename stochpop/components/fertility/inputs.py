"""What the fertility model is fitted to: births and female exposure of the fit period (`observations`), the
model's fixed inputs and sampling centres from them (`model_inputs`), and those inputs stored with a fit and
read back (`inputs_as_constant_data`, `inputs_from_constant_data`)."""

from typing import NamedTuple

import arviz as az
import jax
import numpy as np
import xarray as xr

from stochpop.components.fitting import constant_values
from stochpop.data.container import CountryData
from stochpop.demography.lifetable import mean_age_at_birth

AnyArray = jax.Array | np.ndarray
"""NumPy when made (`model_inputs`), JAX inside the model."""

TAIL_MIN_BIRTHS = 10.0
"""Ages whose mean yearly births in the fit period are fewer than this, outside the first and last age that
have as many, get no free parameters: their log share falls linearly from the nearest free age (`tail_decay`
per year, Norway: ages 12-14 and 47-55). Free values there would sit on a one-sided likelihood (zero
counts) that NUTS explores badly."""
_MIN_SLOPE = 0.02
"""Smallest |slope| (years of mean age per year) used to scale kappa, so a fit period with a constant mean
age stays identified."""


class ModelInputs(NamedTuple):
    """Fixed inputs of `fertility_model` (T fit years, A ages, F free ages), all arrays.

    exposure (T, A) female person-years; ages (A,) completed years; below, above: distances (years) of
    the tail ages from the first / last free age (e.g. [3, 2, 1] and [1, ..., 9]); weights (A,) mean
    observed age shares (sum 1); trend (T,) (t - mean t) / sum (t - mean t)^2, so kappa @ trend is
    kappa's slope over time; slope (): the observed slope of the mean age at birth (years per year), which
    kappa's slope is tied to; centres of the sampling coordinates log_tfr_hat, kappa_hat (T,) and
    alpha_hat, beta_hat (F,).
    """

    exposure: AnyArray
    ages: AnyArray
    below: AnyArray
    above: AnyArray
    weights: AnyArray
    trend: AnyArray
    slope: AnyArray
    log_tfr_hat: AnyArray
    kappa_hat: AnyArray
    alpha_hat: AnyArray
    beta_hat: AnyArray


def observations(data: CountryData, first_year: int | None, last_year: int | None) -> xr.Dataset:
    """Births (rounded ASFR x female exposure) and female exposure in person-years (year, age) of the fit
    period first_year..last_year (None: the first / last year with both)."""
    asfr = data.asfr
    exposure = data.exposure.sel(sex="female", drop=True)
    years = np.intersect1d(asfr["year"].values, exposure["year"].values)
    lo = years.min() if first_year is None else first_year
    hi = years.max() if last_year is None else last_year
    wanted = np.arange(lo, hi + 1)
    missing = np.setdiff1d(wanted, years)
    if missing.size:
        raise ValueError(f"{data.name}: no ASFR or exposure for years {missing.tolist()}")
    if wanted.size < 5:
        raise ValueError(f"{data.name}: fertility fit period {lo}-{hi} has fewer than 5 years")
    exposure = exposure.sel(year=wanted, age=asfr["age"].values).transpose("year", "age")
    births = (asfr.sel(year=wanted).transpose("year", "age") * exposure).round()
    births.attrs = {"units": "live births", "age": "mother's age in completed years"}
    exposure.attrs = {"units": "person-years", "sex": "female"}
    return xr.Dataset({"births": births, "exposure": exposure})


def ages_with_births(obs: xr.Dataset) -> xr.Dataset:
    """`observations` without the youngest and oldest ages that have no birth in the period: structural
    zeros (a log-linear tail cannot fall to zero; its decay would run off to infinity). Forecasts give
    them no births."""
    ages = obs["age"].values[obs["births"].sum("year").values > 0]
    if ages.size < 10:
        raise ValueError(f"births at fewer than 10 ages in the fertility fit period: {ages.tolist()}")
    return obs.sel(age=slice(ages.min(), ages.max()))


def model_inputs(obs: xr.Dataset) -> ModelInputs:
    """Fixed inputs and sampling centres (float64) from observed births and exposure (year, age)."""
    births = obs["births"].values
    exposure = obs["exposure"].values
    ages = obs["age"].values.astype(float)
    rates = np.where(exposure > 0, births / np.where(exposure > 0, exposure, 1.0), 0.0)
    tfr = rates.sum(1)
    shares = rates / tfr[:, None]
    weights = shares.mean(0)
    t = np.arange(len(tfr)) - (len(tfr) - 1) / 2
    trend = t / (t @ t)
    slope = mean_age_at_birth(shares, ages, total=1.0) @ trend
    slope = slope if abs(slope) >= _MIN_SLOPE else np.copysign(_MIN_SLOPE, slope)
    kappa_hat = slope * t  # the gauge's kappa: mean 0, slope as observed
    # per-age regression of log share on kappa, then shifted to satisfy the gauge
    enough = np.flatnonzero(births.mean(0) >= TAIL_MIN_BIRTHS)
    if enough.size < 5:
        raise ValueError("fewer than 5 ages with enough births to fit an age schedule")
    lo, hi = enough[0], enough[-1]
    log_share = np.log(np.maximum(shares[:, lo : hi + 1], 1e-7))
    beta_hat = np.clip((kappa_hat @ (log_share - log_share.mean(0))) / (kappa_hat @ kappa_hat), -2, 2)
    alpha_hat = log_share.mean(0)
    return ModelInputs(
        exposure=np.asarray(exposure, dtype=float),
        ages=np.asarray(ages, dtype=float),
        below=np.asarray(np.arange(lo, 0, -1), dtype=float),
        above=np.asarray(np.arange(1, ages.size - hi), dtype=float),
        weights=np.asarray(weights, dtype=float),
        trend=np.asarray(trend, dtype=float),
        slope=np.asarray(slope, dtype=float),
        log_tfr_hat=np.asarray(np.log(tfr), dtype=float),
        kappa_hat=np.asarray(kappa_hat, dtype=float),
        alpha_hat=np.asarray(alpha_hat - alpha_hat @ weights[lo : hi + 1], dtype=float),
        beta_hat=np.asarray(beta_hat - beta_hat @ weights[lo : hi + 1], dtype=float),
    )


_INPUT_DIMS = {
    "exposure": ("year", "age"),
    "ages": ("age",),
    "below": ("below_age",),
    "above": ("above_age",),
    "weights": ("age",),
    "trend": ("year",),
    "slope": (),
    "log_tfr_hat": ("year",),
    "kappa_hat": ("year",),
    "alpha_hat": ("free_age",),
    "beta_hat": ("free_age",),
}
"""The dims of each `ModelInputs` field in a fit's `constant_data` group."""


def inputs_as_constant_data(inputs: ModelInputs, obs: xr.Dataset) -> dict[str, xr.DataArray]:
    """The model inputs as labelled arrays for the `constant_data` group (posterior predictive checks
    rebuild the model from them: the sampling centres must be the fit's own); `obs` the observations
    (year, age) they were made from."""
    ages, n_below, n_above = obs["age"].values, inputs.below.shape[0], inputs.above.shape[0]
    coords = {
        "year": obs["year"].values,
        "age": ages,
        "free_age": ages[n_below : ages.size - n_above],
        "below_age": ages[:n_below],
        "above_age": ages[ages.size - n_above :],
    }
    return {
        name: xr.DataArray(
            np.asarray(getattr(inputs, name)), dims=dims, coords={d: coords[d] for d in dims}
        ).assign_attrs(obs["exposure"].attrs if name == "exposure" else {})
        for name, dims in _INPUT_DIMS.items()
    }


def inputs_from_constant_data(idata: az.InferenceData) -> ModelInputs:
    """`ModelInputs` of a fit, from its `constant_data` group."""
    return ModelInputs(**{name: constant_values(idata, name) for name in _INPUT_DIMS})
