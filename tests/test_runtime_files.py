"""runtime.files: every results file is replaced atomically and durably, and a failed write leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from effsearch.runtime import files, results


def test_a_write_replaces_the_old_file_and_leaves_no_temporary_file_even_when_serializing_fails(tmp_path: Path):
    target = tmp_path / "trials.csv"
    target.write_text("old\n")
    files.atomic_write_text(target, "number,accuracy\n0,0.5\n")
    assert target.read_text() == "number,accuracy\n0,0.5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]
    plain = tmp_path / "plain"
    plain.write_text("")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # as any file the user makes, not mkstemp's 0600
    plain.unlink()

    checkpoint = tmp_path / "checkpoint.pt"
    files.atomic_torch_save(checkpoint, {"epoch": 1})
    before = checkpoint.read_bytes()
    with pytest.raises(Exception, match=r"lambda|pickle"):  # torch.save fails while pickling, its file open
        files.atomic_torch_save(checkpoint, {"epoch": 2, "hook": lambda: None})
    with pytest.raises(RuntimeError, match="serializer"), files.atomic_path(tmp_path / "model.pt2") as tmp:
        assert tmp.suffix == ".pt2" and tmp.parent == tmp_path and tmp.name.startswith(".model.")
        tmp.write_bytes(b"half a file")
        raise RuntimeError("the serializer failed")
    assert checkpoint.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "trials.csv"]
    assert results.atomic_write_json is files.atomic_write_json  # the old home of the writers still serves them


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files through /proc (Linux)")
def test_the_file_and_its_folder_are_fsynced_where_the_system_allows(tmp_path: Path, monkeypatch):
    synced: list[str] = []
    real_fsync, real_open = os.fsync, os.open
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    files.atomic_write_json(tmp_path / "run.json", {"kind": "baseline"})
    assert synced[-1] == str(tmp_path) and synced[-2].startswith(str(tmp_path / ".run."))

    def no_folders(path, flags, *args):  # Windows: a folder cannot be opened, so it is not synced
        if Path(path).is_dir():
            raise PermissionError(13, "Access is denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_folders)
    files.atomic_write_json(tmp_path / "run.json", {"kind": "scale"})
    assert (tmp_path / "run.json").read_text() == '{\n  "kind": "scale"\n}\n'
