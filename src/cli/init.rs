//! `mifa init`: a new, empty package.

use anyhow::{Context, Result};
use clap::Args;
use mifa::metadata::Manifest;
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct InitArgs {
    /// Package directory (created if missing).
    dir: PathBuf,
    /// Study title (BIA asks for at least 25 characters).
    #[arg(long)]
    title: String,
    /// Licence, as an SPDX id (CC0-1.0 or CC-BY-4.0 preferred).
    #[arg(long)]
    license: String,
    /// Description of the biological application.
    #[arg(long)]
    description: Option<String>,
}

pub fn run(a: InitArgs) -> Result<ExitCode> {
    let mut m = Manifest::new(a.title, a.license);
    m.study.description = a.description;
    let dir = a.dir;
    Package::create(&dir, m).with_context(|| format!("cannot create package {}", dir.display()))?;
    outln!("created package {}", dir.display());
    outln!("next: fill the metadata (mifa meta set / mifa author add / mifa meta import), then `mifa validate {}`", dir.display());
    Ok(ExitCode::SUCCESS)
}
