"""The report's appendix "Differences from the thesis' code": ``docs/differences.md`` as an HTML
page (:func:`differences_page`), headed by what this run's settings resolve to
(:func:`run_settings`).

:func:`markdown_html` renders the subset of Markdown the page uses — ``#`` headings,
paragraphs, ``-`` lists (one level, continuation lines indented), pipe tables, fenced code
blocks, ``**bold**``, ``*italic*``, ``code`` and ``[text](url)`` — escaping everything else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from selcn.protocol import policy

__all__ = ["markdown_html", "run_settings", "differences_page"]

_CSS = ("body{font-family:sans-serif;max-width:60em;margin:1em auto;line-height:1.45}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;"
        "padding:0.2em 0.5em;text-align:left;vertical-align:top}th{background:#eee}"
        "code{background:#f4f4f4;padding:0 0.2em}pre{background:#f4f4f4;padding:0.5em}"
        ".run{background:#eef5ff;border:1px solid #9bc;padding:0.5em 1em}")


def _inline(text: str) -> str:
    """Inline Markdown of one line of text, everything else escaped."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                   lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', s)
        out.append(s)
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_html(text: str) -> str:
    """HTML of the Markdown subset of the module docstring (block by block)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif m := re.match(r"(#{1,6})\s+(.*)", line):
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            body = [r for r in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                          for r in body)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif line.startswith("- "):
            items: list[str] = []
            while i < len(lines) and (lines[i].startswith("- ") or
                                      (lines[i].startswith("  ") and lines[i].strip())):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:].strip())
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + "</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(
                    r"(#{1,6}\s|- |\||```)", lines[i].lstrip()):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def run_settings(cfg: Mapping) -> dict[str, str]:
    """What this run's settings resolve to where the thesis' code differs (a validated
    config): the protocol, the dropout of E-Layer models and baselines, the balancing's
    sampling, the LAE clipping the protocol implies, and what happens to overlaps."""
    protocol = policy(cfg["protocol"])
    dropout = cfg["lesion"].get("dropout") or {}
    return {
        "protocol": protocol.name,
        "dropout (E-Layer models)": str(protocol.setting("dropout_elayer",
                                                         dropout.get("elayer"))),
        "dropout (baselines)": str(protocol.setting("dropout_baseline",
                                                    dropout.get("baseline"))),
        "balancing sampling": str(protocol.setting(
            "balance_sampling", cfg["data"]["balance"].get("sampling"))),
        "LAE clipping (the protocol's; the networks still clip centred)":
            str(protocol.setting("lae_clip")),
        "overlaps between test and training sets": ("removed from training"
                                                    if protocol.remove_overlaps
                                                    else "reported, not removed"),
    }


def differences_page(markdown: str, settings: Mapping[str, str], note: str = "") -> str:
    """The appendix page: a box with this run's ``settings``, ``note`` (what the run is),
    then ``markdown`` (``docs/differences.md``) rendered."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td>"
                   "</tr>" for k, v in settings.items())
    note_html = f"<p>{html.escape(note)}</p>" if note else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Differences from the thesis' code</title>"
            f"<style>{_CSS}</style></head>\n<body>\n<div class=\"run\"><b>This run</b>"
            f"{note_html}<table>{rows}</table></div>\n{markdown_html(markdown)}\n</body></html>\n")
