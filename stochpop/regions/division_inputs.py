"""The regional parts' inputs for a division whose regions are not counties (SSB's labour-market regions,
a user's table; issue #15, item 1). Every registered regional number is on counties (births and deaths on
Eurostat's units, international and internal flows on old counties), so each is carried to the regions.

Regions in counties (`region_counties`). P_rc, the persons of region r living in 2024 county c on 1
January `REFERENCE_YEAR` (its municipalities lie in one county each); weights w_rc = P_rc / sum_c P_rc; the
majority county m(r) = argmax_c P_rc.

Joined counties (`joined_counties`). A county group g (at first each county) holds the regions with m(r)
in g; its overlap O_g = sum_{m(r) in g} sum_{c in g} P_rc. Where O_g is below `LEAST_OVERLAP` of the
group's persons (capture) or of its regions' persons (purity), the worst group joins the group it shares
most persons with (either way), until every group passes.

Births and deaths (`division_inputs`): `norway_counties.regional_inputs` on the regions' populations
(`divisions.regional_population`); a unit covers the regions whose majority county it covers, joined
counties count as one unit, and r_u = unit population / its regions' absorbs the parts of regions outside
(assumed to have their region's age structure and rates). Only the units' totals are registered: how the
regions of one unit differ is left to the level model's pooling (see below).

International migration (`region_shares`): the counties' shares S_c split by population,

    s_r(t) = sum_c S_c(t) P_rc / sum_j P_jc,

so sum_r s_r = sum_c S_c = 1: within a county immigrants (or net migrants) go where its people live
(no municipal flows here; SSB's ten-year regional proportions are not available below the county).

Internal migration (`division_internal_data`): the net residual of the regions' account, as on counties;
the county gross counts on region pairs (`gross_on_regions`); proximity `division_proximity` (the same
landsdel, the same county, the log distance between the regions' centres), for the linear destinations of
`internal_model` (`fit_internal(pair_effects=False)`). Moves between regions of one county are registered
nowhere: the destination model alone sets them (see `division_internal_data`).

Centres (`region_centres`, `region_distances`). A region's centre is the mean latitude and longitude of its
municipalities that have coordinates (`municipality_places`: 285 of 357, those that exchanged movers with
Telemark in 2025, names matched to codes within their county), weighted by persons on 1 January
`REFERENCE_YEAR`; distances are great-circle (`internal_model.great_circle_km`, as the counties'). A
region with none of them takes its majority county's centre (the same mean over the county's places), and
two such regions of one county are as far apart as the county's places on average (pairs of
municipalities). On the BA regions 28 take their county's centre (74 540 persons, 1.3%; 7 in Nordland, 6
in Finnmark, 5 each in Vestland and Trøndelag); distances between centres 12-1 698 km, median 470 km.

Measured on SSB's 159 BA regions (baregioner_2024.xlsx; identities in tests/regions/test_division_inputs.py).
9 regions cross county borders, holding 1 781 101 persons of 5 550 203, 730 222 of them outside their
majority county: Oslo/Bærum (005) 679 921 (630 869 in Akershus, 35 459 in
Buskerud, 13 593 in Innlandet; majority Oslo with 51.4%), Drammen 26 872 (in Vestfold), Ringerike 7 037
(Akershus), Haugesund 5 742 and Vindafjord 4 072 (Vestland), Surnadal, Røros, Nærøysund and Harstad
1 330-1 958. By majority alone Akershus (728 803 persons) would count its births on Ullensaker's region
(90 897: capture 0.125, r_u 8.0) and Oslo on Oslo/Bærum (purity 0.514), so Oslo and Akershus are joined
(capture 0.995, purity 0.967); every other county passes (lowest Buskerud's capture 0.869, Vestfold's
0.895). The units' r_u over 2006-2022 lie in 0.93-1.14 (the counties' 0.92-1.10). Building the inputs
(2006-2023) takes 16 s, mostly reading the municipal file twice; the internal data 9 s (503 gross counts
against the counties' 614: Oslo <-> Akershus pairs and their out- and in-totals drop out, Oslo's and
Akershus's pairs with a third county are summed).

Linear destinations on the BA regions 2006-2023 (experiments/ba_internal.py: SVI 10 000 steps, no age
profiles; one sitting, 2 shared cores), without the distance feature and with it: the absolute county gross
counts' median |error| at the posterior median 29.0% and 22.9% (the county model's 7.1%); kappa (median, SVI's
80% interval, too narrow) same landsdel 0.58 (0.57-0.58) and 0.25 (0.24-0.25), same county 0.68 (0.67-0.70)
and 0.44 (0.43-0.45), log distance -0.42 (-0.42 to -0.42); gamma 1.17 and 1.12; the gross counts' cv 0.40 and
0.33; of 2023's moves between regions 7.3% and 9.3% stay in the region's majority county; fit 417 s and 378 s
(wall; other jobs beside). The distance takes over much of the landsdel effect and closes 6.1 of the 21.9
points to the county model; the model stays far worse than the counties' on their own counts. Its national
level of moves L was then held by the gross counts of 2006-2011 alone: the regions' out-moves (posterior
medians, summed) were 87-103 thousand a year then, 70-153 thousand in 2012-2022 and 39 thousand in 2023 (L
-5.01 against -3.89 to -4.09; the county model's L -4.46 to -4.70 in every year), so its forecasts started
from a level of moves far below the counted years'. The four BA regions that are one Telemark municipality
now carry their registered moves out and in of every year (SSB 01222, `telemark_region_rows`; 144 counts):
the moves between regions are 87-100 thousand a year in 2006-2016, 106-136 thousand in 2017-2022 and 86
thousand in 2023; the counties' counts' median |error| 21.3%, the Telemark regions' 12.9%; kappa same
landsdel 0.20, same county 0.16, log distance -0.50; 8.3% of 2023's moves stay in the region's county; fit
367 s (one sitting with `stochpop run models/norway_regions.toml` beside it). With an effect per pair of
the regions' counties (`internal_model.group_pair_basis`, sampled centred): the counties' counts 6.8%, the
Telemark regions' 9.8%, cv 0.11; kappa same landsdel 0.33, same county 1.32, log distance -0.16; 101-143
thousand moves a year 2006-2023 (123 thousand in 2023), 14.6% of 2023's inside the region's county; fit
208 s (nothing beside it).

Levels fit on the BA inputs (NUTS 2 x 300 after 300, target_accept 0.95): births 77 s, deaths 50 s, no
divergences, max R-hat 1.039 and 1.029 (log_factor), min bulk ESS 247 and 178 (sigma). The regions'
factors within a unit are identified by the pooling alone: 80% intervals of 2022's factors span a ratio of
1.25 (births) and 1.51 (deaths) in the median region against 1.03 on counties. And the pooling inflates the
spread: tau, the regions' level spread, is 0.052 (births) and 0.157 (deaths) against the counties' 0.029 and
0.055 in the same fit: a unit's factor averages some ten independent regional levels, so the units'
differences ask for a larger spread of each. A county level with regional deviations in `levels` would
keep the two apart.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.data.errors import DataError
from stochpop.data.regional import (
    read_locations,
    read_municipality_coordinates,
    read_municipality_names,
    read_regional_population,
    read_telemark_changes,
)
from stochpop.regions.divisions import LOCATIONS_FILE, MUNICIPAL_FILE, Division, regional_population
from stochpop.regions.internal_model import (
    COORDINATE_FILES,
    LANDSDEL_COUNTIES,
    GrossObservations,
    InternalData,
    county_codes_by_name,
    county_gross_observations,
    great_circle_km,
    gross_observations,
    internal_data,
    log_distance,
    net_account,
)
from stochpop.regions.norway_counties import EVENT_YEARS, CountyInputs, regional_inputs

NAMES_FILE = "DERIVED_csdata_locations_names_b2024.csv.gz"
"""The municipalities' names (`read_municipality_names`), relative to the norway/regional folder."""

