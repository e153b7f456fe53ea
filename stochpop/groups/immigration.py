"""Immigration by kind of immigrant for BEFINN's groups (issue #14, item 2): each path's total immigration
split over non-immigrants (returning Norwegians and the Norwegian-born, SSB's "immigration of
non-immigrants", ch. 3.4 and 8.1) and immigrants of country groups 1-3, with shares that move over time.

Kinds k = 0 non-immigrants, 1-3 immigrants of country group 1-3. The shares p_t of year t's immigrations
are modelled by their additive log-ratios to group 3, x_{k,t} = log(p_{k,t} / p_{3,t}), k = 0, 1, 2:

    x_t = mu + phi (x_{t-1} - mu) + u_t,   u_t ~ Normal(0, Sigma),   Sigma = diag(s_0..2^2) + s_3^2 1 1',

an AR(1) per ratio whose shocks are those of independent shocks of each kind's log level (scale s_k): a
shock of group 3 moves all three ratios together. The choice: each of the two big moves in the data hit
one kind (group 2 after the EU enlargement of 2004, group 3 with the refugees of 2015-16), so shocks of one
kind explain them with 4 scales where a free 3 x 3 covariance would need 6 from 16 reconstructed years. An
AR(1) with its persistence free (prior `PERSISTENCE_PRIOR`) rather than a random walk: the long-run spread
stays bounded and the data choose how slowly it is reached. Normal shocks: with Student-t shocks the
degrees of freedom stayed at their prior (posterior median 16 against the prior's 19), 16 years cannot
tell the tails. The first year's ratios have a wide prior of their own (`START_SD`: the period opens on
the enlargement, not in a stationary state).

What is observed (`share_observations`; each a log ratio with a normal error):

* reconstructed arrivals of immigrants by group, 2006-2021 (`reconstructed_arrivals`): not registered
  here, so rebuilt from the registered stocks by group on 1 January (IMDi country background 2006-2022,
  scaled to IMDi's registered immigrant total where it exists: the 2006 file misses 10 064 immigrants in
  suppressed cells) as the stock change plus the year's emigrations and deaths, both on the 1 January
  stock: emigration at the registered 2014 rates by group (groups 1 + 2 share IMDi's world-region rate,
  `ssb2018.registered_emigration_rates`) moved over the years with the immigrants' registered rate
  (`jump_off.emigration_rate`: foreign citizens 1999-2007, immigrants 2013-2014, interpolated; SSB's
  ordering 1 > 2 cannot be reproduced, so group 1's arrivals are likely under- and group 2's
  over-reconstructed by an amount these data do not tell); deaths at national death rates (HMD) by sex and
  IMDi age group weighted by the immigrants' registered structure (2006-2013, 2015, interpolated), the
  same crude rate for every group (group age structures are not registered), scaled by `death_scale`
  (0.37): the national 67+ rate is far too high for immigrants of 67+, and the registered accounting of
  2013-2014 (IMDi immigrations - emigrations - stock change) leaves 1 369 and 1 323 for deaths where the
  national rates give 3 608 and 3 698. Arrivals who leave or die within their year of arrival are missed,
  as in SSB's own flows (ch. 8). Observed: log(A_g / A_3), g = 1, 2, with error sd `RECONSTRUCTION_SD`
  (stated), and Eurostat's total over the immigrants' arrivals, log(I_t / sum_g A_g) = log c - log(1 -
  p_0), with a bias log c (`total_bias`: Eurostat's and the register's counts differ, fitted through the
  registered years) and error sd `total_sd` (fitted);
* registered immigrations: non-immigrants over immigrants, log(p_0 / (1 - p_0)), in 2013 and 2014 (IMDi:
  all minus immigrants, over immigrants) and 2017 (SSB: 7 490 of 56 400, ch. 3.4 and Table 2.1); (2014)
  immigrants of groups 1 + 2 over group 3 (IMDi world region 1 over 2), log((p_1 + p_2) / p_3); both with
  sd `REGISTERED_SD`;
* SSB's immigrations of Norwegian citizens over foreign citizens, 1999-2003, 2006, 2007: a proxy of
  p_0 / (1 - p_0) that differs from it (immigrants who became Norwegian citizens count as Norwegian
  citizens; Norwegian-born children of immigrants with a foreign citizenship count as foreign), observed
  as log(p_0 / (1 - p_0)) + b with a bias b (`citizenship_bias`, fitted through the overlap with the
  reconstruction in 2006-2007) and error sd `CITIZENSHIP_SD` (stated).

The states run 1999-2021; groups 1-3 are unobserved before 2006 (only the citizenship proxy speaks there).
SSB's own paths by group are published only as figures (3.25-3.28) and its econometric model (Table 3.2)
is not part of this component.

Age-sex schedules: no immigration by age and sex is registered here by kind (Eurostat's is national; the
only split by kind is SSB's 1999-2007 citizenship table by broad age groups, not loaded), so every kind
gets the national Eurostat schedule (2008-2022, `jump_off.arrival_schedule`), ages 0-69 as SSB (ch. 8.1).
Immigrants enter at duration 0 of their group (SSB spreads returning immigrants over durations 0-30,
unpublished); non-immigrants go to the rest (SSB also places some among the Norwegian-born, unpublished).
"""

