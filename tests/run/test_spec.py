"""Specifications, indicators and the `stochpop` command's handling of bad specs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.cli import main
from stochpop.demography.indicators import indicators, median_age, stock_indicators
from stochpop.run.spec import SpecError, load_spec, parse_spec, spec_from_dict, spec_to_dict


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data]\nsource = 'wpp'\n", r"data.source: 'wpp' is not one of"),
        ("[projection]\nhorizon = 0\n", r"projection.horizon: must be at least 1"),
        ("[projection]\nhorizon = 'ten'\n", r"projection.horizon: expected int"),
        ("[projection]\njumpoff = 2020\n", r"projection.jumpoff: unknown key"),
        ("[model]\nx = 1\n", r"unknown section\(s\) \['model'\]"),
        ("[data]\nsource = 'hmd-hfd'\n", r"data.path: required"),
        ("[data\n", r"not valid TOML"),
        ("[paths]\nn = 0\n", r"paths.n: must be at least 1"),
        ("[fit]\nmethod = 'mcmc'\n", r"fit.method: 'mcmc' is not one of"),
        ("[fit]\ndense_mass = 1\n", r"fit.dense_mass: expected bool"),
        ("[fit]\nwarmup = true\n", r"fit.warmup: expected int"),
        ("[fertility]\nlong_run_tfr = 'high'\n", r"fertility.long_run_tfr: expected float"),
        ("[outputs]\nquantiles = [0.1, 1.5]\n", r"outputs.quantiles: every value must lie strictly between"),
        ("[outputs]\nquantiles = 0.5\n", r"outputs.quantiles: expected a list"),
        ("[outputs]\nvariants = [0.9, 0.5, 0.1]\n", r"outputs.variants: three increasing quantiles"),
        ("[outputs]\nalternatives = ['MMXM']\n", r"outputs.alternatives: 'MMXM' is not a code"),
        ("[outputs]\npyramid_years = [1900]\n", r"outputs.pyramid_years: \[1900\] outside the projection"),
        ("[outputs]\ntable_formats = ['xlsx']\n", r"outputs.table_formats: \['xlsx'\] not among"),
        ("[mortality]\nshock_df = 1.5\n", r"mortality.shock_df: 0 \(normal\) or above 2"),
    ],
)
def test_invalid_specs_name_the_key(text, message):
    with pytest.raises(SpecError, match=rf"^bad.toml: .*{message}"):
        parse_spec(text, "bad.toml")


def test_shipped_specs_parse_and_round_trip():
    demo = load_spec("models/demo.toml")
    assert demo.data.source == "demo" and demo.projection.migration == "gross"
    norway = load_spec("models/norway.toml")
    assert (norway.data.path, norway.projection.jump_off, norway.paths.n) == ("norway", 2024, 10_000)
    assert norway.outputs.quantiles == (0.025, 0.1, 0.5, 0.9, 0.975)
    for spec in (demo, norway):
        assert spec_from_dict(spec_to_dict(spec), spec.file) == spec
    defaults = parse_spec("")
    assert defaults.pyramid_years == (2025 + 37, 2100) and defaults.fit.chains == 2
    assert parse_spec("[fit]\ndense_mass = true\n").fit.dense_mass is True


def test_indicators_against_numpy():
    rng = np.random.default_rng(0)
    pop = rng.uniform(0, 1000, size=(3, 2, 120))
    ds = xr.Dataset({"population": (("year", "sex", "age"), pop)}, coords={"age": np.arange(120)})
    for name in ("births", "deaths", "emigrations", "immigrations"):
        ds[name] = (("event_year", "sex"), rng.uniform(0, 100, size=(2, 2)))
    out = indicators(ds)
    by_age = pop.sum(1)
    np.testing.assert_allclose(out["age_65_plus"], by_age[:, 65:].sum(-1))
    np.testing.assert_allclose(out["old_age_dependency"], by_age[:, 65:].sum(-1) / by_age[:, 20:65].sum(-1))
    np.testing.assert_allclose(out["net_migration"], (ds.immigrations - ds.emigrations).sum("sex"))
    # Median age: half the population below it, persons spread evenly within each year of age.
    cumulative = np.cumsum(by_age, axis=-1)
    for y in range(3):
        x = int(np.searchsorted(cumulative[y], by_age[y].sum() / 2))
        below = cumulative[y, x] - by_age[y, x]
        assert float(out["median_age"][y]) == pytest.approx(x + (by_age[y].sum() / 2 - below) / by_age[y, x])


def test_median_age_of_a_uniform_population():
    pop = xr.DataArray(np.ones(80), dims="age", coords={"age": np.arange(80)})
    assert float(median_age(pop)) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="starts at 0"):
        median_age(pop.sel(age=slice(15, None)))


def test_run_with_bad_spec_fails_cleanly(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("[projection]\nhorizon = -3\n")
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "projection.horizon: must be at least 1" in capsys.readouterr().err
    assert not out.exists()


def test_stock_indicators_in_jax_equal_numpy():
    rng = np.random.default_rng(1)
    pop = rng.uniform(0, 1000, size=(4, 3, 2, 120)).astype(np.float32)
    pop[0, 0] = 0.0  # an empty population: median age NaN
    with np.errstate(invalid="ignore"):  # the empty population's ratios are 0 / 0
        expected = stock_indicators(pop)
    with jax.enable_x64(False):
        got = jax.jit(lambda p: stock_indicators(p, jnp))(pop)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=2e-5, equal_nan=True, err_msg=name)
    assert np.isnan(expected["median_age"][0, 0])
    np.testing.assert_allclose(expected["age_80_plus"], pop.sum(-2)[..., 80:].sum(-1), rtol=1e-6)
