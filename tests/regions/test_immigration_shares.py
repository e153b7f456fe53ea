"""Regional shares of the national international migration (`stochpop.regions.immigration_shares`): recovery
of simulated shares and their yearly scale, share paths that sum to one, stay positive, do not depend on
their chunk and continue the AR(1) as a NumPy recursion does; observed shares that give the registered
unit shares back; the county flow readers against each other and the national totals; on Norway, the
registered shares of a held-out year inside the predictive intervals."""

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fitting import FitWarning
from stochpop.components.randomness import path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.data.errors import DataError
from stochpop.data.regional import (
    NATION,
    read_county_international,
    read_county_moves,
    read_imdi_county_flows,
    read_telemark_changes,
)
from stochpop.regions.immigration_shares import (
    COUNTY_MATRIX,
    COUNTY_TABLES,
    IMDI_FLOWS,
    REGIONAL,
    TELEMARK,
    ShareObservations,
    fit_immigration_shares,
    national_totals,
    norway_share_inputs,
    observed_shares,
    registered_county_flows,
    share_draws,
    unit_shares,
)

TRUE_SHARE = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
PHI, SPREAD = 0.8, 0.25
YEARS, PARTIAL_YEARS, HORIZON, NATIONAL = 16, 8, 3, 30_000
SMALL_FIT = FitSettings(warmup=300, samples=400, target_accept=0.95)


def softmax(x: np.ndarray) -> np.ndarray:
    weight = np.exp(x - x.max(-1, keepdims=True))
    return weight / weight.sum(-1, keepdims=True)


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, ShareObservations]:
    """True shares (T, R) from log-ratio levels plus an AR(1) (phi 0.8, spread 0.25: yearly shocks 0.15),
    and Poisson counts of units: region 0 against the rest in the first years, every region on its own
    after (region 1 with a border ratio of 1.05)."""
    sigma = SPREAD * np.sqrt(1 - PHI**2)
    eta = np.zeros((YEARS, TRUE_SHARE.size))
    eta[0] = SPREAD * rng.standard_normal(TRUE_SHARE.size)
    for t in range(1, YEARS):
        eta[t] = PHI * eta[t - 1] + sigma * rng.standard_normal(TRUE_SHARE.size)
    share = softmax(np.log(TRUE_SHARE) + eta)
    rows = []
    for t in range(YEARS):
        units = [[0], [1, 2, 3, 4]] if t < PARTIAL_YEARS else [[r] for r in range(TRUE_SHARE.size)]
        ratio = np.array([1.05 if unit == [1] else 1.0 for unit in units])
        weighted = ratio * np.array([share[t, unit].sum() for unit in units])
        counts = rng.poisson(NATIONAL * weighted / weighted.sum())
        for unit, count, r in zip(units, counts, ratio, strict=True):
            rows.append((count, count, t, np.isin(np.arange(TRUE_SHARE.size), unit).astype(float), r))
    count, variance, year, member, ratio = (
        np.array(column, dtype=float) for column in zip(*rows, strict=True)
    )
    return share, ShareObservations(count, variance, year.astype(int), member, ratio)


