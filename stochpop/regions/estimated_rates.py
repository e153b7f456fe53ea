"""Estimated observed rates of regions without registered events by age: national rates on the regions'
basis times regional level factors (`levels`), and net migration as the regional cohort residual.

Time. Norway's regional stocks are on 1 January of their year; the accounts of `accounts` label a stock
by the event year it ends, so `as_year_end` relabels 1 January t + 1 as the end of year t.

National rates (`national_rates`, by age at end of year): births per woman at risk from HFD ASFR and HMD
exposures (`rate_sets.observed_fertility`); in years after the last ASFR year the last schedule, scaled so
that the regions' women give the HMD's registered births of the year; death probabilities
q = 1 - exp(-m) from HMD rates (`rate_sets.mortality_end_of_year`; the regions' open age takes the rate
of its first age); the share of boys from HMD births.

Regional account (`regional_account`), region r, year t, by sex and age at end of year x:

    births_r(t) = b_r(t) sum_x fertility(t, x) W_r(t, x)         (b_r: fertility factor)
    deaths_r(t, s, x) = d_r(t) q(t, s, x) aged_r(t, s, x)          (d_r: mortality factor)
    net_r(t, s, x) = P_r(t, s, x) - aged_r(t, s, x) + deaths_r(t, s, x)    (all migration, net)
    international_r = N(t, s, x) aged_r / sum_j aged_j,  N = sum_j net_j   (allocated by population at risk)
    internal_r = net_r - international_r                            (sums to zero over regions)

The split of net into international and internal does not change a replay (both enter as net); with the
national net N allocated by population at risk, regions that receive more than their share of immigrants
(Oslo: a quarter of 2008's immigrants with 12% of the population) show it as internal in-migration.
"""

import numpy as np
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.projection.rate_sets import mortality_end_of_year, observed_fertility
from stochpop.regions.accounts import aged_stock, regional_births


def as_year_end(population: xr.DataArray) -> xr.DataArray:
    """Stocks on 1 January t (year, ...) relabelled as the end of event year t - 1."""
    return population.assign_coords(year=population["year"].values - 1)


def national_rates(country: CountryData, women: xr.DataArray, years: np.ndarray, open_age: int) -> xr.Dataset:
    """National rates for event `years`: fertility (year, mother_age 15..49; births per woman at risk),
    share_boys (year), deaths (year, sex, age 0..open_age; probabilities). `women` (year, age; 1 January
    stocks on the regions' basis) scale the last ASFR schedule to the HMD births of later years."""
    known = years[np.isin(years, country.asfr["year"].values)]
    fertility = observed_fertility(country, known)
    later = years[~np.isin(years, known)]
    if later.size:
        schedule = fertility.sel(year=known[-1], drop=True)
        at_risk = women.sel(year=later, age=schedule["mother_age"].values - 1).rename(age="mother_age")
        at_risk = at_risk.assign_coords(mother_age=schedule["mother_age"].values)
        scale = country.births.sel(year=later).sum("sex") / (schedule * at_risk).sum("mother_age")
        fertility = xr.concat([fertility, schedule * scale], "year")
    m = mortality_end_of_year(country.mortality_rates.sel(year=years)).sel(age=slice(0, open_age))
    births = country.births.sel(year=years)
    return xr.Dataset(
        {
            "fertility": fertility.transpose("year", "mother_age"),
            "share_boys": births.sel(sex=SEXES[1], drop=True) / births.sum("sex"),
            "deaths": (1.0 - xr.ufuncs.exp(-m)).transpose("year", "sex", "age"),
        }
    )


def expected_events(population: xr.DataArray, rates: xr.Dataset) -> xr.Dataset:
    """Events at national rates (factors 1): births and deaths (year, region), and aged (year, region, sex,
    age) the stocks at risk; `population` ends each year (`as_year_end`), `rates` from `national_rates`."""
    births = regional_births(population, rates).transpose("year", "region", "sex")
    aged = aged_stock(population, births)
    deaths = (rates["deaths"] * aged).sum(["sex", "age"])
    return xr.Dataset({"births": births.sum("sex"), "deaths": deaths, "aged": aged})


def regional_account(
    population: xr.DataArray,
    rates: xr.Dataset,
    fertility_factor: xr.DataArray,
    mortality_factor: xr.DataArray,
) -> xr.Dataset:
    """The regional account of the module docstring for the event years of `rates`, `population` (year,
    region, sex, age) ending each year (`as_year_end`), factors (year, region): births (year, region, sex),
    aged, deaths, net, international, internal (year, region, sex, age), persons or events."""
    births = (regional_births(population, rates) * fertility_factor).transpose("year", "region", "sex")
    aged = aged_stock(population, births)
    deaths = mortality_factor * rates["deaths"] * aged
    net = population.sel(year=rates["year"]) - aged + deaths
    international = net.sum("region") * (aged / aged.sum("region")).fillna(0.0)
    return xr.Dataset(
        {
            "births": births,
            "aged": aged,
            "deaths": deaths.transpose(*aged.dims),
            "net": net.transpose(*aged.dims),
            "international": international.transpose(*aged.dims),
            "internal": (net - international).transpose(*aged.dims),
        }
    )
