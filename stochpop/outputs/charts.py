"""Fan charts and population pyramids (matplotlib), from paths with a `draw` dimension."""

from collections.abc import Hashable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.ticker import FuncFormatter, MaxNLocator

BANDS: tuple[float, ...] = (0.95, 0.8, 0.5)
BAND_COLOUR = "#1f5a96"
HISTORY_COLOUR = "#222222"


def fan_chart(
    ax: plt.Axes,
    paths: xr.DataArray,
    history: xr.DataArray | None = None,
    bands: Sequence[float] = BANDS,
    time_dim: str | None = None,
) -> plt.Axes:
    """Draw central `bands` (widest first) and the median of `paths` (draw, time), and the observed
    `history` (time) as a line."""
    time: Hashable = time_dim or next(d for d in paths.dims if d != "draw")
    t = paths[time].values
    for i, level in enumerate(sorted(bands, reverse=True)):
        low, high = paths.quantile([(1 - level) / 2, (1 + level) / 2], dim="draw", skipna=False).values
        ax.fill_between(t, low, high, color=BAND_COLOUR, alpha=0.18 + 0.17 * i, lw=0, label=f"{level:.0%}")
    ax.plot(t, paths.median("draw").values, color=BAND_COLOUR, lw=1.6, label="median")
    if history is not None:
        hist_dim = history.dims[0]
        ax.plot(history[hist_dim].values, history.values, color=HISTORY_COLOUR, lw=1.4, label="observed")
    ax.grid(alpha=0.3, lw=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def pyramid(
    ax: plt.Axes, population: xr.DataArray, bands: Sequence[float] = BANDS, max_age: int = 105
) -> plt.Axes:
    """Population pyramid of one year, `population` (draw, sex, age): men left, women right; median bars
    (single years of age) in a light tint outlined by a step line, the central `bands` as nested envelopes
    in the sex's colour."""
    population = population.sel(age=slice(0, max_age))
    ages = population["age"].values
    edges = np.append(ages, ages[-1] + 1)  # each age's bar spans [x, x + 1)
    for sex, sign, colour in (("male", -1, "#1f5a96"), ("female", 1, "#b03a48")):
        by_age = population.sel(sex=sex)
        median = by_age.median("draw").values
        ax.stairs(sign * median, edges, fill=True, color=colour, alpha=0.12, orientation="horizontal", lw=0)
        for i, level in enumerate(sorted(bands, reverse=True)):
            low, high = by_age.quantile([(1 - level) / 2, (1 + level) / 2], dim="draw", skipna=False).values
            ax.stairs(
                sign * high,
                edges,
                baseline=sign * low,
                fill=True,
                color=colour,
                alpha=0.18 + 0.17 * i,
                orientation="horizontal",
                lw=0,
            )
        ax.stairs(sign * median, edges, baseline=None, orientation="horizontal", color=colour, lw=1.0)
    widest = max(bands) if bands else 0.5
    limit = float(population.quantile((1 + widest) / 2, dim="draw", skipna=False).max()) * 1.05
    ax.set_xlim(-limit, limit)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, symmetric=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{abs(x) / 1000:g}k" if x else "0"))
    ax.set_xlabel("persons by single year of age")
    ax.set_ylabel("age")
    ax.text(0.02, 0.97, "men", transform=ax.transAxes, va="top")
    ax.text(0.98, 0.97, "women", transform=ax.transAxes, va="top", ha="right")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def save(fig: plt.Figure, path_without_suffix: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save a figure in each format (PNG at 200 dpi) and close it."""
    written = []
    for fmt in formats:
        path = path_without_suffix.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=200 if fmt == "png" else None, bbox_inches="tight")
        written.append(path)
    plt.close(fig)
    return written
