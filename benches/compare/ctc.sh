#!/usr/bin/env bash
# CTC tracks import side by side: geff's converter (`from_ctc_to_geff` with the segmentation written
# too) vs `mifa import P tracks --from ctc` (centroids + links + masks as an OME-Zarr label + tables),
# on the CTC bacteria ground truth (53 frames of 1305x1009 uint16 masks, 714 tracks). Best of 3 each.
# Usage: bash benches/compare/ctc.sh [CTC_DIR]
#   MIFA (default target/release/mifa), PYTHON (default: the validators venv if it has the pinned
#   geff, else .venv-bench made here with the pins below), REPEAT (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
tra=${1:-tests/fixtures/tracks/ctc/bacteria_TRA}
[ -d "$tra" ] || tra=../shared/data/ctc_bacteria_divisualisation/data/bacteria/TRA
mifa=${MIFA:-target/release/mifa}
repeat=${REPEAT:-3}
pins=("geff[ctc]==1.3.1.1.3" tifffile==2026.3.3 imagecodecs==2026.3.6 scikit-image==0.26.0 dask==2026.8.0)
if [ -n "${PYTHON:-}" ]; then
  py=$PYTHON
elif .venv-validators/main/bin/python -c 'import sys, geff; sys.exit(geff.__version__ != "1.3.1.1.3")' 2>/dev/null; then
  py=.venv-validators/main/bin/python
else
  venv=${BENCH_VENV:-.venv-bench}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pins[@]}"
  py=$venv/bin/python
fi
[ -x "$mifa" ] || { echo "no mifa binary at $mifa (cargo build --release, or set MIFA)" >&2; exit 1; }
[ -f "$tra/man_track.txt" ] || { echo "$tra has no man_track.txt" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

theirs=$("$py" benches/compare/ctc_geff.py "$tra" --repeat "$repeat" 2>/dev/null)

# mifa: the image the tracks belong to must exist first (not timed); content does not matter.
"$py" - "$tra" "$work/bacteria.tif" <<'PY'
import glob, sys, numpy as np, tifffile
masks = np.stack([tifffile.imread(f) for f in sorted(glob.glob(f"{sys.argv[1]}/*.tif"))])  # (t, y, x)
img = (masks > 0).astype(np.uint16) * 1000 + np.random.default_rng(0).integers(0, 200, masks.shape, np.uint16)
tifffile.imwrite(sys.argv[2], img, photometric="minisblack")
PY
"$mifa" init "$work/base" --title "CTC import benchmark" --license CC0-1.0 >/dev/null
"$mifa" add "$work/base" "$work/bacteria.tif" --axes tyx --id bacteria >/dev/null
ours=$("$py" - "$mifa" "$work" "$tra" "$repeat" <<'PY'
import json, re, resource, shutil, subprocess, sys, time
mifa, work, tra, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
times = []
for i in range(repeat):
    pkg = f"{work}/pkg{i}"
    shutil.copytree(f"{work}/base", pkg)                  # fresh package with the image, each run
    t = time.perf_counter()
    r = subprocess.run([mifa, "import", pkg, "tracks", "--from", "ctc", tra, "--set", "tra",
                        "--image", "bacteria"], capture_output=True, text=True)
    times.append(time.perf_counter() - t)
    if r.returncode:
        sys.exit(f"mifa import failed ({r.returncode}):\n{r.stdout}{r.stderr}")
m = re.search(r"(\d+) objects, (\d+) links", r.stdout + r.stderr)
if not m:
    sys.exit(f"no 'N objects, M links' in mifa's output:\n{r.stdout}{r.stderr}")
print(json.dumps({"tool": "mifa", "runs_s": [round(x, 3) for x in times], "best_s": round(min(times), 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                  "nodes": int(m[1]), "edges": int(m[2])}))
PY
)
echo "$theirs"
echo "$ours"
"$py" - "$theirs" "$ours" <<'PY'
import json, sys
t, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert (t["nodes"], t["edges"]) == (o["nodes"], o["edges"]), "the two tools built different graphs"
print(f"CTC import ({o['nodes']} objects, {o['edges']} links, masks written): geff {t['best_s']:.3f} s "
      f"(+{t['import_s']:.2f} s Python imports, not counted) vs mifa {o['best_s']:.3f} s (whole command) "
      f"= {t['best_s'] / o['best_s']:.1f}x faster")
print(f"peak RSS: {t['peak_rss_mb']:.0f} MB vs {o['peak_rss_mb']:.0f} MB = {o['peak_rss_mb'] / t['peak_rss_mb']:.2f} of geff's")
PY
