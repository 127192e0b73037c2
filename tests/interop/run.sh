#!/usr/bin/env bash
# Interop stage: independent implementations read what mifa writes, and mifa reads what they write.
# Usage: bash tests/interop/run.sh   (creates .venv-interop with tests/interop/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${INTEROP_VENV:-.venv-interop}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q --no-cache-dir -r tests/interop/requirements.txt
py="$venv/bin/python"
cargo build --release --quiet
mifa=target/release/mifa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dsb=examples/data/dsb2018
sd=tests/fixtures/stardist
ref=tests/fixtures/reference_libs

for ngff in 0.5 0.4; do
  pkg="$work/pkg-$ngff"
  "$mifa" init "$pkg" --title "Interop check package, OME-Zarr $ngff" --license CC0-1.0 >/dev/null
  mkdir -p "$work/masks-$ngff"
  cp "$dsb/mask2d.tif" "$work/masks-$ngff/img2d.tif"
  "$mifa" add "$pkg" "$dsb/img2d.tif" --masks "$work/masks-$ngff" --mask-name nuclei --ngff "$ngff" --pixel-size 0.65 >/dev/null
  "$mifa" add "$pkg" "$sd/img3d.tif" "$sd/histo.jpg" "$ref/labels_ome.ome.tif" --ngff "$ngff" >/dev/null
  "$mifa" add "$pkg" --mask "$sd/mask3d.tif" --image img3d --name nuclei >/dev/null
  # Large enough to be sharded (0.5) and to have three levels.
  "$py" -c "import numpy as np, tifffile; rng=np.random.default_rng(1); tifffile.imwrite('$work/big.tif', (rng.normal(1000,50,(1100,1300))).astype('float32'))"
  "$mifa" add "$pkg" "$work/big.tif" --ngff "$ngff" --chunk 256 >/dev/null
  "$mifa" validate "$pkg" >/dev/null
  "$mifa" export "$pkg" tiff "$work/export-$ngff" >/dev/null
  cat > "$work/sources.json" <<JSON
{"img2d": {"image": "$dsb/img2d.tif", "labels": {"nuclei": "$dsb/mask2d.tif"}},
 "img3d": {"image": "$sd/img3d.tif", "labels": {"nuclei": "$sd/mask3d.tif"}},
 "histo": {"image": "$sd/histo.jpg"},
 "labels_ome": {"image": "$ref/labels_ome.ome.tif"},
 "big": {"image": "$work/big.tif"}}
JSON
  echo "== OME-Zarr $ngff written by mifa, read by zarr-python, ome-zarr-py, ome-zarr-models, tifffile"
  "$py" tests/interop/ome_zarr_interop.py "$pkg" "$work/sources.json" "$work/export-$ngff"
done

echo "== OME-Zarr 0.4 and 0.5 written by ome-zarr-py, read by mifa"
"$py" tests/interop/theirs_to_mifa.py "$dsb/img2d.tif" "$dsb/mask2d.tif" "$work"
"$mifa" init "$work/theirs" --title "Interop check package, their OME-Zarr" --license CC0-1.0 >/dev/null
"$mifa" add "$work/theirs" "$work/theirs_v04.ome.zarr" "$work/theirs_v05.ome.zarr" | tail -3
cat > "$work/theirs.json" <<JSON
{"theirs_v04": {"image": "$dsb/img2d.tif", "labels": {"nuclei": "$dsb/mask2d.tif"}},
 "theirs_v05": {"image": "$dsb/img2d.tif", "labels": {"nuclei": "$dsb/mask2d.tif"}}}
JSON
"$py" tests/interop/ome_zarr_interop.py "$work/theirs" "$work/theirs.json"
echo "== COCO RLE: mifa against pycocotools (strings, areas, boxes, polygon rasterisation)"
cargo build --release --quiet --example coco_rle
"$py" tests/interop/coco_rle_interop.py target/release/examples/coco_rle 2000
echo "== Vector annotations: COCO and GeoJSON written by mifa, read by pycocotools, shapely, geojson (and back)"
cargo build --release --quiet --example annotation_masks
"$py" tests/interop/vectors_interop.py target/release/mifa target/release/examples/annotation_masks "$work"
echo "== Tracks: biotracks, CTC, TrackMate, geff read by mifa; exports checked by frictionless, geff, py-ctcmetrics"
mkdir -p "$work/tracks"
"$py" tests/interop/tracks_interop.py "$mifa" "$work/tracks" tests/fixtures/tracks
echo "== Releases: the record's hashes recomputed by Python's hashlib; CITATION.cff checked by cffconvert"
rel="$work/theirs"
"$mifa" author add "$rel" --name "Josiah Carberry" --orcid 0000-0002-1825-0097 --role curator >/dev/null
"$mifa" release "$rel" --version 1.0.0 --changes "Interop check release" >/dev/null
"$py" - "$rel" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
r = json.load(open(os.path.join(root, "versions", "1.0.0.json")))
h = hashlib.sha256(b"mifa-dataset-v1\n")
listed = set()
for f in r["files"]:
    data = open(os.path.join(root, f["path"]), "rb").read()
    assert len(data) == f["size"] and hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    h.update(f"{f['path']}\t{f['size']}\t{f['sha256']}\n".encode())
    listed.add(f["path"])
assert "sha256:" + h.hexdigest() == r["dataset_sha256"], "dataset hash"
on_disk = {os.path.relpath(os.path.join(d, n), root) for d, _, ns in os.walk(root) for n in ns}
content = {p for p in on_disk if not p.startswith("versions/") and not os.path.basename(p).startswith(".mifa.")}
assert content == listed, content ^ listed
print(f"ok   release 1.0.0: {len(listed)} files, sizes, SHA-256 and the dataset hash recomputed by hashlib")
PY
"$mifa" credit "$rel" --format cff > "$work/CITATION.cff"
cff=${CFF_VENV:-.venv-cff}
[ -x "$cff/bin/cffconvert" ] || { python3 -m venv "$cff" && "$cff/bin/pip" install -q --no-cache-dir cffconvert==2.0.0; }
"$cff/bin/cffconvert" --validate -i "$work/CITATION.cff"
echo "ok   CITATION.cff valid for cffconvert 2.0.0"
echo "== BIA submission (written by the demo): zipfile, zarr-python ZipStore, ome-zarr-models, csv read what mifa publish wrote"
[ -f demo-out/bia-submission/submission.json ] || { echo "run examples/demo.sh first (it writes demo-out/bia-submission)" >&2; exit 1; }
"$py" tests/interop/bia_interop.py demo-out/bia-submission demo-out/dsb2018
echo "interop: 8 passed, 0 failed"
