"""Regions' shares of the national international migration, uncertain and moving (issue #15, item 5):
each region's share of the immigrations (the kernel's gross mode) or of the net international migration
(net mode), learnt from the registered county flows; `paths.RegionalLevels.international` takes the draws.

SSB (reference ch. 7.2, "Migration to and from abroad"): the national immigrations (BEFINN's) are shared
among the projection regions by each region's proportion of the immigrations over the last ten years,
through the "abroad" row of the internal migration matrix: 20 migrant groups (0-5 and 6-16 years, sexes
merged; nine groups 17-69 by sex), the last observed year phased into the ten-year proportions over five
years. The immigrants of every region take the national age-sex distribution of that group. Emigration
uses regional probabilities (sex, age 0-69, ten years, smoothed) scaled by an index to BEFINN's national
emigrations. The shares are fixed: no uncertainty.

Here the shares are by region only and the national immigrants' (or net migrants') age-sex schedule applies
in every region: no county flow by age exists here beyond the children of 2008 (moves by county and child
age), and they show what that costs: a county's share of the immigrant children over its share of all
immigrants runs from 0.67 (Oslo) and 0.79 (Sør-Trøndelag) to 1.3-1.56 (Hedmark, Agder, Sogn og Fjordane,
Nord-Trøndelag), a pattern `paths.RegionalSchedules.international` could carry. The net share of region r
is (I_r - E_r) / (I - E) from the registered gross counts of the same years.

Model (t = 1..T the years from the first registered to the last, then `horizon` forecast years):

    x_r(t) = mu_r + eta_r(t),   s_r(t) = exp x_r(t) / sum_j exp x_j(t)      (log-ratio shares)
    mu ~ ZeroSumNormal(2)                                                  levels, free per region
    eta(1) ~ ZeroSumNormal(s),  eta(t) = phi eta(t-1) + sigma e(t),  e(t) ~ ZeroSumNormal(1)
    s = sigma / sqrt(1 - phi^2),  phi ~ Uniform(0, 1),  sigma ~ HalfNormal(0.2)    one scale for all

Zero sums over the regions leave out the common part, which the shares ignore; a region's deviation from
the regions' mean moves as with independent shocks. sigma is the parameter (the yearly moves identify it
well) and the start is centred: with s as the parameter or the start as s e(1), NUTS diverged where phi
nears 1, where the start trades against mu.

Observations: in a registered year t units u (sets of regions, together all of them) hold n_u(t) of the
national N(t) = sum_u n_u(t); a unit is a region whose old counties are all registered, the rest of the
regions one more unit (e.g. Telemark against the rest of Norway):

    p_u(t) = r_u(t) S_u(t) / sum_v r_v(t) S_v(t),   S_u = sum_{r in u} s_r
    n_u(t) ~ Normal(N(t) p_u(t), sqrt(v_u(t)))

r_u(t) is the unit's population on its own (old county) borders over its regions' on 2024 borders, the
border correction of `levels` (moved municipalities take their region's immigration per person; 0.93
Akershus to 1.09 Buskerud); v_u the Poisson variance of the registered count: n_u for immigrations,
I_u + E_u for the net I_u - E_u. The net model needs positive net flows (every registered unit has them).
The deviations eta carry what moves beyond that sampling noise; years past the horizon continue the AR(1)
with fresh shocks (`share_draws`).

Norway (`norway_share_inputs`, the 15 counties of 2024 from the 19 old ones). County flows in the
definition of the national total (SSB's register; Eurostat's Norway series equals it to 2007 and runs 5-14%
lower from 2008): every county in 2008, 2013 and 2014 (SSB's 2008 table, IMDi's exports); counties 01-15
in 2011 (16-20 cut off the page: one rest unit); immigration into counties 01-10 in 2004, 2006, 2009 and
2010 (the partial county matrix, the nation from its "Utlandet" row); Telemark 1997-2014 (its
municipalities; 2013 from IMDi, 1 591 against their 1 598) against Eurostat's national totals to 2007.
2012 and the years after 2014 have no national total in that definition here, so the shares at a 2025
jump-off are forecasts 11 years past the data. Net: the same without the matrix years (no emigration).

Measured (experiments/immigration_shares.py, NUTS 2 x 500 after 300: no divergences, R-hat of the shares
up to 1.02; the default 2 x 1000 after 500: 1.010, bulk ESS 820 for sigma, about 150 for phi and s, which
17 years identify weakly, as in `levels`). Immigrations: yearly shocks sigma 0.063 (80% 0.056-0.071) of
the log shares, phi 0.94 (0.86-0.98), s 0.19 (0.13-0.35); 2014's shares from Oslo 22.5%, Vestland 11.4%,
Akershus 11.2% and Rogaland 10.8% down to Telemark and Finnmark 1.9%. Held out: fitted without 2014 (a
year past 2013) 11 of 15 registered county shares fall inside the predictive 80% intervals, 15 inside the
95%; without 2011 (between 2010 and 2013) 10 and 12 of 12. A county's 80% interval over its median
(median over counties, range): 0.16 (0.14-0.19) one year past the data, 0.34 (0.28-0.38) five, 0.44
(0.37-0.50) ten, 0.45 at 2025; Oslo's the narrowest. Net: sigma 0.18 (0.15-0.20), phi 0.77 (0.61-0.89);
held out 13 and 15 of 15 (2014), 12 and 12 of 12 (2011); widths 0.49, 0.77, 0.84 and 0.88: the net share
moves three times as much (Oslo 23% of the net in 2008, 16% in 2013).
"""

