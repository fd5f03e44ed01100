"""Caption templates (workflow/report/*.rst) read the protocol's policy: each renders under
both protocols, with the sentences of its own protocol only."""

from pathlib import Path

import pytest

from selcn.config import validate_config
from selcn.protocol import PROTOCOLS, policy
from selcn.report.registry import render_caption

CAPTIONS = Path(__file__).resolve().parents[1] / "workflow" / "report"
#: the wrapper of rule `table` (reads snakemake.params.caption, not rendered by render_caption)
WRAPPER = "table.rst"
#: the wildcards a template may read (split: tables 6 / 8; network: figure 7a)
WILDCARDS = ({"split": "val", "network": "symmetry"}, {"split": "test", "network": "lesion"})

#: template -> {protocol: sentences only that protocol's caption holds}
SENTENCES = {
    "table5_segmentation.rst": {
        "leakage_free": [", and the folds are grouped by ``lesion_id``)",
                         "The architecture with the best **validation**",
                         "``leakage_free``: nothing is chosen on the test split"],
        "thesis": ["The architecture with the best **test**",
                   "(protocol ``thesis``: the thesis' choice, made on the test split)"],
    },
    "table7_symmetry_cam_localisation.rst": "images scored",
    "table9_lesion_cam_localisation.rst": "images scored",
    "table15_isic2016_cam_localisation.rst": "images scored + isic2016 split",
    "table13_14_isic2016.rst": "isic2016 split",
    "workflow.rst": {
        "leakage_free": ["and the folds are grouped by\n``lesion_id``",
                         "happens inside each training fold",
                         "SymDerm images of HAM10000 test lesions are not trained on",
                         "HAM10000 images are removed from ISIC 2019",
                         "the best CAM fold is chosen on validation data"],
        "thesis": ["The thesis' original order:\nimage-level split, balancing before "
                   "cross-validation, best CAM fold chosen on the test set."],
    },
}
IMAGES_SCORED = {
    "leakage_free": ["Images scored: the **HAM10000 test split** only (protocol ``leakage_free``"],
    "thesis": ["Images scored: **every HAM10000 image**",
               "``evaluate_cam.py`` does (protocol ``thesis``;"],
}
ISIC2016_SPLIT = {
    "leakage_free": ["Data split: the **official** ISIC 2016 split",
                     "test on the 379 official test images (protocol ``leakage_free``;"],
    "thesis": ["Data split: as the thesis, the test split is a stratified\n20 % of the 900 "
               "official ISIC 2016\n*training* images",
               "the official 379-image test set is not used"],
}


def _expected(name: str) -> dict[str, list[str]]:
    spec = SENTENCES[name]
    if isinstance(spec, dict):
        return spec
    out: dict[str, list[str]] = {p: [] for p in PROTOCOLS}
    for part, table in (("images scored", IMAGES_SCORED), ("isic2016 split", ISIC2016_SPLIT)):
        if part in spec:
            for p in PROTOCOLS:
                out[p] += table[p]
    return out


def _templates() -> list[Path]:
    return sorted(p for p in CAPTIONS.glob("*.rst") if p.name != WRAPPER)


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str, str], str]:
    """(protocol, template, split) -> caption, every template under both protocols."""
    out = {}
    for protocol in PROTOCOLS:
        cfg = validate_config({"protocol": protocol})
        assert "protocol_policy" not in cfg            # render_caption adds it
        for path in _templates():
            for wc in WILDCARDS:
                out[protocol, path.name, wc["split"]] = render_caption(path, cfg, wc)
    return out


def test_every_caption_renders_under_both_protocols(rendered):
    names = {p.name for p in _templates()}
    assert set(SENTENCES) <= names
    for (protocol, name, split), text in rendered.items():
        assert text.strip(), (protocol, name, split)
        assert "{{" not in text and "{%" not in text, (protocol, name, split)


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_protocol_sentences_appear_under_their_protocol_only(rendered, name):
    expected = _expected(name)
    for protocol in PROTOCOLS:
        other = next(p for p in PROTOCOLS if p != protocol)
        for split in ("val", "test"):
            text = rendered[protocol, name, split]
            for sentence in expected[protocol]:
                assert sentence in text, (protocol, name, sentence)
                assert sentence not in rendered[other, name, split], (other, name, sentence)


def test_only_the_protocol_templates_depend_on_it(rendered):
    first, second = PROTOCOLS
    differ = {name for (_, name, split) in rendered
              if rendered[first, name, split] != rendered[second, name, split]}
    assert differ == set(SENTENCES)


def test_templates_read_the_policy_not_the_name():
    """A given ``protocol_policy`` is used as is: the caption follows the policy's fields."""
    cfg = validate_config({"protocol": "leakage_free"})
    derived = render_caption(CAPTIONS / "table5_segmentation.rst", cfg)
    given = render_caption(CAPTIONS / "table5_segmentation.rst",
                           {**cfg, "protocol_policy": policy("leakage_free").as_dict()})
    assert given == derived
    swapped = render_caption(CAPTIONS / "table5_segmentation.rst",
                             {**cfg, "protocol_policy": policy("thesis").as_dict()})
    assert "The architecture with the best **test**" in swapped
    assert "grouped by ``lesion_id``" not in swapped
    assert "protocol_policy" not in cfg                 # the caller's config is not changed
