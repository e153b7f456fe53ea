"""Labour-market determinants of net internal migration: a hierarchical panel of Norway's counties on their
registered unemployment, its interaction with city regions and year effects (NumPyro), the two-way
fixed-effects estimate beside it, and unemployment scenarios that shift internal migration.

Data. y_rt is county r's net internal migration in event year t per 1000 of its mean population (1 January
t and t + 1), the cohort residual of `estimated_rates.regional_account` with the registered birth and death
totals (`levels.observed_factors`; region-years without a registered total, deaths 2015 and the events of
2023, take the county's geometric-mean registered factor). The national net international migration is
allocated to counties by population at risk, so y_rt also holds county r's excess (or shortfall) of net
immigration over its population share: Oslo's immigrants show as internal in-migration. Registered county
net internal migration exists here only for 2013 and 2014 (IMDi `befolkning_flytting*.csv`, old counties):
there the residual is off the registered figure by 1.9 per 1000 on average (up to 5.7: Oslo 2014, +1 445
persons), and the error follows the county's registered net immigration over its population share
(correlation 0.88); two years cannot separate the two over the panel, so y_rt is internal plus
excess immigration. Its lasting part (Oslo's immigrants) goes into the county effects; its moving part
(refugee settlements in 2016 and 2022-2023) stays in the noise. u_rt is NAV's registered fully unemployed as a
percentage of the labour force, the mean of the year's months (`stochpop.data.labour.read_unemployment`,
2011-2025), so the panel covers 2011-2023: 15 counties x 13 years.

City regions. c_r = 1 for the counties of the four largest cities (`CITY_COUNTIES`): Oslo, Vestland
(Bergen), Trøndelag (Trondheim), Rogaland (Stavanger). The labour-market region study (85 BA regions
1994-2017: net in-migration about -1.5 per 1000 per percentage point of unemployment, two-way fixed
effects, weaker in city regions) has smaller regions, so a county mixes a city with its hinterland
(Akershus, Oslo's commuter belt, is not a city county here) and moves within a county, which respond to
local labour markets too, are invisible; 15 counties over 13 years give 195 observations against about
2 000.

Model (x_rt = u_rt - ubar, ubar the panel's mean unemployment):

    y_rt = a_r + d_t + (beta + gamma c_r) x_rt + e_rt
    a_r = a0 + tau z_r,  z_r ~ Normal(0, 1)                 partially pooled county levels
    d_t = w_t - mean_t w,  w_t ~ Normal(0, 5)               year effects summing to zero, not pooled
    e_rt ~ StudentT(nu, 0, sigma)
    beta ~ Normal(0, 2),  gamma ~ Normal(0, 2)              per 1000 per percentage point
    a0 ~ Normal(0, 5),  tau ~ HalfNormal(5),  sigma ~ HalfNormal(3),  nu ~ Gamma(2, 0.1)

Priors in the data's units: the counties' mean rates 2011-2023 run from -5.6 (Finnmark) to +6.7 per 1000
(Akershus; tau's scale 5); their deviations from the county means have a standard deviation of 2.4 per
1000 (sigma); beta's prior puts the study's -1.5 inside one standard deviation without favouring its sign;
nu's Gamma(2, 0.1) (Juarez and Steel) lets the data choose between heavy tails (a county's refugee
settlements, a reception centre) and a normal. beta is the effect outside city counties and beta + gamma
inside them. The year effects are not pooled: internal migration nets to zero nationally, so the year
means of y are near zero while national unemployment swings (2020: every county up 2-3 points); with a
learnt scale (d_t ~ Normal(0, s_d)) s_d collapsed to 0.3 and the national swings, which move nobody,
pulled beta to -0.17 (sd 0.31) against -1.46 with free year effects (Norway 2011-2023). Free year effects
do what the fixed-effects regression's year dummies do.

Norway 2011-2023 (experiments/labour_panel.py; 30 s NUTS, 2 x 1000 draws, no divergences): beta -1.46
(80% -2.19 to -0.73, P(beta < 0) 0.996), beta + gamma -1.86 (-2.56 to -1.15), gamma -0.39 (-1.02 to 0.20);
fixed effects -1.71 and -1.99 (county-clustered se 1.14 and 1.02): the study's sign and size (-1.5), but
city counties do not respond more weakly; with unemployment lagged a year, beta -0.50 and beta + gamma
-1.82 (fixed effects): the split between city and other counties is not robust, the average effect is.

Fixed effects (`fixed_effects`): ordinary least squares of y on x and c x after removing county and year
means (two-way within transformation of the balanced panel), with classical and county-clustered standard
errors (CR1, 15 clusters: rough).

Scenarios (`unemployment_scenario`): a change du_rt of unemployment (percentage points, against whatever
path the projection assumes) shifts county r's rate by (beta + gamma c_r) du_rt in each posterior draw.
Internal moves net to zero nationally, so the shift is centred on its population-weighted mean over the
counties in each draw and year: dy_rt - sum_j P_jt dy_jt / sum_j P_jt. Persons P_rt dy_rt / 1000 then sum
to zero over counties. A uniform rise in every county moves persons only through gamma (between city
and other counties); the national level itself moves nobody (the year effects take it).
"""

