#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ from the repository's fixtures (valid and invalid) and the small
# hand-made seeds in fuzz/seeds/<target>/. Folder formats (biotracks, geff, OME-Zarr) are packed
# into the container the targets unpack (see fuzz/src/lib.rs: `@@@ path` lines before each file).
# Safe to re-run: existing corpus entries (and what the fuzzer added) are kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
corpus="$here/corpus"
cd "$repo"

# Fixtures larger than this are not copied (libFuzzer would truncate them to max_len anyway).
max_seed=262144

put() { # put TARGET FILE...: copy files into the target's corpus, named by their path
    local t="$1"; shift
    mkdir -p "$corpus/$t"
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        [ "$(stat -c %s "$f")" -le "$max_seed" ] || continue
        cp "$f" "$corpus/$t/$(printf '%s' "$f" | tr '/' '_')"
    done
}

pack() { # pack TARGET KIB DIR...: one container per folder; data files (chunks) of KIB KiB or
    # more are left out, metadata documents (zarr.json, .zattrs, .zarray, .zgroup, *.json) never
    local t="$1" kib="$2"; shift 2
    mkdir -p "$corpus/$t"
    local d f
    for d in "$@"; do
        [ -d "$d" ] || continue
        (
            cd "$d"
            find . -type f \( -size "-${kib}k" -o -name "zarr.json" -o -name ".z*" -o -name "*.json" \) | LC_ALL=C sort | while IFS= read -r f; do
                printf '@@@ %s\n' "${f#./}"
                cat "$f"
                printf '\n'
            done
        ) > "$corpus/$t/$(printf '%s' "$d" | tr '/' '_').pack"
    done
}

shopt -s nullglob globstar

put manifest formats/manifest/*/*/mifa.json
put sheet_tsv examples/data/*/metadata.tsv formats/bia/*/*.tsv
put sheet_json formats/manifest/valid/*/mifa.json
put geojson formats/geojson/*/*.geojson tests/fixtures/**/*.geojson formats/manifest/*/*/annotations/*/*.geojson
put coco formats/coco/*/*.json tests/fixtures/reference_libs/tiny_coco.json tests/fixtures/cocoapi_results/*.json
put points formats/points/*/*.csv formats/points/*/*.tsv
put ctc_tracks formats/tracks/*/*.ctc/*.txt tests/fixtures/tracks/ctc/*/*.txt
put trackmate formats/tracks/*/*.xml tests/fixtures/tracks/trackmate/*.xml examples/data/tracks/*.xml
put pagetab_tsv formats/bia/*/*.tsv examples/data/*/metadata.tsv
put tiff tests/fixtures/**/*.tif formats/tracks/*/*.ctc/*.tif

# CSV sheets: the TSV examples with commas (cells holding commas are quoted by nobody; the
# fuzzer copes with a few malformed seeds).
mkdir -p "$corpus/sheet_csv"
for f in examples/data/*/metadata.tsv formats/bia/valid/*.tsv; do
    tr '\t' ',' < "$f" > "$corpus/sheet_csv/$(printf '%s' "$f" | tr '/' '_').csv"
done

pack biotracks 16 formats/tracks/*/*.biotracks tests/fixtures/tracks/biotracks/*
pack geff 8 formats/tracks/*/*.geff tests/fixtures/tracks/geff/*.geff
pack validate 8 formats/manifest/valid/* formats/manifest/invalid/*
pack ome_zarr 8 tests/fixtures/ome_zarr_examples/data/*/*.zarr tests/fixtures/**/*.ome.zarr formats/manifest/source/*.ome.zarr

# Hand-made seeds (formats the fixtures lack: YAML and JSON sheets, zips, OME-XML carriers).
for d in "$here"/seeds/*/; do
    t="$(basename "$d")"
    mkdir -p "$corpus/$t"
    cp "$d"* "$corpus/$t/"
done

while read -r t _; do
    case "$t" in ''|'#'*) continue ;; esac
    mkdir -p "$corpus/$t"
    printf '%-12s %4d seeds\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done < "$here/targets.txt"
