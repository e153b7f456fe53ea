"""SSB's 2018 main alternative held fixed through the grouped kernel: the per-cell rates carry SSB's numbers,
the 2018 jump-off matches the registers, every kind of cell keeps its accounting, and the line is within
10% of SSB's published immigrants and Norwegian-born to immigrant parents in 2040 and 2060."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.demography.lifetable import life_expectancy_from_q
from stochpop.groups import ssb2018
from stochpop.groups.registered import GROUPS, RegisteredGroups
from stochpop.projection.kernel import Rates, death_probability

CELLS = ssb2018.CELLS
YEARS = np.arange(ssb2018.JUMP_OFF, ssb2018.LAST_YEAR)


@pytest.fixture(scope="module")
def start_2018(registered: RegisteredGroups) -> xr.DataArray:
    return ssb2018.jump_off_2018(registered)


@pytest.fixture(scope="module")
def line(registered: RegisteredGroups) -> ssb2018.Line:
    return ssb2018.ssb_line(registered)


@pytest.fixture(scope="module")
def rates(line: ssb2018.Line) -> Rates:
    return ssb2018.line_rates(line.assumptions, YEARS)


def immigrant_cells(group: int) -> list[int]:
    return [CELLS.immigrant(group, d) for d in range(CELLS.durations)]


def test_fertility_has_ssbs_levels(line: ssb2018.Line, rates: Rates) -> None:
    """Each cell's TFR is its 2017 level times SSB's national TFR over 1.62; the rest's long-run TFR is
    SSB's 1.70 (ch. 3.1), the Norwegian-born have the rest's, immigrant women together 1.93 in 2018's
    mix (SSB Tabell 5), and 2018's births by mother's group stand as SSB's 2017 shares 18 : 7 : 3."""
    tfr = np.asarray(rates.fertility).sum(-1)
    factor = np.interp(YEARS, *zip(*ssb2018.NATIONAL_TFR, strict=True)) / 1.62
    np.testing.assert_allclose(tfr[:, CELLS.rest], 1.56 * factor, rtol=1e-12)
    assert abs(tfr[YEARS == 2040, CELLS.rest][0] - 1.70) < 0.01
    for g in GROUPS:
        np.testing.assert_allclose(tfr[:, [CELLS.norwegian_born(g)]], tfr[:, [CELLS.rest]], rtol=1e-12)
        group_tfr = tfr[:, immigrant_cells(g)]
        np.testing.assert_allclose(group_tfr, group_tfr[:, :1] * np.ones(CELLS.durations), rtol=1e-12)

    women = line.populations[0, :, 0, 14:49]  # 1 January 2018, aged 14..48: 15..49 at the end of 2018
    by_group = np.stack([women[immigrant_cells(g)].sum(0) for g in GROUPS])
    schedule = line.assumptions.fertility_schedule
    group_tfr = line.assumptions.tfr_2017[1:]
    together = (schedule * (by_group * group_tfr[:, None]).sum(0) / by_group.sum(0)).sum()
    assert together == pytest.approx(1.93, rel=1e-9)

    by_mother = line.flows.births_by_mother[0].sum(-1)
    births = np.array([by_mother[immigrant_cells(g)].sum() for g in GROUPS])
    np.testing.assert_allclose(births / births[2], np.array([3.0, 7.0, 18.0]) / 18.0, rtol=1e-9)


def test_mortality_reaches_ssbs_life_expectancy(rates: Rates) -> None:
    """The kernel's death probabilities give SSB's e0 of Table 2.1 (2020 and 2040, by sex)."""
    config = ssb2018.kernel_config()
    with jax.enable_x64(True):
        q = np.asarray(death_probability(jnp.asarray(rates.mortality), config))
    e0 = life_expectancy_from_q(q)
    for year, female, male in ((2020, 84.7, 81.6), (2040, 87.8, 85.4)):
        np.testing.assert_allclose(e0[YEARS == year][0], [female, male], atol=1e-6)


def test_emigration_probabilities(registered: RegisteredGroups, line: ssb2018.Line, rates: Rates) -> None:
    """Probabilities in [0, 1], none above age 69, falling with duration of stay; the Norwegian-born as
    their mother's group's long-stay immigrants; on the jump-off the immigrants of groups 1-2 and of
    group 3 emigrate in the ratio of their registered 2014 rates."""
    emigration = np.asarray(rates.emigration)[0]
    assert emigration.min() >= 0.0 and emigration.max() <= 1.0
    assert emigration[..., 70:].max() == 0.0
    for g in GROUPS:
        by_duration = emigration[immigrant_cells(g)]
        assert np.all(np.diff(by_duration, axis=0) <= 1e-15)
        np.testing.assert_allclose(emigration[CELLS.norwegian_born(g)], by_duration[-1], rtol=1e-12)
        assert np.all(emigration[CELLS.norwegian_born(g)] >= emigration[CELLS.rest])

    aged = ssb2018.stock_at_risk(line.populations[0])
    regions = ([*immigrant_cells(1), *immigrant_cells(2)], immigrant_cells(3))
    mean_rate = [(emigration * aged)[cells].sum() / aged[cells].sum() for cells in regions]
    stock = registered.country_groups.sel(year=2014, group=list(GROUPS)).values
    registered_ratio = (14_959 / stock[:2].sum()) / (8_774 / stock[2])
    assert mean_rate[0] / mean_rate[1] == pytest.approx(registered_ratio, rel=1e-9)


