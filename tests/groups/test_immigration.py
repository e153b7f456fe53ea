"""Immigration by kind for the grouped model: the reconstruction of arrivals closes the registered stock
accounting, the share model recovers its dynamics from simulated data, the fit covers the registered
splits, and the paths split each total exactly, draw by draw, into cells, whatever chunk they are drawn
in."""

import warnings
from dataclasses import replace

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr
from numpyro import handlers

from stochpop.components.fitting import FitWarning
from stochpop.components.randomness import path_keys, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.demography.groups import GroupCells
from stochpop.groups import immigration as im
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import GROUPS, RegisteredGroups

QUICK = FitSettings(chains=1, warmup=200, samples=200, target_accept=0.8, seed=1)


def quick_fit(registered: RegisteredGroups, data: im.ShareData | None = None) -> az.InferenceData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return im.fit_group_immigration(registered, QUICK, data)


@pytest.fixture(scope="module")
def fit(registered: RegisteredGroups) -> az.InferenceData:
    return quick_fit(registered)


def draws(idata: az.InferenceData, name: str) -> np.ndarray:
    return idata["posterior"][name].stack(sample=("chain", "draw")).transpose("sample", ...).values


def test_reconstruction_closes_the_registered_stock_accounting(registered: RegisteredGroups) -> None:
    """Arrivals - emigrations - deaths equal the registered change of each group's stock (scaled to the
    registered immigrant total, NumPy); 2014's emigrations are IMDi's region rates on the stocks; the
    reconstructed 2014 split of groups 1 + 2 against 3 is within 3% of the registered flows'."""
    rec = im.reconstructed_arrivals(registered)
    stock = registered.country_groups.sel(group=list(GROUPS)).transpose("year", "group")
    years = stock["year"].values
    values = stock.values.copy()
    total = registered.main_groups.sel(category="immigrants").sum("sex")
    for i, year in enumerate(years):
        if year in total["year"].values:
            values[i] *= float(total.sel(year=year)) / values[i].sum()
    change = values[1:] - values[:-1]
    flows = (rec.arrivals - rec.emigrations - rec.deaths).transpose("year", "group").values
    np.testing.assert_allclose(flows, change, rtol=1e-9, atol=1e-6)
    assert (rec.deaths.values > 0).all() and (rec.emigrations.values > 0).all()

    at_2014 = values[years == 2014][0]
    region = registered.flows_by_region.sel(year=2014, flow="emigration")
    rates = np.array(
        [float(region.sel(region2="1")) / at_2014[:2].sum()] * 2
        + [float(region.sel(region2="2")) / at_2014[2]]
    )
    np.testing.assert_allclose(rec.emigrations.sel(year=2014).values, rates * at_2014, rtol=1e-9)

    arrivals = rec.arrivals.sel(year=2014).values
    registered_split = registered.flows_by_region.sel(year=2014, flow="immigration")
    split = float(registered_split.sel(region2="1") / registered_split.sel(region2="2"))
    assert arrivals[:2].sum() / arrivals[2] == pytest.approx(split, rel=0.03)


def simulated_data(layout: im.ShareData, key: jax.Array) -> tuple[dict[str, np.ndarray], im.ShareData]:
    """Observations simulated from the model with known parameters (near the fit to Norway's) in the
    years and observation layout of `layout`."""
    template = replace(layout, **{field: (getattr(layout, field)[0], None) for field in im.OBSERVATIONS})
    truth = {
        "long_run_mean": np.array([-0.9, -0.7, -0.25]),
        "persistence": np.array([0.85, 0.55, 0.75]),
        "shock_scale": np.array([0.27, 0.07, 0.06, 0.25]),
        "total_sd": 0.07,
        "citizenship_bias": -0.3,
        "total_bias": -0.09,
        "start": np.array([-0.9, -0.7, -0.25]),
    }
    model = handlers.seed(handlers.condition(im.immigration_share_model, truth), key)
    trace = handlers.trace(model).get_trace(data=template)
    state = np.asarray(trace["state"]["value"])
    return {**truth, "state": state}, layout.with_observed(np.asarray(trace["observed"]["value"]))


def test_fit_recovers_share_dynamics_from_simulated_shares(registered: RegisteredGroups) -> None:
    """Shares simulated from the model in the registered data's layout (same years and observations, so
    the fit reuses the compiled model): the true long-run ratios and persistences lie in their 99%
    intervals (6 parameters at once), the fitted shock variances of the ratios (diagonal of
    diag(s_0..2^2) + s_3^2 1 1') cover the simulated shocks' variances in 95% intervals, and 85% of the
    true yearly ratios lie in their 90% intervals."""
    truth, data = simulated_data(im.share_observations(registered), jax.random.PRNGKey(4))
    idata = quick_fit(registered, data)
    for name in ("long_run_mean", "persistence"):
        low, high = np.quantile(draws(idata, name), [0.005, 0.995], axis=0)
        assert ((low <= truth[name]) & (truth[name] <= high)).all(), (name, low, truth[name], high)
    x, mu, phi = truth["state"], truth["long_run_mean"], truth["persistence"]
    realised = (x[1:] - mu - phi * (x[:-1] - mu)).var(0)
    scale = draws(idata, "shock_scale")
    low, high = np.quantile(scale[:, :3] ** 2 + scale[:, 3:] ** 2, [0.025, 0.975], axis=0)
    assert ((low <= realised) & (realised <= high)).all(), (low, realised, high)
    low, high = np.quantile(draws(idata, "state"), [0.05, 0.95], axis=0)
    inside = (low <= x) & (x <= high)
    assert inside.mean() >= 0.85, inside.mean(0)


