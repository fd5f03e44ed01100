"""A job's log (selcn.joblog): a header line per start; a training job's log keeps the lines of
its earlier, interrupted attempts although Snakemake deletes the log before every start."""

import re

from selcn.joblog import HEADER, KEPT_LOG, open_job_log, start_job
from selcn.resume import clear_resume_state

HEADER_LINE = re.compile(r"^\[job\] start (\d+): \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d, "
                         r"pid \d+ on \S+( \(earlier starts above\))?$")


def _starts(text):
    return [int(m.group(1)) for m in map(HEADER_LINE.match, text.splitlines()) if m]


def test_a_job_log_starts_with_a_header(tmp_path):
    log = tmp_path / "logs" / "cams.log"
    with open_job_log(log) as stream:
        stream.write("work\n")
    lines = log.read_text().splitlines()
    assert HEADER_LINE.match(lines[0]) and lines[1:] == ["work"]
    assert _starts(log.read_text()) == [1]


def test_a_resumed_job_log_keeps_the_earlier_attempts_lines(tmp_path):
    out, log = tmp_path / "lesion" / "fold0", tmp_path / "logs" / "train.log"
    with open_job_log(log, out / KEPT_LOG) as stream:        # attempt 1, killed after epoch 2
        stream.write("[training] epoch 1/5: …\n[training] epoch 2/5: …\n")
    log.unlink()                                             # Snakemake, before the rerun
    with open_job_log(log, out / KEPT_LOG) as stream:        # attempt 2 resumes
        stream.write("[training] resumed from … after epoch 2\n")
    text = log.read_text()
    assert _starts(text) == [1, 2]
    lines = text.splitlines()
    assert lines[1:3] == ["[training] epoch 1/5: …", "[training] epoch 2/5: …"]
    assert lines[3].endswith("(earlier starts above)")
    assert lines[4] == "[training] resumed from … after epoch 2"
    assert (out / KEPT_LOG).read_text() == text              # one file, two names

    clear_resume_state(out)                                  # the job finished
    assert log.read_text() == text                           # its log stays
    log.unlink()
    with open_job_log(log, out / KEPT_LOG) as stream:        # a forced rerun: a fresh log
        stream.write("[training] epoch 1/5: …\n")
    assert _starts(log.read_text()) == [1] and "resumed" not in log.read_text()


def test_a_log_that_was_not_deleted_is_continued(tmp_path):
    out, log = tmp_path / "out", tmp_path / "train.log"
    log.write_text(f"{HEADER}1: earlier lines of a run without Snakemake\nold line\n")
    with open_job_log(log, out / KEPT_LOG) as stream:
        stream.write("new line\n")
    text = log.read_text()
    assert text.startswith(f"{HEADER}1: earlier") and "old line\n" in text
    assert _starts(text) == [2] and text.endswith("new line\n")
    assert (out / KEPT_LOG).read_text() == text


def test_start_job_locks_the_folder_then_continues_the_log(tmp_path):
    out, log = tmp_path / "out", tmp_path / "job.log"
    stream = start_job(log, out)
    try:
        assert (out / ".lock").read_text().startswith("pid ")
        stream.write("line\n")
        assert (out / KEPT_LOG).read_text() == log.read_text()
    finally:
        stream.close()


def test_without_hard_links_the_earlier_lines_are_copied_and_the_log_says_so(tmp_path,
                                                                              monkeypatch):
    out, log = tmp_path / "out", tmp_path / "train.log"
    with open_job_log(log, out / KEPT_LOG) as stream:
        stream.write("attempt 1\n")
    log.unlink()

    def refused(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("selcn.joblog.os.link", refused)
    with open_job_log(log, out / KEPT_LOG) as stream:
        stream.write("attempt 2\n")
    lines = log.read_text().splitlines()
    assert lines[1] == "attempt 1" and lines[2].startswith("[job] start 2: ")
    assert lines[3] == (f"[job] cannot keep this log under {out / KEPT_LOG} (Invalid "
                        "cross-device link): the lines of this attempt are not carried into a "
                        "later one")
    assert lines[4] == "attempt 2"
