"""The object store with apiserver write semantics: versions, generation, finalizers, owner GC.

All methods are synchronous and run on the event loop, so each write is atomic with respect to
other requests and to watch registration (no lock needed).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from . import applying, errors
from .builtin import check_builtin
from .names import label_causes, name_problem
from .schema import CrdVersion, prune_and_default, validate

# (group, plural, namespace or None, name): storage is shared across the versions of a resource.
Key = tuple[str, str, str | None, str]
IMMUTABLE_SELECTOR_KINDS = frozenset({"deployments", "statefulsets", "daemonsets", "replicasets"})
SYSTEM_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)


def now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class Kind:
    """What the store needs to know about a resource."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str]
    crd: CrdVersion | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


@attrs.frozen
class Event:
    rv: int
    group: str
    plural: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


def _content(obj: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """The part of an object whose change bumps `metadata.generation`."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if kind.has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


@attrs.define
class Store:
    on_event: Callable[[Event], None]
    on_crd: Callable[[dict[str, Any], bool], None]
    objects: dict[Key, dict[str, Any]] = attrs.field(factory=dict)
    kinds_by_uid: dict[str, Kind] = attrs.field(factory=dict)
    delete_policies: dict[str, str] = attrs.field(factory=dict)
    rv: int = 0
    validate_builtins: bool = True
    strict_fields: bool = False  # set per request from ?fieldValidation=Strict

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind.group, kind.plural, namespace if kind.namespaced else None, name))

    def scan(self, group: str, plural: str, namespace: str | None) -> Iterator[dict[str, Any]]:
        for (g, p, ns, _), obj in sorted(self.objects.items(), key=lambda kv: (kv[0][2] or "", kv[0][3])):
            if g == group and p == plural and (namespace is None or ns == namespace):
                yield obj

    def shaped(self, obj: dict[str, Any], kind: Kind) -> dict[str, Any]:
        """A copy served as `kind`'s version (no conversion, like a CRD with strategy None)."""
        out = copy.deepcopy(obj)
        out["apiVersion"] = kind.api_version
        out["kind"] = kind.kind
        return out

    # -- writes ------------------------------------------------------------------------------
    def _admit(self, obj: dict[str, Any], kind: Kind) -> dict[str, Any]:
        meta = obj["metadata"]
        causes = label_causes(meta.get("labels"))
        problem = name_problem(kind.group, kind.plural, meta["name"])
        if problem:
            causes.insert(
                0,
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.name",
                    "message": f"Invalid value: {meta['name']!r}: {problem}",
                },
            )
        if causes:
            raise errors.invalid(kind.kind, kind.group, meta["name"], causes)
        if kind.crd is not None and kind.crd.schema is not None:
            obj = prune_and_default(obj, kind.crd.schema, root=True)
            validate(obj, kind.crd)
        elif kind.crd is None and self.validate_builtins:
            obj = check_builtin(obj, strict=self.strict_fields)
        return obj

    def create(
        self,
        kind: Kind,
        namespace: str | None,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
        manager: str = "unknown",
        applied: bool = False,
    ) -> dict[str, Any]:
        """Store a new object; `manager` owns its fields (as Apply when `applied`, else Update)."""
        meta = dict(body.get("metadata") or {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        if not name:
            raise errors.invalid(
                kind.kind,
                kind.group,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "field": "metadata.name",
                        "message": "Required value: name or generateName is required",
                    }
                ],
            )
        if kind.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        key = (kind.group, kind.plural, namespace if kind.namespaced else None, name)
        if key in self.objects:
            raise errors.already_exists(kind.plural, kind.group, name)
        obj = copy.deepcopy(body)
        if kind.has_status:
            obj.pop("status", None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(field, None)
        if kind.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["metadata"] = meta
        obj = self._admit(self.shaped(obj, kind), kind)
        if applied:
            obj["metadata"].pop("managedFields", None)
            obj = applying.apply(
                None, obj, manager=manager, force=True, subresource=None, has_status=kind.has_status, now=now_iso()
            )
        else:
            obj["metadata"]["managedFields"] = applying.track_update(
                None, obj, manager=manager, subresource=None, has_status=kind.has_status, now=now_iso()
            )
        if not obj["metadata"]["managedFields"]:
            del obj["metadata"]["managedFields"]
        if dry_run:
            obj["metadata"]["resourceVersion"] = str(self.rv)
            return obj
        obj["metadata"]["resourceVersion"] = str(self.next_rv())
        self.objects[key] = obj
        self.kinds_by_uid[meta["uid"]] = kind
        self._notify(kind, "ADDED", obj, None)
        return copy.deepcopy(obj)

    def update(
        self,
        kind: Kind,
        current: dict[str, Any],
        new: dict[str, Any],
        *,
        subresource: str | None,
        expected_rv: str | None,
        dry_run: bool = False,
        manager: str = "unknown",
        managed_fields: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store `new` as the next state of `current`, keeping what the caller may not change.

        `manager` takes ownership of the fields this write changed, unless `managed_fields`
        (computed by a server-side apply) says who owns what.
        """
        cur_meta = current["metadata"]
        if expected_rv not in (None, "") and str(expected_rv) != cur_meta["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, cur_meta["name"])
        new = copy.deepcopy(new)
        if subresource == "status":
            merged = copy.deepcopy(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            if kind.has_status:
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            meta = dict(new.get("metadata") or {})
            for field in SYSTEM_METADATA:
                if field in cur_meta:
                    meta[field] = cur_meta[field]
                else:
                    meta.pop(field, None)
            new["metadata"] = meta
            if cur_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(cur_meta.get("finalizers") or [])
                if added:
                    raise errors.invalid(
                        kind.kind,
                        kind.group,
                        cur_meta["name"],
                        [
                            {
                                "reason": "FieldValueForbidden",
                                "field": "metadata.finalizers",
                                "message": "Forbidden: no new finalizers can be added if the object is being deleted",
                            }
                        ],
                    )
        if (
            kind.group == "apps"
            and kind.plural in IMMUTABLE_SELECTOR_KINDS
            and (new.get("spec") or {}).get("selector") != (current.get("spec") or {}).get("selector")
        ):
            raise errors.invalid(
                kind.kind,
                kind.group,
                cur_meta["name"],
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.selector",
                        "message": f"Invalid value: {json.dumps((new.get('spec') or {}).get('selector'))}:"
                        " field is immutable",
                    }
                ],
            )
        new = self._admit(self.shaped(new, kind), kind)
        for field in ("apiVersion", "kind"):
            new[field] = current.get(field, new.get(field))
        if managed_fields is None:
            managed_fields = applying.track_update(
                current, new, manager=manager, subresource=subresource, has_status=kind.has_status, now=now_iso()
            )
        new["metadata"]["managedFields"] = managed_fields
        if not managed_fields:
            del new["metadata"]["managedFields"]
        if new == current:
            return copy.deepcopy(current)  # a no-op write: no new resourceVersion, no event
        if _content(new, kind) != _content(current, kind):
            new["metadata"]["generation"] = int(cur_meta.get("generation", 0)) + 1
        if dry_run:
            return new
        new["metadata"]["resourceVersion"] = str(self.next_rv())
        key = (kind.group, kind.plural, cur_meta.get("namespace"), cur_meta["name"])
        self.objects[key] = new
        self._notify(kind, "MODIFIED", new, current)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self.remove(kind, new)
        return copy.deepcopy(new)

    def delete(
        self,
        kind: Kind,
        current: dict[str, Any],
        *,
        policy: str = "Background",
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        meta = current["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.ApiError(
                status=409,
                reason="Conflict",
                message=(f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}"),
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, meta["name"])
        if dry_run:
            return copy.deepcopy(current)
        self.delete_policies[meta["uid"]] = policy
        if meta.get("deletionTimestamp"):
            return copy.deepcopy(current)
        if meta.get("finalizers"):
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["resourceVersion"] = str(self.next_rv())
            key = (kind.group, kind.plural, meta.get("namespace"), meta["name"])
            self.objects[key] = new
            self.on_event(
                Event(self.rv, kind.group, kind.plural, "MODIFIED", copy.deepcopy(new), copy.deepcopy(current))
            )
            return copy.deepcopy(new)
        return self.remove(kind, current)

    def remove(self, kind: Kind, current: dict[str, Any]) -> dict[str, Any]:
        meta = current["metadata"]
        key = (kind.group, kind.plural, meta.get("namespace"), meta["name"])
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(self.next_rv())
        del self.objects[key]
        self.kinds_by_uid.pop(meta["uid"], None)
        self._notify(kind, "DELETED", gone, current)
        policy = self.delete_policies.pop(meta["uid"], "Background")
        if kind.plural == "namespaces" and kind.group == "":
            asyncio.get_running_loop().call_soon(self._empty_namespace, meta["name"])
        else:
            asyncio.get_running_loop().call_soon(self.collect_garbage, meta["uid"], policy)
        return gone

    def _notify(self, kind: Kind, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Tell watchers of a change at the current resourceVersion; a CRD's change also changes what is served."""
        self.on_event(
            Event(
                self.rv,
                kind.group,
                kind.plural,
                event_type,
                copy.deepcopy(obj),
                None if old is None else copy.deepcopy(old),
            )
        )
        if kind.plural == "customresourcedefinitions" and kind.group == "apiextensions.k8s.io":
            self.on_crd(obj, event_type != "DELETED")

    # -- garbage collection ------------------------------------------------------------------
    def _owner_alive(self, uid: str) -> bool:
        return uid in self.kinds_by_uid

    def collect_garbage(self, owner_uid: str, policy: str = "Background") -> None:
        """Delete (or, for Orphan, release) the dependents of a removed owner."""
        for key, obj in list(self.objects.items()):
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            kind = self.kinds_by_uid.get(obj["metadata"]["uid"])
            if kind is None or key not in self.objects:
                continue
            live = [ref for ref in refs if ref.get("uid") != owner_uid]
            if policy == "Orphan" or any(self._owner_alive(ref.get("uid", "")) for ref in live):
                released = copy.deepcopy(obj)
                released["metadata"]["ownerReferences"] = live
                if not live:
                    del released["metadata"]["ownerReferences"]
                self.update(kind, obj, released, subresource=None, expected_rv=None)
            else:
                self.delete(kind, obj, policy=policy)

    def _empty_namespace(self, namespace: str) -> None:
        for (_, _, ns, _), obj in list(self.objects.items()):
            if ns == namespace:
                kind = self.kinds_by_uid.get(obj["metadata"]["uid"])
                if kind is not None:
                    self.delete(kind, obj)
