//! Tracks: TrackMate XML, CMSO biotracks data packages, Cell Tracking Challenge folders and
//! geff groups, each copied from a committed fixture and edited in one place.

use crate::gen::*;
use crate::runner::Spec;
use crate::{case, Case};
use std::fs;
use std::path::Path;

const TM: &str = "tests/fixtures/tracks/trackmate/tiny_trackmate.xml";
const BT: &str = "tests/fixtures/tracks/biotracks/biotracks_dp";
const CTC: &str = "tests/fixtures/tracks/ctc/ctc_tiny/01_RES";
const GEFF: &str = "tests/fixtures/tracks/geff/tiny.geff";

fn import(c: &Ctx, from: &str, input: &Path) -> (std::path::PathBuf, Spec) {
    let pkg = c.pkg();
    let s = Spec::fail([
        "import".as_ref(),
        pkg.as_os_str(),
        "tracks".as_ref(),
        input.as_os_str(),
        "--from".as_ref(),
        from.as_ref(),
        "--set".as_ref(),
        "t".as_ref(),
    ])
    .guard(&pkg);
    (pkg, s)
}

fn trackmate(name: &'static str, needle: Option<&'static str>, edit: fn(String) -> String) -> Case {
    case(&format!("trackmate/{name}"), move |c| {
        let xml = fs::read_to_string(repo(TM)).unwrap();
        let f = c.write(&format!("{name}.xml"), edit(xml));
        let (_, s) = import(c, "trackmate", &f);
        let s = s.names_file(&f);
        // Unknown elements may be skipped, however deep, if the parse stays bounded.
        let s = if name.ends_with("_skipped") {
            s.lenient()
        } else {
            s
        };
        match needle {
            Some(n) => s.names(n),
            None => s,
        }
    })
}

fn trackmates() -> Vec<Case> {
    let mut v = vec![
        trackmate("entity_bomb", None, |x| {
            let dtd = r#"<!DOCTYPE TrackMate [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>"#;
            x.replacen("?>", &format!("?>{dtd}"), 1)
                .replacen("name=\"ID0\"", "name=\"&h;\"", 1)
        }),
        trackmate("external_entity", None, |x| {
            let dtd = r#"<!DOCTYPE TrackMate [<!ENTITY ext SYSTEM "file:///etc/hostname">]>"#;
            x.replacen("?>", &format!("?>{dtd}"), 1)
                .replacen("name=\"ID0\"", "name=\"&ext;\"", 1)
        }),
        trackmate("edge_to_missing_spot", Some("999999"), |x| {
            x.replacen("SPOT_TARGET_ID=\"1\"", "SPOT_TARGET_ID=\"999999\"", 1)
        }),
        trackmate("duplicate_spot_id", Some("ID"), |x| {
            x.replacen("Spot ID=\"1\"", "Spot ID=\"0\"", 1)
        }),
        trackmate("spot_id_not_a_number", Some("abc"), |x| {
            x.replacen("Spot ID=\"1\"", "Spot ID=\"abc\"", 1)
        }),
        trackmate("nan_position", Some("NaN"), |x| {
            x.replacen("POSITION_X=\"2.5\"", "POSITION_X=\"NaN\"", 1)
        }),
        trackmate("infinite_position", None, |x| {
            x.replacen("POSITION_Y=\"2.5\"", "POSITION_Y=\"Infinity\"", 1)
        }),
        trackmate("negative_frame", Some("-4"), |x| {
            x.replacen("FRAME=\"1\"", "FRAME=\"-4\"", 1)
                .replacen("frame=\"1\"", "frame=\"-4\"", 1)
        }),
        trackmate("frame_overflow", None, |x| {
            x.replacen("FRAME=\"1\"", "FRAME=\"99999999999999999999999\"", 1)
                .replacen("frame=\"1\"", "frame=\"99999999999999999999999\"", 1)
        }),
        trackmate("huge_nspots", None, |x| {
            x.replacen("nspots=\"3\"", "nspots=\"4000000000000\"", 1)
                .replacen("SPOT_TARGET_ID=\"1\"", "SPOT_TARGET_ID=\"77\"", 1)
        }),
        trackmate("truncated", None, |x| x[..x.len() * 2 / 3].to_string()),
        trackmate("deep_elements_skipped", None, |x| {
            x.replacen(
                "</Model>",
                &format!(
                    "{}{}</Model>",
                    "<X>".repeat(100_000),
                    "</X>".repeat(100_000)
                ),
                1,
            )
        }),
        trackmate("edge_cycle", None, |x| {
            x.replacen(
                "<Edge SPOT_SOURCE_ID=\"1\" SPOT_TARGET_ID=\"2\" />",
                "<Edge SPOT_SOURCE_ID=\"1\" SPOT_TARGET_ID=\"2\" /><Edge SPOT_SOURCE_ID=\"2\" SPOT_TARGET_ID=\"0\" />",
                1,
            )
        }),
        trackmate("not_trackmate", None, |_| {
            "<html><body>hello</body></html>".into()
        }),
    ];
    v.push(case("trackmate/dev_zero", |c| {
        let f = c.path("zero.xml");
        std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
        let (_, s) = import(c, "trackmate", &f);
        s.names_file(&f)
    }));
    v.push(case("trackmate/fifo", |c| {
        let f = c.fifo("stuck.xml");
        let (_, s) = import(c, "trackmate", &f);
        s.names_file(&f)
    }));
    v
}

