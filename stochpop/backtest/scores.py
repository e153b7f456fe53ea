"""Scores of back-test forecasts against registered values, per case (target, jump_off, horizon) and
pooled over jump-offs.

Per case, from the samples (`sample_scores`):
* covered (level): 1 if the registered value lies in the central interval [q(a/2), q(1 - a/2)], a = 1 -
  level, of the paths, else 0;
* interval_score (level): the interval (Winkler) score (u - l) + 2/a (l - y)+ + 2/a (y - u)+, in the
  target's units (`scoringrules.interval_score`);
* crps: the continuous ranked probability score of the ensemble (`scoringrules.crps_ensemble`, the
  probability-weighted-moment estimator: equal to the unbiased "fair" one, in O(m log m) time and O(m)
  memory where "fair" forms every pair of the m paths), in the target's units;
* median, error = median - registered, ape = |error| / |registered|; pit = the share of paths below the
  registered value (ties count half): uniform on [0, 1] if the forecasts are calibrated.
Deterministic forecasts with lines (`line_scores`) have one interval, treated at a stated nominal level,
and crps = |M - y| (the CRPS of a point forecast). Quantile forecasts (`quantile_scores`) are scored on
the central intervals their quantiles form.

Cases without a registered value (or without a forecast) are NaN and left out of every mean. `pooled`
averages over the jump-offs that have a registered value at each horizon, each jump-off weighted equally
(n says how many); the cases of one jump-off at different horizons are not independent, nor are
neighbouring jump-offs.
"""

from collections.abc import Sequence

import numpy as np
import scoringrules as sr
import xarray as xr

from stochpop.backtest.targets import TARGETS
from stochpop.outputs.quantiles import intervals


def _by_target(dataset: xr.Dataset, targets: Sequence[str] | None = None) -> xr.DataArray:
    """The targets of a dataset stacked on a `target` dim (float64)."""
    names = [t for t in (targets or TARGETS) if t in dataset]
    return dataset[names].to_dataarray("target").astype(np.float64)


def _registered_for(forecast: xr.DataArray, registered: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """The registered values of the forecast's targets, and the forecast, aligned on the registered cases."""
    observed = _by_target(registered, list(forecast["target"].values))
    return xr.align(observed, forecast, join="left")


def interval_cases(
    registered: xr.DataArray, median: xr.DataArray, lower: xr.DataArray, upper: xr.DataArray
) -> xr.Dataset:
    """Coverage, interval score and point errors; lower/upper carry a `level` dim."""
    registered, median = xr.broadcast(registered, median)
    lower, upper = (
        bound.broadcast_like(registered).transpose(*registered.dims, "level") for bound in (lower, upper)
    )
    forecast = (lower.notnull() & upper.notnull()).all("level")
    registered = registered.where(forecast)  # a case needs both a forecast and a registered value
    observed = registered.notnull()
    alpha = 1 - lower["level"].values
    score = sr.interval_score(registered.values, lower.values, upper.values, alpha)
    error = median - registered
    return xr.Dataset(
        {
            "registered": registered,
            "median": median,
            "lower": lower,
            "upper": upper,
            "covered": ((registered >= lower) & (registered <= upper)).astype(float).where(observed),
            "interval_score": lower.copy(data=np.reshape(score, lower.shape)).where(observed),
            "error": error,
            "ape": abs(error) / abs(registered),
        }
    )


def sample_scores(forecast: xr.Dataset, registered: xr.Dataset, levels: Sequence[float]) -> xr.Dataset:
    """Case scores of path samples `forecast` (..., draw, horizon) against `registered` (..., horizon; dims
    the forecast lacks, e.g. several simulated truths, broadcast): variables of the module docstring, dims
    (target, [jump_off,] horizon[, level])."""
    observed, samples = _registered_for(_by_target(forecast), registered)
    bounds = intervals(samples, levels)
    median = samples.median("draw", skipna=False)
    cases = interval_cases(
        observed, median, bounds.sel(bound="lower", drop=True), bounds.sel(bound="upper", drop=True)
    )
    obs, ensemble = xr.broadcast(observed, samples.isel(draw=0, drop=True))
    ensemble = samples.broadcast_like(ensemble).transpose(*obs.dims, "draw")
    crps = sr.crps_ensemble(obs.values, ensemble.values, m_axis=-1, estimator="pwm")
    below = (ensemble < obs).mean("draw") + 0.5 * (ensemble == obs).mean("draw")
    scored = obs.notnull() & ensemble.notnull().all("draw")  # a registered value and a forecast
    cases["crps"] = obs.copy(data=np.asarray(crps)).where(scored)
    cases["pit"] = below.where(scored)
    return cases


def line_scores(lines: xr.Dataset, registered: xr.Dataset, level: float = 0.8) -> xr.Dataset:
    """Case scores of a deterministic forecast with L/M/H lines (dim `line`): the L-H band as a central
    interval of nominal `level`, M as the median; crps = |M - y|; no pit."""
    observed, by_line = _registered_for(_by_target(lines), registered)
    band = by_line.expand_dims(level=[level])
    cases = interval_cases(
        observed,
        by_line.sel(line="M", drop=True),
        band.sel(line="L", drop=True),
        band.sel(line="H", drop=True),
    )
    cases["crps"] = abs(cases["error"])
    return cases


def quantile_scores(quantiles: xr.DataArray, registered: xr.Dataset) -> xr.Dataset:
    """Case scores of a forecast given as quantiles (target, ..., quantile): every central interval whose
    two quantiles are given, the 0.5 quantile as median (NaN if absent); no crps or pit."""
    given = np.round(quantiles["quantile"].values, 6)
    lows = sorted(p for p in given if p < 0.5 and np.round(1 - p, 6) in given)
    levels = [round(1 - 2 * p, 6) for p in lows]
    if not levels:
        raise ValueError(f"quantiles {given.tolist()} form no central interval (need p and 1 - p)")
    q = quantiles.assign_coords(quantile=given)
    lower = q.sel(quantile=lows).rename(quantile="level").assign_coords(level=levels)
    upper = (
        q.sel(quantile=[round(1 - p, 6) for p in lows]).rename(quantile="level").assign_coords(level=levels)
    )
    median = (
        q.sel(quantile=0.5, drop=True)
        if 0.5 in given
        else xr.full_like(q.isel(quantile=0, drop=True), np.nan)
    )
    observed = _by_target(registered, list(q["target"].values))
    observed, median = xr.align(observed, median, join="inner")
    return interval_cases(observed, median, lower, upper)


def pooled(cases: xr.Dataset, over: str = "jump_off") -> xr.Dataset:
    """Means over `over` of the cases with a registered value: coverage, interval_score, crps, bias (mean
    error), mape (mean ape), mean_pit where present; n = the number of cases pooled."""
    means = {
        "coverage": "covered",
        "interval_score": "interval_score",
        "crps": "crps",
        "bias": "error",
        "mape": "ape",
        "mean_pit": "pit",
    }
    out = {name: cases[source].mean(over) for name, source in means.items() if source in cases}
    out["n"] = cases["registered"].notnull().sum(over)
    return xr.Dataset(out)
