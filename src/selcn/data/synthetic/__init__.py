"""Embedded synthetic dermoscopy set, written in the four datasets' published formats.

Two parts:

- :mod:`selcn.data.synthetic.render`: the lesion model (:func:`sample_lesion`: class-dependent
  colour, texture, border, size and mirror symmetry) and the renderer of one image and its mask
  (:func:`render`), with :func:`mirror_score` to check an outline's symmetry;
- :mod:`selcn.data.synthetic.writers`: one writer per published format, the mirror of
  :mod:`selcn.data.readers` (:func:`write_ham10000`, :func:`write_symderm`,
  :func:`write_isic2019`, :func:`write_isic2016`) and the layout :func:`dataset_paths`.

:func:`generate_all` writes, under ``out_dir``, the layout of :func:`dataset_paths` (the
schema's ``data.<dataset>`` keys with ``resources/data`` replaced by ``out_dir``). It is
deterministic for a seed: every image draws from its own ``numpy`` generator seeded by
``(seed, dataset, number)``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from selcn.data.synthetic.render import (
    PLACEMENT_MARGIN,
    PLACEMENTS,
    Lesion,
    mirror_score,
    outline_offsets,
    render,
    sample_lesion,
)
from selcn.data.synthetic.writers import (
    HAM_FRACTIONS,
    ISIC2019_FRACTIONS,
    SYMDERM_FRACTIONS,
    HamImage,
    _allocate,
    dataset_paths,
    write_ham10000,
    write_isic2016,
    write_isic2019,
    write_symderm,
)

__all__ = ["dataset_paths", "generate_all", "Lesion", "sample_lesion", "render",
           "mirror_score", "HamImage", "write_ham10000", "write_symderm", "write_isic2019",
           "write_isic2016", "HAM_FRACTIONS", "ISIC2019_FRACTIONS", "SYMDERM_FRACTIONS",
           "_allocate", "PLACEMENTS", "PLACEMENT_MARGIN", "outline_offsets"]


def generate_all(out_dir: str | Path, *, seed: int = 42, n_lesions: int = 300,
                 min_lesions_per_class: int = 12, n_symderm_own: int = 60,
                 n_symderm_from_ham: int = 120, n_isic2019_new: int = 120,
                 n_isic2019_from_ham: int = 60, n_isic2016_train: int = 120,
                 n_isic2016_test: int = 60, width: int = 600, height: int = 450,
                 placement: str = "centre", log=print) -> dict[str, Any]:
    """Write the four synthetic datasets under ``out_dir`` in the layout of
    :func:`dataset_paths`; return a summary (image counts per dataset and class, seconds).

    HAM10000: ``n_lesions`` lesions, 1-3 images each, classes shaped like HAM10000 with at
    least ``min_lesions_per_class`` lesions per class. SymDerm: ``n_symderm_from_ham`` HAM
    images (same ids, labels from their drawn outline) + ``n_symderm_own`` of its own (about
    half PH2-style ``IMD###.bmp``). ISIC 2019: ``n_isic2019_from_ham`` HAM images (same ids)
    + ``n_isic2019_new`` colour-shifted ones, some SCC and UNK rows. ISIC 2016:
    benign / malignant (about 1 in 5) train and test sets. Images are ``width x height``;
    ``placement`` (``data.synthetic.placement``, one of :data:`PLACEMENTS`) puts every lesion
    at the image centre (``"centre"``, jittered) or anywhere it is fully visible
    (``"anywhere"``), see :func:`render`.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    paths = dataset_paths(out)
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    common = dict(seed=seed, width=width, height=height, placement=placement)
    summary: dict[str, Any] = {}
    summary["ham10000"], ham_images = write_ham10000(
        **paths["ham10000"], n_lesions=n_lesions, min_lesions_per_class=min_lesions_per_class,
        **common)
    summary["symderm"] = write_symderm(**paths["symderm"], ham_images=ham_images,
                                       n_own=n_symderm_own, n_from_ham=n_symderm_from_ham, **common)
    summary["isic2019"] = write_isic2019(**paths["isic2019"], ham_images=ham_images,
                                         n_new=n_isic2019_new, n_from_ham=n_isic2019_from_ham,
                                         **common)
    summary["isic2016"] = write_isic2016(**paths["isic2016"], n_train=n_isic2016_train,
                                         n_test=n_isic2016_test, **common)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["cpu_seconds"] = round(time.process_time() - c0, 2)
    log(f"synthetic data under {out}: {summary}")
    return summary
