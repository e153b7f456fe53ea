"""Norway's immigrant groups from the registers (issue #14, item 3): the grouped jump-off and a replay of
2006-2015 through the kernel.

Prints:
* the jump-off of 1 January 2006 and 2015 against every registered figure (source, registered,
  reconstructed, residual), and checks of what was reconstructed against figures it was not fitted to
  (duration 0 in 2015 against the immigrations of 2014; the Norwegian-born's ages in 2004);
* the spread of the reconstruction (draws): unregistered breakdowns, and the replay from several draws;
* the replay 2006-2015 (observed flows): error of immigrants, Norwegian-born to immigrant parents, the
  rest and the total by year against IMDi's registered 1 January stocks, and the replayed gross flows of
  the immigrants against the registered ones of 2013 and 2014.

    STOCHPOP_SHARED_DATA=/path/to/shared/data python experiments/groups_replay.py
"""

import time

import numpy as np
import pandas as pd

from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.groups.jump_off import CELLS, jump_off, jump_off_draws, norwegian_born_ages, residuals
from stochpop.groups.registered import load_registered
from stochpop.groups.replay import by_kind, errors, replay

DRAWS = 20
REPLAY_DRAWS = 5


def immigrant_cells(population: np.ndarray) -> np.ndarray:
    """Immigrants (..., G, D + 1, sex, age) of jump-offs (..., cell, sex, age)."""
    cut = population[..., 1 : 1 + CELLS.groups * CELLS.durations, :, :]
    return cut.reshape(*population.shape[:-3], CELLS.groups, CELLS.durations, *population.shape[-2:])


def main() -> None:
    pd.set_option("display.width", 200)
    folder = shared_data_dir()
    if folder is None:
        raise SystemExit(MISSING_SHARED_DATA)
    started = time.perf_counter()
    reg = load_registered(folder / "norway")
    print(f"read in {time.perf_counter() - started:.1f} s")

    for year in (2006, 2015):
        started = time.perf_counter()
        population = jump_off(reg, year)
        seconds = time.perf_counter() - started
        rows = pd.DataFrame(residuals(reg, population))
        exact = rows[rows["residual"].abs() < 0.5]
        print(
            f"\nJump-off 1 January {year} ({seconds:.2f} s): "
            f"{len(exact)} of {len(rows)} registered figures exact"
        )
        print(rows[rows["residual"].abs() >= 0.5].round(0).to_string(index=False))
        print(f"negative rest cells set to 0: {population.attrs['negative_rest']:.2f} persons")

    arrived = immigrant_cells(jump_off(reg, 2015).values)[:, 0].sum()
    registered_2014 = float(reg.flows_imdi.sel(year=2014, flow="immigration", category="immigrants"))
    print(
        f"\nNot fitted: duration 0 on 1 January 2015 {arrived:.0f}, registered immigrations of immigrants "
        f"2014 {registered_2014:.0f} ({100 * (arrived / registered_2014 - 1):.1f}%; those who left again "
        "within the year are not in the stock)"
    )
    shares = norwegian_born_ages(reg, 2004, reg.population.sizes["age"])
    table = reg.immigrant_ages.sel(year=2004, category="norwegian_born").dropna("first_age")
    groups = np.searchsorted(table["first_age"].values, np.arange(shares.size), side="right") - 1
    compare = pd.DataFrame(
        {
            "reconstructed %": 100 * np.bincount(groups, shares),
            "registered %": 100 * table.values / table.values.sum(),
        },
        index=[f"{a}-" for a in table["first_age"].values],
    )
    print("\nNot fitted: Norwegian-born to immigrant parents by age, 1 January 2004 (SSB), first 8 groups")
    print(compare.head(8).round(1).to_string())

    started = time.perf_counter()
    draws = jump_off_draws(reg, 2015, DRAWS, seed=1)
    seconds = time.perf_counter() - started
    imm = immigrant_cells(draws.values)
    arrivals = imm[:, :, 0].sum((-1, -2))
    spread = pd.DataFrame(
        {"mean": arrivals.mean(0), "sd": arrivals.std(0), "cv %": 100 * arrivals.std(0) / arrivals.mean(0)},
        index=["group 1", "group 2", "group 3"],
    )
    print(
        f"\nSpread of the reconstruction, {DRAWS} draws of 2015 ({seconds:.1f} s): immigrants at duration 0"
    )
    print(spread.round(1).to_string())
    women = imm[:, :, :, 0, 20:40].sum((1, 3))
    cv = women.std(0) / women.mean(0)
    print(f"women 20-39 by single duration 0..30: cv {100 * cv.min():.1f}-{100 * cv.max():.1f}%")

    started = time.perf_counter()
    result = replay(reg, 2006, 2015)
    seconds = time.perf_counter() - started
    relative = errors(reg, result)
    print(f"\nReplay 2006-2015 through the kernel ({seconds:.1f} s): error against the registers, %")
    print((100 * relative).to_pandas().round(2).to_string())
    print(
        f"max |error| {100 * float(abs(relative).max()):.2f}%, mean {100 * float(abs(relative).mean()):.2f}%"
    )
    flows = pd.DataFrame(
        {
            f"{flow} {year}": {
                "replayed": float(by_kind(result[f"{flow}s"]).sel(event_year=year, kind="immigrants").sum()),
                "registered": float(reg.flows_imdi.sel(year=year, flow=flow, category="immigrants")),
            }
            for flow in ("immigration", "emigration")
            for year in (2013, 2014)
        }
    ).T
    print("\nImmigrants' gross flows, replayed against registered (IMDi)")
    print(flows.round(0).to_string())

    started = time.perf_counter()
    spreads = [
        errors(reg, replay(reg, 2006, 2015, start=draw)) for draw in jump_off_draws(reg, 2006, REPLAY_DRAWS)
    ]
    seconds = time.perf_counter() - started
    stacked = 100 * np.stack([s.values for s in spreads])
    low, high = stacked.min(0), stacked.max(0)
    ranges = pd.DataFrame(
        [
            [f"{lo:+.2f}..{hi:+.2f}" for lo, hi in zip(row_lo, row_hi, strict=True)]
            for row_lo, row_hi in zip(low, high, strict=True)
        ],
        index=relative["year"].values,
        columns=relative["kind"].values,
    )
    print(f"\nReplay from {REPLAY_DRAWS} draws of the 2006 jump-off ({seconds:.1f} s): error range, %")
    print(ranges.to_string())


if __name__ == "__main__":
    main()
