"""Fitting a NumPyro model (NUTS or SVI) into ArviZ InferenceData, and convergence diagnostics that warn
loudly (`FitWarning`)."""

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, autoguide, init_to_uniform

from stochpop.components.settings import FitSettings


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
            best_value, best_name = float(value), str(name)
    return best_value, best_name


def diagnose(idata: az.InferenceData, var_names: Sequence[str] | None = None) -> Diagnostics:
    """R-hat, bulk ESS and divergences of a NUTS fit (`var_names`: the parameters to check)."""
    posterior = idata["posterior"] if var_names is None else idata["posterior"][list(var_names)]
    # Parameters fixed by construction (e.g. a constrained element) have no variance: their R-hat is NaN
    # (numpy warns of 0 / 0), which `_worst` skips.
    with np.errstate(invalid="ignore", divide="ignore"):
        max_rhat, worst_rhat = _worst(az.rhat(posterior), largest=True)
        min_ess, worst_ess = _worst(az.ess(posterior, method="bulk"), largest=False)
    divergences = int(idata["sample_stats"]["diverging"].sum()) if "sample_stats" in idata else 0
    return Diagnostics(max_rhat, min_ess, divergences, worst_rhat, worst_ess)


def _posterior_from_samples(
    samples: dict[str, np.ndarray], dims: dict[str, list[str]], coords: dict
) -> xr.Dataset:
    """SVI draws (draw, ...) -> a one-chain posterior dataset."""
    return az.from_dict(
        posterior={k: np.asarray(v)[None] for k, v in samples.items()}, dims=dims, coords=coords
    ).posterior


def _one_chain_at_a_time(single_chain: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A NumPyro `chain_method`: each chain compiled whole (initialisation and draws in one jit) and run to
    its end before the next starts, on the default device. Chains run concurrently on CPU host devices
    ("parallel", pmap) make the process's memory grow with the NUTS iterations (the internal-migration
    model: ~10 MB an iteration, 22 GB at 1000 + 1500); one at a time it stays flat."""
    compiled = jax.jit(single_chain)

    def run(per_chain: Any) -> Any:
        chains = jax.tree.leaves(per_chain)[0].shape[0]
        results = [
            jax.block_until_ready(compiled(jax.tree.map(lambda x, i=i: x[i], per_chain)))
            for i in range(chains)
        ]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *results)

    return run


def fit_model(
    model: Callable[..., Any],
    model_kwargs: dict[str, Any],
    settings: FitSettings,
    coords: dict[str, Any],
    dims: dict[str, list[str]],
    constant_data: dict[str, xr.DataArray],
    check: Sequence[str] | None = None,
    attrs: dict[str, Any] | None = None,
    parallel_chains: bool = True,
    init_strategy: Callable[..., Any] = init_to_uniform,
) -> az.InferenceData:
    """Fit `model(**model_kwargs)` and return InferenceData with `posterior` (and `sample_stats` for NUTS).

    `constant_data` (whatever the forecast needs: ages, last year, observed inputs) is stored in the
    `constant_data` group. NUTS fits are diagnosed over `check` (default: every posterior variable); the
    result goes into `posterior.attrs["diagnostics"]` and a failing fit raises a `FitWarning`.
    `parallel_chains`: NUTS chains run in parallel where there is a device for each; False runs them one
    at a time (`_one_chain_at_a_time`: slower, for models whose memory would otherwise grow with the
    iterations). `init_strategy`: where NUTS chains start (NumPyro's; default uniform in (-2, 2) on the
    unconstrained scale).
    """
    key = jax.random.PRNGKey(settings.seed)
    if settings.method == "nuts":
        chain_method: str | Callable = (
            "parallel" if jax.local_device_count() >= settings.chains else "sequential"
        )
        if not parallel_chains and settings.chains > 1:
            chain_method = _one_chain_at_a_time
        mcmc = MCMC(
            NUTS(
                model,
                target_accept_prob=settings.target_accept,
                max_tree_depth=settings.max_tree_depth,
                dense_mass=settings.dense_mass,
                init_strategy=init_strategy,
            ),
            num_warmup=settings.warmup,
            num_samples=settings.samples,
            num_chains=settings.chains,
            chain_method=chain_method,
            progress_bar=settings.progress_bar,
        )
        mcmc.run(key, **model_kwargs)
        # no log_likelihood group: nothing reads it, and it costs a vectorised model pass per fit
        idata = az.from_numpyro(mcmc, coords=coords, dims=dims, log_likelihood=False)
        diagnostics = diagnose(idata, check)
        idata["posterior"].attrs["diagnostics"] = json.dumps(asdict(diagnostics))
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
        idata["posterior"].attrs["final_elbo_loss"] = float(result.losses[-1])
    idata.add_groups(constant_data=xr.Dataset(constant_data))
    idata["posterior"].attrs.update({"fit_method": settings.method, **(attrs or {})})
    return idata


def constant_values(idata: az.InferenceData, name: str) -> np.ndarray:
    """The values of `name` in a fit's `constant_data` group."""
    return np.asarray(idata["constant_data"][name].values)


def fit_period(idata: az.InferenceData) -> tuple[int, int]:
    """First and last year of the data a component was fitted to (its `constant_data` year coordinate)."""
    years = idata["constant_data"]["year"].values
    return int(years[0]), int(years[-1])


def read_diagnostics(idata: az.InferenceData) -> Diagnostics | None:
    """The diagnostics stored with a NUTS fit, or None for SVI."""
    stored = idata["posterior"].attrs.get("diagnostics")
    return None if stored is None else Diagnostics(**json.loads(stored))


def refit_if_unmixed(
    fit: Callable[[FitSettings], az.InferenceData], settings: FitSettings, restart_rhat: float | None
) -> az.InferenceData:
    """`fit(settings)`; if it is a NUTS fit whose largest R-hat exceeds `restart_rhat` (chains that did
    not mix, typically one stuck after a failed adaptation), `fit` once more with the next seed, keeping
    the fit with the lower R-hat. The seed used is recorded as posterior attribute `fit_seed`."""
    first = fit(settings)
    first["posterior"].attrs["fit_seed"] = settings.seed
    diagnosed = read_diagnostics(first)
    if restart_rhat is None or diagnosed is None or diagnosed.max_rhat <= restart_rhat:
        return first
    retry = fit(replace(settings, seed=settings.seed + 1))
    retry["posterior"].attrs["fit_seed"] = settings.seed + 1
    again = read_diagnostics(retry)  # the same method as the first: NUTS, so diagnosed
    return retry if again is not None and again.max_rhat < diagnosed.max_rhat else first


def interval_share(observed: np.ndarray, replicates: np.ndarray, level: float) -> float:
    """Share of `observed` values (...) inside the central `level` interval of `replicates` (draw, ...)."""
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((observed >= lo) & (observed <= hi)))
