"""The ``selcn`` command line: ``selcn predict BUNDLE INPUT... --out DIR``,
``selcn symderm-assemble LABELS --out DIR [--ph2 DIR] [--ham10000-images DIR...] ...``,
``selcn --version``.

Exit status of ``selcn predict``:

- 0: every image was predicted (files of the input folders that are not images are skipped
  and listed, they do not count);
- 1: some images failed (unreadable, truncated, too small, not an image although named
  explicitly); the others are predicted and written, the failed ones are listed;
- 2: nothing was predicted, with one message naming the problem: a usage error (bad option,
  no image among the inputs, CUDA asked for but unavailable), an unusable bundle (missing,
  altered or unsafe file, edited manifest, incompatible package versions), or outputs that
  cannot be written (``--out`` not a writable folder, in use by another ``selcn predict``,
  disk full, ``--continue`` into results of another bundle, GPU out of memory);
- 130 / 143: interrupted (Ctrl-C / SIGTERM); what was finished is kept for ``--continue``.

Exit status of ``selcn symderm-assemble`` (:func:`selcn.data.symderm.assemble`):

- 0: every row of the label file has its image and mask in ``--out``;
- 1: the files found were placed, rows are still missing (listed by source, in
  ``<out>/missing_rows.csv``): the symmetry stage runs on the rest with
  ``data.symderm.missing: skip``;
- 2: nothing was written: the label file or a source folder is unusable, or a file in ``--out``
  holds other content than its source (never overwritten); the message names it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "version"]

#: exit statuses (see the module docstring)
OK, SOME_FAILED, UNUSABLE = 0, 1, 2


def version() -> str:
    """The installed selcn version (the package's own when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("selcn")
    except metadata.PackageNotFoundError:
        from selcn import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selcn", description="SE-LCN skin lesion classification")
    parser.add_argument("--version", action="version", version=f"selcn {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="classify new dermoscopic images with an exported bundle",
                       description="Apply an exported SE-LCN bundle (results/export/...) to "
                                   "JPEG / PNG / BMP files or folders of them; writes "
                                   "predictions.csv, panels/ and index.html into --out. "
                                   "Exit status: 0 all predicted, 1 some images failed, 2 "
                                   "nothing predicted (usage, bundle or output problem).")
    p.add_argument("bundle", help="bundle folder written by the workflow's export_model rule")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (other files in a folder are skipped)")
    p.add_argument("--out", required=True,
                   help="output folder (one selcn predict at a time; a rerun replaces the "
                        "results of the previous run there unless --continue)")
    p.add_argument("--recursive", action="store_true",
                   help="also predict the images in the sub-folders of the input folders")
    p.add_argument("--continue", dest="resume", action="store_true",
                   help="keep the images an earlier run of the same bundle into --out "
                        "finished (interrupted or not) and predict only the others")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = cuda when available (default)")
    p.add_argument("--batch-size", type=int, default=16, help="images per network call")
    p.add_argument("--workers", type=int, default=None,
                   help="threads for decoding, hair removal and panels (default min(8, CPUs)); "
                        "at most this many images are decoded at full size at once")
    p.add_argument("--no-panels", action="store_true",
                   help="skip the lesion CAMs and the panels (predictions.csv and index.html only)")
    p.add_argument("--ignore-versions", action="store_true",
                   help="load a bundle exported with incompatible package versions (warns)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = sub.add_parser(
        "symderm-assemble", help="build SymDerm v2.0's images/ and masks/ from PH², HAM10000 "
                                 "and ISIC 2018 as distributed",
        description="Build SymDerm v2.0's images/ and masks/ folders under --out from the "
                    "sources you have, each file named as the label file names it (hard-linked "
                    "or copied; PH²'s 1-bit BMP masks written as 0/255 PNG); the sources are "
                    "never modified and a different file already in --out is never overwritten. "
                    "Rows whose source is missing (dermquest: offline since 2019; EDRA: on "
                    "CD-ROM) are listed by source. Exit status: 0 every row complete, 1 rows "
                    "still missing, 2 nothing written (a problem named).")
    a.add_argument("labels", help="SymDerm v2.0's label file (File,Mask,Dataset,labels_symmetry)")
    a.add_argument("--out", required=True,
                   help="the SymDerm folder to fill (its images/ and masks/: data.symderm."
                        "image_dir and mask_dir)")
    a.add_argument("--ph2", help="PH²'s folder as distributed (PH2Dataset, or its "
                                 "'PH2 Dataset images')")
    a.add_argument("--ham10000-images", nargs="+", default=[], metavar="DIR",
                   help="HAM10000's image folders (HAM10000_images_part1 part2)")
    a.add_argument("--ham10000-masks", nargs="+", default=[], metavar="DIR",
                   help="HAM10000's mask folder(s) (<id>_segmentation.png)")
    a.add_argument("--isic2018-images", nargs="+", default=[], metavar="DIR",
                   help="ISIC 2018 task 1 input folders (ISIC2018_Task1-2_*_Input)")
    a.add_argument("--isic2018-masks", nargs="+", default=[], metavar="DIR",
                   help="ISIC 2018 task 1 ground-truth folders (ISIC2018_Task1_*_GroundTruth)")
    a.add_argument("--copy", action="store_true",
                   help="copy the files (default: hard links where the file system allows)")
    a.add_argument("--dry-run", action="store_true", help="report what would be done, write "
                                                          "nothing")
    return parser


def _error(message: str) -> int:
    print(f"selcn predict: {message}", file=sys.stderr, flush=True)
    return UNUSABLE


def _predict(args: argparse.Namespace) -> int:
    from selcn.export import BundleError, load_bundle
    from selcn.predict import PredictError, PredictOptions, predict_images
    from selcn.training import resolve_device

    if args.batch_size < 1:
        return _error("--batch-size must be >= 1")
    if args.workers is not None and args.workers < 1:
        return _error("--workers must be >= 1")
    try:
        device = resolve_device(args.device)
    except (RuntimeError, ValueError) as err:
        return _error(str(err))
    try:
        bundle = load_bundle(args.bundle, device, check_versions=not args.ignore_versions)
    except BundleError as err:
        return _error(str(err))
    for note in bundle.warnings:
        print(f"warning: {note}", file=sys.stderr, flush=True)
    if bundle.trained_on_synthetic:
        print("warning: this bundle was trained on synthetic demo data \u2014 not for real "
              "lesions", file=sys.stderr, flush=True)
    try:
        summary = predict_images(bundle, args.inputs, args.out,
                                 PredictOptions(batch_size=args.batch_size, workers=args.workers,
                                                panels=not args.no_panels,
                                                progress=not args.quiet,
                                                recursive=args.recursive, resume=args.resume))
    except PredictError as err:
        return _error(str(err))
    ok = summary.n_images - summary.n_failed
    kept = f" ({summary.n_kept} kept from the earlier run)" if summary.n_kept else ""
    print(f"selcn predict: {ok} of {summary.n_images} images predicted{kept} in "
          f"{summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s) on "
          f"{device.type}; {summary.n_failed} failed; results in {args.out}")
    if summary.n_failed:
        failed = summary.table.loc[summary.table["error"].notna(), "file"].tolist()
        print(f"selcn predict: {summary.n_failed} file(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return SOME_FAILED
    return OK


def _symderm_assemble(args: argparse.Namespace) -> int:
    from pathlib import Path

    from selcn.atomic import DiskFullError
    from selcn.data.readers import DataFormatError
    from selcn.data.symderm import AssembleError, Sources, assemble

    sources = Sources(ph2=Path(args.ph2) if args.ph2 else None,
                      ham10000_images=tuple(map(Path, args.ham10000_images)),
                      ham10000_masks=tuple(map(Path, args.ham10000_masks)),
                      isic2018_images=tuple(map(Path, args.isic2018_images)),
                      isic2018_masks=tuple(map(Path, args.isic2018_masks)))
    try:
        report = assemble(args.labels, sources, args.out, copy=args.copy, dry_run=args.dry_run)
    except (AssembleError, DataFormatError, DiskFullError, PermissionError) as err:
        print(f"selcn symderm-assemble: {err}", file=sys.stderr, flush=True)
        return UNUSABLE
    print(report, flush=True)
    return OK if report.complete else SOME_FAILED


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a cancelled job, ``kill``): unwind like Ctrl-C, so temporaries are removed."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selcn`` console script; returns the exit status. While a
    prediction runs, SIGTERM unwinds like Ctrl-C (temporaries removed, the lock released)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:          # --help, --version (0) or a usage error (2)
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else UNUSABLE
    if args.command == "symderm-assemble":
        return _symderm_assemble(args)
    if args.command != "predict":       # pragma: no cover - argparse rejects other commands
        raise AssertionError(args.command)
    installed = True
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:                  # not the main thread: leave the signals alone
        installed, previous = False, None
    try:
        return _predict(args)
    except KeyboardInterrupt:
        print("\nselcn predict: interrupted; the images finished so far are kept: rerun with "
              "--continue to predict the rest", file=sys.stderr)
        return 128 + signal.SIGINT
    except SystemExit as exit_:
        if exit_.code == 128 + signal.SIGTERM:
            print("selcn predict: terminated; the images finished so far are kept: rerun with "
                  "--continue to predict the rest", file=sys.stderr)
        raise
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
