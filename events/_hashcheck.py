"""``python -m events._hashcheck PATH SIZE [STRICT]``: check the chain on another core.

Prints the number of the first line (within SIZE bytes) whose sha256 does not match or
that does not name the line before it as ``prev``, or 0. ``JsonlLog.read`` runs it beside
its own parse of a large log (which checks ``seq`` and ``prev`` too), and a writer that
starts from the state snapshot runs it over the prefix the snapshot stands for (STRICT=1:
every line there must be a good commit), so corruption anywhere still stops a write.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from events.codec import first_bad_line


class HashCheck:
    """Every line's sha256 checked by a second process while this one parses (both cores).

    Used for logs of ``PARALLEL_FROM`` bytes or more; the reader checks frames and chain
    links itself and waits for the verdict before its read ends, so a
    consumer never finishes a read of a log whose hashes fail.
    """

    PARALLEL_FROM = 32 << 20

    def __init__(self, process: subprocess.Popen[bytes], path: Path, size: int, strict: bool) -> None:
        self.process, self.path, self.size, self.strict = process, path, size, strict

    @classmethod
    def start(cls, path: Path, size: int | None = None, strict: bool = False) -> HashCheck | None:
        """Check the lines in the first ``size`` bytes (default: all); ``strict``: every
        line there must be a good commit (a prefix known to be complete)."""
        try:
            size = path.stat().st_size if size is None else size
        except OSError:
            return None
        if size < cls.PARALLEL_FROM:
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "events._hashcheck", str(path), str(size), str(int(strict))],
                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except OSError:
            return None
        return cls(process, path, size, strict)

    def first_bad(self, good_lines: int) -> int:
        """The first of the reader's ``good_lines`` that fails its hash or its link to the
        line before (always corruption: the line is framed), or 0."""
        out, _ = self.process.communicate()
        if self.process.returncode == 0 and out.strip().isdigit():
            bad = int(out)
        else:  # the checker could not run: check here (slower, same answer)
            with open(self.path, "rb", buffering=1 << 20) as f:
                bad = first_bad_line(f, self.size, self.strict)
        return bad if bad <= good_lines else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main(argv: list[str]) -> int:
    path, size, strict = argv[0], int(argv[1]), argv[2:] == ["1"]
    with open(path, "rb", buffering=1 << 20) as f:
        print(first_bad_line(f, size, strict), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
