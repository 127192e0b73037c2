//! `mifa credit`: everyone credited so far, as text, JSON or a CITATION.cff.

use anyhow::{bail, Result};
use clap::Args;
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct CreditArgs {
    /// Package directory.
    dir: PathBuf,
    /// text, json or cff.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `--format`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Cff,
}

pub fn run(a: CreditArgs) -> Result<ExitCode> {
    let pkg = Package::open(&a.dir)?;
    let (latest, credit) = mifa::versions::current_credit(&pkg)?;
    match a.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&credit)?),
        Format::Cff if credit.is_empty() => bail!(
            "nobody is credited yet, and CITATION.cff needs at least one author: add them with `mifa author add`"
        ),
        Format::Cff => out!(
            "{}",
            mifa::versions::citation_cff(pkg.manifest(), &credit, latest.as_ref())
        ),
        Format::Text => {
            for c in &credit {
                let orcid = c
                    .orcid
                    .as_ref()
                    .map(|o| format!(" https://orcid.org/{o}"))
                    .unwrap_or_default();
                let sets = if c.sets.is_empty() {
                    String::new()
                } else {
                    format!("; sets: {}", c.sets.join(", "))
                };
                outln!(
                    "{}{orcid} — {} (since {}{sets})",
                    c.name,
                    if c.roles.is_empty() {
                        "contributor".to_string()
                    } else {
                        c.roles.join(", ")
                    },
                    c.since
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
