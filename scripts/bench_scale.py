"""Benchmark scaling out: one process with one thread vs two torchrun ranks with one each.

Both extract the same folder in this run, in alternating order over `--rounds` rounds so
that a burst of load from other work on a shared machine hits both alike; the medians
and their ratio are printed (target >= 1.7x on a 2-core machine). Throughput is frames
over the wall time of the whole command, start-up and merge included, so a small folder
understates the speed-up: each rank pays its own start-up and rank 0 merges at the end.

    python scripts/bench_scale.py [--videos 24] [--frames 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for number in range(args.videos):
            write_video(folder / f"v{number}.mp4", args.frames, seed=number)
        frames = args.videos * args.frames
        extract = ["-m", "vidseq", "extract", str(folder), "-q", "--threads", "1"]

        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  f"--nproc_per_node={args.processes}"]
        ones, manys = [], []
        for number in range(args.rounds):
            runs = [(ones, [sys.executable, *extract, "-o", f"{tmp}/one{number}.h5"]),
                    (manys, [*launch, *extract, "-o", f"{tmp}/many{number}.h5"])]
            for seconds, command in runs if number % 2 == 0 else runs[::-1]:
                seconds.append(timed(command))
        one, many = statistics.median(ones), statistics.median(manys)

    print(f"{args.videos} videos x {args.frames} frames, mobilenet_v2 at 200x200, "
          f"{os.cpu_count()} cores")
    print(f"1 process, 1 thread        {frames / one:7.1f} frames/s ({one:.1f} s)")
    print(f"{args.processes} torchrun ranks, 1 thread  {frames / many:7.1f} frames/s "
          f"({many:.1f} s)")
    print(f"speed-up = {one / many:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
