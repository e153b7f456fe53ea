"""Life-table functions: a hand-computed 3-age table, HMD Norway e0, SSB q, fertility summaries."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from stochpop.conventions import Q_FIXED_VALUE, SEXES
from stochpop.demography.lifetable import (
    death_probability,
    e0,
    e0_by_sex,
    infant_separation_factor,
    life_expectancy,
    life_expectancy_from_q,
    life_table,
    mean_age_at_birth,
    total_fertility,
)

TINY_M = np.array([0.02, 0.004, 0.4])
"""Ages 0, 1, 2+ (open)."""


def test_tiny_table_by_hand():
    # Female a0, Andreev-Kingkade middle segment (0.01724 <= m0 < 0.06891): 0.04667 + 3.88089 m0.
    a0 = 0.04667 + 3.88089 * 0.02
    q0 = 0.02 / (1 + (1 - a0) * 0.02)
    big_l0 = 1 - (1 - a0) * q0
    l1 = 1 - q0
    q1 = 0.004 / (1 + 0.5 * 0.004)
    big_l1 = l1 - 0.5 * l1 * q1
    l2 = l1 * (1 - q1)
    big_l2 = l2 / 0.4  # open age: L = l / m
    expected_e = [big_l0 + big_l1 + big_l2, (big_l1 + big_l2) / l1, 1 / 0.4]

    table = life_table(TINY_M, "female", radix=1.0)
    np.testing.assert_allclose(table["ex"], expected_e, rtol=1e-12)
    np.testing.assert_allclose(table["lx"], [1.0, l1, l2], rtol=1e-12)
    np.testing.assert_allclose(table["qx"], [q0, q1, 1.0], rtol=1e-12)
    assert table["ex"][0] == pytest.approx(4.402251469, abs=1e-8)
    np.testing.assert_allclose(life_table(TINY_M, "female")["lx"], 100_000 * table["lx"])


def test_a0_segments_and_sex():
    assert infant_separation_factor(0.01, "female") == pytest.approx(0.14903 - 2.05527 * 0.01)
    assert infant_separation_factor(0.05, "male") == pytest.approx(0.02832 + 3.26201 * 0.05)
    assert infant_separation_factor(0.1, "male") == pytest.approx(0.29915)
    with pytest.raises(ValueError, match="sex"):
        infant_separation_factor(0.01, "both")


def test_vectorises_over_leading_axes():
    m = np.stack([TINY_M, 2 * TINY_M])  # (sex, age)
    stacked = np.broadcast_to(m, (4, 2, 3))  # (draw, sex, age)
    by_sex = np.stack([life_expectancy(m[0], "female"), life_expectancy(m[1], "male")])
    sexes = np.asarray(SEXES)  # broadcasts against the leading axes (draw, sex)
    np.testing.assert_allclose(life_expectancy(stacked, sexes), np.broadcast_to(by_sex, (4, 2, 3)))
    np.testing.assert_allclose(e0(stacked, sexes), np.broadcast_to(by_sex[:, 0], (4, 2)))


def test_ages_offset_uses_no_a0():
    table = life_table(TINY_M, "female", ages=np.array([60, 61, 62]))
    assert table["ax"][0] == 0.5
    with pytest.raises(ValueError, match="ages"):
        life_table(TINY_M, "female", ages=np.arange(4))


def test_death_probability_ssb():
    m = np.full((2, 120), 0.1)
    q = death_probability(m)
    np.testing.assert_allclose(q[:, :108], 1 - np.exp(-0.1))
    np.testing.assert_array_equal(q[:, 108:], Q_FIXED_VALUE)
    short = death_probability(np.full(50, 0.1), ages=np.arange(60, 110))
    np.testing.assert_allclose(short[:48], 1 - np.exp(-0.1))
    np.testing.assert_array_equal(short[48:], Q_FIXED_VALUE)


def test_life_expectancy_from_q_by_hand():
    q = 1 - np.exp(-np.array([0.02, 0.004]))
    q = np.append(q, 0.5)
    s0 = 1 - q[0]
    s1 = s0 * (1 - q[1])
    s2 = s1 * 0.5
    tail = s2 * (2 - 0.5) / (2 * 0.5)  # q = 0.5 continues after the last age
    expected = 0.25 * (1 + s0) + 0.5 * (s0 + s1) + 0.5 * (s1 + s2) + tail
    assert life_expectancy_from_q(q) == pytest.approx(expected, rel=1e-12)
    assert life_expectancy_from_q(np.stack([q, q])).shape == (2,)


def test_ssb_e0_close_to_hmd_table_for_low_mortality():
    # Both conventions describe the same mortality; they differ by well under a year at modern levels.
    x = np.arange(120) + 0.5
    m = 0.003 * np.exp(-3 * x) + 2e-4 + 1.5e-5 * np.exp(0.105 * x)
    assert life_expectancy_from_q(death_probability(m)) == pytest.approx(e0(m, "female"), abs=1.0)


def test_fertility_summaries():
    ages = np.array([20, 30])
    asfr = np.array([[0.05, 0.15], [0.1, 0.1]])
    np.testing.assert_allclose(total_fertility(asfr), [0.2, 0.2])
    np.testing.assert_allclose(mean_age_at_birth(asfr, ages), [(0.05 * 20.5 + 0.15 * 30.5) / 0.2, 25.5])


def _hmd_table(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep=r"\s+", skiprows=2)
    return table[(table["Year"] >= 1990) & (table["Year"] <= 2022)]


@pytest.mark.parametrize(("filename", "sex"), [("fltper_1x1.txt", "female"), ("mltper_1x1.txt", "male")])
def test_reproduces_hmd_e0_norway(shared_data, filename, sex):
    path = shared_data / "norway" / "hmd" / filename
    if not path.exists():
        pytest.skip(f"HMD life table {path} not available")
    table = _hmd_table(path)
    n_years = table["Year"].nunique()
    assert n_years == 33
    m = table["mx"].to_numpy(float).reshape(n_years, 111)
    hmd_ex = table["ex"].to_numpy(float).reshape(n_years, 111)
    np.testing.assert_allclose(e0(m, sex), hmd_ex[:, 0], atol=0.1)
    # Every age, not only birth (HMD rounds ex to 0.01 and mx to 5 decimals).
    np.testing.assert_allclose(life_expectancy(m, sex), hmd_ex, atol=0.05)


def test_e0_by_sex_in_jax_equals_the_numpy_life_table():
    rng = np.random.default_rng(3)
    ages = np.arange(120)
    m = np.exp(-9.5 + 0.085 * ages + rng.normal(0, 0.05, (6, 2, 120)))  # Gompertz-like, 6 x 2 sexes
    m[:, :, 0] = [0.002, 0.08]  # a0 in the low and the high branch of Andreev-Kingkade
    expected = np.stack([e0(m[:, 0], "female"), e0(m[:, 1], "male")], axis=1)
    np.testing.assert_allclose(e0_by_sex(m), expected, rtol=1e-12)
    with jax.enable_x64(True):
        np.testing.assert_allclose(jax.jit(lambda x: e0_by_sex(x, jnp))(m), expected, rtol=1e-12)


def test_e0_by_sex_where_the_table_ends_early_or_never():
    """An open age with no deaths gives infinite e0; a certain death before it leaves e0 finite and equal to
    the NumPy life table's (which zeroes the person-years nobody lives)."""
    m = np.full((2, 2, 5), 0.1)
    m[0, :, -1] = 0.0  # open age without deaths, reached with survivors
    m[1, :, 2] = 1e9  # q = 1 at age 2: nobody reaches the open age, whose m is 0
    m[1, :, -1] = 0.0
    out = e0_by_sex(m)
    assert np.isinf(out[0]).all()
    expected = [e0(m[1, 0], "female"), e0(m[1, 1], "male")]
    np.testing.assert_allclose(out[1], expected, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(lambda x: e0_by_sex(x, jnp))(m.astype(np.float32)), out, rtol=1e-5)
