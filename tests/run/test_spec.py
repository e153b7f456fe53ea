"""Specifications and the `stochpop` command's handling of bad specs."""

import pytest

from stochpop.cli import main
from stochpop.data.demo import demo_country
from stochpop.run.groups import group_settings
from stochpop.run.inputs import build_components
from stochpop.run.regions import regional_settings
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
        ("[groups]\nenabled = true\n", r"groups.enabled: groups need Norway's data"),
        (
            "[data]\nsource = 'hmd-hfd'\npath = 'x'\n[projection]\nmigration = 'gross'\n"
            "[groups]\nenabled = true\n",
            r"groups.enabled: .* national net migration",
        ),
        (
            "[data]\nsource = 'hmd-hfd'\npath = 'x'\n[regions]\ndivision = 'county'\n"
            "[groups]\nenabled = true\n",
            r"groups.enabled: groups and regions in one run are not supported",
        ),
        ("[groups]\nmax_duration = 0\n", r"groups.max_duration: must be at least 1"),
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
        ("[mortality]\nratio = 'trend'\n", r"mortality.ratio: 'trend' is not one of"),
        ("[mortality]\njump_off = 'registered'\n", r"mortality.jump_off: 'registered' is not one of"),
        ("[mortality]\ndrift = 'trend'\n", r"mortality.drift: 'trend' is not one of"),
        (
            "[mortality]\nmodel = 'lee-carter'\ndrift = 'world'\n",
            r"mortality.drift: 'world' needs mortality.model 'coherent'",
        ),
        ("[migration]\ntotal = 'share'\n", r"migration.total: 'share' is not one of"),
        (
            "[projection]\nmigration = 'gross'\n[migration]\ntotal = 'rate'\n",
            r"migration.total: 'rate' is a rate of net migration and needs projection.migration 'net'",
        ),
        ("[migration]\nbounds = 'world'\n", r"migration.bounds: 'world' is not one of"),
        (
            "[migration]\nbounds = 'record'\n",
            r"migration.bounds: 'record' is of a shifting level and needs migration.level 'shifting'",
        ),
        (
            "[migration]\nfuture_scale = 'rms'\n",
            r"migration.future_scale: 'rms' is of a shifting level and needs migration.level 'shifting'",
        ),
        ("[regions]\ndivision = 'fylke'\n", r"regions.division: 'fylke' is not one of"),
        ("[regions]\ninternal = 'L'\n", r"regions.internal: 'L' is not one of"),
        ("[regions]\ndivision = 'county'\n", r"regions.division: regions need Norway's data"),
        (
            "[data]\nsource = 'hmd-hfd'\npath = 'x'\n[regions]\ndivision = 'table'\n",
            r"regions.table: required",
        ),
        ("[regions]\nprobability_years = [2200]\n", r"regions.probability_years: \[2200\] outside"),
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
    walk = parse_spec("[mortality]\nratio = 'walk'\njump_off = 'observed'\n")
    mortality = build_components(walk, demo_country())["mortality"]
    assert (mortality.ratio, mortality.jump_off) == ("walk", "observed")
    assert (mortality.drift, mortality.drift_world) == ("constant", None)


def test_run_with_bad_spec_fails_cleanly(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("[projection]\nhorizon = -3\n")
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "projection.horizon: must be at least 1" in capsys.readouterr().err
    assert not out.exists()


def test_groups_may_set_their_own_sampler_draws():
    spec = parse_spec("[fit]\nwarmup = 900\nsamples = 800\n[groups]\nwarmup = 200\n")
    settings = group_settings(spec, spec.fit)
    assert (settings.warmup, settings.samples, settings.chains) == (200, 800, spec.fit.chains)
    assert group_settings(parse_spec(""), spec.fit) == spec.fit


def test_regions_may_set_their_own_sampler_draws():
    spec = parse_spec("[fit]\nwarmup = 900\nsamples = 800\n[regions]\nsamples = 300\n")
    settings = regional_settings(spec, spec.fit)
    assert (settings.warmup, settings.samples, settings.chains) == (900, 300, spec.fit.chains)
    assert regional_settings(parse_spec(""), spec.fit) == spec.fit
    with pytest.raises(SpecError, match=r"regions.warmup: must be at least 1"):
        parse_spec("[regions]\nwarmup = 0\n", "bad.toml")
