"""Cells of a state axis with births sent to other cells and year-end reclassification (issue #14, BEFINN's
groups): the JAX kernel against the loop-by-loop reference, each cell's accounting identity, and grouped
paths summed over cells against the ungrouped projection with group-averaged rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_kernel import project_cells_one_path

from stochpop.demography.groups import (
    EMIGRATION_DURATION_CLASSES,
    FERTILITY_DURATION_CLASSES,
    SHARE_IMMIGRANT_FATHER,
    GroupCells,
)
from stochpop.projection.kernel import KernelConfig, Rates, project

AGES = np.arange(120)


def normal_shape(centre: float, spread: float, ages: np.ndarray = AGES) -> np.ndarray:
    shape = np.exp(-0.5 * ((ages - centre) / spread) ** 2)
    return shape / shape.sum()


def grouped_inputs(cells: GroupCells, rng: np.random.Generator, paths: int, years: int) -> dict:
    """A random but realistic grouped Norway: 1 January population (paths, C, 2, A) and per-year rates
    (years, paths, ...) by cell, built with the layout's own helpers."""
    g, durations = cells.groups, cells.durations
    path_factor = rng.uniform(0.8, 1.2, size=(paths, 1, 1, 1))
    rest = 4.5e6 * normal_shape(40.0, 30.0) * (AGES < 100)
    stay = np.exp(-np.arange(durations) / 10.0)
    immigrants = np.stack(
        [
            [size * stay[d] / stay.sum() * normal_shape(28.0 + d, 10.0) for d in range(durations)]
            for size in (150_000.0, 200_000.0, 400_000.0)[:g]
        ]
    )  # (G, D + 1, A)
    born = np.stack([size * normal_shape(8.0, 7.0) for size in (10_000.0, 40_000.0, 120_000.0)[:g]])
    by_sex = np.array([0.49, 0.51])[:, None]
    population = cells.by_cell(rest * by_sex, immigrants[:, :, None] * by_sex, born[:, None] * by_sex)
    population = population * path_factor * rng.uniform(0.9, 1.1, size=(paths, cells.size, 2, 120))

    mortality_base = np.stack([2e-5 * np.exp(0.095 * AGES), 3.5e-5 * np.exp(0.093 * AGES)]) + 5e-4 * (
        AGES == 0
    )
    improvement = np.exp(-0.015 * np.arange(years))[:, None, None, None, None]
    mortality = mortality_base * improvement * rng.uniform(0.8, 1.2, size=(years, paths, cells.size, 1, 1))

    schedule = normal_shape(31.0, 5.5, np.arange(15, 50))
    by_class = np.array([2.6, 2.2, 2.0, 1.9, 1.8])[:, None] * schedule  # (5 classes, 35)
    immigrant_tfr = np.array([0.8, 1.0, 1.3])[:g, None, None] * cells.by_duration(
        by_class, FERTILITY_DURATION_CLASSES
    )
    tfr_walk = np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(years, paths, 1, 1)), axis=0))
    fertility = tfr_walk * cells.fertility_by_cell(1.6 * schedule, immigrant_tfr)

    profile = np.where(AGES <= 69, 0.5 + normal_shape(27.0, 8.0) * 40.0, 0.0) * np.ones((2, 1))
    class_rates = np.array([0.10, 0.07, 0.05, 0.03, 0.015])[:, None, None] * profile
    immigrant_e = np.array([1.5, 1.2, 0.6])[:g, None, None, None] * cells.by_duration(
        class_rates, EMIGRATION_DURATION_CLASSES, axis=-3
    )
    emigration_by_cell = cells.by_cell(0.003 * profile, immigrant_e, np.full((g, 1, 1), 0.01) * profile)
    emigration = emigration_by_cell * rng.uniform(0.7, 1.3, size=(years, paths, 1, 1, 1))

    age_sex = np.where(AGES <= 69, normal_shape(27.0, 9.0), 0.0) * by_sex  # (2, A), sums to 1
    totals = np.array([12_000.0, 6_000.0, 20_000.0])[:g] * rng.lognormal(0.0, 0.2, size=(years, paths, g))
    immigration = cells.immigration_at_arrival(
        8_000.0 * age_sex, totals[..., None, None] * age_sex, np.full((g, 1, 1), 200.0) * age_sex
    )
    shares = np.array(SHARE_IMMIGRANT_FATHER)[:g] + rng.uniform(-0.05, 0.05, size=(paths, g))
    destination = np.broadcast_to(cells.birth_destination(shares), (years, paths, cells.size, cells.size))
    return dict(
        population=population,
        fertility=fertility,
        mortality=mortality,
        emigration=emigration,
        immigration=immigration,
        destination=destination,
    )


