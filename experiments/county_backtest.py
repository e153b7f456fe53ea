"""The county back-test (issue #15, check 4): refit and project Norway's 15 counties from each jump-off, score
the 1 January county totals (and 0-19, 65+) of horizons 1-6 against the registered ones, beside the
held-rates baseline (every regional part held at its last fitted year: intervals from the national paths
only). `stochpop.backtest.regional` does the work.

    python experiments/county_backtest.py [--out out/county_backtest] [--jumpoffs 2012:2018:2] [--paths 500]

Spec: models/norway_regions.toml (counties, regions.first_year 2006, internal "M") with the national
settings of models/norway_backtest.toml (fit: NUTS 2 x 500 + 500, tree depth 8, restarts; the 25-year
fit window), horizon 6, without the municipal breakdown.

Prints the run time and where it went, coverage of the 50/80/95% intervals pooled over counties (and all
horizons) per target beside the baseline, by horizon, the scores (mean interval score and CRPS relative to
the registered value, MAPE of the median, bias) and each county's coverage over every horizon and target.

Jump-offs. The regional data allow 2011-2018 (regional event years from 2006, stocks to 1 January 2024);
2010 fails in `county_internal_data` (its gross-flow data need the 2010 national moves by age). One jump-off
took 400-500 s on the shared 2-core machine (regional fits ~300 s of it), so all eight would take about
an hour: the default is every other year, 2012:2018:2 (26 min measured). Results in
`stochpop.backtest.regional`'s docstring.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

import stochpop
from stochpop.backtest.regional import (
    HELD,
    MODEL,
    county_scores,
    load_county_backtest,
    registered_county_targets,
    run_county_backtest,
    write_county_report,
)
from stochpop.backtest.run import jump_off_directory
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.regions.divisions import regional_population
from stochpop.run.regions import division, regional_folder

MODELS = Path(__file__).resolve().parents[1] / "models"
HORIZON = 6
"""Years scored after each jump-off (the issue's "horizons up to 6"; the data end 1 January 2024)."""


def county_spec(jump_offs: str, paths: int) -> stochpop.Spec:
    """norway_regions.toml's counties under norway_backtest.toml's national settings (module docstring)."""
    regions = stochpop.load_spec(MODELS / "norway_regions.toml")
    national = stochpop.load_spec(MODELS / "norway_backtest.toml")
    return replace(
        regions,
        fit=national.fit,
        regions=replace(regions.regions, municipalities=False),
        backtest=replace(national.backtest, jump_offs=jump_offs, horizon=HORIZON, paths=paths),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/county_backtest")
    parser.add_argument("--jumpoffs", default="2012:2018:2")
    parser.add_argument("--paths", type=int, default=500)
    args = parser.parse_args()
    if shared_data_dir() is None:
        raise SystemExit(MISSING_SHARED_DATA)
    spec = county_spec(args.jumpoffs, args.paths)
    data = stochpop.load_data(spec)
    d = division(spec)
    population = regional_population(d, regional_folder(spec))
    last_year = int(population["year"].max())
    out = Path(args.out)
    start = time.perf_counter()
    computed = run_county_backtest(spec, data, out, last_year)
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    jump_offs = spec.backtest.jump_off_years
    results = load_county_backtest(out, jump_offs)
    registered = registered_county_targets(population, jump_offs, spec.backtest.horizon)
    cases = county_scores(results, registered, spec.backtest.levels)
    tables = write_county_report(cases, {r: d.names[r] for r in d.regions}, out)
    report_s = time.perf_counter() - start

    spent: dict[str, float] = {}
    for t in jump_offs:
        for key, value in json.loads((jump_off_directory(out, t) / "timing.json").read_text()).items():
            spent[key] = spent.get(key, 0.0) + value
    pd.set_option("display.width", 220, "display.max_columns", 40, "display.max_rows", 300)
    print(f"jump-offs {jump_offs[0]}-{jump_offs[-1]} ({len(jump_offs)}), {spec.backtest.paths} paths each")
    print(f"computed now: {len(computed)} jump-offs in {run_s:.0f} s; scoring and report {report_s:.0f} s")
    print("seconds summed over the jump-offs (as recorded when each ran): " + json.dumps(spent))

    coverage = tables["coverage"]
    pooled = coverage[coverage["first_horizon"] != coverage["last_horizon"]]
    print("\ncoverage pooled over counties, jump-offs and horizons 1-6 (n cases, k inside, 90% band):")
    print(
        pooled[["method", "target", "level", "n", "k", "coverage", "band_low", "band_high"]]
        .sort_values(["target", "level", "method"])
        .round(3)
        .to_string(index=False)
    )
    single = coverage[(coverage["first_horizon"] == coverage["last_horizon"]) & (coverage["target"] == "all")]
    print("\ncoverage by horizon, all targets:")
    print(single.pivot_table(index="last_horizon", columns=["level", "method"], values="coverage").round(3))
    summary = tables["summary"]
    print(f"\nscores, {MODEL} beside {HELD} (relative to the registered value; ratios < 1: {MODEL} better):")
    columns = [
        "target",
        "first_horizon",
        "last_horizon",
        "n",
        "coverage_80",
        f"coverage_80_{HELD}",
        "coverage_95",
        f"coverage_95_{HELD}",
        "relative_interval_score_80",
        "relative_interval_score_80_ratio",
        "relative_crps",
        "relative_crps_ratio",
        "mape",
        f"mape_{HELD}",
        "bias",
        f"bias_{HELD}",
    ]
    print(summary[columns].round(4).to_string(index=False))
    by_county = tables["coverage_by_county"]
    over = by_county[
        (by_county["target"] == "all") & (by_county["first_horizon"] != by_county["last_horizon"])
    ]
    print("\nby county, every horizon and target:")
    print(over.pivot_table(index="region_name", columns=["level", "method"], values="coverage").round(3))


if __name__ == "__main__":
    main()
