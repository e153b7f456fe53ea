"""The Norway mortality back-test (issue #13): e0 by sex forecast from every jump-off by the coherent
Bayesian Lee-Carter, the classic Lee-Carter and a random walk with drift on e0, scored on the same cases.

    python experiments/mortality_backtest.py [--jump-offs 1950:2018:4] [--out out/mortality_backtest]

Each jump-off T refits every model on the `--window` years before T, with only the data registered on
1 January T (`stochpop.backtest.mortality`). Prints, side by side per model, the coverage of the 80% and
95% intervals (goal: 75-85% and 92-98%) by sex and pooled, the interval scores and CRPS (years; lower is
better) over horizons 1-10 and 1-20, the mean error of the median at horizons 1, 5 and 10, and whether the
coherent model is at least as good as both references (coverage as close to nominal, interval score as
low). Writes into --out: forecast.nc (every draw), cases.csv, pooled.csv, by_horizon.csv (tidy) and
summary.csv (the printed table).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.backtest.mortality import (
    BACKTEST_FIT,
    LEVELS,
    MODELS,
    WINDOW,
    MortalityBacktest,
    forecasts,
    models,
    mortality_backtest,
)
from stochpop.backtest.scores import pooled
from stochpop.components.settings import FitSettings
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.data.wpp import shared_world_folder
from stochpop.outputs.quantiles import tidy
from stochpop.run.spec import jump_off_years

ERROR_HORIZONS = (1, 5, 10)
REFERENCES = ("lee_carter", "rw_drift")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jump-offs", default="1950:2018:4", help="first:last:step, last included")
    parser.add_argument("--window", type=int, default=WINDOW, help="fit years before each jump-off")
    parser.add_argument("--horizon", type=int, default=20, help="years forecast (cut where data end)")
    parser.add_argument("--paths", type=int, default=1000, help="e0 draws per model and jump-off")
    parser.add_argument("--warmup", type=int, default=BACKTEST_FIT.warmup, help="NUTS warmup per chain")
    parser.add_argument("--samples", type=int, default=BACKTEST_FIT.samples, help="NUTS draws per chain")
    parser.add_argument("--chains", type=int, default=BACKTEST_FIT.chains)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ",".join(MODELS))
    parser.add_argument("--jump-off-mode", choices=("fitted", "observed"), help="coherent model's jump_off")
    parser.add_argument("--likelihood", choices=("negbin", "poisson"), help="coherent model's likelihood")
    parser.add_argument("--ratio", choices=("stationary", "walk"), help="coherent model's ratio indices")
    parser.add_argument("--drift", choices=("constant", "world"), help="coherent model's drift")
    parser.add_argument("--n-product", type=int, help="coherent model's random-walk components")
    parser.add_argument("--n-ratio", type=int, help="coherent model's AR(1) components")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="jump-offs at a time (0: in this process)")
    parser.add_argument("--out", default="out/mortality_backtest")
    return parser.parse_args()


def summary(result: MortalityBacktest) -> pd.DataFrame:
    """Rows (horizons, measure, sex), a column per model: coverage and interval score at 80% and 95%, CRPS."""
    table = result.pooled
    measures = {
        **{f"coverage {level:.0%}": table["coverage"].sel(level=level, drop=True) for level in (0.8, 0.95)},
        **{
            f"interval score {level:.0%}": table["interval_score"].sel(level=level, drop=True)
            for level in (0.8, 0.95)
        },
        "crps": table["crps"],
        "n": table["n"],
    }
    frame = xr.Dataset(measures).to_dataframe()[list(measures)]
    long = frame.rename_axis(columns="measure").stack().rename("value").reset_index()
    return long.pivot_table(index=["horizons", "measure", "sex"], columns="model", values="value", sort=False)


def median_errors(by_horizon: xr.Dataset) -> pd.DataFrame:
    """Mean error of the median (forecast - registered, years) at `ERROR_HORIZONS`: rows (horizon, sex)."""
    bias = by_horizon["bias"].sel(horizon=[h for h in ERROR_HORIZONS if h in by_horizon["horizon"]])
    return (
        bias.to_dataframe()
        .reset_index()
        .pivot_table(index=["horizon", "sex"], columns="model", values="bias")
    )


def verdict(table: pd.DataFrame) -> pd.DataFrame:
    """For each horizon range, level and sex: is the coherent model's coverage at least as close to nominal,
    and its interval score at least as low, as each reference's?"""
    rows = []
    for (horizons, measure, sex), values in table.iterrows():
        if not measure.startswith(("coverage", "interval score")) or "coherent" not in values:
            continue
        if measure.startswith("coverage"):
            nominal = float(measure.split()[-1].rstrip("%")) / 100
            values = abs(values - nominal)
        better = {ref: bool(values["coherent"] <= values[ref]) for ref in REFERENCES if ref in values}
        rows.append({"horizons": horizons, "measure": measure, "sex": sex, **better})
    return pd.DataFrame(rows)


def main() -> None:
    args = arguments()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    data = load_country(shared / "norway")
    coherent_options = {
        name: value
        for name, value in {
            "jump_off": args.jump_off_mode,
            "likelihood": args.likelihood,
            "n_product": args.n_product,
            "n_ratio": args.n_ratio,
            "ratio": args.ratio,
            "drift": args.drift,
            "drift_world": str(shared_world_folder()) if args.drift == "world" else None,
        }.items()
        if value is not None
    }
    settings = FitSettings(chains=args.chains, warmup=args.warmup, samples=args.samples)
    chosen = models(args.models.split(","), args.window, settings, **coherent_options)
    jump_offs = jump_off_years(args.jump_offs)
    print(
        f"Norway e0 back-test: models {list(chosen)}, jump-offs {jump_offs[0]}-{jump_offs[-1]} "
        f"({len(jump_offs)}), window {args.window}, horizon {args.horizon}, {args.paths} paths, "
        f"NUTS {args.chains} x ({args.warmup} + {args.samples}), coherent options {coherent_options}",
        flush=True,
    )
    start = time.perf_counter()
    forecast = forecasts(data, chosen, jump_offs, args.horizon, args.paths, args.seed, args.workers, print)
    result = mortality_backtest(forecast, data, LEVELS)
    print(f"forecasts and scores in {time.perf_counter() - start:.0f} s")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.forecast.rename("e0").to_netcdf(out / "forecast.nc")
    by_horizon = pooled(result.cases)
    table = summary(result)
    for name, frame in {
        "cases": tidy(result.cases),
        "pooled": tidy(result.pooled),
        "by_horizon": tidy(by_horizon),
        "summary": table.reset_index(),
    }.items():
        frame.to_csv(out / f"{name}.csv", index=False)

    pd.set_option("display.width", 200, "display.max_columns", 20, "display.max_rows", 200)
    print("\ncoverage (share), interval score and CRPS (years), pooled over jump-offs and horizons:")
    print(table.round(3).to_string())
    print("\nmean error of the median (forecast - registered, years), pooled over jump-offs:")
    print(median_errors(by_horizon).round(3).to_string())
    checks = verdict(table)
    if not checks.empty:
        print(
            "\ncoherent at least as good as the reference (coverage closer to nominal, interval score lower):"
        )
        print(checks.to_string(index=False))
        print(f"all: {bool(np.all(checks[[r for r in REFERENCES if r in checks]].to_numpy()))}")
    print(f"\ntables in {out}")


if __name__ == "__main__":
    main()
