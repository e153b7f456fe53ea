"""Greenland 2011-2020, the first check of regions (issue #15): accounts, replay, internal migration.

Prints:
* the national accounting identity's residual by year (registered stocks against registered events);
* the regional identity's residual by region and year (national events allocated by population at risk);
* the replay 2011-2020 through the kernel (registered internal moves, allocated national events): error of
  the regional populations by region and year, absolute and relative;
* out of sample: the replay of 2016-2020 with a net adjustment per region fitted on 2011-2015, beside the
  proportional allocation's;
* internal migration estimated with the registered moves hidden (from regional populations, allocated
  events and the national moves by year, sex and age): net by region and year, gross out- and in-moves by
  region and age group, against the registered ones.

    python experiments/greenland_replay.py
"""

import time

import pandas as pd
import xarray as xr

from stochpop.data.greenland import load_greenland
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.regions.accounts import (
    adjusted_rates,
    allocate,
    national_events,
    national_residual,
    net_adjustment,
    rates_at_risk,
    regional_residual,
    to_end_of_year,
)
from stochpop.regions.internal import fit_gross_flows, net_internal_migration
from stochpop.regions.replay import replay

AGE_GROUPS = [-1, 14, 29, 44, 64, 100]
AGE_LABELS = ["0-14", "15-29", "30-44", "45-64", "65+"]
CALIBRATION, LATER = slice(2011, 2015), slice(2016, 2020)


def table(title: str, data: xr.DataArray, digits: int = 1) -> None:
    print(f"\n{title}")
    print(data.to_pandas().round(digits).to_string())


def by_age_group(data: xr.DataArray) -> xr.DataArray:
    grouped = data.groupby_bins("age", AGE_GROUPS, labels=AGE_LABELS).sum()
    return grouped.rename(age_bins="age_group")


def replay_errors(replayed: xr.Dataset, registered: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Error of the replayed regional totals (year, region): persons and percent."""
    total = registered.sel(year=replayed["year"]).sum(["sex", "age"])
    error = replayed["population"].sum(["sex", "age"]) - total
    return error, 100 * error / total


def main() -> None:
    pd.set_option("display.width", 200)
    folder = shared_data_dir()
    if folder is None:
        raise SystemExit(MISSING_SHARED_DATA)
    started = time.perf_counter()
    account = load_greenland(folder / "greenland")
    events = national_events(account.births, account.deaths, account.emigration, account.immigration)
    rates = rates_at_risk(account.population, events)
    allocated = allocate(account.regional_population, rates)
    out = to_end_of_year(account.internal_out)
    in_moves = to_end_of_year(account.internal_in)
    registered_net = in_moves - out
    print(f"read and allocated in {time.perf_counter() - started:.1f} s")

    residual = national_residual(account.population, events)
    national = pd.DataFrame(
        {
            "sum |residual|": abs(residual).sum(["sex", "age"]).to_pandas(),
            "net residual": residual.sum(["sex", "age"]).to_pandas(),
            "max |cell|": abs(residual).max(["sex", "age"]).to_pandas(),
            "% of population": 100
            * (
                abs(residual).sum(["sex", "age"])
                / account.population.sel(year=residual["year"]).sum(["sex", "age"])
            ).to_pandas(),
        }
    )
    print("\nNational identity P(t) - [aged P(t-1) - deaths - emigration + immigration], persons")
    print(national.round(2).to_string())
    mismatch = registered_net.sum(["region", "sex", "age"]).values
    print(f"registered in-moves minus out-moves, national: {mismatch}")

    regional = regional_residual(account.regional_population, allocated, registered_net)
    table("Regional identity residual (registered minus allocated), persons", regional.sum(["sex", "age"]), 0)

    started = time.perf_counter()
    first = int(account.regional_population["year"][0])
    replayed = replay(account.regional_population.sel(year=first), rates, out, in_moves)
    seconds = time.perf_counter() - started
    error, percent = replay_errors(replayed, account.regional_population)
    table(f"Replay {first + 1}-2020 (proportional allocation, {seconds:.1f} s): error, persons", error, 0)
    table("Replay: error, % of the registered population", percent, 2)
    print(f"replay |error|: max {float(abs(percent).max()):.2f}%, mean {float(abs(percent).mean()):.2f}%")
    print(
        "internal moves in the replay: out-moves max |error| "
        f"{float(abs(replayed['internal_out'] - out).max()):.1e}; in-moves by region-year max |error| "
        f"{float(abs((replayed['internal_in'] - in_moves).sum(['sex', 'age'])).max()):.1f}"
    )

    adjustment = net_adjustment(regional.sel(year=CALIBRATION), allocated["aged"].sel(year=CALIBRATION))
    table("Net adjustment fitted on 2011-2015, per 1000 at risk and year", 1000 * adjustment, 2)
    later_moves = (out.sel(year=LATER), in_moves.sel(year=LATER))
    for name, later_rates in {
        "proportional": rates.sel(year=LATER),
        "adjusted": adjusted_rates(rates.sel(year=LATER), adjustment),
    }.items():
        replayed_later = replay(account.regional_population.sel(year=2015), later_rates, *later_moves)
        _, percent = replay_errors(replayed_later, account.regional_population)
        table(f"Replay 2016-2020 from 2015, {name}: error, %", percent, 2)
        print(f"{name}: max {float(abs(percent).max()):.2f}%, mean {float(abs(percent).mean()):.2f}%")

    started = time.perf_counter()
    net = net_internal_migration(account.regional_population, allocated)
    fit = fit_gross_flows(net, allocated["aged"], out.sum("region"))
    seconds = time.perf_counter() - started
    net_error = (net - registered_net).sum(["sex", "age"])
    table(
        f"Estimated net internal migration ({seconds:.1f} s with the gross fit), persons",
        net.sum(["sex", "age"]),
        0,
    )
    table("Registered net internal migration, persons", registered_net.sum(["sex", "age"]), 0)
    nets = registered_net.sum(["sex", "age"])
    print(
        f"net |error| by region-year: mean {float(abs(net_error).mean()):.1f}, "
        f"max {float(abs(net_error).max()):.1f} persons "
        f"(registered nets {float(nets.min()):.0f}..{float(nets.max()):.0f})"
    )
    table("Fitted out-levels (geometric mean 1)", fit.level, 2)
    for name, estimated, registered in (("out", fit.out_moves, out), ("in", fit.in_moves, in_moves)):
        totals = pd.DataFrame(
            {
                "estimated": estimated.sum(["year", "sex", "age"]).to_pandas(),
                "registered": registered.sum(["year", "sex", "age"]).to_pandas(),
            }
        )
        totals["error %"] = 100 * (totals["estimated"] / totals["registered"] - 1)
        print(f"\nGross {name}-moves 2011-2020 by region")
        print(totals.round(1).to_string())
        grouped = [by_age_group(flows.sum(["year", "sex"])) for flows in (estimated, registered)]
        table(
            f"Gross {name}-moves 2011-2020 by region and age group: error, %",
            100 * (grouped[0] / grouped[1] - 1),
        )
        yearly = [flows.sum(["sex", "age"]) for flows in (estimated, registered)]
        yearly_error = 100 * abs(yearly[0] / yearly[1] - 1)
        print(
            f"{name}-moves by region-year |error|: mean {float(yearly_error.mean()):.1f}%, "
            f"max {float(yearly_error.max()):.1f}%"
        )


if __name__ == "__main__":
    main()
