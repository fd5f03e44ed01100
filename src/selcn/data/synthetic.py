"""Embedded synthetic dermoscopy set, written in the four datasets' published formats.

A stand-in for real data that a small network can learn from, not noise:

- skin-toned background with uneven illumination, fine skin texture and a dark vignette
  corner (dermatoscope), optionally a black circular frame (ISIC 2019 colour shift);
- lesions whose colour, texture (pigment network, dots / globules, streaks, vessels, scale,
  milia, white scar), border irregularity and size depend on the HAM10000 class, with
  overlapping parameter ranges;
- outlines drawn in polar form ``R(theta) = R0 (1 + sum_k c_k cos k theta + s_k sin k theta)``
  (then stretched along the lesion's own axes and rotated): only even cosine terms give two
  mirror axes, cosine terms give one, random phases give none (rejection-sampled until the
  outline matches no mirror image) -> SymDerm labels 2 / 1 / 0;
- hair strands on about a third of the images, a ground-truth mask for every lesion;
- 1-3 images per ``lesion_id`` (re-imaged with a small shift, rotation, scale, colour change).

:func:`generate_all` writes, under ``out_dir``, the layout of :func:`dataset_paths` (the
schema's ``data.<dataset>`` keys with ``resources/data`` replaced by ``out_dir``). It is
deterministic for a seed: every image draws from its own ``numpy`` generator seeded by
``(seed, dataset, number)``.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from selcn.data.labels import HAM_CLASSES, ISIC2019_COLUMNS

__all__ = ["dataset_paths", "generate_all", "Lesion", "sample_lesion", "render",
           "mirror_score", "HAM_FRACTIONS", "ISIC2019_FRACTIONS"]

#: image fractions of the HAM10000 classes (6705/1113/1099/514/327/142/115 of 10,015)
HAM_FRACTIONS: Mapping[str, float] = {"akiec": 327 / 10015, "bcc": 514 / 10015,
                                      "bkl": 1099 / 10015, "df": 115 / 10015,
                                      "mel": 1113 / 10015, "nv": 6705 / 10015,
                                      "vasc": 142 / 10015}
#: ISIC 2019 training classes (25,331 images, UNK empty in the published table)
ISIC2019_FRACTIONS: Mapping[str, float] = {"MEL": 4522, "NV": 12875, "BCC": 3323, "AK": 867,
                                           "BKL": 2624, "DF": 239, "VASC": 253, "SCC": 628}
_ISIC2019_FROM_HAM = {"AK": "akiec", "BCC": "bcc", "BKL": "bkl", "DF": "df", "MEL": "mel",
                      "NV": "nv", "VASC": "vasc", "SCC": "akiec"}
#: SymDerm v2.0 label frequencies (1,228 / 633 / 794)
SYMDERM_FRACTIONS = (1228 / 2655, 633 / 2655, 794 / 2655)
_DATASET_CODE = {"ham10000": 1, "symderm": 2, "isic2019": 3, "isic2016": 4}

# Per-class appearance: RGB colours, probability of asymmetry, radius (fraction of the
# shorter image side), border irregularity (jitter amplitude), soft edge width (fraction
# of R0) and the textures that may appear (with their probabilities).
_CLASS_STYLE: dict[str, dict[str, Any]] = {
    "nv": dict(colour=(140, 90, 58), colour2=(95, 60, 40), p_asym=0.25, radius=(0.15, 0.27),
               jitter=(0.0, 0.02), edge=(0.04, 0.12),
               textures={"network": 0.7, "dots": 0.4, "globules": 0.3}),
    "mel": dict(colour=(95, 58, 42), colour2=(45, 32, 35), p_asym=0.75, radius=(0.2, 0.33),
                jitter=(0.02, 0.07), edge=(0.03, 0.1),
                textures={"network": 0.5, "dots": 0.6, "streaks": 0.55, "bluewhite": 0.5,
                          "globules": 0.3}),
    "bkl": dict(colour=(170, 128, 92), colour2=(130, 95, 70), p_asym=0.45, radius=(0.15, 0.3),
                jitter=(0.01, 0.04), edge=(0.06, 0.2),
                textures={"milia": 0.6, "dots": 0.35, "network": 0.2}),
    "bcc": dict(colour=(200, 140, 138), colour2=(110, 115, 135), p_asym=0.55,
                radius=(0.12, 0.26), jitter=(0.02, 0.05), edge=(0.08, 0.2),
                textures={"vessels": 0.75, "globules": 0.6, "bluewhite": 0.2}),
    "akiec": dict(colour=(196, 112, 100), colour2=(160, 80, 75), p_asym=0.55,
                  radius=(0.12, 0.26), jitter=(0.02, 0.05), edge=(0.15, 0.3),
                  textures={"scale": 0.75, "vessels": 0.3, "dots": 0.2}),
    "df": dict(colour=(160, 112, 84), colour2=(120, 82, 62), p_asym=0.25, radius=(0.09, 0.18),
               jitter=(0.0, 0.02), edge=(0.08, 0.2),
               textures={"scar": 0.8, "network": 0.4}),
    "vasc": dict(colour=(165, 45, 62), colour2=(110, 30, 70), p_asym=0.3, radius=(0.09, 0.2),
                 jitter=(0.0, 0.025), edge=(0.02, 0.06),
                 textures={"lacunae": 0.85, "dots": 0.1}),
}
_SKIN = np.array([(232, 190, 168), (214, 168, 140), (190, 140, 110), (168, 118, 88)],
                 np.float32)


# ---------------------------------------------------------------------------- layout
def dataset_paths(root: str | Path) -> dict[str, dict[str, Any]]:
    """The published layout under ``root`` (``resources/data`` in the schema's defaults),
    keyed like the config's ``data.<dataset>`` blocks."""
    r = str(root).rstrip("/")
    ham, sym, i19, i16 = f"{r}/HAM10000", f"{r}/SymDerm", f"{r}/ISIC2019", f"{r}/ISIC2016"
    return {
        "ham10000": {"metadata": f"{ham}/HAM10000_metadata.csv",
                     "image_dirs": [f"{ham}/HAM10000_images_part1", f"{ham}/HAM10000_images_part2"],
                     "mask_dir": f"{ham}/HAM10000_segmentations_lesion_tschandl"},
        "symderm": {"csv": f"{sym}/SymDerm_v2.0.csv", "image_dir": f"{sym}/images",
                    "mask_dir": f"{sym}/masks"},
        "isic2019": {"ground_truth": f"{i19}/ISIC_2019_Training_GroundTruth.csv",
                     "metadata": f"{i19}/ISIC_2019_Training_Metadata.csv",
                     "image_dir": f"{i19}/ISIC_2019_Training_Input"},
        "isic2016": {"train_ground_truth": f"{i16}/ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
                     "test_ground_truth": f"{i16}/ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
                     "train_image_dir": f"{i16}/ISBI2016_ISIC_Part3_Training_Data",
                     "test_image_dir": f"{i16}/ISBI2016_ISIC_Part3_Test_Data"},
    }


# ---------------------------------------------------------------------------- lesions
@dataclass
class Lesion:
    """Parameters of one lesion, shared by all its images.

    ``cos``/``sin`` hold the outline's harmonic amplitudes (index = harmonic order k),
    ``axes`` the number of mirror axes (0, 1, 2), ``radius`` R0 as a fraction of the
    shorter image side, ``aspect`` the stretch along the lesion's first axis."""

    cls: str
    axes: int
    radius: float
    aspect: float
    cos: np.ndarray
    sin: np.ndarray
    edge: float
    colour: np.ndarray
    colour2: np.ndarray
    textures: tuple[str, ...]
    blotch: tuple[float, float, float]            # eccentric dark blotch (asymmetric only)
    texture_seed: int
    angle: float = 0.0

    @property
    def symderm_label(self) -> int:
        """SymDerm v2.0 label: 0 asymmetric, 1 one axis, 2 two axes."""
        return int(self.axes)


def _outline(cos: np.ndarray, sin: np.ndarray, theta: np.ndarray) -> np.ndarray:
    k = np.arange(len(cos), dtype=np.float32)
    t = theta[..., None] * k
    return 1.0 + (np.cos(t) * cos).sum(-1) + (np.sin(t) * sin).sum(-1)


def _outline_lookup(lesion: Lesion, theta: np.ndarray, n: int = 2048) -> np.ndarray:
    """:func:`_outline` of ``lesion`` at ``theta`` (radians, any shape), from a table of
    ``n`` angles (the full-image evaluation would cost 17 cos + sin per pixel)."""
    table = _outline(lesion.cos, lesion.sin,
                     np.linspace(-np.pi, np.pi, n + 1, dtype=np.float32))
    idx = np.rint((theta + np.pi) * (n / (2 * np.pi))).astype(np.int32)
    return table[np.clip(idx, 0, n)]


def _outline_mask(lesion: Lesion, size: int = 64) -> np.ndarray:
    """The lesion's outline (unrotated frame) rasterised into a ``size`` square, bool."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    x, y = (x - c) / (0.45 * size), (y - c) / (0.45 * size)
    scale = 1.0 / _max_extent(lesion)
    xs, ys = x / (lesion.aspect * scale), y / scale
    return np.hypot(xs, ys) <= _outline_lookup(lesion, np.arctan2(ys, xs))


def _max_extent(lesion: Lesion) -> float:
    theta = np.linspace(0, 2 * np.pi, 256, dtype=np.float32)
    return float(_outline(lesion.cos, lesion.sin, theta).max() * max(1.0, lesion.aspect))


def mirror_score(mask: np.ndarray, n_angles: int = 90) -> tuple[float, float, float]:
    """Mirror symmetry of a binary mask: ``(best IoU, IoU across the perpendicular of the
    best axis, best axis angle in degrees)``; axes through the centroid, every
    ``180 / n_angles`` degrees. IoU 1 = perfect mirror image."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return 0.0, 0.0, 0.0
    cy, cx = ys.mean(), xs.mean()
    h, w = m.shape
    # crop + pad so that reflections stay inside
    r = int(np.ceil(np.hypot(xs - cx, ys - cy).max())) + 2
    canvas = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
    y0, x0 = int(round(cy)) - r, int(round(cx)) - r
    sy, sx = slice(max(y0, 0), min(y0 + 2 * r + 1, h)), slice(max(x0, 0), min(x0 + 2 * r + 1, w))
    canvas[sy.start - y0:sy.stop - y0, sx.start - x0:sx.stop - x0] = m[sy, sx]
    ccx, ccy = cx - x0, cy - y0

    def iou(deg: float) -> float:
        a = np.deg2rad(deg)
        d = np.array([np.cos(a), np.sin(a)])
        ref = np.eye(2) - 2 * np.outer([-d[1], d[0]], [-d[1], d[0]])   # reflect across d
        c = np.array([ccx, ccy])
        mat = np.hstack([ref, (c - ref @ c)[:, None]]).astype(np.float32)
        out = cv2.warpAffine(canvas, mat, canvas.shape[::-1], flags=cv2.INTER_NEAREST)
        inter = np.logical_and(out, canvas).sum()
        union = np.logical_or(out, canvas).sum()
        return float(inter / union) if union else 0.0

    angles = np.arange(n_angles) * 180.0 / n_angles
    scores = np.array([iou(a) for a in angles])
    # refine around the best coarse angle
    best = float(angles[scores.argmax()])
    fine = np.linspace(best - 90 / n_angles, best + 90 / n_angles, 5)
    fscores = [iou(a) for a in fine]
    best = float(fine[int(np.argmax(fscores))])
    return float(max(fscores)), iou(best + 90.0), best


def sample_lesion(cls: str, rng: np.random.Generator, axes: int | None = None) -> Lesion:
    """Draw the parameters of a lesion of class ``cls``; ``axes`` forces the symmetry."""
    st = _CLASS_STYLE[cls]
    if axes is None:
        if rng.random() < st["p_asym"]:
            axes = 0
        else:
            axes = 1 if rng.random() < 0.45 else 2
    n = 17
    for _ in range(50):
        cos, sin = np.zeros(n, np.float32), np.zeros(n, np.float32)
        jit = rng.uniform(*st["jitter"])
        hf = np.arange(6, n)
        if axes == 2:
            cos[4] = rng.uniform(-0.05, 0.05)
            even = hf[hf % 2 == 0]
            cos[even] = rng.normal(0, jit, len(even)) / np.sqrt(len(even) / 3)
            aspect = rng.uniform(1.0, 1.6)
        elif axes == 1:
            cos[1] = rng.choice([-1, 1]) * rng.uniform(0.2, 0.3)       # egg / pear
            cos[2] = rng.uniform(-0.06, 0.06)
            cos[3] = rng.uniform(-0.06, 0.06)
            cos[hf] = rng.normal(0, jit, len(hf)) / np.sqrt(len(hf) / 3)
            aspect = rng.uniform(1.0, 1.4)
        else:
            amp = rng.uniform([0.16, 0.16, 0.14, 0.08, 0.04], [0.28, 0.28, 0.24, 0.16, 0.1])
            phase = rng.uniform(0, 2 * np.pi, 5)                      # lobed, irregular
            cos[1:6], sin[1:6] = amp * np.cos(phase), amp * np.sin(phase)
            cos[hf] = rng.normal(0, jit, len(hf)) / np.sqrt(len(hf) / 3)
            sin[hf] = rng.normal(0, jit, len(hf)) / np.sqrt(len(hf) / 3)
            aspect = rng.uniform(1.0, 1.5)
        theta = np.linspace(0, 2 * np.pi, 256, dtype=np.float32)
        if _outline(cos, sin, theta).min() < 0.45:       # no pinched / self-crossing outlines
            continue
        lesion = Lesion(cls=cls, axes=axes, radius=0.0, aspect=aspect, cos=cos, sin=sin,
                        edge=0.0, colour=np.zeros(3), colour2=np.zeros(3), textures=(),
                        blotch=(0, 0, 0), texture_seed=0)
        if axes == 0 and mirror_score(_outline_mask(lesion), 36)[0] > 0.82:
            continue                                     # accidentally near-symmetric
        if axes == 1 and mirror_score(_outline_mask(lesion), 36)[1] > 0.9:
            continue                                     # looks like two axes
        break
    radius = rng.uniform(*st["radius"])
    # brightness varies more than hue (a per-channel jitter would turn brown into olive)
    colour = np.array(st["colour"]) * rng.uniform(0.82, 1.15) + rng.normal(0, 6, 3)
    colour2 = np.array(st["colour2"]) * rng.uniform(0.8, 1.15) + rng.normal(0, 6, 3)
    colour = np.clip(colour, 15, 245).astype(np.float32)
    colour2 = np.clip(colour2, 10, 240).astype(np.float32)
    textures = tuple(t for t, p in st["textures"].items() if rng.random() < p)
    blotch = (rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.55)) \
        if axes == 0 else (0.0, 0.0, 0.0)
    lesion.radius, lesion.edge = radius, rng.uniform(*st["edge"])
    lesion.colour, lesion.colour2, lesion.textures, lesion.blotch = colour, colour2, textures, blotch
    lesion.texture_seed = int(rng.integers(2**31))
    lesion.angle = rng.uniform(0, 2 * np.pi)
    return lesion


