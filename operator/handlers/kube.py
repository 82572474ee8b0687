"""A small async Kubernetes REST client for the operator's own reads and writes (httpx).

kopf owns watching and its own bookkeeping; this client does what handlers need beyond that:
get/list/create/patch/delete and server-side apply of the kinds a pool renders to. It retries
nothing but a 401, once, after reading the credentials again (a rotated token, an exec plugin's
new output); other errors surface as `KubeApiError` and the caller decides (handlers/errors.py).
Credentials come from kopf's own login functions (`login`), the same ones kopf's login handler
uses, so kopf's watches and this client see the same identity.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import kopf

__all__ = ["KubeApiError", "ResourceKind", "KINDS", "kind_of", "KubeClient", "CredentialSource", "login", "connect"]

logger = logging.getLogger(__name__)


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
        """Conflicts, throttling, server errors, lost connections and credentials being rotated
        (401 after a fresh login) pass; other 4xx do not."""
        return self.status in (0, 401, 409, 429) or self.status >= 500


@dataclass(frozen=True, slots=True)
class ResourceKind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = (
            f"{prefix}/namespaces/{namespace}/{self.plural}"
            if self.namespaced and namespace
            else f"{prefix}/{self.plural}"
        )
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path


_SERVED_KINDS: dict[str, tuple[str, ...]] = {
    "v1": ("Service", "ConfigMap", "ServiceAccount", "Secret", "Pod", "Event", "Namespace"),
    "apps/v1": ("Deployment",),
    "discovery.k8s.io/v1": ("EndpointSlice",),
    "rbac.authorization.k8s.io/v1": ("Role", "RoleBinding"),
    "policy/v1": ("PodDisruptionBudget",),
    "networking.k8s.io/v1": ("NetworkPolicy",),
    "autoscaling/v2": ("HorizontalPodAutoscaler",),
    "keda.sh/v1alpha1": ("ScaledObject",),
    "inference.networking.k8s.io/v1": ("InferencePool",),
    "gateway.networking.k8s.io/v1": ("HTTPRoute",),
    "k8s.cni.cncf.io/v1": ("NetworkAttachmentDefinition",),
    "heteropool.dev/v1alpha1": ("HeteroInferencePool",),
}
"""Every kind the operator reads or writes, by API version."""

_CLUSTER_SCOPED = frozenset({"Namespace"})
_IRREGULAR_PLURALS = {"NetworkAttachmentDefinition": "network-attachment-definitions"}


def _plural(kind: str) -> str:
    """The resource name a kind is served under, by the rule Kubernetes itself guesses with
    (lower case; `-y` becomes `-ies`, anything else takes `-s`), irregular names aside."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


KINDS: Mapping[str, ResourceKind] = {
    kind: ResourceKind(api_version, kind, _plural(kind), namespaced=kind not in _CLUSTER_SCOPED)
    for api_version, kinds in _SERVED_KINDS.items()
    for kind in kinds
}


def kind_of(obj: Mapping[str, Any]) -> ResourceKind:
    """The kind of a manifest; one not in KINDS gets the conventional lower-case plural."""
    kind = obj["kind"]
    lower = kind.lower()
    plural = lower[:-1] + "ies" if lower.endswith("y") else lower + ("es" if lower.endswith("s") else "s")
    return KINDS.get(kind) or ResourceKind(obj["apiVersion"], kind, plural)


APPLY_PATCH = "application/apply-patch+yaml"


class KubeClient:
    """CRUD and server-side apply over one shared `httpx.AsyncClient` (base URL and auth set).

    Every write names `field_manager`, so the API server attributes the fields it sets to it.
    """

    def __init__(self, source: CredentialSource, *, field_manager: str, timeout_s: float = 10.0) -> None:
        self._source = source
        self._timeout_s = timeout_s
        self._info = source()
        self._http = _http_client(self._info, timeout_s)
        self._retired: list[httpx.AsyncClient] = []
        self._relogin_lock = asyncio.Lock()
        self.field_manager = field_manager
        self.writes = 0  # mutating requests sent; for metrics and no-op assertions
        self.logins = 1  # how often credentials were read (1 + one per refresh after a 401)

    async def aclose(self) -> None:
        for http in [*self._retired, self._http]:
            await http.aclose()

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

    async def serves(self, api_version: str) -> bool:
        """Whether the API server serves `group/version` (discovery, which every client may read)."""
        try:
            await self._request("GET", f"/apis/{api_version}")
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

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

    async def _relogin(self, used: kopf.ConnectionInfo) -> None:
        """Read the credentials again (once for a burst of 401s) and use them from now on."""
        async with self._relogin_lock:
            if self._info is not used:
                return  # another request already refreshed them
            info = await asyncio.to_thread(self._source)
            self.logins += 1
            logger.debug("API server said 401: credentials read again")
            if (info.server, info.ca_path, info.ca_data, info.certificate_path, info.certificate_data) == (
                used.server,
                used.ca_path,
                used.ca_data,
                used.certificate_path,
                used.certificate_data,
            ):
                self._http.headers.update(info.as_http_headers())
            else:  # a new endpoint or TLS identity: a new connection pool (the old one closes with us)
                self._retired.append(self._http)
                self._http = _http_client(info, self._timeout_s)
            self._info = info

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in (1, 2):
            used = self._info
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise KubeApiError(0, "ConnectionError", f"{method} {path}: {exc!r}") from exc
            logger.debug("%s %s -> %d", method, path, response.status_code)
            if response.status_code != 401 or attempt == 2:
                break
            await self._relogin(used)
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


CredentialSource = Callable[[], "kopf.ConnectionInfo"]
"""Where the API server is and how to authenticate, found afresh on every call (may block)."""


def login(*, in_cluster: bool = False) -> kopf.ConnectionInfo:
    """The credentials kopf's own login functions find now (kopf's login handler uses the same).

    In a pod: the service account token file, read again on every call, so a rotated projected
    token is picked up. Elsewhere: the kubeconfig in $KUBECONFIG (or ~/.kube/config). A user whose
    kubeconfig has no token or client certificate of its own (an exec plugin as on EKS or GKE, an
    auth provider, a tokenFile) goes through kopf's client-library login, which runs the plugin
    again on every call; that path, and only that one, needs the `kubernetes` package.

    Raises:
        kopf.LoginError: no credentials were found.
    """
    settings = kopf.OperatorSettings()
    info: kopf.ConnectionInfo | None
    if in_cluster:
        info = kopf.login_with_service_account(settings=settings)
    else:
        info = kopf.login_with_kubeconfig(settings=settings)
        if info is not None and not (info.token or info.certificate_path or info.certificate_data or info.password):
            info = kopf.login_via_client(logger=logger, settings=settings) or info
    if info is None:
        raise kopf.LoginError("no Kubernetes credentials: neither a service account nor a kubeconfig was found")
    return info


def _http_client(info: kopf.ConnectionInfo, timeout_s: float) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = info.as_ssl_context() if info.server.startswith("https") else False
    return httpx.AsyncClient(
        base_url=info.server,
        headers={"Accept": "application/json", **info.as_http_headers()},
        verify=verify,
        timeout=httpx.Timeout(timeout_s, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def connect(source: CredentialSource, *, field_manager: str, timeout_s: float = 10.0) -> KubeClient:
    """A client with one pooled connection set to the API server; it logs in again after a 401."""
    return KubeClient(source, field_manager=field_manager, timeout_s=timeout_s)
