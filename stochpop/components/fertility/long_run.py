"""The long-run TFR learnt across countries: a hierarchical model of post-transition ("phase III")
fertility on UN WPP estimates, as bayesTFR's phase III (Alkema et al. 2011; Raftery, Alkema & Gerland
2014), whose predictive for a new country is the prior of the fertility model's long-run level m.

Phase III (`phase_three_start`): bayesTFR's rule on five-year data, "the TFR has fallen below 2 and two
consecutive increases follow", applied to the annual series through trailing five-year means
M(t) = mean(TFR_t..TFR_{t+4}): phase III starts in the first year t with

    M(t) < 2,  M(t + 5) < 2,  M(t) < M(t + 5) < M(t + 10)

(a trough below 2, then two rises between consecutive non-overlapping windows). Sliding windows make the
start independent of how five-year periods are aligned, and it never moves when later years are added.
Phase III data of a country: its non-overlapping five-year means ending at the last year used
(`phase_three_data`), back to the first window that starts at or after t (at least three by the rule).
Ending at the last year uses the newest data, at the price of windows that shift with it: WPP to 2023
gives a new country's median long-run TFR 1.59, to 2022 1.63 (the back-test sees this wobble).
Countries averaging fewer than `MIN_BIRTHS` thousand births a year over those years (Monaco, Saint Helena,
the Falklands...), or without births, are left out: their TFR is small-number noise.

Model, on y_{c,k} = log of country c's k-th five-year mean TFR of phase III, k = 0 its first window
(log: the fertility model's m is a log TFR, and shocks proportional to the level suit countries from 0.8
to 2 children alike):

    y_{c,0} = mu_c + d + tau e_{c,0}                           the first window: d below the level
    y_{c,k} = mu_c + rho (y_{c,k-1} - mu_c) + s e_{c,k},       e ~ Normal(0, 1)
    mu_c ~ Normal(mu_bar, sigma_mu)                             the country's long-run level
    mu_bar ~ Normal(log 2, 0.5)         long-run TFR median 2, 95% 0.75-5.3
    sigma_mu ~ HalfNormal(0.2)          country levels spread up to ~40% (95% of the prior below 0.39)
    rho ~ Uniform(0, 1)                 persistence per five years (bayesTFR's prior)
    s ~ HalfNormal(0.2)                 five-year shocks to log TFR
    d ~ Normal(0, 0.3),  tau ~ HalfNormal(0.2)   the first window's offset from the level and its spread

bayesTFR conditions on the first phase III value; here it is modelled, because it depends on mu_c (the
"initial conditions" problem of dynamic panels): conditioning on it as if it did not made a simulated
rho = 0.6 come out at 0.8, mu_bar 0.1 too high and sigma_mu at a quarter to a half of its 0.15. The
model is linear and normal in the levels, so they are integrated out exactly (`country_levels`) and NUTS
samples the six scalars (no funnel between sigma_mu and the levels); the levels are drawn afterwards
from their conditional normals.

Five-year means rather than annual values: WPP's annual series are smooth (many are interpolated), so an
annual AR(1) puts rho at 0.99 and cannot tell mu_c from the last level (on the 2023 data its sigma_mu
posterior equalled its prior); on five-year means rho is about 0.85 and the levels are learnt.

The prior for m (`WorldLongRun.median`, `.log_sd`): the posterior predictive of a new country's level,
mu_new = mu_bar + sigma_mu z, moment-matched by a normal on the log scale (it is a normal mixed over the
posterior of (mu_bar, sigma_mu); `summary` gives its exact 2.5% and 97.5% quantiles beside the normal's).

Leakage: `fit_world_long_run(..., last_year=T - 1)` drops every year after `last_year` before anything is
computed, so a back-test from jump-off T sees only years before T (tested). The WPP 2024 estimates of past
years are themselves revised with hindsight: that vintage effect cannot be removed with one revision.
The country being forecast is left out (`exclude`): its data enter its own likelihood, and a prior learnt
from the others is the "new country" predictive the model asks for (with ~50 countries the double
counting would be small, but leaving it out costs nothing).
"""

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.fitting import fit_model, refit_if_unmixed
from stochpop.components.settings import FitSettings
from stochpop.data.errors import DataError
from stochpop.data.wpp import read_wpp_countries

Array = jax.Array

