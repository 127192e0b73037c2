//! `mifa publish`: a BioImage Archive submission, and the check of a written one.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mifa::package::Package;
use mifa::publish::bia;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PublishCommand {
    /// A BioImage Archive submission of the latest release: PageTab (TSV and JSON), file
    /// lists, images and masks as zipped OME-Zarr, annotations, upload instructions.
    Bia {
        /// Package directory.
        dir: PathBuf,
        /// Submission folder to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only check and print the plan; write nothing.
        #[arg(long)]
        check_only: bool,
        /// Accession of the BIA study holding the previous version (S-BIAD…).
        #[arg(long)]
        previous_accession: Option<String>,
        /// Write the licence although BIA offers only CC0 and CC BY 4.0.
        #[arg(long)]
        allow_license: bool,
        /// Name the annotation sections `Annotations` (what BIA's ingester reads today)
        /// instead of the v5 template's `Annotation`.
        #[arg(long)]
        legacy_annotation_sections: bool,
        /// Replace an earlier submission folder written by mifa.
        #[arg(long)]
        force: bool,
    },
    /// Check a written submission folder (PageTab structure, references, file lists, files).
    Check {
        /// Submission folder.
        dir: PathBuf,
    },
}

/// Exit status 1 when the plan or the submission has errors.
pub fn run(c: PublishCommand) -> Result<ExitCode> {
    match c {
        PublishCommand::Bia {
            dir,
            out,
            check_only,
            previous_accession,
            allow_license,
            legacy_annotation_sections,
            force,
        } => {
            let opts = bia::PublishOptions {
                previous_accession,
                allow_license,
                annotation_section: if legacy_annotation_sections {
                    bia::AnnotationSection::Annotations
                } else {
                    bia::AnnotationSection::Annotation
                },
                force,
            };
            let pkg = Package::open(&dir)?;
            match out {
                Some(out) if !check_only => write(&pkg, &dir, &out, &opts),
                _ if check_only => plan(&pkg, &opts),
                _ => bail!("give --out SUBMISSION_DIR, or --check-only"),
            }
        }
        PublishCommand::Check { dir } => check(&dir),
    }
}

/// `--check-only`: the plan and its problems.
fn plan(pkg: &Package, opts: &bia::PublishOptions) -> Result<ExitCode> {
    let plan = bia::plan(pkg, opts)?;
    print_plan(&plan)?;
    Ok(if plan.errors().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write(
    pkg: &Package,
    dir: &std::path::Path,
    out: &std::path::Path,
    opts: &bia::PublishOptions,
) -> Result<ExitCode> {
    mifa::package::check_output_dir(out)?;
    let done = bia::publish(pkg, out, opts)
        .with_context(|| format!("cannot publish {}", dir.display()))?;
    print_plan(&done.plan)?;
    outln!(
        "wrote {}: submission.tsv, submission.json, upload/ ({} files); next steps in {}",
        out.display(),
        done.plan.files.len(),
        out.join("README.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &bia::Plan) -> Result<()> {
    outln!(
        "release {} ({}): {} files, {} to upload; route: {}",
        plan.version,
        plan.fingerprint,
        plan.files.len(),
        bia::human(plan.total_bytes),
        match plan.route {
            bia::Route::SubmissionTool => "submission tool upload (< 50 GB, files < 20 GB)",
            bia::Route::Ftp => "FTP (up to 1 TB)",
            bia::Route::Aspera => "Aspera (over 1 TB)",
        }
    );
    for p in &plan.problems {
        errln!("{p}");
    }
    Ok(())
}

fn check(dir: &std::path::Path) -> Result<ExitCode> {
    let problems = bia::check(dir).with_context(|| format!("cannot check {}", dir.display()))?;
    for p in &problems {
        outln!("{p}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == bia::Severity::Error)
        .count();
    outln!(
        "{}: {errors} error(s), {} warning(s)",
        dir.display(),
        problems.len() - errors
    );
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
