//! Validation cost of a large manifest: 5,000 images and 200 annotation sets of 25 files each,
//! with every referenced file present. Validation runs on every write, so it must stay cheap.

use criterion::{criterion_group, criterion_main, Criterion};
use mifa::metadata::{
    AnnotationFile, AnnotationSet, Axis, AxisType, DataType, ImageEntry, Manifest,
};
use std::hint::black_box;

fn big_package(dir: &std::path::Path) -> Manifest {
    let mut m = Manifest::new(
        "A large synthetic package for benchmarking validation",
        "CC0-1.0",
    );
    std::fs::create_dir_all(dir.join("images")).unwrap();
    for i in 0..5000 {
        let id = format!("img{i:05}");
        let path = format!("images/{id}.ome.zarr");
        std::fs::create_dir_all(dir.join(&path)).unwrap();
        let axis = |name: &str| Axis {
            name: name.into(),
            kind: AxisType::Space,
            unit: Some("micrometer".into()),
            scale: Some(0.65),
            extra: Default::default(),
        };
        m.images.push(ImageEntry {
            id,
            path,
            axes: vec![axis("y"), axis("x")],
            shape: vec![2048, 2048],
            dtype: DataType::Uint16,
            channel_names: vec![],
            biosample: None,
            specimen: None,
            acquisition: None,
            study_component: None,
            source: None,
            extra: Default::default(),
        });
    }
    for s in 0..200 {
        let id = format!("set{s:03}");
        std::fs::create_dir_all(dir.join("annotations").join(&id)).unwrap();
        let files = (0..25)
            .map(|f| {
                let path = format!("annotations/{id}/{f}.geojson");
                std::fs::write(dir.join(&path), "{}").unwrap();
                AnnotationFile {
                    path,
                    source_images: vec![format!("img{:05}", (s * 25 + f) % 5000)],
                    types: vec![],
                    mask_kind: None,
                    transformation: None,
                    created: None,
                    extra: Default::default(),
                }
            })
            .collect();
        m.annotation_sets.push(AnnotationSet {
            id,
            title: Some("Nuclei".into()),
            overview: None,
            types: vec![],
            authors: vec![],
            method: None,
            confidence: None,
            criteria: None,
            transformations: None,
            spatial: None,
            created: None,
            files,
            imported_from: vec![],
            extra: Default::default(),
        });
    }
    m
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let m = big_package(tmp.path());
    let text = mifa::manifest::to_text(&m);
    std::fs::write(tmp.path().join("mifa.json"), &text).unwrap();
    let mut g = c.benchmark_group("manifest_5000_images");
    g.sample_size(20);
    g.bench_function("parse_and_schema_check", |b| {
        b.iter(|| {
            mifa::manifest::from_value(
                "mifa.json".as_ref(),
                serde_json::from_str(black_box(&text)).unwrap(),
            )
            .unwrap()
        })
    });
    g.bench_function("validate_package", |b| {
        b.iter(|| mifa::validate::validate(black_box(tmp.path())).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
