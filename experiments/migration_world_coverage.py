"""How often the shifting-level net migration model's intervals would have held in other countries (issue
#13): pseudo-forecasts of UN WPP 2024's long record, each learning its priors from the years before its
jump-off only.

    python experiments/migration_world_coverage.py [--first 1976] [--last 2022] [--spacing 2] [--horizon 10]
        [--scale mixture|rms] [--bounds]

For every jump-off T (first..last, every `spacing` years) the priors are learnt from the record up to T - 1
(`shocks.learn_level_shift_prior`), and every country's model is fitted to the 25 years before T by maximum
a posteriori under those priors (the Bayesian model's priors; normal deviations instead of Student-t, the
point estimate instead of the posterior, so the intervals are a little narrower than the Bayesian model's);
its last level and deviation are drawn from their normal law given the window (`end_state`) and run 10
years (`--horizon`) on with the forecast's level scale (`shocks.future_level_scale`) times a factor k.
Printed: the share of the record's outcomes inside the 80% and 95% intervals at k = 1 by horizon, by the
window's fitted level scale (terciles) and for Norway; the same for the mean rate over the first h years
(what a population accumulates: `--horizon 30 --last 1994` checks how the intervals spread over decades);
and, for each last year L, the k at which the pseudo-forecasts whose outcomes lie up to L hold 80% (the
factor a leakage-free recalibration at L would apply).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from jax.scipy.optimize import minimize

from stochpop.components.migration.shocks import (
    DECADE_ENDS,
    future_level_scale,
    learn_level_shift_prior,
    record_rates,
)
from stochpop.components.processes import level_shift_log_likelihood, level_shift_paths
from stochpop.data.wpp import shared_world_folder

WINDOW = 25
"""Fit window of each pseudo-forecast (years), as the Norway back-test's."""
PATHS = 1000
"""Simulated futures per pseudo-forecast."""
NORWAY = 578


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=1976, help="first jump-off")
    parser.add_argument("--last", type=int, default=2022, help="last jump-off (outcomes to 2023)")
    parser.add_argument("--spacing", type=int, default=2, help="years between jump-offs")
    parser.add_argument("--horizon", type=int, default=10, help="years ahead (the back-test pools 1-10)")
    parser.add_argument(
        "--scale",
        choices=("mixture", "rms"),
        default="mixture",
        help="each path's level scale drawn from the learnt law (the model's) or that law's root mean square",
    )
    parser.add_argument(
        "--bounds",
        action="store_true",
        help="bend each path's level into the record's 10-year mean extremes (NetMigrationModel bounds)",
    )
    return parser.parse_args()


def _negative_log_posterior(theta: jax.Array, x: jax.Array, rho: jax.Array, prior: jax.Array) -> jax.Array:
    """-log posterior of (m, log tau, log sigma, logit v), phi = rho v, of rates x (n,) per 1000; prior
    = (mean, sd) of m, of log tau and of log sigma; v ~ Beta(2, 2), with the logit's Jacobian."""
    m, log_tau, log_sigma, logit_v = theta
    v = jax.nn.sigmoid(logit_v)
    fit = level_shift_log_likelihood(x, m, rho, jnp.exp(log_tau), rho * v, jnp.exp(log_sigma))
    z = (jnp.stack([m, log_tau, log_sigma]) - prior[::2]) / prior[1::2]
    return 0.5 * (z**2).sum() - 2.0 * (jnp.log(v) + jnp.log1p(-v)) - fit


@jax.jit
def _window_estimates(windows: jax.Array, rho: jax.Array, prior: jax.Array) -> jax.Array:
    """(country, 4) maximum a posteriori (m, log tau, log sigma, logit v) of each window (country, n)."""

    def one(x: jax.Array) -> jax.Array:
        start = jnp.stack([x.mean(), prior[2], prior[4], 0.0])
        return minimize(_negative_log_posterior, start, args=(x, rho, prior), method="BFGS").x

    return jax.vmap(one)(windows)