def run_grouped(cells: GroupCells, inputs: dict, dtype=jnp.float64, reclassify=None):
    def arr(name: str) -> jax.Array:
        return jnp.asarray(inputs[name], dtype=dtype)

    rates = Rates(
        fertility=arr("fertility"),
        mortality=arr("mortality"),
        immigration=arr("immigration"),
        emigration=arr("emigration"),
        birth_destination=arr("destination"),
    )
    config = KernelConfig(reclassify=cells.duration_advance() if reclassify is None else reclassify)
    return project(arr("population"), rates, config=config, flows_by_age=True)


def aged_stock(starts: np.ndarray, newborns: np.ndarray) -> np.ndarray:
    """1 January stock (..., 2, A) and newborns (..., 2) -> the stock by age at end of year."""
    aged = np.zeros_like(starts)
    aged[..., 0] = newborns
    aged[..., 1:] = starts[..., :-1]
    aged[..., -1] += starts[..., -1]
    return aged


def advance_targets_from_labels(cells: GroupCells) -> list[int]:
    """The duration advance read off the cell labels: "immigrant gG dD" -> "immigrant gG d(D+1)", capped."""
    labels = cells.labels()
    position = {label: i for i, label in enumerate(labels)}
    targets = []
    for label in labels:
        if label.startswith("immigrant"):
            group, duration = label.split()[1:]
            following = min(int(duration[1:]) + 1, cells.max_duration)
            targets.append(position[f"immigrant {group} d{following}"])
        else:
            targets.append(position[label])
    return targets


