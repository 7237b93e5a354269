#!/usr/bin/env bash
# The GPU machine's check, in one call (the machine: one H200, Python 3.12,
# torch 2.11, no network, no OpenMMLab packages; at most 10 minutes a call).
#
#   bash tools/misc/gpu_check.sh OUT_DIR [--quick] [--only STAGES]
#                                                   run it (GPU machine)
#   bash tools/misc/gpu_check.sh --plan [--quick]   what it would do (anywhere)
#
# --only tests_gpu,benchmark: run only these of stages 1-3 (setup always
# runs), e.g. to rerun a failed stage in what is left of a device budget.
#
# 0. setup: installs .whl/*.whl (made by tools/misc/gpu_wheels.sh on a
#    machine with the registry; carry `.whl`) with `pip install --no-index
#    --no-deps --target SITE`, puts SITE and the repository (used from the
#    tree) on PYTHONPATH, prints python / torch / CUDA / GPU versions and
#    imports everything once;
# 1. tests_gpu: `pytest tests_gpu` (CUDA parity of the tower loop, fp16 and
#    bf16 AMP train steps, gradient checkpointing);
# 2. train: the demo data (tools/misc/make_demo_data.py), then FLIP-IT
#    ViT-B/16 on it through `tools/dist_train.sh CONFIG 1 --amp --test`, a
#    short schedule;
# 3. benchmark: tools/analysis_tools/benchmark.py on ViT-B/16 (random
#    weights) for FLIP-IT and each method folder's main ViT-B/16 config
#    (configs/<method>/, first match of *vitb16_ocim.py, *vitb16_oci2m.py,
#    *vitb16_crossmodal_surf_depth_5shot.py, *vitb16*.py not _legacy, in C
#    collation): a few AMP training iterations of each (every stage of a
#    staged model) and inference, fp16 and bf16: train and inference
#    images/s, peak memory; one JSON, plus the README rows made from it.
# Each stage is timed, has a time limit, and the next stage runs even if one
# fails; the whole run stays under the time budget (8 minutes; --quick: a
# shorter rerun). OUT_DIR gets 7 files, no folders: env.txt, tests_gpu.txt,
# train.txt, benchmark.txt, benchmark.json, readme_rows.md, summary.txt.
# Exit status: 0 when every stage passed, else 1 (2: bad arguments).
#
# Environment: PYTHON (default python3), MMFAS_SITE (default
# /tmp/mmfas_site), WORK (default /tmp/mmfas_gpu_check: work dirs and
# checkpoints, not under OUT_DIR), PORT (default 29531). To rehearse the
# plumbing on a machine without a GPU: GPU_CHECK_DEVICE=cpu,
# GPU_CHECK_TRAIN_CONFIG=<config>, GPU_CHECK_BENCH_CONFIGS="<configs>",
# GPU_CHECK_TIME_SCALE=<factor for every time limit>.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

usage() { sed -n '5,8p' "$0" | sed 's/^# *//' >&2; exit 2; }
PLAN=0 QUICK=0 OUT= ONLY=tests_gpu,train,benchmark EXPECT_ONLY=0
for arg in "$@"; do
    if [ "$EXPECT_ONLY" = 1 ]; then
        ONLY=$arg EXPECT_ONLY=0
        for st in ${ONLY//,/ }; do
            case "$st" in
                tests_gpu|train|benchmark) ;;
                *) echo "gpu_check.sh: --only: unknown stage '$st'" \
                        "(stages: tests_gpu, train, benchmark)" >&2; exit 2 ;;
            esac
        done
        continue
    fi
    case "$arg" in
        --plan) PLAN=1 ;;
        --quick) QUICK=1 ;;
        --only) EXPECT_ONLY=1 ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        -*) echo "gpu_check.sh: unknown option $arg" >&2; usage ;;
        *) [ -z "$OUT" ] || usage; OUT=$arg ;;
    esac
done
[ "$EXPECT_ONLY" = 0 ] || usage
[ "$PLAN" = 1 ] || [ -n "$OUT" ] || usage
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

