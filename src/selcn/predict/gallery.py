"""What ``selcn predict`` draws: one PNG panel per image and the ``index.html`` gallery.

No torch here: the panels are drawn from numpy arrays (:class:`ImageResult`, what the cascade
produced for one image) with OpenCV and :func:`selcn.draw.overlay`; beside each panel
``panels/<name>.png`` a JPEG thumbnail ``panels/thumbs/<name>.jpg`` (:data:`THUMB_WIDTH` px
wide). The gallery is one page (inline CSS/JS, no external resource) with the
``predictions.csv`` table, sortable by any column and filterable by class; it shows the
thumbnails, each a link to its panel, so that its size grows by a few hundred bytes per image
(``embed=True`` inlines the full panels instead, for a single file to send).

A bundle trained on synthetic demo data gets :data:`SYNTHETIC_WARNING` on every panel (a red
band) and at the top of the gallery.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from selcn.atomic import atomic_path
from selcn.draw import overlay
from selcn.masks import lae_box

__all__ = ["THUMB_WIDTH", "SYNTHETIC_WARNING", "ImageResult", "PanelSettings", "draw_panel",
           "thumbnail_of", "write_panel", "write_gallery"]

#: width of the gallery's thumbnails (px)
THUMB_WIDTH = 360
#: what every output of a bundle trained on the synthetic demo data says
SYNTHETIC_WARNING = "trained on synthetic demo data \u2014 not for real lesions"
_TILE = 224          # panel tile side (px)
_BAR = 22            # title bar height (px)
_WARN_BAR = 24       # height of a panel's warning band (px)


@dataclass(frozen=True)
class ImageResult:
    """What the cascade produced for one image (numpy, on the CPU).

    Attributes:
        image: uint8 ``(S, S, 3)`` the preprocessed (hair-removed) image.
        mask: uint8 ``(S, S)`` its predicted lesion mask.
        symmetry_input, lesion_input: uint8 ``(S, S, 3)`` the image as each network saw it.
        symmetry_cam: float32 ``(R, R)`` in [0, 1] (fed to the E-Layer), or None.
        symmetry: the symmetry network's class, or None (no symmetry network).
        symmetry_prob: its probability, or None.
        lesion_cam: float32 ``(h, w)`` in [0, 1] the lesion network's CAM, or None.
        probs: float32 ``(C,)`` the mean probability of the fold models.
        disagreement: std over the folds of the predicted class' probability.
    """

    image: np.ndarray
    mask: np.ndarray
    symmetry_input: np.ndarray
    symmetry_cam: np.ndarray | None
    symmetry: str | None
    symmetry_prob: float | None
    lesion_input: np.ndarray
    lesion_cam: np.ndarray | None
    probs: np.ndarray
    disagreement: float

    @property
    def top(self) -> int:
        """Index of the predicted class."""
        return int(np.argmax(self.probs))

    @property
    def lesion_area(self) -> float:
        """Fraction of the image inside the predicted mask."""
        return float((self.mask != 0).mean())


@dataclass(frozen=True)
class PanelSettings:
    """What every panel of a run shares: the class names, the LAE box's growth factor (None:
    no LAE box is drawn — model 13, whose input is unmasked) and a warning drawn on every panel
    (e.g. :data:`SYNTHETIC_WARNING`; None = none)."""

    class_names: tuple[str, ...]
    lae_scale: float | None = 1.4
    warning: str | None = None


# ---- panels ---------------------------------------------------------------------------------
def _tile(image: np.ndarray, title: str) -> np.ndarray:
    """``image`` resized to the tile side under a white title bar."""
    body = cv2.resize(np.ascontiguousarray(image), (_TILE, _TILE),
                      interpolation=cv2.INTER_NEAREST if image.shape[0] < _TILE else cv2.INTER_AREA)
    tile = np.full((_TILE + _BAR, _TILE, 3), 255, np.uint8)
    tile[_BAR:] = body
    cv2.putText(tile, title[:34], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return tile


def draw_panel(result: ImageResult, settings: PanelSettings, title: str) -> np.ndarray:
    """One image's panel, uint8 RGB ``(H, W, 3)``: the (hair-removed) image with the predicted
    mask's outline (green) and LAE box (yellow); the symmetry CAM over the symmetry network's
    input; the lesion network's CAM over its input; the top-3 classes with probabilities."""
    image, mask, probs = result.image, result.mask, result.probs
    class_names = settings.class_names
    scale = _TILE / image.shape[0]
    first = cv2.resize(np.ascontiguousarray(image), (_TILE, _TILE), interpolation=cv2.INTER_LINEAR)
    contours, _ = cv2.findContours((mask != 0).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    contours = [(c.astype(np.float64) * scale).astype(np.int32) for c in contours]
    cv2.drawContours(first, contours, -1, (0, 255, 0), 2)
    box = lae_box(mask, settings.lae_scale) if settings.lae_scale is not None else None
    if box is not None:
        y0, y1, x0, x1 = (int(round(v * scale)) for v in box)
        cv2.rectangle(first, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 220, 0), 2)
    what = "mask" if settings.lae_scale is None else "mask + LAE box"
    tiles = [_tile(first, f"{what} (area {100 * result.lesion_area:.0f}%)")]
    if result.symmetry_cam is not None:
        tiles.append(_tile(overlay(result.symmetry_input, result.symmetry_cam),
                           f"symmetry: {result.symmetry} {result.symmetry_prob:.2f}"))
    else:
        tiles.append(_tile(np.full_like(image, 235), "no symmetry network"))
    tiles.append(_tile(overlay(result.lesion_input, result.lesion_cam)
                       if result.lesion_cam is not None else result.lesion_input,
                       f"lesion CAM: {class_names[result.top]}"))
    text = np.full((_TILE + _BAR, _TILE, 3), 255, np.uint8)
    cv2.putText(text, "top-3 classes", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    for rank, c in enumerate(np.argsort(-probs, kind="stable")[:3]):
        y = _BAR + 30 + 52 * rank
        cv2.putText(text, f"{class_names[c]}  {probs[c]:.3f}", (8, y), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55, (0, 0, 0), 1, cv2.LINE_AA)
        width = int(round((_TILE - 16) * float(probs[c])))
        cv2.rectangle(text, (8, y + 8), (8 + max(width, 1), y + 22),
                      (200, 60, 60) if rank == 0 else (120, 120, 200), -1)
    cv2.putText(text, f"fold std {result.disagreement:.3f}", (8, _TILE + _BAR - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    tiles.append(text)
    gap = np.full((_TILE + _BAR, 6, 3), 255, np.uint8)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    header = np.full((26, row.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title[:110], (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    parts = [header, row]
    if settings.warning:
        band = np.empty((_WARN_BAR, row.shape[1], 3), np.uint8)
        band[:] = (200, 0, 0)
        # Hershey fonts are ASCII: the dash becomes " - "
        text = settings.warning.replace("\u2014", "-").encode("ascii", "replace").decode()
        cv2.putText(band, f"WARNING: {text}"[:110], (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
        parts.insert(0, band)
    return np.concatenate(parts, axis=0)


def thumbnail_of(panel: str | Path) -> Path:
    """The thumbnail of the panel ``<dir>/<name>.png``: ``<dir>/thumbs/<name>.jpg``."""
    panel = Path(panel)
    return panel.parent / "thumbs" / f"{panel.stem}.jpg"


def _write_encoded(path: Path, suffix: str, bgr: np.ndarray, params: Sequence[int]) -> None:
    ok, data = cv2.imencode(suffix, bgr, list(params))
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    # a unique temporary name: two runs into one folder never write the same temporary file
    with atomic_path(path, unique=True) as tmp:
        tmp.write_bytes(data.tobytes())


def write_panel(path: Path, result: ImageResult, settings: PanelSettings, title: str) -> None:
    """:func:`draw_panel` written as a PNG at ``path``, and its :data:`THUMB_WIDTH` px JPEG
    thumbnail at :func:`thumbnail_of` ``(path)`` (each atomically, the thumbnail first)."""
    bgr = np.ascontiguousarray(draw_panel(result, settings, title)[..., ::-1])
    height = max(1, round(bgr.shape[0] * THUMB_WIDTH / bgr.shape[1]))
    thumb = cv2.resize(bgr, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    _write_encoded(thumbnail_of(path), ".jpg", thumb, (cv2.IMWRITE_JPEG_QUALITY, 85))
    _write_encoded(Path(path), ".png", bgr, ())


# ---- gallery --------------------------------------------------------------------------------
_GALLERY_JS = """
function sortBy(col, numeric) {
  const body = document.querySelector('#results tbody');
  const rows = Array.from(body.rows);
  const head = document.querySelectorAll('#results th')[col];
  const dir = head.dataset.dir === 'asc' ? -1 : 1;
  document.querySelectorAll('#results th').forEach(h => delete h.dataset.dir);
  head.dataset.dir = dir === 1 ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    if (numeric) return dir * ((parseFloat(x) || -1) - (parseFloat(y) || -1));
    return dir * x.localeCompare(y);
  });
  rows.forEach(r => body.appendChild(r));
}
function filterClass(value) {
  document.querySelectorAll('#results tbody tr').forEach(r => {
    r.style.display = (value === '' || r.dataset.cls === value) ? '' : 'none';
  });
}
"""

_GALLERY_CSS = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-dir=asc]::after { content: ' \\25B2'; } th[data-dir=desc]::after { content: ' \\25BC'; }
td.err { color: #b00; } img { max-width: 940px; }
p.warn { background: #c80000; color: #fff; font-weight: bold; padding: 6px 10px; }
"""


def write_gallery(table: pd.DataFrame, out_dir: str | Path, class_names: Sequence[str], *,
                  title: str, embed: bool = False, warning: str | None = None) -> Path:
    """Write ``out_dir/index.html``: one row per image (panel, file, class, probability of the
    class, fold disagreement, symmetry, lesion area, error), sortable by clicking a column
    header, filterable by class, under ``warning`` (a red line; None = none). No external
    resource: each row shows the panel's thumbnail (:func:`thumbnail_of`, relative to
    ``out_dir``) linked to the panel; ``embed`` inlines the panels as base64 PNG instead."""
    out_dir = Path(out_dir)
    cols = [("panel", False), ("file", False), ("class", False), ("probability", True),
            ("fold std", True), ("symmetry", False), ("lesion area", True), ("error", False)]
    head = "".join(f'<th onclick="sortBy({i}, {str(num).lower()})">{name}</th>'
                   for i, (name, num) in enumerate(cols))
    rows = []
    for _, r in table.iterrows():
        cls = "" if pd.isna(r["pred"]) else str(r["pred"])
        prob = r.get(f"prob_{cls}", float("nan")) if cls else float("nan")
        img = ""
        if isinstance(r["panel"], str) and r["panel"]:
            alt = html.escape(str(r["file"]))
            if embed:
                src = "data:image/png;base64," + base64.b64encode(
                    (out_dir / r["panel"]).read_bytes()).decode()
                img = f'<img loading="lazy" src="{src}" alt="{alt}">'
            else:
                thumb = thumbnail_of(r["panel"]).as_posix()
                img = (f'<a href="{html.escape(r["panel"])}"><img loading="lazy" '
                       f'src="{html.escape(thumb)}" alt="{alt}"></a>')

        def cell(value, shown=None, extra=""):
            v = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
            text = html.escape(str(v if shown is None else shown))
            return f'<td data-v="{html.escape(str(v))}"{extra}>{text}</td>'

        sym = "" if pd.isna(r["symmetry"]) else f'{r["symmetry"]} ({r["symmetry_prob"]:.2f})'
        area = r["lesion_area"]
        err = "" if pd.isna(r["error"]) else str(r["error"])
        rows.append(
            f'<tr data-cls="{html.escape(cls)}"><td data-v="">{img}</td>'
            + cell(str(r["file"])) + cell(cls)
            + cell(prob, "" if pd.isna(prob) else f"{prob:.3f}")
            + cell(r["disagreement"], "" if pd.isna(r["disagreement"])
                   else f'{r["disagreement"]:.3f}')
            + cell(sym) + cell(area, "" if pd.isna(area) else f"{100 * area:.1f}%")
            + cell(err, extra=' class="err"' if err else "") + "</tr>")
    options = "".join(f'<option value="{html.escape(c)}">{html.escape(c)}</option>'
                      for c in class_names)
    n_bad = int(table["error"].notna().sum())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_GALLERY_CSS}</style><script>{_GALLERY_JS}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            + (f"<p class='warn'>WARNING: {html.escape(warning)}</p>" if warning else "")
            + f"<p>{len(table)} files, {n_bad} failed. Click a column "
            "header to sort. Class: <select onchange='filterClass(this.value)'>"
            f"<option value=''>all</option>{options}</select></p>"
            f"<table id='results'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></body></html>\n")
    path = out_dir / "index.html"
    with atomic_path(path, unique=True) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
