"""Iterative proportional fitting of a non-negative array to margins over classes of its axes.

A margin is a `Margin`: for some axes of the array, a class label per index (e.g. single ages -> age
groups, durations -> duration classes, country groups -> world regions), and the target totals over those
classes (summed over every other axis). IPF rescales the array in turn to each margin; with consistent
margins (equal grand totals, no target on an all-zero class) it converges to the array closest to the seed
in the Kullback-Leibler sense that has every margin exactly (Deming and Stephan 1940), keeping zeros zero.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Margin:
    """Targets over classes of some axes (increasing): `labels[i]` gives, for axis `axes[i]` of the
    array, the class (0..k_i - 1) of each index; `target` has shape (k_1, k_2, ...)."""

    axes: tuple[int, ...]
    labels: tuple[np.ndarray, ...]
    target: np.ndarray

    def __post_init__(self) -> None:
        if list(self.axes) != sorted(set(self.axes)) or len(self.labels) != len(self.axes):
            raise ValueError(f"margin axes {self.axes} must increase, one label array each")

    def indicators(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        """One-hot (n_axis, k) matrices, one per axis of the margin."""
        return [np.eye(int(self.target.shape[i]))[np.asarray(labels)] for i, labels in enumerate(self.labels)]

    def totals(self, array: np.ndarray) -> np.ndarray:
        """The array's totals over the margin's classes (k_1, k_2, ...)."""
        kept = array.sum(axis=tuple(a for a in range(array.ndim) if a not in self.axes))
        for i, indicator in enumerate(self.indicators(array.shape)):
            kept = np.moveaxis(np.tensordot(np.moveaxis(kept, i, -1), indicator, axes=1), -1, i)
        return kept


def ipf(seed: np.ndarray, margins: list[Margin], tol: float = 1e-10, max_iter: int = 2000) -> np.ndarray:
    """`seed` (any shape, >= 0) fitted to every margin; stops when the largest absolute margin error is
    below `tol` times the grand total, or after `max_iter` sweeps (then the margins hold only nearly: the
    caller checks them)."""
    fitted = np.asarray(seed, dtype=float).copy()
    scale = max(float(np.abs(m.target).sum()) for m in margins)
    for _ in range(max_iter):
        for margin in margins:
            totals = margin.totals(fitted)
            factor = np.divide(margin.target, totals, out=np.zeros_like(totals), where=totals > 0)
            for i, indicator in enumerate(margin.indicators(fitted.shape)):
                factor = np.moveaxis(np.tensordot(np.moveaxis(factor, i, -1), indicator.T, axes=1), -1, i)
            shape = [fitted.shape[a] if a in margin.axes else 1 for a in range(fitted.ndim)]
            fitted = fitted * factor.reshape(shape)
        if max(float(np.abs(m.totals(fitted) - m.target).max()) for m in margins) < tol * scale:
            break
    return fitted
