"""Cluster-wide rendering settings: what the operator's command line (the chart's values) decides
for every pool alike, as opposed to what one pool's spec decides.

Pure data plus the image-reference arithmetic; `render.py` takes one `RenderSettings` and stays
free of I/O. The defaults are what `heteropool render` and the tests use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["IMAGE_COMPONENTS", "RenderSettings", "DEFAULT_SETTINGS", "with_registry", "parse_image_override"]

IMAGE_COMPONENTS: tuple[str, ...] = ("nvidia", "amd", "intel-gaudi", "heteropool", "envoy")
"""Images an operator may override: one vLLM image per vendor, heteropool's own (picker, sim), and Envoy."""


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """Rendering choices of one operator installation (docs/platform.md)."""

    image_registry: str | None = None
    """Registry host (and optional path) that replaces the registry of every default image."""
    images: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Image per component (IMAGE_COMPONENTS), replacing the built-in default; taken literally."""
    fixed_uid: bool = True
    """Pin UID/GID 65532 in heteropool's own pods; False for OpenShift's restricted-v2 SCC, which assigns one."""
    operator_namespace: str = "heteropool-system"
    """Where the operator runs: its pods may scrape vLLM (the NetworkPolicy admits them)."""
    monitoring_namespaces: tuple[str, ...] = ("monitoring",)
    """Namespaces whose pods may scrape vLLM unless a pool names its own."""
    keda_prometheus_url: str | None = None
    """Prometheus that KEDA queries; set only when KEDA is installed: autoscaled groups get a ScaledObject."""

    def image(self, component: str, default: str) -> str:
        """The image of a component: the override, else the default moved to the mirror registry."""
        override = self.images.get(component)
        if override:
            return override
        return with_registry(default, self.image_registry) if self.image_registry else default


DEFAULT_SETTINGS = RenderSettings()


def with_registry(image: str, registry: str) -> str:
    """`image` pulled from `registry` instead of its own (Docker Hub when it names none).

    `vllm/vllm-openai:v1` -> `mirror.example/vllm/vllm-openai:v1`;
    `ghcr.io/heteropool/heteropool:0.1.0` -> `mirror.example/heteropool/heteropool:0.1.0`.
    """
    first, _, rest = image.partition("/")
    has_host = bool(rest) and ("." in first or ":" in first or first == "localhost")
    path = rest if has_host else image
    return f"{registry.rstrip('/')}/{path}"


def parse_image_override(text: str) -> tuple[str, str]:
    """`COMPONENT=IMAGE` from the command line.

    Raises:
        ValueError: not of that form, or an unknown component.
    """
    component, sep, image = text.partition("=")
    if not sep or not image:
        raise ValueError(f"expected COMPONENT=IMAGE, got {text!r}")
    if component not in IMAGE_COMPONENTS:
        raise ValueError(f"unknown image component {component!r}; known: {', '.join(IMAGE_COMPONENTS)}")
    return component, image
