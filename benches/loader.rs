//! The loader's hot path: batches of 32 random 256² uint16 patches with their masks from a
//! zstd OME-Zarr package (4 images of 2048², sharded 256² chunks), with the decoded-chunk cache
//! warm and with no cache (every patch decodes the up to 4 + 4 chunks it touches), against the
//! raw decode of aligned 256² chunks through zarrs. One worker (`workers(0)`): per-core figures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mifa::images::{add_images, AddOptions, MaskBatch};
use mifa::loader::{Batches, Loader, TaskKind};
use mifa::metadata::{Manifest, MaskKind};
use mifa::package::Package;
use std::hint::black_box;
use std::path::{Path, PathBuf};

const N: u32 = 2048;
const IMAGES: u32 = 4;

fn write_tiff(path: &Path, data: &[u16]) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(f).unwrap();
    enc.write_image::<tiff::encoder::colortype::Gray16>(N, N, data)
        .unwrap();
}

/// Blobs on a textured background with noise (compresses like fluorescence), and their mask.
fn package(dir: &Path) -> PathBuf {
    let (img, msk) = (dir.join("img"), dir.join("mask"));
    std::fs::create_dir_all(&img).unwrap();
    std::fs::create_dir_all(&msk).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..IMAGES {
        let mut d = Vec::with_capacity((N * N) as usize);
        let mut m = Vec::with_capacity((N * N) as usize);
        for y in 0..N {
            for x in 0..N {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let (dy, dx) = ((y + 7 * i) % 64, (x + 3 * i) % 64);
                let inside = (dy as i32 - 32).pow(2) + (dx as i32 - 32).pow(2) < 300;
                let blob = ((x as f64 / 37.0).sin() * (y as f64 / 41.0).cos()).max(0.0);
                d.push(
                    (400.0 + 2000.0 * blob) as u16
                        + if inside { 1500 } else { 0 }
                        + (seed % 64) as u16,
                );
                m.push(if inside {
                    ((y / 64) * 32 + x / 64 + 1) as u16
                } else {
                    0
                });
            }
        }
        write_tiff(&img.join(format!("img_{i}.tif")), &d);
        write_tiff(&msk.join(format!("img_{i}.tif")), &m);
    }
    let root = dir.join("pkg");
    let mut pkg = Package::create(
        &root,
        Manifest::new("Loader benchmark package, synthetic", "CC0-1.0"),
    )
    .unwrap();
    let inputs: Vec<PathBuf> = (0..IMAGES)
        .map(|i| img.join(format!("img_{i}.tif")))
        .collect();
    let opts = AddOptions {
        masks: Some(MaskBatch {
            dir: msk,
            name: "cells".into(),
            kind: MaskKind::Instance,
        }),
        ..Default::default()
    };
    add_images(&mut pkg, &inputs, &opts, &|_| {}).unwrap();
    root
}

struct Feed<'a> {
    loader: &'a Loader,
    it: Batches,
    epoch: u64,
}

impl Feed<'_> {
    fn next(&mut self) -> mifa::loader::Batch {
        loop {
            if let Some(b) = self.it.next() {
                return b.unwrap();
            }
            self.epoch += 1;
            self.it = self.loader.epoch(self.epoch);
        }
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let mut g = c.benchmark_group("loader");
    g.sample_size(20);
    let patch_bytes = 256 * 256 * (2 + 2); // uint16 image + uint16 mask, stored
    g.throughput(Throughput::Bytes(32 * patch_bytes));
    for (name, cache) in [
        ("batch32_random256_cache_warm", 512usize << 20),
        ("batch32_random256_no_cache", 0),
    ] {
        let loader = Loader::builder(&pkg)
            .task(TaskKind::Semantic, "cells")
            .patch(256)
            .batch_size(32)
            .workers(0)
            .cache_bytes(cache)
            .samples_per_epoch(4096)
            .build()
            .unwrap();
        let mut feed = Feed {
            loader: &loader,
            it: loader.epoch(0),
            epoch: 0,
        };
        if cache > 0 {
            // Fill the cache: every chunk of the package.
            for _ in 0..64 {
                feed.next();
            }
        }
        g.bench_function(name, |b| b.iter(|| black_box(feed.next().shape)));
    }
    // Raw decode reference: aligned 256² windows (one image chunk + one mask chunk each).
    let ms = mifa::formats::ome_zarr::Multiscale::open(&pkg.join("images/img_0.ome.zarr")).unwrap();
    let lab = ms.label("cells").unwrap();
    let mut k = 0u64;
    g.throughput(Throughput::Bytes(patch_bytes));
    g.bench_function("raw_decode_aligned_256_image_and_mask", |b| {
        b.iter(|| {
            k = (k + 1) % 64;
            let (y, x) = ((k / 8) * 256, (k % 8) * 256);
            let r = [y..y + 256, x..x + 256];
            black_box(ms.read_region(0, &r).unwrap());
            black_box(lab.read_region(0, &r).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
