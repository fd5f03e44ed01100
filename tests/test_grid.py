"""The vocabulary (selcn.grid): mask values and their two roles, model numbers, symmetry
variants, the grid of a config, and config/schema.yaml's enums against it."""

import pytest
import yaml

from selcn import grid as vocab
from selcn.config import ConfigError, load_config, validate_config
from selcn.grid import Cell, Fold, Model, SymmetryVariant, grid
from selcn.protocol import PROTOCOLS, policy


def test_paper_grid_is_the_thesis_grid(repo):
    g = grid(load_config(repo / "config" / "paper.yaml"))
    models = g.models()
    assert [m.number for m in models] == list(range(1, 13))
    assert len(models) * len(g.lesion_folds) == 48
    assert g.symmetry_folds == (0, 1, 2)
    assert g.symmetry_variants == ("scratch-none", "pretrained-none", "pretrained-seg",
                                   "pretrained-lae")
    assert g.symmetry_input_masks == ("none", "seg", "lae")
    assert g.cam_sources == ("off", "none", "seg", "lae")


def test_architecture_comparison_reuses_the_variant_of_its_own_architecture(repo):
    """The comparison's row of ``symmetry.architecture`` (no mask, ``symmetry.pretrained``) is
    the Table 6 variant ``<init>-none``: not trained twice."""
    paper = grid(load_config(repo / "config" / "paper.yaml"))
    assert paper.symmetry_arch_variants == (("squeezenet1_0", "pretrained-none"),)
    assert paper.symmetry_arch_trained == ("resnet34", "efficientnet_b0", "shufflenet_v2_x1_0")
    demo = grid(load_config(repo / "config" / "config.yaml"))
    assert demo.symmetry_arch_variants == (("squeezenet1_0", "scratch-none"),)
    compare = ["resnet34", "squeezenet1_0"]
    no_none = grid(validate_config({"symmetry": {"masks": ["seg", "lae"],
                                                 "compare_architectures": compare},
                                    "lesion": {"symmetry_masks": ["off", "seg", "lae"]}}))
    assert no_none.symmetry_arch_variants == () and no_none.symmetry_arch_trained == tuple(compare)
    other = grid(validate_config({"symmetry": {"architecture": "resnet34",
                                               "compare_architectures": ["squeezenet1_0"]}}))
    assert other.symmetry_arch_variants == ()
    assert other.symmetry_arch_trained == ("squeezenet1_0",)


def test_model_numbers_follow_thesis_order():
    assert Model("none", "off").number == 1
    assert Model("none", "seg").number == 3
    assert Model("seg", "off").number == 5
    assert Model("lae", "lae").number == 12
    numbers = [Model(cm, cs).number for cm in vocab.MASKS for cs in vocab.CAM_SOURCES]
    assert numbers == list(range(1, 13))
    assert [Model.of_number(n) for n in numbers] == [
        Model(cm, cs) for cm in vocab.MASKS for cs in vocab.CAM_SOURCES]
    with pytest.raises(ValueError, match="CAM source"):
        Model("none", "lesion")
    with pytest.raises(ValueError, match="classifier mask"):
        Model("off", "off")
    with pytest.raises(ValueError, match="no lesion model"):
        Model.of_number(13)


def test_model_knows_what_it_needs():
    """Needs masks iff its input is masked; takes a CAM iff its CAM source is not off; its
    folder name parses back; its baseline is the same classifier mask without CAM."""
    m = Model.parse("seg-lae")
    assert (m.classifier_mask, m.cam_source, m.name, str(m)) == ("seg", "lae", "seg-lae",
                                                                  "seg-lae")
    assert m.needs_masks and m.takes_cam and m.baseline() == Model("seg", "off")
    base = Model("none", "off")
    assert not base.needs_masks and not base.takes_cam
    assert Model("none", "seg").takes_cam and not Model("none", "seg").needs_masks
    assert str(Cell("isic2016", m)) == "isic2016/seg-lae"
    with pytest.raises(ValueError, match="lesion dataset"):
        Cell("symderm", m)
    with pytest.raises(ValueError, match="not a lesion model"):
        Model.parse("segmentation")
    assert [vocab.needs_masks(x) for x in vocab.MASKS] == [False, True, True]
    with pytest.raises(ValueError, match="unknown mask"):
        vocab.needs_masks("off")


