//! What a write costs as a package grows: `mifa meta set` and adding one mask on packages of 10,
//! 1,000 and 10,000 images (64×64 uint8 OME-Zarr each), beside the floor every commit pays —
//! parse + schema-check + write + fsync of that package's manifest — and beside what the commit
//! checks cost before they were scoped to the change (the whole package checked twice), and
//! beside taking the writer lock (opening the package and sweeping dead writers' temporaries).
//!
//! `MIFA_BENCH_SIZES=10,100` picks the sizes (CI runs a smoke size). The ratio to read: an edit's
//! cost above the floor at 1,000 or 10,000 images over the same at 10.

#[allow(dead_code)] // each binary uses some of the shared helpers
#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use mifa::edit::{self, ValueMode};
use mifa::images::{self, AddOptions, MaskOptions};
use mifa::metadata::{Manifest, MaskKind};
use mifa::{manifest, package, validate, Package};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SIDE: u32 = 64;

fn sizes() -> Vec<usize> {
    let raw = std::env::var("MIFA_BENCH_SIZES").unwrap_or_else(|_| "10,1000,10000".into());
    raw.split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn write_png(path: &Path, value: impl Fn(u32, u32) -> u8) {
    image::GrayImage::from_fn(SIDE, SIDE, |x, y| image::Luma([value(x, y)]))
        .save(path)
        .unwrap();
}

/// A package of `n` images: one imported, its OME-Zarr copied `n - 1` times and listed.
fn package(root: &Path, n: usize, inputs: &Path) -> PathBuf {
    let dir = root.join(format!("pkg{n}"));
    let title = "A package of many small images to measure writes";
    let mut pkg = Package::create(&dir, Manifest::new(title, "CC0-1.0")).unwrap();
    let png = inputs.join("img0.png");
    images::add_images(&mut pkg, &[png], &AddOptions::default(), &|_| {}).unwrap();
    let mut m = pkg.manifest().clone();
    let first = m.images[0].clone();
    for i in 1..n {
        let mut entry = first.clone();
        entry.id = format!("img{i}");
        entry.path = first.path.replace("img0", &entry.id);
        common::copy_dir(&dir.join(&first.path), &dir.join(&entry.path));
        m.images.push(entry);
    }
    fs::write(dir.join(manifest::FILE_NAME), manifest::to_text(&m)).unwrap();
    Package::open(&dir).unwrap();
    dir
}

fn floor(dir: &Path) {
    let path = dir.join(manifest::FILE_NAME);
    let (m, _) = manifest::read(&path).unwrap();
    package::write_atomic(&path, manifest::to_text(&m).as_bytes()).unwrap();
}

fn meta_set(dir: &Path, i: &mut u64) {
    let mut pkg = Package::open(dir).unwrap();
    *i += 1;
    let value = format!("Cells imaged for a write benchmark, edit {i}");
    edit::set_in_package(&mut pkg, "study.description", &value, ValueMode::String).unwrap();
}

/// Adds one mask to an image; the setup (not timed) puts that image and the manifest back.
fn add_mask(dir: &Path, mask: &Path) {
    let mut pkg = Package::open(dir).unwrap();
    let opts = MaskOptions::default();
    images::add_mask(
        &mut pkg,
        "img0",
        mask,
        "nuclei",
        MaskKind::Instance,
        &opts,
        &|_| {},
    )
    .unwrap();
}

struct Restore {
    manifest: Vec<u8>,
    image: PathBuf,
    pristine: PathBuf,
}

impl Restore {
    fn new(dir: &Path, spare: &Path) -> Restore {
        let image = dir.join(&Package::open(dir).unwrap().manifest().images[0].path);
        common::copy_dir(&image, spare);
        Restore {
            manifest: fs::read(dir.join(manifest::FILE_NAME)).unwrap(),
            image,
            pristine: spare.to_path_buf(),
        }
    }

    fn apply(&self, dir: &Path) {
        fs::write(dir.join(manifest::FILE_NAME), &self.manifest).unwrap();
        fs::remove_dir_all(&self.image).unwrap();
        common::copy_dir(&self.pristine, &self.image);
    }
}

/// What each commit checked before: the whole package, for the old and the new manifest.
fn unscoped_checks(dir: &Path, m: &Manifest) {
    for _ in 0..2 {
        std::hint::black_box(validate::check_manifest(dir, m));
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs");
    fs::create_dir_all(&inputs).unwrap();
    write_png(&inputs.join("img0.png"), |x, y| {
        ((x * 3 + y * 5) % 251) as u8
    });
    let mask = inputs.join("mask.png");
    write_png(&mask, |x, y| {
        u8::from((x / 16 + y / 16) % 3 == 0) * (1 + (x / 16) as u8)
    });
    let mut g = c.benchmark_group("write_cost");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for n in sizes() {
        let dir = package(tmp.path(), n, &inputs);
        g.bench_with_input(BenchmarkId::new("floor", n), &dir, |b, d| {
            b.iter(|| floor(d))
        });
        // Every writer takes the lock, which sweeps dead writers' temporaries image by image.
        g.bench_with_input(BenchmarkId::new("lock", n), &dir, |b, d| {
            b.iter(|| Package::open(d).unwrap().lock().unwrap())
        });
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("meta_set", n), &dir, |b, d| {
            b.iter(|| meta_set(d, &mut i))
        });
        let restore = Restore::new(&dir, &tmp.path().join(format!("spare{n}")));
        g.bench_with_input(BenchmarkId::new("add_mask", n), &dir, |b, d| {
            b.iter_batched(
                || restore.apply(d),
                |()| add_mask(d, &mask),
                BatchSize::PerIteration,
            )
        });
        let m = Package::open(&dir).unwrap().manifest().clone();
        g.bench_with_input(BenchmarkId::new("unscoped_checks", n), &dir, |b, d| {
            b.iter(|| unscoped_checks(d, &m))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
