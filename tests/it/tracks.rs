//! Tracks: every fixture read with the counts reference tools report; a CTC folder imported
//! with its masks and exported back unchanged; bad input refused with file, line and ids,
//! leaving the package untouched; `mifa validate` catching broken stores.

use crate::common::{copy_dir, init, mifa, repo};
use mifa::annotations::tracks::{Edge, Node, Stats, TrackGraph, TrackSet};
use mifa::formats::{biotracks, ctc, geff, tiff::TiffSource, trackmate, Limits, PlaneSource};
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    repo("tests/fixtures/tracks").join(rel)
}

fn counts(s: Stats) -> (usize, usize, usize) {
    (s.nodes, s.edges, s.divisions)
}

#[test]
fn every_fixture_gives_the_reference_counts() {
    // (objects, links, divisions), as recomputed from the files by the reference tools
    // (tests/fixtures/tracks/README.md).
    for (dir, want) in [
        ("biotracks/TrackMate_example_1", (243, 229, 3)),
        ("biotracks/CellProfiler_example_1", (228, 217, 3)),
        ("biotracks/Mosaic_example_1", (181, 175, 0)),
        ("biotracks/biotracks_dp", (4, 2, 0)),
    ] {
        let r = biotracks::read(&fixture(dir)).unwrap();
        assert!(r.set.graph.check().is_empty(), "{dir}");
        assert_eq!(counts(r.set.graph.stats()), want, "{dir}");
    }
    for (dir, want, tracks) in [
        ("ctc/bacteria_TRA", (3519, 3517, 356), 714),
        ("ctc/ctc_tiny/01_RES", (4, 3, 1), 3),
    ] {
        let f = ctc::read(&fixture(dir)).unwrap();
        assert_eq!(counts(f.graph.stats()), want, "{dir}");
        assert_eq!(f.tracks.len(), tracks, "{dir}");
        // One tracklet per CTC track here (no gaps).
        assert_eq!(f.graph.stats().tracklets, tracks, "{dir}");
    }
    for (file, want, tracks) in [
        ("trackmate/geff_tests.xml", (107, 89, 2), 7),
        ("trackmate/rharkes.xml", (84, 82, 2), 2),
        ("trackmate/hadim.xml", (68, 10, 0), 2),
        ("trackmate/biotracks_ex1.xml", (243, 230, 3), 4),
        ("trackmate/tiny_trackmate.xml", (3, 2, 0), 1),
    ] {
        let r = trackmate::read(&fixture(file)).unwrap();
        assert!(r.set.graph.check().is_empty(), "{file}");
        assert_eq!(counts(r.set.graph.stats()), want, "{file}");
        assert_eq!(r.tracks.len(), tracks, "{file}");
    }
    // TrackMate 8 spot ROIs: 107 polygons, 3422 vertices in all.
    let r = trackmate::read(&fixture("trackmate/geff_tests.xml")).unwrap();
    let vertices: usize = r
        .set
        .graph
        .nodes
        .iter()
        .filter_map(|n| n.props.get("ROI").and_then(|v| v.as_array()).map(Vec::len))
        .sum();
    assert_eq!(vertices, 3422);
    for (dir, want) in [
        ("geff/tiny.geff", (4, 3, 1)),
        ("geff/fake_from_tm.geff", (107, 89, 2)),
    ] {
        let r = geff::read(&fixture(dir), &Default::default()).unwrap();
        assert_eq!(counts(r.set.graph.stats()), want, "{dir}");
    }
    // geff strings (numpy <U…) and varlength polygons come through.
    let r = geff::read(&fixture("geff/fake_from_tm.geff"), &Default::default()).unwrap();
    let n = &r.set.graph.nodes[0];
    assert!(
        n.props.get("name").is_some_and(|v| v.is_string()),
        "{:?}",
        n.props
    );
}

