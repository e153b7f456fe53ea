"""Back-testing: data known at the jump-off (no leakage), targets on the horizon axis, scores against hand
computations, the SSB-like baseline, external quantile files, and a small demo back-test through the CLI
(resumable; coverage on truths simulated from the model itself)."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.backtest.baseline import ssb_like_letters, ssb_like_lines
from stochpop.backtest.evaluate import External, external_scores
from stochpop.backtest.external import on_horizon_quantiles, read_quantile_table, read_wpp_quantiles
from stochpop.backtest.recalibration import MIN_CASES
from stochpop.backtest.report import RECALIBRATED
from stochpop.backtest.run import backtest_jump_off, jump_off_directory, jump_off_spec, load_backtest
from stochpop.backtest.scores import line_scores, pooled, sample_scores
from stochpop.backtest.targets import MID_YEAR, STOCKS, TARGETS, on_horizon, registered_targets
from stochpop.cli import main
from stochpop.data.demo import demo_country
from stochpop.data.errors import DataError
from stochpop.data.wpp import read_wpp
from stochpop.demography.indicators import observed_indicators
from stochpop.projection.conversion import kernel_fertility, woman_years_per_woman
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.projection.sampled import PathProjection
from stochpop.results.integrity import IntegrityError
from stochpop.run.directory import RunDirectory
from stochpop.run.inputs import build_components
from stochpop.run.spec import SpecError, load_spec, parse_spec

EVENT_FIELDS = ("deaths", "births", "asfr", "immigration", "emigration")


@pytest.fixture(scope="module")
def demo():
    return demo_country(seed=0)


def test_known_at_keeps_exactly_what_was_registered_on_1_january(demo):
    known = demo.known_at(2010)
    np.testing.assert_array_equal(known.population["year"], np.arange(1985, 2011))
    for name in EVENT_FIELDS:
        np.testing.assert_array_equal(getattr(known, name)["year"], np.arange(1985, 2010))
        xr.testing.assert_identical(getattr(known, name), getattr(demo, name).sel(year=slice(None, 2009)))
    assert known.years[-1] == 2009
    assert known.net_migration["year"].values[-1] == 2009
    with pytest.raises(DataError, match="no data before the jump-off 1985"):
        demo.known_at(1985)


def test_backtest_spec_section_and_jump_off_ranges():
    spec = parse_spec('[backtest]\njump_offs = "2000:2010:5"\nhorizon = 7\nlevels = [0.8]\n')
    assert spec.backtest.jump_off_years == (2000, 2005, 2010)
    assert (spec.backtest.horizon, spec.backtest.levels) == (7, (0.8,))
    assert parse_spec("").backtest.jump_off_years == tuple(range(1990, 2019, 2))
    assert parse_spec('[backtest]\njump_offs = "2016"').backtest.jump_off_years == (2016,)
    for bad in ("2010:2000", "2000:2010:0", "20x0", "1:2:3:4"):
        with pytest.raises(SpecError, match=r"backtest\.jump_offs"):
            parse_spec(f'[backtest]\njump_offs = "{bad}"')
    with pytest.raises(SpecError, match=r"backtest\.levels"):
        parse_spec("[backtest]\nlevels = [0.8, 1.2]")


def test_on_horizon_places_stocks_h_years_and_events_in_the_hth_year(demo):
    observed = observed_indicators(demo)
    placed = on_horizon(observed, 2010, 20)
    assert placed["total_population"].sel(horizon=3) == observed["total_population"].sel(year=2013)
    assert placed["births"].sel(horizon=3) == observed["births"].sel(event_year=2012)
    assert placed["e0_male"].sel(horizon=1) == observed["e0"].sel(event_year=2010, sex="male")
    # Beyond the data: 1 January 2025 is the last stock, 2024 the last event year.
    assert (
        placed["total_population"].sel(horizon=15).notnull()
        and placed["total_population"].isnull().sum() == 5
    )
    assert placed["births"].sel(horizon=15).notnull() and placed["births"].isnull().sum() == 5
    registered = registered_targets(demo, [2010, 2020], 20)
    mid = registered[MID_YEAR].sel(jump_off=2010, horizon=2)
    total = observed["total_population"]
    assert mid == pytest.approx(0.5 * float(total.sel(year=2011) + total.sel(year=2012)))


def _hand_crps(sample: np.ndarray, y: float) -> float:
    """The fair (unbiased) ensemble CRPS: mean |X - y| - sum |X_i - X_j| / (2 m (m - 1))."""
    m = sample.size
    return np.abs(sample - y).mean() - np.abs(sample[:, None] - sample[None, :]).sum() / (2 * m * (m - 1))


def test_sample_scores_against_hand_computation():
    rng = np.random.default_rng(1)
    draws = rng.normal(100.0, 10.0, size=(2, 400, 3))  # (jump_off, draw, horizon)
    truth = np.array([[95.0, 130.0, np.nan], [100.0, 60.0, 112.0]])
    coords = {"jump_off": [2000, 2005], "horizon": [1, 2, 3]}
    forecast = xr.Dataset({"births": (("jump_off", "draw", "horizon"), draws)}, coords=coords)
    registered = xr.Dataset({"births": (("jump_off", "horizon"), truth)}, coords=coords)
    cases = sample_scores(forecast, registered, [0.5, 0.9]).sel(target="births")
    for j, h in np.ndindex(2, 3):
        y, sample = truth[j, h], draws[j, :, h]
        case = cases.isel(jump_off=j, horizon=h)
        if np.isnan(y):
            assert case["crps"].isnull() and case["covered"].isnull().all() and case["pit"].isnull()
            continue
        assert float(case["crps"]) == pytest.approx(_hand_crps(sample, y), rel=1e-9)
        assert float(case["pit"]) == pytest.approx((sample < y).mean())
        assert float(case["median"]) == pytest.approx(np.median(sample))
        for level in (0.5, 0.9):
            low, high = np.quantile(sample, [(1 - level) / 2, (1 + level) / 2])
            alpha = 1 - level
            score = (high - low) + 2 / alpha * max(low - y, 0) + 2 / alpha * max(y - high, 0)
            at = case.sel(level=level)
            assert float(at["interval_score"]) == pytest.approx(score)
            assert float(at["covered"]) == float(low <= y <= high)
    summary = pooled(cases)
    assert int(summary["n"].sel(horizon=3)) == 1
    # a registered value without a forecast (the second jump-off's horizon 3) is no case: no PIT of 0
    unforecast = forecast.copy(deep=True)
    unforecast["births"][1, :, 2] = np.nan
    missing = sample_scores(unforecast, registered, [0.9]).sel(target="births", jump_off=2005, horizon=3)
    assert missing["pit"].isnull() and missing["crps"].isnull() and missing["covered"].isnull().all()
    covered = cases["covered"].sel(level=0.9, horizon=2).values
    assert float(summary["coverage"].sel(level=0.9, horizon=2)) == pytest.approx(covered.mean())
    assert float(summary["bias"].sel(horizon=1)) == pytest.approx(
        np.mean([np.median(draws[j, :, 0]) - truth[j, 0] for j in range(2)])
    )


def test_line_scores_treat_the_band_as_an_interval_and_m_as_a_point():
    lines = xr.Dataset(
        {"deaths": (("jump_off", "line", "horizon"), [[[90.0, 80.0], [100.0, 100.0], [110.0, 120.0]]])},
        coords={"jump_off": [2000], "line": ["L", "M", "H"], "horizon": [1, 2]},
    )
    registered = xr.Dataset({"deaths": (("jump_off", "horizon"), [[105.0, 125.0]])}, lines["deaths"].coords)
    registered = registered.drop_vars("line")
    cases = line_scores(lines, registered, level=0.8).sel(target="deaths", level=0.8, jump_off=2000)
    np.testing.assert_allclose(cases["covered"], [1.0, 0.0])
    np.testing.assert_allclose(cases["crps"], [5.0, 25.0])
    np.testing.assert_allclose(cases["interval_score"], [20.0, 40.0 + 2 / 0.2 * 5.0])


def test_ssb_like_baseline_by_hand(demo):
    known = demo.known_at(2015)
    letters, tfr, e0 = ssb_like_letters(known, 2015, 6, first_year=2000, mortality_paths=200)
    held = known.asfr.sel(year=2014, drop=True)
    medium = kernel_fertility(held, woman_years_per_woman(known))
    xr.testing.assert_allclose(letters["fertility"].sel(letter="M", year=2018, drop=True), medium)
    xr.testing.assert_allclose(
        letters["fertility"].sel(letter="H", drop=True), 1.1 * letters["fertility"].sel(letter="M", drop=True)
    )
    np.testing.assert_allclose(tfr.sel(letter="L"), 0.9 * float(held.sum()))
    recent = known.net_migration.sel(year=slice(2005, 2014))
    mean = to_kernel_ages(recent.mean("year"))
    xr.testing.assert_allclose(letters["net_migration"].sel(letter="M", year=2016, drop=True), mean)
    spread = letters["net_migration"].sel(letter="H", drop=True) - letters["net_migration"].sel(
        letter="L", drop=True
    )
    sd = np.std(recent.sum(("sex", "age")).values, ddof=1)
    np.testing.assert_allclose(spread.sum(("sex", "age")), 2 * sd, rtol=1e-9)
    mortality = letters["mortality"]
    assert (
        mortality.sel(letter="H", drop=True) <= mortality.sel(letter="M", drop=True)
    ).all()  # H: high life expectancy
    assert (e0.sel(letter="H", drop=True) > e0.sel(letter="L", drop=True)).all()

    lines = ssb_like_lines(known, 2015, 6, first_year=2000, mortality_paths=200)
    for name in TARGETS:
        low, medium, high = (lines[name].sel(line=x, drop=True) for x in "LMH")
        assert (low <= medium).all() and (medium <= high).all(), name
    m = lines.sel(line="M")
    growth = m["total_population"].diff("horizon").values
    balance = (m["births"] - m["deaths"] + m["net_migration"]).isel(horizon=slice(1, None)).values
    np.testing.assert_allclose(growth, balance, rtol=1e-9)  # the accounting identity of the M line
    start = float(known.population.sel(year=2015).sum())
    first = float(m["births"][0] - m["deaths"][0] + m["net_migration"][0])
    assert float(m["total_population"][0]) == pytest.approx(start + first, rel=1e-12)


def _write(path, text):
    path.write_text(text)
    return path


def test_quantile_table_reader_and_its_errors(tmp_path):
    good = _write(
        tmp_path / "good.csv",
        "year,quantile,value\n2011,0.1,90\n2011,0.5,100\n2011,0.9,110\n2012,0.1,91\n2012,0.5,101\n2012,0.9,111\n",
    )
    table = read_quantile_table(good)
    assert table.dims == ("target", "year", "quantile")
    assert float(table.sel(target="total_population", year=2012, quantile=0.9)) == 111
    bad = {
        "year,value\n2011,1\n": "no column",
        "year,quantile,value\n2011,0.5,abc\n": "value: not a number",
        "year,quantile,value\n2011,1.5,100\n": "quantile: every quantile",
        "year,quantile,value\n2011,0.5,1\n2011,0.5,2\n": "more than once",
        "year,quantile,value\n2011,0.5,1\n2012,0.1,2\n": "not every target",
        "target,year,quantile,value\nbogus,2011,0.5,1\n": "unknown target",
    }
    for i, (text, message) in enumerate(bad.items()):
        path = _write(tmp_path / f"bad{i}.csv", text)
        with pytest.raises(DataError, match=message) as error:
            read_quantile_table(path)
        assert str(path) in str(error.value)


def test_external_quantiles_scored_by_hand(demo, tmp_path):
    total = observed_indicators(demo)["total_population"]
    rows = []
    for year, factor in ((2011, 1.0), (2012, 1.2)):
        centre = float(total.sel(year=year)) * factor
        rows += [(year, q, centre * (1 + d)) for q, d in ((0.1, -0.01), (0.5, 0.0), (0.9, 0.01))]
    path = tmp_path / "external.csv"
    pd.DataFrame(rows, columns=["year", "quantile", "value"]).to_csv(path, index=False)
    cases = external_scores(External.parse(f"ext:2010:{path}"), demo, horizon=3)
    at = cases.sel(target="total_population", jump_off=2010, level=0.8)
    np.testing.assert_allclose(at["covered"].sel(horizon=[1, 2]), [1.0, 0.0])
    y, low, high = float(total.sel(year=2012)), 1.2 * 0.99 * float(total.sel(year=2012)), None
    high = 1.2 * 1.01 * float(total.sel(year=2012))
    assert float(at["interval_score"].sel(horizon=2)) == pytest.approx((high - low) + 2 / 0.2 * (low - y))
    assert at["covered"].sel(horizon=3).isnull()  # no quantiles for 2013
    with pytest.raises(ValueError, match="NAME:JUMP_OFF:PATH"):
        External.parse("wpp:2024")


def test_wpp_quantiles_match_the_files_and_sit_on_mid_year_horizons(shared_data):
    directory = shared_data / "norway" / "wpp2024"
    table = read_wpp_quantiles(directory)
    assert table["target"].values.tolist() == [MID_YEAR]
    lower80 = read_wpp(directory / "popproj80l.txt").sel(year=2030)
    assert float(table.sel(target=MID_YEAR, year=2030, quantile=0.1)) == pytest.approx(1000 * float(lower80))
    by_year = table.sel(target=MID_YEAR, year=2040)
    assert (by_year.diff("quantile") > 0).all()
    placed = on_horizon_quantiles(table, 2024, 10)
    xr.testing.assert_equal(
        placed.sel(horizon=1, drop=True), table.sel(year=2024, drop=True)
    )  # mid-2024 is in the first projected year


# --- a small back-test of the demo country through the CLI -------------------------------------------

SPEC = """
[data]
source = "demo"