def end_state(
    x: np.ndarray, m: np.ndarray, rho: float, tau: np.ndarray, phi: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (case, 2) and covariance (case, 2, 2) of the last year's (level, deviation) given the rates x
    (case, n) of stationary `level_shift_paths` with normal shocks (parameters (case,)): joint normal
    conditioning on the two AR(1)s' autocovariances. The two sum to the last rate, with zero variance."""
    lag = np.abs(np.subtract.outer(np.arange(x.shape[1]), np.arange(x.shape[1])))
    level = (tau**2 / (1.0 - rho**2))[:, None, None] * rho**lag
    deviation = (sigma**2 / (1.0 - phi**2))[:, None, None] * phi[:, None, None] ** lag
    cross = np.stack([level[:, -1], deviation[:, -1]], axis=1)
    rhs = np.concatenate([(x - m[:, None])[:, :, None], np.swapaxes(cross, 1, 2)], axis=2)
    solved = np.linalg.solve(level + deviation, rhs)
    mean = np.stack([m, np.zeros_like(m)], axis=1) + (cross @ solved[:, :, :1])[:, :, 0]
    before = np.stack([level[:, -1, -1], deviation[:, -1, -1]], axis=1)
    return mean, before[:, :, None] * np.eye(2) - cross @ solved[:, :, 1:]


def pseudo_forecast(record: xr.DataArray, jump_off: int) -> pd.DataFrame:
    """Every country's fit for a forecast from `jump_off`, priors and window from the record before it: a
    row per country with its window's estimates, the priors' damping and level-scale law, and the normal
    law of its last level and deviation (`end_state`)."""
    before = record.sel(year=record["year"] < jump_off)
    prior = learn_level_shift_prior(before)
    windows = before.isel(year=slice(-WINDOW, None)).values
    keep = np.isfinite(windows).all(1)
    windows, countries = windows[keep], record["country"].values[keep]
    values = np.array(
        [
            prior.long_run_mean,
            prior.long_run_sd,
            np.log(prior.level_scale_median),
            prior.level_scale_log_sd,
            np.log(prior.shock_scale_median),
            prior.shock_scale_log_sd,
        ]
    )
    with jax.enable_x64(True):
        theta = np.asarray(_window_estimates(jnp.asarray(windows), jnp.asarray(prior.damping), values))
    m, tau, sigma = theta[:, 0], np.exp(theta[:, 1]), np.exp(theta[:, 2])
    phi = prior.damping / (1.0 + np.exp(-theta[:, 3]))
    mean, cov = end_state(windows, m, prior.damping, tau, phi, sigma)
    return pd.DataFrame(
        {
            "country": countries,
            "jump_off": jump_off,
            "m": m,
            "tau": tau,
            "sigma": sigma,
            "phi": phi,
            "rho": prior.damping,
            "median": prior.level_scale_median,
            "carryover": prior.scale_carryover,
            "change_sd": prior.scale_change_sd,
            "bounds": [[getattr(prior, f"decade_{end}") for end in DECADE_ENDS]] * len(countries),
            "state_mean": list(mean),
            "state_cov": list(cov),
        }
    )


def simulate(
    fits: pd.DataFrame, factor: float, horizon: int, scale_law: str, bounded: bool, seed: int = 0
) -> np.ndarray:
    """Rates (case, horizon, PATHS) of the fitted pseudo-forecasts with the level scale times `factor`
    (the same random numbers for every factor); `scale_law` "mixture": each path's level scale drawn from
    `shocks.future_level_scale`, "rms": every path's the root mean square of that law; `bounded`: the
    level bent into the bounds of the record before the jump-off (`processes.soft_bounds`)."""
    rng = np.random.default_rng(seed)
    n = len(fits)
    w, v = np.linalg.eigh(np.stack(fits["state_cov"]))
    root = v * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
    state = np.stack(fits["state_mean"])[:, :, None] + root @ rng.standard_normal((n, 2, PATHS))
    col = {
        k: fits[k].to_numpy()[:, None]
        for k in ("m", "tau", "sigma", "phi", "rho", "median", "carryover", "change_sd")
    }
    z = rng.standard_normal((n, PATHS))
    law = (col["tau"], col["median"], col["carryover"], col["change_sd"])
    if scale_law == "rms":  # the root mean square over z, exp(l + b (log tau - l) + s^2)
        future = future_level_scale(*law, np.zeros_like(z)) * np.exp(col["change_sd"] ** 2)
    else:
        future = future_level_scale(*law, z)
    scale = factor * future
    shocks = rng.standard_normal((horizon, 2, n, PATHS))  # per year: the level's, then the deviation's
    bounds = np.stack(fits["bounds"]).T[:, :, None] if bounded else None  # (4, case, 1)
    with jax.enable_x64(True):
        rates = level_shift_paths(
            state[:, 0], state[:, 1], col["m"], col["rho"], scale, col["phi"], col["sigma"],
            shocks[:, 0], shocks[:, 1], bounds,
        )  # fmt: skip
    return np.moveaxis(np.asarray(rates), 0, 1)


def held(
    fits: pd.DataFrame,
    outcomes: np.ndarray,
    factor: float,
    level: float,
    cumulative: bool = False,
    scale_law: str = "mixture",
    bounded: bool = False,
) -> np.ndarray:
    """(case, horizon) 1 where the outcome (case, horizon) lies in the central `level` interval, 0 outside,
    NaN unknown; with `cumulative`, the outcomes are mean rates over the first h years, and so are the
    paths'."""
    paths = simulate(fits, factor, outcomes.shape[1], scale_law, bounded)
    if cumulative:
        paths = np.cumsum(paths, axis=1) / np.arange(1, paths.shape[1] + 1)[:, None]
    lower, upper = np.quantile(paths, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    inside = ((outcomes >= lower) & (outcomes <= upper)).astype(float)
    return np.where(np.isfinite(outcomes), inside, np.nan)


def main() -> None:
    args = arguments()
    record = record_rates(shared_world_folder(), 2023).transpose("country", "year")
    fits = pd.concat(
        [pseudo_forecast(record, t) for t in range(args.first, args.last + 1, args.spacing)],
        ignore_index=True,
    )
    horizon = args.horizon
    ahead = record.reindex(year=np.arange(1950, 2024 + horizon))
    outcomes = np.stack(
        [
            ahead.sel(country=c, year=slice(t, t + horizon - 1)).values
            for c, t in zip(fits["country"], fits["jump_off"], strict=True)
        ]
    )
    known = np.isfinite(outcomes)
    print(
        f"{len(fits)} pseudo-forecasts, {known.sum()} outcomes, {fits['country'].nunique()} countries, "
        f"jump-offs {args.first}-{args.last}; factor k = 1"
    )
    law = {"scale_law": args.scale, "bounded": args.bounds}
    h80, h95 = held(fits, outcomes, 1.0, 0.8, **law), held(fits, outcomes, 1.0, 0.95, **law)
    table = pd.DataFrame(
        {"80%": np.nanmean(h80, 0), "95%": np.nanmean(h95, 0)}, index=np.arange(1, horizon + 1)
    )
    print(table.T.round(3).to_string())
    print(f"pooled 80% {np.nanmean(h80):.3f}  95% {np.nanmean(h95):.3f}")
    paths = simulate(fits, 1.0, horizon, args.scale, args.bounds)
    lo, hi = np.quantile(paths[:, -1], [0.01, 0.99], axis=-1)
    last = outcomes[:, -1]
    outside = np.where(np.isfinite(last), (last < lo) | (last > hi), np.nan)
    print(
        f"horizon {horizon}: the paths' central 98% spans {np.median(hi - lo):.1f} per 1000 (median case; "
        f"90th percentile {np.quantile(hi - lo, 0.9):.1f}); outcomes outside it {np.nanmean(outside):.3f}"
    )
    means = np.cumsum(outcomes, axis=1) / np.arange(1, horizon + 1)
    c80, c95 = (held(fits, means, 1.0, level, cumulative=True, **law) for level in (0.8, 0.95))
    every = np.arange(4, horizon, 5)
    cumulative = pd.DataFrame(
        {"80%": np.nanmean(c80, 0), "95%": np.nanmean(c95, 0)}, index=np.arange(1, horizon + 1)
    )
    print("mean rate over the first h years:")
    print(cumulative.iloc[every].T.round(3).to_string())
    tercile = pd.qcut(np.log(fits["tau"]), 3, labels=["lowest", "middle", "highest"]).to_numpy()
    for name in ("lowest", "middle", "highest"):
        rows = tercile == name
        print(
            f"  windows with the {name} third of level scales: "
            f"{np.nanmean(h80[rows]):.3f} / {np.nanmean(h95[rows]):.3f}"
        )
    norway = (fits["country"] == NORWAY).to_numpy()
    print(f"  Norway: {np.nanmean(h80[norway]):.3f} / {np.nanmean(h95[norway]):.3f}")
    print("leakage-free factor at last year L (pseudo-forecasts with outcomes up to L):")
    years = fits["jump_off"].to_numpy()[:, None] + np.arange(horizon)
    for last in range(1989, 2024, 4):
        seen = np.where(years <= last, outcomes, np.nan)
        rows = np.isfinite(seen).any(1)
        low, high = np.log(0.5), np.log(4.0)
        for _ in range(10):
            middle = 0.5 * (low + high)
            if np.nanmean(held(fits[rows], seen[rows], float(np.exp(middle)), 0.8, **law)) < 0.8:
                low = middle
            else:
                high = middle
        k = float(np.exp(0.5 * (low + high)))
        print(
            f"  L = {last}: {np.isfinite(seen).sum()} outcomes, 80% held at k = 1: "
            f"{np.nanmean(held(fits[rows], seen[rows], 1.0, 0.8, **law)):.3f}, k = {k:.2f}"
        )


if __name__ == "__main__":
    main()
