//! The subcommands, one module each: its arguments and a `run` that calls the library and
//! prints. Shared here: opening a package, the progress bar, value parsers.

pub mod add;
pub mod author;
pub mod convert;
pub mod credit;
pub mod diff;
pub mod export;
pub mod import;
pub mod info;
pub mod init;
pub mod load;
pub mod meta;
pub mod preview;
pub mod publish;
pub mod release;
pub mod report;
pub mod restore;
pub mod schema;
pub mod split;
pub mod validate;
pub mod verify;

use anyhow::{Context, Result};
use mifa::package::Package;
use std::path::Path;

/// Opens the package at `dir`, naming it in the error.
pub fn open(dir: &Path) -> Result<Package> {
    Package::open(dir).with_context(|| format!("cannot open package {}", dir.display()))
}

/// What mask values mean (`--kind`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MaskKind {
    Instance,
    Semantic,
}

impl From<MaskKind> for mifa::metadata::MaskKind {
    fn from(k: MaskKind) -> Self {
        match k {
            MaskKind::Instance => mifa::metadata::MaskKind::Instance,
            MaskKind::Semantic => mifa::metadata::MaskKind::Semantic,
        }
    }
}

/// Parser of a `usize` option within `min..=max`, with clap's range message.
pub fn usize_in(min: usize, max: usize) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(min as u64..=max as u64)
}

/// A terminal progress bar (hidden when stderr is not a terminal) fed by the library.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar of bytes, hidden when stderr is not a terminal.
    pub fn new() -> Bar {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        Bar(pb)
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl mifa::images::Progress for Bar {
    fn total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
