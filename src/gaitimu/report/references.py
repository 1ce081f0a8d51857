"""Reference values, decision thresholds, fixed wording and exercise guidance for reports.

Everything clinical that a report says comes from here, so that it can be reviewed in one
place. Sources are the project's clinical notes (docs/clinical_background.md). Values marked
``"kind": "product"`` are product choices, NOT literature cut-offs; docs/verdicts.md explains
each one and how `gaitimu.report.summary` decides which text applies.

User-facing text here follows the wording rules of docs/clinical_background.md#wording-rules: say what was measured,
on which side and how sure; flag, never diagnose; no internal identifiers or file names.
"""

from __future__ import annotations

from gaitimu.consts import SELF_TESTS

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
        "applies_to": ["run"],
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
        "applies_to": ["run"],
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
        "applies_to": ["walk", "run"],
        "citation": "Bolink SAAN, et al. Med Eng Phys 2016;38(3):225-31.",
        "finding": "IMU vs optical pelvic angles in gait: frontal-plane RMSE 2.7-4.5 degrees.",
        "value": [2.7, 4.5],
        "metric": "measurement_error_deg",
        "kind": "literature",
    },
    {
        "id": "asymmetry_threshold",
        "applies_to": ["walk", "run"],
        "citation": "gaitimu product default, not a clinical cut-off.",
        "finding": "Left/right difference in pelvic drop (relative to quiet standing) that the "
        "whole 95 % confidence interval must clear before a side is flagged.",
        "value": CPD_ASYMMETRY_THRESHOLD_DEG,
        "metric": "cpd_standing_deg difference",
        "kind": "product",
    },
    {
        "id": "self_test_threshold",
        "applies_to": list(SELF_TESTS),
        "citation": "gaitimu product default, not a clinical cut-off.",
        "finding": "Left/right difference in the pelvic drop of the single-leg stance and "
        "single-leg squat tests (relative to standing on both feet just before) that the "
        "whole 95 % interval must clear before a leg is flagged: the 2 degrees of gait, "
        "because no published threshold exists for the drop a sacral sensor measures in "
        "these tests.",
        "value": CPD_ASYMMETRY_THRESHOLD_DEG,
        "metric": "self-test drop difference",
        "kind": "product",
    },
    {
        "id": "mccarney2020",
        "applies_to": list(SELF_TESTS),
        "citation": "McCarney L, et al. Chiropr Man Therap 2020;28.",
        "finding": "The Trendelenburg test judged by eye agreed only weakly with the pelvic "
        "motion measured in 3D; hip abductor strength correlated weakly with it.",
        "value": None,
        "kind": "literature",
    },
    {
        "id": "bolink2016_tests",
        "applies_to": list(SELF_TESTS),
        "citation": "Bolink SAAN, et al. Med Eng Phys 2016;38(3):225-31.",
        "finding": "IMU vs optical pelvic angles in gait and daily tasks: frontal-plane RMSE "
        "2.7-4.5 degrees; a left/right difference of the same sensor cancels most of it.",
        "value": [2.7, 4.5],
        "metric": "measurement_error_deg",
        "kind": "literature",
    },
    {
        "id": "gct_balance",
        "applies_to": ["walk", "run"],
        "citation": "Common running-metrics convention.",
        "finding": "Ground contact time balance: 50 % = symmetric (share of the left stance).",
        "value": 50.0,
        "metric": "gct_balance_left_pct",
        "kind": "convention",
    },
]

def references_for(activity: str | None) -> list[dict]:
    """The references that apply to ``activity``: a walking report is not given running
    reference ranges, a self-test report gets the self-test ones; an unknown activity gets
    every gait reference."""
    if activity in SELF_TESTS:
        return [r for r in REFERENCES if activity in r["applies_to"]]
    gait = [r for r in REFERENCES if {"walk", "run"} & set(r["applies_to"])]
    return [r for r in gait if activity not in ("walk", "run") or activity in r["applies_to"]]


