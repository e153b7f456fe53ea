"""The fertility model: a Bayesian model of age-specific fertility rates (ASFR) by single year of mother's
age, as a NumPyro model (`fertility_model`) with its process densities and priors.

Model choice
------------
ASFR f(t, x) (births per woman-year, x in completed years, e.g. 12..55 as HFD publishes them) is a
*level* times a *schedule* (`stochpop.components.fertility.schedule`):

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

World dynamics (`world_dynamics`, `FertilityModel.dynamics = "world"`): 25 years of one country say
little about how far its TFR can move in a decade. Across WPP's post-transition countries the five-year
means of log TFR follow an AR(1) with persistence rho5 ~ 0.84 and shocks s5 ~ 0.10 (`long_run`, the
world fit), while Norway's annual AR(2) alone implies s5 ~ 0.04: its ten-year TFR intervals were half
the width of the changes countries had (`experiments/world_change_spread.py`). As bayesTFR's phase III,
which gives every country the world's shock scale, the option adds a factor on the five-year dynamics
the annual parameters imply (`five_year_dynamics`): rho5 ~ Normal and s5 ~ Normal at the world
posterior's mean and sd. The annual path keeps its own p1, p2, sigma, constrained to those dynamics
(the factor is on derived quantities: a soft constraint, not a change of variables; the world's are logs
of five-year mean TFR, these means of log TFR, equal to first order). In the Norway back-test (15
jump-offs 1990-2018) TFR's 80% intervals then held 0.92 of the time instead of 0.69, with an interval
score 0.89 times the SSB-like band's instead of 1.18. Fitted on Norway 1990-2022: TFR in 2100 95%
1.20-2.35 (99% 1.09-2.60), against 1.33-2.18 with the annual priors alone.

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
centred, scaled offsets from empirical values (`ModelInputs`), which only moves the coordinates. tau is
integrated out in the sampler and drawn afterwards (`add_timing_shock_scale`).
"""

import json
import warnings
from dataclasses import asdict

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform

from stochpop.components.fertility.inputs import ModelInputs
from stochpop.components.fertility.schedule import log_schedule, with_tails
from stochpop.components.fitting import FitWarning, diagnose, read_diagnostics
from stochpop.components.likelihoods import NegativeBinomialCounts
from stochpop.demography.lifetable import mean_age_at_birth

Array = jax.Array

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


def gauge_log_prob(alpha: Array, beta: Array, kappa: Array, inputs: ModelInputs) -> Array:
    """Soft constraints fixing the schedule's invariances: softmax(alpha + beta kappa) is unchanged by
    alpha + c, beta + c, (alpha - c beta, kappa + c) and (beta c, kappa / c). alpha, beta (A,), kappa (T,)."""
    slope = kappa @ inputs.trend
    return (
        dist.Normal(0.0, _GAUGE_SD["alpha"]).log_prob(alpha @ inputs.weights)
        + dist.Normal(0.0, _GAUGE_SD["beta"]).log_prob(beta @ inputs.weights)
        + dist.Normal(0.0, _GAUGE_SD["kappa_mean"]).log_prob(kappa.mean())
        + dist.Normal(1.0, _GAUGE_SD["kappa_slope"]).log_prob(slope / inputs.slope)
    )


def five_year_dynamics(p1: Array, p2: Array, shock_sd: Array, window: int = 5) -> tuple[Array, Array]:
    """(rho5, s5): the lag-one autocorrelation of non-overlapping `window`-year means of a stationary AR(2)
    (partial autocorrelations p1, p2, shock sd `shock_sd`) and the shock sd of the AR(1) with that
    persistence and the means' variance, s5 = sd(mean) sqrt(1 - rho5^2); from the AR(2) autocovariances
    (Yule-Walker recursion)."""
    phi1, phi2 = ar2_coefficients(p1, p2)
    gamma0 = ar2_stationary_sd(p1, p2, shock_sd) ** 2
    rho = [jnp.ones_like(phi1), phi1 / (1.0 - phi2)]
    for _ in range(2, 2 * window):
        rho.append(phi1 * rho[-1] + phi2 * rho[-2])
    lags = np.arange(window)
    within = np.abs(lags[:, None] - lags[None, :]).ravel()
    across = (window + lags[None, :] - lags[:, None]).ravel()
    autocorrelation = jnp.stack(rho, axis=-1)
    variance = gamma0 * autocorrelation[..., within].mean(-1)
    rho5 = autocorrelation[..., across].mean(-1) / autocorrelation[..., within].mean(-1)
    return rho5, jnp.sqrt(variance * (1.0 - rho5**2))


def fertility_model(
    inputs: ModelInputs,
    births: Array | None = None,
    long_run_tfr: float = LONG_RUN_TFR,
    long_run_log_sd: float = LONG_RUN_LOG_SD,
    world_dynamics: tuple[float, float, float, float] | None = None,
) -> None:
    """Births by year and age (T, A) ~ NegativeBinomial2(E TFR_t g(t, x), 1 / r^2); see the module
    docstring for the processes and priors. `births=None` samples births (posterior predictive).
    world_dynamics: (mean, sd) of rho5 then of s5, the world's five-year dynamics the annual AR(2) is held
    to (module docstring); None: the annual priors alone."""
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
    if world_dynamics is not None:
        rho5, s5 = five_year_dynamics(p1, p2, shock_sd(sigma))
        rho_mean, rho_sd, s_mean, s_sd = world_dynamics
        numpyro.factor(
            "world_dynamics",
            dist.Normal(rho_mean, rho_sd).log_prob(rho5) + dist.Normal(s_mean, s_sd).log_prob(s5),
        )

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
    numpyro.deterministic("mean_age", mean_age_at_birth(jnp.exp(log_g), inputs.ages, total=1.0, xp=jnp))

    r = numpyro.sample("overdispersion", dist.HalfNormal(0.1))
    positive = inputs.exposure > 0
    mean = jnp.where(positive, inputs.exposure * jnp.exp(log_tfr[:, None] + log_g), 1.0)
    log_factorial = None if births is None else jax.lax.lgamma(jnp.asarray(births) + 1.0)
    likelihood = NegativeBinomialCounts(mean, 1.0 / r**2, log_factorial).mask(positive).to_event(2)
    numpyro.sample("births", likelihood, obs=births)


def add_timing_shock_scale(idata: az.InferenceData, key: Array) -> az.InferenceData:
    """Draw tau (`age_shock_scale`) for every posterior draw from its conditional posterior, add it to the
    posterior and, for NUTS fits, redo the stored diagnostics with it (warning if they now fail)."""
    post = idata["posterior"]
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    flat = lambda name: post[name].values.reshape(chains * draws, *post[name].shape[2:])  # noqa: E731
    with jax.enable_x64(True):
        tau = timing_shock_scale(key, jnp.asarray(flat("kappa")), jnp.asarray(flat("age_drift")))
    post["age_shock_scale"] = (("chain", "draw"), np.asarray(tau).reshape(chains, draws))
    sampled = read_diagnostics(idata)
    if sampled is not None:
        diagnostics = diagnose(idata, [*SCALARS, "age_shock_scale", *LATENTS])
        post.attrs["diagnostics"] = json.dumps(asdict(diagnostics))
        if sampled.ok and not diagnostics.ok:  # fit_model has already warned if the sampled ones failed
            warnings.warn(f"fertility fit failed its diagnostics: {diagnostics}", FitWarning, stacklevel=3)
    return idata
