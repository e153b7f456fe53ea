"""The grouped year (`groups.paths.grouped_rates`) under national paths: the cells sum to the national
projection, each kind of cell keeps its accounting identity, and the rates by cell are what the module
docstring says (fertility relative to the rest, immigration = national net + emigrations)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from stochpop.conventions import N_AGES
from stochpop.demography.groups import GroupCells
from stochpop.groups.emigration import emigration_probabilities
from stochpop.groups.model import GroupModel
from stochpop.groups.paths import GroupFixed, GroupStep, arrival_schedules, grouped_rates, kind_matrix
from stochpop.groups.projection import adjusted_start, grouped_scan
from stochpop.projection.kernel import KernelConfig, Rates, project

CELLS = GroupCells(max_duration=4)
PATHS, YEARS = 3, 6
AGES = np.arange(N_AGES)
CONFIG = KernelConfig(reclassify=CELLS.duration_advance())


def bump(centre: float, spread: float) -> np.ndarray:
    shape = np.exp(-0.5 * ((AGES - centre) / spread) ** 2)
    return shape / shape.sum()


def national_inputs(rng: np.random.Generator) -> Rates:
    """National rates (year, path, ...): fertility (35), mortality and net migration (2, A)."""
    m = 2e-5 * np.exp(0.095 * AGES) + 5e-4 * (AGES == 0)
    fertility = 2.0 * bump(30.0, 5.0)[15:50] * rng.uniform(0.7, 1.2, (YEARS, PATHS, 1))
    mortality = np.broadcast_to(m, (YEARS, PATHS, 2, N_AGES)) * rng.uniform(0.8, 1.2, (YEARS, PATHS, 1, 1))
    net = rng.normal(2e4, 1e4, (YEARS, PATHS, 1, 1)) * (bump(27.0, 8.0) - 0.3 * bump(60.0, 5.0)) / 2
    return Rates(fertility=fertility, mortality=mortality, net_migration=net)


def group_inputs(rng: np.random.Generator) -> tuple[GroupFixed, GroupStep]:
    schedule = np.stack([bump(c, 9.0) for c in (30.0, 27.0, 25.0, 22.0)])[:, None] * np.array([[0.5], [0.5]])
    fixed = GroupFixed(
        cell_log_odds=rng.normal(-1.0, 0.5, (PATHS, CELLS.size)),
        sex_log_odds=np.stack([rng.normal(-0.1, 0.05, PATHS), np.zeros(PATHS)], -1),
        age_offset=np.log(np.broadcast_to(0.02 + 0.2 * bump(27.0, 6.0)[:70], (2, 70))),
        destination=CELLS.birth_destination(rng.uniform(0.4, 0.9, (PATHS, CELLS.groups))),
        arrivals=arrival_schedules(schedule, CELLS, CONFIG.migration_max_age),
    )
    shares = rng.dirichlet(np.ones(4), (YEARS, PATHS))
    step = GroupStep(
        fertility_factor=rng.uniform(0.7, 1.6, (YEARS, PATHS, CELLS.size)),
        emigration_level=rng.normal(-5.5, 0.3, (YEARS, PATHS)),
        immigrant_shares=shares[..., 1:],
    )
    return fixed, step


def start_population(rng: np.random.Generator) -> np.ndarray:
    """A 1 January stock by cell (C, 2, A): a large rest, immigrants and Norwegian-born of every kind."""
    values = rng.uniform(0.2, 1.0, (CELLS.size, 2, N_AGES)) * np.exp(-AGES / 40.0)
    values[0] *= 4e4
    values[1:] *= 2e3
    values[..., 110:] = 0.0
    return values


@pytest.fixture(scope="module")
def projected():
    rng = np.random.default_rng(11)
    national, (fixed, step), start = national_inputs(rng), group_inputs(rng), start_population(rng)
    initial = np.broadcast_to(start, (PATHS, *start.shape))
    with jax.enable_x64(True):
        x = jax.tree.map(jnp.asarray, (national, step))

        def rates(x_t, population):
            return grouped_rates(x_t[0], jax.tree.map(jnp.asarray, fixed), x_t[1], population, CONFIG)

        grouped, flows = project(
            jnp.asarray(initial), x, rates, CONFIG, flows_by_age=True, rates_see_population=True
        )
        ungrouped, _ = project(jnp.asarray(initial.sum(1)), x[0])
        first = rates(jax.tree.map(lambda a: a[0], x), jnp.asarray(initial))
    return dict(
        start=initial,
        grouped=np.asarray(grouped),
        flows=jax.tree.map(np.asarray, flows),
        ungrouped=np.asarray(ungrouped),
        first=jax.tree.map(np.asarray, first),
        national=national,
        fixed=fixed,
        step=step,
    )


def test_cells_sum_to_the_national_projection(projected):
    """Every path's cells summed equal the ungrouped kernel under the national rates, by sex and age."""
    total = projected["grouped"].sum(2)
    np.testing.assert_allclose(total, projected["ungrouped"], rtol=1e-9, atol=1e-6)
    assert (projected["grouped"] >= 0).all()


