"""Projection specifications: TOML files in `models/` that users edit.

    [data]
    source = "demo"          # "demo" (generated) or "hmd-hfd" (a directory of HMD/HFD files)
    seed = 0                 # demo only
    path = "norway"          # hmd-hfd only; relative paths are taken inside the shared data folder
                             # ($STOCHPOP_SHARED_DATA, or ../shared/data beside the checkout)
    [projection]
    jump_off = 2025          # 1 January stock to start from
    horizon = 75             # years projected
    migration = "net"        # "net" (cohort residual) or "gross" (immigration counts, emigration rates)

    [paths]
    n = 1000                 # sampled futures
    seed = 0                 # path i draws from (seed, i): results do not depend on chunks or workers
    chunk_size = 500         # paths per Dask task
    workers = 1              # LocalCluster processes (0: no Dask, compute in this process)

    [fit]                    # any field of components.FitSettings, e.g.
    method = "nuts"          # or "svi"
    chains = 2
    warmup = 1000
    samples = 1500
    seed = 0

    [mortality]
    model = "coherent"       # "coherent" (product-ratio Bayesian Lee-Carter) or "lee-carter" (classic)
    first_year = 1990
    components = 2           # product components (coherent only)
    shock_df = 5.0           # Student-t degrees of freedom of the product innovations (0: normal)
    likelihood = "negbin"    # death counts: "negbin" or "poisson" (coherent only)
    jump_off = "fitted"      # coherent: paths start from the fitted rates, or "observed" ones
    ratio = "stationary"     # coherent: AR(1) sex-ratio indices, or "walk" (random walks)
    drift = "constant"       # coherent: each path keeps its drift, or "world": the drift also moves as in
                             # WPP's high-e0 countries (<shared data>/wpp2024_world, years up to the last
                             # fitted year; `stochpop.components.mortality.world_drift`)

    [fertility]
    first_year = 1990
    long_run = "fixed"       # prior of the long-run TFR: "fixed" (the two numbers below) or "world" (learnt
                             # from WPP's phase III countries in <shared data>/wpp2024_world, years up to
                             # the last fitted year; `stochpop.components.fertility.long_run`)
    long_run_tfr = 1.75      # "fixed": prior median of the long-run TFR
    long_run_log_sd = 0.12   # "fixed": prior sd of its log
    jump_off = "fitted"      # forecasts continue from the fitted ASFR of the last year, or "observed" ones
    dynamics = "annual"      # log TFR's AR(2) under its own priors, or "world": held to the world fit's
                             # five-year persistence and shocks (needs long_run = "world")

    [migration]
    first_year = 1990
    level = "stationary"     # net total: "stationary" AR(1), or "shifting" (a damped level that shifts and
                             # stays plus AR(1) deviations, priors learnt from WPP's long record)
    total = "count"          # net total in persons a year, or "rate": a rate of each path's population
    bounds = "none"          # "record": a shifting level bent into the extremes of WPP's 10-year means
    future_scale = "drawn"   # a shifting level's forecast scale: "drawn" per path from its law, or "rms"

    [outputs]
    quantiles = [0.025, 0.1, 0.5, 0.9, 0.975]
    variants = [0.1, 0.5, 0.9]          # L, M, H
    alternatives = ["MMMM", "LLML"]     # SSB codes (reference Table 4.2); [] for none
    alternative_paths = 1000            # paths whose rate quantiles define the alternatives
    pyramid_years = [2050, 2100]
    plot_formats = ["png", "svg"]
    table_formats = ["csv", "parquet"]

    [regions]                # a regional breakdown, consistent with every national path (Norway's data)
    division = "none"        # "none", "county" (the 15 counties of 2024), "ba" (SSB's labour-market
                             # regions) or "table" (any grouping of municipalities: `table`)
    table = "regions.csv"    # "table": a CSV of municipality,region[,name]; relative to the spec file
    path = "norway/regional" # the regional data; relative paths are taken inside the shared data folder
    first_year = 2006        # first event year the regional models are fitted on
    internal = "M"           # internal migration: "M" (the model's paths), "K" (held at the model's
                             # last fitted year, no uncertainty) or "0" (nobody moves between regions)
    municipalities = false   # break the regions down to municipalities, with intervals
    probability_years = []   # years of the tables "population below the jump-off's" (default: the middle
                             # and the last projected year)
    unemployment = "u.csv"   # a scenario: CSV of region, year, change (percentage points); it shifts net
                             # internal migration by the labour panel's effect (`regions.labour_panel`),
                             # county division only; relative to the spec file
    warmup = 500             # NUTS warm-up and kept draws per chain of the regional fits (default:
    samples = 500            # [fit]'s); the internal-migration fit's memory grows ~10 MB an iteration

    [groups]                 # BEFINN's population groups under every national path (Norway's data)
    enabled = false          # immigrants by country group and duration of stay, Norwegian-born to
                             # immigrant parents by mother's group, the rest (`stochpop.groups`)
    max_duration = 16        # the open duration class (16: every group rate is the same from there on)
    warmup = 500             # NUTS warm-up and kept draws per chain of the group fits (default: [fit]'s)
    samples = 500

    [backtest]               # `stochpop backtest`: refit and project from past jump-offs, score
    jump_offs = "1990:2018:2"  # first:last:step (last included), or one year "2016"
    horizon = 20             # years projected from each jump-off
    window = 25              # years of data each refit sees, up to the jump-off (not before the data)
    paths = 1000             # paths per jump-off
    levels = [0.5, 0.8, 0.95]  # central prediction intervals scored
    restart_rhat = 1.05      # refit once with the next seed if a fit's max R-hat exceeds this (0: never)

Every key is optional (defaults as above, except `outputs.alternatives`: all 15 of Table 4.2, and
`pyramid_years`: the middle and last year). Unknown sections or keys, wrong types and bad values raise
`SpecError` naming the file and the key.
"""

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin

