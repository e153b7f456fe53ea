"""The county back-test (issue #15, check 4): from each jump-off T, refit the national components on the data
known on 1 January T (`run.jump_off_spec`: the `backtest.window` years before T) and the regional parts on
the event years regions.first_year .. T - 1 (`run.regions.fit_regions`), project `backtest.paths` paths
with their counties (`regions.projection.RegionalProjection`), and score the counties' 1 January stocks of
T + h, h = 1 .. H(T) = min(backtest.horizon, last registered year - T), against the registered ones
(`regions.divisions.regional_population`, 2024 borders).

Targets per county (`COUNTY_TARGETS`): total_population, age_0_19 and age_65_plus (the stored five-year
groups split at 20 and 65, so the registered single years give the same sums).

Methods scored on the same national paths (paths keyed by index, `RegionalModel.levels`):
* "stochpop": every regional part drawn per path (level factors, international shares, internal moves);
* "held" (`HELD`, SSB's deterministic BEFREG as a baseline): every regional part at its posterior mean of
  the last fitted year, the same in every path (`RegionalModel.held`); its intervals come from the
  national paths only.

Scores per case (target, jump_off, horizon, region; `scores.sample_scores`): coverage of the 50/80/95%
central intervals, interval score and CRPS in persons, and, since counties differ twenty-fold in size,
both relative to the registered value (`relative_interval_score`, `relative_crps`), the median's error and
absolute percentage error. Pooled over jump-offs and counties (`scores_table`): mean relative interval
score and CRPS, MAPE, bias (mean relative error); coverage k of n with Clopper-Pearson bands
(`report.coverage_table`), pooled and per county. The bands treat cases as independent; the counties of
one jump-off share its national path error and miss together, so the bands are much too narrow.

Layout of the output directory (as `run.run_backtest`'s; a jump-off with its integrity record is done, and
a rerun skips it):
    spec.json                              the spec as run
    jump_offs/<T>/posteriors/*.nc          national refits; posteriors/regions/*.nc the regional parts
    jump_offs/<T>/fits.json                fit seconds and diagnostics (regional under "regions"); a
                                           jump-off interrupted after it projects from its fits
    jump_offs/<T>/forecast.nc, held.nc     `COUNTY_TARGETS` (draw, horizon, region) of both methods
    jump_offs/<T>/timing.json              seconds fitting (national, regional; fits.json) and projecting
    tables/cases.csv                       every case (`report.case_table`)
    tables/coverage.csv                    coverage pooled over counties (`report.coverage_table`)
    tables/coverage_by_county.csv          the same per county
    tables/scores.csv                      `scores_table`; tables/summary.csv `summary_table`
    figures/coverage.png                   coverage by horizon and by county, stochpop beside held

Measured on Norway (experiments/county_backtest.py: jump-offs 2012-2018 every other year, 500 paths,
NUTS 2 x 500 + 500; 15 counties x 3 targets x 6 horizons x 4 jump-offs = 1 080 cases, horizons 1-6 =
1 January 2013-2024; with the counties' age profiles of leaving, 2 343 s with another fit beside it):
coverage of the 50/80/95% intervals pooled over every case 0.51 / 0.79 / 0.92, the held baseline's 0.40 /
0.65 / 0.85; county totals alone 0.48 / 0.83 / 0.97 (held 0.28 / 0.59 / 0.86), 0-19 0.48 / 0.81 / 0.94,
65+ 0.56 / 0.72 / 0.85. At 80% 0.71 at h = 1 (65+ 0.58), 0.79-0.81 at h = 2..6. Relative 80% interval
score 0.94 and CRPS 0.93 times the baseline's; MAPE of the median 0.91% (held 0.96%), 1.81% at h = 6.
Misses: Troms (80% coverage 0.47), Nordland, Vestfold, Oslo (0.63), Finnmark (0.65), and the national
over-projection of the 2012-2016 jump-offs (the county totals' median error +1.3% to +2.0% at h = 6).
Before the age profiles (one schedule for every county, the net of all ages): 0.38 / 0.63 / 0.80, held
0.22 / 0.44 / 0.68; totals 0.74 / 0.95, 0-19 0.59 / 0.76, 65+ 0.55 / 0.69; Oslo 0.13, Akershus 0.29
(Oslo's 0-19 3.4% too high a year after the 2016 jump-off). Fits: the national net-migration fit keeps
max R-hat 1.16-1.32 after its restart at every jump-off; the regional ones 1.01-1.03, internal migration
1.02, 1.02, 1.08, 1.10 (bulk ESS 110, 97, 30, 15). Each jump-off 513-703 s here (internal migration
301-483 s; before the profiles 220-260 s of 400-500 s).
"""

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.backtest.report import TITLES, case_table, coverage_table
from stochpop.backtest.run import (
    jump_off_damage,
    jump_off_directory,
    jump_off_spec,
    record_spec,
    run_in_fresh_processes,
)
from stochpop.backtest.scores import sample_scores
from stochpop.data.container import CountryData
from stochpop.outputs.charts import save
from stochpop.projection.sampled import PathProjection
from stochpop.regions.projection import AGE_GROUPS, RegionalProjection
from stochpop.results.integrity import IntegrityError, write_record
from stochpop.run.directory import RunDirectory, write_atomically
from stochpop.run.fitting import fit_and_save
from stochpop.run.inputs import build_components
from stochpop.run.regions import fit_regions, fitted_years, parts, regional_model
from stochpop.run.spec import Spec, SpecError

