"""Out-of-sample check of Norway's yearly net migration total (issue #13, item 3): the stationary AR(1)
total against the shifting level (`NetMigrationModel(level=...)`), refitted at each jump-off.

    python experiments/migration_backtest.py [--jump-offs 1990:2018:2] [--window 25] [--horizon 10]
        [--warmup 300] [--samples 300] [--paths 1000] [--models stationary,shifting]
        [--out out/migration_backtest]

Each jump-off T fits each of `--models` on the net migration of the `--window` years before T from the data
registered on 1 January T (`CountryData.known_at`; the shifting model's priors use WPP's record up to
T - 1), forecasts the total of years T..T+horizon-1 and scores it against the cohort-residual total
(`stochpop.backtest.scores.sample_scores`: coverage of the 80% and 95% intervals, interval score in
persons, CRPS). Prints pooled and by-horizon tables, each jump-off weighted equally; writes cases.nc and
the tables as CSV into --out.
"""

import argparse
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.backtest.scores import pooled, sample_scores
from stochpop.components.migration import NetMigrationModel
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.run.spec import jump_off_years

LEVELS = (0.8, 0.95)


def forecast_totals(
    data: CountryData, jump_off: int, level: str, window: int, horizon: int, fit: FitSettings, paths: int
) -> xr.DataArray:
    """Net migration totals (draw, horizon) persons forecast from `jump_off` by the `level` model."""
    known = data.known_at(jump_off)
    years = known.net_migration["year"].values
    model = NetMigrationModel(
        first_year=max(jump_off - window, int(years.min())), last_year=int(years.max()), level=level
    )
    idata = model.fit(known, fit)
    ahead = np.arange(jump_off, jump_off + horizon)
    total = model.forecast(idata, ahead, paths, jax.random.PRNGKey(jump_off))["total_net"]
    return total.rename(year="horizon").assign_coords(horizon=ahead - jump_off + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jump-offs", default="1990:2018:2")
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--models", default="stationary,shifting", help="levels, comma-separated")
    parser.add_argument("--out", default="out/migration_backtest")
    args = parser.parse_args()
    models = args.models.split(",")
    root = shared_data_dir()
    if root is None:
        raise SystemExit(MISSING_SHARED_DATA)
    data = load_country(root / "norway")
    fit = FitSettings(chains=2, warmup=args.warmup, samples=args.samples)
    registered_total = data.net_migration.sum(("sex", "age"))
    jump_offs = jump_off_years(args.jump_offs)
    steps = np.arange(1, args.horizon + 1)
    registered = xr.DataArray(
        [registered_total.reindex(year=t + steps - 1).values for t in jump_offs],
        dims=("jump_off", "horizon"),
        coords={"jump_off": list(jump_offs), "horizon": steps},
    )
    start = time.perf_counter()
    cases = {}
    for level in models:
        forecasts = []
        for t in jump_offs:
            began = time.perf_counter()
            forecasts.append(forecast_totals(data, t, level, args.window, args.horizon, fit, args.paths))
            print(f"{level} {t}: {time.perf_counter() - began:.0f} s", flush=True)
        forecast = xr.concat(forecasts, "jump_off").assign_coords(jump_off=list(jump_offs))
        cases[level] = sample_scores(
            xr.Dataset({"net_migration": forecast}), xr.Dataset({"net_migration": registered}), LEVELS
        ).sel(target="net_migration", drop=True)
    elapsed = time.perf_counter() - start
    by_model = xr.concat([cases[m] for m in models], "model").assign_coords(model=models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    by_model.to_netcdf(out / "cases.nc")
    by_horizon = pooled(by_model)
    overall = pooled(by_model.stack(case=("jump_off", "horizon")), over="case")
    table = overall[["coverage", "interval_score"]].to_dataframe().unstack("level")
    table["crps"] = overall["crps"].to_series()
    horizons = by_horizon[["coverage", "interval_score"]].to_dataframe().unstack(["model", "level"])
    table.to_csv(out / "pooled.csv")
    horizons.to_csv(out / "by_horizon.csv")
    with pd.option_context("display.width", 200, "display.precision", 2, "display.max_columns", 20):
        print(f"\nPooled over {len(jump_offs)} jump-offs x horizons 1-{args.horizon} (persons):\n{table}")
        print(f"\nBy horizon:\n{horizons}")
    print(f"\n{len(models) * len(jump_offs)} fits and forecasts in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
