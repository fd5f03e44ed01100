"""The appendix "Differences from the thesis' code" (docs/differences.md, its HTML page) and the
report's "Overlaps" table builder."""

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from selcn.config import validate_config
from selcn.report.differences import differences_page, markdown_html, run_settings
from selcn.report.overlaps import OVERLAP_TABLE_COLUMNS, overlaps_table

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "differences.md"


def test_the_page_lists_every_difference_of_issue_22():
    """Each item of issue 22's point 4 has its section, with its measured effect and what the
    protocols do; the quoted figures are there as the issue gives them."""
    text = PAGE.read_text()
    sections = re.findall(r"^## \d+\. (.+)$", text, flags=re.M)
    assert sections == ["The CAM metrics' ground-truth mask", "Grad-CAM++", "The LAE box",
                        "Hair removal's colour conversion", "Balancing", "Dropout",
                        "Table 7's images", "Tables 8a and 8b, rows 5–12",
                        "The default hyper-parameters",
                        "Overlaps between test and training sets"]
    for figure in ("+3.6 %", "+16.3 %", "0.98", "0.88", "expand3x3_activation",
                   "14 of 31", "0.907", "COLOR_RGB2GRAY", "0.3–6.5 %", "506 of its 879",
                   "no dropout on the E-Layer models",
                   "0.4", "evaluate_cam*.py", "0.004–0.016", "0.014–0.035", "0.842–0.932",
                   "0.787–0.883", "905 of the 2,004", "365 of the 448", "16 of the 379"):
        assert figure in text, figure
    # every reproduced switch is named with its config value, and each section says what the
    # protocols do
    for key in ("lesion.dropout.elayer", "data.balance.sampling", 'lae_box(mask, clip="start")',
                "hpo.enabled: true", "remove_overlaps"):
        assert key in text, key
    assert text.count("**quoted**") >= 8 and text.count("**measured here**") >= 5


def test_markdown_subset_by_hand():
    md = ("# Title\n\nA *b* **c** `x<y` [l](http://e.org).\n\n- one\n  two\n- three\n\n"
          "| A | B |\n| --- | --- |\n| 1 | `2` |\n\n```\na < b\n```\n")
    assert markdown_html(md) == (
        "<h1>Title</h1>\n<p>A <i>b</i> <b>c</b> <code>x&lt;y</code> "
        '<a href="http://e.org">l</a>.</p>\n<ul><li>one two</li><li>three</li></ul>\n'
        "<table><thead><tr><th>A</th><th>B</th></tr></thead><tbody><tr><td>1</td>"
        "<td><code>2</code></td></tr></tbody></table>\n<pre>a &lt; b</pre>")


@pytest.mark.parametrize("protocol", ["leakage_free", "thesis"])
def test_the_page_says_what_this_run_resolves_to(protocol):
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    settings = run_settings(validate_config({**raw, "protocol": protocol}))
    thesis = protocol == "thesis"
    assert settings["protocol"] == protocol
    assert settings["dropout (E-Layer models)"] == ("0.0" if thesis else "0.2")
    assert settings["dropout (baselines)"] == ("0.4" if thesis else "0.2")
    assert settings["balancing sampling"] == ("all_versions" if thesis else "keep_originals")
    assert settings["overlaps between test and training sets"] == (
        "reported, not removed" if thesis else "removed from training")
    page = differences_page(PAGE.read_text(), settings, note="demo")
    assert page.startswith("<!DOCTYPE html>") and "<h2>3. The LAE box</h2>" in page
    assert f"<code>{protocol}</code>" in page


def test_overlaps_table_from_the_summary(tmp_path):
    summary = pd.DataFrame([
        ["isic2016", "test split", "symderm", "symmetry", "removed from training", 1, 2, 2, 2, 2],
        ["isic2019", "external", "ham10000", "segmentation, lesion, search",
         "removed from the test set", 1, 1, 1, 1, 1],
        ["ham10000", "test split", "isic2016", "lesion, search", "none found", 0, 0, 0, 0, 0]],
        columns=["test_set", "test_part", "training_set", "trains", "outcome", "found_by_id",
                 "found_by_content", "by_pixels", "by_phash", "count"])
    path = tmp_path / "overlap_summary.csv"
    summary.to_csv(path, index=False)
    table = overlaps_table([path])
    assert list(table.columns) == list(OVERLAP_TABLE_COLUMNS)
    assert table.values.tolist() == [
        ["ISIC 2016 (test split)", "SymDerm v2.0 (symmetry)", "removed from training", "1", "2",
         "2", "2"],
        ["ISIC 2019 (external)", "HAM10000 (segmentation, lesion, search)",
         "removed from the test set", "1", "1", "1", "1"],
        ["HAM10000 (test split)", "ISIC 2016 (lesion, search)", "none found", "0", "0", "0",
         "0"]]
    summary.drop(columns="trains").to_csv(path, index=False)
    with pytest.raises(ValueError, match="missing column"):
        overlaps_table([path])
