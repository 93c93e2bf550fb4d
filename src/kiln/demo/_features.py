"""The demo's feature-store stage: features defined once, a training set, the same values online.

From the reference transactions it builds two feature tables with pandas
(whole columns, no row loops) and writes them as Parquet under
``$KILN_HOME/demo/features`` beside a copy of ``feature_definitions.py``;
applies the definitions; builds a point-in-time-correct training set through
the service ``fraud_features`` inside a tracked run; trains and registers
``fraud-online`` on it; then materializes the views and reads three
customers back online, as a scorer would.

A feature row is stamped at one of its entity's transactions and aggregates
every transaction up to and including that moment: what the online store
holds right after it. A training example asks for its features one
microsecond before its own transaction (``scored_at``), so only strictly
earlier transactions reach it — no leak of the payment itself or its label —
and it sees the values serving would have read at that moment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.demo import DEMO_PROJECT

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

    from kiln.demo._run import DemoState
    from kiln.features import ApplyResult, FeatureStore, OnlineFeatures
    from kiln.registry import ModelVersion

SERVICE = "fraud_features"
ONLINE_MODEL = "fraud-online"
#: Not "fraud…": the browser tests expect one experiment to match a search for "fraud".
EXPERIMENT = "online-features"
LABEL = "is_fraud"
#: The entity dataframe's time column: just before the payment (see the module docstring).
SCORED_AT = "scored_at"
#: The payment the online read scores for each customer.
NEW_PAYMENT = 250.0


def customer_activity(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per customer and payment time: payments and spend over the trailing 1 h, 24 h and 7 days.

    Payments of one customer at the same moment are counted together (one
    row per customer and time), so no row depends on the order of
    simultaneous payments. Each window is ``(t - w, t]``.
    """
    import pandas as pd

    moments = (
        transactions.groupby(["customer_id", "event_timestamp"], sort=True)
        .agg(payments=("amount", "size"), spend=("amount", "sum"))
        .reset_index()
    )
    by_customer = moments.groupby("customer_id", sort=True)

    def trailing(window: str) -> pd.DataFrame:
        # Groups come out in key order and, within one, in time order: the order of `moments`.
        rolled = by_customer.rolling(window, on="event_timestamp")[["payments", "spend"]].sum()
        return rolled.reset_index(drop=True)

    hour, day, week = trailing("1h"), trailing("24h"), trailing("7D")
    return pd.DataFrame(
        {
            "customer_id": moments["customer_id"],
            "event_timestamp": moments["event_timestamp"],
            "tx_count_1h": hour["payments"].astype("int64"),
            "tx_count_24h": day["payments"].astype("int64"),
            "amount_sum_24h": day["spend"].round(2),
            "tx_count_7d": week["payments"].astype("int64"),
            "amount_mean_7d": (week["spend"] / week["payments"]).round(2),
        }
    )


def merchant_history(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per merchant and payment time: payments taken and the fraud rate to date, that moment in.

    The demo's labels are known as soon as a payment happens; a real store
    would stamp each label when its chargeback arrives.
    """
    import pandas as pd

    moments = (
        transactions.groupby(["merchant_id", "event_timestamp"], sort=True)
        .agg(payments=(LABEL, "size"), frauds=(LABEL, "sum"))
        .reset_index()
    )
    by_merchant = moments.groupby("merchant_id", sort=True)
    payments = by_merchant["payments"].cumsum()
    return pd.DataFrame(
        {
            "merchant_id": moments["merchant_id"],
            "event_timestamp": moments["event_timestamp"],
            "merchant_tx_count": payments.astype("int64"),
            "merchant_fraud_rate": by_merchant["frauds"].cumsum() / payments,
        }
    )


def training_entities(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled payment, asking for its features the moment before it happened."""
    import pandas as pd

    return pd.DataFrame(
        {
            "transaction_id": transactions["transaction_id"],
            "customer_id": transactions["customer_id"],
            "merchant_id": transactions["merchant_id"],
            SCORED_AT: transactions["event_timestamp"] - pd.Timedelta(microseconds=1),
            "amount": transactions["amount"],
            LABEL: transactions[LABEL],
        }
    )


def write_feature_tables(transactions: pd.DataFrame, folder: Path) -> dict[str, int]:
    """Write each feature table as ``folder/<view>.parquet``; return rows per view."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "customer_activity": customer_activity(transactions),
        "merchant_history": merchant_history(transactions),
    }
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return {name: len(frame) for name, frame in tables.items()}


def install_definitions(folder: Path) -> Path:
    """Copy ``feature_definitions.py`` into ``folder`` (it finds its tables beside itself).

    Rewritten only when it differs, so a user's edit is visible as the
    change it is and an unchanged copy keeps its file time.
    """
    from importlib.resources import files

    text = files("kiln.demo").joinpath("feature_definitions.py").read_text(encoding="utf-8")
    target = folder / "definitions.py"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def describe_apply(result: ApplyResult) -> str:
    """The apply's diff in a few words: what was added, changed or removed, or that nothing was."""
    if result.empty:
        return f"nothing changed ({len(result.unchanged)} definitions as applied before)"
    parts = []
    for verb, items in (
        ("added", result.added),
        ("changed", result.changed),
        ("removed", result.removed),
    ):
        if items:
            names = ", ".join(f"{name} v{version}" for _, name, version in items)
            parts.append(f"{len(items)} {verb} ({names})")
    return "; ".join(parts)


def model_inputs(store: FeatureStore) -> list[str]:
    """The service's features and the payment's amount: the columns the model reads."""
    return [ref.partition(":")[2] for ref in store.service(SERVICE).references()] + ["amount"]


def train_on_features(
    store: FeatureStore, entities: pd.DataFrame, seed: int
) -> tuple[pd.DataFrame, float, ModelVersion]:
    """Fetch the training set inside a tracked run, fit and score a model, log and register it.

    Fetching inside the run lets the feature store tag the run with the
    service and view versions, which the registered version inherits.
    """
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score, roc_auc_score

    import kiln
    from kiln import registry
    from kiln.demo._training import split_by_time
    from kiln.models import log_model

    columns = model_inputs(store)
    with kiln.start_run(
        experiment=EXPERIMENT, run_name="hist-gradient-boosting", tags={"kiln.demo": "features"}
    ):
        training = store.get_historical_features(entities, SERVICE, timestamp=SCORED_AT)
        fit_rows, holdout = split_by_time(training)
        model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed)
        model.fit(fit_rows[columns], fit_rows[LABEL].to_numpy())
        scores = np.asarray(model.predict_proba(holdout[columns]))[:, 1]
        truth = holdout[LABEL].to_numpy()
        auc = float(roc_auc_score(truth, scores))
        kiln.log_params({"model": "hist_gradient_boosting", "feature_service": SERVICE})
        kiln.log_metrics(
            {"auc": auc, "average_precision": float(average_precision_score(truth, scores))}
        )
        logged = log_model(model, "model", input_example=holdout[columns].head(20))
    version = registry.register_model(
        logged, ONLINE_MODEL, description="Card-fraud classifier on fraud_features (kiln demo)."
    )
    return training, auc, version