TELEMARK_CHANGES_FILE = "DERIVED_evensrii_Telemark_befolkningsendringer_01222_telemark_kommuner_1997-2025.csv"
"""SSB 01222 for Telemark's municipalities (`read_telemark_changes`), relative to the norway/regional folder:
the only yearly gross moves by municipality here (`single_municipality_rows`)."""

TELEMARK = "Telemark"
"""The 2024 county of `TELEMARK_CHANGES_FILE`'s municipalities."""

DIVISION_FEATURES = ("same landsdel", "same county", "log distance")
"""The pair features of `division_proximity`, in order (the linear destinations' kappa)."""

REFERENCE_YEAR = 2024
"""The year (1 January) of the populations that place regions in counties: the latest registered."""

LEAST_OVERLAP = 0.8
"""A county group keeps its majority regions when at least this share of its persons live in them and of
their persons in it (`joined_counties`)."""


def placed_persons(division: Division, regional_folder: str | Path) -> pd.DataFrame:
    """Each municipality of the municipal file (index: code "0301") with its region of `division`, its
    2024 county and its persons on 1 January `REFERENCE_YEAR` (columns region, county, persons)."""
    folder = Path(regional_folder)
    municipal = read_regional_population(folder / MUNICIPAL_FILE).sel(year=REFERENCE_YEAR)
    persons = municipal.sum(["sex", "age"]).to_series()
    region = division.region_of.reindex(persons.index)
    if region.isna().any():
        missing = list(region.index[region.isna()])
        raise DataError(
            division.source, "municipality", f"{missing[:5]} in no region ({len(missing)} in all)"
        )
    county = read_locations(folder / LOCATIONS_FILE)["county"].reindex(persons.index)
    if county.isna().any():
        raise DataError(
            folder / LOCATIONS_FILE, "municip_code", f"{list(county.index[county.isna()][:5])} absent"
        )
    return pd.DataFrame(
        {"region": region.to_numpy(), "county": county.to_numpy(), "persons": persons.to_numpy()},
        index=persons.index.rename("municipality"),
    )


