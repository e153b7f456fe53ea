"""Internal migration between regions as a Bayesian model: out-migration by region, age and sex, and
destination shares between regions, moving over time (issue #15, item 2).

Model. Region r, year t (the fitted years, then `horizon` forecast years), sex s, age at end of year x:

    out-moves    O_r(t, s, x) = o(s, x) exp(L(t) + l_r + u_r(t) + h_r(x)) A_r(t, s, x)   (A: stock at risk)
    destination  D_rj(t) = exp(a_j(t) + k_rj) / sum_{i != r} exp(a_i(t) + k_ri),  D_rr = 0
                 a_j(t) = log p_j + w_j + v_j(t)
    in-moves     I_j(t, s, x) = sum_r O_r(t, s, x) D_rj(t);   net = I - O (sums to zero over regions)

    log o(s, x) = B(x) beta +- B_d(x) delta / 2     (cubic B-splines `schedule_bases`, + female; the
                  shape: its mean over ages weighted by the stock at risk is 0; second differences of
                  beta ~ Normal(0, sigma_beta), delta ~ Normal(0, sigma_delta))
    L(t)        national log level, AR(1) around mu ~ Normal(log crude rate, 1)
    l = c - d/2, w = c + d/2          churn c (more moves out and in) and contrast d (in against out),
                                      each Normal(0, tau) less its mean over regions
    u = -n/2, v = n/2,  n_r(t) = N_r(t) - d_r,  N_r(t) an AR(1) around d_r (summing to zero over regions)
    k_rj = k_jr ~ Normal(sum_p kappa_p K_p,rj, tau_k)     pair effects (Norway; none on Greenland)
    h_r(x) = h_r,band(x)    each region's age profile of leaving over `PROFILE_BANDS` (0-17, 18-24,
                            25-34, 35-49, 50-64, 65+): Normal(0, tau_h) less its means over regions and
                            over bands (`fit_internal(age_profiles=True)`, the default)

Linear destinations (`fit_internal(pair_effects=False)`; divisions of many regions, e.g. SSB's 159
labour-market regions: 12 561 pairs). No effect per pair of regions: k_rj = sum_p kappa_p K_p,rj + e_c(r)c(j)
with kappa ~ Normal(0, 1) (features: the same landsdel, the same county, the log distance between the
regions' centres: `division_inputs.division_proximity`) and an effect e per pair of the regions' groups
(counties: 105 pairs; the part that neither the attractions nor the features' county means can give,
`group_pair_basis`, Normal(0, tau_e)), and the attraction a_j(t) = gamma log p_j + w_j + v_j(t), gamma ~
Normal(1, 0.5) the destination's population elasticity. On the BA regions the county-pair effects took the
counties' gross counts from a median error of 20.7% to 6.8% (the county model's: 7.1%; cv 0.28 -> 0.11;
`experiments/ba_internal.py`); sampled non-centred, SVI had shrunk them to nothing (tau_e 0.001). The
yearly contrast deviations n are shared by the regions of one county (`groups`, `deviation_basis`:
(T + horizon)(C - 1) of them, not (T + horizon)(R - 1)). Parameters: churn, contrast and allocation error
per region, the counties' deviations and pair effects, and a fixed number more: 888 for the BA regions
2006-2023 (88 county-pair effects). Moves between regions of one county are counted nowhere in the data
but in the yearly totals of the four BA regions that are one Telemark municipality; the same-county effect is
learnt from those, the net residual and the counties' totals (see `division_inputs.division_internal_data`).

Every AR(1) runs x(t) = m + phi (x(t-1) - m) + s sqrt(1 - phi^2) e(t) from the stationary law (s the
stationary spread ~ HalfNormal(0.2), phi ~ Uniform(0, 1), as `levels`) and goes on as a forecast for the
horizon years. p_j is region j's mean share of the stock at risk over the fitted years, an offset held
also in forecasts (w = 0 sends movers in proportion to population: the gravity of `internal`). K_p are
features of the pairs (Norway: same landsdel, log distance; `county_proximity`), the pair effects kept
orthogonal to what the attractions already do (`pair_incidence`). The model covers every age of the data
(gross counts are of all ages); the kernel gets the schedule at ages 0..69 (`MIGRATION_MAX_AGE`).

Adapted from issue #15's sketch, where the data demanded it (Norway, NUTS 2 x 150): out-level and
attraction as churn and contrast, since the net residual pins down the contrast and leaves the churn to
the gross counts (sampled as l and w the two traded off, and NUTS ran at tree depth 9-10); no yearly
churn deviations (their spread came out 0.013-0.024, and they slowed the sampler), so u and v move
together as the contrast n; pair effects, since a gravity of distance and landsdel left the
origin-destination counts with a coefficient of variation of 0.30-0.37 (0.10 with pair effects: flows
across the Oslofjord fall below distance, Buskerud <-> Vestfold above).

Likelihood. (1) The cohort residual's net internal migration by year, region, sex and age band (with
age profiles; else of all ages): Student-t (`NET_DF`) around I - O + b_r M_r(t, s, band), scale sigma_net
sqrt(A_r(t, s, band)); M the international net migration the residual took away (allocated by population
at risk unless given), b_r ~ Normal(0, tau_b) its error per region (Norway: Oslo's immigrants are about
twice its share of the population; b takes what the allocation misses and leaves the internal flows to the
rest). The regions' age patterns of net migration differ (Oslo gains 18-29 year olds and loses children,
30-49 year olds and the old), and a common schedule with age-independent destinations gives every region
the national one: fitted on the net of all ages, the county back-test over-projected Oslo's 0-19 by 3.4%
a year after the jump-off and under-projected every other county's. The age profiles h let each region's
leaving follow its own pattern (before them, fitting the net by five-year age group bent the common
schedule instead: sigma_beta 3.6, gross counts' cv 0.28-0.42). They move the out-side only: a region's
in-moves keep the national age pattern of the movers sent to it. (2) Gross counts where they exist,
each a sum of flows over origin-destination pairs and sex-age cells in one year: negative binomial with
coefficient of variation cv ~ HalfNormal(0.3); `relative` ones times a free factor c (log c ~ Normal(0,
0.5): counts on other borders, used for their age pattern only).

What identifies what. The net residual pins down each region's contrast d_r + n_r(t) times the gross
level, not the gross level, nor the churn c: a region with high out-level and high attraction nets the
same as one with both low (`internal` found attraction not identified on Greenland from net alone).
Gross counts identify the national level L (counts of any pairs), the churn c and the pair effects
(origin-destination counts and a region's out- or in-totals), kappa (pairs with counts, by their
features), and the schedule's shape (counts by age group: Greenland's national ones, Norway's 2010 ones;
the sex difference only from counts by sex, Greenland's). Where they are silent (Norway after 2011 but
Telemark's 2021 row and column; pairs without counts) the posterior follows the AR(1)s and the features.

Data. Greenland (`greenland_internal_data`): net from `internal.net_internal_migration` (registered
national events allocated by population at risk); the registered regional flows hidden, only the
national out-moves by sex and age group known (of `national_years`, by default all, as `internal`
assumes the national moves known). Norway (`county_internal_data`): the county account of
`estimated_rates` with the registered birth and death totals; gross counts of `county_gross_observations`.

Measured (experiments/internal_migration.py; 2 chains x 300 after 300 warmup, 2 shared cores):
* Greenland 2011-2020, regional flows hidden, national out-moves by sex and age group of every year
  known, with the age profiles: posterior median's region-year out-moves off by 10.1% on average (by
  region 2-22%), in-moves by 12.8% (3-23%); the registered region-year totals inside the 80% intervals
  0.70 / 0.54 (out / in), the 95% intervals 0.90 / 0.88. Qeqertalik comes out 22% low and Avannaata 16%
  / 23% high: without counts by region the churn c follows its prior (registered out-rates, log,
  centred: Qeqertalik +0.31, Sermersooq -0.43; fitted l +0.09, -0.43). Fit 162 s, max R-hat 1.18
  (log_attraction), min bulk ESS 9, 27 divergences: the churn is poorly identified and mixes slowly.
  With the national moves of 2011 only: 35.4% / 36.1% (coverage 0.32 / 0.34 at 80%): with so little
  gross information the profiles and the levels trade off. Without the profiles (the net of all ages) it
  was 9.7% / 9.9% (80% coverage 0.80 / 0.72), and 16.2% / 16.4% with 2011 only: on Greenland the
  profiles, which move the out-side alone, recover the gross flows less well, most with little gross
  information; Norway's counties have far more (below), and their back-test gains (`backtest.regional`).
* Norway's counties 2006-2023, with the age profiles at 2 x (300 + 300) draws: with NumPyro's default
  start (uniform in (-2, 2) on the unconstrained scale, which can start tau_h near 7 and the profiles
  at up to +-10 in log) not converged (max R-hat 2.29, bulk ESS 3, 1 159 s: one chain stuck with flows orders
  of magnitude off); with the chains started at the prior medians (`fit_internal`) max R-hat 1.15
  (log_schedule), bulk ESS 11, no chain stuck, 1 295 s with another fit beside it; counts 2006-2011 within
  7.5% (median |error|), Telemark's 2021 pairs 13.8%, kappa 0.08 (same landsdel) and -0.63 (log
  distance), destination shares between landsdeler within 1.5 points. Greenland at the prior medians'
  start: 10.8% / 13.5% (2011 only: 35.1% / 36.0%), as before within noise. The county back-test's four fits
  at 500 + 500 converged (R-hat 1.02-1.10, `backtest.regional`; default start). The figures that follow
  are the model's before the age profiles.
  Origin-destination counts 2006-2011 at the posterior median within 7.1%
  (median |error|; cv 0.10), Telemark's 2021 pairs 11.3%, the 2008 and 2011 gross components within
  -9% to +7%; destination shares between landsdeler of the model's 2006 within 1.3 points (mean
  |difference|) of SSB's 2004 matrix, which the fit never saw; pair-effect features kappa: same landsdel
  0.11, log distance -0.67; Oslo l 0.58, w 0.75. Fit 4.5 min wall, 5.3 min CPU (the target was 2 on
  one core; NUTS needs 127-511 steps a draw), max R-hat 1.04 (log_schedule), min bulk ESS 156. The
  national level L of the years without gross counts (2012-2020, 2022-2023) is wider (80% interval
  0.23-0.47 against 0.12-0.13 in 2006-2011). The 80% intervals of the expected flows hold 46% of the
  county pairs' counts and 29% of Telemark's: they leave out the counts' own noise (cv 0.10).
"""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, TypeVar

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro.infer import init_to_median

