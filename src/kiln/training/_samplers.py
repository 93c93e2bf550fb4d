"""Samplers and pruners by name, checked before the study starts.

Each worker builds its own from the same choice, seeded apart
(``seed + worker``): workers that shared a seed would suggest the same
parameters. A sampler or pruner object given instead is copied to each
worker and, past the first, reseeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.training._space import grid_of

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

__all__ = ["PRUNERS", "SAMPLERS", "PrunerChoice", "SamplerChoice"]

SAMPLERS = ("tpe", "random", "cmaes", "grid", "nsga2")
PRUNERS = ("median", "successive_halving", "hyperband", "none")


@dataclass(frozen=True)
class SamplerChoice:
    """A sampler by name (or an Optuna sampler object), built per worker."""

    sampler: str | BaseSampler
    seed: int | None = None
    grid: Mapping[str, list[Any]] | None = None

    @classmethod
    def check(
        cls,
        sampler: Any,
        *,
        seed: int | None,
        objectives: int,
        distributions: Mapping[str, BaseDistribution] | None,
    ) -> SamplerChoice:
        from optuna.samplers import BaseSampler

        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidInput(f"seed must be an integer, got {seed!r}", field="seed")
        if isinstance(sampler, BaseSampler):
            return cls(sampler, seed)
        if not isinstance(sampler, str) or sampler not in SAMPLERS:
            raise InvalidInput(
                f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)} (or an Optuna sampler)",
                field="sampler",
            )
        if sampler == "cmaes" and objectives > 1:
            raise InvalidInput(
                "the cmaes sampler optimizes one objective; use tpe or nsga2 for several",
                field="sampler",
            )
        grid = None
        if sampler == "grid":
            if distributions is None:
                raise InvalidInput(
                    "the grid sampler needs a search space (space=...) to enumerate",
                    field="sampler",
                )
            grid = grid_of(distributions)
        return cls(sampler, seed, grid)

    def build(self, worker: int = 0) -> BaseSampler:
        import copy

        from optuna import samplers

        seed = None if self.seed is None else self.seed + worker
        if not isinstance(self.sampler, str):
            built = copy.deepcopy(self.sampler)
            if worker:
                built.reseed_rng()
            return built
        if self.sampler == "random":
            return samplers.RandomSampler(seed=seed)
        if self.sampler == "cmaes":
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if self.sampler == "grid":
            assert self.grid is not None
            return _grid_sampler(dict(self.grid), seed)
        if self.sampler == "nsga2":
            return samplers.NSGAIISampler(seed=seed)
        return samplers.TPESampler(seed=seed)

    @property
    def name(self) -> str:
        return self.sampler if isinstance(self.sampler, str) else type(self.sampler).__name__


def _grid_sampler(grid: dict[str, list[Any]], seed: int | None) -> BaseSampler:
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        """Optuna's grid sampler, minus stopping the study: the budget (the grid's size) does."""

        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            return None

    return Grid(grid, seed=seed)


@dataclass(frozen=True)
class PrunerChoice:
    """A pruner by name (or an Optuna pruner object); None prunes nothing."""

    pruner: str | BasePruner

    @classmethod
    def check(cls, pruner: Any, *, objectives: int) -> PrunerChoice:
        from optuna.pruners import BasePruner

        if pruner is None:
            pruner = "none"
        if not isinstance(pruner, BasePruner) and (
            not isinstance(pruner, str) or pruner not in PRUNERS
        ):
            raise InvalidInput(
                f"pruner {pruner!r} is not one of {', '.join(PRUNERS)} (or an Optuna pruner)",
                field="pruner",
            )
        if objectives > 1 and pruner != "none":
            raise InvalidInput(
                "pruning compares one intermediate value; a study with several directions "
                "cannot prune (pass pruner=None)",
                field="pruner",
            )
        return cls(pruner)

    def build(self) -> BasePruner:
        import copy

        from optuna import pruners

        if not isinstance(self.pruner, str):
            return copy.deepcopy(self.pruner)
        if self.pruner == "median":
            return pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if self.pruner == "successive_halving":
            return pruners.SuccessiveHalvingPruner()
        if self.pruner == "hyperband":
            return pruners.HyperbandPruner()
        return pruners.NopPruner()

    @property
    def name(self) -> str:
        return self.pruner if isinstance(self.pruner, str) else type(self.pruner).__name__
