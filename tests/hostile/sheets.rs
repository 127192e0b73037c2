//! Metadata sheets (TSV, CSV, YAML, JSON) given to `meta import`, and the package's own
//! manifest `mifa.json` edited by hand, read by every command that opens a package.

use crate::gen::*;
use crate::runner::{Spec, Stdout};
use crate::{case, Case};
use std::fs;

fn sheet(name: &str, text: String, needle: Option<&'static str>) -> Case {
    let file = name.to_string();
    case(&format!("sheet/{name}"), move |c| {
        let pkg = c.pkg();
        let f = c.write(&file, &text);
        let s = Spec::fail([
            "meta".as_ref(),
            "import".as_ref(),
            pkg.as_os_str(),
            f.as_os_str(),
        ])
        .names_file(&f)
        .guard(&pkg);
        match needle {
            Some(n) => s.names(n),
            None => s,
        }
    })
}

fn yaml_alias_bomb() -> String {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for n in names {
        s.push_str(&format!(
            "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n;
    }
    s.push_str("study:\n  description: *i\n");
    s
}

fn sheets() -> Vec<Case> {
    let mut v = vec![
        sheet(
            "unknown_attribute.tsv",
            "Study\nDescription\tfine\n\nBiosample\tb1\nOrgansim\tMus musculus\n".into(),
            Some("5"),
        ),
        sheet(
            "row_before_section.tsv",
            "Description\tno section yet\n".into(),
            Some("1"),
        ),
        sheet(
            "bad_orcid.tsv",
            "Author\nName\tX\nORCID\t0000-0002-1825-0098\n".into(),
            Some("0000-0002-1825-0098"),
        ),
        sheet(
            "binary.tsv",
            "\u{0}\u{1}Study\u{0}\n\u{ff}\u{fe}".into(),
            None,
        ),
        sheet(
            "unterminated_quote.csv",
            "Study,\nDescription,\"never closed\nTitle,x\n".into(),
            None,
        ),
        sheet(
            "bad_date.tsv",
            "Study\nRelease Date\t2025-13-45\n".into(),
            Some("2025-13-45"),
        ),
        sheet("alias_bomb.yaml", yaml_alias_bomb(), None),
        sheet(
            "deep_flow.yaml",
            format!("study:\n  description: {}\n", nested_arrays(50_000, "x")),
            None,
        ),
        sheet(
            "deep_block.yaml",
            {
                // 200 KB of nested block mappings.
                let mut s = String::from("study:\n");
                for i in 1..600 {
                    s.push_str(&" ".repeat(i));
                    s.push_str("k:\n");
                }
                s
            },
            None,
        ),
        sheet("unclosed.yaml", "study:\n  title: [unclosed\n".into(), None),
        sheet(
            "wrong_type.yaml",
            "study:\n  keywords: 5\n".into(),
            Some("keywords"),
        ),
        sheet("tabs.yaml", "study:\n\tdescription: tab\n".into(), None),
        sheet("deep.json", nested_objects(100_000, "1"), None),
        sheet(
            "truncated.json",
            "{\"study\": {\"description\": \"x\"".into(),
            None,
        ),
        sheet(
            "wrong_type.json",
            r#"{"study": {"title": 5}}"#.into(),
            Some("title"),
        ),
        sheet(
            "image_path_dotdot.json",
            r#"{"images": [{"id": "img", "path": "../../outside"}]}"#.into(),
            None,
        ),
        sheet("not_a_sheet.xlsx", "PK\u{3}\u{4}".into(), None),
        sheet("array_root.json", "[1,2,3]".into(), None),
        sheet(
            "huge_number.json",
            r#"{"study": {"release_date": 1e999999}}"#.into(),
            None,
        ),
    ];
    for ext in ["tsv", "yaml", "json", "csv"] {
        v.push(case(&format!("sheet/dev_zero.{ext}"), move |c| {
            let pkg = c.pkg();
            let f = c.path(&format!("zero.{ext}"));
            std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
            Spec::fail([
                "meta".as_ref(),
                "import".as_ref(),
                pkg.as_os_str(),
                f.as_os_str(),
            ])
            .names_file(&f)
            .guard(&pkg)
        }));
    }
    for ext in ["tsv", "yaml"] {
        v.push(case(&format!("sheet/fifo.{ext}"), move |c| {
            let pkg = c.pkg();
            let f = c.fifo(&format!("stuck.{ext}"));
            Spec::fail([
                "meta".as_ref(),
                "import".as_ref(),
                pkg.as_os_str(),
                f.as_os_str(),
            ])
            .names_file(&f)
            .guard(&pkg)
        }));
    }
    v
}

/// The manifest replaced by `text`; `cmd` run on the package must fail naming mifa.json.
fn manifest(name: &'static str, cmds: &[&'static str], edit: fn(&std::path::Path)) -> Vec<Case> {
    manifest_with(name, cmds, edit, true)
}

/// As `manifest`; `must_fail_to_write`: a writer may not proceed (false: the manifest is
/// readable, only its values are wrong, and an edit elsewhere may succeed).
fn manifest_with(
    name: &'static str,
    cmds: &[&'static str],
    edit: fn(&std::path::Path),
    must_fail_to_write: bool,
) -> Vec<Case> {
    cmds.iter()
        .map(|cmd| {
            let cmd = *cmd;
            case(&format!("manifest/{name}/{cmd}"), move |c| {
                let pkg = c.pkg();
                let (out, _) = c.victim();
                edit(&pkg);
                let p = pkg.as_os_str().to_os_string();
                let args: Vec<std::ffi::OsString> = match cmd {
                    "validate" => vec!["validate".into(), p],
                    "info" => vec!["info".into(), p],
                    "meta-get" => vec!["meta".into(), "get".into(), p],
                    "meta-set" => vec![
                        "meta".into(),
                        "set".into(),
                        p,
                        "study.description".into(),
                        "changed".into(),
                    ],
                    "export-geojson" => {
                        vec!["export".into(), p, "geojson".into(), c.path("gj").into()]
                    }
                    "export-tiff" => vec!["export".into(), p, "tiff".into(), c.path("tf").into()],
                    "release" => vec![
                        "release".into(),
                        p,
                        "--version".into(),
                        "2.0.0".into(),
                        "--changes".into(),
                        "x".into(),
                    ],
                    _ => unreachable!(),
                };
                let pkg_name = format!("{}", pkg.display());
                let s = Spec::fail(args)
                    .names_any(&["mifa.json", pkg_name.as_str()])
                    .guard(&pkg)
                    .keep(&out);
                let s = if cmd == "meta-set" && !must_fail_to_write {
                    s.lenient()
                } else {
                    s
                };
                if matches!(
                    cmd,
                    "validate" | "info" | "meta-get" | "export-geojson" | "export-tiff"
                ) {
                    s.readonly()
                } else {
                    s
                }
            })
        })
        .collect()
}

fn manifests() -> Vec<Case> {
    let rw = &["validate", "info", "meta-set"];
    let mut v = Vec::new();
    v.extend(manifest("deep_nesting", rw, |p| {
        let text = fs::read_to_string(p.join("mifa.json")).unwrap();
        let t = text.replacen(
            "\"study\": {",
            &format!("\"x\": {},\n  \"study\": {{", nested_arrays(100_000, "1")),
            1,
        );
        fs::write(p.join("mifa.json"), t).unwrap();
    }));
    v.extend(manifest("images_not_a_list", rw, |p| {
        edit_json(&p.join("mifa.json"), |v| v["images"] = "everything".into())
    }));
    v.extend(manifest("truncated", rw, |p| {
        let b = fs::read(p.join("mifa.json")).unwrap();
        fs::write(p.join("mifa.json"), &b[..b.len() / 2]).unwrap();
    }));
    v.extend(manifest("format_version_99", rw, |p| {
        edit_json(&p.join("mifa.json"), |v| {
            v["format_version"] = "99.0".into()
        })
    }));
    v.extend(manifest_with(
        "duplicate_image_ids",
        &["validate", "meta-set"],
        |p| {
            edit_json(&p.join("mifa.json"), |v| {
                let first = v["images"][0].clone();
                v["images"].as_array_mut().unwrap().push(first);
            })
        },
        false,
    ));
    v.extend(manifest_with(
        "image_path_dotdot",
        &["validate", "export-tiff", "meta-set"],
        |p| {
            copy_tree(
                &p.join("images/img.ome.zarr"),
                &p.join("../outside/img.ome.zarr"),
            );
            edit_json(&p.join("mifa.json"), |v| {
                v["images"][0]["path"] = "../outside/img.ome.zarr".into()
            })
        },
        false,
    ));
    v.extend(manifest(
        "image_path_absolute",
        &["validate", "export-tiff"],
        |p| {
            let abs = p.join("../outside/img.ome.zarr");
            copy_tree(&p.join("images/img.ome.zarr"), &abs);
            let abs = abs.to_string_lossy().into_owned();
            edit_json(&p.join("mifa.json"), move |v| {
                v["images"][0]["path"] = abs.into()
            })
        },
    ));
    v.extend(manifest(
        "annotation_path_dotdot",
        &["validate", "export-geojson", "release"],
        |p| {
            fs::write(
                p.join("../outside/x.geojson"),
                squares_geojson(2).replace("nucleus", "OUTSIDE_SECRET"),
            )
            .unwrap();
            edit_json(&p.join("mifa.json"), |v| {
                for s in v["annotation_sets"].as_array_mut().unwrap() {
                    if s["id"] == "cells" {
                        s["files"][0]["path"] =
                            "annotations/cells/../../../outside/x.geojson".into();
                    }
                }
            })
        },
    ));
    v.extend(manifest("shape_wrong_type", &["validate", "info"], |p| {
        edit_json(&p.join("mifa.json"), |v| {
            v["images"][0]["shape"] = serde_json::json!(["a", {}])
        })
    }));
    v.extend(manifest("shape_overflow", &["validate", "info"], |p| {
        let t = fs::read_to_string(p.join("mifa.json")).unwrap();
        let t = t.replacen("\"shape\": [", "\"shape\": [99999999999999999999999999,", 1);
        fs::write(p.join("mifa.json"), t).unwrap();
    }));
    v.extend(manifest("not_utf8", &["validate", "info"], |p| {
        let mut b = fs::read(p.join("mifa.json")).unwrap();
        b.splice(20..20, [0xFF, 0xFE, 0xC0]);
        fs::write(p.join("mifa.json"), b).unwrap();
    }));
    v.extend(manifest(
        "is_dev_zero",
        &["validate", "info", "meta-set"],
        |p| {
            fs::remove_file(p.join("mifa.json")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", p.join("mifa.json")).unwrap();
        },
    ));
    v.extend(manifest("is_a_fifo", &["validate", "meta-set"], |p| {
        fs::remove_file(p.join("mifa.json")).unwrap();
        let c = std::ffi::CString::new(p.join("mifa.json").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }));
    v.extend(manifest("is_a_directory", &["validate"], |p| {
        fs::remove_file(p.join("mifa.json")).unwrap();
        fs::create_dir(p.join("mifa.json")).unwrap();
    }));
    v.push(case("manifest/valid/info_to_closed_pipe", |c| {
        let pkg = c.pkg();
        Spec::ok(["info".as_ref(), pkg.as_os_str()])
            .stdout(Stdout::ClosedPipe)
            .guard(&pkg)
            .readonly()
    }));
    v
}

/// Every sheet and manifest case.
pub fn cases() -> Vec<Case> {
    let mut v = sheets();
    v.extend(manifests());
    v
}
