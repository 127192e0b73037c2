//! `mifa export`: images and labels as TIFF, annotation sets as COCO or GeoJSON, tracks as
//! biotracks, CTC or geff.

use super::import::stats_line;
use super::open;
use anyhow::{bail, Result};
use clap::Args;
use mifa::package::Package;
use mifa::tracks::Target;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ExportArgs {
    /// Package directory.
    dir: PathBuf,
    /// Format.
    #[arg(value_enum)]
    format: Format,
    /// Output folder (tiff, geojson) or file (coco).
    out: PathBuf,
    /// TIFF compression.
    #[arg(long, value_enum, default_value = "deflate")]
    compression: Compression,
    /// Annotation sets to export (repeatable; default all).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// COCO: write masks as traced polygons (holes are lost) instead of compressed RLE.
    #[arg(long)]
    polygons: bool,
}

/// What `mifa export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Tiff,
    Coco,
    Geojson,
    Biotracks,
    Ctc,
    Geff,
}

/// `--compression` of TIFF exports.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Compression {
    Deflate,
    Lzw,
    None,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let pkg = open(&a.dir)?;
    pkg.check_output_outside(&a.out)?;
    match a.format {
        Format::Biotracks => tracks(&pkg, &a, Target::Biotracks, "biotracks")?,
        Format::Ctc => tracks(&pkg, &a, Target::Ctc, "ctc")?,
        Format::Geff => tracks(&pkg, &a, Target::Geff, "geff")?,
        Format::Coco => {
            let opts = mifa::vectors::CocoExportOptions {
                sets: a.sets,
                polygons: a.polygons,
            };
            let fid = mifa::vectors::export_coco(&pkg, &a.out, &opts)?;
            outln!("wrote {}", a.out.display());
            outln!("{fid}");
        }
        Format::Geojson => {
            for fid in mifa::vectors::export_geojson(&pkg, &a.out, &a.sets)? {
                outln!("{fid}");
            }
            outln!("wrote {}", a.out.display());
        }
        Format::Tiff => tiff(&pkg, &a)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The tracks of the one `--set`.
fn tracks(pkg: &Package, a: &ExportArgs, to: Target, format: &str) -> Result<()> {
    let [set] = a.sets.as_slice() else {
        bail!("{format} export writes the tracks of one set: give --set ID once");
    };
    let r = mifa::tracks::export_tracks(pkg, set, to, &a.out)?;
    for n in &r.notes {
        outln!("note: {n}");
    }
    outln!("wrote {}: {}", a.out.display(), stats_line(&r.stats));
    Ok(())
}

fn tiff(pkg: &Package, a: &ExportArgs) -> Result<()> {
    use mifa::formats::tiff::Compression as Tiff;
    let compression = match a.compression {
        Compression::None => Tiff::None,
        Compression::Lzw => Tiff::Lzw,
        Compression::Deflate => Tiff::Deflate,
    };
    mifa::package::check_output_dir(&a.out)?;
    let files = mifa::images::export_tiff(pkg, &a.out, compression)?;
    for f in &files {
        outln!("wrote {}", f.display());
    }
    outln!("{} file(s) in {}", files.len(), a.out.display());
    Ok(())
}
