"""The core stays readable (docs/architecture.md): the counts of tests/structure.py hold."""

from structure import counts


def test_reading_cost_stays_low(repo):
    found = counts(repo)
    assert found["long_signatures"] == [], found["long_signatures"]       # > 8 parameters
    assert len(found["star_args"]) <= 10, found["star_args"]
    assert found["protocol_comparisons"] == [], found["protocol_comparisons"]
    assert found["common_smk_lines"] <= 250
    assert found["report_heavy_imports"] == [], found["report_heavy_imports"]
    assert found["predict_imports_report"] == []


def test_the_counter_sees_what_it_counts(tmp_path):
    """A long signature, a protocol comparison and a heavy report import are found."""
    src = tmp_path / "src" / "selcn"
    (src / "report").mkdir(parents=True)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "common.smk").write_text("a\nb\n")
    (tmp_path / "workflow" / "report").mkdir(parents=True)
    (tmp_path / "workflow" / "report" / "t.rst").write_text(
        '{% if snakemake.config["protocol"] == "thesis" %}x{% endif %}\n')
    (src / "m.py").write_text("def f(a, b, c, d, e, f, g, h, i):\n"
                              "    return a == 'thesis'\n\ndef g(*args):\n    pass\n")
    (src / "report" / "r.py").write_text("import torch\n")
    found = counts(tmp_path)
    assert found["long_signatures"] == ["selcn/m.py:f (9)"]
    assert found["star_args"] == ["selcn/m.py:g"]
    assert found["protocol_comparisons"] == ["selcn/m.py:2", "workflow/report/t.rst:1"]
    assert found["common_smk_lines"] == 2
    assert found["report_heavy_imports"] == ["selcn/report/r.py (torch)"]