def region_counties(division: Division, regional_folder: str | Path) -> xr.DataArray:
    """Weights w_rc (region, county): the share of each region's persons on 1 January `REFERENCE_YEAR`
    living in each 2024 county, summing to 1 over counties; coords population (region) the region's
    persons and majority (region) the county holding most of them (the first code on a tie)."""
    return _county_weights(placed_persons(division, regional_folder), division.source)


def _county_weights(placed: pd.DataFrame, source: str) -> xr.DataArray:
    """`region_counties` of the municipalities `placed` (`placed_persons`; `source` the division's file)."""
    people = placed.groupby(["region", "county"])["persons"].sum().unstack(fill_value=0.0)
    totals = people.sum(axis=1)
    if (totals <= 0).any():
        raise DataError(source, "region", f"'{totals.index[totals <= 0][0]}' has nobody in {REFERENCE_YEAR}")
    return xr.DataArray(
        people.to_numpy() / totals.to_numpy()[:, None],
        dims=("region", "county"),
        coords={
            "region": [str(r) for r in people.index],
            "county": [str(c) for c in people.columns],
            "population": ("region", totals.to_numpy()),
            "majority": ("region", [str(c) for c in people.idxmax(axis=1)]),
        },
        attrs={"year": REFERENCE_YEAR, "units": "share of the region's persons on 1 January"},
        name="weights",
    )


def _persons(weights: xr.DataArray) -> np.ndarray:
    """P_rc (R, C) persons of each region in each county."""
    return (weights * weights["population"]).transpose("region", "county").values


