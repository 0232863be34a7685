#!/usr/bin/env bash
# The one command for the GPU machine (docs/scaling.md, "GPU kit"). Stages, each under its own time budget; a stage that
# fails or runs out of time is logged and the next one runs; whatever finished is packed into $OUT at the end.
#
#   device run, call 1:  FTN_COMMIT=<commit> bash scripts/gpu_run.sh    (STAGES="setup info tests bench smoke")
#   device run, call 2:  FTN_COMMIT=<commit> STAGES="setup campaign" CAMPAIGNS="init_study --seeds 0-4" JOBS=16 \
#                        bash scripts/gpu_run.sh  (<commit>: git rev-parse --short HEAD here; every record names it)
#                        (a run cut off by the limit parks its checkpoint in results/runs/gpu/; the records come
#                        back as records.tar.gz, in 15 MiB parts records.tar.gz.0, .1, ... when larger. Unpack them
#                        into the tree to commit (cat records.tar.gz* | tar -xzf -), and put them in .gpu_carry/ for
#                        the next call to carry: this script unpacks it first, and the next call continues the run.
#                        The tarball holds a pack's one parked checkpoint once, where its members hold hard links)
#   rehearsal on a CPU:  DEVICE=cpu PYTHON=<python> WHEELS=<wheels for it> bash scripts/gpu_run.sh
#
# DEVICE=cpu runs every stage with tiny sizes (synthetic data, a few steps) so the script is proven end to end
# before GPU time is spent. Budgets (seconds) are env vars: T_SETUP T_INFO T_TESTS T_BENCH T_SMOKE T_CAMPAIGN;
# no stage runs past DEADLINE_S - PACK_S from the start, so packing always happens inside the call.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
DATA=${DATA:-$REPO/.gpu_data/cifar10-jpeg.tar.gz}
OUT=${OUT:-$REPO/.gpu_out}
STAGES=${STAGES:-setup info tests bench smoke}
JOBS=${JOBS:-16}
CAMPAIGNS=${CAMPAIGNS:-init_study --seeds 0-4}
DEADLINE_S=${DEADLINE_S:-570}   # the whole script, packing included: keep it under the device call's timeout_s
PACK_S=${PACK_S:-30}
T0=$(date +%s)
LOGS=$OUT/staging/logs
mkdir -p "$LOGS" "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true HYDRA_FULL_ERROR=1
SUMMARY=$LOGS/stages.txt

# the records an earlier call brought back, carried as they came (.gpu_carry/records.tar.gz*): what it parked
if compgen -G ".gpu_carry/records.tar.gz*" > /dev/null; then
    cat .gpu_carry/records.tar.gz* | tar -xzf - && echo "=== unpacked the carried records: $(ls .gpu_carry)"
fi

if [ "$DEVICE" = cpu ]; then
    GPU_TRAINER="trainer=cpu"; SMOKE_DATA="dataset=synthetic"; SMOKE_STEPS=6; TINY=1
else
    GPU_TRAINER="trainer=gpu"; SMOKE_DATA="dataset=cifar10_jpeg dataset.root=$DATA"; SMOKE_STEPS=300; TINY=0
fi

want() { [[ " $STAGES " == *" $1 "* ]]; }

# stage NAME BUDGET_S COMMAND...: run under `timeout` (which signals the command's whole process group), log it
stage() {
    local name=$1 budget=$2 start rc
    shift 2
    want "$name" || return 0
    # never past the call's deadline: packing needs its PACK_S at the end
    local left=$(( DEADLINE_S - PACK_S - ($(date +%s) - T0) ))
    [ "$left" -lt "$budget" ] && budget=$left
    if [ "$budget" -lt 10 ]; then echo "=== stage $name: SKIPPED (deadline)" | tee -a "$SUMMARY"; return 0; fi
    echo "=== stage $name (budget ${budget}s) $(date -u +%H:%M:%S)" | tee -a "$SUMMARY"
    start=$(date +%s)
    timeout -k 20 "$budget" bash -c '"$@"' "$name" "$@" 2>&1 | tee "$LOGS/$name.log"  # functions are exported
    rc=${PIPESTATUS[0]}
    echo "=== stage $name: $([ "$rc" = 0 ] && echo ok || echo "FAILED rc=$rc$([ "$rc" = 124 ] && echo ' (out of time)')") in $(( $(date +%s) - start ))s" | tee -a "$SUMMARY"
    return 0
}

