#!/usr/bin/env bash
# Training-data loading side by side: random 256x256 (image, label) patches from a package of 16 images of
# 2048x2048 uint16 with an instance label `cells`, by a torch DataLoader over zarr-python
# (loader_torch.py, what users write today; workers 2, then 0) and by `mifa load` (workers 2, with its
# chunk cache, then `--cache-mb 0`). Warm page cache for all runs. Prints each tool's figure and the ratios.
# Usage: bash benches/compare/loader.sh
#   TCH_VENV (default .venv-tch: made here with the pins below if missing), WORK (default
#   target/bench-loader: data/ and pkg/ are made once and reused), TORCH_BATCHES (default 100),
#   MIFA_BATCHES (default 200).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${TCH_VENV:-.venv-tch}
work=${WORK:-target/bench-loader}
data=$work/data
pkg=$work/pkg
n=16
torch_batches=${TORCH_BATCHES:-100}
mifa_batches=${MIFA_BATCHES:-200}
mifa=target/release/mifa
pins=(torch==2.13.0 "numpy<3" zarr==3.1.6 tifffile)
last=$(printf 'img_%02d' $((n - 1)))
now() { date +%s.%N; }
took() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f} s")' "$1" "$(now)"; }

# (a) Python with torch + zarr-python, and the data (uncompressed TIFF, reused if complete).
t=$(now)
if ! "$venv/bin/python" -c 'import torch, zarr, tifffile' 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pins[@]}"          # ~1-2 min, 4.7 GB (torch's CUDA wheels)
fi
py=$venv/bin/python
if [ ! -f "$data/mask/$last.tif" ]; then
  rm -rf "$data"
  "$py" benches/compare/make_data.py "$data" --n "$n" --size 2048 2>/dev/null
fi
echo "data: $data ($(took "$t"))" >&2

# (b) The package: mifa init + add (images + masks as label `cells`), reused if complete.
t=$(now)
cargo build --release --quiet
if [ ! -f "$pkg/images/$last.ome.zarr/labels/cells/0/zarr.json" ]; then
  rm -rf "$pkg"
  "$mifa" init "$pkg" --title "Loader benchmark" --license CC0-1.0 >/dev/null
  "$mifa" add "$pkg" "$data"/img/*.tif --masks "$data/mask" --mask-name cells | tail -1
fi
echo "package: $pkg, $(du -sh "$pkg" | cut -f1) ($(took "$t"))" >&2
find "$pkg" -type f -exec cat {} + >/dev/null    # warm page cache for every run below

# (c) The runs: torch baseline first, then mifa.
t=$(now)
torch2=$("$py" benches/compare/loader_torch.py "$pkg" --mask cells --patch 256 --batch 32 \
  --batches "$torch_batches" --workers 2 --seed 0 --json)
echo "$torch2"
torch0=$("$py" benches/compare/loader_torch.py "$pkg" --mask cells --patch 256 --batch 32 \
  --batches "$torch_batches" --workers 0 --seed 0 --json)
echo "$torch0"
echo "torch baseline: $(took "$t")" >&2

if ! "$mifa" load --help >/dev/null 2>&1; then
  echo "error: '$mifa load' does not exist in this build (no mifa figures; the torch figures are above)" >&2
  exit 1
fi
mifa_json() {  # the last JSON line of `mifa load … --json`
  local out
  out=$("$mifa" load "$pkg" --split all --task semantic --set cells --patch 256 --batch-size 32 \
    --batches "$mifa_batches" --workers 2 --seed 0 --json "$@") || {
    echo "error: mifa load $* failed" >&2; return 1; }
  grep '^{' <<<"$out" | tail -1
}
t=$(now)
mifa_c=$(mifa_json)
echo "$mifa_c"
mifa_n=$(mifa_json --cache-mb 0)
echo "$mifa_n"
echo "mifa load: $(took "$t")" >&2

# (d) Table; ratios against the torch DataLoader with the same number of workers (2).
"$py" - "$torch2" "$torch0" "$mifa_c" "$mifa_n" <<'PY'
import json, sys
t2, t0, mc, mn = (json.loads(s) for s in sys.argv[1:])
rows = [("torch DataLoader(workers=2) + zarr-python", t2, None),
        ("torch DataLoader(workers=0) + zarr-python", t0, None),
        ("mifa load (workers 2)", mc, t2),
        ("mifa load (workers 2, --cache-mb 0)", mn, t2)]
print(f"{'tool':<44} {'patches/s':>10} {'MB/s':>8}  mifa/torch(w=2)")
for name, r, ref in rows:
    ratio = f"{r['patches_per_s'] / ref['patches_per_s']:.1f}x" if ref else ""
    print(f"{name:<44} {r['patches_per_s']:>10.0f} {r['mb_per_s']:>8.1f}  {ratio}")
PY