fn biotrack(name: &'static str, needle: &'static str, edit: fn(&Path)) -> Case {
    case(&format!("biotracks/{name}"), move |c| {
        let d = c.fixture(BT, "bt");
        let (out, _) = c.victim();
        fs::write(
            out.join("objects.csv"),
            "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,0,1.0,1.0\n",
        )
        .unwrap();
        edit(&d);
        let (_, s) = import(c, "biotracks", &d);
        s.names(needle).keep(&out)
    })
}

fn dp_edit(d: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    edit_json(&d.join("dp.json"), f)
}

fn biotracks() -> Vec<Case> {
    vec![
        biotrack("no_datapackage", "dp.json", |d| {
            fs::remove_file(d.join("dp.json")).unwrap()
        }),
        biotrack("datapackage_malformed", "dp.json", |d| {
            fs::write(
                d.join("dp.json"),
                "{\"name\": \"cmso_tracks\", \"resources\": [",
            )
            .unwrap()
        }),
        biotrack("datapackage_deep", "dp.json", |d| {
            fs::write(d.join("dp.json"), nested_objects(100_000, "1")).unwrap()
        }),
        biotrack("resources_wrong_type", "dp.json", |d| {
            dp_edit(d, |v| v["resources"] = "objects.csv".into())
        }),
        biotrack("resource_path_dotdot", "..", |d| {
            dp_edit(d, |v| {
                v["resources"][0]["path"] = "../outside/objects.csv".into()
            })
        }),
        biotrack("resource_path_absolute", "objects.csv", |d| {
            let abs = d.join("../outside/objects.csv");
            let abs = abs.to_string_lossy().into_owned();
            dp_edit(d, move |v| v["resources"][0]["path"] = abs.into())
        }),
        biotrack("resource_path_url", "http", |d| {
            dp_edit(d, |v| {
                v["resources"][0]["path"] = "http://example.org/objects.csv".into()
            })
        }),
        biotrack("links_table_missing", "links.csv", |d| {
            fs::remove_file(d.join("links.csv")).unwrap()
        }),
        biotrack("objects_resource_missing", "cmso_objects_table", |d| {
            dp_edit(d, |v| {
                v["resources"].as_array_mut().unwrap().remove(0);
            })
        }),
        biotrack("nan_coordinate", "objects.csv", |d| {
            fs::write(d.join("objects.csv"), "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,0,NaN,2.0\n2,1,2.5,2.5\n3,2,3.0,3.5\n4,2,9.0,9.5\n").unwrap()
        }),
        biotrack("infinite_coordinate", "objects.csv", |d| {
            fs::write(d.join("objects.csv"), "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,0,1.5,inf\n2,1,2.5,2.5\n3,2,3.0,3.5\n4,2,9.0,9.5\n").unwrap()
        }),
        biotrack("negative_frame", "objects.csv", |d| {
            fs::write(d.join("objects.csv"), "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,-3,1.5,2.0\n2,1,2.5,2.5\n3,2,3.0,3.5\n4,2,9.0,9.5\n").unwrap()
        }),
        biotrack("frame_overflow", "objects.csv", |d| {
            fs::write(d.join("objects.csv"), "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,99999999999999999999,1.5,2.0\n2,1,2.5,2.5\n3,2,3.0,3.5\n4,2,9.0,9.5\n").unwrap()
        }),
        biotrack("object_id_not_a_number", "objects.csv", |d| {
            fs::write(d.join("objects.csv"), "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\none,0,1.5,2.0\n2,1,2.5,2.5\n3,2,3.0,3.5\n4,2,9.0,9.5\n").unwrap()
        }),
        biotrack("short_row", "objects.csv", |d| {
            fs::write(
                d.join("objects.csv"),
                "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n1,0\n2,1,2.5,2.5\n",
            )
            .unwrap()
        }),
        biotrack("objects_dev_zero", "objects.csv", |d| {
            fs::remove_file(d.join("objects.csv")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", d.join("objects.csv")).unwrap();
        }),
        biotrack("objects_fifo", "objects.csv", |d| {
            fs::remove_file(d.join("objects.csv")).unwrap();
            let c = std::ffi::CString::new(d.join("objects.csv").as_os_str().as_encoded_bytes())
                .unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        }),
        biotrack("link_to_missing_object", "links.csv", |d| {
            fs::write(
                d.join("links.csv"),
                "cmso_link_id,cmso_object_id\n0,1\n0,77\n",
            )
            .unwrap()
        }),
    ]
}

fn ctc(name: &'static str, needle: &'static str, edit: fn(&Path)) -> Case {
    case(&format!("ctc/{name}"), move |c| {
        let d = c.fixture(CTC, "ctc");
        edit(&d);
        let (_, s) = import(c, "ctc", &d);
        s.names(needle)
    })
}

fn ctcs() -> Vec<Case> {
    vec![
        ctc("not_a_number", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 x 0\n2 2 2 1\n3 2 2 1\n").unwrap()
        }),
        ctc("three_columns", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 1 0\n2 2 2\n3 2 2 1\n").unwrap()
        }),
        ctc("parent_loop", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 1 2\n2 2 2 1\n3 2 2 1\n").unwrap()
        }),
        ctc("own_parent", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 1 1\n2 2 2 1\n3 2 2 1\n").unwrap()
        }),
        ctc("begin_after_end", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 1 0 0\n2 2 2 1\n3 2 2 1\n").unwrap()
        }),
        ctc("negative_begin", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 -1 1 0\n2 2 2 1\n3 2 2 1\n").unwrap()
        }),
        ctc("huge_end", "res_track.txt", |d| {
            fs::write(
                d.join("res_track.txt"),
                "1 0 999999999999 0\n2 2 2 1\n3 2 2 1\n",
            )
            .unwrap()
        }),
        ctc("label_overflow", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "99999999999999999999999 0 1 0\n").unwrap()
        }),
        ctc("duplicate_label", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 1 0\n1 2 2 0\n3 2 2 1\n").unwrap()
        }),
        ctc("unknown_parent", "res_track.txt", |d| {
            fs::write(d.join("res_track.txt"), "1 0 1 0\n2 2 2 1\n3 2 2 42\n").unwrap()
        }),
        ctc("no_track_file", "res_track.txt", |d| {
            fs::remove_file(d.join("res_track.txt")).unwrap()
        }),
        ctc("track_file_dev_zero", "res_track.txt", |d| {
            fs::remove_file(d.join("res_track.txt")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", d.join("res_track.txt")).unwrap();
        }),
        ctc("mask_huge_declared", "mask001.tif", |d| {
            let mut p = Page::gray8(16, 16);
            p.bits = 16;
            p.width = 1_000_000;
            p.height = 1_000_000;
            fs::write(d.join("mask001.tif"), tiff(&[p], Chain::End)).unwrap();
        }),
        ctc("mask_truncated", "mask001.tif", |d| {
            let b = fs::read(d.join("mask001.tif")).unwrap();
            fs::write(d.join("mask001.tif"), &b[..b.len() / 3]).unwrap();
        }),
        ctc("mask_ifd_loop", "mask001.tif", |d| {
            let mut pages = vec![Page::gray8(16, 16), Page::gray8(16, 16)];
            for p in &mut pages {
                p.bits = 16;
                p.blocks = vec![vec![0; 512]];
            }
            fs::write(d.join("mask001.tif"), tiff(&pages, Chain::LoopToFirst)).unwrap();
        }),
        ctc("mask_is_dev_zero", "mask001.tif", |d| {
            fs::remove_file(d.join("mask001.tif")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", d.join("mask001.tif")).unwrap();
        }),
    ]
}

