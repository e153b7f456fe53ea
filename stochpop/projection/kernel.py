"""The cohort-component kernel: one projection year, and `jax.lax.scan` over years.

Pure JAX, knows nothing of files, models or xarray. Conventions are those of `stochpop.conventions`
(SSB BEFINN): ages by age at end of year 0..119 (119 open), births first, then ageing
(`stochpop.demography.ageing.age_one_year`), then deaths and emigrations (and internal out-moves) computed
on the aged population and deducted, then immigrations (and internal in-moves) added.

Array axes. The state is `population[..., sex, age]` with sex = 2 (female, male) and age = 120. Every
leading axis `...` broadcasts: a path axis (thousands of sampled futures), and state axes such as regions
or population groups. Rates carry the same trailing axes and broadcast against the state, so one set of
rates can serve all paths or each path can have its own. The axis just before (sex, age), when there is
one, holds the *cells* of the state (regions, or population groups such as immigrants by country group
and duration of stay); the kernel knows nothing of what a cell means, only three ways people change cell:

* `Transfers` (rates): a share of each cell moves to other cells during the year, competing with deaths
  and emigration on the aged population (internal migration).
* `Rates.birth_destination` (shares): the births of mothers in cell c are born into cells c' (children
  of immigrant women born into a group of their own or into the rest of the population).
* `KernelConfig.reclassify` (static structure): at the end of the year everyone present in cell c moves,
  whole, to one cell (every immigrant one duration class up, the last class open).

The year, in SSB's order (reference ch. 4.1), with the cell moves in it:

1. births, from women by age at end of year and by their 1 January cell, into their destination cells;
2. ageing (the 1 January stock one year older, the newborns at age 0);
3. deaths, emigrations and transfers out on the aged population, by the 1 January cell; transfers in;
4. reclassification of everyone now present (survivors of the 1 January stock and the year's newborns);
5. immigrations, added in the cell they hold at the end of the year.

So every rate of the year applies to the cell held on 1 January (for durations of stay: completed years
of stay at the start of the year, 0 = arrived the year before, SSB's emigration class "0 years"), and the
year's immigrants, who cannot die, emigrate or give birth in their year of arrival (reference ch. 4.1,
"multiple events"), are not reclassified: immigrants of year t are in duration 0 on 1 January t + 1,
and those who were in duration d on 1 January t are in d + 1 (the open class keeps its own).
"""

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from stochpop.conventions import (
    FERTILE_AGES,
    MIGRATION_MAX_AGE,
    N_AGES,
    Q_FIXED_FROM_AGE,
    Q_FIXED_VALUE,
    SHARE_BOYS,
)
from stochpop.demography.ageing import age_one_year

Array = jax.Array


class Transfers(NamedTuple):
    """Moves between the cells of the state axis just before (sex, age), e.g. regions.

    out_rate: (..., R, 2, A) probability of moving out of each cell in the year.
    destination: (..., R_from, R_to, 2, A) or broadcastable (e.g. (R, R, 1, 1)); rows sum to 1 and the
        diagonal is 0 for internal moves, so moves sum to zero over the axis.
    """

    out_rate: Array
    destination: Array


class Rates(NamedTuple):
    """One year's demographic inputs by age at end of year; leading axes broadcast with the state.

    fertility: (..., 35) births per woman aged 15..49 at end of year.
    mortality: (..., 2, A) central death rates m; q = 1 - exp(-m).
    Migration, either net or gross (or none):
    net_migration: (..., 2, A) net counts (negative = net outflow).
    immigration: (..., 2, A) counts; emigration: (..., 2, A) probabilities.
    transfers: moves between cells of a state axis (`Transfers`), or None.
    birth_destination: (..., C_from, C_to) shares, rows summing to 1: the births to mothers of cell c
        (the cell axis is the one just before (sex, age)) are born into cell c' in share [c, c'], or None
        (births stay in their mother's cell).
    """

    fertility: Array
    mortality: Array
    net_migration: Array | None = None
    immigration: Array | None = None
    emigration: Array | None = None
    transfers: Transfers | None = None
    birth_destination: Array | None = None


