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
