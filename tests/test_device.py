"""The device of a job is explicit (selcn.device): a declared GPU or `device: cuda` without CUDA
fails at once, saying why; `auto` falls back to the CPU only where no GPU is declared, and says
so; every job logs its device and the versions."""

import pytest
import torch
import yaml

import selcn.device
from helpers import TINY_SYNTHETIC, run_snakemake, tiny_config
from selcn.device import DeviceError, cuda_status, describe_device, job_device
from selcn.engine import Training


@pytest.fixture
def no_cuda(monkeypatch):
    """CUDA made unavailable, whatever the machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_declared_gpu_without_cuda_fails_at_once(no_cuda, capsys):
    with pytest.raises(DeviceError) as err:
        job_device({"device": "auto"}, 1, job="rule train_lesion_ham10000")
    text = str(err.value)
    assert "rule train_lesion_ham10000 needs a GPU" in text
    assert "1 GPU(s) declared" in text and "resources.gpu" in text
    assert f"CUDA is unavailable: {cuda_status().reason}" in text
    assert torch.__version__ in text                      # the versions, for the bug report
    assert "device: cpu" in text                          # and what to change
    assert capsys.readouterr().err == ""                  # no device line: nothing ran


def test_device_cuda_without_cuda_fails_at_once(no_cuda):
    with pytest.raises(DeviceError, match="the config sets device: cuda"):
        job_device({"device": "cuda"}, 0)
    with pytest.raises(DeviceError, match="CUDA is unavailable"):
        job_device("cuda:0")


def test_auto_without_a_declared_gpu_falls_back_and_says_so(no_cuda, capsys):
    assert job_device({"device": "auto"}, 0, job="rule symmetry_cams") == torch.device("cpu")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[device] cpu (") and torch.__version__ in lines[0]
    assert lines[1].startswith("[device] device: auto and CUDA is unavailable (")
    assert "rule symmetry_cams runs on the CPU, as it declares no GPU" in lines[1]
    assert job_device({"device": "auto"}, None, quiet=True) == torch.device("cpu")
    assert capsys.readouterr().err == ""


def test_device_cpu_is_the_explicit_way_to_run_a_gpu_rule_on_the_cpu(capsys):
    assert job_device({"device": "cpu"}, 2, job="rule x") == torch.device("cpu")
    err = capsys.readouterr().err
    assert "rule x declares 2 GPU(s) but the config sets device: cpu" in err
    with pytest.raises(ValueError, match="not a torch device"):
        job_device("tpu9")


def test_training_of_a_gpu_job_fails_before_it_starts(no_cuda, capsys):
    cfg = {**tiny_config("lesion"), "device": "auto"}
    with pytest.raises(DeviceError, match="this lesion training needs a GPU"):
        Training.of(cfg, "lesion", gpus=1)
    training = Training.of(cfg, "lesion", gpus=0)          # no GPU declared: the CPU, said
    assert training.device == torch.device("cpu") and training.fit_config().device == "cpu"
    err = capsys.readouterr().err
    assert err.count("[device] cpu (") == 1 and "runs on the CPU" in err


def test_the_reason_cuda_is_unavailable(no_cuda, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert cuda_status().reason == f"this torch ({torch.__version__}) is a CPU-only build"
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(selcn.device, "_driver_cuda_version", lambda: None)
    assert cuda_status().reason.startswith("no NVIDIA driver found")
    monkeypatch.setattr(selcn.device, "_driver_cuda_version", lambda: "12.4")
    monkeypatch.setattr(selcn.device, "_driver_version", lambda: "550.54.15")
    status = cuda_status()
    assert status.reason == (f"the NVIDIA driver 550.54.15 supports CUDA up to 12.4, older than "
                             f"the CUDA 13.0 this torch ({torch.__version__}) was built for: "
                             "update the driver, or install a torch build for CUDA <= 12.4")
    assert status.versions().endswith("CUDA 13.0 build, driver 550.54.15 (CUDA 12.4)")
    monkeypatch.setattr(selcn.device, "_driver_cuda_version", lambda: "13.1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_status().reason == "no GPU visible (CUDA_VISIBLE_DEVICES='')"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert cuda_status().reason == "the driver reports no usable GPU"


def test_describe_device_names_the_versions():
    line = describe_device(torch.device("cpu"))
    threads = torch.get_num_threads()
    assert line.startswith(f"cpu ({threads} thread{'' if threads == 1 else 's'}); "
                           f"torch {torch.__version__}, ")
    assert ("CPU-only build" in line) if torch.version.cuda is None else \
        (f"CUDA {torch.version.cuda} build" in line)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_declared_gpu_with_cuda_runs_on_it(capsys):
    assert job_device({"device": "auto"}, 1).type == "cuda"
    err = capsys.readouterr().err
    assert err.startswith(f"[device] cuda:0 ({torch.cuda.get_device_name(0)}, ")
    assert f"CUDA {torch.version.cuda} build, driver " in err


# ---- in a job -------------------------------------------------------------------------------
#: tiny data (enough images for every dataset's split table: the leakage check, which gates
#: the trainings, reads them all), one epoch of one batch of the segmentation network
TINY = {
    "data": {"image_size": 32,
             "synthetic": TINY_SYNTHETIC},
    "segmentation": {"architectures": ["unet"], "input_size": 32,
                     "train": {"max_epochs": 1, "max_train_batches": 1, "batch_size": 4}},
}


@pytest.mark.slow
def test_a_gpu_training_job_without_cuda_stops_at_once(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")          # CUDA unavailable in the jobs
    target = "results/segmentation/unet/model.pt"
    log = tmp_path / "results" / "logs" / "segmentation" / "train_unet.log"

    def run(gpu: int):
        cfg = {**TINY, "segmentation": {**TINY["segmentation"], "resources": {"gpu": gpu}}}
        (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
        return run_snakemake(tmp_path, "--configfile", str(repo / "config" / "config.yaml"),
                             str(tmp_path / "tiny.yaml"), "--cores", "2", target, timeout=600)

    failed = run(gpu=1)                                     # device: auto, a GPU declared
    assert failed.returncode != 0
    text = log.read_text()
    assert "this segmentation training needs a GPU" in text and "CUDA is unavailable" in text
    assert "[training]" not in text and "[device]" not in text   # nothing ran
    assert not (tmp_path / "results" / "segmentation" / "unet" / "history.csv").exists()

    done = run(gpu=0)                                       # no GPU declared: the CPU, said
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    text = log.read_text()
    assert text.startswith("[job] start 1: ") and "needs a GPU" in text   # the failed start's
    text = text.split("\n[job] start 2: ", 1)[1]                       # lines, then this one's
    assert "\n[device] cpu (" in text and "runs on the CPU, as it declares no GPU" in text
    assert "[training] epoch 1/1: " in text
