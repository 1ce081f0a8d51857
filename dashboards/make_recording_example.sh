#!/usr/bin/env bash
# Regenerate the committed example: a 60 s run recorded from the virtual BLE sensor
# (recordings/example_run.gaitimu) and its report (dashboards/example_run_report.html,
# summary and strides). Run from the repository root:  bash dashboards/make_recording_example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GAITIMU:-.venv/bin/gaitimu}
tmp=$(mktemp -d)
"$G" demo --out "$tmp" --duration 60 --activity run --speed 6 >/dev/null
rm -rf recordings/example_run.gaitimu
mv "$tmp/demo.gaitimu" recordings/example_run.gaitimu
# the report is regenerated from the committed session, as a user would
"$G" report recordings/example_run.gaitimu --out dashboards/example_run_report.html \
    --json dashboards/example_run_summary.json --csv dashboards/example_run_strides.csv
rm -rf "$tmp"

# The self-test example: a guided single-leg stance (the Trendelenburg test) recorded from the
# virtual sensor, whose simulated person lets the pelvis drop more standing on the right leg
# and touches the lifted foot down once in the first hold; its report with the self-test
# section.
rm -rf recordings/example_single_leg_stance.gaitimu
"$G" test single-leg-stance --device virtual --yes --speed 4 --rate 100 --touchdown-at 12 \
    --subject demo-runner --out recordings/example_single_leg_stance.gaitimu >/dev/null
"$G" report recordings/example_single_leg_stance.gaitimu \
    --out dashboards/example_single_leg_stance_report.html \
    --json dashboards/example_single_leg_stance_summary.json \
    --csv dashboards/example_single_leg_stance_strides.csv
"$G" analyze recordings/example_single_leg_stance.gaitimu \
    --tests dashboards/example_single_leg_stance_tests.csv --force >/dev/null
rm -f dashboards/example_single_leg_stance_strides.csv
