"""Read pool manifests from YAML text: the one loader behind `render`, `simulate` and `up`."""

from __future__ import annotations

from typing import Any

import yaml

from heteropool.api import KIND
from heteropool.semantics import Pool, SpecError, parse_manifest

__all__ = ["ManifestError", "load_pools"]


class ManifestError(ValueError):
    """The text is not YAML, or holds no HeteroInferencePool."""


def load_pools(text: str, *, source: str = "<input>", default_namespace: str = "default") -> list[Pool]:
    """Every HeteroInferencePool in a (multi-document) YAML text; other kinds are skipped.

    Raises:
        ManifestError: unreadable YAML or no pool in it.
        SpecError: a pool is invalid; the message is prefixed with the source and document number.
    """
    try:
        documents: list[Any] = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from None
    pools: list[Pool] = []
    for index, document in enumerate(documents):
        if isinstance(document, dict) and document.get("kind") not in (None, KIND):
            continue
        try:
            pools.append(parse_manifest(document, default_namespace=default_namespace))
        except SpecError as exc:
            where = f"{source}" if len(documents) == 1 else f"{source} (document {index + 1})"
            raise SpecError(exc.path, f"{exc.problem} [in {where}]") from None
    if not pools:
        raise ManifestError(f"{source}: no {KIND} found")
    return pools
