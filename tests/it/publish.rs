//! BioImage Archive submissions and previews through the CLI: the demo package publishes to a
//! folder that passes our structural check, every refusal writes nothing, and the check finds
//! broken submissions (missing files, dangling associations, bad file lists, unknown names).

use crate::common::{mifa, repo, walk};
use mifa::formats::{pagetab, zip};
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn run(args: &[&str]) {
    mifa().args(args).assert().success();
}

/// The demo package (image, mask, traced outlines, full metadata), released as 1.0.0.
fn package(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("pkg");
    let p = pkg.to_str().unwrap();
    let data = repo("examples/data/dsb2018");
    let d = |f: &str| data.join(f).to_str().unwrap().to_string();
    run(&[
        "init",
        p,
        "--title",
        "Nuclei of cultured cells for the publication tests",
        "--license",
        "CC-BY-4.0",
    ]);
    run(&["meta", "import", p, &d("metadata.tsv")]);
    run(&["meta", "set", p, "study.license", "CC-BY-4.0"]);
    run(&[
        "add",
        p,
        &d("img2d.tif"),
        "--id",
        "nuclei",
        "--pixel-size",
        "0.65",
        "--unit",
        "micrometer",
    ]);
    run(&[
        "add",
        p,
        "--mask",
        &d("mask2d.tif"),
        "--image",
        "nuclei",
        "--name",
        "nuclei",
        "--kind",
        "instance",
    ]);
    run(&["meta", "import", p, &d("annotations.tsv")]);
    run(&[
        "convert",
        "to-polygons",
        p,
        "--mask",
        "nuclei",
        "--set",
        "outlines",
    ]);
    run(&[
        "meta",
        "set",
        p,
        "annotation_sets[outlines].overview",
        "Traced outlines of every nucleus.",
    ]);
    run(&[
        "meta",
        "set",
        p,
        "annotation_sets[outlines].method.kind",
        "software",
    ]);
    run(&[
        "author",
        "add",
        p,
        "--set",
        "outlines",
        "--name",
        "Josiah Carberry",
        "--orcid",
        "0000-0002-1825-0097",
        "--role",
        "curator",
    ]);
    run(&[
        "release",
        p,
        "--version",
        "1.0.0",
        "--changes",
        "First release",
    ]);
    pkg
}

fn publish(pkg: &Path, out: &Path) {
    mifa()
        .args(["publish", "bia"])
        .arg(pkg)
        .arg("--out")
        .arg(out)
        .assert()
        .success()
        .stdout(predicate::str::contains("submission tool upload"));
}

#[test]
fn the_package_publishes_to_a_submission_that_passes_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let out = tmp.path().join("submission");
    publish(&pkg, &out);
    mifa()
        .args(["publish", "check"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 error(s), 0 warning(s)"));

    // JSON and TSV say the same, with the sections BIA's template names.
    let jp = out.join("submission.json");
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&jp).unwrap()).unwrap();
    let sub = pagetab::Submission::from_json(&jp, &json).unwrap();
    let tsv = pagetab::Submission::from_tsv(
        Path::new("t"),
        &fs::read_to_string(out.join("submission.tsv")).unwrap(),
    )
    .unwrap();
    assert_eq!(sub, tsv);
    let kinds: Vec<&str> = sub
        .section
        .walk()
        .iter()
        .map(|(s, _)| s.kind.as_str())
        .collect();
    for k in [
        "Author",
        "organisation",
        "Publication",
        "Biosample",
        "Specimen",
        "Image acquisition",
        "Study Component",
        "Associations",
        "Annotation",
        "Version",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let ann: Vec<_> = sub
        .section
        .walk()
        .into_iter()
        .filter(|(s, _)| s.kind == "Annotation")
        .collect();
    assert_eq!(ann.len(), 2);
    assert_eq!(ann[0].0.value("Annotation Type"), Some("segmentation_mask"));
    assert!(sub.section.value("License") == Some("CC BY 4.0"));
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("versions/1.0.0.json")).unwrap())
            .unwrap();
    let marker: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("mifa-submission.json")).unwrap())
            .unwrap();
    assert_eq!(sub.section.value("Dataset version"), Some("1.0.0"));
    assert_eq!(
        sub.section.value("Dataset fingerprint"),
        marker["dataset_hash"].as_str()
    );
    assert!(record
        .to_string()
        .contains(marker["dataset_hash"].as_str().unwrap()));

    // Every file list names existing files; annotation lists name their source image.
    let up = out.join("upload");
    let masks = pagetab::FileList::read_tsv(&up.join("file-lists/annotations-nuclei.tsv")).unwrap();
    assert_eq!(masks.rows[0].0, "annotations/nuclei/nuclei.ome.zarr.zip");
    assert_eq!(
        masks.column("Source Image"),
        vec!["images/nuclei.ome.zarr.zip"]
    );
    let images = pagetab::FileList::read_tsv(&up.join("file-lists/images-dsb2018.tsv")).unwrap();
    assert_eq!(images.rows.len(), 1);

    // The zipped image: root zarr.json first, STORED, no labels; every chunk byte-identical.
    let (entries, comment) = zip::list(&up.join("images/nuclei.ome.zarr.zip")).unwrap();
    assert_eq!(entries[0].name, "zarr.json");
    assert!(comment.contains("\"version\":\"0.5\""), "{comment}");
    assert!(entries
        .iter()
        .all(|e| e.method == 0 && !e.name.starts_with("labels")));
    let root = pkg.join("images/nuclei.ome.zarr");
    let files: Vec<PathBuf> = walk(&root)
        .into_iter()
        .filter(|p| !p.strip_prefix(&root).unwrap().starts_with("labels"))
        .collect();
    assert_eq!(files.len(), entries.len());
    for e in &entries {
        let bytes = fs::read(root.join(&e.name)).unwrap();
        assert_eq!(
            (e.size, e.crc32),
            (bytes.len() as u64, crc32fast::hash(&bytes)),
            "{}",
            e.name
        );
    }
    // Publishing twice gives byte-identical archives.
    let again = tmp.path().join("again");
    publish(&pkg, &again);
    assert_eq!(
        fs::read(up.join("images/nuclei.ome.zarr.zip")).unwrap(),
        fs::read(again.join("upload/images/nuclei.ome.zarr.zip")).unwrap()
    );
    let readme = fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("submission tool") && readme.contains("async/direct"),
        "{readme}"
    );
}

