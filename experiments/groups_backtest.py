"""Back-test of the grouped national model where registered group data exist (issue #14): jump-off
1 January 2015, every component fitted on what was known then.

The run is models/norway_groups.toml with jump_off = 2015 and horizon = 8 (`backtest_spec`): the national
components fitted on years < 2015 (`run.inputs.build_components`), the group components on the event
years <= 2014 (`run.groups.fit_groups`, last_year = jump-off - 1), the grouped jump-off the 2015
reconstruction (`groups.replay.replayed_jump_off`, in the fit's draws of its spread).

Prints, for 1 January 2016-2022, the registered immigrants of each country group and in all (IMDi country
background, `RegisteredGroups.country_groups`) against the paths' median and 80% / 95% intervals of
`group_population` and `immigrants`, whether each is inside, and the coverage over those cases with a
binomial 95% band for the count (the cases are not independent: the years of one path are one
trajectory); the same for the national population (HMD); and the Norwegian-born to immigrant parents at
the jump-off (no later registered figure here).

    python experiments/groups_backtest.py [--paths 1000] [--draws 500] [--run-dir DIR]

The run goes to a temporary directory (removed at the end) unless --run-dir names one (a finished fit
there is reused).
"""

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import binom

from stochpop.results.store import open_results
from stochpop.run.directory import RunDirectory
from stochpop.run.groups import registered
from stochpop.run.spec import Spec, load_spec, spec_from_dict, spec_to_dict
from stochpop.run.steps import fit, project

SPEC = Path(__file__).resolve().parents[1] / "models" / "norway_groups.toml"
JUMP_OFF = 2015
YEARS = np.arange(2016, 2023)
"""1 January years with registered country groups after the jump-off."""
LEVELS = (0.8, 0.95)
KINDS = ("immigrants g1", "immigrants g2", "immigrants g3")


def backtest_spec(paths: int, draws: int) -> Spec:
    """norway_groups.toml from 1 January `JUMP_OFF` to 2023, `paths` paths in this process, `draws` warm-up
    and kept draws per chain in every fit, no alternatives, default pyramid years (the spec's are after
    2023)."""
    raw = spec_to_dict(load_spec(SPEC))
    changes: dict[str, dict[str, Any]] = {
        "projection": {"jump_off": JUMP_OFF, "horizon": 8},
        "paths": {"n": paths, "workers": 0, "chunk_size": min(paths, 500)},
        "fit": {"warmup": draws, "samples": draws},
        "groups": {"warmup": draws, "samples": draws},
        "outputs": {"alternatives": [], "pyramid_years": []},
    }
    for section, values in changes.items():
        raw[section].update(values)
    return spec_from_dict(raw, f"{SPEC} (back-test)")


def run(out: Path, spec: Spec) -> Path:
    """The run's store in `out`: fitted and projected unless already there."""
    directory = RunDirectory(out)
    if not (directory.spec_file.is_file() and directory.fits_file.is_file()):
        fit(spec, out)
        print((out / "fits.json").read_text())
    return project(directory) if not directory.store.exists() else directory.store


@dataclass(frozen=True)
class Case:
    """A registered figure (thousands) against the paths: median and `LEVELS` intervals (low, high)."""

    series: str
    year: int
    registered: float
    median: float
    bounds: dict[float, tuple[float, float]]

    def inside(self, level: float) -> bool:
        low, high = self.bounds[level]
        return low <= self.registered <= high

    def line(self) -> str:
        cells = [f"{self.series:<14}{self.year:>5}{self.registered:>11.1f}{self.median:>9.1f}"]
        cells.append(f"{self.median / self.registered:>8.3f}")
        for level in LEVELS:
            low, high = self.bounds[level]
            cells.append(f"  {low:7.1f}-{high:7.1f} {'y' if self.inside(level) else 'n':>2}")
        return "".join(cells)


HEADER = (
    f"{'series':<14}{'year':>5}{'registered':>11}{'median':>9}{'med/reg':>8}"
    f"  {'80%':<15}{'in':>3}  {'95%':<15}{'in':>3}"
)


def cases(series: str, registered: np.ndarray, paths: xr.DataArray) -> list[Case]:
    """One `Case` per year of `YEARS`: `registered` (year,) persons against `paths` (year, draw)."""
    probabilities = [0.5, *[p for level in LEVELS for p in ((1 - level) / 2, (1 + level) / 2)]]
    q = paths.sel(year=YEARS).quantile(probabilities, "draw").transpose("year", "quantile").values / 1e3
    return [
        Case(series, int(year), float(registered[i]) / 1e3, q[i, 0],
             {level: (q[i, 1 + 2 * j], q[i, 2 + 2 * j]) for j, level in enumerate(LEVELS)})
        for i, year in enumerate(YEARS)
    ]  # fmt: skip


def coverage(label: str, rows: list[Case]) -> None:
    """Cases inside each interval against the binomial 95% band of the count at nominal coverage."""
    n = len(rows)
    for level in LEVELS:
        inside = sum(row.inside(level) for row in rows)
        low, high = binom.ppf([0.025, 0.975], n, level)
        print(f"{label}: {inside}/{n} inside the {level:.0%} intervals ({inside / n:.0%}); "
              f"binomial 95% band for the count {low:.0f}-{high:.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=500, help="warm-up and kept draws per chain, every fit")
    parser.add_argument("--run-dir", type=Path, default=None)
    args = parser.parse_args()
    spec = backtest_spec(args.paths, args.draws)
    with tempfile.TemporaryDirectory(prefix="groups_backtest_") as temp:
        store = run(args.run_dir or Path(temp) / "run", spec)
        results = open_results(store)
        reg = registered(spec)
        groups = results["group_population"].load()
        by_group = reg.country_groups.sel(year=YEARS)
        rows = []
        for g, kind in enumerate(KINDS, start=1):
            rows += cases(kind, by_group.sel(group=g).values, groups.sel(group_kind=kind))
        rows += cases("immigrants", by_group.sel(group=[1, 2, 3]).sum("group").values, results["immigrants"])
        national = results["population"].sum(["sex", "age"]).load()
        national_rows = cases(
            "population", reg.population.sel(year=YEARS).sum(["sex", "age"]).values, national
        )
        born = groups.sel(year=JUMP_OFF, group_kind=[k for k in groups["group_kind"].values if "born" in k])
        born = born.sum("group_kind")
        registered_born = float(reg.main_groups.sel(year=JUMP_OFF, category="norwegian_born").sum())
    print(f"grouped back-test: jump-off 1 January {JUMP_OFF}, {args.paths} paths, thousands on 1 January")
    print(HEADER)
    for row in rows + national_rows:
        print(row.line())
    coverage("groups (3 country groups + all immigrants x 7 years)", rows)
    coverage("national population (7 years)", national_rows)
    q = born.quantile([0.025, 0.1, 0.5, 0.9, 0.975], "draw").values / 1e3
    print(
        f"Norwegian-born to immigrant parents, 1 January {JUMP_OFF} (the jump-off): registered "
        f"{registered_born / 1e3:.1f}, paths median {q[2]:.1f}, 80% {q[1]:.1f}-{q[3]:.1f}, 95% {q[0]:.1f}-"
        f"{q[4]:.1f}; no later registered figure in the shared data (IMDi main groups end in {JUMP_OFF})"
    )


if __name__ == "__main__":
    main()
