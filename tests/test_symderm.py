"""SymDerm v2.0's images/ and masks/ from the sources a user has (`selcn symderm-assemble`,
selcn.data.symderm): files named as the label file names them, PH²'s 1-bit masks as 0/255 PNG
(on the real sample where present), HAM10000 / ISIC 2018 masks renamed from _segmentation.png,
sources never modified, a different file never overwritten, the rows still missing by source;
data.symderm.missing: skip in the data check (counts by source, not a problem) and on the
report's first page."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import PH2_SAMPLE
from selcn.cli import main
from selcn.config import validate_config
from selcn.data.check import check_data
from selcn.data.readers import DataFormatError, read_symderm
from selcn.data.symderm import (
    MISSING_FILE,
    AssembleError,
    Sources,
    assemble,
    left_out_by_source,
    read_labels,
    source_key,
)
from selcn.jobs import Jobs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = PH2_SAMPLE
needs_sample = pytest.mark.skipif(
    not (SAMPLE / "PH2_dataset.xlsx").is_file(),
    reason=f"the real PH2 sample is not here ({SAMPLE}): the PH2 rows need "
           "../shared/data/ph2-sample (the project's shared data; not part of a clone)")
#: three cases of the sample (asymmetry 0 / 1 / 2 there; any three would do)
PH2_CASES = ("IMD008", "IMD014", "IMD017")


def _image(path: Path, seed: int, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":                                       # a 0/255 lesion mask
        pixels = np.zeros((12, 16), np.uint8)
        pixels[3:9, 4:12] = 255
        Image.fromarray(pixels).save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(path)
    return path


def _sources(tmp_path: Path) -> Sources:
    """HAM10000 in two image folders with Tschandl et al.'s masks, ISIC 2018 task 1."""
    ham = tmp_path / "HAM10000"
    _image(ham / "HAM10000_images_part1" / "ISIC_0024306.jpg", 1)
    _image(ham / "HAM10000_images_part2" / "ISIC_0033947.jpg", 2)
    for i in ("ISIC_0024306", "ISIC_0033947"):
        _image(ham / "masks" / f"{i}_segmentation.png", 3, "L")
    isic = tmp_path / "ISIC2018"
    _image(isic / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000001.jpg", 4)
    _image(isic / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000001_segmentation.png", 5,
           "L")
    return Sources(ham10000_images=(ham / "HAM10000_images_part1", ham / "HAM10000_images_part2"),
                   ham10000_masks=(ham / "masks",),
                   isic2018_images=(isic / "ISIC2018_Task1-2_Training_Input",),
                   isic2018_masks=(isic / "ISIC2018_Task1_Training_GroundTruth",))


def _labels(tmp_path: Path, extra: list[list] = ()) -> Path:
    rows = [["ISIC_0024306.jpg", "ISIC_0024306.png", "HAM10000", 0],
            ["ISIC_0033947.jpg", "ISIC_0033947.png", "HAM10000", 2],
            ["ISIC_0000001.jpg", "ISIC_0000001.png", "ISIC2018", 1],
            ["dq_0001.jpg", "dq_0001.png", "dermquest", 0],
            ["dq_0002.jpg", "dq_0002.png", "dermquest", 1],
            ["edra_0001.jpg", "edra_0001.png", "EDRA", 2], *extra]
    path = tmp_path / "SymDerm_v2_labels.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["File", "Mask", "Dataset", "labels_symmetry"]).to_csv(
        path, index=False)
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_assemble_names_files_as_the_label_file_and_lists_the_missing_rows(tmp_path):
    sources, labels = _sources(tmp_path / "src"), _labels(tmp_path)
    before = _files(tmp_path / "src")
    out = tmp_path / "SymDerm"
    report = assemble(labels, sources, out)
    assert sorted(os.listdir(out / "images")) == ["ISIC_0000001.jpg", "ISIC_0024306.jpg",
                                                  "ISIC_0033947.jpg"]
    assert sorted(os.listdir(out / "masks")) == ["ISIC_0000001.png", "ISIC_0024306.png",
                                                 "ISIC_0033947.png"]
    ham_mask = tmp_path / "src" / "HAM10000" / "masks" / "ISIC_0033947_segmentation.png"
    assert (out / "masks" / "ISIC_0033947.png").read_bytes() == ham_mask.read_bytes()
    assert os.path.samefile(out / "masks" / "ISIC_0033947.png", ham_mask)      # hard-linked
    assert _files(tmp_path / "src") == before                  # the sources are unchanged
    table = report.table().set_index("source")
    assert table.loc["HAM10000", ["rows", "complete", "missing rows", "files written"]].tolist() \
        == [2, 2, 0, 4]
    assert table.loc["dermquest", "missing rows"] == 2 and table.loc["EDRA", "missing rows"] == 1
    assert "offline since 2019" in table.loc["dermquest", "note"]
    assert "CD-ROM" in table.loc["EDRA", "note"]
    assert table.loc["total", ["rows", "complete", "missing rows"]].tolist() == [6, 3, 3]
    assert not report.complete and report.missing_rows == 3
    listing = pd.read_csv(out / MISSING_FILE)
    assert listing["file"].tolist() == ["dq_0001.jpg", "dq_0001.png", "dq_0002.jpg",
                                        "dq_0002.png", "edra_0001.jpg", "edra_0001.png"]
    text = str(report)
    assert "3 row(s) still missing" in text and "data.symderm.missing: skip" in text
    # the reader finds the assembled rows (skip: the missing ones are left out)
    missing: list[str] = []
    table = read_symderm(labels, out / "images", out / "masks", missing=missing)
    assert sorted(table["image_id"]) == ["ISIC_0000001", "ISIC_0024306", "ISIC_0033947"]
    assert left_out_by_source(labels, table["image_id"]) == {"dermquest": 2, "EDRA": 1}
    # a rerun keeps what is there and writes nothing
    again = assemble(labels, sources, out)
    assert again.table().set_index("source").loc["total", "files written"] == 0
    assert again.table().set_index("source").loc["total", "files kept"] == 6