def joined_counties(weights: xr.DataArray, least: float = LEAST_OVERLAP) -> tuple[tuple[str, ...], ...]:
    """The county groups of more than one county (module docstring) for `weights` (`region_counties`):
    sets of 2024 counties whose registered units count as one on the division's regions."""
    people = _persons(weights)
    counties = weights["county"].values
    majority = (weights["majority"].values[:, None] == counties).astype(float)  # (R, C)
    groups = [[c] for c in range(counties.size)]
    while len(groups) > 1:
        member = np.zeros((counties.size, len(groups)))
        for g, group in enumerate(groups):
            member[group, g] = 1.0
        home = majority @ member  # (R, G): 1 where the region's majority county is in the group
        inside = people @ member  # (R, G): the region's persons in the group's counties
        overlap = (home * inside).sum(0)
        capture = overlap / inside.sum(0)
        regions_persons = home.T @ people.sum(1)
        purity = np.divide(overlap, regions_persons, out=np.zeros_like(overlap), where=regions_persons > 0)
        fit = np.minimum(capture, purity)
        worst = int(np.argmin(fit))
        if fit[worst] >= least:
            break
        shared = home.T @ inside  # [g, h]: persons of group h's counties in group g's regions
        link = shared[worst] + shared[:, worst]
        link[worst] = -1.0
        partner = int(np.argmax(link))
        groups[min(worst, partner)] = sorted(groups[worst] + groups[partner])
        del groups[max(worst, partner)]
    return tuple(tuple(str(counties[c]) for c in group) for group in groups if len(group) > 1)


def division_inputs(
    country: CountryData, regional_folder: str | Path, division: Division, years: np.ndarray = EVENT_YEARS
) -> CountyInputs:
    """The inputs of `norway_counties.county_inputs` for the regions of `division` (module docstring): the
    regions' populations, national rates on their basis, expected events, and the registered births and
    deaths of Eurostat's units on the regions by majority county, `joined_counties` counting as one."""
    weights = region_counties(division, regional_folder)
    county_of = dict(zip(weights["region"].values, weights["majority"].values, strict=True))
    population = regional_population(division, regional_folder)
    return regional_inputs(country, regional_folder, population, county_of, joined_counties(weights), years)


def share_split(weights: xr.DataArray) -> np.ndarray:
    """(R, C): the part of each county's share of international migration that goes to each region,
    P_rc / sum_j P_jc (module docstring), columns summing to 1. `weights` from `region_counties`."""
    people = _persons(weights)
    return people / people.sum(0)


def region_shares(county_shares: np.ndarray, weights: xr.DataArray) -> np.ndarray:
    """The regions' shares (..., region) of international migration from the counties' (..., county; the
    counties in the order of `weights`' county coord, sorted codes as `immigration_shares`), each county's
    split among the regions by its persons (`share_split`). `weights` from `region_counties`."""
    split = share_split(weights)
    if county_shares.shape[-1] != split.shape[1]:
        raise ValueError(
            f"county_shares has {county_shares.shape[-1]} counties, the weights {split.shape[1]}"
        )
    return county_shares @ split.T


