"""Net migration as a rate of the population (`NetMigrationModel(total="rate")`): what is fitted, and what a
path's year takes, against independent computations from the data and the projected stocks."""

import jax.numpy as jnp
import numpy as np
from test_simulate import GivenFertility, GivenMortality

from stochpop.components.migration import NetMigrationModel
from stochpop.components.migration.net import per_person
from stochpop.conventions import KERNEL_AGES, MIGRATION_MAX_AGE
from stochpop.data.demo import demo_country
from stochpop.projection.conversion import RateConversion, woman_years_per_woman
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.projection.sampled import DriverInputs, DriverRates
from stochpop.projection.simulate import simulate

HORIZON, PATHS = 76, 3


def test_rate_observations_are_each_years_net_at_the_reference_population():
    demo = demo_country(seed=2)
    model = NetMigrationModel(first_year=1995, last_year=2015, total="rate")
    scaled = model.observations(demo)
    counts = NetMigrationModel(first_year=1995, last_year=2015).observations(demo)
    reference = float(demo.population.sel(year=2016).sum())  # 1 January after the fit period
    for year in (1995, 2004, 2015):
        own = float(demo.population.sel(year=year).sum())
        np.testing.assert_allclose(
            scaled.sel(year=year).values, counts.sel(year=year).values * reference / own, rtol=1e-12
        )
    assert not np.allclose(scaled.values, counts.values)  # the demo's population grows


def _paths(total: str, per_thousand: float) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Paths of the demo's last rates held, net migration `per_thousand` of the jump-off population a year
    with the schedule of the demo's last year: (outputs, the total_net series (year, draw), the schedule
    and the reference stock (sex, age 0..119)); the stocks are checked finite and non-negative, nothing
    else."""
    demo = demo_country(seed=3)
    last = int(demo.years[-1])
    stock = to_kernel_ages(demo.population.sel(year=last + 1, drop=True)).values.astype(np.float32)
    reference = float(stock.sum())
    mortality = np.broadcast_to(
        to_kernel_ages(demo.mortality_rates.sel(year=last), fill="last").values, (HORIZON, PATHS, 2, 120)
    )
    asfr = demo.asfr.sel(year=last, age=slice(15, 49))
    fertility = np.broadcast_to(asfr.values, (HORIZON, PATHS, asfr.size))
    net = to_kernel_ages(demo.net_migration.sel(year=last)).values
    outflow = np.where(KERNEL_AGES <= MIGRATION_MAX_AGE, np.abs(net), 0.0)  # every age loses in an outflow
    schedule = outflow / outflow.sum()
    rng = np.random.default_rng(0)
    total_net = per_thousand / 1000.0 * reference * np.exp(rng.normal(0.0, 0.1, (HORIZON, PATHS)))
    migration = NetMigrationModel(total=total)
    fixed = DriverInputs(
        (
            None,
            None,
            {
                "schedule": jnp.asarray(schedule, jnp.float32),
                "population": jnp.float32(reference),
                "per_stock": jnp.asarray(per_person(stock)),
            },
        ),
        RateConversion.create(asfr["age"].values, woman_years_per_woman(demo)),
    )
    series = (
        jnp.asarray(mortality, jnp.float32),
        jnp.asarray(fertility, jnp.float32),
        {"total_net": jnp.asarray(total_net, jnp.float32)},
    )
    source = DriverRates(GivenMortality(), GivenFertility(), migration)
    initial = np.broadcast_to(stock, (PATHS, *stock.shape))
    outputs, checks = simulate(source, fixed, series, initial)
    assert bool(checks["population"])  # finite and never negative
    return {k: np.asarray(v, np.float64) for k, v in outputs.items()}, total_net, schedule, stock


def test_a_paths_net_inflow_is_its_rate_times_its_own_population():
    outputs, total_net, _, stock = _paths("rate", 8.0)
    reference = stock.sum()
    stocks = outputs["population"].sum((-2, -1))  # (stock year, draw)
    expected = total_net * stocks[:-1] / reference  # independent: the series times each 1 January stock
    np.testing.assert_allclose(outputs["net_migration"], expected, rtol=2e-4)
    assert stocks[-1].min() > 1.25 * stocks[0].max()  # the population grew, and its migration with it
    counts, _, _, _ = _paths("count", 8.0)
    np.testing.assert_allclose(counts["net_migration"], total_net, rtol=2e-4)


def test_a_long_net_outflow_leaves_at_rates_by_age_instead_of_emptying_the_young():
    """10 per 1000 of the jump-off population leave every year: as counts they empty ages 20-64 of the
    demo country (which natural change alone shrinks to 0.57 in 76 years) before the horizon. As a rate,
    each year's outflow at age x at the end of the year is total schedule(x) times the cohort's 1
    January stock (age x - 1, infants for age 0) over the reference one, summed (NumPy, from the projected
    stocks); so it falls below 10 per 1000 of the population as the young it takes grow fewer, and the
    country keeps children and people of working age."""
    rate, total_net, schedule, stock = _paths("rate", -10.0)
    count, _, _, _ = _paths("count", -10.0)
    reference = stock.sum()
    working = [o["population"][-1][..., 20:65].sum((-2, -1)) for o in (rate, count)]
    assert working[1].max() < 1e-4 * reference
    assert working[0].min() > 0.05 * reference
    stocks = rate["population"][:-1]  # (event year, draw, sex, age): each year's 1 January stock
    ratio = np.where(stock > 0, stocks / np.where(stock > 0, stock, 1.0), 0.0)
    cohort = np.concatenate([ratio[..., :1], ratio[..., :-1]], axis=-1)
    expected = total_net * (schedule * cohort).sum((-2, -1))
    np.testing.assert_allclose(rate["net_migration"], expected, rtol=2e-4)
    yearly = rate["net_migration"] / stocks.sum((-2, -1))
    np.testing.assert_allclose(yearly[0], total_net[0] / reference, rtol=2e-4)  # the reference stock
    assert np.all(yearly[-1] > 0.9 * total_net[-1] / reference)  # a smaller share leaves at the end
    final = rate["population"][-1]
    assert np.all(final[..., :20].sum((-2, -1)) > 0.1 * final.sum((-2, -1)))  # 0.22 at the jump-off
    assert np.all(final[..., 20:65].sum((-2, -1)) > 0.4 * final.sum((-2, -1)))  # 0.59 at the jump-off