def test_the_command_line_exit_status(tmp_path, capsys):
    sources, labels = _sources(tmp_path / "src"), _labels(tmp_path)
    args = ["symderm-assemble", str(labels), "--out", str(tmp_path / "SymDerm"),
            "--ham10000-images", *map(str, sources.ham10000_images),
            "--ham10000-masks", str(sources.ham10000_masks[0]), "--copy"]
    assert main([*args, "--dry-run"]) == 1
    assert not (tmp_path / "SymDerm").exists()                 # a dry run writes nothing
    assert "would be assembled (dry run)" in capsys.readouterr().out
    assert main(args) == 1                                     # ISIC 2018 not given, dermquest
    out = capsys.readouterr().out
    assert "source not given (--isic2018-images / --isic2018-masks)" in out
    copied = tmp_path / "SymDerm" / "images" / "ISIC_0024306.jpg"
    assert not os.path.samefile(copied, sources.ham10000_images[0] / "ISIC_0024306.jpg")
    complete = _labels(tmp_path / "complete")
    pd.read_csv(complete).iloc[:2].to_csv(complete, index=False)
    assert main(["symderm-assemble", str(complete), "--out", str(tmp_path / "SymDerm"),
                 "--ham10000-images", *map(str, sources.ham10000_images),
                 "--ham10000-masks", str(sources.ham10000_masks[0])]) == 0
    assert "every row has its image and mask" in capsys.readouterr().out
    assert not (tmp_path / "SymDerm" / MISSING_FILE).exists()  # no stale list of missing rows
    assert main(["symderm-assemble", str(tmp_path / "absent.csv"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "SymDerm label file not found" in capsys.readouterr().err


def test_a_different_file_is_never_overwritten(tmp_path, capsys):
    sources, labels = _sources(tmp_path / "src"), _labels(tmp_path)
    out = tmp_path / "SymDerm"
    _image(out / "masks" / "ISIC_0024306.png", 9)              # someone else's file
    before = (out / "masks" / "ISIC_0024306.png").read_bytes()
    with pytest.raises(AssembleError, match=r"(?s)1 file\(s\).*nothing was written.*"
                                            r"ISIC_0024306.png differs"):
        assemble(labels, sources, out)
    assert (out / "masks" / "ISIC_0024306.png").read_bytes() == before
    assert not (out / "images").exists()                       # nothing at all was written
    assert main(["symderm-assemble", str(labels), "--out", str(out), "--ham10000-images",
                 *map(str, sources.ham10000_images), "--ham10000-masks",
                 str(sources.ham10000_masks[0])]) == 2
    assert "not overwritten" in capsys.readouterr().err


def test_reasons_and_bad_input(tmp_path):
    assert [source_key(s) for s in ("PH²", "PH2", "ISIC 2018", "ISIC_2018", "EDRA")] == [
        "ph2", "ph2", "isic2018", "isic2018", "edra"]
    sources, labels = _sources(tmp_path / "src"), _labels(
        tmp_path, [["ISIC_0099999.jpg", "ISIC_0099999.png", "HAM10000", 1],
                   ["ISIC_0024306.png", "", "ISIC 2018", 1],
                   ["dermis_1.jpg", "dermis_1.png", "dermis", 0]])
    report = assemble(labels, sources, tmp_path / "out", dry_run=True)
    reasons = {(m.line, m.kind): m.reason for m in report.missing}
    assert reasons[(8, "image")].startswith("not found in ")            # HAM10000, not there
    assert reasons[(9, "image")] == "not found in " + str(sources.isic2018_images[0])
    assert "no bulk download" in reasons[(10, "mask")]
    assert (9, "mask") not in reasons                                    # no Mask named
    with pytest.raises(AssembleError, match="not a folder"):
        assemble(labels, Sources(ph2=tmp_path / "nowhere"), tmp_path / "out")
    bad = tmp_path / "bad.csv"
    bad.write_text("File,Mask,labels_symmetry\na.jpg,a.png,0\n")
    with pytest.raises(DataFormatError, match=r"bad.csv: missing column 'Dataset'"):
        read_labels(bad)
    bad.write_text("File,Mask,Dataset,labels_symmetry\n../a.jpg,a.png,HAM10000,0\n")
    with pytest.raises(AssembleError, match=r"line 2: field 'File' '../a.jpg' leaves"):
        assemble(bad, sources, tmp_path / "out")
    png = _labels(tmp_path / "png", [["ISIC_0024306.png", "x.png", "HAM10000", 0]])
    report = assemble(png, sources, tmp_path / "out2", dry_run=True)
    assert "but the label file names a .png" in report.missing[-2].reason     # its image


@needs_sample
def test_ph2_rows_from_the_real_sample(tmp_path):
    """PH²'s rows of SymDerm (File IMDxxx.bmp, Mask IMDxxx.png): the BMP linked as it is, the
    1-bit lesion BMP written as a 0/255 PNG with the same lesion pixels; the reader reads them
    with their SymDerm labels (2 - PH²'s asymmetry)."""
    from selcn.data.readers import read_ph2

    sheet = read_ph2(SAMPLE / "PH2_dataset.xlsx", SAMPLE / "PH2 Dataset images").set_index(
        "image_id").loc[list(PH2_CASES)]
    rows = [[f"{i}.bmp", f"{i}.png", "PH2", int(sheet.loc[i, "symderm_label"])]
            for i in PH2_CASES]
    labels = _labels(tmp_path, rows)
    out = tmp_path / "SymDerm"
    report = assemble(labels, Sources(ph2=SAMPLE), out)          # the PH2Dataset folder
    assert report.table().set_index("source").loc["PH2", ["rows", "complete"]].tolist() == [3, 3]
    for i in PH2_CASES:
        case = SAMPLE / "PH2 Dataset images" / i
        assert (out / "images" / f"{i}.bmp").read_bytes() == \
            (case / f"{i}_Dermoscopic_Image" / f"{i}.bmp").read_bytes()
        png = Image.open(out / "masks" / f"{i}.png")
        assert png.format == "PNG" and png.mode == "L"
        mask = np.asarray(png)
        assert set(np.unique(mask)) == {0, 255}
        assert np.array_equal(mask > 0, np.asarray(Image.open(
            case / f"{i}_lesion" / f"{i}_lesion.bmp")) > 0)
    table = read_symderm(labels, out / "images", out / "masks", missing=[])
    ph2 = table[table["source"] == "PH2"].set_index("image_id")
    assert ph2["symmetry_label"].to_dict() == sheet["symderm_label"].to_dict()
    # the folder of the cases works as well, and a rerun keeps the converted masks
    again = assemble(labels, Sources(ph2=SAMPLE / "PH2 Dataset images"), out)
    assert again.table().set_index("source").loc["PH2", "files kept"] == 6


def test_skip_counts_the_missing_rows_by_source_and_is_no_problem(tmp_path):
    """data.symderm.missing: skip in the data check: the missing rows are counted by source in
    the table and left out (ok); under error they are problems (and still counted)."""
    sources, labels = _sources(tmp_path / "src"), _labels(tmp_path)
    out = tmp_path / "SymDerm"
    assemble(labels, sources, out)
    block = {"csv": str(labels), "image_dir": str(out / "images"), "mask_dir": str(out / "masks")}
    strict = check_data({"data": {"symderm": block}})
    assert not strict.ok and strict.datasets[0].missing_by_source == {"dermquest": 2, "EDRA": 1}
    lenient = check_data({"data": {"symderm": {**block, "missing": "skip"}}})
    (sym,) = lenient.datasets
    assert lenient.ok and sym.rows == 3 and sym.problems() == []
    assert lenient.table()["missing rows by source"].tolist() == ["dermquest 2, EDRA 1"]
    assert "6 missing image(s) / mask(s) left out (data.symderm.missing: skip)" in str(lenient)


def test_the_jobs_pass_skip_to_the_check_and_count_the_rows_left_out(tmp_path, monkeypatch):
    labels = _labels(tmp_path)
    cfg = validate_config({"data": {"source": "files", "symderm": {
        "csv": str(labels), "image_dir": str(tmp_path / "i"), "mask_dir": str(tmp_path / "m"),
        "missing": "skip"}}})
    monkeypatch.chdir(tmp_path)
    jobs = Jobs.of(cfg)
    assert jobs.data_check_blocks()["symderm"]["missing"] == "skip"
    assert "missing" not in jobs.data_paths("symderm")           # the cache's paths only
    assert "missing" not in Jobs.of(validate_config({})).data_check_blocks()["symderm"]
    assert jobs.data_left_out() == {}                            # no cache yet
    index = tmp_path / "results" / "cache" / "symderm" / "index.csv"
    index.parent.mkdir(parents=True)
    pd.DataFrame({"row": [0, 1], "image_id": ["ISIC_0024306", "ISIC_0033947"]}).to_csv(
        index, index=False)
    assert jobs.data_left_out() == {"SymDerm v2.0": {"dermquest": 2, "ISIC2018": 1, "EDRA": 1}}
    labels.write_text("File,Mask\n")                  # unreadable: the data check names it,
    assert jobs.data_left_out() == {}                   # planning goes on
