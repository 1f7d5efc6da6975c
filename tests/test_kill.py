"""A run killed with SIGKILL at random moments, then resumed, ends as if never killed.

The translation chain of one subset on tiny models, its decodes cut into shards of 2
sentences (3 shards per decode). One run goes through uninterrupted; another is
killed (``kill -9`` of the whole snakemake process group) several times while it
decodes, and each time resumed the documented way (``snakemake --unlock``, then
``snakemake`` again; the default profile reruns incomplete jobs). Every shard that
was finished before a kill must be kept (never decoded again) and the final tables
must be byte-identical to the uninterrupted run's.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_setup import SNAKEMAKE, run_snakemake, write_one_subset_config

pytestmark = pytest.mark.workflow

KILLS = 3
SEED = 20261202
TABLES = ("csv", "md", "tex")


def snakemake_command(repo_root: Path, workdir: Path, config: Path) -> list[str]:
    return SNAKEMAKE + [
        "--snakefile", str(repo_root / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(config),
        "--cores", "2",
    ]  # fmt: skip


def incomplete_outputs(workdir: Path) -> set[str]:
    """Outputs Snakemake still marks incomplete (their job had not been recorded done).

    Snakemake keeps a marker per output in ``.snakemake/incomplete``, named by the
    urlsafe base64 of the path (split into ``@``-prefixed folders when long).
    """
    markers = workdir / ".snakemake" / "incomplete"
    paths = set()
    for marker in markers.rglob("*") if markers.is_dir() else []:
        if not marker.is_file() or marker.name == "migration_underway":
            continue
        parts = [part.lstrip("@") for part in marker.relative_to(markers).parts]
        paths.add(base64.urlsafe_b64decode("".join(parts)).decode())
    return paths


def shard_files(workdir: Path) -> dict[str, int]:
    """Finished decode shards: path -> modification time (ns).

    A shard counts as finished when its file exists and Snakemake recorded its job
    as done: a job killed after writing its file but before Snakemake noticed it
    ended is still marked incomplete, and is rightly decoded again.
    """
    results = workdir / "results"
    pending = incomplete_outputs(workdir)
    return {
        str(path.relative_to(results)): path.stat().st_mtime_ns
        for path in results.glob("translation/decode/*/*/*/shards/*/*.parquet")
        if str(path) not in pending
    }


def started_shards(workdir: Path) -> set[str]:
    """Decode shards whose job had started (its log exists), named like shard_files."""
    logs = workdir / "results" / "logs" / "translation" / "decode"
    started = set()
    for log in logs.glob("*/*/*/*/*.log"):
        benchmark, family, subset, system = log.relative_to(logs).parts[:4]
        started.add(
            f"translation/decode/{benchmark}/{family}/{subset}/shards/{system}/"
            f"{log.stem}.parquet"
        )
    return started


def kill_after(command: list[str], seconds: float) -> int:
    """Start ``command`` in its own process group and SIGKILL the group after ``seconds``.

    Returns the exit code, or None if it was killed.
    """
    process = subprocess.Popen(
        command,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


@pytest.fixture(scope="module")
def runs(repo_root, tmp_path_factory):
    """(uninterrupted workdir, killed-and-resumed workdir, kill records)."""
    clean = tmp_path_factory.mktemp("uninterrupted")
    config_path = write_one_subset_config(repo_root, clean)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    # Decodes go through warm workers, as in the demo: a kill must not lose their work.
    config["compute"]["decode"] = {
        "threads": 1,
        "shard_size": 2,
        "worker_idle_seconds": 60,
    }
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_snakemake(repo_root, clean, config_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]

    # The same models, refined file and settings; only the results folder differs.
    killed = tmp_path_factory.mktemp("killed")
    config["results_dir"] = str(killed / "results")
    killed_config = killed / "config.yaml"
    killed_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = snakemake_command(repo_root, killed, killed_config)
    draw = random.Random(SEED)
    records = []
    for _ in range(KILLS):
        kept_before = shard_files(killed)
        started = time.monotonic()
        code = kill_after(command, draw.uniform(8, 18))
        records.append(
            {
                "killed_after_s": round(time.monotonic() - started, 1),
                "finished": code is not None,
                "shards_before": kept_before,
                "shards_after": shard_files(killed),
                "shards_started": started_shards(killed),
            }
        )
        # The one recovery command for the lock a killed snakemake leaves behind.
        unlock = subprocess.run(
            command + ["--unlock"], capture_output=True, text=True, timeout=300
        )
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    final = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert final.returncode == 0, final.stderr[-4000:]
    return clean, killed, records


def test_every_shard_finished_before_a_kill_is_kept(runs):
    _, killed, records = runs
    kept_at_the_end = shard_files(killed)
    for record in records:
        for path, modified in record["shards_after"].items():
            assert kept_at_the_end.get(path) == modified, (
                f"{path} was decoded again after the kill"
            )
    # The kills hit the decoding: shards were finished and others were not yet.
    assert not all(record["finished"] for record in records), records
    partial = [
        record
        for record in records
        if 0 < len(record["shards_after"]) < len(kept_at_the_end)
    ]
    assert partial, [len(record["shards_after"]) for record in records]
    # For the record (README, issue notes): when each kill came, what it kept.
    summary = {
        "kills": [
            {
                "after_s": r["killed_after_s"],
                "shards_kept_before": len(r["shards_before"]),
                "shards_kept_after": len(r["shards_after"]),
                # Started but unfinished at the kill: the work lost, decoded again.
                "shards_lost": len(r["shards_started"] - set(r["shards_after"])),
            }
            for r in records
        ],
        "shards_in_all": len(kept_at_the_end),
    }
    (killed / "kill-summary.json").write_text(json.dumps(summary, indent=1))


def test_tables_are_byte_identical_to_an_uninterrupted_run(runs):
    clean, killed, _ = runs
    for extension in TABLES:
        name = f"tables/translation-flores-tiny.{extension}"
        assert (killed / "results" / name).read_bytes() == (
            clean / "results" / name
        ).read_bytes(), name


def test_no_temporary_files_are_left_behind(runs):
    _, killed, _ = runs
    leftovers = [
        path
        for path in (killed / "results").rglob(".*")
        if path.is_file() and path.name.startswith(".")
    ]
    assert not leftovers, leftovers


def test_no_decode_worker_outlives_the_resumed_run(runs):
    from prettyflow.workers import worker_dir

    _, killed, _ = runs
    left = []
    for record_path in worker_dir().glob("*.json"):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("cwd") == str(killed) and Path(f"/proc/{record['pid']}").exists():
            left.append(record)
    assert not left, left
