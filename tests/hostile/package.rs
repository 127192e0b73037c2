//! The package itself: crafted journals, symlinks inside the package, outputs that are not
//! regular files, stdout that fails, `meta set` paths and values, absurd options, and edited
//! release records.

use crate::gen::*;
use crate::runner::{Outcome, Spec, Stdout};
use crate::{case, Case};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(fs::read(p).unwrap())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The next writer after a crafted journal: `meta set PKG study.description …`.
fn next_writer(pkg: &Path) -> Vec<OsString> {
    os(&[
        &"meta",
        &"set",
        &pkg,
        &"study.description",
        &"after the journal",
    ])
}

fn journal(name: &'static str, refuse: bool, make: fn(&Path, &Path) -> serde_json::Value) -> Case {
    case(&format!("journal/{name}"), move |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        symlink(&out, pkg.join("images/link")).unwrap();
        let j = make(&pkg, &out);
        fs::write(pkg.join(".mifa.journal.json"), j.to_string()).unwrap();
        let s = if refuse {
            Spec::fail(next_writer(&pkg)).names(".mifa.journal.json")
        } else {
            Spec::either(next_writer(&pkg))
        };
        s.guard(&pkg).keep(&out)
    })
}

fn journal_with(
    pkg: &Path,
    created: &[&str],
    obsolete: &[&str],
    committed: bool,
) -> serde_json::Value {
    serde_json::json!({
        "manifest_sha256": sha256_hex(&pkg.join("mifa.json")),
        "created": created,
        "backups": [],
        "obsolete": obsolete,
        "committed": committed,
    })
}

fn journals() -> Vec<Case> {
    let mut v = vec![
        journal("created_through_a_symlink", false, |p, _| {
            journal_with(p, &["images/link/victim.txt"], &[], false)
        }),
        journal("obsolete_through_a_symlink", false, |p, _| {
            journal_with(p, &[], &["images/link/victim.txt"], true)
        }),
        journal("created_is_the_symlinked_dir", false, |p, _| {
            journal_with(p, &["images/link"], &[], false)
        }),
        journal("backup_restored_through_a_symlink", false, |p, _| {
            fs::write(p.join("images/.victim.txt.old-1"), "replacement").unwrap();
            let mut j = journal_with(p, &[], &[], false);
            j["backups"] =
                serde_json::json!([["images/link/victim.txt", "images/.victim.txt.old-1"]]);
            j
        }),
        journal("created_names_images", true, |p, _| {
            journal_with(p, &["images"], &[], false)
        }),
        journal("created_names_the_manifest", true, |p, _| {
            journal_with(p, &["mifa.json"], &[], false)
        }),
        journal("created_names_annotations", true, |p, _| {
            journal_with(p, &["annotations"], &[], false)
        }),
        journal("obsolete_names_versions", true, |p, _| {
            journal_with(p, &[], &["versions"], true)
        }),
        journal("created_names_dot", true, |p, _| {
            journal_with(p, &["."], &[], false)
        }),
        journal("created_names_images_slash", true, |p, _| {
            journal_with(p, &["images/"], &[], false)
        }),
        journal("created_is_empty_string", true, |p, _| {
            journal_with(p, &[""], &[], false)
        }),
        journal("created_dotdot", true, |p, _| {
            journal_with(p, &["../outside/victim.txt"], &[], false)
        }),
        journal("created_inner_dotdot", true, |p, _| {
            journal_with(p, &["images/../../outside/victim.txt"], &[], false)
        }),
        journal("obsolete_absolute", true, |p, out| {
            let abs = out.join("victim.txt").to_string_lossy().into_owned();
            journal_with(p, &[], &[abs.as_str()], true)
        }),
        journal("backup_names_the_manifest", true, |p, _| {
            let mut j = journal_with(p, &[], &[], true);
            j["backups"] = serde_json::json!([["annotations/cells", "mifa.json"]]);
            j
        }),
        journal(
            "wrong_types",
            true,
            |_, _| serde_json::json!({"manifest_sha256": 5, "created": "images", "backups": {}}),
        ),
    ];
    for (name, text) in [
        ("malformed", "{\"manifest_sha256\": \"".to_string()),
        ("deep", nested_objects(100_000, "1")),
    ] {
        v.push(case(&format!("journal/{name}"), move |c| {
            let pkg = c.pkg();
            fs::write(pkg.join(".mifa.journal.json"), &text).unwrap();
            Spec::fail(next_writer(&pkg))
                .names(".mifa.journal.json")
                .guard(&pkg)
        }));
    }
    v.push(case("journal/is_a_symlink_out", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        let j = journal_with(&pkg, &["annotations/cells/img.geojson"], &[], false);
        fs::write(out.join("journal.json"), j.to_string()).unwrap();
        symlink(out.join("journal.json"), pkg.join(".mifa.journal.json")).unwrap();
        Spec::fail(next_writer(&pkg))
            .names(".mifa.journal.json")
            .guard(&pkg)
            .keep(&out)
    }));
    v.push(case("journal/is_dev_zero", |c| {
        let pkg = c.pkg();
        symlink("/dev/zero", pkg.join(".mifa.journal.json")).unwrap();
        Spec::fail(next_writer(&pkg))
            .names(".mifa.journal.json")
            .guard(&pkg)
    }));
    v
}