Log = Callable[[str], None]
COUNTY_TARGETS = ("total_population", "age_0_19", "age_65_plus")
YOUNG_BELOW, OLD_FROM = 20, 65
"""Age bounds of the groups: 0-19 and 65+."""
MODEL, HELD = "stochpop", "held"
RESULTS = {MODEL: "forecast", HELD: "held"}
"""Method -> its result file (<name>.nc) in a jump-off's directory."""


def county_horizon(horizon: int, jump_off: int, last_year: int) -> int:
    """Years scored from `jump_off`: min(horizon, last_year - jump_off), `last_year` the last registered
    1 January stock; ValueError if nothing after the jump-off is registered."""
    if last_year <= jump_off:
        raise ValueError(
            f"jump-off {jump_off}: no registered county stock after it (the last is {last_year})"
        )
    return min(horizon, last_year - jump_off)


def county_stocks(
    population: xr.DataArray, age_dim: str, first_ages: Sequence[int] | np.ndarray
) -> xr.Dataset:
    """`COUNTY_TARGETS` of persons (..., sex, `age_dim`) whose age bins start at `first_ages` (single years,
    or five-year groups: both split at 20 and 65); persons, float64, the other dims kept (NaN where all its
    cells are: a region-year the registered data lack)."""
    first = xr.DataArray(np.asarray(first_ages), dims=age_dim)
    persons = population.astype(np.float64)

    def total(where: xr.DataArray) -> xr.DataArray:
        return persons.where(where).sum(["sex", age_dim], min_count=1)

    everyone = xr.ones_like(first, dtype=bool)
    return xr.Dataset(
        {
            "total_population": total(everyone),
            "age_0_19": total(first < YOUNG_BELOW),
            "age_65_plus": total(first >= OLD_FROM),
        }
    )


def on_horizon(stocks: xr.Dataset, jump_off: int, horizon: int) -> xr.Dataset:
    """Stocks by 1 January `year` -> by `horizon` 1..horizon (the year jump_off + h), NaN where absent."""
    steps = np.arange(1, horizon + 1)
    placed = stocks.reindex(year=jump_off + steps).rename(year="horizon")
    return placed.assign_coords(horizon=steps)


