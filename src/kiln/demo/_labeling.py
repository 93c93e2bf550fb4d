"""The demo's labeling stage: active learning on scikit-learn's digits, against random picks.

Two parts. A simulation first: the same classifier learns from labels
chosen by margin sampling and by chance, over three seeds, and the curves
go to an HTML plot. Then the real loop on Kiln's records: the digits are a
dataset version, a labeling project holds one task per image, a model
trained on the labels so far picks the next batch (``next_batch``) and
pre-annotates it, a stand-in annotator (the true digit) answers in the
queue, the model is trained again; the labels are exported as a new
dataset version and the best model is registered.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.demo._run import DemoState

PROJECT = "digits"
MODEL = "digits-classifier"
ANNOTATOR = "demo-annotator"
INITIAL = 20
BATCH = 20
ROUNDS = 4


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))


def _simulate(state: DemoState, pixels: Any, digits: Any) -> tuple[Any, Any]:
    from kiln.labeling import compare_strategies, labels_to_reach, plot_learning_curves

    curves = compare_strategies(
        pixels,
        digits,
        make_model=_classifier,
        strategies=("margin",),
        seeds=(0, 1, 2),
        initial=INITIAL,
        batch=BATCH,
        rounds=10,
    )
    report = state.context.settings.home / "demo" / "reports" / "active-vs-random.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    plot_learning_curves(curves, html=report, title="Digits: margin sampling against random")
    active, random = (next(c for c in curves if c.name == n) for n in ("margin", "random"))
    reach = {c.name: labels_to_reach(c, 0.9) for c in (active, random)}
    return report, reach


def _answer(frame: Any, count: int) -> None:
    """The stand-in annotator: answers the next ``count`` tasks of the queue with the truth."""
    from kiln import labeling

    for _ in range(count):
        task = labeling.next_task(PROJECT, annotator=ANNOTATOR)
        if task is None:
            return
        digit = str(int(frame.loc[int(task.item_key), "digit"]))
        labeling.submit(PROJECT, task.id, digit, annotator=ANNOTATOR, seconds=3.0)


def _train(frame: Any, fields: list[str], round_: int) -> tuple[str, float]:
    """Fit on the labels so far, log and register it; its URI and holdout accuracy."""
    import kiln
    from kiln import labeling

    exported = labeling.export(PROJECT, dataset=f"{PROJECT}-labels")
    assert not isinstance(exported, int)
    labelled = kiln.data.load(f"{PROJECT}-labels@{exported.version}")
    holdout = frame.iloc[-300:]
    model = _classifier().fit(labelled[fields], labelled["label"])
    accuracy = float(model.score(holdout[fields], holdout["digit"].astype(str)))
    with kiln.start_run(experiment="digits-labeling", run_name=f"round-{round_}"):
        kiln.log_params({"labels": len(labelled), "round": round_})
        kiln.log_metric("accuracy", accuracy)
        logged = kiln.log_model(model, "model", input_example=holdout[fields].head(5))
    version = kiln.register_model(logged.uri, MODEL)
    return f"models:/{MODEL}/{version.version}", accuracy


def stage_labeling(state: DemoState) -> str:
    """Simulate active against random learning, then run the loop through a labeling project."""
    from sklearn.datasets import load_digits

    import kiln
    from kiln import labeling
    from kiln.demo import DEMO_PROJECT
    from kiln.errors import AlreadyExists

    data = load_digits(as_frame=True)
    fields = list(data.data.columns)
    frame = data.data.assign(digit=data.target, image_id=range(len(data.target)))
    report, reach = _simulate(state, data.data.to_numpy(), data.target.to_numpy())

    pool = frame.iloc[:-300]  # the last 300 images are the holdout, never labeled
    version = kiln.data.register_dataset(pool.drop(columns=["digit"]), "digits")
    with contextlib.suppress(AlreadyExists):  # a re-run goes on with the labels it has
        labeling.create_project(
            PROJECT,
            {"task_type": "classification", "data_kind": "tabular", "fields": fields,
             "labels": [str(d) for d in range(10)],
             "instructions": "Which digit is this 8-by-8 image?"},
            dataset=f"digits@{version.version}",
            key_column="image_id",
        )  # fmt: skip
    _answer(frame, INITIAL)
    model, accuracy = _train(frame, fields, 0)
    for round_ in range(1, ROUNDS + 1):
        labeling.next_batch(PROJECT, model, BATCH, strategy="margin")
        _answer(frame, BATCH)
        model, accuracy = _train(frame, fields, round_)
    counts = labeling.get_project(PROJECT).counts
    state.look_here += [
        f"active against random learning (open in a browser): {report}",
        f"the labeling queue: kiln --project {DEMO_PROJECT} labeling show {PROJECT}",
    ]
    return (
        f"simulated on digits: margin sampling reaches 90 % accuracy with {reach['margin']} "
        f"labels, random with {reach['random']} ({report}); then {ROUNDS} rounds of "
        f"next_batch over {counts['tasks']} tasks: {counts.get('complete', 0)} labeled, "
        f"{MODEL} at {accuracy:.1%} on 300 held-out images"
    )