#: What the measured numbers can be compared with, per activity, in plain words.
REFERENCE_CONTEXT = {
    "run": (
        "Running pelvic obliquity range measured with sensors is about 7.8-9.3 degrees "
        "(Perpiñá-Martínez 2023). In runners, each extra degree of pelvic drop went with about "
        "80 % higher odds of being injured (Bramah 2018, motion capture); their group averages "
        "could not be verified, so no absolute limit is applied. Sensor angles carry an "
        "absolute error of about 2.7-4.5 degrees (Bolink 2016), which is why the report "
        "compares your two sides, measured by the same sensor, rather than absolute values."
    ),
    "walk": (
        "No verified walking reference range for pelvic drop measured with a sacral sensor is "
        "used, so the report compares your two sides and your own sessions over time, not a "
        "norm. Sensor angles carry an absolute error of about 2.7-4.5 degrees in walking "
        "(Bolink 2016); a difference between your sides, measured by the same sensor, is more "
        "robust than an absolute value."
    ),
    **dict.fromkeys(SELF_TESTS, (
        "No published reference exists for the pelvic drop a sacral sensor measures in this "
        "test, so the report compares your two legs and your own sessions over time, not a "
        "norm. Judged by eye, the Trendelenburg test agrees only weakly with pelvic motion "
        "measured in 3D (McCarney 2020), which is what the sensor adds. Sensor angles carry "
        "an absolute error of about 2.7-4.5 degrees (Bolink 2016); a difference between your "
        "legs, measured by the same sensor, is more robust than an absolute value."
    )),
}


def reference_context(activity: str | None) -> dict:
    """``summary.json`` ``reference_context``: the activity's comparison text and the ids of
    the references it rests on (none for an unknown activity)."""
    if activity not in REFERENCE_CONTEXT:
        return {"activity": None, "text": None, "ids": []}
    return {"activity": activity, "text": REFERENCE_CONTEXT[activity],
            "ids": [r["id"] for r in references_for(activity) if r["kind"] == "literature"]}


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
        "title_walk": "Later stage / loaded (stairs, longer walks and sport, progressive load)",
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
    "source": "gaitimu's clinical notes, compiled from physiotherapy and sports-medicine "
    "sources.",
}

#: CPD difference beyond which the loaded stage is suggested only after the early stage;
#: product choice used to pick which exercise block is shown first.
SEVERE_ASYMMETRY_DEG = 2 * CPD_ASYMMETRY_THRESHOLD_DEG

SIDE_NAME = {"L": "left", "R": "right"}
OTHER_SIDE = {"L": "R", "R": "L"}

#: Quiet standing (seconds) a recording needs at its start: the pipeline's static calibration,
#: the neutral that ``cpd_standing_deg`` (and so every threshold) is measured from.
STANDING_NEEDED_S = 5

#: Above this many extra minutes the report does not promise that recording longer decides
#: a borderline result (the estimate would rest on the difference staying put for an hour).
MAX_MINUTES_PROMISED = 60

#: How sure a side's result is, in words (the summary card's ``confidence``).
CONFIDENT = "we are confident about this"
LIKELY = "likely but not certain"
CANNOT_TELL = "we cannot tell yet"

ACTIVITY_WORDS = {"walk": ("walk", "walking"), "run": ("run", "running")}

WHAT_IS_CPD = (
    "Contralateral pelvic drop is how far the free side of your pelvis (the side of the leg "
    "that is in the air) sinks while the other leg carries your weight. The sensor on your "
    "lower back measures it in degrees for every step, compared with how your pelvis sits "
    "when you stand still. A few degrees on each side is normal; what this report looks at "
    "is whether one leg lets the pelvis drop clearly more than the other."
)

