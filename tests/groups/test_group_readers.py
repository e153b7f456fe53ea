"""Readers of the immigrant-group data: labels and values read back from small synthetic files, one clear
DataError (file: field: problem) per kind of bad input, the country-group mapping against the real
export's names, and the real tables against each other."""

from pathlib import Path

import numpy as np
import pytest

from stochpop.data.errors import DataError
from stochpop.data.immigrants import (
    AGE_GROUPS,
    COUNTRY_GROUP_NAMES,
    country_group,
    read_imdi_age_groups,
    read_imdi_country_background,
    read_imdi_flows,
    read_imdi_flows_by_region,
    read_imdi_main_groups,
)
from stochpop.groups.registered import RegisteredGroups

AGE_HEADER = "tabell_navn;aar;fylke_id;innvkat_3;kjonn;alder_grupper;enhet;tabellvariabel;"


def age_file(path: Path, value: str | None = None) -> Path:
    """A national age-group table for 2006: value = 1000 * category + 100 * sex + group index."""
    lines = [AGE_HEADER]
    for c, category in enumerate(("innvandrere", "befolkningen_ellers")):
        for sex in ("0", "1"):
            for k, group in enumerate(AGE_GROUPS):
                count = 1000 * c + 100 * int(sex) + k
                lines.append(f"befolkning_alder;2006;00;{category};{sex};{group};personer;{count};")
    if value is not None:
        lines[1] = lines[1].rsplit(";", 2)[0] + f";{value};"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_age_groups_keep_their_labels(tmp_path: Path) -> None:
    data = read_imdi_age_groups(age_file(tmp_path / "a.csv"))
    for c, category in enumerate(("immigrants", "others")):
        for s, sex in enumerate(("female", "male")):
            for k, group in enumerate(AGE_GROUPS):
                value = data.sel(year=2006, county="00", category=category, sex=sex, age_group=group)
                assert float(value) == 1000 * c + 100 * s + k


def test_age_groups_refuse_a_bad_count(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"a\.csv: tabellvariabel: not a number: 'x'"):
        read_imdi_age_groups(age_file(tmp_path / "a.csv", "x"))
    with pytest.raises(DataError, match="tabellvariabel: negative count"):
        read_imdi_age_groups(age_file(tmp_path / "a.csv", "-3"))


def test_age_groups_refuse_a_missing_column_or_row(tmp_path: Path) -> None:
    path = age_file(tmp_path / "a.csv")
    path.write_text(path.read_text().replace("alder_grupper", "alder"))
    with pytest.raises(DataError, match="alder_grupper: column missing"):
        read_imdi_age_groups(path)
    path = age_file(tmp_path / "b.csv")
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataError, match="rows: missing combination"):
        read_imdi_age_groups(path)


def main_group_file(path: Path, cell: str = "7") -> Path:
    categories = ("alle", "innvandrere", "befolkningen_ellers", "norskfodte_m_innvf", "bef_u_innv_og_norskf")
    columns = [(c, s, u) for s in ("alle", "1", "0") for u in ("personer", "prosent") for c in categories]
    header = [";" + ";".join(f"{prefix}.{part}" for part in parts) for prefix, parts in
              (("innvkat_5", [c for c, _, _ in columns]), ("kjonn", [s for _, s, _ in columns]),
               ("enhet", [u for _, _, u in columns]))]  # fmt: skip
    values = [str(10 * categories.index(c) + (s == "1")) for c, s, _ in columns]
    values[columns.index(("innvandrere", "0", "personer"))] = cell
    path.write_bytes(("\n".join([*header, "00 Hele landet;" + ";".join(values)]) + "\n").encode("cp1252"))
    return path


