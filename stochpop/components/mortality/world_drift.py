"""How far a life-expectancy trend's drift moves, learnt across countries (issue #13).

A Lee-Carter forecast extrapolates the mean yearly decline of its fit window: a random walk with a drift
known up to the window's noise. But drifts move. Across UN WPP 2024's countries with high life
expectancy, two-sex e0 ten years on departs from the straight line of the 25 years before by an sd of
1.4 years, against ~0.7 in Norway's own random walk; the spread grows almost linearly with the horizon
(`experiments/world_change_spread.py`). Writing a country's yearly e0 gain as

    g_t = mu + delta_t + eta_t,  delta_t = psi delta_{t-1} + sd sqrt(1 - psi^2) u_t,  eta_t ~ N(0, noise_sd^2)

(delta: a stationary AR(1) deviation of the drift, sd `sd`, persistence `psi`; eta: the random walk's own
noise), the departure D_h = sum of the h gains after t minus h times the mean gain of the W years up to t
has variance `departure_variance`. `fit_drift_variation` fits (noise_sd, sd, psi) to the robust sd of the
departures by horizon (1-20 years) across countries, leakage-free (no year after the last fitted one).
The mortality model keeps its own noise (Norway's sigma) and takes only the drift part: each path adds a
`drift_departures` path, the delta part of D_h for its fit window, to its mortality index
(`CoherentLeeCarter(drift="world")`).

Measured (two-sex e0 >= 73 at t, Norway left out): with data to 2023 noise_sd 0.24, sd 0.12 years a
year, psi 0.87 from 141 countries; the fitted sd by horizon is within 7% of the world's at every horizon
for data to 1989, 1999, 2009, 2017 or 2023. psi is the loosest: 0.46 with data to 1989 (horizons 1-10
only), 0.90-0.96 to 1999-2017; the e0 sd the drift part alone adds over 76 years is 2.7-7.6 years
across those fits (3.9 with data to 2023), before the floor on losses.
"""

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy.optimize import least_squares

from stochpop.components.processes import ar1_recursion
from stochpop.components.randomness import path_shocks
from stochpop.data.wpp import read_wpp_countries

Array = jax.Array

HIGH_E0 = 73.0
"""Two-sex e0 (years) at t from which a country-year counts: the regime where mortality falls mostly at
old ages, as in Norway since about 1960."""
TREND_YEARS = 25
"""Years of the trend before t that the departures are measured from (a typical fit window)."""
HORIZONS = tuple(range(1, 21))
"""Horizons (years) whose departure spreads the fit matches."""
MIN_DEPARTURES = 100
"""Fewest departures (country-years) at a horizon for its spread to enter the fit."""
MIN_HORIZONS = 5
"""Fewest horizons the fit accepts."""
ROBUST_SD_RANGE = 2.5631
"""Width of the central 80% of a standard normal: 80% range / this is a robust sd (wars and crises make
the tails heavy; the intervals that matter are central)."""
DEPARTURE_STREAM = 3
"""Key stream of the drift departures (`stochpop.components.randomness.path_shocks`; the coherent model's
indices take 1 and 2)."""


class DriftVariation(NamedTuple):
    """Yearly e0 gains' noise sd and drift deviation sd (years a year) and the deviation's persistence
    (per year) of `fit_drift_variation`, with the data it came from."""

    noise_sd: float
    sd: float
    persistence: float
    last_year: int
    countries: int

    def to_json(self) -> str:
        return json.dumps(self._asdict())

    @classmethod
    def from_json(cls, text: str) -> "DriftVariation":
        return cls(**json.loads(text))


def read_world_e0(folder: str | Path) -> xr.DataArray:
    """Two-sex e0 (country, year) in years, the mean of women's and men's, from a WPP 2024 world folder
    holding e0F.txt, e0M.txt and UNlocations.txt."""
    folder = Path(folder)
    locations = folder / "UNlocations.txt"
    women = read_wpp_countries(folder / "e0F.txt", locations)
    men = read_wpp_countries(folder / "e0M.txt", locations)
    e0 = (women + men) / 2
    e0.attrs = {"units": "years", "source": f"{women.attrs['source']}, {men.attrs['source']}"}
    return e0


def e0_departures(
    e0: xr.DataArray, horizon: int, last_year: int, threshold: float, trend_years: int = TREND_YEARS
) -> xr.DataArray:
    """e0(t + h) - e0(t) - h (e0(t) - e0(t - trend_years)) / trend_years (country, year t) in years, where
    e0(t) >= threshold and t + h <= last_year; NaN elsewhere. e0: (country, year)."""
    e0 = e0.sel(year=slice(None, last_year))
    now = e0.sel(year=slice(None, last_year - horizon))
    later = e0.shift(year=-horizon).sel(year=now["year"])
    trend = (now - e0.shift(year=trend_years).sel(year=now["year"])) / trend_years
    return (later - now - horizon * trend).where(now >= threshold)