fn geff(name: &'static str, needle: &'static str, edit: fn(&Path)) -> Case {
    case(&format!("geff/{name}"), move |c| {
        let d = c.fixture(GEFF, "g.geff");
        edit(&d);
        let (_, s) = import(c, "geff", &d);
        s.names(needle)
    })
}

/// Rewrites a geff array uncompressed with these raw little-endian bytes.
fn raw_array(dir: &Path, dtype: &str, n: usize, bytes: Vec<u8>) {
    edit_json(&dir.join(".zarray"), |v| {
        v["compressor"] = serde_json::Value::Null;
        v["dtype"] = dtype.into();
        v["shape"] = serde_json::json!([n]);
        v["chunks"] = serde_json::json!([n]);
    });
    fs::write(dir.join("0"), bytes).unwrap();
}

fn geffs() -> Vec<Case> {
    vec![
        geff("ids_shape_1e12", "ids", |d| {
            edit_json(&d.join("nodes/ids/.zarray"), |v| {
                v["shape"] = serde_json::json!([1_000_000_000_000u64]);
                v["chunks"] = serde_json::json!([1_000_000_000_000u64]);
            })
        }),
        geff("edges_shape_1e12", "edges", |d| {
            edit_json(&d.join("edges/ids/.zarray"), |v| {
                v["shape"] = serde_json::json!([1_000_000_000_000u64, 2]);
            })
        }),
        geff("prop_shape_1e12", "x", |d| {
            edit_json(&d.join("nodes/props/x/values/.zarray"), |v| {
                v["shape"] = serde_json::json!([1_000_000_000_000u64]);
            })
        }),
        geff("prop_length_differs", "x", |d| {
            raw_array(
                &d.join("nodes/props/x/values"),
                "<f8",
                2,
                [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        }),
        geff("nan_position", "x", |d| {
            raw_array(
                &d.join("nodes/props/x/values"),
                "<f8",
                4,
                [f64::NAN, 2.0, 3.0, 4.0]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            )
        }),
        geff("negative_frame", "t", |d| {
            raw_array(
                &d.join("nodes/props/t/values"),
                "<i8",
                4,
                [-5i64, 1, 2, 2]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            )
        }),
        geff("dtype_complex", "x/values", |d| {
            edit_json(&d.join("nodes/props/x/values/.zarray"), |v| {
                v["dtype"] = "<c16".into()
            })
        }),
        geff("chunk_missing", "g.geff", |d| {
            fs::remove_file(d.join("nodes/ids/0")).unwrap()
        }),
        geff("chunk_corrupt", "ids", |d| {
            fs::write(d.join("nodes/ids/0"), vec![0xAB; 48]).unwrap()
        }),
        geff("zattrs_malformed", ".zattrs", |d| {
            fs::write(d.join(".zattrs"), "{\"geff\": {").unwrap()
        }),
        geff("zattrs_deep", ".zattrs", |d| {
            fs::write(d.join(".zattrs"), nested_objects(100_000, "1")).unwrap()
        }),
        geff("version_99", "99", |d| {
            edit_json(&d.join(".zattrs"), |v| {
                v["geff"]["geff_version"] = "99.0".into()
            })
        }),
        geff("no_geff_key", "geff", |d| {
            fs::write(d.join(".zattrs"), "{}").unwrap()
        }),
        geff("axes_wrong_type", "axes", |d| {
            edit_json(&d.join(".zattrs"), |v| v["geff"]["axes"] = 7.into())
        }),
        geff("edge_to_missing_node", "999", |d| {
            raw_array(
                &d.join("edges/ids"),
                "<u8",
                3,
                [0u64, 1, 1, 2, 2, 999]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            );
            edit_json(&d.join("edges/ids/.zarray"), |v| {
                v["shape"] = serde_json::json!([3, 2]);
                v["chunks"] = serde_json::json!([3, 2]);
            });
            fs::rename(d.join("edges/ids/0"), d.join("edges/ids/0.0")).unwrap();
        }),
    ]
}

/// The package's own tracks (`trk`, stored as a CMSO data package) edited, then read.
fn stored(name: &'static str, cmds: &[&'static str], edit: fn(&Path)) -> Vec<Case> {
    cmds.iter()
        .map(|cmd| {
            let cmd = *cmd;
            case(&format!("stored-tracks/{name}/{cmd}"), move |c| {
                let pkg = c.pkg();
                edit(&pkg.join("annotations/trk/tracks"));
                let p = pkg.as_os_str().to_os_string();
                let args: Vec<std::ffi::OsString> = match cmd {
                    "validate" => vec!["validate".into(), p],
                    _ => vec![
                        "export".into(),
                        p,
                        cmd.into(),
                        c.path("out").into(),
                        "--set".into(),
                        "trk".into(),
                    ],
                };
                Spec::fail(args)
                    .names_any(&["objects.csv", "datapackage.json", "trk"])
                    .guard(&pkg)
                    .readonly()
            })
        })
        .collect()
}

fn objects(d: &Path, f: impl FnOnce(String) -> String) {
    let p = d.join("objects.csv");
    let t = fs::read_to_string(&p).unwrap();
    fs::write(&p, f(t)).unwrap();
}

fn stored_tracks() -> Vec<Case> {
    let all = &["validate", "biotracks", "geff"];
    let mut v = Vec::new();
    v.extend(stored("nan_coordinate", all, |d| {
        objects(d, |t| {
            t.replacen(
                "
1,1,2.5,",
                "
1,1,NaN,",
                1,
            )
        })
    }));
    v.extend(stored("negative_frame", all, |d| {
        objects(d, |t| {
            t.replacen(
                "
1,1,2.5,",
                "
1,-7,2.5,",
                1,
            )
        })
    }));
    v.extend(stored("truncated_row", &["validate", "geff"], |d| {
        objects(d, |t| {
            t.replacen(
                "
1,1,2.5,",
                "
1,1
",
                1,
            )
        })
    }));
    v.extend(stored(
        "objects_dev_zero",
        &["validate", "biotracks"],
        |d| {
            fs::remove_file(d.join("objects.csv")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", d.join("objects.csv")).unwrap();
        },
    ));
    v.extend(stored(
        "datapackage_deep",
        &["validate", "biotracks"],
        |d| fs::write(d.join("datapackage.json"), nested_objects(100_000, "1")).unwrap(),
    ));
    v.extend(stored("resource_path_dotdot", &["validate", "geff"], |d| {
        edit_json(&d.join("datapackage.json"), |v| {
            v["resources"][0]["path"] = "../../../../outside/objects.csv".into()
        })
    }));
    v
}

/// Every tracks case, and the validate-side check of NaN tracks.
pub fn cases() -> Vec<Case> {
    let mut v = trackmates();
    v.extend(biotracks());
    v.extend(ctcs());
    v.extend(geffs());
    v.extend(stored_tracks());
    v.push(case("points/validate_reports_nan_in_package", |c| {
        let pkg = c.pkg();
        // A tracks file written as the package stores tracks cannot be forged without knowing
        // its layout; instead the points set gets a NaN, which validate must report.
        let p = pkg.join("annotations/pts/img.geojson");
        let t = fs::read_to_string(&p)
            .unwrap()
            .replacen("[3.5,3.5]", "[NaN,3.5]", 1);
        fs::write(&p, t).unwrap();
        Spec::fail(["validate".as_ref(), pkg.as_os_str()])
            .names("img.geojson")
            .guard(&pkg)
            .readonly()
    }));
    v
}