@pytest.mark.parametrize("value", [3, "3", "fold3", Fold(3)])
def test_fold_has_one_encoding(value):
    fold = Fold.parse(value)
    assert fold == Fold(3) and fold.name == str(fold) == "fold3" and int(fold) == 3
    assert Fold.is_name("fold12") and not Fold.is_name("fold") and not Fold.is_name("test")


@pytest.mark.parametrize("bad", ["folda", "-1", "x3", -2, True])
def test_fold_rejects(bad):
    with pytest.raises(ValueError, match="fold"):
        Fold.parse(bad) if not isinstance(bad, int) else Fold(bad)


def test_cam_masks_need_symmetry_models():
    cfg = validate_config({"symmetry": {"masks": ["none"]}})
    with pytest.raises(ConfigError, match="symmetry.masks"):
        grid(cfg)


def test_two_roles_of_a_mask():
    assert vocab.CAM_SOURCES == (vocab.CAM_OFF, *vocab.MASKS)
    assert vocab.CAM_OFF not in vocab.MASKS
    for name in ("CLASSIFIER_MASKS", "SYMMETRY_INPUT_MASKS"):   # one name for the masks
        assert not hasattr(vocab, name)
    assert set(vocab.MASK_LABELS) == set(vocab.CAM_SOURCES)
    assert set(vocab.MASK_NOUNS) == set(vocab.MASKS)
    assert set(vocab.DATASET_LABELS) == set(vocab.DATASETS)
    assert set(vocab.LESION_DATASETS) <= set(vocab.CAM_DATASETS) <= set(vocab.DATASETS)
    assert set(vocab.DATASETS_WITH_GT_MASKS) <= set(vocab.DATASETS)


@pytest.mark.parametrize("text", ["pretrained-none", "pretrained-seg", "scratch-lae"])
def test_symmetry_variant_round_trip(text):
    v = SymmetryVariant.parse(text)
    assert str(v) == text == str(SymmetryVariant(v.pretrained, v.mask))
    assert SymmetryVariant.parse(v) is v and v.needs_masks == (v.mask != "none")
    assert v.init == text.split("-")[0] and v.pretrained == text.startswith("pretrained")


@pytest.mark.parametrize("bad", ["pretrained", "pretrained-off", "imagenet-seg", "scratch-",
                                 "pretrained-seg-x"])
def test_symmetry_variant_rejects(bad):
    with pytest.raises(ValueError, match="symmetry"):
        SymmetryVariant.parse(bad)


def test_variant_pattern_matches_exactly_the_variants():
    import re

    pattern = re.compile(f"^{SymmetryVariant.pattern()}$")
    names = [str(SymmetryVariant(p, m)) for p in (True, False) for m in vocab.MASKS]
    assert all(pattern.match(n) for n in names)
    assert not any(pattern.match(n) for n in ("pretrained-off", "scratch", "x-none"))
    assert vocab.alternation([0, 1]) == "0|1"


def _enum(schema, *path):
    node = schema["properties"]
    for key in path[:-1]:
        node = node[key]["properties"]
    node = node[path[-1]]
    return node["items"]["enum"] if "items" in node else node["enum"]


def test_schema_enums_are_the_vocabulary(repo):
    """config/schema.yaml may not allow a value the workflow does not know, nor miss one."""
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    assert tuple(_enum(schema, "protocol")) == PROTOCOLS
    assert tuple(_enum(schema, "symmetry", "masks")) == vocab.MASKS
    assert tuple(_enum(schema, "lesion", "classifier_masks")) == vocab.MASKS
    assert tuple(_enum(schema, "lesion", "symmetry_masks")) == vocab.CAM_SOURCES
    assert tuple(_enum(schema, "lesion", "datasets")) == vocab.LESION_DATASETS
    assert tuple(_enum(schema, "hpo", "networks")) == vocab.NETWORKS
    props = schema["properties"]
    # data.<dataset> blocks (PH²'s three datasets, one per label set, read data.ph2)
    assert {vocab.data_key(d) for d in vocab.DATASETS} <= set(props["data"]["properties"])
    assert tuple(_enum(schema, "roles", "symmetry")) == vocab.ROLE_DATASETS["symmetry"]
    assert tuple(_enum(schema, "roles", "segmentation")) == vocab.ROLE_DATASETS["segmentation"]
    assert tuple(_enum(schema, "roles", "localisation")) == vocab.ROLE_DATASETS["localisation"]


