"""Sampled paths on the demo country: path-keyed randomness (chunks, workers, resume), the paths against
the same rates run as lines, the conversion of component values to kernel rates, the accounting of every
path, summaries against numpy, and SSB's alternatives."""

import jax
import numpy as np
import pytest
import xarray as xr

import stochpop
from stochpop.components.posterior import load_posterior
from stochpop.demography.ageing import aged_population
from stochpop.outputs.quantiles import quantiles, variants
from stochpop.projection.alternatives import project_alternatives
from stochpop.projection.conversion import asfr_parallelograms, kernel_fertility, woman_years_per_woman
from stochpop.projection.lines import project_lines
from stochpop.projection.rate_sets import mortality_end_of_year
from stochpop.projection.sampled import COMPONENTS
from stochpop.results.store import open_results
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client


def test_chunking_does_not_change_any_path(demo_projection, demo_paths, tmp_path):
    by_10 = open_results(run_chunks(demo_projection, 40, 10, tmp_path / "by10")).load()
    by_25 = open_results(run_chunks(demo_projection, 40, 25, tmp_path / "by25")).load()
    for chunked in (by_10, by_25):
        for name in ("population", "births", "e0", "tfr", "immigrations_by_sex"):
            np.testing.assert_allclose(
                chunked[name], demo_paths[name].transpose(*chunked[name].dims), rtol=1e-6
            )
    # a single path on its own is that path of the batch
    single = demo_projection(17, 18)
    np.testing.assert_allclose(
        single["total_population"].sel(draw=17), demo_paths["total_population"].sel(draw=17), rtol=1e-6
    )


def test_one_and_two_workers_give_identical_results(demo_projection, tmp_path):
    with dask_client(workers=1) as one:
        a = open_results(run_chunks(demo_projection, 40, 10, tmp_path / "one", client=one)).load()
    with dask_client(workers=2) as two:
        b = open_results(run_chunks(demo_projection, 40, 10, tmp_path / "two", client=two)).load()
    xr.testing.assert_identical(a, b)


class Killed(RuntimeError):
    pass


def test_killed_run_resumes_to_the_uninterrupted_result(demo_projection, tmp_path):
    whole = open_results(run_chunks(demo_projection, 40, 10, tmp_path / "whole")).load()

    def dies_at_third_chunk(start: int, stop: int) -> xr.Dataset:
        if start >= 20:
            raise Killed
        return demo_projection(start, stop)

    store = tmp_path / "resumed"
    with pytest.raises(Killed):
        run_chunks(dies_at_third_chunk, 40, 10, store)
    assert len(list((store / "chunks").glob("*.zarr"))) == 2
    xr.testing.assert_identical(open_results(run_chunks(demo_projection, 40, 10, store)).load(), whole)
    with pytest.raises(ValueError, match="cannot resume"):
        run_chunks(demo_projection, 40, 10, store, identity={"seed": 99})


def test_paths_equal_their_rate_set_through_the_kernel(demo_projection, demo_paths):
    """The compiled chunk (rates built year by year inside the scan, indicators of each year's population)
    equals the materialised rate set of the same paths run as lines (`project_lines`, float64)."""
    rates = demo_projection.rates(np.arange(40))
    expected = project_lines(
        demo_projection.initial, rates, demo_projection.jump_off, demo_projection.horizon
    )
    for name in ("total_population", "age_80_plus", "median_age", "births", "deaths", "net_migration"):
        scale = float(np.abs(expected[name]).max())  # float32: net migration is a small difference
        np.testing.assert_allclose(
            demo_paths[name].transpose(*expected[name].dims),
            expected[name],
            rtol=2e-5,
            atol=2e-6 * scale,
            err_msg=name,
        )
    np.testing.assert_allclose(
        demo_paths["population"].transpose(*expected["population"].dims),
        expected["population"],
        rtol=1e-4,
        atol=1e-2,
    )
    # the components' own indicators are their forecasts' values
    key = jax.random.fold_in(jax.random.PRNGKey(demo_projection.seed), COMPONENTS.index("fertility"))
    forecast = demo_projection.components["fertility"].forecast(
        load_posterior(demo_projection.posteriors["fertility"]), demo_projection.event_years, 40, key
    )
    np.testing.assert_allclose(demo_paths["tfr"].transpose("draw", "event_year"), forecast["tfr"], rtol=1e-6)