from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.fitting import fit_model
from stochpop.components.randomness import Paths, path_keys, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.regions.estimated_rates import regional_account
from stochpop.regions.levels import Observations, observed_factors
from stochpop.regions.norway_counties import CountyInputs

CITY_COUNTIES: tuple[str, ...] = ("03", "11", "46", "50")
"""Oslo, Rogaland (Stavanger), Vestland (Bergen), Trøndelag (Trondheim)."""

STUDY_EFFECT = -1.5
"""The labour-market region study's two-way fixed-effects estimate (per 1000 per percentage point)."""


def _registered_factors(obs: Observations, expected: xr.DataArray) -> xr.DataArray:
    """Factors (year, region) reproducing the registered totals; region-years without one take the region's
    geometric-mean factor over the years with one."""
    first = observed_factors(obs, expected, xr.ones_like(expected))
    covered = np.zeros(expected.shape, bool)
    for year, member in zip(obs.year, obs.member, strict=True):
        covered[year, member > 0] = True
    fallback = np.exp(np.nanmean(np.where(covered, np.log(first.values), np.nan), axis=0))
    return observed_factors(obs, expected, xr.ones_like(expected) * fallback)


def net_internal_rates(inputs: CountyInputs) -> xr.Dataset:
    """The counties' cohort-residual net internal migration (module docstring) for the event years of
    `inputs`: rate (year, region; per 1000 of the mean population), internal (persons), population (the
    mean of the stocks starting and ending the year)."""
    fertility = _registered_factors(inputs.births, inputs.expected["births"])
    mortality = _registered_factors(inputs.deaths, inputs.expected["deaths"])
    account = regional_account(inputs.population, inputs.rates, fertility, mortality)
    internal = account["internal"].sum(["sex", "age"])
    totals = inputs.population.sum(["sex", "age"])
    years = inputs.rates["year"].values
    starting = totals.sel(year=years - 1).assign_coords(year=years)
    population = 0.5 * (starting + totals.sel(year=years))
    rate = 1000.0 * internal / population
    return xr.Dataset({"rate": rate, "internal": internal, "population": population}).transpose(
        "year", "region"
    )


class Panel(NamedTuple):
    """A balanced panel: migration (year, region) per 1000, unemployment (year, region) percent, city
    (region) 1 for city counties; the same years and regions in order."""

    migration: xr.DataArray
    unemployment: xr.DataArray
    city: xr.DataArray


def county_panel(
    migration: xr.DataArray, unemployment: xr.DataArray, city: tuple[str, ...] = CITY_COUNTIES
) -> Panel:
    """The panel over the years both (year, region) arrays cover, regions in `migration`'s order."""
    years = np.intersect1d(migration["year"].values, unemployment["year"].values)
    regions = migration["region"].values
    missing = set(regions) - set(unemployment["region"].values)
    if missing:
        raise ValueError(f"no unemployment for regions {sorted(missing)}")
    y = migration.sel(year=years).transpose("year", "region")
    u = unemployment.sel(year=years, region=regions).transpose("year", "region")
    if bool(y.isnull().any()) or bool(u.isnull().any()):
        raise ValueError("the panel must be balanced: a migration or unemployment value is missing")
    flags = xr.DataArray(np.isin(regions, city).astype(float), dims="region", coords={"region": regions})
    return Panel(y, u, flags)


class FixedEffects(NamedTuple):
    """Two-way fixed-effects OLS: coefficients beta (non-city) and gamma (city interaction), their classical
    and county-clustered (CR1) standard errors, the covariance of (beta, gamma) of each, and the number of
    observations."""

    beta: float
    gamma: float
    se: tuple[float, float]
    cluster_se: tuple[float, float]
    covariance: np.ndarray
    cluster_covariance: np.ndarray
    n: int


def _within(values: np.ndarray) -> np.ndarray:
    """Two-way demeaning of a balanced (year, region) array."""
    return values - values.mean(0, keepdims=True) - values.mean(1, keepdims=True) + values.mean()


def fixed_effects(panel: Panel) -> FixedEffects:
    """The two-way fixed-effects estimate of beta and gamma (module docstring)."""
    y, u = panel.migration.values, panel.unemployment.values
    years, regions = y.shape
    design = np.stack([_within(u).ravel(), _within(u * panel.city.values).ravel()], axis=1)
    target = _within(y).ravel()
    bread = np.linalg.inv(design.T @ design)
    coef = bread @ design.T @ target
    residual = target - design @ coef
    n, k = residual.size, design.shape[1]
    dof = n - k - (years - 1) - (regions - 1) - 1
    covariance = bread * float(residual @ residual) / dof
    scores = (design * residual[:, None]).reshape(years, regions, k).sum(0)
    adjust = regions / (regions - 1) * (n - 1) / (n - k - (years - 1) - regions)
    clustered = adjust * bread @ (scores.T @ scores) @ bread
    return FixedEffects(
        beta=float(coef[0]),
        gamma=float(coef[1]),
        se=(float(np.sqrt(covariance[0, 0])), float(np.sqrt(covariance[1, 1]))),
        cluster_se=(float(np.sqrt(clustered[0, 0])), float(np.sqrt(clustered[1, 1]))),
        covariance=covariance,
        cluster_covariance=clustered,
        n=n,
    )


