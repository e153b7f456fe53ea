"""Everything registered about Norway's immigrant groups that the jump-off and the replay use, read from
the shared data folder (layout: `../shared/data/README.md`, section norway/immigrants) into one object.

National figures only, on 1 January (stocks, persons) or for the year (flows, events):

* `population` (year, sex, age 0..110+): HMD; `deaths` (year, sex, age at end of year), `births` (year,
  sex); `fertility` (year, mother_age 15..49): births per woman at risk (HMD/HFD, `observed_fertility`);
* `main_groups` (year, category, sex): immigrants, Norwegian-born to immigrant parents, the rest,
  1986-2015 (IMDi county files, nation row);
* `age_groups` (year, sex, age_group): immigrants by IMDi's 7 age groups, 2006-2013 (county files summed)
  and 2015 (national file);
* `country_groups` (year, group): immigrants by SSB country group from the country-background export
  (2006-2022, summed over municipalities); `duration` (year, region2, duration_class): 2015;
  `world_regions` (year, group): immigrants by IMDi's 9 world regions mapped to the groups, 2015;
* `flows_imdi` (year, flow, category): 2013 and 2014 gross flows, all and immigrants;
  `flows_by_region` (year, flow, region2): 2014 gross flows of immigrants of groups 1 + 2 ("1") and 3 ("2");
  `flows_citizenship` (year, flow, category): 1999-2007, all and foreign citizens;
* `eurostat` (flow, year, sex, age): flows by completed age; `eurostat_totals` (flow, year);
* `tfr_ratio` (year): immigrant women's TFR over the rest's (SSB);
* `immigrant_ages` (year, category, first_age): immigrants and Norwegian-born to immigrant parents by
  5-year age group, 2002 and 2004 (SSB).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from stochpop.data.immigrants import (
    WORLD_REGION_GROUPS,
    country_group,
    read_eurostat_flows,
    read_eurostat_totals,
    read_imdi_age_groups,
    read_imdi_country_background,
    read_imdi_duration,
    read_imdi_flows,
    read_imdi_flows_by_region,
    read_imdi_main_groups,
    read_imdi_world_regions,
    read_ssb_flows_by_citizenship,
    read_ssb_immigrant_population_by_age,
    read_tfr_ratio,
)
from stochpop.data.norway import load_country
from stochpop.projection.rate_sets import observed_fertility

GROUPS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class RegisteredGroups:
    """Norway's registered group data (module docstring for each field's dims and years)."""

    population: xr.DataArray
    deaths: xr.DataArray
    births: xr.DataArray
    main_groups: xr.DataArray
    age_groups: xr.DataArray
    country_groups: xr.DataArray
    duration: xr.DataArray
    world_regions: xr.DataArray
    flows_imdi: xr.DataArray
    flows_by_region: xr.DataArray
    flows_citizenship: xr.DataArray
    eurostat: xr.DataArray
    eurostat_totals: xr.DataArray
    tfr_ratio: xr.DataArray
    immigrant_ages: xr.DataArray
    fertility: xr.DataArray


def _by_group(by_country: xr.DataArray) -> xr.DataArray:
    labels = xr.DataArray([country_group(c) for c in by_country["country"].values], dims="country")
    return by_country.groupby(labels.rename("group")).sum().reindex(group=list(GROUPS), fill_value=0.0)


def _regions_by_group(by_region: xr.DataArray) -> xr.DataArray:
    labels = xr.DataArray(
        [WORLD_REGION_GROUPS[r] for r in by_region["world_region"].values], dims="world_region"
    )
    return by_region.groupby(labels.rename("group")).sum().reindex(group=list(GROUPS))


def load_registered(norway: str | Path) -> RegisteredGroups:
    """Read the registered group data from the shared `norway` folder (hmd/, immigrants/, migration/)."""
    norway = Path(norway)
    imdi = norway / "immigrants" / "imdikator-munch"
    country = load_country(norway)
    ages = [
        read_imdi_age_groups(imdi / "befolkning_alder_F_2006_2013.csv").sum("county"),
        read_imdi_age_groups(imdi / "befolkning_alder_L.csv").sum("county"),
    ]
    main = read_imdi_main_groups(sorted((imdi / "hovedgruppe_fylke_1986_2015").glob("*.csv")))
    flows = xr.concat(
        [
            read_imdi_flows(imdi / "befolkning_flytting.csv"),
            read_imdi_flows(imdi / "befolkning_flytting_FL_2014.csv"),
        ],
        "year",
    )
    eurostat_file = norway / "migration" / "DERIVED_norway_eurostat_imm8_emi2_by_age_sex.csv.gz"
    return RegisteredGroups(
        population=country.population,
        deaths=country.deaths_end_of_year_age,
        births=country.births,
        main_groups=main.sel(county="00", drop=True),
        age_groups=xr.concat(ages, "year").sel(category="immigrants", drop=True),
        country_groups=_by_group(
            read_imdi_country_background(norway / "immigrants" / "befolkning_opprinnelsesland_2022.csv")
        ),
        duration=read_imdi_duration(imdi / "befolkning_botid_L_2015.csv"),
        world_regions=_regions_by_group(read_imdi_world_regions(imdi / "befolkning_verdensregion_9L.csv")),
        flows_imdi=flows,
        flows_by_region=read_imdi_flows_by_region(imdi / "befolkning_flytting_FL_2014.csv"),
        flows_citizenship=read_ssb_flows_by_citizenship(
            norway / "migration" / "DERIVED_ssb_web_immigration_emigration_by_age_citizenship_1999-2007.csv"
        ),
        eurostat=read_eurostat_flows(eurostat_file),
        eurostat_totals=read_eurostat_totals(eurostat_file),
        tfr_ratio=read_tfr_ratio(
            norway / "immigrants" / "DERIVED_ssb_web_tfr_by_mothers_country_background.csv"
        ),
        fertility=observed_fertility(country, country.years),
        immigrant_ages=read_ssb_immigrant_population_by_age(
            norway / "immigrants" / "DERIVED_ssb_web_immigrant_population_by_age_and_category_2002_2004.csv"
        ),
    )


def interpolated(series: xr.DataArray, years: np.ndarray) -> xr.DataArray:
    """A (year,) series at `years`: linear between registered years, the nearest registered value
    outside them (a documented estimate, never an extrapolated trend)."""
    known = series.dropna("year").sortby("year")
    values = np.interp(years, known["year"].values, known.values)
    return xr.DataArray(values, coords={"year": years}, dims="year", attrs=series.attrs)


STOCK_FIELDS: tuple[str, ...] = (
    "population", "main_groups", "age_groups", "country_groups", "duration", "world_regions", "immigrant_ages"
)  # fmt: skip
"""The `RegisteredGroups` fields dated 1 January (stocks); every other field is of event years."""


def registered_until(reg: RegisteredGroups, last_year: int | None) -> RegisteredGroups:
    """`reg` as known on 1 January `last_year` + 1: events of years <= `last_year` and stocks on 1 January
    of years <= `last_year` + 1 (`STOCK_FIELDS`); all of it if `last_year` is None."""
    if last_year is None:
        return reg
    cut = {}
    for name in RegisteredGroups.__dataclass_fields__:
        values = getattr(reg, name)
        bound = last_year + 1 if name in STOCK_FIELDS else last_year
        cut[name] = values.sel(year=values["year"] <= bound)
    return RegisteredGroups(**cut)
