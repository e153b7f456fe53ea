"""The registered figures the group fertility model (`stochpop.groups.fertility`) is fitted to, and the
weights that tie its 15 class levels to them.

Observed (SSB, `DERIVED_ssb_web_tfr_by_mothers_country_background.csv`, read through the path recorded in
`RegisteredGroups.tfr_ratio`): the TFR of immigrant women by world region over that of the rest of the
population, in the table of 1998-2016 (years 1998, 2000, 2005, 2009, 2015, 2016; its rest includes the
Norwegian-born to immigrant parents) and SSB's Tabell 5 of 2011-2022 (2011, 2014, 2017, 2021, 2022; its
rest excludes them; both rests have the same fertility in the model, ch. 4.2). Used from `FIRST_YEAR` on
(the grouped stocks start in 2006). Three series per year:

* "immigrants": immigrant women in all, a mixture of every class (the 1998-2016 ratios are
  `RegisteredGroups.tfr_ratio`);
* "eu_efta": EU/EFTA countries (1998-2016: "EU og EØS-land"; Tabell 5: "EU/EFTA"), a mixture of group 2
  (the eastern EU members, all in it) and the European part of group 1 (Appendix B's group 1 less the USA,
  Canada, Bermuda, Australia and New Zealand; Tabell 5 also less the UK and its islands: we take SSB's
  post-2020 classification, the UK outside the EU, to apply to all of Tabell 5's years, an assumption
  worth about 4% of the series' women). That part's share of group 1 comes from the IMDi country
  background of the year (persons, both sexes, all ages);
* "north_america_oceania": a part of group 1 (about 8% of its immigrants in 2022) standing for all of it,
  so it gets an offset of its own in the model (`proxy`).

The group-3 regions (Europe outside EU/EFTA, Asia, Africa, Latin America) are not used: combining them
into group 3 needs each region's women by year, which the shared data hold only for 2014-2015 (IMDi 9
regions); group 3 is identified as the immigrants in all net of the two series above. The series of the
Norwegian-born to immigrant parents (0.86-0.99 of the rest in Tabell 5) is not used: SSB gives their
daughters the rest's fertility (ch. 4.2), as the model does.

Also observed: SSB's shares of 2017's births by the mother's background (`ssb2018.SSB_BIRTH_SHARES_2017`:
immigrant mothers 28%, group 3 18%, group 2 7%; whole per cent, so a rounding error of sd 0.01 / sqrt(12)).

Weights. The class levels are TFRs relative to the rest, on one age schedule s(x) (Norway's births per
woman at risk of the year, `RegisteredGroups.fertility`, normalised; immigrant women's own schedules are
not published by class). A series S of classes k with women at risk W_k(x) then has
    TFR_S / TFR_rest = sum_x s(x) sum_k w_k(x) r_k,   w_k(x) = W_k(x) / sum_{k' in S} W_k'(x),
so its weights a_k = sum_x s(x) w_k(x) (`mix`, summing to 1). The women at risk are the kernel's: the
1 January stock of women aged 14..48 (15..49 at the end of the year) by cell (`women_at_risk`), from the
grouped reconstruction (`jump_off.jump_off`) in each year with registered immigrants by age group
(2006-2013, 2015), replayed with registered flows (`replay.replay`) to the years after it (2014;
2016-2022), each group's immigrants scaled to its registered stock of the year (IMDi country background),
as `ssb2018.jump_off_2018` does (`grouped_population`). Within a group, the parts of a mixed series have
the group's duration and age mix (nothing finer is registered). Limits: the reconstruction gives every
country group the same age-sex-duration seed (only group totals are registered), so the group weights
inherit that; and the kernel's women at risk exclude the year's arrivals, so the levels are those that
reproduce the registered aggregates in the kernel's accounting.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import FERTILE_AGES
from stochpop.data.errors import DataError
from stochpop.data.immigrants import country_group, read_imdi_country_background
from stochpop.demography.groups import FERTILITY_DURATION_CLASSES, GroupCells
from stochpop.groups.jump_off import CELLS, jump_off
from stochpop.groups.registered import GROUPS, RegisteredGroups, registered_until
from stochpop.groups.replay import replay
from stochpop.groups.ssb2018 import SSB_BIRTH_SHARES_2017

FIRST_YEAR: int = 2006
"""First year of grouped stocks (the replay's jump-off; IMDi's age groups and country background start)."""
LAST_YEAR: int = 2022
"""Last year with registered fertility (HMD/HFD) and country background; the model's reference year."""
FIRST_RATIO_YEAR: int = 2009
"""First year of a registered TFR ratio from `FIRST_YEAR` on (SSB's table of 1998-2016)."""
BIRTH_YEAR: int = 2017
"""The year of SSB's birth shares (ch. 3.1)."""
DURATION_LABELS: tuple[str, ...] = ("<=1", "2-3", "4-6", "7-11", "12+")
"""SSB's fertility duration classes (ch. 5.1), years of stay (`FERTILITY_DURATION_CLASSES`: by kernel
duration)."""
SERIES: tuple[str, ...] = ("immigrants", "eu_efta", "north_america_oceania")
"""The registered series used, each year (module docstring)."""
TABLES: dict[str, dict[str, str]] = {
    "Samlet fruktbarhetstall, etter mors landbakgrunn. 1998-2016": {
        "rest": "Resten av befolkningen (incl. norskfødte med innvandrerforeldre)",
        "immigrants": "Innvandrere i alt",
        "eu_efta": "Innvandrere med landbakgrunn fra: Europa: EU og EØS-land",
        "north_america_oceania": "Innvandrere med landbakgrunn fra: Nord-Amerika, Oseania",
    },
    "Tabell 5. Samlet fruktbarhetstall, etter mors landbakgrunn. 2011-2022": {
        "rest": "Resten av befolkningen",
        "immigrants": "Innvandrere i alt",
        "eu_efta": "Innvandrere med landbakgrunn fra: EU/EFTA",
        "north_america_oceania": "Innvandrere med landbakgrunn fra: Nord-Amerika, Oseania",
    },
}
"""SSB's two tables of TFR by mother's background and the rows used (source_table, group columns)."""
NON_EUROPEAN_GROUP_1: tuple[str, ...] = ("USA", "Canada", "Bermuda", "Australia", "New Zealand")
"""Group 1's countries outside Europe (Appendix B), IMDi names: the "Nord-Amerika, Oseania" part."""
UK: tuple[str, ...] = ("Storbritannia", "Man", "Guernsey", "Jersey", "Gibraltar")
"""The UK and its islands: outside Tabell 5's EU/EFTA (module docstring)."""
UK_OUTSIDE_EU: dict[str, bool] = {name: name.startswith("Tabell 5") for name in TABLES}
"""Whether a table's EU/EFTA leaves out the UK: Tabell 5 only (published after Brexit; module docstring)."""
COUNTRY_BACKGROUND_FILE: str = "befolkning_opprinnelsesland_2022.csv"
"""IMDi's country background export, next to SSB's TFR file (`RegisteredGroups.country_groups`' source)."""
BIRTH_SHARE_ROUNDING: float = 0.01
"""SSB prints the 2017 birth shares in whole per cent (ch. 3.1)."""


