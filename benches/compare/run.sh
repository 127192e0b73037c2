#!/usr/bin/env bash
# Side by side: importing N images + masks (2048x2048 uint16, uncompressed TIFF) into OME-Zarr 0.5 with
# 256x256 chunks and a 2x pyramid down to 256, by tifffile + ome-zarr-py (what users write today)
# and by `mifa add`. Same data, same machine, one run each, fresh output. Prints both and the ratio.
# Usage: bash benches/compare/run.sh [N]      (needs the validators venv: see README.md here)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-16}
py=${PY:-.venv-validators/main/bin/python}
work=${WORK:-/tmp/mifa-compare}
cargo build --release --quiet
mkdir -p "$work"
if [ ! -d "$work/data-$n/img" ]; then
  "$py" benches/compare/make_data.py "$work/data-$n" --n "$n" 2>/dev/null
fi
rm -rf "$work/ozp" "$work/pkg"
sync
# ext4 slows inode allocation for ~30 s after deletions ("recently deleted" inodes): let it pass,
# so neither tool pays for the previous run's clean-up.
sleep 35
t0=$(date +%s.%N)
"$py" benches/compare/ome_zarr_py_import.py "$work/data-$n" "$work/ozp" | tee "$work/ozp.txt"
t1=$(date +%s.%N)
target/release/mifa init "$work/pkg" --title "Side by side import benchmark package" --license CC0-1.0 >/dev/null
sync
t2=$(date +%s.%N)
target/release/mifa add "$work/pkg" "$work/data-$n"/img/*.tif --masks "$work/data-$n/mask" --mask-name cells ${MIFA_ARGS:-} | tail -1 | tee "$work/mifa.txt"
t3=$(date +%s.%N)
mb=$(du -sb "$work/data-$n" | cut -f1)
python3 - "$t0" "$t1" "$t2" "$t3" "$mb" <<'PY'
import sys
t0, t1, t2, t3, b = map(float, sys.argv[1:])
py, rs = t1 - t0, t3 - t2
print(f"whole commands (process start included): ome-zarr-py {py:.2f} s, mifa {rs:.2f} s")
print(f"throughput on {b/1e6:.0f} MB of TIFF: ome-zarr-py {b/1e6/py:.1f} MB/s, mifa {b/1e6/rs:.1f} MB/s, ratio {py/rs:.1f}x")
PY
du -sh "$work/ozp" "$work/pkg/images" | sed 's/^/on disk: /'
