"""A user with only HAM10000 and SymDerm can run the cascade: ISIC 2019 / ISIC 2016 optional."""

import pytest
import yaml

from selcn.config import ConfigError, validate_config
from selcn.grid import grid
from selcn.plan import dry_run, parse_dry_run, plan_table


def _grid(**data):
    return grid(validate_config({"data": data, "lesion": {"datasets": ["ham10000"]}}))


def test_isic2019_null_drops_the_external_test_set():
    full = _grid()
    assert full.external_of == {"ham10000": "isic2019"}
    assert full.datasets == ("ham10000", "symderm", "isic2019")
    assert full.cam_datasets == ("ham10000", "isic2019")
    none = _grid(isic2019=None)
    assert none.external_of == {} and none.cam_datasets == ("ham10000",)
    assert none.datasets == ("ham10000", "symderm")


def test_isic2016_null_must_not_be_a_lesion_dataset():
    with pytest.raises(ConfigError, match="data.isic2016 is null"):
        grid(validate_config({"data": {"isic2016": None},
                              "lesion": {"datasets": ["ham10000", "isic2016"]}}))
    assert "isic2016" in grid(validate_config({})).datasets          # default: both used


def test_report_tables_follow_the_optional_data():
    from selcn.report.registry import report_tables

    assert "table10_isic2019" in report_tables(_grid())
    tables = report_tables(_grid(isic2019=None))
    assert "table10_isic2019" not in tables and "table8_lesion_test" in tables
    assert not any("isic2016" in t for t in tables)


@pytest.mark.slow
def test_dry_run_plans_no_job_of_absent_data(repo, tmp_path):
    (tmp_path / "only_ham.yaml").write_text(yaml.safe_dump(
        {"data": {"isic2019": None, "isic2016": None}, "lesion": {"datasets": ["ham10000"]}}))
    run = dry_run(["--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path),
                   "--configfile", str(repo / "config" / "config.yaml"),
                   str(tmp_path / "only_ham.yaml"), "--forceall"], workdir=tmp_path)
    assert "isic2019" not in run.text and "isic2016" not in run.text
    table = plan_table(parse_dry_run(run.text)).set_index("rule")
    assert table.loc["train_lesion_ham10000", "jobs"].sum() == 24        # 12 models x 2 folds
    # one lesion training rule, HAM10000's, without external predictions: nothing to predict
    assert sorted({r for r in table.index if r.startswith("train_lesion")}) == [
        "train_lesion_ham10000"]