from stochpop.components.settings import FitSettings
from stochpop.conventions import DEFAULT_QUANTILES, TABLE_4_2, is_alternative_code


class SpecError(ValueError):
    """An invalid specification; the message names the file and the key."""


@dataclass(frozen=True)
class DataSpec:
    """[data]: the country's data (`source` "demo" or "hmd-hfd"), the demo's seed, the data folder."""

    source: str = "demo"
    seed: int = 0
    path: str | None = None


@dataclass(frozen=True)
class ProjectionSpec:
    """[projection]: the jump-off (1 January), the years projected, "net" or "gross" migration."""

    jump_off: int = 2025
    horizon: int = 75
    migration: str = "net"


@dataclass(frozen=True)
class PathsSpec:
    """[paths]: how many paths, their seed, paths per Dask task, worker processes (0: none)."""

    n: int = 1000
    seed: int = 0
    chunk_size: int = 500
    workers: int = 1


@dataclass(frozen=True)
class MortalitySpec:
    """[mortality]: the model ("coherent" or "lee-carter"), first fitted year, product components,
    Student-t degrees of freedom of its shocks (0: normal), likelihood ("negbin" or "poisson"); for the
    coherent model, its jump-off ("fitted" or "observed" rates), sex-ratio indices ("stationary" or
    "walk") and drift ("constant" or "world") (`CoherentLeeCarter`)."""

    model: str = "coherent"
    first_year: int = 1990
    components: int = 2
    shock_df: float = 5.0
    likelihood: str = "negbin"
    jump_off: str = "fitted"
    ratio: str = "stationary"
    drift: str = "constant"


