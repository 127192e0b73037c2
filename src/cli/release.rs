//! `mifa release`: an immutable release record of the package as it is.

use anyhow::{bail, Context, Result};
use clap::Args;
use mifa::package::Package;
use mifa::versions::{CreditRemoval, ReleaseRequest};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReleaseArgs {
    /// Package directory.
    dir: PathBuf,
    /// Semantic version, greater than the latest release.
    #[arg(long)]
    version: String,
    /// What changed.
    #[arg(long)]
    changes: String,
    /// Release despite validation errors (they are recorded).
    #[arg(long)]
    allow_invalid: bool,
    /// Remove a person's credit on purpose: `NAME_OR_ORCID=REASON` (repeatable; recorded).
    #[arg(long = "remove-credit")]
    remove_credit: Vec<String>,
}

/// `NAME_OR_ORCID=REASON`; an ORCID iD is recorded as such too.
fn removal(arg: &str) -> Result<CreditRemoval> {
    let Some((who, reason)) = arg.split_once('=') else {
        bail!("--remove-credit {arg:?}: expected NAME_OR_ORCID=REASON");
    };
    let orcid = mifa::metadata::checks::orcid(who)
        .is_ok()
        .then(|| who.to_string());
    Ok(CreditRemoval {
        name: who.to_string(),
        orcid,
        reason: reason.to_string(),
    })
}

pub fn run(a: ReleaseArgs) -> Result<ExitCode> {
    let pkg = Package::open(&a.dir)?;
    let req = ReleaseRequest {
        version: a.version,
        changes: a.changes,
        allow_invalid: a.allow_invalid,
        remove_credit: a
            .remove_credit
            .iter()
            .map(|r| removal(r))
            .collect::<Result<_>>()?,
    };
    let r = mifa::versions::release(&pkg, &req)
        .with_context(|| format!("cannot release {}", a.dir.display()))?;
    let bytes: u64 = r.files.iter().map(|f| f.size).sum();
    outln!(
        "released {} ({} files, {}): {}",
        r.version,
        r.files.len(),
        bytes,
        r.dataset_sha256
    );
    if let Some(p) = &r.previous {
        outln!(
            "previous: {} (record sha256:{})",
            p.version,
            p.record_sha256
        );
    }
    outln!("credit: {} people", r.credit.len());
    if !r.released_with_errors.is_empty() {
        errln!(
            "warning: released with {} validation error(s), recorded in the release",
            r.released_with_errors.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
