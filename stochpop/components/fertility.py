"""Fertility: a Bayesian model of age-specific fertility rates (ASFR) by single year of mother's age.

Model choice
------------
ASFR f(t, x) (births per woman-year, x in completed years, e.g. 12..55 as HFD publishes them) is a
*level* times a *schedule*:

    f(t, x) = TFR_t g(t, x),   g(t, x) = softmax_x(alpha_x + beta_x kappa_t)   (sum_x g = 1)

* TFR_t: log TFR is a stationary AR(2) around an uncertain long-run level, with Student-t shocks. AR(2)
  rather than AR(1) because Norwegian TFR moves in long swings with momentum (OLS on log TFR 1990-2017:
  coefficients 1.35, -0.41; lag-1 autocorrelation of the yearly changes +0.33, 1967-2017 +0.55), which an
  AR(1) would revert at once.
* g: a Lee-Carter model of the *shape* only. alpha is the log shape in the middle of the fit period,
  beta how each age's log share moves as childbearing is postponed, kappa_t a timing index in years of
  mean age at birth. On Norway 1990-2017 a one-factor shape has a Poisson deviance of about 1 900 over
  1 232 cells, against 5 700-21 000 for gamma, Hadwiger or quartic-exponential schedules whose mean and
  spread move every year: the shape's own changes (the collapse of teenage fertility, light tails) are
  fitted, not smoothed away. Ages with fewer than `TAIL_MIN_BIRTHS` births a year (Norway: 12-14, 47-55)
  get no free values: their log share falls linearly from the nearest free age (`tail_decay` per year),
  beta is held at the edge value.
* kappa: a random walk whose drift (postponement, about +0.1 year a year in Norway) is *damped* in
  forecasts by a factor phi a year, so postponement slows and the mean age levels off. phi cannot be
  learnt from a period of steady postponement; its prior is stated below and its posterior equals it.

Likelihood: births B(t, x) = round(ASFR x female exposure) ~ NegativeBinomial2(E(t, x) f(t, x), 1 / r^2);
r is the coefficient of variation of the extra-Poisson noise (misfit of the one-factor shape, ~2.6%).

Equations and priors (z_t = log TFR_t - m; every fitted year's log TFR and kappa is a parameter):

    m ~ Normal(log 1.75, 0.12)                          long-run TFR exp(m): median 1.75, 95% 1.38-2.22
    z_t = phi1 z_{t-1} + phi2 z_{t-2} + sigma e_t,      e_t ~ Student-t(4)
    phi1 = p1 (1 - p2), phi2 = p2   (partial autocorrelations: every p1, p2 in (-1, 1) is stationary)
    p1 ~ Beta(40, 4),  p2 ~ 2 Beta(3, 3) - 1,  sigma ~ HalfNormal(0.03)
    (z_1, z_2) ~ Normal(0, gamma0 [[1, p1], [p1, 1]])   (the stationary law)
    kappa_t = kappa_{t-1} + delta + tau v_t,  v_t ~ Normal(0, 1);  forecasts: drift delta phi^h in year T+h
    delta ~ Normal(0, 0.2),  tau^2 ~ InvGamma(1, 0.0005) (integrated out in the sampler),  phi ~ Beta(36, 4)
    alpha_x ~ Normal(0, 10), beta_x ~ Normal(0, 1) at the free ages;  tail_decay ~ LogNormal(0, 0.75)
    r ~ HalfNormal(0.1)
    gauge: the likelihood is unchanged by alpha + c, beta + c, (alpha - c beta, kappa + c) and
    (c beta, kappa / c); soft constraints (`gauge_log_prob`) fix share-weighted means of alpha and beta at
    0, the mean of kappa at 0 and its time slope at the observed slope of the mean age.

Why the long run stays sane: log TFR in any future year is m plus a stationary AR(2) deviation with
variance gamma0 = 2 sigma^2 / ((1 - p1^2)(1 - p2^2)) (2 = the variance of t(4)), so TFR cannot drift
away. The priors keep gamma0 small: p1 away from the unit root (Beta(40, 4): median 0.92, 95% below
0.97), p2 away from -1, sigma ~ HalfNormal(0.03) (annual shocks of a few per cent), and m within the range
of post-transition European fertility. The prior predictive alone, started from Norway's 2016-17 TFR,
puts 99.4% of the 2100 TFR paths in [0.8, 3.0] (0.5% and 99.5% quantiles 1.03 and 2.97); the Norway
1990-2017 posterior puts all of 10 000 there (99% interval [1.37, 2.36]). Student-t(4) shocks let single
years jump (Norway 2022: 1.41 after 1.55) without inflating the shock scale or the long-run spread. The
mean age rises by delta phi / (1 - phi) (about one year; phi's 90% interval 0.81-0.96 is a drift
half-life of 3-18 years) and then wanders slowly (tau, about 0.045 year a year): Norway's 2100 mean age
has median 32.1 and 99% interval [30.7, 35.4].

Fitting: NUTS in float64 (`FertilityModel.fit`: in float32 the rounding noise of ~1 000 negative-binomial
terms with births in the thousands makes the step size collapse); the latent vectors are sampled as
centred, scaled offsets from empirical values (`ModelInputs`), which only moves the coordinates.

Functions here: pure transforms (`log_schedule`, `asfr_from`, `ar2_coefficients`, `ar2_log_prob`,
`damped_trend_log_prob`, `with_tails`, `gauge_log_prob`, ...), the NumPyro model (`fertility_model`), the
path simulator (`project_states`: one `jax.lax.scan` over years, every draw at once), and the component
`FertilityModel` (fit, forecast, posterior predictive check, simulate).
"""

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform
from numpyro.infer import Predictive

