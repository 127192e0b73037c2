//! Releases, diff, verify, credit and restore through the CLI: the issue's scenario (release,
//! change annotations, release again; diff object by object; the first annotators keep their
//! credit; one flipped byte is found) and the refusals.

use crate::common::{init, mifa, repo, walk};
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// `mifa release PKG --version VERSION --changes CHANGES ARGS…`, to be checked by the caller.
fn release(pkg: &str, version: &str, changes: &str, args: &[&str]) -> Assert {
    mifa()
        .args(["release", pkg, "--version", version, "--changes", changes])
        .args(args)
        .assert()
}

fn square(id: u32, x: f64, y: f64) -> String {
    format!(
        r#"{{"type":"Feature","id":{id},"properties":{{"classification":{{"name":"nucleus"}}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
        x2 = x + 10.0,
        y2 = y + 10.0
    )
}

fn geojson(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

/// A package with the demo image and a set `cells` of 20 squares annotated by Ada.
fn package(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("pkg");
    let p = pkg.to_str().unwrap();
    init(
        p,
        "Versioned nuclei annotations for the release tests",
        "CC0-1.0",
    );
    mifa()
        .args(["add", p])
        .arg(repo("examples/data/dsb2018/img2d.tif"))
        .args(["--id", "nuclei"])
        .assert()
        .success();
    let f: Vec<String> = (0..20)
        .map(|i| square(i + 1, 20.0 * f64::from(i), 5.0))
        .collect();
    fs::write(tmp.join("cells.geojson"), geojson(&f)).unwrap();
    mifa()
        .args(["import", p, "geojson"])
        .arg(tmp.join("cells.geojson"))
        .args(["--image", "nuclei", "--set", "cells"])
        .assert()
        .success();
    mifa()
        .args([
            "author",
            "add",
            p,
            "--name",
            "Ada Lovelace",
            "--orcid",
            "0000-0002-1825-0097",
            "--role",
            "annotator",
            "--set",
            "cells",
        ])
        .assert()
        .success();
    pkg
}

#[test]
fn release_change_release_diff_credit_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    release(p, "1.0.0", "First release", &[])
        .success()
        .stdout(predicate::str::contains("released 1.0.0"));
    assert!(pkg.join("versions/1.0.0.json").exists());
    check_record_schema(&pkg.join("versions/1.0.0.json"));
    mifa().args(["verify", p]).assert().success();
    // Nothing changed: refused. Not increasing: refused.
    release(p, "1.0.1", "again", &[])
        .failure()
        .stderr(predicate::str::contains(
            "nothing changed since version 1.0.0",
        ));
    release(p, "0.9.0", "older", &[])
        .failure()
        .stderr(predicate::str::contains(
            "must be greater than the latest release, 1.0.0",
        ));
    // Round two: 3 squares removed, 1 moved, 12 added; the set now credits only Grace.
    let mut f: Vec<String> = (3..20)
        .map(|i| square(i + 1, 20.0 * f64::from(i), 5.0))
        .collect();
    f[0] = square(4, 61.0, 5.0);
    f.extend((0..12).map(|i| square(100 + i, 20.0 * f64::from(i), 40.0)));
    fs::write(tmp.path().join("cells2.geojson"), geojson(&f)).unwrap();
    mifa()
        .args(["import", p, "geojson"])
        .arg(tmp.path().join("cells2.geojson"))
        .args(["--image", "nuclei", "--set", "cells", "--replace"])
        .assert()
        .success();
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("mifa.json")).unwrap()).unwrap();
    let idx = m["annotation_sets"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["id"] == "cells")
        .unwrap();
    mifa()
        .args([
            "meta",
            "set",
            p,
            &format!("annotation_sets[{idx}].authors"),
            r#"[{"name": "Grace Hopper", "roles": ["annotator"]}]"#,
            "--json",
        ])
        .assert()
        .success();
    mifa()
        .args(["diff", p, "1.0.0"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "cells: +12 polygons, −3, 1 changed",
        ));
    release(p, "1.1.0", "Second round", &[])
        .success()
        .stdout(predicate::str::contains("previous: 1.0.0"));
    let out = mifa()
        .args(["diff", p, "1.0.0", "1.1.0", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let d: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(d["sets_changed"][0]["added"]["polygons"], 12);
    assert_eq!(d["sets_changed"][0]["removed"]["polygons"], 3);
    assert_eq!(d["credit_added"], serde_json::json!(["Grace Hopper"]));
    assert_eq!(d["credit_removed"], serde_json::json!([]));
    // Ada's credit is carried forward although her set was replaced.
    mifa()
        .args(["credit", p])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Ada Lovelace https://orcid.org/0000-0002-1825-0097",
        ))
        .stdout(predicate::str::contains("since 1.0.0"))
        .stdout(predicate::str::contains("Grace Hopper"));
    mifa()
        .args(["credit", p, "--format", "cff"])
        .assert()
        .success()
        .stdout(predicate::str::contains("family-names: \"Lovelace\""))
        .stdout(predicate::str::contains("version: \"1.1.0\""));
    mifa().args(["verify", p]).assert().success();
    mifa()
        .args(["verify", p, "--version", "1.0.0"])
        .assert()
        .failure();
    // One flipped byte in an image chunk is named.
    let chunk = walk(&pkg.join("images/nuclei.ome.zarr/0"))
        .into_iter()
        .find(|f| !f.ends_with("zarr.json"))
        .unwrap();
    let mut bytes = fs::read(&chunk).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&chunk, bytes).unwrap();
    let rel = chunk
        .strip_prefix(&pkg)
        .unwrap()
        .to_string_lossy()
        .to_string();
    mifa()
        .args(["verify", p])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!("corrupted  {rel}")));
}

