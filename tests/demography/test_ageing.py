"""The 1 January stock aged one year, by hand, in NumPy, JAX and on labelled data."""

import jax.numpy as jnp
import numpy as np

from stochpop.data.demo import demo_country
from stochpop.demography.ageing import age_one_year, aged_population


def test_ageing_by_hand_in_numpy_and_jax():
    stock = np.array([[10.0, 20.0, 30.0, 5.0], [1.0, 2.0, 3.0, 4.0]])  # (sex, age 0..3), 3 open
    newborns = np.array([7.0, 8.0])
    expected = [[7.0, 10.0, 20.0, 35.0], [8.0, 1.0, 2.0, 7.0]]
    np.testing.assert_array_equal(age_one_year(stock, newborns), expected)
    np.testing.assert_array_equal(age_one_year(jnp.asarray(stock), jnp.asarray(newborns), jnp), expected)
    assert age_one_year(stock, newborns).sum() == stock.sum() + newborns.sum()


def test_aged_population_of_the_data():
    demo = demo_country(seed=0)
    years = demo.years[-3:]
    aged = aged_population(demo, years)
    assert aged.dims == ("year", "sex", "age")
    np.testing.assert_array_equal(aged["age"], demo.population["age"])
    start = demo.population.sel(year=years)
    np.testing.assert_array_equal(aged.sel(age=0), demo.births.sel(year=years))
    np.testing.assert_array_equal(aged.sel(age=31), start.sel(age=30))
    open_age = int(demo.population["age"][-1])
    np.testing.assert_array_equal(
        aged.sel(age=open_age), start.sel(age=open_age) + start.sel(age=open_age - 1)
    )
