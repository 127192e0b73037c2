//! Controls: each generator's input before the hostile edit, which must be accepted. They keep
//! the corpus honest: a hostile case fails for its one hostile thing, not because the
//! generator writes something the reader never accepted.

use crate::gen::*;
use crate::runner::Spec;
use crate::{case, Case};
use std::ffi::OsString;
use std::fs;

fn add_ok(name: &'static str, file: &'static str, bytes: fn() -> Vec<u8>) -> Case {
    case(&format!("control/{name}"), move |c| {
        let pkg = c.pkg();
        let f = c.write(file, bytes());
        Spec::ok([
            "add".as_ref(),
            pkg.as_os_str(),
            f.as_os_str(),
            "--id".as_ref(),
            "two".as_ref(),
        ])
    })
}

fn import_ok(
    name: &'static str,
    format: &'static str,
    file: &'static str,
    text: fn() -> String,
) -> Case {
    case(&format!("control/{name}"), move |c| {
        let pkg = c.pkg();
        let f = c.write(file, text());
        let mut a: Vec<OsString> = vec![
            "import".into(),
            pkg.into(),
            format.into(),
            f.into(),
            "--set".into(),
            "new".into(),
        ];
        if format != "coco" {
            a.extend(["--image".into(), "img".into()]);
        }
        Spec::ok(a)
    })
}

fn tracks_ok(from: &'static str, fixture: &'static str, rel: &'static str) -> Case {
    case(&format!("control/tracks_{from}"), move |c| {
        let pkg = c.pkg();
        let d = c.fixture(fixture, rel);
        Spec::ok([
            "import".as_ref(),
            pkg.as_os_str(),
            "tracks".as_ref(),
            d.as_os_str(),
            "--from".as_ref(),
            from.as_ref(),
            "--set".as_ref(),
            "t".as_ref(),
        ])
    })
}

/// Every control.
pub fn cases() -> Vec<Case> {
    vec![
        add_ok("tiff", "ok.tif", || {
            tiff(&[Page::gray8(16, 16)], Chain::End)
        }),
        add_ok("tiff_two_pages", "ok2.tif", || {
            tiff(&[Page::gray8(16, 16), Page::gray8(16, 16)], Chain::End)
        }),
        add_ok("tiff_tiled", "tiled.tif", || {
            let mut p = Page::gray8(32, 32);
            p.tile = Some((16, 16));
            p.blocks = (0..4).map(|_| vec![7u8; 256]).collect();
            tiff(&[p], Chain::End)
        }),
        add_ok("ome_tiff", "ok.ome.tif", || {
            let mut ps = vec![
                Page::gray8(16, 16),
                Page::gray8(16, 16),
                Page::gray8(16, 16),
            ];
            ps[0].description = Some(ome_xml("XYZCT", 16, 16, 3, 1, 1));
            tiff(&ps, Chain::End)
        }),
        add_ok("png", "ok.png", || png(16, 16)),
        add_ok("jpeg", "ok.jpg", || jpeg(16, 16)),
        import_ok("geojson", "geojson", "ok.geojson", || squares_geojson(3)),
        import_ok("coco", "coco", "ok.json", || {
            let v = serde_json::json!({
                "images": [{"id": 1, "file_name": "img.tif", "width": 64, "height": 64}],
                "categories": [{"id": 1, "name": "nucleus"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10]], "area": 64.0, "bbox": [2, 2, 8, 8]},
                    {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1,
                     "segmentation": {"size": [64, 64], "counts": [100, 20, 3976]},
                     "area": 20.0, "bbox": [1, 36, 1, 20]}
                ]
            });
            v.to_string()
        }),
        import_ok("points", "points", "ok.csv", || points_csv(4)),
        tracks_ok(
            "trackmate",
            "tests/fixtures/tracks/trackmate/tiny_trackmate.xml",
            "tm.xml",
        ),
        tracks_ok(
            "biotracks",
            "tests/fixtures/tracks/biotracks/biotracks_dp",
            "bt",
        ),
        tracks_ok("ctc", "tests/fixtures/tracks/ctc/ctc_tiny/01_RES", "ctc"),
        tracks_ok("geff", "tests/fixtures/tracks/geff/tiny.geff", "g.geff"),
        case("control/sheet_tsv", |c| {
            let pkg = c.pkg();
            let f = c.write("ok.tsv", "Study\nDescription\tA sheet that is fine\n");
            Spec::ok([
                "meta".as_ref(),
                "import".as_ref(),
                pkg.as_os_str(),
                f.as_os_str(),
            ])
        }),
        case("control/publish_check", |c| {
            let (_, sub) = c.published();
            Spec::ok(["publish".as_ref(), "check".as_ref(), sub.as_os_str()])
        }),
        case("control/publish_check_generated_zip", |c| {
            let (_, sub) = c.published();
            let root =
                br#"{"zarr_format":3,"node_type":"group","attributes":{"ome":{"version":"0.5"}}}"#;
            fs::write(
                sub.join("upload/images/nuclei.ome.zarr.zip"),
                zip(&[entry("zarr.json", root), entry("0/zarr.json", b"{}")]),
            )
            .unwrap();
            Spec::ok(["publish".as_ref(), "check".as_ref(), sub.as_os_str()])
        }),
        case("control/verify", |c| {
            let pkg = c.pkg();
            Spec::ok(["verify".as_ref(), pkg.as_os_str()])
                .guard(&pkg)
                .readonly()
        }),
        case("control/journal_of_an_interrupted_write", |c| {
            // A journal as a crashed writer leaves it: a created folder to roll back.
            let pkg = c.pkg();
            fs::create_dir_all(pkg.join("images/new.ome.zarr")).unwrap();
            use sha2::Digest;
            let h: String = sha2::Sha256::digest(fs::read(pkg.join("mifa.json")).unwrap())
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            let j = serde_json::json!({"manifest_sha256": h, "created": ["images/new.ome.zarr"],
                "backups": [], "obsolete": [], "committed": false});
            fs::write(pkg.join(".mifa.journal.json"), j.to_string()).unwrap();
            let p = pkg.clone();
            Spec::ok([
                "meta".as_ref(),
                "set".as_ref(),
                pkg.as_os_str(),
                "study.description".as_ref(),
                "x".as_ref(),
            ])
            .check(move |_| {
                if p.join("images/new.ome.zarr").exists() {
                    Err("the interrupted write was not rolled back".into())
                } else {
                    Ok(())
                }
            })
        }),
    ]
}