PY=${PYTHON:-python3}
SITE=${MMFAS_SITE:-/tmp/mmfas_site}
WORK=${WORK:-/tmp/mmfas_gpu_check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
TRAIN_CONFIG=${GPU_CHECK_TRAIN_CONFIG:-configs/flip/flip-it_vitb16_demo.py}
BENCH=${REPO}/tools/analysis_tools/benchmark.py

# ------------------------------------------------------------ time budget
# seconds: stage limits; the benchmark gets what is left of TOTAL
if [ "$QUICK" = 1 ]; then
    TOTAL=300 T_SETUP=60 T_TESTS=60 T_TRAIN=110 T_BENCH_RUN=50
    TRAIN_ITERS=20
    BENCH_ARGS="--batch-size 32 --iters 2 --warmup 2 --repeats 2"
    PYTEST_ARGS="-q -x"
else
    TOTAL=470 T_SETUP=60 T_TESTS=90 T_TRAIN=170 T_BENCH_RUN=75
    TRAIN_ITERS=100
    BENCH_ARGS="--batch-size 32 --iters 3 --warmup 3 --repeats 3"
    PYTEST_ARGS="-q"
fi
SCALE=${GPU_CHECK_TIME_SCALE:-1}
for v in TOTAL T_SETUP T_TESTS T_TRAIN T_BENCH_RUN; do
    eval "$v=\$(( $v * SCALE ))"
done
TRAIN_ARGS="--amp --test --work-dir $WORK/train"
TRAIN_ARGS+=" --cfg-options train_cfg.max_iters=$TRAIN_ITERS"
TRAIN_ARGS+=" train_cfg.val_interval=$((TRAIN_ITERS / 2))"
TRAIN_ARGS+=" default_hooks.checkpoint.interval=$((TRAIN_ITERS / 2))"
[ "$DEVICE" = cuda ] || TRAIN_ARGS+=" train_dataloader.num_workers=0"

# FLIP-IT, then one ViT-B/16 config per seed method folder
bench_configs() {
    if [ -n "${GPU_CHECK_BENCH_CONFIGS:-}" ]; then
        printf '%s\n' $GPU_CHECK_BENCH_CONFIGS
        return
    fi
    echo configs/flip/flip-it_vitb16_oci2m.py
    local d pick f LC_ALL=C
    for d in configs/*/; do
        case "$(basename "$d")" in _base_|flip) continue ;; esac
        pick=
        for f in "$d"*vitb16_ocim.py "$d"*vitb16_oci2m.py \
                 "$d"*vitb16_crossmodal_surf_depth_5shot.py "$d"*vitb16*.py; do
            case "$f" in *_legacy.py) continue ;; esac
            [ -e "$f" ] && { pick=$f; break; }
        done
        [ -n "$pick" ] && echo "$pick"
    done
}
BENCH_CONFIGS=($(bench_configs))
if [ "$DEVICE" != cuda ]; then
    # --amp is bf16 autocast without CUDA (BF16AmpOptimWrapper)
    DTYPES=(bf16) FP16=() BF16=(--amp)
elif grep -q -- "'--amp-dtype'" "$BENCH"; then
    DTYPES=(fp16 bf16)
    FP16=(--amp --amp-dtype fp16) BF16=(--amp --amp-dtype bf16)
else
    # bf16 training through mmengine's AmpOptimWrapper(dtype=bfloat16);
    # benchmark.py's inference autocast stays fp16 on a GPU
    DTYPES=(fp16 bf16) FP16=(--amp)
    BF16=(--amp --cfg-options optim_wrapper.type=AmpOptimWrapper
          optim_wrapper.dtype=bfloat16)
fi
amp_args() {
    if [ "$1" = fp16 ]; then echo "${FP16[*]}"; else echo "${BF16[*]}"; fi
}

wheels_line() {
    shopt -s nullglob
    local w=(.whl/*.whl)
    shopt -u nullglob
    if [ ${#w[@]} -gt 0 ]; then
        local bytes=0 f
        for f in "${w[@]}"; do bytes=$((bytes + $(stat -c %s "$f"))); done
        echo "${#w[@]} wheels in .whl/ ($(awk -v b=$bytes \
            'BEGIN{printf "%.2f", b/1048576}') MiB):"
        for f in "${w[@]}"; do echo "    $(basename "$f")"; done
    else
        echo "NO WHEELS in .whl/ (run: bash tools/misc/gpu_wheels.sh, then" \
             "carry .whl); the pins it would download:"
        bash tools/misc/gpu_wheels.sh --list | sed 's/^/    /'
    fi
}

if [ "$PLAN" = 1 ]; then
    mode=full; [ "$QUICK" = 1 ] && mode=quick
    echo "gpu_check.sh plan ($mode run, device $DEVICE, python $PY," \
         "stages setup,$ONLY)"
    echo
    echo "stage 0 setup      limit ${T_SETUP}s: pip install --no-index" \
         "--no-deps --target $SITE .whl/*.whl;"
    echo "                   PYTHONPATH=$REPO:$SITE; versions; imports"
    echo "  $(wheels_line | head -1)"
    wheels_line | tail -n +2
    echo "stage 1 tests_gpu  limit ${T_TESTS}s: $PY -m pytest tests_gpu" \
         "$PYTEST_ARGS"
    echo "stage 2 train      limit ${T_TRAIN}s:" \
         "$PY tools/misc/make_demo_data.py" \
         "--out data/demo (if missing);"
    echo "                   bash tools/dist_train.sh $TRAIN_CONFIG 1" \
         "$TRAIN_ARGS"
    echo "stage 3 benchmark  what is left of ${TOTAL}s, at most" \
         "${T_BENCH_RUN}s a run, ${#BENCH_CONFIGS[@]} configs x" \
         "${DTYPES[*]}:"
    for c in "${BENCH_CONFIGS[@]}"; do
        for d in "${DTYPES[@]}"; do
            echo "    $PY tools/analysis_tools/benchmark.py $c" \
                 "--no-pretrained --device $DEVICE $BENCH_ARGS --json" \
                 "WORK/benchmark/$(basename "$c" .py)_$d.json $(amp_args $d)"
        done
    done
    echo
    echo "time budget: ${TOTAL}s in all ($((TOTAL / 60)) min $((TOTAL % 60))" \
         "s; the GPU machine allows 10 min a call)"
    echo "outputs under OUT_DIR: env.txt tests_gpu.txt train.txt" \
         "benchmark.txt benchmark.json readme_rows.md summary.txt"
    missing=0
    for f in "$TRAIN_CONFIG" "${BENCH_CONFIGS[@]}" tools/dist_train.sh \
             tools/misc/make_demo_data.py "$BENCH"; do
        [ -e "$f" ] || { echo "MISSING: $f"; missing=1; }
    done
    for flag in --no-pretrained --device --amp --batch-size --iters \
                --warmup --repeats --json --cfg-options; do
        grep -q -- "'$flag'" "$BENCH" || {
            echo "MISSING: benchmark.py has no $flag option"; missing=1; }
    done
    exit $missing
fi

# ==================================================================== run
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
T0=$(date +%s)
FAILED=0
export PYTHONUNBUFFERED=1 PY SITE WORK DEVICE REPO TRAIN_CONFIG TRAIN_ARGS \
    PYTEST_ARGS
export PORT=${PORT:-29531}
# nothing can be downloaded there: fail at once instead of waiting
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
# tools/dist_train.sh runs `python`: make it $PY (a wrapper, not a link, so
# that a virtual environment's python keeps its environment)
prefix() { "$1" -c 'import sys; print(sys.prefix)' 2>/dev/null; }
if [ "$(prefix python)" != "$(prefix "$PY")" ]; then
    mkdir -p "$WORK/bin"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PY")" \
        >"$WORK/bin/python"
    chmod +x "$WORK/bin/python"
    export PATH="$WORK/bin:$PATH"
    echo "gpu_check.sh: \`python\` is not $PY here: $WORK/bin/python runs it"
fi
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"

elapsed() { echo $(( $(date +%s) - T0 )); }
note() { echo "$*" | tee -a "$SUMMARY"; }
seconds_since() {  # seconds since a `date +%s%N`, one decimal
    awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}

# run_stage NAME LIMIT LOGFILE FUNCTION: the (exported) shell function,
# timed, limited and logged; prints the log's tail
run_stage() {
    local name=$1 limit=$2 log=$3 fn=$4 start rc status
    start=$(date +%s%N)
    echo "== stage $name (limit ${limit}s): $fn" | tee -a "$log"
    timeout -k 10 "$limit" bash -c "$fn" >>"$log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124|137) status="TIMEOUT (${limit}s)" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    if [ $rc = 0 ]; then
        tail -n 4 "$log" | sed 's/^/    | /'
    else
        FAILED=1
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
    note "$(printf '%-14s %-20s %7ss   %s' "$name" "$status" \
        "$(seconds_since "$start")" "$(basename "$log")")"
    return $rc
}

# ------------------------------------------------------------- 0. setup
stage_setup() {
    set -e
    cd "$REPO"
    shopt -s nullglob
    local wheels=(.whl/*.whl)
    shopt -u nullglob
    if [ ${#wheels[@]} -eq 0 ]; then
        if "$PY" -c 'import mmengine, mmcv, mmpretrain, open_clip' \
                2>/dev/null; then
            echo "no .whl/: the packages are already importable"
        else
            echo "ERROR: no wheels in .whl/ and mmengine / mmcv /" \
                 "mmpretrain / open_clip are not installed. On a machine" \
                 "with the registry run 'bash tools/misc/gpu_wheels.sh'," \
                 "then carry '.whl' with this call."
            return 1
        fi
    else
        echo "installing ${#wheels[@]} wheels into $SITE:" \
             "$(basename -a "${wheels[@]}" | tr '\n' ' ')"
        "$PY" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --root-user-action=ignore \
            --target "$SITE" "${wheels[@]}"
    fi
    # Python 3.12 has no distutils; mmengine's collect_env (the Runner's
    # environment log) imports it, and setuptools provides it once imported
    if ! "$PY" -c 'import distutils' 2>/dev/null; then
        mkdir -p "$SITE"
        cat >"$SITE/sitecustomize.py" <<'PYEOF'
"""Written by tools/misc/gpu_check.sh: Python >= 3.12 has no distutils,
which mmengine's collect_env imports; setuptools provides it once
imported. Then runs the sitecustomize this one shadows, if any."""
import importlib.util
import os
import sys

try:
    import distutils  # noqa: F401
except ImportError:
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pass
_here = os.path.dirname(os.path.abspath(__file__))
for _dir in sys.path:
    _file = os.path.join(_dir or '.', 'sitecustomize.py')
    if os.path.abspath(_dir or '.') != _here and os.path.isfile(_file):
        _spec = importlib.util.spec_from_file_location('_sitecustomize', _file)
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
PYEOF
        echo "no distutils: $SITE/sitecustomize.py imports setuptools"
        "$PY" -c 'import distutils' || echo "WARNING: still no distutils"
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
        || echo "(no nvidia-smi)"
    "$PY" - "$DEVICE" <<'PYEOF'
import importlib.metadata as md
import platform
import sys

import torch

device = sys.argv[1]
print(f'python {sys.version.split()[0]} ({sys.executable}) on '
      f'{platform.platform()}')
print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN '
      f'{torch.backends.cudnn.version()}, CUDA available '
      f'{torch.cuda.is_available()}')
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f'GPU 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, capability '
          f'{p.major}.{p.minor}, {torch.cuda.device_count()} device(s), '
          f'bf16 {torch.cuda.is_bf16_supported()}')
elif device == 'cuda':
    sys.exit('ERROR: torch sees no CUDA device')
names = ('mmengine mmcv-lite mmpretrain open_clip_torch numpy '
         'opencv-python-headless opencv-python scikit-learn matplotlib timm '
         'huggingface-hub safetensors pillow pyyaml rich regex tqdm einops '
         'packaging zipp setuptools click markdown pytest torchvision').split()
found = []
for n in names:
    try:
        found.append(f'{n}=={md.version(n)}')
    except md.PackageNotFoundError:
        found.append(f'{n}: none')
print('packages: ' + ', '.join(found))
import mmcv, mmengine, mmpretrain, open_clip  # noqa: E401,F401,E402
from mmengine.utils.dl_utils import collect_env  # noqa: E402

import mmfas  # noqa: E402
from mmfas.utils import register_all_modules  # noqa: E402

register_all_modules()
collect_env()
print(f'imports OK (mmfas from {mmfas.__file__})')
PYEOF
}

# --------------------------------------------------------- 1. tests_gpu
stage_tests() {
    cd "$REPO"
    MMFAS_TESTS_GPU_DEVICE=$DEVICE "$PY" -m pytest tests_gpu $PYTEST_ARGS \
        -p no:cacheprovider
}

# ------------------------------------------------------------- 2. train
stage_train() {
    set -e
    cd "$REPO"
    # skipped by the generator when data/demo is up to date
    "$PY" tools/misc/make_demo_data.py --out data/demo
    rm -rf "$WORK/train"
    bash tools/dist_train.sh "$TRAIN_CONFIG" 1 $TRAIN_ARGS
}

export -f stage_setup stage_tests stage_train
mode=; [ "$QUICK" = 1 ] && mode=' --quick'
echo "gpu_check.sh: OUT_DIR=$OUT, budget ${TOTAL}s$mode, device $DEVICE"
if ! run_stage setup "$T_SETUP" "$OUT/env.txt" stage_setup; then
    note "setup failed: the other stages need its packages; stopping."
    note "total $(elapsed)s: FAILED"
    exit 1
fi
skipped() { note "$(printf '%-14s %-20s' "$1" 'not run (--only)')"; }
if wanted tests_gpu; then
    run_stage tests_gpu "$T_TESTS" "$OUT/tests_gpu.txt" stage_tests
else
    skipped tests_gpu
fi
if wanted train; then
    run_stage train "$T_TRAIN" "$OUT/train.txt" stage_train
else
    skipped train
fi

# --------------------------------------------------------- 3. benchmark
run_benchmark() {
BENCH_LOG=$OUT/benchmark.txt
BENCH_DIR=$WORK/benchmark
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
: >"$BENCH_DIR/runs.tsv"
bench_start=$(date +%s%N)
echo "== stage benchmark (what is left of ${TOTAL}s): ${#BENCH_CONFIGS[@]}" \
     "configs x ${DTYPES[*]}" | tee -a "$BENCH_LOG"
bench_failed=0
for cfg in "${BENCH_CONFIGS[@]}"; do
    for dt in "${DTYPES[@]}"; do
        name=$(basename "$cfg" .py)_$dt
        left=$((TOTAL - $(elapsed) - 10))
        limit=$((left < T_BENCH_RUN ? left : T_BENCH_RUN))
        cmd=("$PY" tools/analysis_tools/benchmark.py "$cfg" --no-pretrained
             --device "$DEVICE" $BENCH_ARGS --json "$BENCH_DIR/$name.json"
             $(amp_args "$dt"))
        if [ $limit -lt 25 ]; then
            printf '%s\t%s\tskipped (time budget)\t0\t\t%s\n' "$cfg" "$dt" \
                "${cmd[*]}" >>"$BENCH_DIR/runs.tsv"
            echo "-- $name: skipped, ${left}s left" | tee -a "$BENCH_LOG"
            bench_failed=1
            continue
        fi
        echo "-- $name (limit ${limit}s) \$ ${cmd[*]}" | tee -a "$BENCH_LOG"
        start=$(date +%s%N)
        timeout -k 10 $limit "${cmd[@]}" >>"$BENCH_LOG" 2>&1
        rc=$?
        case $rc in
            0) st=ok ;;
            124|137) st="timeout (${limit}s)"; bench_failed=1 ;;
            *) st="failed (exit $rc)"; bench_failed=1 ;;
        esac
        secs=$(seconds_since "$start")
        echo "   $st, ${secs}s" | tee -a "$BENCH_LOG"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$dt" "$st" "$secs" \
            "$BENCH_DIR/$name.json" "${cmd[*]}" >>"$BENCH_DIR/runs.tsv"
    done
done
"$PY" - "$BENCH_DIR/runs.tsv" "$OUT" "gpu_check.sh $*" >>"$BENCH_LOG" \
    2>&1 <<'PYEOF'
"""benchmark.json (every run, with the machine) and readme_rows.md."""
import datetime
import json
import os
import platform
import sys

import torch

runs_tsv, out, command = sys.argv[1:4]
meta = dict(
    date=datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds'),
    command=f'bash tools/misc/{command}',
    gpu=(torch.cuda.get_device_name(0)
         if torch.cuda.is_available() else platform.processor() or 'cpu'),
    python=platform.python_version(),
    torch=torch.__version__,
    cuda=torch.version.cuda)
runs = []
for line in open(runs_tsv):
    cfg, dtype, status, secs, path, cmd = line.rstrip('\n').split('\t')
    run = dict(config=cfg, dtype=dtype, status=status, seconds=float(secs),
               command=cmd)
    if path and os.path.exists(path):
        run['result'] = json.load(open(path))
    runs.append(run)
json.dump(dict(meta, runs=runs), open(os.path.join(out, 'benchmark.json'),
                                      'w'), indent=2)


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def fmt(x):
    return '-' if x is None else f'{x:.1f}'


rows = [f'GPU rows of the performance table: {meta["gpu"]}, torch '
        f'{meta["torch"]} (CUDA {meta["cuda"]}), Python {meta["python"]}, '
        f'{meta["date"][:10]}, `{meta["command"]}` (ViT-B/16, random '
        'weights, synthetic batches; images/s, peak MiB '
        'max_memory_allocated).', '',
        '| model | AMP | batch | train bare / mmengine img/s | inference '
        'batch 1 / batch N img/s | peak train / inference MiB | status |',
        '|---|---|---|---|---|---|---|']
for run in runs:
    r = run.get('result', {})
    inf = r.get('inference', {})
    keys = sorted(inf, key=lambda k: int(k.split('_')[-1]))
    ips = [get(inf, k, 'cached', 'images_per_s') for k in keys]
    mem = r.get('memory', {})
    peak = [max((get(m, 'max_allocated_mb') or 0)
                for p, m in mem.items() if p.startswith(ph)) or None
            for ph in ('train', 'infer')]
    rows.append(
        f'| {os.path.basename(run["config"])[:-3]} | {run["dtype"]} | '
        f'{r.get("batch_size", "-")} | '
        f'{fmt(get(r, "train", "bare", "images_per_s"))} / '
        f'{fmt(get(r, "train", "mmengine", "images_per_s"))} | '
        f'{" / ".join(fmt(x) for x in ips) or "-"} | '
        f'{fmt(peak[0])} / {fmt(peak[1])} | {run["status"]} |')
open(os.path.join(out, 'readme_rows.md'), 'w').write('\n'.join(rows) + '\n')
print('\n'.join(rows))
PYEOF
[ $? = 0 ] || bench_failed=1
tail -n $((${#BENCH_CONFIGS[@]} * 2 + 2)) "$OUT/readme_rows.md" 2>/dev/null \
    | sed 's/^/    | /'
[ $bench_failed = 0 ] && st=ok || { st="FAILED (see log)"; FAILED=1; }
note "$(printf '%-14s %-20s %7ss   %s' benchmark "$st" \
    "$(seconds_since "$bench_start")" benchmark.txt)"

}
if wanted benchmark; then
    run_benchmark
else
    skipped benchmark
fi

if [ $FAILED = 0 ]; then
    note "total $(elapsed)s: all stages passed"
else
    note "total $(elapsed)s: SOME STAGE FAILED (logs in $OUT)"
fi
exit $FAILED
