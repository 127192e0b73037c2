#!/usr/bin/env bash
# Publishing side by side: the OME-Zarr images and label images of the loader bench package
# (16 images of 2048x2048 uint16 + 16 instance labels, zstd, sharded; made by benches/compare/loader.sh)
# zipped as a BIA submission needs them. `mifa publish bia` (all its checks: validate, verify of every
# hash against the release, then 32 zips written, file lists, PageTab, and the check read back) against
# Python's zipfile writing the same 32 zips (ZIP_STORED, the same files) — what a user scripts today,
# without any of the checks. Warm page cache; each timed twice, best reported.
# Usage: bash benches/compare/publish.sh   (WORK default target/bench-loader, PY default .venv-interop/bin/python)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-target/bench-loader}
py=${PY:-.venv-interop/bin/python}
[ -d "$work/pkg/images" ] || { echo "make the bench package first: bash benches/compare/loader.sh" >&2; exit 1; }
cargo build --release --quiet
mifa=$PWD/target/release/mifa
pkg=$work/pub-pkg
if [ ! -f "$pkg/versions/1.0.0.json" ]; then
  rm -rf "$pkg"
  cp -r "$work/pkg" "$pkg"
  "$mifa" meta import "$pkg" examples/data/dsb2018/metadata.tsv >/dev/null
  "$mifa" meta set "$pkg" study.title "Synthetic cells for the publication benchmark (16 images)" >/dev/null
  "$mifa" meta set "$pkg" study.license CC0-1.0 >/dev/null
  "$mifa" meta set "$pkg" "annotation_sets[cells].overview" "Synthetic instance labels" >/dev/null
  "$mifa" meta set "$pkg" "annotation_sets[cells].method.kind" synthetic >/dev/null
  "$mifa" author add "$pkg" --set cells --name "Josiah Carberry" --orcid 0000-0002-1825-0097 --role annotator >/dev/null
  "$mifa" release "$pkg" --version 1.0.0 --changes "Benchmark release" >/dev/null
fi
du -sh "$pkg/images" | awk '{print "package images+labels: " $1}'
cat "$pkg"/images/*/zarr.json >/dev/null
best() { sort -n | head -1; }
mifa_t=$(for i in 1 2; do
  rm -rf "$work/sub"
  s=$(date +%s.%N); "$mifa" publish bia "$pkg" --out "$work/sub" >/dev/null 2>&1; e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.3f}')"
done | best)
du -sh "$work/sub/upload" | awk '{print "submission upload/: " $1}'
py_t=$(for i in 1 2; do "$py" - "$pkg" "$work/pyzips" <<'PY'
import os, sys, time, zipfile, shutil
pkg, out = sys.argv[1], sys.argv[2]
shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
t = time.perf_counter()
def zipdir(root, dest, skip=()):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if os.path.relpath(os.path.join(d, x), root) not in skip]
            for f in sorted(files):
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, root))
imgs = os.path.join(pkg, "images")
for name in sorted(os.listdir(imgs)):
    root = os.path.join(imgs, name)
    zipdir(root, os.path.join(out, name + ".zip"), skip=("labels",))
    for lab in os.listdir(os.path.join(root, "labels")):
        if os.path.isdir(os.path.join(root, "labels", lab)):
            zipdir(os.path.join(root, "labels", lab), os.path.join(out, name + "." + lab + ".zip"))
print(f"{time.perf_counter() - t:.3f}")
PY
done | best)
echo "mifa publish bia (checks + 32 zips + PageTab + check): ${mifa_t} s"
echo "Python zipfile (32 zips only):                         ${py_t} s"
python3 -c "print(f'ratio (Python / mifa): {$py_t / $mifa_t:.2f}x')"
