"""Logging a folder never uploads what its links point to outside it (``/etc/passwd`` behind a link)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

import loopwright as lw


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``data/`` with a file and a subfolder, and a secret file beside it."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("a")
    (data / "sub" / "b.txt").write_text("b")
    (tmp_path / "secret.txt").write_text("the secret next door")
    return data


def _stored_nothing(run_id: str, *secrets: Path) -> None:
    assert lw.list_artifacts(run_id) == []
    blobs = lw.get_client().blobs
    for secret in secrets:
        assert not blobs.exists(hashlib.sha256(secret.read_bytes()).hexdigest()), secret


LOG_CALLS: dict[str, Callable[[Path], object]] = {
    "log_artifact": lambda folder: lw.log_artifact(folder, "inputs"),
    "log_artifacts": lambda folder: lw.log_artifacts(folder, "inputs"),
}


@pytest.mark.parametrize("call", list(LOG_CALLS))
def test_a_file_link_leaving_the_folder_is_refused(sqlite_env: Path, folder: Path, call: str) -> None:
    (folder / "passwd").symlink_to("/etc/passwd")
    with lw.start_run() as run, pytest.raises(lw.InvalidInput, match=r"passwd.*outside the folder"):
        LOG_CALLS[call](folder)
    _stored_nothing(run.id, Path("/etc/passwd"))


@pytest.mark.parametrize("call", list(LOG_CALLS))
def test_a_relative_link_climbing_out_is_refused(sqlite_env: Path, folder: Path, call: str) -> None:
    (folder / "sub" / "next-door.txt").symlink_to("../../secret.txt")
    with lw.start_run() as run, pytest.raises(lw.InvalidInput, match=r"next-door\.txt.*secret\.txt"):
        LOG_CALLS[call](folder)
    _stored_nothing(run.id, folder.parent / "secret.txt")


@pytest.mark.parametrize("call", list(LOG_CALLS))
def test_a_folder_link_leaving_the_folder_is_refused(sqlite_env: Path, folder: Path, call: str) -> None:
    outside = folder.parent / "outside"
    outside.mkdir()
    (outside / "key.pem").write_text("private key")
    (folder / "sub" / "escape").symlink_to(outside, target_is_directory=True)
    with lw.start_run() as run, pytest.raises(lw.InvalidInput, match=r"escape.*outside the folder"):
        LOG_CALLS[call](folder)
    _stored_nothing(run.id, outside / "key.pem")


def test_a_link_back_up_is_a_loop(sqlite_env: Path, folder: Path) -> None:
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    with lw.start_run() as run, pytest.raises(lw.InvalidInput, match="loop"):
        lw.log_artifact(folder)
    _stored_nothing(run.id)


def test_links_inside_the_folder_are_stored_under_their_names(sqlite_env: Path, folder: Path) -> None:
    (folder / "alias.txt").symlink_to("a.txt")
    (folder / "sub-again").symlink_to("sub", target_is_directory=True)
    with lw.start_run() as run:
        refs = lw.log_artifact(folder)
    assert sorted(r.path for r in refs) == [
        "data/a.txt",
        "data/alias.txt",
        "data/sub-again/b.txt",
        "data/sub/b.txt",
    ]
    assert lw.load_text(run.id, "data/alias.txt") == "a"
    assert lw.load_text(run.id, "data/sub-again/b.txt") == "b"


def test_a_folder_reached_through_a_link_is_logged(sqlite_env: Path, folder: Path) -> None:
    link = folder.parent / "current"
    link.symlink_to(folder, target_is_directory=True)  # the folder itself may be a link
    with lw.start_run() as run:
        lw.log_artifacts(link)
    assert [a.path for a in lw.list_artifacts(run.id)] == ["a.txt", "sub/b.txt"]
