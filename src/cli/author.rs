//! `mifa author`: the people credited in the package.

use super::open;
use anyhow::Result;
use clap::{Args, Subcommand};
use mifa::edit::{self, Added, PersonList};
use mifa::metadata::Person;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuthorCommand {
    /// Add a person (merged with an existing entry of the same ORCID or name).
    Add(AuthorArgs),
    /// List the people credited in the package.
    List {
        /// Package directory.
        dir: PathBuf,
    },
}

#[derive(Args)]
pub struct AuthorArgs {
    /// Package directory.
    dir: PathBuf,
    /// Full name.
    #[arg(long)]
    name: String,
    /// ORCID iD (bare or as https://orcid.org/… URL).
    #[arg(long)]
    orcid: Option<String>,
    /// E-mail address.
    #[arg(long)]
    email: Option<String>,
    /// Institution.
    #[arg(long)]
    affiliation: Option<String>,
    /// Role, repeatable or comma-separated (annotator, curator, reviewer, contact, …).
    #[arg(long = "role", value_delimiter = ',')]
    roles: Vec<String>,
    /// Add to this annotation set's authors instead of the study's.
    #[arg(long = "set")]
    set: Option<String>,
}

pub fn run(c: AuthorCommand) -> Result<ExitCode> {
    match c {
        AuthorCommand::Add(a) => add(a)?,
        AuthorCommand::List { dir } => list(&dir)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn add(a: AuthorArgs) -> Result<()> {
    let mut pkg = open(&a.dir)?;
    let list = a.set.map_or(PersonList::Study, PersonList::Set);
    let person = Person {
        name: a.name.clone(),
        orcid: a.orcid,
        email: a.email,
        affiliation: a.affiliation,
        roles: a
            .roles
            .into_iter()
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty())
            .collect(),
        extra: Default::default(),
    };
    let what = edit::add_person(&mut pkg, &list, person)?;
    let target = match &list {
        PersonList::Study => "study authors".to_string(),
        PersonList::Set(id) => format!("annotators of {id}"),
    };
    match what {
        Added::New => outln!("added {} to the {target}", a.name),
        Added::Merged => outln!("updated {} in the {target}", a.name),
    }
    Ok(())
}

fn list(dir: &std::path::Path) -> Result<()> {
    let pkg = open(dir)?;
    for c in mifa::info::contributors(pkg.manifest()) {
        let orcid = c
            .orcid
            .as_deref()
            .map(|o| format!(" https://orcid.org/{o}"))
            .unwrap_or_default();
        let sets = if c.sets.is_empty() {
            String::new()
        } else {
            format!(" [annotated: {}]", c.sets.join(", "))
        };
        outln!(
            "{}{orcid} ({}){sets}",
            c.name,
            if c.roles.is_empty() {
                "no role".into()
            } else {
                c.roles.join(", ")
            }
        );
    }
    Ok(())
}
