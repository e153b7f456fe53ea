"""The replay of Norway's groups 2006-2015 through the kernel: each kind of cell keeps its accounting
identity, and the replayed 1 January stocks are within 2% of the registered ones (the issue's goal)."""

import numpy as np
import pytest
import xarray as xr

from stochpop.demography.groups import GroupCells
from stochpop.groups.jump_off import jump_off
from stochpop.groups.registered import RegisteredGroups
from stochpop.groups.replay import KINDS, by_kind, errors, replay, replayed_jump_off


@pytest.fixture(scope="module")
def replayed(registered: RegisteredGroups) -> xr.Dataset:
    return replay(registered, 2006, 2015)


def test_each_kind_keeps_its_accounting(replayed: xr.Dataset) -> None:
    """P(t + 1) = P(t) + births into the kind - deaths - emigrations + immigrations, by kind and sex (the
    duration advance moves people within the immigrants only)."""
    stock = by_kind(replayed["population"].sum("age"))
    flows = {name: by_kind(replayed[name]) for name in ("births", "deaths", "emigrations", "immigrations")}
    start = stock.isel(year=slice(None, -1)).values
    following = stock.isel(year=slice(1, None)).values
    balance = start + flows["births"].values - flows["deaths"].values - flows["emigrations"].values
    np.testing.assert_allclose(following, balance + flows["immigrations"].values, rtol=1e-9)
    assert float(replayed["population"].min()) >= 0.0
    immigrant_births = flows["births"].sel(kind="immigrants")
    assert float(np.abs(immigrant_births).max()) == 0.0


def test_replay_is_within_two_percent_of_the_registers(
    registered: RegisteredGroups, replayed: xr.Dataset
) -> None:
    """Immigrants, Norwegian-born to immigrant parents and the rest, 1 January 2007-2015, against IMDi's
    registered totals: the issue's 2% (measured: at most 1.24%, the Norwegian-born in 2008)."""
    relative = errors(registered, replayed)
    assert set(relative["kind"].values) == {*KINDS, "total"}
    assert float(np.abs(relative).max()) < 0.02
    assert float(np.abs(relative.sel(kind="total")).max()) < 0.001


def test_a_later_jump_off_is_replayed_to_the_registered_country_groups(registered: RegisteredGroups) -> None:
    """A jump-off after the last year registered by age (2015) is that year's reconstruction replayed:
    at the last year with registered country groups (2022) the immigrants of each group are the
    registered ones exactly, and the replay from 2015 needed them moved by under 5% (the scaling factors);
    the stock is non-negative and its total within 1% of the registered population."""
    cells = GroupCells(max_duration=16)
    population = replayed_jump_off(registered, 2022, cells)
    immigrants = population.values[1 : 1 + cells.groups * cells.durations].sum((1, 2))
    by_group = immigrants.reshape(cells.groups, cells.durations).sum(1)
    np.testing.assert_allclose(by_group, registered.country_groups.sel(year=2022, group=[1, 2, 3]), rtol=1e-9)
    assert np.all(np.abs(np.asarray(population.attrs["group_factors"]) - 1.0) < 0.05)
    assert population.attrs["replayed_from"] == 2015
    assert (population.values >= 0).all()
    total = float(registered.population.sel(year=2022).sum())
    assert float(population.sum()) == pytest.approx(total, rel=0.01)


def test_a_jump_off_in_a_year_registered_by_age_is_its_reconstruction(registered: RegisteredGroups) -> None:
    """A jump-off on 1 January 2015 (registered by age) replays no year: it is the 2015 reconstruction
    (`jump_off`), each group's immigrants scaled to the registered country groups of 2015."""
    cells = GroupCells(max_duration=16)
    population = replayed_jump_off(registered, 2015, cells)
    start = jump_off(registered, 2015, cells)
    immigrants = slice(1, 1 + cells.groups * cells.durations)
    others = np.ones(cells.size, dtype=bool)
    others[immigrants] = False
    np.testing.assert_array_equal(population.values[others], start.values[others])
    by_group = population.values[immigrants].sum((1, 2)).reshape(cells.groups, cells.durations).sum(1)
    np.testing.assert_allclose(by_group, registered.country_groups.sel(year=2015, group=[1, 2, 3]), rtol=1e-9)
    factors = by_group / start.values[immigrants].sum((1, 2)).reshape(cells.groups, cells.durations).sum(1)
    np.testing.assert_allclose(population.attrs["group_factors"], factors, rtol=1e-9)
