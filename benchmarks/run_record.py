"""What the small CPU benchmarks share: the record they keep (command, date, machine, versions, load average; printed
as it goes, written under benchmarks/results/ at the end), one timing helper and the corpus lines."""
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

from harness import find_corpus


def timed_ms(fn, repeats: int, quantile: float = 0.5) -> float:
    """Milliseconds per call of fn(): one warm-up call, then `repeats` timed ones, the given quantile of them."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[int(len(times) * quantile)] * 1e3


def corpus_lines() -> list:
    """Every non-empty line of the shared corpus (harness.find_corpus), file by file in name order."""
    return [line for path in sorted(find_corpus().glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class RunRecord:
    def __init__(self, script: str, argv, threads: int):
        self.lines = []
        self.stamp = datetime.datetime.now(datetime.timezone.utc)
        import fastenc

        self.log(f"{script} {' '.join(argv if argv is not None else sys.argv[1:])}")
        self.log(f"{self.stamp:%Y-%m-%d %H:%M:%S} UTC  {platform.processor() or platform.machine()}  threads {threads}  "
                 f"torch {torch.__version__}  fastenc {fastenc.__version__}  load average before {os.getloadavg()}")

    def log(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self, folder: Path, prefix: str) -> Path:
        """Logs the load average, writes folder/<prefix>-<date>.txt and returns its path."""
        self.log(f"load average after {os.getloadavg()}")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{prefix}-{self.stamp:%Y%m%d-%H%M%S}.txt"
        path.write_text("\n".join(self.lines) + "\n")
        print(f"wrote {path}")
        return path