from dataclasses import dataclass

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from jax.scipy.special import logsumexp

from stochpop.components.fitting import fit_model
from stochpop.components.processes import ar1_recursion
from stochpop.components.randomness import Paths, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE, N_AGES, SEXES
from stochpop.data.immigrants import AGE_GROUP_FIRST
from stochpop.demography.groups import GroupCells
from stochpop.groups.jump_off import CELLS, arrival_schedule, emigration_rate
from stochpop.groups.registered import GROUPS, RegisteredGroups, interpolated, registered_until
from stochpop.groups.ssb2018 import IMMIGRATION, NON_IMMIGRANT_IMMIGRATION, registered_emigration_rates

Array = jax.Array

KINDS: tuple[str, ...] = ("non_immigrants", "group_1", "group_2", "group_3")
"""The kinds of immigration, in order: non-immigrants, then immigrants of country groups 1-3."""
RATIOS: tuple[str, ...] = KINDS[:-1]
"""The log-ratio coordinates: each kind but group 3, over group 3."""
RECONSTRUCTION_SD: float = 0.1
"""Error sd of the reconstructed log(A_g / A_3) (a stated choice, not fitted: fitted, it ran into a funnel
with the states): one percentage point off a group's emigration rate moves its reconstructed arrivals by
7-13% on the 2014 stocks; the registered 2014 split of groups 1 + 2 against 3 is met to 0.012."""
CITIZENSHIP_SD: float = 0.1
"""Error sd of the citizenship proxy's log ratio (stated, not fitted: fitted, it ran into a funnel with the
unobserved 1999-2005 states, 78 divergences in 2 x 1000 draws; its posterior then was 0.09, 80% interval
0.03-0.23)."""
REGISTERED_SD: float = 0.05
"""Error sd of IMDi's registered log ratios against the model's (a stated choice): IMDi's flows count
moves SSB's and Eurostat's leave out (in and out within a year), and its totals differ from Eurostat's by
10% (2013) and 4.5% (2014); ratios within one table are steadier than its totals."""
PERSISTENCE_PRIOR: tuple[float, float] = (2.0, 1.5)
"""Beta prior of each ratio's persistence phi (as the net migration model: persistent, stationary)."""
MEAN_SD: float = 1.0
"""Prior sd of the long-run log ratios mu, centred on 0 (equal shares): each kind 0.14-7.4 times group
3's at 95%."""
START_SD: float = 1.5
"""Prior sd of the first year's log ratios, centred on 0."""
SHOCK_SCALE_SD: float = 0.3
"""Half-normal prior sd of each kind's yearly log shock scale s_k."""
ERROR_SD_PRIOR: float = 0.2
"""Half-normal prior sd of the error sd of Eurostat's total over the reconstruction (log-ratio scale)."""
BIAS_SD: float = 0.5
"""Prior sd of the citizenship proxy's bias b (log-ratio scale), centred on 0."""
TOTAL_BIAS_SD: float = 0.1
"""Prior sd of log c, Eurostat's total over the register's immigrations (centred on 0: the same events;
2013 and 2014 Eurostat has 0.90 and 0.96 times IMDi's all immigrations)."""