@pytest.fixture(scope="module")
def simulated_fit():
    share, obs = simulate(np.random.default_rng(3))
    years = np.arange(2000, 2000 + YEARS)
    regions = [f"r{r}" for r in range(TRUE_SHARE.size)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit_immigration_shares(obs, years, regions, horizon=HORIZON, settings=SMALL_FIT)
    return share, obs, idata


@pytest.mark.slow
def test_simulated_shares_and_scale_are_recovered(simulated_fit) -> None:
    share, _, idata = simulated_fit
    posterior = idata["posterior"]
    fitted = posterior["share"].isel(year=slice(0, YEARS)).stack(sample=("chain", "draw")).values
    low, high = np.quantile(fitted, [0.05, 0.95], axis=-1)
    assert np.mean((share >= low) & (share <= high)) >= 0.85
    mean = fitted.mean(-1)
    assert np.max(np.abs(np.log(mean[PARTIAL_YEARS:] / share[PARTIAL_YEARS:]))) < 0.05  # every region counted
    assert np.max(np.abs(np.log(mean[:, 0] / share[:, 0]))) < 0.05  # region 0 counted in every year
    sigma_low, sigma_high = np.quantile(posterior["sigma"].values, [0.025, 0.975])
    assert sigma_low < SPREAD * np.sqrt(1 - PHI**2) < sigma_high
    assert sigma_high - sigma_low < 0.12


@pytest.mark.slow
def test_share_paths_sum_to_one_stay_positive_and_do_not_depend_on_their_chunk(simulated_fit) -> None:
    _, _, idata = simulated_fit
    key = jax.random.PRNGKey(7)
    years = np.arange(2000, 2000 + YEARS + HORIZON + 6)
    paths = share_draws(idata, key, 12, years)
    assert paths.shape == (years.size, 12, TRUE_SHARE.size)
    np.testing.assert_allclose(paths.sum(-1), 1.0, atol=1e-12)
    assert paths.min() > 0 and np.isfinite(paths).all()
    np.testing.assert_array_equal(share_draws(idata, key, [3, 10], years), paths[:, [3, 10]])
    with pytest.raises(ValueError, match="starts in 2000, not 1999"):
        share_draws(idata, key, 2, np.array([1999, 2001]))


@pytest.mark.slow
def test_share_paths_are_the_posterior_then_its_ar1_continued(simulated_fit) -> None:
    """Reference: each path's posterior draw, then x(t) = mu + phi (x(t-1) - mu) + sigma e(t) in NumPy with
    the path's stream-1 shocks, and a softmax."""
    _, _, idata = simulated_fit
    key, count, extra = jax.random.PRNGKey(11), 6, 6
    last = 2000 + YEARS + HORIZON - 1
    years = np.arange(2000, last + extra + 1)
    keys = path_keys(key, count)
    draws = posterior_draws(idata, keys, ["log_weight", "mu", "phi", "sigma"])
    shocks = np.asarray(path_shocks(keys, 1, (extra, TRUE_SHARE.size)))
    x = [draws["log_weight"][:, -1]]
    for step in range(extra):
        mu, phi, sigma = draws["mu"], draws["phi"][:, None], draws["sigma"][:, None]
        x.append(mu + phi * (x[-1] - mu) + sigma * shocks[:, step])
    reference = softmax(np.concatenate([draws["log_weight"], np.stack(x[1:], 1)], axis=1))
    np.testing.assert_allclose(share_draws(idata, key, count, years), np.swapaxes(reference, 0, 1), rtol=1e-5)


@pytest.mark.slow
def test_observed_shares_give_the_registered_unit_shares_back(simulated_fit) -> None:
    _, obs, idata = simulated_fit
    observed = observed_shares(obs, idata)
    assert observed.dims == ("year", "region") and observed.sizes["year"] == YEARS
    np.testing.assert_allclose(observed.sum("region"), 1.0, atol=1e-12)
    p = np.asarray(unit_shares(observed.values, obs.year, obs.member, obs.ratio))
    np.testing.assert_allclose(p, obs.total / national_totals(obs), rtol=1e-5)
    full = obs.year == YEARS - 1  # every region its own unit: the registered share, border-corrected
    corrected = obs.total[full] / obs.ratio[full]
    np.testing.assert_allclose(observed.isel(year=-1), corrected / corrected.sum(), rtol=1e-12)


def test_units_that_do_not_partition_the_regions_are_refused() -> None:
    _, obs = simulate(np.random.default_rng(0))
    broken = obs._replace(member=obs.member.copy())
    broken.member[3, :] = 1.0  # year 1: region 0's unit also covers the rest
    with pytest.raises(ValueError, match="the units of 2001 do not cover each region once"):
        fit_immigration_shares(broken, np.arange(2000, 2000 + YEARS), [f"r{r}" for r in range(5)])
    with pytest.raises(ValueError, match="flow must be 'immigration' or 'net'"):
        norway_share_inputs(Path("."), "gross")


def test_county_reader_names_an_unknown_county(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(
        "year,region,immigration_all_ages,emigration_all_ages\n"
        "2008,Hele landet,10,5\n2008,01 Østfold,4,2\n2008,21 Svalbard,6,3\n"
    )
    with pytest.raises(DataError, match="region: '21 Svalbard' is not an old county or the nation"):
        read_county_international(path)
    path.write_text("year,region,immigration_all_ages,emigration_all_ages\n2008,Hele landet,10,-5\n")
    with pytest.raises(DataError, match="emigration: '-5' is not a non-negative whole number"):
        read_county_international(path)


def test_registered_county_flows_add_up_and_agree_between_sources(shared_data: Path) -> None:
    child_age, changes_2011 = (read_county_international(shared_data / path) for path in COUNTY_TABLES)
    imdi = [read_imdi_county_flows(shared_data / path) for path in IMDI_FLOWS]
    for table in (child_age, *imdi):  # every county: they sum to the nation, both flows
        counties = table.drop_sel(county=NATION).sum("county")
        xr.testing.assert_equal(counties, table.sel(county=NATION, drop=True))
    changes_2008 = read_county_international(
        shared_data / REGIONAL / "DERIVED_ssb_web_population_changes_by_county_2008.csv"
    )
    xr.testing.assert_equal(changes_2008, child_age.sel(county=changes_2008["county"]))
    matrix = read_county_moves(shared_data / COUNTY_MATRIX)
    into = matrix["moves"].sel(year=2011, origin="Utlandet").values
    np.testing.assert_array_equal(into, changes_2011.sel(year=2011, flow="immigration").values[1:11])
    assert float(matrix["out_total"].sel(year=2011, origin="Utlandet")) == 79_498  # the 2011 table's nation
    telemark = read_telemark_changes(shared_data / TELEMARK)[["immigration", "emigration"]].sum(
        "municipality"
    )
    for table in (child_age, changes_2011, imdi[1]):  # Telemark's municipalities against the county tables
        year = int(table["year"][0])
        np.testing.assert_array_equal(telemark.to_dataarray("flow").sel(year=year), table.sel(county="08")[0])
    registered = registered_county_flows(shared_data)
    assert float(registered.sel(year=2005, flow="immigration", county=NATION)) == 40_148  # Eurostat = SSB
    assert registered.sel(year=2012, county=NATION).isnull().all()


def test_norway_units_partition_the_counties_and_sum_to_the_nation(shared_data: Path) -> None:
    for flow, years in (("immigration", 17), ("net", 15)):
        obs, model_years, regions = norway_share_inputs(shared_data, flow)
        assert len(regions) == 15 and model_years[0] == 1997 and model_years[-1] == 2014
        assert len(np.unique(obs.year)) == years
        for index in np.unique(obs.year):
            np.testing.assert_array_equal(obs.member[obs.year == index].sum(0), np.ones(15))
        assert (obs.total > 0).all() and (obs.variance >= obs.total).all()
        assert 0.9 < obs.ratio.min() and obs.ratio.max() < 1.1
    obs, model_years, _ = norway_share_inputs(shared_data, "immigration")
    national = national_totals(obs)[model_years[obs.year] == 2008]
    np.testing.assert_array_equal(national, 66_961)  # SSB's 2008 table


@pytest.mark.slow
def test_norway_held_out_year_inside_the_predictive_intervals(shared_data: Path) -> None:
    """Fit without 2014 (one year past 2013): the registered 2014 county shares against the posterior
    predictive (the model's unit shares plus the counts' sampling noise)."""
    obs, years, _ = norway_share_inputs(shared_data, "immigration")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit_immigration_shares(
            *norway_share_inputs(shared_data, "immigration", skip=(2014,)), horizon=1, settings=SMALL_FIT
        )
    held = years[obs.year] == 2014
    share = idata["posterior"]["share"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    p = np.asarray(unit_shares(share, obs.year, obs.member, obs.ratio))[:, held]
    noise = np.random.default_rng(0).standard_normal(p.shape) * np.sqrt(obs.variance[held])
    replicates = p + noise / national_totals(obs)[held]
    registered = (obs.total / national_totals(obs))[held]
    low, high = np.quantile(replicates, [0.025, 0.975], axis=0)
    inside = (registered >= low) & (registered <= high)
    assert inside.sum() >= 13, f"{inside.sum()} of 15 registered 2014 shares inside the 95% intervals"
    assert np.max(np.abs(np.log(p.mean(0) / registered))) < 0.25