def test_fitted_shares_cover_the_registered_splits(
    fit: az.InferenceData, registered: RegisteredGroups
) -> None:
    """95% intervals of the fitted shares hold IMDi's immigrants' share of all immigration (2013, 2014),
    SSB's non-immigrants' share in 2017 (7 490 of 56 400) and IMDi's 2014 groups 1 + 2 over group 3."""
    share = fit["posterior"]["share"].stack(sample=("chain", "draw"))

    def inside(values: xr.DataArray, target: float) -> bool:
        low, high = np.quantile(values.values, [0.025, 0.975])
        return bool(low <= target <= high)

    flows = registered.flows_imdi.sel(flow="immigration")
    for year in (2013, 2014):
        target = float(flows.sel(year=year, category="immigrants") / flows.sel(year=year, category="all"))
        assert inside(1.0 - share.sel(year=year, kind="non_immigrants"), target), year
    assert inside(share.sel(year=2017, kind="non_immigrants"), 7490.0 / 56400.0)
    region = registered.flows_by_region.sel(year=2014, flow="immigration")
    at_2014 = share.sel(year=2014)
    ratio = (at_2014.sel(kind="group_1") + at_2014.sel(kind="group_2")) / at_2014.sel(kind="group_3")
    assert inside(ratio, float(region.sel(region2="1") / region.sel(region2="2")))


def path_totals(years: np.ndarray, paths: int, seed: int = 0) -> xr.DataArray:
    values = np.random.default_rng(seed).uniform(0.0, 90_000.0, (paths, years.size))
    values[0, 0] = 0.0
    return xr.DataArray(values, coords={"path": np.arange(paths), "year": years}, dims=("path", "year"))


def test_paths_split_each_total_exactly_with_one_draw_per_path(fit: az.InferenceData) -> None:
    """The kinds sum to each path's total (1e-9 relative), nothing is negative, each path's shares in the
    fitted years are those of one posterior draw, and the spread of the shares grows with the horizon."""
    last = int(fit["constant_data"]["year"].values[-1])
    years = np.arange(last - 2, last + 31)
    total = path_totals(years, 120)
    paths = im.group_immigration_paths(fit, total, years, jax.random.PRNGKey(3))
    assert paths.dims == ("path", "year", "kind", "sex", "age")
    np.testing.assert_allclose(paths.sum(("kind", "sex", "age")).values, total.values, rtol=1e-9)
    assert float(paths.min()) >= 0.0

    shares = (paths.sum(("sex", "age")) / total).values  # (path, year, kind)
    posterior = draws(fit, "share")  # (draw, fitted year, kind)
    fitted = fit["constant_data"]["year"].values
    for p in range(1, 20):
        distance = np.abs(posterior[:, fitted == years[0]][:, 0] - shares[p, 0]).max(-1)
        draw = int(distance.argmin())
        assert distance[draw] < 1e-5
        np.testing.assert_allclose(shares[p, :3], posterior[draw, -3:], atol=1e-5)
    group_3 = shares[1:, :, 3]
    assert group_3[:, -1].std() > 1.5 * group_3[:, 3].std()


def test_forecast_shocks_have_the_model_covariance(fit: az.InferenceData) -> None:
    """One step past the last fitted year, x - mu - phi (x_last - mu) of each path's draw
    (`posterior_draws` of its key), whitened by its Cholesky factor of diag(s_0..2^2) + s_3^2 1 1' (NumPy),
    is standard normal over 4 000 paths; the fitted years are the draw's states."""
    last = int(fit["constant_data"]["year"].values[-1])
    key = jax.random.PRNGKey(5)
    x = im.ratio_paths(fit, 4000, last + 1, key)
    names = ["state", "long_run_mean", "persistence", "shock_scale"]
    state, mu, phi, scale = posterior_draws(fit, path_keys(key, 4000), names).values()
    np.testing.assert_allclose(x[:, :-1], state, rtol=1e-6)
    residual = x[:, -1] - mu - phi * (state[:, -1] - mu)
    cov = np.einsum("pi,ij->pij", scale[:, :3] ** 2, np.eye(3)) + scale[:, 3, None, None] ** 2
    white = np.linalg.solve(np.linalg.cholesky(cov), residual[..., None])[..., 0]
    assert np.abs(white.mean(0)).max() < 0.1
    np.testing.assert_allclose(np.cov(white.T), np.eye(3), atol=0.12)