@dataclass(frozen=True)
class FertilitySpec:
    """[fertility]: first fitted year; the long-run TFR's prior, "fixed" (its median and log-scale sd
    below) or "world" (learnt across countries from WPP, `FertilityModel.long_run_world`); the jump-off
    ("fitted" or "observed" ASFR, `FertilityModel.jump_off`); the dynamics of log TFR ("annual" or
    "world", `FertilityModel.dynamics`)."""

    first_year: int = 1990
    long_run: str = "fixed"
    long_run_tfr: float = 1.75
    long_run_log_sd: float = 0.12
    jump_off: str = "fitted"
    dynamics: str = "annual"


@dataclass(frozen=True)
class MigrationSpec:
    """[migration]: first fitted year; the net total's level: "stationary" (an AR(1)) or "shifting" (a
    damped level that shifts and stays plus AR(1) deviations, priors learnt from WPP's cross-country
    record up to the last fitted year; `NetMigrationModel`); the net total as a count ("count", persons a
    year) or a rate of each path's population ("rate"); the shifting level's bounds: "none", or "record"
    (bent into the extremes of the record's 10-year mean rates, `shocks.decade_bounds`); its forecast
    scale: "drawn" per path from its law, or "rms", the law's root mean square."""

    first_year: int = 1990
    level: str = "stationary"
    total: str = "count"
    bounds: str = "none"
    future_scale: str = "drawn"


@dataclass(frozen=True)
class OutputSpec:
    """[outputs]: reporting quantiles, L/M/H variant levels, SSB alternatives (and paths for their rate
    quantiles), pyramid years, figure and table formats."""

    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    variants: tuple[float, ...] = (0.1, 0.5, 0.9)
    alternatives: tuple[str, ...] = TABLE_4_2
    alternative_paths: int = 1000
    pyramid_years: tuple[int, ...] = ()
    plot_formats: tuple[str, ...] = ("png", "svg")
    table_formats: tuple[str, ...] = ("csv", "parquet")


@dataclass(frozen=True)
class RegionsSpec:
    """[regions]: the region axis ("none", "county", "ba", "table" of municipalities), its table, the
    regional data folder, the first fitted event year, internal migration ("M" model, "K" held, "0" none;
    SSB's internal-migration letter), the municipal breakdown, the years of the probability tables, an
    unemployment scenario (CSV), and the NUTS warm-up and kept draws per chain of the regional fits (None:
    [fit]'s; `regional_settings`)."""

    division: str = "none"
    table: str | None = None
    path: str = "norway/regional"
    first_year: int = 2006
    internal: str = "M"
    municipalities: bool = False
    probability_years: tuple[int, ...] = ()
    unemployment: str | None = None
    warmup: int | None = None
    samples: int | None = None


@dataclass(frozen=True)
class GroupsSpec:
    """[groups]: BEFINN's population groups under the national paths (`enabled`), the open duration class,
    and the NUTS warm-up and kept draws per chain of the group fits (None: [fit]'s)."""

    enabled: bool = False
    max_duration: int = 16
    warmup: int | None = None
    samples: int | None = None


@dataclass(frozen=True)
class BacktestSpec:
    """[backtest]: jump-offs (first:last:step), years projected from each, fit window, paths, levels
    scored, R-hat above which a refit restarts once (0: never)."""

    jump_offs: str = "1990:2018:2"
    horizon: int = 20
    window: int = 25
    paths: int = 1000
    levels: tuple[float, ...] = (0.5, 0.8, 0.95)
    restart_rhat: float = 1.05

    @property
    def jump_off_years(self) -> tuple[int, ...]:
        return jump_off_years(self.jump_offs)


def jump_off_years(text: str) -> tuple[int, ...]:
    """The jump-off years "first:last:step" (last included), "first:last" or "year" names."""
    parts = text.split(":")
    if len(parts) > 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{text!r} is not 'first:last:step', 'first:last' or one year")
    numbers = [int(p) for p in parts]
    first = numbers[0]
    last = numbers[1] if len(numbers) > 1 else first
    step = numbers[2] if len(numbers) > 2 else 1
    if last < first or step < 1:
        raise ValueError(f"{text!r}: need first <= last and a step of at least 1")
    return tuple(range(first, last + 1, step))


