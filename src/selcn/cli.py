"""The ``selcn`` command line: ``selcn predict BUNDLE INPUT... --out DIR``.

Exit status: 0 when every file was predicted, 1 when any file failed (the others are still
written), 2 for a usage error or an unusable bundle (one message naming the problem).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selcn", description="SE-LCN skin lesion classification")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="classify new dermoscopic images with an exported bundle",
                       description="Apply an exported SE-LCN bundle (results/export/...) to "
                                   "JPEG / PNG / BMP files or folders of them; writes "
                                   "predictions.csv, panels/ and index.html into --out.")
    p.add_argument("bundle", help="bundle folder written by the workflow's export_model rule")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = cuda when available (default)")
    p.add_argument("--batch-size", type=int, default=16, help="images per network call")
    p.add_argument("--workers", type=int, default=None,
                   help="threads for decoding, hair removal and panels (default min(8, CPUs))")
    p.add_argument("--no-panels", action="store_true",
                   help="skip the lesion CAMs and the panels (predictions.csv and index.html only)")
    p.add_argument("--ignore-versions", action="store_true",
                   help="load a bundle exported with other package versions (warns)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _predict(args: argparse.Namespace) -> int:
    from selcn.export import BundleError, load_bundle, validate_bundle
    from selcn.predict import PredictOptions, predict_images
    from selcn.training import resolve_device

    if args.batch_size < 1:
        print("selcn predict: --batch-size must be >= 1", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except (RuntimeError, ValueError) as err:
        print(f"selcn predict: {err}", file=sys.stderr)
        return 2
    try:
        if args.ignore_versions:
            try:
                validate_bundle(args.bundle)
            except BundleError as err:
                print(f"warning: {err}", file=sys.stderr)
        bundle = load_bundle(args.bundle, device, check_versions=not args.ignore_versions)
    except BundleError as err:
        print(f"selcn predict: {err}", file=sys.stderr)
        return 2
    try:
        summary = predict_images(bundle, args.inputs, args.out,
                                 PredictOptions(batch_size=args.batch_size, workers=args.workers,
                                                panels=not args.no_panels,
                                                progress=not args.quiet))
    except FileNotFoundError as err:
        print(f"selcn predict: {err}", file=sys.stderr)
        return 2
    ok = summary.n_images - summary.n_failed
    print(f"selcn predict: {ok} of {summary.n_images} images predicted in {summary.seconds:.1f} s "
          f"({summary.images_per_second:.2f} images/s) on {device.type}; "
          f"{summary.n_failed} failed; results in {args.out}")
    if summary.n_failed:
        failed = summary.table.loc[summary.table["error"].notna(), "file"].tolist()
        print(f"selcn predict: {summary.n_failed} file(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selcn`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "predict":
        return _predict(args)
    raise AssertionError(args.command)  # pragma: no cover - argparse rejects other commands


if __name__ == "__main__":
    sys.exit(main())