class Flows(NamedTuple):
    """Events of one year. births: (..., 2); the others (..., 2, A) by age at end of year.

    births are those born into each cell (by the `Rates.birth_destination`, else the mother's cell), so
    each cell's accounting identity holds with them; births_by_mother (..., C, 2) are the same births by
    the mother's cell, None without a `birth_destination`. transfers_in / transfers_out are None when no
    `Transfers` are given. Reclassification (`KernelConfig.reclassify`) is not a flow here: it moves the
    survivors of step 3 (aged - deaths - emigrations - transfers out + transfers in, all reported) whole,
    so it follows from the other flows and the 1 January population, and a (..., C, 2, A) record of it
    would double what a grouped projection keeps each year.
    """

    births: Array
    deaths: Array
    emigrations: Array
    immigrations: Array
    transfers_in: Array | None = None
    transfers_out: Array | None = None
    births_by_mother: Array | None = None


class KernelConfig(NamedTuple):
    """Static settings (hashable, so usable as a `jit` static argument)."""

    share_boys: float = SHARE_BOYS
    fertile_ages: tuple[int, int] = FERTILE_AGES
    q_fixed_from_age: int = Q_FIXED_FROM_AGE
    q_fixed_value: float = Q_FIXED_VALUE  # a probability, <= 1
    migration_max_age: int | None = MIGRATION_MAX_AGE
    # reclassify[c]: the cell (along the axis just before (sex, age)) that everyone present in cell c moves
    # to at the end of the year, before the year's immigrants are added; None: nobody changes cell. Static
    # (the same every path and year), so each move compiles to a copy, not a (C, C) product.
    reclassify: tuple[int, ...] | None = None


DEFAULT_CONFIG = KernelConfig()


def death_probability(mortality: Array, config: KernelConfig) -> Array:
    """q = 1 - exp(-m) by age at end of year, fixed at `q_fixed_value` from `q_fixed_from_age`."""
    q = 1.0 - jnp.exp(-jnp.maximum(mortality, 0.0))
    ages = jnp.arange(q.shape[-1])
    return jnp.where(ages >= config.q_fixed_from_age, config.q_fixed_value, q)


def births(population: Array, fertility: Array, config: KernelConfig) -> Array:
    """Births by sex (..., 2) from women (sex 0) by age at end of year (after ageing)."""
    lo, hi = config.fertile_ages
    women = population[..., 0, lo - 1 : hi - 1]  # aged lo-1..hi-2 on 1 January -> lo..hi-1 at year end
    total = jnp.sum(women * fertility, axis=-1)
    return jnp.stack([(1.0 - config.share_boys) * total, config.share_boys * total], axis=-1)


def born_into(newborns: Array, destination: Array) -> Array:
    """Births by the mother's cell (..., C_from, 2) -> by the cell they are born into (..., C_to, 2), with
    destination shares (..., C_from, C_to)."""
    return jnp.matmul(jnp.swapaxes(destination, -1, -2), newborns, precision=jax.lax.Precision.HIGHEST)


def reclassified(population: Array, targets: tuple[int, ...]) -> Array:
    """population (..., C, 2, A) with each cell c moved whole to cell targets[c] (..., C, 2, A).

    Cell j gathers the cells sent to it: one gather per source it can have (for the duration advance two:
    the class below and, for the open class, itself), from the cells padded with an empty one.
    """
    cells = len(targets)
    sources = [[c for c in range(cells) if targets[c] == j] for j in range(cells)]
    padded = jnp.concatenate([population, jnp.zeros_like(population[..., :1, :, :])], axis=-3)
    moved = None
    for k in range(max(len(s) for s in sources)):
        kth_source = [s[k] if k < len(s) else cells for s in sources]
        moved = _plus(jnp.take(padded, jnp.array(kth_source), axis=-3), moved)
    assert moved is not None  # every cell goes somewhere, so some cell has a source
    return moved


