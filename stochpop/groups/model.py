"""The grouped model of a run: its fitted group components (saved posteriors), the grouped jump-off stock,
and each path's group inputs drawn from them (`paths.GroupFixed`, `paths.GroupStep`).

Parts (`PARTS`; one posterior file each): fertility (`groups.fertility`: relative TFR by country group and
duration class, father shares), emigration (`groups.emigration`: business-cycle level, group x duration,
sex and age effects), immigration (`groups.immigration`: the kinds' shares of the immigrations and their
age-sex schedules). Each part draws from fold_in(PRNGKey(seed), `STREAMS[part]`) (the national components
use streams 0-2, the regional parts 100 on), and every path from fold_in(that key, path index)
(`randomness.path_keys`), so a path's groups do not depend on its chunk; so does each path's draw of the
grouped jump-off stock.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.components.posterior import cached_posterior
from stochpop.components.randomness import Paths, path_keys
from stochpop.demography.groups import GroupCells
from stochpop.groups.emigration import emigration_drivers
from stochpop.groups.fertility import group_fertility_paths
from stochpop.groups.immigration import immigration_shares
from stochpop.groups.paths import GroupFixed, GroupStep, arrival_schedules, immigrant_shares

PARTS = ("fertility", "emigration", "immigration")
STREAMS = {part: 200 + i for i, part in enumerate((*PARTS, "jump_off"))}
"""The key stream of each part, and of the paths' jump-off draws."""


@dataclass(frozen=True)
class GroupModel:
    """A run's group components; picklable (posteriors travel as file names).

    start: draws of the grouped 1 January jump-off stock (K, C, 2, A) at kernel ages, persons (the
    reconstruction's spread: each path starts from one, `start_draws`); max_age: the last age with
    migration (`KernelConfig.migration_max_age`).
    """

    cells: GroupCells
    start: np.ndarray
    posteriors: Mapping[str, str]
    seed: int
    max_age: int | None

    def key(self, part: str) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), STREAMS[part])

    def start_draws(self, paths: Paths) -> np.ndarray:
        """The jump-off draw (n,) of each of `paths`, uniform over the K draws, from the path's own key."""
        keys = path_keys(self.key("jump_off"), paths)
        pick = jax.vmap(lambda k: jax.random.randint(k, (), 0, self.start.shape[0]))(keys)
        return np.asarray(pick)

    def inputs(self, paths: Paths, years: np.ndarray) -> tuple[GroupFixed, GroupStep]:
        """The group inputs of `paths` (a count or path indices) for the event `years`: fixed (n, ...) and
        the yearly series (leaves (year, n, ...)), float32."""
        fertility = group_fertility_paths(
            cached_posterior(self.posteriors["fertility"]), years, paths, self.key("fertility"), self.cells
        )
        emigration = emigration_drivers(
            cached_posterior(self.posteriors["emigration"]), years, paths, self.key("emigration"), self.cells
        )
        immigration = cached_posterior(self.posteriors["immigration"])
        shares = immigration_shares(immigration, years, paths, self.key("immigration"))
        schedule = immigration["constant_data"]["schedule"].transpose("kind", "sex", "age").values
        fixed = GroupFixed(
            cell_log_odds=_float32(emigration.cell_log_odds),
            sex_log_odds=_float32(emigration.sex_log_odds),
            age_offset=_float32(emigration.offset),
            destination=_float32(self.cells.birth_destination(fertility["share_immigrant_father"].values)),
            arrivals=_float32(arrival_schedules(schedule, self.cells, self.max_age)),
        )
        step = GroupStep(
            fertility_factor=_float32(fertility["fertility_factor"].transpose("year", "path", "cell").values),
            emigration_level=_float32(emigration.level.T),
            immigrant_shares=_float32(np.moveaxis(immigrant_shares(shares), 1, 0)),
        )
        return fixed, step


def _float32(values: np.ndarray) -> jax.Array:
    return jnp.asarray(values, jnp.float32)
