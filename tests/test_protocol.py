"""The protocol policy (selcn.protocol): what each protocol implies, resolved once."""

import dataclasses

import pytest

from selcn.protocol import LEAKAGE_FREE, PROTOCOLS, THESIS, Protocol, policy


def test_the_two_policies():
    assert PROTOCOLS == ("leakage_free", "thesis")
    lf, th = policy("leakage_free"), policy("thesis")
    assert (lf.selection_split, lf.localisation_split, lf.selects_on_test) == ("val", "test",
                                                                               False)
    assert (th.selection_split, th.localisation_split, th.selects_on_test) == ("test", None, True)
    for flag in ("grouped", "balance_in_fold", "exclude_symderm_test_lesions",
                 "exclude_ham_from_isic2019", "isic2016_official_test"):
        assert getattr(lf, flag) is True and getattr(th, flag) is False, flag
    assert lf.localised_on == "test split"
    assert th.localised_on == "every image with a ground-truth mask"


def test_policy_is_resolved_once_and_frozen():
    assert policy("thesis") is THESIS and policy(LEAKAGE_FREE) is LEAKAGE_FREE
    with pytest.raises(dataclasses.FrozenInstanceError):
        LEAKAGE_FREE.grouped = False  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown protocol 'test_set'"):
        policy("test_set")
    with pytest.raises(ValueError, match="unknown protocol"):
        policy(None)  # type: ignore[arg-type]


def test_as_dict_holds_every_field_for_templates():
    d = LEAKAGE_FREE.as_dict()
    assert set(d) == {f.name for f in dataclasses.fields(Protocol)} | {"selects_on_test",
                                                                        "localised_on"}
    assert d["name"] == "leakage_free" and d["grouped"] is True


def test_overlaps_and_the_thesis_code_switches():
    from selcn.data.splits import BALANCE_SAMPLINGS
    from selcn.masks import LAE_CLIPS
    from selcn.protocol import PROJECT_DEFAULTS, THESIS_CODE_DEFAULTS

    lf, th = policy("leakage_free"), policy("thesis")
    assert (lf.remove_overlaps, lf.thesis_code) == (True, False)
    assert (th.remove_overlaps, th.thesis_code) == (False, True)
    assert lf.setting("dropout_elayer") == lf.setting("dropout_baseline") == 0.2
    assert (th.setting("dropout_elayer"), th.setting("dropout_baseline")) == (0.0, 0.4)
    assert (lf.setting("balance_sampling"), th.setting("balance_sampling")) == (
        "keep_originals", "all_versions")
    assert (lf.setting("lae_clip"), th.setting("lae_clip")) == ("centred", "start")
    assert th.setting("dropout_elayer", 0.3) == 0.3 and lf.setting("lae_clip", "start") == "start"
    for defaults in (PROJECT_DEFAULTS, THESIS_CODE_DEFAULTS):
        assert defaults["balance_sampling"] in BALANCE_SAMPLINGS
        assert defaults["lae_clip"] in LAE_CLIPS
    with pytest.raises(KeyError, match="no protocol setting"):
        lf.setting("hair")