const SECRET: &str = "OUTSIDE_SECRET";

/// A file under `dir` whose bytes contain the secret, if any.
fn leaked(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() {
        let b = fs::read(dir).unwrap_or_default();
        return b
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes())
            .then(|| dir.to_path_buf());
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Some(p) = leaked(&e.path()) {
            return Some(p);
        }
    }
    None
}

fn no_leak(out: PathBuf) -> impl Fn(&Outcome) -> Result<(), String> + Send + 'static {
    move |_| match leaked(&out) {
        Some(p) => Err(format!(
            "a file from outside the package was exported into {}",
            p.display()
        )),
        None => Ok(()),
    }
}

/// The annotation file of `cells` replaced by a symlink to an outside file holding the secret.
fn linked_annotation(c: &Ctx) -> (PathBuf, PathBuf) {
    let pkg = c.pkg();
    let (out, _) = c.victim();
    let f = pkg.join("annotations/cells/img.geojson");
    let text = fs::read_to_string(&f).unwrap();
    let secret = text.replacen(
        "\"properties\":{",
        &format!("\"properties\":{{\"note\":\"{SECRET}\","),
        1,
    );
    let secret = if secret == text {
        collection(&[square_feature(1, 2.0, 2.0, 8.0).replace("nucleus", SECRET)])
    } else {
        secret
    };
    fs::write(out.join("secret.geojson"), secret).unwrap();
    fs::remove_file(&f).unwrap();
    symlink(out.join("secret.geojson"), &f).unwrap();
    (pkg, out)
}

fn symlinks() -> Vec<Case> {
    vec![
        case("symlink/annotation_out/export_geojson", |c| {
            let (pkg, out) = linked_annotation(c);
            let dest = c.path("gj");
            Spec::either(os(&[&"export", &pkg, &"geojson", &dest]))
                .guard(&pkg)
                .readonly()
                .keep(&out)
                .check(no_leak(dest))
        }),
        case("symlink/annotation_out/export_coco", |c| {
            let (pkg, out) = linked_annotation(c);
            let dest = c.path("out.json");
            Spec::either(os(&[&"export", &pkg, &"coco", &dest]))
                .guard(&pkg)
                .readonly()
                .keep(&out)
                .check(no_leak(dest))
        }),
        case("symlink/annotation_out/validate", |c| {
            let (pkg, out) = linked_annotation(c);
            Spec::fail(os(&[&"validate", &pkg]))
                .names("img.geojson")
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }),
        case("symlink/annotation_out/release", |c| {
            let (pkg, out) = linked_annotation(c);
            Spec::fail(os(&[
                &"release",
                &pkg,
                &"--version",
                &"2.0.0",
                &"--changes",
                &"x",
                &"--allow-invalid",
            ]))
            .names("img.geojson")
            .guard(&pkg)
            .keep(&out)
        }),
        case("symlink/annotation_out/preview", |c| {
            let (pkg, out) = linked_annotation(c);
            Spec::either(os(&[&"preview", &pkg, &"img", &"--out", &c.path("p.png")]))
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }),
        case("symlink/annotation_out/convert_to_mask", |c| {
            let (pkg, out) = linked_annotation(c);
            Spec::fail(os(&[
                &"convert", &"to-mask", &pkg, &"--set", &"cells", &"--name", &"cm",
            ]))
            .names("img.geojson")
            .guard(&pkg)
            .keep(&out)
        }),
        case("symlink/annotation_is_dev_zero/validate", |c| {
            let pkg = c.pkg();
            let f = pkg.join("annotations/cells/img.geojson");
            fs::remove_file(&f).unwrap();
            symlink("/dev/zero", &f).unwrap();
            Spec::fail(os(&[&"validate", &pkg]))
                .names("img.geojson")
                .guard(&pkg)
                .readonly()
        }),
        case("symlink/annotation_is_a_fifo/validate", |c| {
            let pkg = c.pkg();
            let f = pkg.join("annotations/cells/img.geojson");
            fs::remove_file(&f).unwrap();
            let cs = std::ffi::CString::new(f.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(cs.as_ptr(), 0o644) }, 0);
            Spec::fail(os(&[&"validate", &pkg]))
                .names("img.geojson")
                .guard(&pkg)
                .readonly()
        }),
        case("symlink/chunk_out/validate", |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let ch = chunk_files(&pkg.join("images/img.ome.zarr/0")).remove(0);
            fs::rename(&ch, out.join("chunk")).unwrap();
            symlink(out.join("chunk"), &ch).unwrap();
            Spec::fail(os(&[&"validate", &pkg]))
                .names("img")
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }),
        case("symlink/image_dir_out/validate", |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let img = pkg.join("images/img.ome.zarr");
            fs::rename(&img, out.join("img.ome.zarr")).unwrap();
            symlink(out.join("img.ome.zarr"), &img).unwrap();
            Spec::fail(os(&[&"validate", &pkg]))
                .names("img")
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }),
        case("symlink/manifest_out/meta_set", |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            fs::rename(pkg.join("mifa.json"), out.join("mifa.json")).unwrap();
            symlink(out.join("mifa.json"), pkg.join("mifa.json")).unwrap();
            Spec::fail(os(&[&"meta", &"set", &pkg, &"study.description", &"x"]))
                .names("mifa.json")
                .guard(&pkg)
                .keep(&out)
        }),
    ]
}

