"""A leakage-free empirical recalibration of back-test intervals, reported beside the raw model.

Split-conformal with a multiplicative scale, per target and level (in the spirit of the scaled model of
error of Alho & Spencer, and of conformalised quantile regression, Romano et al. 2019). A case with median
M, central interval [L, U] of level a and registered value y has the normalised residual

    r = max((M - y) / (M - L), (y - M) / (U - M)),

so y lies in the interval widened (s > 1) or narrowed (s < 1) about the median, [M - s (M - L), M + s (U -
M)], exactly when r <= s. The recalibrated interval of jump-off T uses the scale s(T) = the ceil((n + 1) a)-th
smallest r among the n cases *observable by T*: an earlier jump-off T' at a horizon h with T' + h <= T (its
registered value, a 1 January stock of T' + h or an event of year T' + h - 1, is known at T). Residuals
are pooled over horizons: they are normalised by the model's own interval at each horizon, so s measures
how much too narrow (or wide) the model is, not how far ahead it looks. With fewer past cases than a
finite conformal quantile needs (n < a / (1 - a), i.e. 19 at 95%) or than `MIN_CASES`, the raw interval
is kept (s = 1) and `n_past` says so.

Under exchangeability of the residuals the recalibrated interval covers at least at level a; past errors
of one jump-off at neighbouring horizons are not independent, so the guarantee is approximate.
"""

import numpy as np
import xarray as xr

from stochpop.backtest.scores import interval_cases

MIN_CASES = 10
"""Fewest past cases a scale is estimated from; below it the raw interval is kept."""


def normalised_residuals(cases: xr.Dataset) -> xr.DataArray:
    """r of the module docstring (target, jump_off, horizon, level) from case scores with median, lower,
    upper and registered (`scores.sample_scores`); NaN where a case has no registered value. An interval
    with no width on the side of y gives r = inf (no scale can reach y), on the other side r <= 0."""
    median, lower, upper, y = (cases[name] for name in ("median", "lower", "upper", "registered"))
    median, y = median.broadcast_like(lower), y.broadcast_like(lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = xr.where(median > lower, (median - y) / (median - lower), xr.where(y < median, np.inf, 0.0))
        above = xr.where(upper > median, (y - median) / (upper - median), xr.where(y > median, np.inf, 0.0))
    return np.maximum(below, above).where(y.notnull())


def conformal_scales(residuals: xr.DataArray, min_cases: int = MIN_CASES) -> xr.Dataset:
    """Per target, jump-off T and level: `scale` s(T) from the residuals of cases observable by T (module
    docstring), 1 where too few; `n_past` the number of those cases."""
    jump_offs = residuals["jump_off"].values
    horizons = residuals["horizon"].values
    levels = residuals["level"].values
    r = residuals.transpose("target", "jump_off", "horizon", "level").values
    scales = np.ones((r.shape[0], jump_offs.size, levels.size))
    n_past = np.zeros((r.shape[0], jump_offs.size), dtype=int)
    for i, jump_off in enumerate(jump_offs):
        known = (jump_offs[:, None] + horizons[None, :]) <= jump_off  # (jump_off', horizon)
        if not known.any():
            continue
        past = r[:, known, :]  # (target, case, level)
        n = (~np.isnan(past[:, :, 0])).sum(axis=1)  # (target,)
        rank = np.ceil((n[:, None] + 1) * levels[None, :]).astype(int)  # (target, level)
        estimable = (n[:, None] >= min_cases) & (rank <= n[:, None])
        ordered = np.sort(past, axis=1)  # NaN last
        picked = np.take_along_axis(ordered, np.clip(rank - 1, 0, past.shape[1] - 1)[:, None, :], axis=1)[
            :, 0, :
        ]
        scales[:, i, :] = np.where(estimable, picked, 1.0)
        n_past[:, i] = n
    coords = {"target": residuals["target"].values, "jump_off": jump_offs, "level": levels}
    return xr.Dataset(
        {
            "scale": (("target", "jump_off", "level"), scales),
            "n_past": (("target", "jump_off"), n_past),
        },
        coords=coords,
    )


def recalibrated_scores(cases: xr.Dataset, min_cases: int = MIN_CASES) -> xr.Dataset:
    """Case scores of the recalibrated intervals (`scores.interval_cases` variables, no crps or pit), with
    the `scale` and `n_past` each jump-off used."""
    scales = conformal_scales(normalised_residuals(cases), min_cases)
    scale = scales["scale"]
    median = cases["median"]
    lower = median - scale * (median - cases["lower"])
    upper = median + scale * (cases["upper"] - median)
    rescored = interval_cases(cases["registered"], median, lower, upper)
    return rescored.assign(scale=scale, n_past=scales["n_past"])