from stochpop.components.contract import Drivers, values_by_year
from stochpop.components.fitting import FitWarning, diagnose, fit_model, read_diagnostics
from stochpop.components.likelihoods import NegativeBinomialCounts
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData

Array = jax.Array
DEFAULT_SETTINGS = FitSettings()

SHOCK_DF = 4.0
"""Degrees of freedom of the Student-t shocks to log TFR (fixed: 20-30 yearly shocks cannot estimate a
tail index; 4 gives heavy tails with a finite variance, so the stationary variance exists)."""
LONG_RUN_TFR = 1.75
"""Prior median of the long-run TFR (post-transition European fertility)."""
LONG_RUN_LOG_SD = 0.12
"""Prior sd of the long-run log TFR."""
TIMING_SHOCK_PRIOR = (1.0, 0.0005)
"""InvGamma(a, b) prior of tau^2, the variance of the timing shocks (years of mean age per year, squared):
median tau 0.027, 95% 0.012-0.14."""

TAIL_MIN_BIRTHS = 10.0
"""Ages whose mean yearly births in the fit period are fewer than this, outside the first and last age that
have as many, get no free parameters: their log share falls linearly from the nearest free age (`tail_decay`
per year, Norway: ages 12-14 and 47-55). Free values there would sit on a one-sided likelihood (zero
counts) that NUTS explores badly."""

SCALARS = (
    "log_tfr_mean",
    "tfr_pacf1",
    "tfr_pacf2",
    "tfr_shock_scale",
    "age_drift",
    "age_damping",
    "overdispersion",
    "tail_decay",
)
"""The scalar parameters NUTS samples in `fertility_model`; `age_shock_scale` (tau) is integrated out there
and drawn afterwards from its conditional posterior, so the posterior has it too."""
LATENTS = ("log_tfr_u", "kappa_u", "alpha_u", "beta_u")
"""The vector parameters NUTS samples (sampling coordinates of log TFR, kappa, alpha, beta)."""

# Sampling coordinates: each latent vector is (empirical centre) + step * u with u flat, so NUTS starts
# within a few steps of the data (its default init draws u uniformly in (-2, 2)). The priors are stated on
# the model quantities (factors below); the centres only move the coordinates, not the posterior.
_LOG_TFR_STEP = 0.005
_KAPPA_STEP = 0.02
_ALPHA_STEP = 0.05
_BETA_STEP = 0.01
_ALPHA_PRIOR_SD = 10.0
_BETA_PRIOR_SD = 1.0
_GAUGE_SD = {"alpha": 0.002, "beta": 0.001, "kappa_mean": 0.005, "kappa_slope": 0.003}
"""Sd of the soft constraints that fix the schedule's free directions (the likelihood is flat along them):
share-weighted means of alpha and beta, the mean of kappa, and kappa's time slope relative to the observed
slope of the mean age. Small next to the posterior sd of the cells, so the gauge is effectively exact
without pinning any one age or year (pinning couples every other value to that one's noise)."""
_MIN_SLOPE = 0.02
"""Smallest |slope| (years of mean age per year) used to scale kappa, so a fit period with a constant mean
age stays identified."""


