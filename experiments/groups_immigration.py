"""Immigration by kind for BEFINN's groups (issue #14, item 2; `stochpop.groups.immigration` documents the
model and every approximation) fitted on Norway's registered data.

Prints:
* the reconstruction of arrivals by country group 2006-2021 (stock change + emigrations + deaths) beside
  Eurostat's total immigration;
* the fit (NUTS 2 x 2500 after 1000 warmup, target acceptance 0.98): time and diagnostics; medians and
  80% intervals of the parameters; the fitted shares by kind in selected years;
* the check against the registered figures: 95% intervals of the immigrants' share of all immigration
  (IMDi 2013, 2014), of the non-immigrants' share in 2017 (SSB: 7 490 of 56 400), of groups 1 + 2 over
  group 3 in 2014 (IMDi), and the foreign citizens' share 1999-2007 (SSB, a proxy) beside the fitted
  immigrants' share;
* 1 000 paths 2022-2100 with a flat total of 50 000 immigrations a year (an illustration: the national
  model supplies the totals): the shares' medians and 80% intervals at horizons, and the non-immigrants'
  counts beside SSB's MMMM line (7 490 in 2017 to 11 000 in 2100, ch. 3.4).

    STOCHPOP_SHARED_DATA=/path/to/shared/data python experiments/groups_immigration.py
"""

import time
import warnings

import jax
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.fitting import FitWarning, read_diagnostics
from stochpop.components.settings import FitSettings
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.groups import immigration as im
from stochpop.groups.registered import load_registered
from stochpop.groups.ssb2018 import NON_IMMIGRANT_IMMIGRATION, along

SETTINGS = FitSettings(chains=2, warmup=1000, samples=2500, target_accept=0.98, seed=0)
SHOWN_YEARS = (2006, 2010, 2014, 2016, 2021)
PATH_YEARS = (2025, 2040, 2060, 2100)
FLAT_TOTAL = 50_000.0
"""Immigrations a year in the illustration (SSB's MMMM is 48 900-51 400 in 2020-2060, Table 2.1)."""


def interval(values: np.ndarray, level: float = 0.8) -> str:
    low, mid, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return f"{mid:7.3f} [{low:6.3f}, {high:6.3f}]"


def flat(posterior: xr.Dataset, name: str) -> np.ndarray:
    return posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    reg = load_registered(shared / "norway")

    rec = im.reconstructed_arrivals(reg)
    table = rec.arrivals.to_pandas().rename(columns=lambda g: f"arrivals g{g}")
    table["emigrations"] = rec.emigrations.sum("group").to_pandas()
    table["deaths"] = rec.deaths.sum("group").to_pandas()
    table["Eurostat total"] = reg.eurostat_totals.sel(flow="immigration", year=table.index).values
    table["total - arrivals"] = table["Eurostat total"] - table.filter(like="arrivals").sum(axis=1)
    print(f"Reconstructed arrivals (persons); death scale {im.death_scale(reg):.3f}")
    print(table.round(0).astype(int).to_string(), "\n")

    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = im.fit_group_immigration(reg, SETTINGS)
    print(f"Fit: {time.time() - start:.0f} s, {read_diagnostics(idata)}\n")
    posterior = idata["posterior"]

    print("Parameters: median [80% interval]")
    for name in ("long_run_mean", "persistence"):
        for i, ratio in enumerate(im.RATIOS):
            print(f"  {name} {ratio}/group_3: {interval(flat(posterior, name)[:, i])}")
    for i, kind in enumerate(im.KINDS):
        print(f"  shock_scale {kind}: {interval(flat(posterior, 'shock_scale')[:, i])}")
    for name in ("total_sd", "total_bias", "citizenship_bias"):
        print(f"  {name}: {interval(flat(posterior, name))}")

    share = posterior["share"].stack(sample=("chain", "draw"))
    print("\nFitted shares of immigration: median [80% interval]")
    rows = {
        year: {kind: interval(share.sel(year=year, kind=kind).values) for kind in im.KINDS}
        for year in SHOWN_YEARS
    }
    print(pd.DataFrame(rows).T.to_string())

    print("\nAgainst the registered figures: registered, fitted median [95% interval], inside")
    checks = []
    flows = reg.flows_imdi.sel(flow="immigration")
    for year in (2013, 2014):
        target = float(flows.sel(year=year, category="immigrants") / flows.sel(year=year, category="all"))
        checks.append(
            (f"immigrants' share {year} (IMDi)", target, 1 - share.sel(year=year, kind="non_immigrants"))
        )
    ssb_year, ssb_count = NON_IMMIGRANT_IMMIGRATION[0]
    checks.append(
        (f"non-immigrants' share {ssb_year} (SSB)", ssb_count / im.SSB_IMMIGRATION,
         share.sel(year=ssb_year, kind="non_immigrants"))
    )  # fmt: skip
    region = reg.flows_by_region.sel(year=2014, flow="immigration")
    at_2014 = share.sel(year=2014)
    checks.append(
        ("groups 1 + 2 over 3, 2014 (IMDi)", float(region.sel(region2="1") / region.sel(region2="2")),
         (at_2014.sel(kind="group_1") + at_2014.sel(kind="group_2")) / at_2014.sel(kind="group_3"))
    )  # fmt: skip
    citizenship = reg.flows_citizenship.sel(flow="immigration").sortby("year")
    for year in citizenship["year"].values:
        foreign = float(
            citizenship.sel(year=year, category="foreign_citizens")
            / citizenship.sel(year=year, category="all")
        )
        checks.append(
            (
                f"foreign citizens' share {year} (proxy)",
                foreign,
                1 - share.sel(year=year, kind="non_immigrants"),
            )
        )
    for label, target, fitted in checks:
        low, mid, high = np.quantile(fitted.values, [0.025, 0.5, 0.975])
        print(f"  {label:40s} {target:6.3f}  {mid:6.3f} [{low:6.3f}, {high:6.3f}]  {low <= target <= high}")

    years = np.arange(2022, 2101)
    total = xr.DataArray(
        np.full((1000, years.size), FLAT_TOTAL),
        coords={"path": np.arange(1000), "year": years},
        dims=("path", "year"),
    )
    paths = im.group_immigration_paths(idata, total, years, jax.random.PRNGKey(0))
    by_kind = paths.sum(("sex", "age"))
    error = float(abs(by_kind.sum("kind") - total).max()) / FLAT_TOTAL
    print(f"\nPaths: 1000 x {years.size} years; max |kinds - total| / total = {error:.1e}")
    print(f"Shares of a flat {FLAT_TOTAL:.0f} a year: median [80% interval]")
    rows = {
        year: {kind: interval((by_kind.sel(year=year, kind=kind) / FLAT_TOTAL).values) for kind in im.KINDS}
        for year in PATH_YEARS
    }
    print(pd.DataFrame(rows).T.to_string())
    print("Non-immigrants' immigrations against SSB's MMMM line (ch. 3.4), persons")
    for year in PATH_YEARS:
        ours = by_kind.sel(year=year, kind="non_immigrants").values
        low, mid, high = np.quantile(ours, [0.1, 0.5, 0.9])
        ssb = float(along(NON_IMMIGRANT_IMMIGRATION, np.array([year]))[0])
        print(f"  {year}: ours {mid:7.0f} [{low:7.0f}, {high:7.0f}]   SSB {ssb:7.0f}")


if __name__ == "__main__":
    main()
