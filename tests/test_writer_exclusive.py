"""Two writers on one path (issue 17, item 11): exactly one creates the session."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gaitimu.errors import BadInputError
from gaitimu.sessions import open_session
from gaitimu.sessions.writer import SessionWriter


def test_simultaneous_writers_never_share_a_session(tmp_path):
    meta = {"sample_rate_hz": 100.0, "axes": "x=up,y=right,z=forward"}
    for k in range(40):
        path = tmp_path / f"s{k}.gaitimu"
        barrier = threading.Barrier(2)
        results: list[object] = [None, None]

        def create(i: int, path=path, barrier=barrier, results=results) -> None:
            barrier.wait()
            try:
                w = SessionWriter(path, dict(meta, notes=f"writer {i}"), fsync=False)
            except BadInputError as e:
                results[i] = e
                return
            t = np.arange(50) / 100.0
            w.write_samples(t, np.tile([9.81, 0, 0], (50, 1)), np.zeros((50, 3)))
            w.close()
            results[i] = "ok"

        threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results.count("ok") == 1, results
        loser = next(r for r in results if r != "ok")
        assert isinstance(loser, BadInputError) and str(path) in str(loser)
        s = open_session(path)
        assert s.n_samples == 50  # one writer's stream only
        assert not (path / ".writing").exists()  # claim released on a clean close


def test_an_existing_session_is_never_written_into(tmp_path):
    path = tmp_path / "a.gaitimu"
    with SessionWriter(path, {"sample_rate_hz": 100.0}, fsync=False):
        pass
    with pytest.raises(BadInputError, match="already exists"):
        SessionWriter(path, {"sample_rate_hz": 100.0}, fsync=False)


def test_import_onto_a_session_created_meanwhile_is_refused(tmp_path, monkeypatch):
    """The import writes beside --out and renames at the end: if another process created
    --out in between, the import stops with one line and leaves that session intact."""
    import pandas as pd

    from gaitimu.sessions import importer

    csv = tmp_path / "in.csv"
    t = np.arange(300) / 100.0
    pd.DataFrame({"t_s": t, "acc_x": 9.81, "acc_y": 0.0, "acc_z": 0.0, "gyr_x": 0.0,
                  "gyr_y": 0.0, "gyr_z": 0.0}).to_csv(csv, index=False)
    out = tmp_path / "out.gaitimu"
    real = importer.SessionWriter

    class Racing(real):  # another writer creates --out while this import runs
        def close(self) -> None:
            super().close()
            if not out.exists():
                with real(out, {"sample_rate_hz": 50.0, "notes": "other"}, fsync=False):
                    pass

    monkeypatch.setattr(importer, "SessionWriter", Racing)
    with pytest.raises(BadInputError, match="already exists"):
        importer.import_csv(csv, out, rate_hz=100.0, axes="x=up,y=right,z=forward")
    assert open_session(out).meta.get("notes") == "other"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
