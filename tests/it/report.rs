//! The HTML report through the library: the site's files and links, overlays that show
//! something, HTML escaping, atomic replacement of an earlier report, refusal of other folders,
//! thumbnail selection and packages without images.

use crate::common::{quiet, repo, walk};
use mifa::edit::{add_person, PersonList};
use mifa::metadata::{Manifest, MaskKind, Person};
use mifa::publish::preview::{self, PreviewOptions};
use mifa::publish::report::{write_report, ReportOptions, MARKER};
use mifa::{images, tracks, vectors, versions, Package};
use std::fs;
use std::path::{Path, PathBuf};

fn person(name: &str, orcid: &str, role: &str) -> Person {
    serde_json::from_value(serde_json::json!({"name": name, "orcid": orcid, "roles": [role]}))
        .unwrap()
}

/// Points of class `mitosis` (with a class colour) and one without a class.
fn points_geojson(path: &Path) {
    let feature = |x: f64, y: f64, class: Option<&str>| {
        let props = match class {
            Some(c) => serde_json::json!({"classification": {"name": c, "color": [255, 0, 255]}}),
            None => serde_json::json!({}),
        };
        serde_json::json!({"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [x, y]}})
    };
    let doc = serde_json::json!({"type": "FeatureCollection", "features": [
        feature(100.0, 100.0, Some("mitosis")),
        feature(200.0, 150.0, Some("mitosis")),
        feature(300.0, 300.0, None),
    ]});
    fs::write(path, doc.to_string()).unwrap();
}

/// The demo image `nuclei` with its instance mask `nuclei`, the traced outlines
/// `nuclei-outlines`, points `events`, an annotator with an ORCID, released as 1.0.0.
fn package(tmp: &Path, title: &str) -> PathBuf {
    let dir = tmp.join("pkg");
    let mut pkg = Package::create(&dir, Manifest::new(title, "CC0-1.0")).unwrap();
    let data = repo("examples/data/dsb2018");
    let opts = images::AddOptions {
        id: Some("nuclei".into()),
        ..Default::default()
    };
    images::add_images(&mut pkg, &[data.join("img2d.tif")], &opts, &quiet).unwrap();
    images::add_mask(
        &mut pkg,
        "nuclei",
        &data.join("mask2d.tif"),
        "nuclei",
        MaskKind::Instance,
        &Default::default(),
        &quiet,
    )
    .unwrap();
    vectors::mask_to_polygons(&mut pkg, "nuclei", "nuclei-outlines", None, false).unwrap();
    points_geojson(&tmp.join("events.geojson"));
    let io = vectors::ImportOptions {
        set: "events".into(),
        ..Default::default()
    };
    vectors::import_geojson(&mut pkg, &tmp.join("events.geojson"), "nuclei", &io).unwrap();
    add_person(
        &mut pkg,
        &PersonList::Set("nuclei".into()),
        person("Ada Lovelace", "0000-0002-1825-0097", "annotator"),
    )
    .unwrap();
    let req = versions::ReleaseRequest {
        version: "1.0.0".into(),
        changes: "First release <b>with</b> masks".into(),
        allow_invalid: true,
        ..Default::default()
    };
    versions::release(&pkg, &req).unwrap();
    dir
}

/// Every `src="…"` and `href="…"` that is not an anchor or an absolute URL.
fn local_refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            let v = &rest[..end];
            if !v.starts_with('#') && !v.starts_with("https://") && !v.starts_with("http://") {
                out.push(v.to_string());
            }
        }
    }
    out
}

fn rgba(path: &Path) -> image::RgbaImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgba8()
}

/// Files left next to the site by a build (temporary or set-aside folders).
fn leftovers(parent: &Path) -> Vec<String> {
    fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect()
}