BELOW = 2.0
"""The TFR a country's five-year mean must fall below before phase III can start (bayesTFR)."""
WINDOW = 5
"""Years in a five-year mean."""
MIN_BIRTHS = 1.0
"""Thousand births a year (mean over the phase III years) below which a country is left out."""
MIN_COUNTRIES = 5
"""Fewest phase III countries the hierarchical fit accepts."""
RESTART_RHAT = 1.05
"""A world fit whose largest R-hat exceeds this is run once more with the next seed (`refit_if_unmixed`):
with few phase III countries (e.g. 16 up to 2001) one chain can stick in the funnel of the first window's
scale `trough_sd` (seed 0 at 2001: R-hat 2.23, the new-country median 1.47 against 1.54 at seeds 1-2)."""
WORLD_FIT_SETTINGS = FitSettings(chains=2, warmup=1000, samples=2000, target_accept=0.99)
"""NUTS settings of the world fit: 15-20 s with compilation on a busy core; the high target acceptance
removes the few divergences (0-3) fits on 7-24 countries had at 0.9-0.95 when sigma_mu or tau is near 0."""
SCALARS = ("mean_level", "level_sd", "persistence", "shock_sd", "trough", "trough_sd")
"""mu_bar, sigma_mu, rho, s, d, tau of the model (log TFR; persistence and shock sd per five years)."""


def trailing_means(values: np.ndarray) -> np.ndarray:
    """M(t) = mean of values[t:t + WINDOW], shape (n - WINDOW + 1,); NaN where a value is missing."""
    return np.convolve(values, np.ones(WINDOW) / WINDOW, mode="valid")


def phase_three_start(tfr: np.ndarray) -> int | None:
    """Index t of the first year of phase III in an annual TFR series (n,) (the module's rule), or None."""
    means = trailing_means(np.asarray(tfr, dtype=float))
    for t in range(means.size - 2 * WINDOW):
        trough, first, second = means[t], means[t + WINDOW], means[t + 2 * WINDOW]
        if trough < BELOW and first < BELOW and trough < first < second:
            return t
    return None


def phase_three_data(
    tfr: xr.DataArray, births: xr.DataArray, last_year: int, exclude: Collection[int] = ()
) -> xr.Dataset:
    """log_tfr (country, period_end): log five-year mean TFR of the phase III countries, NaN before each
    country's phase III; `period_end` is the last year of each window, the last one min(last_year, last
    year of data); start (country): first year of phase III. Only years <= last_year are read.

    `tfr` (children per woman) and `births` (thousands) are WPP arrays (country, year)
    (`stochpop.data.wpp.read_wpp_countries`); countries whose code is in `exclude` are left out."""
    tfr = tfr.sel(year=tfr["year"] <= last_year)
    births = births.sel(year=births["year"] <= last_year).reindex_like(tfr)
    years, source = tfr["year"].values, tfr.attrs.get("source", "WPP tfr")
    if years.size < 3 * WINDOW or np.any(np.diff(years) != 1):
        raise DataError(
            source, "year", f"phase III needs at least {3 * WINDOW} consecutive years up to {last_year}"
        )
    n_windows = years.size // WINDOW
    ends = years[years.size - 1 :: -WINDOW][:n_windows][::-1]
    rows, codes, starts = [], [], []
    for code in tfr["country"].values:
        if code in exclude:
            continue
        series = tfr.sel(country=code).values
        start = phase_three_start(series)
        if start is None or not np.mean(births.sel(country=code).values[start:]) >= MIN_BIRTHS:
            continue  # not in phase III, too small, or no births
        means = series[years.size - WINDOW * n_windows :].reshape(n_windows, WINDOW).mean(axis=1)
        rows.append(np.where(ends - WINDOW + 1 >= years[start], np.log(means), np.nan))
        codes.append(code)
        starts.append(int(years[start]))
    return xr.Dataset(
        {
            "log_tfr": (("country", "period_end"), np.array(rows).reshape(len(codes), n_windows)),
            "start": ("country", np.array(starts, dtype=int)),
        },
        coords={**tfr["country"].sel(country=codes).coords, "period_end": ends},
        attrs={"last_year": int(years[-1]), "source": source},
    )


class Hyper(NamedTuple):
    """The model's shared parameters, in the order of SCALARS (scalars, or arrays of draws)."""

    mean_level: Array
    level_sd: Array
    persistence: Array
    shock_sd: Array
    trough: Array
    trough_sd: Array


