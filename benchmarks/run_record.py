"""The record every small CPU benchmark keeps: its command, date, machine, versions and load average, printed as it goes
and written under benchmarks/results/ at the end."""
import datetime
import os
import platform
import sys
from pathlib import Path

import torch


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
