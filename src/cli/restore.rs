//! `mifa restore`: an annotation set as it was in a release.

use anyhow::{Context, Result};
use clap::Args;
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct RestoreArgs {
    /// Package directory.
    dir: PathBuf,
    /// The release.
    #[arg(long)]
    version: String,
    /// The annotation set.
    #[arg(long)]
    set: String,
}

pub fn run(a: RestoreArgs) -> Result<ExitCode> {
    let (version, set) = (a.version, a.set);
    let mut pkg = Package::open(&a.dir)?;
    let r = mifa::versions::restore(&mut pkg, &version, &set)
        .with_context(|| format!("cannot restore set {set:?} of {}", a.dir.display()))?;
    outln!(
        "restored set {set:?} as of {version}: {} files written, {} removed",
        r.written.len(),
        r.removed.len()
    );
    Ok(ExitCode::SUCCESS)
}