def country_levels(hyper: Hyper, log_tfr: Array, first: Array, pairs: Array) -> tuple[Array, Array, Array]:
    """Each country's log likelihood with its level mu_c integrated out, and the conditional mean and
    variance of mu_c, each (..., C) for parameters of shape (...).

    Given mu_c every observation is a_j = b_j mu_c + sd_j e_j: the first window a = y_0 - d (b = 1,
    sd = tau), a transition a = y_k - rho y_{k-1} (b = 1 - rho, sd = s). With r_j = a_j - b_j mu_bar,
    S_xy = sum_j x_j y_j / sd_j^2 and g = 1 + sigma_mu^2 S_bb (Sherman-Morrison and the determinant lemma,
    stable as sigma_mu -> 0):

        log p = -(S_rr - sigma_mu^2 S_rb^2 / g) / 2 - (sum_j log(2 pi sd_j^2) + log g) / 2
        mu_c | y ~ Normal(mu_bar + sigma_mu^2 S_rb / g, sigma_mu^2 / g)

    log_tfr (C, K) (finite filler where unobserved), first (C, K) and pairs (C, K - 1) as in
    `long_run_model`."""
    h = Hyper(*(jnp.asarray(v)[..., None, None] for v in hyper))  # (..., 1, 1) against (C, K)
    slope = 1.0 - h.persistence
    w_first, w_pair = first / h.trough_sd**2, pairs / h.shock_sd**2
    r_first = log_tfr - h.trough - h.mean_level
    r_pair = log_tfr[:, 1:] - h.persistence * log_tfr[:, :-1] - slope * h.mean_level
    s_rr = (w_first * r_first**2).sum(-1) + (w_pair * r_pair**2).sum(-1)
    s_rb = (w_first * r_first).sum(-1) + slope[..., 0] * (w_pair * r_pair).sum(-1)
    s_bb = w_first.sum(-1) + slope[..., 0] ** 2 * w_pair.sum(-1)
    var_mu = h.level_sd[..., 0] ** 2
    g = 1.0 + var_mu * s_bb
    log_det = (first * jnp.log(2 * jnp.pi * h.trough_sd**2)).sum(-1) + (
        pairs * jnp.log(2 * jnp.pi * h.shock_sd**2)
    ).sum(-1)
    log_lik = -0.5 * (s_rr - var_mu * s_rb**2 / g) - 0.5 * (log_det + jnp.log(g))
    return log_lik, h.mean_level[..., 0] + var_mu * s_rb / g, var_mu / g


def long_run_model(log_tfr: Array, first: Array, pairs: Array) -> None:
    """The hierarchical phase III model of the module docstring, the country levels integrated out
    (`country_levels`: NUTS then samples six scalars, with no funnel between sigma_mu and the levels).

    log_tfr (C, K): log five-year mean TFR (any finite filler where unobserved); first (C, K): True at each
    country's first phase III window; pairs (C, K - 1): True where windows k and k + 1 are both observed
    (a transition enters the likelihood)."""
    hyper = Hyper(
        mean_level=numpyro.sample("mean_level", dist.Normal(jnp.log(2.0), 0.5)),
        level_sd=numpyro.sample("level_sd", dist.HalfNormal(0.2)),
        persistence=numpyro.sample("persistence", dist.Uniform(0.0, 1.0)),
        shock_sd=numpyro.sample("shock_sd", dist.HalfNormal(0.2)),
        trough=numpyro.sample("trough", dist.Normal(0.0, 0.3)),
        trough_sd=numpyro.sample("trough_sd", dist.HalfNormal(0.2)),
    )
    numpyro.factor("log_tfr", country_levels(hyper, log_tfr, first, pairs)[0].sum())


