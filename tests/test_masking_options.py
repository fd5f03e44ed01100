"""The masking options of issue 20 from the config to the networks and to ``selcn predict``:
``symmetry.lae_clip`` / ``lesion.lae_clip`` (null = the protocol's), ``*.mask_fill`` and
``*.mask_vignette`` reach each spec's view, its ``model.pt`` and ``open_model``; a bundle records
them (and its hair filter) and the cascade masks as the networks' files say."""

import json

import numpy as np
import pytest
import torch

from selcn import lesion, symmetry
from selcn.checkpoints import save_model_file
from selcn.config import validate_config
from selcn.data.datasets import View
from selcn.grid import Cell, Model
from selcn.masks import apply_mask


def _cfg(protocol="leakage_free", **sections):
    """A validated config with small, randomly initialised networks and ``sections`` merged."""
    base = {"lesion": {"architecture": "test_efficientnet", "pretrained": False,
                       "input_size": 32},
            "symmetry": {"pretrained": False, "input_size": 32}}
    for name, section in sections.items():
        base[name] = {**base.get(name, {}), **section}
    return validate_config({"protocol": protocol, **base})


def test_the_protocol_decides_the_lae_clip_of_both_networks():
    lf, th = _cfg(), _cfg("thesis")
    cell = Cell("ham10000", Model("lae", "lae"))
    assert symmetry.network(lf, "scratch-lae").view.lae_clip == "centred"
    assert symmetry.network(th, "scratch-lae").view.lae_clip == "start"
    assert lesion.network(lf, cell).view.lae_clip == "centred"
    assert lesion.network(th, cell).view.lae_clip == "start"
    # a config value wins over the protocol
    chosen = _cfg("thesis", symmetry={"lae_clip": "centred"}, lesion={"lae_clip": "centred"})
    assert symmetry.network(chosen, "scratch-lae").view.lae_clip == "centred"
    assert lesion.network(chosen, cell).view.lae_clip == "centred"
    assert _cfg()["symmetry"]["lae_clip"] is None and _cfg()["lesion"]["lae_clip"] is None


def test_fill_and_vignette_reach_the_view_and_the_record():
    cfg = _cfg(symmetry={"mask_fill": "mean", "mask_vignette": True},
               lesion={"mask_fill": "blur"})
    sym = symmetry.network(cfg, "scratch-seg")
    les = lesion.network(cfg, Cell("ham10000", Model("seg", "seg")))
    assert (sym.view.fill, sym.view.vignette, sym.view.mask) == ("mean", True, "seg")
    assert (les.view.fill, les.view.vignette, les.view.mask) == ("blur", False, "seg")
    assert {k: sym.record()[k] for k in ("mask_fill", "lae_clip", "mask_vignette")} == {
        "mask_fill": "mean", "lae_clip": "centred", "mask_vignette": True}
    assert les.record()["mask_fill"] == "blur" and les.record()["mask_vignette"] is False
    defaults = _cfg()
    assert symmetry.network(defaults, "scratch-seg").record()["mask_fill"] == "black"
    with pytest.raises(Exception, match="mask_fill"):
        _cfg(symmetry={"mask_fill": "grey"})


@pytest.mark.parametrize("stage", ["symmetry", "lesion"])
def test_model_pt_round_trip(tmp_path, stage):
    """What a spec records is what open_model's view says (and an old file's view masks as
    every network did: black, centred, vignette kept)."""
    cfg = _cfg("thesis", **{stage: {"mask_fill": "blur", "mask_vignette": True}})
    if stage == "symmetry":
        spec = symmetry.network(cfg, "scratch-lae")
        extra = {"class_names": ["asymmetric", "symmetric"], "num_classes": 2}
    else:
        spec = lesion.network(cfg, Cell("ham10000", Model("lae", "off")))
        extra = {"class_names": ["a", "b"], "num_classes": 2}
    torch.manual_seed(0)
    model = spec.build(2)
    path = tmp_path / "model.pt"
    save_model_file(path, model, **{**spec.record(), **extra, "fold": 0, "best_epoch": 1})
    saved = spec.kind.open(path, "cpu")
    assert saved.view == View(mask="lae", size=spec.view.size, fill="blur", lae_clip="start",
                              vignette=True)
    old = {k: v for k, v in spec.record().items()
           if k not in ("mask_fill", "lae_clip", "mask_vignette")}
    save_model_file(tmp_path / "old.pt", model, **{**old, **extra, "fold": 0, "best_epoch": 1})
    view = spec.kind.open(tmp_path / "old.pt", "cpu").view
    assert (view.fill, view.lae_clip, view.vignette) == ("black", "centred", False)


