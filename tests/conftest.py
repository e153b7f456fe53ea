"""Shared fixtures: the real-data folder (skips when absent) and Norway assembled from it; a small demo run
(`demo_run_dir`: classic Lee-Carter mortality, short NUTS runs for fertility and gross migration; its
diagnostics are not the point, the component tests check fits with default settings), its projection and
40 of its paths; Norway's municipal population file, read once (`municipal_population`). JAX's caches are
cleared after every test module (`fresh_jax_caches`)."""

import gc
import warnings
from pathlib import Path

import jax
import pytest
import xarray as xr

import stochpop
from stochpop.cli import main
from stochpop.components.fitting import FitWarning
from stochpop.data.container import CountryData
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.data.regional import read_regional_population
from stochpop.projection.sampled import PathProjection
from stochpop.regions.divisions import MUNICIPAL_FILE

LONGEST_MODULE = "test_regional_run.py"
"""About a quarter of the suite's time, in one test (a regional run end to end)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest module first: with `-n 2 --dist loadscope --no-loadscope-reorder` (pyproject addopts)
    one worker runs it while the other works through the rest, instead of it running alone at the end."""
    items.sort(key=lambda item: item.path.name != LONGEST_MODULE)


@pytest.fixture(autouse=True, scope="module")
def fresh_jax_caches():
    """Frees the programs a test module compiled once it is done. Each compiled CPU program holds memory
    mappings of its own; the whole suite in one process kept every one (31 000 mappings at 16% of the
    tests, 8 GB resident) until mapping more failed at the kernel's limit of 65 530 and XLA aborted."""
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (see `stochpop.data.norway.shared_data_dir`)."""
    path = shared_data_dir()
    if path is None:
        pytest.skip(MISSING_SHARED_DATA)
    return path


@pytest.fixture(scope="session")
def norway(shared_data: Path) -> CountryData:
    """Norway from HMD (population, deaths, births) and HFD (fertility)."""
    return load_country(shared_data / "norway")


@pytest.fixture(scope="session")
def municipal_population(shared_data: Path) -> xr.DataArray:
    """Norway's municipal file through `read_regional_population` (year, region, sex, age), read once (it
    takes seconds): tests must not change it."""
    return read_regional_population(shared_data / "norway" / "regional" / MUNICIPAL_FILE)


DEMO_RUN_SPEC = """
[data]
source = "demo"

[projection]
jump_off = 2025
horizon = 30
migration = "gross"

[paths]
n = 40
chunk_size = 10
workers = 0

[fit]
warmup = 150
samples = 150

[mortality]
model = "lee-carter"

[outputs]
alternatives = ["MMMM", "LLML", "HHMH", "MKMM", "MMM0", "MM00"]
alternative_paths = 200
pyramid_years = [2040]
plot_formats = ["png"]
"""


@pytest.fixture(scope="session")
def demo_run_dir(tmp_path_factory):
    """A run directory after `stochpop fit` of the small demo spec."""
    folder = tmp_path_factory.mktemp("run")
    spec = folder / "spec.toml"
    spec.write_text(DEMO_RUN_SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert main(["fit", str(spec), "--out", str(folder / "demo")]) == 0
    return folder / "demo"


@pytest.fixture(scope="session")
def demo_projection(demo_run_dir) -> PathProjection:
    return stochpop.path_projection(demo_run_dir)


@pytest.fixture(scope="session")
def demo_paths(demo_projection) -> xr.Dataset:
    return demo_projection(0, 40)
