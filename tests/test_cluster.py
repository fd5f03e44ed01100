"""The SLURM profile refuses to start without an account and a partition (selcn.cluster, checked
in rules/common.smk while the Snakefile is read): a dry run with the placeholders unset fails
with a message naming the variables, and passes once they are set."""

import pytest

from helpers import REPO, run_snakemake
from selcn.cluster import check_profile_resources, unset_placeholders
from selcn.errors import ConfigError

#: the profile's default-resources as Snakemake holds them (the expressions as written)
PROFILE = {"slurm_account": "'$SELCN_SLURM_ACCOUNT'",
           "slurm_partition": "'$SELCN_SLURM_PARTITION'", "mem_mb": 2000, "runtime": 30}
ENV = {"SELCN_SLURM_ACCOUNT": "acct", "SELCN_SLURM_PARTITION": "gpu"}


def test_set_variables_and_literal_names_pass():
    assert unset_placeholders(PROFILE, ENV) == {}
    assert unset_placeholders({"slurm_account": "'my_account'", "slurm_partition": "gpu"}, {}) == {}
    assert unset_placeholders({"mem_mb": 2000}, {}) == {}            # no SLURM profile at all
    assert unset_placeholders({"slurm_account": "${ACC}", "slurm_partition": "p"},
                              {"ACC": "a"}) == {}
    check_profile_resources(PROFILE, ENV)


def test_unset_or_empty_variables_are_named():
    problems = unset_placeholders(PROFILE, {"SELCN_SLURM_ACCOUNT": "acct"})
    assert list(problems) == ["slurm_partition"]
    assert "SELCN_SLURM_PARTITION" in problems["slurm_partition"]
    problems = unset_placeholders(PROFILE, {"SELCN_SLURM_ACCOUNT": " ",
                                            "SELCN_SLURM_PARTITION": ""})
    assert list(problems) == ["slurm_account", "slurm_partition"]
    assert unset_placeholders({"slurm_account": "''"}, {}) == {"slurm_account": "empty"}
    with pytest.raises(ConfigError, match=r"(?s)SELCN_SLURM_ACCOUNT.*SELCN_SLURM_PARTITION.*"
                                          r"export SELCN_SLURM_ACCOUNT=.*Nothing was submitted"):
        check_profile_resources(PROFILE, {})


@pytest.mark.slow
def test_a_dry_run_with_the_profile_refuses_unset_variables(tmp_path, monkeypatch):
    args = ("--configfile", str(REPO / "config" / "config.yaml"),
            "--profile", str(REPO / "profiles" / "slurm"), "-n")
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SELCN_SLURM_PARTITION", "gpu")
    run = run_snakemake(tmp_path, *args, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "default-resources slurm_account is '$SELCN_SLURM_ACCOUNT'" in out, out[-3000:]
    assert "SELCN_SLURM_PARTITION is unset" not in out
    assert "slurm_account=$SELCN_SLURM_ACCOUNT" not in out             # no job was planned
    monkeypatch.setenv("SELCN_SLURM_ACCOUNT", "acct")
    run = run_snakemake(tmp_path, *args, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "slurm_account=acct" in out and "slurm_partition=gpu" in out
