"""The private temp folders that hold a loaded model's files.

A folder lives as long as its :class:`~loopwright.models.LoadedModel`; a killed process never removes
its own, so each folder is named after its owner (``loopwright-model-<pid>-<pid space>-…``) and the
first model load in a process removes the folders whose owner is gone.

Examples
--------
>>> import os, shutil
>>> folder = new_model_folder()
>>> folder.name.startswith(f"loopwright-model-{os.getpid()}-"), oct(folder.stat().st_mode & 0o777)
(True, '0o700')
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from loopwright.processes import pid_space_tag, process_gone

log = logging.getLogger(__name__)

PREFIX = "loopwright-model-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-([0-9a-f]{{8}})-")


def new_model_folder() -> Path:
    """A new private (0700) folder for one model's files, named after this process."""
    _remove_orphans_once()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{pid_space_tag()}-"))


def remove_orphaned_model_folders(root: Path | None = None) -> list[Path]:
    """Remove the model folders (in ``root``, default the temp dir) whose owning process is gone.

    Folders of live processes, of other pid spaces (another container sharing the folder) and
    without an owner in their name are left alone.
    """
    removed = []
    for entry in (Path(tempfile.gettempdir()) if root is None else root).glob(f"{PREFIX}*"):
        owner = _OWNED.match(entry.name)
        if owner is None or entry.is_symlink() or not entry.is_dir():
            continue
        if process_gone(int(owner.group(1)), owner.group(2)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.info("removed %d model folder(s) of processes that are gone", len(removed))
    return removed


@functools.cache
def _remove_orphans_once() -> None:
    remove_orphaned_model_folders()