from stochpop.components.fitting import fit_model
from stochpop.components.migration.schedules import age_basis, schedule_knots
from stochpop.components.processes import AR1, ar1_recursion
from stochpop.components.randomness import Paths, path_keys, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE, N_AGES, SEXES
from stochpop.data.errors import DataError
from stochpop.data.greenland import GreenlandAccount
from stochpop.data.immigrants import read_eurostat_flows
from stochpop.data.regional import (
    NATION,
    OLD_COUNTY_UNITS,
    read_county_domestic_moves,
    read_county_in_migration_by_age,
    read_county_moves,
    read_locations,
    read_municipality_coordinates,
    read_telemark_county_moves,
)
from stochpop.regions.accounts import allocate, national_events, rates_at_risk, to_end_of_year
from stochpop.regions.estimated_rates import regional_account
from stochpop.regions.internal import net_internal_migration
from stochpop.regions.levels import Observations, observed_factors
from stochpop.regions.norway_counties import CountyInputs

Array = jax.Array
Values = TypeVar("Values", Array, np.ndarray)

NET_DF = 5.0
"""Degrees of freedom of the net residual's Student-t errors (heavy tails for the allocation error)."""

GROUP_WIDTH, OPEN_GROUP = 5, 70
"""Age groups of `fitted_flows` and of Greenland's national counts: 0-4, ..., 65-69, 70+."""

PROFILE_BANDS = (18, 25, 35, 50, 65)
"""Lower ages of the bands (after 0-17) of the regions' age profiles of leaving (`age_bands`): children
moving with their parents, students, young adults, families, later working ages, retirement."""

SCHEDULE_KNOTS = (0, 5, 10, 15, 18, 21, 25, 30, 40, 50, 65, 80)
"""Interior knots of the national schedule's spline (ages): the data resolve five-year groups at best."""

DIFFERENCE_KNOTS = (0, 15, 30, 50, 70)
"""Interior knots of the sex difference's spline (smoother than the schedule's)."""

LEVELS = (0.025, 0.1, 0.5, 0.9, 0.975)
"""Posterior quantiles of `fitted_flows`: median, 80% and 95% intervals."""


class GrossObservations(NamedTuple):
    """Gross counts: moves (N,) in the year year (N,) (index into the fitted years), summed over the
    origin-destination pairs (N, R, R) marked 1 (zero diagonal) and the sex-age cells (N, 2, X) marked 1;
    relative (N,) True where the count is compared up to the free factor c."""

    moves: np.ndarray
    year: np.ndarray
    pairs: np.ndarray
    cells: np.ndarray
    relative: np.ndarray


class InternalData(NamedTuple):
    """What the model is fitted on. years (T,), regions (R,), ages (X,) 0..X-1 by age at end of year;
    aged (T, R, 2, X) stocks at risk (persons); net (T, R, 2, X) the cohort residual's net internal
    migration (summing to zero over regions); international (T, R, 2, X) the regions' international net
    migration that the residual took away (its error b enters the net's likelihood); share (R,) mean
    shares p_j of the stock at risk; proximity (P, R, R) symmetric features K_p of the origin-destination
    pairs (the pair effects' prior means), or None (no pair effects); gross (`GrossObservations`);
    crude_rate: national moves per person at risk where the data give them (the prior centre of mu);
    groups (R,) or None: each region's group (its county), whose yearly contrast deviations its regions
    share (`deviation_basis`; None: each region its own)."""

    years: np.ndarray
    regions: np.ndarray
    ages: np.ndarray
    aged: np.ndarray
    net: np.ndarray
    international: np.ndarray
    share: np.ndarray
    proximity: np.ndarray | None
    gross: GrossObservations
    crude_rate: float
    groups: np.ndarray | None = None


class InternalDraws(NamedTuple):
    """Internal migration for a chunk of paths, kernel ages 0..119 (0 above `MIGRATION_MAX_AGE`).

    out_schedule: (R, 2, A) out-migration probabilities at the posterior mean schedule and out-levels.
    out_level: (year, draw, R) multipliers: path d's out-rate in year t is
        min(out_schedule * out_level[t, d, :, None, None], 1).
    destination: (year, draw, R, R) shares, rows summing to 1, zero diagonal.
    """

    out_schedule: np.ndarray
    out_level: np.ndarray
    destination: np.ndarray