from pathlib import Path
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.fitting import fit_model
from stochpop.components.processes import ar1_recursion
from stochpop.components.randomness import Paths, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.data.immigrants import read_eurostat_totals
from stochpop.data.regional import (
    NATION,
    OLD_COUNTY_UNITS,
    read_county_international,
    read_county_moves,
    read_imdi_county_flows,
    read_nuts_events,
    read_regional_population,
    read_telemark_changes,
)

Array = jax.Array


class ShareObservations(NamedTuple):
    """Registered units, one row per unit-year (n,): total, the unit's flow (persons; immigrations or net);
    variance, its sampling variance v_u (persons^2); year, index into the model's years; member (n, R),
    1 where the unit covers the region; ratio, the border correction r_u. The units of a year partition
    the regions."""

    total: np.ndarray
    variance: np.ndarray
    year: np.ndarray
    member: np.ndarray
    ratio: np.ndarray


class ShareInputs(NamedTuple):
    """What `fit_immigration_shares` takes: observations, years (T,) and regions (R,)."""

    observations: ShareObservations
    years: np.ndarray
    regions: list[str]


def unit_shares(share: Array, year: Array, member: Array, ratio: Array) -> Array:
    """Units' shares p_u of their year's total (..., n) from the regions' shares (..., T, R) and the units'
    year (n,), member (n, R) and ratio (n,) (module docstring)."""
    weighted = ratio * jnp.sum(share[..., year, :] * member, axis=-1)
    same_year = (year[:, None] == year[None, :]).astype(weighted.dtype)
    return weighted / (weighted @ same_year)


def national_totals(obs: ShareObservations) -> np.ndarray:
    """Each row's national total N(t) (n,): the sum of the counts of its year's units."""
    return (obs.year[:, None] == obs.year[None, :]).astype(float) @ obs.total


