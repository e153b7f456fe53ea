"""How often and how far net migration shifts: priors for the shifting-level net migration model learnt
from a long cross-country record, using only the years up to a given last year.

Record: UN WPP 2024 net migration (thousands, calendar years 1950-2023) of the countries of Europe,
Northern America and Oceania with at least one million people in the last year used, per 1000 residents.
WPP has no population in that folder, so each country's population is rebuilt by WPP's own balancing
equation, P_t = P_1950 + sum_{s<t} (B_s - D_s + M_s), its level P_1950 anchored on the median over the
years of a births/fertility proxy P ~ 35 B_t / (TFR_t 0.235) (women 15-49 ~ 35 B / TFR, and ~23.5% of a
population). On Norway this rebuilt population lies 1.2-2.1% above HMD's 1 January totals in every year
1950-2023 (the proxy alone is off by up to 14%), and WPP's Norway series equals the HMD cohort residual
(`CountryData.net_migration`) within a few hundred persons a year, so Norway's own record is one of the
countries.

Model (rates x_ct per 1000, country c, year t), `level_shift_paths` with normal shocks:
    x_ct = L_ct + d_ct,  L_ct = m_c + rho (L_c,t-1 - m_c) + tau_c u_ct,  d_ct = phi d_c,t-1 + sigma_c e_ct,
fitted by penalised maximum likelihood (Kalman filter, `level_shift_log_likelihood`): rho and phi shared
(|phi| < rho: the level is the more persistent part, which tells the two apart),
m_c, tau_c, sigma_c per country, with weak penalties log tau_c, log sigma_c ~ Normal(0, 2) (per 1000)
that keep a country whose level never moves off tau = 0. The prior for a new country is the spread of the
country estimates: log tau ~ Normal(mean, sd) of the log tau_c (so it holds their estimation noise too,
a conservative width), the same for sigma, m ~ Normal(mean, sd) of the m_c; phi as estimated.

rho is corrected for the downward bias of an autoregression whose mean is estimated from the same n years
(Kendall 1954; Marriott & Pope 1954): E rho_hat ~ rho - (1 + 3 rho) / n, so rho = (n rho_hat + 1) / (n - 3),
capped at `MAX_DAMPING`. On panels simulated from the model (42 countries x 74 years, as the record to 2023)
the estimator returns 0.845, 0.898 and 0.929 for rho = 0.90, 0.95 and 0.975 (bias -0.055, -0.052, -0.046;
the formula's -0.050, -0.052, -0.053). On the record the correction lifts rho from 0.90 to 0.95 (2023) and
from 0.80 to 0.90 (1989); Norway's own 1950-2023 record alone gives 0.976.

A country's level scale does not stay put: migration regimes change (EU enlargement, wars, labour booms),
and the record shows a country's volatility in one period predicts only half of it in the next. Fitting the
model separately to the two halves of the record to 2023 (1950-1986, 1987-2023; likewise 1960-1984 /
1985-2009 and 1970-1994 / 1995-2019), the correlation of log tau_c between halves is 0.46-0.49 and the
least-squares slope 0.44-0.50. So a forecast's level scale is not the one estimated from the fit window: it
regresses towards the cross-country median, and spreads around that,
    log tau_future = l + b (log tau - l) + s z,  z ~ Normal(0, 1),  l = mean of the log tau_c,
b and s (`scale_carryover`, `scale_change_sd`) the slope and residual sd of the regression of the later
half's log tau_c on the earlier half's, over the record up to the last year used (`future_level_scale`).
The residual holds both halves' estimation noise (b is attenuated by it, s inflated), so it errs wide. The
same split does not support moving the long-run mean away from the window: over 42 countries and jump-offs
1975-2013, the 25-year window mean forecasts the rate 10 years ahead better (RMSE 8.7 per 1000, median
absolute error 2.0) than the last 5 years (9.2, 2.3) or the cross-country median (9.1, 2.8).

How far a level can go: over 1950-2023 the record's 10-year mean rates lie within -29 and +11 per 1000
(1-99%: -15.3 and +8.5; 30-year means -16.1 to +7.1). A linear level close to a random walk cannot both
spread as widely over decades as the record asks and stay inside that: its 5% of paths with the largest
scales wander by 16 per 1000 and more by 2100. So the prior also carries the extremes and the 1% and 99%
quantiles of the countries' 10-year mean rates up to the last year used (`decade_bounds`), and a forecast
may bend its level into them (`processes.soft_bounds`: unchanged between the quantiles, approaching the
extremes, never passing them). They bound how far a level goes, not how long it stays there: on Norway a
few paths still hold it near the floor for decades (README, calibration).

WPP's migration estimates are partly smoothed or interpolated (for many countries before the 2000s they
are residuals spread evenly over 5-year periods, and recent years may be projections of the last
registered ones): smoothing moves variance from the transient shocks (sigma, understated) to slow
movements (tau and rho, overstated), so the learnt level shifts err on the wide side.
"""

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.scipy.optimize import minimize

