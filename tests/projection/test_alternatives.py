"""SSB alternatives from rate paths: letters pick the right quantile paths; MMMM sits mid-fan."""

import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import TABLE_4_2
from stochpop.data.demo import demo_country
from stochpop.projection.alternatives import alternative_rates, letter_paths
from stochpop.projection.lines import held_rates, project_lines


@pytest.fixture(scope="module")
def setting():
    demo = demo_country(seed=2)
    base = held_rates(demo, 2025, 30, migration="net")
    rng = np.random.default_rng(0)
    draws = 300
    year_index = xr.DataArray(np.arange(30), dims="year", coords={"year": base["year"]})

    def walk(sd):
        return xr.DataArray(
            rng.normal(0, sd, (draws, 30)).cumsum(1), dims=("draw", "year"), coords={"year": base["year"]}
        )

    paths = base.assign(
        fertility=base["fertility"] * np.exp(walk(0.03)),
        mortality=base["mortality"] * np.exp(-0.01 * year_index + walk(0.02)),
        net_migration=base["net_migration"] * (1 + walk(0.1)),
    )
    return demo, paths, letter_paths(paths)


def test_letters_take_the_right_quantiles(setting):
    _, paths, letters = setting
    lhml = alternative_rates(letters, "LHML")
    np.testing.assert_allclose(
        lhml["fertility"], np.quantile(paths["fertility"].transpose("draw", ...), 0.1, axis=0)
    )
    # High life expectancy is the low quantile of death rates.
    np.testing.assert_allclose(
        lhml["mortality"].transpose("year", "sex", "age"),
        np.quantile(paths["mortality"].transpose("draw", "year", "sex", "age"), 0.1, axis=0),
    )
    np.testing.assert_allclose(
        lhml["net_migration"].transpose("year", "sex", "age"),
        np.quantile(paths["net_migration"].transpose("draw", "year", "sex", "age"), 0.1, axis=0),
    )
    mkmm = alternative_rates(letters, "MKMM")
    first = paths["mortality"].isel(year=0).median("draw")
    xr.testing.assert_allclose(mkmm["mortality"].isel(year=-1, drop=True), first.drop_vars("year"))
    assert float(np.abs(alternative_rates(letters, "MM00")["net_migration"]).max()) == 0.0


def test_every_table_4_2_alternative_projects(setting):
    demo, _, letters = setting
    totals = {
        code: float(
            project_lines(demo.population.sel(year=2025), alternative_rates(letters, code), 2025, 30)[
                "population"
            ]
            .isel(year=-1)
            .sum()
        )
        for code in TABLE_4_2
    }
    assert totals["LLML"] < totals["MMMM"] < totals["HHMH"]
    assert totals["LMMM"] < totals["MMMM"] < totals["HMMM"]
    assert totals["MMM0"] < totals["MMMM"]  # the demo has net immigration
    assert totals["MMML"] < totals["MMMM"] < totals["MMMH"]
    assert totals["MLMM"] < totals["MMMM"] < totals["MHMM"]


def test_medium_alternative_sits_inside_the_30_70_band(setting):
    demo, paths, letters = setting
    initial = demo.population.sel(year=2025)
    fan = project_lines(initial, paths, 2025, 30)["population"].sum(("sex", "age"))
    medium = project_lines(initial, alternative_rates(letters, "MMMM"), 2025, 30)["population"].sum(
        ("sex", "age")
    )
    low, high = fan.quantile([0.3, 0.7], dim="draw")
    assert bool(((medium >= low) & (medium <= high)).all())


@pytest.mark.parametrize("code", ["MMM", "MMHM0", "XMMM", "MMLM", "MM0K"[:3] + "Q"])
def test_bad_codes_are_refused(setting, code):
    with pytest.raises(ValueError, match="four letters"):
        alternative_rates(setting[1], code)
