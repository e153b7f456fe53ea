"""What every component shares: fitting a NumPyro model (NUTS or SVI) into ArviZ InferenceData,
convergence diagnostics that warn loudly, saving and reloading posteriors, and drawing parameter sets.

A component is a small frozen dataclass of options with these methods (see `Component`):
`fit(data, settings) -> az.InferenceData`; `drivers(idata, years, paths, key) -> Drivers`, its forecast in
factored form (a few numbers per path and year); `values(fixed, step) -> dict` of one year's quantities
(rates by age, e0, ...) from them; and `forecast(idata, years, paths, key) -> xr.Dataset`, those values for
every year, labelled. A projection calls `values` inside its scan over years, so full rate arrays of
thousands of paths are never stored. Model code (NumPyro functions) and pure transforms live beside it in
the component's own module.

Forecast randomness is keyed by path: path i uses only `fold_in(key, i)` (`path_keys`), split into numbered
streams (`path_shocks`; stream 0 picks the path's posterior draw, `posterior_draws`). A path is therefore
the same whether it is drawn alone, in a chunk of 100 or among 10 000, which is what lets a projection cut
its paths into chunks for Dask without changing any result.
"""

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import arviz as az
import jax
import numpy as np
import numpyro
import xarray as xr
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, autoguide

from stochpop.data.container import CountryData


@dataclass(frozen=True)
class FitSettings:
    """How to fit: NUTS (default) or SVI, and their sizes. `seed` makes a fit reproducible."""

    method: str = "nuts"
    chains: int = 2
    warmup: int = 1000
    samples: int = 1000
    target_accept: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool = False
    """NUTS adapts a dense mass matrix (for models with strongly correlated parameters, e.g. splines)."""
    svi_steps: int = 10_000
    svi_learning_rate: float = 0.01
    svi_draws: int = 2000
    seed: int = 0
    progress_bar: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("nuts", "svi"):
            raise ValueError(f"FitSettings.method must be 'nuts' or 'svi', not {self.method!r}")


