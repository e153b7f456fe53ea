"""The deterministic projection on the demo country: events, identities and held rates."""

import numpy as np
import pytest

from stochpop.data.demo import demo_country
from stochpop.projection.deterministic import held_rates, project_deterministic
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
        result["immigrations"].sum("sex"), demo.immigration.sel(year=years).sum(("sex", "age")), rtol=1e-9
    )
    np.testing.assert_allclose(
        result["emigrations"].sum("sex"), demo.emigration.sel(year=years).sum(("sex", "age")), rtol=0.01
    )


def test_accounting_identity_and_held_rates(demo):
    result = project_deterministic(demo, 2025, 60)
    total = result["population"].sum(("sex", "age")).values
    change = (result["births"] - result["deaths"] - result["emigrations"] + result["immigrations"]).sum("sex")
    np.testing.assert_allclose(total[1:], total[:-1] + change.values, rtol=1e-10)
    assert (result["population"] >= 0).all() and np.isfinite(result["population"]).all()
    # Held rates: the same net migration every year, and the rates of the last observed year.
    held = held_rates(demo, 2025, 60)
    last = observed_rates(demo, [2024])
    np.testing.assert_allclose(held["mortality"].sel(year=2070), last["mortality"].sel(year=2024))
    assert float(result["immigrations"].sum("sex")[0]) == pytest.approx(
        float(result["immigrations"].sum("sex")[-1])
    )


def test_missing_rates_and_jump_off_are_reported(demo):
    rates = observed_rates(demo, demo.years[-5:])
    with pytest.raises(ValueError, match=r"no rates for event years \[2025"):
        project_deterministic(demo, 2020, 10, rates=rates)
    with pytest.raises(ValueError, match="no 1 January population for the jump-off year 2030"):
        project_deterministic(demo, 2030, 5)
