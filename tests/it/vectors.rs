//! Vector annotations: third-party files read correctly, COCO and GeoJSON through a package
//! and back, bad input named and refused without touching the package.

use crate::common::{init, mifa, repo};
use assert_cmd::assert::Assert;
use mifa::annotations::contour::signed_area2;
use mifa::annotations::shapes::Geometry;
use mifa::annotations::Rle;
use mifa::formats::coco::{self, Counts, Dataset, Segmentation};
use mifa::formats::geojson::{self, ReadOptions};
use mifa::formats::ome_zarr::Multiscale;
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// `mifa import PKG KIND FILE ARGS…`, to be checked by the caller.
fn import(pkg: &Path, kind: &str, file: &Path, args: &[&str]) -> Assert {
    mifa()
        .arg("import")
        .arg(pkg)
        .arg(kind)
        .arg(file)
        .args(args)
        .assert()
}

/// `mifa import PKG coco FILE --set SET --images IMAGES`, to be checked by the caller.
fn import_coco(pkg: &Path, file: &Path, set: &str, images: &Path) -> Assert {
    import(
        pkg,
        "coco",
        file,
        &["--set", set, "--images", images.to_str().unwrap()],
    )
}

/// A package holding the reference libraries' 64×64 blobs image (id `blobs`, so that COCO's
/// `blobs.png` matches it) with its `cells` labels.
fn blobs_package(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("pkg");
    init(&pkg, "Binary blobs with their labels, for tests", "CC0-1.0");
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(repo("tests/fixtures/reference_libs/tiny_v05.ome.zarr"))
        .args(["--id", "blobs"])
        .assert()
        .success();
    pkg
}

fn cells_plane() -> (Vec<i64>, usize, usize) {
    let ms = Multiscale::open(&repo("tests/fixtures/reference_libs/tiny_v05.ome.zarr"))
        .unwrap()
        .label("cells")
        .unwrap();
    let p = ms.read_plane(0, 0).unwrap();
    let v = match p.data {
        mifa::raster::PixelData::U8(v) => v.into_iter().map(i64::from).collect(),
        mifa::raster::PixelData::U16(v) => v.into_iter().map(i64::from).collect(),
        mifa::raster::PixelData::U32(v) => v.into_iter().map(i64::from).collect(),
        mifa::raster::PixelData::I32(v) => v.into_iter().map(i64::from).collect(),
        mifa::raster::PixelData::I64(v) => v,
        other => panic!("labels are {:?}", other.dtype()),
    };
    (v, p.height, p.width)
}

