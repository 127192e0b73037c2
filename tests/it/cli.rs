//! The `mifa` binary, run in temporary directories the way a user runs it.

use crate::common::{copy_dir, mifa, repo};
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A fresh package in a temp dir.
fn init(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("pkg");
    crate::common::init(
        &pkg,
        "Nuclei of HeLa cells imaged by widefield microscopy",
        "CC-BY-4.0",
    )
    .stdout(predicate::str::contains("created package"));
    pkg
}

/// `mifa meta set PKG ARGS…`, to be checked by the caller.
fn meta_set(pkg: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    mifa().args(["meta", "set"]).arg(pkg).args(args).assert()
}

/// `mifa meta import PKG SHEET`, to be checked by the caller.
fn meta_import(pkg: &Path, sheet: &Path) -> assert_cmd::assert::Assert {
    mifa().args(["meta", "import"]).arg(pkg).arg(sheet).assert()
}

fn validate_json(pkg: &Path) -> serde_json::Value {
    let out = mifa()
        .arg("validate")
        .arg(pkg)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn init_then_validate_lists_exactly_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    for sub in ["images", "annotations", "versions"] {
        assert!(pkg.join(sub).is_dir(), "{sub}/ missing");
    }
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .success()
        .stdout(predicate::str::contains("valid, 0 error(s)"))
        .stdout(predicate::str::contains("study              required 2/7"))
        .stdout(predicate::str::contains("[required] study.description:"))
        .stdout(predicate::str::contains("[required] rembi.biosamples:"));
    let report = validate_json(&pkg);
    let required: Vec<&str> = report["completeness"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["level"] == "required")
        .map(|g| g["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "study.description",
            "study.keywords",
            "study.release_date",
            "study.authors",
            "study.authors[*].email",
            "rembi.study_components",
            "rembi.biosamples",
            "rembi.specimens",
            "rembi.acquisitions"
        ]
    );
}

#[test]
fn filling_metadata_through_the_cli_reaches_full_required_coverage() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let set = |path: &str, value: &str| {
        meta_set(&pkg, &[path, value]).success();
    };
    set(
        "study.description",
        "Nuclei stained with DAPI, for instance segmentation",
    );
    set("study.keywords[+].label", "cell nucleus");
    set("study.release_date", "2025-06-01");
    set("rembi.study_components[main].name", "All images");
    set(
        "rembi.study_components[main].description",
        "Every image of the study",
    );
    set("rembi.biosamples[hela].title", "HeLa");
    set(
        "rembi.biosamples[hela].organisms[0].scientific_name",
        "Homo sapiens",
    );
    set("rembi.biosamples[hela].organisms[0].ncbi_taxon", "9606");
    set("rembi.biosamples[hela].biological_entity", "HeLa cells");
    set("rembi.specimens[fixed].title", "Fixed");
    set(
        "rembi.specimens[fixed].sample_preparation_protocol",
        "PFA, DAPI",
    );
    set("rembi.acquisitions[wf].title", "Widefield");
    set("rembi.acquisitions[wf].instrument", "Nikon Ti2");
    set("rembi.acquisitions[wf].parameters", "40x/0.95 air");
    set(
        "rembi.acquisitions[wf].imaging_method.label",
        "widefield microscopy",
    );
    mifa()
        .args(["author", "add"])
        .arg(&pkg)
        .args([
            "--name",
            "Josiah Carberry",
            "--orcid",
            "https://orcid.org/0000-0002-1825-0097",
        ])
        .args([
            "--email",
            "j@example.org",
            "--affiliation",
            "Brown University",
            "--role",
            "corresponding author",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("added Josiah Carberry"));
    // The number went in as a number: the schema wants an integer there.
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("mifa.json")).unwrap()).unwrap();
    assert_eq!(
        m["rembi"]["biosamples"][0]["organisms"][0]["ncbi_taxon"],
        9606
    );
    assert_eq!(m["study"]["authors"][0]["orcid"], "0000-0002-1825-0097");
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .success()
        .stdout(predicate::str::contains("every required field is filled"));
    assert!(validate_json(&pkg)["completeness"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["level"] != "required"));
}