WHAT_IT_MAY_MEAN = {
    "run": (
        "The gluteus medius, a muscle on the outside of each hip, holds the pelvis level while "
        "you stand on that leg. A larger drop when you land on one leg is a pattern consistent "
        "with less hip abductor control on that side; clinicians know the standing version of "
        "it as the Trendelenburg sign. It is not a diagnosis: tiredness, pain, speed, shoes or "
        "how the sensor sits can change it too. In studies of runners, more pelvic drop went "
        "with running injuries such as knee pain at the front of the knee and iliotibial band "
        "pain, which does not mean that you have or will get one."
    ),
    "walk": (
        "The gluteus medius, a muscle on the outside of each hip, holds the pelvis level while "
        "you stand on that leg. A larger drop when you step onto one leg is a pattern "
        "consistent with less hip abductor control on that side; clinicians know it as a "
        "Trendelenburg pattern. It is not a diagnosis: tiredness, pain, walking speed, shoes "
        "or how the sensor sits can change it too."
    ),
}

SELF_TEST = (
    "Self-test: in front of a mirror, hands on your hips, stand on one leg for 30 seconds, "
    "then on the other. Watch whether the hip of the lifted leg sinks or wobbles, and "
    "compare your two sides."
)

RETEST = (
    "Re-test in 4-6 weeks: same {activity} speed, same shoes, the sensor in the same place, "
    "and " + str(STANDING_NEEDED_S) + " seconds of standing still at the start."
)

SEE_PHYSIO = (
    "See a physiotherapist for an assessment if you have pain (hip, knee, shin or lower back), "
    "or if the difference does not improve after 6-8 weeks of training."
)

#: Stage names for the "start here" step (keys of `EXERCISES`).
STAGE_WORDS = {"early": "early stage (low load)", "loaded": "later stage (loaded)"}

#: Criteria to move from one exercise stage to the next: measured performance and control,
#: not only "easy and pain-free". From docs/clinical_background.md#exercise-progression (progress = load, reps, hold time and
#: pelvic control) and the classic single-leg stance check.
PROGRESSION = {
    "early_to_loaded": [
        "3 sets of 15 slow side-lying leg lifts and clamshells on each side with good form: "
        "the pelvis does not roll back and the top leg stays in line with the body.",
        "The side-lying heel press into a wall held for 45-60 seconds on each side.",
        "30 seconds of standing on each leg with the pelvis level in the mirror (the "
        "self-test), the free hip neither sinking nor wobbling.",
        "No pain during the exercises and none the next morning.",
    ],
    "loaded_onwards": [
        "3 sets of 10-15 lateral step-downs from a 10 cm step on each leg, pelvis level and "
        "knee over the toes throughout, no pain.",
        "10 single-leg squats on each leg with the pelvis level in the mirror.",
        "Add load (a dumbbell, a stronger band, a higher step) only while the last set still "
        "keeps that form.",
        "A re-test at the same speed and in the same shoes shows the difference shrinking.",
    ],
}

#: Endurance-oriented dosage for a drop that grows during the session: the upper end of the
#: dosage ranges in docs/clinical_background.md#exercise-progression (15 reps, 45 s holds, 40-60 s isometric holds), not heavier load.
ENDURANCE_DOSAGE = (
    "3-4 sets at the upper end of the range: 15 slow reps, or 45-second holds (the side-lying "
    "heel press into a wall building to 40-60 seconds); 2-3 sessions a week with at least 48 "
    "hours between hard sessions."
)


