//! Walks the fixture folders of `formats/`: every valid one passes, every invalid one fails with
//! the message in its `expected.txt`. Also keeps `formats/manifest/schema.json` identical to the
//! schema generated from the Rust types, and validates every fixture against that file.

use crate::common::{copy_dir, repo};
use mifa::validate::validate;
use std::fs;
use std::path::{Path, PathBuf};

fn fixture_dirs(kind: &str) -> Vec<PathBuf> {
    let root = repo("formats/manifest").join(kind);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures in {}", root.display());
    dirs
}

#[test]
fn valid_manifests_pass() {
    for dir in fixture_dirs("valid") {
        let report = validate(&dir).unwrap();
        assert!(
            report.is_valid(),
            "{}: {:#?}",
            dir.display(),
            report.errors()
        );
        assert!(report.completeness.is_some(), "{}", dir.display());
    }
}

#[test]
fn invalid_manifests_fail_with_expected_message() {
    for dir in fixture_dirs("invalid") {
        let expected = fs::read_to_string(dir.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{}/expected.txt: {e}", dir.display()));
        let expected = expected.trim();
        let report = validate(&dir).unwrap();
        let errors: Vec<String> = report
            .errors()
            .iter()
            .map(|e| e.located_message())
            .collect();
        assert!(!report.is_valid(), "{} passed validation", dir.display());
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{}: expected an error containing\n  {expected}\ngot\n  {}",
            dir.display(),
            errors.join("\n  ")
        );
    }
}

#[test]
fn complete_fixture_has_full_required_coverage() {
    let dir = repo("formats/manifest/valid/complete");
    let report = validate(&dir).unwrap();
    assert!(report.warnings().is_empty(), "{:#?}", report.warnings());
    let c = report.completeness.unwrap();
    assert!(c.required_complete(), "{:#?}", c.gaps);
}

#[test]
fn unknown_keys_are_warned_about_and_kept() {
    let src = repo("formats/manifest/valid/unknown-keys-kept");
    let report = validate(&src).unwrap();
    let warned: Vec<String> = report
        .warnings()
        .iter()
        .filter_map(|w| w.path.clone())
        .collect();
    for key in [
        "study.x-lab-notes",
        "images[0].acquired_by",
        "pipeline",
        "annotation_sets[0].coverage",
    ] {
        assert!(
            warned.iter().any(|w| w == key),
            "no warning for {key}: {warned:?}"
        );
    }
    // Rewrite the package through the library and check nothing was dropped.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&src, tmp.path());
    let mut pkg = mifa::Package::open(tmp.path()).unwrap();
    mifa::edit::set_in_package(
        &mut pkg,
        "study.acknowledgements",
        "Thanks",
        mifa::edit::ValueMode::Auto,
    )
    .unwrap();
    let before: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(src.join("mifa.json")).unwrap()).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("mifa.json")).unwrap()).unwrap();
    let mut expected = before.clone();
    expected["study"]["acknowledgements"] = "Thanks".into();
    assert_eq!(after, expected);
}

#[test]
fn schema_file_matches_the_types() {
    let path = repo("formats/manifest/schema.json");
    let on_disk = fs::read_to_string(&path).unwrap();
    assert!(
        on_disk == mifa::manifest::schema_text(),
        "{} is out of date with the Rust types; regenerate it with `cargo run -- schema manifest > formats/manifest/schema.json`",
        path.display()
    );
}

/// The committed schema file, used on its own (as another tool would), accepts every valid
/// fixture and every manifest mifa writes.
#[test]
fn committed_schema_accepts_valid_fixtures_and_our_output() {
    let path = repo("formats/manifest/schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for dir in fixture_dirs("valid") {
        let doc: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("mifa.json")).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
        // What we write back after reading must validate too.
        let (m, _) = mifa::manifest::read(&dir.join("mifa.json")).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&mifa::manifest::to_text(&m)).unwrap();
        assert!(
            validator.is_valid(&written),
            "{}: rewritten manifest breaks the schema",
            dir.display()
        );
    }
    let fresh = mifa::Manifest::new("t", "CC0-1.0");
    let written: serde_json::Value =
        serde_json::from_str(&mifa::manifest::to_text(&fresh)).unwrap();
    assert!(validator.is_valid(&written));
}

/// Files of `formats/<format>/<kind>/` (not the `.expected` sidecars), sorted.
fn fixture_files(format: &str, kind: &str) -> Vec<PathBuf> {
    let root = repo("formats").join(format).join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "expected"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", root.display());
    files
}

/// Runs `read` on every valid fixture (must succeed) and every invalid one (must fail with
/// the message of its `.expected` file).
fn walk(format: &str, read: impl Fn(&Path) -> Result<usize, String>) {
    for f in fixture_files(format, "valid") {
        let n = read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(n > 0, "{}: nothing read", f.display());
    }
    for f in fixture_files(format, "invalid") {
        let expected = fs::read_to_string(f.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}.expected: {e}", f.display()));
        match read(&f) {
            Ok(_) => panic!("{}: read without error", f.display()),
            Err(e) => assert!(
                e.contains(expected.trim()),
                "{}: expected an error containing\n  {}\ngot\n  {e}",
                f.display(),
                expected.trim()
            ),
        }
    }
}

#[test]
fn geojson_fixtures() {
    use mifa::formats::geojson::{read, ReadOptions};
    walk("geojson", |p| {
        let r = read(p, ReadOptions::default()).map_err(|e| e.to_string())?;
        let c = r.collection;
        Ok(c.objects.len() + c.image_labels.len())
    });
}

#[test]
fn coco_fixtures() {
    use mifa::formats::coco::Dataset;
    walk("coco", |p| {
        let d = Dataset::load(p).map_err(|e| e.to_string())?;
        let problems = d.check();
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        // Area and box as stored equal what pycocotools computes (ground-truth files).
        let images = d.header.image_index();
        for a in &d.annotations {
            let Some(img) = images.get(&a.image_id) else {
                continue;
            };
            let rle = a.to_rle(img.height, img.width).map_err(|e| e.to_string())?;
            if let (Some(area), Some(r)) = (a.area, &rle) {
                assert_eq!(
                    r.area() as f64,
                    area,
                    "{}: annotation {:?}",
                    p.display(),
                    a.id
                );
            }
        }
        Ok(d.annotations.len())
    });
}

#[test]
fn points_fixtures() {
    use mifa::formats::points::{read, Origin};
    walk("points", |p| {
        read(p, Origin::Auto)
            .map(|c| c.objects.len())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn tracks_fixtures() {
    use mifa::formats::{biotracks, ctc, geff, trackmate};
    // The extension names the format; each reader's graph must also pass the graph rules.
    walk("tracks", |p| {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let graph = match ext {
            "biotracks" => biotracks::read(p)
                .map(|r| r.set.graph)
                .map_err(|e| e.to_string()),
            "ctc" => ctc::read(p).map(|f| f.graph).map_err(|e| e.to_string()),
            "xml" => trackmate::read(p)
                .map(|r| r.set.graph)
                .map_err(|e| e.to_string()),
            "geff" => geff::read(p, &Default::default())
                .map(|r| r.set.graph)
                .map_err(|e| e.to_string()),
            "py" => return Ok(1),
            other => panic!("{}: unknown fixture kind {other:?}", p.display()),
        }?;
        let problems = graph.check();
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        Ok(graph.nodes.len())
    });
}