#[test]
fn init_refuses_to_overwrite_and_bad_licence_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let before = fs::read(pkg.join("mifa.json")).unwrap();
    mifa()
        .arg("init")
        .arg(&pkg)
        .args([
            "--title",
            "Another title that is long enough",
            "--license",
            "CC0-1.0",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a mifa package already exists here",
        ));
    assert_eq!(fs::read(pkg.join("mifa.json")).unwrap(), before);

    let other = tmp.path().join("other");
    mifa()
        .arg("init")
        .arg(&other)
        .args([
            "--title",
            "A title that is long enough here",
            "--license",
            "CC-BY-99",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "study.license: \"CC-BY-99\" is not a known SPDX licence id",
        ));
    assert!(!other.exists(), "a refused init left a directory behind");
}

#[test]
fn refused_edits_leave_the_manifest_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let before = fs::read(pkg.join("mifa.json")).unwrap();
    mifa()
        .args(["author", "add"])
        .arg(&pkg)
        .args(["--name", "X", "--orcid", "0000-0002-1825-0098"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "study.authors[0].orcid: \"0000-0002-1825-0098\" has check digit 8",
        ))
        .stderr(predicate::str::contains("nothing was written"));
    meta_set(&pkg, &["images[+].path", "../escape"]).code(2);
    meta_set(&pkg, &["study.release_date", "tomorrow"])
        .code(2)
        .stderr(predicate::str::contains(
            "study.release_date: \"tomorrow\" is not a date YYYY-MM-DD",
        ));
    mifa()
        .args(["author", "add"])
        .arg(&pkg)
        .args(["--name", "X", "--set", "cells"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "annotation set \"cells\" does not exist",
        ));
    assert_eq!(fs::read(pkg.join("mifa.json")).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(&pkg)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".mifa.lock")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // The lock file stays (removing it would race) but is released and empty.
    assert_eq!(fs::read(pkg.join(".mifa.lock")).unwrap_or_default(), b"");
}

#[test]
fn a_second_writer_is_told_who_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    // This test process holds the lock, as a running writer would.
    let held = mifa::package::Lock::acquire(&pkg).unwrap();
    meta_set(&pkg, &["study.description", "x"])
        .code(2)
        .stderr(predicate::str::contains(format!(
            "package is locked by pid {}",
            std::process::id()
        )));
    drop(held);
    // A holder killed with SIGKILL leaves no stale lock: the kernel releases it.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    fs::write(pkg.join(".mifa.lock"), format!("{}\n", child.id())).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    meta_set(&pkg, &["study.description", "Set after a crashed writer."]).success();
}

#[test]
fn validate_reports_file_key_and_value_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("p");
    copy_dir(
        &repo("formats/manifest/invalid/dangling-source-image"),
        &pkg,
    );
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("INVALID"))
        .stdout(predicate::str::contains(
            "error: mifa.json: annotation_sets[0].files[0].source_images[1]: image \"nuclei2\" does not exist",
        ));
    let report = validate_json(&pkg);
    assert_eq!(report["valid"], false);
    assert_eq!(report["report"], "mifa-validate");
    assert_eq!(report["errors"][0]["code"], "reference");
    assert_eq!(report["errors"][0]["file"], "mifa.json");
    assert_eq!(
        report["errors"][0]["path"],
        "annotation_sets[0].files[0].source_images[1]"
    );
}

#[test]
fn malformed_json_gets_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    fs::write(
        pkg.join("mifa.json"),
        "{\n  \"format_version\": \"0.1\",\n  \"study\": {\"title\": \"x\" \"license\": 1}\n}\n",
    )
    .unwrap();
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "mifa.json:3:26: malformed JSON: expected `,` or `}`",
        ));
    // Commands that write refuse to touch it.
    meta_set(&pkg, &["study.title", "y"])
        .code(2)
        .stderr(predicate::str::contains("mifa.json:3:26: malformed JSON"));
}

