"""Moves inside one file system that can all be undone: the swap of an install or an uninstall.

Every change to the plugin directory is a rename, either of a file out of it into a scratch directory (the backup)
or of a staged file into it. When any step fails, :meth:`Journal.rollback` renames everything back in reverse
order, so the directory holds the old version again. The scratch directory lives inside the plugin directory (a
hidden ``.securehost-*`` directory), so every rename stays on one file system.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Journal", "exclusive", "prune_empty"]


@contextlib.contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the plugin directory *root* (``flock`` on the directory itself, no lock file).

    Two installs, upgrades or uninstalls in one directory at once would each judge a state the other is changing.
    Where ``fcntl`` does not exist (Windows) there is no lock.

    Raises:
        ConfigurationError: another process holds the lock.
        OSError: the directory cannot be opened.
    """
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConfigurationError(
                f"another securehost install, upgrade or uninstall is changing {root}: try again when it has finished"
            ) from exc
        yield
    finally:
        os.close(fd)


class Journal:
    """A list of renames done so far, undone by :meth:`rollback`."""

    def __init__(self) -> None:
        self._moves: list[tuple[Path, Path]] = []
        self._created: list[Path] = []

    def move(self, source: Path, destination: Path) -> None:
        """Rename *source* to *destination*, creating its parent directories; never replace a file.

        Raises:
            FileExistsError: *destination* exists already.
            OSError: the rename fails.
        """
        self._makedirs(destination.parent)
        if os.path.lexists(destination):
            raise FileExistsError(f"{destination} exists already")
        os.rename(source, destination)
        self._moves.append((source, destination))

    def _makedirs(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
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