def test_every_choice_reads_validation_unless_the_thesis_protocol():
    from selcn.selection import best_fold_criterion

    assert policy("leakage_free").selection_split == "val"
    assert policy("thesis").selection_split == "test"
    with pytest.raises(ValueError, match="unknown protocol"):
        policy("test_set")
    assert best_fold_criterion(policy("leakage_free"), "balanced_accuracy").name == \
        "val_balanced_accuracy"
    assert best_fold_criterion(policy("thesis"), "balanced_accuracy").name == "test_accuracy"


# ---- the segmenter axis and the per-model search (issue 25) ----------------------------------
def _grid(**sections) -> vocab.Grid:
    return grid(validate_config(sections))


def test_axis_and_scope_values_are_the_schemas(repo):
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    seg = schema["properties"]["segmentation"]["properties"]
    assert tuple(seg["architectures"]["items"]["enum"]) == vocab.SEGMENTERS
    assert tuple(seg["encoders"]["propertyNames"]["enum"]) == vocab.SEGMENTERS
    assert tuple(seg["mode"]["enum"]) == vocab.SEGMENTER_MODES
    assert tuple(schema["properties"]["hpo"]["properties"]["scope"]["enum"]) == \
        vocab.SEARCH_SCOPES
    assert set(vocab.SEGMENTER_LABELS) == set(vocab.SEGMENTER_STRIDES) == set(vocab.SEGMENTERS)
    # the defaults are the thesis': one selected segmenter, one shared search
    cfg = validate_config({})
    assert (cfg["segmentation"]["mode"], cfg["hpo"]["scope"]) == ("select", "shared")


def test_a_model_carries_its_segmenter_and_search_scope():
    m = Model("seg", "lae", "unet")
    assert (m.number, m.name, str(m), m.folder) == (8, "seg-lae", "seg-lae", "seg-lae/unet")
    assert m.shape == vocab.Shape(True, False) and m.thesis_model == Model("seg", "lae")
    own = Model("none", "seg", "fpn", vocab.PER_MODEL)
    assert own.folder == "none-seg/fpn/per_model" and own.shape.suffix == "_by_segmenter_per_model"
    assert Model("seg", "off", search=vocab.PER_MODEL).folder == "seg-off/per_model"
    assert str(Cell("ham10000", own)) == "ham10000/none-seg/fpn/per_model"
    assert [Model.of_number(n).uses_segmenter for n in range(1, 13)] == [False] * 2 + [True] * 10
    with pytest.raises(ValueError, match="reads no predicted mask"):
        Model("none", "none", "unet")                  # model 2: CAMs of the unmasked variant
    with pytest.raises(ValueError, match="unknown segmenter"):
        Model("seg", "off", "dpt")
    with pytest.raises(ValueError, match="model 1"):
        Model("none", "off", search=vocab.PER_MODEL)   # its own search is the shared one
    with pytest.raises(ValueError, match="search scope"):
        Model("seg", "off", search="mine")
    v = SymmetryVariant(True, "seg", "unet", vocab.PER_MODEL)
    assert (str(v), v.folder, v.number) == ("pretrained-seg", "pretrained-seg/unet/per_model", 3)
    with pytest.raises(ValueError, match="reads no predicted mask"):
        SymmetryVariant(True, "none", "unet")
    assert vocab.Shape(True, True).tag == "_{segmenter}_{search}" and vocab.PLAIN.suffix == ""


@pytest.mark.parametrize("segmenters", [["unet", "deeplabv3plus"],
                                        ["unet", "deeplabv3plus", "unetplusplus"]])