@dataclass(frozen=True)
class WorldLongRun:
    """The world fit: `idata` (posterior of SCALARS, `level` (country) and `new_level`, the predictive
    level of a new country; constant_data the phase III data) and the prior it implies for m =
    log long-run TFR: Normal(log median, log_sd)."""

    idata: az.InferenceData
    median: float
    """exp(mean of new_level): the long-run TFR's median, children per woman."""
    log_sd: float
    """sd of new_level (log TFR)."""

    def summary(self) -> dict[str, Any]:
        """The number of countries and the last year used; each scalar's posterior mean and sd
        ("posterior": {name: {"mean", "sd"}}); the implied prior for m with the predictive's exact and
        moment-matched normal 95% bounds in TFR (children per woman)."""
        posterior = self.idata["posterior"]
        low, high = np.exp(np.quantile(posterior["new_level"].values, [0.025, 0.975]))
        normal_low, normal_high = np.exp(np.log(self.median) + np.array([-1.96, 1.96]) * self.log_sd)
        return {
            "countries": int(posterior.sizes["country"]),
            "last_year": int(self.idata["constant_data"].attrs["last_year"]),
            "posterior": {
                name: {"mean": float(posterior[name].mean()), "sd": float(posterior[name].std())}
                for name in SCALARS
            },
            "median": self.median,
            "log_sd": self.log_sd,
            "tfr_95": [float(low), float(high)],
            "normal_tfr_95": [float(normal_low), float(normal_high)],
        }


def fit_phase_three(data: xr.Dataset, settings: FitSettings = WORLD_FIT_SETTINGS) -> WorldLongRun:
    """Fit `long_run_model` by NUTS to phase III data (`phase_three_data`'s layout; attrs["last_year"]);
    DataError if it holds fewer than MIN_COUNTRIES countries. A failing fit warns (`FitWarning`)."""
    if data.sizes["country"] < MIN_COUNTRIES:
        raise DataError(
            data.attrs.get("source", "WPP tfr"),
            "phase III",
            f"{data.sizes['country']} countries in phase III up to {data.attrs['last_year']}; the world "
            f"long-run fit needs at least {MIN_COUNTRIES} (use the hand-set long_run_tfr / long_run_log_sd)",
        )
    log_tfr = data["log_tfr"].values
    observed = np.isfinite(log_tfr)
    first = observed & ~np.pad(observed, ((0, 0), (1, 0)))[:, :-1]
    inputs = {
        "log_tfr": jnp.asarray(np.where(observed, log_tfr, 0.0)),
        "first": jnp.asarray(first),
        "pairs": jnp.asarray(observed[:, :-1] & observed[:, 1:]),
    }
    idata = refit_if_unmixed(
        lambda fit_settings: fit_model(
            long_run_model,
            inputs,
            fit_settings,
            coords={"country": data["country"].values},
            dims={},
            constant_data={str(k): v for k, v in data.data_vars.items()},
            attrs={"component": "world long-run fertility", "units": "log children per woman"},
        ),
        settings,
        RESTART_RHAT,
    )
    idata["constant_data"].attrs.update(data.attrs)
    posterior = idata["posterior"]
    hyper = Hyper(*(jnp.asarray(posterior[name].values) for name in SCALARS))
    _, mean, var = country_levels(hyper, **inputs)
    rng = np.random.default_rng(settings.seed)
    level = np.asarray(mean) + np.sqrt(np.asarray(var)) * rng.standard_normal(mean.shape)
    posterior["level"] = xr.DataArray(
        level, dims=("chain", "draw", "country"), coords={"country": data["country"].values}
    )
    new_level = posterior["mean_level"] + posterior["level_sd"] * rng.standard_normal(hyper[0].shape)
    posterior["new_level"] = new_level
    return WorldLongRun(idata, float(np.exp(new_level.mean())), float(new_level.std()))


def fit_world_long_run(
    tfr: xr.DataArray,
    births: xr.DataArray,
    last_year: int,
    exclude: Collection[int] = (),
    settings: FitSettings = WORLD_FIT_SETTINGS,
) -> WorldLongRun:
    """The world fit on the years <= last_year of WPP's TFR and births (country, year), leaving out the
    countries coded in `exclude` (`phase_three_data`, then `fit_phase_three`)."""
    return fit_phase_three(phase_three_data(tfr, births, last_year, exclude), settings)


def read_world_fertility(folder: str | Path) -> tuple[xr.DataArray, xr.DataArray]:
    """TFR and births (thousands) of every WPP country (country, year) from a WPP 2024 world folder holding
    tfr.txt, births.txt and UNlocations.txt."""
    folder = Path(folder)
    locations = folder / "UNlocations.txt"
    return (
        read_wpp_countries(folder / "tfr.txt", locations),
        read_wpp_countries(folder / "births.txt", locations),
    )
