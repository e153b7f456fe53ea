"""The `stochpop` command: a run directory built step by step, or all at once by `run`.

    stochpop run SPEC --out DIR        fit + project + summary + plot
    stochpop fit SPEC --out DIR        DIR/spec.json (the spec as run), DIR/posteriors/*.nc, DIR/fits.json
    stochpop project DIR               DIR/paths.zarr (resumable: a rerun computes only missing chunks)
    stochpop summary DIR               DIR/tables/ (quantiles, L/M/H variants, population, alternatives)
    stochpop plot DIR                  DIR/figures/ (fan charts, pyramids)
    stochpop backtest SPEC --out DIR   refit and project from past jump-offs, score, report (resumable)

`--paths`, `--seed`, `--workers`, `--scheduler`, `--chunk-size` override the spec's [paths] and are kept
in DIR/spec.json, so later steps see them.
"""

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xarray as xr
from dask.distributed import Client
from tqdm import tqdm

from stochpop.backtest.evaluate import External, evaluate
from stochpop.backtest.run import run_backtest
from stochpop.data.errors import DataError
from stochpop.demography.indicators import observed_indicators
from stochpop.outputs.tables import write_figures, write_tables
from stochpop.projection.sampled import (
    PATHS_FORMAT,
    PathProjection,
    build_components,
    fit_and_save,
    posterior_files,
    project_alternatives,
    write_atomically,
)
from stochpop.run.compilation_cache import enable_compilation_cache
from stochpop.run.spec import Spec, SpecError, load_data, load_spec, spec_from_dict, spec_to_dict
from stochpop.run.store import chunk_paths, dask_client, open_results, run_chunks

SPEC_FILE = "spec.json"
STORE = "paths.zarr"
OVERRIDES = {
    "paths": {"n": "paths", "seed": "seed", "workers": "workers", "chunk_size": "chunk_size"},
    "backtest": {"jump_offs": "jumpoffs", "horizon": "horizon", "paths": "paths", "window": "window"},
}
"""Spec keys each command-line option overrides, by section: key -> option."""


def _run_spec(out: Path) -> Spec:
    path = out / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"{path}: not a run directory (run `stochpop fit SPEC --out {out}` first)")
    return spec_from_dict(json.loads(path.read_text()), str(path))


def _with_overrides(spec: Spec, args: argparse.Namespace, section: str = "paths") -> Spec:
    """The spec with command-line overrides of `section` (its keys in `OVERRIDES`) and data.path applied
    (and validated)."""
    raw = spec_to_dict(spec)
    for key, option in OVERRIDES[section].items():
        if getattr(args, option, None) is not None:
            raw[section][key] = getattr(args, option)
    if getattr(args, "data", None):
        raw["data"]["path"] = str(Path(args.data).resolve())
    return spec_from_dict(raw, f"{spec.file} (with command-line options)")


def fit(args: argparse.Namespace) -> None:
    out = Path(args.out)
    spec = _with_overrides(load_spec(args.spec), args)
    data = load_data(spec)
    components = build_components(spec, data)
    if (out / STORE).exists():  # paths of earlier posteriors must not be resumed with new ones
        shutil.rmtree(out / STORE)
        print(f"removed {out / STORE}: its paths came from the earlier fit")
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / SPEC_FILE, json.dumps(spec_to_dict(spec), indent=2))
    fit_and_save(components, data, spec.fit, out)


def _projection(out: Path, spec: Spec) -> PathProjection:
    """The run's `PathProjection` from its saved posteriors (SpecError if it has none)."""
    files = posterior_files(out)
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise SpecError(f"{out}: no saved posteriors {missing} (run `stochpop fit` first)")
    data = load_data(spec)
    return PathProjection.create(spec, data, build_components(spec, data), files)


@contextmanager
def _client(spec: Spec, scheduler: str | None) -> Iterator[Client | None]:
    """A run's Dask client: on `scheduler`, on a LocalCluster of paths.workers, or None (workers = 0)."""
    if spec.paths.workers == 0 and scheduler is None:
        yield None
        return
    with dask_client(max(spec.paths.workers, 1), scheduler) as client:
        yield client


