"""Run an exported SE-LCN bundle (:mod:`selcn.export`) on new dermoscopic images.

- :mod:`selcn.predict.cascade`: reading an input file and the networks on one batch, exactly
  as in training;
- :mod:`selcn.predict.gallery`: the per-image panel PNG, its thumbnail and the ``index.html``
  gallery (no torch);
- :mod:`selcn.predict.outputs`: the output folder (one run at a time, the journal behind
  ``--continue``, temporaries, :class:`PredictError`; no torch);
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
        InputScan,
        list_inputs,
        read_input,
        run_cascade,
        scan_inputs,
    )
    from selcn.predict.gallery import (
        SYNTHETIC_WARNING,
        THUMB_WIDTH,
        ImageResult,
        PanelSettings,
        draw_panel,
        thumbnail_of,
        write_gallery,
        write_panel,
    )
    from selcn.predict.outputs import PredictError
    from selcn.predict.run import (
        FIXED_COLUMNS,
        PredictionSummary,
        PredictOptions,
        image_results,
        predict_images,
    )

#: public name -> the module of this package that defines it
_MODULE_OF = {
    **dict.fromkeys(("IMAGE_SUFFIXES", "MIN_SIDE", "CascadeOutput", "InputScan", "scan_inputs",
                     "list_inputs", "read_input", "run_cascade"), "cascade"),
    **dict.fromkeys(("THUMB_WIDTH", "SYNTHETIC_WARNING", "ImageResult", "PanelSettings",
                     "draw_panel", "thumbnail_of", "write_panel", "write_gallery"), "gallery"),
    "PredictError": "outputs",
    **dict.fromkeys(("FIXED_COLUMNS", "PredictOptions", "PredictionSummary", "image_results",
                     "predict_images"), "run"),
}

__all__ = ["IMAGE_SUFFIXES", "MIN_SIDE", "THUMB_WIDTH", "SYNTHETIC_WARNING", "FIXED_COLUMNS",
           "CascadeOutput", "InputScan", "ImageResult", "PanelSettings", "PredictOptions",
           "PredictionSummary", "PredictError", "scan_inputs", "list_inputs", "read_input",
           "run_cascade", "image_results", "draw_panel", "thumbnail_of", "write_panel",
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
