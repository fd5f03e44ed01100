"""Lesion network: E-Layer shapes, the CAM reaches the logits, baselines, gradients, weights."""

import pytest
import torch
from torch import nn

from selcn.models.lesion import ELayer, LesionClassifier, cam_target_layer, create_lesion_model

ARCH = "efficientnet_b0"
SIDE = 64                      # -> a 2 x 2 last feature map


@pytest.fixture(scope="module")
def cam_model():
    torch.manual_seed(0)
    return create_lesion_model(ARCH, num_classes=7, use_cam=True).eval()


def test_elayer_shapes_and_bilinear_resize():
    layer = ELayer(8).eval()
    features = torch.randn(3, 8, 5, 7)
    for cam in (torch.rand(3, 1, 32, 32), torch.rand(3, 1, 2, 3), torch.rand(3, 32, 32)):
        assert layer(features, cam).shape == (3, 8, 5, 7)
    assert layer.conv.in_channels == 9 and layer.conv.out_channels == 8
    assert layer.conv.kernel_size == (1, 1)
    assert isinstance(layer.bn, nn.BatchNorm2d) and isinstance(layer.act, nn.ReLU)
    assert (layer(features, torch.rand(3, 1, 4, 4)) >= 0).all()           # ReLU output


def test_elayer_rejects_bad_cam():
    layer = ELayer(4)
    with pytest.raises(ValueError, match="cam must be"):
        layer(torch.randn(2, 4, 3, 3), torch.rand(2, 2, 3, 3))
    with pytest.raises(ValueError, match="cam must be"):
        layer(torch.randn(2, 4, 3, 3), torch.rand(3, 1, 3, 3))


def test_cam_model_logits_shape(cam_model):
    with torch.no_grad():
        out = cam_model(torch.randn(2, 3, SIDE, SIDE), torch.rand(2, 1, 16, 16))
    assert out.shape == (2, 7)
    assert isinstance(cam_model.elayer, ELayer)
    assert cam_model.elayer.channels == cam_model.encoder.num_features


def test_changing_the_cam_changes_the_logits(cam_model):
    torch.manual_seed(1)
    image = torch.randn(2, 3, SIDE, SIDE)
    cam_a = torch.zeros(2, 1, 16, 16)
    cam_b = torch.zeros(2, 1, 16, 16)
    cam_b[:, :, :8, :8] = 1.0                       # only one corner differs
    with torch.no_grad():
        a, b = cam_model(image, cam_a), cam_model(image, cam_b)
        again = cam_model(image, cam_a)
    assert torch.equal(a, again)                     # deterministic in eval mode
    assert not torch.allclose(a, b, atol=1e-6)


def test_baseline_has_no_elayer_and_refuses_a_cam():
    model = create_lesion_model(ARCH, num_classes=2, use_cam=False).eval()
    assert model.elayer is None and not model.use_cam
    assert not any(isinstance(m, ELayer) for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(2, 3, SIDE, SIDE)).shape == (2, 2)
    with pytest.raises(ValueError, match="no E-Layer"):
        model(torch.randn(1, 3, SIDE, SIDE), torch.rand(1, 1, 8, 8))
    cam_model = create_lesion_model(ARCH, num_classes=2, use_cam=True)
    with pytest.raises(ValueError, match="needs a cam"):
        cam_model(torch.randn(1, 3, SIDE, SIDE))


def test_gradients_reach_encoder_elayer_and_cam():
    torch.manual_seed(2)
    model = create_lesion_model(ARCH, num_classes=3, use_cam=True).train()
    image = torch.randn(2, 3, SIDE, SIDE)
    cam = torch.rand(2, 1, 8, 8, requires_grad=True)
    loss = nn.functional.cross_entropy(model(image, cam), torch.tensor([0, 2]))
    loss.backward()
    assert model.encoder.conv_stem.weight.grad.abs().sum() > 0
    assert model.elayer.conv.weight.grad.abs().sum() > 0
    assert model.head.weight.grad.abs().sum() > 0
    assert cam.grad is not None and cam.grad.abs().sum() > 0


