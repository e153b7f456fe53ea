"""Municipal breakdown back-test (issue #15, items 1 and 6): municipal shares fitted on the record to a
jump-off, projected to 2024 given the registered regional totals, against the registered municipalities.

For each division (the 15 counties, SSB's 159 BA regions) and jump-off (2010, 2012, 2014, 2016):
* the fit (`fit_municipal_shares`, data 2006 to the jump-off): time, diagnostics, phi, scales;
* coverage of the registered municipal populations by the 80% and 95% intervals of 1 000 paths, by horizon,
  over municipalities in regions of several municipalities (a region of one is its region), all and small
  (under 5 000 persons at the jump-off);
* mean and median absolute percentage error by horizon of the paths' median, of SSB's rule (`ssb_breakdown`
  given the registered regional populations by sex and age) and of shares held at the jump-off;
* the probability that a municipality shrinks from the jump-off to 2024: Brier score against what happened,
  beside the 0/1 forecasts of SSB's rule and held shares;
* the same for the broad age groups 0-19, 20-64, 65+ and 80+ (each its own share model, BA regions,
  jump-off 2014; SSB's rule summed over the group's ages).
Finally the 2024 fit of each division: posterior of the hyperparameters and P(shrink by 2035) for a few
municipalities with constant regional totals (a what-if, not a forecast).

    python experiments/municipal_backtest.py
"""

import time

import jax
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.fitting import read_diagnostics
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.data.regional import read_regional_population
from stochpop.regions.divisions import MUNICIPAL_FILE, load_division
from stochpop.regions.municipalities import fit_municipal_shares, municipal_paths, ssb_breakdown

JUMP_OFFS = (2010, 2012, 2014, 2016)
LAST = 2024
PATHS = 1000
SMALL = 5000.0
HORIZONS = (1, 2, 4, 6, 8, 10, 12, 14)
AGE_GROUPS = {"all": slice(None), "0-19": slice(0, 19), "20-64": slice(20, 64), "65+": slice(65, None)}
AGE_GROUPS["80+"] = slice(80, None)


def _by_region(population: xr.DataArray, region: np.ndarray) -> xr.DataArray:
    """Municipal persons (year, municipality, ...) summed by region (year, region, ...)."""
    return population.groupby(xr.DataArray(region, dims="municipality", name="region")).sum()


def _as_paths(regional: xr.DataArray) -> xr.DataArray:
    """Regional totals (year, region) as the same (year, draw, region) for every path."""
    return regional.expand_dims(draw=PATHS, axis=1).transpose("year", "draw", "region")


def _score(name: str, forecast: xr.DataArray, observed: xr.DataArray, selected: np.ndarray) -> dict:
    """Absolute percentage errors (year) of a point forecast (year, municipality) over `selected`."""
    error = abs(forecast / observed - 1).isel(municipality=selected) * 100
    return {f"{name} mean": error.mean("municipality"), f"{name} median": error.median("municipality")}


