"""Fertility by BEFINN group (issue #14, item 2) fitted to Norway's registered figures
(`stochpop.groups.fertility` documents the model, `stochpop.groups.fertility_data` the data and weights).

Prints:
* the fit's diagnostics;
* medians and 80% intervals of the key parameters: group levels, the pooled duration profile, the
  deviation scale, the convergence rate (and its half-life), the noise scales, the proxy offset;
* the 15 class levels (TFR over the rest's, 2022) with 80% intervals;
* every registered TFR ratio beside the fitted one (median, 80% interval) and the 95% predictive
  interval, and SSB's 2017 birth shares beside the fitted ones;
* RegisteredGroups.tfr_ratio (2009, 2015, 2016) inside the 95% predictive interval or not;
* 1000 sampled paths: class factors in 2022, 2050 and 2100, and the father shares.

    STOCHPOP_SHARED_DATA=/path/to/shared/data python experiments/groups_fertility.py
"""

import time

import arviz as az
import jax
import numpy as np
import pandas as pd

from stochpop.components.settings import FitSettings
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.groups import fertility
from stochpop.groups.fertility_data import DURATION_LABELS, fertility_data
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import GROUPS, load_registered

SETTINGS = FitSettings(chains=2, warmup=1000, samples=1500, seed=0)
PATHS = 1000
SHOWN_YEARS = (2022, 2050, 2100)


def draws(idata: az.InferenceData, name: str) -> np.ndarray:
    values = idata["posterior"][name]
    return values.stack(sample=("chain", "draw")).transpose("sample", ...).values


def interval(values: np.ndarray, level: float = 0.8) -> str:
    low, median, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return f"{median:7.3f} [{low:6.3f}, {high:6.3f}]"


def parameter_table(idata: az.InferenceData) -> pd.Series:
    rows = {}
    for g, value in zip(GROUPS, draws(idata, "group_level").T, strict=True):
        rows[f"group level g{g} (mean log r over classes)"] = interval(value)
    for label, value in zip(DURATION_LABELS, draws(idata, "duration_effect").T, strict=True):
        rows[f"duration effect {label} (log, vs 12+)"] = interval(value)
    for name in fertility.MODEL_SCALARS:
        rows[name] = interval(draws(idata, name))
    rate = draws(idata, "convergence_rate")
    rows["half-life of the gap, years"] = interval(np.log(2) / np.maximum(rate, 1e-9))
    return pd.Series(rows)


def class_table(idata: az.InferenceData) -> pd.DataFrame:
    levels = np.exp(draws(idata, "log_relative"))
    return pd.DataFrame(
        [[interval(levels[:, g, c]) for c in range(levels.shape[2])] for g in range(levels.shape[1])],
        index=[f"group {g}" for g in GROUPS],
        columns=list(DURATION_LABELS),
    )


def ratio_table(data, idata: az.InferenceData) -> pd.DataFrame:
    fitted = draws(idata, "ratio_fitted") * np.exp(data.proxy * draws(idata, "proxy_offset")[:, None])
    rng = np.random.default_rng(0)
    predictive = fitted * np.exp(draws(idata, "noise_sd")[:, None] * rng.standard_normal(fitted.shape))
    low, high = np.quantile(predictive, [0.025, 0.975], axis=0)
    table = pd.DataFrame(
        {
            "year": data.year,
            "series": data.series,
            "registered": data.ratio.round(3),
            "fitted (80%)": [interval(fitted[:, i]) for i in range(data.ratio.size)],
            "95% predictive": [f"[{a:.3f}, {b:.3f}]" for a, b in zip(low, high, strict=True)],
            "inside": (data.ratio >= low) & (data.ratio <= high),
        }
    )
    return table.sort_values(["series", "year"]).reset_index(drop=True)


def path_table(idata: az.InferenceData) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = fertility.group_fertility_paths(idata, np.array(SHOWN_YEARS), PATHS, jax.random.PRNGKey(0))
    factor = paths["fertility_factor"]
    rows = {}
    for g in GROUPS:
        for d, label in ((0, "<=1"), (5, "4-6"), (CELLS.max_duration, "12+")):
            cell = CELLS.labels()[CELLS.immigrant(g, d)]
            rows[f"g{g} {label} ({cell})"] = {
                year: interval(factor.sel(cell=cell, year=year).values) for year in SHOWN_YEARS
            }
    shares = paths["share_immigrant_father"].values
    father = pd.DataFrame(
        {f"group {g}": [interval(shares[:, g - 1]), f"{shares[:, g - 1].std():.3f}"] for g in GROUPS},
        index=["share (80%)", "sd"],
    )
    return pd.DataFrame(rows).T, father


def main() -> None:
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    started = time.time()
    registered = load_registered(shared / "norway")
    data = fertility_data(registered)
    seconds = time.time() - started
    print(f"data: {data.ratio.size} TFR ratios, {data.birth_shares.size} birth shares ({seconds:.0f} s)")
    started = time.time()
    idata = fertility.fit_fertility_data(data, SETTINGS)
    print(f"fit ({SETTINGS.chains} x {SETTINGS.warmup} + {SETTINGS.samples}): {time.time() - started:.0f} s")
    print("diagnostics:", idata["posterior"].attrs["diagnostics"])
    print("\nParameters: median [80% interval]")
    print(parameter_table(idata).to_string())
    print("\nClass levels r (TFR over the rest's, 2022): median [80% interval]")
    print(class_table(idata).to_string())
    print("\nRegistered TFR ratios against the fit")
    ratios = ratio_table(data, idata)
    print(ratios.to_string())
    print(f"inside the 95% predictive interval: {ratios['inside'].sum()} of {len(ratios)}")
    registered_rows = ratios[(ratios["series"] == "immigrants") & ratios["year"].isin([2009, 2015, 2016])]
    print("RegisteredGroups.tfr_ratio (2009, 2015, 2016) inside:", registered_rows["inside"].tolist())
    shares = draws(idata, "share_fitted")
    print("\nSSB's 2017 birth shares (immigrant mothers, group 3, group 2) against the fit")
    for name, observed, value in zip(
        ("immigrant mothers", "group 3", "group 2"), data.birth_shares, shares.T, strict=True
    ):
        print(f"  {name:18s} SSB {observed:.2f}  fitted {interval(value)}")
    factors, father = path_table(idata)
    print(f"\n{PATHS} paths: relative fertility factor by cell, median [80% interval]")
    print(factors.to_string())
    print("\nFather shares (long run, per path)")
    print(father.to_string())


if __name__ == "__main__":
    main()
