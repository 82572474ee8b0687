"""Local mode pieces: priors from endpoint entries, the `up` plan and table, atomic file writes."""

from __future__ import annotations

from pathlib import Path

from heteropool.commands.up import plan_replicas, render_table
from heteropool.manifests import load_pools
from heteropool.routing import EndpointEntry, load_endpoint_entries
from heteropool.weights.controller import WeightController, WeightSettings
from heteropool.weights.local import targets_from_entries, write_endpoint_file

REPO = Path(__file__).resolve().parents[3]


def test_priors_come_from_capacity_then_vendor_name_then_the_mean() -> None:
    entries = [
        EndpointEntry(url="http://a:1/", group="nvidia"),
        EndpointEntry(url="http://b:1", group="amd", capacity=999.0),
        EndpointEntry(url="http://c:1", group="mystery"),
    ]
    targets = targets_from_entries(entries)
    assert [t.prior_capacity_tokens_per_s for t in targets] == [1600.0, 999.0, (1600.0 + 999.0) / 2]
    assert targets[0].endpoint_id == "http://a:1" and targets[0].group == "nvidia"


def test_priors_are_equal_when_no_name_maps() -> None:
    targets = targets_from_entries(
        [EndpointEntry(url="http://a:1", group="x"), EndpointEntry(url="http://b:1", group="y")]
    )
    assert {t.prior_capacity_tokens_per_s for t in targets} == {1.0}


def test_write_endpoint_file_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    entries = [EndpointEntry(url="http://a:1", group="nvidia", capacity=10.5, block_size=16, capacity_multiplier=0.9)]
    write_endpoint_file(path, entries)
    assert load_endpoint_entries(path.read_text()) == entries
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]  # no temp file left


def test_up_plan_caps_replicas_and_uses_each_groups_accelerator() -> None:
    pool = load_pools((REPO / "samples" / "sim-pool.yaml").read_text())[0]
    plans, desired = plan_replicas(pool, max_per_group=1)
    assert desired == {"sim-h100": 2, "sim-mi325x": 2, "sim-gaudi3": 2}
    assert [(p.name, p.profile, p.block_size, p.prior_tokens_per_s) for p in plans] == [
        ("sim-h100-0", "h100-nvl", 16, 1600.0),
        ("sim-mi325x-0", "mi325x", 16, 2100.0),
        ("sim-gaudi3-0", "gaudi3", 128, 630.0),
    ]


def test_up_plan_of_real_vendors_emulates_their_accelerators() -> None:
    pool = load_pools((REPO / "samples" / "granite-3vendor.yaml").read_text())[0]
    plans, desired = plan_replicas(pool, max_per_group=2)
    assert desired == {"nvidia": 4, "amd": 8, "intel-gaudi": 8}
    assert [(p.group, p.profile, p.block_size, p.max_num_seqs) for p in plans[::2]] == [
        ("nvidia", "h100-nvl", 16, None),
        ("amd", "mi325x", 16, None),
        ("intel-gaudi", "gaudi3", 128, 256),
    ]


def test_up_table_shows_groups_weights_and_readiness(make_target) -> None:
    from heteropool.vllm_metrics import EngineSample

    pool = load_pools((REPO / "samples" / "sim-pool.yaml").read_text())[0]
    plans, desired = plan_replicas(pool, max_per_group=1)
    targets = [make_target(p.name, p.prior_tokens_per_s, p.group) for p in plans]
    update = WeightController(WeightSettings(interval_s=5)).update(
        targets, {t.endpoint_id: EngineSample(generation_tokens_total=0.0) for t in targets}, 0.0
    )
    table = render_table("sim", "granite-4.1-8b", "heteropool", "http://127.0.0.1:8080/v1", plans, desired, update)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["NAME", "READY", "REPLICAS", "WEIGHTS"]
    assert lines[1].split()[:3] == ["sim", "True", "3/3"]
    row = next(ln for ln in lines if ln.startswith("sim-gaudi3 "))
    assert row.split()[:6] == ["sim-gaudi3", "sim", "gaudi3", "1/1", "2", f"{630 / 4330:.3f}"]
