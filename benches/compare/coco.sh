#!/usr/bin/env bash
# COCO side by side: pycocotools vs mifa on a LIVECell-sized synthetic file (200,000 polygon
# annotations, ~95 MB): load time, peak memory, masks rasterised per second. One run each.
# Usage: bash benches/compare/coco.sh [ANNOTATIONS]   (Python: $PYTHON, default the validators venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200000}
py=${PYTHON:-.venv-validators/main/bin/python}
data=${COCO_BENCH_DIR:-/tmp/coco_bench}
file="$data/livecell_synth_$n.json"
mkdir -p "$data"
[ -f "$file" ] || "$py" benches/compare/make_coco.py "$file" --annotations "$n"
cargo build --release --quiet --example coco_bench
theirs=$("$py" benches/compare/coco_pycocotools.py "$file" --masks 20000 2>/dev/null)
ours=$(target/release/examples/coco_bench "$file" --masks 20000)
echo "$theirs"
echo "$ours"
"$py" - "$theirs" "$ours" <<'PY'
import json, sys
t, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert t["mask_pixels"] == o["mask_pixels"], "the two tools drew different masks"
print(f"load: {t['load_s']:.2f} s vs {o['load_s']:.3f} s = {t['load_s'] / o['load_s']:.1f}x faster")
print(f"peak RSS: {t['peak_rss_mb']:.0f} MB vs {o['peak_rss_mb']:.0f} MB = {o['peak_rss_mb'] / t['peak_rss_mb']:.2f} of pycocotools'")
print(f"masks: {t['masks_per_s']:.0f}/s vs {o['masks_per_s']:.0f}/s = {o['masks_per_s'] / t['masks_per_s']:.1f}x; same pixels ({o['mask_pixels']})")
PY