SSB_YEAR, SSB_NON_IMMIGRANTS = NON_IMMIGRANT_IMMIGRATION[0]
"""SSB's registered immigrations of non-immigrants in 2017, 7 490 (reference ch. 3.4, 8.1)."""
SSB_IMMIGRATION: float = dict(IMMIGRATION)[SSB_YEAR]
"""SSB's registered immigrations in 2017, 56 400 (reference Table 2.1)."""


def _stock_by_group(reg: RegisteredGroups) -> xr.DataArray:
    """Immigrants by country group on 1 January (year, group): the country background, scaled to the
    registered immigrant total (`main_groups`) in the years that have one."""
    stock = reg.country_groups.sel(group=list(GROUPS)).transpose("year", "group")
    total = reg.main_groups.sel(category="immigrants").sum("sex")
    common = np.intersect1d(stock["year"].values, total["year"].values)
    factor = xr.ones_like(stock["year"], dtype=float)
    factor.loc[{"year": common}] = total.sel(year=common).values / stock.sel(year=common).sum("group").values
    return stock * factor


def immigrant_death_rate(reg: RegisteredGroups, years: np.ndarray) -> xr.DataArray:
    """Deaths per immigrant on 1 January (year,): national death rates by sex and IMDi age group (HMD
    deaths over the 1 January population) weighted by the registered immigrants by sex and age group,
    interpolated between the registered years (`interpolated`)."""
    ages = reg.population["age"].values
    first = np.searchsorted(AGE_GROUP_FIRST, ages, side="right") - 1
    label = xr.DataArray(reg.age_groups["age_group"].values[first], coords={"age": ages}, dims="age")
    known = np.intersect1d(reg.age_groups["year"].values, reg.deaths["year"].values)
    deaths = reg.deaths.sel(year=known).groupby(label.rename("age_group")).sum()
    population = reg.population.sel(year=known).groupby(label.rename("age_group")).sum()
    immigrants = reg.age_groups.sel(year=known).transpose("year", "sex", "age_group").values
    rate = (immigrants * (deaths / population).transpose("year", "sex", "age_group").values).sum((1, 2))
    crude = xr.DataArray(rate / immigrants.sum((1, 2)), coords={"year": known}, dims="year")
    return interpolated(crude, np.asarray(years))


def death_scale(reg: RegisteredGroups) -> float:
    """The factor on `immigrant_death_rate` that closes the registered accounting of immigrants in the years
    of IMDi's gross flows (2013-2014): registered immigrations - emigrations - stock change, over the
    deaths the national rates give (module docstring)."""
    flows = reg.flows_imdi.sel(category="immigrants")
    years = flows["year"].values
    stock = reg.main_groups.sel(category="immigrants").sum("sex")
    change = stock.sel(year=years + 1).values - stock.sel(year=years).values
    left = flows.sel(flow="immigration").values - flows.sel(flow="emigration").values - change
    estimated = immigrant_death_rate(reg, years).values * stock.sel(year=years).values
    return float(left.sum() / estimated.sum())


@dataclass(frozen=True)
class Reconstruction:
    """Immigrants by country group, persons: `stock` (year, group) on 1 January 2006-2022; `emigrations`,
    `deaths`, `arrivals` (year, group) of the event years 2006-2021, where
    arrivals = stock(t + 1) - stock(t) + emigrations + deaths."""

    stock: xr.DataArray
    emigrations: xr.DataArray
    deaths: xr.DataArray
    arrivals: xr.DataArray