def age_groups(ages: np.ndarray) -> np.ndarray:
    """One-hot (X, G) of each age's group: 0-4, 5-9, ..., 65-69, 70+ (`GROUP_WIDTH`, `OPEN_GROUP`)."""
    index = np.minimum(np.asarray(ages) // GROUP_WIDTH, OPEN_GROUP // GROUP_WIDTH)
    return (index[:, None] == np.arange(index.max() + 1)).astype(float)


def age_bands(ages: np.ndarray, profiles: bool = True) -> np.ndarray:
    """One-hot (X, B) of each age's band of `PROFILE_BANDS` (0-17, 18-24, ..., 65+; those holding any of
    `ages`), or (X, 1) of one band of every age where `profiles` is False."""
    if not profiles:
        return np.ones((np.asarray(ages).size, 1))
    index = np.searchsorted(PROFILE_BANDS, np.asarray(ages), side="right")
    return (index[:, None] == np.unique(index)).astype(float)


def band_labels(bands: np.ndarray, ages: np.ndarray) -> list[str]:
    """Labels of the bands (X, B) of `age_bands` over `ages`: "0-17", ..., "65+" (the last open)."""
    first = [int(np.asarray(ages)[band > 0].min()) for band in bands.T]
    ends = [f"-{later - 1}" for later in first[1:]] + ["+"]
    return [f"{lo}{end}" for lo, end in zip(first, ends, strict=True)]


def group_labels(ages: np.ndarray) -> list[str]:
    """Labels of `age_groups`: "0-4", ..., "70+"."""
    groups = age_groups(ages).shape[1]
    return [f"{g * GROUP_WIDTH}-{g * GROUP_WIDTH + GROUP_WIDTH - 1}" for g in range(groups - 1)] + [
        f"{(groups - 1) * GROUP_WIDTH}+"
    ]


def schedule_bases(ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """B-spline bases (X, K) of the schedule and (X, K_d) of the sex difference over `ages`."""
    top = int(ages[-1])
    difference_knots = np.asarray([*(k for k in DIFFERENCE_KNOTS if k < top - 3), top], dtype=float)
    return age_basis(ages, schedule_knots(top, SCHEDULE_KNOTS)), age_basis(ages, difference_knots)


def out_moves(log_schedule: Array, log_out: Array, aged: Array, profile: Array | None = None) -> Array:
    """O = o(s, x) exp(log_out + h_r(x)) A: log_schedule (..., 2, X), log_out (..., T, R), aged (T, R, 2, X),
    profile h (..., R, X) each region's age profile of leaving or None (0) -> (..., T, R, 2, X) moves."""
    log_rate = log_schedule[..., None, None, :, :] + log_out[..., None, None]
    if profile is not None:
        log_rate = log_rate + profile[..., None, :, None, :]
    return jnp.exp(log_rate) * aged


def destination_matrix(log_attraction: Array, pair_effect: Array | None) -> Array:
    """D (..., T, R_from, R_to): softmax over destinations j != r of log_attraction (..., T, R) plus the
    pair effects k (..., R, R) where given."""
    regions = log_attraction.shape[-1]
    logits = jnp.broadcast_to(log_attraction[..., None, :], (*log_attraction.shape, regions))
    if pair_effect is not None:
        logits = logits + pair_effect
    logits = jnp.where(jnp.eye(regions, dtype=bool), -jnp.inf, logits)
    return jax.nn.softmax(logits, axis=-1)


def in_moves(out: Array, destination: Array) -> Array:
    """I_j = sum_r O_r D_rj: out (..., T, R, 2, X), destination (..., T, R, R) -> (..., T, R, 2, X)."""
    return jnp.einsum("...rsx,...rj->...jsx", out, destination)


def zero_sum_basis(regions: int) -> np.ndarray:
    """(R, R - 1) orthonormal columns, each summing to zero: x = basis @ y spans the vectors summing to
    zero, and y ~ Normal(0, s) gives x the law of Normal(0, s) draws less their mean."""
    return np.linalg.svd(np.ones((1, regions)))[2][1:].T


def deviation_basis(groups: np.ndarray | None, regions: int) -> np.ndarray:
    """(R, M): the yearly contrast deviations n = basis @ e, e (M,) free: each region's own (None:
    `zero_sum_basis`, M = R - 1) or its group's, the groups' deviations summing to zero (groups (R,) of G
    distinct labels, M = G - 1). ValueError for fewer than two groups."""
    if groups is None:
        return zero_sum_basis(regions)
    membership = group_membership(groups)
    if membership.shape[1] < 2:
        raise ValueError("the regions' contrast deviations need at least two groups")
    return membership @ zero_sum_basis(membership.shape[1])


def _ar1_process(
    name: str, loc: Array, years: int, horizon: int, basis: np.ndarray | None, shift: Array | float = 0.0
) -> Array:
    """An AR(1) `name` (years + horizon, R) = shift + components (years + horizon, M) @ basis.T, or one
    process (years + horizon,) where `basis` is None; each component an AR(1) around `loc` (M,) of the
    module docstring with phi_`name` and s_`name` (stationary spread). The fitted years are sampled
    centred (the AR(1) law itself, `name`_fitted: the data pin them down, and their mean is `loc`, a
    level the data see only through them), the forecast years from shocks."""
    phi = numpyro.sample(f"phi_{name}", dist.Uniform(0.0, 1.0))
    spread = numpyro.sample(f"s_{name}", dist.HalfNormal(0.2))
    scale = spread * jnp.sqrt(1.0 - phi**2)
    size = 1 if basis is None else basis.shape[1]
    law = AR1(jnp.broadcast_to(loc, (size,)), phi, scale, years)
    fitted = numpyro.sample(f"{name}_fitted", law.to_event(1)).T
    if horizon:
        later = numpyro.sample(f"{name}_later", dist.Normal(0.0, 1.0).expand([horizon, size]).to_event(2))
        fitted = jnp.concatenate([fitted, ar1_recursion(fitted[-1], loc, phi, scale, later)])
    return numpyro.deterministic(name, fitted[:, 0] if basis is None else shift + fitted @ basis.T)


def _pooled_levels(name: str, basis: np.ndarray) -> Array:
    """Region levels `name` (R,) summing to zero, Normal(0, tau_`name`) less their mean (`zero_sum_basis`),
    sampled non-centred (tau z)."""
    tau = numpyro.sample(f"tau_{name}", dist.HalfNormal(0.5))
    components = numpyro.sample(
        f"{name}_components", dist.Normal(0.0, 1.0).expand([basis.shape[1]]).to_event(1)
    )
    return numpyro.deterministic(name, tau * basis @ components)


def pair_incidence(regions: int) -> np.ndarray:
    """(R (R - 1) / 2, R): 1 where a pair r < j (`np.triu_indices` order) holds the region. An effect
    delta_r + delta_j of the pairs (incidence @ delta) only moves each destination's logit by delta_j, as
    its attraction does, and each origin's by a constant, which the softmax drops; pair effects are kept
    out of it."""
    upper = np.triu_indices(regions, 1)
    incidence = np.zeros((upper[0].size, regions))
    incidence[np.arange(upper[0].size), upper[0]] = 1.0
    incidence[np.arange(upper[0].size), upper[1]] = 1.0
    return incidence


def symmetric_pair_effects(pair: Array, size: int) -> Array:
    """The symmetric matrix (size, size), zero diagonal, of the part of `pair` (values of the pairs r < j in
    `np.triu_indices` order) orthogonal to `pair_incidence`."""
    incidence = pair_incidence(size)
    along = incidence @ (np.linalg.inv(incidence.T @ incidence) @ (incidence.T @ pair))
    return symmetric_matrix(pair - along)


def symmetric_matrix(pair: Array) -> Array:
    """The symmetric matrix, zero diagonal, of the values of its pairs r < j (`np.triu_indices` order)."""
    size = round((1 + np.sqrt(1 + 8 * pair.shape[-1])) / 2)
    effects = jnp.zeros((size, size)).at[np.triu_indices(size, 1)].set(pair)
    return effects + effects.T


def _pair_effects(proximity: Array) -> Array:
    """Symmetric effects k (R, R) of the origin-destination pairs, zero diagonal: y ~ Normal(sum_p kappa_p
    K_p, tau_k) over the pairs r < j, sampled centred (the origin-destination counts pin down the pairs
    they cover; the others follow their features), and k its part orthogonal to `pair_incidence`.
    proximity (P, R, R) symmetric."""
    kappa = numpyro.sample("kappa", dist.Normal(0.0, 1.0).expand([proximity.shape[0]]).to_event(1))
    tau = numpyro.sample("tau_k", dist.HalfNormal(0.5))
    regions = proximity.shape[-1]
    mean = jnp.tensordot(kappa, proximity, 1)[np.triu_indices(regions, 1)]
    pair = numpyro.sample("pair", dist.Normal(mean, tau).to_event(1))
    return numpyro.deterministic("pair_effect", symmetric_pair_effects(pair, regions))


def _group_pair_effects(membership: np.ndarray, basis: np.ndarray) -> Array:
    """Effects (R, R) of the regions' pairs that their groups' pair takes: e (G, G), zero within a group,
    e = basis @ z over the group pairs a < b, z ~ Normal(0, tau_e) sampled centred (the counties' counts
    pin down the pairs; `group_pair_basis`: what neither the attractions nor the features do); membership
    (R, G) one-hot. The counties' gross counts are sums over the pairs of their regions, and the features
    alone leave them far off (BA regions: median error 21%)."""
    tau = numpyro.sample("tau_e", dist.HalfNormal(0.5))
    components = numpyro.sample("e_components", dist.Normal(0.0, tau).expand([basis.shape[1]]).to_event(1))
    effects = numpyro.deterministic("group_pair_effect", symmetric_matrix(basis @ components))
    return group_effect(effects, membership)


def group_pair_basis(membership: np.ndarray, proximity: np.ndarray | None) -> np.ndarray:
    """Orthonormal basis (G (G - 1) / 2, K) of the group-pair effects (pairs a < b) orthogonal to
    `pair_incidence` (what the attractions do) and to each feature's mean over the regions' pairs of each
    group pair (what kappa does: the same landsdel is one of them), so kappa keeps its meaning.
    membership (R, G) one-hot; proximity (P, R, R) or None."""
    groups = membership.shape[1]
    upper = np.triu_indices(groups, 1)
    columns = [pair_incidence(groups)]
    if proximity is not None:
        counts = membership.sum(0)
        means = np.einsum("ra,prj,jb->pab", membership, proximity, membership) / np.outer(counts, counts)
        columns.append(means[:, upper[0], upper[1]].T)
    design = np.column_stack(columns)
    left, singular, _ = np.linalg.svd(design, full_matrices=True)
    rank = int(np.sum(singular > 1e-10 * singular[0]))
    return left[:, rank:]


def group_effect(effects: Array, membership: np.ndarray) -> Array:
    """The regions' pair effects (..., R, R) of their groups' `effects` (..., G, G); membership (R, G)."""
    return jnp.einsum("ra,...ab,jb->...rj", membership, effects, membership)


def group_membership(groups: np.ndarray) -> np.ndarray:
    """(R, G) one-hot of each region's group among the sorted distinct `groups` (R,)."""
    labels, index = np.unique(groups, return_inverse=True)
    return (index[:, None] == np.arange(labels.size)).astype(float)


def _feature_effects(proximity: Array) -> Array:
    """Effects k = sum_p kappa_p K_p (R, R) of the pairs' features alone, kappa ~ Normal(0, 1) (the linear
    destinations: P parameters whatever the number of pairs). proximity (P, R, R) symmetric."""
    kappa = numpyro.sample("kappa", dist.Normal(0.0, 1.0).expand([proximity.shape[0]]).to_event(1))
    return feature_effect(kappa, proximity)


def feature_effect(kappa: Array, proximity: Array) -> Array:
    """sum_p kappa_p K_p: kappa (..., P), proximity (P, R, R) -> (..., R, R)."""
    return jnp.tensordot(kappa, proximity, 1)


class ScheduleDesign(NamedTuple):
    """Fixed inputs of the schedule (`schedule_design`): basis (X, K) and difference (X, K_d)
    (`schedule_bases`); beta = null @ whiten @ theta, theta sampled: null (K, K - 1) spans the shapes whose
    mean over ages weighted by the stock at risk is zero (the level is the national level L), whiten
    (K - 1, K - 1) a fixed linear map that roughly whitens beta's posterior; log_crude_rate the prior
    centre of L's mean."""

    basis: np.ndarray
    difference: np.ndarray
    null: np.ndarray
    whiten: np.ndarray
    log_crude_rate: float


class GrossDesign(NamedTuple):
    """Fixed inputs of the gross likelihood (`gross_design`): set_aged (S, R, 2X) the stocks at risk in
    each distinct (year, sex-age cells) of the counts, zero elsewhere; set_year (S,); the flows (S, R, R)
    of a set's origin-destination pairs enter the counts as entries: entry (E,) flat index into (S, R, R),
    entry_count (E,) the count it adds to; relative (N,) 1 where a count carries the free factor c."""

    set_aged: np.ndarray
    set_year: np.ndarray
    entry: np.ndarray
    entry_count: np.ndarray
    relative: np.ndarray


def internal_model(
    aged: Array,
    schedule: ScheduleDesign,
    log_share: Array,
    proximity: Array | None,
    gross: GrossDesign,
    horizon: int,
    international: Array,
    net: Array | None = None,
    gross_count: Array | None = None,
    pair_effects: bool = True,
    deviation: np.ndarray | None = None,
    bands: np.ndarray | None = None,
    membership: np.ndarray | None = None,
    group_basis: np.ndarray | None = None,
) -> None:
    """The NumPyro model of the module docstring. aged (T, R, 2, X); `ScheduleDesign`; log_share (R,);
    proximity (P, R, R) or None; `GrossDesign`; `horizon` forecast years; international (T, R, 2, B) the
    international net taken from the residual, by age band. net (T, R, 2, B) and gross_count (N,)
    observed, or None (prior). pair_effects: a random effect per pair (True) or the linear destinations
    (False: gamma and the features' kappa alone). deviation (R, M): the contrast deviations'
    `deviation_basis` where they are shared by groups of regions (None: each region's own, AR(1)s around
    the contrast components). bands (X, B): the age bands of the net (`age_bands`); with more than one,
    each region has an age profile of leaving h (R, B) over them; None: one band of every age, no
    profiles. membership (R, G) and group_basis (`group_pair_basis`): with the linear destinations, the
    regions' groups (counties), whose pairs each take an effect (`_group_pair_effects`); None: none."""
    years, regions = aged.shape[:2]
    bands = np.ones((aged.shape[-1], 1)) if bands is None else np.asarray(bands)
    zero_sum = zero_sum_basis(regions)
    flat = dist.ImproperUniform(dist.constraints.real_vector, (), (schedule.whiten.shape[0],))
    beta = numpyro.deterministic("beta", schedule.null @ (schedule.whiten @ numpyro.sample("theta", flat)))
    sigma_beta = numpyro.sample("sigma_beta", dist.HalfNormal(0.5))
    numpyro.factor("beta_smooth", dist.Normal(0.0, sigma_beta).log_prob(jnp.diff(beta, 2)).sum())
    sigma_delta = numpyro.sample("sigma_delta", dist.HalfNormal(0.3))
    size = schedule.difference.shape[1]
    delta = numpyro.sample("delta", dist.Normal(0.0, sigma_delta).expand([size]).to_event(1))
    half = 0.5 * schedule.difference @ delta
    common = schedule.basis @ beta
    log_schedule = numpyro.deterministic("log_schedule", jnp.stack([common + half, common - half]))

    churn = _pooled_levels("c", zero_sum)
    tau_d = numpyro.sample("tau_d", dist.HalfNormal(0.5))
    contrast_components = numpyro.sample(
        "d_components", dist.Normal(0.0, tau_d).expand([regions - 1]).to_event(1)
    )
    contrast = numpyro.deterministic("d", zero_sum @ contrast_components)
    l_out = numpyro.deterministic("l", churn - 0.5 * contrast)
    w = numpyro.deterministic("w", churn + 0.5 * contrast)
    mu = numpyro.sample("mu", dist.Normal(schedule.log_crude_rate, 1.0))
    national = _ar1_process("L", mu, years, horizon, None)
    if deviation is None:
        varying = _ar1_process("N", contrast_components, years, horizon, zero_sum)
    else:
        varying = _ar1_process("N", jnp.zeros(deviation.shape[1]), years, horizon, deviation, contrast)
    n = numpyro.deterministic("n", varying - contrast)
    u = numpyro.deterministic("u", -0.5 * n)
    v = numpyro.deterministic("v", 0.5 * n)
    log_out = numpyro.deterministic("log_out", national[:, None] + l_out + u)
    gamma = 1.0 if pair_effects else numpyro.sample("gamma", dist.Normal(1.0, 0.5))
    log_attraction = numpyro.deterministic("log_attraction", gamma * log_share + w + v)
    effect = None
    if proximity is not None:
        effect = _pair_effects(proximity) if pair_effects else _feature_effects(proximity)
    if membership is not None and group_basis is not None and not pair_effects:
        by_group = _group_pair_effects(membership, group_basis)
        effect = by_group if effect is None else effect + by_group
    destination = destination_matrix(log_attraction[:years], effect)
    profile = _age_profile(bands, zero_sum)
    out = out_moves(log_schedule, log_out[:years], aged, profile) @ bands  # (T, R, 2, B)
    tau_b = numpyro.sample("tau_b", dist.HalfNormal(0.5))
    bias = numpyro.sample("b", dist.Normal(0.0, tau_b).expand([regions]).to_event(1))
    modelled_net = in_moves(out, destination) - out + bias[:, None, None] * international
    sigma_net = numpyro.sample("sigma_net", dist.HalfNormal(1.0))
    scale = sigma_net * jnp.sqrt(aged @ bands + 1.0)
    numpyro.sample("net", dist.StudentT(NET_DF, modelled_net, scale).to_event(4), obs=net)

    if profile is None:
        rates = jnp.exp(log_schedule).ravel()
    else:
        rates = leaving_rates(log_schedule, profile).reshape(regions, -1)
    from_set = jnp.exp(log_out[gross.set_year]) * jnp.sum(gross.set_aged * rates, -1)
    flows = (from_set[:, :, None] * destination[gross.set_year]).ravel()
    mean = jax.ops.segment_sum(flows[gross.entry], gross.entry_count, num_segments=gross.relative.shape[0])
    if bool(np.any(np.asarray(gross.relative))):
        mean = mean * jnp.exp(numpyro.sample("log_c", dist.Normal(0.0, 0.5)) * gross.relative)
    cv = numpyro.sample("cv", dist.HalfNormal(0.3))
    numpyro.sample("gross", dist.NegativeBinomial2(mean, 1.0 / cv**2).to_event(1), obs=gross_count)


def _age_profile(bands: np.ndarray, zero_sum: np.ndarray) -> Array | None:
    """Each region's age profile of leaving h_r(x) (R, X) over the age bands (X, B), or None for one band:
    h (R, B) ~ Normal(0, tau_h) less its means over regions and over bands (`zero_sum_basis` of both:
    the national schedule and each region's out-level l stay what they were), sampled non-centred
    (tau z; sampled centred the counties' fit of 2006-2015 mixed no better: log_out's R-hat 1.10 and bulk
    ESS 21 against 1.08 and 30)."""
    count = bands.shape[1]
    if count == 1:
        return None
    tau = numpyro.sample("tau_h", dist.HalfNormal(0.5))
    components = numpyro.sample(
        "h_components", dist.Normal(0.0, 1.0).expand([zero_sum.shape[1], count - 1]).to_event(2)
    )
    h = numpyro.deterministic("h", tau * zero_sum @ components @ zero_sum_basis(count).T)
    return h @ bands.T


def leaving_rates(log_schedule: Values, profile: Values, xp: ModuleType = jnp) -> Values:
    """Each region's out-migration rates at out-level 0, o(s, x) exp(h_r(x)) (..., R, 2, X): log_schedule
    (..., 2, X), profile (..., R, X); `xp` jax.numpy or numpy."""
    return xp.exp(log_schedule[..., None, :, :] + profile[..., :, None, :])


def gross_design(aged: np.ndarray, gross: GrossObservations) -> GrossDesign:
    """The `GrossDesign` of counts `gross` on the stocks at risk `aged` (T, R, 2, X)."""
    count = len(gross.moves)
    keys = np.concatenate([gross.year[:, None], gross.cells.reshape(count, -1)], axis=1)
    unique, index = np.unique(keys, axis=0, return_inverse=True)
    set_year = unique[:, 0].astype(int)
    cells = unique[:, 1:].reshape(-1, *aged.shape[2:])
    set_aged = (aged[set_year] * cells[:, None]).reshape(len(set_year), aged.shape[1], -1)
    entry_count, origin, destination = np.nonzero(gross.pairs)
    regions = aged.shape[1]
    entry = (index.ravel()[entry_count] * regions + origin) * regions + destination
    return GrossDesign(set_aged, set_year, entry, entry_count, gross.relative.astype(float))


SMOOTHNESS_SD, COUNT_CV = 1.0, 0.1
"""Nominal scales of `schedule_design`'s whitening only (not of the model): the sd of the schedule's second
differences between coefficients and the gross counts' coefficient of variation."""


def schedule_design(data: InternalData) -> ScheduleDesign:
    """The `ScheduleDesign` of `data`. The whitening is the Cholesky factor of an approximate posterior
    precision of the shape: its prior's (second differences of sd `SMOOTHNESS_SD`) plus the gross
    counts' (each count's information on the log of its mean, 1 / (1 / count + `COUNT_CV`^2), along the
    mean's gradient in beta, the cells weighted by their stock at risk). It only reparametrises beta."""
    basis, difference = schedule_bases(data.ages)
    null = np.linalg.svd((data.aged.sum((0, 1, 2)) @ basis)[None])[2][1:].T  # shapes of weighted mean 0
    weights = data.gross.cells * data.aged.sum(1)[data.gross.year]
    gradient = (weights / weights.sum((1, 2), keepdims=True)).sum(1) @ basis @ null
    information = 1.0 / (1.0 / np.maximum(data.gross.moves, 1.0) + COUNT_CV**2)
    steps = np.diff(np.eye(basis.shape[1]), 2, axis=0) @ null
    precision = (gradient.T * information) @ gradient + steps.T @ steps / SMOOTHNESS_SD**2
    whiten = np.linalg.inv(np.linalg.cholesky(precision)).T
    return ScheduleDesign(basis, difference, null, whiten, float(np.log(data.crude_rate)))


def model_inputs(
    data: InternalData, horizon: int, pair_effects: bool = True, age_profiles: bool = True
) -> dict:
    """The keyword arguments of `internal_model` for `data`, `horizon` forecast years, `pair_effects` and
    the regions' `age_profiles` of leaving (the net by `age_bands`; else the net of all ages) (call within
    jax.enable_x64 for float64)."""
    bands = age_bands(data.ages, age_profiles)
    return {
        "pair_effects": pair_effects,
        "bands": bands,
        "deviation": None if data.groups is None else deviation_basis(data.groups, data.regions.size),
        **_group_inputs(data, pair_effects),
        "aged": jnp.asarray(data.aged),
        "schedule": schedule_design(data),
        "log_share": jnp.log(jnp.asarray(data.share)),
        "proximity": None if data.proximity is None else jnp.asarray(data.proximity),
        "gross": gross_design(data.aged, data.gross),
        "horizon": horizon,
        "international": jnp.asarray(data.international @ bands),
        "net": jnp.asarray(data.net @ bands),
        "gross_count": jnp.asarray(data.gross.moves),
    }


def _group_inputs(data: InternalData, pair_effects: bool) -> dict[str, np.ndarray | None]:
    """membership and group_basis of `internal_model`: of data.groups with the linear destinations, else
    None."""
    if pair_effects or data.groups is None:
        return {"membership": None, "group_basis": None}
    membership = group_membership(data.groups)
    return {"membership": membership, "group_basis": group_pair_basis(membership, data.proximity)}


LINEAR_SVI_STEPS, LINEAR_SVI_DRAWS = 10_000, 1000
"""SVI steps and kept draws of the linear destinations' fit (`linear_settings`): at 3000 steps the
simulation of tests/regions/test_linear_destinations.py left the same-county effect at 0.93-1.03 against
its true 1.2; at 10 000 it holds it."""


def linear_settings(settings: FitSettings) -> FitSettings:
    """`settings` as the linear destinations are fitted: SVI (`fit_model`'s full-rank Gaussian guide),
    `LINEAR_SVI_STEPS` steps, `LINEAR_SVI_DRAWS` draws, the seed kept. NUTS needed hundreds of leapfrog
    steps a draw there: 159 BA regions (798 parameters) over 5 s an iteration, twelve simulated regions
    447 s for 2 x (300 + 300)."""
    return replace(settings, method="svi", svi_steps=LINEAR_SVI_STEPS, svi_draws=LINEAR_SVI_DRAWS)


START = init_to_median(num_samples=15)
"""Where `fit_internal`'s chains start: each parameter at its prior median (of 15 draws). NumPyro's default,
uniform in (-2, 2) on the unconstrained scale, can start tau_h near 7 and the age profiles at up to +-10
in log (tests/regions/test_internal_model.py); a Norway fit at 2 x (300 + 300) then kept one chain stuck
(the module docstring)."""


def fit_internal(
    data: InternalData,
    horizon: int,
    settings: FitSettings | None = None,
    pair_effects: bool = True,
    age_profiles: bool = True,
) -> az.InferenceData:
    """Fit `internal_model` (NUTS, float64, chains started at the prior medians: the module docstring's
    Norway fit) to `data`; the posterior runs over the fitted years and
    `horizon` forecast years (year coordinate), with log_schedule (sex, age), l and w (region), u, v,
    log_out and log_attraction (year, region), kappa (feature) where `data` has a proximity, gamma with
    `pair_effects` False (the linear destinations of the module docstring, for many regions; fitted by
    SVI, `linear_settings`), h (region, band) with `age_profiles` (the net fitted by `age_bands`).
    constant_data holds aged (year: the fitted years, region, sex, age), share (region), proximity
    (feature, region, destination; one feature of zeros where none), deviation_basis (region, component;
    `deviation_basis` of data.groups), bands (age, band; `age_bands`) and, where data has groups, their
    membership (region, group; `group_membership`); the linear destinations' posterior then also holds
    the groups' pair effects group_pair_effect (group, other_group; `_group_pair_effects`)."""
    settings = settings or FitSettings(warmup=400, samples=400)
    if not pair_effects:
        settings = linear_settings(settings)
    years = np.concatenate([data.years, data.years[-1] + np.arange(1, horizon + 1)])
    regions, sexes = list(data.regions), list(SEXES)
    by_year_region = ["year", "region"]
    proximity = np.zeros((1, len(regions), len(regions))) if data.proximity is None else data.proximity
    bands = age_bands(data.ages, age_profiles)
    labels = band_labels(bands, data.ages)
    by_group = {}
    if data.groups is not None:
        groups = np.unique(data.groups)
        by_group = {
            "membership": xr.DataArray(
                group_membership(data.groups),
                dims=("region", "group"),
                coords={"region": regions, "group": groups},
            )
        }
    with jax.enable_x64(True):
        return fit_model(
            internal_model,
            model_inputs(data, horizon, pair_effects, age_profiles),
            settings,
            coords={"year": years, "region": regions, "sex": sexes, "age": data.ages, "band": labels}
            | ({} if data.groups is None else {"group": groups, "other_group": groups}),
            dims={
                "log_schedule": ["sex", "age"],
                "h": ["region", "band"],
                "L": ["year"],
                "kappa": ["feature"],
                "group_pair_effect": ["group", "other_group"],
                **{name: ["region"] for name in ("l", "w", "c", "d", "b")},
                **{name: by_year_region for name in ("n", "N", "u", "v", "log_out", "log_attraction")},
            },
            constant_data={
                "aged": xr.DataArray(
                    data.aged,
                    dims=("year", "region", "sex", "age"),
                    coords={"year": data.years, "region": regions, "sex": sexes, "age": data.ages},
                ),
                "share": xr.DataArray(data.share, dims="region", coords={"region": regions}),
                "deviation_basis": xr.DataArray(
                    deviation_basis(data.groups, len(regions)),
                    dims=("region", "component"),
                    coords={"region": regions},
                ),
                "proximity": xr.DataArray(
                    proximity,
                    dims=("feature", "region", "destination"),
                    coords={"region": regions, "destination": regions},
                ),
                "bands": xr.DataArray(bands, dims=("age", "band"), coords={"age": data.ages, "band": labels}),
                **by_group,
            },
            check=["mu", "log_schedule", "log_out", "log_attraction", "sigma_net", "cv"]
            + ([] if pair_effects else ["gamma", "kappa"]),
            attrs={"component": "internal migration"},
            parallel_chains=False,  # in parallel its memory grew ~10 MB an iteration (issue #15)
            init_strategy=START,
        )


def _pair_effect(posterior: xr.Dataset | dict, constant: xr.Dataset) -> Array | None:
    """The pair effects k with leading sample axes and a year axis (..., 1, R, R): the fit's pair_effect,
    or of the linear destinations kappa times the fit's proximity (P, R, R; `feature_effect`) plus its
    groups' pair effects (`group_effect` of the fit's membership); None where the fit has neither."""
    if "pair_effect" in posterior:
        return jnp.asarray(posterior["pair_effect"])[..., None, :, :]
    if "kappa" not in posterior:
        return None
    effect = feature_effect(jnp.asarray(posterior["kappa"]), jnp.asarray(constant["proximity"].values))
    if "group_pair_effect" in posterior:
        membership = constant["membership"].values
        effect = effect + group_effect(jnp.asarray(posterior["group_pair_effect"]), membership)
    return effect[..., None, :, :]


def _population_elasticity(posterior: xr.Dataset | dict) -> np.ndarray | float:
    """gamma with leading sample axes (..., 1, 1) for (year, region), or 1 where the fit has none."""
    return np.asarray(posterior["gamma"])[..., None, None] if "gamma" in posterior else 1.0


@jax.jit
def _year_shocks(keys: Array, stream: Array, offsets: Array, like: Array) -> Array:
    """Standard normal shocks (n, K, M) for each path key (n,) and year offset (K,), M = like.size: the
    shock of path i in the year `offsets[k]` after the posterior depends on keys[i], `stream` and that
    offset alone."""

    def one(key: Array) -> Array:
        streamed = jax.random.fold_in(key, stream)
        return jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(streamed, k), like.shape, like.dtype))(
            offsets
        )

    return jax.vmap(one)(keys)


