#!/usr/bin/env bash
# The one GPU check: on a machine with an NVIDIA GPU and CuPy installed (no internet needed, no
# gpudnn install: the checkout is put on PYTHONPATH), run the GPU tests and a short benchmark,
# and write logs, a Markdown table and JSON under OUTDIR. Takes about 2-4 minutes; each stage
# has its own time limit and a failing stage does not stop the others.
#
#   bench/gpu_check.sh OUTDIR
#
# OUTDIR/summary.md   stage results, then the benchmark table
# OUTDIR/stages.tsv   stage <tab> exit status <tab> seconds
# OUTDIR/*.log        each stage's full output; gpu-tests.xml the JUnit report
# OUTDIR/gpu_bench.json, gpu_bench.md   the benchmark numbers
# The GPU tests fail rather than skip here (GPUDNN_REQUIRE_GPU=1). GPU_CHECK_FAKE=1 lets them skip
# and runs the benchmark on the CPU backend with tiny sizes (to test this script without a GPU).
set -u
OUT=${1:?usage: bench/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
FAKE=()
if [ "${GPU_CHECK_FAKE:-}" = 1 ]; then FAKE=(--fake); else export GPUDNN_REQUIRE_GPU=1; fi
: > "$OUT/stages.tsv"
failed=0

stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  echo "=== $name (limit ${limit}s)"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$OUT/stages.tsv"
  [ "$rc" -eq 0 ] || failed=1
  echo "=== $name: exit $rc"
}

stage environment 60 bash -c "nvidia-smi || true; $PY -c '
import sys, numpy, cupy
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"cupy\", cupy.__version__)
print(\"cuda runtime\", cupy.cuda.runtime.runtimeGetVersion(), \"driver\", cupy.cuda.runtime.driverGetVersion())
p = cupy.cuda.runtime.getDeviceProperties(0)
print(\"device 0:\", p[\"name\"].decode(), \"sm_%d%d\" % (p[\"major\"], p[\"minor\"]), p[\"totalGlobalMem\"] // 2**20, \"MiB\")
from gpudnn.backend import cuda_problem
print(\"gpudnn cuda_problem:\", cuda_problem(0))
'"
stage gpu-tests 300 "$PY" -m pytest -q -rs -p no:cacheprovider -m gpu tests/test_gpu_backend.py \
  --junitxml="$OUT/gpu-tests.xml"
stage benchmark 240 "$PY" bench/gpu_bench.py --out "$OUT" "${FAKE[@]}"

{
  echo "# gpudnn GPU check"
  echo
  echo "| stage | exit | seconds |"
  echo "|---|---:|---:|"
  while IFS=$'\t' read -r name rc secs; do echo "| $name | $rc | $secs |"; done < "$OUT/stages.tsv"
  echo
  grep -E "passed|failed|skipped|error" "$OUT/gpu-tests.log" | tail -n 1
  echo
  [ -f "$OUT/gpu_bench.md" ] && cat "$OUT/gpu_bench.md"
} > "$OUT/summary.md"
echo
cat "$OUT/summary.md"
exit $failed
