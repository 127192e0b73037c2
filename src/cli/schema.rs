//! `mifa schema`: the JSON Schema of a format mifa defines.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum, default_value = "manifest")]
    which: Which,
}

/// The schemas.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    Manifest,
    Version,
}

pub fn run(a: SchemaArgs) -> Result<ExitCode> {
    match a.which {
        Which::Manifest => out!("{}", mifa::manifest::schema_text()),
        Which::Version => out!("{}", mifa::versions::schema_text()),
    }
    Ok(ExitCode::SUCCESS)
}
