"""apiserver-shaped errors: each renders as a `kind: Status` body with the real reason and code."""

from __future__ import annotations

from typing import Any

import attrs
import kmock


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """A Kubernetes `Status` failure; `retry_after` adds the Retry-After header (429, 5xx)."""

    retry_after: int | None = None

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": self.message or "",
            "reason": self.reason or "",
            "code": self.status,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(kind: str, group: str, name: str | None, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind, "group": group}
    if name is not None:
        details["name"] = name
    details.update(extra)
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        status=404, reason="NotFound", message=f'{what} "{name}" not found', details=_details(plural, group, name)
    )


def resource_not_found() -> ApiError:
    return ApiError(status=404, reason="NotFound", message="the server could not find the requested resource")


def already_exists(plural: str, group: str, name: str) -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        status=409,
        reason="AlreadyExists",
        message=f'{what} "{name}" already exists',
        details=_details(plural, group, name),
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        status=409,
        reason="Conflict",
        message=(
            f'Operation cannot be fulfilled on {what} "{name}": the object has been modified;'
            " please apply your changes to the latest version and try again"
        ),
        details=_details(plural, group, name),
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    what = f"{kind}.{group}" if group else kind
    texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        status=422,
        reason="Invalid",
        message=f'{what} "{name}" is invalid: {joined}',
        details=_details(kind, group, name, causes=causes),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(status=400, reason="BadRequest", message=message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        status=415,
        reason="UnsupportedMediaType",
        message=f"the body of the request was in an unknown format - accepted media types"
        f" include: application/json-patch+json, application/merge-patch+json,"
        f' application/apply-patch+yaml (got "{content_type}")',
    )


def method_not_allowed(verb: str) -> ApiError:
    return ApiError(
        status=405,
        reason="MethodNotAllowed",
        message=f"the server does not allow this method on the requested resource ({verb})",
    )
