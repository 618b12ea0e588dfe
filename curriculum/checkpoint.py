"""Atomic save and load of the curriculum's side file inside `checkpoint-N/`."""

from __future__ import annotations

import glob
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

__all__: list[str] = []

STATE_FILE = "curriculum_state.npz"
_TMP_PREFIX, _TMP_SUFFIX = ".curriculum_state.", ".tmp"


class StateFileError(ValueError):
    """A curriculum state file cannot be read (truncated or corrupt). The message names the file and what to do."""


def save_state(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write `arrays` and the JSON-serialisable `meta` to `path` atomically (temporary file, fsync, rename).

    Temporary files left in the folder by writes that were killed (`.curriculum_state.*.tmp`) are removed first.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(directory)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0o600; give the file the permissions of the other checkpoint files
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _remove_stale_temporaries(directory: str) -> None:
    """Remove the temporary files of earlier writes into `directory` that never finished (the process was killed)."""
    for stale in glob.glob(os.path.join(glob.escape(directory), f"{_TMP_PREFIX}*{_TMP_SUFFIX}")):
        try:
            os.remove(stale)
        except FileNotFoundError:
            pass


def load_state(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by [`save_state`]: `(arrays, meta)`.

    Raises [`StateFileError`] (a `ValueError`) naming the file when it is truncated or corrupt, and
    `FileNotFoundError` when it does not exist.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
            meta = json.loads(str(data["__meta__"]))
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, TypeError, OSError) as err:
        raise StateFileError(
            f"{path} cannot be read: it is truncated, corrupt or not a curriculum state file ({type(err).__name__}: "
            f"{err}). The curriculum writes it atomically, so a damaged one was damaged afterwards (a partial copy, "
            "a full disk). Resume from an earlier checkpoint whose curriculum_state.npz is intact, or start a new run."
        ) from err
    if not isinstance(meta, dict):
        raise StateFileError(f"{path} is not a curriculum state file (its metadata is {meta!r}, not a mapping)")
    return arrays, meta
