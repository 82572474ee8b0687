"""Gateway settings: one frozen, validated object built once by the CLI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8080, ge=0, le=65535, description="Listen port (0 = any free port).")
    endpoints_file: str | None = Field(None, description="Static endpoint file (YAML/JSON), reloaded on change.")
    policy: str = Field("heteropool", description="Routing policy name.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Policy parameter overrides.")
    seed: int = Field(0, description="Seed of the picker's tie-break RNG.")
    reload_interval_s: float = Field(0.5, gt=0, description="How often the endpoint file is checked.")
    connect_timeout_s: float = Field(3.0, gt=0, description="Upstream connect timeout.")
    read_timeout_s: float = Field(600.0, gt=0, description="Max silence between upstream bytes (incl. headers).")
    request_timeout_s: float | None = Field(None, gt=0, description="Total upstream time limit (None = off).")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Larger request bodies get a 413.")
    max_retries: int = Field(2, ge=0, description="Extra endpoints tried on connect errors / 5xx before the first byte.")
    eject_after_failures: int = Field(3, ge=1, description="Consecutive 5xx that eject an endpoint.")
    eject_s: float = Field(10.0, gt=0, description="Ejection time unless a probe restores it earlier.")
    probe_interval_s: float = Field(1.0, gt=0, description="Health probe period of ejected endpoints.")
    max_in_flight_per_endpoint: int = Field(1024, ge=1, description="Per-endpoint in-flight cap (then 429).")
    retry_after_s: int = Field(1, ge=0, description="Retry-After of 429/503 answers.")
    scrape_interval_s: float = Field(0.25, ge=0, description="vLLM /metrics scrape period (0 = off).")
    api_key: str | None = Field(None, description="If set, clients must send 'Authorization: Bearer <key>'.")
    kube_api_url: str | None = Field(None, description="Kubernetes API URL (in-cluster discovery when set).")
    kube_namespace: str | None = Field(None, description="Namespace of the pool's EndpointSlices and ConfigMap.")
    kube_pool: str | None = Field(None, description="Pool name: EndpointSlices labelled heteropool.dev/pool=<pool>.")
    kube_configmap: str | None = Field(None, description="Routing ConfigMap name (routing.yaml), watched.")
    access_log: bool = Field(False, description="Log every request (DEBUG-level detail otherwise).")
