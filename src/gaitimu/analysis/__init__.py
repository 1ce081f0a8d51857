"""Pure, vectorised signal code (numpy/scipy; no I/O, no printing).

Stages, in pipeline order (wired by `gaitimu.pipeline`):

* `conditioning`: uniform time grid, short holes bridged, long gaps masked, zero-phase
  filters (`resample_uniform`, `lowpass`, `bandpass`).
* `orientation`: 6D fusion (VQF) and the mounting correction to the pelvis frame; pelvic
  obliquity, tilt and yaw (`align_to_pelvis`).
* `bouts`, `events`: gait bouts, walk/run, IC/FC and stance side (`detect_events`).
* `metrics`: one row per stance with timing, obliquity, CPD and ML excursion
  (`stance_metrics`).

Submodules are imported on use (``from gaitimu.analysis.orientation import ...``) so that
importing the package stays cheap.
"""
