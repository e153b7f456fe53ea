"""BEFINN's cell layout: the index, the duration advance, birth destinations and values by cell."""

import numpy as np

from stochpop.demography.groups import (
    FERTILITY_DURATION_CLASSES,
    SHARE_IMMIGRANT_FATHER,
    GroupCells,
)


def test_ssb_layout_has_97_named_cells_in_the_documented_order():
    cells = GroupCells()
    labels = cells.labels()
    assert cells.size == len(labels) == len(set(labels)) == 1 + 3 * 31 + 3
    assert labels[cells.rest] == "rest"
    for g in (1, 2, 3):
        assert labels[cells.norwegian_born(g)] == f"norwegian-born g{g}"
        for d in (0, 17, 30):
            assert labels[cells.immigrant(g, d)] == f"immigrant g{g} d{d}"


def test_duration_advance_moves_every_immigrant_one_class_up_and_keeps_the_open_class():
    """Applied to random counts by cell, the advance equals shifting each group's durations by one (the open
    class gathering the last two, duration 0 emptied) and leaves the other cells alone."""
    cells = GroupCells()
    counts = np.random.default_rng(0).uniform(1.0, 10.0, cells.size)
    advanced = np.zeros(cells.size)
    np.add.at(advanced, np.array(cells.duration_advance()), counts)
    by_group = counts[1 : 1 + 3 * 31].reshape(3, 31)
    shifted = np.concatenate([np.zeros((3, 1)), by_group[:, :-1]], axis=1)
    shifted[:, -1] += by_group[:, -1]
    np.testing.assert_allclose(advanced[1 : 1 + 3 * 31].reshape(3, 31), shifted)
    np.testing.assert_array_equal(advanced[[0, 94, 95, 96]], counts[[0, 94, 95, 96]])
    np.testing.assert_allclose(advanced.sum(), counts.sum())


def test_birth_destination_sends_immigrant_mothers_births_by_the_share_with_an_immigrant_father():
    cells = GroupCells(max_duration=4)
    shares = np.array([SHARE_IMMIGRANT_FATHER, (0.4, 0.9, 0.7)])  # (paths, groups)
    destination = cells.birth_destination(shares)
    assert destination.shape == (2, cells.size, cells.size)
    np.testing.assert_allclose(destination.sum(-1), 1.0)
    births_by_mother = np.random.default_rng(1).uniform(0.0, 100.0, cells.size)
    born_into = births_by_mother @ destination  # (paths, C)
    for g in (1, 2, 3):
        mothers = [cells.immigrant(g, d) for d in range(5)]
        np.testing.assert_allclose(
            born_into[:, cells.norwegian_born(g)], shares[:, g - 1] * births_by_mother[mothers].sum()
        )
    immigrant_births = births_by_mother[1 : 1 + 15].reshape(3, 5).sum(1)
    expected_rest = births_by_mother[[0, 16, 17, 18]].sum() + ((1 - shares) * immigrant_births).sum(1)
    np.testing.assert_allclose(born_into[:, cells.rest], expected_rest)


def test_values_by_cell_and_back_by_kind():
    """by_cell then kinds gives back the rest, the immigrants summed over durations and the Norwegian-born,
    with leading (path) axes broadcast; the Norwegian-born daughters get the rest's fertility."""
    cells = GroupCells(max_duration=6)
    rng = np.random.default_rng(2)
    rest, immigrants, born = (
        rng.uniform(size=(4, 2, 120)),
        rng.uniform(size=(3, 7, 2, 120)),
        rng.uniform(size=(3, 2, 120)),
    )
    values = cells.by_cell(rest, immigrants, born)
    assert values.shape == (4, cells.size, 2, 120)
    np.testing.assert_array_equal(
        values[:, cells.immigrant(2, 5)], np.broadcast_to(immigrants[1, 5], (4, 2, 120))
    )
    kinds = cells.kinds(values)
    np.testing.assert_allclose(kinds[:, 0], rest)
    np.testing.assert_allclose(kinds[:, 1:4], np.broadcast_to(immigrants.sum(1), (4, 3, 2, 120)))
    np.testing.assert_allclose(kinds[:, 4:], np.broadcast_to(born, (4, 3, 2, 120)))

    fertility = cells.fertility_by_cell(rest[:, 0, 15:50], immigrants[..., 0, 15:50])
    assert fertility.shape == (4, cells.size, 35)
    for g in (1, 2, 3):
        np.testing.assert_array_equal(fertility[:, cells.norwegian_born(g)], rest[:, 0, 15:50])
        np.testing.assert_array_equal(
            fertility[:, cells.immigrant(g, 2)], np.broadcast_to(immigrants[g - 1, 2, 0, 15:50], (4, 35))
        )


def test_immigration_at_arrival_is_all_at_duration_zero():
    cells = GroupCells(max_duration=5)
    rng = np.random.default_rng(3)
    by_group = rng.uniform(size=(7, 3, 2, 120))
    immigration = cells.immigration_at_arrival(np.ones((2, 120)), by_group, np.zeros((3, 2, 120)))
    for g in (1, 2, 3):
        np.testing.assert_array_equal(immigration[:, cells.immigrant(g, 0)], by_group[:, g - 1])
        for d in range(1, 6):
            assert not immigration[:, cells.immigrant(g, d)].any()
    np.testing.assert_allclose(immigration.sum(1), by_group.sum(1) + 1.0)


def test_by_duration_expands_ssb_fertility_classes():
    """SSB's fertility classes: 1 year or less, 2-3, 4-6, 7-11, 12 or more (reference ch. 5.1)."""
    cells = GroupCells()
    classes = np.arange(5.0)[:, None] * np.ones((5, 35))
    by_duration = cells.by_duration(classes, FERTILITY_DURATION_CLASSES)
    expected_class = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] + [4] * 19
    np.testing.assert_array_equal(by_duration[:, 0], expected_class)