def test_the_segmenter_axis_grows_the_grid(segmenters):
    """Models 1-2 once, 3-12 once per segmenter (2 + 10 S); the symmetry stage 1 + 2 S mask
    variants per initialisation; the reported models are the first segmenter's."""
    s = len(segmenters)
    g = _grid(segmentation={"mode": "axis", "architectures": segmenters},
              symmetry={"scratch_baseline": False})
    assert g.segmenters == tuple(segmenters) and g.reference_segmenter == segmenters[0]
    trained = g.trained_models()
    assert len(trained) == 2 + 10 * s and len(set(trained)) == len(trained)
    assert [m.segmenter for m in trained[:2]] == [None, None]
    assert {m.segmenter for m in trained[2:]} == set(segmenters)
    assert [m.number for m in g.models()] == list(range(1, 13))
    assert {m.segmenter for m in g.models() if m.number > 2} == {segmenters[0]}
    assert len(g.trained_variants()) == 1 + 2 * s
    assert g.shapes(trained) == [vocab.PLAIN, vocab.Shape(True)]
    m = Model("none", "lae", segmenters[-1])
    assert g.cam_variant_of(m) == SymmetryVariant(True, "lae", segmenters[-1])
    assert g.cam_variant("none") == SymmetryVariant(True, "none")
    # select mode: the thesis' 12, no folder
    plain = _grid(symmetry={"scratch_baseline": False})
    assert plain.segmenters == () and plain.reference_segmenter is None
    assert plain.trained_models() == plain.models() and len(plain.trained_variants()) == 3


def test_the_per_model_scope_copies_every_model_whose_search_differs():
    g = _grid(hpo={"enabled": True, "scope": "per_model"})
    assert g.per_model_networks == ("symmetry", "lesion") and g.search_mask == "none"
    copies = [m for m in g.trained_models() if m.search == vocab.PER_MODEL]
    assert [m.number for m in copies] == list(range(2, 13))       # model 1's search is shared
    assert [v.folder for v in g.trained_variants() if v.search == vocab.PER_MODEL] == \
        ["pretrained-seg/per_model", "pretrained-lae/per_model"]
    # a copy's CAMs: its variant's copy where the variant has one (seg, lae), else the shared
    assert g.cam_variant_of(Model("seg", "lae", search="per_model")).search == "per_model"
    assert g.cam_variant_of(Model("seg", "none", search="per_model")).search == "shared"
    # the scope needs the search; without the lesion network only CAM models differ
    assert _grid(hpo={"scope": "per_model"}).per_model_networks == ()
    only_sym = _grid(hpo={"enabled": True, "scope": "per_model", "networks": ["symmetry"]})
    assert [m.number for m in only_sym.trained_models() if m.search == "per_model"] == \
        [3, 4, 7, 8, 11, 12]


def test_segmenters_that_cannot_take_the_input_or_encoder_are_config_errors():
    with pytest.raises(ConfigError, match="input_size: 48 px is not a multiple of 32, which "
                                          r"UNet\+\+ \(unetplusplus\)"):
        _grid(segmentation={"architectures": ["unet", "unetplusplus"], "input_size": 48})
    _grid(segmentation={"architectures": ["unet", "deeplabv3plus"], "input_size": 48})
    with pytest.raises(ConfigError, match="segmentation.encoders: UNet"):
        _grid(segmentation={"architectures": ["unetplusplus"],
                            "encoders": {"unetplusplus": "mit_b0"}})
    g = _grid(segmentation={"architectures": ["segformer", "unet"],
                            "encoders": {"segformer": "mit_b0"}, "mode": "axis"})
    assert vocab.segmenter_encoder(validate_config(
        {"segmentation": {"encoders": {"segformer": "mit_b0"}}})["segmentation"], "unet") == \
        "resnet34"
    assert g.segmenters == ("segformer", "unet")
    with pytest.raises(ConfigError, match="segmentation.encoders"):
        validate_config({"segmentation": {"encoders": {"dpt": "x"}}})


def test_the_shared_symmetry_search_is_one_cell_of_the_axis():
    """Without an unmasked variant the shared symmetry search runs on the first mask and the
    reference segmenter's masks: that variant has no per-model copy, the same mask on another
    segmenter's masks has one (its own search sees other masks)."""
    g = _grid(segmentation={"mode": "axis", "architectures": ["unet", "fpn"]},
              symmetry={"masks": ["seg", "lae"]},
              lesion={"symmetry_masks": ["off", "seg", "lae"]},
              hpo={"enabled": True, "scope": "per_model"})
    assert g.search_mask == "seg"
    copies = [(v.mask, v.segmenter) for v in g.trained_variants() if v.search == "per_model"]
    assert copies == [("seg", "fpn"), ("lae", "unet"), ("lae", "fpn")]
    assert not g.variant_has_copy("seg") and g.variant_has_copy("seg", "fpn")
