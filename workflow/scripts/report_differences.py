"""The report's appendix "Differences from the thesis' code": docs/differences.md as HTML,
headed by this run's settings (selcn.report.differences)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from selcn.report.differences import differences_page
from selcn.report.html import atomic_write_text

page = differences_page(Path(snakemake.input.page).read_text(encoding="utf-8"),
                        snakemake.params.settings, note=snakemake.params.note)
atomic_write_text(snakemake.output.html, page)
print(f"{snakemake.input.page} -> {snakemake.output.html}")
