//! `mifa diff`: what changed between two releases, or a release and the working state.

use anyhow::Result;
use clap::Args;
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct DiffArgs {
    /// Package directory.
    dir: PathBuf,
    /// From: a version or `working`.
    from: String,
    /// To: a version or `working`.
    #[arg(default_value = "working")]
    to: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: DiffArgs) -> Result<ExitCode> {
    let pkg = Package::open(&a.dir)?;
    let (from, to) = (
        mifa::versions::side(&pkg, &a.from)?,
        mifa::versions::side(&pkg, &a.to)?,
    );
    let d = mifa::versions::diff(&from, &to)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        out!("{d}");
    }
    Ok(ExitCode::SUCCESS)
}
