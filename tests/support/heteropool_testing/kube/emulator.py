"""`ApiServerEmulator`: kmock's KubernetesEmulator with the apiserver behaviour kopf needs.

kmock provides the HTTP server, discovery and request recording; this subclass takes over every
resource request (`/api/v1/...`, `/apis/g/v/...`) and serves it from `Store` with real
semantics: 201/409/404/422 Status bodies, resourceVersion and generation, the status
subresource, label/field selectors, watches that resume from a resourceVersion, finalizers,
owner-reference GC, merge/strategic/JSON patch, PUT, CRDs loaded from YAML. Tests break it with
`inject_faults()` and count writes with `write_log`. See docs/testing.md for what is not emulated.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import apps, rendering
from typing_extensions import override

from . import applying, errors, patching
from .discovery import DiscoveryMixin, bundled_resources
from .faults import WRITE_METHODS, Fault, WriteLog, WriteRecord
from .schema import CrdVersion, crd_versions, load_crd_documents
from .selection import parse_field_selector, parse_label_selector
from .store import Event, Kind, Store, now_iso
from .tables import to_table
from .watching import WatchMixin
from .wire import Target, body, header, logged_body, object_body, parse_target

REPO_CRDS = Path(__file__).resolve().parents[4] / "crds"  # tests/support/heteropool_testing/kube/
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")
_CRD_RESOURCE = "apiextensions.k8s.io/v1/customresourcedefinitions"
APPLY_PATCH = "application/apply-patch+yaml"


@attrs.define(kw_only=True)
class ApiServerEmulator(WatchMixin, DiscoveryMixin, kmock.KubernetesEmulator):
    """An in-memory apiserver. Use `async with emulator, kmock.Server(emulator): ...`."""

    crd_paths: tuple[Path, ...] = attrs.field(default=(), converter=lambda ps: tuple(map(Path, ps)))
    auto_namespaces: bool = True  # a create in an unknown namespace creates it (real: 404)
    validate_builtins: bool = True  # built-in kinds against kubernetes-validate's schemas
    kubeconfig_path: Path | None = None  # set by the fixtures that write one
    # False (default) closes each connection after its response: an operator embedded in the
    # test's event loop (kopf.operator) waits up to 5 s at exit for "hung" tasks, which would
    # include the server side of its own idle keep-alive connections.
    keep_alive: bool = False
    # None admits every request (no authentication); a set admits only `Authorization: Bearer <t>`
    # for t in it, others get 401 Unauthorized (to test credential rotation).
    accepted_tokens: set[str] | None = None

    write_log: WriteLog = attrs.field(factory=WriteLog, init=False)
    internal_errors: list[BaseException] = attrs.field(factory=list, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _crds: dict[tuple[str, str, str], CrdVersion] = attrs.field(factory=dict, init=False)
    _events: list[Event] = attrs.field(factory=list, init=False)
    _compacted_rv: int = attrs.field(default=0, init=False)
    _watchers: set[asyncio.Queue[Event | None]] = attrs.field(factory=set, init=False)
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _store: Store = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._store = Store(on_event=self._publish, on_crd=self._on_crd, validate_builtins=self.validate_builtins)
        self.resources.load_data(bundled_resources())  # kmock's K3s built-ins
        for namespace in DEFAULT_NAMESPACES:
            self._store.create(
                self._kind("", "v1", "namespaces"),
                None,
                {"metadata": {"name": namespace}, "status": {"phase": "Active"}},
            )
        self.load_crds(*self.crd_paths)

    # -- public helpers for tests ------------------------------------------------------------
    def load_crds(self, *paths: Path | str) -> list[str]:
        """Create every CRD found in these files/folders; returns the `group/version/plural`s."""
        loaded = []
        for doc in load_crd_documents(Path(p) for p in paths if Path(p).exists()):
            kind = self._kind(*_CRD_RESOURCE.split("/"))
            existing = self._store.get(kind, None, doc["metadata"]["name"])
            if existing is None:
                self._store.create(kind, None, doc)
            else:
                self._store.update(kind, existing, doc, subresource=None, expected_rv=None)
            loaded += [v.key for v in crd_versions(doc)]
        return loaded

    def inject_faults(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        status: int = 500,
        times: int | None = 1,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Fail the next `times` matching requests (None: all) with a Status of `status`."""
        fault = Fault(method, path_contains, status, times, retry_after, message)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def get_object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object, e.g. `get_object('apps/v1/deployments', 'default', 'x')`, or None."""
        kind = self._kind_of(resource)
        obj = self._store.get(kind, namespace, name)
        return None if obj is None else self._store.shaped(obj, kind)

    def list_objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        kind = self._kind_of(resource)
        return [self._store.shaped(o, kind) for o in self._store.scan(kind.group, kind.plural, namespace)]

    def create_object(self, resource: str, body: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create as a POST would (system fields, validation, ADDED event), without HTTP."""
        kind = self._kind_of(resource)
        ns = namespace or (body.get("metadata") or {}).get("namespace") or "default"
        return self._store.create(kind, ns if kind.namespaced else None, dict(body))

    @property
    def resource_version(self) -> int:
        return self._store.rv

    def compact(self) -> None:
        """Forget the watch history: resuming a watch from an older resourceVersion gets 410."""
        self._compacted_rv = self._store.rv
        self._events.clear()

    async def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 5.0, message: str = "condition") -> Any:
        """Await until `predicate()` is truthy, re-checking after every stored change."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    self._changed.clear()
                    await self._changed.wait()
                return result
        except TimeoutError:
            raise AssertionError(f"{message}: not met within {timeout} s") from None

    def close_watches(self) -> None:
        """End every open watch stream (so servers shut down without hanging handlers)."""
        for queue in list(self._watchers):
            queue.put_nowait(None)

    # -- kinds, CRDs, events -----------------------------------------------------------------
    def _kind(self, group: str, version: str, plural: str) -> Kind:
        crd = self._crds.get((group, version, plural))
        key = f"{group}/{version}/{plural}" if group else f"{version}/{plural}"
        if crd is None and key not in self.resources:
            raise errors.resource_not_found()
        info = self.resources[key]
        return Kind(
            group=group,
            version=version,
            plural=plural,
            kind=info.kind or plural.capitalize(),
            namespaced=bool(info.namespaced),
            subresources=frozenset(info.subresources),
            crd=crd,
        )

    def _kind_of(self, resource: str) -> Kind:
        parts = resource.strip("/").split("/")
        return self._kind(*(parts if len(parts) == 3 else ["", *parts]))

    def _on_crd(self, crd: dict[str, Any], present: bool) -> None:
        for ver in crd_versions(crd):
            key = (ver.group, ver.version, ver.plural)
            if present:
                self._crds[key] = ver
                self.resources[ver.key] = kmock.ResourceInfo(
                    namespaced=ver.namespaced,
                    kind=ver.kind,
                    singular=ver.singular,
                    shortnames=set(ver.short_names),
                    categories=set(ver.categories),
                    subresources=set(ver.subresources),
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"},
                )
            elif key in self._crds:  # the CRD is gone: so are its objects (DELETED events)
                kind = self._kind(*key)
                for obj in list(self._store.scan(ver.group, ver.plural, None)):
                    self._store.remove(kind, obj)
                del self._crds[key]
                if ver.key in self.resources:
                    del self.resources[ver.key]

    def _publish(self, event: Event) -> None:
        self._events.append(event)
        for queue in self._watchers:
            queue.put_nowait(event)
        self._changed.set()
        # Mirror into kmock's versioned objects, so `emulator.objects[...]` history works too.
        meta = event.obj["metadata"]
        res = kmock.resource(group=event.group, version=event.obj["apiVersion"].split("/")[-1], plural=event.plural)
        key = (res, meta.get("namespace"), meta["name"])
        if event.type == "DELETED":
            if key in self.objects:
                self.objects[key].delete()
        elif key in self.objects:
            self.objects[key].create(copy.deepcopy(event.obj))
        else:
            self.objects[key] = copy.deepcopy(event.obj)

    # -- request handling --------------------------------------------------------------------
    @override
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw_request.read()
        try:
            request = await rendering.Request._parse(raw_request, id=len(self._requests))
        except ValueError:  # kmock's parser cannot split e.g. /api/v1/namespaces
            request = rendering.Request(
                id=len(self._requests),
                raw_request=raw_request,
                url=raw_request.url,
                method=raw_request.method,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                body=await raw_request.read(),
                text=await raw_request.text(),
            )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as exc:  # a harness bug: answer 500 and keep it for the fixture to fail
            self.internal_errors.append(exc)
            return await self._render_error(exc)

    @override
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        method = str(request.method.value).upper()
        path = request.url.path
        if path.startswith("/_emulator/"):
            return self._control(method, path, request)
        if (
            self.accepted_tokens is not None
            and header(request, "Authorization").removeprefix("Bearer ").strip() not in self.accepted_tokens
        ):
            response = await self._render_error(
                errors.ApiError(status=401, reason="Unauthorized", message="Unauthorized")
            )
            if not self.keep_alive:
                response.force_close()
            return response
        record: WriteRecord | None = None
        if method in WRITE_METHODS:
            record = WriteRecord(
                method=method,
                path=path,
                params=dict(request.params),
                content_type=header(request, "Content-Type"),
                body=logged_body(request),
            )
            self.write_log.records.append(record)
        fault = next((f for f in self._faults if f.matches(method, path)), None)
        if fault is not None:
            fault.hits += 1
            if record is not None:
                record.status, record.injected = fault.status, True
            return await self._render_error(fault.error())
        target = parse_target(path)
        discovery = self._discovery(path, request)
        if discovery is not None:
            try:
                response = aiohttp.web.json_response(await discovery)
            except errors.ApiError as exc:
                response = await self._render_error(exc)
        elif target is None or target.plural is None:
            response = await apps.RawHandler._handle(self, request)  # /version, user reactions
        else:
            try:
                if method == "GET" and request.params.get("watch") in {"true", "1", "True"}:
                    return await self._watch(request, target)
                status, payload = self._execute(request, target, method)
                response = aiohttp.web.json_response(payload, status=status)
            except errors.ApiError as exc:
                response = await self._render_error(exc)
        if record is not None:
            record.status = response.status
        if not self.keep_alive:
            response.force_close()
        return response

    def _control(self, method: str, path: str, request: rendering.Request) -> aiohttp.web.Response:
        """Test controls for out-of-process servers: faults and the write log over HTTP."""
        if path == "/_emulator/faults" and method == "POST":
            spec = body(request) or {}
            allowed = {"method", "path_contains", "status", "times", "retry_after", "message"}
            if not isinstance(spec, dict) or set(spec) - allowed:
                return aiohttp.web.json_response({"error": f"fields: {sorted(allowed)}"}, status=400)
            return aiohttp.web.json_response(attrs.asdict(self.inject_faults(**spec)), status=201)
        if path == "/_emulator/faults" and method == "DELETE":
            self.clear_faults()
            return aiohttp.web.json_response({})
        if path == "/_emulator/faults" and method == "GET":
            return aiohttp.web.json_response([attrs.asdict(f) for f in self._faults])
        if path == "/_emulator/writes" and method == "GET":
            since = int(request.params.get("since", "0"))
            return aiohttp.web.json_response(
                {"mark": self.write_log.mark(), "writes": [attrs.asdict(r) for r in self.write_log.records[since:]]}
            )
        return aiohttp.web.json_response({"error": f"unknown control {method} {path}"}, status=404)

    @override
    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, errors.ApiError):
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
            return aiohttp.web.json_response(exc.status_body(), status=exc.status, headers=headers)
        return await super()._render_error(exc)

    def _execute(self, request: rendering.Request, t: Target, method: str) -> tuple[int, Any]:
        assert t.plural is not None
        kind = self._kind(t.group, t.version, t.plural)
        if kind.namespaced is False and t.namespace is not None:
            raise errors.resource_not_found()
        if t.subresource not in (None, "status") or (t.subresource and not kind.has_status):
            raise errors.resource_not_found()
        dry_run = "dryRun" in request.params
        self._store.strict_fields = request.params.get("fieldValidation") == "Strict"
        body_type = header(request, "Content-Type").lower()
        if method in WRITE_METHODS and ("protobuf" in body_type or "cbor" in body_type):
            raise errors.unsupported_media_type(body_type)  # client-go then retries with JSON
        store = self._store
        as_table = method == "GET" and "as=table" in header(request, "Accept").lower()
        columns = kind.crd.printer_columns if kind.crd is not None else ()
        if t.name is None:
            if method == "GET":
                listing = self._list(request, kind, t.namespace)
                if as_table:
                    return 200, to_table(listing["items"], columns, listing["metadata"])
                return 200, listing
            if method == "POST":
                if kind.namespaced and t.namespace is None:
                    raise errors.method_not_allowed("create")
                if kind.namespaced and not self._namespace_ready(t.namespace):
                    raise errors.not_found("namespaces", "", str(t.namespace))
                return 201, store.create(
                    kind, t.namespace, object_body(request), dry_run=dry_run, manager=_field_manager(request)
                )
            if method == "DELETE":
                items = self._list(request, kind, t.namespace)["items"]
                for item in items:
                    current = store.get(kind, item["metadata"].get("namespace"), item["metadata"]["name"])
                    if current is not None:
                        store.delete(kind, current, dry_run=dry_run)
                return 200, {**self._list(request, kind, t.namespace), "items": items}
            raise errors.method_not_allowed(method.lower())
        current = store.get(kind, t.namespace, t.name)
        content_type = header(request, "Content-Type").split(";")[0].strip().lower()
        if method == "PATCH" and content_type == APPLY_PATCH:
            return self._server_side_apply(request, kind, t, current, dry_run=dry_run)
        if current is None:
            raise errors.not_found(kind.plural, kind.group, t.name)
        if method == "GET":
            if as_table:
                return 200, to_table([store.shaped(current, kind)], columns)
            return 200, store.shaped(current, kind)
        if method == "DELETE":
            options = request.data if isinstance(request.data, dict) else {}
            policy = request.params.get("propagationPolicy") or options.get("propagationPolicy")
            return 200, store.delete(
                kind,
                current,
                policy=policy or "Background",
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
        if method in ("PUT", "PATCH"):
            new, rv = (
                _replacement(request, kind, t.name)
                if method == "PUT"
                else self._apply_patch(request, kind, current, content_type)
            )
            return 200, store.update(
                kind,
                current,
                new,
                subresource=t.subresource,
                expected_rv=rv,
                dry_run=dry_run,
                manager=_field_manager(request),
            )
        raise errors.method_not_allowed(method.lower())

    def _server_side_apply(
        self, request: rendering.Request, kind: Kind, t: Target, current: dict[str, Any] | None, *, dry_run: bool
    ) -> tuple[int, Any]:
        """PATCH with `application/apply-patch+yaml`: create or merge, tracking field ownership."""
        manager = request.params.get("fieldManager")
        if not manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "field": "fieldManager",
                        "message": "Required value: is required for apply patch",
                    }
                ],
            )
        applied = object_body(request)
        meta = applied.get("metadata") or {}
        if not applied.get("apiVersion") or not applied.get("kind") or meta.get("name") not in (None, t.name):
            raise errors.bad_request("apply patches need apiVersion, kind and the name on the URL")
        if applied["kind"] != kind.kind:
            raise errors.bad_request(f"the applied kind {applied['kind']!r} is not {kind.kind!r}")
        if meta.get("managedFields"):
            raise errors.bad_request("metadata.managedFields must be nil in an apply patch")
        rv = meta.get("resourceVersion")
        if current is None:
            if t.subresource or rv:
                raise errors.not_found(kind.plural, kind.group, str(t.name))
            if kind.namespaced and not self._namespace_ready(t.namespace):
                raise errors.not_found("namespaces", "", str(t.namespace))
            body = {**applied, "metadata": {**meta, "name": t.name}}
            return 201, self._store.create(kind, t.namespace, body, dry_run=dry_run, manager=manager, applied=True)
        merged = applying.apply(
            current,
            applied,
            manager=manager,
            force=request.params.get("force") in {"true", "1"},
            subresource=t.subresource,
            has_status=kind.has_status,
            now=now_iso(),
        )
        managed = merged["metadata"]["managedFields"]
        return 200, self._store.update(
            kind, current, merged, subresource=t.subresource, expected_rv=rv, dry_run=dry_run, managed_fields=managed
        )

    def _apply_patch(
        self, request: rendering.Request, kind: Kind, current: dict[str, Any], content_type: str
    ) -> tuple[dict[str, Any], str | None]:
        patch = body(request)
        if content_type == "application/json-patch+json":
            if not isinstance(patch, list):
                raise errors.bad_request("json patch must be a list of operations")
            return patching.json_patch(current, patch), None
        if not isinstance(patch, dict):
            raise errors.bad_request("the patch body must be a JSON object")
        rv = (patch.get("metadata") or {}).get("resourceVersion")
        if content_type == "application/merge-patch+json":
            return patching.merge_patch(current, patch), rv
        if content_type == "application/strategic-merge-patch+json":
            if kind.crd is not None:
                raise errors.unsupported_media_type(content_type)
            return patching.strategic_merge_patch(current, patch), rv
        raise errors.unsupported_media_type(content_type)

    def _namespace_ready(self, namespace: str | None) -> bool:
        kind = self._kind("", "v1", "namespaces")
        if namespace is None or self._store.get(kind, None, namespace) is not None:
            return True
        if self.auto_namespaces:
            self._store.create(kind, None, {"metadata": {"name": namespace}, "status": {"phase": "Active"}})
            return True
        return False

    def _selector(self, request: rendering.Request, name: str | None = None) -> Callable[[Any], bool]:
        labels = parse_label_selector(request.params.get("labelSelector"))
        fields = parse_field_selector(request.params.get("fieldSelector"))
        return lambda obj: labels(obj) and fields(obj) and (name is None or obj["metadata"]["name"] == name)

    def _list(self, request: rendering.Request, kind: Kind, namespace: str | None) -> dict[str, Any]:
        match = self._selector(request)
        items = [self._store.shaped(o, kind) for o in self._store.scan(kind.group, kind.plural, namespace) if match(o)]
        return {
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": str(self._store.rv)},
            "items": items,
        }


def _field_manager(request: rendering.Request) -> str:
    """`?fieldManager=`, else the User-Agent's program name, as the apiserver derives it."""
    agent = header(request, "User-Agent").split("/", 1)[0].strip()
    return request.params.get("fieldManager") or agent or "unknown"


def _replacement(request: rendering.Request, kind: Kind, name: str) -> tuple[dict[str, Any], str | None]:
    """A PUT's body and the resourceVersion it expects; custom resources must name one."""
    body = object_body(request)
    if body.get("metadata", {}).get("name", name) != name:
        raise errors.bad_request("the name of the object does not match the name on the URL")
    rv = body.get("metadata", {}).get("resourceVersion")
    if not rv and kind.crd is not None:
        raise errors.invalid(
            kind.kind,
            kind.group,
            name,
            [
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.resourceVersion",
                    "message": "Invalid value: 0x0: must be specified for an update",
                }
            ],
        )
    return body, rv


def crd_paths_or_default(paths: Iterable[Path | str] | None) -> tuple[Path, ...]:
    return (REPO_CRDS,) if paths is None else tuple(Path(p) for p in paths)
