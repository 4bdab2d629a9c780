"""Moves inside one file system that can all be undone: the swap of an install or an uninstall.

Every change to the plugin directory is a rename, either of a file out of it into a scratch directory (the backup)
or of a staged file into it. When any step fails, :meth:`Journal.rollback` renames everything back in reverse
order, so the directory holds the old version again. The scratch directory lives inside the plugin directory (a
hidden ``.securehost-*`` directory), so every rename stays on one file system.

A process that dies in the middle (``SIGKILL``, the OOM killer, a power cut of the terminal) cannot roll back by
itself, so each step is written to ``journal.log`` in the scratch directory before it is taken (write-ahead; one
JSON array per line, paths relative to the plugin directory), and ``commit`` once the change is complete. The next
install, upgrade or uninstall in that directory calls :func:`recover` under the same lock: an uncommitted journal is
rolled back (the old version comes back), a committed one only leaves its scratch directory to remove. The log is
flushed, not ``fsync``-ed: it survives the death of the process, which is what it is for, not a crash of the
kernel (the renames themselves are not ``fsync``-ed either).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from securehost._install.target import confined
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["JOURNAL_LOG", "SCRATCH_PREFIX", "Journal", "exclusive", "prune_empty", "recover"]

#: The prefix of the scratch directories that installs, upgrades and uninstalls make inside the plugin directory.
SCRATCH_PREFIX = ".securehost-install-"
#: The write-ahead log in a scratch directory.
JOURNAL_LOG = "journal.log"
_MAX_LOG = 64 << 20  # a journal of a legitimate change stays far below this


@contextlib.contextmanager
def exclusive(root: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the plugin directory *root* (``flock`` on the directory itself, no lock file).

    Two installs, upgrades or uninstalls in one directory at once would each judge a state the other is changing.
    Where ``fcntl`` does not exist (Windows) there is no lock; the context yields whether there is one.

    Raises:
        ConfigurationError: another process holds the lock.
        OSError: the directory cannot be opened.
    """
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConfigurationError(
                f"another securehost install, upgrade or uninstall is changing {root}: try again when it has finished"
            ) from exc
        yield True
    finally:
        os.close(fd)


