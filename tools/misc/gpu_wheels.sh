#!/usr/bin/env bash
# Wheels for the GPU machine, which has no network.
#
# The GPU machine (one H200) runs Python 3.12 with torch 2.11.0, numpy,
# opencv-python-headless, scikit-learn, matplotlib, timm, huggingface_hub and
# more, but none of OpenMMLab's packages nor open_clip. This script, run on a
# development machine that reaches the package registry, downloads into .whl/
# (git-ignored; it travels to the GPU machine as a carried path) the Python
# 3.12 wheels of every runtime dependency that machine lacks, at the pinned
# versions below (the versions the test suite runs with here; the pins must
# satisfy requirements/runtime.txt, which --check verifies), and prints their
# total size. tools/misc/gpu_check.sh installs them there with
#   pip install --no-index --no-deps --target DIR .whl/*.whl
#
# Usage:
#   bash tools/misc/gpu_wheels.sh           download (only what is missing)
#   bash tools/misc/gpu_wheels.sh --check   prove offline that the set is
#                                           complete and installs
#   bash tools/misc/gpu_wheels.sh --list    print the pins
# Environment: WHEEL_DIR (default .whl), MAX_WHEEL_MIB (default 48: the
# wheels and the working tree share the GPU machine's 64 MiB), PYTHON312 (a
# Python 3.12 for --check's install and byte-compilation; default: python3.12
# on the PATH, else python3's pip installs for 3.12 without compiling).
set -euo pipefail
cd "$(dirname "$0")/../.."

WHEEL_DIR=${WHEEL_DIR:-.whl}
MAX_WHEEL_MIB=${MAX_WHEEL_MIB:-48}

# What the GPU machine lacks, pinned. Top-level: requirements/runtime.txt's
# packages that the GPU machine does not have; then their own requirements
# (Requires-Dist) that it does not have either.
PINS=(
    mmengine==0.10.7          # runtime.txt: mmengine>=0.10.7,<0.11
    mmcv-lite==2.1.0          # runtime.txt: mmcv-lite>=2.1.0,<2.2.0
    mmpretrain==1.2.0         # runtime.txt: mmpretrain>=1.2.0,<1.3
    open_clip_torch==3.3.0    # runtime.txt: open_clip_torch>=3.3,<4
    addict==2.4.0             # mmengine, mmcv-lite
    termcolor==3.3.0          # mmengine
    yapf==0.43.0              # mmengine, mmcv-lite
    platformdirs==4.14.9      # yapf
    importlib-metadata==10.2.0  # mmpretrain (imported at import time)
    lazy-importer==0.1.0      # importlib-metadata
    mat4py==0.6.0             # mmpretrain (imported by mmpretrain.datasets)
    modelindex==0.0.2         # mmpretrain (a shim that requires model-index)
    model-index==0.1.11       # modelindex (the `modelindex` module)
    ordered-set==4.1.0        # model-index
    ftfy==6.3.1               # open_clip_torch
    wcwidth==0.7.0            # ftfy
)

# What the GPU machine has (/work/.library/device/KINDS.md, read 2026-11):
# NAME==VERSION where the version was recorded there, NAME alone where not
# (--check then accepts any version and says so). opencv-python stands for
# opencv-python-headless (same cv2 module; mmengine and mmcv-lite name the
# former).
GPU_HAS=(
    torch==2.11.0 torchvision==0.26.0 numpy==2.5.2 safetensors==0.8.0
    huggingface-hub==1.33.0 triton==3.6.0 onnx==1.23.1 onnxruntime==1.30.0
    opencv-python opencv-python-headless scikit-learn scipy matplotlib pillow
    pyyaml rich regex tqdm timm einops packaging click markdown zipp
    setuptools requests filelock fsspec jinja2 networkx sympy
    typing-extensions
)

PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64)
PY_TARGET=(--python-version 3.12 --implementation cp --abi cp312
           --only-binary=:all: "${PLATFORMS[@]}")

die() { echo "gpu_wheels.sh: ERROR: $*" >&2; exit 1; }

mode=download
case "${1:-}" in
    '') ;;
    --check) mode=check ;;
    --list) printf '%s\n' "${PINS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (use --check, --list or nothing)" ;;
esac