#[test]
fn pycocotools_file_matches_the_ome_zarr_labels_it_was_made_from() {
    let d = Dataset::load(&repo("tests/fixtures/reference_libs/tiny_coco.json")).unwrap();
    assert_eq!(d.annotations.len(), 10);
    assert!(d.check().is_empty(), "{:?}", d.check());
    let (labels, h, w) = cells_plane();
    let label_masks: Vec<Rle> = (1..=9)
        .map(|v| {
            let m: Vec<u8> = labels.iter().map(|&x| u8::from(x == v)).collect();
            Rle::from_mask(&m, h as u32, w as u32)
        })
        .collect();
    for a in &d.annotations {
        let rle = a.to_rle(64, 64).unwrap().unwrap();
        match &a.segmentation {
            Segmentation::Rle {
                counts: Counts::Compressed(s),
                ..
            } => {
                // Area and box as pycocotools computed them, and one label's pixels exactly.
                assert_eq!(rle.area() as f64, a.area.unwrap(), "annotation {:?}", a.id);
                assert_eq!(rle.bbox(), a.bbox.unwrap(), "annotation {:?}", a.id);
                assert_eq!(&rle.to_compressed(), s);
                assert!(
                    label_masks.contains(&rle),
                    "annotation {:?} is no label",
                    a.id
                );
            }
            Segmentation::Polygons(parts) => {
                let (_, bbox) = coco::polygon_mask_bbox(parts, 64, 64).unwrap();
                assert_eq!(bbox, a.bbox.unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn reference_geojson_and_qupath_polygon_read_correctly() {
    let r = geojson::read(
        &repo("tests/fixtures/reference_libs/tiny.geojson"),
        ReadOptions::default(),
    )
    .unwrap();
    let o = &r.collection.objects;
    assert_eq!(o.len(), 3);
    assert_eq!(o[0].class(), Some("cell"));
    assert_eq!(o[0].properties["label"], 1);
    // 10×10 square with a 2×2 hole.
    assert_eq!(o[0].geometry.to_rle(16, 16).unwrap().area(), 96);
    assert!(mifa::vectors::geometry_problems(&o[0]).is_empty());
    assert!(
        !mifa::vectors::geometry_problems(&o[1]).is_empty(),
        "the bow-tie crosses itself"
    );
    assert!(matches!(o[2].geometry, Geometry::Point(p) if p.x == 3.5 && p.y == 7.25));

    let q = geojson::read(
        &repo("tests/fixtures/qupath/polygon.geojson"),
        ReadOptions::default(),
    )
    .unwrap();
    let Geometry::MultiPolygon(parts) = &q.collection.objects[0].geometry else {
        panic!("a MultiPolygon");
    };
    assert_eq!(parts.len(), 3);
    let area: f64 = parts
        .iter()
        .map(|p| {
            signed_area2(&p.exterior).abs() / 2.0
                - p.holes
                    .iter()
                    .map(|h| signed_area2(h).abs() / 2.0)
                    .sum::<f64>()
        })
        .sum();
    // shapely's area of the same geometry (README of the fixture).
    assert!((area - 54_694_789.6).abs() < 0.1, "area {area}");
    assert!(mifa::vectors::geometry_problems(&q.collection.objects[0]).is_empty());
}

#[test]
fn cocoapi_box_results_load() {
    let d = Dataset::load(&repo(
        "tests/fixtures/cocoapi_results/instances_val2014_fakebbox100_results.json",
    ))
    .unwrap();
    assert!(d.header.results);
    assert_eq!(d.annotations.len(), 734);
    assert!(d
        .annotations
        .iter()
        .all(|a| a.bbox.is_some() && a.score.is_some() && a.segmentation == Segmentation::None));
}

#[test]
fn coco_through_a_package_keeps_every_mask_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let coco_in = repo("tests/fixtures/reference_libs/tiny_coco.json");
    import(&pkg, "coco", &coco_in, &["--set", "gt"])
        .success()
        .stdout(predicate::str::contains("10 object(s)"))
        .stdout(predicate::str::contains("9 of 9 objects exact"))
        .stdout(predicate::str::contains("new classes: blob, blob_outline"));
    mifa().arg("validate").arg(&pkg).assert().success();
    // The stored polygons give pycocotools' strings back, byte for byte.
    let original = Dataset::load(&coco_in).unwrap();
    let stored = geojson::read(
        &pkg.join("annotations/gt/blobs.geojson"),
        ReadOptions::default(),
    )
    .unwrap();
    for (a, o) in original.annotations.iter().zip(&stored.collection.objects) {
        assert_eq!(o.id, Some(mifa::annotations::ObjectId::Int(a.id.unwrap())));
        if let Segmentation::Rle {
            counts: Counts::Compressed(s),
            ..
        } = &a.segmentation
        {
            assert_eq!(&o.geometry.to_rle(64, 64).unwrap().to_compressed(), s);
        }
    }
    // Export: ids, image id and file name, categories kept; the polygon object comes back as
    // the same mask pycocotools would draw.
    let out = tmp.path().join("out.json");
    mifa()
        .arg("export")
        .arg(&pkg)
        .args(["coco", out.to_str().unwrap(), "--set", "gt"])
        .assert()
        .success()
        .stdout(predicate::str::contains("10 objects in, 10 out"));
    let back = Dataset::load(&out).unwrap();
    assert!(back.check().is_empty(), "{:?}", back.check());
    assert_eq!(back.header.images[0].file_name, "blobs.png");
    assert_eq!(back.header.images[0].id, original.header.images[0].id);
    let names: Vec<&str> = back
        .header
        .categories
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["blob", "blob_outline"]);
    for (a, b) in original.annotations.iter().zip(&back.annotations) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.category_id, b.category_id);
        assert_eq!(
            a.to_rle(64, 64).unwrap(),
            b.to_rle(64, 64).unwrap(),
            "annotation {:?}",
            a.id
        );
    }
    // To a label mask and back to COCO RLE: the strings pycocotools wrote.
    mifa()
        .args([
            "convert",
            "to-mask",
            pkg.to_str().unwrap(),
            "--set",
            "gt",
            "--name",
            "gtmask",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "pixels of overlapping objects went to the later object",
        ));
    let rle_out = tmp.path().join("rle.json");
    mifa()
        .arg("export")
        .arg(&pkg)
        .args(["coco", rle_out.to_str().unwrap(), "--set", "gtmask"])
        .assert()
        .success();
    let masks = Dataset::load(&rle_out).unwrap();
    let strings: Vec<&str> = masks
        .annotations
        .iter()
        .filter_map(|a| match &a.segmentation {
            Segmentation::Rle {
                counts: Counts::Compressed(s),
                ..
            } => Some(s.as_str()),
            _ => None,
        })
        .collect();
    // Blob 1 lies under the later outline object, so it changed; the other eight are intact.
    let intact = original.annotations[1..9]
        .iter()
        .filter(|a| matches!(&a.segmentation, Segmentation::Rle { counts: Counts::Compressed(s), .. } if strings.contains(&s.as_str())))
        .count();
    assert_eq!(intact, 8);
}

#[test]
fn bad_coco_is_named_and_leaves_the_package_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let before = fs::read_to_string(pkg.join("mifa.json")).unwrap();
    let text = fs::read_to_string(repo("tests/fixtures/reference_libs/tiny_coco.json")).unwrap();
    let cases = [
        (
            "truncated.json",
            text[..text.len() - 40].to_string(),
            "truncated.json:1:",
        ),
        (
            "category.json",
            text.replace("\"category_id\": 2", "\"category_id\": 7"),
            "annotation 10 (image blobs): category_id 7 is not a category",
        ),
        (
            "image.json",
            text.replacen("\"image_id\": 1,", "\"image_id\": 3,", 1),
            "annotation 1: image_id 3 is not a package image",
        ),
        (
            "counts.json",
            text.replacen("\"counts\": \">5", "\"counts\": \"5", 1),
            "annotation 1 (image blobs): compressed RLE count",
        ),
        (
            "name.json",
            text.replace("blobs.png", "other.png"),
            "1 COCO image(s) match no package image by file name (other.png)",
        ),
    ];
    for (name, body, message) in cases {
        let p = tmp.path().join(name);
        fs::write(&p, body).unwrap();
        import(&pkg, "coco", &p, &["--set", "bad"])
            .failure()
            .stderr(predicate::str::contains(message));
        assert_eq!(
            fs::read_to_string(pkg.join("mifa.json")).unwrap(),
            before,
            "{name}"
        );
        let left: Vec<_> = fs::read_dir(pkg.join("annotations"))
            .map(|d| d.count())
            .into_iter()
            .collect();
        assert!(
            left.iter().all(|&n| n == 0),
            "{name}: files left in annotations/"
        );
    }
    // Leaving the unusable annotation out is a choice, and reported.
    let p = tmp.path().join("category.json");
    import(&pkg, "coco", &p, &["--set", "partial", "--skip-invalid"])
        .success()
        .stdout(predicate::str::contains(
            "10 objects in, 9 out, 1 dropped (1 category_id 7 is not a category)",
        ));
}