# ---------------------------------------------------------------------------- rendering
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in [-1, 1] with features of about ``cell`` px."""
    small = rng.uniform(-1, 1, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, h: int, w: int, shift: bool) -> np.ndarray:
    base = (_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 8, 3)).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / w - 0.5, y / h - 0.5
    phi = rng.uniform(0, 2 * np.pi)
    illum = 1 + np.float32(rng.uniform(0.08, 0.22)) * (x * np.float32(np.cos(phi))
                                                       + y * np.float32(np.sin(phi)))
    illum += 0.06 * _smooth_noise(rng, h, w, max(8, w // 4))
    # the dark vignette corner of a dermatoscope
    cx, cy = rng.choice([-0.5, 0.5]), rng.choice([-0.5, 0.5])
    d = np.hypot((x - cx) * w, (y - cy) * h) / min(h, w)
    reach = rng.uniform(0.25, 0.5)
    illum *= 1 - np.float32(rng.uniform(0.45, 0.8)) * np.clip(1 - d / np.float32(reach), 0, 1) ** 1.5
    img = base[None, None, :] * illum[..., None]
    img += 6 * _smooth_noise(rng, h, w, 3)[..., None]                 # skin texture
    if shift:                                                        # ISIC 2019 device look
        img = img * rng.uniform([0.9, 0.95, 1.0], [1.0, 1.05, 1.15]).astype(np.float32)
    return img.astype(np.float32, copy=False)


def _texture_layer(lesion: Lesion, rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray,
                   inside: np.ndarray, r0: float, img: np.ndarray, cx: float, cy: float,
                   ang: float) -> None:
    """Draw the lesion's textures into ``img`` (float RGB, in place) where ``inside``."""
    h, w = inside.shape
    tex = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    dark = lesion.colour2

    def pts_inside(n: int, frac: float = 0.85) -> np.ndarray:
        rad = r0 * frac * np.sqrt(rng.uniform(0, 1, n))
        th = rng.uniform(0, 2 * np.pi, n)
        p = np.stack([cx + rad * np.cos(th), cy + rad * np.sin(th)], 1)
        p = np.clip(p, 0, [w - 1, h - 1]).astype(int)
        return p[inside[p[:, 1], p[:, 0]]]

    s = max(1.0, r0 / 30.0)                                         # stroke scale
    for t in lesion.textures:
        if t == "network":
            f = rng.uniform(0.25, 0.4) / s
            u = xs * np.cos(ang) + ys * np.sin(ang)
            v = -xs * np.sin(ang) + ys * np.cos(ang)
            warp = 2.0 * _smooth_noise(rng, h, w, max(6, int(r0 / 3)))
            net = np.abs(np.sin(f * u + warp)) * np.abs(np.sin(f * v - warp))
            a = np.clip((0.35 - net) / 0.35, 0, 1) * 0.55
            tex += dark * a[..., None]
            alpha += a
        elif t in ("dots", "globules", "lacunae", "milia"):
            n, rad, col = {"dots": (int(rng.integers(8, 30)), (0.7, 1.5), (40, 30, 30)),
                           "globules": (int(rng.integers(5, 15)), (1.5, 3.0), tuple(dark)),
                           "lacunae": (int(rng.integers(6, 18)), (2.0, 4.5), (150, 20, 50)),
                           "milia": (int(rng.integers(4, 14)), (0.8, 1.8), (235, 225, 200))}[t]
            layer = np.zeros((h, w), np.uint8)
            colour = np.array(col, np.float32)
            for px, py in pts_inside(n):
                cv2.circle(layer, (int(px), int(py)), max(1, int(round(rng.uniform(*rad) * s))),
                           255, -1, cv2.LINE_AA)
            a = layer.astype(np.float32) / 255 * 0.85
            tex += colour * a[..., None]
            alpha += a
        elif t == "streaks":
            layer = np.zeros((h, w), np.uint8)
            for th in rng.uniform(0, 2 * np.pi, int(rng.integers(6, 16))):
                r1, r2 = r0 * rng.uniform(0.6, 0.8), r0 * rng.uniform(0.95, 1.2)
                p1 = (int(cx + r1 * np.cos(th)), int(cy + r1 * np.sin(th)))
                p2 = (int(cx + r2 * np.cos(th)), int(cy + r2 * np.sin(th)))
                cv2.line(layer, p1, p2, 255, max(1, int(s)), cv2.LINE_AA)
            a = layer.astype(np.float32) / 255 * 0.8
            tex += np.array([50, 35, 35], np.float32) * a[..., None]
            alpha += a
        elif t == "vessels":
            layer = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(2, 6))):
                p = pts_inside(1)
                if not len(p):
                    continue
                pts = [p[0].astype(np.float32)]
                heading = rng.uniform(0, 2 * np.pi)
                for _ in range(int(rng.integers(4, 9))):
                    heading += rng.normal(0, 0.6)
                    pts.append(pts[-1] + r0 * 0.12 * np.array([np.cos(heading), np.sin(heading)]))
                cv2.polylines(layer, [np.array(pts, np.int32)], False, 255, max(1, int(s)),
                              cv2.LINE_AA)
            a = layer.astype(np.float32) / 255 * 0.8
            tex += np.array([185, 35, 45], np.float32) * a[..., None]
            alpha += a
        elif t == "scale":
            a = np.clip(_smooth_noise(rng, h, w, max(2, int(r0 / 8))), 0, 1) ** 2 * 0.7
            tex += np.array([235, 225, 215], np.float32) * a[..., None]
            alpha += a
        elif t in ("scar", "bluewhite"):
            layer = np.zeros((h, w), np.uint8)
            off = r0 * (0.0 if t == "scar" else rng.uniform(0.1, 0.4))
            th = rng.uniform(0, 2 * np.pi)
            centre = (int(cx + off * np.cos(th)), int(cy + off * np.sin(th)))
            axes_ = (max(1, int(r0 * rng.uniform(0.25, 0.45))), max(1, int(r0 * rng.uniform(0.2, 0.4))))
            cv2.ellipse(layer, centre, axes_, float(np.rad2deg(th)), 0, 360, 255, -1, cv2.LINE_AA)
            layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, r0 / 10))
            col = (236, 222, 212) if t == "scar" else (120, 135, 165)
            a = layer.astype(np.float32) / 255 * 0.75
            tex += np.array(col, np.float32) * a[..., None]
            alpha += a
    colour = tex / np.maximum(alpha, 1e-6)[..., None]              # alpha-weighted colour
    alpha = (np.clip(alpha, 0, 1) * inside)[..., None]
    img[:] = img * (1 - alpha) + colour * alpha


