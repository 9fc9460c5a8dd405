#!/usr/bin/env bash
# The one GPU check: on a machine with an NVIDIA GPU and CuPy installed (no internet needed, no
# gpudnn install: the checkout is put on PYTHONPATH), run the GPU tests, the library's own tests
# with every model on the GPU (GPUDNN_DEVICE=cuda; Fashion-MNIST too when GPUDNN_DATA holds it),
# and the benchmark suites (bench/, --device cuda), and write logs, a Markdown table and JSON
# under OUTDIR. Takes about 4-5 minutes on an H100/H200; each stage has its own time limit, all
# of them together at most GPU_CHECK_TOTAL_S (default 470 s: the script stays under 8 minutes;
# a stage that would pass it gets what is left), and a failing stage does not stop the others.
# Expected (H200, warm kernel cache): environment 2 s, gpu-tests 30 s, gpu-results 60-90 s,
# gpu-scaling 40-60 s (at most ~150 s), suite-on-device 20 s, benchmark 60 s; a fresh machine
# adds ~1 min of kernel builds. The GPU tests and issue 17's mixed-precision figures (gpu-mixed
# ~100 s, mixed-accuracy ~30 s) come first, then issue 8's, so a cut by the total loses the
# broader suites; GPU_CHECK_SKIP="gpu-results gpu-scaling" makes room for the rest.
#
#   bench/gpu_check.sh OUTDIR
#
# OUTDIR/summary.md   stage results, then the benchmark table
# OUTDIR/stages.tsv   stage <tab> exit status <tab> seconds
# OUTDIR/*.log        each stage's full output; gpu-tests.xml the JUnit report
# OUTDIR/bench_cuda.json, bench_cuda.md   the benchmark numbers (python -m bench.report)
# OUTDIR/gpu-results.json   issue 8's figures (python -m bench.gpu_results; the gpu-scaling stage
#                           adds its "scaling" section to the same file); copy it to
#                           docs/gpu-results.json by hand. Fashion-MNIST needs its four IDX files
#                           under $GPUDNN_DATA/fashion-mnist/ (else those figures are null + why).
# With the device tool (the machine has no network): copy the data into an ignored folder and
# carry it, e.g. `mkdir -p out/data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz
# out/data/fashion-mnist/`, then run `GPUDNN_DATA=$PWD/out/data bench/gpu_check.sh $OUT/check`
# with carry ["out/data"]; afterwards check that gpu-results.json's
# paths.course_step_gpudnn_graph says "cuda graph (" (anything else: the capture fell back).
# bfloat16 (issue 17's mixed_bfloat16) needs ml_dtypes, which the lent machines lack: download
# its wheel here (`pip download ml_dtypes --only-binary :all: -d out/wheels`), carry out/wheels
# and set GPUDNN_WHEELS=$PWD/out/wheels; the environment stage installs from it (no network).
# GPU_CHECK_SKIP="benchmark ..." leaves out the stages named (e.g. to fit a short device lease).
# GPUDNN_COMMIT names the commit in gpu-results.json where the checkout's .git is not its own.
# The GPU tests fail rather than skip here (GPUDNN_REQUIRE_GPU=1). GPU_CHECK_FAKE=1 lets them skip
# and runs every stage on the CPU in quick mode (to test this script without a GPU).
set -u
OUT=${1:?usage: bench/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
if [ "${GPU_CHECK_FAKE:-}" = 1 ]; then
  DEVICE=cpu; BENCH=(--device cpu --quick)
else
  DEVICE=cuda; BENCH=(--device cuda); export GPUDNN_REQUIRE_GPU=1
fi
: > "$OUT/stages.tsv"
failed=0
DEADLINE=$(( $(date +%s) + ${GPU_CHECK_TOTAL_S:-470} ))

stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc left
  shift 2
  case " ${GPU_CHECK_SKIP:-} " in *" $name "*)
    echo "=== $name: skipped (GPU_CHECK_SKIP)"
    printf '%s\t%s\t%s\n' "$name" skipped 0 >> "$OUT/stages.tsv"
    return;;
  esac
  left=$(( DEADLINE - $(date +%s) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 0 ]; then
    echo "=== $name: skipped, the check's ${GPU_CHECK_TOTAL_S:-470} s are spent"
    printf '%s\t%s\t%s\n' "$name" skipped 0 >> "$OUT/stages.tsv"
    failed=1
    return
  fi
  echo "=== $name (limit ${limit}s)"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$OUT/stages.tsv"
  [ "$rc" -eq 0 ] || failed=1
  echo "=== $name: exit $rc"
}

if [ -n "${GPUDNN_WHEELS:-}" ]; then  # ml_dtypes for bfloat16 (see above), from carried wheels
  "$PY" -m pip install --quiet --no-index --find-links "$GPUDNN_WHEELS" ml_dtypes \
    || echo "ml_dtypes did not install from $GPUDNN_WHEELS: the bfloat16 cases skip"
