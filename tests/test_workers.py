"""Warm decode workers: same outputs as an in-process decode, one job per worker, clean exits."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from decode_setup import TEMPLATES, decode_settings, translation_data

from prettyflow import worker_protocol as protocol
from prettyflow import workers
from prettyflow.steps.decode import decode

COMPUTE = {"device": "cpu", "threads": 1, "batch_size": 4}


@pytest.fixture
def worker_dir(monkeypatch):
    # Short: a Unix socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="pfw-"))
    path.chmod(0o700)
    monkeypatch.setenv(workers.WORKER_DIR_VARIABLE, str(path))
    yield path
    workers.stop_idle_workers(path)
    shutil.rmtree(path, ignore_errors=True)


def job(tmp_path, model_dir, name, template=TEMPLATES[0], ids=None):
    data = translation_data(tmp_path / name, ids or ["a", "b", "c", "d", "e"])
    return {
        "data_path": str(data),
        "output_path": str(tmp_path / name / "decodes.parquet"),
        "settings": decode_settings(model_dir, template=template),
        "prior_path": None,
        "demonstration_path": None,
        "shard": None,
    }


def in_worker(kwargs, compute=COMPUTE, idle_seconds=30.0):
    return workers.run_in_worker(
        {**kwargs, "compute": compute},
        kwargs["settings"]["model"],
        compute,
        idle_seconds,
    )


def worker_pids(directory):
    return {
        json.loads(path.read_text())["pid"] for path in Path(directory).glob("*.json")
    }


def wait_until(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent, this test) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" not in status.read_text()


def test_worker_outputs_equal_in_process_decodes_and_the_model_is_loaded_once(
    tmp_path, tiny_model_dir, worker_dir, capsys
):
    first = job(tmp_path, tiny_model_dir, "first")
    second = job(tmp_path, tiny_model_dir, "second", template=TEMPLATES[1])
    results = [in_worker(first), in_worker(second)]
    assert [result["started"] for result in results] == [True, False]
    assert [result["reused"] for result in results] == [False, True]
    assert results[0]["pid"] == results[1]["pid"]
    log = capsys.readouterr().out
    assert "loading the model" in log and "model already loaded" in log
    assert "decoded 5 samples" in log  # the worker's log reached the job

    for kwargs in (first, second):
        local = tmp_path / (Path(kwargs["output_path"]).parent.name + "-local.parquet")
        decode(**{**kwargs, "output_path": local}, compute=COMPUTE)
        assert Path(kwargs["output_path"]).read_bytes() == local.read_bytes()


def test_jobs_side_by_side_get_workers_of_their_own(
    tmp_path, tiny_model_dir, worker_dir
):
    kwargs = job(tmp_path, tiny_model_dir, "one")
    key, _identity = workers.worker_key(kwargs["settings"]["model"], COMPUTE)
    with workers._slot(worker_dir, key) as slot:  # another job holds slot 0
        assert slot == 0
        result = in_worker(kwargs)
    assert result["started"]
    assert (worker_dir / f"{key}-1.sock").exists()
    assert not (worker_dir / f"{key}-0.sock").exists()


def test_a_failing_decode_fails_the_job_with_its_error_and_ends_the_worker(
    tmp_path, tiny_model_dir, worker_dir
):
    kwargs = job(tmp_path, tiny_model_dir, "bad")
    in_worker(kwargs)  # a worker with the model loaded
    [pid] = worker_pids(worker_dir)
    broken = {**kwargs, "data_path": str(tmp_path / "missing.parquet")}
    with pytest.raises(workers.WorkerError, match="missing.parquet"):
        in_worker(broken)
    assert wait_until(lambda: not alive(pid))


def test_a_job_that_goes_away_interrupts_its_decode_and_nothing_is_written(
    tmp_path, tiny_model_dir, worker_dir
):
    kwargs = job(tmp_path, tiny_model_dir, "gone", ids=[f"s{i}" for i in range(40)])
    kwargs["settings"]["max_new_tokens"] = 64
    compute = {**COMPUTE, "batch_size": 1}
    key, identity = workers.worker_key(kwargs["settings"]["model"], compute)
    request = {
        "key": key,
        "identity": identity,
        "kwargs": {**kwargs, "compute": compute},
    }
    connection, started = workers._connect_or_start(worker_dir, key, 0, identity, 30)
    assert started
    [pid] = worker_pids(worker_dir)
    protocol.send(connection, protocol.REQUEST, json.dumps(request).encode())
    # Wait for the decode to begin (its first log lines), then go away like a killed job.
    assert protocol.receive(connection)[0] == protocol.LOG
    connection.close()
    assert wait_until(lambda: not alive(pid))
    assert not Path(kwargs["output_path"]).exists()
    assert not list(Path(kwargs["output_path"]).parent.glob("*.partial"))


def test_an_idle_worker_exits_and_a_later_job_starts_another(
    tmp_path, tiny_model_dir, worker_dir
):
    kwargs = job(tmp_path, tiny_model_dir, "idle")
    first = in_worker(kwargs, idle_seconds=0.3)
    assert wait_until(lambda: not alive(first["pid"]))
    assert not list(worker_dir.glob("*.sock"))
    second = in_worker(kwargs, idle_seconds=0.3)
    assert second["started"] and second["pid"] != first["pid"]


def test_stop_idle_workers_stops_those_of_the_working_directory(
    tmp_path, tiny_model_dir, worker_dir
):
    result = in_worker(job(tmp_path, tiny_model_dir, "stop"))
    assert workers.stop_idle_workers(worker_dir, cwd="/elsewhere") == 0
    assert alive(result["pid"])
    assert workers.stop_idle_workers(worker_dir, cwd=os.getcwd()) == 1
    assert wait_until(lambda: not alive(result["pid"]))
    assert not list(worker_dir.glob("*.sock"))


def test_the_key_changes_with_the_model_files_device_and_threads(
    tmp_path, tiny_model_dir
):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    settings = {"name": "tiny", "path": str(model_dir)}
    key, identity = workers.worker_key(settings, COMPUTE)
    assert workers.worker_key(dict(settings), dict(COMPUTE))[0] == key
    assert workers.worker_key(settings, {**COMPUTE, "threads": 2})[0] != key
    assert workers.worker_key(settings, {**COMPUTE, "device": "cuda"})[0] != key
    assert workers.worker_key({**settings, "adapter": "x"}, COMPUTE)[0] != key
    weights = next(model_dir.glob("*.safetensors"))
    os.utime(weights, ns=(0, weights.stat().st_mtime_ns + 10**9))
    assert workers.worker_key(settings, COMPUTE)[0] != key
    assert identity["versions"]["torch"]


def test_a_shared_or_foreign_worker_folder_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "w"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    monkeypatch.setenv(workers.WORKER_DIR_VARIABLE, str(folder))
    with pytest.raises(workers.WorkerError, match="mode 700"):
        workers.worker_dir()


def test_a_worker_that_cannot_start_says_why(tmp_path, worker_dir, monkeypatch):
    monkeypatch.setattr(workers.sys, "executable", "/bin/false")
    with pytest.raises(workers.WorkerError, match="did not start"):
        workers._connect_or_start(
            worker_dir, "k" * 20, 0, {"device": "cpu", "cwd": "/", "model": {}}, 1
        )


def test_the_job_side_imports_no_heavy_module():
    import subprocess
    import sys

    code = (
        "import sys, prettyflow.workers, prettyflow.logs;"
        "print(sorted(m for m in ('torch', 'transformers', 'pandas', 'numpy') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_only_a_worker_that_may_hold_gpu_memory_evicts_idle_ones(monkeypatch, tmp_path):
    assert not workers._may_use_accelerator("cpu")
    assert workers._may_use_accelerator("cuda:1")
    driver = tmp_path / "nvidiactl"
    monkeypatch.setattr(workers, "ACCELERATOR_DEVICE_FILES", (str(driver),))
    assert not workers._may_use_accelerator("auto")
    driver.touch()
    assert workers._may_use_accelerator("auto")


def test_a_new_gpu_worker_stops_only_idle_workers_of_other_models_of_its_run(
    tmp_path, tiny_model_dir, worker_dir, monkeypatch
):
    # Real worker processes (no model loaded: their jobs only connect), keys A and B.
    compute = {**COMPUTE, "device": "auto"}
    settings = {"name": "tiny", "path": str(tiny_model_dir)}
    key_a, identity_a = workers.worker_key(settings, compute)
    key_b, identity_b = workers.worker_key({**settings, "name": "other"}, compute)
    driver = tmp_path / "nvidiactl"  # absent: no eviction while they start
    monkeypatch.setattr(workers, "ACCELERATOR_DEVICE_FILES", (str(driver),))

    def lock(key, slot):
        return workers.try_lock(worker_dir / f"{key}-{slot}.lock")

    def start(key, identity, slot, run):
        monkeypatch.setenv(workers.RUN_VARIABLE, run)
        with lock(key, slot) as locked:
            assert locked
            connection, started = workers._connect_or_start(
                worker_dir, key, slot, identity, 60
            )
            connection.close()
        assert started
        return json.loads((worker_dir / f"{key}-{slot}.json").read_text())["pid"]

    same_model = start(key_a, identity_a, 0, "this-run")
    idle_other_model = start(key_b, identity_b, 0, "this-run")
    busy_other_model = start(key_b, identity_b, 1, "this-run")
    other_run = start(key_b, identity_b, 2, "another-run")

    driver.touch()  # now a GPU may be there
    monkeypatch.setenv(workers.RUN_VARIABLE, "this-run")
    with lock(key_b, 1) as busy, lock(key_a, 1) as job_slot:
        assert busy and job_slot  # a job of B decodes in slot 1; ours has slot 1 of A
        connection, started = workers._connect_or_start(
            worker_dir, key_a, 1, identity_a, 60
        )
        connection.close()
    assert started
    assert wait_until(lambda: not alive(idle_other_model))
    assert not (worker_dir / f"{key_b}-0.sock").exists()
    time.sleep(0.5)  # a wrongly stopped one would be gone by now too
    for pid in (same_model, busy_other_model, other_run):
        assert alive(pid)
    assert (worker_dir / f"{key_a}-1.sock").exists()  # the new worker
