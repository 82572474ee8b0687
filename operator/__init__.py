"""heteropool: one LLM inference pool across NVIDIA, AMD and Intel Gaudi accelerators on Kubernetes."""

__all__ = ["__version__"]

__version__ = "0.1.0"
