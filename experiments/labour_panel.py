"""Net internal migration of Norway's 15 counties on registered unemployment, 2011-2023 (issue #15 item 4).

Prints:
* NAV's yearly county unemployment (2024 borders) and how the old-county file mapped onto it agrees;
* the cohort-residual net internal migration per 1000 (county means) and, for 2013 and 2014, the residual
  beside SSB's registered county net internal migration and net immigration (IMDi exports, old counties
  summed into the 2024 ones): how much of the residual is international migration;
* the two-way fixed-effects estimate (beta outside city counties, beta + gamma in them; classical and
  county-clustered standard errors), with unemployment lagged a year and with Akershus as a city county;
* the NumPyro panel's posterior of beta, gamma and beta + gamma beside the fixed effects and the
  labour-market region study's -1.5 per 1000 per percentage point;
* a scenario: Rogaland's unemployment 2 points higher in 2025-2027 (an oil downturn like 2015-2016): the
  shift of every county's net internal migration in 2025 (persons; posterior median and 80% interval).

    python experiments/labour_panel.py
"""

import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.labour import read_unemployment, read_unemployment_old_counties
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.regions.labour_panel import (
    CITY_COUNTIES,
    STUDY_EFFECT,
    county_panel,
    fit_panel,
    fixed_effects,
    net_internal_rates,
    unemployment_scenario,
)
from stochpop.regions.norway_counties import county_inputs

OLD_COUNTY_NUMBERS = {
    "01": "31",
    "02": "32",
    "03": "03",
    "04": "34",
    "05": "34",
    "06": "33",
    "07": "39",
    "08": "40",
    "09": "42",
    "10": "42",
    "11": "11",
    "12": "46",
    "14": "46",
    "15": "15",
    "16": "50",
    "17": "50",
    "18": "18",
    "19": "55",
    "20": "56",
}
"""The old county numbers of IMDi's exports -> 2024 counties (as `stochpop.data.labour.OLD_COUNTIES`)."""


def registered_flows(folder: Path) -> pd.DataFrame:
    """SSB's registered net internal migration and net immigration by county (2024 codes), 2013 and 2014,
    from IMDi's exports (all persons; county rows only)."""
    frames = []
    for year, name, county, category, extra in (
        (
            2013,
            "befolkning_flytting.csv",
            "fylke_nr",
            "innvkat_3",
            {"kommune_nr": "NULL", "bydel_nr": "NULL"},
        ),
        (2014, "befolkning_flytting_FL_2014.csv", "fylke_id", "invkat_2", {"vreg_3": "alle"}),
    ):
        table = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        keep = table[category].eq("alle") & table[county].isin(OLD_COUNTY_NUMBERS)
        for column, value in extra.items():
            keep &= table[column].eq(value)
        if "naringsregion_nr" in table.columns:
            keep &= table["naringsregion_nr"].eq("NULL")
        rows = table[keep & table["flytting"].isin(["nettoinnflytting", "nettoinnvandring"])]
        frames.append(
            pd.DataFrame(
                {
                    "year": year,
                    "region": rows[county].map(OLD_COUNTY_NUMBERS),
                    "flow": rows["flytting"],
                    "persons": pd.to_numeric(rows["tabellvariabel"]),
                }
            )
        )
    flows = pd.concat(frames).groupby(["year", "region", "flow"])["persons"].sum().unstack("flow")
    return flows.rename(
        columns={"nettoinnflytting": "registered_internal", "nettoinnvandring": "registered_net_imm"}
    )


