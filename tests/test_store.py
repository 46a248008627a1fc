"""Results folders: written whole or not at all, recorded, locked, verified on reading."""

import json
import os
import subprocess
import sys
import time

import pytest

from sweep import run_sweep
from sweep.store.folder import LOCK, RECORD, claim, read_record, verify
from sweep.store.results import StoreError, read_results, write_results


def test_round_trip_keeps_values_dtypes_and_config(tmp_path):
    frame = run_sweep([0.1, 0.4, 2.0], [-1.0, 2.0])
    config = frame.attrs["config"]
    with claim(tmp_path / "out") as folder:
        write_results(folder, frame, config)
    back, back_config = read_results(tmp_path / "out")
    assert back.equals(frame)
    assert back["outcome"].dtype == frame["outcome"].dtype
    assert back_config == json.loads(json.dumps(config))
    assert set(read_record(tmp_path / "out")) == {"runs.parquet", "sweep.json"}


def test_interrupted_batch_leaves_nothing(tmp_path):
    def half(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with claim(tmp_path / "new") as folder:
            folder.write({"a.txt": b"whole", "b.txt": half})
    # The folder was made by the command and holds nothing of its own: it is gone again.
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    with claim(tmp_path / "kept") as folder:
        folder.write({"a.txt": b"first"})
    with pytest.raises(KeyboardInterrupt):
        with claim(tmp_path / "kept") as folder:
            folder.write({"a.txt": b"second", "b.txt": half})
    assert (tmp_path / "kept" / "a.txt").read_bytes() == b"first" and not (tmp_path / "kept" / "b.txt").exists()
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == sorted(["a.txt", RECORD, LOCK])


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write results"):
        with claim(blocker / "sub"):
            pass
    with pytest.raises(StoreError, match="is a file, not a folder"):
        with claim(blocker):
            pass
    with pytest.raises(StoreError, match="holds no sweep results"):
        read_results(tmp_path)


def test_a_folder_with_files_sweep_did_not_write_is_refused_and_kept(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "report.html").write_text("my own report")
    with pytest.raises(StoreError, match=r"holds files sweep did not write \(notes.txt, report.html\)"):
        with claim(out):
            pass
    assert (out / "notes.txt").read_text() == "my notes" and (out / "report.html").read_text() == "my own report"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.html"]  # not even a lock file left
    # A file added later beside sweep's own is refused too, and kept.
    with claim(tmp_path / "ours") as folder:
        folder.write({"a.txt": b"ours"})
    (tmp_path / "ours" / "sub").mkdir()
    (tmp_path / "ours" / "sub" / "x.png").write_bytes(b"user")
    with pytest.raises(StoreError, match="sub/"):
        with claim(tmp_path / "ours"):
            pass


def test_keep_only_removes_only_recorded_files(tmp_path):
    with claim(tmp_path / "f") as folder:
        folder.write({"old.png": b"1", "frames/frame-00.parquet": b"2", "keep.txt": b"3"})
        folder.keep_only(["keep.txt"])
    assert sorted(p.name for p in (tmp_path / "f").iterdir() if not p.name.startswith(".")) == ["keep.txt", RECORD]
    assert set(read_record(tmp_path / "f")) == {"keep.txt"}


def test_record_verifies_and_survives_a_torn_line(tmp_path):
    with claim(tmp_path / "f") as folder:
        folder.write({"a.bin": b"abc", "b.bin": b"def"})
    assert verify(tmp_path / "f", ["a.bin", "b.bin"]) == []
    (tmp_path / "f" / "b.bin").write_bytes(b"dEf")
    assert verify(tmp_path / "f", ["a.bin", "b.bin", "c.bin"]) == ["b.bin", "c.bin"]
    with open(tmp_path / "f" / RECORD, "a") as handle:
        handle.write('{"name": "a.bin", "si')  # a command killed mid-line
    assert set(read_record(tmp_path / "f")) == {"a.bin", "b.bin"}


HOLD = "import sys, time; from sweep.store.folder import claim\nwith claim(sys.argv[1], command='the holder'):\n    print('held', flush=True); time.sleep(60)\n"


def test_second_writer_is_refused_naming_the_holder_and_a_killed_holder_is_stale(tmp_path):
    out = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=rf"being written by process {holder.pid} on .* \(the holder\)"):
            with claim(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the killed process's lock: the folder is free again.
    started = time.perf_counter()
    with claim(out) as folder:
        folder.write({"x": b"1"})
    assert time.perf_counter() - started < 5 and (out / "x").read_bytes() == b"1"


def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    from sweep.cli import main

    long = tmp_path / ("d" * 300)
    assert main(["run", "--lr", "0.1", "--w0", "1", "--out", str(long)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than the 255 a file system allows" in err
    assert not os.path.exists(long)


def test_a_record_naming_paths_outside_its_folder_deletes_nothing(tmp_path):
    # A hand-edited or copied record must not make sweep remove files elsewhere.
    with claim(tmp_path / "out") as folder:
        folder.write({"a.txt": b"mine"})
    victims = [tmp_path / "victim.txt", tmp_path / "victim2.txt"]
    for victim in victims:
        victim.write_text("keep me")
    for name in ("../victim.txt", str(victims[1]), "sub/../../victim.txt"):
        record = tmp_path / "out" / RECORD
        saved = record.read_text()
        record.write_text(saved + json.dumps({"name": name, "size": 7, "sha256": "00"}) + "\n" + json.dumps({"name": "a.txt", "size": 4, "sha256": "00"}) + "\n")
        with pytest.raises(StoreError, match="a path outside its folder"):
            with claim(tmp_path / "out") as folder:
                folder.keep_only([])
        record.write_text(saved)
    assert all(victim.read_text() == "keep me" for victim in victims)
