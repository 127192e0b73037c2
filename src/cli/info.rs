//! `mifa info`: a package's summary.

use super::open;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct InfoArgs {
    /// Package directory.
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: InfoArgs) -> Result<ExitCode> {
    let pkg = open(&a.dir)?;
    let info = mifa::info::info(&pkg);
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        out!("{info}");
    }
    Ok(ExitCode::SUCCESS)
}