#[test]
fn trackmate_positions_become_pixels_and_features_stay() {
    let r = trackmate::read(&fixture("trackmate/tiny_trackmate.xml")).unwrap();
    let n = &r.set.graph.nodes[0];
    let px = n.props["POSITION_X"].as_f64().unwrap();
    assert!((n.x * r.pixel_size[0] - px).abs() < 1e-9);
    // Edges run forward in time and carry their track.
    let at: std::collections::HashMap<u64, i64> =
        r.set.graph.nodes.iter().map(|n| (n.id, n.t)).collect();
    for (e, m) in r.set.graph.edges.iter().zip(&r.set.edge_props) {
        assert!(at[&e.source] < at[&e.target]);
        assert!(m.contains_key("TRACK_ID"));
    }
}

#[test]
fn biotracks_write_read_is_lossless() {
    let r = biotracks::read(&fixture("biotracks/TrackMate_example_1")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let opts = biotracks::WriteOptions {
        name: "x".into(),
        edges_table: true,
        ..Default::default()
    };
    biotracks::write(tmp.path(), &r.set, &opts).unwrap();
    let back = biotracks::read(tmp.path()).unwrap();
    assert_eq!(back.set.graph.nodes, r.set.graph.nodes);
    let mut a = back.set.graph.edges.clone();
    let mut b = r.set.graph.edges.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(back.set.links, r.set.links);
    assert_eq!(back.set.tracks, r.set.tracks);
    // Features per link survive through the edges table (TrackMate edge features).
    let tm = trackmate::read(&fixture("trackmate/rharkes.xml")).unwrap();
    let dir = tmp.path().join("tm");
    biotracks::write(&dir, &tm.set, &opts).unwrap();
    let back = biotracks::read(&dir).unwrap();
    assert_eq!(back.set.graph.edges, tm.set.graph.edges);
    assert_eq!(back.set.edge_props, tm.set.edge_props);
    assert_eq!(back.set.graph.nodes, tm.set.graph.nodes);
}

#[test]
fn geff_write_read_is_lossless_for_graph_and_features() {
    let tm = trackmate::read(&fixture("trackmate/geff_tests.xml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g.geff");
    let left = geff::write(&out, &tm.set, &Default::default()).unwrap();
    assert!(left.is_empty(), "{left:?}");
    let back = geff::read(&out, &Default::default()).unwrap();
    assert_eq!(back.set.graph.edges, tm.set.graph.edges);
    for (a, b) in back.set.graph.nodes.iter().zip(&tm.set.graph.nodes) {
        assert_eq!((a.id, a.t, a.x, a.y), (b.id, b.t, b.x, b.y));
        for (k, v) in &b.props {
            assert_eq!(a.props.get(k), Some(v), "node {} feature {k}", b.id);
        }
    }
}

/// A package holding a `t, y, x` image shaped like the CTC folder's masks.
fn package_with_movie(tmp: &Path, masks: &Path, frames: usize) -> PathBuf {
    let f = ctc::read(masks).unwrap();
    let (h, w) = f.size;
    let img = tmp.join("movie.tif");
    {
        let file = fs::File::create(&img).unwrap();
        let mut enc = tiff::encoder::TiffEncoder::new(file).unwrap();
        for t in 0..frames {
            let data: Vec<u16> = (0..h * w).map(|i| ((i + t) % 251) as u16).collect();
            enc.write_image::<tiff::encoder::colortype::Gray16>(w as u32, h as u32, &data)
                .unwrap();
        }
    }
    let pkg = tmp.join("pkg");
    init(&pkg, "Tracked cells", "CC0-1.0");
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(&img)
        .args(["--axes", "tyx", "--id", "movie"])
        .assert()
        .success();
    pkg
}

/// Imports a CTC folder as set `gt` of image `movie`, masks as its label.
fn import_ctc(pkg: &Path, src: &Path) -> assert_cmd::assert::Assert {
    mifa()
        .arg("import")
        .arg(pkg)
        .args(["tracks", "--from", "ctc"])
        .arg(src)
        .args(["--set", "gt", "--image", "movie"])
        .assert()
        .success()
}

fn mask_values(p: &Path) -> Vec<u64> {
    let mut src = TiffSource::open(p, &Limits::default()).unwrap();
    let plane = src.read_plane(0).unwrap();
    match plane.data {
        mifa::raster::PixelData::U16(d) => d.into_iter().map(u64::from).collect(),
        mifa::raster::PixelData::U32(d) => d.into_iter().map(u64::from).collect(),
        other => panic!("{:?}", other.dtype()),
    }
}

#[test]
fn ctc_folder_round_trips_through_a_package() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("ctc/ctc_tiny/01_RES");
    let pkg = package_with_movie(tmp.path(), &src, 3);
    import_ctc(&pkg, &src)
        .stdout(predicate::str::contains("4 objects, 3 links"))
        .stdout(predicate::str::contains(
            "wrote label images/movie.ome.zarr/labels/gt",
        ));
    mifa().arg("validate").arg(&pkg).assert().success();
    let out = tmp.path().join("ctc_out");
    mifa()
        .arg("export")
        .arg(&pkg)
        .arg("ctc")
        .arg(&out)
        .args(["--set", "gt"])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(out.join("res_track.txt")).unwrap(),
        fs::read_to_string(src.join("res_track.txt")).unwrap()
    );
    for t in 0..3 {
        assert_eq!(
            mask_values(&out.join(format!("mask{t:03}.tif"))),
            mask_values(&src.join(format!("mask{t:03}.tif"))),
            "frame {t}"
        );
    }
    // geff and biotracks exports carry the same graph.
    let g = tmp.path().join("gt.geff");
    mifa()
        .arg("export")
        .arg(&pkg)
        .arg("geff")
        .arg(&g)
        .args(["--set", "gt"])
        .assert()
        .success();
    let back = geff::read(&g, &Default::default()).unwrap();
    assert_eq!(counts(back.set.graph.stats()), (4, 3, 1));
    assert!(back.set.graph.nodes.iter().all(|n| n.label.is_some()));
    // Exporting over an existing folder is refused.
    mifa()
        .arg("export")
        .arg(&pkg)
        .arg("ctc")
        .arg(&out)
        .args(["--set", "gt"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn validate_catches_broken_tracks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("ctc/ctc_tiny/01_RES");
    let pkg = package_with_movie(tmp.path(), &src, 3);
    import_ctc(&pkg, &src);
    let objects = pkg.join("annotations/gt/tracks/objects.csv");
    let good = fs::read_to_string(&objects).unwrap();
    // A label value that is not in its frame's mask.
    let bad: String = good.replacen(",1\n", ",99\n", 1);
    assert_ne!(bad, good);
    fs::write(&objects, &bad).unwrap();
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "label value 99, which is not in frame",
        ));
    // A link from a later frame to an earlier one.
    fs::write(&objects, &good).unwrap();
    let edges = pkg.join("annotations/gt/tracks/edges.csv");
    let text = fs::read_to_string(&edges).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let parts: Vec<&str> = lines[1].split(',').collect();
    lines[1] = format!("{},{}", parts[1], parts[0]);
    fs::write(&edges, lines.join("\n") + "\n").unwrap();
    mifa()
        .arg("validate")
        .arg(&pkg)
        .assert()
        .failure()
        .stdout(predicate::str::contains("a parent must precede its child"));
}

