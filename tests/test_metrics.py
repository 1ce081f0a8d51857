"""Stance metrics: CPD exactly as truth.json defines it, timing, validity, empty results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data_dir
from gaitimu.analysis.metrics import (
    STRIDE_COLUMNS,
    MetricSettings,
    empty_strides,
    stance_metrics,
)

FS = 100.0


def _truth_case(trial: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    d = shared_data_dir("virtual_imu_dev", trial)
    truth = json.loads((d / "truth.json").read_text())
    obl = pd.read_csv(d / "obliquity.csv")
    ev = pd.DataFrame(
        {
            "side": [s["side"][0].upper() for s in truth["stances"]],
            "ic_s": [s["ic_s"] for s in truth["stances"]],
            "fc_s": [s["fc_s"] for s in truth["stances"]],
            "activity": truth["activity"],
        }
    )
    return ev, obl, truth


@pytest.mark.parametrize("trial", ["gait2354_subject01_walk", "rajagopal_run"])
def test_cpd_reproduces_truth_from_the_true_obliquity(trial: str) -> None:
    ev, obl, truth = _truth_case(trial)
    st = stance_metrics(
        ev,
        obl,
        standing_obliquity_deg=truth["obliquity"]["standing_obliquity_deg"],
        sampling_rate_hz=truth["sampling_rate_hz"],
    )
    ref = pd.DataFrame(truth["stances"])
    assert np.allclose(st["cpd_ic_deg"], ref["cpd_from_ic_deg"], atol=0.02)
    assert np.allclose(st["cpd_standing_deg"], ref["cpd_vs_standing_deg"], atol=0.02)
    assert np.allclose(st["obliquity_ic_deg"], ref["obliquity_at_ic_deg"], atol=0.02)
    assert np.allclose(st["peak_drop_t_s"], ref["t_max_drop_s"], atol=0.011)
    assert np.allclose(st["stance_s"], ref["stance_time_s"], atol=1e-3)
    step_ref = ref["step_time_s"].astype(float)
    assert np.allclose(st["step_s"], step_ref, atol=1e-3, equal_nan=True)
    assert st["valid"].all() and (st["invalid_reason"] == "").all()
    if truth["activity"] == "run":
        assert (st["flight_s"].dropna() > 0.05).all()
        assert np.allclose(
            st["stride_s"], ref["stride_time_s"].astype(float), atol=1e-3, equal_nan=True
        )
    else:
        assert st["flight_s"].isna().all()


def _signals(obl_fn, duration_s: float = 6.0) -> pd.DataFrame:
    t = np.arange(0, duration_s, 1 / FS)
    return pd.DataFrame({"t_s": t, "obliquity_deg": obl_fn(t)})


def test_cpd_signs_left_and_right_stance() -> None:
    # Right stance 1.0-1.6 s: obliquity falls from 0 to -4 (left side drops) then back to -1.
    # Left stance 2.0-2.6 s: obliquity rises from 1 to 6 (right side drops).
    def obl(t):
        return np.interp(t, [0, 1.0, 1.3, 1.6, 2.0, 2.3, 2.6, 6], [0, 0, -4, -1, 1, 6, 2, 2])

    ev = pd.DataFrame({"side": ["R", "L"], "ic_s": [1.0, 2.0], "fc_s": [1.6, 2.6]})
    st = stance_metrics(ev, _signals(obl), standing_obliquity_deg=0.5, sampling_rate_hz=FS)
    r, left = st.iloc[0], st.iloc[1]
    assert r["side"] == "R" and r["cpd_ic_deg"] == pytest.approx(4.0)
    assert r["cpd_standing_deg"] == pytest.approx(4.5)
    assert r["peak_drop_t_s"] == pytest.approx(1.3)
    assert left["side"] == "L" and left["cpd_ic_deg"] == pytest.approx(5.0)
    assert left["cpd_standing_deg"] == pytest.approx(5.5)
    assert left["peak_drop_t_s"] == pytest.approx(2.3)
    assert left["step_s"] == pytest.approx(1.0)
    assert np.isnan(r["step_s"])


def test_no_drop_gives_zero_and_standing_nan_propagates() -> None:
    def obl(t):
        return np.interp(t, [0, 1, 1.5, 6], [0, 0, 3, 3])  # rises during a RIGHT stance

    ev = pd.DataFrame({"side": ["R"], "ic_s": [1.0], "fc_s": [1.5]})
    st = stance_metrics(ev, _signals(obl), sampling_rate_hz=FS)
    assert st["cpd_ic_deg"].iloc[0] == pytest.approx(0.0)
    assert st["peak_drop_t_s"].iloc[0] == pytest.approx(1.0)
    assert np.isnan(st["cpd_standing_deg"].iloc[0])


def test_stride_range_next_ic_and_flight() -> None:
    def obl(t):
        return 3 * np.sin(2 * np.pi * t)  # 1 s stride

    ev = pd.DataFrame(
        {
            "side": ["L", "R", "L", "R"],
            "ic_s": [1.0, 1.5, 2.0, 2.5],
            "fc_s": [1.3, 1.8, 2.3, 2.8],
            "activity": "run",
        }
    )
    st = stance_metrics(ev, _signals(obl), sampling_rate_hz=FS)
    assert st["next_ic_s"].tolist()[:3] == [1.5, 2.0, 2.5]
    assert np.isnan(st["next_ic_s"].iloc[-1])
    assert st["stride_s"].iloc[0] == pytest.approx(1.0)
    assert st["obliquity_range_deg"].iloc[0] == pytest.approx(6.0, abs=0.01)
    assert st["flight_s"].iloc[:3].tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert np.isnan(st["flight_s"].iloc[-1])  # no next contralateral IC


def test_events_in_other_bouts_are_not_linked() -> None:
    ev = pd.DataFrame(
        {
            "side": ["L", "R", "L"],
            "ic_s": [1.0, 1.5, 4.0],
            "fc_s": [1.3, 1.8, 4.3],
            "bout_id": [0, 0, 1],
        }
    )
    st = stance_metrics(ev, _signals(lambda t: 0 * t), sampling_rate_hz=FS)
    assert np.isnan(st["stride_s"].iloc[0])  # the next L IC is in another bout
    assert np.isnan(st["next_ic_s"].iloc[1])
    assert np.isnan(st["step_s"].iloc[2])


def test_ml_excursion_of_a_known_sway() -> None:
    # Sacrum sways +-2 cm sinusoidally at 1 Hz (stride), no obliquity: the stance (half a
    # stride, from a peak of velocity) sees the full 4 cm swing.
    t = np.arange(0, 6, 1 / FS)
    amp = 0.02
    sig = pd.DataFrame(
        {
            "t_s": t,
            "obliquity_deg": 0 * t,
            "acc_ml": -amp * (2 * np.pi) ** 2 * np.sin(2 * np.pi * t),
        }
    )
    ev = pd.DataFrame(
        {"side": ["L", "L", "L"], "ic_s": [1.75, 2.75, 3.75], "fc_s": [2.25, 3.25, 4.25]}
    )
    st = stance_metrics(ev, sig, sampling_rate_hz=FS)
    assert st["ml_excursion_m"].iloc[:2].tolist() == pytest.approx([2 * amp] * 2, rel=0.05)
    assert np.isnan(st["ml_excursion_m"].iloc[2])  # no next IC: stride unknown


def test_gaps_and_implausible_rows_are_invalid_with_reason() -> None:
    sig = _signals(lambda t: 0 * t)
    sig["valid"] = ~((sig["t_s"] > 2.1) & (sig["t_s"] < 2.2))
    ev = pd.DataFrame(
        {
            "side": ["L", "R", "L", "R"],
            "ic_s": [1.0, 2.0, 3.0, 4.0],
            "fc_s": [1.5, 2.5, 5.9, np.nan],
        }
    )
    st = stance_metrics(ev, sig, sampling_rate_hz=FS)
    assert st["valid"].tolist() == [True, False, False, False]
    assert st["invalid_reason"].tolist() == [
        "",
        "data gap in the stance",
        "implausible stance time",
        "end of a walk (no final contact)",
    ]


def test_timing_next_to_unmeasured_data_is_nan() -> None:
    """A contact next to (or in) a hole may be misplaced: step/stride/flight times whose
    interval spans an invalid sample, or has one within TIMING_GAP_GUARD_S of its ends, are
    NaN; the stances keep their own validity."""
    from gaitimu.analysis.metrics import TIMING_GAP_GUARD_S

    assert TIMING_GAP_GUARD_S == pytest.approx(0.1)
    sig = _signals(lambda t: 0 * t)
    sig["valid"] = ~((sig["t_s"] > 2.845) & (sig["t_s"] < 2.925))  # hole 2.85-2.92 s
    ev = pd.DataFrame(
        {
            "side": ["L", "R", "L", "R", "L", "R", "L"],
            "ic_s": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
            "fc_s": [1.3, 1.8, 2.3, 2.6, 3.3, 3.8, 4.3],
            "activity": "run",
        }
    )
    st = stance_metrics(ev, sig, sampling_rate_hz=FS)
    assert st["valid"].all()  # no stance contains the hole (it ends 80 ms before IC 3.0)
    # step 3.0-3.5 starts at the contact 80 ms after the hole: NaN by the guard
    assert st["step_s"].iloc[1:].isna().tolist() == [False, False, False, True, True, False]
    assert st["stride_s"].isna().tolist() == [False, False, True, True, True, True, True]
    assert st["flight_s"].isna().tolist() == [False, False, False, True, False, False, True]
    # without the guard only the intervals that contain the hole lose their time
    st0 = stance_metrics(
        ev, sig, sampling_rate_hz=FS, settings=MetricSettings(timing_gap_guard_s=0.0))
    assert st0["step_s"].iloc[1:].isna().tolist() == [False, False, False, True, False, False]
    assert st0["stride_s"].isna().tolist() == [False, False, True, True, False, True, True]


def test_empty_events_keep_columns_and_dtypes() -> None:
    st = stance_metrics(pd.DataFrame(columns=["side", "ic_s", "fc_s"]), _signals(lambda t: t))
    assert st.empty
    assert dict(st.dtypes.astype(str)) == {c: d for c, d in STRIDE_COLUMNS.items()}
    assert dict(empty_strides().dtypes.astype(str)) == dict(st.dtypes.astype(str))


def test_vectorised_speed_on_an_hour_of_strides() -> None:
    import time

    fs = 200.0
    t = np.arange(0, 3600, 1 / fs)
    sig = pd.DataFrame(
        {
            "t_s": t,
            "obliquity_deg": 3 * np.sin(2 * np.pi * t / 1.1),
            "acc_ml": np.sin(2 * np.pi * t / 1.1),
        }
    )
    ic = np.arange(1, 3598, 0.55)
    ev = pd.DataFrame(
        {"side": np.where(np.arange(ic.size) % 2 == 0, "L", "R"), "ic_s": ic, "fc_s": ic + 0.33}
    )
    t0 = time.perf_counter()
    st = stance_metrics(ev, sig, sampling_rate_hz=fs)
    assert time.perf_counter() - t0 < 1.5
    assert len(st) == ic.size and st["valid"].all()


def test_turn_stances_are_invalid_unless_kept() -> None:
    ev = pd.DataFrame(
        {"side": ["L", "R"], "ic_s": [1.0, 2.0], "fc_s": [1.5, 2.5], "turn": [False, True]}
    )
    sig = _signals(lambda t: 0 * t)
    st = stance_metrics(ev, sig, sampling_rate_hz=FS)
    assert st["valid"].tolist() == [True, False]
    assert st["invalid_reason"].tolist() == ["", "turn"]
    assert st["turn"].tolist() == [False, True]
    keep_turns = MetricSettings(exclude_turns=False)
    assert stance_metrics(ev, sig, sampling_rate_hz=FS, settings=keep_turns)["valid"].all()


def test_metric_settings_take_effect_and_are_frozen() -> None:
    """A caller's limits replace the defaults (the module constants); the settings object
    is frozen and hashable."""
    import dataclasses

    from gaitimu.analysis import metrics

    cfg = MetricSettings()
    assert (cfg.min_stance_s, cfg.max_stance_s, cfg.max_abs_obliquity_deg) == (
        metrics.MIN_STANCE_S, metrics.MAX_STANCE_S, metrics.MAX_ABS_OBLIQUITY_DEG)
    assert cfg.timing_gap_guard_s == metrics.TIMING_GAP_GUARD_S
    assert cfg.exclude_turns is metrics.EXCLUDE_TURNS
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_stance_s = 1.0  # type: ignore[misc]
    assert hash(cfg) == hash(MetricSettings()) and cfg == MetricSettings()
    assert MetricSettings(max_stance_s=0.4) != cfg

    ev = pd.DataFrame({"side": ["L", "R"], "ic_s": [1.0, 2.0], "fc_s": [1.3, 2.6]})
    sig = _signals(lambda t: 5.0 + 0 * t)
    st = stance_metrics(ev, sig, sampling_rate_hz=FS)
    assert st["valid"].all()
    # a stricter stance-time limit drops the 0.6 s stance the default keeps
    st = stance_metrics(ev, sig, sampling_rate_hz=FS, settings=MetricSettings(max_stance_s=0.5))
    assert st["invalid_reason"].tolist() == ["", "implausible stance time"]
    # a stricter obliquity limit drops both (the obliquity is 5 deg)
    st = stance_metrics(
        ev, sig, sampling_rate_hz=FS, settings=MetricSettings(max_abs_obliquity_deg=3.0))
    assert st["invalid_reason"].tolist() == ["implausible obliquity"] * 2
    assert stance_metrics(None, sig, settings=cfg).empty  # type: ignore[arg-type]