@dataclass(frozen=True)
class Spec:
    data: DataSpec = field(default_factory=DataSpec)
    projection: ProjectionSpec = field(default_factory=ProjectionSpec)
    paths: PathsSpec = field(default_factory=PathsSpec)
    fit: FitSettings = field(default_factory=FitSettings)
    mortality: MortalitySpec = field(default_factory=MortalitySpec)
    fertility: FertilitySpec = field(default_factory=FertilitySpec)
    migration: MigrationSpec = field(default_factory=MigrationSpec)
    outputs: OutputSpec = field(default_factory=OutputSpec)
    regions: RegionsSpec = field(default_factory=RegionsSpec)
    groups: GroupsSpec = field(default_factory=GroupsSpec)
    backtest: BacktestSpec = field(default_factory=BacktestSpec)
    file: str = "<spec>"

    @property
    def pyramid_years(self) -> tuple[int, ...]:
        """The years to draw pyramids for (default: the middle and the last projected year)."""
        p = self.projection
        return self.outputs.pyramid_years or (p.jump_off + p.horizon // 2, p.jump_off + p.horizon)

    @property
    def probability_years(self) -> tuple[int, ...]:
        """The years of the regional probability tables (default: the middle and the last projected year)."""
        return self.regions.probability_years or self.pyramid_years


SECTIONS: dict[str, Any] = {f.name: f.type for f in fields(Spec) if f.name != "file"}
"""Section name -> its dataclass (field types are classes: this module does not postpone annotations)."""
CHOICES = {
    ("data", "source"): ("demo", "hmd-hfd"),
    ("projection", "migration"): ("net", "gross"),
    ("fit", "method"): ("nuts", "svi"),
    ("mortality", "model"): ("coherent", "lee-carter"),
    ("mortality", "likelihood"): ("negbin", "poisson"),
    ("mortality", "jump_off"): ("fitted", "observed"),
    ("mortality", "ratio"): ("stationary", "walk"),
    ("mortality", "drift"): ("constant", "world"),
    ("fertility", "long_run"): ("fixed", "world"),
    ("fertility", "jump_off"): ("fitted", "observed"),
    ("fertility", "dynamics"): ("annual", "world"),
    ("migration", "level"): ("stationary", "shifting"),
    ("migration", "total"): ("count", "rate"),
    ("migration", "bounds"): ("none", "record"),
    ("migration", "future_scale"): ("drawn", "rms"),
    ("regions", "division"): ("none", "county", "ba", "table"),
    ("regions", "internal"): ("M", "K", "0"),
}
AT_LEAST = {
    ("projection", "horizon"): 1,
    ("paths", "n"): 1,
    ("paths", "chunk_size"): 1,
    ("paths", "workers"): 0,
    ("fit", "chains"): 1,
    ("fit", "warmup"): 1,
    ("fit", "samples"): 1,
    ("mortality", "components"): 1,
    ("mortality", "shock_df"): 0,
    ("outputs", "alternative_paths"): 10,
    ("backtest", "horizon"): 1,
    ("backtest", "window"): 3,
    ("backtest", "paths"): 10,
    ("backtest", "restart_rhat"): 0,
    ("regions", "warmup"): 1,
    ("groups", "max_duration"): 1,
    ("groups", "warmup"): 1,
    ("groups", "samples"): 1,
    ("regions", "samples"): 1,
}
PROBABILITIES = {
    ("fit", "target_accept"),
    ("outputs", "quantiles"),
    ("outputs", "variants"),
    ("backtest", "levels"),
}
ELEMENT_CHOICES = {
    ("outputs", "plot_formats"): ("png", "svg", "pdf"),
    ("outputs", "table_formats"): ("csv", "parquet"),
}


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """`value` converted to the field type (ints accepted for floats, lists for tuples), or SpecError."""
    if get_origin(annotation) is tuple:
        if not isinstance(value, list):
            raise SpecError(f"{where}: expected a list, got {value!r}")
        element = get_args(annotation)[0]
        return tuple(_check_type(v, element, f"{where}[{i}]") for i, v in enumerate(value))
    expected = next((a for a in (bool, int, float, str) if a in (annotation, *get_args(annotation))), str)
    ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
    if not ok or (isinstance(value, bool) and expected is not bool):
        raise SpecError(f"{where}: expected {expected.__name__}, got {value!r}")
    return float(value) if expected is float else value


def _check_value(section: str, key: str, value: Any, where: str) -> None:
    if (section, key) in CHOICES and value not in CHOICES[(section, key)]:
        raise SpecError(f"{where}: {value!r} is not one of {CHOICES[(section, key)]}")
    if (section, key) in AT_LEAST and value < AT_LEAST[(section, key)]:
        raise SpecError(f"{where}: must be at least {AT_LEAST[(section, key)]}, got {value}")
    values = value if isinstance(value, tuple) else (value,)
    if (section, key) in PROBABILITIES and not all(0 < v < 1 for v in values):
        raise SpecError(f"{where}: every value must lie strictly between 0 and 1, got {list(values)}")
    if (section, key) in ELEMENT_CHOICES:
        bad = [v for v in values if v not in ELEMENT_CHOICES[(section, key)]]
        if bad:
            raise SpecError(f"{where}: {bad} not among {ELEMENT_CHOICES[(section, key)]}")


def _section(raw: dict[str, Any], name: str, file: str) -> Any:
    cls = SECTIONS[name]
    values = raw.get(name, {})
    if not isinstance(values, dict):
        raise SpecError(f"{file}: [{name}] must be a table")
    types = {f.name: f.type for f in fields(cls)}
    checked = {}
    for key, value in values.items():
        where = f"{file}: {name}.{key}"
        if key not in types:
            raise SpecError(f"{where}: unknown key (expected one of {sorted(types)})")
        checked[key] = _check_type(value, types[key], where)
        _check_value(name, key, checked[key], where)
    return cls(**checked)


def _check_combinations(spec: Spec) -> None:
    """Checks that involve more than one key."""
    if 0 < spec.mortality.shock_df <= 2:
        raise SpecError(
            f"{spec.file}: mortality.shock_df: 0 (normal) or above 2, got {spec.mortality.shock_df}"
        )
    if spec.mortality.drift == "world" and spec.mortality.model != "coherent":
        raise SpecError(f"{spec.file}: mortality.drift: 'world' needs mortality.model 'coherent'")
    if spec.fertility.dynamics == "world" and spec.fertility.long_run != "world":
        raise SpecError(f"{spec.file}: fertility.dynamics: 'world' needs fertility.long_run 'world'")
    if spec.migration.total == "rate" and spec.projection.migration != "net":
        raise SpecError(
            f"{spec.file}: migration.total: 'rate' is a rate of net migration and needs projection.migration "
            f"'net', not {spec.projection.migration!r}"
        )
    for option, default in (("bounds", "none"), ("future_scale", "drawn")):
        value = getattr(spec.migration, option)
        if value != default and spec.migration.level != "shifting":
            raise SpecError(
                f"{spec.file}: migration.{option}: {value!r} is of a shifting level and needs "
                f"migration.level 'shifting', not {spec.migration.level!r}"
            )
    where = f"{spec.file}: outputs"
    variants = spec.outputs.variants
    if len(variants) != 3 or not variants[0] < variants[1] < variants[2]:
        raise SpecError(f"{where}.variants: three increasing quantiles (L, M, H), got {list(variants)}")
    for code in spec.outputs.alternatives:
        if not is_alternative_code(code):
            raise SpecError(
                f"{where}.alternatives: {code!r} is not a code of four letters (fertility L/M/H/K, life "
                "expectancy L/M/H/K, internal migration M/0, immigration L/M/H/K/0)"
            )
    try:
        jump_off_years(spec.backtest.jump_offs)
    except ValueError as error:
        raise SpecError(f"{spec.file}: backtest.jump_offs: {error}") from None
    last = spec.projection.jump_off + spec.projection.horizon
    for key, years in (
        ("outputs.pyramid_years", spec.outputs.pyramid_years),
        ("regions.probability_years", spec.regions.probability_years),
    ):
        outside = [y for y in years if not spec.projection.jump_off <= y <= last]
        if outside:
            raise SpecError(
                f"{spec.file}: {key}: {outside} outside the projection {spec.projection.jump_off}-{last}"
            )
    r = spec.regions
    if r.division == "table" and not r.table:
        raise SpecError(f"{spec.file}: regions.table: required when regions.division is 'table'")
    if r.unemployment and r.division != "county":
        raise SpecError(f"{spec.file}: regions.unemployment: scenarios need regions.division 'county'")
    g = spec.groups
    if g.enabled and (spec.data.source != "hmd-hfd" or spec.projection.migration != "net"):
        raise SpecError(
            f"{spec.file}: groups.enabled: groups need Norway's data (data.source 'hmd-hfd') and national "
            f"net migration (projection.migration 'net'), not {spec.data.source!r} and "
            f"{spec.projection.migration!r}"
        )
    if g.enabled and r.division != "none":
        raise SpecError(f"{spec.file}: groups.enabled: groups and regions in one run are not supported yet")
    if r.division != "none" and spec.data.source != "hmd-hfd":
        raise SpecError(
            f"{spec.file}: regions.division: regions need Norway's data (data.source 'hmd-hfd'), not "
            f"{spec.data.source!r}"
        )


def parse_spec(text: str, file: str = "<spec>") -> Spec:
    """Parse and validate a specification from TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{file}: not valid TOML: {error}") from error
    return spec_from_dict(raw, file)


def spec_to_dict(spec: Spec) -> dict[str, dict[str, Any]]:
    """The spec as plain sections of JSON/TOML values (unset optional keys left out)."""
    return {
        name: {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(getattr(spec, name)).items()
            if v is not None
        }
        for name in SECTIONS
    }


def spec_from_dict(raw: dict[str, Any], file: str = "<spec>") -> Spec:
    """Validate sections of values (as TOML parses them) into a `Spec`."""
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise SpecError(f"{file}: unknown section(s) {sorted(unknown)} (expected {', '.join(SECTIONS)})")
    spec = Spec(**{name: _section(raw, name, file) for name in SECTIONS}, file=file)
    if spec.data.source == "hmd-hfd" and spec.data.path is None:
        raise SpecError(f"{file}: data.path: required when data.source is 'hmd-hfd'")
    _check_combinations(spec)
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a specification file (a relative `regions.table` or `regions.unemployment` is
    taken beside it)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: file not found")
    spec = parse_spec(path.read_text(), str(path))

    def beside(name: str | None) -> str | None:  # files named relative to the spec file, wherever it runs
        return str((path.parent / name).resolve()) if name and not Path(name).is_absolute() else name

    r = spec.regions
    return replace(spec, regions=replace(r, table=beside(r.table), unemployment=beside(r.unemployment)))


def with_values(spec: Spec, section: str, values: dict[str, Any], data_path: str | None = None) -> Spec:
    """The spec with `values` (key -> value; None leaves a key as it is) set in `section`, and `data.path`
    set to `data_path` if given, validated like a file's (SpecError naming the key)."""
    raw = spec_to_dict(spec)
    raw[section].update({key: value for key, value in values.items() if value is not None})
    if data_path:
        raw["data"]["path"] = str(Path(data_path).resolve())
    return spec_from_dict(raw, f"{spec.file} (with command-line options)")
