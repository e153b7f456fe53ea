"""The calibration report of a back-test: tables (CSV) and figures written into the back-test directory.

tables/cases.csv        every scored case: method, target, jump_off, horizon, level, registered, median,
                        lower, upper, covered, interval_score, crps, error, ape, pit (and, for the
                        recalibrated intervals, the scale and n_past each jump-off used)
tables/pooled.csv       means over jump-offs by method, target, horizon and level (`scores.pooled`)
tables/summary.csv      horizons `SUMMARY_HORIZONS`, stochpop beside the SSB-like baseline: coverage of
                        each level, the 80% interval score and CRPS, and their ratios to the baseline's
tables/calibration.csv  coverage pooled over horizons 1..`CALIBRATION_HORIZON` per target (and all), with
                        the issue's target bands
tables/coverage.csv     per method, target (and all), horizon (and 1..`CALIBRATION_HORIZON`) and level:
                        cases n, inside k, coverage k/n and its binomial band (`coverage_table`)
figures/coverage.png    coverage against nominal by horizon with stochpop's binomial bands, per target and
                        for all targets, the recalibrated intervals' coverage, the baseline's band
figures/pit.png         PIT histograms per target (horizons 1..`CALIBRATION_HORIZON`)
figures/fan_<target>.png  each jump-off's 50/80/95% fan, the SSB-like lines and the registered path
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from stochpop.backtest.scores import pooled
from stochpop.backtest.targets import MID_YEAR, TARGETS
from stochpop.outputs.charts import BAND_COLOUR, HISTORY_COLOUR, fan_chart, save

SUMMARY_HORIZONS = (1, 5, 10, 20)
CALIBRATION_HORIZON = 10
BAND_CONFIDENCE = 0.9
"""The confidence of the binomial band around an observed coverage."""
TITLES = {
    "total_population": "Population 1 January",
    "age_0_19": "Population 0-19",
    "age_20_64": "Population 20-64",
    "age_65_plus": "Population 65+",
    "age_80_plus": "Population 80+",
    "births": "Births",
    "deaths": "Deaths",
    "net_migration": "Net migration",
    "tfr": "Total fertility rate",
    "e0_female": "e0, women",
    "e0_male": "e0, men",
    "total_population_mid_year": "Population 1 July",
    "all": "All targets",
}
BASELINE_COLOUR = "#c0392b"
RECALIBRATED = "stochpop-recalibrated"
"""The method name of stochpop's intervals after the leakage-free recalibration (`recalibration`)."""
RECALIBRATED_COLOUR = "#27ae60"