class FitWarning(UserWarning):
    """A fit failed its convergence diagnostics."""


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary over every scalar parameter (each element of a vector counts as one)."""

    max_rhat: float
    min_ess_bulk: float
    divergences: int
    worst_rhat: str
    worst_ess: str

    RHAT_MAX = 1.01
    ESS_MIN = 400

    @property
    def ok(self) -> bool:
        return self.max_rhat <= self.RHAT_MAX and self.min_ess_bulk >= self.ESS_MIN and self.divergences == 0

    def __str__(self) -> str:
        return (
            f"max R-hat {self.max_rhat:.4f} ({self.worst_rhat}), min bulk ESS {self.min_ess_bulk:.0f} "
            f"({self.worst_ess}), divergences {self.divergences}"
        )


class Drivers(NamedTuple):
    """A component's forecast of some paths in factored form (float32 JAX arrays, any pytrees).

    fixed: what a path keeps every year (its schedules, loadings, levels), leaves (draw, ...) or shared by
        every path (broadcasting against those);
    series: what moves from year to year (indices, totals), leaves (draw, year, ...).
    """

    fixed: Any
    series: Any


class Component(Protocol):
    """The interface every component family offers (hashable: a projection compiles with it as a static
    argument)."""

    name: str

    def fit(self, data: CountryData, settings: FitSettings = ...) -> az.InferenceData: ...

    def drivers(
        self, idata: az.InferenceData, years: Sequence[int], paths: "Paths", key: jax.Array
    ) -> Drivers: ...

    def values(self, fixed: Any, step: Any) -> dict[str, jax.Array]:
        """One year's quantities (pure JAX) from `Drivers.fixed` and `step`, the series of that year (leaves
        (draw, ...))."""
        ...

    def forecast(
        self, idata: az.InferenceData, years: Sequence[int], paths: "Paths", key: jax.Array
    ) -> xr.Dataset: ...


@partial(jax.jit, static_argnums=0)
def values_by_year(component: Component, drivers: Drivers) -> dict[str, jax.Array]:
    """`component.values` of every year of `drivers`, each value (draw, year, ...)."""
    return jax.vmap(component.values, in_axes=(None, 1), out_axes=1)(drivers.fixed, drivers.series)


def _worst(values: xr.Dataset, largest: bool) -> tuple[float, str]:
    """The extreme value over every element of every variable, and where it is."""
    best_value, best_name = (-np.inf if largest else np.inf), ""
    for name, array in values.data_vars.items():
        flat = np.asarray(array).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            continue
        value = flat.max() if largest else flat.min()
        if (value > best_value) if largest else (value < best_value):
            best_value, best_name = float(value), name
    return best_value, best_name


def diagnose(idata: az.InferenceData, var_names: Sequence[str] | None = None) -> Diagnostics:
    """R-hat, bulk ESS and divergences of a NUTS fit (`var_names`: the parameters to check)."""
    posterior = idata.posterior if var_names is None else idata.posterior[list(var_names)]
    max_rhat, worst_rhat = _worst(az.rhat(posterior), largest=True)
    min_ess, worst_ess = _worst(az.ess(posterior, method="bulk"), largest=False)
    divergences = int(idata.sample_stats["diverging"].sum()) if "sample_stats" in idata else 0
    return Diagnostics(max_rhat, min_ess, divergences, worst_rhat, worst_ess)


def _posterior_from_samples(
    samples: dict[str, np.ndarray], dims: dict[str, list[str]], coords: dict
) -> xr.Dataset:
    """SVI draws (draw, ...) -> a one-chain posterior dataset."""
    return az.from_dict(
        posterior={k: np.asarray(v)[None] for k, v in samples.items()}, dims=dims, coords=coords
    ).posterior


def fit_model(
    model: Callable[..., Any],
    model_kwargs: dict[str, Any],
    settings: FitSettings,
    coords: dict[str, Any],
    dims: dict[str, list[str]],
    constant_data: dict[str, xr.DataArray],
    check: Sequence[str] | None = None,
    attrs: dict[str, Any] | None = None,
) -> az.InferenceData:
    """Fit `model(**model_kwargs)` and return InferenceData with `posterior` (and `sample_stats` for NUTS).

    `constant_data` (whatever the forecast needs: ages, last year, observed inputs) is stored in the
    `constant_data` group. NUTS fits are diagnosed over `check` (default: every posterior variable); the
    result goes into `posterior.attrs["diagnostics"]` and a failing fit raises a `FitWarning`.
    """
    key = jax.random.PRNGKey(settings.seed)
    if settings.method == "nuts":
        chain_method = "parallel" if jax.local_device_count() >= settings.chains else "sequential"
        mcmc = MCMC(
            NUTS(
                model,
                target_accept_prob=settings.target_accept,
                max_tree_depth=settings.max_tree_depth,
                dense_mass=settings.dense_mass,
            ),
            num_warmup=settings.warmup,
            num_samples=settings.samples,
            num_chains=settings.chains,
            chain_method=chain_method,
            progress_bar=settings.progress_bar,
        )
        mcmc.run(key, **model_kwargs)
        idata = az.from_numpyro(mcmc, coords=coords, dims=dims)
        diagnostics = diagnose(idata, check)
        idata.posterior.attrs["diagnostics"] = json.dumps(asdict(diagnostics))
        if not diagnostics.ok:
            name = (attrs or {}).get("component", "model")
            warnings.warn(f"{name} fit failed its diagnostics: {diagnostics}", FitWarning, stacklevel=2)
    else:
        guide = autoguide.AutoMultivariateNormal(model)
        svi = SVI(model, guide, numpyro.optim.Adam(settings.svi_learning_rate), Trace_ELBO())
        result = svi.run(key, settings.svi_steps, progress_bar=settings.progress_bar, **model_kwargs)
        samples = guide.sample_posterior(
            jax.random.fold_in(key, 1), result.params, sample_shape=(settings.svi_draws,), **model_kwargs
        )
        idata = az.InferenceData(posterior=_posterior_from_samples(samples, dims, coords))
        idata.posterior.attrs["final_elbo_loss"] = float(result.losses[-1])
    idata.add_groups(constant_data=xr.Dataset(constant_data))
    idata.posterior.attrs.update({"fit_method": settings.method, **(attrs or {})})
    return idata


def constant_values(idata: az.InferenceData, name: str) -> np.ndarray:
    """The values of `name` in a fit's `constant_data` group."""
    return np.asarray(idata.constant_data[name].values)


def fit_period(idata: az.InferenceData) -> tuple[int, int]:
    """First and last year of the data a component was fitted to (its `constant_data` year coordinate)."""
    years = idata.constant_data["year"].values
    return int(years[0]), int(years[-1])


def read_diagnostics(idata: az.InferenceData) -> Diagnostics | None:
    """The diagnostics stored with a NUTS fit, or None for SVI."""
    stored = idata.posterior.attrs.get("diagnostics")
    return None if stored is None else Diagnostics(**json.loads(stored))


