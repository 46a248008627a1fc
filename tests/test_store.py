import json

import pytest

from sweep import run_sweep
from sweep.store import StoreError, atomic_path, prepare_out_dir, read_results, write_results


def test_round_trip_keeps_values_dtypes_and_config(tmp_path):
    frame = run_sweep([0.1, 0.4, 2.0], [-1.0, 2.0])
    config = frame.attrs["config"]
    write_results(frame, prepare_out_dir(tmp_path / "out"), config)
    back, back_config = read_results(tmp_path / "out")
    assert back.equals(frame)
    assert back["outcome"].dtype == frame["outcome"].dtype
    assert back_config == json.loads(json.dumps(config))


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "file.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write results"):
        prepare_out_dir(blocker / "sub")
    with pytest.raises(StoreError, match="holds no sweep results"):
        read_results(tmp_path)