def test_each_kind_keeps_its_accounting_identity(projected):
    """By kind (the rest, immigrants of each group over all durations, Norwegian-born of each group):
    stock a year later = stock + births born into it - deaths - emigrations + immigrations."""
    kinds = kind_matrix(CELLS)
    stocks = np.concatenate([projected["start"][None], projected["grouped"]]).sum((-2, -1)) @ kinds
    f = projected["flows"]
    change = (f.births.sum(-1) - (f.deaths + f.emigrations - f.immigrations).sum((-2, -1))) @ kinds
    np.testing.assert_allclose(stocks[1:] - stocks[:-1], change, rtol=1e-9, atol=1e-6)


def test_first_year_rates_are_those_of_the_module_docstring(projected):
    """Year 1 against NumPy: fertility relative to the rest as the factors say, births summing to the
    national schedule's; immigration = national net + every cell's emigrations (the rest's at the
    component's probabilities), shared by the groups' shares; emigration the component's probabilities
    (capped at 1 - q) plus the negative residual's share of what each cell has left; the positive
    residual joins the rest as immigration."""
    rates, start = projected["first"], projected["start"]
    national = projected["national"]
    factor = projected["step"].fertility_factor[0]
    ratio = rates.fertility[:, :, 20] / rates.fertility[:, :1, 20]
    np.testing.assert_allclose(ratio, factor / factor[:, :1], rtol=1e-12)
    women = start[:, :, 0, 14:49]
    np.testing.assert_allclose(
        (women * rates.fertility).sum((-2, -1)), (women.sum(1) * national.fertility[0]).sum(-1), rtol=1e-12
    )

    fixed, step = projected["fixed"], projected["step"]
    probabilities = np.zeros_like(start)
    probabilities[..., :70] = emigration_probabilities(
        step.emigration_level[0], fixed.cell_log_odds, fixed.sex_log_odds, fixed.age_offset, xp=np
    )
    q = 1.0 - np.exp(-national.mortality[0])[:, None]
    migrating = AGES <= CONFIG.migration_max_age
    p = np.minimum(probabilities, 1.0 - q) * migrating
    aged = np.zeros_like(start)  # the 1 January stock one year older, the year's births at age 0
    aged[..., 1:] = start[..., :-1]
    aged[..., -1] += start[..., -1]
    aged[..., 0] = projected["flows"].births[0]  # births of year 1 by the cell they are born into
    emigrations = p * aged
    net = national.net_migration[0] * migrating
    total = net.sum((-2, -1)) + emigrations.sum((1, 2, 3))
    shares = step.immigrant_shares[0]
    arrivals = np.zeros_like(start)
    for g in range(1, CELLS.groups + 1):
        arrivals[:, CELLS.immigrant(g, 0)] = (total * shares[:, g - 1])[:, None, None] * fixed.arrivals[
            g - 1, CELLS.immigrant(g, 0)
        ]
    residual = net - arrivals.sum(1) + emigrations[:, 1:].sum(1)
    expected_immigration = arrivals.copy()
    expected_immigration[:, 0] += np.maximum(residual, 0.0)
    np.testing.assert_allclose(rates.immigration, expected_immigration, rtol=1e-9, atol=1e-9)

    left = (aged * (1.0 - q) - emigrations)[:, 1:].sum(1) + aged[:, 0] * (1.0 - q[:, 0])
    outflow = np.maximum(-residual, 0.0) / np.maximum(left, 1e-30)
    assert (outflow > 0).any() and (outflow < 1).all()  # the case has national outflows to share
    expected_emigration = p.copy()
    expected_emigration[:, 0] = 0.0
    expected_emigration += outflow[:, None] * (1.0 - q - expected_emigration)
    np.testing.assert_allclose(rates.emigration, expected_emigration, rtol=1e-9, atol=1e-15)
    assert rates.net_migration is None