def case_table(cases: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """All methods' cases (`scores.*_scores`) as one tidy table, rows with a registered value only."""
    frames = []
    for method, scored in cases.items():
        frame = scored.to_dataframe().reset_index()
        frames.append(frame[frame["registered"].notna()].assign(method=method))
    table = pd.concat(frames, ignore_index=True)
    first = ["method", "target", "jump_off", "horizon", "level"]
    return table[[*first, *[c for c in table.columns if c not in first]]]


def pooled_table(cases: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """`scores.pooled` of every method, tidy, dropping horizons with nothing registered."""
    frames = [
        pooled(scored).to_dataframe().reset_index().assign(method=method) for method, scored in cases.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    table = table[table["n"] > 0]
    first = ["method", "target", "horizon", "level", "n"]
    return table[[*first, *[c for c in table.columns if c not in first]]]


def summary_table(
    pooled_rows: pd.DataFrame, method: str = "stochpop", baseline: str = "ssb-like"
) -> pd.DataFrame:
    """Stochpop beside the baseline at `SUMMARY_HORIZONS`: coverage by level, the 80% interval score and
    CRPS of both, and stochpop's as a ratio of the baseline's (below 1: stochpop better)."""
    rows = pooled_rows[pooled_rows["horizon"].isin(SUMMARY_HORIZONS)]
    ours = rows[rows["method"] == method]
    coverage = ours.pivot_table(index=["target", "horizon"], columns="level", values="coverage")
    coverage.columns = [f"coverage_{round(100 * lv)}" for lv in coverage.columns]
    at80 = rows[np.isclose(rows["level"], 0.8)].pivot_table(
        index=["target", "horizon"], columns="method", values=["interval_score", "crps", "coverage", "n"]
    )
    table = coverage.join(
        pd.DataFrame(
            {
                "n": at80[("n", method)],
                f"{baseline}_coverage_80": at80[("coverage", baseline)],
                "interval_score_80": at80[("interval_score", method)],
                f"{baseline}_interval_score_80": at80[("interval_score", baseline)],
                "interval_score_ratio": at80[("interval_score", method)] / at80[("interval_score", baseline)],
                "crps": at80[("crps", method)],
                f"{baseline}_crps": at80[("crps", baseline)],
                "crps_ratio": at80[("crps", method)] / at80[("crps", baseline)],
            }
        )
    )
    order = {t: i for i, t in enumerate(TARGETS)}
    table = table.reset_index().sort_values(["target", "horizon"], key=lambda c: c.map(order).fillna(c))
    return table.reset_index(drop=True)


def calibration_table(cases: xr.Dataset, max_horizon: int = CALIBRATION_HORIZON) -> pd.DataFrame:
    """Coverage of each level over all cases with horizon <= `max_horizon`, per target and for all
    targets together, beside the goal bands (80%: 75-85%, 95%: 92-98%)."""
    near = cases.sel(horizon=cases["horizon"] <= max_horizon)
    covered = near["covered"]
    per_target = covered.mean(("jump_off", "horizon")).to_dataframe("coverage").reset_index()
    counts = near["registered"].notnull().sum(("jump_off", "horizon")).to_dataframe("n").reset_index()
    per_target = per_target.merge(counts, on="target")
    together = covered.mean(("target", "jump_off", "horizon")).to_dataframe("coverage").reset_index()
    together = together.assign(target="all", n=int(near["registered"].notnull().sum()))
    table = pd.concat([per_target, together], ignore_index=True)
    level = table["level"].round(3)
    table["goal_low"] = level.map({0.8: 0.75, 0.95: 0.92})
    table["goal_high"] = level.map({0.8: 0.85, 0.95: 0.98})
    table["within_goal"] = (table["coverage"] >= table["goal_low"]) & (
        table["coverage"] <= table["goal_high"]
    )
    return table.assign(horizons=f"1-{max_horizon}")


def coverage_band(
    k: np.ndarray | pd.Series, n: np.ndarray | pd.Series, confidence: float = BAND_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """The Clopper-Pearson (exact) two-sided `confidence` interval for a binomial proportion, k of n inside
    (arrays of one shape, n >= 1): the lower and upper bounds, shares in [0, 1]."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    tail = (1 - confidence) / 2
    low = np.where(k > 0, stats.beta.ppf(tail, k, n - k + 1), 0.0)  # beta(0, .) is NaN: bound 0
    high = np.where(k < n, stats.beta.ppf(1 - tail, k + 1, n - k), 1.0)
    return low, high


def _counts(covered: xr.DataArray, keep: Sequence[str]) -> pd.DataFrame:
    """n (cases with a registered value) and k (of them inside the interval) summed over every dim of
    `covered` (0/1/NaN) but `keep`, tidy."""
    over = [d for d in covered.dims if d not in keep]
    n = covered.notnull().sum(over)
    return xr.Dataset({"n": n, "k": covered.sum(over).astype(int)}).to_dataframe().reset_index()


def _coverage_counts(covered: xr.DataArray, max_horizon: int) -> pd.DataFrame:
    """`_counts` per target and horizon, over targets ("all") per horizon, and both over horizons
    1..`max_horizon`; horizons as first_horizon..last_horizon."""
    near = covered.sel(horizon=covered["horizon"] <= max_horizon)
    last = int(near["horizon"].max())
    by_horizon = [
        _counts(covered, ("target", "horizon", "level")),
        _counts(covered, ("horizon", "level")).assign(target="all"),
    ]
    over_horizons = [_counts(near, ("target", "level")), _counts(near, ("level",)).assign(target="all")]
    frames = [f.assign(first_horizon=f["horizon"], last_horizon=f["horizon"]) for f in by_horizon]
    frames += [f.assign(first_horizon=1, last_horizon=last) for f in over_horizons]
    order = {t: i for i, t in enumerate((*TARGETS, MID_YEAR, "all"))}
    table = pd.concat(frames, ignore_index=True).drop(columns="horizon")
    return table.sort_values("target", key=lambda c: c.map(order), kind="stable")


def coverage_table(
    cases: Mapping[str, xr.Dataset],
    max_horizon: int = CALIBRATION_HORIZON,
    confidence: float = BAND_CONFIDENCE,
) -> pd.DataFrame:
    """Coverage with a binomial band, for every method of `cases` (`scores.*_scores`), target (and "all"
    targets), horizon (first_horizon = last_horizon; and horizons 1..`max_horizon` pooled) and level.

    n: cases with a registered value; k: of them inside the interval; coverage = k / n; band_low,
    band_high: the Clopper-Pearson `confidence` interval for the true coverage (`coverage_band`);
    against_nominal: "consistent" if the level lies inside the band, else "low" or "high". n and k are
    plain counts, each case counted once: per horizon, where every jump-off has one case, the same as
    `pooled` weighting jump-offs equally; over horizons, a jump-off counts by its registered horizons.

    The band treats the cases as independent. They are not: one jump-off's cases at neighbouring horizons,
    jump-offs whose windows overlap and targets of one projection miss together, so the band is too narrow
    (a lower bound on the uncertainty). A first screen, not a test. Rows with n = 0 are left out."""
    frames = [
        _coverage_counts(scored["covered"], max_horizon).assign(method=method)
        for method, scored in cases.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    table = table[table["n"] > 0].reset_index(drop=True)
    table["coverage"] = table["k"] / table["n"]
    table["band_low"], table["band_high"] = coverage_band(table["k"], table["n"], confidence)
    table["against_nominal"] = np.select(
        [table["band_high"] < table["level"], table["band_low"] > table["level"]],
        ["low", "high"],
        "consistent",
    )
    first = ["method", "target", "first_horizon", "last_horizon", "level", "n", "k"]
    return table[[*first, *[c for c in table.columns if c not in first]]]


def _coverage_figure(coverage_rows: pd.DataFrame, targets: Sequence[str]) -> plt.Figure:
    """Per horizon, per target and for all targets: stochpop's coverage of each level with its band, the
    nominal level, the baseline's coverage (`coverage_table` rows)."""
    fig, axes = plt.subplots(3, 4, figsize=(16, 10), constrained_layout=True, sharey=True)
    by_horizon = coverage_rows[coverage_rows["first_horizon"] == coverage_rows["last_horizon"]]
    for ax, target in zip(axes.ravel(), [*targets, "all"], strict=False):
        rows = by_horizon[by_horizon["target"] == target]
        for i, (level, group) in enumerate(rows[rows["method"] == "stochpop"].groupby("level")):
            colour = plt.cm.Blues(0.45 + 0.25 * i)
            horizon = group["last_horizon"]
            ax.fill_between(horizon, group["band_low"], group["band_high"], color=colour, alpha=0.2, lw=0)
            ax.plot(horizon, group["coverage"], "o-", ms=3, color=colour, label=f"stochpop {level:.0%}")
            ax.axhline(level, color=colour, lw=0.8, ls=":")
        for level, group in rows[rows["method"] == RECALIBRATED].groupby("level"):
            ax.plot(
                group["last_horizon"],
                group["coverage"],
                "^:",
                ms=3,
                lw=0.8,
                color=RECALIBRATED_COLOUR,
                label=f"recalibrated {level:.0%}",
            )
        baseline = rows[rows["method"] == "ssb-like"]
        ax.plot(
            baseline["last_horizon"],
            baseline["coverage"],
            "s--",
            ms=3,
            color=BASELINE_COLOUR,
            label="SSB-like H-L",
        )
        ax.set_title(TITLES.get(target, target), fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes.ravel()[len(targets) + 1 :]:
        ax.axis("off")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="lower left")
    fig.supxlabel("horizon (years after the jump-off)")
    fig.supylabel("share of registered values inside the interval")
    fig.suptitle(
        f"Coverage: stochpop (blue; shaded: its {BAND_CONFIDENCE:.0%} binomial band, too narrow as cases are "
        "correlated), recalibrated (green), SSB-like H-L band (red), nominal (dotted)"
    )
    return fig


def _pit_figure(cases: xr.Dataset, targets: Sequence[str], max_horizon: int) -> plt.Figure:
    fig, axes = plt.subplots(3, 4, figsize=(16, 10), constrained_layout=True)
    near = cases["pit"].sel(horizon=cases["horizon"] <= max_horizon)
    for ax, target in zip(axes.ravel(), targets, strict=False):
        values = near.sel(target=target).values.ravel()
        values = values[np.isfinite(values)]
        ax.hist(values, bins=10, range=(0, 1), density=True, color=BAND_COLOUR, alpha=0.7)
        ax.axhline(1.0, color=HISTORY_COLOUR, lw=0.8, ls=":")
        ax.set_title(f"{TITLES.get(target, target)} (n = {values.size})", fontsize=10)
    for ax in axes.ravel()[len(targets) :]:
        ax.axis("off")
    fig.supxlabel(f"PIT: share of paths below the registered value (horizons 1-{max_horizon})")
    return fig


def _fan_figure(
    forecast: xr.DataArray, lines: xr.DataArray, registered: xr.DataArray, title: str
) -> plt.Figure:
    """One panel per jump-off, on calendar years of the horizon's target."""
    jump_offs = forecast["jump_off"].values
    columns = 5
    rows = -(-jump_offs.size // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(16, 2.6 * rows), constrained_layout=True, squeeze=False)
    for ax, jump_off in zip(axes.ravel(), jump_offs, strict=False):
        paths = forecast.sel(jump_off=jump_off, drop=True)
        fan_chart(ax, paths, time_dim="horizon")
        ax.plot(lines["horizon"], lines.sel(jump_off=jump_off, line="M"), color=BASELINE_COLOUR, lw=1)
        for line in ("L", "H"):
            ax.plot(
                lines["horizon"],
                lines.sel(jump_off=jump_off, line=line),
                color=BASELINE_COLOUR,
                lw=0.8,
                ls="--",
            )
        seen = registered.sel(jump_off=jump_off)
        ax.plot(seen["horizon"], seen, color=HISTORY_COLOUR, lw=1.4, marker=".", ms=3)
        ax.set_title(f"jump-off 1 January {jump_off}", fontsize=9)
    for ax in axes.ravel()[jump_offs.size :]:
        ax.axis("off")
    fig.suptitle(
        f"{title}: stochpop 50/80/95% and median (blue), SSB-like M and H/L (red), registered (black)"
    )
    fig.supxlabel("horizon (years after the jump-off)")
    return fig


def write_report(
    cases: Mapping[str, xr.Dataset],
    forecast: xr.Dataset,
    baseline: xr.Dataset,
    registered: xr.Dataset,
    out: Path,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Write the tables and figures of the module docstring into out/tables and out/figures. `cases` maps
    method names to case scores and must hold "stochpop" (samples) and "ssb-like" (lines)."""
    tables_dir, figures_dir = Path(out) / "tables", Path(out) / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    pooled_rows = pooled_table(cases)
    tables = {
        "cases": case_table(cases),
        "pooled": pooled_rows,
        "summary": summary_table(pooled_rows),
        "calibration": calibration_table(cases["stochpop"]),
        "coverage": coverage_table(cases),
    }
    written = []
    for name, table in tables.items():
        path = tables_dir / f"{name}.csv"
        table.to_csv(path, index=False, float_format="%.10g")
        written.append(path)
    targets = [t for t in TARGETS if t in forecast]
    written += save(_coverage_figure(tables["coverage"], targets), figures_dir / "coverage", formats)
    written += save(
        _pit_figure(cases["stochpop"], targets, CALIBRATION_HORIZON), figures_dir / "pit", formats
    )
    for target in targets:
        figure = _fan_figure(forecast[target], baseline[target], registered[target], TITLES[target])
        written += save(figure, figures_dir / f"fan_{target}", formats)
    return written