#[test]
fn site_has_every_file_it_references_and_visible_overlays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path(), "Nuclei for the report test");
    let pkg = Package::open(&dir).unwrap();
    let out = tmp.path().join("site");
    let opts = ReportOptions {
        thumb_size: 300,
        ..Default::default()
    };
    let s = write_report(&pkg, &out, &opts).unwrap();
    assert_eq!((s.images, s.shown), (1, 1));
    // The mask, the outlines and the points, each on its own layer.
    assert_eq!(s.layers, 3, "{:?}", s.files);
    for f in &s.files {
        assert!(f.is_file(), "{} listed but missing", f.display());
    }
    let on_disk: Vec<PathBuf> = walk(&out);
    let mut listed = s.files.clone();
    listed.sort();
    assert_eq!(on_disk, listed);

    let html = fs::read_to_string(out.join("index.html")).unwrap();
    let refs = local_refs(&html);
    assert_eq!(refs.iter().filter(|r| r.starts_with("img/")).count(), 4);
    for r in &refs {
        assert!(out.join(r).is_file(), "index.html references missing {r}");
    }
    for needle in [
        "https://orcid.org/0000-0002-1825-0097",
        "Ada Lovelace",
        "1.0.0",
        "First release &lt;b&gt;with&lt;/b&gt; masks",
        "Thumbnails of 1 of 1 image(s)",
        "mitosis",
        "#ff00ff",
        "1/1 images",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }

    // The base picture is the preview's picture; each overlay draws something.
    let p = preview::render(
        &pkg,
        "nuclei",
        &PreviewOptions {
            max_size: 300,
            ..Default::default()
        },
    )
    .unwrap();
    let base = rgba(&out.join("img/nuclei.png"));
    assert_eq!(base.dimensions(), (p.width, p.height));
    assert_eq!(base.dimensions(), (300, 300));
    let mut kinds = Vec::new();
    for f in s.files.iter().filter(|f| {
        let n = f.file_name().unwrap().to_string_lossy();
        n.starts_with("nuclei.") && n != "nuclei.png"
    }) {
        let img = rgba(f);
        assert_eq!(img.dimensions(), (p.width, p.height), "{}", f.display());
        let painted = img.pixels().filter(|px| px[3] > 0).count();
        let clear = img.pixels().filter(|px| px[3] == 0).count();
        assert!(painted > 0, "{} draws nothing", f.display());
        assert!(clear > 0, "{} covers the whole image", f.display());
        kinds.push(f.file_name().unwrap().to_string_lossy().into_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "nuclei.events.points.png",
            "nuclei.nuclei-outlines.shapes.png",
            "nuclei.nuclei.mask.png"
        ]
    );

    let marker: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join(MARKER)).unwrap()).unwrap();
    assert_eq!(marker["format"], "mifa-report");
    assert_eq!(marker["package"]["version"], "1.0.0");
    assert_eq!(marker["package"]["title"], "Nuclei for the report test");
    assert!(leftovers(tmp.path()).is_empty());
    // The package is read, never written: it still verifies against its release.
    assert!(versions::verify(&dir, None).unwrap().ok());
}

#[test]
fn manifest_text_is_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let title = "Nuclei <script>alert(\"x\")</script> & 'friends'";
    let dir = package(tmp.path(), title);
    let pkg = Package::open(&dir).unwrap();
    let out = tmp.path().join("site");
    write_report(&pkg, &out, &ReportOptions::default()).unwrap();
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!html.contains("<script>alert"), "title not escaped");
    assert!(html.contains(
        "Nuclei &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;friends&#39;"
    ));
    // Only the page's own two scripts.
    assert_eq!(html.matches("<script>").count(), 2);
}

#[test]
fn rerun_replaces_an_earlier_report_and_other_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = package(tmp.path(), "Nuclei for the replacement test");
    let pkg = Package::open(&dir).unwrap();
    let out = tmp.path().join("site");
    write_report(&pkg, &out, &ReportOptions::default()).unwrap();
    fs::write(out.join("stale.txt"), "from an earlier run").unwrap();
    let s = write_report(
        &pkg,
        &out,
        &ReportOptions {
            max_images: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.shown, 0);
    assert!(
        !out.join("stale.txt").exists(),
        "the earlier report was not replaced"
    );
    assert!(!out.join("img").exists());
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Thumbnails of 0 of 1 image(s)"));
    assert!(leftovers(tmp.path()).is_empty());

    // A folder that is not a report: refused, untouched, nothing left beside it.
    let other = tmp.path().join("mine");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("notes.txt"), "keep me").unwrap();
    let e = write_report(&pkg, &other, &ReportOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&other.display().to_string()) && msg.contains("not a mifa report"),
        "{msg}"
    );
    assert_eq!(walk(&other), vec![other.join("notes.txt")]);
    assert_eq!(
        fs::read_to_string(other.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert!(leftovers(tmp.path()).is_empty());

    // A file, a folder inside the package, a zero size: refused.
    let file = tmp.path().join("file.html");
    fs::write(&file, "x").unwrap();
    assert!(write_report(&pkg, &file, &ReportOptions::default())
        .unwrap_err()
        .to_string()
        .contains("not a folder"));
    assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    let inside = dir.join("site");
    assert!(write_report(&pkg, &inside, &ReportOptions::default())
        .unwrap_err()
        .to_string()
        .contains("inside the package"));
    assert!(!inside.exists());
    let zero = ReportOptions {
        thumb_size: 0,
        ..Default::default()
    };
    assert!(write_report(&pkg, &tmp.path().join("z"), &zero).is_err());
    assert!(!tmp.path().join("z").exists());
    // An empty folder (made for the purpose) is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    write_report(&pkg, &empty, &ReportOptions::default()).unwrap();
    assert!(empty.join("index.html").is_file());
}

#[test]
fn many_images_are_sampled_evenly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    let mut pkg =
        Package::create(&dir, Manifest::new("Five copies of one image", "CC0-1.0")).unwrap();
    let img = repo("examples/data/dsb2018/img2d.tif");
    for id in ["a", "b", "c", "d", "e"] {
        let opts = images::AddOptions {
            id: Some(id.into()),
            ..Default::default()
        };
        images::add_images(&mut pkg, std::slice::from_ref(&img), &opts, &quiet).unwrap();
    }
    let out = tmp.path().join("site");
    let opts = ReportOptions {
        max_images: 2,
        thumb_size: 64,
    };
    let s = write_report(&pkg, &out, &opts).unwrap();
    assert_eq!((s.images, s.shown, s.layers), (5, 2, 0));
    let mut pngs: Vec<String> = fs::read_dir(out.join("img"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pngs.sort();
    // The middles of the runs a–b–(c) and (c)–d–e.
    assert_eq!(pngs, ["b.png", "d.png"]);
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Thumbnails of 2 of 5 image(s)"));
    // Every image is listed; the shown ones link to their thumbnail.
    for id in ["a", "b", "c", "d", "e"] {
        assert!(html.contains(&format!(">{id}</")), "image {id} not listed");
    }
    assert!(html.contains("href=\"#image-0\">b</a>") && html.contains("href=\"#image-1\">d</a>"));
}

#[test]
fn an_image_that_cannot_be_drawn_is_named_and_the_rest_still_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    let mut pkg =
        Package::create(&dir, Manifest::new("Two copies, one damaged", "CC0-1.0")).unwrap();
    let img = repo("examples/data/dsb2018/img2d.tif");
    for id in ["good", "bad"] {
        let opts = images::AddOptions {
            id: Some(id.into()),
            ..Default::default()
        };
        images::add_images(&mut pkg, std::slice::from_ref(&img), &opts, &quiet).unwrap();
    }
    // Garbage in every chunk file of the damaged image's levels.
    for f in walk(&dir.join("images/bad.ome.zarr")) {
        if !f.ends_with("zarr.json") {
            fs::write(&f, b"not zstd at all").unwrap();
        }
    }
    let out = tmp.path().join("site");
    let s = write_report(&pkg, &out, &ReportOptions::default()).unwrap();
    assert_eq!((s.images, s.shown), (2, 1));
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("Image <strong>bad</strong> could not be drawn:"),
        "{html}"
    );
    assert!(html.contains("Thumbnails of 1 of 2 image(s)"));
}