def gross_on_regions(
    gross: GrossObservations, weights: xr.DataArray, joined: tuple[tuple[str, ...], ...] = ()
) -> GrossObservations:
    """County gross counts `gross` (pairs (N, C, C) on `weights`' counties) as counts on the regions (pairs
    (M, R, R)), each region in its majority county and the `joined` counties one group:

    * a count is the sum of the flows between the region pairs whose groups are its county pairs' groups,
      kept where for each pair of groups it holds every county pair or none, and no pair inside a group
      (moves inside a group include moves inside a region, which the model does not have);
    * single county pairs of one year and sex-age cells that together hold every county pair between two
      groups (Oslo -> Vestland and Akershus -> Vestland) count as one; the others drop out;
    * relative counts (their level free) map by majority county alone.

    With every county its own group and region (the county division) the counts are `gross` itself."""
    counties = [str(c) for c in weights["county"].values]
    group_of = {c: c for c in counties} | {c: members[0] for members in joined for c in members}
    labels = sorted(set(group_of.values()))
    group = np.array([labels.index(group_of[c]) for c in counties])  # (C,)
    in_group = (group[:, None] == np.arange(len(labels))).astype(float)  # (C, G)
    majority = (weights["majority"].values[:, None] == np.array(counties)).astype(float)  # (R, C)
    region_group = majority @ in_group  # (R, G)
    size = in_group.sum(0)
    full = np.outer(size, size) * (1.0 - np.eye(len(labels)))
    rows: list[tuple[float, int, np.ndarray, np.ndarray, bool]] = []
    pooled: dict[tuple[int, bytes], tuple[np.ndarray, dict[tuple[int, int], list[float]]]] = {}
    for count, year, pairs, cells, relative in zip(*gross, strict=True):
        if relative:
            rows.append((count, year, np.minimum(majority @ pairs @ majority.T, 1.0), cells, True))
            continue
        between = in_group.T @ pairs @ in_group  # county pairs by pair of groups (G, G)
        if np.array_equal(between, np.where(between > 0, full, 0.0)):
            rows.append((count, year, np.minimum(region_group @ between @ region_group.T, 1.0), cells, False))
        elif pairs.sum() == 1:
            origin, destination = (int(i) for i in np.argwhere(pairs)[0])
            slot = pooled.setdefault((int(year), cells.tobytes()), (cells, {}))
            slot[1].setdefault((origin, destination), []).append(count)
    for (year, _), (cells, counts) in pooled.items():
        for g, h in sorted({(group[a], group[b]) for a, b in counts}):
            wanted = [
                (int(a), int(b)) for a in np.flatnonzero(group == g) for b in np.flatnonzero(group == h)
            ]
            if g != h and all(len(counts.get(pair, [])) == 1 for pair in wanted):
                pairs = np.outer(region_group[:, g], region_group[:, h])
                rows.append((sum(counts[pair][0] for pair in wanted), year, pairs, cells, False))
    return gross_observations(rows)


def _name_forms(name: str) -> set[str]:
    """The forms a coordinate table may write a municipality's name in: the name, its "-" parts (Sami
    names: "Tana" of "Deatnu-Tana", "Oslo" of "Oslo-Oslove") and its first word ("Voss" of "Voss herad")."""
    return {name, *name.split("-"), name.split(" ")[0]}


def municipality_codes(named: pd.DataFrame, regional_folder: str | Path, source: str | Path) -> list[str]:
    """The codes of the municipalities `named` (columns municipality: a name, county: its 2024 county's
    name), each matched within its county: to the municipality of that name in `read_municipality_names`
    ("Våler" of "Våler (Østfold)"), else to the one whose name has it among its forms (`_name_forms`).
    DataError (naming `source`) unless exactly one matches, or where two names match one municipality."""
    folder = Path(regional_folder)
    names = read_municipality_names(folder / NAMES_FILE)
    county_of = read_locations(folder / LOCATIONS_FILE)["county"].reindex(names.index)
    code_of = county_codes_by_name(folder)
    codes = []
    for name, county in zip(named["municipality"], named["county"], strict=True):
        bare = re.sub(r"\s*\(.*\)$", "", name)
        within = names[county_of == code_of.get(county)]
        found = within.index[within == bare]
        if found.empty:
            found = within.index[[bare in _name_forms(candidate) for candidate in within]]
        if found.size != 1:
            raise DataError(source, "kommune", f"'{name}' ({county}) matches {list(found)}")
        codes.append(str(found[0]))
    twice = pd.Index(codes)[pd.Index(codes).duplicated()]
    if not twice.empty:
        raise DataError(source, "kommune", f"two names for municipality {twice[0]}")
    return codes


def municipality_places(regional_folder: str | Path) -> pd.DataFrame:
    """Latitude and longitude (columns lat, lon; degrees) by municipality code (index) of the
    municipalities in `read_municipality_coordinates` (285 of 357; codes by `municipality_codes`)."""
    folder = Path(regional_folder)
    places = read_municipality_coordinates([folder / name for name in COORDINATE_FILES])
    codes = municipality_codes(places, folder, folder / COORDINATE_FILES[0])
    return places[["lat", "lon"]].set_axis(pd.Index(codes, name="municipality")).sort_index()


