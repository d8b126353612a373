"""Atomic file writes: a result is either complete or absent, never truncated.

The data goes to a hidden temporary file in the destination folder (``.<name>.<random>.partial``),
which is renamed over the destination only once it is complete; on any error (or Ctrl-C) the
temporary file is removed. A rename within one folder is atomic, so an interrupted program never
leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_json"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path to write to; it replaces ``path`` when the block ends without error."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes it private; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path: Path, content, *, sync: bool = False) -> None:
    """Write ``content`` as indented JSON, atomically (``sync`` also flushes it to disk first)."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(content, stream, indent=2)
            stream.write("\n")
            if sync:
                stream.flush()
                os.fsync(stream.fileno())


def check_target(path: Path, *, overwrite: bool) -> None:
    """Refuse to write over an existing file (unless ``overwrite``) or into a missing folder."""
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists and was left untouched. Choose another name, or pass "
            "`overwrite=True` to replace it."
        )
    if not path.parent.exists():
        raise FileNotFoundError(f"The folder {path.parent} does not exist; create it first.")
