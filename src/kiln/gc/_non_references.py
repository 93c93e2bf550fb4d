"""The text columns that never name a blob, table by table, and why.

``tests/gc/test_references.py`` fails when a table gains a text column that
is neither here nor in ``_references.REFERENCE_COLUMNS``, so a new kind of
reference cannot be forgotten; this list is long and grows with every
domain, which is why it has a file of its own.
"""

from __future__ import annotations

__all__ = ["NON_REFERENCE_COLUMNS"]

NON_REFERENCE_COLUMNS: dict[str, tuple[str, ...]] = {
    # Names, descriptions, states, roles, users: words, not digests.
    "projects": ("name", "description"),
    "users": ("name", "email"),
    "memberships": ("role",),
    "api_tokens": ("id", "secret_hash", "name", "role"),  # the hash of a secret
    "audit_log": (
        "actor",
        "token_id",
        "project",
        "action",
        "method",
        "path",
        "target",
        "outcome",
        "request_id",
        "client",
    ),
    "experiments": ("name", "description", "lifecycle_stage"),
    "experiment_tags": ("key", "value"),
    "runs": ("id", "name", "status", "parent_run_id", "user", "lifecycle_stage", "failure"),
    "params": ("run_id", "key", "value", "value_prefix"),
    "run_tags": ("run_id", "key", "value", "value_prefix"),
    "metrics": ("run_id", "key"),
    "latest_metrics": ("run_id", "key"),
    "run_inputs": ("run_id", "context"),
    # A tracking dataset's digest is a fingerprint of its content (MLflow's), not a blob.
    "datasets": ("name", "digest", "source_type", "source", "schema", "profile"),
    "run_artifacts": ("run_id", "path"),
    "logged_models": (
        "id",
        "name",
        "model_type",
        "source_run_id",
        "status",
        "params",
        "tags",
        "created_by",
    ),
    "logged_model_artifacts": ("model_id", "path"),
    "logged_model_metrics": ("model_id", "run_id", "key", "dataset_name", "dataset_digest"),
    "registered_models": ("name", "description"),
    "registered_model_tags": ("key", "value"),
    # ``source`` is a runs:/ URI (its files are run artifacts) or a folder outside the store.
    "model_versions": ("source", "run_id", "flavor", "description", "status", "created_by"),
    "model_version_tags": ("key", "value"),
    "model_aliases": ("alias",),
    "alias_events": ("alias", "action", "actor", "gate_results", "note"),
    "alias_gates": ("alias", "checks", "updated_by"),
    "data_datasets": ("name", "description"),
    # ``content_hash`` hashes the table's canonical content; the bytes are in ``blobs``.
    "data_dataset_versions": ("content_hash", "schema", "source_type", "source", "created_by"),
    "data_profiles": ("profile",),  # statistics, computed from the blobs
    "data_validations": ("schema", "report", "created_by"),
    "pipeline_runs": ("id", "pipeline", "status", "runner", "error", "target", "workdir"),
    # ``stdout``/``stderr`` quote their blob's digest, which ``*_digest`` holds.
    "step_runs": (
        "run_id",
        "invocation",
        "step",
        "status",
        "cache_key",
        "upstream",
        "resources",
        "stdout",
        "stderr",
        "error",
        "traceback",
    ),
    "step_cache": ("key", "step"),
    "pipeline_schedules": (
        "name",
        "target",
        "workdir",
        "cron",
        "timezone",
        "params",
        "runner",
        "catch_up",
        "created_by",
    ),
    "schedule_firings": ("claimed_by", "status", "pipeline_run_id", "error"),
    # Lineage names artifacts by digest to tell their history; it does not keep them.
    "lineage_edges": ("source_kind", "source_id", "target_kind", "target_id", "relation"),
    "lineage_stale": (
        "node_kind",
        "node_id",
        "cause_kind",
        "cause_id",
        "reason",
        "superseded_by_kind",
        "superseded_by_id",
    ),
    "feature_definitions": ("kind", "name", "spec", "fingerprint", "created_by"),
    "feature_materializations": ("view", "store", "status", "statistics", "error", "created_by"),
    "prediction_batches": ("deployment",),
    # A label is a JSON value posted by a user: ground truth, not a reference.
    "prediction_labels": ("deployment", "request_id", "label"),
    # Traffic policies name models by registry reference, never blobs.
    "deployments": ("name", "description", "policy", "bandit_state", "created_by"),
    "deployment_events": ("action", "policy", "note", "created_by"),
    # A monitor's spec names its profile by name@version and its target by name.
    "reference_profiles": ("name", "columns", "source", "created_by"),
    "monitors": ("name", "description", "target_kind", "target", "spec", "created_by"),
    "monitor_results": ("metrics",),
    # Sinks are URLs and addresses; the pipeline is module:function.
    "alert_rules": (
        "name",
        "metric",
        "operator",
        "severity",
        "sinks",
        "pipeline",
        "pipeline_params",
    ),
    "alert_deliveries": ("sink", "status", "error"),
    "alerts": (
        "kind",
        "severity",
        "status",
        "title",
        "subject_kind",
        "subject_id",
        "resolved_by",
        "resolution",
    ),
    # ``format`` names how the blob in ``digest`` was written; ``mode`` is min or max.
    "checkpoints": ("run_id", "format", "mode"),
    # Optuna's study and trial records: names, JSON of values, parameters and attributes,
    # run ids; the study's report is a run artifact, referenced through run_artifacts.
    "tuning_studies": (
        "name",
        "directions",
        "user_attrs",
        "system_attrs",
        "settings",
        "parent_run_id",
        "created_by",
    ),
    # A job's entry point, arguments, pins and output are text; ``environment`` is the
    # SHA-256 of its pins, naming a virtual environment under the home, not a blob. The
    # whole output is also the job run's artifact, referenced through run_artifacts.
    "training_jobs": (
        "name",
        "entry",
        "args",
        "working_dir",
        "runner",
        "resources",
        "requirements",
        "environment",
        "status",
        "run_id",
        "host",
        "failure",
        "created_by",
    ),
    "training_job_logs": ("text",),
    # Labeling: schemas, items' fields as shown, labels, comments; exports are dataset
    # versions, referenced through dataset_versions.
    "labeling_projects": (
        "name",
        "description",
        "task_type",
        "data_kind",
        "label_schema",
        "source",
        "webhooks",
        "created_by",
    ),
    "labeling_tasks": (
        "item_key",
        "data",
        "status",
        "origin",
        "prediction",
        "gold",
        "consensus",
        "review_reason",
        "reviewed_by",
    ),
    "annotations": ("annotator", "label", "comment"),
    "labeling_watches": ("deployment", "score_output", "prediction_output", "created_by"),
    "tuning_trials": (
        "state",
        "values",
        "params",
        "distributions",
        "user_attrs",
        "system_attrs",
        "run_id",
        "owner_host",
        "failure",
    ),
}
