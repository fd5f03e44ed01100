"""Embedded synthetic dermoscopy set, written in the four datasets' published formats.

Two parts:

- :mod:`selcn.data.synthetic.render`: the lesion model (:func:`sample_lesion`: class-dependent
  colour, texture, border, size and mirror symmetry) and the renderer of one image and its mask
  (:func:`render`), with :func:`mirror_score` to check an outline's symmetry;
- :mod:`selcn.data.synthetic.writers`: one writer per published format, the mirror of
  :mod:`selcn.data.readers` (:func:`write_ham10000`, :func:`write_symderm`,
  :func:`write_isic2019`, :func:`write_isic2016`) and the layout :func:`dataset_paths`.

:func:`generate_all` writes, under ``out_dir``, the layout of :func:`dataset_paths` (the
schema's ``data.<dataset>`` keys with ``resources/data`` replaced by ``out_dir``), sized by a
:class:`SyntheticSpec` (the config's ``data.synthetic`` block and the seed). It is
deterministic for a seed: every image draws from its own ``numpy`` generator seeded by
``(seed, dataset, number)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selcn.data.synthetic.plants import plant_copies
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
    DrawnImage,
    HamImage,
    ImageSpec,
    _allocate,
    dataset_paths,
    write_ham10000,
    write_isic2016,
    write_isic2019,
    write_ph2,
    write_symderm,
)

__all__ = ["dataset_paths", "generate_all", "SyntheticSpec", "ImageSpec", "Lesion",
           "sample_lesion", "render", "mirror_score", "HamImage", "write_ham10000",
           "write_symderm", "write_isic2019", "write_isic2016", "write_ph2", "HAM_FRACTIONS",
           "ISIC2019_FRACTIONS", "SYMDERM_FRACTIONS", "_allocate", "PLACEMENTS",
           "PLACEMENT_MARGIN", "outline_offsets"]


@dataclass(frozen=True)
class SyntheticSpec:
    """What :func:`generate_all` writes: the config's ``data.synthetic`` block (same keys, same
    defaults as ``config/schema.yaml``) and the workflow ``seed``. Build it once, e.g.
    ``SyntheticSpec(seed=config["seed"], **config["data"]["synthetic"])``.

    Attributes:
        seed: seed of every image's ``numpy`` generator (with the dataset and image number).
        n_lesions: HAM10000 lesions (count; 1-3 images each).
        min_lesions_per_class: HAM10000 lesions of every class at least (count).
        n_symderm_own: SymDerm images not from HAM10000 (count; about half PH2-style).
        n_symderm_from_ham: SymDerm images copied from HAM10000 (count, same ids).
        n_isic2019_new: ISIC 2019 images beyond the HAM10000 ones (count, colour-shifted).
        n_isic2019_from_ham: ISIC 2019 images copied from HAM10000 (count, same ids).
        n_isic2016_train: ISIC 2016 training images (count).
        n_isic2016_test: ISIC 2016 test images (count).
        n_ph2: PH² cases in the published layout (count; 0 = none, the demo's default).
        plant_copies: plant copies of images across the datasets for the overlap guard
            (:mod:`selcn.data.synthetic.plants`: same id, renamed, ``_downsampled``,
            re-encoded and resized).
        width: image width (px).
        height: image height (px).
        placement: where each lesion sits, one of :data:`PLACEMENTS` (see :func:`render`).

    Raises:
        ValueError: ``placement`` is not one of the :data:`PLACEMENTS`.
    """

    seed: int = 42
    n_lesions: int = 300
    min_lesions_per_class: int = 12
    n_symderm_own: int = 60
    n_symderm_from_ham: int = 120
    n_isic2019_new: int = 120
    n_isic2019_from_ham: int = 60
    n_isic2016_train: int = 120
    n_isic2016_test: int = 60
    n_ph2: int = 0
    plant_copies: bool = True
    width: int = 600
    height: int = 450
    placement: str = "centre"

    def __post_init__(self) -> None:
        _ = self.image_spec                                # ImageSpec checks the placement

    @classmethod
    def from_config(cls, synthetic: Mapping[str, Any], seed: int) -> SyntheticSpec:
        """From the config's ``data.synthetic`` block (missing keys: the defaults) and seed."""
        return cls(seed=seed, **synthetic)

    @property
    def image_spec(self) -> ImageSpec:
        """The part every writer shares: seed, image size and placement."""
        return ImageSpec(seed=self.seed, width=self.width, height=self.height,
                         placement=self.placement)


def generate_all(out_dir: str | Path, spec: SyntheticSpec | None = None, *,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Write the four synthetic datasets under ``out_dir`` in the layout of
    :func:`dataset_paths`, sized by ``spec`` (default: ``SyntheticSpec()``, the schema's
    defaults with seed 42); ``log`` gets a one-line summary. Return the summary (image counts
    per dataset and class, ``seconds`` and ``cpu_seconds``).

    HAM10000: ``n_lesions`` lesions, 1-3 images each, classes shaped like HAM10000 with at
    least ``min_lesions_per_class`` lesions per class. SymDerm: ``n_symderm_from_ham`` HAM
    images (same ids, labels from their drawn outline) + ``n_symderm_own`` of its own (about
    half PH2-style ``IMD###.bmp``). ISIC 2019: ``n_isic2019_from_ham`` HAM images (same ids)
    + ``n_isic2019_new`` colour-shifted ones, some SCC and UNK rows. ISIC 2016:
    benign / malignant (about 1 in 5) train and test sets. PH² (only when ``n_ph2`` > 0):
    :func:`write_ph2`. With ``plant_copies``, copies of a few images are then added across the
    datasets (:func:`selcn.data.synthetic.plants.plant_copies`; summary ``planted``: every
    other file and CSV row stays as written). Images are ``width x height``;
    ``placement`` (``data.synthetic.placement``, one of :data:`PLACEMENTS`) puts every lesion
    at the image centre (``"centre"``, jittered) or anywhere it is fully visible
    (``"anywhere"``), see :func:`render`.
    """
    spec = SyntheticSpec() if spec is None else spec
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    paths = dataset_paths(out)
    image = spec.image_spec
    summary: dict[str, Any] = {}
    summary["ham10000"], ham_images = write_ham10000(
        **paths["ham10000"], spec=image, n_lesions=spec.n_lesions,
        min_lesions_per_class=spec.min_lesions_per_class)
    summary["symderm"] = write_symderm(**paths["symderm"], ham_images=ham_images, spec=image,
                                       n_own=spec.n_symderm_own,
                                       n_from_ham=spec.n_symderm_from_ham)
    summary["isic2019"] = write_isic2019(**paths["isic2019"], ham_images=ham_images, spec=image,
                                         n_new=spec.n_isic2019_new,
                                         n_from_ham=spec.n_isic2019_from_ham)
    isic2016_images: list[DrawnImage] = []
    summary["isic2016"] = write_isic2016(**paths["isic2016"], spec=image,
                                         n_train=spec.n_isic2016_train,
                                         n_test=spec.n_isic2016_test, drawn=isic2016_images)
    if spec.plant_copies:
        summary["planted"] = [p.as_dict() for p in plant_copies(paths, ham_images,
                                                                isic2016_images, spec.seed)]
    if spec.n_ph2:
        summary["ph2"] = write_ph2(**paths["ph2"], spec=image, n=spec.n_ph2)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["cpu_seconds"] = round(time.process_time() - c0, 2)
    log(f"synthetic data under {out}: {summary}")
    return summary
