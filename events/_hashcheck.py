"""``python -m events._hashcheck PATH SIZE``: check every line's hash on another core.

Prints the number of the first framed line (within SIZE bytes) whose sha256 does not
match, or 0. ``JsonlLog.read`` runs it beside its own parse of a large log and refuses
the log when it names a line it has read; the chain links (``seq``, ``prev``) are
checked by the reader itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from events.codec import first_bad_hash


class HashCheck:
    """Every line's sha256 checked by a second process while this one parses (both cores).

    Used for logs of ``PARALLEL_FROM`` bytes or more; the reader checks frames and chain
    links itself and waits for the verdict before its read ends, so a
    consumer never finishes a read of a log whose hashes fail.
    """

    PARALLEL_FROM = 32 << 20

    def __init__(self, process: subprocess.Popen[bytes], path: Path, size: int) -> None:
        self.process, self.path, self.size = process, path, size

    @classmethod
    def start(cls, path: Path) -> HashCheck | None:
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if size < cls.PARALLEL_FROM:
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "events._hashcheck", str(path), str(size)],
                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except OSError:
            return None
        return cls(process, path, size)

    def first_bad(self, good_lines: int) -> int:
        """The first of the reader's ``good_lines`` whose hash fails (always corruption: the
        line is framed), or 0."""
        out, _ = self.process.communicate()
        if self.process.returncode == 0 and out.strip().isdigit():
            bad = int(out)
        else:  # the checker could not run: check here (slower, same answer)
            with open(self.path, "rb", buffering=1 << 20) as f:
                bad = first_bad_hash(f, self.size)
        return bad if bad <= good_lines else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main(argv: list[str]) -> int:
    path, size = argv[0], int(argv[1])
    with open(path, "rb", buffering=1 << 20) as f:
        print(first_bad_hash(f, size), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
