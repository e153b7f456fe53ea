"""Migration components, the quick pieces: the AR(1) level and the age basis, typed values, and the
simulations that stand in for observations in recovery tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
import xarray as xr

from stochpop.components.contract import MigrationValues
from stochpop.components.migration import (
    GrossMigrationModel,
    NetMigrationModel,
    age_basis,
    schedule_knots,
    simulate_net_migration,
)
from stochpop.components.processes import AR1, ar1_recursion
from stochpop.conventions import N_AGES
from stochpop.data.demo import demo_country


@pytest.fixture(scope="module")
def demo():
    return demo_country()


def test_ar1_density_and_recursion_agree():
    x = np.array([1.0, 1.5, 0.7, 1.2])
    loc, phi, scale, df = 1.0, 0.6, 0.4, 5.0
    expected = st.t.logpdf(x[0], df, loc, scale / np.sqrt(1 - phi**2)) + sum(
        st.t.logpdf(x[t], df, loc + phi * (x[t - 1] - loc), scale) for t in range(1, 4)
    )
    assert float(AR1(loc, phi, scale, 4, df=df).log_prob(x)) == pytest.approx(expected, rel=1e-5)
    shocks = (x[1:] - loc - phi * (x[:-1] - loc)) / scale
    np.testing.assert_allclose(ar1_recursion(x[0], loc, phi, scale, shocks), x[1:], rtol=1e-6)
    paths = AR1(loc, phi, scale, 100).sample(jax.random.PRNGKey(0), (400,))
    assert paths.shape == (400, 100) and abs(float(paths.mean()) - loc) < 0.05
    assert float(paths.std()) == pytest.approx(scale / np.sqrt(1 - phi**2), rel=0.05)


def test_age_basis_is_a_partition_of_unity():
    ages = np.arange(111)
    basis = age_basis(ages, schedule_knots(110))
    np.testing.assert_allclose(basis.sum(1), 1.0, atol=1e-12)
    knots = schedule_knots(69)
    assert knots[0] == 0 and knots[-1] == 69 and knots[-1] - knots[-2] >= 3


def test_values_are_typed_bundles():
    shares = jnp.full((3, 2, N_AGES), 1.0 / (2 * N_AGES))
    total = jnp.array([100.0, -50.0, 0.0])
    net = NetMigrationModel().values({"schedule": shares}, {"total_net": total})
    assert isinstance(net, MigrationValues) and net.immigration is None and net.emigration is None
    np.testing.assert_allclose(net.net_migration.sum((-2, -1)), net.total, rtol=1e-5)
    offsets = jnp.full((3, 2, N_AGES), -np.inf).at[..., :70].set(0.0)
    gross = GrossMigrationModel().values(
        {"shares": shares, "offsets": offsets},
        {"total_immigration": jnp.array([1e4, 2e4, 3e4]), "emigration_level": jnp.log(jnp.array([0.01] * 3))},
    )
    assert isinstance(gross, MigrationValues) and gross.net_migration is None
    np.testing.assert_allclose(gross.immigration.sum((-2, -1)), gross.total, rtol=1e-5)
    np.testing.assert_allclose(gross.emigration[..., :70], -np.expm1(-0.01), rtol=1e-5)
    assert (gross.emigration[..., 70:] == 0).all()


def test_net_simulate_is_labelled_like_the_observations(demo):
    model = NetMigrationModel(first_year=2000, max_age=69)
    ages = np.arange(70)
    parameters = {
        "long_run_mean": 15.0,
        "persistence": 0.75,
        "shock_scale": 4.0,
        "shock_df": 8.0,
        "schedule": np.stack([np.exp(-ages / 30.0)] * 2),
        "noise_sd": np.full((2, 70), 0.03),
    }
    key = jax.random.PRNGKey(3)
    simulated = model.simulate(parameters, demo, key)
    observed = model.observations(demo)
    assert simulated.dims == observed.dims
    for name in ("year", "sex", "age"):
        np.testing.assert_array_equal(simulated[name], observed[name])
    xr.testing.assert_identical(simulated, simulate_net_migration(parameters, observed["year"].values, key))
    with pytest.raises(ValueError, match="schedules have 70 ages, the observations 111"):
        NetMigrationModel().simulate(parameters, demo, key)


def test_gross_simulate_replaces_the_flows_of_the_fit_period(demo):
    model = GrossMigrationModel(first_year=2010)
    observed = model.observations(demo)
    ages = observed["age"].values
    parameters = {
        "immigration_mean": np.log(40.0),
        "immigration_persistence": 0.7,
        "immigration_shock_scale": 0.12,
        "immigration_shock_df": 8.0,
        "immigration_schedule": np.stack([np.exp(-ages / 30.0)] * 2),
        "emigration_mean": 0.0,
        "emigration_persistence": 0.6,
        "emigration_shock_scale": 0.08,
        "emigration_schedule": np.stack([-4.0 - ages / 100.0] * 2),
    }
    simulated = model.simulate(parameters, demo, jax.random.PRNGKey(5))
    replaced = {"year": observed["year"].values, "age": ages}
    for flow in ("immigration", "emigration"):
        new, old = getattr(simulated, flow), getattr(demo, flow)
        assert new.dims == old.dims and new.shape == old.shape
        assert not np.array_equal(new.sel(replaced), old.sel(replaced))
        np.testing.assert_array_equal(new.sel(replaced), np.round(new.sel(replaced)))  # counts
        outside = xr.ones_like(old, dtype=bool)
        outside.loc[replaced] = False
        xr.testing.assert_equal(new.where(outside), old.where(outside))
    assert (simulated.emigration.sel(replaced) <= observed["at_risk"]).all()
    assert simulated.population is demo.population and simulated.deaths is demo.deaths