def _continued(
    values: np.ndarray,
    loc: np.ndarray,
    phi: np.ndarray,
    spread: np.ndarray,
    basis: np.ndarray,
    shocks: tuple[Array, int],
    available: np.ndarray,
    years: np.ndarray,
) -> np.ndarray:
    """An AR(1) of `_ar1_process` for `years`, (n, Y, M): the path's posterior values (n, P, M) where the
    posterior (years `available`) has them, after its last year its continuation around `loc` (n, M) with
    phi and spread (n,) and shocks (n, K, M') @ basis.T (M, M') from `_year_shocks` with path keys and
    stream `shocks`."""
    beyond = int(max(years.max() - available[-1], 0))
    if beyond:
        keys, stream = shocks
        offsets = jnp.arange(1, beyond + 1, dtype=jnp.uint32)
        drawn = np.asarray(_year_shocks(keys, stream, offsets, jnp.zeros(basis.shape[1], values.dtype)))
        scale = (spread * np.sqrt(1.0 - phi**2))[:, None]
        later = ar1_recursion(
            jnp.asarray(values[:, -1]),
            jnp.asarray(loc),
            jnp.asarray(phi[:, None]),
            jnp.asarray(scale),
            jnp.asarray(np.moveaxis(drawn @ basis.T, 1, 0)),
        )
        values = np.concatenate([values, np.moveaxis(np.asarray(later), 0, 1)], axis=1)
    return values[:, years - available[0]]