#[test]
fn restore_brings_back_an_earlier_set_and_removal_of_credit_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    release(p, "1.0.0", "First", &[]).success();
    fs::write(
        tmp.path().join("few.geojson"),
        geojson(&[square(1, 5.0, 5.0)]),
    )
    .unwrap();
    mifa()
        .args(["import", p, "geojson"])
        .arg(tmp.path().join("few.geojson"))
        .args(["--image", "nuclei", "--set", "cells", "--replace"])
        .assert()
        .success();
    release(p, "2.0.0", "Cut down", &[]).success();
    mifa()
        .args(["restore", p, "--version", "1.0.0", "--set", "cells"])
        .assert()
        .success();
    mifa()
        .args(["diff", p, "1.0.0"])
        .assert()
        .success()
        .stdout(predicate::str::contains("identical"));
    mifa().args(["validate", p]).assert().success();
    // Removing Ada's credit is explicit and recorded.
    release(
        p,
        "2.1.0",
        "Credit fix",
        &["--remove-credit", "0000-0002-1825-0097=asked to be removed"],
    )
    .success();
    release(p, "2.2.0", "x", &["--remove-credit", "Nobody Known=typo"])
        .failure()
        .stderr(predicate::str::contains("matches no credited person"));
    let r: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("versions/2.1.0.json")).unwrap())
            .unwrap();
    assert_eq!(r["credit_removed"][0]["reason"], "asked to be removed");
    assert!(!r["credit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "Ada Lovelace"));
}

#[test]
fn a_package_with_errors_is_released_only_on_request_and_that_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    // An invalid ORCID check digit, typed into the manifest by hand.
    let text = fs::read_to_string(pkg.join("mifa.json")).unwrap();
    fs::write(
        pkg.join("mifa.json"),
        text.replace("0000-0002-1825-0097", "0000-0002-1825-0098"),
    )
    .unwrap();
    release(p, "1.0.0", "x", &[])
        .failure()
        .stderr(predicate::str::contains("validation error"))
        .stderr(predicate::str::contains("--allow-invalid"));
    assert!(!pkg.join("versions/1.0.0.json").exists());
    release(p, "1.0.0", "x", &["--allow-invalid"])
        .success()
        .stderr(predicate::str::contains("released with 1 validation error"));
    let r: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("versions/1.0.0.json")).unwrap())
            .unwrap();
    assert!(r["released_with_errors"][0]
        .as_str()
        .unwrap()
        .contains("check digit"));
    // Not semver, build metadata: refused.
    for v in ["1.1", "1.1.0+build.5"] {
        release(p, v, "x", &[])
            .failure()
            .stderr(predicate::str::contains(format!("version \"{v}\"")));
    }
}