/// A character device like /dev/null, made in the case folder (never the real one).
fn char_device(c: &Ctx, name: &str) -> Option<PathBuf> {
    let p = c.path(name);
    let cs = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path; major 1 minor 3 is the null device.
    let r = unsafe { libc::mknod(cs.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    (r == 0).then_some(p)
}

fn still(
    kind: &'static str,
    p: PathBuf,
) -> impl Fn(&Outcome) -> Result<(), String> + Send + 'static {
    move |_| {
        let ft = fs::symlink_metadata(&p).map(|m| m.file_type());
        let ok = match (kind, &ft) {
            ("char", Ok(t)) => t.is_char_device(),
            ("fifo", Ok(t)) => t.is_fifo(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} is no longer a {kind} device/pipe: {ft:?}",
                p.display()
            ))
        }
    }
}

/// The arguments of a command writing to `out` for the package.
type Writer = fn(&Path, &Path) -> Vec<OsString>;

fn outputs() -> Vec<Case> {
    let writers: [(&str, Writer); 2] = [
        ("export_coco", |pkg, out| {
            os(&[&"export", &pkg, &"coco", &out])
        }),
        ("preview", |pkg, out| {
            os(&[&"preview", &pkg, &"img", &"--out", &out])
        }),
    ];
    let mut v = Vec::new();
    for (name, args) in writers {
        v.push(case(&format!("output/{name}/char_device"), move |c| {
            let pkg = c.pkg();
            match char_device(c, "null") {
                Some(dev) => Spec::either(args(&pkg, &dev))
                    .guard(&pkg)
                    .readonly()
                    .check(still("char", dev)),
                // Without CAP_MKNOD: the same promise on a FIFO with a reader-less end.
                None => {
                    let f = c.fifo("null");
                    Spec::fail(args(&pkg, &f))
                        .guard(&pkg)
                        .readonly()
                        .check(still("fifo", f))
                }
            }
        }));
        v.push(case(&format!("output/{name}/fifo"), move |c| {
            let pkg = c.pkg();
            let f = c.fifo("out.fifo");
            Spec::fail(args(&pkg, &f))
                .names("out.fifo")
                .guard(&pkg)
                .readonly()
                .check(still("fifo", f))
        }));
        v.push(case(&format!("output/{name}/directory"), move |c| {
            let pkg = c.pkg();
            let d = c.path("outdir");
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("keep.txt"), "keep").unwrap();
            Spec::fail(args(&pkg, &d))
                .names("outdir")
                .guard(&pkg)
                .readonly()
                .keep(&d)
        }));
    }
    for (name, format) in [("export_tiff", "tiff"), ("export_geojson", "geojson")] {
        v.push(case(&format!("output/{name}/regular_file"), move |c| {
            let pkg = c.pkg();
            let f = c.write("taken", "not a folder");
            let (out, _) = c.victim();
            fs::rename(&f, out.join("taken")).unwrap();
            let f = out.join("taken");
            Spec::fail(os(&[&"export", &pkg, &format, &f]))
                .names("taken")
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }));
        v.push(case(
            &format!("output/{name}/inside_the_package"),
            move |c| {
                let pkg = c.pkg();
                let dest = pkg.join("annotations/exported");
                Spec::fail(os(&[&"export", &pkg, &format, &dest])).guard(&pkg)
            },
        ));
    }
    v.push(case("output/report/unrelated_folder", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        Spec::fail(os(&[&"report", &pkg, &"--out", &out]))
            .names("outside")
            .guard(&pkg)
            .readonly()
            .keep(&out)
    }));
    v.push(case("output/export_coco/dev_null_symlink", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        let link = c.path("out.json");
        symlink(out.join("victim.txt"), &link).unwrap();
        Spec::either(os(&[&"export", &pkg, &"coco", &link]))
            .guard(&pkg)
            .readonly()
            .keep(&out)
    }));
    v
}

