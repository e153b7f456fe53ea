"""The JAX kernel against a loop-by-loop NumPy reference, accounting identities, and state axes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_kernel import project_cells_one_path, project_one_path

from stochpop.projection.kernel import KernelConfig, Rates, Transfers, project, project_year

YEARS, PATHS, AGES = 12, 5, 120


def random_inputs(rng: np.random.Generator, paths: int = PATHS, years: int = YEARS) -> dict[str, np.ndarray]:
    """Random but demographically shaped inputs with a leading year axis and a path axis."""
    ages = np.arange(AGES)
    pop = rng.uniform(1e3, 5e4, size=(paths, 2, AGES)) * np.exp(-ages / 60)
    base_m = 1e-4 * np.exp(0.09 * ages)
    mortality = base_m * rng.uniform(0.5, 1.5, size=(years, paths, 2, AGES))
    fertility = rng.uniform(0.0, 0.15, size=(years, paths, 35))
    net = rng.normal(0, 300, size=(years, paths, 2, AGES))
    # Some large negative nets so that outflows are capped by the population at risk.
    net[:, :, :, 60:70] = -1e5
    immigration = rng.uniform(0, 800, size=(years, paths, 2, AGES))
    emigration = rng.uniform(0, 0.05, size=(years, paths, 2, AGES))
    emigration[:, :, :, 30] = 0.999  # q + e > 1: exits are scaled to the population at risk
    return dict(
        pop=pop,
        mortality=mortality,
        fertility=fertility,
        net=net,
        immigration=immigration,
        emigration=emigration,
    )


def reference(inputs: dict[str, np.ndarray], gross: bool, max_age: int | None) -> dict[str, np.ndarray]:
    """Reference run path by path, stacked to (years, paths, ...)."""
    runs = []
    for p in range(inputs["pop"].shape[0]):
        kwargs = (
            dict(immigration=inputs["immigration"][:, p], emigration=inputs["emigration"][:, p])
            if gross
            else dict(net_migration=inputs["net"][:, p])
        )
        runs.append(
            project_one_path(
                inputs["pop"][p],
                inputs["fertility"][:, p],
                inputs["mortality"][:, p],
                migration_max_age=max_age,
                **kwargs,
            )
        )
    return {k: np.stack([r[k] for r in runs], axis=1) for k in runs[0]}


def run_kernel(inputs: dict[str, np.ndarray], gross: bool, max_age: int | None):
    rates = Rates(
        fertility=jnp.asarray(inputs["fertility"]),
        mortality=jnp.asarray(inputs["mortality"]),
        net_migration=None if gross else jnp.asarray(inputs["net"]),
        immigration=jnp.asarray(inputs["immigration"]) if gross else None,
        emigration=jnp.asarray(inputs["emigration"]) if gross else None,
    )
    return project(
        jnp.asarray(inputs["pop"]), rates, config=KernelConfig(migration_max_age=max_age), flows_by_age=True
    )


@pytest.mark.parametrize("gross", [False, True])
@pytest.mark.parametrize("max_age", [69, None])
def test_kernel_matches_numpy_reference(gross, max_age):
    inputs = random_inputs(np.random.default_rng(1))
    with jax.enable_x64(True):
        populations, flows = run_kernel(inputs, gross, max_age)
    expected = reference(inputs, gross, max_age)
    np.testing.assert_allclose(populations, expected["population"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(flows.births, expected["births"], rtol=1e-6)
    for name in ("deaths", "emigrations", "immigrations"):
        np.testing.assert_allclose(getattr(flows, name), expected[name], rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("gross", [False, True])
def test_accounting_identity_and_no_negative_population_float32(gross):
    """P(t+1) = P(t) + B - D - E + I for every path-year, in float32, and never negative or NaN."""
    inputs = {k: v.astype(np.float32) for k, v in random_inputs(np.random.default_rng(2), years=30).items()}
    populations, flows = run_kernel(inputs, gross, 69)
    populations = np.asarray(populations, dtype=np.float64)
    previous = np.concatenate([inputs["pop"][None].astype(np.float64), populations[:-1]])
    change = (
        np.asarray(flows.births, np.float64).sum(-1)
        - np.asarray(flows.deaths, np.float64).sum((-1, -2))
        - np.asarray(flows.emigrations, np.float64).sum((-1, -2))
        + np.asarray(flows.immigrations, np.float64).sum((-1, -2))
    )
    totals = populations.sum((-1, -2))
    np.testing.assert_allclose(totals, previous.sum((-1, -2)) + change, rtol=2e-6)
    assert np.isfinite(populations).all()
    assert (populations >= 0).all()
    # The capped outflows really bound: the heavy negative nets empty the oldest ages.
    if not gross:
        assert populations[-1, :, :, 60:70].max() == 0.0


def test_two_regions_with_internal_migration_matrix():
    """A region axis with an internal migration matrix: moves sum to zero and each region's identity holds."""
    rng = np.random.default_rng(3)
    inputs = random_inputs(rng, paths=4, years=10)
    regions = 2
    pop = np.stack([inputs["pop"], 0.5 * inputs["pop"]], axis=1)  # (paths, region, sex, age)
    out_rate = rng.uniform(0.0, 0.06, size=(10, 4, regions, 2, AGES))
    destination = np.broadcast_to(np.array([[0.0, 1.0], [1.0, 0.0]])[:, :, None, None], (10, 2, 2, 1, 1))
    with jax.enable_x64(True):
        rates = Rates(
            fertility=jnp.asarray(inputs["fertility"][:, :, None]),
            mortality=jnp.asarray(inputs["mortality"][:, :, None]),
            immigration=jnp.asarray(np.stack([inputs["immigration"], 0.2 * inputs["immigration"]], axis=2)),
            emigration=jnp.asarray(inputs["emigration"][:, :, None]),
            transfers=Transfers(out_rate=jnp.asarray(out_rate), destination=jnp.asarray(destination)),
        )
        populations, flows = project(jnp.asarray(pop), rates, flows_by_age=True)
        national, _ = project(
            jnp.asarray(pop.sum(1)),
            Rates(
                fertility=jnp.asarray(inputs["fertility"]),
                mortality=jnp.asarray(inputs["mortality"]),
                immigration=jnp.asarray(1.2 * inputs["immigration"]),
                emigration=jnp.asarray(inputs["emigration"]),
            ),
        )
    moved_in, moved_out = np.asarray(flows.transfers_in), np.asarray(flows.transfers_out)
    assert moved_out.sum() > 0
    # Internal moves sum to zero over regions, per path, year, sex and age.
    np.testing.assert_allclose(moved_in.sum(2), moved_out.sum(2), rtol=1e-12)
    # With region 0 sending everyone to region 1 and back, in-moves of one are out-moves of the other.
    np.testing.assert_allclose(moved_in[:, :, 1], moved_out[:, :, 0], rtol=1e-12)
    # Each region's own accounting identity.
    previous = np.concatenate([pop[None], np.asarray(populations)[:-1]])
    change = np.asarray(flows.births).sum(-1) + (
        np.asarray(flows.immigrations)
        - np.asarray(flows.deaths)
        - np.asarray(flows.emigrations)
        + moved_in
        - moved_out
    ).sum((-1, -2))
    np.testing.assert_allclose(
        np.asarray(populations).sum((-1, -2)), previous.sum((-1, -2)) + change, rtol=1e-10
    )
    # Below the cap on exits, summing regions gives the national projection of the summed population
    # (same rates everywhere; internal moves cancel) - except where q + e + o > 1 rescaled exits.
    keep = np.ones(AGES, bool)
    keep[30] = False  # the age where emigration 0.999 forces rescaling with regional out-moves
    regional_sum = np.asarray(populations).sum(2)
    assert np.isfinite(regional_sum).all()
    np.testing.assert_allclose(regional_sum[0][..., keep], np.asarray(national)[0][..., keep], rtol=1e-10)


