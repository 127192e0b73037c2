//! `mifa meta`: read and change the manifest's values.

use super::open;
use anyhow::Result;
use clap::Subcommand;
use mifa::edit::{self, ValueMode};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum MetaCommand {
    /// Set a value: `mifa meta set DIR study.description "…"`.
    ///
    /// Paths: keys joined by '.', `[N]` an element, `[+]` a new element, `[ID]` the element
    /// with that id (created if missing), e.g. `rembi.biosamples[hela].organisms[0].ncbi_taxon`.
    Set {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path.
        path: String,
        /// Value: text, or JSON where the field needs a number, list or object.
        value: String,
        /// Parse the value as JSON.
        #[arg(long, conflicts_with = "string")]
        json: bool,
        /// Keep the value as text even if it looks like JSON.
        #[arg(long)]
        string: bool,
    },
    /// Print a value (JSON), or the whole manifest.
    Get {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path; omit for the whole manifest.
        path: Option<String>,
    },
    /// Remove a value.
    Unset {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path.
        path: String,
    },
    /// Merge a metadata sheet (.json, .yaml, .tsv or .csv) into the package.
    Import {
        /// Package directory.
        dir: PathBuf,
        /// The sheet.
        sheet: PathBuf,
    },
}

pub fn run(c: MetaCommand) -> Result<ExitCode> {
    match c {
        MetaCommand::Set {
            dir,
            path,
            value,
            json,
            string,
        } => {
            let mode = if json {
                ValueMode::Json
            } else if string {
                ValueMode::String
            } else {
                ValueMode::Auto
            };
            let mut pkg = open(&dir)?;
            edit::set_in_package(&mut pkg, &path, &value, mode)?;
            outln!("set {path}");
        }
        MetaCommand::Get { dir, path } => {
            let pkg = open(&dir)?;
            let doc = serde_json::to_value(pkg.manifest())?;
            let v = match &path {
                Some(p) => edit::get(&doc, p)?.clone(),
                None => doc,
            };
            match v {
                serde_json::Value::String(s) => outln!("{s}"),
                other => outln!("{}", serde_json::to_string_pretty(&other)?),
            }
        }
        MetaCommand::Unset { dir, path } => {
            let mut pkg = open(&dir)?;
            pkg.update_value(|doc| {
                edit::unset(doc, &path).map_err(mifa::package::UpdateError::Change)
            })
            .map_err(edit::Error::from)?;
            outln!("removed {path}");
        }
        MetaCommand::Import { dir, sheet } => {
            let mut pkg = open(&dir)?;
            let changed = mifa::sheet::import(&mut pkg, &sheet)?;
            outln!(
                "imported {}: {} value(s) changed",
                sheet.display(),
                changed.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