[projection]
migration = "gross"

[fit]
warmup = 150
samples = 150

[mortality]
model = "lee-carter"

[backtest]
jump_offs = "2012:2016:4"
horizon = 8
window = 12
paths = 200
levels = [0.5, 0.8, 0.95]
restart_rhat = 0  # fits this short do not mix: no restarts
"""


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    (folder / "spec.toml").write_text(SPEC)
    assert main(["backtest", str(folder / "spec.toml"), "--out", str(folder / "out")]) == 0
    return folder


@pytest.mark.slow  # refits at every jump-off
def test_backtest_writes_every_jump_off_and_resumes(backtest_dir, capsys):
    out = backtest_dir / "out"
    forecast, baseline = load_backtest(out)
    assert forecast.sizes == {"jump_off": 2, "draw": 200, "horizon": 8}
    assert baseline.sizes == {"jump_off": 2, "line": 3, "horizon": 8}
    for jump_off in (2012, 2016):
        fits = json.loads((jump_off_directory(out, jump_off) / "fits.json").read_text())
        assert set(fits) == {"mortality", "fertility", "migration"}
    for name in ("cases", "pooled", "summary", "calibration"):
        assert (out / "tables" / f"{name}.csv").is_file()
    for name in ("coverage", "pit", *(f"fan_{t}" for t in TARGETS)):
        assert (out / "figures" / f"{name}.png").is_file()
    capsys.readouterr()
    assert main(["backtest", str(backtest_dir / "spec.toml"), "--out", str(out)]) == 0
    assert "back-tested 0 jump-offs" in capsys.readouterr().out


@pytest.mark.slow  # refits the damaged jump-off
def test_a_damaged_jump_off_is_refused_then_recomputed_identically(backtest_dir, tmp_path, capsys):
    out = Path(shutil.copytree(backtest_dir / "out", tmp_path / "out"))
    original = xr.load_dataset(jump_off_directory(out, 2016) / "forecast.nc")
    damaged = jump_off_directory(out, 2016) / "forecast.nc"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    with pytest.raises(IntegrityError, match=r"jump-off 2016: forecast.nc 1000 bytes, \d+ written"):
        load_backtest(out)
    capsys.readouterr()
    assert main(["backtest", str(backtest_dir / "spec.toml"), "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "jump-off 2016: recomputing, its results are damaged" in log and "back-tested 1 jump-offs" in log
    xr.testing.assert_equal(load_backtest(out)[0].sel(jump_off=2016, drop=True), original[list(TARGETS)])


@pytest.mark.slow  # refits at every jump-off
def test_no_data_after_the_jump_off_can_leak_in(backtest_dir, demo, tmp_path):
    """Jump-off 2016 again, from data whose years after 2015 are changed beyond recognition: identical."""
    spec = load_spec(backtest_dir / "spec.toml")

    def changed_after(array: xr.DataArray, last_known: int, factor: float) -> xr.DataArray:
        return array.where(array["year"] <= last_known, factor * array)

    changed = replace(
        demo,
        population=changed_after(demo.population, 2016, 2.0),
        deaths=changed_after(demo.deaths, 2015, 3.0),
        births=changed_after(demo.births, 2015, 0.5),
        asfr=changed_after(demo.asfr, 2015, 0.5),
        immigration=changed_after(demo.immigration, 2015, 4.0),
    )
    assert not changed.population.equals(demo.population)
    forecast, baseline = backtest_jump_off(spec, changed, 2016, tmp_path, log=lambda _: None)
    original = jump_off_directory(backtest_dir / "out", 2016)
    xr.testing.assert_identical(
        forecast.assign_attrs(jump_off=2016), xr.load_dataset(original / "forecast.nc")
    )
    xr.testing.assert_identical(
        baseline.assign_attrs(jump_off=2016), xr.load_dataset(original / "baseline.nc")
    )


@pytest.mark.slow  # refits at every jump-off
def test_report_tables_agree_with_the_cases(backtest_dir, demo):
    out = backtest_dir / "out"
    cases = pd.read_csv(out / "tables" / "cases.csv")
    observed = observed_indicators(demo)
    row = cases.query("method == 'stochpop' and target == 'total_population' and jump_off == 2012")
    row = row.query("horizon == 5 and level == 0.8").iloc[0]
    assert row["registered"] == pytest.approx(float(observed["total_population"].sel(year=2017)))
    births = cases.query("method == 'ssb-like' and target == 'births' and jump_off == 2016 and horizon == 2")
    assert births.iloc[0]["registered"] == pytest.approx(float(observed["births"].sel(event_year=2017)))
    assert set(cases["method"]) == {"stochpop", RECALIBRATED, "ssb-like"}
    # the demo back-test has too few past errors for a scale: the recalibrated intervals are the raw ones
    recalibrated = cases[cases["method"] == RECALIBRATED].set_index(
        ["target", "jump_off", "horizon", "level"]
    )
    raw = cases[cases["method"] == "stochpop"].set_index(recalibrated.index.names)
    assert (recalibrated["n_past"] < MIN_CASES).all() and (recalibrated["scale"] == 1).all()
    pd.testing.assert_series_equal(recalibrated["upper"], raw.loc[recalibrated.index, "upper"])
    # Demo data end with the 1 January 2025 stock: jump-off 2016 has stocks to horizon 8 (2024) ...
    stocks = cases[
        (cases["jump_off"] == 2016) & (cases["method"] == "stochpop") & cases["target"].isin(STOCKS)
    ]
    assert stocks["horizon"].max() == 8
    pooled_rows = pd.read_csv(out / "tables" / "pooled.csv")
    mine = cases.query("method == 'stochpop' and target == 'deaths' and horizon == 3 and level == 0.95")
    theirs = pooled_rows.query(
        "method == 'stochpop' and target == 'deaths' and horizon == 3 and level == 0.95"
    )
    assert theirs.iloc[0]["coverage"] == pytest.approx(mine["covered"].mean())
    assert theirs.iloc[0]["crps"] == pytest.approx(mine["crps"].mean())
    assert theirs.iloc[0]["n"] == len(mine) == 2
    summary = pd.read_csv(out / "tables" / "summary.csv")
    at = summary.query("target == 'deaths' and horizon == 5").iloc[0]
    assert at["interval_score_ratio"] == pytest.approx(
        at["interval_score_80"] / at["ssb-like_interval_score_80"]
    )


@pytest.mark.slow  # refits at every jump-off
def test_coverage_on_truths_simulated_from_the_model_itself(backtest_dir, demo):
    """Forecast paths 0-399 of the jump-off 2016 fit against 400 further paths of the same model taken as
    the truth: the intervals must cover at their nominal rates (the scoring machinery is right and the
    paths are independent draws)."""
    spec = load_spec(backtest_dir / "spec.toml")
    known = demo.known_at(2016)
    run = jump_off_spec(spec, known, 2016)
    files = RunDirectory(jump_off_directory(backtest_dir / "out", 2016)).posterior_files
    p = run.projection
    components = build_components(run, known)
    projection = PathProjection.create(known, components, files, p.jump_off, p.horizon, run.paths.seed)
    paths = on_horizon(projection(0, 800), 2016, run.projection.horizon)
    forecast = paths.isel(draw=slice(0, 400))
    truths = paths.isel(draw=slice(400, 800)).rename(draw="truth")
    cases = sample_scores(forecast, truths, [0.5, 0.8, 0.95])
    coverage = cases["covered"].mean(("target", "truth", "horizon"))
    assert 0.75 <= float(coverage.sel(level=0.8)) <= 0.85
    assert 0.91 <= float(coverage.sel(level=0.95)) <= 0.98
    assert 0.45 <= float(coverage.sel(level=0.5)) <= 0.55
    histogram = np.histogram(cases["pit"].values.ravel(), bins=10, range=(0, 1))[0] / cases["pit"].size
    assert np.all(np.abs(histogram - 0.1) < 0.02)