def reconstructed_arrivals(reg: RegisteredGroups) -> Reconstruction:
    """Arrivals of immigrants by country group, rebuilt from the registered stocks (module docstring)."""
    stock = _stock_by_group(reg)
    years = stock["year"].values[:-1]
    start = stock.sel(year=years)
    kind_rate = registered_emigration_rates(reg)[[1, 1, 2]]  # groups 1 + 2 share IMDi's region-1 rate
    trend = emigration_rate(reg, years) / float(emigration_rate(reg, np.array([2014]))[0])
    emigrations = start * trend * xr.DataArray(kind_rate, coords={"group": list(GROUPS)}, dims="group")
    deaths = start * immigrant_death_rate(reg, years) * death_scale(reg)
    arrivals = stock.shift(year=-1).sel(year=years) - start + emigrations + deaths
    return Reconstruction(stock, emigrations, deaths, arrivals)


@dataclass(frozen=True)
class ShareData:
    """The model's inputs: state years (T,); each observation as (indices into years, log ratios).

    reconstruction: (R,) years, (R, 2) log(A_1 / A_3), log(A_2 / A_3); total: (R,) years, (R,)
    log(I / sum A); citizenship: (Q,), (Q,); registered_immigrant: (M,), (M,) log(non-immigrants /
    immigrants); registered_region: (N,), (N,) log((groups 1 + 2) / group 3). A None ratio array is
    simulated by the model.
    """

    years: np.ndarray
    reconstruction: tuple[np.ndarray, np.ndarray | None]
    total: tuple[np.ndarray, np.ndarray | None]
    citizenship: tuple[np.ndarray, np.ndarray | None]
    registered_immigrant: tuple[np.ndarray, np.ndarray | None]
    registered_region: tuple[np.ndarray, np.ndarray | None]

    def rows(self) -> tuple[np.ndarray, ...]:
        """Each observation's rows into `years`, in `OBSERVATIONS` order."""
        return tuple(getattr(self, field)[0] for field in OBSERVATIONS)

    def observed(self) -> np.ndarray | None:
        """All observed log ratios as one vector (the model's `observed` site), None if any is missing."""
        values = [getattr(self, field)[1] for field in OBSERVATIONS]
        return None if any(v is None for v in values) else np.concatenate([np.ravel(v) for v in values])

    def with_observed(self, vector: np.ndarray) -> "ShareData":
        """This layout with the log ratios of one `observed` vector (e.g. simulated by the model)."""
        sizes = [
            rows.size * (2 if field == "reconstruction" else 1)
            for field, rows in zip(OBSERVATIONS, self.rows(), strict=True)
        ]
        parts = np.split(np.asarray(vector), np.cumsum(sizes)[:-1])
        parts[0] = parts[0].reshape(-1, 2)
        return ShareData(self.years, *zip(self.rows(), parts, strict=True))


def _rows(years: np.ndarray, observed: np.ndarray) -> np.ndarray:
    if not np.isin(observed, years).all():
        raise ValueError(f"observation years {observed} must lie within the state years {years[[0, -1]]}")
    return np.searchsorted(years, observed)


FIRST_LAST_YEAR: int = 2014
"""The earliest `last_year` of `share_observations`: the reconstruction's emigration rates by group are
IMDi's of 2014 (`ssb2018.registered_emigration_rates`)."""


