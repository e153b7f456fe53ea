"""The county back-test's machinery without fits: scores of synthetic forecasts with known coverage (draws
from the truth's own distribution cover at the nominal rates, a too-narrow forecast under-covers; scores
by hand), the stored age groups' targets against single-year sums, the horizon limited by the registered
data, and resumability (a done jump-off is skipped, a damaged one or another spec's recomputed)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from stochpop.backtest.regional import (
    COUNTY_TARGETS,
    HELD,
    MODEL,
    RESULTS,
    check_jump_offs,
    county_horizon,
    county_scores,
    load_county_backtest,
    path_targets,
    pending_jump_offs,
    registered_county_targets,
    run_county_backtest,
    scores_table,
    summary_table,
    write_county_report,
    write_jump_off,
)
from stochpop.backtest.report import coverage_table
from stochpop.backtest.run import jump_off_directory
from stochpop.data.demo import demo_country
from stochpop.regions.projection import AGE_GROUPS, by_age_group
from stochpop.run.spec import BacktestSpec, RegionsSpec, Spec, SpecError

REGIONS = [f"{i:02d}" for i in range(1, 13)]
LEVELS = (0.5, 0.8, 0.95)


def _synthetic(seed: int, jump_offs: list[int], horizon: int, draws: int, narrow: float):
    """Truths y ~ Normal(mu, sd) per (jump_off, horizon, region) and target; forecasts: `draws` paths from
    that same normal (MODEL) and from one `narrow` times as wide (HELD)."""
    rng = np.random.default_rng(seed)
    shape = (len(jump_offs), horizon, len(REGIONS))
    dims = ("jump_off", "horizon", "region")
    coords = {"jump_off": jump_offs, "horizon": np.arange(1, horizon + 1), "region": REGIONS}
    truths, model, held = {}, {}, {}
    for target in COUNTY_TARGETS:
        mu = rng.uniform(5e4, 7e5, shape)
        sd = 0.02 * mu * np.arange(1, horizon + 1)[:, None]
        truths[target] = (dims, mu + sd * rng.standard_normal(shape))
        noise = rng.standard_normal((draws, *shape))
        model[target] = (("draw", *dims), mu + sd * noise)
        held[target] = (("draw", *dims), mu + narrow * sd * noise)
    registered = xr.Dataset(truths, coords=coords)
    paths = {MODEL: xr.Dataset(model, coords=coords), HELD: xr.Dataset(held, coords=coords)}
    return registered, paths


@pytest.fixture(scope="module")
def synthetic():
    registered, paths = _synthetic(1, [2012, 2014, 2016, 2018], 6, 1000, narrow=1 / 3)
    return registered, paths, county_scores(paths, registered, LEVELS)


def test_forecasts_from_the_truths_distribution_cover_at_nominal_rates(synthetic):
    _, _, cases = synthetic
    table = coverage_table(cases, max_horizon=6)
    pooled = table[(table["target"] == "all") & (table["first_horizon"] != table["last_horizon"])]
    n = 4 * 6 * len(REGIONS) * len(COUNTY_TARGETS)
    for level in LEVELS:
        ours = pooled[(pooled["method"] == MODEL) & (pooled["level"] == level)].iloc[0]
        assert ours["n"] == n
        assert abs(ours["coverage"] - level) < 3 * np.sqrt(level * (1 - level) / n)
        # a third as wide: the central interval covers P(|Z| < z / 3)
        narrow = pooled[(pooled["method"] == HELD) & (pooled["level"] == level)].iloc[0]
        expected = 2 * stats.norm.cdf(stats.norm.ppf((1 + level) / 2) / 3) - 1
        assert abs(narrow["coverage"] - expected) < 3 * np.sqrt(expected * (1 - expected) / n)
        assert narrow["against_nominal"] == "low"
    pit = cases[MODEL]["pit"].values.ravel()
    assert np.all(np.abs(np.histogram(pit, bins=5, range=(0, 1))[0] / pit.size - 0.2) < 0.03)


def test_case_scores_by_hand(synthetic):
    registered, paths, cases = synthetic
    at = {"target": "age_65_plus", "jump_off": 2016, "horizon": 4, "region": "07"}
    where = {k: v for k, v in at.items() if k != "target"}
    y = float(registered["age_65_plus"].sel(where))
    sample = paths[MODEL]["age_65_plus"].sel(where).values
    lower, upper = np.quantile(sample, [0.1, 0.9])
    interval = (upper - lower) + 2 / 0.2 * (max(lower - y, 0) + max(y - upper, 0))
    m = sample.size
    crps = np.abs(sample - y).mean() - np.abs(sample[:, None] - sample[None, :]).sum() / (2 * m * (m - 1))
    case = cases[MODEL].sel(at)
    assert float(case["relative_interval_score"].sel(level=0.8)) == pytest.approx(interval / y, rel=1e-6)
    assert float(case["relative_crps"]) == pytest.approx(crps / y, rel=1e-6)
    assert float(case["ape"]) == pytest.approx(abs(np.median(sample) - y) / y)
    assert float(case["covered"].sel(level=0.8)) == float(lower <= y <= upper)


def test_scores_table_means_and_summary_ratios(synthetic):
    _, _, cases = synthetic
    scores = scores_table(cases)
    row = scores.query(
        "method == @MODEL and target == 'age_0_19' and first_horizon == 2 and last_horizon == 2"
    )
    cell = cases[MODEL].sel(target="age_0_19", horizon=2)
    assert row["n"].item() == 4 * len(REGIONS)
    assert row["coverage_95"].item() == pytest.approx(float(cell["covered"].sel(level=0.95).mean()))
    assert row["mape"].item() == pytest.approx(float(cell["ape"].mean()))
    every = scores.query("method == @HELD and target == 'all' and first_horizon == 1 and last_horizon == 6")
    assert every["n"].item() == 4 * 6 * len(REGIONS) * len(COUNTY_TARGETS)
    assert every["relative_crps"].item() == pytest.approx(float(cases[HELD]["relative_crps"].mean()))
    summary = summary_table(scores)
    at = summary.query("target == 'all' and first_horizon == 1 and last_horizon == 6").iloc[0]
    assert at["relative_interval_score_80_ratio"] == pytest.approx(
        at["relative_interval_score_80"] / every["relative_interval_score_80"].item()
    )
    # the calibrated forecast scores better than the overconfident one
    assert at["relative_interval_score_95_ratio"] < 1 and at["relative_crps_ratio"] < 1


def test_report_writes_tables_per_county(synthetic, tmp_path):
    _, _, cases = synthetic
    names = {r: f"county {r}" for r in REGIONS}
    tables = write_county_report(cases, names, tmp_path)
    by_county = tables["coverage_by_county"]
    row = by_county.query(
        "method == @MODEL and region == '03' and target == 'total_population' and level == 0.5 "
        "and first_horizon == 1 and last_horizon == 6"
    ).iloc[0]
    covered = cases[MODEL]["covered"].sel(region="03", target="total_population", level=0.5)
    assert (row["n"], row["k"]) == (24, int(covered.sum()))
    assert row["region_name"] == "county 03"
    assert (tmp_path / "figures" / "coverage.png").is_file()
    for name in ("cases", "coverage", "coverage_by_county", "scores", "summary"):
        assert (tmp_path / "tables" / f"{name}.csv").is_file()


def test_age_groups_of_the_paths_match_single_year_sums():
    rng = np.random.default_rng(3)
    single = rng.uniform(0, 500, (4, 5, 3, 2, 120))  # (year, draw, region, sex, age)
    regional = xr.Dataset(
        {"regional_population": (("year", "draw", "region", "sex", "age_group"), by_age_group(single))},
        coords={"year": np.arange(2015, 2019), "region": REGIONS[:3], "age_group": list(AGE_GROUPS)},
    )
    targets = path_targets(regional, 2015, 6)
    assert dict(targets.sizes) == {"draw": 5, "horizon": 6, "region": 3}
    by_hand = {
        "total_population": single.sum((-2, -1)),
        "age_0_19": single[..., :20].sum((-2, -1)),
        "age_65_plus": single[..., 65:].sum((-2, -1)),
    }
    for target, values in by_hand.items():
        expected = np.swapaxes(values[1:], 0, 1)  # years 2016-2018 are horizons 1-3
        np.testing.assert_allclose(targets[target].sel(horizon=[1, 2, 3]).values, expected, rtol=1e-12)
        assert targets[target].sel(horizon=[4, 5, 6]).isnull().all()


def test_horizon_limited_by_the_registered_data():
    assert county_horizon(6, 2010, 2024) == 6
    assert county_horizon(6, 2020, 2024) == 4
    with pytest.raises(ValueError, match="jump-off 2024: no registered county stock after it"):
        county_horizon(6, 2024, 2024)
    ages = np.arange(106)
    population = xr.DataArray(
        np.arange(2 * 3 * 2 * 106, dtype=float).reshape(2, 3, 2, 106),
        dims=("year", "region", "sex", "age"),
        coords={"year": [2023, 2024], "region": REGIONS[:3], "age": ages},
    )
    population = population.where((population["year"] != 2024) | (population["region"] != "03"))
    registered = registered_county_targets(population, [2022, 2023], 3)
    assert registered["age_0_19"].sel(jump_off=2023, horizon=1, region="03").isnull()  # a missing region-year
    at = registered["age_65_plus"].sel(jump_off=2022, region="02")
    assert float(at.sel(horizon=2)) == float(
        population.sel(year=2024, region="02", age=slice(65, None)).sum()
    )
    assert at.sel(horizon=3).isnull()
    assert registered["total_population"].sel(jump_off=2023, horizon=2).isnull().all()
    spec = Spec(regions=RegionsSpec(division="county", first_year=2006))
    check_jump_offs(replace(spec, backtest=BacktestSpec(jump_offs="2009:2023")), 2024)
    with pytest.raises(SpecError, match=r"backtest\.jump_offs: 2024 leaves no registered county stock"):
        check_jump_offs(replace(spec, backtest=BacktestSpec(jump_offs="2020:2024:4")), 2024)
    with pytest.raises(SpecError, match=r"regions\.first_year: 2006 leaves fewer than three event years"):
        check_jump_offs(replace(spec, backtest=BacktestSpec(jump_offs="2008:2012")), 2024)


def _write_done(out, jump_off: int, horizon: int) -> dict[str, xr.Dataset]:
    results = {
        method: xr.Dataset(
            {
                t: (("draw", "horizon", "region"), np.full((3, horizon, 2), float(jump_off)))
                for t in COUNTY_TARGETS
            },
            coords={"horizon": np.arange(1, horizon + 1), "region": REGIONS[:2]},
        )
        for method in RESULTS
    }
    directory = jump_off_directory(out, jump_off)
    directory.mkdir(parents=True)
    write_jump_off(directory, results, {"fit_s": 1.0}, jump_off)
    return results


def test_done_jump_offs_are_skipped_damaged_and_other_specs_recomputed(tmp_path):
    out = tmp_path / "out"
    spec = Spec(
        regions=RegionsSpec(division="county"), backtest=BacktestSpec(jump_offs="2016:2020:2", horizon=6)
    )
    assert pending_jump_offs(spec, out) == [2016, 2018, 2020]
    _write_done(out, 2018, 6)
    _write_done(out, 2020, 4)
    assert pending_jump_offs(spec, out) == [2016]
    _write_done(out, 2016, 6)
    logged: list[str] = []
    assert run_county_backtest(spec, demo_country(), out, 2024, logged.append) == []  # nothing refitted
    loaded = load_county_backtest(out, [2016, 2018, 2020])
    assert loaded[HELD]["age_0_19"].sizes == {"jump_off": 3, "draw": 3, "horizon": 6, "region": 2}
    assert loaded[MODEL]["total_population"].sel(jump_off=2020, horizon=[5, 6]).isnull().all()
    assert float(loaded[MODEL]["total_population"].sel(jump_off=2018, horizon=6).max()) == 2018.0
    damaged = jump_off_directory(out, 2018) / "held.nc"
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert pending_jump_offs(spec, out, logged.append) == [2018]
    assert "jump-off 2018: (re)computing (held.nc 100 bytes" in logged[-1]
    other = replace(spec, backtest=replace(spec.backtest, paths=spec.backtest.paths + 1))
    assert pending_jump_offs(other, out, logged.append) == [2016, 2018, 2020]
    assert "computed with a different spec" in logged[-1]
    assert json.loads((out / "spec.json").read_text())["backtest"]["paths"] == other.backtest.paths