#[test]
fn newer_format_version_is_refused_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let text = fs::read_to_string(pkg.join("mifa.json"))
        .unwrap()
        .replace("\"0.1\"", "\"3.0\"");
    fs::write(pkg.join("mifa.json"), text).unwrap();
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "format_version: \"3.0\" is newer than this mifa reads",
        ));
    mifa()
        .arg("info")
        .arg(&pkg)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("upgrade mifa"));
}

#[test]
fn not_a_package() {
    let tmp = tempfile::tempdir().unwrap();
    mifa()
        .arg("validate")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a mifa package"));
}

#[test]
fn meta_import_of_the_demo_sheet_then_get_and_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    meta_import(&pkg, &repo("examples/data/dsb2018/metadata.tsv"))
        .success()
        .stdout(predicate::str::contains("value(s) changed"));
    mifa()
        .args(["meta", "get"])
        .arg(&pkg)
        .arg("rembi.biosamples[cultured-cells].organisms[0].ncbi_taxon")
        .assert()
        .success()
        .stdout("9606\n");
    mifa()
        .args(["meta", "get"])
        .arg(&pkg)
        .arg("study.publications[0].doi")
        .assert()
        .success()
        .stdout("10.1038/s41592-019-0612-7\n");
    // Importing twice changes nothing: sheets merge, they do not duplicate.
    meta_import(&pkg, &repo("examples/data/dsb2018/metadata.tsv"))
        .success()
        .stdout(predicate::str::contains(": 0 value(s) changed"));
    mifa()
        .args(["meta", "unset"])
        .arg(&pkg)
        .arg("study.acknowledgements")
        .assert()
        .success();
    mifa()
        .args(["meta", "get"])
        .arg(&pkg)
        .arg("study.acknowledgements")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "nothing at key \"acknowledgements\"",
        ));
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .success()
        .stdout(predicate::str::contains("every required field is filled"));
}

#[test]
fn meta_import_yaml_and_json_and_bad_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let yaml = tmp.path().join("sheet.yaml");
    fs::write(
        &yaml,
        "study:\n  description: Nuclei for segmentation\n  keywords:\n    - label: nucleus\n      curie: GO:0005634\nrembi:\n  specimens:\n    - id: s1\n      title: Fixed\n",
    )
    .unwrap();
    meta_import(&pkg, &yaml).success();
    let json = tmp.path().join("sheet.json");
    fs::write(&json, r#"{"annotation_sets": [{"id": "nuclei", "title": "Nuclei", "types": ["segmentation_mask"]}]}"#).unwrap();
    meta_import(&pkg, &json).success();
    mifa()
        .args(["author", "add"])
        .arg(&pkg)
        .args([
            "--name",
            "Ann Otator",
            "--set",
            "nuclei",
            "--role",
            "annotator",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "added Ann Otator to the annotators of nuclei",
        ));
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("mifa.json")).unwrap()).unwrap();
    assert_eq!(m["study"]["keywords"][0]["curie"], "GO:0005634");
    assert_eq!(m["rembi"]["specimens"][0]["title"], "Fixed");
    assert_eq!(m["annotation_sets"][0]["authors"][0]["name"], "Ann Otator");

    let before = fs::read(pkg.join("mifa.json")).unwrap();
    let bad = tmp.path().join("bad.tsv");
    fs::write(&bad, "Study\nTitle\tA title long enough to pass the check\nLicence\tCC0-1.0\n\nBiosample\tb1\nOrgansim\tMus musculus\n").unwrap();
    meta_import(&pkg, &bad)
        .code(2)
        .stderr(predicate::str::contains("bad.tsv:6: unknown attribute \"Organsim\" in section Biosample; did you mean \"Organism\"?"));
    let bad_yaml = tmp.path().join("bad.yaml");
    fs::write(&bad_yaml, "study:\n  title: [unclosed\n").unwrap();
    meta_import(&pkg, &bad_yaml)
        .code(2)
        .stderr(predicate::str::contains("bad.yaml:"));
    let bad_value = tmp.path().join("v.tsv");
    fs::write(&bad_value, "Author\nName\tX\nORCID\t0000-0002-1825-0098\n").unwrap();
    meta_import(&pkg, &bad_value)
        .code(2)
        .stderr(predicate::str::contains("has check digit 8"));
    assert_eq!(fs::read(pkg.join("mifa.json")).unwrap(), before);
}

