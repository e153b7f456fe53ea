"""Regional paths consistent with the national paths: SSB's BEFREG adjusted to BEFINN (reference ch. 4.3,
5.2, 7), path by path.

For a chunk of national paths (their kernel rates each year and their national population at the end of
each year) the regions (draw, region, sex, age) are projected by the kernel with a region axis, each year:

1. Rates from the path's national ones (reference ch. 5.2 and 3: the national path moved by fixed regional
   differences; here by levels per path and year, `RegionalLevels`, e.g. draws of the `levels` posterior):

       fertility_r = b_r(t) fertility                 (births per woman at risk, by age at end of year)
       q_r = min(d_r(t) q, 1),  q = 1 - exp(-m)       (death probability; the kernel gets -log(1 - q_r))

   The factor multiplies the death probability as `levels` estimates it; from `q_fixed_from_age` the
   kernel's fixed q applies in every region. International migration: the path's national counts (net
   migration, or immigrations) are shared among the regions, at each sex and age, in proportion to
   c_r(t) g_r(s, x) (`RegionalLevels.international` times `RegionalSchedules.international`; SSB: the last
   ten years' shares of the immigrants); national emigration probabilities apply in every region. Internal
   migration, the kernel's `Transfers`: out-rates min(o_r(t) o_r(s, x), 1) (`RegionalLevels.out_migration`
   times `RegionalSchedules.out_migration`; SSB: out-migration probabilities from the last ten years,
   ages 0-69, the kernel's `migration_max_age`) and the year's destination shares
   (`RegionalLevels.destination`); a scenario's shift of net internal migration (persons by region,
   `RegionalLevels.internal_shift`) joins the net migration, spread over sex and age as the region's
   out-migration schedule. Where the levels and schedules come from (`regions.model`) is the caller's.
2. `kernel.project_year` on the regional stock.
3. The adjustment (reference ch. 4.3): each sex and age is scaled by one factor over all regions so that the
   regions sum to the path's national population,

       P_r(t) <- N(t) P_r(t) / sum_j P_j(t)    by sex and age,

   written as N times the region's share, so one region is the national path exactly. Where no region has
   anyone of a sex and age the national number goes to the regions by their share of that sex (all ages),
   and to every region equally if no region has anyone of that sex. The next year starts from the adjusted
   stock.

Flows are the regional projection's, before the adjustment (SSB adjusts the populations only, so regional
births, deaths and migrations need not sum to the national ones); the adjustment is returned as its own
term, so each region's account holds exactly:

    P_r(t) = aged_r(t) - deaths_r - emigrations_r + immigrations_r + in_r - out_r + adjustment_r.

Everything is vectorised over the paths (a leading draw axis) in one compiled `lax.scan` over years.
Memory: the population output is (year, draw, region, 2, 120), 96 KB per path-year with 100 regions in
float32, so run paths in chunks (as `stochpop.run.chunks` does).
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.projection.kernel import (
    DEFAULT_CONFIG,
    Flows,
    KernelConfig,
    Rates,
    Transfers,
    migration_mask,
    project_year,
    sum_over_age,
)

Array = jax.Array


class RegionalLevels(NamedTuple):
    """What moves by year (the scan's leading axis), then broadcastable with the paths (draw or 1).

    fertility, mortality: level factors b_r, d_r on the national rates (year, draw, R).
    out_migration: multipliers o_r(t) of `RegionalSchedules.out_migration` (year, draw, R).
    international: weights c_r(t) of the regions' shares of the national international migration (year,
        draw, R), positive.
    destination: (year, draw, R_from, R_to, 2, A) or broadcastable (e.g. (year, 1, R, R, 1, 1)); rows sum
        to 1, zero diagonal.
    internal_shift: None, or persons (year, draw, R) of net internal migration added to each region (a
        scenario's, e.g. `regions.labour_panel`; summing to zero over regions), spread over sex and age as
        the region's out-migration schedule.
    """

    fertility: Array
    mortality: Array
    out_migration: Array
    international: Array
    destination: Array
    internal_shift: Array | None = None


class RegionalSchedules(NamedTuple):
    """What is held over the years, by region, sex and age (R, 2, A) or broadcastable (leading draw axis
    allowed).

    out_migration: probability of moving to another region in the year at level o_r(t) = 1.
    international: the regions' relative weights g_r(s, x) of each sex and age of the national
        international migration (ones: every sex and age shared alike).
    """

    out_migration: Array
    international: Array


class RegionalPaths(NamedTuple):
    """population: (year, draw, R, 2, A) at the end of each year, adjusted to the national paths.
    flows: the regional projection's `Flows` by sex (year, draw, R, 2), before the adjustment, with
        transfers_in and transfers_out (internal moves; they sum to zero over regions).
    adjustment: (year, draw, R, 2) persons added to each region by the adjustment (negative: removed),
        summed over age; sums to the national population minus the projected regional sum."""

    population: Array
    flows: Flows
    adjustment: Array


def regional_rates(
    national: Rates,
    levels: RegionalLevels,
    schedules: RegionalSchedules,
    config: KernelConfig = DEFAULT_CONFIG,
) -> Rates:
    """One year's regional kernel `Rates` (draw, R, ...) from the paths' national `Rates` (draw, ...),
    that year's levels (draw, R) and the schedules (step 1 of the module docstring); a shift is spread
    over the ages the kernel migrates (`config.migration_max_age`)."""
    q = -jnp.expm1(-jnp.maximum(national.mortality, 0.0))[..., None, :, :]
    q_regional = jnp.minimum(levels.mortality[..., :, None, None] * q, 1.0)
    weight = levels.international[..., :, None, None] * schedules.international
    share = weight / jnp.sum(weight, axis=-3, keepdims=True)

    def shared(counts: Array | None) -> Array | None:
        return None if counts is None else counts[..., None, :, :] * share

    net = shared(national.net_migration)
    if levels.internal_shift is not None:
        moving = schedules.out_migration * migration_mask(config, schedules.out_migration.dtype)
        pattern = moving / jnp.sum(moving, axis=(-2, -1), keepdims=True)
        shift = levels.internal_shift[..., :, None, None] * pattern
        net = shift if net is None else net + shift
    return Rates(
        fertility=levels.fertility[..., :, None] * national.fertility[..., None, :],
        mortality=-jnp.log1p(-q_regional),
        net_migration=net,
        immigration=shared(national.immigration),
        emigration=None if national.emigration is None else national.emigration[..., None, :, :],
        transfers=Transfers(
            out_rate=jnp.minimum(levels.out_migration[..., :, None, None] * schedules.out_migration, 1.0),
            destination=levels.destination,
        ),
    )


def adjusted_to_national(projected: Array, national: Array) -> Array:
    """Regional stocks (..., R, 2, A) scaled by sex and age to sum to `national` (..., 2, A) (step 3 of
    the module docstring): national times each region's share, (..., R, 2, A)."""
    regions = projected.shape[-3]
    total = jnp.sum(projected, axis=-3, keepdims=True)
    by_sex = jnp.sum(projected, axis=-1, keepdims=True)
    sex_total = jnp.sum(by_sex, axis=-3, keepdims=True)
    sex_share = jnp.where(sex_total > 0, by_sex / jnp.where(sex_total > 0, sex_total, 1.0), 1.0 / regions)
    share = jnp.where(total > 0, projected / jnp.where(total > 0, total, 1.0), sex_share)
    return national[..., None, :, :] * share


@partial(jax.jit, static_argnames=("config",))
def regional_paths(
    start: Array,
    national_rates: Rates,
    national: Array,
    levels: RegionalLevels,
    schedules: RegionalSchedules,
    config: KernelConfig = DEFAULT_CONFIG,
) -> RegionalPaths:
    """Project the regions of a chunk of national paths (module docstring).

    start: the regions' 1 January jump-off stock (R, 2, A) or (draw, R, 2, A).
    national_rates: the paths' kernel `Rates`, leaves (year, draw, ...) (`national_kernel_rates` of
        `PathProjection.rates`, or `simulate.rates_by_year` with the year axis first).
    national: the paths' national population at the end of each year (year, draw, 2, A).
    levels: `RegionalLevels` (year, draw, ...); schedules: `RegionalSchedules`.
    config: the national projection's `KernelConfig`.
    """
    initial = jnp.broadcast_to(start, (*national.shape[1:-2], *start.shape[-3:])).astype(national.dtype)

    def step(population: Array, x: tuple[Rates, Array, RegionalLevels]) -> tuple[Array, tuple]:
        rates, national_t, levels_t = x
        projected, flows = project_year(
            population, regional_rates(rates, levels_t, schedules, config), config
        )
        adjusted = adjusted_to_national(projected, national_t)
        ones = jnp.ones(projected.shape[-1], projected.dtype)
        adjustment = jnp.matmul(adjusted - projected, ones, precision=jax.lax.Precision.HIGHEST)
        return adjusted, (adjusted, sum_over_age(flows), adjustment)

    population, flows, adjustment = jax.lax.scan(step, initial, (national_rates, national, levels))[1]
    return RegionalPaths(population, flows, adjustment)


def national_kernel_rates(rate_set: xr.Dataset) -> Rates:
    """A rate set (draw, year, ...) of `PathProjection.rates` -> kernel `Rates`, leaves (year, draw, ...)."""

    def by_year(name: str) -> Array:
        return jnp.asarray(np.swapaxes(rate_set[name].values, 0, 1))

    def given(name: str) -> Array | None:
        return by_year(name) if name in rate_set else None

    return Rates(
        fertility=by_year("fertility"),
        mortality=by_year("mortality"),
        net_migration=given("net_migration"),
        immigration=given("immigration"),
        emigration=given("emigration"),
    )