def share_observations(reg: RegisteredGroups, last_year: int | None = None) -> ShareData:
    """The registered and reconstructed log ratios (module docstring), states from the first citizenship
    year to the last reconstructed year; reconstructed years with an arrival <= 0 are left out.
    `last_year`: the last event year they may see (None: all; at least `FIRST_LAST_YEAR`): every
    observation of a later year is cut (SSB's 2017 ratio among them), and the reconstruction uses the data
    known on 1 January `last_year` + 1 (`registered_until`: its stocks up to then, so its arrivals end in
    `last_year`)."""
    if last_year is not None and last_year < FIRST_LAST_YEAR:
        raise ValueError(f"last_year: {last_year} is before {FIRST_LAST_YEAR} (IMDi's emigrations by group)")
    reg = registered_until(reg, last_year)
    arrivals = reconstructed_arrivals(reg).arrivals.transpose("year", "group")
    arrivals = arrivals.where((arrivals > 0).all("group"), drop=True)
    rec_years = arrivals["year"].values
    citizenship = reg.flows_citizenship.sel(flow="immigration").sortby("year")
    years = np.arange(int(citizenship["year"].min()), int(rec_years.max()) + 1)
    a = arrivals.values
    total = reg.eurostat_totals.sel(flow="immigration", year=rec_years).values
    foreign = citizenship.sel(category="foreign_citizens")
    imdi = reg.flows_imdi.sel(flow="immigration")
    others = imdi.sel(category="all") - imdi.sel(category="immigrants")
    ssb = [SSB_YEAR] if last_year is None or SSB_YEAR <= last_year else []
    ssb_ratio = [SSB_NON_IMMIGRANTS / (SSB_IMMIGRATION - SSB_NON_IMMIGRANTS)] * len(ssb)
    region = reg.flows_by_region.sel(flow="immigration").transpose("year", "region2")
    return ShareData(
        years=years,
        reconstruction=(_rows(years, rec_years), np.log(a[:, :2] / a[:, 2:])),
        total=(_rows(years, rec_years), np.log(total / a.sum(1))),
        citizenship=(
            _rows(years, citizenship["year"].values),
            np.log((citizenship.sel(category="all") - foreign).values / foreign.values),
        ),
        registered_immigrant=(
            _rows(years, np.append(imdi["year"].values, ssb)),
            np.log(np.append(others.values / imdi.sel(category="immigrants").values, ssb_ratio)),
        ),
        registered_region=(
            _rows(years, region["year"].values),
            np.log(region.sel(region2="1").values / region.sel(region2="2").values),
        ),
    )


def shock_cholesky(scale: Array) -> Array:
    """Cholesky factor (..., 3, 3) of the log ratios' shock covariance diag(s_0..2^2) + s_3^2 1 1' from
    each kind's shock scale s (..., 4)."""
    cov = jnp.einsum("...i,ij->...ij", scale[..., :3] ** 2, jnp.eye(3)) + scale[..., 3:, None] ** 2
    return jnp.linalg.cholesky(cov)


SCALARS = ("long_run_mean", "persistence", "shock_scale", "total_sd", "total_bias", "citizenship_bias")
"""The parameters the fit is diagnosed on (with `state`)."""


OBSERVATIONS: tuple[str, ...] = (
    "reconstruction", "total", "citizenship", "registered_immigrant", "registered_region"
)  # fmt: skip
"""The observations of `ShareData`, in the order of the model's `observed` vector."""


def ar1_states(start: Array, mu: Array, phi: Array, shocks: Array) -> Array:
    """x_t = mu + phi (x_{t-1} - mu) + shocks_t, t = 1..n-1, from x_0 = `start` (3,), as (n, 3): the sum
    x_t = mu + sum_{s<=t} phi^(t-s) e_s, e_0 = start - mu, by one triangular matrix per ratio (no scan)."""
    n = shocks.shape[0] + 1
    lag = jnp.arange(n)[:, None] - jnp.arange(n)[None, :]
    weights = jnp.where(lag >= 0, phi[:, None, None] ** jnp.maximum(lag, 0), 0.0)
    deviations = jnp.concatenate([(start - mu)[None], shocks])
    return mu + jnp.einsum("knm,mk->nk", weights, deviations)


def immigrant_log_odds(x: Array) -> Array:
    """log(p_0 / (1 - p_0)) of log ratios x (..., 3)."""
    return x[..., 0] - logsumexp(jnp.concatenate([x[..., 1:], jnp.zeros_like(x[..., :1])], -1), -1)