@dataclass(frozen=True)
class FertilityData:
    """The model's observations and weights (G groups, K duration classes, n ratios, m birth shares).

    year (n,): year of each ratio; series (n,): its `SERIES` name; ratio (n,): TFR over the rest's;
    mix (n, G, K): each class's weight in the ratio (sums to 1); proxy (n,): 1 where the series is a part
    of a group standing for all of it, else 0; birth_women (G, K) and birth_rest: women at risk weighted
    by the age schedule in `birth_year`, shares of all (sum to 1 with the rest and Norwegian-born);
    birth_rows (m, G, K): the classes of each birth share; birth_shares (m,); birth_sd (m,): relative
    rounding sd; reference_year: the year the levels r are stated for.
    """

    year: np.ndarray
    series: np.ndarray
    ratio: np.ndarray
    mix: np.ndarray
    proxy: np.ndarray
    birth_women: np.ndarray
    birth_rest: float
    birth_rows: np.ndarray
    birth_shares: np.ndarray
    birth_sd: np.ndarray
    birth_year: int
    reference_year: int

    def __post_init__(self) -> None:
        n = self.ratio.shape[0]
        for name in ("year", "series", "proxy"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"FertilityData.{name}: shape {getattr(self, name).shape}, expected ({n},)")
        if self.mix.ndim != 3 or self.mix.shape[0] != n:
            raise ValueError(f"FertilityData.mix: shape {self.mix.shape}, expected ({n}, G, K)")
        if not np.all(np.isfinite(self.ratio) & (self.ratio > 0)):
            raise ValueError("FertilityData.ratio: every TFR ratio must be finite and positive")
        if np.any(self.mix < 0) or not np.allclose(self.mix.sum((1, 2)), 1.0, atol=1e-9):
            raise ValueError("FertilityData.mix: weights must be non-negative and sum to 1 per ratio")
        m = self.birth_shares.shape[0]
        if self.birth_rows.shape != (m, *self.mix.shape[1:]) or self.birth_sd.shape != (m,):
            raise ValueError(f"FertilityData.birth_rows / birth_sd: shapes do not match {m} birth shares")
        if not np.all((self.birth_shares > 0) & (self.birth_shares < 1)):
            raise ValueError("FertilityData.birth_shares: shares must lie in (0, 1)")
        total = self.birth_rest + self.birth_women.sum()
        if self.birth_women.shape != self.mix.shape[1:] or not np.isclose(total, 1.0, atol=1e-9):
            raise ValueError("FertilityData.birth_women: shape (G, K), summing to 1 with birth_rest")

    def model_kwargs(self) -> dict[str, np.ndarray]:
        """The arguments of `fertility.group_fertility_model`, years as offsets from `reference_year`."""
        return {
            "mix": self.mix,
            "year_offset": (self.year - self.reference_year).astype(float),
            "proxy": self.proxy.astype(float),
            "birth_women": self.birth_women,
            "birth_rest": np.asarray(self.birth_rest),
            "birth_rows": self.birth_rows,
            "birth_offset": np.asarray(float(self.birth_year - self.reference_year)),
            "birth_sd": self.birth_sd,
            "log_ratio": np.log(self.ratio),
            "log_shares": np.log(self.birth_shares),
        }