def _bundle(tmp_path, masking, hair_removal=None):
    """A bundle of random networks (model 11: lae input, seg CAMs) whose files record
    ``masking`` (model.pt fields)."""
    from selcn.export import (
        BundleFiles,
        BundleProvenance,
        BundleSettings,
        export_bundle,
        validation_metrics,
    )
    from selcn.models.lesion import create_lesion_model
    from selcn.models.segmentation import create_segmentation_model
    from selcn.models.symmetry import create_symmetry_model
    from test_export import HAM, SIZES, _val_predictions

    torch.manual_seed(0)
    root = tmp_path / "models"
    root.mkdir()
    save_model_file(root / "seg.pt", create_segmentation_model("unet", "resnet18"), arch="unet",
                    encoder="resnet18", input_size=SIZES["seg"], threshold=0.5)
    save_model_file(root / "sym.pt", create_symmetry_model("squeezenet1_0", 2),
                    arch="squeezenet1_0", num_classes=2, input_size=SIZES["sym"], mask="seg",
                    pretrained=False, class_names=["asymmetric", "symmetric"], fold=0,
                    best_epoch=1, **masking)
    lesion_pts, val = {}, {}
    for k in (0, 1):
        lesion_pts[k] = root / f"lesion{k}.pt"
        save_model_file(lesion_pts[k], create_lesion_model("test_efficientnet", len(HAM),
                                                           use_cam=True),
                        arch="test_efficientnet", num_classes=len(HAM), use_cam=True,
                        input_size=SIZES["lesion"], classifier_mask="lae", symmetry_mask="seg",
                        class_names=HAM, fold=k, best_epoch=1, **masking)
        val[k] = root / f"val{k}.csv"
        _val_predictions(val[k], k)
    export_bundle(tmp_path / "bundle",
                  BundleFiles(segmentation_pt=root / "seg.pt", symmetry_pt=root / "sym.pt",
                              lesion_pts=lesion_pts),
                  BundleSettings(number=11, dataset="ham10000", image_size=SIZES["image_size"],
                                 hair_removal=hair_removal, cam_size=SIZES["cam"],
                                 cfg_hash="x"),
                  validation=validation_metrics(val, HAM),
                  selection={"number": 11, "criterion": "config"},
                  provenance=BundleProvenance(source="synthetic", protocol="thesis",
                                              datasets={"segmentation": "ham10000",
                                                        "symmetry": "symderm",
                                                        "lesion": "ham10000"}))
    return tmp_path / "bundle"


def test_the_bundle_records_the_masking_and_predict_applies_it(tmp_path, monkeypatch):
    from selcn.export import load_bundle
    from selcn.predict.cascade import hair_filter, network_view, run_cascade

    masking = {"mask_fill": "mean", "lae_clip": "start", "mask_vignette": False}
    path = _bundle(tmp_path, masking)
    manifest = json.loads((path / "manifest.json").read_text())
    pre = manifest["preprocessing"]
    assert pre["lesion_masking"] == masking and pre["symmetry_masking"] == masking
    # null hair filter under the bundle's protocol (thesis): the author's code
    assert (pre["hair_removal"], pre["hair_filter"]) == (True, "thesis_code")
    assert hair_filter(pre) == "thesis_code"
    assert hair_filter({"hair_removal": True}) == "thesis"            # an older bundle
    assert hair_filter({"hair_removal": False}) == "off"
    bundle = load_bundle(path)
    view = network_view(bundle.lesion[0][1], "lae", 64)
    assert (view.fill, view.lae_clip, view.mask) == ("mean", "start", "lae")
    # the segmenter "finds" a lesion at the top edge: the thesis' clipping shifts its box
    import selcn.predict.cascade as cascade

    masks = np.zeros((2, SIDE, SIDE), np.uint8)
    masks[:, 0:12, 20:36] = 1
    monkeypatch.setattr(cascade, "predict_masks", lambda *a, **k: masks.copy())
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, SIDE, SIDE, 3), dtype=np.uint8)
    out = run_cascade(bundle, images, cams=False)
    for i in range(2):
        want = apply_mask(images[i], masks[i], "lae", clip="start", fill="mean")
        np.testing.assert_array_equal(out.lesion_input[i], want)
        assert not np.array_equal(want, apply_mask(images[i], masks[i], "lae"))
        np.testing.assert_array_equal(out.symmetry_input[i],
                                      apply_mask(images[i], masks[i], "seg", fill="mean"))


SIDE = 64


def test_folds_with_different_masking_are_refused(tmp_path):
    from selcn.export import BundleFiles, BundleProvenance, BundleSettings, export_bundle
    from test_export import make_model_files

    files = make_model_files(tmp_path / "m", symmetry_mask="off")
    blob = torch.load(files["lesion_pts"][1], weights_only=True)
    blob["mask_fill"] = "blur"
    torch.save(blob, files["lesion_pts"][1])
    with pytest.raises(ValueError, match="masking"):
        export_bundle(tmp_path / "bundle",
                      BundleFiles(segmentation_pt=files["segmentation_pt"], symmetry_pt=None,
                                  lesion_pts=files["lesion_pts"]),
                      BundleSettings(number=9, dataset="ham10000", image_size=64,
                                     hair_removal="pigment_sparing", cam_size=8, cfg_hash="x"),
                      validation={}, selection={},
                      provenance=BundleProvenance(source="synthetic", protocol="leakage_free",
                                                  datasets={"segmentation": "ham10000",
                                                            "lesion": "ham10000"}))
