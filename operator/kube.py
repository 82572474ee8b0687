"""A small async Kubernetes REST client for the operator's own reads and writes (httpx).

kopf owns watching and its own bookkeeping; this client does what handlers need beyond that:
get/list/create/patch/delete of the kinds a pool renders to. It never retries by itself: errors
surface as `KubeApiError` and the caller decides (a kopf handler turns them into
`kopf.TemporaryError`, so the framework owns backoff). Credentials come from a kubeconfig or the
in-cluster service account, read once at start-up with the `kubernetes` package's loader.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["KubeApiError", "ResourceKind", "KINDS", "kind_of", "KubeClient", "Credentials", "load_credentials", "connect"]


class KubeApiError(Exception):
    """A non-2xx answer from the API server (or no answer at all: status 0)."""

    def __init__(self, status: int, reason: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """Conflicts, throttling, server errors and lost connections pass; 4xx otherwise do not."""
        return self.status in (0, 409, 429) or self.status >= 500


@dataclass(frozen=True, slots=True)
class ResourceKind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{prefix}/namespaces/{namespace}/{self.plural}" if self.namespaced and namespace else f"{prefix}/{self.plural}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path


KINDS: Mapping[str, ResourceKind] = {
    k.kind: k
    for k in (
        ResourceKind("apps/v1", "Deployment", "deployments"),
        ResourceKind("v1", "Service", "services"),
        ResourceKind("v1", "ConfigMap", "configmaps"),
        ResourceKind("v1", "ServiceAccount", "serviceaccounts"),
        ResourceKind("v1", "Secret", "secrets"),
        ResourceKind("v1", "Pod", "pods"),
        ResourceKind("v1", "Namespace", "namespaces", namespaced=False),
        ResourceKind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        ResourceKind("rbac.authorization.k8s.io/v1", "Role", "roles"),
        ResourceKind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        ResourceKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        ResourceKind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        ResourceKind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        ResourceKind("keda.sh/v1alpha1", "ScaledObject", "scaledobjects"),
        ResourceKind("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "network-attachment-definitions"),
        ResourceKind("heteropool.dev/v1alpha1", "HeteroInferencePool", "heteroinferencepools"),
    )
}


def kind_of(obj: Mapping[str, Any]) -> ResourceKind:
    """The kind of a manifest; one not in KINDS gets the conventional lower-case plural."""
    kind = obj["kind"]
    return KINDS.get(kind) or ResourceKind(obj["apiVersion"], kind, kind.lower() + "s")


APPLY_PATCH = "application/apply-patch+yaml"


class KubeClient:
    """CRUD and server-side apply over one shared `httpx.AsyncClient` (base URL and auth set).

    Every write names `field_manager`, so the API server attributes the fields it sets to it.
    """

    def __init__(self, http: httpx.AsyncClient, *, field_manager: str) -> None:
        self._http = http
        self.field_manager = field_manager
        self.writes = 0  # mutating requests sent; for metrics and no-op assertions

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self._request("GET", kind.path(namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(
        self, kind: ResourceKind, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        result = await self._request("GET", kind.path(namespace), params=params)
        items: list[dict[str, Any]] = result.get("items") or []
        for item in items:  # list items omit apiVersion/kind
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind = kind_of(obj)
        self.writes += 1
        return await self._request(
            "POST", kind.path(obj["metadata"].get("namespace")), json=dict(obj), params=self._manager()
        )

    async def apply(self, obj: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply: `obj` is this manager's whole intent for the object.

        Fields it applied before and leaves out now are removed (unless another manager owns them);
        fields it does not mention are left to whoever set them. `force` takes over fields another
        manager set to a different value instead of failing with 409 Conflict.
        """
        kind, meta = kind_of(obj), obj["metadata"]
        self.writes += 1
        params = {**self._manager(), "force": "true"} if force else self._manager()
        return await self._request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            content=json.dumps(obj, separators=(",", ":")),  # JSON is YAML
            params=params,
            headers={"Content-Type": APPLY_PATCH},
        )

    def _manager(self) -> dict[str, str]:
        return {"fieldManager": self.field_manager}

    async def patch(
        self,
        kind: ResourceKind,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (lists are replaced whole, `null` removes a key)."""
        self.writes += 1
        return await self._request(
            "PATCH",
            kind.path(namespace, name, subresource),
            json=dict(patch),
            params=self._manager(),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def delete(self, kind: ResourceKind, namespace: str | None, name: str, *, uid: str | None = None) -> None:
        """Delete (background propagation); a uid precondition protects a re-created namesake."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self.writes += 1
        try:
            await self._request("DELETE", kind.path(namespace, name), json=body)
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise KubeApiError(0, "ConnectionError", f"{method} {path}: {exc!r}") from exc
        if response.is_success:
            result: dict[str, Any] = response.json() if response.content else {}
            return result
        try:
            status = response.json()
        except ValueError:
            status = {}
        retry_after = response.headers.get("Retry-After")
        raise KubeApiError(
            response.status_code,
            str(status.get("reason") or response.reason_phrase),
            str(status.get("message") or f"{method} {path}"),
            retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where the API server is and how to authenticate; shared by our client and kopf's login."""

    server: str
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    namespace: str | None = None


def load_credentials(kubeconfig: str | None = None, *, in_cluster: bool = False) -> Credentials:
    """Read a kubeconfig (None: the default locations) or the in-cluster service account."""
    import kubernetes  # only its loaders: every request goes through httpx

    config = kubernetes.client.Configuration()
    namespace: str | None = None
    if in_cluster:
        kubernetes.config.load_incluster_config(client_configuration=config)
    else:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=config)
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        namespace = (active or {}).get("context", {}).get("namespace")
    token = None
    for value in (config.api_key or {}).values():
        token = value.removeprefix("Bearer ").strip()
    return Credentials(
        server=config.host,
        token=token,
        ca_file=config.ssl_ca_cert,
        cert_file=config.cert_file,
        key_file=config.key_file,
        verify=bool(config.verify_ssl),
        namespace=namespace,
    )


def connect(credentials: Credentials, *, field_manager: str, timeout_s: float = 10.0) -> KubeClient:
    """A client with one pooled connection set to the API server."""
    headers = {"Accept": "application/json"}
    if credentials.token:
        headers["Authorization"] = f"Bearer {credentials.token}"
    verify: ssl.SSLContext | bool = credentials.verify
    if credentials.verify and credentials.server.startswith("https"):
        context = ssl.create_default_context(cafile=credentials.ca_file)
        if credentials.cert_file:
            context.load_cert_chain(credentials.cert_file, credentials.key_file)
        verify = context
    http = httpx.AsyncClient(
        base_url=credentials.server,
        headers=headers,
        verify=verify,
        timeout=httpx.Timeout(timeout_s, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    return KubeClient(http, field_manager=field_manager)
