#!/usr/bin/env bash
# Checked arithmetic on one artifact (issue 14), greedy: check vs compute on the multi-digit built-in suite (fit
# split seed 1, evaluation seed 2), on GSM8K test and on the small-number suite; then P(correct) fitted on the
# seed-1 traces with and without the arithmetic features and scored on every evaluation run (`bench transfer`).
# "off" decodes exactly the tokens of "check" (the checker only reads), so check's accuracy is off's.
# Usage: bench/arithmetic_suite.sh ARTIFACT [THREADS] [N_FIT] [N_EVAL] [N_GSM8K]
set -euo pipefail
artifact=$1
threads=${2:-2}
n_fit=${3:-200}
n_eval=${4:-200}
n_gsm8k=${5:-200}
out=${OUT:-bench-results}/$(basename "$artifact")-arith
run() {  # name, then bench reason options
  local name=$1
  shift
  edgereason bench reason "$artifact" --strategy greedy --threads "$threads" -o "$out/$name" "$@"
}
run fit-digits --task builtin --digits 2-4 --task-seed 1 --n "$n_fit" --calculator check
run eval-digits --task builtin --digits 2-4 --task-seed 2 --n "$n_eval" --calculator check,compute
run eval-gsm8k --task gsm8k --n "$n_gsm8k" --calculator check,compute
run eval-small --task builtin --task-seed 2 --n "$n_eval" --calculator check,compute
edgereason bench transfer --fit "$out/fit-digits" --eval "$out/eval-digits" --eval "$out/eval-gsm8k" \
  --eval "$out/eval-small" -o "$out/transfer"