def transferred_in(moved_out: Array, destination: Array) -> Array:
    """In-moves (..., R_to, 2, A): the out-moves (..., R_from, 2, A) summed over their origin with the
    `Transfers.destination` shares (..., R_from, R_to, 2, A) or broadcastable.

    A destination shared by several rows of the out-moves (by every path, or by every sex and age: (R, R,
    1, 1)) makes the sum a contraction over the origin, a matrix product per shared block. On XLA CPU (jax
    0.10, 2 cores) with 50 paths x 100 regions and one (R, R, 2, 120) destination given as an input, a
    26-year projection took 0.84 s this way against 9.0 s as a multiply-and-sum over the origin (XLA fuses
    that into the sum, forming no (..., R, R, 2, A) array, but runs it as a slow reduction; it rewrote it
    as a product by itself only where the destination was a compile-time constant). A destination as large
    as the product (each path's own, by sex and age) is read once whatever the method, and there the fused
    multiply-and-sum is 1.2-1.8x faster than a product of 1 x R vectors.
    """
    own = destination.shape[:-4] == moved_out.shape[:-3] and destination.shape[-2:] == moved_out.shape[-2:]
    if own:
        return jnp.sum(moved_out[..., :, None, :, :] * destination, axis=-4)
    return jnp.einsum("...fsa,...ftsa->...tsa", moved_out, destination, precision=jax.lax.Precision.HIGHEST)


def migration_mask(config: KernelConfig, dtype: Any) -> Array | float:
    """1 at ages with migration, 0 above `migration_max_age`, shape (A,)."""
    if config.migration_max_age is None:
        return 1.0
    return (jnp.arange(N_AGES) <= config.migration_max_age).astype(dtype)


def _plus(total: Array, term: Array | None) -> Array:
    return total if term is None else total + term


def _minus(total: Array, term: Array | None) -> Array:
    return total if term is None else total - term


def aged_with_births(population: Array, rates: Rates, config: KernelConfig) -> tuple[Array, Array, Array]:
    """Steps 1-2 of the year: births by the mother's cell (..., 2), births by the cell they are born into
    (..., 2), and the population aged one year with the newborns at age 0 (..., 2, A)."""
    by_mother = births(population, rates.fertility, config)
    newborns = by_mother if rates.birth_destination is None else born_into(by_mother, rates.birth_destination)
    return by_mother, newborns, age_one_year(population, newborns, jnp)


def exit_probabilities(
    rates: Rates, config: KernelConfig, mask: Array | float
) -> tuple[Array, Array | None, Array | None]:
    """The year's probabilities of dying, emigrating and moving out (None where the rates have no such
    flow), on the aged population by age at end of year, migration masked by `mask`
    (`migration_mask`); competing exits scaled so that together they never exceed 1."""
    # Absent rates are skipped rather than computed as zeros: XLA keeps `x * 0` and `x - 0` (NaN and signed
    # zero semantics), and every extra term costs a pass over the state.
    q = death_probability(rates.mortality, config)
    e = None if rates.emigration is None else jnp.clip(rates.emigration, 0.0, 1.0) * mask
    o = None if rates.transfers is None else jnp.clip(rates.transfers.out_rate, 0.0, 1.0) * mask
    if e is not None or o is not None:
        # Competing exits from the aged population can never remove more than it holds (q alone is <= 1).
        scale = 1.0 / jnp.maximum(_plus(_plus(q, e), o), 1.0)
        q = q * scale
        e = None if e is None else e * scale
        o = None if o is None else o * scale
    return q, e, o


