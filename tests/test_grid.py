"""The vocabulary (selcn.grid): mask values and their two roles, model numbers, symmetry
variants, the grid of a config, and config/schema.yaml's enums against it."""

import pytest
import yaml

from selcn import grid as vocab
from selcn.config import ConfigError, load_config, validate_config
from selcn.grid import SymmetryVariant, grid, model_number, symmetry_variant


def test_paper_grid_is_the_thesis_grid(repo):
    g = grid(load_config(repo / "config" / "paper.yaml"))
    models = g.models()
    assert [m["number"] for m in models] == list(range(1, 13))
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
    assert model_number("none", "off") == 1
    assert model_number("none", "seg") == 3
    assert model_number("seg", "off") == 5
    assert model_number("lae", "lae") == 12
    numbers = [model_number(cm, cs) for cm in vocab.CLASSIFIER_MASKS for cs in vocab.CAM_SOURCES]
    assert numbers == list(range(1, 13))
    with pytest.raises(ValueError, match="CAM source"):
        model_number("none", "lesion")
    with pytest.raises(ValueError, match="classifier mask"):
        model_number("off", "off")


def test_cam_masks_need_symmetry_models():
    cfg = validate_config({"symmetry": {"masks": ["none"]}})
    with pytest.raises(ConfigError, match="symmetry.masks"):
        grid(cfg)


def test_two_roles_of_a_mask():
    assert vocab.CAM_SOURCES == (vocab.CAM_OFF, *vocab.SYMMETRY_INPUT_MASKS)
    assert vocab.CAM_OFF not in vocab.SYMMETRY_INPUT_MASKS
    assert vocab.CLASSIFIER_MASKS == vocab.SYMMETRY_INPUT_MASKS == vocab.MASKS
    assert set(vocab.MASK_LABELS) == set(vocab.CAM_SOURCES)
    assert set(vocab.MASK_NOUNS) == set(vocab.MASKS)
    assert set(vocab.DATASET_LABELS) == set(vocab.DATASETS)
    assert set(vocab.LESION_DATASETS) <= set(vocab.CAM_DATASETS) <= set(vocab.DATASETS)
    assert set(vocab.DATASETS_WITH_GT_MASKS) <= set(vocab.DATASETS)


@pytest.mark.parametrize("text", ["pretrained-none", "pretrained-seg", "scratch-lae"])
def test_symmetry_variant_round_trip(text):
    v = SymmetryVariant.parse(text)
    assert str(v) == text == symmetry_variant(v.mask, v.pretrained)
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
    assert tuple(_enum(schema, "protocol")) == vocab.PROTOCOLS
    assert tuple(_enum(schema, "symmetry", "masks")) == vocab.SYMMETRY_INPUT_MASKS
    assert tuple(_enum(schema, "lesion", "classifier_masks")) == vocab.CLASSIFIER_MASKS
    assert tuple(_enum(schema, "lesion", "symmetry_masks")) == vocab.CAM_SOURCES
    assert tuple(_enum(schema, "lesion", "datasets")) == vocab.LESION_DATASETS
    assert tuple(_enum(schema, "hpo", "networks")) == vocab.NETWORKS
    props = schema["properties"]
    assert set(vocab.DATASETS) <= set(props["data"]["properties"])      # data.<dataset> blocks


def test_every_choice_reads_validation_unless_the_thesis_protocol():
    from selcn.grid import selection_split
    from selcn.selection import best_fold_criterion

    assert selection_split("leakage_free") == "val" and selection_split("thesis") == "test"
    with pytest.raises(ValueError, match="unknown protocol"):
        selection_split("test_set")
    assert best_fold_criterion("leakage_free", "balanced_accuracy").name == "val_balanced_accuracy"
    assert best_fold_criterion("thesis", "balanced_accuracy").name == "test_accuracy"
