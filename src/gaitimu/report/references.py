"""Reference values, decision thresholds, fixed wording and exercise guidance for reports.

Everything clinical that a report says comes from here, so that it can be reviewed in one
place. Sources are the project's domain notes (shared/domain/GLUTE_MED.md). Values marked
``"kind": "product"`` are product choices, NOT literature cut-offs; docs/report.md explains
each one.
"""

from __future__ import annotations

DISCLAIMER = (
    "gaitimu is not a medical device. It measures pelvic motion from one sensor and flags "
    "patterns; it does not diagnose. See a physiotherapist for an assessment, especially if "
    "you have pain."
)

#: Minimum number of valid strides per side before any flag is raised.
MIN_STRIDES_PER_SIDE = 20

#: Left/right CPD difference (degrees) a flag needs the whole 95 % CI to clear.
#: Product choice: about the size of one standard deviation of stride-to-stride CPD in
#: running and below the 2.7-4.5 degree absolute frontal-plane IMU error of Bolink 2016
#: (a left-right *difference* of the same sensor cancels most of that error: mounting offsets
#: and slow drift affect both sides alike). Not a clinical cut-off.
CPD_ASYMMETRY_THRESHOLD_DEG = 2.0

#: Absolute CPD (degrees) above which a side is flagged regardless of the other side.
#: None: no verified literature value. Bramah et al. 2018 report that each extra degree of
#: peak CPD raised the odds of being an injured runner by about 80 %, but the group means
#: (injured vs control) could not be verified for this project, so no cut-off is invented.
CPD_ABSOLUTE_THRESHOLD_DEG: float | None = None

#: Change of CPD over a session (degrees, from the fitted linear trend) that, with a slope
#: whose CI excludes zero, is flagged as a within-session (fatigue) trend. Product choice,
#: same size as the asymmetry threshold.
CPD_TREND_THRESHOLD_DEG = 2.0

REFERENCES: list[dict] = [
    {
        "id": "bramah2018",
        "citation": "Bramah C, Preece SJ, Gill N, Herrington L. Is there a pathological gait "
        "associated with common soft tissue running injuries? Am J Sports Med "
        "2018;46(12):3023-31.",
        "finding": "72 injured vs 36 uninjured runners (treadmill 3.2 m/s, 3D motion capture): "
        "peak contralateral pelvic drop was the strongest single predictor of being injured; "
        "each extra degree raised the odds by about 80 %.",
        "value": None,
        "note": "Group means not verified for this project: no absolute CPD cut-off is "
        "applied.",
        "kind": "literature",
    },
    {
        "id": "perpina2023",
        "citation": "Perpiñá-Martínez S, et al. IJERPH 2023;20(4):3631.",
        "finding": "Running pelvic obliquity range of motion measured with IMUs: about "
        "7.8-9.3 degrees across sexes and speeds.",
        "value": [7.8, 9.3],
        "metric": "obliquity_range_deg",
        "activity": "run",
        "kind": "literature",
    },
    {
        "id": "bolink2016",
        "citation": "Bolink SAAN, et al. Med Eng Phys 2016;38(3):225-31.",
        "finding": "IMU vs optical pelvic angles in gait: frontal-plane RMSE 2.7-4.5 degrees.",
        "value": [2.7, 4.5],
        "metric": "measurement_error_deg",
        "kind": "literature",
    },
    {
        "id": "asymmetry_threshold",
        "citation": "gaitimu product default (docs/report.md).",
        "finding": "Left/right CPD difference a flag needs the whole 95 % CI to clear.",
        "value": CPD_ASYMMETRY_THRESHOLD_DEG,
        "metric": "cpd_deg difference",
        "kind": "product",
    },
    {
        "id": "gct_balance",
        "citation": "Common running-metrics convention (GLUTE_MED.md symmetry measures).",
        "finding": "Ground contact time balance: 50 % = symmetric (share of the left stance).",
        "value": 50.0,
        "metric": "gct_balance_left_pct",
        "kind": "convention",
    },
]

EXERCISES = {
    "early": {
        "title": "Early stage / low load (pain present, re-learning control)",
        "items": [
            "Side-lying hip abduction: top leg straight and slightly behind the body, toes "
            "forward, lift without rolling the pelvis back (12-15 reps).",
            "Clamshell: side-lying, knees bent about 90 degrees, open the top knee without "
            "rolling back; band above the knees to progress (hold 3-5 s, 10-20 reps).",
            "Side-lying isometric heel press into a wall, building to 40-60 s holds.",
            "Hip hike standing sideways on a step: the free hip rises and falls, stance knee "
            "straight.",
            "Short side plank from the knees; single-leg bridge.",
        ],
    },
    "loaded": {
        "title": "Later stage / loaded (return to running, progressive load)",
        "items": [
            "Lateral step-down from a 5-10 cm step, pelvis level and knee over the toes.",
            "Single-leg squat (free leg behind); step-ups (30-60 cm).",
            "Split squat; walking lunge with the weight in the opposite hand.",
            "Single-leg Romanian deadlift, dumbbell in the opposite hand.",
            "Side plank with top-leg lift; single-leg hip thrust.",
        ],
    },
    "dosage": "3-4 sets of 8-15 reps, or 20-45 s holds for isometric work; 2-3 sessions a "
    "week with at least 48 h between heavy sessions; increase load gradually; prefer stable "
    "surfaces. Progress is measured load, reps, hold time and measured pelvic control, not "
    "the burn.",
    "source": "gaitimu domain notes (shared/domain/GLUTE_MED.md), compiled from physiotherapy "
    "sources.",
}

#: CPD difference beyond which the loaded stage is suggested only after the early stage;
#: product choice used to pick which exercise block is shown first.
SEVERE_ASYMMETRY_DEG = 2 * CPD_ASYMMETRY_THRESHOLD_DEG

SIDE_NAME = {"L": "left", "R": "right"}
OTHER_SIDE = {"L": "R", "R": "L"}