fn full_stdout() -> Vec<Case> {
    let cmds: Vec<(&str, Vec<&str>)> = vec![
        ("validate_json", vec!["validate", "PKG", "--json"]),
        ("validate", vec!["validate", "PKG"]),
        ("info", vec!["info", "PKG"]),
        ("info_json", vec!["info", "PKG", "--json"]),
        ("meta_get", vec!["meta", "get", "PKG"]),
        ("credit", vec!["credit", "PKG"]),
        ("credit_cff", vec!["credit", "PKG", "--format", "cff"]),
        ("diff", vec!["diff", "PKG", "1.0.0"]),
        ("verify", vec!["verify", "PKG"]),
        ("verify_json", vec!["verify", "PKG", "--json"]),
        ("schema", vec!["schema"]),
        ("author_list", vec!["author", "list", "PKG"]),
    ];
    let mut v = Vec::new();
    for (name, args) in cmds {
        let a2 = args.clone();
        v.push(case(&format!("stdout/dev_full/{name}"), move |c| {
            let pkg = c.pkg();
            let a: Vec<OsString> = a2
                .iter()
                .map(|x| {
                    if *x == "PKG" {
                        pkg.clone().into()
                    } else {
                        (*x).into()
                    }
                })
                .collect();
            Spec::fail(a)
                .names_any(&["stdout", "No space left", "write"])
                .stdout(Stdout::DevFull)
                .guard(&pkg)
                .readonly()
        }));
        v.push(case(&format!("stdout/closed_pipe/{name}"), move |c| {
            let pkg = c.pkg();
            let a: Vec<OsString> = args
                .iter()
                .map(|x| {
                    if *x == "PKG" {
                        pkg.clone().into()
                    } else {
                        (*x).into()
                    }
                })
                .collect();
            Spec::ok(a)
                .stdout(Stdout::ClosedPipe)
                .guard(&pkg)
                .readonly()
        }));
    }
    v
}

/// `meta set` that succeeded must leave a manifest every command can still open.
fn reopens(pkg: PathBuf) -> impl Fn(&Outcome) -> Result<(), String> + Send + 'static {
    move |o| {
        if o.code != Some(0) {
            return Ok(());
        }
        let r = std::process::Command::new(crate::runner::bin())
            .arg("info")
            .arg(&pkg)
            .output()
            .map_err(|e| e.to_string())?;
        if r.status.success() {
            Ok(())
        } else {
            Err(format!(
                "meta set wrote a manifest mifa cannot open: {}",
                String::from_utf8_lossy(&r.stderr).trim()
            ))
        }
    }
}

fn deep_path(n: usize) -> String {
    format!("study.x{}", ".a".repeat(n))
}

