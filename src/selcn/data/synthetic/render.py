"""The synthetic lesion model and its renderer: one dermoscopy-like image and its mask.

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
- hair strands where asked (the writers: about a third of the images), a ground-truth mask for
  every lesion;
- the lesion's position (``placement``): ``"centre"`` (the image centre, jittered by
  ``N(0, 0.04)`` of the side: the centre pixel lies in the lesion in almost every image) or
  ``"anywhere"`` (uniform over the centres where the whole outline, border jitter included,
  stays inside the image — and inside the circular frame when there is one — with a margin of
  :data:`PLACEMENT_MARGIN` of the shorter side).

:func:`sample_lesion` draws a lesion of a class (its parameters are shared by all its images),
:func:`render` draws one view of it; the dataset writers (:mod:`selcn.data.synthetic.writers`)
decide which lesions, how many views and which random generator each image uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["Lesion", "sample_lesion", "render", "mirror_score", "outline_offsets",
           "PLACEMENTS", "PLACEMENT_MARGIN"]

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
#: where :func:`render` puts the lesion (``data.synthetic.placement``)
PLACEMENTS: tuple[str, ...] = ("centre", "anywhere")
#: ``placement: anywhere``: the lesion's outline keeps this fraction of the shorter image side
#: (at least 1 px) from the image border (and from the visible edge of the circular frame)
PLACEMENT_MARGIN = 0.02
_OUTLINE_TABLE = 2048             # angles of the outline look-up table (_outline_lookup)
_FRAME_VISIBLE = 1.02             # render()'s frame: clear within d = 1.02, black from 1.08


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


def _outline_lookup(lesion: Lesion, theta: np.ndarray, n: int = _OUTLINE_TABLE) -> np.ndarray:
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
    lesion.colour, lesion.colour2 = colour, colour2
    lesion.textures, lesion.blotch = textures, blotch
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
    depth = np.float32(rng.uniform(0.45, 0.8))
    illum *= 1 - depth * np.clip(1 - d / np.float32(reach), 0, 1) ** 1.5
    img = base[None, None, :] * illum[..., None]
    img += 6 * _smooth_noise(rng, h, w, 3)[..., None]                 # skin texture
    if shift:                                                        # ISIC 2019 device look
        img = img * rng.uniform([0.9, 0.95, 1.0], [1.0, 1.05, 1.15]).astype(np.float32)
    return img.astype(np.float32, copy=False)


@dataclass(frozen=True)
class _View:
    """Where one image draws its lesion, in the pixel frame of the array drawn into (the
    lesion's bounding box in :func:`render`).

    ``cx``, ``cy``: the lesion centre (px, column / row of that array); ``r0``: the radius R0
    as drawn (px, before the aspect stretch); ``angle``: the rotation of the lesion's first
    axis (radians)."""

    cx: float
    cy: float
    r0: float
    angle: float


def _texture_layer(lesion: Lesion, rng: np.random.Generator, view: _View, xs: np.ndarray,
                   ys: np.ndarray, inside: np.ndarray, img: np.ndarray) -> None:
    """Draw the lesion's textures into ``img`` (float RGB ``(h, w, 3)``, in place) where
    ``inside`` (bool ``(h, w)``). ``xs``, ``ys``: float ``(h, w)`` offsets (px) of every pixel
    from the lesion centre; ``view``: the centre, radius and rotation drawn (:class:`_View`)."""
    cx, cy, r0, ang = view.cx, view.cy, view.r0, view.angle
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
            axes_ = (max(1, int(r0 * rng.uniform(0.25, 0.45))),
                     max(1, int(r0 * rng.uniform(0.2, 0.4))))
            cv2.ellipse(layer, centre, axes_, float(np.rad2deg(th)), 0, 360, 255, -1, cv2.LINE_AA)
            layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, r0 / 10))
            col = (236, 222, 212) if t == "scar" else (120, 135, 165)
            a = layer.astype(np.float32) / 255 * 0.75
            tex += np.array(col, np.float32) * a[..., None]
            alpha += a
    colour = tex / np.maximum(alpha, 1e-6)[..., None]              # alpha-weighted colour
    alpha = (np.clip(alpha, 0, 1) * inside)[..., None]
    img[:] = img * (1 - alpha) + colour * alpha


def hair_strands(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """4-17 dark hair strands (quadratic curves, 1-2 x ``w / 300`` px wide, anti-aliased) drawn
    into a ``uint8 (h, w)`` coverage layer (0-255), as the demo renders hair."""
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
    return layer


def _hair(rng: np.random.Generator, img: np.ndarray) -> None:
    layer = hair_strands(rng, *img.shape[:2])
    a = layer.astype(np.float32)[..., None] / 255 * 0.9
    img[:] = img * (1 - a) + np.array([35, 28, 25], np.float32) * a


def outline_offsets(lesion: Lesion, r0: float, angle: float) -> np.ndarray:
    """The lesion's outline as drawn by :func:`render` with radius ``r0`` (px) and rotation
    ``angle`` (radians): float ``(n, 2)`` ``(dx, dy)`` offsets (px) from the lesion centre, one
    per angle of the outline look-up table — so border jitter and aspect are included and the
    mask lies within these points' extent (to well under a pixel)."""
    theta = np.linspace(-np.pi, np.pi, _OUTLINE_TABLE + 1, dtype=np.float64)
    rad = r0 * _outline(lesion.cos, lesion.sin, theta.astype(np.float32)).astype(np.float64)
    u, v = lesion.aspect * rad * np.cos(theta), rad * np.sin(theta)   # lesion axes (u stretched)
    ca, sa = np.cos(angle), np.sin(angle)
    return np.stack([u * ca - v * sa, u * sa + v * ca], 1)


def _place_anywhere(rng: np.random.Generator, offsets: np.ndarray, w: int, h: int,
                    frame: bool, tries: int = 200) -> tuple[float, float]:
    """A lesion centre ``(cx, cy)`` (px) drawn uniformly over the positions where every
    outline point ``centre + offsets`` keeps :data:`PLACEMENT_MARGIN` of the shorter side from
    the border (pixel centres 0 .. W-1, 0 .. H-1) and, with ``frame``, lies inside the frame's
    fully visible ellipse shrunk by the same margin (rejection sampling; the image centre if no
    draw fits, where the renderer's size cap keeps the lesion inside). A lesion too large for
    the margin is centred in the span it has."""
    margin = max(1.0, PLACEMENT_MARGIN * min(w, h))
    (x_min, y_min), (x_max, y_max) = offsets.min(0), offsets.max(0)
    lo = np.array([margin - x_min, margin - y_min])
    hi = np.array([w - 1 - margin - x_max, h - 1 - margin - y_max])
    hi = np.where(hi < lo, (lo + hi) / 2, hi)
    lo = np.minimum(lo, hi)
    if not frame:
        cx, cy = rng.uniform(lo, hi)
        return float(cx), float(cy)
    # the frame of render(): fully visible where hypot((x - W/2) / (W/2), (y - H/2) / (H/2))
    # <= 1.02; keep the outline inside that ellipse shrunk by the margin
    reach = _FRAME_VISIBLE - margin / (min(w, h) / 2)
    half = np.array([w / 2, h / 2])
    for _ in range(tries):
        c = rng.uniform(lo, hi)
        if (np.hypot(*((c + offsets - half) / half).T) <= reach).all():
            return float(c[0]), float(c[1])
    return float(w / 2), float(h / 2)


def render(lesion: Lesion, rng: np.random.Generator, width: int, height: int, *,
           hair: bool, shift: bool = False, frame: bool = False,
           placement: str = "centre") -> tuple[np.ndarray, np.ndarray]:
    """One image of ``lesion``: ``(image, mask)`` — uint8 ``(H, W, 3)`` **BGR** (for
    ``cv2.imwrite``) and uint8 ``(H, W)`` in {0, 255}. ``rng`` draws the view (position,
    rotation, scale, colour), the background and the hair. ``placement`` (one of
    :data:`PLACEMENTS`): ``"centre"`` puts the lesion centre at the image centre plus
    ``N(0, 0.04)`` of the width / height; ``"anywhere"`` draws it uniformly over the positions
    where the whole lesion is visible (:func:`_place_anywhere`; inside the circular frame too)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"render: placement must be one of {PLACEMENTS}, got {placement!r}")
    h, w = height, width
    img = _background(rng, h, w, shift)
    side = min(h, w)
    scale = 0.42 * side / (lesion.radius * side * _max_extent(lesion))
    r0 = float(lesion.radius * side * min(1.0, scale) * rng.uniform(0.93, 1.07))
    if placement == "centre":                                         # the original draws
        cx = float(w / 2 + rng.normal(0, 0.04) * w)
        cy = float(h / 2 + rng.normal(0, 0.04) * h)
        ang = float(lesion.angle + rng.normal(0, 0.2))
    else:
        ang = float(lesion.angle + rng.normal(0, 0.2))
        cx, cy = _place_anywhere(rng, outline_offsets(lesion, r0, ang), w, h, frame)
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
    _texture_layer(lesion, trng, _View(cx - ox, cy - oy, r0, ang), xs[box], ys[box], bm, bimg)
    if hair:
        _hair(rng, img)
    if frame:                                                         # circular dermatoscope
        d = np.hypot((x - w / 2) / (w / 2), (y - h / 2) / (h / 2))
        img *= np.clip((1.08 - d) / 0.06, 0, 1)[..., None]       # clear for d <= 1.02
    img += rng.standard_normal(img.shape, dtype=np.float32) * 2.0
    np.clip(img, 0, 255, out=img)
    return img[..., ::-1].astype(np.uint8), mask.astype(np.uint8) * 255
