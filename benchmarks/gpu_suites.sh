#!/usr/bin/env bash
# Run the cell suites (tests/shim tests/property tests/equivalence) on a CUDA machine, one pytest
# per axes combination, all at once (the GPU has room; one OMP thread each). Each writes
# OUT/junit-LABEL-DTYPE-ATTN-SIZE.xml and its log; pytest is interrupted (SIGINT, so the JUnit
# file is still written) after LIMIT seconds.
#
#   benchmarks/gpu_suites.sh OUT LABEL SIZE WORKERS LIMIT DTYPE:ATTN ...
#   benchmarks/gpu_suites.sh /tmp/out tf517 tiny 3 400 bfloat16:eager bfloat16:sdpa float16:eager float16:sdpa
#
# Uses `python3` (set PYTHON to override) from the repository root; SUITES (space-separated paths)
# overrides the suite paths; see docs/gpu.md.
set -u
if [ $# -lt 6 ]; then
  echo "usage: $0 OUT LABEL SIZE WORKERS LIMIT DTYPE:ATTN ..." >&2
  exit 2
fi
out=$1 label=$2 size=$3 workers=$4 limit=$5
shift 5
py=${PYTHON:-python3}
mkdir -p "$out"
for combo in "$@"; do
  dtype=${combo%%:*} attn=${combo##*:}
  name="$label-$dtype-$attn-$size"
  PCC_DEVICE=cuda PCC_DTYPE=$dtype PCC_ATTN=$attn PCC_SIZE=$size OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 timeout -s INT "$limit" "$py" -m pytest -p no:cacheprovider -q -rfEs --tb=short \
    -n "$workers" -o junit_family=xunit1 --junitxml="$out/junit-$name.xml" \
    ${SUITES:-tests/shim tests/property tests/equivalence} >"$out/log-$name.txt" 2>&1 &
done
wait
for f in "$out"/log-"$label"-*.txt; do echo "$f: $(tail -n 1 "$f")"; done