@jax.jit
def states_and_shares(start: Array, mu: Array, phi: Array, scale: Array, z: Array) -> tuple[Array, Array]:
    """The log ratios x (n, 3) from the first year's `start` (3,) and standard normal shocks z (n - 1, 3)
    under mu, phi (3,) and the kinds' shock scales (4,) (`shock_cholesky`, `ar1_states`), and the shares
    (n, 4). One compiled function: the model's eager initialisation would otherwise compile every
    operation on its own."""
    x = ar1_states(start, mu, phi, jnp.einsum("ij,tj->ti", shock_cholesky(scale), z))
    return x, jax.nn.softmax(jnp.concatenate([x, jnp.zeros((x.shape[0], 1))], -1), -1)


@jax.jit
def observation_model(
    x: Array, total_sd: Array, citizenship_bias: Array, total_bias: Array, rows: tuple[Array, ...]
) -> tuple[Array, Array]:
    """Means and sds of the observed vector (`ShareData.observed`) given x (n, 3), the fitted error sd and
    biases, and each observation's rows (`OBSERVATIONS` order): log(A_g / A_3) (R x 2, sd
    `RECONSTRUCTION_SD`); log c - log(1 - p_0) (R, `total_sd`); log(p_0 / (1 - p_0)) + b at the citizenship
    rows (`CITIZENSHIP_SD`) and at the registered rows (`REGISTERED_SD`); log((p_1 + p_2) / p_3) (N,
    `REGISTERED_SD`)."""
    odds = immigrant_log_odds(x)
    reconstruction, total, citizenship, registered, region = rows
    means = (
        x[reconstruction, 1:].ravel(),
        jax.nn.softplus(odds[total]) + total_bias,
        odds[citizenship] + citizenship_bias,
        odds[registered],
        logsumexp(x[region, 1:], -1),
    )
    sds: tuple[float | Array, ...] = (
        RECONSTRUCTION_SD,
        total_sd,
        CITIZENSHIP_SD,
        REGISTERED_SD,
        REGISTERED_SD,
    )
    sd = jnp.concatenate([jnp.full(m.shape, s) for m, s in zip(means, sds, strict=True)])
    return jnp.concatenate(means), sd


def immigration_share_model(data: ShareData) -> None:
    """The shares of immigration by kind (module docstring), non-centred: the states follow from the first
    year's ratios and standard normal shocks (`states_and_shares`). Priors: mu ~ Normal(0, `MEAN_SD`);
    phi ~ Beta(`PERSISTENCE_PRIOR`); s_k ~ HalfNormal(`SHOCK_SCALE_SD`); first year's ratios ~ Normal(0,
    `START_SD`); the total's error sd ~ HalfNormal(`ERROR_SD_PRIOR`); biases b ~ Normal(0, `BIAS_SD`), log c ~
    Normal(0, `TOTAL_BIAS_SD`). Deterministic `state` (year, ratio) x and `share` (year, kind) p."""
    n = data.years.size
    mu = numpyro.sample("long_run_mean", dist.Normal(0.0, MEAN_SD).expand([3]).to_event(1))
    phi = numpyro.sample("persistence", dist.Beta(*PERSISTENCE_PRIOR).expand([3]).to_event(1))
    scale = numpyro.sample("shock_scale", dist.HalfNormal(SHOCK_SCALE_SD).expand([4]).to_event(1))
    start = numpyro.sample("start", dist.Normal(0.0, START_SD).expand([3]).to_event(1))
    z = numpyro.sample("shocks", dist.Normal().expand([n - 1, 3]).to_event(2))
    x, share = states_and_shares(start, mu, phi, scale, z)
    numpyro.deterministic("state", x)
    numpyro.deterministic("share", share)
    total_sd = numpyro.sample("total_sd", dist.HalfNormal(ERROR_SD_PRIOR))
    bias = numpyro.sample("citizenship_bias", dist.Normal(0.0, BIAS_SD))
    total_bias = numpyro.sample("total_bias", dist.Normal(0.0, TOTAL_BIAS_SD))
    rows = tuple(jnp.asarray(r) for r in data.rows())
    mean, sd = observation_model(x, total_sd, bias, total_bias, rows)
    numpyro.sample("observed", dist.Normal(mean, sd).to_event(1), obs=data.observed())