def registered_county_targets(population: xr.DataArray, jump_offs: Sequence[int], horizon: int) -> xr.Dataset:
    """The registered `COUNTY_TARGETS` (jump_off, horizon, region) from persons (year, region, sex, age) on
    1 January; NaN beyond the registered years."""
    stocks = county_stocks(population, "age", population["age"].values)
    placed = [on_horizon(stocks, t, horizon) for t in jump_offs]
    return xr.concat(placed, dim="jump_off").assign_coords(jump_off=list(jump_offs))


def path_targets(regional: xr.Dataset, jump_off: int, horizon: int) -> xr.Dataset:
    """`COUNTY_TARGETS` (draw, horizon, region) of a `RegionalProjection` chunk's regional_population."""
    first_ages = [int(group.split("-")[0].rstrip("+")) for group in AGE_GROUPS]
    stocks = county_stocks(regional["regional_population"], "age_group", first_ages)
    return on_horizon(stocks, jump_off, horizon).transpose("draw", "horizon", "region")


def county_jump_off_spec(spec: Spec, data: CountryData, jump_off: int, horizon: int) -> Spec:
    """The spec of one county projection from `jump_off`: `run.jump_off_spec` (window, paths) projecting
    `horizon` years, counties only (no municipal breakdown: nothing of it is scored)."""
    run = jump_off_spec(spec, data, jump_off)
    return replace(
        run,
        projection=replace(run.projection, horizon=horizon),
        regions=replace(run.regions, municipalities=False),
    )


def fit_jump_off(run: Spec, known: CountryData, directory: Path, log: Log = print) -> None:
    """Fit the national components (restarting unmixed chains, `backtest.restart_rhat`) and the regional
    parts of `run` on `known` into `directory`; fits.json, written last, holds both reports."""
    folder = RunDirectory(directory)
    restart = run.backtest.restart_rhat or None
    national = fit_and_save(build_components(run, known), known, run.fit, folder, log, restart_rhat=restart)
    regional = fit_regions(run, known, folder.regional_files(parts(run)), run.fit, log)
    write_atomically(folder.fits_file, json.dumps({**national, "regions": regional}, indent=2))


def fit_seconds(run: Spec, directory: Path) -> dict[str, float] | None:
    """Seconds of the national fits (fit_s) and the regional ones (regional_fit_s) in `directory`, or None
    if it lacks any of `run`'s fits (fits.json with the regions is written after the last)."""
    folder = RunDirectory(directory)
    files = [*folder.posterior_files.values(), *folder.regional_files(parts(run)).values()]
    if not folder.fits_file.is_file() or not all(f.is_file() for f in files):
        return None
    fits = json.loads(folder.fits_file.read_text())
    regional = fits.pop("regions", {})
    if set(regional) != set(parts(run)):
        return None
    return {
        "fit_s": sum(fit["seconds"] for fit in fits.values()),
        "regional_fit_s": sum(fit["seconds"] for fit in regional.values()),
    }


def county_projection(run: Spec, known: CountryData, directory: Path) -> RegionalProjection:
    """The national paths of `run` and their counties, from the posteriors fitted into `directory`."""
    folder = RunDirectory(directory)
    p = run.projection
    national = PathProjection.create(
        known, build_components(run, known), folder.posterior_files, p.jump_off, p.horizon, run.paths.seed
    )
    return RegionalProjection(national, regional_model(run, folder.regional_files(parts(run))))


def held_projection(projection: RegionalProjection) -> RegionalProjection:
    """The same national paths with every regional part held (`RegionalModel.held`): the `HELD` baseline."""
    return replace(projection, model=replace(projection.model, held=True))


