//! `mifa split`: record a train/validation/test split and show what each part got.

use anyhow::{Context, Result};
use clap::Args;
use mifa::package::Package;
use mifa::split::{Fractions, Request};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SplitArgs {
    /// Package directory.
    dir: PathBuf,
    /// Fraction of images for training.
    #[arg(long, default_value_t = 0.8)]
    train: f64,
    /// Fraction for validation.
    #[arg(long, default_value_t = 0.1)]
    val: f64,
    /// Fraction for testing.
    #[arg(long, default_value_t = 0.1)]
    test: f64,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// What images are grouped by.
    #[arg(long, value_enum, default_value = "image")]
    group_by: GroupBy,
    /// Deal groups class by class, classes from this vector annotation set.
    #[arg(long)]
    stratify: Option<String>,
    /// Name of the split.
    #[arg(long, default_value = "default")]
    name: String,
}

/// `--group-by`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GroupBy {
    Image,
    Biosample,
    Specimen,
}

pub fn run(a: SplitArgs) -> Result<ExitCode> {
    let mut pkg = Package::open(&a.dir)?;
    let req = Request {
        id: a.name,
        fractions: Fractions {
            train: a.train,
            val: a.val,
            test: a.test,
        },
        seed: a.seed,
        group_by: match a.group_by {
            GroupBy::Image => mifa::split::GroupBy::Image,
            GroupBy::Biosample => mifa::split::GroupBy::Biosample,
            GroupBy::Specimen => mifa::split::GroupBy::Specimen,
        },
        stratify: a.stratify,
    };
    let (s, same) = mifa::split::record(&mut pkg, &req)
        .with_context(|| format!("cannot split {}", a.dir.display()))?;
    let summary = mifa::split::summary::summary(pkg.manifest(), &s)?;
    outln!(
        "split {:?} ({}, seed {}, grouped by {}){}",
        s.id,
        s.method,
        s.seed,
        serde_json::to_value(s.group_by)?.as_str().unwrap_or(""),
        if same {
            ": unchanged, identical to the recorded one"
        } else {
            ""
        }
    );
    for p in &summary.parts {
        outln!(
            "  {:<5} {:>5} images in {:>4} groups",
            p.name,
            p.images.len(),
            p.groups
        );
    }
    for p in summary.parts.iter().filter(|p| p.starved()) {
        errln!(
            "warning: {} asked for {:.0}% but got no image: there are only {} groups",
            p.name,
            p.share * 100.0,
            summary.groups
        );
    }
    outln!("  inputs {}", s.inputs_hash);
    Ok(ExitCode::SUCCESS)
}