Paths = int | Sequence[int] | np.ndarray
"""Which forecast paths to draw: n (paths 0..n-1) or their indices."""


def path_indices(paths: Paths) -> np.ndarray:
    """Path indices (n,) int64 from n or a sequence of non-negative indices."""
    if np.ndim(paths) == 0:
        if int(paths) < 1:
            raise ValueError(f"the number of paths must be at least 1, not {paths}")
        return np.arange(int(paths))
    index = np.asarray(paths)
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer) or index.min() < 0:
        raise ValueError("paths must be a count or a non-empty 1-D array of non-negative integer indices")
    return index.astype(np.int64)


@jax.jit
def _fold_in_each(key: jax.Array, data: jax.Array) -> jax.Array:
    """fold_in(key, d) for every d of `data` (n,): (n, *key.shape)."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, data)


def path_keys(key: jax.Array, paths: Paths) -> jax.Array:
    """One PRNG key per path (n, *key.shape): fold_in(key, path index)."""
    return _fold_in_each(key, jax.numpy.asarray(path_indices(paths), dtype=jax.numpy.uint32))


def path_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...], df: Any = None) -> jax.Array:
    """Standard shocks (n, *shape) from each path's key `stream` (>= 1): normal, or Student-t with `df`
    degrees of freedom (a scalar or one per path, (n,); `student_t`). Path i's shocks depend on keys[i]
    alone."""
    if stream < 1:
        raise ValueError("stream 0 is reserved for posterior_draws")
    if df is None:
        return _normal_shocks(keys, stream, shape)
    return _t_shocks(
        keys, stream, shape, jax.numpy.broadcast_to(jax.numpy.asarray(df, float), keys.shape[:1])
    )


@partial(jax.jit, static_argnums=(1, 2))
def _normal_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...]) -> jax.Array:
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)
    return jax.vmap(lambda k: jax.random.normal(k, shape))(keys)


@partial(jax.jit, static_argnums=(1, 2))
def _t_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...], df: jax.Array) -> jax.Array:
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)
    return jax.vmap(lambda k, d: student_t(k, d, shape))(keys, df)


def student_t(key: jax.Array, df: Any, shape: tuple[int, ...]) -> jax.Array:
    """Student-t variates with `df` degrees of freedom (any real df > 0, broadcasting against `shape`).

    Bailey's (1994) polar method with its point in the unit disk drawn directly, squared radius W uniform on
    (0, 1] and angle A uniform: T = cos(A) sqrt(df (W^(-2/df) - 1)). Exact, and without the rejection loop
    of `jax.random.t`'s gamma sampler, so it compiles and runs several times faster.
    """
    radius_key, angle_key = jax.random.split(key)
    w = 1.0 - jax.random.uniform(radius_key, shape)
    angle = (2.0 * np.pi) * jax.random.uniform(angle_key, shape)
    return jax.numpy.cos(angle) * jax.numpy.sqrt(df * jax.numpy.expm1(-2.0 / df * jax.numpy.log(w)))


def posterior_draws(
    idata: az.InferenceData, keys: jax.Array, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """One joint parameter set per path key (n, ...) from the posterior (chains pooled, drawn uniformly and
    independently, so with replacement), each variable (`names`, default all) with a leading path axis."""
    posterior = idata.posterior if names is None else idata.posterior[list(names)]
    available = posterior.sizes["chain"] * posterior.sizes["draw"]
    index = np.asarray(_draw_indices(keys, available))
    draws = {}
    for name, var in posterior.data_vars.items():
        values = np.asarray(var.transpose("chain", "draw", ...).values)
        draws[name] = values.reshape(available, *values.shape[2:])[index]
    return draws


@partial(jax.jit, static_argnums=1)
def _draw_indices(keys: jax.Array, available: int) -> jax.Array:
    """Each path's posterior draw (n,) in 0..available-1, from its key's stream 0."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, 0)
    return jax.vmap(lambda k: jax.random.randint(k, (), 0, available))(keys)


def save_posterior(idata: az.InferenceData, path: str | Path) -> Path:
    """Write a fit to netCDF (all groups) so a projection need not refit."""
    path = Path(path)
    idata.to_netcdf(str(path))
    return path


def load_posterior(path: str | Path) -> az.InferenceData:
    """Reload a fit written by `save_posterior`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved posterior")
    idata = az.from_netcdf(str(path))
    for group in idata.groups():
        getattr(idata, group).load()  # read once, not lazily at every forecast
    return idata