fn meta_set() -> Vec<Case> {
    let cases: Vec<(&str, String, String, bool)> = vec![
        ("path_130_segments", deep_path(130), "v".into(), false),
        ("path_20000_segments", deep_path(20_000), "v".into(), false),
        (
            "json_126_deep",
            "study.x".into(),
            nested_arrays(126, "1"),
            true,
        ),
        // An argument is at most 128 KiB (MAX_ARG_STRLEN).
        (
            "json_50000_deep",
            "study.x".into(),
            nested_arrays(50_000, "1"),
            true,
        ),
        (
            "index_huge",
            "study.keywords[999999999999].label".into(),
            "x".into(),
            false,
        ),
        (
            "index_overflow",
            "study.keywords[99999999999999999999999].label".into(),
            "x".into(),
            false,
        ),
        (
            "image_path_dotdot",
            "images[img].path".into(),
            "../../outside".into(),
            false,
        ),
        (
            "image_path_absolute",
            "images[img].path".into(),
            "/etc".into(),
            false,
        ),
        (
            "annotation_path_dotdot",
            "annotation_sets[cells].files[0].path".into(),
            "../outside/victim.txt".into(),
            false,
        ),
        (
            "shape_negative",
            "images[img].shape".into(),
            "[-1, -1]".into(),
            true,
        ),
        (
            "license_garbage",
            "study.license".into(),
            "NOT-A-LICENSE-(((".into(),
            false,
        ),
        ("empty_path", String::new(), "x".into(), false),
        (
            "unclosed_bracket",
            "study.keywords[0".into(),
            "x".into(),
            false,
        ),
        (
            "format_version",
            "format_version".into(),
            "99.0".into(),
            false,
        ),
    ];
    let mut v = Vec::new();
    for (name, path, value, json) in cases {
        v.push(case(&format!("meta_set/{name}"), move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let mut a = os(&[&"meta", &"set", &pkg, &path, &value]);
            if json {
                a.push("--json".into());
            }
            Spec::fail(a)
                .guard(&pkg)
                .keep(&out)
                .check(reopens(pkg.clone()))
        }));
    }
    v.push(case("meta_set/value_of_100kb", |c| {
        let pkg = c.pkg();
        Spec::either(os(&[
            &"meta",
            &"set",
            &pkg,
            &"study.description",
            &"d".repeat(100_000),
        ]))
        .guard(&pkg)
        .check(reopens(pkg.clone()))
    }));
    v.push(case("meta_get/path_20000_segments", |c| {
        let pkg = c.pkg();
        Spec::fail(os(&[&"meta", &"get", &pkg, &deep_path(20_000)]))
            .guard(&pkg)
            .readonly()
    }));
    v.push(case("meta_unset/path_20000_segments", |c| {
        let pkg = c.pkg();
        Spec::fail(os(&[&"meta", &"unset", &pkg, &deep_path(20_000)])).guard(&pkg)
    }));
    v.push(case("author_add/bad_orcid", |c| {
        let pkg = c.pkg();
        Spec::fail(os(&[
            &"author",
            &"add",
            &pkg,
            &"--name",
            &"X",
            &"--orcid",
            &"0000-0002-1825-0098",
        ]))
        .names("0000-0002-1825-0098")
        .guard(&pkg)
    }));
    v.push(case("author_add/unknown_set", |c| {
        let pkg = c.pkg();
        Spec::fail(os(&[
            &"author",
            &"add",
            &pkg,
            &"--name",
            &"X",
            &"--set",
            &"no_such_set",
        ]))
        .names("no_such_set")
        .guard(&pkg)
    }));
    v
}