from stochpop.components.processes import level_shift_log_likelihood
from stochpop.data.wpp import read_wpp_countries

AREAS = ("Europe", "Northern America", "Oceania")
"""UN areas whose countries make the record (Norway's peers; the Gulf states' labour flows are left out)."""
MIN_POPULATION = 1000.0
"""Smallest population (thousands) in the last year used for a country to enter the record."""
WOMEN_15_49_SHARE = 0.235
"""Share of women aged 15-49 in a population, for the births/fertility population proxy."""
MAX_DAMPING = 0.98
"""Largest damping rho of the level (a half-life of 34 years, about a generation): a 74-year record cannot
tell slower reversion from a random walk, and the level must stay stationary for the spread to level off."""
DECADE = 10
"""Years of the record's mean rates whose extremes and tail quantiles bound a level (`decade_bounds`)."""
DECADE_TAIL = 0.01
"""Tail probability of the quantiles of the 10-year mean rates where a bounded level starts to bend."""
DECADE_ENDS = ("lowest", "low", "high", "highest")
"""The bounds of a level in `LevelShiftPrior` (decade_lowest, ...), in the order `processes.soft_bounds`
takes them."""
PENALTY_SD = 2.0
"""Sd of the weak Normal(0, sd) penalty on log tau_c and log sigma_c (per 1000)."""


@dataclass(frozen=True)
class LevelShiftPrior:
    """Priors for the shifting-level net migration model, per 1000 residents a year (rho, phi unitless).

    log level_scale ~ Normal(log level_scale_median, level_scale_log_sd), the same for shock_scale;
    long_run_mean ~ Normal(long_run_mean, long_run_sd); damping rho and persistence phi point estimates;
    scale_carryover b and scale_change_sd s: how a fitted level scale carries into the forecast's
    (`future_level_scale`); decade_lowest, decade_low, decade_high, decade_highest: the bounds of a level
    (`decade_bounds`).
    """

    damping: float
    persistence: float
    level_scale_median: float
    level_scale_log_sd: float
    shock_scale_median: float
    shock_scale_log_sd: float
    long_run_mean: float
    long_run_sd: float
    scale_carryover: float
    scale_change_sd: float
    decade_lowest: float
    decade_low: float
    decade_high: float
    decade_highest: float
    countries: int
    first_year: int
    last_year: int


def record_rates(directory: str | Path, last_year: int) -> xr.DataArray:
    """Net migration per 1000 residents (country, year) of the record's countries, years 1950..last_year.

    directory holds WPP 2024's world files migration.txt, births.txt, deaths.txt, tfr.txt and
    UNlocations.txt. Nothing after `last_year` is read into any number (population or selection).
    """
    folder = Path(directory)

    def read(name: str) -> xr.DataArray:
        values = read_wpp_countries(folder / f"{name}.txt", folder / "UNlocations.txt")
        return values.sel(year=values["year"] <= last_year)

    migration, births, deaths, tfr = (read(n) for n in ("migration", "births", "deaths", "tfr"))
    if migration.sizes["year"] < 10:
        raise ValueError(f"the long record needs at least 10 years up to {last_year}")
    flow = births - deaths + migration
    before = flow.cumsum("year") - flow
    proxy = 35.0 * births / tfr / WOMEN_15_49_SHARE
    population = (proxy - before).median("year") + before
    rates = 1000.0 * migration / population
    kept = np.isin(rates["area"].values, AREAS) & (population.isel(year=-1).values >= MIN_POPULATION)
    rates = rates.isel(country=kept)
    rates.attrs = {"units": "per 1000 residents", "source": str(folder / "migration.txt")}
    return rates


def _unpack(theta: jax.Array, n: int) -> tuple[jax.Array, ...]:
    """(m, log tau, log sigma) (n,) each, rho and phi = rho tanh(.) from the optimiser's vector (3n + 2,)."""
    rho = jnp.tanh(theta[-2])
    return theta[:n], theta[n : 2 * n], theta[2 * n : 3 * n], rho, rho * jnp.tanh(theta[-1])


