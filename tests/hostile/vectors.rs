//! Vector annotations: GeoJSON, COCO (with and without --images) and points CSV, each a real
//! document of its format with one hostile thing in it.

use crate::gen::*;
use crate::runner::Spec;
use crate::{case, Case};
use std::ffi::OsString;
use std::fs;
use std::path::Path;

/// `mifa import PKG FORMAT FILE --set new [--image img] EXTRA…`
fn import_args(
    pkg: &Path,
    format: &str,
    file: &Path,
    image: bool,
    extra: &[&str],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "import".into(),
        pkg.into(),
        format.into(),
        file.into(),
        "--set".into(),
        "new".into(),
    ];
    if image {
        a.extend(["--image".into(), "img".into()]);
    }
    a.extend(extra.iter().map(OsString::from));
    a
}

/// An import of `text` written as `name` that may be accepted only with a warning naming
/// `needle` (a leniency shared with the format's reference tools).
fn warned(format: &'static str, name: &str, text: String, needle: &'static str) -> Case {
    let file = name.to_string();
    case(&format!("{format}/{name}"), move |c| {
        let pkg = c.pkg();
        let f = c.write(&file, &text);
        Spec::fail(import_args(&pkg, format, &f, format != "coco", &[]))
            .names_file(&f)
            .guard(&pkg)
            .warns(needle)
    })
}

/// A refused import of `text` written as `name`; stderr names the file and `needle`.
fn refused(format: &'static str, name: String, text: String, needle: Option<String>) -> Case {
    let file = name.clone();
    case(&format!("{format}/{name}"), move |c| {
        let pkg = c.pkg();
        let f = c.write(&file, &text);
        let s = Spec::fail(import_args(&pkg, format, &f, format != "coco", &[]))
            .names_file(&f)
            .guard(&pkg);
        match &needle {
            Some(n) => s.names(n.clone()),
            None => s,
        }
    })
}

fn ring(points: &[(f64, f64)]) -> String {
    let mut p: Vec<String> = points.iter().map(|(x, y)| format!("[{x},{y}]")).collect();
    p.push(p[0].clone());
    p.join(",")
}

fn polygon_feature(id: &str, ring_text: &str) -> String {
    format!(
        r#"{{"type":"Feature","id":"{id}","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[{ring_text}]]}}}}"#
    )
}

fn circle(n: usize, r: f64, star: bool) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            // A star crosses itself: every vertex jumps 2/5 of the way round.
            let k = if star { (i * 2) % n } else { i } as f64;
            let a = k / n as f64 * std::f64::consts::TAU * if star { 2.5 } else { 1.0 };
            (32.0 + r * a.cos(), 32.0 + r * a.sin())
        })
        .collect()
}

