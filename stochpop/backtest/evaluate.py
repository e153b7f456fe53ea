"""Score a finished back-test (`run.run_backtest`) against the registered data and write its report."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from stochpop.backtest.external import on_horizon_quantiles, read_quantile_table, read_wpp_quantiles
from stochpop.backtest.recalibration import recalibrated_scores
from stochpop.backtest.report import RECALIBRATED, write_report
from stochpop.backtest.run import backtest_spec, load_backtest
from stochpop.backtest.scores import line_scores, quantile_scores, sample_scores
from stochpop.backtest.targets import registered_targets
from stochpop.data.container import CountryData

BASELINE_LEVEL = 0.8
"""The nominal level the SSB-like H-L band is scored at: its life-expectancy band is an 80% interval;
its fertility and migration spreads have no stated probability."""


@dataclass(frozen=True)
class External:
    """An external projection to score beside: a name, its jump-off (1 January) and a file: a CSV quantile
    table (`external.read_quantile_table`) or a directory of WPP popproj* files."""

    name: str
    jump_off: int
    path: Path

    @classmethod
    def parse(cls, text: str) -> "External":
        """From "NAME:JUMP_OFF:PATH"."""
        parts = text.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
            raise ValueError(
                f"--external {text!r}: expected NAME:JUMP_OFF:PATH, e.g. wpp2024:2024:data/wpp2024"
            )
        return cls(parts[0], int(parts[1]), Path(parts[2]))

    def quantiles(self) -> xr.DataArray:
        """(target, year, quantile)."""
        return read_wpp_quantiles(self.path) if self.path.is_dir() else read_quantile_table(self.path)


def external_scores(external: External, data: CountryData, horizon: int) -> xr.Dataset:
    """Case scores (target, jump_off, horizon, level) of an external projection against `data`."""
    placed = on_horizon_quantiles(external.quantiles(), external.jump_off, horizon)
    registered = registered_targets(data, [external.jump_off], horizon)
    return quantile_scores(placed.expand_dims(jump_off=[external.jump_off]), registered)


def evaluate(out: Path, data: CountryData, externals: Sequence[External] = ()) -> list[Path]:
    """Score the back-test in `out` (stochpop's paths, their leakage-free recalibration
    (`recalibration.recalibrated_scores`), the SSB-like lines, any `externals`) against `data` (all
    registered years) and write the report (`report.write_report`); returns the files written."""
    b = backtest_spec(out).backtest
    forecast, baseline = load_backtest(out)
    registered = registered_targets(data, list(b.jump_off_years), b.horizon)
    raw = sample_scores(forecast, registered, b.levels)
    cases = {
        "stochpop": raw,
        RECALIBRATED: recalibrated_scores(raw),
        "ssb-like": line_scores(baseline, registered, BASELINE_LEVEL),
    }
    for external in externals:
        if external.name in cases:
            raise ValueError(f"--external {external.name}: the name is taken")
        cases[external.name] = external_scores(external, data, b.horizon)
    return write_report(cases, forecast, baseline, registered, out)