def test_cam_target_layer():
    cam_model = create_lesion_model(ARCH, use_cam=True)
    base = create_lesion_model(ARCH, use_cam=False)
    assert cam_target_layer(cam_model) is cam_model.elayer
    assert cam_target_layer(base) is base.encoder.bn2
    # the target layer yields the final feature map: (B, C, H/32, W/32)
    seen = {}
    handle = cam_target_layer(base).register_forward_hook(lambda m, i, o: seen.update(out=o))
    with torch.no_grad():
        base.eval()(torch.randn(1, 3, SIDE, SIDE))
    handle.remove()
    assert seen["out"].shape == (1, base.encoder.num_features, SIDE // 32, SIDE // 32)


def test_pretrained_weights_come_from_the_cache(tmp_path):
    import timm

    source = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    torch.save(source.state_dict(), tmp_path / f"{ARCH}.pth")
    model = create_lesion_model(ARCH, num_classes=7, pretrained_cache=tmp_path)
    assert torch.equal(model.encoder.conv_stem.weight, source.conv_stem.weight)
    assert isinstance(model, LesionClassifier) and model.head.out_features == 7
    with pytest.raises(FileNotFoundError, match="efficientnet_b0"):
        create_lesion_model(ARCH, pretrained_cache=tmp_path / "empty")


@pytest.mark.parametrize("stride", [32, 16, 8])
def test_output_stride_sets_the_feature_map(stride):
    model = create_lesion_model(ARCH, num_classes=3, use_cam=True, output_stride=stride).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 64, 64), torch.rand(2, 1, 16, 16))
    assert features.shape[-2:] == (64 // stride, 64 // stride)


def test_output_stride_is_checked():
    with pytest.raises(ValueError, match="output_stride"):
        create_lesion_model(ARCH, output_stride=4)


def test_encoder_cam_layer_is_before_the_elayer():
    model = create_lesion_model(ARCH, num_classes=3, use_cam=True)
    base = create_lesion_model(ARCH, num_classes=3, use_cam=False)
    assert cam_target_layer(model) is model.elayer
    assert cam_target_layer(model, "encoder") is model.encoder.bn2
    assert cam_target_layer(base, "encoder") is cam_target_layer(base) is base.encoder.bn2
    with pytest.raises(ValueError, match="layer"):
        cam_target_layer(model, "head")


def test_dropout_modules_of_the_rates():
    from selcn.models.lesion import LesionClassifier

    assert isinstance(create_lesion_model(ARCH, 7, use_cam=True, drop_rate=0.0).dropout,
                      nn.Identity)
    for rate in (0.2, 0.4):
        d = create_lesion_model(ARCH, 7, use_cam=False, drop_rate=rate).dropout
        assert isinstance(d, nn.Dropout) and d.p == rate
    with pytest.raises(ValueError, match="drop_rate"):
        LesionClassifier(nn.Identity(), 7, drop_rate=1.0)


def test_the_thesis_switches_change_exactly_dropout_and_sampling():
    """protocol thesis: no dropout on E-Layer models, 0.4 on the baselines, the thesis'
    sampling; leakage_free keeps Dropout(0.2) and every original; a config value wins."""
    from dataclasses import replace
    from pathlib import Path

    import yaml

    from selcn import lesion
    from selcn.config import validate_config
    from selcn.grid import Cell, Model
    from selcn.protocol import policy

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml")
                         .read_text())
    cfg = validate_config(raw)
    thesis = validate_config({**raw, "protocol": "thesis"})
    cam, base = Cell("ham10000", Model("none", "seg")), Cell("ham10000", Model("none", "off"))
    lf_cam, lf_base = lesion.network(cfg, cam), lesion.network(cfg, base)
    th_cam, th_base = lesion.network(thesis, cam), lesion.network(thesis, base)
    assert (lf_cam.dropout, lf_base.dropout, th_cam.dropout, th_base.dropout) == (0.2, 0.2,
                                                                                  0.0, 0.4)
    assert lf_cam.balance == {**cfg["data"]["balance"], "sampling": "keep_originals"}
    assert th_cam.balance == {**cfg["data"]["balance"], "sampling": "all_versions"}
    # the LAE clipping follows the protocol too (issue 20: lesion.lae_clip null)
    assert (th_cam.view.lae_clip, lf_cam.view.lae_clip) == ("start", "centred")
    # nothing else differs between the two protocols' specs (the protocol itself aside)
    assert replace(th_cam, dropout=0.2, protocol=policy("leakage_free"),
                   balance=lf_cam.balance, masking=lf_cam.masking) == lf_cam
    assert isinstance(th_cam.build(7).dropout, nn.Identity)
    assert th_base.build(7).dropout.p == 0.4 and lf_cam.build(7).dropout.p == 0.2
    assert lf_cam.record()["dropout"] == 0.2 and th_base.key()["dropout"] == 0.4
    chosen = validate_config({**raw, "protocol": "thesis",
                              "lesion": {**raw["lesion"], "dropout": {"elayer": 0.1}},
                              "data": {**raw["data"], "balance": {**raw["data"]["balance"],
                                                                  "sampling": "keep_originals"}}})
    assert lesion.network(chosen, cam).dropout == 0.1
    assert lesion.network(chosen, base).dropout == 0.4
    assert lesion.network(chosen, cam).balance["sampling"] == "keep_originals"