# The wheel file of a pin in WHEEL_DIR (name normalised as wheels spell it).
wheel_of() {
    local name=${1%%==*} version=${1##*==}
    name=$(echo "$name" | tr 'A-Z.-' 'a-z__')
    local f
    for f in "$WHEEL_DIR"/*.whl; do
        [ -e "$f" ] || continue
        local base
        base=$(basename "$f" | tr 'A-Z' 'a-z')
        case "$base" in
            "${name}-${version}-"*) echo "$f"; return 0 ;;
        esac
    done
    return 1
}

total_size() {
    # bytes of the wheels, then MiB with two decimals
    local bytes=0 f
    for f in "$WHEEL_DIR"/*.whl; do
        [ -e "$f" ] && bytes=$((bytes + $(stat -c %s "$f")))
    done
    echo "$bytes"
}

report_size() {
    local bytes mib
    bytes=$(total_size)
    mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
    local n
    n=$(ls "$WHEEL_DIR"/*.whl 2>/dev/null | wc -l)
    echo "gpu_wheels.sh: $n wheels in $WHEEL_DIR/, $mib MiB in all" \
         "(limit $MAX_WHEEL_MIB MiB; wheels + working tree <= 64 MiB)"
    if awk -v b="$bytes" -v m="$MAX_WHEEL_MIB" \
            'BEGIN { exit !(b > m * 1048576) }'; then
        die "the wheels take $mib MiB, more than MAX_WHEEL_MIB=$MAX_WHEEL_MIB"
    fi
}

if [ "$mode" = download ]; then
    mkdir -p "$WHEEL_DIR"
    missing=()
    for pin in "${PINS[@]}"; do
        wheel_of "$pin" >/dev/null || missing+=("$pin")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "gpu_wheels.sh: downloading ${missing[*]}"
        python3 -m pip download --no-deps "${PY_TARGET[@]}" \
            -d "$WHEEL_DIR" "${missing[@]}"
    fi
    for pin in "${PINS[@]}"; do
        wheel_of "$pin" >/dev/null || die "no wheel for $pin in $WHEEL_DIR/" \
            "after downloading (is it published as a py3 / cp312 wheel?)"
    done
    # keep exactly the pinned set: two versions of one package stop the
    # install on the GPU machine
    keep=()
    for pin in "${PINS[@]}"; do keep+=("$(wheel_of "$pin")"); done
    for f in "$WHEEL_DIR"/*.whl; do
        case " ${keep[*]} " in
            *" $f "*) ;;
            *) echo "gpu_wheels.sh: removing $f (not pinned)"; rm -f "$f" ;;
        esac
    done
    ls -l "$WHEEL_DIR"
    report_size
    echo "gpu_wheels.sh: next: bash tools/misc/gpu_wheels.sh --check"
    exit 0
fi

# ------------------------------------------------------------------ --check
shopt -s nullglob
wheels=("$WHEEL_DIR"/*.whl)
shopt -u nullglob
if [ ! -d "$WHEEL_DIR" ] || [ ${#wheels[@]} -eq 0 ]; then
    die "no wheels in $WHEEL_DIR/: run 'bash tools/misc/gpu_wheels.sh'" \
        "first (it downloads the ${#PINS[@]} pinned wheels)"
fi
for pin in "${PINS[@]}"; do
    wheel_of "$pin" >/dev/null || die "missing wheel for $pin in" \
        "$WHEEL_DIR/: run 'bash tools/misc/gpu_wheels.sh'"
done
if [ ${#wheels[@]} -ne ${#PINS[@]} ]; then
    die "$WHEEL_DIR/ holds ${#wheels[@]} wheels for ${#PINS[@]} pins:" \
        "rerun 'bash tools/misc/gpu_wheels.sh' to remove the stray ones"
fi
report_size

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# no index, no pip configuration (its find-links / extra index would hide a
# missing wheel): only .whl/ and the stand-ins for the GPU machine's packages
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT

# 1. every pin consistent with requirements/runtime.txt, every runtime
#    requirement either pinned here or on the GPU machine; stand-in wheels
#    (metadata only) for what the GPU machine has
PINS_STR="${PINS[*]}" GPU_HAS_STR="${GPU_HAS[*]}" STUBS="$tmp/gpu_has" \
python3 - <<'EOF'
import os
import sys
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pins = {}
for p in os.environ['PINS_STR'].split():
    name, version = p.split('==')
    pins[canonicalize_name(name)] = Version(version)
has = {}
for p in os.environ['GPU_HAS_STR'].split():
    name, _, version = p.partition('==')
    has[canonicalize_name(name)] = Version(version) if version else None

errors, notes = [], []
with open('requirements/runtime.txt') as f:
    for lineno, line in enumerate(f, 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        where = f'requirements/runtime.txt:{lineno} ({line})'
        if name in pins:
            if pins[name] not in req.specifier:
                errors.append(f'{where}: the pin {name}=={pins[name]} does '
                              'not satisfy it')
        elif name in has:
            v = has[name]
            if v is None:
                notes.append(f'{where}: on the GPU machine (version not '
                             'recorded)')
            elif v not in req.specifier:
                notes.append(f'{where}: the GPU machine has {name} {v} '
                             '(used as is; the code supports it)')
        else:
            errors.append(f'{where}: neither pinned in gpu_wheels.sh nor on '
                          'the GPU machine')
for name in pins:
    if name in has:
        notes.append(f'{name}: pinned although the GPU machine has it (the '
                     'wheel goes first on PYTHONPATH)')
for n in notes:
    print(f'gpu_wheels.sh: note: {n}')
if errors:
    sys.exit('gpu_wheels.sh: ERROR: ' + '\n  '.join(errors))

# stand-ins: name + version, no code, no requirements
os.makedirs(os.environ['STUBS'])
for name, version in has.items():
    version = version or Version('9999')  # not recorded: any version
    dist = f'{name.replace("-", "_")}-{version}'
    path = os.path.join(os.environ['STUBS'], f'{dist}-py3-none-any.whl')
    with zipfile.ZipFile(path, 'w') as z:
        files = {
            f'{dist}.dist-info/METADATA':
            f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n',
            f'{dist}.dist-info/WHEEL':
            'Wheel-Version: 1.0\nGenerator: gpu_wheels.sh\n'
            'Root-Is-Purelib: true\nTag: py3-none-any\n',
        }
        files[f'{dist}.dist-info/RECORD'] = ''.join(
            f'{k},,\n' for k in [*files, f'{dist}.dist-info/RECORD'])
        for k, v in files.items():
            z.writestr(k, v)
print(f'gpu_wheels.sh: pins agree with requirements/runtime.txt; '
      f'{len(has)} packages stand in for the GPU machine\'s')
EOF

# 2. pip's resolver, offline, for Python 3.12: the top-level pins with all
#    their requirements must be met by .whl/ + the GPU machine's packages;
#    a missing wheel fails here ("No matching distribution found for X")
top=()
for pin in "${PINS[@]}"; do
    case "$pin" in
        mmengine==*|mmcv-lite==*|mmpretrain==*|open_clip_torch==*)
            top+=("$pin") ;;
    esac
done
echo "gpu_wheels.sh: resolving ${top[*]} offline for Python 3.12"
if ! python3 -m pip install --dry-run --no-index --find-links "$WHEEL_DIR" \
        --find-links "$tmp/gpu_has" "${PY_TARGET[@]}" --target "$tmp/site" \
        --report "$tmp/report.json" --quiet "${top[@]}" \
        >"$tmp/resolve.log" 2>&1; then
    cat "$tmp/resolve.log" >&2
    die "the wheels in $WHEEL_DIR/ do not install offline (above: the" \
        "requirement no wheel provides); add its pin to gpu_wheels.sh"
fi
GPU_HAS_STR="${GPU_HAS[*]}" WHEEL_DIR="$WHEEL_DIR" \
python3 - "$tmp/report.json" <<'EOF'
import json
import os
import sys

from packaging.utils import canonicalize_name, parse_wheel_filename

report = json.load(open(sys.argv[1]))
has = {canonicalize_name(p.partition('==')[0])
       for p in os.environ['GPU_HAS_STR'].split()}
wheels = {}
for f in os.listdir(os.environ['WHEEL_DIR']):
    if f.endswith('.whl'):
        name, version, _, _ = parse_wheel_filename(f)
        wheels[name] = (str(version), f)
from_wheels, from_gpu = [], []
for item in report['install']:
    meta = item['metadata']
    name = canonicalize_name(meta['name'])
    if name in wheels and wheels[name][0] == meta['version']:
        from_wheels.append(f'{name}=={meta["version"]}')
    elif name in has:
        from_gpu.append(name)
    else:
        sys.exit(f'gpu_wheels.sh: ERROR: {name} {meta["version"]} would come '
                 'from neither the wheels nor the GPU machine')
unused = sorted(set(wheels) - {w.split('==')[0] for w in from_wheels})
if unused:
    sys.exit('gpu_wheels.sh: ERROR: wheels no requirement needs: '
             + ', '.join(unused))
print(f'gpu_wheels.sh: resolved offline: {len(from_wheels)} from the wheels '
      f'({", ".join(sorted(from_wheels))}); from the GPU machine: '
      f'{", ".join(sorted(from_gpu))}')
EOF

# 3. the GPU machine's own command, offline
py312=${PYTHON312:-$(command -v python3.12 || true)}
if [ -n "$py312" ] && "$py312" -m pip --version >/dev/null 2>&1; then
    echo "gpu_wheels.sh: installing as gpu_check.sh does, with $py312"
    "$py312" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --root-user-action=ignore --target "$tmp/install" \
        "$WHEEL_DIR"/*.whl
    # every module byte-compiles under Python 3.12 (warnings aside)
    if ! "$py312" -m compileall -q "$tmp/install" >"$tmp/compile.log" 2>&1
    then
        cat "$tmp/compile.log" >&2
        die "a file of the wheels does not compile under Python 3.12"
    fi
else
    echo "gpu_wheels.sh: no python3.12 here: installing for Python 3.12" \
         "with python3's pip"
    python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --root-user-action=ignore "${PY_TARGET[@]}" \
        --target "$tmp/install" "$WHEEL_DIR"/*.whl
fi
for mod in mmengine mmcv mmpretrain open_clip addict termcolor yapf \
           platformdirs importlib_metadata lazy_importer mat4py modelindex \
           ordered_set ftfy wcwidth; do
    [ -e "$tmp/install/$mod" ] || [ -e "$tmp/install/$mod.py" ] \
        || die "after installing $WHEEL_DIR/*.whl, module '$mod' is missing"
done
echo "gpu_wheels.sh: OK: ${#PINS[@]} wheels install offline with" \
     "--no-index --no-deps for Python 3.12 and cover every requirement"