def departure_variance(
    noise_sd: float, sd: float, persistence: float, horizon: int, window: int = TREND_YEARS
) -> float:
    """Variance (years^2) of the departure at `horizon` from a trend fitted on `window` years under the
    gains model of the module docstring."""
    weights = np.r_[np.full(window, -horizon / window), np.ones(horizon)]
    lags = np.abs(np.subtract.outer(np.arange(weights.size), np.arange(weights.size)))
    drift_part = sd**2 * weights @ (persistence**lags) @ weights
    return noise_sd**2 * (horizon + horizon**2 / window) + drift_part


def fit_drift_variation(
    e0: xr.DataArray,
    last_year: int,
    exclude: Sequence[int] = (),
    threshold: float = HIGH_E0,
    horizons: Sequence[int] = HORIZONS,
) -> DriftVariation:
    """`DriftVariation` fitted by least squares on log sd to the robust sd (`ROBUST_SD_RANGE`) of the
    departures (`e0_departures`, `TREND_YEARS`) at each of the horizons with at least `MIN_DEPARTURES`,
    pooled over the countries of e0 (country, year) but `exclude` (codes); no year after last_year is
    read. ValueError if fewer than `MIN_HORIZONS` horizons have enough (WPP up to 1989: horizons 1-10)."""
    e0 = e0.sel(country=~e0["country"].isin(list(exclude)))
    used, spreads, countries = [], [], set()
    for horizon in horizons:
        departures = e0_departures(e0, horizon, last_year, threshold).stack(case=("country", "year"))
        departures = departures.dropna("case")
        if departures.size < MIN_DEPARTURES:
            continue
        low, high = np.quantile(departures.values, [0.1, 0.9])
        used.append(horizon)
        spreads.append((high - low) / ROBUST_SD_RANGE)
        countries.update(departures["country"].values.tolist())
    if len(used) < MIN_HORIZONS:
        raise ValueError(
            f"world e0 up to {last_year}: {len(used)} horizons with {MIN_DEPARTURES} departures or more "
            f"(e0 >= {threshold}); at least {MIN_HORIZONS} are needed to learn how drifts move"
        )

    def residuals(theta: np.ndarray) -> np.ndarray:
        noise_sd, sd, persistence = _natural(theta)
        model = [departure_variance(noise_sd, sd, persistence, h) for h in used]
        return 0.5 * np.log(model) - np.log(spreads)

    start = np.array([np.log(0.2), np.log(0.1), 2.0])
    noise_sd, sd, persistence = _natural(least_squares(residuals, start).x)
    return DriftVariation(noise_sd, sd, persistence, int(last_year), len(countries))


def _natural(theta: np.ndarray) -> tuple[float, float, float]:
    """(noise_sd, sd, persistence) from (log, log, logit) coordinates."""
    return float(np.exp(theta[0])), float(np.exp(theta[1])), float(1 / (1 + np.exp(-theta[2])))


@partial(jax.jit, static_argnames=("window", "horizon"))
def drift_departures(
    variation: DriftVariation, window: int, horizon: int, keys: Array, trend_gain: Array | None = None
) -> Array:
    """The drift part of each path's departure from its fitted trend (draw, horizon) in years of e0 at
    T+1..T+horizon: a stationary AR(1) delta over the `window` fitted years and the horizon (key stream
    `DEPARTURE_STREAM` of each path's key), D_h = sum over T+1..T+h of (delta_t - mean(delta over the
    window)). keys: one PRNG key per path.

    trend_gain (draw,): the e0 gain a year of each path's own trend. If given, the yearly deviations are
    floored at -max(trend_gain, 0): a moving drift may slow the gains to nothing but not turn them into
    losses. Across WPP's countries with two-sex e0 >= 73, e0 fell over 10 years in 5.6% of cases, over
    20 years in 0.9%, over 30 in 0.2%, over 40 never, while a Gaussian drift with the fitted persistence
    makes falls over decades common."""
    shocks = path_shocks(keys, DEPARTURE_STREAM, (window + horizon,))
    start = variation.sd * shocks[:, 0]
    persistence = jnp.asarray(variation.persistence)
    innovation_sd = variation.sd * jnp.sqrt(1 - persistence**2)
    rest = ar1_recursion(
        start, jnp.asarray(0.0), persistence, innovation_sd, jnp.swapaxes(shocks[:, 1:], 0, 1)
    )
    delta = jnp.concatenate([start[:, None], jnp.swapaxes(rest, 0, 1)], axis=1)
    deviations = delta[:, window:] - delta[:, :window].mean(axis=1, keepdims=True)
    if trend_gain is not None:
        deviations = jnp.maximum(deviations, -jnp.maximum(trend_gain, 0.0)[:, None])
    return jnp.cumsum(deviations, axis=1)