def backtest_county_jump_off(
    spec: Spec, data: CountryData, jump_off: int, last_year: int, directory: Path, log: Log = print
) -> dict[str, xr.Dataset]:
    """Refit, project and write one jump-off into `directory` (module docstring); returns each method's
    targets (draw, horizon, region). Only `data.known_at(jump_off)` and regional data before the jump-off
    are fitted on; `last_year` (the last registered county stock) limits the horizon. Fits already done
    in `directory` (`fit_seconds`; an interrupted jump-off's) are reused."""
    known = data.known_at(jump_off)
    horizon = county_horizon(spec.backtest.horizon, jump_off, last_year)
    run = county_jump_off_spec(spec, known, jump_off, horizon)
    if fit_seconds(run, directory) is None:
        fit_jump_off(run, known, directory, log)
    else:
        log(f"jump-off {jump_off}: its fits are done, projecting")
    clock = time.perf_counter()
    projection = county_projection(run, known, directory)
    results = {
        MODEL: path_targets(projection(0, run.paths.n), jump_off, horizon),
        HELD: path_targets(held_projection(projection)(0, run.paths.n), jump_off, horizon),
    }
    timing = {**(fit_seconds(run, directory) or {}), "project_s": time.perf_counter() - clock}
    write_jump_off(directory, results, timing, jump_off)
    return results


def write_jump_off(
    directory: Path, results: Mapping[str, xr.Dataset], timing: Mapping[str, float], jump_off: int
) -> None:
    """Write each method's results (`RESULTS` files), timing.json and, last, the integrity record that
    marks the jump-off done."""
    written = {}
    for method, result in results.items():
        name = f"{RESULTS[method]}.nc"
        staged = directory / f"{RESULTS[method]}.partial.nc"
        result.assign_attrs(jump_off=jump_off).to_netcdf(staged)
        staged.replace(directory / name)
        written[name] = (directory / name).read_bytes()
    write_atomically(directory / "timing.json", json.dumps({k: round(v, 1) for k, v in timing.items()}))
    write_record(directory, written, jump_off=jump_off)


def check_jump_offs(spec: Spec, last_year: int) -> None:
    """SpecError naming backtest.jump_offs if a jump-off has fewer than three regional event years before it
    (`run.regions.fitted_years`) or no registered county stock after it."""
    for t in spec.backtest.jump_off_years:
        fitted_years(replace(spec, projection=replace(spec.projection, jump_off=t)))
        if t >= last_year:
            raise SpecError(
                f"{spec.file}: backtest.jump_offs: {t} leaves no registered county stock to score "
                f"(the last is 1 January {last_year})"
            )


def pending_jump_offs(spec: Spec, out: Path, log: Log = print) -> list[int]:
    """The jump-offs of `spec.backtest` still to compute in `out`: not done, or damaged
    (`run.jump_off_damage`). Records the spec in out/spec.json, removing the results of another spec
    first (`run.record_spec`)."""
    record_spec(spec, out, log)
    todo = []
    for t in spec.backtest.jump_off_years:
        problem = jump_off_damage(jump_off_directory(out, t))
        if problem is not None:
            if problem != "not computed":
                log(f"jump-off {t}: (re)computing ({problem})")
            todo.append(t)
    return todo


def run_county_backtest(
    spec: Spec, data: CountryData, out: Path, last_year: int, log: Log = print
) -> list[int]:
    """Back-test every jump-off of `spec.backtest` into `out` (module docstring), each in a fresh process
    (as `run.run_backtest`), skipping those done with the same spec; returns the jump-offs computed now."""
    check_jump_offs(spec, last_year)
    todo = pending_jump_offs(spec, Path(out), log)
    run_in_fresh_processes(todo, out, partial(backtest_county_jump_off, spec, data, last_year=last_year), log)
    return todo


def load_county_backtest(out: Path, jump_offs: Sequence[int]) -> dict[str, xr.Dataset]:
    """Each method's targets (jump_off, draw, horizon, region) of a finished county back-test, NaN beyond a
    jump-off's horizon; IntegrityError naming any jump-off not done or damaged."""
    damage = {t: jump_off_damage(jump_off_directory(out, t)) for t in jump_offs}
    damaged = "; ".join(f"jump-off {t}: {problem}" for t, problem in damage.items() if problem is not None)
    if damaged:
        raise IntegrityError(f"{out}: {damaged} (rerun the county back-test to compute them)")
    return {
        method: xr.concat(
            [xr.load_dataset(jump_off_directory(out, t) / f"{name}.nc") for t in jump_offs],
            dim="jump_off",
            join="outer",
        ).assign_coords(jump_off=list(jump_offs))
        for method, name in RESULTS.items()
    }


