"""Fleet simulation: simulated vLLM replicas behind any `Router`, in virtual time, with workloads."""

from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec, RequestRecord, StageRecord
from heteropool.fleet.workloads import (
    ChatWorkload,
    LoadStage,
    RandomWorkload,
    SharedPrefixWorkload,
    WorkItem,
    Workload,
    build_stage_items,
    qps_ladder,
)

__all__ = [
    "ChatWorkload",
    "FleetSimulation",
    "LoadStage",
    "RandomWorkload",
    "ReplicaSpec",
    "RequestRecord",
    "SharedPrefixWorkload",
    "StageRecord",
    "WorkItem",
    "Workload",
    "build_stage_items",
    "qps_ladder",
]