def test_the_chunk_scan_in_blocks_is_the_kernel_by_cell(projected):
    """`grouped_scan` (paths in blocks, the last filled up) keeps each cell's 1 January stock, births by
    the mother's cell and flows of the plain kernel projection, in blocks of 2 as in one block of 3."""
    fixed, step, start = projected["fixed"], projected["step"], projected["start"]
    with jax.enable_x64(True):
        args = jax.tree.map(jnp.asarray, (projected["national"], fixed, step, start))
        kept = {size: grouped_scan(*args, CONFIG, block=size) for size in (2, PATHS)}
    blocks, whole = (jax.tree.map(np.asarray, kept[size]) for size in (2, PATHS))
    assert blocks.pop("sane") and whole.pop("sane")
    stocks = np.concatenate([start[None], projected["grouped"]])
    flows = projected["flows"]
    expected = {
        "group_population": stocks.sum((-2, -1)),
        "group_population_70plus": stocks[..., 70:].sum((-2, -1)),
        "group_births": flows.births_by_mother.sum(-1),
        "group_immigrations": flows.immigrations.sum((-2, -1)),
        "group_emigrations": flows.emigrations.sum((-2, -1)),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(blocks[name][: len(values)], values, rtol=1e-9, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(blocks[name], whole[name], rtol=1e-12, err_msg=name)


def test_adjusted_start_sums_to_the_national_stock():
    """The rest takes the national stock minus the other cells; where those exceed it they are scaled
    down to it and the rest is 0; nothing negative."""
    rng = np.random.default_rng(3)
    start = start_population(rng)
    national = start.sum(0) * rng.uniform(0.9, 1.1, (2, N_AGES))
    national[:, 5] = 0.5 * start[1:, :, 5].sum(0)  # fewer than the immigrants and Norwegian-born there
    adjusted = adjusted_start(start, national)
    np.testing.assert_allclose(adjusted.sum(0), national, rtol=1e-12)
    assert (adjusted >= 0).all() and (adjusted[0, :, 5] == 0).all()
    np.testing.assert_allclose(adjusted[1:, :, 6], start[1:, :, 6], rtol=1e-12)


def test_national_gross_rates_are_refused(projected):
    """Groups divide a national net migration path; national gross rates raise a clear error."""
    national = projected["national"]
    gross = Rates(
        fertility=national.fertility[0],
        mortality=national.mortality[0],
        immigration=national.net_migration[0],
    )
    fixed = jax.tree.map(jnp.asarray, projected["fixed"])
    step = jax.tree.map(lambda a: jnp.asarray(a[0]), projected["step"])
    with pytest.raises(ValueError, match="national net migration"):
        grouped_rates(gross, fixed, step, jnp.asarray(projected["start"]), CONFIG)


@pytest.mark.parametrize("depth", [0.5, 0.98, 1.5])
def test_a_deep_national_outflow_leaves_every_cell_and_still_sums(depth):
    """A national net outflow of `depth` times the population at ages 20-39 (as much again flowing in at
    40-59, so the year's immigrants still arrive), more than the rest holds there once the immigrants'
    arrivals are netted out (at 0.98 more than the cells hold but for some of the year's arrivals, at 1.5
    more than the age holds at all, where the national kernel caps it): every cell gives its share, the
    cells still sum to the national year and none goes negative."""
    rng = np.random.default_rng(5)
    national, (fixed, step), start = national_inputs(rng), group_inputs(rng), start_population(rng)
    start[0, :, 20:40] *= 0.02  # a small rest at these ages: the immigrants hold most of them
    initial = np.broadcast_to(start, (PATHS, *start.shape))
    year = jax.tree.map(lambda a: a[0], national)
    deep = -depth * initial.sum(1) * (AGES >= 20) * (AGES < 40)
    deep -= deep.sum(-1, keepdims=True) * ((AGES >= 40) & (AGES < 60)) / 20  # the year's total unchanged

    def one_year(net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        national_year = year._replace(net_migration=net)
        with jax.enable_x64(True):
            x = jax.tree.map(
                lambda a: jnp.asarray(a)[None], (national_year, jax.tree.map(lambda a: a[0], step))
            )

            def rates(x_t, population):
                return grouped_rates(x_t[0], jax.tree.map(jnp.asarray, fixed), x_t[1], population, CONFIG)

            grouped, _ = project(jnp.asarray(initial), x, rates, CONFIG, rates_see_population=True)
            ungrouped, _ = project(jnp.asarray(initial.sum(1)), x[0])
        return np.asarray(grouped)[0], np.asarray(ungrouped)[0]

    grouped, ungrouped = one_year(year.net_migration + deep)
    np.testing.assert_allclose(grouped.sum(1), ungrouped, rtol=1e-9, atol=1e-6)
    assert (grouped >= 0).all()
    usual, _ = one_year(year.net_migration)
    settled = slice(2, 1 + CELLS.durations)  # immigrants of group 1 at durations 1.., not the year's arrivals
    assert (grouped[:, settled, :, 21:40] < 0.9 * usual[:, settled, :, 21:40]).all()


def test_each_path_draws_its_jump_off_from_its_own_key():
    """A path's jump-off draw depends on its index alone (chunks give the same paths) and the draws are
    used evenly (a chi-square test at 1e-3 over 4 000 paths and 5 draws)."""
    model = GroupModel(
        cells=CELLS, start=np.zeros((5, CELLS.size, 2, N_AGES)), posteriors={}, seed=3, max_age=69
    )
    every = model.start_draws(4_000)
    np.testing.assert_array_equal(model.start_draws(np.array([3, 7, 3999])), every[[3, 7, 3999]])
    counts = np.bincount(every, minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-3