def simulate_ratios(start: Array, mu: Array, phi: Array, scale: Array, z: Array) -> Array:
    """Log ratios (n_steps, ..., 3) run on from `start` (..., 3) under the model's dynamics with mu, phi
    (..., 3) and the kinds' shock scales (..., 4): shocks L z from standard normal z (n_steps, ..., 3),
    L = `shock_cholesky`."""
    shocks = jnp.einsum("...ij,...j->...i", shock_cholesky(scale), z)
    return ar1_recursion(start, mu, phi, jnp.ones(()), shocks)


_simulate_ratios = jax.jit(simulate_ratios)
"""`simulate_ratios` compiled once per shape."""


def kind_schedule(reg: RegisteredGroups, last_year: int | None = None) -> np.ndarray:
    """Immigrations by kind, sex and age at end of year (4, 2, `N_AGES`), each kind summing to 1: the
    national Eurostat schedule (`arrival_schedule`, of its years <= `last_year`; None: all) at ages
    0..`MIGRATION_MAX_AGE` for every kind."""
    schedule = arrival_schedule(registered_until(reg, last_year), N_AGES)
    if MIGRATION_MAX_AGE is not None:
        schedule = schedule * (np.arange(N_AGES) <= MIGRATION_MAX_AGE)
    return np.broadcast_to(schedule / schedule.sum(), (len(KINDS), *schedule.shape)).copy()


def fit_group_immigration(
    reg: RegisteredGroups,
    settings: FitSettings = DEFAULT_FIT_SETTINGS,
    data: ShareData | None = None,
    last_year: int | None = None,
) -> az.InferenceData:
    """Fit `immigration_share_model` to Norway's registered data of the event years <= `last_year` (None:
    all; `share_observations`, `kind_schedule`), or to `data` (e.g. simulated) -> InferenceData: posterior
    (scalars; `state` (year, ratio); `share` (year, kind)); constant_data `year` (the state years) and
    `schedule` (kind, sex, age: `kind_schedule`)."""
    data = share_observations(reg, last_year) if data is None else data
    coords = {"year": data.years, "ratio": list(RATIOS), "kind": list(KINDS)}
    dims = {
        "long_run_mean": ["ratio"], "persistence": ["ratio"], "shock_scale": ["kind"],
        "state": ["year", "ratio"], "share": ["year", "kind"],
    }  # fmt: skip
    schedule = xr.DataArray(
        kind_schedule(reg, last_year),
        coords={"kind": list(KINDS), "sex": list(SEXES), "age": np.arange(N_AGES)},
        dims=("kind", "sex", "age"),
    )
    return fit_model(
        immigration_share_model,
        {"data": data},
        settings,
        coords,
        dims,
        {"year": xr.DataArray(data.years, dims="year"), "schedule": schedule},
        check=[*SCALARS, "state"],
        attrs={"component": "group immigration"},
    )


RATIO_STREAM: int = 1
"""Key stream of each path's ratio shocks (`randomness.path_shocks`; stream 0 picks its posterior draw)."""


def ratio_paths(idata: az.InferenceData, paths: Paths, last_year: int, key: Array) -> np.ndarray:
    """Log ratios (n, year, 3) of the state years' first to `last_year`, float64, for `paths` (a count n or
    path indices, `randomness.Paths`). Path i uses `path_keys(key, paths)[i]` alone: its posterior draw
    (stream 0, `posterior_draws`) gives its fitted states and parameters, its normal shocks (stream
    `RATIO_STREAM`, (years after the fit, 3)) run the ratios on from the last fitted year
    (`simulate_ratios`); so a path is the same in any chunk of paths."""
    keys = path_keys(key, paths)
    draws = posterior_draws(idata, keys, ["state", *SCALARS[:3]])
    state = draws["state"].astype(float)
    steps = last_year - int(idata["constant_data"]["year"].values[-1])
    if steps <= 0:
        return state
    z = jnp.moveaxis(path_shocks(keys, RATIO_STREAM, (steps, len(RATIOS))), 0, 1)
    mu, phi, scale = (jnp.asarray(draws[name]) for name in SCALARS[:3])
    future = _simulate_ratios(jnp.asarray(state[:, -1]), mu, phi, scale, z)
    return np.concatenate([state, np.moveaxis(np.asarray(future, dtype=float), 0, 1)], axis=1)