fn options() -> Vec<Case> {
    let load = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["--patch", "32", "--batch-size", "2", "--batches", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for pair in extra.chunks(2) {
            if let Some(i) = a.iter().position(|x| x == pair[0]) {
                a[i + 1] = pair[1].to_string();
            } else {
                a.extend(pair.iter().map(|s| s.to_string()));
            }
        }
        a
    };
    let absurd: Vec<(&str, Vec<String>, &str)> = vec![
        ("workers_100000", load(&["--workers", "100000"]), "workers"),
        ("workers_0", load(&["--workers", "0"]), "workers"),
        ("batch_size_0", load(&["--batch-size", "0"]), "batch"),
        (
            "batch_size_1e12",
            load(&["--batch-size", "1000000000000"]),
            "batch",
        ),
        ("patch_0", load(&["--patch", "0"]), "patch"),
        ("patch_1e9", load(&["--patch", "1000000000"]), "patch"),
        ("level_99", load(&["--level", "99"]), "level"),
        ("channel_5", load(&["--channels", "5"]), "channel"),
        ("foreground_2", load(&["--foreground", "2.0"]), "foreground"),
        (
            "foreground_nan",
            load(&["--foreground", "NaN"]),
            "foreground",
        ),
        ("stride_0", load(&["--stride", "0"]), "stride"),
        (
            "split_unknown",
            load(&["--split", "no_such_split"]),
            "no_such_split",
        ),
        (
            "set_unknown",
            load(&["--task", "semantic", "--set", "no_such_set"]),
            "no_such_set",
        ),
        ("crop_1e9", load(&["--crop", "1000000000"]), "crop"),
        (
            "heatmap_sigma_negative",
            {
                let mut a = load(&[]);
                a.push("--heatmap-sigma=-1".into());
                a
            },
            "sigma",
        ),
        (
            "samples_per_epoch_huge",
            load(&["--samples-per-epoch", "1000000000000000"]),
            "samples",
        ),
    ];
    let mut v = Vec::new();
    for (name, extra, needle) in absurd {
        v.push(case(&format!("load/{name}"), move |c| {
            let pkg = c.pkg();
            let mut a = os(&[&"load", &pkg]);
            a.extend(extra.iter().map(OsString::from));
            // Options a loader may clamp or give a meaning to (0 workers: in the calling
            // thread); only the other promises hold for them.
            let lenient = [
                "samples_per_epoch_huge",
                "batch_size_1e12",
                "stride_0",
                "workers_0",
            ];
            let s = if lenient.contains(&name) {
                Spec::either(a)
            } else {
                Spec::fail(a).names_any(&[needle, &needle.replace('_', "-")])
            };
            s.guard(&pkg).readonly()
        }));
    }
    let others: Vec<(&str, Vec<&str>)> = vec![
        (
            "split/train_2",
            vec!["split", "PKG", "--train", "2.0", "--name", "s2"],
        ),
        (
            "split/train_nan",
            vec!["split", "PKG", "--train", "NaN", "--name", "s2"],
        ),
        (
            "split/negative",
            vec![
                "split", "PKG", "--train", "-1", "--val", "1.5", "--name", "s2",
            ],
        ),
        (
            "split/stratify_unknown",
            vec!["split", "PKG", "--stratify", "no_such_set", "--name", "s2"],
        ),
        (
            "preview/size_0",
            vec!["preview", "PKG", "img", "--out", "p.png", "--size", "0"],
        ),
        (
            "preview/size_4e9_clamped",
            vec![
                "preview",
                "PKG",
                "img",
                "--out",
                "p.png",
                "--size",
                "4000000000",
            ],
        ),
        (
            "preview/level_99",
            vec!["preview", "PKG", "img", "--out", "p.png", "--level", "99"],
        ),
        (
            "preview/t_99",
            vec!["preview", "PKG", "img", "--out", "p.png", "--t", "99"],
        ),
        (
            "preview/unknown_image",
            vec!["preview", "PKG", "no_such_image", "--out", "p.png"],
        ),
        (
            "report/size_4e9_clamped",
            vec!["report", "PKG", "--out", "rep", "--size", "4000000000"],
        ),
        (
            "convert/simplify_nan",
            vec![
                "convert",
                "to-polygons",
                "PKG",
                "--mask",
                "nuc",
                "--set",
                "tr",
                "--simplify",
                "NaN",
            ],
        ),
        (
            "convert/unknown_set",
            vec![
                "convert",
                "to-mask",
                "PKG",
                "--set",
                "no_such_set",
                "--name",
                "m",
            ],
        ),
        (
            "add/pixel_size_nan",
            vec!["add", "PKG", "IMG", "--id", "two", "--pixel-size", "NaN"],
        ),
        (
            "add/pixel_size_negative",
            vec!["add", "PKG", "IMG", "--id", "two", "--pixel-size", "-1"],
        ),
        (
            "add/id_dotdot",
            vec!["add", "PKG", "IMG", "--id", "../../outside/x"],
        ),
        ("add/id_slash", vec!["add", "PKG", "IMG", "--id", "a/b"]),
        (
            "add/chunk_0",
            vec!["add", "PKG", "IMG", "--id", "two", "--chunk", "0"],
        ),
        (
            "add/chunk_huge",
            vec![
                "add",
                "PKG",
                "IMG",
                "--id",
                "two",
                "--chunk",
                "18446744073709551615",
            ],
        ),
        (
            "add/axes_garbage",
            vec!["add", "PKG", "IMG", "--id", "two", "--axes", "qqqq"],
        ),
        (
            "add/unit_garbage",
            vec![
                "add",
                "PKG",
                "IMG",
                "--id",
                "two",
                "--pixel-size",
                "1",
                "--unit",
                "furlong-per-fortnight",
            ],
        ),
        ("add/duplicate_id", vec!["add", "PKG", "IMG", "--id", "img"]),
        (
            "init/into_existing_package",
            vec![
                "init",
                "PKG",
                "--title",
                "Another package title long enough",
                "--license",
                "CC0-1.0",
            ],
        ),
        (
            "init/bad_license",
            vec![
                "init",
                "NEW",
                "--title",
                "Another package title long enough",
                "--license",
                "NOT-SPDX(((",
            ],
        ),
    ];
    for (name, args) in others {
        v.push(case(name, move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let img = c.path("two.tif");
            write_tiff16(&img, 64, 64, &gray16(64, 64));
            let a: Vec<OsString> = args
                .iter()
                .map(|x| match *x {
                    "PKG" => pkg.clone().into(),
                    "IMG" => img.clone().into(),
                    "NEW" => c.path("new").into(),
                    other => other.into(),
                })
                .collect();
            // Clamped to what the image allows: accepting is fine if bounded.
            let s = Spec::fail(a);
            let s = if name == "add/chunk_huge" || name.ends_with("_clamped") {
                s.lenient()
            } else {
                s
            };
            s.guard(&pkg).keep(&out)
        }));
    }
    v
}