#[test]
fn info_counts_objects_coverage_and_annotators() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("p");
    copy_dir(&repo("formats/manifest/valid/complete"), &pkg);
    mifa()
        .arg("info")
        .arg(&pkg)
        .assert()
        .success()
        .stdout(predicate::str::contains("images: 1 (512 B uncompressed)"))
        .stdout(predicate::str::contains("nuclei               yx 16x16 uint16, pixel 0.65 micrometer x 0.65 micrometer"))
        .stdout(predicate::str::contains("[geometrical_annotations] 2 objects, covers 1/1 images, 1 file(s)"))
        .stdout(predicate::str::contains("Josiah Carberry (ORCID 0000-0002-1825-0097): corresponding author, curator, annotator; annotated nuclei-outlines"));
    let out = mifa().arg("info").arg(&pkg).arg("--json").output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["annotation_sets"][0]["objects"], 2);
    assert_eq!(
        info["annotation_sets"][0]["coverage"]["images_annotated"],
        1
    );
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let committed = fs::read_to_string(repo("formats/manifest/schema.json")).unwrap();
    mifa().arg("schema").assert().success().stdout(committed);
}

/// The binary as a plain process, for tests that give it their own stdout.
fn mifa_std() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_mifa"))
}

/// A package with an author and a release, so that every reading command has output.
fn released(tmp: &Path) -> PathBuf {
    let pkg = init(tmp);
    mifa()
        .args(["author", "add"])
        .arg(&pkg)
        .args(["--name", "Ada Lovelace", "--role", "annotator"])
        .assert()
        .success();
    mifa()
        .arg("release")
        .arg(&pkg)
        .args([
            "--version",
            "1.0.0",
            "--changes",
            "first",
            "--allow-invalid",
        ])
        .assert()
        .success();
    pkg
}

