"""Benchmark scaling out: one process with one thread vs two torchrun ranks with one each.

Both extract the same folder, one after the other in this run, and the ratio of their
throughputs is printed (target >= 1.7x on a 2-core machine). Throughput is frames over
the wall time of the whole command, start-up and merge included.

    python scripts/bench_scale.py [--videos 8] [--frames 150]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import write_video  # noqa: E402


def timed(command: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for number in range(args.videos):
            write_video(folder / f"v{number}.mp4", args.frames, seed=number)
        frames = args.videos * args.frames
        extract = ["-m", "vidseq", "extract", str(folder), "-q", "--threads", "1"]

        one = timed([sys.executable, *extract, "-o", f"{tmp}/one.h5"])
        many = timed([sys.executable, "-m", "torch.distributed.run", "--standalone",
                      f"--nproc_per_node={args.processes}", *extract, "-o", f"{tmp}/many.h5"])

    print(f"{args.videos} videos x {args.frames} frames, mobilenet_v2 at 200x200, "
          f"{os.cpu_count()} cores")
    print(f"1 process, 1 thread        {frames / one:7.1f} frames/s ({one:.1f} s)")
    print(f"{args.processes} torchrun ranks, 1 thread  {frames / many:7.1f} frames/s "
          f"({many:.1f} s)")
    print(f"speed-up = {one / many:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
