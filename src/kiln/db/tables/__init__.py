"""ORM tables, one module per domain.

Importing this package registers every table on ``Base.metadata`` (what
Alembic compares migrations against). Rows stay inside ``kiln.db`` and the
services that own them; callers get plain domain objects.
"""

from kiln.db.tables.auth import (
    ApiTokenRow,
    AuditLogRow,
    MembershipRow,
    ProjectRow,
    UserRow,
)
from kiln.db.tables.data import (
    DatasetProfileRow,
    DatasetValidationRow,
    DatasetVersionRow,
    VersionedDatasetRow,
)
from kiln.db.tables.features import FeatureDefinitionRow, FeatureMaterializationRow
from kiln.db.tables.labeling import AnnotationRow, LabelingProjectRow, LabelingTaskRow
from kiln.db.tables.lineage import AlertRow, LineageEdgeRow, StaleFlagRow
from kiln.db.tables.monitoring import (
    AlertDeliveryRow,
    AlertRuleRow,
    MonitorResultRow,
    MonitorRow,
    ReferenceProfileRow,
)
from kiln.db.tables.pipelines import (
    PipelineRunRow,
    PipelineScheduleRow,
    ScheduleFiringRow,
    StepCacheRow,
    StepRunRow,
)
from kiln.db.tables.registry import (
    AliasEventRow,
    AliasGateRow,
    ModelAliasRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from kiln.db.tables.serving import (
    DeploymentEventRow,
    DeploymentRow,
    PredictionBatchRow,
    PredictionLabelRow,
)
from kiln.db.tables.tracking import (
    DatasetRow,
    ExperimentRow,
    ExperimentTagRow,
    LatestMetricRow,
    LoggedModelArtifactRow,
    LoggedModelRow,
    MetricRow,
    ParamRow,
    RunArtifactRow,
    RunInputRow,
    RunRow,
    RunTagRow,
)
from kiln.db.tables.training import (
    CheckpointRow,
    TrainingJobLogRow,
    TrainingJobRow,
    TuningIntermediateValueRow,
    TuningStudyRow,
    TuningTrialRow,
)

__all__ = [
    "AlertDeliveryRow",
    "AlertRow",
    "AlertRuleRow",
    "AliasEventRow",
    "AliasGateRow",
    "AnnotationRow",
    "ApiTokenRow",
    "AuditLogRow",
    "CheckpointRow",
    "DatasetProfileRow",
    "DatasetRow",
    "DatasetValidationRow",
    "DatasetVersionRow",
    "DeploymentEventRow",
    "DeploymentRow",
    "ExperimentRow",
    "ExperimentTagRow",
    "FeatureDefinitionRow",
    "FeatureMaterializationRow",
    "LabelingProjectRow",
    "LabelingTaskRow",
    "LatestMetricRow",
    "LineageEdgeRow",
    "LoggedModelArtifactRow",
    "LoggedModelRow",
    "MembershipRow",
    "MetricRow",
    "ModelAliasRow",
    "ModelVersionRow",
    "ModelVersionTagRow",
    "MonitorResultRow",
    "MonitorRow",
    "ParamRow",
    "PipelineRunRow",
    "PipelineScheduleRow",
    "PredictionBatchRow",
    "PredictionLabelRow",
    "ProjectRow",
    "ReferenceProfileRow",
    "RegisteredModelRow",
    "RegisteredModelTagRow",
    "RunArtifactRow",
    "RunInputRow",
    "RunRow",
    "RunTagRow",
    "ScheduleFiringRow",
    "StaleFlagRow",
    "StepCacheRow",
    "StepRunRow",
    "TrainingJobLogRow",
    "TrainingJobRow",
    "TuningIntermediateValueRow",
    "TuningStudyRow",
    "TuningTrialRow",
    "UserRow",
    "VersionedDatasetRow",
]