def test_paths_do_not_depend_on_the_chunk_and_shares_sum_to_one(fit: az.InferenceData) -> None:
    """Paths 3 and 7 drawn alone (shares, and immigrations of totals labelled 3 and 7) equal rows 3 and 7
    of paths 0..119, exactly; the shares of every path and year sum to 1 (1e-12)."""
    last = int(fit["constant_data"]["year"].values[-1])
    years, key = np.arange(last - 2, last + 31), jax.random.PRNGKey(6)  # the shapes of the test above
    among = im.immigration_shares(fit, years, 120, key)
    assert among.shape == (120, years.size, len(im.KINDS))
    np.testing.assert_allclose(among.sum(-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(im.immigration_shares(fit, years, [3, 7], key), among[[3, 7]])
    total = path_totals(years, 120)
    chunk = total.isel(path=[3, 7])
    alone = im.group_immigration_paths(fit, chunk, years, key)
    np.testing.assert_array_equal(alone["path"].values, [3, 7])
    np.testing.assert_array_equal(
        alone.values, im.group_immigration_paths(fit, total, years, key).values[[3, 7]]
    )
    assert np.ptp(among[:, -1, 3]) > 0  # paths differ


def test_kinds_map_onto_duration_zero_and_the_rest(fit: az.InferenceData) -> None:
    """Groups 1-3 land in duration 0 of their group, non-immigrants in the rest, nothing elsewhere; each
    kind's schedule sums to 1 with no one above age 69."""
    years = fit["constant_data"]["year"].values[-1] + np.arange(1, 4)
    paths = im.group_immigration_paths(fit, path_totals(years, 5), years, jax.random.PRNGKey(0))
    cells = im.immigration_by_cell(paths)
    assert cells.dims == ("path", "year", "cell", "sex", "age")
    values = cells.values
    np.testing.assert_allclose(values[:, :, CELLS.rest], paths.sel(kind="non_immigrants").values)
    placed = [CELLS.rest]
    for g in GROUPS:
        np.testing.assert_allclose(values[:, :, CELLS.immigrant(g, 0)], paths.sel(kind=f"group_{g}").values)
        placed.append(CELLS.immigrant(g, 0))
    assert np.delete(values, placed, axis=2).max() == 0.0
    schedule = fit["constant_data"]["schedule"].values
    np.testing.assert_allclose(schedule.sum((1, 2)), 1.0, rtol=1e-12)
    assert schedule[..., 70:].max() == 0.0


def test_bad_input_errors(fit: az.InferenceData) -> None:
    """Negative or misshapen totals, years before the fit, a reordered kind axis and other cells raise."""
    last = int(fit["constant_data"]["year"].values[-1])
    years = np.arange(last + 1, last + 4)
    key = jax.random.PRNGKey(0)
    negative = path_totals(years, 3)
    negative[1, 1] = -1.0
    with pytest.raises(ValueError, match="total must be finite and non-negative"):
        im.group_immigration_paths(fit, negative, years, key)
    with pytest.raises(ValueError, match="total must have dims"):
        im.group_immigration_paths(fit, path_totals(years, 3).T, years, key)
    with pytest.raises(ValueError, match="years must increase"):
        im.group_immigration_paths(fit, path_totals(years - 40, 3), years - 40, key)
    paths = im.group_immigration_paths(fit, path_totals(years, 2), years, key)
    with pytest.raises(ValueError, match="kind axis"):
        im.immigration_by_cell(paths.isel(kind=[1, 0, 2, 3]))
    with pytest.raises(ValueError, match="cells must have 3 country groups"):
        im.immigration_by_cell(paths, GroupCells(groups=2))


def test_observations_cut_at_last_year_hold_nothing_later(
    registered: RegisteredGroups, changed_after
) -> None:
    """Cut at 2014: no observation after 2014 (SSB's 2017 ratio gone), the registered ones of 2014 and
    before as in the full data; the same observations and schedule when every figure unknown on 1 January
    2015 is doubled."""
    full = im.share_observations(registered)
    cut = im.share_observations(registered, 2014)
    assert cut.years[-1] == 2014 and full.years[-1] > 2014
    for field, rows in zip(im.OBSERVATIONS, cut.rows(), strict=True):
        assert cut.years[rows].max() <= 2014, field
    for field in ("citizenship", "registered_region", "registered_immigrant"):
        years = full.years[getattr(full, field)[0]]
        np.testing.assert_array_equal(getattr(cut, field)[1], getattr(full, field)[1][years <= 2014])
    blind = im.share_observations(changed_after(2014), 2014)
    np.testing.assert_array_equal(blind.observed(), cut.observed())
    np.testing.assert_array_equal(
        im.kind_schedule(changed_after(2014), 2014), im.kind_schedule(registered, 2014)
    )
    with pytest.raises(ValueError, match="last_year"):
        im.share_observations(registered, 2013)