def quantiles(draws: np.ndarray) -> str:
    low, mid, high = np.quantile(draws, [0.1, 0.5, 0.9])
    return f"{mid:+.2f} [{low:+.2f}, {high:+.2f}] (mean {draws.mean():+.2f}, sd {draws.std():.2f})"


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    pd.set_option("display.width", 200)
    started = time.perf_counter()
    labour = shared / "norway" / "labour"
    unemployment = read_unemployment(labour / "arbeidsledighet.csv")
    old = read_unemployment_old_counties(labour / "arbeidsledighet_2010_2024.csv")
    print("Registered unemployment, % of the labour force (yearly mean of NAV's months):")
    print(unemployment["rate"].to_pandas().round(2).to_string())
    gap = np.abs(old["rate"] - unemployment["rate"])
    print(
        f"old counties mapped onto 2024's: max |difference| {float(gap.max()):.3f} pp "
        f"over {int(gap.count())} county-years"
    )

    inputs = county_inputs(load_country(shared / "norway"), shared / "norway" / "regional")
    net = net_internal_rates(inputs)
    print(f"\ninputs read in {time.perf_counter() - started:.1f} s")
    print("Net internal migration (cohort residual), per 1000, county means:")
    print(
        pd.DataFrame(
            {
                "2006-2023": net["rate"].mean("year").to_pandas(),
                "2011-2023": net["rate"].sel(year=slice(2011, 2023)).mean("year").to_pandas(),
                "city": [region in CITY_COUNTIES for region in net["region"].values],
            }
        )
        .round(2)
        .to_string()
    )

    flows = registered_flows(shared / "norway" / "immigrants" / "imdikator-munch")
    check = flows.copy()
    check["residual_internal"] = net["internal"].to_series().reindex(check.index)
    national_net = check["registered_net_imm"].groupby("year").sum()
    share = (net["population"] / net["population"].sum("region")).to_series().reindex(check.index)
    check["allocated_net_imm"] = share * national_net.reindex(check.index.get_level_values("year")).to_numpy()
    check["residual - registered"] = check["residual_internal"] - check["registered_internal"]
    check["imm excess"] = check["registered_net_imm"] - check["allocated_net_imm"]
    print(
        "\n2013-2014: residual net internal migration against SSB's registered (persons); 'imm excess' is the"
    )
    print("county's registered net immigration minus its population share of the national (what the residual")
    print("should wrongly count as internal):")
    print(check.round(0).astype(int).to_string())
    per_1000 = 1000 * check["residual - registered"] / net["population"].to_series().reindex(check.index)
    explained = np.corrcoef(check["residual - registered"], check["imm excess"])[0, 1]
    print(
        f"residual - registered: mean |.| {float(np.abs(per_1000).mean()):.2f} per 1000, max "
        f"{float(np.abs(per_1000).max()):.2f}; correlation with the immigration excess {explained:.3f}"
    )

    panel = county_panel(net["rate"], unemployment["rate"])
    years = panel.migration["year"].values
    print(
        f"\npanel: {panel.migration.sizes['region']} counties x {years.size} years ({years[0]}-{years[-1]})"
    )
    fe = fixed_effects(panel)
    lagged = unemployment["rate"].assign_coords(year=unemployment["year"].values + 1)
    fe_lag = fixed_effects(county_panel(net["rate"], lagged))
    fe_akershus = fixed_effects(county_panel(net["rate"], unemployment["rate"], (*CITY_COUNTIES, "32")))
    print("Two-way fixed effects (per 1000 per pp; se classical / county-clustered):")
    for label, result in (
        ("contemporaneous", fe),
        ("unemployment lagged 1 year", fe_lag),
        ("Akershus a city county", fe_akershus),
    ):
        city = result.beta + result.gamma
        city_var = result.covariance.sum()
        city_cluster = result.cluster_covariance.sum()
        print(
            f"  {label:28s} beta {result.beta:+.2f} ({result.se[0]:.2f}/{result.cluster_se[0]:.2f}), "
            f"gamma {result.gamma:+.2f} ({result.se[1]:.2f}/{result.cluster_se[1]:.2f}), "
            f"beta+gamma {city:+.2f} ({np.sqrt(city_var):.2f}/{np.sqrt(city_cluster):.2f}), n {result.n}"
        )

    fit_started = time.perf_counter()
    idata = fit_panel(panel)
    print(
        f"\nNumPyro panel: {time.perf_counter() - fit_started:.0f} s, "
        f"{idata['posterior'].attrs['diagnostics']}"
    )
    print(
        az.summary(idata, var_names=["beta", "gamma", "beta_city", "sigma", "nu", "a0", "tau"], kind="stats")
    )
    posterior = idata["posterior"]
    beta = posterior["beta"].values.ravel()
    print("Unemployment effect on net internal migration, per 1000 per percentage point (median [80%]):")
    print(
        f"  posterior beta (other counties)    {quantiles(beta)}; P(beta < 0) {float((beta < 0).mean()):.3f}"
    )
    print(f"  posterior gamma (city difference)  {quantiles(posterior['gamma'].values.ravel())}")
    print(f"  posterior beta + gamma (cities)    {quantiles(posterior['beta_city'].values.ravel())}")
    print(f"  fixed effects: beta {fe.beta:+.2f}, beta + gamma {fe.beta + fe.gamma:+.2f}")
    print(f"  labour-market region study: {STUDY_EFFECT:+.1f}, weaker in city regions")

    population = inputs.population.sel(year=int(inputs.population["year"].max())).sum(["sex", "age"])
    regions = panel.migration["region"].values
    change = xr.DataArray(
        np.zeros((3, regions.size)),
        dims=("year", "region"),
        coords={"year": [2025, 2026, 2027], "region": regions},
    )
    change.loc[{"region": "11"}] = 2.0
    shift = unemployment_scenario(idata, change, population.drop_vars("year"), panel.city)
    first = shift.sel(year=2025)
    table = pd.DataFrame(
        {
            "rate median": first["rate"].median("sample").to_pandas(),
            "persons 10%": first["persons"].quantile(0.1, "sample").to_pandas(),
            "persons median": first["persons"].median("sample").to_pandas(),
            "persons 90%": first["persons"].quantile(0.9, "sample").to_pandas(),
        }
    )
    print("\nScenario: Rogaland's unemployment +2 pp in 2025-2027; shift of net internal migration in 2025")
    print("(per 1000 and persons, against the population of 1 January 2024; nets to zero in every draw):")
    print(table.round(2).to_string())
    print(
        f"max |national sum| over draws and years: {float(np.abs(shift['persons'].sum('region')).max()):.2e}"
    )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
