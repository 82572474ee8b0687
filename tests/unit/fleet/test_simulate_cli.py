import csv
import sys
from pathlib import Path

import pytest

from heteropool.cli import main
from heteropool.fleet import cli
from heteropool.fleet.experiment import CSV_COLUMNS, build_items, plan_pool, run_policies, run_policy
from heteropool.fleet.workloads import LoadStage
from heteropool.manifests import load_pools
from heteropool.sim.profiles import build_profile

SAMPLES = Path(__file__).resolve().parents[3] / "samples"

TINY_POOL = """\
apiVersion: heteropool.dev/v1alpha1
kind: HeteroInferencePool
metadata: {name: tiny}
spec:
  model: {name: ibm-granite/granite-4.1-8b}
  vendors:
    - {name: fast, vendor: sim, accelerator: h100-nvl, replicas: 1}
    - {name: slow, vendor: intel-gaudi, replicas: 1, vllm: {blockSize: 128}}
"""

# A short run: a 2 s warm-up, then 2 stages of 3 simulated seconds on 2 replicas, random prompts.
SHORT = ["--workload", "random", "--qps", "1,3", "--stage-seconds", "3", "--warmup", "2:2", "--jobs", "1"]


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text(TINY_POOL)
    return path


def test_simulate_writes_csv_table_and_plots(
    pool_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = main(["simulate", str(pool_file), *SHORT, "--policies", "round-robin,heteropool", "--output", str(out)])
    assert rc == 0
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert [(r["policy"], r["qps"]) for r in rows] == [
        ("round-robin", "1"),
        ("round-robin", "3"),
        ("heteropool", "1"),
        ("heteropool", "3"),
    ]
    assert set(CSV_COLUMNS) | {"share_fast", "share_slow"} <= set(rows[0])
    assert all(r["failed"] == "0" and float(r["output_tokens_per_s"]) > 0 for r in rows)
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.md", "throughput.png", "ttft.png"}
    captured = capsys.readouterr()
    assert "tiny: 1x fast (h100-nvl), 1x slow (gaudi3)" in captured.out
    assert "warm-up 2 QPS x 2 s (not reported), 3 s stages, inference-perf protocol" in captured.out
    assert "## heteropool" in captured.out and "At 3 QPS:" in captured.out
    assert "simulating [" in captured.err and "4/4 stages" in captured.err


def test_simulate_without_matplotlib_skips_plots_and_says_how_to_get_them(
    pool_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in an install without the plots extra
    out = tmp_path / "out"
    rc = main(["simulate", str(pool_file), *SHORT, "--policies", "round-robin", "--output", str(out)])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.md"}
    err = capsys.readouterr().err
    assert "plots skipped: matplotlib is not installed" in err
    assert "pip install 'heteropool[plots]'" in err


def test_forked_jobs_give_the_same_results_as_one_process(pool_file: Path) -> None:
    plan = plan_pool(load_pools(pool_file.read_text())[0])
    items = build_items("shared-prefix", [2.0], 2.0, seed=3)
    serial = run_policies(plan, ["round-robin", "llm-d"], [2.0], items, seed=3, jobs=1)
    forked = run_policies(plan, ["round-robin", "llm-d"], [2.0], items, seed=3, jobs=2)
    assert forked == serial


def test_replicas_follow_the_manifest_groups_and_their_published_flags() -> None:
    plan = plan_pool(load_pools(cli._EMBEDDED_POOL)[0])
    assert plan.replicas == plan_pool(load_pools((SAMPLES / "granite-3vendor.yaml").read_text())[0]).replicas
    by_group = {g: [r for r in plan.replicas if plan.groups[r.id] == g] for g in ("nvidia", "amd", "intel-gaudi")}
    gaudi = by_group["intel-gaudi"]
    assert len(gaudi) == 8 and {
        (r.profile.name, r.block_size, r.max_num_seqs, r.max_num_batched_tokens, r.max_model_len) for r in gaudi
    } == {("gaudi3", 128, 256, 16384, 9216)}
    assert gaudi[0].profile == build_profile("gaudi3", dtype="bfloat16", gpu_memory_utilization=0.75)
    assert {(r.max_num_batched_tokens, r.max_model_len) for r in by_group["nvidia"] + by_group["amd"]} == {(2048, None)}
    assert by_group["nvidia"][0].profile == build_profile("h100-nvl", gpu_memory_utilization=0.85)
    assert {r.capacity_tokens_per_s for r in plan.replicas} == {1600.0, 2100.0, 630.0}


def test_the_warm_up_runs_first_and_is_not_reported(pool_file: Path) -> None:
    plan = plan_pool(load_pools(pool_file.read_text())[0])
    warm = LoadStage(4.0, 3.0)
    items = build_items("shared-prefix", [2.0], 2.0, seed=3, warmup=warm)
    assert len(items) == 2 and len(items[0]) == 12
    (stage,) = run_policy(plan, "llm-d", [2.0], items, seed=3, warmup=warm)
    (cold,) = run_policy(plan, "llm-d", [2.0], items[1:], seed=3)
    assert stage.requests == cold.requests == 4 and stage.cached_fraction > cold.cached_fraction


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policies", "round-robin,fastest"], "unknown policy 'fastest'"),
        (["--qps", "5,x,25"], "got 'x'"),
        (["--qps", "5,-1"], "positive number, got '-1'"),
        (["--stage-seconds", "0"], "must be > 0"),
        (["--warmup", "30"], "expected QPS:SECONDS"),
        (["--warmup", "30:-5"], "both > 0"),
        (["--protocol", "on-the-clock"], "invalid choice"),
    ],
    ids=[
        "unknown-policy",
        "qps-not-a-number",
        "qps-negative",
        "zero-stage",
        "warmup-no-seconds",
        "warmup-negative",
        "unknown-protocol",
    ],
)
def test_bad_options_exit_2_naming_the_option(
    pool_file: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(pool_file), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read pool manifest"),
        ("a: [", "not valid YAML"),
        (TINY_POOL.replace("replicas: 1}", "replicas: -1}", 1), "spec.vendors[0].replicas"),
        (TINY_POOL.replace("h100-nvl", "a100"), "spec.vendors[0].accelerator: unknown sim accelerator 'a100'"),
        (TINY_POOL + "---\n" + TINY_POOL.replace("name: tiny", "name: other"), "choose one with --name"),
    ],
    ids=["missing-file", "not-yaml", "invalid-spec", "unknown-accelerator", "two-pools"],
)
def test_bad_manifest_exits_2_with_a_clear_message(
    tmp_path: Path, text: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pool.yaml"
    if text is not None:
        path.write_text(text)
    assert main(["simulate", str(path), *SHORT, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("heteropool simulate: ") and message in err
    assert not (tmp_path / "out").exists()


def test_mixed_priority_reports_per_priority_columns_and_ignore_priority_keeps_them(
    pool_file: Path, tmp_path: Path
) -> None:
    short = [
        "--workload",
        "mixed-priority",
        "--qps",
        "2",
        "--stage-seconds",
        "3",
        "--warmup",
        "none",
        "--jobs",
        "1",
        "--policies",
        "heteropool",
        "--no-plots",
    ]
    for flag in ([], ["--ignore-priority"]):
        out = tmp_path / ("ignored" if flag else "tiers")
        assert main(["simulate", str(pool_file), *short, *flag, "--output", str(out)]) == 0
        (row,) = csv.DictReader((out / "results.csv").read_text().splitlines())
        for c in ("high", "low"):
            for f in ("ttft_mean_s", "ttft_p99_s", "output_tokens_per_s", "failed", "rejected"):
                assert f"{f}_{c}" in row
            assert float(row[f"ttft_p99_s_{c}"]) > 0 and float(row[f"output_tokens_per_s_{c}"]) > 0
        assert "By priority:" in (out / "results.md").read_text()