def county_scores(
    results: Mapping[str, xr.Dataset], registered: xr.Dataset, levels: Sequence[float]
) -> dict[str, xr.Dataset]:
    """Each method's case scores (`scores.sample_scores`; dims target, jump_off, horizon, region[, level])
    with relative_interval_score, relative_crps and relative_error (divided by the registered value)."""
    cases = {}
    for method, paths in results.items():
        scored = sample_scores(paths, registered, levels)
        scored["relative_interval_score"] = scored["interval_score"] / scored["registered"]
        scored["relative_crps"] = scored["crps"] / scored["registered"]
        scored["relative_error"] = scored["error"] / scored["registered"]
        cases[method] = scored
    return cases


def _horizon_spans(horizons: np.ndarray) -> list[np.ndarray]:
    """Each horizon alone, then all of them together."""
    return [*(horizons[i : i + 1] for i in range(horizons.size)), horizons]


def scores_table(cases: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Per method, target (and "all" targets) and horizon (first_horizon = last_horizon; and every horizon
    pooled): n cases, coverage_<level>, relative_interval_score_<level>, relative_crps, mape and bias (mean
    relative error of the median), means over jump-offs, counties and the horizons of the span."""
    rows = []
    for method, scored in cases.items():
        for span in _horizon_spans(scored["horizon"].values):
            near = scored.sel(horizon=span)
            for target in [*near["target"].values, "all"]:
                cell = near if target == "all" else near.sel(target=[target])
                row = {
                    "method": method,
                    "target": target,
                    "first_horizon": int(span[0]),
                    "last_horizon": int(span[-1]),
                    "n": int(cell["registered"].notnull().sum()),
                    "relative_crps": float(cell["relative_crps"].mean()),
                    "mape": float(cell["ape"].mean()),
                    "bias": float(cell["relative_error"].mean()),
                }
                for level in cell["level"].values:
                    at = cell.sel(level=level)
                    row[f"coverage_{round(100 * level)}"] = float(at["covered"].mean())
                    row[f"relative_interval_score_{round(100 * level)}"] = float(
                        at["relative_interval_score"].mean()
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def summary_table(scores: pd.DataFrame, method: str = MODEL, baseline: str = HELD) -> pd.DataFrame:
    """`scores_table` rows of `method` beside `baseline`'s (columns suffixed _<baseline>), with the ratios of
    the relative interval scores and CRPS (below 1: `method` better)."""
    keys = ["target", "first_horizon", "last_horizon"]
    ours = scores[scores["method"] == method].drop(columns="method")
    theirs = scores[scores["method"] == baseline].drop(columns=["method", "n"])
    table = ours.merge(theirs, on=keys, suffixes=("", f"_{baseline}"))
    for column in [c for c in ours.columns if c.startswith("relative_")]:
        table[f"{column}_ratio"] = table[column] / table[f"{column}_{baseline}"]
    return table.reset_index(drop=True)


def county_coverage_table(cases: Mapping[str, xr.Dataset], names: Mapping[str, str]) -> pd.DataFrame:
    """`report.coverage_table` of each county (region, region_name first)."""
    horizon = int(next(iter(cases.values()))["horizon"].max())
    frames = []
    for region, name in names.items():
        by_county = {method: scored.sel(region=region, drop=True) for method, scored in cases.items()}
        frames.append(coverage_table(by_county, horizon).assign(region=region, region_name=name))
    table = pd.concat(frames, ignore_index=True)
    return table[["region", "region_name", *[c for c in table.columns if c not in ("region", "region_name")]]]


def _colour(method: str, rank: int) -> tuple[float, ...]:
    """The colour of a method's `rank`-th level (widest darkest): blues for stochpop, reds for held."""
    return (plt.cm.Blues if method == MODEL else plt.cm.Reds)(0.45 + 0.25 * rank)


def _coverage_figure(pooled: pd.DataFrame, by_county: pd.DataFrame, names: Mapping[str, str]) -> plt.Figure:
    """Top: coverage by horizon per target and for all targets, stochpop (its bands shaded) beside held;
    bottom: each county's coverage over every horizon and target."""
    targets = [t for t in (*COUNTY_TARGETS, "all") if t in set(pooled["target"])]
    fig = plt.figure(figsize=(16, 9), constrained_layout=True)
    grid = fig.add_gridspec(2, len(targets))
    single = pooled[pooled["first_horizon"] == pooled["last_horizon"]]
    levels = sorted(set(pooled["level"]))
    styles = {MODEL: ("o-", 0.15), HELD: ("s--", -0.15)}  # marker and line; offset in the county panel
    for column, target in enumerate(targets):
        ax = fig.add_subplot(grid[0, column])
        rows = single[single["target"] == target]
        for rank, level in enumerate(levels):
            ours = rows[(rows["method"] == MODEL) & (rows["level"] == level)]
            colour = _colour(MODEL, rank)
            horizon = ours["last_horizon"]
            ax.fill_between(horizon, ours["band_low"], ours["band_high"], color=colour, alpha=0.2, lw=0)
            for method, (style, _) in styles.items():
                drawn = rows[(rows["method"] == method) & (rows["level"] == level)]
                ax.plot(
                    drawn["last_horizon"],
                    drawn["coverage"],
                    style,
                    ms=3,
                    color=_colour(method, rank),
                    label=f"{method} {level:.0%}",
                )
            ax.axhline(level, color=colour, lw=0.8, ls=":")
        ax.set_title(TITLES.get(target, target), fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("horizon (years after the jump-off)")
        ax.grid(alpha=0.3, lw=0.5)
    fig.axes[0].legend(frameon=False, fontsize=7, loc="lower left", ncol=2)
    ax = fig.add_subplot(grid[1, :])
    over = by_county[
        (by_county["target"] == "all") & (by_county["first_horizon"] != by_county["last_horizon"])
    ]
    codes = list(names)
    x = np.arange(len(codes))
    for method, (style, offset) in styles.items():
        for rank, level in enumerate(levels):
            rows = (
                over[(over["method"] == method) & (over["level"] == level)].set_index("region").reindex(codes)
            )
            ax.plot(x + offset, rows["coverage"], style[0], ms=5, color=_colour(method, rank))
    for rank, level in enumerate(levels):
        ax.axhline(level, color=_colour(MODEL, rank), lw=0.8, ls=":")
    ax.set_xticks(x, [names[c].split("-")[0] for c in codes], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("By county, every horizon and target: stochpop (circles) beside held (squares)", fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    fig.supylabel("share of registered values inside the interval")
    fig.suptitle(
        "County coverage: stochpop (blues; shaded: 90% binomial band, far too narrow as counties and "
        "horizons miss together) beside the held-rates baseline (reds), nominal (dotted)"
    )
    return fig


def write_county_report(
    cases: Mapping[str, xr.Dataset], names: Mapping[str, str], out: Path, formats: Sequence[str] = ("png",)
) -> dict[str, pd.DataFrame]:
    """Write the tables and figure of the module docstring into out/tables, out/figures; returns the tables.
    `names`: region code -> name."""
    tables_dir, figures_dir = Path(out) / "tables", Path(out) / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    horizon = int(next(iter(cases.values()))["horizon"].max())
    scores = scores_table(cases)
    tables = {
        "cases": case_table(cases),
        "coverage": coverage_table(cases, horizon),
        "coverage_by_county": county_coverage_table(cases, names),
        "scores": scores,
        "summary": summary_table(scores),
    }
    for name, table in tables.items():
        table.to_csv(tables_dir / f"{name}.csv", index=False, float_format="%.10g")
    figure = _coverage_figure(tables["coverage"], tables["coverage_by_county"], names)
    save(figure, figures_dir / "coverage", formats)
    return tables