# ---------------------------------------------------------------------------------------------------------
# Pure transforms
# ---------------------------------------------------------------------------------------------------------


def log_schedule(alpha: Array, beta: Array, kappa: Array) -> Array:
    """Log shares of the age schedule (..., T, A) from alpha, beta (..., A) and kappa (..., T)."""
    return jax.nn.log_softmax(alpha[..., None, :] + beta[..., None, :] * kappa[..., :, None], axis=-1)


def asfr_from(log_tfr: Array, alpha: Array, beta: Array, kappa: Array) -> Array:
    """ASFR (..., T, A) births per woman-year: exp(log TFR (..., T)) times the schedule."""
    return jnp.exp(log_tfr[..., None] + log_schedule(alpha, beta, kappa))


def mean_age(asfr: Array, ages: Array) -> Array:
    """Mean age at birth (...,) in years of ASFR (..., A) by completed age `ages` (midpoints age + 0.5)."""
    return (asfr * (ages + 0.5)).sum(-1) / asfr.sum(-1)


def ar2_coefficients(p1: Array, p2: Array) -> tuple[Array, Array]:
    """AR(2) coefficients (phi1, phi2) from partial autocorrelations p1, p2 in (-1, 1) (always stationary)."""
    return p1 * (1.0 - p2), p2


def ar2_stationary_sd(p1: Array, p2: Array, shock_sd: Array) -> Array:
    """Stationary sd of an AR(2) with partial autocorrelations p1, p2 and shock sd `shock_sd`."""
    return shock_sd / jnp.sqrt((1.0 - p1**2) * (1.0 - p2**2))


def shock_sd(scale: Array, df: float = SHOCK_DF) -> Array:
    """Sd of Student-t(df) shocks with scale `scale`."""
    return scale * np.sqrt(df / (df - 2.0))


def ar2_log_prob(z: Array, p1: Array, p2: Array, scale: Array, df: float = SHOCK_DF) -> Array:
    """Log density of a path z (T,) of a zero-mean stationary AR(2) with Student-t(df) shocks of `scale`.

    The first two values have the process's stationary (Gaussian) law; the rest the one-step t law.
    """
    phi1, phi2 = ar2_coefficients(p1, p2)
    gamma0 = ar2_stationary_sd(p1, p2, shock_sd(scale, df)) ** 2
    quad = (z[0] ** 2 - 2.0 * p1 * z[0] * z[1] + z[1] ** 2) / (1.0 - p1**2)
    start = -jnp.log(2.0 * jnp.pi * gamma0) - 0.5 * jnp.log(1.0 - p1**2) - 0.5 * quad / gamma0
    shocks = z[2:] - phi1 * z[1:-1] - phi2 * z[:-2]
    return start + dist.StudentT(df, 0.0, scale).log_prob(shocks).sum()


def damped_trend_log_prob(kappa: Array, drift: Array) -> Array:
    """Log density of kappa (T,) whose increments are drift + tau v_t, v_t ~ Normal(0, 1), with tau^2
    integrated out over its InvGamma(a, b) prior (a multivariate t): the sampler never meets the tau-kappa
    funnel; tau is drawn afterwards from its conditional posterior (`timing_shock_scale`)."""
    e = jnp.diff(kappa) - drift
    n = e.shape[0]
    a, b = TIMING_SHOCK_PRIOR
    post_a, post_b = a + n / 2, b + 0.5 * (e @ e)
    log_norm = a * np.log(b) - jax.lax.lgamma(a) + jax.lax.lgamma(post_a) - 0.5 * n * np.log(2 * np.pi)
    return log_norm - post_a * jnp.log(post_b)