def immigration_shares(idata: az.InferenceData, years: np.ndarray, paths: Paths, key: Array) -> np.ndarray:
    """Shares of each year's immigrations by kind (n, Y, 4 in `KINDS` order), float64, summing to 1 in every
    path and year: the softmax of `ratio_paths(idata, paths, years[-1], key)` at `years` (integers,
    increasing from the first fitted year on: inside the fit the path's fitted shares, beyond it its
    forecast)."""
    years = np.asarray(years)
    fitted = idata["constant_data"]["year"].values
    if years.ndim != 1 or years.size == 0 or not np.issubdtype(years.dtype, np.integer):
        raise ValueError(f"years must be a non-empty 1-d array of integer years, not {years}")
    if years[0] < fitted[0] or (np.diff(years) <= 0).any():
        raise ValueError(f"years must increase from the first fitted year {fitted[0]} on, not {years}")
    x = ratio_paths(idata, paths, int(years[-1]), key)[:, years - fitted[0]]
    logits = np.concatenate([x, np.zeros((*x.shape[:-1], 1))], -1)
    shares = np.exp(logits - logits.max(-1, keepdims=True))
    return shares / shares.sum(-1, keepdims=True)


def group_immigration_paths(
    idata: az.InferenceData, total: xr.DataArray, years: np.ndarray, key: Array
) -> xr.DataArray:
    """Immigrations (path, year, kind, sex, age) persons: each path's total (path, year) persons times its
    shares by kind (`immigration_shares` of the paths in total's `path` coordinate, their indices) times
    each kind's schedule (constant_data). The kinds sum to the total in every path and year."""
    years = np.asarray(years)
    if total.dims != ("path", "year") or total.sizes["year"] != years.size:
        raise ValueError(
            f"total must have dims (path, year) with {years.size} years, not {dict(total.sizes)}"
        )
    values = np.asarray(total.values, dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("total must be finite and non-negative in every path and year")
    shares = immigration_shares(idata, years, total["path"].values, key)
    schedule = idata["constant_data"]["schedule"]
    counts = (values[..., None] * shares)[..., None, None] * schedule.values
    return xr.DataArray(
        counts,
        coords={"path": total["path"].values, "year": years, **schedule.coords},
        dims=("path", "year", "kind", "sex", "age"),
        attrs={"units": "persons"},
    )


def immigration_by_cell(immigration: xr.DataArray, cells: GroupCells = CELLS) -> xr.DataArray:
    """Immigrations by kind (path, year, kind, sex, age) -> by cell of `cells` (path, year, cell, sex, age):
    groups 1-3 at duration 0 of their group, non-immigrants in the rest, no Norwegian-born
    (`GroupCells.immigration_at_arrival`). Memory: paths x years x C x 2 x ages floats."""
    if cells.groups != len(GROUPS):
        raise ValueError(f"cells must have {len(GROUPS)} country groups, not {cells.groups}")
    if tuple(immigration["kind"].values) != KINDS:
        raise ValueError(f"immigration's kind axis must be {KINDS}, not {tuple(immigration['kind'].values)}")
    values = immigration.transpose("path", "year", "kind", "sex", "age").values
    by_group = values[:, :, 1:]
    by_cell = cells.immigration_at_arrival(values[:, :, 0], by_group, np.zeros_like(by_group))
    return xr.DataArray(
        by_cell,
        coords={
            "path": immigration["path"].values,
            "year": immigration["year"].values,
            "cell": list(cells.labels()),
            "sex": immigration["sex"].values,
            "age": immigration["age"].values,
        },
        dims=("path", "year", "cell", "sex", "age"),
        attrs={"units": "persons"},
    )
