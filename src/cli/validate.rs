//! `mifa validate`: the package's errors, warnings and MIFA/REMBI completeness.

use anyhow::Result;
use clap::Args;
use mifa::metadata::completeness::Completeness;
use mifa::validate::{self, Report};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ValidateArgs {
    /// Package directory.
    dir: PathBuf,
    /// Print the machine-readable report.
    #[arg(long)]
    json: bool,
}

/// Exit status 1 when the package is invalid.
pub fn run(a: ValidateArgs) -> Result<ExitCode> {
    let report = validate::validate(&a.dir)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print_report(&report)?;
    }
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(report: &Report) -> Result<()> {
    let errors = report.errors();
    let warnings = report.warnings();
    outln!(
        "{}: {}, {} error(s), {} warning(s)",
        report.package.display(),
        if errors.is_empty() {
            "valid"
        } else {
            "INVALID"
        },
        errors.len(),
        warnings.len()
    );
    for e in &errors {
        outln!("  error: {e}");
    }
    for w in &warnings {
        outln!("  warning: {w}");
    }
    if let Some(c) = &report.completeness {
        print_completeness(c)?;
    }
    Ok(())
}

fn print_completeness(c: &Completeness) -> Result<()> {
    outln!("\nMIFA/REMBI completeness");
    for m in &c.modules {
        if m.required.total + m.recommended.total + m.optional.total == 0 {
            let why = match m.module.as_str() {
                "images" => "no images yet",
                "annotations" => "no annotation sets yet",
                _ => "not used",
            };
            outln!("  {:<18} ({why})", m.module.as_str());
            continue;
        }
        let mark = if m.required.met == m.required.total {
            "ok"
        } else {
            "  "
        };
        outln!(
            "  {:<18} required {}/{}, recommended {}/{}, optional {}/{} {mark}",
            m.module.as_str(),
            m.required.met,
            m.required.total,
            m.recommended.met,
            m.recommended.total,
            m.optional.met,
            m.optional.total
        );
    }
    if c.required_complete() {
        outln!("  every required field is filled");
    }
    if !c.gaps.is_empty() {
        outln!("\ngaps ({}):", c.gaps.len());
        for g in &c.gaps {
            outln!("  [{}] {}: {}", g.level.as_str(), g.path, g.hint);
        }
    }
    Ok(())
}