def duration_class(cells: GroupCells = CELLS) -> np.ndarray:
    """SSB's fertility class (0..K-1) of each kernel duration 0..D (D + 1,)."""
    firsts = np.asarray(FERTILITY_DURATION_CLASSES)
    return np.searchsorted(firsts, np.arange(cells.durations), side="right") - 1


def grouped_population(
    reg: RegisteredGroups, cells: GroupCells = CELLS, last_year: int | None = None
) -> xr.DataArray:
    """The grouped 1 January population (year FIRST_YEAR..`fitted_until(last_year)`, cell, sex, age),
    persons, from the registered data known then (`registered_until(reg, last_year)`): the
    reconstruction (`jump_off`) in each year with registered immigrants by age group (2006-2013, 2015),
    replayed with registered flows (`replay`) to the years after it (2014; 2016-2022), each group's
    immigrants scaled to its registered stock of the year (IMDi country background). A replay over all of
    2006-2022 drifts in age (too few women in their twenties by 2015); short replays keep the registered
    age margins."""
    final = fitted_until(last_year)
    reg = registered_until(reg, last_year)
    anchors = sorted(int(y) for y in reg.age_groups["year"].values if FIRST_YEAR <= y <= final)
    if not anchors or anchors[0] != FIRST_YEAR:
        raise ValueError(f"RegisteredGroups.age_groups: no registered immigrants by age in {FIRST_YEAR}")
    pieces = []
    for first, following in zip(anchors, [*anchors[1:], final + 1], strict=True):
        last = min(following, final + 1) - 1
        if last == first:
            pieces.append(jump_off(reg, first, cells).expand_dims(year=[first]))
        else:
            pieces.append(replay(reg, first, last, cells)["population"])
    population = xr.concat(pieces, "year").transpose("year", "cell", "sex", "age")
    values = population.values.copy()
    registered = reg.country_groups.sel(year=population["year"].values, group=list(GROUPS)).values
    for g in GROUPS:
        group_cells = [cells.immigrant(g, d) for d in range(cells.durations)]
        replayed = values[:, group_cells].sum((1, 2, 3))
        values[:, group_cells] *= (registered[:, g - 1] / replayed)[:, None, None, None]
    return population.copy(data=values)


