"""Fit the grouped emigration model (`stochpop.groups.emigration`) to Norway's registered emigration
(`stochpop.groups.emigration_data`) and print the posterior (medians and 80% intervals), its fit to the
registered aggregates (95% predictive intervals) and the probabilities of 2018 by kind of cell.

Usage: python experiments/groups_emigration.py [warmup samples chains]   (default 600 600 2)
"""

import sys
import time

import jax
import numpy as np

from stochpop.components.fitting import interval_share, read_diagnostics
from stochpop.components.settings import FitSettings
from stochpop.data.norway import shared_data_dir
from stochpop.groups import emigration, emigration_data
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import load_registered


def interval(values: np.ndarray) -> str:
    low, median, high = np.quantile(values, [0.1, 0.5, 0.9])
    return f"{median:8.3f}  [{low:8.3f}, {high:8.3f}]"


def main() -> None:
    warmup, samples, chains = (int(a) for a in (sys.argv[1:4] if len(sys.argv) > 3 else (600, 600, 2)))
    folder = shared_data_dir()
    if folder is None:
        raise SystemExit("shared data folder not found")
    registered = load_registered(folder / "norway")
    data = emigration_data.emigration_data(registered)
    started = time.time()
    settings = FitSettings(chains=chains, warmup=warmup, samples=samples, target_accept=0.95, seed=0)
    fit = emigration.fit_data(data, settings)
    print(f"NUTS {chains} x ({warmup} + {samples}), target acceptance 0.95: {time.time() - started:.0f} s; "
          f"{read_diagnostics(fit)}")  # fmt: skip

    posterior = fit["posterior"]
    print("\nparameter                      median   [10%, 90%]")
    for name in emigration.SCALARS:
        print(f"{name:28s} {interval(posterior[name].values.ravel())}")
    for name, dim in (("duration_log_odds", "duration_class"), ("group_log_odds", "group"),
                      ("norwegian_born_log_odds", "group"), ("cv", "source")):  # fmt: skip
        for label in posterior[dim].values:
            print(
                f"{name + ' ' + str(label):28s} {interval(posterior[name].sel({dim: label}).values.ravel())}"
            )
    print("level (logit) by year:")
    level = posterior["level"]
    for year in level["year"].values:
        print(f"  {year} {interval(level.sel(year=year).values.ravel())}")

    replicated = emigration.replicated_counts(fit, jax.random.PRNGKey(1)).values
    low, high = np.quantile(replicated, [0.025, 0.975], axis=0)
    print("\nregistered aggregate                  count     95% predictive interval")
    for label, count, lo, hi in zip(data.labels, data.counts, low, high, strict=True):
        flag = "" if lo <= count <= hi else "  outside"
        print(f"{label:35s} {count:8.0f}  [{lo:8.0f}, {hi:8.0f}]{flag}")
    print(f"share inside 95%: {interval_share(data.counts, replicated, 0.95):.2f}, "
          f"80%: {interval_share(data.counts, replicated, 0.80):.2f}")  # fmt: skip

    paths = emigration.group_emigration_paths(fit, np.array([2018]), 400, jax.random.PRNGKey(2))
    mean = paths.mean("path").sel(year=2018)
    print("\n2018, probability at age 25 (median over paths, women / men), %:")
    for label in ("rest", *(f"immigrant g{g} d{d}" for g in (1, 2, 3) for d in (0, 4, 12, 30)),
                  *(f"norwegian-born g{g}" for g in (1, 2, 3))):  # fmt: skip
        women, men = (100 * paths.sel(year=2018, cell=label, sex=s, age=25).median("path").item()
                      for s in ("female", "male"))  # fmt: skip
        print(f"  {label:20s} {women:6.2f} {men:6.2f}")
    print(f"cells: {CELLS.size}; mean probability over cells, sexes and ages: {float(mean.mean()):.4f}")


if __name__ == "__main__":
    main()