#[test]
fn qupath_geojson_and_points_become_one_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let gj = tmp.path().join("qupath.geojson");
    fs::write(
        &gj,
        r#"[{"type": "Feature", "id": "5e0c…", "geometry": {"type": "Polygon", "coordinates": [[[10,10],[10,20],[20,20],[20,10],[10,10]]]},
             "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "colorRGB": -3670016}, "measurements": [{"name": "Area px", "value": 100}]}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[60,60],[70,60],[70,70],[60,60]]]}, "properties": {"classification": "Stroma"}}]"#,
    )
    .unwrap();
    import(
        &pkg,
        "geojson",
        &gj,
        &["--image", "blobs", "--set", "regions"],
    )
    .success()
    .stderr(predicate::str::contains(
        "image blobs, object #2: extends beyond the 64×64 image",
    ))
    .stdout(predicate::str::contains("new classes: Tumor, Stroma"));
    let csv = tmp.path().join("pts.csv");
    fs::write(
        &csv,
        "index,axis-0,axis-1,label\n0,5,7,Tumor\n1,30,40,mitosis\n",
    )
    .unwrap();
    import(
        &pkg,
        "points",
        &csv,
        &["--image", "blobs", "--set", "points"],
    )
    .success()
    .stdout(predicate::str::contains("2 object(s)"))
    .stdout(predicate::str::contains("new classes: mitosis"));
    mifa().arg("validate").arg(&pkg).assert().success();
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("mifa.json")).unwrap()).unwrap();
    let names: Vec<&str> = m["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tumor", "Stroma", "mitosis"]);
    assert_eq!(m["classes"][0]["color"], serde_json::json!([200, 0, 0]));
    let set = m["annotation_sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "points")
        .unwrap();
    let types = &set["types"];
    assert_eq!(types, &serde_json::json!(["point_annotations"]));
    // napari centres moved onto the corner convention.
    let pts = geojson::read(
        &pkg.join("annotations/points/blobs.geojson"),
        ReadOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(pts.collection.objects[0].geometry, Geometry::Point(p) if p.x == 7.5 && p.y == 5.5)
    );
    // Points have no area: a COCO export says so.
    mifa()
        .arg("export")
        .arg(&pkg)
        .args(["coco", tmp.path().join("c.json").to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 Points have no area"));
    // A second import into the same image of a set is refused unless replaced.
    import(
        &pkg,
        "points",
        &csv,
        &["--image", "blobs", "--set", "points"],
    )
    .failure()
    .stderr(predicate::str::contains(
        "annotations/points/blobs.geojson already exists; give --replace",
    ));
    // A class nobody declared is a validation error naming file and object.
    let f = pkg.join("annotations/regions/blobs.geojson");
    fs::write(&f, fs::read_to_string(&f).unwrap().replace("Stroma", "Fat")).unwrap();
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("annotations/regions/blobs.geojson: object 1: class \"Fat\" is not in the package's classes"));
}

#[test]
fn masks_trace_to_polygons_and_rasterise_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    mifa()
        .args([
            "convert",
            "to-polygons",
            pkg.to_str().unwrap(),
            "--mask",
            "cells",
            "--set",
            "outlines",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "9 objects in, 9 out; pixels: 9 of 9 objects exact",
        ))
        .stdout(predicate::str::contains("lossless"));
    mifa()
        .args([
            "convert",
            "to-mask",
            pkg.to_str().unwrap(),
            "--set",
            "outlines",
            "--name",
            "again",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("lossless"));
    let (want, _, _) = cells_plane();
    let ms = Multiscale::open(&pkg.join("images/blobs.ome.zarr"))
        .unwrap()
        .label("again")
        .unwrap();
    let got = ms.read_plane(0, 0).unwrap();
    let got: Vec<i64> = match got.data {
        mifa::raster::PixelData::U32(v) => v.into_iter().map(i64::from).collect(),
        other => panic!("{:?}", other.dtype()),
    };
    assert_eq!(got, want, "label values kept through the `label` property");
    // Simplified outlines: fewer vertices, IoU reported below 1.
    mifa()
        .args([
            "convert",
            "to-polygons",
            pkg.to_str().unwrap(),
            "--mask",
            "cells",
            "--set",
            "simple",
            "--simplify",
            "1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("simplified, tolerance 1 px"))
        .stdout(predicate::str::contains("IoU mean 0."))
        .stdout(predicate::str::contains("lossless").not());
    mifa().arg("validate").arg(&pkg).assert().success();
}

#[test]
fn failed_coco_import_takes_its_images_back() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    init(&pkg, "Rollback of images added for a COCO file", "CC0-1.0");
    let imgs = tmp.path().join("imgs");
    fs::create_dir_all(&imgs).unwrap();
    image::GrayImage::new(64, 64)
        .save(imgs.join("blobs.png"))
        .unwrap();
    let before = fs::read_to_string(pkg.join("mifa.json")).unwrap();
    // One polygon of a single repeated point: unusable.
    let text = fs::read_to_string(repo("tests/fixtures/reference_libs/tiny_coco.json")).unwrap();
    let bad = text.replacen(
        "\"segmentation\": [[17.5, 0.0,",
        "\"segmentation\": [[5, 5, 5, 5, 5, 5], [17.5, 0.0,",
        1,
    );
    assert_ne!(bad, text);
    let f = tmp.path().join("bad.json");
    fs::write(&f, bad).unwrap();
    import_coco(&pkg, &f, "gt", &imgs)
        .failure()
        .stderr(predicate::str::contains(
            "annotation 10 (image blobs): polygon part 1 has 1 distinct points",
        ));
    assert_eq!(fs::read_to_string(pkg.join("mifa.json")).unwrap(), before);
    assert_eq!(
        fs::read_dir(pkg.join("images")).unwrap().count(),
        0,
        "image data removed"
    );
    // The same file, good: images come in with the annotations.
    let tiny = repo("tests/fixtures/reference_libs/tiny_coco.json");
    import_coco(&pkg, &tiny, "gt", &imgs)
        .success()
        .stdout(predicate::str::contains("added 1 image(s): blobs"));
    // A results file (no ids) against it: ids given, images found through the recorded ids.
    let d = Dataset::load(&tiny).unwrap();
    let results: Vec<serde_json::Value> = d
        .annotations
        .iter()
        .take(3)
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v["score"] = serde_json::json!(0.5);
            v
        })
        .collect();
    let r = tmp.path().join("results.json");
    fs::write(&r, serde_json::to_string(&results).unwrap()).unwrap();
    import(&pkg, "coco", &r, &["--set", "predictions"])
        .success()
        .stdout(predicate::str::contains(
            "3 annotations without an id were given one",
        ));
    let p = geojson::read(
        &pkg.join("annotations/predictions/blobs.geojson"),
        ReadOptions::default(),
    )
    .unwrap();
    let ids: Vec<_> = p
        .collection
        .objects
        .iter()
        .map(|o| o.id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(p
        .collection
        .objects
        .iter()
        .all(|o| o.confidence() == Some(0.5)));
    mifa().arg("validate").arg(&pkg).assert().success();
}

/// A COCO `file_name` that leads out of the `--images` folder (absolute, `..`, a link to
/// elsewhere) is refused, naming the COCO file, the image id and the file name.
#[test]
fn coco_file_names_never_leave_the_images_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    init(&pkg, "COCO file names kept inside their folder", "CC0-1.0");
    let imgs = tmp.path().join("imgs");
    fs::create_dir_all(&imgs).unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    image::GrayImage::new(64, 64)
        .save(outside.join("blobs.png"))
        .unwrap();
    std::os::unix::fs::symlink(outside.join("blobs.png"), imgs.join("link.png")).unwrap();
    let text = fs::read_to_string(repo("tests/fixtures/reference_libs/tiny_coco.json")).unwrap();
    let before = fs::read_to_string(pkg.join("mifa.json")).unwrap();
    let abs = outside.join("blobs.png");
    for (name, why) in [
        ("../outside/blobs.png", "'..'"),
        (abs.to_str().unwrap(), "an absolute path"),
        ("link.png", "a symbolic link to"),
    ] {
        let f = tmp.path().join("evil.json");
        let evil = text.replacen("\"blobs.png\"", &serde_json::to_string(name).unwrap(), 1);
        assert_ne!(evil, text);
        fs::write(&f, evil).unwrap();
        import_coco(&pkg, &f, "gt", &imgs)
            .failure()
            .stderr(predicate::str::contains(format!(
                "evil.json: image 1 has file_name {name:?}, which leads outside the --images folder"
            )))
            .stderr(predicate::str::contains(why));
        assert_eq!(fs::read_to_string(pkg.join("mifa.json")).unwrap(), before);
    }
}