@pytest.mark.parametrize(
    "layout",
    ["shared", "shared_broadcast_sex_age", "per_path", "per_path_broadcast_sex_age"],
)
def test_transfers_match_numpy_reference(layout):
    """Internal moves between 4 regions against the loop-by-loop reference, with destination shares shared
    by every path ((R, R, 2, A) or (R, R, 1, 1) each year: the in-moves are a contraction over the origin)
    or each path's own ((paths, R, R, 2, A) or (paths, R, R, 1, 1)), exits rescaled where q + e + o > 1."""
    rng = np.random.default_rng(6)
    paths, years, regions = 3, 6, 4
    inputs = random_inputs(rng, paths=paths, years=years)
    pop = inputs["pop"][:, None] * rng.uniform(0.2, 1.5, size=(paths, regions, 1, 1))
    by_region = (years, paths, regions)
    mortality = inputs["mortality"][:, :, None] * rng.uniform(0.8, 1.2, size=(*by_region, 2, AGES))
    fertility = inputs["fertility"][:, :, None] * rng.uniform(0.8, 1.2, size=(*by_region, 1))
    immigration = inputs["immigration"][:, :, None] * rng.uniform(0.0, 0.5, size=(*by_region, 1, 1))
    emigration = np.minimum(
        inputs["emigration"][:, :, None] * rng.uniform(0.5, 1.5, size=(*by_region, 1, 1)), 1
    )
    out_rate = rng.uniform(0.0, 0.08, size=(*by_region, 2, AGES))
    out_rate[:, :, 1, :, 20] = 0.6  # with emigration 0.999 at age 30 below, q + e + o > 1 there
    sex_age = (2, AGES) if layout in ("shared", "per_path") else (1, 1)
    own = (paths,) if layout.startswith("per_path") else ()
    # (years, *own, R_from, R_to, *sex_age): rows sum to 1, nobody moves within a region.
    raw = rng.uniform(0.05, 1.0, size=(years, *own, regions, regions, *sex_age))
    raw = raw * (1.0 - np.eye(regions))[:, :, None, None]
    destination = raw / raw.sum(-3, keepdims=True)
    with jax.enable_x64(True):
        rates = Rates(
            fertility=jnp.asarray(fertility),
            mortality=jnp.asarray(mortality),
            immigration=jnp.asarray(immigration),
            emigration=jnp.asarray(emigration),
            transfers=Transfers(out_rate=jnp.asarray(out_rate), destination=jnp.asarray(destination)),
        )
        populations, flows = project(jnp.asarray(pop), rates, flows_by_age=True)
    full = np.broadcast_to(
        destination if own else destination[:, None], (years, paths, regions, regions, 2, AGES)
    )
    runs = [
        project_cells_one_path(
            pop[p],
            np.broadcast_to(fertility[:, p], (years, regions, 35)),
            mortality[:, p],
            np.broadcast_to(immigration[:, p], (years, regions, 2, AGES)),
            np.broadcast_to(emigration[:, p], (years, regions, 2, AGES)),
            out_rate=out_rate[:, p],
            destination=full[:, p],
        )
        for p in range(paths)
    ]
    expected = {k: np.stack([r[k] for r in runs], axis=1) for k in runs[0]}
    assert expected["transfers_out"].sum() > 0
    np.testing.assert_allclose(populations, expected["population"], rtol=1e-10, atol=1e-8)
    for name in ("deaths", "emigrations", "transfers_in", "transfers_out"):
        np.testing.assert_allclose(getattr(flows, name), expected[name], rtol=1e-10, atol=1e-8, err_msg=name)
    # The moves sum to zero over regions (per path, year, sex and age).
    moved_in, moved_out = np.asarray(flows.transfers_in), np.asarray(flows.transfers_out)
    np.testing.assert_allclose(moved_in.sum(2), moved_out.sum(2), rtol=1e-12)