fn record(pkg: &Path) -> PathBuf {
    pkg.join("versions/1.0.0.json")
}

fn releases() -> Vec<Case> {
    type Edit = fn(&Path);
    let edits: Vec<(&str, Edit)> = vec![
        ("file_hash_edited", |p| {
            edit_json(&record(p), |v| {
                v["files"][0]["sha256"] = "0".repeat(64).into()
            })
        }),
        ("dataset_hash_edited", |p| {
            edit_json(&record(p), |v| {
                v["dataset_sha256"] = format!("sha256:{}", "1".repeat(64)).into()
            })
        }),
        ("file_entry_removed", |p| {
            edit_json(&record(p), |v| {
                v["files"].as_array_mut().unwrap().remove(0);
            })
        }),
        ("changes_text_edited", |p| {
            edit_json(&record(p), |v| {
                v["changes"] = "Something else entirely".into()
            })
        }),
        ("swapped_for_a_rewritten_record", |p| {
            edit_json(&record(p), |v| {
                v["timestamp"] = "2020-01-01T00:00:00Z".into();
                v["changes"] = "rewritten".into();
            })
        }),
        ("malformed", |p| {
            fs::write(record(p), "{\"format\": \"mifa-version\", ").unwrap()
        }),
        ("deep", |p| {
            fs::write(record(p), nested_objects(100_000, "1")).unwrap()
        }),
        ("wrong_types", |p| {
            edit_json(&record(p), |v| v["files"] = "all of them".into())
        }),
        ("path_dotdot", |p| {
            let victim = p.join("../outside/victim.txt");
            let h = sha256_hex(&victim);
            edit_json(&record(p), move |v| {
                v["files"][0]["path"] = "../outside/victim.txt".into();
                v["files"][0]["sha256"] = h.into();
            })
        }),
        ("path_absolute", |p| {
            let victim = p.join("../outside/victim.txt");
            let h = sha256_hex(&victim);
            let abs = victim
                .canonicalize()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            edit_json(&record(p), move |v| {
                v["files"][0]["path"] = abs.into();
                v["files"][0]["sha256"] = h.into();
            })
        }),
        ("fake_later_version", |p| {
            let mut v = read_json(&record(p));
            // A well-formed record mifa never wrote: only the version differs.
            v["version"] = "2.0.0".into();
            write_json(&p.join("versions/2.0.0.json"), &v);
        }),
        ("record_is_dev_zero", |p| {
            fs::remove_file(record(p)).unwrap();
            symlink("/dev/zero", record(p)).unwrap();
        }),
        ("record_is_a_symlink_out", |p| {
            let out = p.join("../outside/1.0.0.json");
            fs::rename(record(p), &out).unwrap();
            symlink(&out, record(p)).unwrap();
        }),
    ];
    let mut v = Vec::new();
    for (name, edit) in edits {
        v.push(case(&format!("release/{name}/verify"), move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            edit(&pkg);
            Spec::fail(os(&[&"verify", &pkg]))
                .names_any(&["1.0.0", "2.0.0"])
                .guard(&pkg)
                .readonly()
                .keep(&out)
        }));
    }
    for (name, edit) in [("malformed", "{"), ("deep", "DEEP")] {
        for cmd in ["diff", "credit", "restore"] {
            v.push(case(&format!("release/{name}/{cmd}"), move |c| {
                let pkg = c.pkg();
                let text = if edit == "DEEP" {
                    nested_objects(100_000, "1")
                } else {
                    edit.to_string()
                };
                fs::write(record(&pkg), text).unwrap();
                let a = match cmd {
                    "diff" => os(&[&"diff", &pkg, &"1.0.0"]),
                    "credit" => os(&[&"credit", &pkg]),
                    _ => os(&[&"restore", &pkg, &"--version", &"1.0.0", &"--set", &"cells"]),
                };
                Spec::fail(a).names("1.0.0").guard(&pkg)
            }));
        }
    }
    v.push(case("release/restore_path_dotdot", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        edit_json(&record(&pkg), |v| {
            for f in v["files"].as_array_mut().unwrap() {
                if f["path"] == "annotations/cells/img.geojson" {
                    f["path"] = "annotations/cells/../../../outside/victim.txt".into();
                }
            }
            if let Some(sets) = v.pointer_mut("/metadata/annotation_sets") {
                for s in sets.as_array_mut().into_iter().flatten() {
                    if s["id"] == "cells" {
                        s["files"][0]["path"] =
                            "annotations/cells/../../../outside/victim.txt".into();
                    }
                }
            }
        });
        Spec::fail(os(&[
            &"restore",
            &pkg,
            &"--version",
            &"1.0.0",
            &"--set",
            &"cells",
        ]))
        .guard(&pkg)
        .keep(&out)
    }));
    v.push(case("release/store_blob_corrupt/restore", |c| {
        let pkg = c.pkg();
        edit_json(&pkg.join("mifa.json"), |_| {});
        let rec = read_json(&record(&pkg));
        let h = rec["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "annotations/cells/img.geojson")
            .map(|f| f["sha256"].as_str().unwrap().to_string())
            .unwrap();
        let blob = pkg.join(format!("versions/objects/sha256/{}/{}", &h[..2], &h[2..]));
        if blob.exists() {
            fs::write(&blob, "corrupt").unwrap();
        }
        fs::write(
            pkg.join("annotations/cells/img.geojson"),
            squares_geojson(1),
        )
        .unwrap();
        Spec::fail(os(&[
            &"restore",
            &pkg,
            &"--version",
            &"1.0.0",
            &"--set",
            &"cells",
        ]))
        .names_any(&["img.geojson", &h[..12]])
        .guard(&pkg)
    }));
    for (name, args) in [
        (
            "version_not_semver",
            vec!["--version", "one", "--changes", "x"],
        ),
        (
            "version_not_greater",
            vec!["--version", "0.0.1", "--changes", "x"],
        ),
        (
            "version_dotdot",
            vec!["--version", "../../outside/x", "--changes", "x"],
        ),
        (
            "remove_credit_garbage",
            vec![
                "--version",
                "2.0.0",
                "--changes",
                "x",
                "--remove-credit",
                "=",
            ],
        ),
    ] {
        v.push(case(&format!("release/{name}"), move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let mut a = os(&[&"release", &pkg]);
            a.extend(args.iter().map(OsString::from));
            a.push("--allow-invalid".into());
            Spec::fail(a).guard(&pkg).keep(&out)
        }));
    }
    for (name, args) in [
        (
            "verify_unknown_version",
            vec!["verify", "PKG", "--version", "9.9.9"],
        ),
        (
            "verify_version_dotdot",
            vec!["verify", "PKG", "--version", "../../outside/victim"],
        ),
        (
            "restore_version_dotdot",
            vec![
                "restore",
                "PKG",
                "--version",
                "../../outside/victim",
                "--set",
                "cells",
            ],
        ),
        ("diff_unknown_version", vec!["diff", "PKG", "7.7.7"]),
    ] {
        v.push(case(&format!("release/{name}"), move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let a: Vec<OsString> = args
                .iter()
                .map(|x| {
                    if *x == "PKG" {
                        pkg.clone().into()
                    } else {
                        (*x).into()
                    }
                })
                .collect();
            Spec::fail(a).guard(&pkg).keep(&out)
        }));
    }
    v
}

/// Every package-level case.
pub fn cases() -> Vec<Case> {
    let mut v = journals();
    v.extend(symlinks());
    v.extend(outputs());
    v.extend(full_stdout());
    v.extend(meta_set());
    v.extend(options());
    v.extend(releases());
    v
}