# --------------------------------------------------------------------------- self-tests
#: Left/right difference of the self-test drop (degrees) that the whole 95 % interval must
#: clear before a standing leg is flagged (docs/verdicts.md, "Self-tests"). OUR CHOICE, not a
#: clinical cut-off: no published threshold exists for the pelvic drop a sacral sensor
#: measures in single-leg stance or squat (the bedside test is judged by eye, and that agrees
#: only weakly with 3D motion: McCarney 2020). The same 2 degrees as gait, measured likewise
#: relative to standing on both feet just before each hold or set, so a mounting offset
#: cancels in the left/right difference as it does in gait.
SELF_TEST_THRESHOLD_DEG = CPD_ASYMMETRY_THRESHOLD_DEG
#: Where the self-test threshold comes from, in words (every self-test flag message says it).
SELF_TEST_THRESHOLD_SOURCE = (
    "our choice, not a clinical cut-off: no published threshold exists for the drop a "
    "sacral sensor measures in this test, so the 2-degree left/right threshold of gait is "
    "used, measured likewise relative to standing on both feet just before"
)
#: One hold per leg (the guided recorder's default) gives no between-hold interval. The
#: sway within the hold then stands in for it, as a LOWER BOUND of the uncertainty: the
#: stable part of the hold is taken as independent pieces of this length, each as variable
#: as the whole hold (our choice: 5 s spans at least one cycle of the slow postural sway,
#: 0.2-1 Hz, so neighbouring pieces are roughly independent). It says nothing about how much
#: a repeated hold would differ, so a result from it is at most "likely but not certain".
WITHIN_HOLD_PIECE_S = 5.0
#: Holds per leg the report asks for when one hold per leg could not be confident: with 3
#: per leg the between-hold interval has 2 degrees of freedom per leg.
HOLDS_RECOMMENDED = 3
#: Squat repetitions per leg before a leg is judged (our choice: with fewer the t interval
#: over reps has one degree of freedom and is some 13 standard errors wide).
MIN_REPS_PER_SIDE = 3

#: Per test: (name in words, one trial, several trials).
SELF_TEST_WORDS = {
    "single-leg-stance": ("single-leg stance", "hold", "holds"),
    "single-leg-squat": ("single-leg squat", "rep", "reps"),
}

WHAT_THE_TEST_MEASURES = {
    "single-leg-stance": (
        "In the single-leg stance test you stand on one leg and hold. The sensor on your "
        "lower back measures how far the side of your lifted leg sinks, in degrees, compared "
        "with how your pelvis sat on both feet just before. A degree or two is normal; what "
        "this report looks at is whether one leg lets the pelvis drop clearly more than the "
        "other."
    ),
    "single-leg-squat": (
        "In the single-leg squat test you squat slowly on one leg. The sensor on your lower "
        "back measures how far the side of your free leg sinks at the bottom of each squat, "
        "in degrees, compared with how your pelvis sat on both feet just before. What this "
        "report looks at is whether one leg lets the pelvis drop clearly more than the other."
    ),
}

WHAT_THE_TEST_MAY_MEAN = (
    "The gluteus medius, a muscle on the outside of each hip, holds the pelvis level while "
    "you stand on that leg. A larger drop standing on one leg is what clinicians look for in "
    "the Trendelenburg test: a pattern consistent with less hip abductor control on that "
    "side. It is not a diagnosis: pain, tiredness, balance or how the sensor sits change it "
    "too. One sensor on the sacrum cannot see how the body makes up for it, so watch for "
    "these in a mirror: the trunk leaning over the standing leg (which can keep the pelvis "
    "level), the knee moving inward, the foot rolling in."
)

#: What one sacral sensor cannot see in the self-tests (the report's section lists them).
COMPENSATIONS = [
    "Trunk lean over the standing leg: leaning sideways unloads the hip muscles and can keep "
    "the pelvis level even when they do not hold it (a compensated Trendelenburg).",
    "The knee moving inward (towards the other knee) instead of staying over the toes.",
    "The foot rolling in (the arch flattening) on the standing leg.",
]

MIRROR_CHECK = (
    "Do the test once more in front of a mirror, or have someone watch, for what the sensor "
    "cannot see: does your trunk lean over the standing leg, does the knee move inward, does "
    "the foot roll in?"
)

SELF_TEST_RETEST = (
    "Re-test in 4-6 weeks the same way: the same test, the same shoes (or barefoot), the "
    "sensor in the same place, and " + str(STANDING_NEEDED_S) + " seconds on both feet "
    "before each leg."
)