def share_model(
    n_years: int,
    year: Array,
    member: Array,
    ratio: Array,
    variance: Array,
    national: Array,
    count: Array | None = None,
) -> None:
    """The NumPyro model of the module docstring over `n_years` years (forecast years included); the
    units' year, member, ratio and variance as `ShareObservations`, national (n,) N(t) of each row; count
    (n,) or None (prior)."""
    regions = member.shape[-1]
    mu = numpyro.sample("mu", dist.ZeroSumNormal(2.0, event_shape=(regions,)))
    phi = numpyro.sample("phi", dist.Uniform(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    spread = numpyro.deterministic("s", sigma / jnp.sqrt(1.0 - phi**2))
    start = numpyro.sample("start", dist.ZeroSumNormal(spread, event_shape=(regions,)))
    shocks = numpyro.sample(
        "shocks", dist.ZeroSumNormal(1.0, event_shape=(regions,)).expand([n_years - 1]).to_event(1)
    )
    eta = jnp.concatenate([start[None], ar1_recursion(start, jnp.zeros(()), phi, sigma, shocks)])
    log_weight = numpyro.deterministic("log_weight", mu + eta)
    share = numpyro.deterministic("share", jax.nn.softmax(log_weight, axis=-1))
    mean = national * unit_shares(share, year, member, ratio)
    numpyro.sample("count", dist.Normal(mean, jnp.sqrt(variance)), obs=count)


def _check(obs: ShareObservations, years: np.ndarray, regions: list[str]) -> None:
    """ValueError naming the year whose units do not partition the regions, or a non-positive count."""
    if obs.member.shape[1] != len(regions) or obs.year.min() < 0 or obs.year.max() >= len(years):
        raise ValueError(
            f"observations cover {obs.member.shape[1]} regions and year indices "
            f"{obs.year.min()}-{obs.year.max()}; expected {len(regions)} and 0-{len(years) - 1}"
        )
    for index in np.unique(obs.year):
        covered = obs.member[obs.year == index].sum(0)
        if not np.array_equal(covered, np.ones(len(regions))):
            raise ValueError(f"the units of {years[index]} do not cover each region once: {covered.tolist()}")
    bad = (obs.total <= 0) | (obs.variance <= 0) | (obs.ratio <= 0)
    if bad.any():
        raise ValueError(f"{years[obs.year[bad][0]]}: unit counts, variances and ratios must be positive")


def fit_immigration_shares(
    obs: ShareObservations,
    years: np.ndarray,
    regions: list[str],
    horizon: int = 10,
    settings: FitSettings | None = None,
) -> az.InferenceData:
    """Fit `share_model` (NUTS, float64) to the units `obs` of `years` (T,) and `regions` (R,), with
    `horizon` forecast years after the last. Posterior share and log_weight (chain, draw, year, region),
    mu (region), phi, s, sigma; constant_data national (the fitted years' N(t), NaN where none)."""
    _check(obs, years, regions)
    settings = settings or FitSettings(warmup=500, samples=1000, target_accept=0.95)
    all_years = np.concatenate([years, years[-1] + np.arange(1, horizon + 1)])
    national = national_totals(obs)
    by_year = np.full(len(years), np.nan)
    by_year[obs.year] = national
    with jax.enable_x64(True):
        return fit_model(
            share_model,
            {
                "n_years": len(all_years),
                "year": jnp.asarray(obs.year),
                "member": jnp.asarray(obs.member),
                "ratio": jnp.asarray(obs.ratio),
                "variance": jnp.asarray(obs.variance),
                "national": jnp.asarray(national),
                "count": jnp.asarray(obs.total),
            },
            settings,
            coords={"year": all_years, "region": list(regions)},
            dims={
                "mu": ["region"],
                "start": ["region"],
                "log_weight": ["year", "region"],
                "share": ["year", "region"],
            },
            constant_data={"national": xr.DataArray(by_year, dims="year", coords={"year": years})},
            check=["sigma", "share"],
            attrs={"component": "regional international migration shares"},
        )


def share_draws(idata: az.InferenceData, key: Array, paths: Paths, years: np.ndarray) -> np.ndarray:
    """Shares (year, draw, R) for `years`, summing to 1 over regions: each path's own posterior draw (its
    key `fold_in(key, path)`, stream 0, `randomness.posterior_draws`); years past the posterior's last
    continue its AR(1) with the path's shocks (stream 1). Give it a key of its own (not the levels')."""
    posterior_years = idata["posterior"]["year"].values
    years = np.asarray(years)
    if years.min() < posterior_years[0]:
        raise ValueError(f"the share posterior starts in {posterior_years[0]}, not {years.min()}")
    keys = path_keys(key, paths)
    draws = posterior_draws(idata, keys, ["log_weight", "mu", "phi", "sigma"])
    log_weight = draws["log_weight"]
    extra = max(int(years.max()) - int(posterior_years[-1]), 0)
    if extra:
        shocks = jnp.swapaxes(path_shocks(keys, 1, (extra, log_weight.shape[-1])), 0, 1)
        start, mu = jnp.asarray(log_weight[:, -1]), jnp.asarray(draws["mu"])
        persistence, scale = jnp.asarray(draws["phi"][:, None]), jnp.asarray(draws["sigma"][:, None])
        later = ar1_recursion(start, mu, persistence, scale, shocks)
        log_weight = np.concatenate([log_weight, np.swapaxes(np.asarray(later), 0, 1)], axis=1)
    chosen = np.swapaxes(log_weight[:, years - int(posterior_years[0])], 0, 1).astype(float)
    weight = np.exp(chosen - chosen.max(axis=-1, keepdims=True))
    return weight / weight.sum(axis=-1, keepdims=True)


def observed_shares(obs: ShareObservations, idata: az.InferenceData) -> xr.DataArray:
    """Shares (year, region) in the years with registered units that reproduce the registered unit shares
    q_u = n_u / N exactly (`unit_shares` gives q back): S_u = (q_u / r_u) / sum_v (q_v / r_v), split among
    the unit's regions as the posterior mean shares split it. A region that is a unit of its own gets its
    registered share; the regions of a larger unit (the rest beside Telemark) the model's split of it."""
    mean = idata["posterior"]["share"].mean(["chain", "draw"])
    indices = np.unique(obs.year)
    shares = mean.values[indices].copy()
    registered = obs.total / national_totals(obs)
    for row, index in enumerate(indices):
        units = obs.year == index
        unit_total = registered[units] / obs.ratio[units]
        unit_total /= unit_total.sum()
        member = obs.member[units]
        modelled = member @ shares[row]
        shares[row] *= (unit_total / modelled) @ member
    return mean.isel(year=indices).copy(data=shares)


REGIONAL = Path("norway") / "regional"
IMDI = Path("norway") / "immigrants" / "imdikator-munch"
COUNTY_TABLES = (
    REGIONAL / "DERIVED_ssb_web_immigration_emigration_by_county_and_child_age_2008.csv",
    REGIONAL / "DERIVED_ssb_web_population_changes_by_county_2011.csv",
)
IMDI_FLOWS = (IMDI / "befolkning_flytting.csv", IMDI / "befolkning_flytting_FL_2014.csv")
COUNTY_MATRIX = REGIONAL / "DERIVED_ssb_web_od_matrix_fylke_partial_to_counties01-10_2004-2011.csv"
TELEMARK = REGIONAL / "DERIVED_evensrii_Telemark_befolkningsendringer_01222_telemark_kommuner_1997-2025.csv"
EUROSTAT = Path("norway") / "migration" / "DERIVED_norway_eurostat_imm8_emi2_by_age_sex.csv.gz"
EUROSTAT_LAST_SSB_YEAR = 2007
"""Eurostat's national immigration and emigration equal SSB's registered totals through 2007 (in every year
checkable here: immigration 1999-2004, 2006, 2007, emigration 1999-2003, 2006, 2007); from 2008 they are
5-14% lower (immigration 2008-2011, 2013, 2014)."""
POPULATION = REGIONAL / "DERIVED_csdata_pop_by_age_sex_b2024_nation_county_georegion_to2024.csv.gz"
EVENTS = REGIONAL / "DERIVED_datacommons_eurostat_demo_r_gind3_norway_nuts.csv"
RATIO_YEARS = (2006, 2017)
"""Years whose populations give the border ratios: 2024-border county stocks complete from 2006 (2005
lacks two municipalities), Sør- and Nord-Trøndelag's NUTS rows end in 2017; other years take the nearest."""


def registered_county_flows(shared_data: Path) -> xr.DataArray:
    """Immigrations and emigrations registered by old county (year, flow, county), county the old number
    or NATION, NaN where not registered. Where sources overlap the first holds: SSB's county tables, IMDi's
    exports, the county matrix (immigration into counties 01-10, the nation from its "Utlandet" row),
    Telemark's municipalities (county 08), Eurostat's national totals to 2007."""
    matrix = read_county_moves(shared_data / COUNTY_MATRIX)
    from_abroad = matrix["moves"].sel(origin="Utlandet")
    codes = [label[:2] for label in from_abroad["destination"].values]
    immigration = xr.concat(
        [
            from_abroad.assign_coords(destination=codes).rename(destination="county"),
            matrix["out_total"].sel(origin="Utlandet", drop=True).expand_dims(county=[NATION]),
        ],
        dim="county",
    )
    telemark = read_telemark_changes(shared_data / TELEMARK)[["immigration", "emigration"]].sum(
        "municipality"
    )
    eurostat = read_eurostat_totals(shared_data / EUROSTAT).sel(year=slice(None, EUROSTAT_LAST_SSB_YEAR))
    sources = [
        *(read_county_international(shared_data / path) for path in COUNTY_TABLES),
        *(read_imdi_county_flows(shared_data / path) for path in IMDI_FLOWS),
        immigration.expand_dims(flow=["immigration"]),
        telemark.to_dataarray("flow").expand_dims(county=["08"]),
        eurostat.expand_dims(county=[NATION]),
    ]
    flows = sources[0]
    for source in sources[1:]:
        flows = flows.combine_first(source.transpose("year", "flow", "county"))
    return flows.sel(flow=["immigration", "emigration"]).rename("registered")


def border_populations(shared_data: Path) -> tuple[xr.DataArray, xr.DataArray]:
    """Populations on 1 January for the border ratios over `RATIO_YEARS`: the old counties' on their own
    borders (Eurostat NUTS units; year, county) and the 2024 counties' (year, region)."""
    first, last = RATIO_YEARS
    nuts = read_nuts_events(shared_data / EVENTS)["population"].sel(year=slice(first, last))
    old = nuts.sel(nuts=[unit for unit, _ in OLD_COUNTY_UNITS.values()])
    old = old.assign_coords(nuts=list(OLD_COUNTY_UNITS)).rename(nuts="county")
    county = read_regional_population(shared_data / POPULATION, "county").sum(["sex", "age"])
    return old, county.sel(year=slice(first, last))


def norway_share_inputs(
    shared_data: Path, flow: str = "immigration", skip: tuple[int, ...] = ()
) -> ShareInputs:
    """Norway's 15 counties of 2024 and their units (module docstring) for `flow` "immigration" or "net"
    from the shared data; years in `skip` keep their place in the model's years but lose their
    observations (a held-out year)."""
    if flow not in ("immigration", "net"):
        raise ValueError(f"flow must be 'immigration' or 'net', not {flow!r}")
    registered = registered_county_flows(shared_data)
    immigration, emigration = registered.sel(flow="immigration"), registered.sel(flow="emigration")
    count = immigration if flow == "immigration" else immigration - emigration
    variance = immigration if flow == "immigration" else immigration + emigration
    old_population, population = border_populations(shared_data)
    regions = [str(region) for region in population["region"].values]
    parts = {region: [c for c, (_, r) in OLD_COUNTY_UNITS.items() if r == region] for region in regions}
    rows: list[tuple[float, float, int, np.ndarray, float]] = []
    used: list[int] = []
    for year in registered["year"].values.tolist():
        known = count.sel(year=year).notnull()
        complete = [r for r in regions if bool(known.sel(county=parts[r]).all())]
        if not bool(known.sel(county=NATION)) or not complete:
            continue
        used.append(year)
        if year in skip:
            continue
        rest = [r for r in regions if r not in complete]
        units = [[r] for r in complete] + ([rest] if rest else [])
        ratio_year = int(np.clip(year, *RATIO_YEARS))
        sums = []
        for data in (count.sel(year=year), variance.sel(year=year)):
            inside = [float(data.sel(county=parts[r]).sum()) for r in complete]
            remainder = float(data.sel(county=NATION)) - sum(inside)
            if not rest and remainder != 0:
                raise ValueError(
                    f"{year}: the counties' {flow} sum to {sum(inside):.0f}, the nation's is "
                    f"{float(data.sel(county=NATION)):.0f}"
                )
            sums.append(inside + ([remainder] if rest else []))
        for covered, unit_count, unit_variance in zip(units, *sums, strict=True):
            counties = [c for r in covered for c in parts[r]]
            ratio = float(old_population.sel(year=ratio_year, county=counties).sum()) / float(
                population.sel(year=ratio_year, region=covered).sum()
            )
            rows.append((unit_count, unit_variance, year, np.isin(regions, covered).astype(float), ratio))
    years = np.arange(min(used), max(used) + 1)
    counts, variances, year_of, member, ratio = zip(*rows, strict=True)
    obs = ShareObservations(
        np.array(counts),
        np.array(variances),
        np.searchsorted(years, np.array(year_of)),
        np.stack(member),
        np.array(ratio),
    )
    return ShareInputs(obs, years, regions)
