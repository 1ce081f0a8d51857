"""The ground truth of a simulation (step 9 of `simulate`): true signals and events.

``truth_arrays`` are the true pelvis signals on the full sample grid; ``truth_record`` is the
JSON-able truth a session stores (`SimResult.truth`; docs/simulator.md lists every key): one
dict per complete stance with its exact CPD, the partial stances of the gait fade-in/out,
the turns, the misalignment, biases, lost packets and the resolved config.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gaitimu.consts import DEFAULT_AXES
from gaitimu.simulate.config import SimConfig
from gaitimu.simulate.imu import IdealImu, Measured, rotation_world_pelvis
from gaitimu.simulate.jets import Jet
from gaitimu.simulate.kinematics import GaitWindow, PelvisMotion
from gaitimu.simulate.packets import Transmission
from gaitimu.simulate.timing import GaitTiming, edge_stances


def truth_arrays(timing: GaitTiming, window: GaitWindow, motion: PelvisMotion, obliquity: Jet,
                 cfg: SimConfig) -> dict[str, np.ndarray]:
    """True signals on the full grid: pelvis angles, heading, phase, displacements, speed."""
    arrays = {
        "t_s": timing.t,
        "obliquity_deg": obliquity[0],
        "tilt_deg": motion.tilt[0],
        "rotation_deg": motion.rotation[0],
        "heading_deg": np.rad2deg(window.heading[0]),
        "phase": timing.phase[0],
        "vertical_m": motion.up[0],
        "ml_m": motion.right[0],
        "ap_m": motion.forward[0],
        "speed_mps": window.speed[0],
    }
    arrays.update(sensor_displacement(arrays, np.asarray(cfg.sensor_offset_m, float),
                                       cfg.standing_obliquity_deg, cfg.standing_tilt_deg))
    return arrays


def truth_record(cfg: SimConfig, r: dict[str, Any], timing: GaitTiming, window: GaitWindow,
                 stances: dict[str, np.ndarray], ideal: IdealImu, measured: Measured,
                 link: Transmission) -> dict[str, Any]:
    """The JSON-able truth: the gait (events, CPD), then the sensor and the radio, then ``r``.

    ``stances`` are the stance rows with their CPD (`obliquity.solve_obliquity`).
    """
    return {**_gait_truth(cfg, r, timing, window, stances),
            **sensor_truth(cfg, timing.t.size, ideal, measured, link), "config": r}


def _gait_truth(cfg: SimConfig, r: dict[str, Any], timing: GaitTiming, window: GaitWindow,
                stances: dict[str, np.ndarray]) -> dict[str, Any]:
    """Events, edge stances, standing and gait windows, turns, cadence and the CPD means."""
    return {
        "source": "gaitimu.simulate",
        "activity": cfg.activity,
        "events": _events_list(stances, window.turns),
        "edge_stances": edge_stances(timing, timing.t_gait0 - window.ramp_s,
                                     timing.t_stop + window.ramp_s),
        "standing_obliquity_deg": cfg.standing_obliquity_deg,
        "standing_tilt_deg": cfg.standing_tilt_deg,
        "gait_obliquity_offset_deg": stances["gait_obliquity_offset_deg"],
        "standing_s": [0.0, float(min(cfg.standing_s, cfg.duration_s))],
        "gait_s": [float(timing.t_gait0), float(min(timing.t_gait1, timing.t_stop))],
        "turns": window.turns,
        "cadence_spm": r["cadence_spm"],
        "speed_mps": r["speed_mps"],
        "duty_factor": timing.duty,
        "cpd_definition": (
            "stance of side S (IC_S..FC_S), from the true obliquity on the sample grid plus the "
            "exact values at IC and FC: left stance max(obl) - ref, right stance ref - min(obl); "
            "ref = obliquity at IC_S (cpd_ic_deg) or the standing obliquity (cpd_standing_deg)"
        ),
        "cpd_mean_deg": {
            side: _mean(stances["cpd_standing_deg"][stances["complete"]
                                                    & (stances["side"] == side)])
            for side in ("L", "R")
        },
    }


def sensor_truth(cfg: SimConfig, n: int, ideal: IdealImu, measured: Measured,
                 link: Transmission) -> dict[str, Any]:
    """Misalignment, lever arm, biases, noise, clipping, lost packets and gaps, frames
    (``n`` samples generated)."""
    r_sn = ideal.r_sensor_to_nominal
    return {
        "misalignment": {
            "R_sensor_to_nominal": r_sn.tolist(),
            "angle_deg": float(np.rad2deg(np.arccos(np.clip((np.trace(r_sn) - 1) / 2, -1, 1)))),
            "convention": "v_nominal = R_sensor_to_nominal @ v_sensor; nominal = (x up, y right, "
                          "z forward) pelvis frame",
        },
        "sensor_offset_m": list(cfg.sensor_offset_m),
        "gyr_bias_dps": measured.gyr_bias_dps.tolist(),
        "acc_bias_mps2": measured.acc_bias_mps2.tolist(),
        "noise": {"gyr_white_rms_dps": cfg.gyr_noise_dps, "acc_white_rms_mps2": cfg.acc_noise_mps2},
        "n_samples_clipped": measured.n_clipped,
        "n_samples_generated": n,
        "lost_packets": link.lost,
        "lost_samples": int(n - link.t_s.size),
        "gaps": link.gaps,
        "frames": {
            "sensor": DEFAULT_AXES + " (nominal, before the misalignment)",
            "world": "X forward (initial heading), Y left, Z up; g_world = (0, 0, -g)",
            "angles": "obliquity > 0 left hemipelvis up; tilt > 0 anterior; rotation > 0 "
                      "pelvis turned left (right hemipelvis forward); heading > 0 turned left",
        },
    }


def _events_list(rows: dict[str, np.ndarray], turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per complete stance, as strides.csv names its columns (times rounded to 1 us)."""
    out = []
    for j in np.flatnonzero(rows["complete"]).tolist():
        ic, fc = float(rows["ic_s"][j]), float(rows["fc_s"][j])
        nxt = float(rows["next_ic_s"][j])
        nxt_same = float(rows["stride_end_s"][j])
        out.append({
            "side": str(rows["side"][j]),
            "ic_s": round(ic, 6),
            "fc_s": round(fc, 6),
            "next_ic_s": round(nxt, 6) if np.isfinite(nxt) else None,
            "stance_s": round(fc - ic, 6),
            "step_s": round(nxt - ic, 6) if np.isfinite(nxt) else None,
            "stride_s": round(nxt_same - ic, 6) if np.isfinite(nxt_same) else None,
            "cpd_ic_deg": round(float(rows["cpd_ic_deg"][j]), 6),
            "cpd_standing_deg": round(float(rows["cpd_standing_deg"][j]), 6),
            "target_cpd_deg": round(float(rows["target_cpd_deg"][j]), 6),
            "obliquity_at_ic_deg": round(float(rows["obliquity_at_ic_deg"][j]), 6),
            "in_turn": any(tr["start_s"] - 0.5 < fc and ic < tr["end_s"] + 0.5 for tr in turns),
        })
    return out


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if x.size else None


def sensor_displacement(ta: dict[str, np.ndarray], r_sensor: np.ndarray, obl0: float,
                         tilt0: float) -> dict[str, np.ndarray]:
    """Sensor-point (sacrum) displacement in the path frame, relative to quiet standing."""
    zero = np.zeros(1)
    lever = rotation_world_pelvis(ta["obliquity_deg"], ta["tilt_deg"], ta["rotation_deg"]) @ r_sensor
    lever0 = (rotation_world_pelvis(zero + obl0, zero + tilt0, zero) @ r_sensor)[0]
    d = lever - lever0  # path axes: forward, left, up
    return {"sensor_ap_m": ta["ap_m"] + d[:, 0], "sensor_ml_m": ta["ml_m"] - d[:, 1],
            "sensor_vertical_m": ta["vertical_m"] + d[:, 2]}

