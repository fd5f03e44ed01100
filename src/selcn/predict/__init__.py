"""Run an exported SE-LCN bundle (:mod:`selcn.export`) on new dermoscopic images.

- :mod:`selcn.predict.cascade`: reading an input file and the networks on one batch, exactly
  as in training;
- :mod:`selcn.predict.gallery`: the per-image panel PNG and the ``index.html`` gallery (no
  torch);
- :mod:`selcn.predict.run`: :func:`predict_images`, the driver (worker threads,
  ``predictions.csv``, progress and summary) behind ``selcn predict``.

The public names below are imported from their module on first use, so that importing
:mod:`selcn.predict.gallery` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selcn.predict.cascade import (
        IMAGE_SUFFIXES,
        MIN_SIDE,
        CascadeOutput,
        list_inputs,
        read_input,
        run_cascade,
    )
    from selcn.predict.gallery import (
        EMBED_LIMIT,
        ImageResult,
        PanelSettings,
        draw_panel,
        write_gallery,
        write_panel,
    )
    from selcn.predict.run import (
        FIXED_COLUMNS,
        PredictionSummary,
        PredictOptions,
        image_results,
        predict_images,
    )

#: public name -> the module of this package that defines it
_MODULE_OF = {
    **dict.fromkeys(("IMAGE_SUFFIXES", "MIN_SIDE", "CascadeOutput", "list_inputs", "read_input",
                     "run_cascade"), "cascade"),
    **dict.fromkeys(("EMBED_LIMIT", "ImageResult", "PanelSettings", "draw_panel", "write_panel",
                     "write_gallery"), "gallery"),
    **dict.fromkeys(("FIXED_COLUMNS", "PredictOptions", "PredictionSummary", "image_results",
                     "predict_images"), "run"),
}

__all__ = ["IMAGE_SUFFIXES", "MIN_SIDE", "EMBED_LIMIT", "FIXED_COLUMNS", "CascadeOutput",
           "ImageResult", "PanelSettings", "PredictOptions", "PredictionSummary", "list_inputs",
           "read_input", "run_cascade", "image_results", "draw_panel", "write_panel",
           "write_gallery", "predict_images"]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
