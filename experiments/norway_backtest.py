"""The Norway back-test: refit and project from every jump-off of models/norway_backtest.toml, score against
HMD/HFD, write the calibration report, and print it beside the SSB-like baseline with the SSB 2016 case.

    python experiments/norway_backtest.py [--out out/backtest] [--jumpoffs 1990:2018:2] [--spec FILE]

Prints the wall time and where it went (fits, projections, baseline, scoring), the coverage of the
50/80/95% intervals pooled over horizons 1-10 (goal: 80% within 75-85%, 95% within 92-98%), per target
at horizons 1, 5, 10, 20 the coverage, 80% interval score and CRPS beside the baseline's, and the 2016
jump-off beside SSB's 2016 projection and the registered values of reference Table 2.5. The UN WPP 2024
projection is scored beside where its years overlap the registered data.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import stochpop
from stochpop.backtest.evaluate import External, evaluate
from stochpop.backtest.recalibration import MIN_CASES
from stochpop.backtest.report import RECALIBRATED
from stochpop.backtest.run import backtest_jump_off, jump_off_directory, run_backtest
from stochpop.backtest.targets import registered_targets
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir

SPEC = Path(__file__).resolve().parents[1] / "models" / "norway_backtest.toml"
TABLE_2_5 = pd.DataFrame(
    {
        "year": [2016, 2016, 2016, 2016, 2017, 2017, 2017, 2017],
        "quantity": ["births", "deaths", "net_migration", "year_end_population"] * 2,
        "ssb_2016_projected": [59780, 40880, 71473 - 33805, 5270550, 61016, 41052, 72058 - 34482, 5328094],
        "ssb_registered": [58890, 40726, 64700 - 38631, 5258317, 56633, 40774, 56400 - 35058, 5295619],
    }
)
"""Reference Table 2.5 (SSB 2018 report, section 2.7): SSB's June 2016 main alternative and the registered
figures for 2016 and 2017; net migration = immigrations - emigrations."""
CASE_TARGETS = {
    "births": "births",
    "deaths": "deaths",
    "net_migration": "net_migration",
    "year_end_population": "total_population",
}
"""Table 2.5 quantities -> back-test targets (year-end population of year t = 1 January stock of t + 1,
horizon t - 2015, the same as event year t)."""


def ssb_2016_case(out: Path, spec, data) -> pd.DataFrame:
    """Our 2016 and 2017 intervals (jump-off 1 January 2016, data to 2015) beside Table 2.5 and HMD."""
    directory = jump_off_directory(out, 2016)
    if not (directory / "forecast.nc").is_file():
        directory = out / "ssb2016"
        directory.mkdir(parents=True, exist_ok=True)
        backtest_jump_off(spec, data, 2016, directory)
    forecast = xr.load_dataset(directory / "forecast.nc")
    registered = registered_targets(data, [2016], 2).isel(jump_off=0)
    rows = []
    for _, row in TABLE_2_5.iterrows():
        target, horizon = CASE_TARGETS[row["quantity"]], row["year"] - 2015
        paths = forecast[target].sel(horizon=horizon)
        q = np.quantile(paths, [0.025, 0.1, 0.5, 0.9, 0.975])
        rows.append(
            {
                **row.to_dict(),
                "hmd_registered": float(registered[target].sel(horizon=horizon)),
                "stochpop_median": q[2],
                "stochpop_80": f"{q[1]:.0f}-{q[3]:.0f}",
                "stochpop_95": f"{q[0]:.0f}-{q[4]:.0f}",
                "ssb_registered_in_80": bool(q[1] <= row["ssb_registered"] <= q[3]),
                "ssb_registered_in_95": bool(q[0] <= row["ssb_registered"] <= q[4]),
                "ssb_projection_in_95": bool(q[0] <= row["ssb_2016_projected"] <= q[4]),
            }
        )
    return pd.DataFrame(rows)


def timings(out: Path, jump_offs) -> dict[str, float]:
    total: dict[str, float] = {}
    for jump_off in jump_offs:
        path = jump_off_directory(out, jump_off) / "timing.json"
        for key, value in json.loads(path.read_text()).items():
            total[key] = total.get(key, 0.0) + value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/backtest")
    parser.add_argument("--jumpoffs", help="override backtest.jump_offs, e.g. 2010:2018:4")
    parser.add_argument("--spec", default=str(SPEC), help="a back-test spec (default: the shipped one)")
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    spec = stochpop.load_spec(args.spec)
    if args.jumpoffs:
        spec = replace(spec, backtest=replace(spec.backtest, jump_offs=args.jumpoffs))
    data = stochpop.load_data(spec)
    out = Path(args.out)
    start = time.perf_counter()
    computed = run_backtest(spec, data, out)
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    wpp = External("wpp2024", 2024, shared / "norway" / "wpp2024")
    evaluate(out, data, [wpp])
    report_s = time.perf_counter() - start
    jump_offs = spec.backtest.jump_off_years
    spent = timings(out, jump_offs)
    pd.set_option("display.width", 200, "display.max_columns", 30, "display.max_rows", 200)
    print(f"jump-offs {jump_offs[0]}-{jump_offs[-1]} ({len(jump_offs)}), {spec.backtest.paths} paths each")
    print(f"computed now: {len(computed)} jump-offs in {run_s:.0f} s; scoring and report {report_s:.0f} s")
    print("seconds summed over all jump-offs (as recorded when each ran): " + json.dumps(spent))
    calibration = pd.read_csv(out / "tables" / "calibration.csv")
    print("\ncoverage pooled over horizons 1-10 (all jump-offs with a registered value):")
    print(calibration.pivot_table(index="target", columns="level", values="coverage").round(3).to_string())
    coverage = pd.read_csv(out / "tables" / "coverage.csv")
    over = coverage[(coverage["first_horizon"] == 1) & (coverage["last_horizon"] == 10)]
    print(f"\nraw beside {RECALIBRATED} (leakage-free; raw where fewer than {MIN_CASES} past errors):")
    side = over.pivot_table(index="target", columns=["level", "method"], values="coverage")
    print(side.loc[:, side.columns.get_level_values("method") != "ssb-like"].round(3).to_string())
    summary = pd.read_csv(out / "tables" / "summary.csv")
    print("\nby target and horizon, stochpop beside the SSB-like baseline (ratios < 1: stochpop better):")
    print(summary.round(3).to_string(index=False))
    pooled = pd.read_csv(out / "tables" / "pooled.csv")
    near = pooled[(pooled["horizon"] <= 10) & np.isclose(pooled["level"], 0.8)]
    means = near.groupby(["target", "method"])["interval_score"].mean().unstack()
    print("\nmean 80% interval score over horizons 1-10:")
    print((means.assign(ratio=means["stochpop"] / means["ssb-like"])).round(3).to_string())
    wpp_cases = pd.read_csv(out / "tables" / "cases.csv").query("method == 'wpp2024'")
    print(f"\nUN WPP 2024: {len(wpp_cases)} cases overlap the registered data")
    case = ssb_2016_case(out, spec, data)
    case.to_csv(out / "tables" / "ssb_2016.csv", index=False)
    print("\nSSB 2016 case (jump-off 1 January 2016, data to 2015) beside reference Table 2.5:")
    print(case.round(0).to_string(index=False))


if __name__ == "__main__":
    main()