def test_immigration_is_ssbs(rates: Rates, line: ssb2018.Line) -> None:
    """Immigration sums to SSB's Table 2.1 totals, immigrants arrive at duration 0 only, in the groups'
    shares, at ages 0-69, and none arrive among the Norwegian-born to immigrant parents."""
    immigration = np.asarray(rates.immigration)
    totals = immigration.sum((1, 2, 3))
    for year, total in ((2020, 51_400), (2040, 48_900)):
        assert totals[YEARS == year][0] == pytest.approx(total, rel=1e-12)
    non_immigrants = immigration[:, CELLS.rest].sum((1, 2))
    np.testing.assert_allclose(non_immigrants, 7_490 + (11_000 - 7_490) * (YEARS - 2017) / 83, rtol=1e-12)
    by_group = np.stack([immigration[:, immigrant_cells(g)].sum((2, 3)) for g in GROUPS], 1)
    assert np.abs(by_group[:, :, 1:]).max() == 0.0
    np.testing.assert_allclose(
        by_group[:, :, 0] / by_group[:, :, 0].sum(1, keepdims=True),
        np.broadcast_to(line.assumptions.group_shares, (YEARS.size, 3)),
        rtol=1e-12,
    )
    assert immigration[..., 70:].max() == 0.0
    assert np.abs(immigration[:, [CELLS.norwegian_born(g) for g in GROUPS]]).max() == 0.0


def test_jump_off_matches_the_registers(registered: RegisteredGroups, start_2018: xr.DataArray) -> None:
    """1 January 2018: immigrants by group as registered (IMDi country background), the total as HMD's,
    immigrants and Norwegian-born within 1% and 3% of SSB's "almost 750 000" and "170 000"; the replay
    from 2015 was within 2% of each registered group before scaling; no negative cell (the rest's
    negative cells, set to 0, hold less than a person)."""
    values = start_2018.transpose("cell", "sex", "age").values
    registered_groups = registered.country_groups.sel(year=2018, group=list(GROUPS)).values
    groups = np.array([values[immigrant_cells(g)].sum() for g in GROUPS])
    np.testing.assert_allclose(groups, registered_groups, rtol=1e-12)
    negative = start_2018.attrs["negative_rest"]
    assert -1.0 < negative <= 0.0
    hmd = float(registered.population.sel(year=2018).sum())
    assert values.sum() + negative == pytest.approx(hmd, rel=1e-12)
    assert groups.sum() / 750_000 - 1 == pytest.approx(0.0, abs=0.01)
    born = sum(values[CELLS.norwegian_born(g)].sum() for g in GROUPS)
    assert born / 170_000 - 1 == pytest.approx(0.0, abs=0.03)
    replayed = np.array(start_2018.attrs["replayed_immigrants_by_group"])
    assert np.abs(replayed / registered_groups - 1).max() < 0.02
    assert values.min() >= 0.0


def test_each_kind_keeps_its_accounting(line: ssb2018.Line) -> None:
    """Every year and kind of cell (the rest, immigrants and Norwegian-born of each group, summed over
    durations): P(t + 1) = P(t) + births into it - deaths - emigrations + immigrations."""
    stock = CELLS.kinds(line.populations.sum(-1), axis=-2)
    flows = line.flows
    balance = stock[:-1] + sum(
        sign * CELLS.kinds(value, axis=-2)
        for sign, value in (
            (1, flows.births),
            (-1, flows.deaths),
            (-1, flows.emigrations),
            (1, flows.immigrations),
        )
    )
    np.testing.assert_allclose(stock[1:], balance, rtol=1e-10)
    assert line.populations.min() >= 0.0
    np.testing.assert_allclose(flows.births.sum((1, 2)), flows.births_by_mother.sum((1, 2)), rtol=1e-12)
    assert flows.emigrations[YEARS == 2020].sum() == pytest.approx(32_200, rel=1e-3)


def test_line_is_within_ten_percent_of_ssb(line: ssb2018.Line) -> None:
    """Immigrants and Norwegian-born to immigrant parents on 1 January 2040 and 2060 within 10% of SSB's
    (ch. 3.4), the 2040 total within 10% of Table 2.2's; SSB's emigrations of 2040, not calibrated on,
    within 10% of Table 2.1's."""
    stocks = line.stocks()
    for kind in ("immigrants", "norwegian_born"):
        for year in (2040, 2060):
            projected = stocks[kind][line.years == year][0]
            assert abs(projected / ssb2018.SSB_FIGURES[kind][year] - 1) < 0.10, (kind, year, projected)
    assert abs(stocks["total"][line.years == 2040][0] / 6_056_000 - 1) < 0.10
    assert abs(line.flows.emigrations[YEARS == 2040].sum() / 31_600 - 1) < 0.10