def timing_shock_scale(key: Array, kappa: Array, drift: Array) -> Array:
    """Draws of tau (D,) from its conditional posterior InvGamma(a + n/2, b + sum e^2 / 2) given kappa
    (D, T) and drift (D,) (the exact complement of the collapsed `damped_trend_log_prob`)."""
    e = jnp.diff(kappa, axis=-1) - drift[:, None]
    a, b = TIMING_SHOCK_PRIOR
    gamma = jax.random.gamma(key, a + e.shape[-1] / 2, drift.shape)
    return jnp.sqrt((b + 0.5 * (e**2).sum(-1)) / gamma)


def with_tails(free: Array, below: Array, above: Array, decay: Array) -> Array:
    """Values at all ages (A,) from the free ages' values: tails continue the edge values, falling
    linearly by decay[0] per year below and decay[1] per year above (distances `below`, `above`)."""
    return jnp.concatenate([free[0] - decay[0] * below, free, free[-1] - decay[1] * above])


def gauge_log_prob(alpha: Array, beta: Array, kappa: Array, inputs: "ModelInputs") -> Array:
    """Soft constraints fixing the schedule's invariances: softmax(alpha + beta kappa) is unchanged by
    alpha + c, beta + c, (alpha - c beta, kappa + c) and (beta c, kappa / c)."""
    slope = kappa @ inputs.trend
    return (
        dist.Normal(0.0, _GAUGE_SD["alpha"]).log_prob(alpha @ inputs.weights)
        + dist.Normal(0.0, _GAUGE_SD["beta"]).log_prob(beta @ inputs.weights)
        + dist.Normal(0.0, _GAUGE_SD["kappa_mean"]).log_prob(kappa.mean())
        + dist.Normal(1.0, _GAUGE_SD["kappa_slope"]).log_prob(slope / inputs.slope)
    )


class StateDraws(NamedTuple):
    """What `project_states` needs, one value per draw (D,): parameters and the last fitted states."""

    log_tfr_mean: Array
    tfr_pacf1: Array
    tfr_pacf2: Array
    tfr_shock_scale: Array
    age_drift: Array
    age_shock_scale: Array
    age_damping: Array
    log_tfr_last: Array
    """(D, 2) log TFR of the last two fitted years."""
    kappa_last: Array
    """(D, 2) timing index of the last two fitted years."""


def project_states(keys: Array, s: StateDraws, horizon: int) -> tuple[Array, Array]:
    """Simulate log TFR and kappa for `horizon` years after the fit period: (D, horizon) each.

    One `jax.lax.scan` over years, every draw at once; shocks from each path's key (keys (D,),
    `base.path_shocks`): Student-t(4) for log TFR, normal for the timing increments; the drift decays by
    `age_damping` each year.
    """
    e_tfr = path_shocks(keys, 1, (horizon,), SHOCK_DF).T
    e_age = path_shocks(keys, 2, (horizon,)).T
    phi1, phi2 = ar2_coefficients(s.tfr_pacf1, s.tfr_pacf2)
    z = s.log_tfr_last - s.log_tfr_mean[:, None]

    def step(carry: tuple[Array, ...], shocks: tuple[Array, Array]) -> tuple[tuple[Array, ...], Array]:
        z_prev, z_last, kappa, drift = carry
        e_f, e_a = shocks
        z_new = phi1 * z_last + phi2 * z_prev + s.tfr_shock_scale * e_f
        drift = drift * s.age_damping
        kappa = kappa + drift + s.age_shock_scale * e_a
        return (z_last, z_new, kappa, drift), jnp.stack([z_new, kappa])

    init = (z[:, 0], z[:, 1], s.kappa_last[:, 1], s.age_drift)
    _, path = jax.lax.scan(step, init, (e_tfr, e_age))
    return s.log_tfr_mean[:, None] + path[:, 0].T, path[:, 1].T


@partial(jax.jit, static_argnames="horizon")
def state_paths(
    keys: Array, s: StateDraws, fitted: tuple[Array, Array], index: Array, horizon: int
) -> tuple[Array, Array]:
    """Log TFR and kappa (D, Y) at positions `index` of the fitted years followed by `horizon` simulated ones
    (`project_states`); `fitted` holds the posterior log TFR and kappa (D, T)."""
    log_tfr, kappa = project_states(keys, s, horizon)
    log_tfr = jnp.concatenate([fitted[0], log_tfr], axis=1)[:, index]
    kappa = jnp.concatenate([fitted[1], kappa], axis=1)[:, index]
    return log_tfr, kappa