def fitted_until(last_year: int | None) -> int:
    """The last year of the fit that may see the events of years <= `last_year` (None: all): `LAST_YEAR`
    or `last_year`, whichever is earlier (ValueError before the first registered ratio used, 2009)."""
    if last_year is None:
        return LAST_YEAR
    if last_year < FIRST_RATIO_YEAR:
        raise ValueError(f"last_year: {last_year} is before {FIRST_RATIO_YEAR}, the first TFR ratio used")
    return min(LAST_YEAR, last_year)


def women_at_risk(population: xr.DataArray) -> xr.DataArray:
    """Women at risk of giving birth (year, cell, mother_age 15..49), persons, from the grouped 1 January
    population (year, cell, sex, age): women aged 14..48, who reach 15..49 in the year (the kernel's)."""
    first, last = FERTILE_AGES
    women = population.sel(sex="female", age=np.arange(first - 1, last - 1)).transpose("year", "cell", "age")
    return women.rename(age="mother_age").assign_coords(mother_age=np.arange(first, last))


def women_by_class(women: np.ndarray, cells: GroupCells = CELLS) -> tuple[np.ndarray, np.ndarray]:
    """Women at risk by cell (..., C, X) -> immigrants by group and duration class (..., G, K, X) and the
    rest with the Norwegian-born (..., X)."""
    first = cells.immigrant(1, 0)
    immigrants = women[..., first : first + cells.groups * cells.durations, :]
    immigrants = immigrants.reshape(*women.shape[:-2], cells.groups, cells.durations, women.shape[-1])
    classes = duration_class(cells)
    by_class = np.stack([immigrants[..., classes == k, :].sum(-2) for k in range(classes.max() + 1)], -2)
    rest = women[..., cells.rest, :] + women[..., cells.norwegian_born(1) :, :].sum(-2)
    return by_class, rest


