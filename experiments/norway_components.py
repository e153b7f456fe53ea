"""Fit the three components on Norway 1990-2017 and check them out of sample and against SSB 2018.

Prints (and with --out writes CSV tables of):
* diagnostics and wall time of every fit;
* 2018-2022: registered e0 by sex (HMD life tables), TFR (HFD) and net migration (cohort residual) beside
  the forecast median, its error, and whether the registered value lies in the 80% and 95% intervals;
* 2020/2040/2060: forecast median and 80% interval beside SSB's 2018 M and L/H (reference Table 2.1).

    python experiments/norway_components.py [--draws 4000] [--out out/norway-components]
"""

import argparse
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.fertility import FertilityModel
from stochpop.components.fitting import read_diagnostics
from stochpop.components.migration import NetMigrationModel
from stochpop.components.mortality import CoherentLeeCarter
from stochpop.components.settings import FitSettings
from stochpop.data.hmd import read_hmd_lifetable
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.demography.lifetable import total_fertility

FIT = {"first_year": 1990, "last_year": 2017}
CHECK_YEARS = np.arange(2018, 2023)
SSB_2018 = {  # Table 2.1: (M, L, H) in 2020, 2040, 2060
    ("tfr", None): {2020: (1.60, 1.48, 1.73), 2040: (1.76, 1.59, 1.94), 2060: (1.76, 1.59, 1.94)},
    ("e0", "male"): {2020: (81.6, 81.0, 82.2), 2040: (85.4, 83.6, 87.0), 2060: (88.4, 86.0, 90.4)},
    ("e0", "female"): {2020: (84.7, 84.2, 85.2), 2040: (87.8, 86.2, 89.3), 2060: (90.3, 88.1, 92.1)},
    ("total_net", None): {
        2020: (51_400 - 32_200, 45_700 - 31_300, 58_800 - 33_100),
        2040: (48_900 - 31_600, 40_800 - 28_000, 70_800 - 39_500),
        2060: (49_000 - 32_000, 36_400 - 25_800, 91_200 - 49_800),
    },
}


def registered(data, shared: Path) -> dict[tuple[str, str | None], xr.DataArray]:
    """Registered e0 by sex (HMD), TFR (HFD) and total net migration (residual), by year."""
    e0 = {
        sex: read_hmd_lifetable(shared / f"norway/hmd/{prefix}ltper_1x1.txt")["ex"].sel(age=0)
        for sex, prefix in (("female", "f"), ("male", "m"))
    }
    tfr = xr.DataArray(total_fertility(data.asfr.values), dims="year", coords={"year": data.asfr["year"]})
    return {
        ("e0", "female"): e0["female"],
        ("e0", "male"): e0["male"],
        ("tfr", None): tfr,
        ("total_net", None): data.net_migration.sum(("sex", "age")),
    }


def paths_of(forecasts: dict[str, xr.Dataset], name: str, sex: str | None) -> xr.DataArray:
    source = forecasts["mortality" if name == "e0" else "fertility" if name == "tfr" else "migration"]
    paths = source[name]
    return paths.sel(sex=sex) if sex else paths


def out_of_sample(forecasts, observed) -> pd.DataFrame:
    rows = []
    for (name, sex), values in observed.items():
        paths = paths_of(forecasts, name, sex)
        for year in CHECK_YEARS:
            if year not in values["year"]:
                continue
            draws = paths.sel(year=year).values
            value = float(values.sel(year=year))
            q = np.quantile(draws, [0.025, 0.1, 0.5, 0.9, 0.975])
            rows.append(
                {
                    "target": name,
                    "sex": sex or "",
                    "year": year,
                    "registered": value,
                    "median": q[2],
                    "error": q[2] - value,
                    "in_80": q[1] <= value <= q[3],
                    "in_95": q[0] <= value <= q[4],
                }
            )
    return pd.DataFrame(rows)


def beside_ssb(forecasts) -> pd.DataFrame:
    rows = []
    for (name, sex), by_year in SSB_2018.items():
        paths = paths_of(forecasts, name, sex)
        for year, (m, low, high) in by_year.items():
            q = np.quantile(paths.sel(year=year).values, [0.1, 0.5, 0.9])
            rows.append(
                {
                    "target": name,
                    "sex": sex or "",
                    "year": year,
                    "median": q[1],
                    "p10": q[0],
                    "p90": q[2],
                    "ssb_M": m,
                    "ssb_L": low,
                    "ssb_H": high,
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    data = load_country(shared / "norway")
    components = {
        "mortality": CoherentLeeCarter(**FIT),
        "fertility": FertilityModel(**FIT),
        "migration": NetMigrationModel(**FIT),
    }
    years = np.arange(2018, 2101)
    forecasts, fit_rows = {}, []
    for i, (name, component) in enumerate(components.items()):
        start = time.perf_counter()
        idata = component.fit(data, FitSettings())
        seconds = time.perf_counter() - start
        fit_rows.append(
            {"component": name, "fit_seconds": round(seconds, 1), "diagnostics": str(read_diagnostics(idata))}
        )
        forecasts[name] = component.forecast(idata, years, args.draws, jax.random.PRNGKey(i))
    tables = {
        "fits": pd.DataFrame(fit_rows),
        "out_of_sample": out_of_sample(forecasts, registered(data, shared)),
        "beside_ssb_2018": beside_ssb(forecasts),
    }
    pd.set_option("display.width", 160)
    for name, table in tables.items():
        print(f"\n== {name}\n{table.round(3).to_string(index=False)}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.out / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