class Journal:
    """A list of renames done so far, undone by :meth:`rollback`; with *root* and *log*, also written ahead to *log*.

    Args:
        root: the plugin directory (resolved); the log names paths relative to it.
        log: the write-ahead log to create (``None``: keep the journal in memory only).

    Raises:
        OSError: the log cannot be created.
    """

    def __init__(self, root: Path | None = None, log: Path | None = None) -> None:
        self._moves: list[tuple[Path, Path]] = []
        self._created: list[Path] = []
        self._root = root
        self._log: TextIO | None = None
        if root is not None and log is not None:
            self._log = open(log, "x", encoding="utf-8")  # noqa: SIM115 - kept open for the change, closed by close()

    def _write(self, *record: str | Path) -> None:
        if self._log is None or self._root is None:
            return
        fields = [r if isinstance(r, str) else r.relative_to(self._root).as_posix() for r in record]
        self._log.write(json.dumps(fields) + "\n")
        self._log.flush()

    def move(self, source: Path, destination: Path) -> None:
        """Rename *source* to *destination*, creating its parent directories; never replace a file.

        Raises:
            FileExistsError: *destination* exists already.
            OSError: the rename fails.
        """
        self._makedirs(destination.parent)
        if os.path.lexists(destination):
            raise FileExistsError(f"{destination} exists already")
        self._write("move", source, destination)
        os.rename(source, destination)
        self._moves.append((source, destination))

    def commit(self) -> None:
        """Mark the change complete in the log (nothing to roll back any more) and close it.

        Raises:
            OSError: the mark cannot be written (the change stays rollback-able: that is the safe side).
        """
        self._write("commit")
        self.close()

    def close(self) -> None:
        """Close the log (idempotent)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def _makedirs(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            self._write("mkdir", path)
            path.mkdir()
            self._created.append(path)

    def rollback(self) -> list[str]:
        """Undo every rename in reverse order and remove the directories created; return what could not be undone."""
        problems = []
        for source, destination in reversed(self._moves):
            try:
                os.rename(destination, source)
            except OSError as exc:
                problems.append(f"{destination} -> {source}: {exc}")
        self._moves.clear()
        for path in reversed(self._created):
            with contextlib.suppress(OSError):  # not empty: something else lives there now, keep it
                path.rmdir()
        self._created.clear()
        return problems


def prune_empty(root: Path, files: list[str]) -> None:
    """Remove the directories below *root* that the removal of *files* left empty (with empty ``__pycache__``)."""
    directories: set[Path] = set()
    for relative in files:
        for parent in (root / relative).parents:
            if parent == root or not parent.is_relative_to(root):
                break
            directories.add(parent)
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        cache = directory / "__pycache__"
        for candidate in (cache, directory):
            try:
                if candidate.is_dir() and not candidate.is_symlink() and not any(candidate.iterdir()):
                    candidate.rmdir()
            except OSError:
                pass  # in use or not empty after all: leaving an empty directory loses nothing


def _read_log(log: Path) -> list[list[str]] | None:
    """The records of *log*; ``[]`` when there is none; ``None`` when it is not a journal this code wrote."""
    try:
        fd = os.open(log, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # a link planted in its place is not followed
    except FileNotFoundError:
        return []
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(_MAX_LOG + 1)
    except OSError:
        return None
    if len(data) > _MAX_LOG:
        return None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # killed while writing the last line: that step was never taken
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        shape = {"move": 3, "mkdir": 2, "commit": 1}
        if not (isinstance(record, list) and record and all(isinstance(f, str) for f in record)):
            return None
        if shape.get(record[0]) != len(record):
            return None
        records.append(record)
    return records


def _undo_records(root: Path, records: list[list[str]]) -> tuple[int, list[str]]:
    """Undo the logged moves of an interrupted change, newest first; return how many, and what could not be undone."""
    undone, problems = 0, []
    for record in reversed(records):
        if record[0] != "move":
            continue
        source, destination = confined(root, record[1]), confined(root, record[2])
        if source is None or destination is None:
            problems.append(f"{record[2]} -> {record[1]}: a path that leaves {root} (not a journal securehost wrote)")
            continue
        if not os.path.lexists(root / destination):
            continue  # the process died before this rename
        if os.path.lexists(root / source):
            problems.append(f"{destination} -> {source}: {source} exists")
            continue
        try:
            (root / source).parent.mkdir(parents=True, exist_ok=True)
            os.rename(root / destination, root / source)
            undone += 1
        except OSError as exc:
            problems.append(f"{destination} -> {source}: {exc}")
    for record in reversed(records):
        directory = confined(root, record[1]) if record[0] == "mkdir" else None
        if directory is not None:
            with contextlib.suppress(OSError):  # not empty: something lives there, keep it
                (root / directory).rmdir()
    return undone, problems


def recover(root: Path) -> list[str]:
    """Finish what an install, upgrade or uninstall killed in *root* left behind; return one line per thing done.

    Call it holding :func:`exclusive` on *root* (every scratch directory then belongs to a process that is gone). A
    scratch directory whose journal is not committed is rolled back (the version before the change comes back) and
    removed; a committed one, or one without a journal (the process died before it changed anything), is removed.
    When a step cannot be undone (a path exists at both ends, a journal this code did not write), the scratch
    directory stays, and the line names it: nothing is deleted that may be the only copy of a file.
    """
    notes: list[str] = []
    for scratch in sorted(root.glob(f"{SCRATCH_PREFIX}*")):
        if scratch.is_symlink() or not scratch.is_dir():
            continue
        records = _read_log(scratch / JOURNAL_LOG)
        if records is None:
            notes.append(f"{scratch.name}: its {JOURNAL_LOG} is not a journal securehost wrote; left in place")
            continue
        committed = bool(records) and records[-1] == ["commit"]
        if records and not committed:
            undone, problems = _undo_records(root, records)
            if problems:
                notes.append(
                    f"{scratch.name}: an interrupted change was rolled back only in part ({undone} file(s) put back); "
                    f"the rest is kept there: " + "; ".join(problems[:5])
                )
                continue
            notes.append(f"{scratch.name}: an interrupted change was rolled back ({undone} file(s) put back)")
        elif committed:  # the directories that its removals left empty go, as they would have at its end
            taken = [r[1] for r in records if r[0] == "move" and not r[1].startswith(SCRATCH_PREFIX)]
            prune_empty(root, [path for path in taken if confined(root, path) is not None])
            notes.append(f"{scratch.name}: a completed change left its scratch directory; removed")
        else:
            notes.append(f"{scratch.name}: an install that stopped before changing anything; removed")
        shutil.rmtree(scratch, ignore_errors=True)
    return notes