def test_rates_generated_inside_scan_equal_rates_as_inputs():
    """A Lee-Carter style rates_fn inside the scan gives the same result as precomputed rates."""
    rng = np.random.default_rng(4)
    a = np.log(1e-4 * np.exp(0.09 * np.arange(AGES)))[None].repeat(2, 0)
    b = np.full((2, AGES), 1.0 / AGES)
    k = np.cumsum(rng.normal(-1.0, 0.5, size=(YEARS, PATHS)), axis=0)
    fert = np.full(35, 0.05)
    pop = random_inputs(rng)["pop"]

    def rates_fn(k_t):
        return Rates(fertility=jnp.asarray(fert), mortality=jnp.exp(a + b * k_t[:, None, None]))

    with jax.enable_x64(True):
        inside, _ = project(jnp.asarray(pop), jnp.asarray(k), rates_fn=rates_fn)
        mortality = np.exp(a + b * k[:, :, None, None])
        outside, _ = project(
            jnp.asarray(pop),
            Rates(fertility=jnp.broadcast_to(fert, (YEARS, PATHS, 35)), mortality=jnp.asarray(mortality)),
        )
    np.testing.assert_allclose(inside, outside, rtol=1e-12)


def test_rates_that_see_the_population_follow_it_year_by_year():
    """With `rates_see_population`, each year's rates are computed from that year's 1 January population:
    the scan equals a loop of `project_year` that computes them from the state it has reached."""
    rng = np.random.default_rng(7)
    inputs = random_inputs(rng)
    pop, fert, mort = inputs["pop"], inputs["fertility"], inputs["mortality"]
    share = rng.uniform(0.0, 0.02, size=YEARS)

    def rates_fn(x, population):
        # immigration proportional to each path's 1 January population: a flow the inputs alone cannot give
        return Rates(fertility=x["fert"], mortality=x["mort"], immigration=x["share"] * population)

    with jax.enable_x64(True):
        x = {"fert": jnp.asarray(fert), "mort": jnp.asarray(mort), "share": jnp.asarray(share)}
        scanned, _ = project(jnp.asarray(pop), x, rates_fn=rates_fn, rates_see_population=True)
        state, looped = jnp.asarray(pop), []
        for t in range(YEARS):
            year = Rates(fertility=x["fert"][t], mortality=x["mort"][t], immigration=share[t] * state)
            state, _ = project_year(state, year)
            looped.append(state)
    np.testing.assert_allclose(scanned, np.stack(looped), rtol=1e-12)


