#!/bin/bash
# Build a pre-0007 registry with the code at main (revision 0006): two projects, interleaved.
set -euo pipefail
# CODE: a checkout of the workbench at revision 0006 (e.g. the commit before migration 0007)
CODE=${CODE:-/work/main}
export MLWB_HOME=${MLWB_HOME_OUT:-/tmp/registry-0006/home} PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring PYTHONPATH=$CODE
rm -rf $MLWB_HOME
M="/work/main/.venv/bin/python -m app.cli"
cd $CODE
/work/main/.venv/bin/python -c "
import sys; sys.path.insert(0,'$(dirname "$(readlink -f "$0")")/..'); from pathlib import Path
from tests.test_walk_cli import write_cancer_csvs; write_cancer_csvs(Path('/tmp/registry-0006/data'))"
$M people init --name me >/dev/null
for P in alpha beta; do
  $M projects new $P --problem-type binary_classification --name "$P project" >/dev/null
  $M statement $P --set "objective=flag aspirates" --set "stakeholders_gain=patients" --set "stakeholders_lose=nobody" \
    --set "business_metric=missed cases" --set ml_metric=roc_auc --set ml_metric_threshold=0.9 \
    --set feasibility_data=yes --set feasibility_regulation=ok --set feasibility_timeline=q --set feasibility_budget=one \
    --set "baseline_heuristic=majority" >/dev/null
  $M checklist $P --answer pattern_exists=yes --answer data_available=yes --answer errors_tolerable=yes \
    --answer rules_insufficient=yes --answer feedback_available=yes >/dev/null
  $M advance $P >/dev/null
done
$M data import alpha /tmp/registry-0006/data/cancer.csv --target target
$M data import beta /tmp/registry-0006/data/cancer.csv --target target
$M data import alpha /tmp/registry-0006/data/batch.csv
for P in alpha beta; do
  DS=$($M data list $P --json | /work/main/.venv/bin/python -c "import json,sys; print(min(d['id'] for d in json.load(sys.stdin) if d['target']))")
  $M frame $P --target target --set label_strategy=histology --set cold_start=none --set temporal_aspects=none \
     --set proxy_metrics=none --infer-from $DS >/dev/null
  $M frame $P --confirm --drop patient_id >/dev/null
  $M advance $P >/dev/null
  $M data split $P --dataset $DS --strategy stratified --seed 7
  $M advance $P >/dev/null
done
$M train alpha 1 --model majority_baseline
$M train beta 2 --model majority_baseline
$M train alpha 1 --model decision_tree --tune random --trials 3
$M train beta 2 --model logistic_regression
$M train alpha 1 --model logistic_regression
$M compare alpha 1 8   # run ids at revision 0006 (4-6 are the tuning trials of run 3)
$M models alpha --register 8
$M audit verify
