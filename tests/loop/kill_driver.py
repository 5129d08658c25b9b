"""A loop controller to be SIGKILLed: ``python kill_driver.py CONFIG PATTERN REACHED [--force]`` runs one
``Loop(CONFIG).step()`` and, at the first log record matching PATTERN, writes REACHED and blocks
forever — so a test kills it at a chosen point of a cycle, deterministically."""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

from loopwright.loop import Loop


class Barrier(logging.Handler):
    def __init__(self, pattern: str, reached: Path):
        super().__init__()
        self.pattern = re.compile(pattern)
        self.reached = reached

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.pattern.search(message):
            self.reached.write_text(message)
            while True:  # held here until the test kills this process
                time.sleep(60)


def main() -> None:
    config, pattern, reached = sys.argv[1:4]
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(Barrier(pattern, Path(reached)))
    result = Loop(config).step(force="--force" in sys.argv)
    print(result.state, result.reason)


if __name__ == "__main__":
    main()
