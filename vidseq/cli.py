"""The `vidseq` command line: parse, check, call the library, report.

Exit status: 0 when everything worked, 1 when the run finished but some videos failed,
2 when the arguments, the input or a file made the run impossible.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from vidseq import __version__
from vidseq.errors import VidseqError

log = logging.getLogger("vidseq")

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "quiet", False))
    try:
        with logging_redirect_tqdm():
            return args.run(args)
    except (VidseqError, ValueError, FileNotFoundError) as error:
        if args.verbose:
            log.exception("failed")
        print(f"vidseq {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        hint = {"extract": "; finished videos are kept, re-run to continue",
                "train": "; re-run with --resume to continue from the last epoch"}
        print(f"vidseq {args.command}: interrupted{hint.get(args.command, '')}",
              file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidseq",
        description="Classify videos by what happens over time: extract CNN frame "
        "features into an HDF5 cache, train recurrent heads on them, predict.",
    )
    parser.add_argument("--version", action="version", version=f"vidseq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Imported here so that `vidseq --help` and argument errors stay quick.
    from vidseq import cli_extract, cli_predict, cli_train

    for module in (cli_extract, cli_train, cli_predict):
        module.add_parsers(commands, _common)
    return parser


def _common(parser: argparse.ArgumentParser, quiet: bool = True) -> None:
    """Options every command has."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and tracebacks on errors")
    if quiet:
        parser.add_argument("-q", "--quiet", action="store_true",
                            help="no progress bar, warnings and errors only")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger("vidseq")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def config_path(value: str | None) -> Path | None:
    return Path(value) if value else None
