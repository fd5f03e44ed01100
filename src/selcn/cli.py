"""The ``selcn`` command line: ``selcn predict BUNDLE INPUT... --out DIR``, ``selcn --version``.

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