def test_main_groups_read_persons_by_category_and_sex(tmp_path: Path) -> None:
    data = read_imdi_main_groups([main_group_file(tmp_path / "01-befolkning_hovedgruppe-fylke-2006.csv")])
    assert float(data.sel(year=2006, county="00", category="immigrants", sex="female")) == 7
    assert float(data.sel(year=2006, county="00", category="immigrants", sex="male")) == 11
    assert float(data.sel(year=2006, county="00", category="norwegian_born", sex="male")) == 31
    assert float(data.sel(year=2006, county="00", category="rest", sex="female")) == 40


def test_main_groups_refuse_bad_cells_and_headers(tmp_path: Path) -> None:
    path = main_group_file(tmp_path / "f-2006.csv", "seven")
    with pytest.raises(DataError, match="innvandrere 0: not a number: 'seven'"):
        read_imdi_main_groups([path])
    path.write_text("a;b\nc;d\ne;f\n")
    with pytest.raises(DataError, match="header: expected 3 header rows"):
        read_imdi_main_groups([path])
    with pytest.raises(DataError, match="file name: no year"):
        read_imdi_main_groups([main_group_file(tmp_path / "f.csv")])


def test_country_background_refuses_a_bad_count(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    text = "Region;Navn;Landbakgrunn: Polen;Landbakgrunn: Polen\n;;Enhet: Personer;Enhet: Personer\n"
    text += ";;År: 2006;År: 2007\nK0301;Oslo;12;1x\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="Polen 2007: not a count: '1x'"):
        read_imdi_country_background(path)
    path.write_bytes(text.replace("1x", ":").encode("latin-1") + "K1201;Bergen;3;4\n".encode("latin-1"))
    data = read_imdi_country_background(path)
    assert data.sel(country="Polen").values.tolist() == [15.0, 4.0]


def test_flows_refuse_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('"aar","flytting","innvkat_3","tabellvariabel"\n2013,"innvandring","alle","1"\n')
    with pytest.raises(DataError, match="fylke_id: column missing"):
        read_imdi_flows(path)


def test_country_groups_name_appendix_b(shared_data: Path) -> None:
    """Every name of groups 1 and 2 is spelt as in the real export; group 2 is the 11 eastern members."""
    names = read_imdi_country_background(
        shared_data / "norway/immigrants/befolkning_opprinnelsesland_2022.csv"
    )
    missing = set(COUNTRY_GROUP_NAMES) - set(names["country"].values)
    assert not missing
    assert sum(group == 2 for group in COUNTRY_GROUP_NAMES.values()) == 11
    assert country_group("Somalia") == 3 and country_group("Kypros") == 1 and country_group("Polen") == 2


def test_registered_tables_agree(registered: RegisteredGroups) -> None:
    """Immigrants by age group (one IMDi table) sum to the immigrants of the main-group files (another),
    and in 2015 the country-background export sums to them too."""
    by_age = registered.age_groups.sum("age_group")
    main = registered.main_groups.sel(category="immigrants", year=by_age["year"])
    np.testing.assert_allclose(by_age.transpose(*main.dims).values, main.values, rtol=1e-9)
    total = registered.main_groups.sel(year=2015, category="immigrants").sum()
    assert float(registered.country_groups.sel(year=2015).sum()) == pytest.approx(float(total), rel=1e-9)


def test_flows_by_region_sum_to_the_immigrants_row(registered: RegisteredGroups) -> None:
    """The 2014 file's world-region rows of immigrants add up to its own all-regions row (read apart)."""
    by_region = registered.flows_by_region.sel(year=2014).sum("region2")
    immigrants = registered.flows_imdi.sel(year=2014, category="immigrants")
    np.testing.assert_array_equal(by_region.sel(flow=immigrants["flow"]).values, immigrants.values)
    assert (registered.flows_by_region > 0).all()


def test_flows_by_region_need_the_region_column(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        '"aar","flytting","invkat_2","fylke_id","tabellvariabel"\n2014,"utvandring","alle","00","1"\n'
    )
    with pytest.raises(DataError, match="vreg_3: column missing"):
        read_imdi_flows_by_region(path)