/// Outputs replace a regular file, write through a character device and refuse anything else;
/// a symbolic link in the package is never exported.
#[test]
fn exports_never_replace_special_files_nor_follow_links_in_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let coco_in = repo("tests/fixtures/reference_libs/tiny_coco.json");
    import(&pkg, "coco", &coco_in, &["--set", "gt"]).success();
    let export = |out: &Path| {
        mifa()
            .arg("export")
            .arg(&pkg)
            .args(["coco", out.to_str().unwrap(), "--set", "gt"])
            .assert()
    };
    export(Path::new("/dev/null")).success();
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    let file = tmp.path().join("out.json");
    fs::write(&file, "old").unwrap();
    let link = tmp.path().join("link.json");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    export(&link).failure().stderr(predicate::str::contains(
        "link.json: is a symbolic link; refusing to replace it",
    ));
    let folder = tmp.path().join("a-folder");
    fs::create_dir(&folder).unwrap();
    export(&folder).failure().stderr(predicate::str::contains(
        "is a folder; refusing to replace it",
    ));
    assert_eq!(fs::read_to_string(&file).unwrap(), "old");
    export(&file).success();
    assert!(Dataset::load(&file).is_ok());
    mifa()
        .arg("export")
        .arg(&pkg)
        .args(["geojson", link.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is a symbolic link, not a folder"));
    // The set's file replaced by a link to a file outside: refused, not exported.
    let secret = tmp.path().join("secret.geojson");
    fs::copy(pkg.join("annotations/gt/blobs.geojson"), &secret).unwrap();
    fs::remove_file(pkg.join("annotations/gt/blobs.geojson")).unwrap();
    std::os::unix::fs::symlink(&secret, pkg.join("annotations/gt/blobs.geojson")).unwrap();
    let out = tmp.path().join("gj");
    mifa()
        .arg("export")
        .arg(&pkg)
        .args(["geojson", out.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "annotations/gt/blobs.geojson: is a symbolic link; mifa does not follow links inside a package",
        ));
    export(&tmp.path().join("x.json"))
        .failure()
        .stderr(predicate::str::contains(
            "is a symbolic link; mifa does not follow links",
        ));
}

/// An OME-Zarr chunk of the package replaced by a link to a file outside is not read.
#[test]
fn image_chunks_are_never_read_through_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let mut stack = vec![pkg.join("images/blobs.ome.zarr/0")];
    let mut chunk = None;
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name() != "zarr.json" {
                chunk = Some(e.path());
            }
        }
    }
    let chunk = chunk.expect("a chunk");
    let outside = tmp.path().join("outside.bin");
    fs::copy(&chunk, &outside).unwrap();
    fs::remove_file(&chunk).unwrap();
    std::os::unix::fs::symlink(&outside, &chunk).unwrap();
    mifa()
        .arg("export")
        .arg(&pkg)
        .arg("tiff")
        .arg(tmp.path().join("tiffs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is a symbolic link; mifa does not follow links inside a package",
        ));
}

