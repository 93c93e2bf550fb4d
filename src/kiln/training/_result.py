"""``TuningResult``: what a study found, and the one call that turns it into a model.

The result reads the study as stored, so it is the same whether the trials
ran here, in worker processes or on Ray. ``fit_best`` trains with the best
parameters in a child run of the study's run, logs the model, registers it
and moves an alias through the registry's gate: the tuned model reaches
production by the same door as any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, NotFound

if TYPE_CHECKING:
    import optuna

    from kiln.context import Context
    from kiln.registry import AliasEvent, ModelVersion
    from kiln.tracking import ActiveRun
    from kiln.training._studies import StudySummary, TrialSummary

__all__ = ["BestModel", "TuningResult"]

#: The report of the plots on the study's run.
REPORT_PATH = "tuning/report.html"


@dataclass(frozen=True)
class BestModel:
    """The model trained with the best parameters: its run, its URI, its version and alias move."""

    run_id: str
    model_uri: str
    version: ModelVersion | None
    alias: AliasEvent | None


class TuningResult:
    """A study's outcome: its trials, the best one(s), importances, plots and report."""

    def __init__(self, context: Context, project: str, summary: StudySummary) -> None:
        self.context = context
        self.project = project
        self.summary = summary

    @classmethod
    def load(cls, context: Context, project: str, name: str) -> TuningResult:
        from kiln.training._studies import get_study

        return cls(context, project, context.db.read(get_study, project, name))

    def __repr__(self) -> str:
        return f"<TuningResult {self.name!r}: {self.summary.n_trials} trials>"

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def run_id(self) -> str | None:
        """The study's run (the parent of the trials' runs)."""
        return self.summary.parent_run_id

    @property
    def trials(self) -> list[TrialSummary]:
        return self.summary.trials

    @property
    def best_trials(self) -> list[TrialSummary]:
        """The best complete trial, or the Pareto front of a study with several directions."""
        return self.summary.best

    @property
    def best_trial(self) -> TrialSummary:
        if len(self.summary.directions) > 1:
            raise Conflict(
                f"study {self.name!r} has {len(self.summary.directions)} directions: there is "
                "no single best trial; read best_trials (the Pareto front)"
            )
        if not self.summary.best:
            raise NotFound(f"no trial of study {self.name!r} completed")
        return self.summary.best[0]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None
        return value

    def study(self) -> optuna.Study:
        """The study as an ``optuna.Study`` (for Optuna's own analysis and plots)."""
        import optuna

        from kiln.training._storage import KilnStorage

        return optuna.load_study(
            study_name=self.name, storage=KilnStorage(self.context, self.project)
        )

    def importances(self, objective: int = 0) -> dict[str, float]:
        """Each parameter's share of the variation in objective ``objective`` (fANOVA).

        Empty until two trials completed with the same parameters. Without
        scikit-learn (which fANOVA needs) PED-ANOVA is used.
        """
        from kiln.training._report import importances

        return importances(self.study(), objective)

    def record(self, parent: ActiveRun, *, report: bool = True) -> None:
        """Put the best trial and (with ``report``) importances and the report on the study run."""
        from kiln.tracking import log_metrics, log_text, set_tags
        from kiln.training._report import importances, render_report

        done = sum(self.summary.states.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAIL"))
        tags = {"kiln.tune.trials": str(self.summary.n_trials)}
        metrics: dict[str, float] = {}
        if self.summary.best:
            names = self.summary.metric_names or []
            if len(self.summary.directions) == 1:
                best = self.summary.best[0]
                key = f"best_{names[0]}" if names else "best_value"
                metrics[key] = float(best.value or 0.0)
                tags["kiln.tune.best_trial"] = str(best.number)
                tags["kiln.tune.best_params"] = json.dumps(best.params, default=str)[:5000]
            tags["kiln.tune.pareto_front"] = ",".join(str(t.number) for t in self.summary.best)
        study = self.study() if report else None
        if study is not None:
            for objective in range(len(self.summary.directions)):
                suffix = "" if len(self.summary.directions) == 1 else f".{objective}"
                for param, share in importances(study, objective).items():
                    metrics[f"importance{suffix}.{param}"] = share
        set_tags(tags, run_id=parent.id)
        if metrics:
            log_metrics(metrics, step=done, run_id=parent.id)
        if study is not None:
            log_text(render_report(self.summary, study), REPORT_PATH, run_id=parent.id)

    def fit_best(
        self,
        train: Callable[[dict[str, Any]], Any],
        *,
        register: str | None = None,
        alias: str | None = None,
        input_example: Any = None,
        note: str = "",
        **log_options: Any,
    ) -> BestModel:
        """Train with the best parameters, log the model, register it, move ``alias`` past the gate.

        ``train(params)`` runs inside a new child run of the study's run (log
        its evaluation metrics there: the gate reads them) and returns the
        model. When the gate refuses, ``Conflict`` names the failed checks;
        the version stays registered.
        """
        from kiln.errors import InvalidInput
        from kiln.models import log_model
        from kiln.registry import register_model, set_alias
        from kiln.tracking import log_params, start_run

        if alias is not None and register is None:
            raise InvalidInput("an alias needs the registered model: pass register=", field="alias")
        best = self.best_trial
        with start_run(
            parent_run_id=self.run_id,
            run_name=f"{self.name}-best",
            tags={"kiln.study": self.name, "kiln.tune.best_trial": str(best.number)},
        ) as run:
            log_params(best.params)
            model = train(dict(best.params))
            logged = log_model(model, "model", input_example=input_example, **log_options)
        version = None
        event = None
        if register is not None:
            version = register_model(
                logged.uri,
                register,
                description=f"trained with the best parameters of study {self.name!r}",
                tags={"kiln.study": self.name, "kiln.tune.best_trial": str(best.number)},
            )
            if alias is not None:
                event = set_alias(
                    register,
                    alias,
                    version.version,
                    note=note or f"best of study {self.name} (trial {best.number})",
                )
        return BestModel(run.id, logged.uri, version, event)
