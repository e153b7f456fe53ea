"""A Norway run's total population beside the UN's probabilistic projection (WPP 2024, bayesPop).

Prints, for 2030, 2050, 2075 and 2100: our median and 80% / 95% intervals of the total population and
WPP's (popprojMed, popproj80l/u, popproj95l/u), in thousands, and the interval widths' ratio. WPP counts
on 1 July; our stocks are on 1 January, so a year's mid-year value is the mean of its 1 January and the
next (the last year, 2100, uses 1 January 2100 itself).

    stochpop run models/norway.toml --out out/norway
    python experiments/norway_vs_wpp.py out/norway [--out out/norway/tables/vs_wpp.csv]
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import stochpop
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.data.wpp import read_wpp

YEARS = (2030, 2050, 2075, 2100)
WPP_FILES = {
    "median": "popprojMed",
    "p10": "popproj80l",
    "p90": "popproj80u",
    "p2.5": "popproj95l",
    "p97.5": "popproj95u",
}
QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9, "p2.5": 0.025, "p97.5": 0.975}


def mid_year_paths(total, year: int) -> np.ndarray:
    """Total population paths (draw,) at 1 July of `year`, thousands."""
    years = [y for y in (year, year + 1) if y in total["year"].values]
    return total.sel(year=years).mean("year").values / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a Norway run directory (stochpop run models/norway.toml)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    wpp = {key: read_wpp(shared / f"norway/wpp2024/{stem}.txt") for key, stem in WPP_FILES.items()}
    total = stochpop.open_results(args.run / "paths.zarr")["total_population"].load()
    rows = []
    for year in YEARS:
        ours = mid_year_paths(total, year)
        row = {"year": year}
        for key, q in QUANTILES.items():
            row[f"stochpop_{key}"] = float(np.quantile(ours, q))
            row[f"wpp_{key}"] = float(wpp[key].sel(year=year))
        for level, (lo, hi) in {"80": ("p10", "p90"), "95": ("p2.5", "p97.5")}.items():
            width = row[f"stochpop_{hi}"] - row[f"stochpop_{lo}"]
            row[f"width{level}_ratio"] = width / (row[f"wpp_{hi}"] - row[f"wpp_{lo}"])
        rows.append(row)
    table = pd.DataFrame(rows).set_index("year")
    pd.set_option("display.width", 200)
    print(f"total population, thousands, 1 July ({total.sizes['draw']} paths)")
    print(table.round(2).T.to_string())
    if args.out:
        table.to_csv(args.out)


if __name__ == "__main__":
    main()
