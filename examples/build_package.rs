//! Builds a package through the library API (the same calls the CLI makes) and prints its
//! completeness. `cargo run --example build_package -- OUT_DIR`

use mifa::edit::{self, PersonList, ValueMode};
use mifa::metadata::{Manifest, Person};
use mifa::Package;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "demo-out/api-example".into());
    let dir = std::path::Path::new(&out);
    if dir.join("mifa.json").exists() {
        return Err(format!("{out} already holds a package; give another directory").into());
    }
    let mut pkg = Package::create(
        dir,
        Manifest::new(
            "Nuclei of cultured cells, built through the library",
            "CC0-1.0",
        ),
    )?;
    edit::set_in_package(
        &mut pkg,
        "study.description",
        "Stained nuclei for instance segmentation.",
        ValueMode::Auto,
    )?;
    // An organism needs its scientific name before anything else about it.
    edit::set_in_package(
        &mut pkg,
        "rembi.biosamples[cells].organisms[0].scientific_name",
        "Homo sapiens",
        ValueMode::Auto,
    )?;
    edit::set_in_package(
        &mut pkg,
        "rembi.biosamples[cells].organisms[0].ncbi_taxon",
        "9606",
        ValueMode::Auto,
    )?;
    edit::add_person(
        &mut pkg,
        &PersonList::Study,
        Person {
            name: "Josiah Carberry".into(),
            orcid: Some("0000-0002-1825-0097".into()),
            email: Some("josiah@example.org".into()),
            affiliation: Some("Brown University".into()),
            roles: vec!["curator".into()],
            extra: Default::default(),
        },
    )?;
    let report = mifa::validate::validate(dir)?;
    let completeness = report
        .completeness
        .expect("a readable manifest is always assessed");
    for m in &completeness.modules {
        println!(
            "{:<18} required {}/{}",
            m.module.as_str(),
            m.required.met,
            m.required.total
        );
    }
    println!(
        "{} gap(s); first: {}",
        completeness.gaps.len(),
        completeness.gaps[0].path
    );
    Ok(())
}
