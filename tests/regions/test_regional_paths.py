"""Regional paths adjusted to the national paths (`stochpop.regions.paths`), on synthetic national paths
projected by the kernel: the regions sum to the national path, each region's account holds with the
adjustment as its own term, internal moves cancel, one region is the national path, and regions that
differ only in size keep their shares."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import SHARE_BOYS
from stochpop.projection.kernel import DEFAULT_CONFIG, Rates, project
from stochpop.regions.paths import (
    RegionalLevels,
    RegionalSchedules,
    national_kernel_rates,
    regional_paths,
)

AGES, YEARS, PATHS, REGIONS = 120, 8, 3, 4


def national_paths(rng: np.random.Generator, gross: bool) -> tuple[np.ndarray, Rates, np.ndarray]:
    """A jump-off stock (draw, 2, A), national rates (leaves (year, draw, ...)) with net migration (large
    outflows at 60-69 that the population caps) or gross migration, and the kernel's national paths
    (year, draw, 2, A)."""
    ages = np.arange(AGES)
    start = rng.uniform(1e4, 5e4, size=(PATHS, 2, AGES)) * np.exp(-((ages / 85.0) ** 4))
    net = rng.normal(0, 300, size=(YEARS, PATHS, 2, AGES))
    net[..., 60:70] = -3e4
    rates = Rates(
        fertility=rng.uniform(0.0, 0.12, size=(YEARS, PATHS, 35)),
        mortality=1e-4 * np.exp(0.09 * ages) * rng.uniform(0.5, 1.5, size=(YEARS, PATHS, 2, AGES)),
        net_migration=None if gross else net,
        immigration=rng.uniform(0, 800, size=(YEARS, PATHS, 2, AGES)) if gross else None,
        emigration=rng.uniform(0, 0.05, size=(YEARS, PATHS, 2, AGES)) if gross else None,
    )
    rates = jax.tree.map(jnp.asarray, rates)
    national, _ = project(jnp.asarray(start), rates)
    return start, rates, np.asarray(national)


def random_inputs(rng: np.random.Generator) -> tuple[RegionalLevels, RegionalSchedules]:
    """Levels by year and path: factors, out-levels, international weights and destinations by sex and age
    (year, draw, R, R, 2, A) with a zero diagonal; schedules: out-rates per path (draw, R, 2, A) and
    international weights by region, sex and age (R, 2, A)."""
    destination = rng.uniform(0.05, 1.0, size=(YEARS, PATHS, REGIONS, REGIONS, 2, AGES))
    destination *= (1.0 - np.eye(REGIONS))[:, :, None, None]
    levels = RegionalLevels(
        fertility=rng.uniform(0.8, 1.2, size=(YEARS, PATHS, REGIONS)),
        mortality=rng.uniform(0.8, 1.2, size=(YEARS, PATHS, REGIONS)),
        out_migration=rng.uniform(0.5, 1.5, size=(YEARS, PATHS, REGIONS)),
        international=rng.uniform(0.5, 2.0, size=(YEARS, PATHS, REGIONS)),
        destination=destination / destination.sum(3, keepdims=True),
    )
    schedules = RegionalSchedules(
        out_migration=rng.uniform(0.0, 0.06, size=(PATHS, REGIONS, 2, AGES)),
        international=rng.uniform(0.1, 1.0, size=(REGIONS, 2, AGES)),
    )
    return jax.tree.map(jnp.asarray, (levels, schedules))


def fixed_levels(international: np.ndarray) -> RegionalLevels:
    """Factors and out-levels of 1, no destinations (nobody moves where the schedules say so), the given
    international weights (R,) in every year and path."""
    regions = international.size
    ones = jnp.ones((YEARS, 1, regions))
    weights = jnp.broadcast_to(jnp.asarray(international), ones.shape)
    return RegionalLevels(ones, ones, ones, weights, jnp.zeros((YEARS, 1, regions, regions, 1, 1)))


@pytest.mark.parametrize("gross", [False, True])
def test_regions_sum_to_the_national_path_and_keep_their_accounts(gross):
    """Every year and path: the regions sum to the national population by sex and age (1e-6 relative, in
    float32 too), no cell is negative, internal moves sum to zero over regions before the adjustment, each
    region's account holds with the adjustment as a term, and its births are its women's at its factor."""
    rng = np.random.default_rng(21)
    with jax.enable_x64(True):
        start, rates, national = national_paths(rng, gross)
        shares = rng.uniform(0.2, 1.0, size=(REGIONS, 2, AGES))
        regional_start = start[:, None] * shares / shares.sum(0)
        levels, schedules = random_inputs(rng)
        paths = regional_paths(jnp.asarray(regional_start), rates, jnp.asarray(national), levels, schedules)
        population = np.asarray(paths.population)
    assert population.shape == (YEARS, PATHS, REGIONS, 2, AGES)
    np.testing.assert_allclose(population.sum(2), national, rtol=1e-6, atol=1e-9)
    assert np.isfinite(population).all() and (population >= 0).all()
    assert (population[:, :, :, :, 60:70] < 1.0).any() or gross  # the capped net outflows really empty cells

    moved_in, moved_out = np.asarray(paths.flows.transfers_in), np.asarray(paths.flows.transfers_out)
    assert moved_out.min() > 0
    np.testing.assert_allclose(moved_in.sum(2), moved_out.sum(2), rtol=1e-12)

    # P_r(t) = P_r(t - 1) + births - deaths - emigrations + immigrations + in - out + adjustment, per region.
    flows = paths.flows
    previous = np.concatenate([regional_start[None], population[:-1]]).sum(-1)
    change = (
        np.asarray(flows.births)
        - np.asarray(flows.deaths)
        - np.asarray(flows.emigrations)
        + np.asarray(flows.immigrations)
        + moved_in
        - moved_out
        + np.asarray(paths.adjustment)
    )
    np.testing.assert_allclose(population.sum(-1), previous + change, rtol=1e-10)
    assert np.abs(np.asarray(paths.adjustment)).max() > 1.0  # the factors make the adjustment do something

    # Births, computed here: the region's fertility factor times the national rates on its women.
    women = np.concatenate([regional_start[None], population[:-1]])[:, :, :, 0, 14:49]
    expected = np.asarray(levels.fertility) * np.einsum("tprx,tpx->tpr", women, np.asarray(rates.fertility))
    np.testing.assert_allclose(np.asarray(flows.births).sum(-1), expected, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(flows.births)[..., 1], SHARE_BOYS * expected, rtol=1e-10)

    # Gross: immigrations shared in proportion to weight times schedule, computed here.
    if gross:
        weight = np.asarray(levels.international)[..., None, None] * np.asarray(schedules.international)
        shared = np.asarray(rates.immigration)[:, :, None] * weight / weight.sum(2, keepdims=True)
        moving = np.arange(AGES) <= DEFAULT_CONFIG.migration_max_age  # the kernel moves nobody older
        np.testing.assert_allclose(np.asarray(flows.immigrations), shared[..., moving].sum(-1), rtol=1e-10)

    # The same in float32: the regions still sum to the national path within 1e-6.
    as32 = jax.tree.map(
        lambda a: jnp.asarray(np.asarray(a, np.float32)),
        (regional_start, rates, national, levels, schedules),
    )
    paths32 = regional_paths(*as32)
    sums = np.asarray(paths32.population, np.float64).sum(2)
    np.testing.assert_allclose(sums, national, rtol=1e-6, atol=1e-3)


def test_one_region_is_the_national_path():
    """One region, factors of 1, all international migration in it, no internal moves: the national path
    exactly, with an adjustment of rounding size (the regional kernel run reproduces it by itself)."""
    rng = np.random.default_rng(22)
    with jax.enable_x64(True):
        start, rates, national = national_paths(rng, gross=False)
        schedules = RegionalSchedules(jnp.zeros((1, 2, AGES)), jnp.ones((1, 1, 1)))
        paths = regional_paths(
            jnp.asarray(start[:, None]), rates, jnp.asarray(national), fixed_levels(np.ones(1)), schedules
        )
        _, national_flows = project(jnp.asarray(start), rates)
    np.testing.assert_array_equal(np.asarray(paths.population)[:, :, 0], national)
    assert np.abs(np.asarray(paths.adjustment)).max() < 1e-8 * national.sum(-1).max()
    for name in ("births", "deaths", "emigrations", "immigrations"):
        np.testing.assert_allclose(
            np.asarray(getattr(paths.flows, name))[:, :, 0], getattr(national_flows, name), rtol=1e-12
        )


def test_regions_differing_only_in_size_keep_their_shares():
    """Factors of 1, the same rates everywhere, international migration shared by population size and no
    internal moves: each region's share of every sex and age stays its jump-off share, every year and path
    (the adjustment, one factor per sex and age over all regions, cannot make this hold by itself)."""
    rng = np.random.default_rng(23)
    size = np.array([0.5, 0.3, 0.15, 0.05])
    with jax.enable_x64(True):
        start, rates, national = national_paths(rng, gross=False)
        schedules = RegionalSchedules(jnp.zeros((REGIONS, 2, AGES)), jnp.ones((1, 1, 1)))
        paths = regional_paths(
            jnp.asarray(start[:, None] * size[:, None, None]),
            rates,
            jnp.asarray(national),
            fixed_levels(size),
            schedules,
        )
    population = np.asarray(paths.population)
    occupied = national > 0
    shares = population / np.where(occupied, national, 1.0)[:, :, None]
    for region in range(REGIONS):
        np.testing.assert_allclose(shares[:, :, region][occupied], size[region], rtol=1e-10)
    assert np.abs(np.asarray(paths.adjustment)).max() < 1e-8 * national.sum(-1).max()


def test_national_kernel_rates():
    """A labelled rate set (draw, year, ...) becomes kernel rates (year, draw, ...)."""
    rng = np.random.default_rng(24)
    rate_set = xr.Dataset(
        {
            "fertility": (("draw", "year", "mother_age"), rng.uniform(size=(2, 3, 35))),
            "mortality": (("draw", "year", "sex", "age"), rng.uniform(size=(2, 3, 2, AGES))),
        }
    )
    with jax.enable_x64(True):
        rates = national_kernel_rates(rate_set)
    assert rates.net_migration is None and rates.transfers is None
    np.testing.assert_array_equal(rates.mortality, np.swapaxes(rate_set["mortality"].values, 0, 1))


def test_norway_counties_follow_small_national_paths(shared_data):
    """Smoke test on real inputs: Norway's 15 counties from 1 January 2024, six years, under four national
    paths (2023's national rates from `norway_counties`, fertility and mortality moved by up to 10% per
    path; 2023's international net migration). County factors: those reproducing 2022's registered births
    and deaths, moved by 5% per path. International migration shared by county population; internal moves
    synthetic (2% a year at ages 0-69 in every county, destinations by county population: the counties have
    no registered gross flows). The counties sum to every national path, no cell is negative, internal moves
    cancel, the adjustment stays below 0.5% of the population a year, and no county moves more than 10%."""
    from stochpop.data.norway import load_country
    from stochpop.regions.estimated_rates import regional_account
    from stochpop.regions.levels import observed_factors
    from stochpop.regions.norway_counties import county_inputs

    inputs = county_inputs(load_country(shared_data / "norway"), shared_data / "norway" / "regional")
    factors = {
        kind: observed_factors(
            getattr(inputs, kind), inputs.expected[kind], xr.ones_like(inputs.expected[kind])
        )
        for kind in ("births", "deaths")
    }
    account = regional_account(inputs.population, inputs.rates, factors["births"], factors["deaths"])
    ages = inputs.population.sizes["age"]

    def padded(values: np.ndarray, mode: str) -> np.ndarray:
        return np.pad(values, [(0, 0)] * (values.ndim - 1) + [(0, AGES - ages)], mode=mode)

    start = padded(inputs.population.sel(year=2023).transpose("region", "sex", "age").values, "constant")
    rates_2023 = inputs.rates.sel(year=2023)
    q = rates_2023["deaths"].transpose("sex", "age").values
    net = account["international"].sel(year=2023).sum("region").transpose("sex", "age").values
    rng = np.random.default_rng(25)
    years, paths, regions = 6, 4, start.shape[0]
    level = rng.uniform(0.9, 1.1, size=(2, 1, paths, 1))
    county = {kind: factors[kind].sel(year=2022).values for kind in ("births", "deaths")}
    size = start.sum((-1, -2)) / start.sum()
    destination = size[None, :] * (1.0 - np.eye(regions))
    with jax.enable_x64(True):
        rates = Rates(
            fertility=jnp.asarray(level[0] * rates_2023["fertility"].values * np.ones((years, paths, 35))),
            mortality=jnp.asarray(
                level[1, ..., None] * padded(-np.log1p(-q), "edge") * np.ones((years, paths, 1, 1))
            ),
            net_migration=jnp.asarray(padded(net, "constant") * np.ones((years, paths, 1, 1))),
        )
        national, _ = project(jnp.asarray(np.broadcast_to(start.sum(0), (paths, 2, AGES))), rates)
        fertility, mortality = (
            jnp.asarray(county[kind] * rng.uniform(0.95, 1.05, (years, paths, regions))) for kind in county
        )
        ones = jnp.ones((years, 1, regions))
        shares = (destination / destination.sum(1, keepdims=True))[:, :, None, None]
        levels = RegionalLevels(
            fertility,
            mortality,
            ones,
            ones * size,
            jnp.broadcast_to(jnp.asarray(shares), (years, 1, *shares.shape)),
        )
        schedules = RegionalSchedules(jnp.full((regions, 2, AGES), 0.02), jnp.ones((1, 1, 1)))
        regional = regional_paths(jnp.asarray(start), rates, national, levels, schedules)
    population = np.asarray(regional.population)
    np.testing.assert_allclose(population.sum(2), np.asarray(national), rtol=1e-6, atol=1e-9)
    assert (population >= 0).all()
    moved_in, moved_out = np.asarray(regional.flows.transfers_in), np.asarray(regional.flows.transfers_out)
    np.testing.assert_allclose(moved_in.sum(2), moved_out.sum(2), rtol=1e-10)
    totals = population.sum((-1, -2))
    assert (np.abs(np.asarray(regional.adjustment)).sum(-1) < 0.005 * totals).all()
    change = totals[-1] / start.sum((-1, -2))
    assert (np.abs(change - 1.0) < 0.10).all(), change


def test_an_internal_shift_adds_its_persons_to_the_regions_net_migration():
    """A scenario's shift (persons per region and year, summing to zero) changes each region's net
    migration by exactly the shift in the first year (the same stock, nothing capped), spread over sex and
    age as the region's out-migration schedule; the regions still sum to the national path."""
    rng = np.random.default_rng(26)
    with jax.enable_x64(True):
        start, rates, national = national_paths(rng, gross=True)
        regional_start = start[:, None] * np.array([0.4, 0.3, 0.2, 0.1])[:, None, None]
        levels, schedules = random_inputs(rng)
        shift = rng.normal(0.0, 200.0, size=(YEARS, PATHS, REGIONS))
        shift -= shift.mean(-1, keepdims=True)
        base = regional_paths(jnp.asarray(regional_start), rates, jnp.asarray(national), levels, schedules)
        shifted = regional_paths(
            jnp.asarray(regional_start),
            rates,
            jnp.asarray(national),
            levels._replace(internal_shift=jnp.asarray(shift)),
            schedules,
        )

    def net(paths) -> np.ndarray:
        return np.asarray(paths.flows.immigrations - paths.flows.emigrations).sum(-1)

    np.testing.assert_allclose(net(shifted)[0] - net(base)[0], shift[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(np.asarray(shifted.population).sum(2), national, rtol=1e-6)
    assert not np.allclose(np.asarray(shifted.population), np.asarray(base.population))