fi
stage environment 60 bash -c "nvidia-smi || true; $PY -c '
import sys, numpy, cupy
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"cupy\", cupy.__version__)
print(\"cuda runtime\", cupy.cuda.runtime.runtimeGetVersion(), \"driver\", cupy.cuda.runtime.driverGetVersion())
p = cupy.cuda.runtime.getDeviceProperties(0)
print(\"device 0:\", p[\"name\"].decode(), \"sm_%d%d\" % (p[\"major\"], p[\"minor\"]), p[\"totalGlobalMem\"] // 2**20, \"MiB\")
from gpudnn.backend import cuda_problem
print(\"gpudnn cuda_problem:\", cuda_problem(0))
'"
stage gpu-tests 240 "$PY" -m pytest -q -rs -p no:cacheprovider -m gpu tests/test_gpu_backend.py \
  tests/test_gpu_graphs.py tests/test_saving.py tests/test_gpu_data.py tests/test_sample_weights_ops.py \
  tests/test_gpu_layers.py tests/test_gpu_mixed.py \
  tests/test_metrics_gpu.py tests/test_noise_layers.py tests/test_optimizer_options_gpu.py \
  --junitxml="$OUT/gpu-tests.xml"
# issue 17 (mixed precision), first while it is the open GPU work: the step under mixed_bfloat16
# and mixed_float16 against torch.autocast at H 2048/8192 x B 1024/8192, eager and graph, with
# TFLOP/s against the card's dense bf16 peak (~40-60 s a side, the PyTorch worker capped at
# 80 s; gpudnn's rows are written before it starts); then the course model's test accuracy under
# each policy, Fashion-MNIST, 5 epochs
stage gpu-mixed 200 "$PY" -m bench.gpu_mixed --device "$DEVICE" \
  $([ "${GPU_CHECK_FAKE:-}" = 1 ] && echo --quick) --json "$OUT/gpu-mixed.json" --markdown
# issue 17: the course model's test accuracy under float32, mixed_bfloat16, mixed_float16 and a
# float16 run from a 2^40 loss scale, Fashion-MNIST, 5 epochs (~30 s on a GPU)
stage mixed-accuracy 90 "$PY" -m bench.mixed_accuracy --device "$DEVICE" --data fashion-mnist \
  --epochs "$([ "${GPU_CHECK_FAKE:-}" = 1 ] && echo 1 || echo 5)" --json "$OUT/mixed-accuracy.json"
# issue 8's figures but the scaling section, one process (PyTorch in a worker of its own, at
# most 120 s): course step
# ~5 s, 2 x 4 Fashion-MNIST epochs ~10 s, 6 updates at 100 M params ~10 s, the PyTorch worker
# ~30-40 s, plus CUDA start-up and kernel builds: ~60-90 s. The JSON is written before the worker
# starts too, so a stop there keeps gpudnn's figures.
stage gpu-results 200 "$PY" -m bench.gpu_results --out "$OUT/gpu-results.json" "${BENCH[@]}" \
  --section main --markdown
# issue 8 item 6, the step for H 512/2048/8192 x B 128/1024/8192 x TF32 off/on, gpudnn eager and
# graph here, then PyTorch eager and graph in its worker: expected ~15 s a side plus start-up,
# each side capped at 60 s (bench/gpu_scaling.py BUDGET_S: what would pass it is null + why,
# the largest sizes last), the worker at 120 s. Added to gpu-results.json (alone if absent).
stage gpu-scaling 180 "$PY" -m bench.gpu_results --out "$OUT/gpu-results.json" "${BENCH[@]}" \
  --section scaling --markdown

# where the step's time goes (each device call alone; the host's share of a fit epoch under
# cProfile), at the course size and at a large batch: ~10-20 s each
stage step-profile 60 "$PY" -m bench.step_profile --device "$DEVICE"
stage step-profile-large 60 "$PY" -m bench.step_profile --device "$DEVICE" --batch 8192 \
  --host-epochs 0
# issue 20: what two BatchNormalization layers (fused with their Activation) and a frozen first
# layer cost in the step, against one element-wise pass a layer; ~15 s
stage layer-costs 60 "$PY" -m bench.layer_costs --device "$DEVICE" --rounds 7
stage step-profile-batchnorm 60 "$PY" -m bench.step_profile --device "$DEVICE" \
  --model batchnorm --host-epochs 0

stage suite-on-device 150 env GPUDNN_DEVICE=$DEVICE "$PY" -m pytest -q -rs -s -p no:cacheprovider \
  tests/test_gradients.py tests/test_training.py tests/test_course.py tests/test_gradient_norms.py \
  tests/test_fashion_mnist.py
# issue 18: an epoch of the course model fed from a memmap, a generator and a PyDataset against
# the array resident on the device (target: streamed within 1.15x), ~40 s
stage data-sources 90 "$PY" -m bench.data_sources --device "$DEVICE" --epochs 4 --runs 2 \
  --json "$OUT/data-sources.json"
stage benchmark 200 "$PY" -m bench.report "${BENCH[@]}" --json "$OUT/bench_cuda.json" --markdown

{
  echo "# gpudnn GPU check"
  echo
  echo "| stage | exit | seconds |"
  echo "|---|---:|---:|"
  while IFS=$'\t' read -r name rc secs; do echo "| $name | $rc | $secs |"; done < "$OUT/stages.tsv"
  echo
  for log in gpu-tests suite-on-device; do
    echo "$log: $(grep -E "passed|failed|skipped|error" "$OUT/$log.log" | tail -n 1)"
  done
  grep -E "^Fashion-MNIST" "$OUT/suite-on-device.log"
  [ -f "$OUT/data-sources.log" ] && grep -E "^\||^Course" "$OUT/data-sources.log"
  echo
  [ -f "$OUT/benchmark.log" ] && grep -E "^\|" "$OUT/benchmark.log"
  echo
  [ -f "$OUT/gpu-results.log" ] && sed -n '/^# gpudnn GPU results/,$p' "$OUT/gpu-results.log"
  echo
  [ -f "$OUT/gpu-scaling.log" ] && sed -n '/^### How the step/,$p' "$OUT/gpu-scaling.log"
  echo
  for log in step-profile step-profile-large; do
    [ -f "$OUT/$log.log" ] && sed -n '/^### Step of/,$p' "$OUT/$log.log"
  done
} > "$OUT/summary.md"
echo
cat "$OUT/summary.md"
exit $failed
