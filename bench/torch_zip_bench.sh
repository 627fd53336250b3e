#!/usr/bin/env bash
# Benchmark (not a test): loads a torch.save zip checkpoint of about 1 GiB
# of f32 tensors with loadgate, Python's torch.load and plain mmap + memcpy,
# in one run, and prints the times and ratios. See bench/torch_zip_bench.c.
#
#   bench/torch_zip_bench.sh [BUILD]      BUILD: a configured build folder (default build)
#
# Environment: MIB (checkpoint size, default 1024), TENSORS (default 64),
# REPEATS (default 3), PYTHON (default: the first of python3 and
# /usr/bin/python3 that imports torch; Debian: apt-get install python3-torch),
# BENCH_FILE (default $TMPDIR/loadgate-bench-<MIB>MiB.pt, kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" >/dev/null
cmake --build "$build" --target torch_zip_bench -j "${JOBS:-2}" >/dev/null

mib=${MIB:-1024}
file=${BENCH_FILE:-${TMPDIR:-/tmp}/loadgate-bench-${mib}MiB.pt}
python=${PYTHON:-}
if [ -z "$python" ]; then
  python=python3
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$p; break; fi
  done
fi
echo "machine: $(nproc) cores, $(uname -sr); python: $python"
exec "$build/torch_zip_bench" -m "$mib" -t "${TENSORS:-64}" -r "${REPEATS:-3}" -p "$python" "$file"