fn no_panic(stderr: &[u8]) {
    let text = String::from_utf8_lossy(stderr);
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn a_full_stdout_is_reported_by_every_printing_command() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = released(tmp.path());
    let commands: &[&[&str]] = &[
        &["validate", "DIR"],
        &["validate", "DIR", "--json"],
        &["info", "DIR"],
        &["info", "DIR", "--json"],
        &["meta", "get", "DIR"],
        &["meta", "get", "DIR", "study.title"],
        &["author", "list", "DIR"],
        &["credit", "DIR"],
        &["credit", "DIR", "--format", "json"],
        &["credit", "DIR", "--format", "cff"],
        &["diff", "DIR", "1.0.0"],
        &["diff", "DIR", "1.0.0", "--json"],
        &["verify", "DIR"],
        &["verify", "DIR", "--json"],
        &["schema"],
        &["schema", "version"],
        &[
            "meta",
            "set",
            "DIR",
            "study.description",
            "Nuclei of HeLa cells",
        ],
        &["--help"],
        &["--version"],
    ];
    for args in commands {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = mifa_std()
            .args(args.iter().map(|a| {
                if *a == "DIR" {
                    pkg.as_os_str()
                } else {
                    std::ffi::OsStr::new(a)
                }
            }))
            .stdout(full)
            .output()
            .unwrap();
        no_panic(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "error: cannot write to standard output: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = released(tmp.path());
    // More than a pipe holds (64 KiB), so that a write meets the closed end whenever it runs.
    let long = "HeLa nuclei. ".repeat(8000);
    meta_set(&pkg, &["study.description", &long]).success();
    let commands: &[&[&str]] = &[
        &["meta", "get", "DIR", "study.description"],
        &["meta", "get", "DIR"],
        &["validate", "DIR", "--json"],
        &["diff", "DIR", "1.0.0"],
        &["schema"],
    ];
    for args in commands {
        let mut child = mifa_std()
            .args(args.iter().map(|a| {
                if *a == "DIR" {
                    pkg.as_os_str()
                } else {
                    std::ffi::OsStr::new(a)
                }
            }))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn a_closed_stderr_does_not_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mifa_std()
        .arg("info")
        .arg(tmp.path().join("nowhere"))
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut child = mifa_std()
        .arg("info")
        .arg(tmp.path().join("nowhere"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(2));
}

#[test]
fn meta_set_refuses_paths_and_values_deeper_than_the_reader_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let before = fs::read(pkg.join("mifa.json")).unwrap();
    let keys = |n: usize| vec!["x"; n].join(".");
    for n in [65, 130, 20_000] {
        meta_set(&pkg, &[&keys(n), "v"])
            .code(2)
            .stderr(predicate::str::contains(
                "more than 64 keys and [..] selectors, deeper than a manifest may nest",
            ));
    }
    mifa()
        .args(["meta", "get"])
        .arg(&pkg)
        .arg(keys(200))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("more than 64 keys"));
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for (value, mode) in [
        (nested(126), "--json"),
        (nested(63), "--json"),
        (nested(63), "--"),
    ] {
        meta_set(&pkg, &[mode, "x.y", &value])
            .code(2)
            .stderr(predicate::str::contains(
                "x.y: value [[[[",
            ))
            .stderr(predicate::str::contains(
                "the path takes 2 of the 64 levels a manifest may nest, so the value may nest at most 62",
            ));
    }
    meta_set(&pkg, &["study.keywords[999999999].label", "x"])
        .code(2)
        .stderr(predicate::str::contains(
            "index [999999999] is past the end (the array has 0 elements",
        ));
    let sheet = tmp.path().join("deep.json");
    fs::write(&sheet, format!("{{\"study\": {{\"x\": {}}}}}", nested(100))).unwrap();
    meta_import(&pkg, &sheet)
        .code(2)
        .stderr(predicate::str::contains(
            "deep.json:1: nested deeper than 64 levels",
        ));
    assert_eq!(fs::read(pkg.join("mifa.json")).unwrap(), before);
    // The deepest value that fits is written, and read back by every command.
    meta_set(&pkg, &["--json", "x.y", &nested(62)]).success();
    mifa().arg("info").arg(&pkg).assert().success();
    mifa()
        .args(["meta", "get"])
        .arg(&pkg)
        .arg("x.y")
        .assert()
        .success();
}

#[test]
fn a_manifest_nested_too_deep_is_refused_naming_the_file_and_the_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let manifest = pkg.join("mifa.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    doc["x"] = serde_json::from_str(&format!("{}{}", "[".repeat(64), "]".repeat(64))).unwrap();
    fs::write(&manifest, serde_json::to_string(&doc).unwrap()).unwrap();
    mifa()
        .arg("info")
        .arg(&pkg)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mifa.json:1:"))
        .stderr(predicate::str::contains(
            "arrays and objects nest deeper than 64 levels here, the most a manifest may nest",
        ));
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "arrays and objects nest deeper than 64 levels here",
        ));
    // Far deeper than any parser's stack: refused by the scan, without recursion.
    fs::write(&manifest, "[".repeat(1_000_000)).unwrap();
    let out = mifa_std().arg("info").arg(&pkg).output().unwrap();
    no_panic(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("mifa.json:1:65: arrays and objects nest deeper than 64"));
}

