"""The `stochpop` command: parses arguments and calls the library's steps (`stochpop.run.steps`).

    stochpop run SPEC --out DIR        fit + project + summary + plot
    stochpop fit SPEC --out DIR        DIR/spec.json (the spec as run), DIR/posteriors/*.nc, DIR/fits.json
    stochpop project DIR               DIR/paths.zarr (resumable: a rerun verifies what is there and
                                       computes the missing and damaged chunks)
    stochpop verify DIR                check every chunk of DIR/paths.zarr against its integrity record
    stochpop summary DIR               DIR/tables/ (quantiles, L/M/H variants, population, alternatives)
    stochpop plot DIR                  DIR/figures/ (fan charts, pyramids)
    stochpop backtest SPEC --out DIR   refit and project from past jump-offs, score, report (resumable)

`--paths`, `--seed`, `--workers`, `--scheduler`, `--chunk-size` override the spec's [paths] and are kept
in DIR/spec.json, so later steps see them.
"""

import argparse
import sys
import time
from collections.abc import Callable

from stochpop.backtest.evaluate import External
from stochpop.data.errors import DataError
from stochpop.results.integrity import StoreError
from stochpop.run import steps
from stochpop.run.compilation_cache import enable_compilation_cache
from stochpop.run.directory import RunDirectory
from stochpop.run.spec import Spec, SpecError, load_spec, with_values

PATH_OPTIONS = {"n": "paths", "seed": "seed", "workers": "workers", "chunk_size": "chunk_size"}
BACKTEST_OPTIONS = {"jump_offs": "jumpoffs", "horizon": "horizon", "paths": "paths", "window": "window"}
"""Spec keys the command-line options override: key -> option, for [paths] and [backtest]."""


def _spec(spec: Spec, args: argparse.Namespace, section: str, options: dict[str, str]) -> Spec:
    values = {key: getattr(args, option, None) for key, option in options.items()}
    return with_values(spec, section, values, getattr(args, "data", None))


def fit(args: argparse.Namespace) -> None:
    steps.fit(_spec(load_spec(args.spec), args, "paths", PATH_OPTIONS), args.out)


def run(args: argparse.Namespace) -> None:
    steps.run_all(_spec(load_spec(args.spec), args, "paths", PATH_OPTIONS), args.out, args.scheduler)


def project(args: argparse.Namespace) -> None:
    run = RunDirectory(args.dir)
    spec = _spec(run.spec(), args, "paths", PATH_OPTIONS)
    with run.lock("project"):
        run.write_spec(spec)
        with steps.cluster(spec, args.scheduler) as client:
            steps.project(run, client)


def verify(args: argparse.Namespace) -> int:
    """Print every damaged or missing chunk (exit status 1), or that the store is whole (0)."""
    run = RunDirectory(args.dir)
    start = time.perf_counter()
    damaged = steps.verify(run)
    for damage in damaged:
        print(f"damaged: {damage}")
    if damaged:
        print(f"{run.store}: {len(damaged)} chunks damaged or missing (`stochpop project` recomputes them)")
        return 1
    print(f"{run.store}: whole (every file of every chunk as written; {time.perf_counter() - start:.1f} s)")
    return 0


def summary(args: argparse.Namespace) -> None:
    steps.summarise(args.dir)


def plot(args: argparse.Namespace) -> None:
    steps.plot(args.dir)


def backtest(args: argparse.Namespace) -> None:
    spec = _spec(load_spec(args.spec), args, "backtest", BACKTEST_OPTIONS)
    steps.backtest(spec, args.out, [External.parse(text) for text in args.external])


def _path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", type=int, help="number of sampled paths (spec: paths.n)")
    parser.add_argument("--seed", type=int, help="seed of the paths (spec: paths.seed)")
    parser.add_argument("--workers", type=int, help="LocalCluster worker processes, 0 = none (paths.workers)")
    parser.add_argument("--chunk-size", type=int, help="paths per Dask task (paths.chunk_size)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (instead of a LocalCluster)")


def parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
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
    commands_on_a_run: tuple[tuple[str, Callable[[argparse.Namespace], int | None], str], ...] = (
        ("project", project, "sample paths from the saved posteriors into DIR/paths.zarr"),
        ("summary", summary, "write quantile, variant and alternative tables"),
        ("plot", plot, "draw fan charts and pyramids"),
        ("verify", verify, "check that every stored path is as it was written"),
    )
    for name, on_run, help_text in commands_on_a_run:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("dir", help="run directory (from `stochpop fit` or `run`)")
        if name == "project":
            _path_options(sub)
        sub.set_defaults(handler=on_run)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    enable_compilation_cache()
    try:
        status = args.handler(args)
    except (SpecError, DataError, StoreError, ValueError, FileNotFoundError) as error:
        print(f"stochpop: error: {error}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