# ---------------------------------------------------------------------------------------------------------
# NumPyro model
# ---------------------------------------------------------------------------------------------------------


class ModelInputs(NamedTuple):
    """Fixed inputs of `fertility_model` (T fit years, A ages). All arrays.

    exposure (T, A) female person-years; ages (A,) completed years; below, above: distances (years) of
    the tail ages from the first / last free age (e.g. [3, 2, 1] and [1, ..., 9]); weights (A,) mean
    observed age shares (sum 1); trend (T,) (t - mean t) / sum (t - mean t)^2, so kappa @ trend is
    kappa's slope over time; slope: the observed slope of the mean age at birth (years per year), which
    kappa's slope is tied to; centres of the sampling coordinates log_tfr_hat, kappa_hat (T,) and
    alpha_hat, beta_hat (free ages,).
    """

    exposure: Array
    ages: Array
    below: Array
    above: Array
    weights: Array
    trend: Array
    slope: Array
    log_tfr_hat: Array
    kappa_hat: Array
    alpha_hat: Array
    beta_hat: Array


def fertility_model(
    inputs: ModelInputs,
    births: Array | None = None,
    long_run_tfr: float = LONG_RUN_TFR,
    long_run_log_sd: float = LONG_RUN_LOG_SD,
) -> None:
    """Births by year and age (T, A) ~ NegativeBinomial2(E TFR_t g(t, x), 1 / r^2); see the module
    docstring for the processes and priors. `births=None` samples births (posterior predictive)."""
    n_years, n_ages = inputs.exposure.shape
    flat = dist.ImproperUniform(constraints.real_vector, (), (n_years,))

    # level: log TFR, stationary AR(2) with t shocks around m
    m = numpyro.sample("log_tfr_mean", dist.Normal(np.log(long_run_tfr), long_run_log_sd))
    p1 = numpyro.sample("tfr_pacf1", dist.Beta(40.0, 4.0))
    p2 = numpyro.sample(
        "tfr_pacf2",
        dist.TransformedDistribution(
            dist.Beta(3.0, 3.0), AffineTransform(-1.0, 2.0, domain=constraints.unit_interval)
        ),
    )
    sigma = numpyro.sample("tfr_shock_scale", dist.HalfNormal(0.03))
    u_tfr = numpyro.sample("log_tfr_u", flat)
    log_tfr = numpyro.deterministic("log_tfr", inputs.log_tfr_hat + _LOG_TFR_STEP * u_tfr)
    numpyro.factor("tfr_process", ar2_log_prob(log_tfr - m, p1, p2, sigma))

    # timing: kappa (years of mean age) a random walk with drift; tau integrated out (see the docstring)
    drift = numpyro.sample("age_drift", dist.Normal(0.0, 0.2))
    numpyro.sample("age_damping", dist.Beta(36.0, 4.0))  # used by forecasts only
    u_kappa = numpyro.sample("kappa_u", flat)
    kappa = numpyro.deterministic("kappa", inputs.kappa_hat + _KAPPA_STEP * u_kappa)
    numpyro.factor("timing_process", damped_trend_log_prob(kappa, drift))

    # schedule shape: free values per age between the tails, log-linear tails, soft gauge constraints
    n_free = n_ages - inputs.below.shape[0] - inputs.above.shape[0]
    free = dist.ImproperUniform(constraints.real_vector, (), (n_free,))
    decay = numpyro.sample("tail_decay", dist.LogNormal(0.0, 0.75).expand([2]).to_event(1))
    alpha_free = inputs.alpha_hat + _ALPHA_STEP * numpyro.sample("alpha_u", free)
    beta_free = inputs.beta_hat + _BETA_STEP * numpyro.sample("beta_u", free)
    alpha = numpyro.deterministic("alpha", with_tails(alpha_free, inputs.below, inputs.above, decay))
    beta = numpyro.deterministic("beta", with_tails(beta_free, inputs.below, inputs.above, jnp.zeros(2)))
    shape_prior = (
        dist.Normal(0.0, _ALPHA_PRIOR_SD).log_prob(alpha_free).sum()
        + dist.Normal(0.0, _BETA_PRIOR_SD).log_prob(beta_free).sum()
    )
    numpyro.factor("shape_prior", shape_prior + gauge_log_prob(alpha, beta, kappa, inputs))
    log_g = log_schedule(alpha, beta, kappa)
    numpyro.deterministic("tfr", jnp.exp(log_tfr))
    numpyro.deterministic("mean_age", (jnp.exp(log_g) * (inputs.ages + 0.5)).sum(-1))

    r = numpyro.sample("overdispersion", dist.HalfNormal(0.1))
    positive = inputs.exposure > 0
    mean = jnp.where(positive, inputs.exposure * jnp.exp(log_tfr[:, None] + log_g), 1.0)
    log_factorial = None if births is None else jax.lax.lgamma(jnp.asarray(births) + 1.0)
    likelihood = NegativeBinomialCounts(mean, 1.0 / r**2, log_factorial).mask(positive).to_event(2)
    numpyro.sample("births", likelihood, obs=births)


