"""The Makefile's set-up says what it needs: a Python older than pyproject's requires-python is
refused before a .venv is made, naming the interpreter and how to pass another; a .venv made by
such an interpreter is removed, not reused; `make clean` leaves .venv, `make clean-venv` not.

Run on a copy of the Makefile and pyproject.toml with fake interpreters (tiny shell scripts that
print a version): no environment is created."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _fake_python(path, version):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "Python {version}"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def work(repo, tmp_path):
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(repo / name, tmp_path / name)
    return tmp_path


def _make(work, *args):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=work, capture_output=True,
                          text=True, timeout=60)


def test_an_old_python_is_refused_before_a_venv_is_made(work):
    old = _fake_python(work / "bin" / "python3.10", "3.10.13")
    run = _make(work, "venv", f"PYTHON={old}")
    assert run.returncode != 0
    assert (f"error: SE-LCN needs Python >= 3.11 (pyproject.toml: requires-python), but "
            f"PYTHON={old} ({old}) is Python 3.10.13.") in run.stderr
    assert "make demo PYTHON=python3.11" in run.stderr
    assert not (work / ".venv").exists()
    run = _make(work, "venv", "PYTHON=no-such-python3")
    assert run.returncode != 0 and "(not found) is not a working Python" in run.stderr
    assert not (work / ".venv").exists()


def test_the_minimum_comes_from_pyproject(work):
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.11"',
                                                       'requires-python = ">=3.13"'))
    run = _make(work, "python-check", f"PYTHON={_fake_python(work / 'py', '3.12.4')}")
    assert run.returncode != 0 and "needs Python >= 3.13" in run.stderr
    assert _make(work, "python-check",
                 f"PYTHON={_fake_python(work / 'py', '3.13.0')}").returncode == 0


def test_a_venv_made_by_an_old_python_is_removed_not_reused(work):
    _fake_python(work / ".venv" / "bin" / "python", "3.10.13")   # made by a 3.10
    (work / ".venv" / "bin" / "snakemake").write_text("")         # and looking installed
    old = _fake_python(work / "bin" / "python3.10", "3.10.13")
    run = _make(work, "venv", f"PYTHON={old}")
    assert ".venv was made by Python 3.10.13, not >= 3.11: removing it" in run.stdout
    assert not (work / ".venv").exists()
    assert run.returncode != 0 and "is Python 3.10.13." in run.stderr   # and not made again


def test_clean_keeps_the_venv_and_clean_venv_removes_it(work):
    _fake_python(work / ".venv" / "bin" / "python", "3.11.9")
    (work / "results").mkdir()
    run = _make(work, "clean")
    assert run.returncode == 0 and "kept .venv (make clean-venv removes it)" in run.stdout
    assert (work / ".venv").is_dir() and not (work / "results").exists()
    assert _make(work, "clean-venv").returncode == 0 and not (work / ".venv").exists()