/// `preview --out` writes through a character device and never replaces a link or a FIFO.
#[test]
fn preview_never_replaces_a_special_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let preview = |out: &Path| {
        mifa()
            .arg("preview")
            .arg(&pkg)
            .args(["blobs", "--out"])
            .arg(out)
            .assert()
    };
    preview(Path::new("/dev/null")).success();
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    let png = tmp.path().join("p.png");
    preview(&png).success();
    let link = tmp.path().join("link.png");
    std::os::unix::fs::symlink(&png, &link).unwrap();
    preview(&link).failure().stderr(predicate::str::contains(
        "link.png: is a symbolic link; refusing to replace it",
    ));
    let fifo = tmp.path().join("fifo.png");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    preview(&fifo).failure().stderr(predicate::str::contains(
        "fifo.png: is a FIFO; refusing to replace it",
    ));
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

/// Every file of a package (the lock file aside) with its bytes.
fn package_files(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().unwrap() != mifa::package::LOCK_FILE {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn to_mask_failing_on_a_later_image_leaves_no_label_on_the_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = blobs_package(tmp.path());
    let second = tmp.path().join("second.png");
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x + y) % 256) as u8]))
        .save(&second)
        .unwrap();
    mifa().arg("add").arg(&pkg).arg(&second).assert().success();
    let square = tmp.path().join("square.geojson");
    fs::write(
        &square,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"properties":{},"geometry":{"type":"Polygon","coordinates":[[[4,4],[20,4],[20,20],[4,20],[4,4]]]}}]}"#,
    )
    .unwrap();
    // The set lists blobs first, so that blobs' label is written before the second fails.
    for image in ["blobs", "second"] {
        import(&pkg, "geojson", &square, &["--image", image, "--set", "sq"]).success();
    }
    let mask = tmp.path().join("mask.png");
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([u8::from(x > 30)]))
        .save(&mask)
        .unwrap();
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg("--mask")
        .arg(&mask)
        .args(["--image", "second", "--name", "vm"])
        .assert()
        .success();
    let before = package_files(&pkg);
    mifa()
        .arg("convert")
        .arg("to-mask")
        .arg(&pkg)
        .args(["--set", "sq", "--name", "vm"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "a label named \"vm\" already exists",
        ));
    assert!(!pkg.join("images/blobs.ome.zarr/labels/vm").exists());
    assert_eq!(package_files(&pkg), before, "the package is as it was");
    mifa().arg("validate").arg(&pkg).assert().success();
}