def panel_model(x: jax.Array, city: jax.Array, y: jax.Array | None = None) -> None:
    """The NumPyro model of the module docstring: x (T, R) centred unemployment, city (R,), y (T, R) or
    None (prior predictive)."""
    years, regions = x.shape
    a0 = numpyro.sample("a0", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(5.0))
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([regions]).to_event(1))
    county = numpyro.deterministic("county", a0 + tau * z)
    w = numpyro.sample("w", dist.Normal(0.0, 5.0).expand([years]).to_event(1))
    year = numpyro.deterministic("year_effect", w - w.mean())
    beta = numpyro.sample("beta", dist.Normal(0.0, 2.0))
    gamma = numpyro.sample("gamma", dist.Normal(0.0, 2.0))
    numpyro.deterministic("beta_city", beta + gamma)
    sigma = numpyro.sample("sigma", dist.HalfNormal(3.0))
    nu = numpyro.sample("nu", dist.Gamma(2.0, 0.1))
    mean = county[None, :] + year[:, None] + (beta + gamma * city)[None, :] * x
    numpyro.sample("y", dist.StudentT(nu, mean, sigma).to_event(2), obs=y)


def fit_panel(panel: Panel, settings: FitSettings | None = None) -> az.InferenceData:
    """Fit `panel_model` (NUTS, float64) to `panel`; constant_data holds x, city and ubar. Diagnostics
    cover beta, gamma, the county and year effects, sigma and nu."""
    settings = settings or FitSettings(warmup=1000, samples=1000, target_accept=0.95)
    ubar = float(panel.unemployment.mean())
    x = panel.unemployment - ubar
    coords = {"year": panel.migration["year"].values, "region": panel.migration["region"].values}
    with jax.enable_x64(True):
        return fit_model(
            panel_model,
            {
                "x": jnp.asarray(x.values),
                "city": jnp.asarray(panel.city.values),
                "y": jnp.asarray(panel.migration.values),
            },
            settings,
            coords=coords,
            dims={"z": ["region"], "county": ["region"], "w": ["year"], "year_effect": ["year"]},
            constant_data={"x": x, "city": panel.city, "ubar": xr.DataArray(ubar)},
            check=["beta", "gamma", "county", "year_effect", "sigma", "nu"],
            attrs={"component": "labour-market panel"},
        )


def unemployment_scenario(
    idata: az.InferenceData, change: xr.DataArray, population: xr.DataArray, city: xr.DataArray
) -> xr.Dataset:
    """The shift in net internal migration implied by a change of unemployment `change` (year, region;
    percentage points) in each posterior draw of `fit_panel`: rate (sample, year, region; per 1000, centred
    on its population-weighted mean) and persons (the same times `population` / 1000, summing to zero
    over regions). `population` (region) or (year, region); `city` (region) as `Panel.city`."""
    posterior = idata["posterior"].stack(sample=("chain", "draw"))
    return _shift(posterior["beta"], posterior["gamma"], change, population, city).transpose(
        "sample", "year", "region"
    )


def path_shifts(
    idata: az.InferenceData,
    key: jax.Array,
    paths: Paths,
    change: xr.DataArray,
    population: xr.DataArray,
    city: xr.DataArray,
) -> np.ndarray:
    """`unemployment_scenario`'s persons for each path (year, draw, region): the path's own posterior draw
    of beta and gamma (its key fold_in(key, path), stream 0: `randomness.posterior_draws`), so a path's
    shift does not depend on its chunk."""
    draws = posterior_draws(idata, path_keys(key, paths), ["beta", "gamma"])
    beta, gamma = (xr.DataArray(draws[name], dims="draw") for name in ("beta", "gamma"))
    return _shift(beta, gamma, change, population, city)["persons"].transpose("year", "draw", "region").values


def _shift(
    beta: xr.DataArray,
    gamma: xr.DataArray,
    change: xr.DataArray,
    population: xr.DataArray,
    city: xr.DataArray,
) -> xr.Dataset:
    """The centred rate and the persons of the module docstring's scenarios, for draws of beta and gamma."""
    raw = (beta + gamma * city.sel(region=change["region"])) * change
    weight = population / population.sum("region")
    rate = raw - (raw * weight).sum("region")
    return xr.Dataset({"rate": rate, "persons": rate * population / 1000.0})