def test_kernel_rates_equal_the_labelled_conversions(demo_projection):
    """The array conversion of the components' values (parallelograms, the fertility matrix) equals the
    labelled one: `rates.mortality_end_of_year` and `rate_paths.kernel_fertility` of the forecasts."""
    rates = demo_projection.rates(5)
    key = jax.random.PRNGKey(demo_projection.seed)
    forecasts = {
        name: demo_projection.components[name].forecast(
            load_posterior(demo_projection.posteriors[name]),
            demo_projection.event_years,
            5,
            jax.random.fold_in(key, i),
        )
        for i, name in enumerate(COMPONENTS)
    }
    mortality = mortality_end_of_year(forecasts["mortality"]["mortality"])
    np.testing.assert_allclose(rates["mortality"], mortality.transpose(*rates["mortality"].dims), rtol=1e-6)
    fertility = kernel_fertility(forecasts["fertility"]["fertility"], demo_projection.fertility_ratio)
    np.testing.assert_allclose(rates["fertility"], fertility.transpose(*rates["fertility"].dims), rtol=1e-6)
    xr.testing.assert_equal(rates["immigration"], forecasts["migration"]["immigration"])


def test_every_path_adds_up_and_is_sane(demo_paths):
    total = demo_paths["total_population"].transpose("draw", "year").values.astype(float)
    change = (demo_paths["births"] - demo_paths["deaths"] + demo_paths["net_migration"]).transpose(
        "draw", "event_year"
    )
    np.testing.assert_allclose(total[:, 1:], total[:, :-1] + change.values, rtol=2e-6)
    assert float(demo_paths["population"].min()) >= 0
    assert all(bool(np.isfinite(v.values).all()) for v in demo_paths.data_vars.values())
    # the components' own indicators travel with their path: e0 rises, TFR stays demographic
    assert (demo_paths["e0"].sel(event_year=2054) > demo_paths["e0"].sel(event_year=2025)).mean() > 0.9
    assert 0.8 < float(demo_paths["tfr"].min()) and float(demo_paths["tfr"].max()) < 3.5
    # paths differ from one another (randomness reaches every path)
    assert float(demo_paths["total_population"].sel(year=2055).std("draw")) > 0


def test_fertility_conversion_reproduces_registered_births(demo_run_dir):
    """Kernel fertility from ASFR (parallelogram average x woman-years per woman) applied to the women at
    risk gives the demo's registered births in its last five years within 0.5%."""
    data = stochpop.load_data(stochpop.RunDirectory(demo_run_dir).spec())
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


def test_summaries_variants_and_alternatives(demo_projection, demo_paths):
    per_path = demo_paths[["total_population", "births", "e0"]]
    table = quantiles(per_path, (0.025, 0.5, 0.975))
    draws = demo_paths["total_population"].transpose("draw", "year").values
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
        demo_projection, ["MMMM", "LLML", "HHMH", "MMM0"], 40, {"L": 0.1, "M": 0.5, "H": 0.9}
    )
    mmmm = alternatives["total_population"].sel(alternative="MMMM")
    band = demo_paths["total_population"].quantile([0.3, 0.7], "draw")
    assert ((mmmm >= band.sel(quantile=0.3)) & (mmmm <= band.sel(quantile=0.7))).all()
    by_code = alternatives["total_population"].isel(year=-1).to_series()
    assert by_code["LLML"] < by_code["MMMM"] < by_code["HHMH"]
    assert by_code["MMM0"] < by_code["MMMM"]  # the demo has net immigration
