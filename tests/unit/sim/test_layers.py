"""The engine, profiles and fleet simulation stay pure: no servers, HTTP clients or Kubernetes."""

import ast
from pathlib import Path

import pytest

import heteropool

ROOT = Path(heteropool.__file__).parent
PURE = [
    "sim/tokenizer.py", "sim/blocks.py", "sim/kvcache.py", "sim/engine.py", "sim/profiles.py",
    "sim/admin.py", "sim/openai_api.py", "fleet/workloads.py", "fleet/simulation.py", "fleet/report.py",
    "scheduling/endpoints.py",  # the endpoint table's load accounting, which the fleet simulation drives
]
# The data plane's I/O modules; the pure routing core and load accounting may be used.
FORBIDDEN = ("aiohttp", "httpx", "kopf", "kubernetes", "asyncio", "grpc", "heteropool.sim.server", "heteropool.cli",
             "heteropool.epp.discovery", "heteropool.epp.scraper", "heteropool.epp.sources",
             "heteropool.epp.server", "heteropool.epp.service", "heteropool.epp.cli", "heteropool.epp.local")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_layer(module: str) -> None:
    bad = {m for m in _imports(ROOT / module) if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN
           or any(m.startswith(f + ".") or m == f for f in FORBIDDEN)}
    assert not bad, f"{module} imports {sorted(bad)}"