/// Runs a failing import and checks that the package did not change.
fn refused(pkg: &Path, args: &[&str], path: &Path, message: &str) {
    let before = fs::read(pkg.join("mifa.json")).unwrap();
    mifa()
        .arg("import")
        .arg(pkg)
        .args(["tracks"])
        .arg(path)
        .args(args)
        .assert()
        .failure()
        .stderr(predicate::str::contains(message));
    assert_eq!(
        fs::read(pkg.join("mifa.json")).unwrap(),
        before,
        "{message}"
    );
    let leftovers: Vec<_> = fs::read_dir(pkg.join("annotations"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{message}: {leftovers:?}");
}

#[test]
fn bad_input_is_refused_with_file_line_and_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    init(&pkg, "Tracked cells", "CC0-1.0");
    // CTC: a line with three columns; a mask file missing.
    let ctc_dir = tmp.path().join("ctc");
    copy_dir(&fixture("ctc/ctc_tiny/01_RES"), &ctc_dir);
    fs::write(ctc_dir.join("res_track.txt"), "1 0 1 0\n2 2 2\n3 2 2 1\n").unwrap();
    refused(
        &pkg,
        &["--from", "ctc", "--set", "t"],
        &ctc_dir,
        "res_track.txt:2: 3 columns",
    );
    fs::write(ctc_dir.join("res_track.txt"), "1 0 1 0\n2 2 2 1\n3 2 2 1\n").unwrap();
    fs::remove_file(ctc_dir.join("mask001.tif")).unwrap();
    refused(
        &pkg,
        &["--from", "ctc", "--set", "t"],
        &ctc_dir,
        "frame 1 has tracks but no mask file",
    );
    // CTC: a parent that does not end before its child begins.
    copy_dir(&fixture("ctc/ctc_tiny/01_RES"), &ctc_dir);
    fs::write(ctc_dir.join("res_track.txt"), "1 0 2 0\n2 2 2 1\n3 2 2 1\n").unwrap();
    refused(
        &pkg,
        &["--from", "ctc", "--set", "t"],
        &ctc_dir,
        "track 2 begins at frame 2 but its parent 1 ends at frame 2",
    );
    // TrackMate: an edge to a spot that does not exist.
    let xml = fs::read_to_string(fixture("trackmate/tiny_trackmate.xml")).unwrap();
    let target = xml
        .split("SPOT_TARGET_ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let bad = xml.replacen(
        &format!("SPOT_TARGET_ID=\"{target}\""),
        "SPOT_TARGET_ID=\"999999\"",
        1,
    );
    let line = bad.lines().position(|l| l.contains("999999")).unwrap() + 1;
    let tm = tmp.path().join("bad.xml");
    fs::write(&tm, bad).unwrap();
    refused(
        &pkg,
        &["--from", "trackmate", "--set", "t"],
        &tm,
        &format!(
            "bad.xml:{line}: an edge of track 0 names SPOT_TARGET_ID 999999, which is not a spot"
        ),
    );
    // biotracks: a link naming a missing object; a duplicate object id.
    let bt = tmp.path().join("bt");
    copy_dir(&fixture("biotracks/biotracks_dp"), &bt);
    let links = fs::read_to_string(bt.join("links.csv")).unwrap();
    fs::write(bt.join("links.csv"), format!("{}9,77\n", links)).unwrap();
    refused(
        &pkg,
        &["--from", "biotracks", "--set", "t"],
        &bt,
        "links.csv:6: link 9 names object 77, which is not in the objects table",
    );
    fs::write(bt.join("links.csv"), links).unwrap();
    let objects = fs::read_to_string(bt.join("objects.csv")).unwrap();
    let first_row = objects.lines().nth(1).unwrap().to_string();
    fs::write(bt.join("objects.csv"), format!("{objects}{first_row}\n")).unwrap();
    refused(
        &pkg,
        &["--from", "biotracks", "--set", "t"],
        &bt,
        "objects.csv:6: object 1 is already on line 2",
    );
    // geff (directed): a link back in time, and a cycle.
    let node = |id: u64, t: i64| Node {
        id,
        t,
        x: 1.0,
        y: 1.0,
        z: None,
        label: None,
        props: Default::default(),
    };
    for (name, edges, message) in [
        (
            "back",
            vec![(2, 1)],
            "link 2 -> 1 goes from frame 1 to frame 0",
        ),
        (
            "cycle",
            vec![(1, 2), (2, 1)],
            "a parent must precede its child",
        ),
        (
            "missing",
            vec![(1, 5)],
            "link 1 -> 5 names object 5, which does not exist",
        ),
    ] {
        let set = TrackSet::from_graph(TrackGraph {
            nodes: vec![node(1, 0), node(2, 1)],
            edges: edges
                .into_iter()
                .map(|(source, target)| Edge { source, target })
                .collect(),
        });
        let g = tmp.path().join(format!("{name}.geff"));
        geff::write(&g, &set, &Default::default()).unwrap();
        refused(&pkg, &["--from", "geff", "--set", "t"], &g, message);
    }
    // Frames outside the image: a 2-frame movie for a 3-frame CTC folder.
    let tmp2 = tempfile::tempdir().unwrap();
    let src = fixture("ctc/ctc_tiny/01_RES");
    let pkg2 = package_with_movie(tmp2.path(), &src, 2);
    refused(
        &pkg2,
        &["--from", "ctc", "--set", "t", "--image", "movie"],
        &src,
        "is at frame 2, outside the image's frames 0..1",
    );
}