def project_paths(spec: Spec, out: Path, projection: PathProjection, client: Client | None) -> None:
    """Every path of the spec into out/paths.zarr (resuming what is there), with a progress bar."""
    p = spec.paths
    identity = {
        "seed": p.seed,
        "jump_off": spec.projection.jump_off,
        "horizon": spec.projection.horizon,
        "paths_format": PATHS_FORMAT,
    }
    start = time.perf_counter()
    with tqdm(total=-(-p.n // p.chunk_size), desc="paths", unit="chunk", file=sys.stderr) as bar:
        run_chunks(projection, p.n, p.chunk_size, out / STORE, client, lambda _: bar.update(), identity)
    print(f"projected {p.n} paths to {out / STORE} in {time.perf_counter() - start:.1f} s")


def _alternatives_call(spec: Spec) -> tuple[Any, ...]:
    """The arguments after the projection of `project_alternatives` for the spec's outputs."""
    n = min(spec.outputs.alternative_paths, spec.paths.n)
    return spec.outputs.alternatives, n, _variant_levels(spec)


def write_run_tables(spec: Spec, out: Path, alternatives: xr.Dataset | None) -> None:
    """The tables of the paths in out/paths.zarr (and of the alternatives) into out/tables."""
    written = write_tables(
        out / STORE,
        alternatives,
        out / "tables",
        spec.outputs.quantiles,
        _variant_levels(spec),
        spec.outputs.table_formats,
    )
    print(f"wrote {len(written)} tables to {out / 'tables'}")


def project_and_summarise(spec: Spec, out: Path, projection: PathProjection, client: Client | None) -> None:
    """`project_paths`, then `write_run_tables`; with a client SSB's alternatives are computed on a worker
    while the paths run."""
    pending = None
    if client is not None and spec.outputs.alternatives:
        pending = client.submit(project_alternatives, projection, *_alternatives_call(spec), pure=False)
    project_paths(spec, out, projection, client)
    if pending is not None:
        alternatives = pending.result()
    elif spec.outputs.alternatives:
        alternatives = project_alternatives(projection, *_alternatives_call(spec))
    else:
        alternatives = None
    write_run_tables(spec, out, alternatives)


def project(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    spec = _with_overrides(_run_spec(out), args)
    write_atomically(out / SPEC_FILE, json.dumps(spec_to_dict(spec), indent=2))
    projection = _projection(out, spec)
    with _client(spec, args.scheduler) as client:
        project_paths(spec, out, projection, client)


def summary(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    spec = _run_spec(out)
    chunk_paths(out / STORE)  # the run is complete, or FileNotFoundError naming the missing chunks
    alternatives = None
    if spec.outputs.alternatives:
        alternatives = project_alternatives(_projection(out, spec), *_alternatives_call(spec))
    write_run_tables(spec, out, alternatives)


def plot(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    spec = _run_spec(out)
    history = observed_indicators(load_data(spec))
    written = write_figures(
        open_results(out / STORE), history, out / "figures", spec.pyramid_years, spec.outputs.plot_formats
    )
    print(f"wrote {len(written)} figures to {out / 'figures'}")


def backtest(args: argparse.Namespace) -> None:
    spec = _with_overrides(load_spec(args.spec), args, section="backtest")
    externals = [External.parse(text) for text in args.external]
    data = load_data(spec)
    out = Path(args.out)
    start = time.perf_counter()
    computed = run_backtest(spec, data, out)
    print(f"back-tested {len(computed)} jump-offs in {time.perf_counter() - start:.0f} s")
    written = evaluate(out, data, externals)
    print(f"wrote {len(written)} tables and figures to {out / 'tables'} and {out / 'figures'}")


def run(args: argparse.Namespace) -> None:
    fit(args)
    out = args.dir = Path(args.out)
    spec = _run_spec(out)
    projection = _projection(out, spec)
    with _client(spec, args.scheduler) as client:
        project_and_summarise(spec, out, projection, client)
    plot(args)


def _variant_levels(spec: Spec) -> dict[str, float]:
    return dict(zip("LMH", spec.outputs.variants, strict=True))


def _path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", type=int, help="number of sampled paths (spec: paths.n)")
    parser.add_argument("--seed", type=int, help="seed of the paths (spec: paths.seed)")
    parser.add_argument("--workers", type=int, help="LocalCluster worker processes, 0 = none (paths.workers)")
    parser.add_argument("--chunk-size", type=int, help="paths per Dask task (paths.chunk_size)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (instead of a LocalCluster)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stochpop", description="Stochastic cohort-component projection.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("run", run, "fit, project, summarise and plot a specification"),
        ("fit", fit, "fit the components of a specification and save their posteriors"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("spec", help="a projection specification (TOML), e.g. models/demo.toml")
        sub.add_argument("--out", required=True, help="run directory")
        sub.add_argument("--data", help="data directory overriding data.path in the spec")
        _path_options(sub)
        sub.set_defaults(handler=handler)
    for name, handler, help_text in (
        ("project", project, "sample paths from the saved posteriors into DIR/paths.zarr"),
        ("summary", summary, "write quantile, variant and alternative tables"),
        ("plot", plot, "draw fan charts and pyramids"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("dir", help="run directory (from `stochpop fit` or `run`)")
        if name == "project":
            _path_options(sub)
        sub.set_defaults(handler=handler)
    sub = commands.add_parser("backtest", help="refit and project from past jump-offs; score; report")
    sub.add_argument("spec", help="a specification with a [backtest] section")
    sub.add_argument("--out", required=True, help="back-test directory (a rerun resumes)")
    sub.add_argument("--data", help="data directory overriding data.path in the spec")
    sub.add_argument("--jumpoffs", help="first:last:step, last included (backtest.jump_offs)")
    sub.add_argument("--horizon", type=int, help="years projected from each jump-off (backtest.horizon)")
    sub.add_argument("--paths", type=int, help="paths per jump-off (backtest.paths)")
    sub.add_argument("--window", type=int, help="fit years before each jump-off (backtest.window)")
    sub.add_argument(
        "--external",
        action="append",
        default=[],
        help="NAME:JUMP_OFF:PATH, an external projection scored beside (quantile CSV or WPP directory)",
    )
    sub.set_defaults(handler=backtest)
    args = parser.parse_args(argv)
    enable_compilation_cache()
    try:
        args.handler(args)
    except (SpecError, DataError, ValueError, FileNotFoundError) as error:
        print(f"stochpop: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