def region_centres(placed: pd.DataFrame, places: pd.DataFrame, majority: pd.Series) -> pd.DataFrame:
    """Each region's centre (index: region, sorted; columns lat, lon in degrees, and own): the mean of its
    municipalities' coordinates in `places` (`municipality_places`) weighted by their persons in
    `placed` (`placed_persons`); a region with none of them (own False) takes its majority county's
    (`majority`: region -> county), the same mean over the county's municipalities in `places`."""
    located = placed.join(places, how="inner")
    weighted = located[["lat", "lon"]].mul(located["persons"], axis=0)

    def mean(by: pd.Series) -> pd.DataFrame:
        return weighted.groupby(by).sum().div(located["persons"].groupby(by).sum(), axis=0)

    own, of_county = mean(located["region"]), mean(located["county"])
    regions = majority.index.sort_values()
    fallback = of_county.loc[majority.loc[regions]].set_axis(regions)
    centres = own.reindex(regions).fillna(fallback)
    return centres.assign(own=regions.isin(own.index))


def region_distances(placed: pd.DataFrame, places: pd.DataFrame, majority: pd.Series) -> np.ndarray:
    """Great-circle distances (R, R) in km between the regions' `region_centres` (regions sorted), zero
    diagonal. Two regions that take one county's centre (`own` False) are as far apart as two of the
    county's places in `places` on average (the mean distance over its pairs of municipalities)."""
    centres = region_centres(placed, places, majority)
    distance = great_circle_km(centres["lat"].to_numpy(), centres["lon"].to_numpy())
    county = majority.loc[centres.index].to_numpy()
    borrowed = ~centres["own"].to_numpy()
    place_county = placed["county"].reindex(places.index).to_numpy()
    for code in np.unique(county[borrowed]):
        inside = places[place_county == code]
        spread = great_circle_km(inside["lat"].to_numpy(), inside["lon"].to_numpy())
        shared = borrowed & (county == code)
        pairs = np.outer(shared, shared) & ~np.eye(county.size, dtype=bool)
        distance[pairs] = spread[~np.eye(len(inside), dtype=bool)].mean()
    return distance


def division_proximity(weights: xr.DataArray, distance: np.ndarray) -> np.ndarray:
    """Proximity (3, R, R; `DIVISION_FEATURES`) of the regions of `weights`, zero diagonal: 1 where two
    regions' majority counties lie in one landsdel (`internal_model.LANDSDEL_COUNTIES`), 1 where they are
    one county (the within-county affinity of the linear destinations), and the log of their `distance`
    (R, R, km; `region_distances`) over its median pair, as the counties' (`internal_model.log_distance`)."""
    landsdel = {county: name for name, counties in LANDSDEL_COUNTIES.items() for county in counties}
    majority = weights["majority"].values
    of_region = np.array([landsdel[county] for county in majority])
    off = ~np.eye(of_region.size, dtype=bool)
    same_landsdel = (of_region[:, None] == of_region) & off
    same_county = (majority[:, None] == majority) & off
    return np.stack([same_landsdel, same_county, log_distance(distance)]).astype(float)


def single_municipality_rows(
    placed: pd.DataFrame,
    regions: np.ndarray,
    changes: xr.Dataset,
    codes: list[str],
    years: np.ndarray,
    ages: np.ndarray,
) -> list[tuple[float, int, np.ndarray, np.ndarray, bool]]:
    """Rows of `gross_observations` on the pairs of `regions` (R,) for each region that is a single
    municipality of `changes` (SSB 01222, year x municipality, the municipalities coded `codes`; `placed`:
    `placed_persons`): its domestic out-migration in each of the fitted `years` as its moves to every
    other region, its domestic in-migration as their moves into it, all `ages` and both sexes. A region of
    several municipalities drops out: their sum counts the moves between them too."""
    size = placed.groupby("region").size()
    every_cell = np.ones((len(SEXES), ages.size))
    off = 1.0 - np.eye(regions.size)
    rows = []
    for name, code in zip(changes["municipality"].values, codes, strict=True):
        region = placed.loc[code, "region"]
        if size[region] != 1:
            continue
        origin = (regions == region).astype(float)
        out_pairs, in_pairs = off * origin[:, None], off * origin
        for year in np.intersect1d(changes["year"].values, years):
            t = int(np.flatnonzero(years == year)[0])
            moves = changes.sel(year=year, municipality=name)
            rows.append((float(moves["out_migration_domestic"]), t, out_pairs, every_cell, False))
            rows.append((float(moves["in_migration_domestic"]), t, in_pairs, every_cell, False))
    return rows