#[test]
fn tracks_only_package_gets_a_page_without_thumbnails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    let mut pkg =
        Package::create(&dir, Manifest::new("Tracked spots without images", "MIT")).unwrap();
    tracks::import_tracks(
        &mut pkg,
        tracks::Source::Trackmate,
        &repo("examples/data/tracks/FakeTracks.xml"),
        "trackmate",
        &Default::default(),
    )
    .unwrap();
    let out = tmp.path().join("site");
    let s = write_report(&pkg, &out, &ReportOptions::default()).unwrap();
    assert_eq!((s.images, s.shown, s.layers), (0, 0, 0));
    assert!(!out.join("img").exists());
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("The package holds no images."));
    assert!(html.contains("Tracks set <code>trackmate</code>"));
    assert!(html.contains("Not released yet"));
    assert!(local_refs(&html).is_empty());
}

#[test]
fn semantic_masks_are_counted_by_class() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    let mut pkg = Package::create(&dir, Manifest::new("Semantic classes", "CC0-1.0")).unwrap();
    let opts = images::AddOptions {
        id: Some("nuclei".into()),
        ..Default::default()
    };
    let img = repo("examples/data/dsb2018/img2d.tif");
    images::add_images(&mut pkg, &[img], &opts, &quiet).unwrap();
    pkg.update(|m| {
        m.class_or_insert("nucleus", Some([0, 200, 0]));
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    // Value 1 (nucleus) on the left half, value 7 (no class) in a corner block.
    let mask: Vec<u16> = (0..512 * 512)
        .map(|i| match (i / 512, i % 512) {
            (y, x) if y < 64 && x >= 448 => 7,
            (_, x) if x < 256 => 1,
            _ => 0,
        })
        .collect();
    let path = tmp.path().join("semantic.tif");
    let f = fs::File::create(&path).unwrap();
    tiff::encoder::TiffEncoder::new(f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(512, 512, &mask)
        .unwrap();
    images::add_mask(
        &mut pkg,
        "nuclei",
        &path,
        "tissue",
        MaskKind::Semantic,
        &Default::default(),
        &quiet,
    )
    .unwrap();
    let out = tmp.path().join("site");
    let s = write_report(&pkg, &out, &ReportOptions::default()).unwrap();
    assert_eq!(s.layers, 1);
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    // The nucleus row: its colour, no vector objects, one semantic mask, set tissue.
    assert!(
        html.contains("<tr><td>nucleus</td><td><span class=\"sw\" style=\"background:#00c800\"></span> <code>#00c800</code></td><td class=\"n\">0</td><td class=\"n\">1</td><td>tissue</td></tr>"),
        "{html}"
    );
    assert!(html.contains("Semantic-mask values without a class: 7 (in 1)."));
    let layer = rgba(&out.join("img/nuclei.tissue.mask.png"));
    // The left half is covered, the right half outside the corner block is clear.
    assert_eq!(layer.dimensions(), (512, 512));
    assert!(layer.get_pixel(100, 300)[3] > 0);
    assert_eq!(layer.get_pixel(400, 300)[3], 0);
    assert!(layer.get_pixel(500, 10)[3] > 0);
}