def backtest(kind: str, by_age: xr.DataArray, jump_off: int, ages: str = "all") -> pd.DataFrame:
    """One division, jump-off and age group (a key of `AGE_GROUPS`): coverage and errors by horizon (rows),
    printed and returned."""
    division = load_division(kind, shared_data_dir() / "norway" / "regional")
    totals = by_age.sel(age=AGE_GROUPS[ages]).sum(["sex", "age"])
    started = time.perf_counter()
    idata = fit_municipal_shares(totals, division.region_of, jump_off)
    posterior = idata["posterior"]
    print(
        f"\n{kind} {jump_off} ages {ages}: fit {time.perf_counter() - started:.0f} s, "
        f"{read_diagnostics(idata)}; "
        f"phi {float(posterior['phi'].mean()):.3f}, b_s {float(posterior['b_s'].mean()):.2f}, "
        f"sigma at 10 000 {np.exp(float(posterior['a_s'].mean())):.4f}, "
        f"tau at 10 000 {np.exp(float(posterior['a_d'].mean())):.4f}"
    )
    region = idata["constant_data"]["region"].values
    years = np.arange(jump_off + 1, LAST + 1)
    regional = _by_region(totals, region)
    paths = municipal_paths(
        _as_paths(regional.sel(year=years)), idata, jax.random.PRNGKey(jump_off), PATHS, years
    )
    observed = totals.sel(year=years)
    several = pd.Series(region).map(pd.Series(region).value_counts()).to_numpy() > 1
    small = several & (totals.sel(year=jump_off).values < SMALL)
    rows: dict[str, xr.DataArray] = {}
    for label, selected in (("all", several), ("small", small)):
        for level in (0.8, 0.95):
            lower, upper = paths.quantile([(1 - level) / 2, (1 + level) / 2], "draw")
            inside = ((observed >= lower) & (observed <= upper)).isel(municipality=selected)
            rows[f"{label} {level:.0%}"] = inside.mean("municipality")
    ssb = (
        ssb_breakdown(
            by_age.sel(year=slice(None, jump_off)),
            division.region_of,
            _by_region(by_age.sel(year=years), region),
        )
        .sel(age=AGE_GROUPS[ages])
        .sum(["sex", "age"])
    )
    in_region = regional.sel(region=xr.DataArray(region, dims="municipality")).drop_vars("region")
    held = totals.sel(year=jump_off) / in_region.sel(year=jump_off) * in_region.sel(year=years)
    median = paths.median("draw")
    for name, forecast in (("model", median), ("SSB", ssb), ("held", held)):
        rows |= _score(name, forecast.transpose("year", "municipality"), observed, several)
    table = pd.DataFrame({name: row.values for name, row in rows.items()}, index=years - jump_off)
    table.index.name = "horizon"
    print(table.loc[[h for h in HORIZONS if h in table.index]].round(3).to_string())

    shrank = (observed.sel(year=LAST) < totals.sel(year=jump_off)).values[several].astype(float)
    probability = (paths.sel(year=LAST) < totals.sel(year=jump_off)).mean("draw").values[several]
    ssb_says = (ssb.sel(year=LAST) < totals.sel(year=jump_off)).values[several]
    held_says = (held.sel(year=LAST) < totals.sel(year=jump_off)).values[several]
    print(
        f"shrank by {LAST}: {shrank.mean():.2f} of {several.sum()}; Brier score model "
        f"{np.mean((probability - shrank) ** 2):.3f}, SSB {np.mean((ssb_says - shrank) ** 2):.3f}, held "
        f"{np.mean((held_says - shrank) ** 2):.3f}"
    )
    return table.assign(division=kind, jump_off=jump_off, ages=ages)


def outlook(kind: str, totals: xr.DataArray) -> None:
    """The 2024 fit: hyperparameters, and P(shrink by 2035) for a few municipalities at constant regional
    totals."""
    division = load_division(kind, shared_data_dir() / "norway" / "regional")
    idata = fit_municipal_shares(totals, division.region_of, LAST)
    summary = idata["posterior"][["a_s", "b_s", "omega", "a_d", "b_d", "phi"]].quantile([0.1, 0.5, 0.9])
    print(f"\n{kind} fit to {LAST}: {read_diagnostics(idata)}")
    print(summary.to_dataframe().drop(columns="quantile", errors="ignore").round(3).T.to_string())
    region = idata["constant_data"]["region"].values
    years = np.arange(LAST + 1, 2036)
    constant = _as_paths(_by_region(totals, region).sel(year=np.full(years.size, LAST)))
    constant = constant.assign_coords(year=years)
    paths = municipal_paths(constant, idata, jax.random.PRNGKey(1), PATHS, years)
    shrink = (paths.sel(year=2035) < totals.sel(year=LAST)).mean("draw").to_series()
    several = pd.Series(region, index=paths["municipality"].values)
    shrink = shrink[several.map(several.value_counts()) > 1]
    print(f"P(shrink 2024 -> 2035 | constant regional totals), {kind}: quartiles of municipalities")
    print(shrink.describe().round(2).to_string())


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    started = time.perf_counter()
    by_age = read_regional_population(shared / "norway" / "regional" / MUNICIPAL_FILE)
    by_age = by_age.rename(region="municipality").sel(year=slice(2006, None))
    totals = by_age.sum(["sex", "age"])
    tables = [backtest(kind, by_age, jump_off) for kind in ("county", "ba") for jump_off in JUMP_OFFS]
    summary = pd.concat(tables).reset_index()
    print("\nCoverage pooled over jump-offs, by horizon:")
    columns = ["all 80%", "all 95%", "small 80%", "small 95%"]
    print(summary.groupby(["division", "horizon"])[columns].mean().round(3).unstack(0).to_string())
    print("\nMean absolute percentage error pooled over jump-offs, by horizon:")
    errors = ["model mean", "SSB mean", "held mean", "model median", "SSB median", "held median"]
    print(summary.groupby(["division", "horizon"])[errors].mean().round(2).unstack(0).to_string())
    groups = pd.concat([backtest("ba", by_age, 2014, ages) for ages in AGE_GROUPS if ages != "all"])
    print("\nBy age group, BA regions, jump-off 2014, horizons 5 and 10:")
    chosen = ["all 80%", "all 95%", "model mean", "SSB mean", "held mean"]
    print(groups.loc[[5, 10]].set_index("ages", append=True)[chosen].round(3).to_string())
    for kind in ("county", "ba"):
        outlook(kind, totals)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
