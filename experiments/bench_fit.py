"""Benchmark the component fits on Norway and the drawing of forecast paths, in one run.

Each component is fitted with its defaults (NUTS, 2 chains in parallel on the 2 host devices stochpop
exposes), then 10 000 forecast paths to 2100 are drawn from each. Prints the wall times (seconds) and
the totals beside the goals (all fits < 120 s, 10 000 paths of all rates < 5 s).

    python experiments/bench_fit.py --json
"""

import argparse
import json
import time

import jax
import numpy as np

from stochpop.components.fertility import FertilityModel
from stochpop.components.fitting import fit_period, read_diagnostics
from stochpop.components.migration import NetMigrationModel
from stochpop.components.mortality import CoherentLeeCarter
from stochpop.components.settings import FitSettings
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(MISSING_SHARED_DATA)
    data = load_country(shared / "norway")
    components = {
        "mortality": CoherentLeeCarter(),
        "fertility": FertilityModel(),
        "migration": NetMigrationModel(),
    }
    result: dict[str, object] = {"devices": jax.local_device_count()}
    fitted = {}
    for name, component in components.items():
        start = time.perf_counter()
        fitted[name] = component.fit(data, FitSettings())
        result[f"{name}_fit_s"] = time.perf_counter() - start
        result[f"{name}_diagnostics"] = str(read_diagnostics(fitted[name]))
    first = max(fit_period(idata)[1] for idata in fitted.values()) + 1
    years = np.arange(first, 2101)
    for i, (name, component) in enumerate(components.items()):
        component.forecast(fitted[name], years, args.paths, jax.random.PRNGKey(100 + i))  # compile, warm up
        start = time.perf_counter()
        forecast = component.forecast(fitted[name], years, args.paths, jax.random.PRNGKey(i))
        jax.block_until_ready([v.values for v in forecast.data_vars.values()])
        result[f"{name}_forecast_s"] = time.perf_counter() - start
    result["paths"] = args.paths
    result["forecast_years"] = f"{years[0]}-{years[-1]}"
    result["all_fits_s"] = sum(result[f"{n}_fit_s"] for n in components)
    result["all_forecasts_s"] = sum(result[f"{n}_forecast_s"] for n in components)
    result["goals"] = {"all_fits_s": 120, "all_forecasts_s": 5}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value:.1f}" if isinstance(value, float) else f"{key:28s} {value}")


if __name__ == "__main__":
    main()