def internal_draws(idata: az.InferenceData, key: Array, paths: Paths, years: Sequence[int]) -> InternalDraws:
    """Each path's internal migration for `years` (`InternalDraws`): its own posterior draw (key
    fold_in(key, path), stream 0: `randomness.posterior_draws`); in years after the posterior's its own
    AR(1) continuation of the national level L (stream 1) and the net contrasts N (stream 2) with shocks
    keyed by the path, stream and year, so a path is the same in any chunk and for any `years` asked.
    ValueError for years before the posterior's.

    The schedule's shape is the posterior mean's (shared by the paths); out_schedule is it times each
    region's posterior mean out-level exp(log_out) of the last fitted year, and out_level the path's
    exp(log_out) relative to that, times the ratio of its schedule's national moves to the mean
    schedule's (ages 0..69, the last fitted year's stock at risk): the paths keep the uncertainty of the
    levels, not that of the schedule's shape.
    """
    posterior = idata["posterior"]
    available = posterior["year"].values
    wanted = np.asarray(years)
    if wanted.min() < available[0]:
        raise ValueError(f"the internal migration posterior starts in {available[0]}, not {wanted.min()}")
    names = ["log_schedule", "l", "w", "d", "mu", "L", "N", "phi_L", "s_L", "phi_N", "s_N"]
    keys = path_keys(key, paths)
    optional = ("pair_effect", "kappa", "group_pair_effect", "gamma", "h")
    names += [name for name in optional if name in posterior]
    draws = posterior_draws(idata, keys, names)
    with jax.enable_x64(True):
        return _path_migration(idata, draws, keys, available, wanted)


