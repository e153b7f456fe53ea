"""Norway's 15 counties 2006-2024 (issue #15): regional fertility and mortality factors and the replay with
estimated observed rates.

Prints:
* HMD's national population against the counties' sum, 1 January 2005-2024;
* the border ratios r_u (a unit's registered population over its 2024 counties');
* the factors' posteriors (fertility, mortality): median and 80% interval per county, 2006, 2022 and the
  2023 forecast, with the hyperparameters;
* the replay 2006 -> 2024 through the kernel (net migration from the account with registered totals):
  county-total error per county, one year ahead and chained, for four sets of factors: registered totals
  (an accounting check), the model's posterior mean, SSB-like fixed differences (each county's mean
  registered factor 2006-2022) and none (national rates);
* where the model's error comes from: births and deaths of the model against the registered ones.

    python experiments/norway_counties.py
"""

import time

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.data.regional import read_regional_population
from stochpop.regions.estimated_rates import regional_account
from stochpop.regions.levels import factor_summary, fit_levels, observed_factors
from stochpop.regions.net_replay import replay_net
from stochpop.regions.norway_counties import POPULATION_FILE, county_inputs

KINDS = ("births", "deaths")


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    pd.set_option("display.width", 200)
    started = time.perf_counter()
    country = load_country(shared / "norway")
    inputs = county_inputs(country, shared / "norway" / "regional")
    counties = read_regional_population(shared / "norway" / "regional" / POPULATION_FILE, "county")
    hmd = country.population.sel(year=counties["year"]).sum(["sex", "age"])
    print("HMD national population minus the counties' sum, 1 January (persons):")
    print((hmd - counties.sum(["region", "sex", "age"])).to_pandas().astype(int).to_string())
    print(f"\ninputs read in {time.perf_counter() - started:.1f} s")
    for kind in KINDS:
        ratios = getattr(inputs, kind).ratio
        print(f"{kind}: border ratios r_u range {ratios.min():.3f}..{ratios.max():.3f}")

    posterior, summaries = {}, {}
    for kind in KINDS:
        fit_started = time.perf_counter()
        idata = fit_levels(inputs.expected[kind], getattr(inputs, kind), horizon=0)
        seconds, diagnostics = time.perf_counter() - fit_started, idata["posterior"].attrs["diagnostics"]
        print(f"\n{kind} factor fit: {seconds:.0f} s, {diagnostics}")
        print(
            az.summary(idata, var_names=["mu0", "tau", "phi", "s", "sigma"], kind="stats")
            .round(4)
            .to_string()
        )
        posterior[kind] = xr.ufuncs.exp(idata["posterior"]["log_factor"]).mean(["chain", "draw"])
        summaries[kind] = factor_summary(idata)
        table = {
            f"{year} {label}": summaries[kind].sel(year=year, quantile=q).to_pandas()
            for year in (2006, 2022, 2023)
            for label, q in (("10%", 0.1), ("50%", 0.5), ("90%", 0.9))
        }
        print(f"{kind} factors (posterior quantiles; 2023 is a forecast):")
        print(pd.DataFrame(table).round(3).to_string())

    registered_factors = {
        kind: observed_factors(getattr(inputs, kind), inputs.expected[kind], posterior[kind])
        for kind in KINDS
    }
    account = regional_account(
        inputs.population, inputs.rates, registered_factors["births"], registered_factors["deaths"]
    )
    registered = inputs.population.sel(year=inputs.rates["year"]).sum(["sex", "age"])
    fixed = {
        kind: xr.ones_like(posterior[kind])
        * xr.ufuncs.exp(xr.ufuncs.log(registered_factors[kind].sel(year=slice(2006, 2022))).mean("year"))
        for kind in KINDS
    }
    ones = xr.ones_like(posterior["births"])
    variants = {
        "registered": (registered_factors["births"], registered_factors["deaths"]),
        "model": (posterior["births"], posterior["deaths"]),
        "fixed": (fixed["births"], fixed["deaths"]),
        "national": (ones, ones),
    }
    rows = {}
    for name, (fertility, mortality) in variants.items():
        for chained in (False, True):
            replay_started = time.perf_counter()
            replayed = replay_net(inputs.population, inputs.rates, account, fertility, mortality, chained)
            error = 100 * (replayed.sum(["sex", "age"]) / registered - 1)
            label = f"{name} {'chained' if chained else 'one-year'}"
            rows[f"{label} max|%|"] = np.abs(error).max("year").to_pandas()
            if chained:
                rows[f"{label} 2024 %"] = error.isel(year=-1).to_pandas()
            print(
                f"{label}: max {float(np.abs(error).max()):.3f}%, mean {float(np.abs(error).mean()):.4f}% "
                f"({time.perf_counter() - replay_started:.1f} s)"
            )
    print("\nCounty-total error of the replay 2006 -> 2024 (%):")
    print(pd.DataFrame(rows).round(3).to_string())

    print("\nWhere the model's one-year error comes from: model minus registered events, as % of the county")
    start = (
        inputs.population.sel(year=inputs.rates["year"] - 1)
        .sum(["sex", "age"])
        .assign_coords(year=inputs.rates["year"])
    )
    parts = {}
    for kind in KINDS:
        gap = (posterior[kind] - registered_factors[kind]) * inputs.expected[kind]
        parts[f"{kind} max|%|"] = (100 * np.abs(gap) / start).max("year").to_pandas()
    print(pd.DataFrame(parts).round(3).to_string())
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