def telemark_region_rows(
    placed: pd.DataFrame,
    regions: np.ndarray,
    years: np.ndarray,
    ages: np.ndarray,
    regional_folder: str | Path,
) -> list[tuple[float, int, np.ndarray, np.ndarray, bool]]:
    """`single_municipality_rows` of Telemark's municipalities (`TELEMARK_CHANGES_FILE`)."""
    folder = Path(regional_folder)
    changes = read_telemark_changes(folder / TELEMARK_CHANGES_FILE)
    named = pd.DataFrame({"municipality": changes["municipality"].values, "county": TELEMARK})
    codes = municipality_codes(named, folder, folder / TELEMARK_CHANGES_FILE)
    return single_municipality_rows(placed, regions, changes, codes, years, ages)


def division_internal_data(
    inputs: CountyInputs,
    regional_folder: str | Path,
    division: Division,
    international: xr.DataArray | None = None,
) -> InternalData:
    """`internal_model.InternalData` of the regions of `division` over the event years of `inputs`
    (`division_inputs`): the net internal migration of the regions' account as `county_internal_data`
    makes the counties' (registered birth and death totals through `registered_factors`, less
    `international` (year, region, sex, age) or, where None, the national net allocated by population at
    risk); the counties' gross counts (`county_gross_observations`) on the regions (`gross_on_regions`,
    `joined_counties` one group) and after them, every year, the moves out of and into the regions that
    are one municipality of Telemark's (`telemark_region_rows`: on BA four, Kragerø, Tinn, Nissedal and
    Fyresdal, none merged since 1997; without them the fit's national level of moves wandered in the
    years without counts, the module docstring); proximity `division_proximity`; the schedule's centre
    the counties' (moves between old counties per person at risk in 2010); groups the majority counties
    (the regions of one county share its yearly contrast deviations, `internal_model.deviation_basis`).

    What identifies the moves between regions of one county: nothing registered but the four Telemark
    regions' yearly totals, which hold their moves to the rest of Telemark. The counts on county
    pairs fix the regions' moves to other counties; how many more stay in their county follows from the
    destination model alone (population shares, attractions learnt from the other counties' moves into
    the region and from the net, the same-landsdel effect learnt between counties), and the net residual
    fixes only their balance."""
    folder = Path(regional_folder)
    placed = placed_persons(division, folder)
    weights = _county_weights(placed, division.source)
    regions = weights["region"].values
    if not np.array_equal(inputs.population["region"].values, regions):
        raise ValueError(
            f"inputs hold regions {inputs.population['region'].values[:5]}..., not the division's"
        )
    account = net_account(inputs, international)
    years, ages = account["year"].values, account["age"].values
    county = county_gross_observations(folder, weights["county"].values, years, ages)
    single = telemark_region_rows(placed, regions, years, ages, folder)
    gross = gross_on_regions(county, weights, joined_counties(weights))
    if single:
        added = gross_observations(single)
        gross = GrossObservations(*(np.concatenate(pair) for pair in zip(gross, added, strict=True)))
    distance = region_distances(placed, municipality_places(folder), weights["majority"].to_series())
    data = internal_data(account, gross, division_proximity(weights, distance), county)
    return data._replace(groups=weights["majority"].values)
