//! `mifa preview`: one image with its annotations drawn into a PNG.

use anyhow::{Context, Result};
use clap::Args;
use mifa::package::Package;
use mifa::publish::preview;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct PreviewArgs {
    /// Package directory.
    dir: PathBuf,
    /// Image id.
    image: String,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Pyramid level (default: the coarsest at least --size pixels wide or high).
    #[arg(long)]
    level: Option<usize>,
    /// Longest side of the picture in pixels.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=16_384))]
    size: u32,
    /// Annotation sets to draw, comma-separated (default: every set of the image).
    #[arg(long, value_delimiter = ',')]
    sets: Option<Vec<String>>,
    /// Time point (default 0).
    #[arg(long)]
    t: Option<u64>,
    /// z plane (default the middle one).
    #[arg(long)]
    z: Option<u64>,
}

pub fn run(a: PreviewArgs) -> Result<ExitCode> {
    let pkg = Package::open(&a.dir)?;
    pkg.check_output_outside(&a.out)?;
    let opts = preview::PreviewOptions {
        level: a.level,
        max_size: a.size,
        sets: a.sets,
        t: a.t,
        z: a.z,
    };
    let (image, out) = (a.image, a.out);
    let p = preview::render(&pkg, &image, &opts)
        .with_context(|| format!("cannot preview image {image:?} of {}", a.dir.display()))?;
    preview::write_png(&out, p.width, p.height, &p.composite())?;
    let layers: Vec<String> = p
        .layers
        .iter()
        .map(|l| format!("{} ({}, {} objects)", l.set, l.kind.as_str(), l.objects))
        .collect();
    outln!(
        "wrote {} ({} × {}, level {}{}): {}",
        out.display(),
        p.width,
        p.height,
        p.level,
        if p.plane.is_empty() {
            String::new()
        } else {
            format!(", {}", p.plane)
        },
        if layers.is_empty() {
            "no annotations".to_string()
        } else {
            layers.join(", ")
        }
    );
    for n in &p.notes {
        errln!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