@pytest.mark.parametrize("moves", ["duration_advance", "any_mapping"])
def test_cells_match_numpy_reference(moves):
    """A small layout (2 groups, durations 0-4: 13 cells), random birth destinations per path and year, and
    either the duration advance or an arbitrary cell mapping (several sources per cell, cycles)."""
    cells = GroupCells(groups=2, max_duration=4)
    rng = np.random.default_rng(11)
    paths, years = 3, 8
    inputs = grouped_inputs(cells, rng, paths, years)
    destination = rng.dirichlet(np.full(cells.size, 0.3), size=(years, paths, cells.size))
    inputs["destination"] = destination
    inputs["emigration"][:, :, 3, :, 30] = 0.999  # q + e > 1 in one cell: exits scaled to the population
    targets = (
        cells.duration_advance()
        if moves == "duration_advance"
        else tuple(int(c) for c in rng.integers(0, cells.size, cells.size))
    )
    with jax.enable_x64(True):
        populations, flows = run_grouped(cells, inputs, reclassify=targets)
    runs = [
        project_cells_one_path(
            inputs["population"][p],
            inputs["fertility"][:, p],
            inputs["mortality"][:, p],
            inputs["immigration"][:, p],
            inputs["emigration"][:, p],
            birth_destination=destination[:, p],
            reclassify=targets,
        )
        for p in range(paths)
    ]
    expected = {k: np.stack([r[k] for r in runs], axis=1) for k in runs[0]}
    np.testing.assert_allclose(populations, expected["population"], rtol=1e-10, atol=1e-8)
    for name in ("births", "births_by_mother", "deaths", "emigrations", "immigrations"):
        np.testing.assert_allclose(getattr(flows, name), expected[name], rtol=1e-10, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_each_cell_keeps_its_accounting_identity(dtype):
    """P_c(t+1) = P_c(t) aged (with the births into c) - deaths - emigrations + immigrations + reclassified
    in - reclassified out, for every path, year and cell of SSB's 97 cells; the reclassification (read off
    the cell labels) sums to zero over cells, the year's immigrants are exactly duration 0 at year end, and
    the Norwegian-born of group g are born to group g's immigrant women in their share."""
    cells = GroupCells()
    rng = np.random.default_rng(12)
    paths, years = 3, 30
    inputs = grouped_inputs(cells, rng, paths, years)
    with jax.enable_x64(dtype == jnp.float64):
        populations, flows = run_grouped(cells, inputs, dtype=dtype)
    populations = np.asarray(populations, np.float64)
    births, by_mother = np.asarray(flows.births, np.float64), np.asarray(flows.births_by_mother, np.float64)
    deaths, emigrations, immigrations = (
        np.asarray(x, np.float64) for x in (flows.deaths, flows.emigrations, flows.immigrations)
    )
    assert np.isfinite(populations).all() and (populations >= 0).all()
    starts = np.concatenate(
        [np.asarray(inputs["population"], dtype)[None].astype(np.float64), populations[:-1]]
    )
    present = aged_stock(starts, births) - deaths - emigrations
    targets = advance_targets_from_labels(cells)
    moved_out = np.zeros_like(present)
    moved_in = np.zeros_like(present)
    for c, target in enumerate(targets):
        if target != c:
            moved_out[:, :, c] = present[:, :, c]
            moved_in[:, :, target] += present[:, :, c]
    np.testing.assert_allclose(moved_in.sum(2), moved_out.sum(2), rtol=1e-12)
    assert moved_out.sum() > 0
    tolerance = dict(rtol=1e-10, atol=1e-6) if dtype == jnp.float64 else dict(rtol=2e-6, atol=0.05)
    expected = present + moved_in - moved_out + immigrations
    np.testing.assert_allclose(populations, expected, **tolerance)
    # The cell totals: one line of the identity per path, year and cell.
    np.testing.assert_allclose(populations.sum((-1, -2)), expected.sum((-1, -2)), rtol=tolerance["rtol"] * 10)
    for g in range(1, cells.groups + 1):
        arrivals = cells.immigrant(g, 0)
        np.testing.assert_allclose(populations[:, :, arrivals], immigrations[:, :, arrivals], **tolerance)
        mothers = slice(cells.immigrant(g, 0), cells.immigrant(g, cells.max_duration) + 1)
        share = inputs["destination"][:, :, cells.immigrant(g, 3), cells.norwegian_born(g)]
        np.testing.assert_allclose(
            births[:, :, cells.norwegian_born(g)],
            share[..., None] * by_mother[:, :, mothers].sum(2),
            rtol=1e-6,
        )
    np.testing.assert_allclose(births.sum(2), by_mother.sum(2), rtol=1e-6)


def test_grouped_paths_sum_to_ungrouped_projection_with_group_averaged_rates():
    """Summed over SSB's 97 cells, every path (30 years, paths a leading axis) equals the same path projected
    ungrouped with the group-averaged rates, to 1e-6.

    The averages are exposure-weighted, year by year, with the grouped projection's own populations as
    weights (the weights move with the grouped state, so they can only be built after the grouped run):
    fertility at age x by the women of each cell at risk (the 1 January stock at x - 1); the probabilities of
    death and of emigration by each cell's aged population (1 January stock aged one year with the births
    born into the cell), averaged as probabilities and turned back into a rate m = -log(1 - q); immigrations
    summed. Births sent between cells and the duration advance move people between cells only.
    """
    cells = GroupCells()
    rng = np.random.default_rng(13)
    paths, years = 3, 30
    inputs = grouped_inputs(cells, rng, paths, years)
    with jax.enable_x64(True):
        populations, flows = run_grouped(cells, inputs)
    populations = np.asarray(populations)
    assert (populations >= 0).all()
    starts = np.concatenate([inputs["population"][None], populations[:-1]])
    aged = aged_stock(starts, np.asarray(flows.births))

    def average(rate: np.ndarray, weight: np.ndarray) -> np.ndarray:
        total = weight.sum(2)
        return np.divide((rate * weight).sum(2), total, out=np.zeros_like(total), where=total > 0)

    women = starts[..., 0, 14:49]  # aged 14..48 on 1 January: 15..49 at the end of the year
    fertility = average(inputs["fertility"], women)
    q = 1.0 - np.exp(-inputs["mortality"])
    mortality = -np.log(1.0 - average(q, aged))
    emigration = average(inputs["emigration"] * (AGES <= 69), aged)
    assert (inputs["emigration"] + q < 1).all()  # no exits scaled to the population at risk
    with jax.enable_x64(True):
        ungrouped, ungrouped_flows = project(
            jnp.asarray(inputs["population"].sum(1)),
            Rates(
                fertility=jnp.asarray(fertility),
                mortality=jnp.asarray(mortality),
                immigration=jnp.asarray(inputs["immigration"].sum(2)),
                emigration=jnp.asarray(emigration),
            ),
            flows_by_age=True,
        )
    np.testing.assert_allclose(populations.sum(2), ungrouped, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(flows.births).sum(2), ungrouped_flows.births, rtol=1e-6)
    for name in ("deaths", "emigrations", "immigrations"):
        grouped = np.asarray(getattr(flows, name)).sum(2)
        np.testing.assert_allclose(
            grouped, getattr(ungrouped_flows, name), rtol=1e-6, atol=1e-6, err_msg=name
        )
    # The groups matter: the immigrants' share of all births is not their share of women at risk.
    immigrant_cells = slice(1, 1 + cells.groups * cells.durations)
    births_share = np.asarray(flows.births_by_mother)[:, :, immigrant_cells].sum((2, 3)) / np.asarray(
        flows.births
    ).sum((2, 3))
    women_share = women[:, :, immigrant_cells].sum((2, 3)) / women.sum((2, 3))
    assert (births_share > women_share * 1.05).all()