# ---------------------------------------------------------------------------------------------------------
# Inputs from data
# ---------------------------------------------------------------------------------------------------------


def observations(data: CountryData, first_year: int | None, last_year: int | None) -> xr.Dataset:
    """Births (rounded ASFR x female exposure) and female exposure (year, age) of the fit period."""
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
    births = np.round(asfr.sel(year=wanted).transpose("year", "age") * exposure)
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
    """Fixed inputs and sampling centres from observed births and exposure (year, age)."""
    births = obs["births"].values
    exposure = obs["exposure"].values
    ages = obs["age"].values.astype(float)
    rates = np.where(exposure > 0, births / np.where(exposure > 0, exposure, 1.0), 0.0)
    tfr = rates.sum(1)
    shares = rates / tfr[:, None]
    weights = shares.mean(0)
    t = np.arange(len(tfr)) - (len(tfr) - 1) / 2
    trend = t / (t @ t)
    observed_mean = (shares * (ages + 0.5)).sum(1)
    slope = observed_mean @ trend
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


# ---------------------------------------------------------------------------------------------------------
# Simulation from known parameters
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FertilityParams:
    """Known parameters for `FertilityModel.simulate` (names as in the model; alpha, beta (A,)).

    log_tfr_start: log TFR of the two years before the first simulated one; kappa_start: kappa of the year
    before.
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
        """Norway-like values: a normal-shaped schedule at `mean_age` that shifts by one year per unit of
        kappa (beta = d log g / d mean age), TFR 1.8 with AR(2) momentum, postponement 0.1 year a year."""
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
    """Simulate log TFR (T,), kappa (T,), ASFR (T, A) and births (T, A) for female exposure (T, A)."""
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
    births = dist.NegativeBinomial2(jnp.maximum(mean, 1e-12), 1.0 / params.overdispersion**2).sample(
        key_births
    )
    return {
        "log_tfr": np.asarray(log_tfr[0]),
        "kappa": np.asarray(kappa[0]),
        "asfr": np.asarray(asfr),
        "births": np.asarray(births, dtype=float),
    }


# ---------------------------------------------------------------------------------------------------------
# The component
# ---------------------------------------------------------------------------------------------------------


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


def _inputs_as_constant_data(inputs: ModelInputs, obs: xr.Dataset) -> dict[str, xr.DataArray]:
    """The model inputs as labelled arrays for the `constant_data` group (posterior predictive checks
    rebuild the model from them; the sampling centres must be the fit's own)."""
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


def _inputs_from_constant_data(idata: az.InferenceData) -> ModelInputs:
    """`ModelInputs` of a fit, from its `constant_data` group."""
    return ModelInputs(**{name: np.asarray(idata.constant_data[name].values) for name in _INPUT_DIMS})


def _add_timing_shock_scale(idata: az.InferenceData, key: Array) -> az.InferenceData:
    """Draw tau (`age_shock_scale`) for every posterior draw from its conditional posterior, add it to the
    posterior and, for NUTS fits, redo the stored diagnostics with it (warning if they now fail)."""
    post = idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    flat = lambda name: post[name].values.reshape(chains * draws, *post[name].shape[2:])  # noqa: E731
    with jax.enable_x64(True):
        tau = timing_shock_scale(key, flat("kappa"), flat("age_drift"))
    post["age_shock_scale"] = (("chain", "draw"), np.asarray(tau).reshape(chains, draws))
    sampled = read_diagnostics(idata)
    if sampled is not None:
        diagnostics = diagnose(idata, [*SCALARS, "age_shock_scale", *LATENTS])
        post.attrs["diagnostics"] = json.dumps(asdict(diagnostics))
        if sampled.ok and not diagnostics.ok:  # fit_model has already warned if the sampled ones failed
            warnings.warn(f"fertility fit failed its diagnostics: {diagnostics}", FitWarning, stacklevel=3)
    return idata


@dataclass(frozen=True)
class FertilityModel:
    """Bayesian ASFR model (`fertility_model`) fitted to `CountryData.asfr` x female exposure over
    first_year..last_year (None: the first / last year with data). Ages: those of the data's ASFR."""

    first_year: int | None = 1990
    last_year: int | None = None
    long_run_tfr: float = LONG_RUN_TFR
    """Prior median of the long-run TFR exp(m) (module docstring)."""
    long_run_log_sd: float = LONG_RUN_LOG_SD
    """Prior sd of m = log long-run TFR; the 2100 sanity bound in the docstring holds for the defaults."""
    name: str = "fertility"

    def __post_init__(self) -> None:
        if not (0.5 <= self.long_run_tfr <= 4.0 and 0.0 < self.long_run_log_sd <= 0.5):
            raise ValueError(
                "fertility prior: long_run_tfr must be in [0.5, 4] and long_run_log_sd in (0, 0.5], got "
                f"{self.long_run_tfr} and {self.long_run_log_sd}"
            )

    def observations(self, data: CountryData) -> xr.Dataset:
        """Births and female exposure (year, age) that the model is fitted to."""
        return observations(data, self.first_year, self.last_year)

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_SETTINGS) -> az.InferenceData:
        """NUTS (or SVI) fit; posterior of the scalars (`SCALARS`), log_tfr / tfr / kappa / mean_age (year),
        alpha / beta (age) and the sampling coordinates; constant_data holds births and exposure."""
        obs = ages_with_births(self.observations(data))
        inputs = model_inputs(obs)
        years, ages = obs["year"].values, obs["age"].values
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
        births = obs["births"].values
        attrs = {
            "component": self.name,
            "country": data.name,
            "first_year": int(years[0]),
            "last_year": int(years[-1]),
            "units": "births per woman-year",
        }
        # float64: the likelihood sums about a thousand negative-binomial terms of births in the thousands;
        # in float32 its rounding noise (~0.1 in the log density) makes NUTS's step size collapse
        with jax.enable_x64(True):
            idata = fit_model(
                fertility_model,
                {
                    "inputs": inputs,
                    "births": births,
                    "long_run_tfr": self.long_run_tfr,
                    "long_run_log_sd": self.long_run_log_sd,
                },
                settings,
                coords,
                dims,
                constant_data={"births": obs["births"], **_inputs_as_constant_data(inputs, obs)},
                check=[*SCALARS, *LATENTS],
                attrs=attrs,
            )
        return _add_timing_shock_scale(idata, jax.random.fold_in(jax.random.PRNGKey(settings.seed), 7))

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """Paths for `years` (any years from the fit period's first on; fitted values inside the fit period),
        path i drawn from fold_in(key, i) alone (`base.path_keys`): parameter uncertainty (posterior draws)
        and process uncertainty (simulated shocks); the cell-level extra-Poisson noise of the likelihood is
        not added. fixed: alpha, beta (draw, age) and the fitted ages (age,); series: log_tfr and kappa
        (draw, year)."""
        years = np.asarray(years, dtype=int)
        fit_years = idata.posterior["year"].values
        if years.size == 0 or years.min() < fit_years[0]:
            raise ValueError(f"forecast years must be {fit_years[0]} or later")
        keys = path_keys(key, paths)
        p = posterior_draws(idata, keys, [*SCALARS, "age_shock_scale", "log_tfr", "kappa", "alpha", "beta"])
        f32 = lambda v: jnp.asarray(v, dtype=jnp.float32)  # noqa: E731
        s = StateDraws(
            **{name: f32(p[name]) for name in StateDraws._fields if name in (*SCALARS, "age_shock_scale")},
            log_tfr_last=f32(p["log_tfr"][:, -2:]),
            kappa_last=f32(p["kappa"][:, -2:]),
        )
        log_tfr, kappa = state_paths(
            keys,
            s,
            (f32(p["log_tfr"]), f32(p["kappa"])),
            jnp.asarray(years - fit_years[0]),
            horizon=int(max(years.max() - fit_years[-1], 0)),
        )
        fixed = {"alpha": f32(p["alpha"]), "beta": f32(p["beta"]), "ages": f32(idata.posterior["age"].values)}
        return Drivers(fixed, {"log_tfr": log_tfr, "kappa": kappa})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> dict[str, Array]:
        """One year's ASFR (draw, age) by completed age, births per woman-year; tfr (draw,); mean_age (draw,)
        years."""
        asfr = asfr_from(step["log_tfr"][..., None], fixed["alpha"], fixed["beta"], step["kappa"][..., None])
        asfr = asfr[..., 0, :]
        return {"fertility": asfr, "tfr": asfr.sum(-1), "mean_age": mean_age(asfr, fixed["ages"])}

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """fertility (draw, year, age), tfr (draw, year) and mean_age (draw, year) of `drivers`; `draw` holds
        the path indices."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        coords = {
            "draw": path_indices(paths),
            "year": np.asarray(years),
            "age": idata.posterior["age"].values,
        }
        return xr.Dataset(
            {
                "fertility": (("draw", "year", "age"), np.asarray(values["fertility"])),
                "tfr": (("draw", "year"), np.asarray(values["tfr"])),
                "mean_age": (("draw", "year"), np.asarray(values["mean_age"])),
            },
            coords=coords,
            attrs={
                "component": self.name,
                "fertility": "births per woman-year by mother's age in completed years",
                "tfr": "births per woman",
                "mean_age": "years",
            },
        )

    def posterior_predictive_check(
        self,
        idata: az.InferenceData,
        data: CountryData,
        level: float = 0.9,
        n_draws: int = 1000,
        seed: int = 0,
    ) -> float:
        """Share of observed births by (year, age) inside their central `level` posterior predictive
        intervals (`numpyro.infer.Predictive` with `n_draws` posterior draws)."""
        years = idata.posterior["year"].values
        obs = observations(data, int(years[0]), int(years[-1])).sel(age=idata.posterior["age"].values)
        inputs = _inputs_from_constant_data(idata)
        key_draws, key_predict = jax.random.split(jax.random.PRNGKey(seed))
        p = posterior_draws(idata, path_keys(key_draws, n_draws))
        with jax.enable_x64(True):  # as in the fit
            samples = {name: jnp.asarray(p[name], dtype=jnp.float64) for name in (*SCALARS, *LATENTS)}
            predictive = Predictive(fertility_model, posterior_samples=samples, return_sites=["births"])
            replicates = predictive(key_predict, inputs=inputs)["births"]
        lo, hi = np.quantile(np.asarray(replicates), [(1 - level) / 2, (1 + level) / 2], axis=0)
        observed = obs["births"].values
        return float(np.mean((observed >= lo) & (observed <= hi)))

    def simulate(self, data: CountryData, params: FertilityParams, key: Array) -> CountryData:
        """`data` with its ASFR replaced, for the fit period, by rates simulated from `params` on the data's
        female exposure (births drawn from the model's likelihood, divided by exposure)."""
        exposure = self.observations(data)["exposure"]
        sim = simulate_history(key, params, exposure.values)
        asfr = xr.DataArray(
            sim["births"] / exposure.values,
            dims=("year", "age"),
            coords={"year": exposure["year"].values, "age": exposure["age"].values},
            attrs={**data.asfr.attrs, "simulated": "FertilityModel.simulate"},
        )
        return replace(data, asfr=asfr)
