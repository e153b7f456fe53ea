"""Regional shares of the national international migration (issue #15, item 5): Norway's 15 counties.

Prints, for the immigrations and for the net international migration:
* the fit (NUTS 2 x 500 after 300 warmup): time, diagnostics, phi, s, sigma;
* registered shares of the last registered year (2014, `observed_shares`) against the posterior: median
  and 80% interval;
* in sample: the share of registered unit shares inside the posterior predictive 80% / 95% intervals
  (the deviations follow every registered year, so this is a check of the fit, not of calibration);
* held out: fits without 2014 (one year ahead of 2013) and without 2011 (between 2010 and 2013), and the
  coverage of that year's registered unit shares by the predictive 80% / 95% intervals;
* the uncertainty at horizons 1, 5, 10 after the last registered year and at a 2025 jump-off: each
  county's 80% interval over its median (q90 - q10) / q50, median and range over the counties;
* 2008's immigrant children (0-17) against all ages: the error of one age schedule for every county.

    python experiments/immigration_shares.py
"""

import time
import warnings

import jax
import numpy as np
import pandas as pd

from stochpop.components.fitting import FitWarning, interval_share, read_diagnostics
from stochpop.components.settings import FitSettings
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.regions.immigration_shares import (
    COUNTY_TABLES,
    ShareObservations,
    fit_immigration_shares,
    national_totals,
    norway_share_inputs,
    observed_shares,
    share_draws,
    unit_shares,
)

SETTINGS = FitSettings(warmup=300, samples=500, target_accept=0.95)
HORIZONS = (1, 5, 10)
JUMP_OFF = 2025


def predictive(idata, obs: ShareObservations, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """Registered unit shares n_u / N as the model predicts them (draw, rows): each posterior draw's unit
    shares plus the sampling noise sqrt(v_u) / N."""
    share = idata["posterior"]["share"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    national = national_totals(obs)
    p = np.asarray(unit_shares(share, obs.year, obs.member, obs.ratio))[:, rows]
    noise = np.random.default_rng(seed).standard_normal(p.shape)
    return p + noise * np.sqrt(obs.variance[rows]) / national[rows]


def coverage(idata, obs: ShareObservations, rows: np.ndarray) -> str:
    registered = (obs.total / national_totals(obs))[rows]
    replicates = predictive(idata, obs, rows)
    shares = [interval_share(registered, replicates, level) for level in (0.8, 0.95)]
    return f"{rows.sum()} unit-years: 80% {shares[0]:.2f}, 95% {shares[1]:.2f}"


def fit(inputs, label: str):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit_immigration_shares(*inputs, horizon=JUMP_OFF - int(inputs.years[-1]), settings=SETTINGS)
    print(f"{label}: {time.perf_counter() - started:.0f} s, {read_diagnostics(idata)}")
    return idata


def report(flow: str, shared) -> None:
    inputs = norway_share_inputs(shared, flow)
    obs, years, regions = inputs
    print(
        f"\n=== {flow}: {len(obs.total)} unit-years in {len(np.unique(obs.year))} years "
        f"{years[0]}-{years[-1]}"
    )
    idata = fit(inputs, "full fit")
    posterior = idata["posterior"]
    for name in ("phi", "s", "sigma"):
        low, mid, high = np.quantile(posterior[name].values, [0.1, 0.5, 0.9])
        print(f"  {name}: {mid:.3f} [{low:.3f}, {high:.3f}]")
    last = int(years[-1])
    registered = observed_shares(obs, idata).sel(year=last).values
    q = posterior["share"].sel(year=last).quantile([0.1, 0.5, 0.9], dim=("chain", "draw")).values
    table = pd.DataFrame(
        {"registered": registered, "q10": q[0], "q50": q[1], "q90": q[2]},
        index=pd.Index(regions, name="county"),
    )
    print(f"  {last}: registered share (border-corrected) and posterior\n" + table.round(4).to_string())
    print("  in sample, " + coverage(idata, obs, np.ones(len(obs.total), bool)))
    for held in (2014, 2011):
        held_out = fit(norway_share_inputs(shared, flow, skip=(held,)), f"  without {held}")
        print(f"    held out {held}, " + coverage(held_out, obs, years[obs.year] == held))
    forecast_years = np.array([last + h for h in HORIZONS] + [JUMP_OFF])
    draws = share_draws(idata, jax.random.PRNGKey(0), 2000, forecast_years)
    q10, q50, q90 = np.quantile(draws, [0.1, 0.5, 0.9], axis=1)
    width = (q90 - q10) / q50
    for year, row in zip(forecast_years, width, strict=True):
        print(
            f"  {year} (horizon {year - last}): 80% width / median {np.median(row):.2f} "
            f"(range {row.min():.2f}-{row.max():.2f}; Oslo {row[regions.index('03')]:.2f})"
        )


def children(shared) -> None:
    table = pd.read_csv(shared / COUNTY_TABLES[0]).set_index("region")
    shares = (
        table[["immigration_0_17", "immigration_all_ages"]]
        / table.loc["Hele landet"][["immigration_0_17", "immigration_all_ages"]]
    )
    ratio = (shares["immigration_0_17"] / shares["immigration_all_ages"]).drop("Hele landet")
    print("\n2008: a county's share of immigrant children (0-17) over its share of all immigrants")
    print(ratio.round(2).to_string())


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    pd.set_option("display.width", 200)
    for flow in ("immigration", "net"):
        report(flow, shared)
    children(shared)


if __name__ == "__main__":
    main()