def _hair(rng: np.random.Generator, img: np.ndarray) -> None:
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.uint8)
    thick = max(1, round(w / 300))
    for _ in range(int(rng.integers(4, 18))):
        p0 = rng.uniform([0, 0], [w, h])
        p2 = p0 + rng.normal(0, 0.4, 2) * [w, h]
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.1, 2) * [w, h]
        t = np.linspace(0, 1, 24)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
        cv2.polylines(layer, [curve.astype(np.int32)], False, 255,
                      int(thick * rng.choice([1, 1, 2])), cv2.LINE_AA)
    a = layer.astype(np.float32)[..., None] / 255 * 0.9
    img[:] = img * (1 - a) + np.array([35, 28, 25], np.float32) * a


def render(lesion: Lesion, rng: np.random.Generator, width: int, height: int, *,
           hair: bool, shift: bool = False, frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One image of ``lesion``: ``(image, mask)`` — uint8 ``(H, W, 3)`` **BGR** (for
    ``cv2.imwrite``) and uint8 ``(H, W)`` in {0, 255}. ``rng`` draws the view (shift,
    rotation, scale, colour), the background and the hair."""
    h, w = height, width
    img = _background(rng, h, w, shift)
    side = min(h, w)
    scale = 0.42 * side / (lesion.radius * side * _max_extent(lesion))
    r0 = float(lesion.radius * side * min(1.0, scale) * rng.uniform(0.93, 1.07))
    cx = float(w / 2 + rng.normal(0, 0.04) * w)
    cy = float(h / 2 + rng.normal(0, 0.04) * h)
    ang = float(lesion.angle + rng.normal(0, 0.2))
    ca, sa = np.float32(np.cos(ang)), np.float32(np.sin(ang))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    xs, ys = x - np.float32(cx), y - np.float32(cy)
    u = (xs * ca + ys * sa) / np.float32(lesion.aspect)
    v = ys * ca - xs * sa
    rr, theta = np.hypot(u, v) / np.float32(r0), np.arctan2(v, u)
    boundary = _outline_lookup(lesion, theta)
    dist = boundary - rr                                              # > 0 inside
    mask = dist > 0
    # everything below happens in the lesion's bounding box
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    oy, ox = rows[0], cols[0]
    bm, bd, brr, bb = mask[box], dist[box], rr[box], boundary[box]
    bimg = img[box]
    bh, bw = bm.shape
    soft = np.clip(bd / np.float32(max(lesion.edge, 1e-3)) + 0.5, 0, 1) * bm
    # colour: concentric profile, darker centre; an eccentric blotch when asymmetric
    prof = np.clip(brr / np.maximum(bb, 1e-3), 0, 1)
    colour = (lesion.colour * (1 + rng.normal(0, 0.04, 3))).astype(np.float32)
    colour2 = lesion.colour2.astype(np.float32)
    mix = (0.55 * (1 - prof) ** 1.5)[..., None]
    les = colour * (1 - mix) + colour2 * mix
    if lesion.blotch[1] > 0:
        bth, boff, brad = lesion.blotch
        bx = cx + r0 * boff * np.cos(bth + ang) * lesion.aspect - ox
        by = cy + r0 * boff * np.sin(bth + ang) - oy
        b = np.clip(1 - np.hypot(x[box] - ox - np.float32(bx), y[box] - oy - np.float32(by))
                    / np.float32(brad * r0 * 1.3), 0, 1)[..., None] ** 0.8
        les = les * (1 - 0.8 * b) + (0.5 * colour2) * 0.8 * b
    les *= (1 + 0.06 * _smooth_noise(rng, bh, bw, max(3, int(r0 / 4))))[..., None]
    bimg[:] = bimg * (1 - soft[..., None]) + les * soft[..., None]
    trng = np.random.default_rng(lesion.texture_seed + int(rng.integers(3)))
    _texture_layer(lesion, trng, xs[box], ys[box], bm, r0, bimg, cx - ox, cy - oy, ang)
    if hair:
        _hair(rng, img)
    if frame:                                                         # circular dermatoscope
        d = np.hypot((x - w / 2) / (w / 2), (y - h / 2) / (h / 2))
        img *= np.clip((1.08 - d) / 0.06, 0, 1)[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * 2.0
    np.clip(img, 0, 255, out=img)
    return img[..., ::-1].astype(np.uint8), mask.astype(np.uint8) * 255


# ---------------------------------------------------------------------------- writing
def _write_image(path: Path, img_bgr: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), img_bgr, params):
        raise OSError(f"could not write {path}")


def _write_csv(path: Path, header: list[str] | None, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        wr = csv.writer(fh)
        if header:
            wr.writerow(header)
        wr.writerows(rows)
    os.replace(tmp, path)


def _allocate(n: int, fractions: Mapping[str, float], floor: int, big: str) -> dict[str, int]:
    """Split ``n`` items over classes by ``fractions`` with at least ``floor`` each; the
    ``big`` class gives up what the floors take."""
    total = sum(fractions.values())
    out = {c: max(floor, int(round(n * f / total))) for c, f in fractions.items()}
    out[big] += n - sum(out.values())
    if out[big] < floor:
        raise ValueError(f"{n} items cannot give every one of {len(out)} classes {floor} "
                         f"(raise n or lower the floor)")
    return out


def _rng(seed: int, dataset: str, number: int) -> np.random.Generator:
    return np.random.default_rng([seed, _DATASET_CODE[dataset], number])


def generate_all(out_dir: str | Path, *, seed: int = 42, n_lesions: int = 300,
                 min_lesions_per_class: int = 12, n_symderm_own: int = 60,
                 n_symderm_from_ham: int = 120, n_isic2019_new: int = 120,
                 n_isic2019_from_ham: int = 60, n_isic2016_train: int = 120,
                 n_isic2016_test: int = 60, width: int = 600, height: int = 450,
                 log=print) -> dict[str, Any]:
    """Write the four synthetic datasets under ``out_dir`` in the layout of
    :func:`dataset_paths`; return a summary (image counts per dataset and class, seconds).

    HAM10000: ``n_lesions`` lesions, 1-3 images each, classes shaped like HAM10000 with at
    least ``min_lesions_per_class`` lesions per class. SymDerm: ``n_symderm_from_ham`` HAM
    images (same ids, labels from their drawn outline) + ``n_symderm_own`` of its own (about
    half PH2-style ``IMD###.bmp``). ISIC 2019: ``n_isic2019_from_ham`` HAM images (same ids)
    + ``n_isic2019_new`` colour-shifted ones, some SCC and UNK rows. ISIC 2016:
    benign / malignant (about 1 in 5) train and test sets. Images are ``width x height``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    paths = dataset_paths(out)
    for ds in paths.values():
        for key, p in ds.items():
            for d in (p if isinstance(p, list) else [p]):
                d = Path(d)
                if key.endswith("dir") or key.endswith("dirs"):
                    if d.exists():
                        shutil.rmtree(d)
                    d.mkdir(parents=True)
    W, H = width, height
    summary: dict[str, Any] = {}

    # ---- HAM10000
    per_class = _allocate(n_lesions, HAM_FRACTIONS, min_lesions_per_class, "nv")
    lesion_rng = _rng(seed, "ham10000", 0)
    order = [c for c in HAM_CLASSES for _ in range(per_class[c])]
    lesion_rng.shuffle(order)
    # 1-3 images per lesion; classes at the floor are topped up to 1.5 images per floor lesion
    # so that the test split and every fold see each class
    n_images = lesion_rng.choice([1, 2, 3], size=len(order), p=[0.5, 0.32, 0.18])
    cls_of = np.array(order)
    for c in HAM_CLASSES:
        need = int(np.ceil(1.5 * min_lesions_per_class)) - int(n_images[cls_of == c].sum())
        for li in lesion_rng.permutation(np.nonzero(cls_of == c)[0]):
            if need <= 0:
                break
            add = min(need, 3 - int(n_images[li]))
            n_images[li] += add
            need -= add
    ham_rows, ham_images = [], []          # (image_id, lesion, path)
    pd_dirs = [Path(p) for p in paths["ham10000"]["image_dirs"]]
    mask_dir = Path(paths["ham10000"]["mask_dir"])
    n_img = 0
    sites = ["back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest",
             "foot", "scalp", "neck", "hand", "unknown"]
    dx_types = {"mel": "histo", "bcc": "histo", "akiec": "histo", "df": "consensus",
                "vasc": "consensus", "bkl": "histo", "nv": "follow_up"}
    for li, cls in enumerate(order):
        r = _rng(seed, "ham10000", 1 + li)
        lesion = sample_lesion(cls, r)
        lesion_id = f"HAM_{li:07d}"
        k = int(n_images[li])
        age = float(5 * r.integers(2, 18)) if r.random() > 0.01 else ""
        sex = r.choice(["male", "female", "unknown"], p=[0.54, 0.45, 0.01])
        site = r.choice(sites)
        dx_type = dx_types[cls] if r.random() < 0.8 else "histo"
        for _ in range(k):
            image_id = f"ISIC_{24306 + n_img:07d}"
            img, mask = render(lesion, r, W, H, hair=r.random() < 1 / 3)
            part = pd_dirs[0] if n_img % 2 == 0 else pd_dirs[1]
            _write_image(part / f"{image_id}.jpg", img)
            _write_image(mask_dir / f"{image_id}_segmentation.png", mask)
            ham_rows.append([lesion_id, image_id, cls, dx_type, age, sex, site])
            ham_images.append((image_id, lesion, part / f"{image_id}.jpg", mask))
            n_img += 1
    _write_csv(Path(paths["ham10000"]["metadata"]),
               ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"], ham_rows)
    summary["ham10000"] = {"lesions": len(order), "images": len(ham_rows),
                           "classes": {c: sum(1 for r_ in ham_rows if r_[2] == c)
                                       for c in HAM_CLASSES}}

    # ---- SymDerm v2.0
    sym = paths["symderm"]
    sym_rows = []
    pick = _rng(seed, "symderm", 0).permutation(len(ham_images))[:n_symderm_from_ham]
    for i in sorted(pick):
        image_id, lesion, path, mask = ham_images[i]
        shutil.copyfile(path, Path(sym["image_dir"]) / f"{image_id}.jpg")
        _write_image(Path(sym["mask_dir"]) / f"{image_id}.png", mask)
        sym_rows.append([f"{image_id}.jpg", f"{image_id}.png", "HAM10000", lesion.symderm_label])
    for j in range(n_symderm_own):
        r = _rng(seed, "symderm", 1 + j)
        label = int(r.choice(3, p=SYMDERM_FRACTIONS))
        cls = str(r.choice(["nv", "mel", "bkl", "nv", "mel"]))
        lesion = sample_lesion(cls, r, axes=label)
        if j % 2 == 0:
            name, source, ext = f"IMD{j // 2 + 1:03d}", "PH2", ".bmp"
        else:
            name, source, ext = f"ISIC_{10000 + j:07d}", "ISIC2017", ".jpg"
        img, mask = render(lesion, r, W, H, hair=r.random() < 1 / 3)
        _write_image(Path(sym["image_dir"]) / f"{name}{ext}", img)
        _write_image(Path(sym["mask_dir"]) / f"{name}.png", mask)
        sym_rows.append([f"{name}{ext}", f"{name}.png", source, label])
    _write_csv(Path(sym["csv"]), ["File", "Mask", "Dataset", "labels_symmetry"], sym_rows)
    summary["symderm"] = {"images": len(sym_rows),
                          "labels": {k: sum(1 for r_ in sym_rows if r_[3] == k) for k in (0, 1, 2)}}

    # ---- ISIC 2019
    i19 = paths["isic2019"]
    gt_rows, meta_rows = [], []
    pick = _rng(seed, "isic2019", 0).permutation(len(ham_images))[:n_isic2019_from_ham]
    ham_by_id = {row[1]: row for row in ham_rows}
    to_col = {v: k for k, v in _ISIC2019_FROM_HAM.items() if k != "SCC"}
    for i in sorted(pick):
        image_id, lesion, path, _ = ham_images[i]
        shutil.copyfile(path, Path(i19["image_dir"]) / f"{image_id}.jpg")
        col = to_col[lesion.cls]
        gt_rows.append([image_id] + [1.0 if c == col else 0.0 for c in ISIC2019_COLUMNS])
        row = ham_by_id[image_id]
        meta_rows.append([image_id, row[4], row[6], row[0], row[5]])
    n_unk = max(1, n_isic2019_new // 60) if n_isic2019_new >= 10 else 0
    cols = _allocate(n_isic2019_new - n_unk, ISIC2019_FRACTIONS,
                     max(1, n_isic2019_new // 40) if n_isic2019_new >= 16 else 0,
                     "NV") if n_isic2019_new else {}
    order19 = [c for c in cols for _ in range(cols[c])] + ["UNK"] * n_unk
    _rng(seed, "isic2019", 0).shuffle(order19)
    for j, col in enumerate(order19):
        r = _rng(seed, "isic2019", 1 + j)
        cls = _ISIC2019_FROM_HAM.get(col, str(r.choice(HAM_CLASSES)))
        lesion = sample_lesion(cls, r)
        image_id = f"ISIC_{53000 + j:07d}"
        img, _ = render(lesion, r, W, H, hair=r.random() < 1 / 3, shift=True,
                        frame=r.random() < 0.4)
        _write_image(Path(i19["image_dir"]) / f"{image_id}.jpg", img)
        gt_rows.append([image_id] + [1.0 if c == col else 0.0 for c in ISIC2019_COLUMNS])
        lesion_id = f"BCN_{20000 + j:07d}" if r.random() < 0.8 else ""
        meta_rows.append([image_id, float(5 * r.integers(3, 17)), str(r.choice(sites)),
                          lesion_id, str(r.choice(["male", "female"]))])
    order_idx = np.argsort([row[0] for row in gt_rows])
    _write_csv(Path(i19["ground_truth"]), ["image"] + list(ISIC2019_COLUMNS),
               [gt_rows[i] for i in order_idx])
    _write_csv(Path(i19["metadata"]), ["image", "age_approx", "anatom_site_general",
                                       "lesion_id", "sex"], [meta_rows[i] for i in order_idx])
    summary["isic2019"] = {"images": len(gt_rows),
                           "from_ham10000": len(pick),
                           "classes": {c: sum(1 for r_ in gt_rows
                                              if r_[1 + ISIC2019_COLUMNS.index(c)] == 1.0)
                                       for c in ISIC2019_COLUMNS}}

    # ---- ISIC 2016 part 3
    i16 = paths["isic2016"]
    counts16 = {}
    number = 0
    for part, n, gt_key, dir_key in (("train", n_isic2016_train, "train_ground_truth",
                                      "train_image_dir"),
                                     ("test", n_isic2016_test, "test_ground_truth",
                                      "test_image_dir")):
        rows = []
        n_mal = max(2, int(round(0.2 * n)))
        labels = np.array([1] * n_mal + [0] * (n - n_mal))
        _rng(seed, "isic2016", 10_000 + len(part)).shuffle(labels)
        for j, mal in enumerate(labels):
            r = _rng(seed, "isic2016", 1 + number)
            cls = "mel" if mal else str(r.choice(["nv", "nv", "nv", "bkl", "df", "vasc"]))
            lesion = sample_lesion(cls, r)
            image_id = f"ISIC_{number * 3 + (0 if part == 'train' else 1):07d}"
            img, _ = render(lesion, r, W, H, hair=r.random() < 1 / 3)
            _write_image(Path(i16[dir_key]) / f"{image_id}.jpg", img)
            if part == "train":
                rows.append([image_id, "malignant" if mal else "benign"])
            else:
                rows.append([image_id, float(mal)])
            number += 1
        _write_csv(Path(i16[gt_key]), None, rows)
        counts16[part] = {"benign": int((labels == 0).sum()), "malignant": int(labels.sum())}
    summary["isic2016"] = counts16
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["cpu_seconds"] = round(time.process_time() - c0, 2)
    log(f"synthetic data under {out}: {summary}")
    return summary
