#!/usr/bin/env bash
# Prepare what a GPU machine needs beside the repo: Python wheels in .whl/ and the data in .gpu_data/.
#
#   scripts/gpu_kit.sh                  # wheels for the GPU machine (CPython 3.12, manylinux x86_64) + data
#   PY_VERSION=3.11 WHEELS=/tmp/w311 DATA_DIR= scripts/gpu_kit.sh   # the same set for this machine's Python
#   scripts/gpu_kit.sh rehearse [VENV]  # gpu_run.sh DEVICE=cpu in a fresh venv that holds only the image's packages
#
# The GPU image already has torch, Lightning, torchvision, triton, numpy, click, protobuf, requests ... (the
# list below, from the device notes' KINDS.md). It lacks hydra-core, omegaconf, antlr4, kornia(+kornia_rs),
# wandb and some of wandb's dependencies, and the submitit launcher. We resolve the full dependency closure for
# the target Python with pip's resolver, drop what the image has, and download the rest one version each:
# two versions of a package in .whl/ stop the --no-deps install on the machine.
# Both folders are ignored by git; a device call names them in `carry` (see docs/scaling.md, "GPU kit").
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=${PY_VERSION:-3.12}
WHEELS=${WHEELS:-.whl}
DATA_DIR=${DATA_DIR-.gpu_data}               # empty: skip the data
DATA_SRC=${DATA_SRC:-../shared/data/cifar10-jpeg.tar.gz}
PIP="${PIP:-python3 -m pip}"
# the top-level packages the harness imports and the image lacks, pinned to the versions the tests run with
WANTED="hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 kornia==0.9.0 kornia_rs==0.2.0
        wandb==0.31.0 hydra-submitit-launcher==1.2.0 submitit==1.5.4"
# the GPU image's packages (KINDS.md, "Python packages already there"), normalised names
IMAGE="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"

if [ "${1:-}" = rehearse ]; then
    # A fresh venv that sees only those packages of VENV (default: the project's .venv) that the GPU image has,
    # plus wheels for this Python built exactly as for the GPU; then the whole GPU script with tiny sizes.
    # A missing wheel shows up as an import failure here instead of on the GPU machine.
    src_venv=${2:-.venv}
    py=$("$src_venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    rehearsal=${REHEARSAL_DIR:-/tmp/ftn-gpu-rehearsal}
    rm -rf "$rehearsal" && mkdir -p "$rehearsal/image"
    PY_VERSION=$py WHEELS="$rehearsal/wheels" DATA_DIR= PIP="$src_venv/bin/python -m pip" "$0"
    "$src_venv/bin/python" - "$rehearsal/image" "$IMAGE" <<'EOF2'
import importlib.metadata as md, os, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
image, wanted = sys.argv[1], {norm(n) for n in sys.argv[2].split()}
for dist in md.distributions():
    if norm(dist.metadata["Name"]) in wanted:  # link its top-level files and its metadata, nothing else
        tops = {str(f).split("/")[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src, dst = os.path.join(str(dist.locate_file("")), top), os.path.join(image, top)
            if os.path.exists(src) and not os.path.lexists(dst):
                os.symlink(src, dst)
EOF2
    "$(readlink -f "$src_venv/bin/python")" -m venv "$rehearsal/venv"
    echo "$rehearsal/image" > "$(echo "$rehearsal"/venv/lib/python*/site-packages)/gpu_image.pth"
    # the campaign with one seed (10 runs): every run takes the same path, and the GPU call's 50 tiny runs took
    # 472 s of the stage's 500 on a free 2-core CPU, so any load on the machine failed the rehearsal
    PYTHON="$rehearsal/venv/bin/python" WHEELS="$rehearsal/wheels" SITE="$rehearsal/site" DEVICE=cpu \
        OUT="${OUT:-$rehearsal/out}" DEADLINE_S=${DEADLINE_S:-3600} STAGES="${STAGES:-setup info tests bench smoke campaign}" JOBS=2 \
        CAMPAIGNS="${CAMPAIGNS:-init_study --seeds 0}" scripts/gpu_run.sh
    exit $?
fi

TAGS=(--python-version "$PY_VERSION" --implementation cp --only-binary=:all:
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$WHEELS"

echo "== antlr4-python3-runtime 4.9.3 has only an sdist: building its (pure-Python) wheel"
$PIP wheel -q --no-deps --no-binary=:all: -w "$work/antlr" antlr4-python3-runtime==4.9.3

echo "== resolving the dependency closure for CPython $PY_VERSION (pip's resolver, nothing installed)"
# shellcheck disable=SC2086
$PIP install -q --dry-run --ignore-installed --report "$work/report.json" --target "$work/none" "${TAGS[@]}" \
    --find-links "$work/antlr" $WANTED 2>&1 | grep -v "^WARNING: Location" || true
test -s "$work/report.json" || { echo "gpu_kit: the dependency resolve failed (see above)"; exit 1; }

missing=$(python3 - "$work/report.json" "$IMAGE" <<'EOF'
import json, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
image = {norm(n) for n in sys.argv[2].split()}
# nvidia-*/cuda-* wheels come only with torch, which the image has (in its cu13 build)
for item in json.load(open(sys.argv[1]))["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if norm(name) not in image and not norm(name).startswith(("nvidia-", "cuda-")):
        print(f"{name}=={version}")
EOF
)
echo "== carrying $(echo "$missing" | wc -l) packages: $(echo $missing)"
rm -f "$WHEELS"/*.whl  # one version of each: never mix an old set with a new one
cp "$work"/antlr/*.whl "$WHEELS"/
for req in $missing; do
    case $req in antlr4-python3-runtime==*) continue ;; esac
    $PIP download -q --no-deps "${TAGS[@]}" -d "$WHEELS" "$req" 2>&1 | grep -v "^WARNING: Location" || true
done
count=$(ls "$WHEELS"/*.whl | wc -l)
[ "$count" -eq "$(echo "$missing" | wc -l)" ] || { echo "gpu_kit: $count wheels in $WHEELS for $(echo "$missing" | wc -l) packages"; exit 1; }

if [ -n "$DATA_DIR" ]; then
    echo "== data: $DATA_SRC -> $DATA_DIR/"
    mkdir -p "$DATA_DIR"
    cp "$DATA_SRC" "$DATA_SRC.sha256" "$DATA_DIR"/
    (cd "$DATA_DIR" && sha256sum -c "$(basename "$DATA_SRC").sha256")
fi

# What a device call sends: tracked + untracked-not-ignored files, plus the carried folders. Limit: 64 MiB.
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r stat -c %s -- 2>/dev/null \
       | awk '{s += $1} END {print s + 0}')
carry=(); [ -d .gpu_carry ] && carry=(.gpu_carry)  # an earlier call's records, for the next call
carried=$(du -sb "$WHEELS" ${DATA_DIR:+"$DATA_DIR"} "${carry[@]}" | awk '{s += $1} END {print s}')
total=$((tree + carried))
printf '== travels: tree %.1f MiB + carried (%s%s%s) %.1f MiB = %.1f MiB of 64 MiB\n' \
    "$(echo "$tree / 1048576" | bc -l)" "$WHEELS" "${DATA_DIR:+, $DATA_DIR}" "${carry:+, .gpu_carry}" \
    "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
[ "$total" -lt $((64 * 1048576)) ] || { echo "gpu_kit: over the 64 MiB a device call may carry"; exit 1; }
