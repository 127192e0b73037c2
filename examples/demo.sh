#!/usr/bin/env bash
# The main job on the bundled demo data: build a MIFA/REMBI dataset package from the DSB2018 sample
# in examples/data/dsb2018, then validate and summarise it. Output: demo-out/dsb2018 (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
mifa=target/release/mifa
data=examples/data/dsb2018
pkg=demo-out/dsb2018

rm -rf "$pkg"
mkdir -p demo-out
set -x
"$mifa" init "$pkg" --title "Nuclei of cultured cells from the 2018 Data Science Bowl (demo)" --license BSD-3-Clause
"$mifa" meta import "$pkg" "$data/metadata.tsv"
"$mifa" author add "$pkg" --name "Josiah Carberry" --role annotator
"$mifa" validate "$pkg"
"$mifa" info "$pkg"
