"""PNG plots of a routing experiment: output throughput and TTFT against offered QPS, one line per policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from heteropool.fleet.report import StageSummary

__all__ = ["PlotsUnavailable", "write_plots"]


class PlotsUnavailable(RuntimeError):
    """matplotlib is missing: it is an optional extra, left out of the image and of plain installs."""


def write_plots(results: Mapping[str, Sequence[StageSummary]], folder: Path, title: str) -> list[Path]:
    """Write `throughput.png` and `ttft.png` into `folder`; returns their paths.

    Raises:
        PlotsUnavailable: matplotlib is not installed (the `plots` extra).
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotsUnavailable(
            "matplotlib is not installed; install the plots extra (pip install 'heteropool[plots]', "
            "which `make run` does in a checkout)"
        ) from exc

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    written: list[Path] = []
    panels: list[tuple[str, str, list[tuple[str, str, str | None]], bool]] = [
        ("throughput.png", "output tokens/s", [("output_tokens_per_s", "-", None)], False),
        ("ttft.png", "TTFT (s, log scale)", [("ttft_mean_s", "-", "mean"), ("ttft_p99_s", ":", "p99")], True),
    ]
    for name, ylabel, series, log in panels:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        for i, (policy, stages) in enumerate(results.items()):
            color = f"C{i}"
            x = [s.qps for s in stages]
            for attr, style, label in series:
                y = [max(getattr(s, attr), 1e-3) if log else getattr(s, attr) for s in stages]
                ax.plot(
                    x,
                    y,
                    style,
                    marker="o",
                    markersize=3,
                    color=color,
                    label=policy if label is None else f"{policy} {label}",
                )
        ax.set_xlabel("offered load (QPS)")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