def mixture(by_class: np.ndarray, schedule: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Weights a (G, K) of the classes in a series' TFR ratio (module docstring): women by class (G, K, X),
    age schedule s (X,) summing to 1, the share of each group's women in the series `parts` (G,)."""
    women = by_class * parts[:, None, None]
    within_age = np.divide(women, women.sum((0, 1)), out=np.zeros_like(women), where=women.sum((0, 1)) > 0)
    return (within_age * schedule).sum(-1)


def _tfr_table(path: Path) -> pd.DataFrame:
    """SSB's TFR rows (source_table, year, group, value) of the two `TABLES`."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    for column in ("source_table", "year", "group", "value"):
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    table = table[table["source_table"].isin(list(TABLES))].copy()
    table["year"] = pd.to_numeric(table["year"], errors="coerce")
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table


def _series_value(table: pd.DataFrame, source: str, label: str, year: int, path: Path) -> float:
    rows = table[(table["source_table"] == source) & (table["group"] == label) & (table["year"] == year)]
    if len(rows) != 1 or not np.isfinite(rows["value"].iloc[0]) or rows["value"].iloc[0] <= 0:
        raise DataError(path, "value", f"no single positive TFR for '{label}' {year} in '{source}'")
    return float(rows["value"].iloc[0])


def european_share(by_country: xr.DataArray, year: int, without_uk: bool) -> float:
    """The share of group 1's immigrants from its EU/EFTA countries in `year` (module docstring)."""
    names = [str(c) for c in by_country["country"].values if country_group(str(c)) == 1]
    persons = by_country.sel(year=year, country=names)
    outside = list(NON_EUROPEAN_GROUP_1) + (list(UK) if without_uk else [])
    inside = persons.sel(country=[n for n in names if n not in outside]).sum()
    return float(inside / persons.sum())


def _source_path(reg: RegisteredGroups) -> Path:
    source = reg.tfr_ratio.attrs.get("source")
    if source is None:
        raise ValueError("RegisteredGroups.tfr_ratio: no 'source' attribute naming SSB's TFR file")
    return Path(source)


def fertility_data(
    reg: RegisteredGroups,
    population: xr.DataArray | None = None,
    cells: GroupCells = CELLS,
    last_year: int | None = None,
) -> FertilityData:
    """The registered observations and their class weights (module docstring); `population`: the grouped
    population (`grouped_population`, computed if None). `last_year`: the last event year the data may
    hold (None: all): TFR ratios and birth shares of later years are cut, the stocks weighting them end on
    1 January `last_year` (`grouped_population`), and the levels are stated for `fitted_until(last_year)`
    (`reference_year`)."""
    final = fitted_until(last_year)
    path = _source_path(reg)
    table = _tfr_table(path)
    by_country = read_imdi_country_background(path.parent / COUNTRY_BACKGROUND_FILE)
    if population is None:
        population = grouped_population(reg, cells, last_year)
    women = women_at_risk(population.sel(year=population["year"] <= final))
    by_class = women_by_class(women.values, cells)[0]
    years_known = women["year"].values
    rows: dict[str, list] = {"year": [], "series": [], "ratio": [], "mix": []}
    for source, labels in TABLES.items():
        years = sorted(int(y) for y in table.loc[table["source_table"] == source, "year"].unique())
        for year in (y for y in years if FIRST_YEAR <= y <= final):
            t = int(np.flatnonzero(years_known == year)[0])
            schedule = reg.fertility.sel(year=year).values
            schedule = schedule / schedule.sum()
            rest_tfr = _series_value(table, source, labels["rest"], year, path)
            share = european_share(by_country, year, UK_OUTSIDE_EU[source])
            parts = {
                "immigrants": np.ones(cells.groups),
                "eu_efta": np.array([share, 1.0, 0.0]),
                "north_america_oceania": np.array([1.0, 0.0, 0.0]),
            }
            for name in SERIES:
                rows["year"].append(year)
                rows["series"].append(name)
                rows["ratio"].append(_series_value(table, source, labels[name], year, path) / rest_tfr)
                rows["mix"].append(mixture(by_class[t], schedule, parts[name]))
    names = np.array(rows["series"])
    return FertilityData(
        year=np.array(rows["year"]),
        series=names,
        ratio=np.array(rows["ratio"]),
        mix=np.stack(rows["mix"]),
        proxy=(names == "north_america_oceania").astype(float),
        **birth_observations(reg, women),
        reference_year=final,
    )


def birth_observations(
    reg: RegisteredGroups, women: xr.DataArray, cells: GroupCells = CELLS
) -> dict[str, Any]:
    """SSB's 2017 birth shares and their weights: the `FertilityData` fields birth_* (module docstring).
    If `women` (year, cell, mother_age) end before 2017, no birth shares (m = 0), the weights of its last
    year."""
    year = min(BIRTH_YEAR, int(women["year"].max()))
    schedule = reg.fertility.sel(year=year).values
    by_class, rest = women_by_class(women.sel(year=year).values, cells)
    weighted = (by_class * schedule / schedule.sum()).sum(-1)
    rest_weighted = float((rest * schedule / schedule.sum()).sum())
    total = weighted.sum() + rest_weighted
    rows = np.zeros((3, *weighted.shape))
    rows[0] = 1.0
    rows[1, 2] = 1.0
    rows[2, 1] = 1.0
    shares = np.array(
        [SSB_BIRTH_SHARES_2017[k] for k in ("immigrant mothers", "group 3", "group 2")], dtype=float
    )
    kept = slice(None) if year == BIRTH_YEAR else slice(0)
    return {
        "birth_women": weighted / total,
        "birth_rest": rest_weighted / total,
        "birth_rows": rows[kept],
        "birth_shares": shares[kept],
        "birth_sd": BIRTH_SHARE_ROUNDING / np.sqrt(12.0) / shares[kept],
        "birth_year": year,
    }