def _path_migration(
    idata: az.InferenceData,
    draws: dict[str, np.ndarray],
    keys: Array,
    available: np.ndarray,
    wanted: np.ndarray,
) -> InternalDraws:
    """`internal_draws` of the paths' posterior `draws` (within jax.enable_x64)."""
    posterior = idata["posterior"]
    national = _continued(
        draws["L"][..., None],
        draws["mu"][:, None],
        draws["phi_L"],
        draws["s_L"],
        np.ones((1, 1)),
        (keys, 1),
        available,
        wanted,
    )[..., 0]
    contrast = (
        _continued(
            draws["N"],
            draws["d"],
            draws["phi_N"],
            draws["s_N"],
            idata["constant_data"]["deviation_basis"].values,
            (keys, 2),
            available,
            wanted,
        )
        - draws["d"][:, None, :]
    )
    log_out = national[..., None] + draws["l"][:, None, :] - 0.5 * contrast
    constant = idata["constant_data"]
    ages = constant["age"].values
    kernel_ages = ages[ages <= min(MIGRATION_MAX_AGE or N_AGES, N_AGES - 1)]
    last = constant["aged"]["year"].values[-1]
    weight = constant["aged"].sel(year=last).sum("region").sel(age=kernel_ages).values
    shape = posterior[[name for name in ("log_schedule", "h") if name in posterior]]
    stacked = shape.stack(sample=("chain", "draw")).transpose("sample", ...)
    bands = constant.get("bands")
    mean_rates = _leaving_rates(stacked, bands, kernel_ages.size).mean(0)  # (R or 1, 2, X)
    reference = posterior["log_out"].sel(year=last).mean(("chain", "draw")).values
    ratio = (_leaving_rates(draws, bands, kernel_ages.size) * weight).sum((-2, -1))  # (draw, R or 1)
    ratio /= (mean_rates * weight).sum((-2, -1))
    out_schedule = np.zeros((reference.size, len(SEXES), N_AGES))
    out_schedule[..., : kernel_ages.size] = mean_rates * np.exp(reference)[:, None, None]
    out_level = ratio[:, None, :] * np.exp(log_out - reference)
    log_share = _population_elasticity(draws) * np.log(constant["share"].values)
    log_attraction = log_share + draws["w"][:, None, :] + 0.5 * contrast
    destination = destination_matrix(jnp.asarray(log_attraction), _pair_effect(draws, constant))
    return InternalDraws(
        out_schedule=out_schedule,
        out_level=np.swapaxes(out_level, 0, 1),
        destination=np.swapaxes(np.asarray(destination), 0, 1),
    )


def _leaving_rates(
    draws: xr.Dataset | dict, bands: xr.DataArray | None, first: int | None = None
) -> np.ndarray:
    """Out-migration rates at out-level 0, o(s, x) exp(h_r(x)) (sample, R, 2, X), or (sample, 1, 2, X)
    where the fit has no age profiles, of posterior `draws` (log_schedule (sample, 2, X), h (sample, R,
    B)) at its `first` ages (default all), h over the fit's `bands` (age, band)."""
    schedule = np.asarray(draws["log_schedule"])[..., :first]
    if "h" not in draws or bands is None:
        profile = np.zeros((schedule.shape[0], 1, schedule.shape[-1]))
    else:
        profile = (np.asarray(draws["h"]) @ bands.values.T)[..., :first]
    return leaving_rates(schedule, profile, np)


def fitted_flows(idata: az.InferenceData, levels: Sequence[float] = LEVELS) -> xr.Dataset:
    """Posterior quantiles (`levels`) of the gross flows in the fitted years: out_moves, in_moves and
    net_moves (quantile, year, region), pair_moves (quantile, year, region, destination: from region to
    destination), out_by_age and in_by_age (quantile, year, region, sex, age_group; `age_groups`), moves
    in the year."""
    posterior = idata["posterior"].stack(sample=("chain", "draw")).transpose("sample", ...)
    aged = idata["constant_data"]["aged"]
    fitted = aged["year"].values
    ages = aged["age"].values
    level = np.exp(posterior["log_out"].sel(year=fitted).values)
    rates = _leaving_rates(posterior, idata["constant_data"].get("bands"))
    rates = np.broadcast_to(rates, (rates.shape[0], level.shape[-1], *rates.shape[2:]))
    onehot = age_groups(ages)
    out = np.einsum("prsx,trsxg->ptrsg", rates, aged.values[..., None] * onehot, optimize=True)
    out *= level[..., None, None]
    with jax.enable_x64(True):
        log_attraction = jnp.asarray(posterior["log_attraction"].sel(year=fitted).values)
        effect = _pair_effect(posterior, idata["constant_data"])
        destination = np.asarray(destination_matrix(log_attraction, effect))
    into = np.einsum("ptrsg,ptrj->ptjsg", out, destination, optimize=True)
    coords = {
        "quantile": list(levels),
        "year": fitted,
        "region": aged["region"].values,
        "destination": aged["region"].values,
        "sex": list(SEXES),
        "age_group": group_labels(ages),
    }
    by_age = ("quantile", "year", "region", "sex", "age_group")
    totals = {"out_moves": out.sum((-2, -1)), "in_moves": into.sum((-2, -1))}
    totals["net_moves"] = totals["in_moves"] - totals["out_moves"]

    def quantiles(values: np.ndarray, dims: tuple[str, ...]) -> xr.DataArray:
        return xr.DataArray(
            np.quantile(values, list(levels), axis=0), dims=dims, coords={d: coords[d] for d in dims}
        )

    return xr.Dataset(
        {
            **{name: quantiles(values, by_age[:3]) for name, values in totals.items()},
            "pair_moves": quantiles(
                totals["out_moves"][..., None] * destination, ("quantile", "year", "region", "destination")
            ),
            "out_by_age": quantiles(out, by_age),
            "in_by_age": quantiles(into, by_age),
        },
        attrs={"units": "moves in the year"},
    )


def gross_observations(rows: list[tuple[float, int, np.ndarray, np.ndarray, bool]]) -> GrossObservations:
    """Rows (count, year index, pairs (R, R), cells (2, X), relative) -> `GrossObservations`."""
    moves, year, pairs, cells, relative = zip(*rows, strict=True)
    return GrossObservations(
        np.asarray(moves, float), np.asarray(year), np.stack(pairs), np.stack(cells), np.asarray(relative)
    )