#[test]
fn numeric_options_out_of_range_are_refused_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = init(tmp.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["load", "DIR", "--workers", "100000"],
            "100000 is not in 0..=256",
        ),
        (
            &["load", "DIR", "--batch-size", "0"],
            "0 is not in 1..=65536",
        ),
        (&["load", "DIR", "--patch", "0"], "0 is not in 1..=65536"),
        (
            &["load", "DIR", "--patch", "99999999999"],
            "is not in 1..=65536",
        ),
        (&["load", "DIR", "--stride", "0"], "0 is not in 1.."),
        (&["load", "DIR", "--crop", "0"], "0 is not in 1..=65536"),
        (
            &["load", "DIR", "--samples-per-epoch", "100000000000"],
            "is not in 1..=10000000",
        ),
        (
            &["load", "DIR", "--cache-mb", "18446744073709551615"],
            "is not in 0..=1048576",
        ),
        (
            &["load", "DIR", "--world-size", "0"],
            "0 is not in 1..=65536",
        ),
        (
            &["load", "DIR", "--rank", "70000"],
            "70000 is not in 0..=65535",
        ),
        (
            &["load", "DIR", "--heatmap-sigma", "NaN"],
            "is not a number of pixels above 0 and at most 1000",
        ),
        (
            &["load", "DIR", "--heatmap-sigma", "1e30"],
            "is not a number of pixels above 0",
        ),
        (
            &["add", "DIR", "x.tif", "--chunk", "0"],
            "0 is not in 1..=65536",
        ),
        (
            &["add", "DIR", "x.tif", "--pixel-size", "1e308"],
            "1e308 is not a number above 0 and at most 1e12",
        ),
        (
            &["add", "DIR", "x.tif", "--pixel-size", "0.5,NaN"],
            "NaN is not a number above 0",
        ),
        (
            &["add", "DIR", "x.tif", "--time-interval", "inf"],
            "inf is not a number above 0",
        ),
        (
            &["add", "DIR", "x.tif", "--chunk", "4294967296"],
            "is not in 1..=65536",
        ),
        (
            &[
                "preview",
                "DIR",
                "img",
                "--out",
                "p.png",
                "--size",
                "4000000000",
            ],
            "is not in 1..=16384",
        ),
        (
            &["report", "DIR", "--out", "r", "--size", "100000"],
            "is not in 1..=4096",
        ),
        (
            &["report", "DIR", "--out", "r", "--max-images", "0"],
            "0 is not in 1..=100000",
        ),
    ];
    for (args, message) in cases {
        let out = mifa_std()
            .current_dir(tmp.path())
            .args(args.iter().map(|a| {
                if *a == "DIR" {
                    pkg.as_os_str()
                } else {
                    std::ffi::OsStr::new(a)
                }
            }))
            .output()
            .unwrap();
        no_panic(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // The size of a batch, checked once the loader knows the window and the channels.
    let tmp_pkg = tmp.path().join("complete");
    copy_dir(&repo("formats/manifest/valid/complete"), &tmp_pkg);
    for (args, message) in [
        (
            vec!["--batch-size", "65536", "--patch", "16", "--channels", "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"],
            "a batch of 65536 samples of 17 channel(s) × 16 × 16 pixels holds 285212672 values, more than 268435456",
        ),
        (
            vec!["--batch-size", "65536", "--sampling", "whole", "--channels", "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"],
            "a batch of 65536 samples of 17 channel(s) × 16 × 16 pixels",
        ),
    ] {
        mifa()
            .arg("load")
            .arg(&tmp_pkg)
            .args(["--split", "all"])
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    let channels = vec!["0"; 2000].join(",");
    mifa()
        .arg("load")
        .arg(&pkg)
        .args(["--channels", &channels])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--channels lists 2000 channels; at most 1024 can be served",
        ));
}
