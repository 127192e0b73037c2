//! Publication hot paths: zipping an OME-Zarr (256 chunk files of 256 KiB, 64 MiB) into a STORED
//! ZIP64 archive, listing it back, and writing + reading a PageTab document of 2,000 sections.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mifa::formats::pagetab::{Attribute, Section, Submission};
use mifa::formats::zip;
use std::hint::black_box;

fn zarr_folder(dir: &std::path::Path) {
    std::fs::write(
        dir.join("zarr.json"),
        br#"{"zarr_format":3,"node_type":"group"}"#,
    )
    .unwrap();
    for i in 0..256u32 {
        let d = dir.join(format!("0/c/{}", i / 16));
        std::fs::create_dir_all(&d).unwrap();
        let bytes: Vec<u8> = (0..256 * 1024u32)
            .map(|k| (k.wrapping_mul(2654435761) ^ i) as u8)
            .collect();
        std::fs::write(d.join((i % 16).to_string()), bytes).unwrap();
    }
}

fn submission(n: usize) -> Submission {
    let mut study = Section::new("Study", None);
    study.attr("Title", "A benchmark study with many sections");
    for i in 0..n {
        let mut s = Section::new("Biosample", Some(format!("b-{i}")));
        s.attr("Title", format!("Biosample number {i}"));
        s.attr("Organism", "Homo sapiens (human)");
        s.attr(
            "Description",
            "Cells of a line grown in a dish,\nfixed and stained.",
        );
        study.subsections.push(s);
    }
    Submission {
        accno: String::new(),
        attributes: vec![Attribute::new("ReleaseDate", "2027-01-01")],
        section: study,
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("img.ome.zarr");
    std::fs::create_dir_all(&root).unwrap();
    zarr_folder(&root);
    let entries = zip::zarr_entries(&root, &[]).unwrap();
    let out = tmp.path().join("img.ome.zarr.zip");
    let mut g = c.benchmark_group("publish");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(256 * 256 * 1024));
    g.bench_function("zip_write_64MiB_256_files", |b| {
        b.iter(|| zip::write(&out, black_box(&entries), r#"{"ome":{"version":"0.5"}}"#).unwrap())
    });
    g.throughput(Throughput::Elements(257));
    g.bench_function("zip_list_257_entries", |b| {
        b.iter(|| zip::list(black_box(&out)).unwrap())
    });
    let sub = submission(2000);
    g.throughput(Throughput::Elements(2000));
    g.bench_function("pagetab_tsv_write_read_2000_sections", |b| {
        b.iter(|| {
            let t = black_box(&sub).to_tsv();
            Submission::from_tsv(std::path::Path::new("b.tsv"), &t).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
