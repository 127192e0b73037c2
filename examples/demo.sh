#!/usr/bin/env bash
# The main job on the bundled demo data: build a MIFA/REMBI dataset package from the DSB2018 sample
# in examples/data/dsb2018 (image as OME-Zarr, mask as an OME-Zarr label, metadata from a sheet),
# trace the mask into polygons, validate and summarise the package, and export it to OME-TIFF, COCO
# and GeoJSON; iterate training batches (mifa load); release it as 1.0.0, verify it and write its
# CITATION.cff; publish it as a BioImage Archive submission, write its HTML report and a preview;
# then import a TrackMate file as tracks and export them as biotracks and geff.
# Output: demo-out/ (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
mifa=target/release/mifa
data=examples/data/dsb2018
pkg=demo-out/dsb2018

rm -rf "$pkg" demo-out/bia-submission demo-out/report demo-out/nuclei-preview.png demo-out/CITATION.cff demo-out/tiff demo-out/coco demo-out/geojson demo-out/tracks demo-out/tracks-biotracks demo-out/tracks.geff
mkdir -p demo-out
set -x
"$mifa" init "$pkg" --title "Nuclei of cultured cells from the 2018 Data Science Bowl (demo)" --license BSD-3-Clause
"$mifa" meta import "$pkg" "$data/metadata.tsv"
"$mifa" author add "$pkg" --name "Josiah Carberry" --role annotator
"$mifa" add "$pkg" "$data/img2d.tif" --id nuclei --pixel-size 0.65 --unit micrometer
"$mifa" add "$pkg" --mask "$data/mask2d.tif" --image nuclei --name nuclei --kind instance
"$mifa" meta import "$pkg" "$data/annotations.tsv"
# The mask as exact polygons (GeoJSON), then everything as one COCO file and as GeoJSON.
"$mifa" convert to-polygons "$pkg" --mask nuclei --set nuclei-outlines
# The traced set gets its MIFA annotation metadata (BIA requires overview, method and annotators).
"$mifa" meta set "$pkg" "annotation_sets[nuclei-outlines].overview" \
  "Outlines of every nucleus, traced pixel-exactly from the instance masks, for polygon-based training and viewers."
"$mifa" meta set "$pkg" "annotation_sets[nuclei-outlines].method.kind" software
"$mifa" meta set "$pkg" "annotation_sets[nuclei-outlines].method.description" \
  "Traced from the nuclei instance masks by mifa convert to-polygons (crack following; rasterises back exactly)"
"$mifa" author add "$pkg" --set nuclei-outlines --name "Josiah Carberry" --orcid 0000-0002-1825-0097 --role curator
"$mifa" validate "$pkg"
"$mifa" info "$pkg"
# Training batches as a model would get them: random 128² patches, half centred on nuclei, with
# their semantic masks, flipped/rotated, percentile-normalised; throughput and class balance.
"$mifa" load "$pkg" --split all --task semantic --set nuclei --patch 128 --batch-size 8 --batches 16 \
  --foreground 0.5 --normalize percentile --flips --rot90
# Release 1.0.0: the hash of every file, the dataset hash, the metadata and the credit; then
# check the package against it and write the dataset's CITATION.cff.
"$mifa" release "$pkg" --version 1.0.0 --changes "First release of the demo package"
"$mifa" verify "$pkg"
"$mifa" credit "$pkg" --format cff > demo-out/CITATION.cff
# Publication: a BioImage Archive submission of release 1.0.0 (PageTab TSV/JSON, file lists,
# zipped OME-Zarr, upload instructions), checked again after writing. The demo data are BSD-3-Clause
# (as StarDist distributes them), which BIA does not offer: --allow-license writes it anyway and
# the submission's README says so.
"$mifa" publish bia "$pkg" --out demo-out/bia-submission --allow-license --force
"$mifa" publish check demo-out/bia-submission
# A static HTML report to browse the package (thumbnails with overlays, metadata, credit,
# versions) and one preview PNG.
"$mifa" report "$pkg" --out demo-out/report
"$mifa" preview "$pkg" nuclei --out demo-out/nuclei-preview.png
"$mifa" export "$pkg" tiff demo-out/tiff
"$mifa" export "$pkg" coco demo-out/coco/instances.json
"$mifa" export "$pkg" geojson demo-out/geojson
# Tracks: a TrackMate file (spots, ROI polygons, edges with their features) as a tracks set,
# exported as a CMSO biotracks data package and as geff.
tracks=demo-out/tracks
"$mifa" init "$tracks" --title "Synthetic tracked spots of Fiji's FakeTracks movie (demo)" --license MIT
"$mifa" import "$tracks" tracks --from trackmate examples/data/tracks/FakeTracks.xml --set trackmate
"$mifa" validate "$tracks" >/dev/null
"$mifa" export "$tracks" biotracks demo-out/tracks-biotracks --set trackmate
"$mifa" export "$tracks" geff demo-out/tracks.geff --set trackmate
