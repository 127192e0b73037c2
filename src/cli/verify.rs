//! `mifa verify`: every hash recomputed and compared with a release.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct VerifyArgs {
    /// Package directory.
    dir: PathBuf,
    /// Release to check (default the latest).
    #[arg(long)]
    version: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Exit status 1 when the package differs from the release.
pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let v = mifa::versions::verify(&a.dir, a.version.as_deref())
        .with_context(|| format!("cannot verify {}", a.dir.display()))?;
    v.warnings.iter().for_each(|w| errln!("warning: {w}"));
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (what, list) in [
            ("missing", &v.missing),
            ("corrupted", &v.corrupted),
            ("unexpected", &v.unexpected),
            ("bad object", &v.bad_objects),
            ("chain", &v.chain_errors),
            ("head", &v.head_errors),
            ("special", &v.special),
        ] {
            for p in list {
                outln!("{what:<10} {p}");
            }
        }
        if v.ok() {
            outln!("ok: the package is release {} exactly", v.version);
        }
    }
    Ok(if v.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
