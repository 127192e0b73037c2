#!/usr/bin/env bash
# The layering that cargo cannot state: the library crates pull in none of the command line's
# dependencies, and each format feature of mifa-formats builds alone.
set -euo pipefail
cd "$(dirname "$0")/.."
for c in mifa-model mifa-formats mifa-package mifa-loader mifa-publish; do
  if cargo tree -p "$c" -e normal --prefix none | grep -E '^(clap|indicatif|anyhow|mimalloc) v'; then
    echo "$c depends on a CLI-only crate (above)"; exit 1
  fi
done
echo "library crates: no clap, indicatif, anyhow or mimalloc"
features=$(sed -n '/^\[features\]/,/^\[/p' crates/mifa-formats/Cargo.toml | grep -oE '^[a-z-]+ =' | tr -d ' =' | grep -v '^default$' || true)
if [ -n "$features" ]; then
  cargo check -q -p mifa-formats --no-default-features
  for f in $features; do
    cargo check -q -p mifa-formats --no-default-features --features "$f"
  done
  echo "mifa-formats: builds with no format and with each one alone:" $features
fi
