//! `mifa report`: a static HTML report of the package.

use super::usize_in;
use anyhow::{Context, Result};
use clap::Args;
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReportArgs {
    /// Package directory.
    dir: PathBuf,
    /// Output folder (replaced if it holds an earlier report).
    #[arg(long)]
    out: PathBuf,
    /// Most images shown as thumbnails (spread over the package).
    #[arg(long, default_value_t = 48, value_parser = usize_in(1, 100_000))]
    max_images: usize,
    /// Longest side of a thumbnail in pixels.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=4096))]
    size: u32,
}

pub fn run(a: ReportArgs) -> Result<ExitCode> {
    let pkg = Package::open(&a.dir)?;
    let opts = mifa::publish::report::ReportOptions {
        max_images: a.max_images,
        thumb_size: a.size,
    };
    let out = a.out;
    mifa::package::check_output_dir(&out)?;
    let r = mifa::publish::report::write_report(&pkg, &out, &opts)
        .with_context(|| format!("cannot write the report of {}", a.dir.display()))?;
    outln!(
        "wrote {}: {} of {} image(s) shown, {} overlay layer(s); open {}",
        out.display(),
        r.shown,
        r.images,
        r.layers,
        out.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