def read_online(store: FeatureStore, transactions: pd.DataFrame, now: datetime) -> OnlineFeatures:
    """Read the service online for the window's last three customers, each at their last merchant.

    ``now`` is the end of the window: the demo's data is historical, so read
    at today's date every value would be older than its view's ttl.
    """
    recent = transactions.drop_duplicates("customer_id", keep="last").tail(3)
    rows = recent[["customer_id", "merchant_id"]].assign(amount=NEW_PAYMENT)
    return store.get_online_features(rows, SERVICE, now=now)


def describe_online(found: OnlineFeatures) -> str:
    """Every status counted, and a few of the values read per customer (— for a null)."""
    statuses = [status for column in found.statuses.values() for status in column]
    counted = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    each = [
        f"customer {row.customer_id} @ merchant {row.merchant_id}: "
        f"{_shown(row.tx_count_24h, '{:.0f}')} in 24 h, "
        f"7-day mean {_shown(row.amount_mean_7d, '{:.2f}')} "
        f"({NEW_PAYMENT:.0f} is {_shown(row.amount_to_mean_7d, '{:.1f}')}x), "
        f"merchant fraud {_shown(row.merchant_fraud_rate, '{:.1%}')}"
        for row in found.to_pandas().itertuples()
    ]
    return f"{len(statuses)} values ({counted}): " + "; ".join(each)


def _shown(value: Any, pattern: str) -> str:
    import pandas as pd

    return "—" if pd.isna(value) else pattern.format(value)


def stage_features(state: DemoState) -> str:
    """Define, apply, train from and serve the demo's features."""
    import kiln
    from kiln.demo._run import DEMO_USER
    from kiln.features import FeatureStore

    assert state.reference is not None, "the data stage runs first"
    transactions = state.reference.transactions
    folder = state.context.settings.home / "demo" / "features"
    context = kiln.configure(state.context.settings.model_copy(update={"project": DEMO_PROJECT}))
    rows = write_feature_tables(transactions, folder)
    definitions = install_definitions(folder)
    store = FeatureStore(context)
    try:
        applied = store.apply(definitions, user=DEMO_USER)
        training, auc, version = train_on_features(
            store, training_entities(transactions), state.seed
        )
        end = state.reference.config.window_end.to_pydatetime()
        written = {m.view: m.keys_written for m in store.materialize(end=end, user=DEMO_USER)}
        found = read_online(store, transactions, end)
    finally:
        store.close()
    settings = state.context.settings
    state.look_here += [
        f"feature definitions and tables: {folder} (after an edit: kiln --project "
        f"{DEMO_PROJECT} features apply {definitions})",
        f"feature catalog: kiln --project {DEMO_PROJECT} features list; "
        f"kiln --project {DEMO_PROJECT} features describe {SERVICE}",
        f"feature pages: run `kiln server`, then open http://{settings.host}:{settings.port}"
        "/features",
    ]
    return (
        f"{rows['customer_activity']:,} customer and {rows['merchant_history']:,} merchant "
        f"feature rows; apply: {describe_apply(applied)}; training set of {len(training):,} "
        f"payments from {SERVICE} ({_nulls(training, 'tx_count_24h'):,} without recent "
        f"customer history, {_nulls(training, 'merchant_tx_count'):,} without merchant "
        f"history); {ONLINE_MODEL} v{version.version} AUC {auc:.3f}{_trained_on(version)}; "
        f"materialized {written.get('customer_activity', 0):,} customers and "
        f"{written.get('merchant_history', 0):,} merchants as of {end:%Y-%m-%d}; online "
        + describe_online(found)
    )


def _nulls(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].isna().sum())


def _trained_on(version: ModelVersion) -> str:
    """The feature service the version records: the registry copies it from the run's tags."""
    service = version.tags.get("kiln.feature_service")
    return f" (tagged kiln.feature_service={service})" if service else " (no feature tags)"
