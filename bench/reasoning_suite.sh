#!/usr/bin/env bash
# The reasoning measurement of one artifact: fit a calibrator per strategy on the built-in suite
# (seed 1), then evaluate greedy / early-exit / vote on 200 fresh built-in problems (seed 2) and on
# the first 200 GSM8K test problems. Usage: bench/reasoning_suite.sh ARTIFACT [THREADS] [N_CAL] [N_EVAL]
set -euo pipefail
artifact=$1
threads=${2:-2}
n_cal=${3:-300}
n_eval=${4:-200}
out=${OUT:-bench-results}
for strategy in greedy early-exit; do
  edgereason calibrate "$artifact" --task builtin --task-seed 1 --n "$n_cal" --strategy "$strategy" --threads "$threads"
done
edgereason calibrate "$artifact" --task builtin --task-seed 1 --n $(( n_cal / 2 )) --strategy vote --threads "$threads"
edgereason bench reason "$artifact" --task builtin --task-seed 2 --n "$n_eval" --threads "$threads" -o "$out"
edgereason bench reason "$artifact" --task gsm8k --n "$n_eval" --threads "$threads" -o "$out"
