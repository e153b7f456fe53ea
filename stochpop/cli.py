"""The `stochpop` command."""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.deterministic import held_rates, project_deterministic
from stochpop.indicators import indicators
from stochpop.spec import SpecError, load_data, load_spec


def tables_by_dim(dataset: xr.Dataset) -> dict[str, pd.DataFrame]:
    """One tidy table per time dim: stocks by `year`, events by `event_year`."""
    return {
        dim: dataset[[name for name, var in dataset.data_vars.items() if dim in var.dims]].to_dataframe()
        for dim in ("year", "event_year")
    }


def write_outputs(result: xr.Dataset, out: Path) -> list[Path]:
    """Write the projection (netCDF) and indicator tables (CSV) into `out`, all or nothing."""
    out.mkdir(parents=True, exist_ok=True)
    summary = tables_by_dim(indicators(result))
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as staging:
        staging = Path(staging)
        result.to_netcdf(staging / "projection.nc")
        summary["year"].to_csv(staging / "population.csv")
        summary["event_year"].to_csv(staging / "events.csv")
        written = []
        for file in sorted(staging.iterdir()):
            os.replace(file, out / file.name)
            written.append(out / file.name)
    return written


def run(args: argparse.Namespace) -> None:
    spec = load_spec(args.spec)
    data = load_data(spec, args.data)
    p = spec.projection
    rates = held_rates(data, p.jump_off, p.horizon, migration=p.migration, mean_of=p.mean_of_years)
    result = project_deterministic(data, p.jump_off, p.horizon, rates=rates)
    for path in write_outputs(result, Path(args.out)):
        print(f"wrote {path}")
    totals = result["population"].sum(("sex", "age"))
    first, last = totals.isel(year=0), totals.isel(year=-1)
    span = f"{int(first.year)} {float(first):,.0f} -> {int(last.year)} {float(last):,.0f}"
    print(f"{data.name}: population on 1 January {span}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stochpop", description="Stochastic cohort-component projection.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="project a specification and write results")
    run_parser.add_argument("spec", help="a projection specification (TOML), e.g. models/demo.toml")
    run_parser.add_argument("--out", required=True, help="output directory")
    run_parser.add_argument("--data", help="data directory overriding data.path in the spec")
    run_parser.set_defaults(handler=run)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (SpecError, DataError, ValueError) as error:
        print(f"stochpop: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