def test_observe_keeps_what_it_is_given_of_each_year():
    """`observe` sees each year's start and end population, flows by age and input: its outputs equal
    quantities computed from the default outputs (populations and flows by age)."""
    rng = np.random.default_rng(5)
    inputs = random_inputs(rng)

    def observe(start, population, flows, x):
        return {
            "start": start.sum((-2, -1)),
            "old": population[..., 65:].sum((-2, -1)),
            "deaths": flows.deaths,
            "m": x.mortality[..., 0],
        }

    with jax.enable_x64(True):
        rates = Rates(
            fertility=jnp.asarray(inputs["fertility"]),
            mortality=jnp.asarray(inputs["mortality"]),
            net_migration=jnp.asarray(inputs["net"]),
        )
        populations, flows = project(jnp.asarray(inputs["pop"]), rates, flows_by_age=True)
        kept = project(jnp.asarray(inputs["pop"]), rates, observe=observe)
    np.testing.assert_allclose(kept["old"], np.asarray(populations)[..., 65:].sum((-2, -1)), rtol=1e-12)
    starts = np.concatenate([inputs["pop"][None], np.asarray(populations)[:-1]])
    np.testing.assert_allclose(kept["start"], starts.sum((-2, -1)), rtol=1e-12)
    np.testing.assert_allclose(kept["deaths"], flows.deaths, rtol=1e-12)
    np.testing.assert_array_equal(kept["m"], inputs["mortality"][..., 0])
