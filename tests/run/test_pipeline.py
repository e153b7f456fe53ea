"""The stochastic projection on the demo country: path-keyed randomness (chunks, workers, resume), the
accounting of every path, summaries against numpy, L/M/H variants, alternatives, and the CLI steps.

One small fit (`fitted` fixture: classic Lee-Carter mortality, short NUTS runs for fertility and gross
migration) is shared; its diagnostics are not the point here (test_mortality/fertility/migration check
fits with default settings)."""

import json
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import stochpop
from stochpop.cli import main
from stochpop.components.fitting import FitWarning
from stochpop.components.posterior import load_posterior
from stochpop.conventions import SEXES
from stochpop.data.hmd import read_hmd_lifetable
from stochpop.demography.ageing import aged_population
from stochpop.demography.indicators import observed_indicators
from stochpop.outputs.quantiles import quantiles, variants
from stochpop.projection.alternatives import project_alternatives
from stochpop.projection.conversion import asfr_parallelograms, kernel_fertility, woman_years_per_woman
from stochpop.projection.lines import project_lines
from stochpop.projection.rate_sets import mortality_end_of_year
from stochpop.projection.sampled import COMPONENTS, PathProjection
from stochpop.results.store import open_results
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client

SPEC = """
[data]
source = "demo"

[projection]
jump_off = 2025
horizon = 30
migration = "gross"

[paths]
n = 40
chunk_size = 10
workers = 0

[fit]
warmup = 150
samples = 150

[mortality]
model = "lee-carter"

[outputs]
alternatives = ["MMMM", "LLML", "HHMH", "MKMM", "MMM0", "MM00"]
alternative_paths = 200
pyramid_years = [2040]
plot_formats = ["png"]
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory after `stochpop fit` of the small demo spec."""
    folder = tmp_path_factory.mktemp("run")
    spec = folder / "spec.toml"
    spec.write_text(SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert main(["fit", str(spec), "--out", str(folder / "demo")]) == 0
    return folder / "demo"


@pytest.fixture(scope="module")
def projection(run_dir) -> PathProjection:
    return stochpop.path_projection(run_dir)


@pytest.fixture(scope="module")
def paths(projection) -> xr.Dataset:
    return projection(0, 40)


def test_chunking_does_not_change_any_path(projection, paths, tmp_path):
    by_10 = open_results(run_chunks(projection, 40, 10, tmp_path / "by10")).load()
    by_25 = open_results(run_chunks(projection, 40, 25, tmp_path / "by25")).load()
    for chunked in (by_10, by_25):
        for name in ("population", "births", "e0", "tfr", "immigrations_by_sex"):
            np.testing.assert_allclose(chunked[name], paths[name].transpose(*chunked[name].dims), rtol=1e-6)
    # a single path on its own is that path of the batch
    single = projection(17, 18)
    np.testing.assert_allclose(
        single["total_population"].sel(draw=17), paths["total_population"].sel(draw=17), rtol=1e-6
    )


def test_one_and_two_workers_give_identical_results(projection, tmp_path):
    with dask_client(workers=1) as one:
        a = open_results(run_chunks(projection, 40, 10, tmp_path / "one", client=one)).load()
    with dask_client(workers=2) as two:
        b = open_results(run_chunks(projection, 40, 10, tmp_path / "two", client=two)).load()
    xr.testing.assert_identical(a, b)


class Killed(RuntimeError):
    pass


def test_killed_run_resumes_to_the_uninterrupted_result(projection, tmp_path):
    whole = open_results(run_chunks(projection, 40, 10, tmp_path / "whole")).load()

    def dies_at_third_chunk(start: int, stop: int) -> xr.Dataset:
        if start >= 20:
            raise Killed
        return projection(start, stop)

    store = tmp_path / "resumed"
    with pytest.raises(Killed):
        run_chunks(dies_at_third_chunk, 40, 10, store)
    assert len(list((store / "chunks").glob("*.zarr"))) == 2
    xr.testing.assert_identical(open_results(run_chunks(projection, 40, 10, store)).load(), whole)
    with pytest.raises(ValueError, match="cannot resume"):
        run_chunks(projection, 40, 10, store, identity={"seed": 99})


def test_paths_equal_their_rate_set_through_the_kernel(projection, paths):
    """The compiled chunk (rates built year by year inside the scan, indicators of each year's population)
    equals the materialised rate set of the same paths run as lines (`project_lines`, float64)."""
    rates = projection.rates(np.arange(40))
    expected = project_lines(projection.initial, rates, projection.jump_off, projection.horizon)
    for name in ("total_population", "age_80_plus", "median_age", "births", "deaths", "net_migration"):
        scale = float(np.abs(expected[name]).max())  # float32: net migration is a small difference
        np.testing.assert_allclose(
            paths[name].transpose(*expected[name].dims),
            expected[name],
            rtol=2e-5,
            atol=2e-6 * scale,
            err_msg=name,
        )
    np.testing.assert_allclose(
        paths["population"].transpose(*expected["population"].dims),
        expected["population"],
        rtol=1e-4,
        atol=1e-2,
    )
    # the components' own indicators are their forecasts' values
    key = jax.random.fold_in(jax.random.PRNGKey(projection.seed), COMPONENTS.index("fertility"))
    forecast = projection.components["fertility"].forecast(
        load_posterior(projection.posteriors["fertility"]), projection.event_years, 40, key
    )
    np.testing.assert_allclose(paths["tfr"].transpose("draw", "event_year"), forecast["tfr"], rtol=1e-6)


def test_kernel_rates_equal_the_labelled_conversions(projection):
    """The array conversion of the components' values (parallelograms, the fertility matrix) equals the
    labelled one: `rates.mortality_end_of_year` and `rate_paths.kernel_fertility` of the forecasts."""
    rates = projection.rates(5)
    key = jax.random.PRNGKey(projection.seed)
    forecasts = {
        name: projection.components[name].forecast(
            load_posterior(projection.posteriors[name]), projection.event_years, 5, jax.random.fold_in(key, i)
        )
        for i, name in enumerate(COMPONENTS)
    }
    mortality = mortality_end_of_year(forecasts["mortality"]["mortality"])
    np.testing.assert_allclose(rates["mortality"], mortality.transpose(*rates["mortality"].dims), rtol=1e-6)
    fertility = kernel_fertility(forecasts["fertility"]["fertility"], projection.fertility_ratio)
    np.testing.assert_allclose(rates["fertility"], fertility.transpose(*rates["fertility"].dims), rtol=1e-6)
    xr.testing.assert_equal(rates["immigration"], forecasts["migration"]["immigration"])


def test_every_path_adds_up_and_is_sane(paths):
    total = paths["total_population"].transpose("draw", "year").values.astype(float)
    change = (paths["births"] - paths["deaths"] + paths["net_migration"]).transpose("draw", "event_year")
    np.testing.assert_allclose(total[:, 1:], total[:, :-1] + change.values, rtol=2e-6)
    assert float(paths["population"].min()) >= 0
    assert all(bool(np.isfinite(v.values).all()) for v in paths.data_vars.values())
    # the components' own indicators travel with their path: e0 rises, TFR stays demographic
    assert (paths["e0"].sel(event_year=2054) > paths["e0"].sel(event_year=2025)).mean() > 0.9
    assert 0.8 < float(paths["tfr"].min()) and float(paths["tfr"].max()) < 3.5
    # paths differ from one another (randomness reaches every path)
    assert float(paths["total_population"].sel(year=2055).std("draw")) > 0


def test_fertility_conversion_reproduces_registered_births(run_dir):
    """Kernel fertility from ASFR (parallelogram average x woman-years per woman) applied to the women at
    risk gives the demo's registered births in its last five years within 0.5%."""
    data = stochpop.load_data(stochpop.RunDirectory(run_dir).spec())
    ratio = woman_years_per_woman(data)
    assert float(abs(ratio - 1).max()) < 0.05
    years = data.years[-5:]
    rates = kernel_fertility(data.asfr.sel(year=years), ratio)
    women = aged_population(data, years).sel(sex="female", age=rates["mother_age"].values)
    births = (rates * women.rename(age="mother_age")).sum("mother_age")
    registered = data.births.sel(year=years).sum("sex")
    np.testing.assert_allclose(births, registered, rtol=5e-3)
    # the parallelogram of age x averages the squares of x - 1 and x
    asfr = data.asfr.sel(year=years[-1])
    np.testing.assert_allclose(
        asfr_parallelograms(asfr).sel(mother_age=30), 0.5 * (asfr.sel(age=29) + asfr.sel(age=30))
    )


def test_summaries_variants_and_alternatives(projection, paths):
    per_path = paths[["total_population", "births", "e0"]]
    table = quantiles(per_path, (0.025, 0.5, 0.975))
    draws = paths["total_population"].transpose("draw", "year").values
    np.testing.assert_allclose(
        table["total_population"].transpose("quantile", "year"),
        np.quantile(draws, [0.025, 0.5, 0.975], axis=0),
        rtol=1e-12,
    )
    levels = {"L": 0.2, "M": 0.5, "H": 0.8}
    lmh = variants(per_path, levels)
    np.testing.assert_allclose(
        lmh["total_population"].sel(variant="H"), np.quantile(draws, 0.8, axis=0), rtol=1e-6
    )

    alternatives = project_alternatives(
        projection, ["MMMM", "LLML", "HHMH", "MMM0"], 40, {"L": 0.1, "M": 0.5, "H": 0.9}
    )
    mmmm = alternatives["total_population"].sel(alternative="MMMM")
    band = paths["total_population"].quantile([0.3, 0.7], "draw")
    assert ((mmmm >= band.sel(quantile=0.3)) & (mmmm <= band.sel(quantile=0.7))).all()
    by_code = alternatives["total_population"].isel(year=-1).to_series()
    assert by_code["LLML"] < by_code["MMMM"] < by_code["HHMH"]
    assert by_code["MMM0"] < by_code["MMMM"]  # the demo has net immigration


def test_cli_steps_write_tables_and_figures(run_dir):
    assert main(["project", str(run_dir), "--paths", "40", "--chunk-size", "20"]) == 0
    assert json.loads((run_dir / "spec.json").read_text())["paths"]["chunk_size"] == 20
    assert main(["summary", str(run_dir)]) == 0
    assert main(["plot", str(run_dir)]) == 0
    stored = open_results(run_dir / "paths.zarr")
    table = pd.read_parquet(run_dir / "tables" / "quantiles.parquet")
    row = table.query("variable == 'total_population' and year == 2040 and quantile == 0.9")
    expected = np.quantile(stored["total_population"].sel(year=2040).values, 0.9)
    assert float(row["value"].iloc[0]) == pytest.approx(expected, rel=1e-6)
    population = pd.read_parquet(run_dir / "tables" / "population_quantiles.parquet")
    cell = population.query("year == 2045 and sex == 'male' and age == 30").set_index("quantile")["value"]
    draws = stored["population"].sel(year=2045, sex="male", age=30).values
    np.testing.assert_array_equal(cell.to_numpy(), np.quantile(draws, cell.index.to_numpy()))
    csv = pd.read_csv(run_dir / "tables" / "variants.csv")
    assert set(csv["variant"]) == {"L", "M", "H"}
    alternatives = pd.read_csv(run_dir / "tables" / "alternatives.csv")
    assert set(alternatives["alternative"]) == {"MMMM", "LLML", "HHMH", "MKMM", "MMM0", "MM00"}
    figures = {p.name for p in (run_dir / "figures").iterdir()}
    assert {"fan_overview.png", "fan_total_population.png", "fan_e0_male.png", "pyramid_2040.png"} <= figures


def test_project_without_fit_fails_cleanly(tmp_path, capsys):
    assert main(["project", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_observed_indicators_match_the_registers(norway, shared_data):
    observed = observed_indicators(norway)
    hmd = {sex: read_hmd_lifetable(shared_data / f"norway/hmd/{sex[0]}ltper_1x1.txt") for sex in SEXES}
    years = np.arange(1990, 2023)
    for sex, table in hmd.items():
        registered = table["ex"].sel(age=0, year=years)
        np.testing.assert_allclose(observed["e0"].sel(sex=sex, event_year=years), registered, atol=0.05)
    assert float(observed["total_population"].sel(year=2018)) == 5_295_701
    assert float(observed["tfr"].sel(event_year=2018)) == pytest.approx(1.565, abs=1e-3)
    np.testing.assert_allclose(observed["births"], norway.births.sum("sex").rename(year="event_year"))