def national_rows(
    counts: np.ndarray, year: int, cells: np.ndarray, regions: int, relative: bool = False
) -> list[tuple[float, int, np.ndarray, np.ndarray, bool]]:
    """Rows of `gross_observations` for national moves between regions: counts (G,) of the sex-age cells
    `cells` (G, 2, X) in year index `year`, over every origin-destination pair."""
    pairs = 1.0 - np.eye(regions)
    return [(float(c), year, pairs, cell, relative) for c, cell in zip(counts, cells, strict=True)]


def sex_group_cells(ages: np.ndarray) -> np.ndarray:
    """Cells (2G, 2, X) of each sex and age group (`age_groups`), female groups first."""
    onehot = age_groups(ages).T
    cells = np.zeros((len(SEXES), onehot.shape[0], len(SEXES), ages.size))
    for sex in range(len(SEXES)):
        cells[sex, :, sex] = onehot
    return cells.reshape(-1, len(SEXES), ages.size)


def greenland_internal_data(
    account: GreenlandAccount, national_years: Sequence[int] | None = None
) -> InternalData:
    """Greenland's regions, the registered flows hidden: net internal migration from the cohort residual
    with national events allocated by population at risk (`internal.net_internal_migration`), and as the
    only gross information the registered national out-moves by sex and age group of `national_years`
    (default: every event year). ValueError for years outside the account's event years."""
    events = national_events(account.births, account.deaths, account.emigration, account.immigration)
    allocated = allocate(account.regional_population, rates_at_risk(account.population, events))
    net = net_internal_migration(account.regional_population, allocated)
    dims = ("year", "region", "sex", "age")
    aged = allocated["aged"].transpose(*dims)
    years, ages = aged["year"].values, aged["age"].values
    known = np.asarray(years if national_years is None else list(national_years))
    if known.size == 0 or not np.isin(known, years).all():
        raise ValueError(f"national_years {known.tolist()} must be some of the event years {years.tolist()}")
    national = to_end_of_year(account.internal_out).sum("region").transpose("year", "sex", "age")
    onehot = age_groups(ages)
    cells = sex_group_cells(ages)
    regions = aged.sizes["region"]
    rows = [
        row
        for year in known
        for row in national_rows(
            (national.sel(year=year).values @ onehot).ravel(),
            int(np.flatnonzero(years == year)[0]),
            cells,
            regions,
        )
    ]
    totals = aged.sum(["sex", "age"])
    return InternalData(
        years=years,
        regions=aged["region"].values,
        ages=ages,
        aged=aged.values,
        net=net.transpose(*dims).values,
        international=(allocated["immigration"] - allocated["emigration"]).transpose(*dims).values,
        share=(totals / totals.sum("region")).mean("year").values,
        proximity=None,
        gross=gross_observations(rows),
        crude_rate=float(national.sel(year=known).sum() / aged.sel(year=known).sum()),
    )


LANDSDEL_COUNTIES: dict[str, tuple[str, ...]] = {
    "Oslo og Akershus": ("03", "32"),
    "Hedmark og Oppland": ("34",),
    "Sør-Østlandet": ("31", "33", "39", "40"),
    "Agder og Rogaland": ("11", "42"),
    "Vestlandet": ("15", "46"),
    "Trøndelag": ("50",),
    "Nord-Norge": ("18", "55", "56"),
}
"""SSB's seven landsdeler (the names of `read_landsdel_moves`) as 2024 counties: the proximity K of Norway's
model (same landsdel) and the landsdel matrices' regions."""

PARTIAL_FILE = "DERIVED_ssb_web_od_matrix_fylke_partial_to_counties01-10_2004-2011.csv"
CHANGES_FILES = tuple(f"DERIVED_ssb_web_population_changes_by_county_{year}.csv" for year in (2008, 2011))
AGE_FILE = "DERIVED_ssb_web_in_migration_by_county_and_age_2010.csv"
TELEMARK_FILE = "telemark/Flytteamatrise fylker panda.csv"
LOCATIONS_FILE = "DERIVED_csdata_locations_hierarchy_b2024.csv.gz"
IMMIGRATION_FILE = "../migration/DERIVED_norway_eurostat_imm8_emi2_by_age_sex.csv.gz"
COORDINATE_FILES = (
    "telemark/tilflytting_til_telemarkskommuner.csv",
    "telemark/fraflytting_fra_telemarkskommuner.csv",
)
"""Files of `county_gross_observations` and `county_proximity`, relative to the norway/regional folder."""


def _pair(regions: int, origin: int, destination: int) -> np.ndarray:
    """Pairs (R, R): 1 at (origin, destination)."""
    pairs = np.zeros((regions, regions))
    pairs[origin, destination] = 1.0
    return pairs


def _partial_rows(partial: xr.DataArray, regions: list[str], years: np.ndarray, cells: np.ndarray) -> list:
    """Rows of `gross_observations` from the partial county matrix (year, origin, destination; old
    numbers)."""
    mapped = partial.assign_coords(
        {dim: [OLD_COUNTY_UNITS[c][1] for c in partial[dim].values] for dim in ("origin", "destination")}
    )
    summed = mapped.groupby("origin").sum(min_count=1).groupby("destination").sum(min_count=1)
    whole = mapped.notnull().groupby("origin").all().groupby("destination").all()
    rows = []
    for year in np.intersect1d(summed["year"].values, years):
        t = int(np.flatnonzero(years == year)[0])
        for origin in summed["origin"].values:
            for destination in summed["destination"].values:
                cell = {"year": year, "origin": origin, "destination": destination}
                if origin != destination and bool(whole.sel(cell)):
                    pairs = _pair(len(regions), regions.index(origin), regions.index(destination))
                    rows.append((float(summed.sel(cell)), t, pairs, cells, False))
    return rows


def _between(partial: xr.DataArray, year: int, old: list[str]) -> float | None:
    """Moves between the old counties `old` (one 2024 county) in `year` from the partial matrix, or None
    where it does not hold them all."""
    if len(old) == 1:
        return 0.0
    if year not in partial["year"].values or not set(old) <= set(partial["destination"].values):
        return None
    moves = [float(partial.sel(year=year, origin=a, destination=b)) for a in old for b in old if a != b]
    return None if np.isnan(moves).any() else float(np.sum(moves))


def _component_rows(
    domestic: xr.DataArray, partial: xr.DataArray, regions: list[str], years: np.ndarray, cells: np.ndarray
) -> list:
    """Rows of `gross_observations` from county gross components (year, flow, county; old numbers): each 2024
    county's out-moves, and its in-moves where the partial matrix does not hold its in-flows."""
    rows = []
    off_diagonal = 1.0 - np.eye(len(regions))
    for year in np.intersect1d(domestic["year"].values, years):
        t = int(np.flatnonzero(years == year)[0])
        for r, code in enumerate(regions):
            old = [number for number, (_, new) in OLD_COUNTY_UNITS.items() if new == code]
            between = _between(partial, int(year), old)
            if between is None or not set(old) <= set(domestic["county"].values):
                continue
            into_partial = set(old) <= set(partial["destination"].values)
            for flow in ("out",) if into_partial else ("out", "in"):
                count = float(domestic.sel(year=year, flow=flow, county=old).sum()) - between
                row = off_diagonal * (np.arange(len(regions)) == r)[:, None]
                rows.append((count, t, row if flow == "out" else row.T, cells, False))
    return rows


def county_gross_observations(
    regional_folder: str | Path, regions: np.ndarray, years: np.ndarray, ages: np.ndarray
) -> GrossObservations:
    """Norway's gross counts in the fitted `years` on the 2024 counties `regions`, ages `ages`:

    * the partial county matrices (`read_county_moves`): moves from each old county into counties 01-10,
      summed into 2024 origin-destination pairs; pairs inside one 2024 county drop out (Hedmark <->
      Oppland, Aust- <-> Vest-Agder), and so do blank cells;
    * the county gross components of 2008 and 2011 (`read_county_domestic_moves`): a 2024 county's moves
      to (and, where the partial matrix does not hold them, from) the other counties, its old counties'
      sum less the moves between them (from the partial matrix; Vestland, whose Hordaland <-> Sogn og
      Fjordane moves are not there, is left out);
    * Telemark's row and column of 2021 (`read_telemark_county_moves`, names matched to the hierarchy's);
    * the national moves between old counties by age group in 2010 (`read_county_in_migration_by_age`,
      the nation's in-moves less Eurostat's immigration by age at end of year), both sexes, relative: on
      the old borders they count the moves between the old counties of one 2024 county too, and Eurostat's
      immigration (69 214) is below the immigration in SSB's in-moves, so only their age pattern is used.

    Every count is of all ages, both sexes, except the 2010 age groups. Years outside `years` drop out."""
    folder = Path(regional_folder)
    codes = [str(code) for code in regions]
    every_cell = np.ones((len(SEXES), ages.size))
    partial = read_county_moves(folder / PARTIAL_FILE)["moves"].drop_sel(origin="Utlandet")
    partial = partial.assign_coords(
        origin=[label[:2] for label in partial["origin"].values],
        destination=[label[:2] for label in partial["destination"].values],
    )
    rows = _partial_rows(partial, codes, years, every_cell)
    for name in CHANGES_FILES:
        rows += _component_rows(read_county_domestic_moves(folder / name), partial, codes, years, every_cell)

    code_of = county_codes_by_name(folder)
    rows += _telemark_rows(
        read_telemark_county_moves(folder / TELEMARK_FILE), code_of, codes, years, every_cell
    )
    by_age = read_county_in_migration_by_age(folder / AGE_FILE).sel(county=NATION, drop=True)
    immigration = read_eurostat_flows(folder / IMMIGRATION_FILE).sel(flow="immigration", drop=True)
    return gross_observations(rows + _age_rows(by_age, immigration.sum("sex"), len(codes), years, ages))