fn geojson() -> Vec<Case> {
    let ok = squares_geojson(3);
    let one = |f: String| collection(&[square_feature(1, 2.0, 2.0, 8.0), f]);
    let mut v = vec![
        refused("geojson", "truncated.geojson".into(), ok[..ok.len() / 2].to_string(), None),
        refused("geojson", "empty.geojson".into(), String::new(), None),
        refused("geojson", "not_json.geojson".into(), "\u{1}\u{2}binary\u{0}".into(), None),
        refused(
            "geojson",
            "deep_coordinates.geojson".into(),
            collection(&[format!(
                r#"{{"type":"Feature","id":"deep","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{}}}}}"#,
                nested_arrays(100_000, "1")
            )]),
            None,
        ),
        refused(
            "geojson",
            "deep_properties.geojson".into(),
            collection(&[format!(
                r#"{{"type":"Feature","id":"deep","properties":{{"x":{}}},"geometry":{{"type":"Point","coordinates":[1,1]}}}}"#,
                nested_objects(100_000, "1")
            )]),
            None,
        ),
        refused(
            "geojson",
            "nan_literal.geojson".into(),
            one(polygon_feature("nan", "[NaN,1],[5,1],[5,5],[NaN,1]")),
            None,
        ),
        refused(
            "geojson",
            "overflowing_number.geojson".into(),
            one(polygon_feature("inf", "[1e400,1],[5,1],[5,5],[1e400,1]")),
            None,
        ),
        refused(
            "geojson",
            "huge_coordinates.geojson".into(),
            one(polygon_feature("huge", &ring(&[(1e300, 1e300), (-1e300, 1.0), (5.0, -1e300)]))),
            Some("huge".into()),
        ),
        refused(
            "geojson",
            "outside_the_image.geojson".into(),
            one(polygon_feature("far", &ring(&[(1000.0, 1000.0), (1010.0, 1000.0), (1010.0, 1010.0)]))),
            Some("far".into()),
        ),
        refused(
            "geojson",
            "duplicate_ids.geojson".into(),
            collection(&[
                square_feature(7, 2.0, 2.0, 8.0),
                square_feature(7, 20.0, 20.0, 8.0),
            ]),
            Some("7".into()),
        ),
        warned(
            "geojson",
            "bow_tie.geojson",
            one(polygon_feature("bowtie", &ring(&[(2.0, 2.0), (10.0, 10.0), (10.0, 2.0), (2.0, 10.0)]))),
            "bowtie",
        ),
        refused(
            "geojson",
            "ring_of_two_points.geojson".into(),
            one(polygon_feature("short", "[1,1],[2,2]")),
            Some("short".into()),
        ),
        warned(
            "geojson",
            "unclosed_ring.geojson",
            one(polygon_feature("open", "[1,1],[9,1],[9,9],[1,9]")),
            "open",
        ),
        refused(
            "geojson",
            "unknown_geometry_type.geojson".into(),
            one(r#"{"type":"Feature","id":"odd","properties":{},"geometry":{"type":"Hexagon","coordinates":[1,2]}}"#.into()),
            None,
        ),
        refused(
            "geojson",
            "coordinates_as_strings.geojson".into(),
            one(polygon_feature("str", r#"["1","1"],["9","1"],["9","9"],["1","1"]"#)),
            None,
        ),
        refused(
            "geojson",
            "features_not_a_list.geojson".into(),
            r#"{"type":"FeatureCollection","features":{"a":1}}"#.into(),
            Some("features".into()),
        ),
        warned(
            "geojson",
            "hole_outside_exterior.geojson",
            one(format!(
                r#"{{"type":"Feature","id":"hole","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[{}],[{}]]}}}}"#,
                ring(&[(2.0, 2.0), (10.0, 2.0), (10.0, 10.0), (2.0, 10.0)]),
                ring(&[(40.0, 40.0), (45.0, 40.0), (45.0, 45.0), (40.0, 45.0)])
            )),
            "hole",
        ),
        warned(
            "geojson",
            "self_intersecting_star_20k.geojson",
            one(polygon_feature("star", &ring(&circle(20_001, 30.0, true)))),
            "star",
        ),
        refused(
            "geojson",
            "point_with_one_coordinate.geojson".into(),
            one(r#"{"type":"Feature","id":"p1","properties":{},"geometry":{"type":"Point","coordinates":[1]}}"#.into()),
            None,
        ),
        warned(
            "geojson",
            "classification_wrong_type.geojson",
            collection(&[r#"{"type":"Feature","id":"c","properties":{"classification":[1,2]},"geometry":{"type":"Point","coordinates":[1,1]}}"#.into()]),
            "classification",
        ),
    ];
    v.push(case("geojson/ring_of_50k_vertices_is_fast", |c| {
        let pkg = c.pkg();
        let f = c.write(
            "round.geojson",
            collection(&[polygon_feature(
                "round",
                &ring(&circle(50_000, 30.0, false)),
            )]),
        );
        Spec::ok(import_args(&pkg, "geojson", &f, true, &[]))
    }));
    v.push(case("geojson/unknown_image", |c| {
        let pkg = c.pkg();
        let f = c.write("ok.geojson", squares_geojson(2));
        let mut a = import_args(&pkg, "geojson", &f, false, &[]);
        a.extend(["--image".into(), "no_such_image".into()]);
        Spec::fail(a).names("no_such_image").guard(&pkg)
    }));
    v.push(case("geojson/set_name_dotdot", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        let f = c.write("ok.geojson", squares_geojson(2));
        Spec::fail([
            "import".as_ref(),
            pkg.as_os_str(),
            "geojson".as_ref(),
            f.as_os_str(),
            "--set".as_ref(),
            "../../outside".as_ref(),
            "--image".as_ref(),
            "img".as_ref(),
        ])
        .names("..")
        .guard(&pkg)
        .keep(&out)
    }));
    v.extend(special_inputs("geojson", "geojson", true));
    v
}

/// /dev/zero and a FIFO given as the input file.
fn special_inputs(format: &'static str, ext: &'static str, image: bool) -> Vec<Case> {
    vec![
        case(&format!("{format}/dev_zero"), move |c| {
            let pkg = c.pkg();
            let f = c.path(&format!("zero.{ext}"));
            std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
            Spec::fail(import_args(&pkg, format, &f, image, &[]))
                .names_file(&f)
                .guard(&pkg)
        }),
        case(&format!("{format}/fifo"), move |c| {
            let pkg = c.pkg();
            let f = c.fifo(&format!("stuck.{ext}"));
            Spec::fail(import_args(&pkg, format, &f, image, &[]))
                .names_file(&f)
                .guard(&pkg)
        }),
    ]
}

fn coco_doc(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::json!({
        "images": [{"id": 1, "file_name": "img.tif", "width": 64, "height": 64}],
        "categories": [{"id": 1, "name": "nucleus"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10]], "area": 64.0, "bbox": [2, 2, 8, 8]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [64, 64], "counts": [100, 20, 4000 - 120 + 96]},
             "area": 20.0, "bbox": [1, 36, 1, 20]}
        ]
    });
    edit(&mut v);
    v.to_string()
}

fn coco() -> Vec<Case> {
    use serde_json::json;
    let c = |name: &str, needle: Option<&str>, f: fn(&mut serde_json::Value)| {
        refused(
            "coco",
            format!("{name}.json"),
            coco_doc(f),
            needle.map(String::from),
        )
    };
    let mut v = vec![
        c("annotation_image_id_unknown", Some("77"), |v| {
            v["annotations"][0]["image_id"] = 77.into()
        }),
        c("category_id_unknown", Some("99"), |v| {
            v["annotations"][0]["category_id"] = 99.into()
        }),
        c("duplicate_annotation_ids", None, |v| {
            v["annotations"][1]["id"] = 1.into()
        }),
        c("duplicate_image_ids", None, |v| {
            v["images"] = json!([{"id": 1, "file_name": "img.tif", "width": 64, "height": 64},
                                 {"id": 1, "file_name": "img.tif", "width": 64, "height": 64}])
        }),
        c("segmentation_is_a_string", None, |v| {
            v["annotations"][0]["segmentation"] = "oops".into()
        }),
        c("bbox_negative_size", None, |v| {
            v["annotations"][0]["segmentation"] = json!([]);
            v["annotations"][0]["bbox"] = json!([5, 5, -100, -100]);
        }),
        c("no_images_key", Some("images"), |v| {
            v.as_object_mut().unwrap().remove("images");
        }),
        c("no_annotations_key", Some("annotations"), |v| {
            v.as_object_mut().unwrap().remove("annotations");
        }),
        c("categories_not_a_list", Some("categories"), |v| {
            v["categories"] = json!({"id": 1})
        }),
        c("image_id_is_a_string", None, |v| {
            v["annotations"][0]["image_id"] = "one".into()
        }),
        c("rle_counts_overflow", None, |v| {
            v["annotations"][1]["segmentation"]["counts"] = json!([0, 18446744073709551615u64, 5])
        }),
        c("rle_counts_sum_too_large", None, |v| {
            v["annotations"][1]["segmentation"]["counts"] = json!([0, 5000, 5000])
        }),
        c("rle_counts_negative", None, |v| {
            v["annotations"][1]["segmentation"]["counts"] = json!([10, -5, 20])
        }),
        c("rle_compressed_garbage", None, |v| {
            v["annotations"][1]["segmentation"]["counts"] =
                "\u{7f}\u{7f}~~~~~~~~~~~~~~~~~~~~~~~~~~~".into()
        }),
        c("rle_compressed_huge_run", None, |v| {
            // Continuation bits on every character: one run never ends.
            v["annotations"][1]["segmentation"]["counts"] = "o".repeat(64).into()
        }),
        c("rle_size_1e6_squared", None, |v| {
            v["annotations"][1]["segmentation"]["size"] = json!([1_000_000, 1_000_000])
        }),
        c("rle_size_differs_from_image", None, |v| {
            v["annotations"][1]["segmentation"]["size"] = json!([32, 32])
        }),
        c("polygon_odd_numbers", None, |v| {
            v["annotations"][0]["segmentation"] = json!([[2, 2, 10, 2, 10]])
        }),
        c("polygon_far_outside", None, |v| {
            v["annotations"][0]["segmentation"] = json!([[1e12, 1e12, 1e12, 2e12, 2e12, 2e12]])
        }),
        c("image_size_differs_from_package", Some("img.tif"), |v| {
            v["images"][0]["width"] = 4096.into();
            v["images"][0]["height"] = 4096.into();
        }),
        c("image_not_in_package", Some("elsewhere.tif"), |v| {
            v["images"][0]["file_name"] = "elsewhere.tif".into()
        }),
    ];
    v.push(refused(
        "coco",
        "nan_in_polygon.json".into(),
        coco_doc(|_| {}).replacen("[[2,2,10,2", "[[NaN,2,10,2", 1),
        None,
    ));
    v.push(refused(
        "coco",
        "deep_nesting.json".into(),
        coco_doc(|_| {}).replacen(
            "\"iscrowd\":0",
            &format!("\"iscrowd\":0,\"x\":{}", nested_arrays(100_000, "0")),
            1,
        ),
        None,
    ));
    v.push(refused(
        "coco",
        "truncated.json".into(),
        coco_doc(|_| {})[..120].to_string(),
        None,
    ));
    v.push(warned(
        "coco",
        "polygon_with_a_million_numbers.json",
        coco_doc(|v| {
            let n: Vec<u32> = (0..1_000_000).map(|i| i % 64).collect();
            v["annotations"][0]["segmentation"] = json!([n]);
        }),
        "self-intersection",
    ));
    // --images with escaping file names: nothing outside DIR is read.
    for (name, file_name) in [
        ("images_dotdot", "../outside/victim.tif"),
        ("images_absolute", "ABSOLUTE"),
    ] {
        v.push(case(&format!("coco/{name}"), move |c| {
            let pkg = c.pkg();
            let (out, _) = c.victim();
            let victim_img = out.join("victim.tif");
            write_tiff16(&victim_img, 64, 64, &gray16(64, 64));
            let dir = c.path("imgs");
            fs::create_dir_all(&dir).unwrap();
            let fname = if file_name == "ABSOLUTE" {
                victim_img.to_string_lossy().into_owned()
            } else {
                file_name.to_string()
            };
            let f = c.write(
                "escape.json",
                coco_doc(|v| v["images"][0]["file_name"] = fname.clone().into()),
            );
            let mut a = import_args(&pkg, "coco", &f, false, &[]);
            a.extend(["--images".into(), dir.into()]);
            Spec::fail(a)
                .names_any(&["escape.json", "victim.tif"])
                .guard(&pkg)
                .keep(&out)
        }));
    }
    v.push(case("coco/images_symlink_out_of_dir", |c| {
        let pkg = c.pkg();
        let (out, _) = c.victim();
        write_tiff16(&out.join("victim.tif"), 64, 64, &gray16(64, 64));
        let dir = c.path("imgs");
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(out.join("victim.tif"), dir.join("link.tif")).unwrap();
        let f = c.write(
            "link.json",
            coco_doc(|v| v["images"][0]["file_name"] = "link.tif".into()),
        );
        let mut a = import_args(&pkg, "coco", &f, false, &[]);
        a.extend(["--images".into(), dir.into()]);
        Spec::fail(a).names("link.tif").guard(&pkg).keep(&out)
    }));
    v.extend(special_inputs("coco", "json", false));
    v
}

fn points() -> Vec<Case> {
    let p = |name: &str, text: &str, needle: Option<&str>| {
        refused(
            "points",
            format!("{name}.csv"),
            text.to_string(),
            needle.map(String::from),
        )
    };
    let mut v = vec![
        p("short_row", "x,y,class\n1.5,2.5,a\n3.5\n", Some("3")),
        p("nan", "x,y\n1.5,2.5\nNaN,3.0\n", Some("3")),
        p("infinite", "x,y\n1.5,2.5\ninf,3.0\n", Some("3")),
        p("huge", "x,y\n1e300,1e300\n", Some("2")),
        p("outside_the_image", "x,y\n1000,1000\n", Some("2")),
        p("negative", "x,y\n-50,-50\n", Some("2")),
        p("not_a_number", "x,y\n1.5,abc\n", Some("abc")),
        p("no_x_column", "a,b\n1,2\n", None),
        p("empty", "", None),
        p("binary", "\u{0}\u{1}\u{2}\u{3}\n\u{ff}", None),
        p(
            "unterminated_quote",
            "x,y,class\n1,2,\"never closed\n3,4,b\n",
            None,
        ),
        p(
            "million_columns",
            &format!("x,y{}\n1,2\n", ",c".repeat(1_000_000)),
            None,
        ),
    ];
    v.extend(special_inputs("points", "csv", true));
    v
}

/// Every vector case.
pub fn cases() -> Vec<Case> {
    let mut v = geojson();
    v.extend(coco());
    v.extend(points());
    v
}