def _objective(theta: jax.Array, x: jax.Array) -> jax.Array:
    """Penalised negative log likelihood of rates x (country, year) per value (see the module docstring)."""
    m, log_tau, log_sigma, rho, phi = _unpack(theta, x.shape[0])
    per_country = jax.vmap(level_shift_log_likelihood, in_axes=(0, 0, None, 0, None, 0))
    fit = per_country(x, m, rho, jnp.exp(log_tau), phi, jnp.exp(log_sigma)).sum()
    penalty = ((log_tau**2).sum() + (log_sigma**2).sum()) / (2.0 * PENALTY_SD**2)
    return (penalty - fit) / x.size


@jax.jit
def _estimates(x: jax.Array) -> tuple[jax.Array, ...]:
    """`_unpack` of the BFGS minimum of `_objective` from m_c = the country means, tau = sigma = 1,
    rho = tanh 1.5, phi = rho tanh 0.5 (compiled once per shape of x)."""
    n = x.shape[0]
    start = jnp.concatenate([x.mean(1), jnp.zeros(2 * n), jnp.array([1.5, 0.5])])
    theta = minimize(_objective, start, args=(x,), method="BFGS", options={"maxiter": 2000}).x
    return _unpack(theta, n)


def learn_level_shift_prior(rates: xr.DataArray) -> LevelShiftPrior:
    """`LevelShiftPrior` from rates (country, year) per 1000 (see the module docstring); the scale's
    carry-over from the fits to the record's earlier and later halves (the earlier one a year longer if
    the record has an odd number of years)."""
    with jax.enable_x64(True):
        x = jnp.asarray(rates.transpose("country", "year").values, dtype=jnp.float64)
        m, log_tau, log_sigma, rho, phi = (np.asarray(v) for v in _estimates(x))
        half = x.shape[1] // 2
        early, late = (np.asarray(_estimates(part)[1]) for part in (x[:, :-half], x[:, -half:]))
    carryover, intercept = np.polyfit(early, late, 1)
    change_sd = np.std(late - intercept - carryover * early, ddof=2)
    years = rates["year"].values
    lowest, low, high, highest = decade_bounds(rates)
    return LevelShiftPrior(
        damping=unbiased_damping(float(rho), x.shape[1]),
        persistence=float(phi),
        level_scale_median=float(np.exp(log_tau.mean())),
        level_scale_log_sd=float(log_tau.std(ddof=1)),
        shock_scale_median=float(np.exp(log_sigma.mean())),
        shock_scale_log_sd=float(log_sigma.std(ddof=1)),
        long_run_mean=float(m.mean()),
        long_run_sd=float(m.std(ddof=1)),
        scale_carryover=float(carryover),
        scale_change_sd=float(change_sd),
        decade_lowest=lowest,
        decade_low=low,
        decade_high=high,
        decade_highest=highest,
        countries=int(x.shape[0]),
        first_year=int(years[0]),
        last_year=int(years[-1]),
    )


def decade_bounds(rates: xr.DataArray) -> tuple[float, float, float, float]:
    """The least, the `DECADE_TAIL` and 1 - `DECADE_TAIL` quantiles and the greatest of the countries'
    `DECADE`-year mean rates (every country's every run of consecutive years) of rates (country, year) per
    1000: the bounds of a level (`processes.soft_bounds`)."""
    means = rates.rolling(year=DECADE).mean().values
    means = means[np.isfinite(means)]
    low, high = np.quantile(means, [DECADE_TAIL, 1.0 - DECADE_TAIL])
    return float(means.min()), float(low), float(high), float(means.max())


def unbiased_damping(estimate: float, years: int) -> float:
    """rho from its estimate on `years` years, (n rho_hat + 1) / (n - 3) capped at `MAX_DAMPING` (see the
    module docstring)."""
    return min((years * estimate + 1.0) / (years - 3.0), MAX_DAMPING)


def future_level_scale(
    level_scale: np.ndarray, median: float, carryover: float, change_sd: float, z: np.ndarray
) -> np.ndarray:
    """The forecast's level scale exp(l + b (log tau - l) + s z), l = log `median`, b = `carryover`,
    s = `change_sd`, from fitted level scales tau = `level_scale` and standard normals `z` (broadcast; tau
    and median in the same units); see the module docstring."""
    centre = np.log(median)
    return np.exp(centre + carryover * (np.log(level_scale) - centre) + change_sd * z)
