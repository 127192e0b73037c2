//! The import hot path: one 2048×2048 uint16 plane (smooth blobs plus noise, compressible like
//! microscopy) written as an OME-Zarr 0.5 pyramid (zstd, 256² chunks); the same for its mask
//! (mode downsampling); and a random 256² region read back.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mifa::formats::ome_zarr::{self, Multiscale, WriteOptions};
use mifa::metadata::DataType;
use mifa::raster::{Downsample, PixelData, Plane};
use std::hint::black_box;

const N: usize = 2048;

fn image() -> Plane {
    let mut v = Vec::with_capacity(N * N);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for y in 0..N {
        for x in 0..N {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let blob = ((x as f64 / 37.0).sin() * (y as f64 / 41.0).cos()).max(0.0);
            v.push((400.0 + 3000.0 * blob) as u16 + (seed % 64) as u16);
        }
    }
    Plane::new(N, N, PixelData::U16(v))
}

fn mask() -> Plane {
    let v = (0..N * N)
        .map(|i| {
            let (y, x) = (i / N, i % N);
            let (cy, cx) = (y / 64, x / 64);
            let (dy, dx) = (y % 64, x % 64);
            if (dy as i32 - 32).pow(2) + (dx as i32 - 32).pow(2) < 400 {
                (cy * 32 + cx + 1) as u16
            } else {
                0
            }
        })
        .collect();
    Plane::new(N, N, PixelData::U16(v))
}

/// `MIFA_BENCH_ZSTD_LEVEL` overrides the zstd level, to compare speed against size.
fn options() -> WriteOptions {
    let level = std::env::var("MIFA_BENCH_ZSTD_LEVEL")
        .ok()
        .and_then(|v| v.parse().ok());
    WriteOptions {
        zstd_level: level.unwrap_or(WriteOptions::default().zstd_level),
        ..Default::default()
    }
}

fn write(dir: &std::path::Path, plane: &Plane, how: Downsample) {
    let axes = mifa::formats::axes_from_names("yx").unwrap();
    ome_zarr::write_multiscale(
        dir,
        "bench",
        &axes,
        &[N as u64, N as u64],
        DataType::Uint16,
        how,
        &options(),
        Default::default(),
        &mut |_| Ok(plane.clone()),
        &|_| {},
    )
    .unwrap();
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let (img, msk) = (image(), mask());
    let mut g = c.benchmark_group("import_2048x2048_u16");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((N * N * 2) as u64));
    // Each run writes a fresh store; removing the last one is setup, not timed.
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        let _ = std::fs::remove_dir_all(&d);
        d
    };
    g.bench_function("image_pyramid_zstd", |b| {
        b.iter_batched(
            || fresh("img"),
            |d| write(&d, black_box(&img), Downsample::Mean),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("label_pyramid_zstd", |b| {
        b.iter_batched(
            || fresh("msk"),
            |d| write(&d, black_box(&msk), Downsample::Mode),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("downsample_mean", |b| {
        b.iter(|| black_box(&img).downsample(Downsample::Mean))
    });
    g.bench_function("downsample_mode", |b| {
        b.iter(|| black_box(&msk).downsample(Downsample::Mode))
    });
    g.finish();

    write(&fresh("img"), &img, Downsample::Mean);
    let ms = Multiscale::open(&tmp.path().join("img")).unwrap();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(256 * 256 * 2));
    let mut k = 0u64;
    g.bench_function("region_256x256_level0", |b| {
        b.iter(|| {
            k = (k * 1_103_515_245 + 12_345) % 1_000_003;
            let (y, x) = (k % (N as u64 - 256), (k / 7) % (N as u64 - 256));
            black_box(ms.read_region(0, &[y..y + 256, x..x + 256]).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
