"""SSB's 2018 main alternative (MMMM) held fixed through the grouped kernel (issue #14, the check against
SSB's 2040 and 2060 figures; `stochpop.groups.ssb2018` documents every assumption and its source).

Prints:
* the assumptions made concrete: the 2017 TFRs by kind of cell, the immigrants' shares by country group,
  the emigration factor;
* the jump-off of 1 January 2018 against what is registered (IMDi country background by group, HMD total)
  and SSB's rounded 2018 figures;
* the line's 1 January stocks 2018/2030/2040/2050/2060 (immigrants by group, Norwegian-born to immigrant
  parents by mother's group, the rest, the total) beside SSB's published figures, with the errors;
* the line's flows beside SSB's (births ch. 3.1, emigrations Table 2.1) and 2018's births by mother's
  group against SSB's 2017 shares;
* the sensitivity to the Norwegian-born's emigration ("rest": the rest's level instead of their parents').

    STOCHPOP_SHARED_DATA=/path/to/shared/data python experiments/groups_ssb2018.py
"""

import time

import numpy as np
import pandas as pd

from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.groups import ssb2018
from stochpop.groups.registered import GROUPS, load_registered

SHOWN_YEARS = (2018, 2030, 2040, 2050, 2060)
LAST_YEAR = 2061
"""The line runs to 1 January 2061, so that the events of 2060 compare with SSB's (Table 2.1, ch. 3.1)."""


def stock_table(line: ssb2018.Line) -> pd.DataFrame:
    """The line's 1 January stocks in `SHOWN_YEARS` beside SSB's figures (thousands) and the errors (%)."""
    stocks = line.stocks()
    rows = {}
    for name, values in stocks.items():
        rows[name] = {year: values[line.years == year][0] / 1e3 for year in SHOWN_YEARS}
    table = pd.DataFrame(rows).T
    for kind, figures in ssb2018.SSB_FIGURES.items():
        for year, figure in figures.items():
            table.loc[f"SSB {kind}", year] = figure / 1e3
            table.loc[f"error {kind} %", year] = 100 * (stocks[kind][line.years == year][0] / figure - 1)
    total_2060 = stocks["total"][line.years == 2060][0]
    table.loc["SSB total", 2060] = ssb2018.SSB_TOTAL_2060_FROM_SHARES / 1e3
    table.loc["error total %", 2060] = 100 * (total_2060 / ssb2018.SSB_TOTAL_2060_FROM_SHARES - 1)
    return table


def flow_table(line: ssb2018.Line) -> pd.DataFrame:
    """Births, deaths, emigrations and immigrations of the line beside SSB's published flows."""
    flows = line.flows
    years = ssb2018.JUMP_OFF + np.arange(flows.births.shape[0])
    shown = [2018, 2020, 2040, 2060]
    table = pd.DataFrame(
        {
            name: {year: float(getattr(flows, name)[years == year].sum()) for year in shown}
            for name in ("births", "deaths", "emigrations", "immigrations")
        }
    ).T
    ssb_emigration = dict(ssb2018.EMIGRATION)
    table.loc["SSB emigrations (Table 2.1)"] = [ssb_emigration.get(year, np.nan) for year in shown]
    table.loc["SSB births (ch. 3.1)"] = [ssb2018.SSB_BIRTHS.get(year, np.nan) for year in shown]
    return table


def main() -> None:
    pd.set_option("display.width", 200)
    folder = shared_data_dir()
    if folder is None:
        raise SystemExit(MISSING_SHARED_DATA)
    started = time.perf_counter()
    reg = load_registered(folder / "norway")
    print(f"read in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    start = ssb2018.jump_off_2018(reg)
    seconds = time.perf_counter() - started
    values = start.transpose("cell", "sex", "age").values
    cells = ssb2018.CELLS
    registered = reg.country_groups.sel(year=2018, group=list(GROUPS)).values
    replayed = np.array(start.attrs["replayed_immigrants_by_group"])
    born = sum(values[cells.norwegian_born(g)].sum() for g in GROUPS)
    print(f"\nJump-off 1 January 2018 ({seconds:.1f} s: replay 2015-2018, then scaling)")
    check = pd.DataFrame(
        {
            "replayed": [*replayed, replayed.sum(), born, np.nan],
            "jump-off": [*registered, registered.sum(), born, values.sum()],
            "registered / SSB": [
                *registered,
                registered.sum(),
                170_000,
                float(reg.population.sel(year=2018).sum()),
            ],
        },
        index=["immigrants g1", "immigrants g2", "immigrants g3", "immigrants", "norwegian-born", "total"],
    )
    check["replayed error %"] = 100 * (check["replayed"] / check["registered / SSB"] - 1)
    check["jump-off error %"] = 100 * (check["jump-off"] / check["registered / SSB"] - 1)
    print(check.round(1).to_string())
    print(
        "registered: IMDi country background (immigrants by group), HMD (total); SSB's 'almost 750 000' "
        "immigrants and '170 000' Norwegian-born (rounded) for the others; "
        f"negative rest set to 0: {start.attrs['negative_rest']:.2f} persons"
    )

    lines = {}
    for variant in ("parents", "rest"):
        started = time.perf_counter()
        lines[variant] = ssb2018.ssb_line(reg, last=LAST_YEAR, norwegian_born=variant)
        print(
            f"\nline with the Norwegian-born emigrating as '{variant}': {time.perf_counter() - started:.1f} s"
        )
    line = lines["parents"]
    a = line.assumptions
    print(
        f"\nAssumptions: TFR 2017 rest {a.tfr_2017[0]:.3f}, immigrant women of groups 1-3 "
        f"{np.round(a.tfr_2017[1:], 3)}; immigrants' immigration by group {np.round(a.group_shares, 3)}; "
        f"emigration factor M {a.emigration_factor:.3f}"
    )

    print("\nThe line's 1 January stocks (thousands) beside SSB's 2018 main alternative")
    print(stock_table(line).round(1).to_string())
    print("\nFlows of the year beside SSB's")
    print(flow_table(line).round(0).to_string())

    by_mother = cells.kinds(line.flows.births_by_mother[0].sum(-1), axis=-1)
    shares = 100 * by_mother / by_mother.sum()
    print(
        f"\nBirths of 2018 by mother: immigrant women {shares[1:4].sum():.1f}% (SSB 2017: 28%), group 3 "
        f"{shares[3]:.1f}% (18%), group 2 {shares[2]:.1f}% (7%), group 1 {shares[1]:.1f}% (3%, remainder)"
    )
    immigrants_2040 = line.populations[line.years == 2040][0][1 : 1 + cells.groups * cells.durations]
    print(f"Modal age of immigrants in 2040: {int(immigrants_2040.sum((0, 1)).argmax())} (SSB ch. 3.4: 53)")

    print("\nSensitivity: the Norwegian-born emigrating at the rest's level")
    print(stock_table(lines["rest"]).round(1).to_string())
    print(flow_table(lines["rest"]).round(0).to_string())


if __name__ == "__main__":
    main()