def _telemark_rows(
    moves: xr.DataArray, code_of: dict[str, str], regions: list[str], years: np.ndarray, cells: np.ndarray
) -> list:
    """Rows of `gross_observations` from Telemark's county moves (year, origin, destination; county names,
    `code_of` name -> 2024 code)."""
    unknown = sorted((set(moves["origin"].values) | set(moves["destination"].values)) - set(code_of))
    if unknown:
        raise DataError(moves.attrs.get("source", "Telemark moves"), "Fra/Til", f"unknown counties {unknown}")
    rows = []
    for year in np.intersect1d(moves["year"].values, years):
        t = int(np.flatnonzero(years == year)[0])
        for origin in moves["origin"].values:
            for destination in moves["destination"].values:
                count = float(moves.sel(year=year, origin=origin, destination=destination))
                if not np.isnan(count):
                    pairs = _pair(
                        len(regions), regions.index(code_of[origin]), regions.index(code_of[destination])
                    )
                    rows.append((count, t, pairs, cells, False))
    return rows


def _age_rows(
    by_age: xr.DataArray, immigration: xr.DataArray, regions: int, years: np.ndarray, ages: np.ndarray
) -> list:
    """Relative rows of `_observations`: national in-moves (year, age_group; coords first_age, last_age)
    less immigration (year, age) in each age group, both sexes."""
    rows = []
    bounds = list(zip(by_age["first_age"].values, by_age["last_age"].values, strict=True))
    masks = np.stack(
        [np.broadcast_to((ages >= lo) & (ages <= hi), (len(SEXES), ages.size)) for lo, hi in bounds]
    )
    for year in np.intersect1d(by_age["year"].values, years):
        t = int(np.flatnonzero(years == year)[0])
        abroad = [float(immigration.sel(year=year, age=slice(lo, hi)).sum()) for lo, hi in bounds]
        rows += national_rows(
            by_age.sel(year=year).values - abroad, t, masks.astype(float), regions, relative=True
        )
    return rows


def county_codes_by_name(regional_folder: str | Path) -> dict[str, str]:
    """2024 county names ("Møre og Romsdal", "Troms": the hierarchy's names before a Sami "-" suffix) ->
    codes ("15")."""
    names = read_locations(Path(regional_folder) / LOCATIONS_FILE).drop_duplicates("county")
    return {
        name.split("-")[0]: code for code, name in zip(names["county"], names["county_name"], strict=True)
    }


EARTH_RADIUS_KM = 6371.0
"""The sphere of `great_circle_km`: the Earth's mean radius."""


def great_circle_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distances (R, R) in km between the points (R,) at latitude `lat` and longitude `lon`
    (degrees): the haversine formula on a sphere of radius `EARTH_RADIUS_KM`."""
    lat, lon = np.radians(lat), np.radians(lon)
    half = (
        np.sin((lat[:, None] - lat) / 2) ** 2
        + np.cos(lat[:, None]) * np.cos(lat) * np.sin((lon[:, None] - lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(half))


def log_distance(distance: np.ndarray) -> np.ndarray:
    """The distance feature (R, R) of the regions `distance` (R, R) apart: log(d_rj / the median of d over
    the pairs r != j), zero diagonal. ValueError where two regions are not apart (log 0) or not finitely."""
    off = ~np.eye(distance.shape[0], dtype=bool)
    bad = off & ~((distance > 0) & np.isfinite(distance))
    if bad.any():
        first = np.argwhere(bad)[0]
        raise ValueError(f"regions {first[0]} and {first[1]} are not apart: no log distance")
    return np.where(off, np.log(np.where(off, distance, 1.0) / np.median(distance[off])), 0.0)


def county_proximity(regional_folder: str | Path, regions: np.ndarray) -> np.ndarray:
    """Proximity features (2, R, R) of the counties `regions`, zero diagonal: 1 for the same landsdel
    (`LANDSDEL_COUNTIES`), and the log of the great-circle distance between county centres over its median
    over the pairs. A county's centre is the mean latitude and longitude of its municipalities in
    `read_municipality_coordinates` (those that exchanged movers with Telemark in 2025: 285 of 357, each
    county's main ones; unweighted, so a rough centre)."""
    folder = Path(regional_folder)
    places = read_municipality_coordinates([folder / name for name in COORDINATE_FILES])
    code_of = county_codes_by_name(folder)
    unknown = sorted(set(places["county"]) - set(code_of))
    if unknown:
        raise DataError(folder / COORDINATE_FILES[0], "fylke", f"unknown counties {unknown}")
    centre = places.groupby(places["county"].map(code_of))[["lat", "lon"]].mean().loc[list(regions)].values
    off = ~np.eye(len(regions), dtype=bool)
    landsdel = {code: name for name, codes in LANDSDEL_COUNTIES.items() for code in codes}
    same = np.asarray([[landsdel[a] == landsdel[b] for b in regions] for a in regions])
    return np.stack([same & off, log_distance(great_circle_km(centre[:, 0], centre[:, 1]))]).astype(float)


def registered_factors(obs: Observations, expected: xr.DataArray) -> xr.DataArray:
    """Level factors (year, region) reproducing the registered totals `obs` (`levels.observed_factors`),
    each region-year without a registered total at the region's mean factor over the years with one."""
    calibrated = observed_factors(obs, expected, xr.ones_like(expected))
    covered = np.zeros(expected.shape, bool)
    for year, member in zip(obs.year, obs.member, strict=True):
        covered[year] |= member > 0
    mean = calibrated.where(covered).mean("year")
    return observed_factors(obs, expected, xr.ones_like(expected) * mean)


def net_account(inputs: CountyInputs, international: xr.DataArray | None = None) -> xr.Dataset:
    """The regions' account that internal migration is fitted on, over the event years of `inputs`: aged
    (stocks at risk), net (net internal migration: the account of `estimated_rates.regional_account` with
    the registered birth and death totals, `registered_factors`, less `international`, made to sum to zero
    over the regions as `internal.net_internal_migration` does) and international (year, region, sex,
    age; the regions' international net migration; None: the national net allocated by population at
    risk)."""
    births, deaths = (
        registered_factors(getattr(inputs, k), inputs.expected[k]) for k in ("births", "deaths")
    )
    account = regional_account(inputs.population, inputs.rates, births, deaths)
    dims = ("year", "region", "sex", "age")
    if international is None:
        international = account["international"]
    elif set(international.dims) != set(dims) or not all(
        np.isin(account[d].values, international[d].values).all() for d in dims
    ):
        raise ValueError(
            f"international must have dims {dims} covering the account's; it has {dict(international.sizes)}"
        )
    allocated = account[["aged", "deaths"]].assign(
        emigration=xr.zeros_like(account["aged"]),
        immigration=international.sel({d: account[d] for d in dims}).transpose(*dims),
    )
    net = net_internal_migration(inputs.population, allocated)
    return xr.Dataset(
        {"aged": account["aged"], "net": net, "international": allocated["immigration"]}
    ).transpose(*dims)


def internal_data(
    account: xr.Dataset, gross: GrossObservations, proximity: np.ndarray, national: GrossObservations
) -> InternalData:
    """`InternalData` of a `net_account`, its gross counts and proximity; the schedule's centre is the
    national moves per person at risk in the year of `national`'s count over every origin-destination pair
    (its regions: Norway's counties, 2010's moves between old counties). ValueError if it has none."""
    regions = national.pairs.shape[1]
    every_pair = national.relative & (national.pairs.sum((1, 2)) == regions * (regions - 1))
    years = account["year"].values
    if not every_pair.any():
        raise ValueError(f"the schedule's centre needs 2010's national moves; the event years are {years}")
    aged = account["aged"]
    totals = aged.sum(["sex", "age"])
    return InternalData(
        years=years,
        regions=account["region"].values,
        ages=account["age"].values,
        aged=aged.values,
        net=account["net"].values,
        international=account["international"].values,
        share=(totals / totals.sum("region")).mean("year").values,
        proximity=proximity,
        gross=gross,
        crude_rate=float(national.moves[every_pair].sum() / aged.values[national.year[every_pair][0]].sum()),
    )


def county_internal_data(
    inputs: CountyInputs, regional_folder: str | Path, international: xr.DataArray | None = None
) -> InternalData:
    """Norway's 15 counties over the event years of `inputs`: their `net_account` (`international` as
    there), gross counts of `county_gross_observations`, proximity `county_proximity`, the schedule's
    centre from the 2010 national moves between old counties per person at risk (`internal_data`)."""
    account = net_account(inputs, international)
    regions = account["region"].values
    gross = county_gross_observations(regional_folder, regions, account["year"].values, account["age"].values)
    return internal_data(account, gross, county_proximity(regional_folder, regions), gross)