/// The record follows `formats/versions/schema.json`, which matches the Rust types.
fn check_record_schema(record: &Path) {
    let stored = fs::read_to_string(repo("formats/versions/schema.json")).unwrap();
    assert_eq!(
        stored,
        mifa::versions::schema_text(),
        "formats/versions/schema.json is out of date: cargo run -- schema version > formats/versions/schema.json"
    );
    let schema: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(record).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// `versions/HEAD` names the latest record and its hash: an edited, deleted or swapped latest
/// record is reported by `verify` and stops the next release; a package released before HEAD
/// existed still verifies, with a warning, and gets one on its next release.
#[test]
fn an_edited_swapped_or_deleted_latest_record_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    let release = |v: &str| release(p, v, "a release", &[]);
    release("1.0.0").success();
    let head: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("versions/HEAD")).unwrap()).unwrap();
    assert_eq!(head["format"], "mifa-versions-head");
    assert_eq!(head["record"], "1.0.0.json");
    mifa().args(["verify", p]).assert().success();
    // Edited: the record's hash no longer matches HEAD (its own dataset hash still does).
    let record = pkg.join("versions/1.0.0.json");
    let original = fs::read_to_string(&record).unwrap();
    fs::write(&record, original.replace("a release", "another text")).unwrap();
    mifa()
        .args(["verify", p])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "versions/1.0.0.json: the latest release record changed since it was released",
        ));
    release("1.0.1").failure().stderr(predicate::str::contains(
        "cannot release: versions/1.0.0.json",
    ));
    fs::write(&record, &original).unwrap();
    mifa().args(["verify", p]).assert().success();
    // Swapped: a newer record that HEAD does not name.
    let fake = pkg.join("versions/2.0.0.json");
    fs::write(&fake, original.replace("\"1.0.0\"", "\"2.0.0\"")).unwrap();
    mifa().args(["verify", p]).assert().code(1).stdout(predicate::str::contains(
        "versions/HEAD names versions/1.0.0.json as the latest release record, but the latest record is versions/2.0.0.json",
    ));
    fs::remove_file(&fake).unwrap();
    // Deleted: the only record gone.
    fs::rename(&record, tmp.path().join("aside.json")).unwrap();
    mifa()
        .args(["verify", p])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
        "names versions/1.0.0.json as the latest release record, but there are no release records",
    ));
    fs::rename(tmp.path().join("aside.json"), &record).unwrap();
    // Released before HEAD existed: verifies, with a warning; the next release writes it.
    fs::remove_file(pkg.join("versions/HEAD")).unwrap();
    mifa()
        .args(["verify", p])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: versions/HEAD is missing",
        ));
    fs::write(
        tmp.path().join("one.geojson"),
        geojson(&[square(1, 0.0, 0.0)]),
    )
    .unwrap();
    mifa()
        .args(["import", p, "geojson"])
        .arg(tmp.path().join("one.geojson"))
        .args(["--image", "nuclei", "--set", "more"])
        .assert()
        .success();
    release("1.1.0").success();
    let head: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("versions/HEAD")).unwrap()).unwrap();
    assert_eq!(head["record"], "1.1.0.json");
    mifa().args(["verify", p]).assert().success();
    // Deleting the latest of two records is found too.
    fs::remove_file(pkg.join("versions/1.1.0.json")).unwrap();
    mifa()
        .args(["verify", p])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
        "versions/HEAD names versions/1.1.0.json as the latest release record, but it is missing",
    ));
}

/// A symbolic link inside the package is listed by `verify`, never followed, and refused by
/// `release`.
#[test]
fn verify_and_release_do_not_follow_links_in_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    release(p, "1.0.0", "first", &[]).success();
    let secret = tmp.path().join("secret.txt");
    fs::write(&secret, "outside").unwrap();
    std::os::unix::fs::symlink(&secret, pkg.join("annotations/cells/leak.geojson")).unwrap();
    mifa()
        .args(["verify", p])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "annotations/cells/leak.geojson (symbolic link)",
        ));
    mifa()
        .args(["validate", p])
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "annotations/cells/leak.geojson: is a symbolic link; mifa does not follow links",
        ));
    release(p, "1.0.1", "second", &[])
        .failure()
        .stderr(predicate::str::contains(
            "annotations/cells/leak.geojson: is a symbolic link",
        ));
    release(p, "1.0.1", "second", &["--allow-invalid"])
        .failure()
        .stderr(predicate::str::contains(
            "annotations/cells/leak.geojson (symbolic link) inside the package",
        ));
    assert!(!pkg.join("versions/1.0.1.json").exists());
}
