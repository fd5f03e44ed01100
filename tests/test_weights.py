"""Weight cache: which files a config needs, which are missing, fetching (without network)."""

import pytest
import torch
from torch import nn

from selcn.config import load_config, validate_config
from selcn.weights import (
    fetch_weights,
    load_pretrained,
    missing_weights,
    pretrained_cache,
    required_weights,
    weight_file,
)


def _no_download(library, model):  # the cache must answer: the network is never asked
    raise AssertionError(f"download of {library}/{model} attempted")


def test_paper_config_needs_each_network_from_its_library(repo):
    specs = required_weights(load_config(repo / "config" / "paper.yaml"))
    got = {s.name: (s.library, s.network) for s in specs}
    assert got == {
        "smp-resnet34": ("smp", "segmentation"),
        "squeezenet1_0": ("torchvision", "symmetry"),
        "resnet34": ("torchvision", "symmetry"),
        "efficientnet_b0": ("torchvision", "symmetry"),
        "shufflenet_v2_x1_0": ("torchvision", "symmetry"),
        "efficientnet_b4": ("timm", "lesion"),
    }
    assert [s.name for s in specs][0] == "smp-resnet34"  # config order, no repeats


def test_nothing_needed_without_cache_or_pretraining(repo):
    assert required_weights(load_config(repo / "config" / "config.yaml")) == []
    cfg = validate_config({"weights": {"cache_dir": "w"}, "segmentation": {"pretrained": False},
                           "symmetry": {"pretrained": False}, "lesion": {"pretrained": True}})
    assert [(s.name, s.library) for s in required_weights(cfg)] == [("efficientnet_b4", "timm")]


def test_one_name_from_two_libraries_is_an_error():
    cfg = validate_config({"weights": {"cache_dir": "w"},
                           "lesion": {"architecture": "efficientnet_b0"}})
    with pytest.raises(ValueError, match="'efficientnet_b0'.*torchvision.*timm"):
        required_weights(cfg)


def test_missing_weights_accepts_pth_and_safetensors(tmp_path):
    (tmp_path / "a.pth").write_bytes(b"x")
    (tmp_path / "b.safetensors").write_bytes(b"x")
    (tmp_path / "c.pth.part").write_bytes(b"x")          # an interrupted download is no file
    assert missing_weights(tmp_path, ["c", "a", "b", "d", "c"]) == ["c", "d"]
    assert missing_weights(tmp_path / "absent", ["a"]) == ["a"]
    assert weight_file(tmp_path, "b").name == "b.safetensors"


def test_fetch_is_skipped_when_cached(tmp_path):
    (tmp_path / "resnet34.safetensors").write_bytes(b"x")
    path = fetch_weights("resnet34", tmp_path, "torchvision", download=_no_download)
    assert path == tmp_path / "resnet34.safetensors"


def test_fetch_writes_a_loadable_state_dict(tmp_path):
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 1000))
    calls = []

    def download(library, model):
        calls.append((library, model))
        return source.state_dict()

    path = fetch_weights("smp-resnet18", tmp_path / "cache", "smp", "resnet18", download=download)
    assert calls == [("smp", "resnet18")]
    assert path == tmp_path / "cache" / "smp-resnet18.pth"
    assert sorted(p.name for p in path.parent.iterdir()) == ["smp-resnet18.pth"]
    target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))  # new head
    load_pretrained(target, "smp-resnet18", tmp_path / "cache")
    assert torch.equal(target[0].weight, source[0].weight)
    assert not torch.equal(target[2].weight[:2], source[2].weight[:2])   # head shape differs


def test_failed_fetch_leaves_no_file(tmp_path, monkeypatch):
    def disk_full(obj, path):  # half a file written, then the write fails
        with open(path, "wb") as fh:
            fh.write(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        fetch_weights("efficientnet_b4", tmp_path, "timm",
                      download=lambda library, model: {"w": torch.zeros(2)})
    assert list(tmp_path.iterdir()) == []
    assert missing_weights(tmp_path, ["efficientnet_b4"]) == ["efficientnet_b4"]


def test_unknown_library(tmp_path):
    with pytest.raises(ValueError, match="unknown weights library 'keras'"):
        fetch_weights("resnet34", tmp_path, "keras", download=_no_download)


@pytest.mark.slow
def test_fetch_weights_rule_plans_only_the_missing_files(repo, tmp_path):
    """`snakemake fetch_weights` (dry run): one download job per file the cache lacks."""
    from selcn.plan import dry_run, parse_dry_run

    cache = tmp_path / "weights"
    cache.mkdir()
    from selcn.config import load_config

    lesion_arch = load_config(repo / "config" / "config.yaml")["lesion"]["architecture"]
    (cache / f"{lesion_arch}.safetensors").write_bytes(b"x")      # the lesion network's
    override = tmp_path / "pretrained.yaml"
    override.write_text(f"weights: {{cache_dir: {cache}}}\n"
                        "segmentation: {pretrained: true}\nlesion: {pretrained: true}\n")
    args = ["fetch_weights", "--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path),
            "--configfile", str(repo / "config" / "config.yaml"), str(override)]
    text = dry_run(args, workdir=tmp_path).text
    jobs = parse_dry_run(text)
    downloads = [j for j in jobs if j.rule == "download_weights"]
    assert [j.wildcards["weights_name"] for j in downloads] == ["smp-resnet18"]
    (cache / "smp-resnet18.pth").write_bytes(b"x")
    text = dry_run(args, workdir=tmp_path).text
    assert parse_dry_run(text) == []          # complete cache: nothing to fetch


def test_pretrained_cache_follows_the_stage_flag():
    cfg = {"weights": {"cache_dir": None}, "lesion": {"pretrained": False}}
    assert pretrained_cache(cfg, "lesion") is None
    with pytest.raises(ValueError, match="pretrained lesion network .* weights.cache_dir is null"):
        pretrained_cache(cfg, "lesion", pretrained=True)
    cfg["weights"]["cache_dir"] = "/w"
    assert pretrained_cache(cfg, "lesion", pretrained=True) == "/w"
    assert pretrained_cache(cfg, "lesion") is None
