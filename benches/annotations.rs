//! COCO RLE hot paths on LIVECell-sized data (704×520 images, cell outlines of ~30 vertices):
//! polygon → RLE as pycocotools' `frPyObjects`, RLE → mask, mask → RLE, RLE ↔ string; tracks readers;
//! polygon validity of one 10⁶-vertex ring (`-- RING`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mifa::annotations::contour::Polygon;
use mifa::annotations::shapes::polygon_problems;
use mifa::annotations::Rle;
use std::hint::black_box;

const H: u32 = 520;
const W: u32 = 704;

/// A wobbly cell outline of `k` vertices around (cx, cy).
fn cell(cx: f64, cy: f64, r: f64, k: usize) -> Vec<f64> {
    (0..k)
        .flat_map(|i| {
            let a = i as f64 / k as f64 * std::f64::consts::TAU;
            let rr = r * (1.0 + 0.2 * (3.0 * a).sin());
            [cx + rr * a.cos(), cy + rr * a.sin()]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let polys: Vec<Vec<f64>> = (0..100)
        .map(|i| {
            cell(
                40.0 + (i % 10) as f64 * 62.0,
                40.0 + (i / 10) as f64 * 48.0,
                15.0,
                30,
            )
        })
        .collect();
    let rles: Vec<Rle> = polys
        .iter()
        .map(|p| Rle::from_polygon(p, H, W).unwrap())
        .collect();
    let masks: Vec<Vec<u8>> = rles.iter().map(Rle::to_mask).collect();
    let strings: Vec<String> = rles.iter().map(Rle::to_compressed).collect();
    let mut g = c.benchmark_group("coco_rle_704x520");
    g.throughput(Throughput::Elements(polys.len() as u64));
    // One benchmark: `$f` on each of `$items`.
    macro_rules! each {
        ($name:literal, $items:expr, $f:expr) => {
            g.bench_function($name, |b| {
                b.iter(|| {
                    for x in $items {
                        black_box(($f)(black_box(x)));
                    }
                })
            });
        };
    }
    each!("polygon_to_rle", &polys, |p: &Vec<f64>| {
        Rle::from_polygon(p, H, W).unwrap()
    });
    each!("rle_to_mask", &rles, |r: &Rle| r.to_mask());
    each!("mask_to_rle", &masks, |m: &Vec<u8>| Rle::from_mask(m, H, W));
    each!("rle_to_string", &rles, |r: &Rle| r.to_compressed());
    each!("string_to_rle", &strings, |s: &String| {
        Rle::from_compressed(s, H, W).unwrap()
    });
    g.finish();

    // Lossless mask <-> polygons on the DSB2018 instance mask (512x512, 125 nuclei).
    use mifa::annotations::contour::{rasterise, trace};
    use mifa::formats::{tiff::TiffSource, Limits, PlaneSource};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/dsb2018/mask2d.tif");
    let mut src = TiffSource::open(&path, &Limits::default()).unwrap();
    let mifa::raster::PixelData::U16(mask) = src.read_plane(0).unwrap().data else {
        panic!("uint16 mask")
    };
    let traced = trace(&mask, 512, 512);
    let mut g = c.benchmark_group("contour_dsb_512x512_125_objects");
    g.throughput(Throughput::Elements(125));
    g.bench_function("trace", |b| {
        b.iter(|| black_box(trace(black_box(&mask), 512, 512)))
    });
    g.bench_function("rasterise", |b| {
        b.iter(|| {
            let mut out = vec![0u16; 512 * 512];
            for (v, polys) in &traced {
                for p in polys {
                    rasterise(p, *v, &mut out, 512, 512);
                }
            }
            black_box(out)
        })
    });
    g.finish();

    // Streaming COCO load and GeoJSON read/write, on files written here: 20,000 cell outlines
    // of 30 vertices (2-decimal coordinates, as LIVECell has them) over 320 images.
    let tmp = tempfile::tempdir().unwrap();
    let coco_path = tmp.path().join("cells.json");
    {
        use std::fmt::Write;
        let mut text = String::from("{\"images\": [");
        for i in 0..320 {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                text,
                "{sep}{{\"id\": {i}, \"file_name\": \"{i}.tif\", \"width\": 704, \"height\": 520}}"
            )
            .unwrap();
        }
        text.push_str("], \"categories\": [{\"id\": 1, \"name\": \"cell\"}], \"annotations\": [");
        for i in 0..20_000usize {
            let p = cell(
                40.0 + (i % 10) as f64 * 62.0,
                40.0 + (i / 10 % 10) as f64 * 44.0,
                15.0,
                30,
            );
            let coords: Vec<String> = p.iter().map(|v| format!("{v:.2}")).collect();
            let sep = if i == 0 { "" } else { ",\n" };
            write!(text, "{sep}{{\"id\": {}, \"image_id\": {}, \"category_id\": 1, \"segmentation\": [[{}]], \"area\": 700.0, \"bbox\": [25.0, 25.0, 30.0, 30.0], \"iscrowd\": 0}}", i + 1, i % 320, coords.join(", ")).unwrap();
        }
        text.push_str("]}");
        std::fs::write(&coco_path, text).unwrap();
    }
    let bytes = std::fs::metadata(&coco_path).unwrap().len();
    let mut g = c.benchmark_group("coco_load_20k_polygons");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(20);
    g.bench_function("dataset_load", |b| {
        b.iter(|| black_box(mifa::formats::coco::Dataset::load(&coco_path).unwrap()))
    });
    g.bench_function("read_header_skipping_annotations", |b| {
        b.iter(|| black_box(mifa::formats::coco::read_header(&coco_path).unwrap()))
    });
    g.finish();

    let objects = mifa::annotations::shapes::objects_from_labels(
        &mask.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(),
        512,
        512,
    );
    let collection = mifa::annotations::Collection {
        objects: objects.into_iter().map(|(_, o)| o).collect(),
        ..Default::default()
    };
    let gj = tmp.path().join("dsb.geojson");
    let mut g = c.benchmark_group("geojson_dsb_125_objects");
    g.throughput(Throughput::Elements(125));
    g.bench_function("write", |b| {
        b.iter(|| mifa::formats::geojson::write(&gj, black_box(&collection)).unwrap())
    });
    g.bench_function("read", |b| {
        b.iter(|| {
            black_box(
                mifa::formats::geojson::read(&gj, mifa::formats::geojson::ReadOptions::default())
                    .unwrap(),
            )
        })
    });
    g.finish();
}

/// Tracks: the CTC bacteria ground truth read (53 mask frames decoded, centroids, links), and
/// the graph written as the package's biotracks store.
fn tracks(c: &mut Criterion) {
    use mifa::formats::{biotracks, ctc};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tracks/ctc/bacteria_TRA");
    let mut g = c.benchmark_group("tracks");
    g.sample_size(10);
    g.bench_function("ctc_read_bacteria_53_frames", |b| {
        b.iter(|| ctc::read(&dir).unwrap().graph.nodes.len())
    });
    let set = mifa::annotations::tracks::TrackSet::from_graph(ctc::read(&dir).unwrap().graph);
    let tmp = tempfile::tempdir().unwrap();
    let opts = biotracks::WriteOptions {
        name: "bench".into(),
        edges_table: true,
        ..Default::default()
    };
    g.bench_function("biotracks_write_3519_objects", |b| {
        b.iter(|| biotracks::write(tmp.path(), &set, &opts).unwrap())
    });
    g.finish();
}

/// A star of `n` vertices on alternating radii: long spikes, so that a sweep line crosses
/// many segments at once.
fn star(n: usize) -> Polygon {
    let exterior = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = if i % 2 == 0 { 1000.0 } else { 500.0 };
            [2000.0 + r * a.cos(), 2000.0 + r * a.sin()]
        })
        .collect();
    Polygon {
        exterior,
        holes: vec![],
    }
}

/// A comb: `n` zigzag teeth over a flat base.
fn zigzag(n: usize) -> Polygon {
    let mut exterior: Vec<[f64; 2]> = (0..=n).map(|i| [i as f64, (i % 2) as f64]).collect();
    exterior.extend([[n as f64, -10.0], [0.0, -10.0]]);
    Polygon {
        exterior,
        holes: vec![],
    }
}

/// Validity of one ring of 10⁶ vertices (issue 14: at most 1.5 s).
fn rings(c: &mut Criterion) {
    let mut g = c.benchmark_group("RING_validity_1e6_vertices");
    g.sample_size(10);
    for (name, p) in [("star", star(1_000_000)), ("zigzag", zigzag(1_000_000))] {
        assert!(polygon_problems(&p).is_empty(), "{name} is valid");
        g.bench_function(name, |b| {
            b.iter(|| black_box(polygon_problems(black_box(&p))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, tracks, rings);
criterion_main!(benches);
