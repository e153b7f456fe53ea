"""Deterministic lines on the demo country: events, identities, held rates, and rate sets with a line dim."""

import numpy as np
import pytest
import xarray as xr

from stochpop.data.demo import demo_country
from stochpop.projection.lines import held_rates, project_deterministic, project_lines
from stochpop.projection.rate_sets import observed_rates


@pytest.fixture(scope="module")
def demo():
    return demo_country(seed=0)


def test_replay_of_demo_history_with_gross_flows(demo):
    """Observed gross rates of the demo's own history reproduce its populations closely."""
    years = demo.years[demo.years >= 1995]
    result = project_deterministic(
        demo, 1995, years.size, rates=observed_rates(demo, years, migration="gross")
    )
    end = int(years[-1]) + 1
    projected = result["population"].sel(year=end, age=slice(0, 99))
    registered = demo.population.sel(year=end, age=slice(0, 99))
    assert abs(float(projected.sum() / registered.sum()) - 1) < 0.002
    np.testing.assert_allclose(
        result["immigrations"], demo.immigration.sel(year=years).sum(("sex", "age")), rtol=1e-9
    )
    np.testing.assert_allclose(
        result["emigrations"], demo.emigration.sel(year=years).sum(("sex", "age")), rtol=0.01
    )


def test_accounting_identity_and_held_rates(demo):
    result = project_deterministic(demo, 2025, 60)
    total = result["population"].sum(("sex", "age")).values
    change = (result["births"] - result["deaths"] - result["emigrations"] + result["immigrations"]).values
    np.testing.assert_allclose(total[1:], total[:-1] + change, rtol=1e-10)
    assert (result["population"] >= 0).all() and np.isfinite(result["population"]).all()
    # Held rates: the same net migration every year, and the rates of the last observed year.
    held = held_rates(demo, 2025, 60)
    last = observed_rates(demo, [2024])
    np.testing.assert_allclose(held["mortality"].sel(year=2070), last["mortality"].sel(year=2024))
    assert float(result["immigrations"][0]) == pytest.approx(float(result["immigrations"][-1]))


def test_results_in_the_paths_format(demo):
    """Populations by year, flows by sex and in total, net migration and the population's indicators, in
    double precision; no e0 or tfr (lines are given rates, not components' values)."""
    result = project_deterministic(demo, 2025, 10)
    assert result["population"].dims == ("year", "sex", "age")
    assert result["population"].dtype == np.float64
    np.testing.assert_array_equal(result["year"], np.arange(2025, 2036))
    np.testing.assert_array_equal(result["event_year"], np.arange(2025, 2035))
    xr.testing.assert_equal(
        result["population"].sel(year=2025, drop=True),
        demo.population.sel(year=2025, drop=True).reindex(age=result["age"], fill_value=0.0),
    )
    for name in ("births", "deaths", "emigrations", "immigrations"):
        assert result[f"{name}_by_sex"].dims == ("event_year", "sex")
        np.testing.assert_allclose(result[name], result[f"{name}_by_sex"].sum("sex"), rtol=1e-15)
    np.testing.assert_allclose(
        result["net_migration"], (result["immigrations_by_sex"] - result["emigrations_by_sex"]).sum("sex")
    )
    by_age = result["population"].sum("sex")
    np.testing.assert_allclose(result["total_population"], by_age.sum("age"), rtol=1e-14)
    np.testing.assert_allclose(
        result["old_age_dependency"],
        by_age.sel(age=slice(65, None)).sum("age") / by_age.sel(age=slice(20, 64)).sum("age"),
        rtol=1e-14,
    )
    assert "e0" not in result and "tfr" not in result


def test_lines_equal_single_projections(demo):
    """Rate sets with a line dim: every line equals the single projection with its own rates."""
    base = held_rates(demo, 2025, 15, migration="net")
    scale = xr.DataArray([0.8, 1.0, 1.3], dims="draw")
    rates = base.assign(fertility=base["fertility"] * scale, net_migration=base["net_migration"] * scale)
    initial = demo.population.sel(year=2025)
    paths = project_lines(initial, rates, 2025, 15)
    assert paths["population"].dims == ("year", "draw", "sex", "age")
    for i, s in enumerate(scale.values):
        single = project_lines(
            initial,
            base.assign(fertility=base["fertility"] * s, net_migration=base["net_migration"] * s),
            2025,
            15,
        )
        xr.testing.assert_allclose(paths.isel(draw=i, drop=True), single, rtol=1e-12)
    births = paths["births"].isel(event_year=0).values
    assert births[0] < births[1] < births[2]


def test_missing_rates_and_jump_off_are_reported(demo):
    rates = observed_rates(demo, demo.years[-5:])
    with pytest.raises(ValueError, match=r"no rates for event years \[2025"):
        project_deterministic(demo, 2020, 10, rates=rates)
    with pytest.raises(ValueError, match="no 1 January population for the jump-off year 2030"):
        project_deterministic(demo, 2030, 5)
    with pytest.raises(ValueError, match="mortality has missing or infinite values"):
        project_deterministic(demo, 2020, 5, rates=rates.assign(mortality=rates["mortality"] * np.nan))