#[test]
fn refusals_name_the_problem_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let p = pkg.to_str().unwrap();
    let out = tmp.path().join("sub");
    let refused = |args: &[&str], needle: &str| {
        mifa()
            .args(["publish", "bia", p, "--out"])
            .arg(&out)
            .args(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(needle));
        assert!(!out.exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    };
    // A licence BIA does not offer.
    run(&["meta", "set", p, "study.license", "BSD-3-Clause"]);
    refused(&[], "study.license");
    // An unreleased change.
    refused(&["--allow-license"], "differs from release 1.0.0");
    run(&[
        "release",
        p,
        "--version",
        "1.0.1",
        "--changes",
        "BSD licence",
    ]);
    // A dangling association, and an unknown accession format.
    // A second biosample: the image's is no longer implied.
    run(&[
        "meta",
        "set",
        p,
        "rembi.biosamples[other].title",
        "Other cells",
    ]);
    run(&[
        "release",
        p,
        "--version",
        "1.0.2",
        "--changes",
        "second biosample",
        "--allow-invalid",
    ]);
    refused(&["--allow-license"], "images[nuclei].biosample");
    run(&["meta", "unset", p, "rembi.biosamples[other]"]);
    run(&[
        "release",
        p,
        "--version",
        "1.0.3",
        "--changes",
        "fixed link",
    ]);
    refused(
        &["--allow-license", "--previous-accession", "BIAD 12"],
        "not a BioStudies accession",
    );
    // A folder in the way that mifa did not write.
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("mine.txt"), "keep").unwrap();
    mifa()
        .args(["publish", "bia", p, "--allow-license", "--force", "--out"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a submission written by mifa"));
    assert_eq!(fs::read_to_string(out.join("mine.txt")).unwrap(), "keep");
    fs::remove_dir_all(&out).unwrap();
    // --check-only writes nothing and says what it would do.
    mifa()
        .args([
            "publish",
            "bia",
            p,
            "--check-only",
            "--allow-license",
            "--previous-accession",
            "S-BIAD1234",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("release 1.0.3"));
    assert!(!out.exists());
    // Inside the package, the submission would become part of it.
    mifa()
        .args(["publish", "bia", p, "--allow-license", "--out"])
        .arg(pkg.join("sub"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("must be outside the package"));
    assert!(!pkg.join("sub").exists());
    // A missing label is one of the problems listed, not an abort.
    let labels = pkg.join("images/nuclei.ome.zarr/labels/nuclei");
    fs::rename(&labels, tmp.path().join("away")).unwrap();
    mifa()
        .args(["publish", "bia", p, "--check-only", "--allow-license"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("annotation_sets[nuclei].files[0]: ")
                .and(predicate::str::contains("is missing")),
        );
    fs::rename(tmp.path().join("away"), &labels).unwrap();
    publish_ok(p, &out);
    let tsv = fs::read_to_string(out.join("submission.tsv")).unwrap();
    assert!(tsv.contains("Previous version\t1.0.2"), "{tsv}");
    // --force replaces a submission mifa wrote.
    publish_ok(p, &out);
}

fn publish_ok(p: &str, out: &Path) {
    mifa()
        .args(["publish", "bia", p, "--allow-license", "--force", "--out"])
        .arg(out)
        .assert()
        .success();
}

fn edit(path: &Path, from: &str, to: &str) {
    let t = fs::read_to_string(path).unwrap();
    assert!(t.contains(from), "{from:?} not in {}", path.display());
    fs::write(path, t.replace(from, to)).unwrap();
}

fn check_fails(out: &Path, needle: &str) {
    mifa()
        .args(["publish", "check"])
        .arg(out)
        .assert()
        .failure()
        .stdout(predicate::str::contains(needle));
}

#[test]
fn the_check_finds_broken_submissions() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let fresh = |name: &str| {
        let out = tmp.path().join(name);
        publish(&pkg, &out);
        out
    };
    let out = fresh("missing");
    fs::remove_file(out.join("upload/annotations/outlines/nuclei.geojson")).unwrap();
    check_fails(&out, "\"annotations/outlines/nuclei.geojson\" is not in");

    let out = fresh("assoc");
    let j = out.join("submission.json");
    let t = fs::read_to_string(&j).unwrap();
    let n = t.matches("\"Fixed cells, DNA stain\"").count();
    assert_eq!(n, 2, "title and association");
    // Rename the association's value only (its last mention), in both documents.
    let k = t.rfind("\"Fixed cells, DNA stain\"").unwrap();
    fs::write(
        &j,
        format!(
            "{}\"Unfixed cells\"{}",
            &t[..k],
            &t[k + "\"Fixed cells, DNA stain\"".len()..]
        ),
    )
    .unwrap();
    let tp = out.join("submission.tsv");
    edit(
        &tp,
        "Specimen\tFixed cells, DNA stain\n",
        "Specimen\tUnfixed cells\n",
    );
    check_fails(
        &out,
        "Specimen \"Unfixed cells\" is the title of no Specimen section",
    );

    let out = fresh("header");
    edit(
        &out.join("upload/file-lists/images-dsb2018.tsv"),
        "Files\t",
        "Path\t",
    );
    check_fails(&out, "the first header cell must be `Files`");

    let out = fresh("names");
    for f in ["submission.json", "submission.tsv"] {
        edit(&out.join(f), "Imaging instrument", "Microscope");
    }
    check_fails(
        &out,
        "attribute \"Microscope\" is not one of the Image acquisition section's",
    );

    let out = fresh("disagree");
    edit(&out.join("submission.tsv"), "Year\t2019", "Year\t2020");
    check_fails(&out, "says something other than submission.json");

    let out = fresh("outside");
    let list = out.join("upload/file-lists/images-dsb2018.tsv");
    let elsewhere = tmp.path().join("elsewhere.tsv");
    fs::rename(&list, &elsewhere).unwrap();
    for f in ["submission.json", "submission.tsv"] {
        edit(
            &out.join(f),
            "file-lists/images-dsb2018.tsv",
            elsewhere.to_str().unwrap(),
        );
    }
    check_fails(&out, "File List: ");

    let out = fresh("source");
    edit(
        &out.join("upload/file-lists/annotations-nuclei.tsv"),
        "\timages/nuclei.ome.zarr.zip\t",
        "\timages/other.ome.zarr.zip\t",
    );
    check_fails(&out, "is not an image of any Study Component file list");
}

#[test]
fn preview_draws_the_chosen_sets_at_the_chosen_level() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let png = tmp.path().join("p.png");
    mifa()
        .args(["preview"])
        .arg(&pkg)
        .args(["nuclei", "--level", "1", "--sets", "outlines", "--out"])
        .arg(&png)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("256 × 256, level 1")
                .and(predicate::str::contains("outlines (shapes, 125 objects)")),
        );
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (256, 256));
    // Outlines are drawn in the set's colour, absent from the grey image.
    let coloured = img.pixels().filter(|p| p[0].abs_diff(p[2]) > 100).count();
    assert!(coloured > 500, "{coloured} coloured pixels");
    mifa()
        .args(["preview"])
        .arg(&pkg)
        .args(["nuclei", "--sets", "nothing", "--out"])
        .arg(&png)
        .assert()
        .failure()
        .stderr(predicate::str::contains("no annotation set \"nothing\""));
    mifa()
        .args(["preview"])
        .arg(&pkg)
        .args(["nuclei", "--level", "7", "--out"])
        .arg(&png)
        .assert()
        .failure()
        .stderr(predicate::str::contains("level 7 does not exist"));
}

/// The PageTab fixtures of formats/bia: valid ones read, invalid ones are refused with the line.
#[test]
fn pagetab_fixtures() {
    let dir = repo("formats/bia");
    let mut n = 0;
    for (kind, ok) in [("valid", true), ("invalid", false)] {
        for e in fs::read_dir(dir.join(kind)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().and_then(|x| x.to_str()) != Some("tsv") {
                continue;
            }
            n += 1;
            let r = pagetab::Submission::from_tsv(&p, &fs::read_to_string(&p).unwrap());
            match (ok, r) {
                (true, Err(e)) => panic!("{}: {e}", p.display()),
                (false, Ok(_)) => panic!("{}: read, but is invalid", p.display()),
                (false, Err(e)) => assert!(e.to_string().contains("line"), "{e}"),
                (true, Ok(s)) => assert_eq!(s.section.kind, "Study"),
            }
        }
    }
    assert!(n >= 4, "{n} fixtures");
}
