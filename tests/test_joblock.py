"""One process per training job (selcn.joblock): a second process of the same job fails at once,
naming the first one's PID; the lock goes with its holder, also when it is killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from selcn.joblock import LOCK_FILE, JobLockedError, hold_job_lock, job_lock
from test_training import _fit, tiny_data

HOLDER = textwrap.dedent("""
    import sys
    from selcn.joblock import hold_job_lock
    hold_job_lock(sys.argv[1])
    print("held", flush=True)
    sys.stdin.read()
""")


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def _holder(out_dir):
    """Another process holding ``out_dir``'s lock (until it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_of_a_job_fails_naming_the_first(data, tmp_path):
    out = tmp_path / "fold0"
    holder = _holder(out)
    try:
        with pytest.raises(JobLockedError) as err:
            _fit(data, out, epochs=1)
        assert f"pid {holder.pid} on host " in str(err.value)
        assert f"kill {holder.pid}" in str(err.value) and str(out / LOCK_FILE) in str(err.value)
        assert not (out / "history.csv").exists()               # it did not start
    finally:
        holder.kill()                                           # SIGKILL: no clean-up ...
        holder.wait()
    assert (out / LOCK_FILE).exists()                           # ... the file stays, but
    _fit(data, out, epochs=1)                                   # the lock went with it
    assert not (out / LOCK_FILE).exists()                       # fit removes its lock file


def test_the_lock_is_reentrant_in_its_process(data, tmp_path):
    out = tmp_path / "fold0"
    with job_lock(out):
        hold_job_lock(out)                                      # a no-op: held already
        _fit(data, out, epochs=1)                               # fit inside a locked job
        assert (out / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} on host ")
    assert not (out / LOCK_FILE).exists()


TRAINING = textwrap.dedent("""
    import sys, time
    from selcn.joblog import start_job
    out, log, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.stderr = sys.stdout = start_job(log, out)

    from test_training import _accuracy, _fit, tiny_data

    def slow_accuracy(outputs, targets):
        time.sleep(pause)
        return _accuracy(outputs, targets)

    _fit(tiny_data(), out, epochs=8, metrics_fn=slow_accuracy)
    print("done")
""")


def _train(out, log, pause):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    return subprocess.Popen([sys.executable, "-c", TRAINING, str(out), str(log), str(pause)],
                            env=env, stderr=subprocess.PIPE, text=True)


def _wait_for(path, text, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s")


@pytest.mark.slow
def test_two_trainings_of_one_job_then_a_resume_that_keeps_the_log(tmp_path):
    out, log = tmp_path / "lesion" / "fold0", tmp_path / "logs" / "train.log"
    first = _train(out, log, pause=0.5)
    try:
        _wait_for(log, "[training] epoch 2/8:")
        log.unlink()                    # a second Snakemake run (after --unlock) deletes the log
        second = _train(out, log, pause=0.0)
        assert second.wait(timeout=120) != 0
        text = log.read_text()
        assert f"is being written by another process of the same job: pid {first.pid} " in text
        assert f"pid {first.pid}" in second.stderr.read()
        assert first.poll() is None     # the first one trains on, undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    log.unlink()                        # the rerun after the kill: Snakemake deletes the log
    third = _train(out, log, pause=0.0)
    assert third.wait(timeout=120) == 0, third.stderr.read()[-2000:]
    lines = log.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[job] start ")]
    assert len(starts) == 2 and lines[starts[1]].startswith("[job] start 2: ")
    killed, resumed = lines[starts[0]:starts[1]], lines[starts[1]:]
    assert any(line.startswith("[training] epoch 2/8:") for line in killed)
    assert any(line.startswith("[training] resumed from ") for line in resumed)
    assert resumed[-2].startswith("[training] epoch 8/8:") and resumed[-1] == "done"
    assert not (out / LOCK_FILE).exists()