def project_year(
    population: Array, rates: Rates, config: KernelConfig = DEFAULT_CONFIG
) -> tuple[Array, Flows]:
    """Population on 1 January (..., 2, A) -> population a year later, and the year's `Flows` (the order
    of the year's events: the module docstring)."""
    by_mother, newborns, aged = aged_with_births(population, rates, config)
    mask = migration_mask(config, population.dtype)

    q, e, o = exit_probabilities(rates, config, mask)
    deaths = q * aged
    emigrations = None if e is None else e * aged
    moved_out = None if o is None else o * aged
    immigrations = None if rates.immigration is None else jnp.maximum(rates.immigration, 0.0) * mask
    if rates.net_migration is not None:
        net = rates.net_migration * mask
        remaining = _minus(_minus(aged - deaths, emigrations), moved_out)
        emigrations = _plus(jnp.minimum(jnp.maximum(-net, 0.0), remaining), emigrations)
        immigrations = _plus(jnp.maximum(net, 0.0), immigrations)
    moved_in = None
    if rates.transfers is not None:
        assert moved_out is not None  # o, hence moved_out, is set whenever transfers are given
        moved_in = transferred_in(moved_out, rates.transfers.destination)

    present = _plus(_minus(_minus(aged - deaths, emigrations), moved_out), moved_in)
    if config.reclassify is not None:
        present = reclassified(present, config.reclassify)
    following = _plus(present, immigrations)
    flows = Flows(
        births=newborns,
        deaths=deaths,
        emigrations=jnp.zeros_like(aged) if emigrations is None else emigrations,
        immigrations=jnp.zeros_like(aged) if immigrations is None else immigrations,
        transfers_in=moved_in,
        transfers_out=moved_out,
        births_by_mother=None if rates.birth_destination is None else by_mother,
    )
    return jnp.maximum(following, 0.0), flows


def sum_over_age(flows: Flows) -> Flows:
    """Flows with the age axis summed out: (..., 2) for every event (births already are).

    The sums are products with a vector of ones: on XLA CPU (jax 0.10) a reduction over the minor (age) axis
    fused into the scan step was measured 2-2.5x slower than a matrix-vector product on the flows.
    """

    def total(value: Array) -> Array:
        ones = jnp.ones(value.shape[-1], value.dtype)
        return jnp.matmul(value, ones, precision=jax.lax.Precision.HIGHEST)

    def total_or_none(value: Array | None) -> Array | None:
        return None if value is None else total(value)

    return Flows(
        births=flows.births,
        deaths=total(flows.deaths),
        emigrations=total(flows.emigrations),
        immigrations=total(flows.immigrations),
        transfers_in=total_or_none(flows.transfers_in),
        transfers_out=total_or_none(flows.transfers_out),
        births_by_mother=flows.births_by_mother,
    )


@partial(jax.jit, static_argnames=("rates_fn", "config", "flows_by_age", "observe", "rates_see_population"))
def project(
    population: Array,
    inputs: Any,
    rates_fn: Callable[..., Rates] | None = None,
    config: KernelConfig = DEFAULT_CONFIG,
    flows_by_age: bool = False,
    observe: Callable[[Array, Array, Flows, Any], Any] | None = None,
    rates_see_population: bool = False,
) -> Any:
    """Project `population` (..., 2, A) over the years of `inputs`, whose pytree leaves lead with year.

    `inputs` are `Rates` (each leaf (years, ...)), or, with `rates_fn`, any low-dimensional per-year pytree
    that `rates_fn` turns into `Rates` inside the scan (e.g. Lee-Carter indices per path), so full rate
    arrays never sit in memory. With `rates_see_population`, `rates_fn(x, population)` also gets the
    year's 1 January population (..., 2, A): rates that depend on the state, e.g. flows set to make the
    sum over cells follow a given total, or fertility normalised over the cells' women. Compiled once per
    shape and set of functions (`jit`). Returns populations
    at the end of each year (years, ..., 2, A) and the stacked `Flows`, by sex (years, ..., 2) or, with
    `flows_by_age`, by sex and age (years, ..., 2, A).

    `observe(population, following, flows, x)`, if given, says what to keep of each year instead: it gets
    the population at the start and at the end of the year, the year's `Flows` by sex and age and the
    year's input, returns any pytree, and `project` returns those stacked over years (e.g. indicators
    computed inside the scan).
    """
    if rates_see_population and rates_fn is None:
        raise ValueError("rates_see_population needs a rates_fn(x, population)")

    def kept(pop: Array, following: Array, flows: Flows, x: Any) -> Any:
        if observe is not None:
            return observe(pop, following, flows, x)
        return following, flows if flows_by_age else sum_over_age(flows)

    def step(pop: Array, x: Any) -> tuple[Array, Any]:
        if rates_fn is None:
            rates = x
        else:
            rates = rates_fn(x, pop) if rates_see_population else rates_fn(x)
        following, flows = project_year(pop, rates, config)
        return following, kept(pop, following, flows, x)

    return jax.lax.scan(step, population, inputs)[1]