# ---- the stages ------------------------------------------------------------------------------------------
install_wheels() {
    # the image lacks hydra, omegaconf, antlr4, kornia, wandb (+ deps), submitit: the kit carries them
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
}

import_check() {
    "$PYTHON" - <<'EOF'
import importlib, sys
names = ["torch", "pytorch_lightning", "torchvision", "hydra", "omegaconf", "antlr4", "kornia", "kornia_rs", "wandb",
         "submitit", "hydra_plugins.hydra_submitit_launcher.submitit_launcher", "matplotlib", "tqdm", "ftn.train",
         "ftn.pooling", "ftn.results", "ftn.figures"]
bad = []
for name in names:
    try:
        mod = importlib.import_module(name)
        print(f"{name:55s} {getattr(mod, '__version__', '')}  {getattr(mod, '__file__', '')}")
    except Exception as error:
        bad.append(name)
        print(f"{name:55s} IMPORT FAILED: {type(error).__name__}: {error}")
sys.exit(1 if bad else 0)
EOF
}

info() {
    nvidia-smi || echo "(no nvidia-smi)"
    "$PYTHON" - <<'EOF'
import platform, torch, triton, pytorch_lightning, kornia, wandb, hydra
print("python", platform.python_version(), "| torch", torch.__version__, "| triton", triton.__version__,
      "| lightning", pytorch_lightning.__version__, "| kornia", kornia.__version__, "| wandb", wandb.__version__,
      "| hydra", hydra.__version__)
print("cuda available:", torch.cuda.is_available(), "| torch cuda", torch.version.cuda, "| cpus", __import__("os").cpu_count())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu:", p.name, f"{p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, cc {p.major}.{p.minor}")
EOF
}

tests() {
    # CUDA correctness first: seconds on a GPU, and everything below assumes it (skipped without CUDA)
    "$PYTHON" -m pytest -q -p no:cacheprovider -rs --junitxml="$LOGS/tests.xml" tests/test_cuda.py tests/test_triton.py
}

bench() {
    local rc=0
    if [ "$TINY" = 1 ]; then
        "$PYTHON" scripts/bench_pooling.py --device cpu --repeats 1 --quick \
            --out "$OUT/staging/results/pooling_rehearsal.md" || rc=1
        "$PYTHON" scripts/bench_table3.py --repeats 2 --batches 1 --out "$OUT/staging/results/table3_rehearsal.md" \
            --record "$OUT/staging/records" || rc=1
        "$PYTHON" scripts/bench_throughput.py --device cpu --quick --seconds 1 --rounds 1 --warmup 3 --no-compile \
            --runs 1,2 --packs 2 --pack-widths 8 --out "$OUT/staging/results/throughput_rehearsal.md" || rc=1
    else
        "$PYTHON" scripts/bench_pooling.py --device cuda --repeats 20 || rc=1
        # its record (results/runs/gpu/table3/cuda/) comes back in records.tar.gz: claim 13 of results/claims.md
        "$PYTHON" scripts/bench_table3.py --repeats 50 --out results/table3_gpu.md --record results/runs/gpu || rc=1
        "$PYTHON" scripts/bench_throughput.py --device cuda --seconds 4 --rounds 2 --runs 1,4,8,16 \
            --out results/throughput_gpu.md || rc=1
    fi
    return $rc
}

smoke() {
    # the harness end to end, a few hundred steps per pooling, wandb offline; then the records read back
    "$PYTHON" -m ftn.train -m experiment=table2 name=gpu_smoke $GPU_TRAINER $SMOKE_DATA \
        pooling=max,avg,lstm_shared,lstm trainer.max_steps=$SMOKE_STEPS dataset.limit_train=$((SMOKE_STEPS * 100 / 3)) \
        trainer.enable_progress_bar=false records_dir=null \
    && "$PYTHON" -m ftn.results table2 --experiment gpu_smoke --runs runs --out "$OUT/staging/results/smoke" --readme ""
}

campaign() {
    # ftn.campaign runs (CAMPAIGNS: ';'-separated argument lists), JOBS processes sharing the GPU, one thread each.
    # Resumable across calls: a recorded run is skipped, an unfinished one continues from the checkpoint it
    # parked beside its record (ftn.parking), which comes back in records.tar.gz. Records name the archive by its
    # usual path (../shared/data/...), so the carried copy is linked there: the cells match the CPU's.
    local archive=../shared/data/cifar10-jpeg.tar.gz dirs=() tiny=()
    if [ "$TINY" = 1 ]; then  # the CPU rehearsal: 20 steps, small subsets, records kept out of results/
        dirs=(--runs "$OUT/staging/runs" --records "$OUT/staging/records")
        tiny=(schedule.max_steps=20 "schedule.milestones=[10]" dataset.limit_train=2000 dataset.limit_test=500)
    fi
    [ -e "$archive" ] || { mkdir -p "$(dirname "$archive")" && ln -s "$DATA" "$archive"; } || return 1
    # decode and whiten once, before JOBS processes would each do it
    "$PYTHON" -m ftn.train experiment=table2 dataset=cifar10_jpeg schedule=smoke $GPU_TRAINER logger.mode=disabled \
        records_dir=null run_dir=/tmp/ftn-warm-cache ckpt_path=null trainer.enable_progress_bar=false || return 1
    local rc=0 args
    IFS=';' read -ra lists <<< "$CAMPAIGNS"
    for args in "${lists[@]}"; do
        # shellcheck disable=SC2086  # each list is split into ftn.campaign's arguments
        "$PYTHON" -m ftn.campaign $args --trainer "${GPU_TRAINER#trainer=}" --jobs "$JOBS" "${dirs[@]}" "${tiny[@]}" || rc=1
    done
    return $rc
}

# ---- packing: at most 8 files in $OUT, each under 16 MiB -----------------------------------------------
pack() {
    set +e
    local stage_dir=$OUT/staging
    mkdir -p "$stage_dir/results"
    cp results/*_gpu.md "$stage_dir/results/" 2>/dev/null
    cp "$SUMMARY" "$OUT/stages.txt"
    tar -czf "$OUT/logs.tar.gz" -C "$stage_dir" logs
    tar -czf "$OUT/results.tar.gz" -C "$stage_dir" results
    # run records, histories, parked checkpoints and wandb offline runs (for `wandb sync`): only what this call
    # wrote (results/runs/gpu, not the rest of the tree's snapshot, which unpacking would roll back); the run
    # folders' own checkpoints stay behind (a cut-off run parked its last epoch's beside its record)
    local records=(); for d in runs results/runs/gpu; do [ -d "$d" ] && records+=("$d"); done
    [ ${#records[@]} -eq 0 ] || tar -czf "$OUT/records.tar.gz" --exclude=last.ckpt "${records[@]}"
    if [ -f "$OUT/records.tar.gz" ] && [ "$(stat -c %s "$OUT/records.tar.gz")" -ge $((15 * 1048576)) ]; then
        split -b 15M -d -a 1 "$OUT/records.tar.gz" "$OUT/records.tar.gz." && rm "$OUT/records.tar.gz"
    fi
    rm -rf "$stage_dir"
    echo "=== packed into $OUT:"
    ls -la "$OUT"
    for f in "$OUT"/*; do
        [ "$(stat -c %s "$f")" -lt $((16 * 1048576)) ] || echo "WARNING: $f is over 16 MiB and will not come back"
    done
    [ "$(find "$OUT" -maxdepth 1 -type f | wc -l)" -le 8 ] || echo "WARNING: over 8 files in $OUT: not all come back"
}
trap pack EXIT

export -f install_wheels import_check info tests bench smoke campaign
export PYTHON WHEELS SITE DATA OUT LOGS DEVICE TINY GPU_TRAINER SMOKE_DATA SMOKE_STEPS JOBS CAMPAIGNS

echo "=== gpu_run.sh DEVICE=$DEVICE STAGES='$STAGES' python=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')" | tee "$SUMMARY"
if want setup; then
    STAGES="$STAGES setup_check"
    stage setup "${T_SETUP:-180}" install_wheels
    export PYTHONPATH=$SITE:$REPO/src
    stage setup_check 60 import_check
    grep -q "FAILED" "$SUMMARY" && { echo "setup failed: nothing else can run"; exit 1; }
else
    export PYTHONPATH=$REPO/src:${PYTHONPATH:-}
fi
stage info "${T_INFO:-60}" info
stage tests "${T_TESTS:-240}" tests
stage bench "${T_BENCH:-300}" bench
stage smoke "${T_SMOKE:-180}" smoke
stage campaign "${T_CAMPAIGN:-500}" campaign
