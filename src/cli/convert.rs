//! `mifa convert`: masks to polygons and back, inside the package.

use super::{open, MaskKind};
use anyhow::{bail, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ConvertCommand {
    /// Rasterise a vector set into label images (OME-Zarr labels/<name>).
    ToMask {
        /// Package directory.
        dir: PathBuf,
        /// Vector annotation set.
        #[arg(long)]
        set: String,
        /// Label name (also the new mask set's id).
        #[arg(long)]
        name: String,
        /// Instance (one value per object) or semantic (class ids).
        #[arg(long, value_enum, default_value = "instance")]
        kind: MaskKind,
    },
    /// Trace a mask set into polygons with holes (one GeoJSON per image).
    ToPolygons {
        /// Package directory.
        dir: PathBuf,
        /// Mask annotation set.
        #[arg(long)]
        mask: String,
        /// Vector set to write.
        #[arg(long)]
        set: String,
        /// Simplify outlines (Douglas-Peucker tolerance in pixels); default exact.
        #[arg(long)]
        simplify: Option<f64>,
        /// Replace existing files of the set.
        #[arg(long)]
        replace: bool,
    },
}

pub fn run(c: ConvertCommand) -> Result<ExitCode> {
    match c {
        ConvertCommand::ToMask {
            dir,
            set,
            name,
            kind,
        } => {
            let mut pkg = open(&dir)?;
            let fid = mifa::vectors::polygons_to_mask(
                &mut pkg,
                &set,
                &name,
                kind.into(),
                &Default::default(),
            )?;
            outln!("{fid}");
        }
        ConvertCommand::ToPolygons {
            dir,
            mask,
            set,
            simplify,
            replace,
        } => {
            let mut pkg = open(&dir)?;
            if let Some(t) = simplify {
                if !(t.is_finite() && t > 0.0) {
                    bail!("--simplify {t}: give a tolerance in pixels above 0");
                }
            }
            let fid = mifa::vectors::mask_to_polygons(&mut pkg, &mask, &set, simplify, replace)?;
            outln!("{fid}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
