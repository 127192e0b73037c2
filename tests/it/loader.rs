//! The loader against packages whose pixels encode where they come from: every served pixel
//! is checked against its window, and batches are compared across worker counts, resumption
//! and shards.

use crate::common::{init, mifa, walk};
use mifa::loader::{Augment, Batch, Error, Loader, Sampling, State, Subset, TaskKind};
use predicates::prelude::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const H: u32 = 40;
const W: u32 = 56;

/// Pixel value of image `i` at `(y, x)`: unique per image and position.
fn value(i: u32, y: u32, x: u32) -> u16 {
    (i * H * W + y * W + x) as u16
}

/// Mask value at `(y, x)`: instance 3 on the right half, instance 5 in a top-left block.
fn mask_value(y: u32, x: u32) -> u16 {
    if x >= W / 2 {
        3
    } else if y < 8 && x < 8 {
        5
    } else {
        0
    }
}

fn write_tiff(path: &Path, data: &[u16]) {
    let f = fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(f).unwrap();
    enc.write_image::<tiff::encoder::colortype::Gray16>(W, H, data)
        .unwrap();
}

/// A package of `n` images `img_0…` with an instance mask set `cells`, chunks of 16.
fn package(tmp: &Path, n: u32, extra: &[&str]) -> PathBuf {
    let (img, msk) = (tmp.join("img"), tmp.join("mask"));
    fs::create_dir_all(&img).unwrap();
    fs::create_dir_all(&msk).unwrap();
    for i in 0..n {
        let mut d = Vec::new();
        let mut m = Vec::new();
        for y in 0..H {
            for x in 0..W {
                d.push(value(i, y, x));
                m.push(mask_value(y, x));
            }
        }
        write_tiff(&img.join(format!("img_{i}.tif")), &d);
        write_tiff(&msk.join(format!("img_{i}.tif")), &m);
    }
    let pkg = tmp.join("pkg");
    init(&pkg, "Loader test package with coded pixels", "CC0-1.0");
    let mut add = mifa();
    add.arg("add").arg(&pkg);
    for i in 0..n {
        add.arg(img.join(format!("img_{i}.tif")));
    }
    add.arg("--masks")
        .arg(&msk)
        .args(["--mask-name", "cells", "--chunk", "16"])
        .args(extra)
        .assert()
        .success();
    pkg
}

fn builder(pkg: &Path) -> mifa::loader::LoaderBuilder {
    Loader::builder(pkg)
        .task(TaskKind::Semantic, "cells")
        .patch(24)
        .batch_size(5)
        .seed(11)
}

fn collect(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(Result::unwrap).collect()
}

/// Every pixel of every sample is the pixel of its window (after its transform).
fn check_pixels(b: &Batch) {
    let [n, c, h, w] = b.shape;
    assert_eq!(c, 1);
    let masks = b.masks.as_ref().expect("semantic masks");
    for s in 0..n {
        let info = &b.samples[s];
        let img: u32 = info.image.trim_start_matches("img_").parse().unwrap();
        let [y0, x0, _, _] = info.window;
        for y in 0..h {
            for x in 0..w {
                let got = b.images[s * h * w + y * w + x];
                // Undo the transform by decoding the pixel value itself.
                let v = got as u32 - img * H * W;
                let (sy, sx) = (v / W, v % W);
                assert!(
                    (y0 as u32..y0 as u32 + h as u32).contains(&sy)
                        && (x0 as u32..x0 as u32 + w as u32).contains(&sx),
                    "sample {s} pixel ({y}, {x}) = {got} comes from ({sy}, {sx}), outside window {:?}",
                    info.window
                );
                if info.transform == (false, false, 0) {
                    assert_eq!((sy, sx), (y0 as u32 + y as u32, x0 as u32 + x as u32));
                }
                // The mask went through the same transform: binary class of the same source pixel.
                let want = i64::from(mask_value(sy, sx) != 0);
                assert_eq!(
                    masks[s * h * w + y * w + x],
                    want,
                    "mask at ({y}, {x}) of {info:?}"
                );
            }
        }
    }
}

#[test]
fn patches_hold_their_windows_pixels_and_masks() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 3, &[]);
    let loader = builder(&pkg).workers(2).build().unwrap();
    assert_eq!(loader.num_classes(), 2);
    let batches = collect(&loader, 0);
    assert_eq!(batches.len() as u64, loader.batches_per_epoch());
    for b in &batches {
        check_pixels(b);
    }
    // With augmentation, pixels and masks still agree.
    let aug = builder(&pkg)
        .augment(Augment {
            flips: true,
            rot90: true,
            crop: Some(20),
        })
        .build()
        .unwrap();
    let batches = collect(&aug, 2);
    assert!(batches
        .iter()
        .flat_map(|b| &b.samples)
        .any(|s| s.transform != (false, false, 0)));
    for b in &batches {
        assert_eq!(&b.shape[2..], &[20, 20]);
        check_pixels(b);
    }
}

fn fingerprint(bs: &[Batch]) -> Vec<(Vec<u64>, Vec<f32>, Vec<i64>)> {
    bs.iter()
        .map(|b| {
            (
                b.samples.iter().map(|s| s.index).collect(),
                b.images.to_vec(),
                b.masks.as_ref().unwrap().to_vec(),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_batches_whatever_the_workers_and_resume_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 2, &[]);
    let aug = Augment {
        flips: true,
        rot90: true,
        crop: None,
    };
    let make = |w: usize| {
        builder(&pkg)
            .augment(aug)
            .workers(w)
            .samples_per_epoch(23)
            .build()
            .unwrap()
    };
    let reference = fingerprint(&collect(&make(0), 4));
    for w in [1, 2, 3] {
        assert_eq!(fingerprint(&collect(&make(w), 4)), reference, "{w} workers");
    }
    // Another epoch or seed gives another order.
    assert_ne!(fingerprint(&collect(&make(2), 5)), reference);
    // Every sample of the epoch exactly once: 23 samples, batches of 5 → 5 batches.
    let idx: Vec<u64> = reference.iter().flat_map(|b| b.0.clone()).collect();
    assert_eq!(idx.len(), 23);
    assert_eq!(
        idx.iter().copied().collect::<BTreeSet<_>>(),
        (0..23).collect()
    );
    // Stop after two batches, save the state, resume in a new loader.
    let l = make(2);
    let mut it = l.epoch(4);
    it.next().unwrap().unwrap();
    it.next().unwrap().unwrap();
    let state = it.state();
    assert_eq!(
        state,
        State {
            seed: 11,
            epoch: 4,
            position: 2
        }
    );
    drop(it);
    // One worker, so that no chunk is decoded twice by two workers at once.
    let fresh = make(0);
    let rest: Vec<Batch> = fresh.resume(state).map(Result::unwrap).collect();
    assert_eq!(fingerprint(&rest), reference[2..].to_vec());
    // Nothing before the resume point was read: no more chunks decoded than a full epoch.
    let full = make(0);
    collect(&full, 4);
    assert!(fresh.read_stats().decoded_chunks <= full.read_stats().decoded_chunks);
    // Resuming at any position with any number of workers gives the same batches, in order.
    for (w, pos) in [(2, 1), (3, 1), (3, 2), (2, 3)] {
        let l = make(w);
        let rest: Vec<Batch> = l
            .resume(State {
                seed: 11,
                epoch: 4,
                position: pos,
            })
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            fingerprint(&rest),
            reference[pos as usize..].to_vec(),
            "{w} workers from {pos}"
        );
        assert_eq!(rest[0].index, pos);
    }
    // A state from another seed is refused.
    let err = fresh
        .resume(State { seed: 1, ..state })
        .next()
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("seed 1"), "{err}");
}

#[test]
fn shards_are_disjoint_and_equal_and_grid_covers_every_pixel() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 3, &[]);
    let grid = |rank, world| {
        builder(&pkg)
            .sampling(Sampling::Grid { stride: Some(16) })
            .shard(rank, world)
            .build()
            .unwrap()
    };
    let one = grid(0, 1);
    // Rows 0,16 (+16 moved back to 40-24) → 2 positions; columns 0,16,32 → 3; 3 images.
    assert_eq!(one.num_samples(), 3 * 2 * 3);
    let mut covered = vec![false; 3 * (H * W) as usize];
    for b in collect(&one, 0) {
        check_pixels(&b);
        for (s, info) in b.samples.iter().enumerate() {
            let img: usize = info.image.trim_start_matches("img_").parse().unwrap();
            let _ = s;
            for y in info.window[0]..info.window[0] + 24 {
                for x in info.window[1]..info.window[1] + 24 {
                    covered[img * (H * W) as usize + (y * W as u64 + x) as usize] = true;
                }
            }
        }
    }
    assert!(covered.iter().all(|&c| c), "the grid misses pixels");
    // Grid order is fixed: two epochs are the same.
    assert_eq!(
        fingerprint(&collect(&one, 0)),
        fingerprint(&collect(&one, 1))
    );
    let shards: Vec<Vec<u64>> = (0..4)
        .map(|r| {
            collect(&grid(r, 4), 0)
                .iter()
                .flat_map(|b| b.samples.iter().map(|s| s.index))
                .collect()
        })
        .collect();
    assert!(
        shards.iter().all(|s| s.len() == 5),
        "18 samples over 4 ranks: 5 each (padded)"
    );
    let all: BTreeSet<u64> = shards.concat().into_iter().collect();
    assert_eq!(all, (0..18).collect());
}

#[test]
fn a_batch_decodes_each_chunk_once_and_the_cache_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 3, &[]);
    // Overlapping windows (stride 8 < patch 24), all 3 × 3 × 5 of them in one batch, no cache:
    // each 16² chunk of the 3 images (3 × 4 chunks) and of their masks is decoded exactly once.
    let l = builder(&pkg)
        .sampling(Sampling::Grid { stride: Some(8) })
        .batch_size(1000)
        .cache_bytes(0)
        .workers(0)
        .build()
        .unwrap();
    assert_eq!(l.num_samples(), 3 * 3 * 5);
    let b = collect(&l, 0);
    assert_eq!(b.len(), 1);
    check_pixels(&b[0]);
    assert_eq!(l.read_stats().decoded_chunks, 3 * 12 * 2);
    // Batches of 5 with no cache decode again; with a small cache it never holds more than its bound.
    // Thirty of the 72 chunks; one worker so that the hit count does not depend on timing.
    let small = 30 * 16 * 16 * 2;
    let l = builder(&pkg).cache_bytes(small).workers(0).build().unwrap();
    for b in collect(&l, 0) {
        check_pixels(&b);
        assert!(l.read_stats().cache_bytes <= small as u64);
    }
    assert!(l.read_stats().cache_hits > 0);
}

#[test]
fn splits_are_recorded_reproduced_and_leaks_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 6, &[]);
    let p = pkg.to_str().unwrap();
    let split = |extra: &[&str]| {
        let mut c = mifa();
        c.args([
            "split", p, "--train", "0.5", "--val", "0.5", "--test", "0", "--seed", "3",
        ]);
        c.args(extra);
        c.assert()
    };
    split(&[])
        .success()
        .stdout(predicate::str::contains("train     3 images"));
    let first = fs::read_to_string(pkg.join("mifa.json")).unwrap();
    split(&[])
        .success()
        .stdout(predicate::str::contains("unchanged"));
    assert_eq!(fs::read_to_string(pkg.join("mifa.json")).unwrap(), first);
    let m: serde_json::Value = serde_json::from_str(&first).unwrap();
    let train: Vec<String> = serde_json::from_value(m["splits"][0]["train"].clone()).unwrap();
    let val: Vec<String> = serde_json::from_value(m["splits"][0]["val"].clone()).unwrap();
    assert!(train.iter().all(|t| !val.contains(t)));
    // The loader serves exactly the split's images.
    let l = builder(&pkg).subset(Subset::Val).build().unwrap();
    assert_eq!(
        l.images(),
        val.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Bad fractions are refused, nothing written.
    mifa()
        .args(["split", p, "--train", "0.5", "--val", "0.6", "--test", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("sum to 1.1"));
    assert_eq!(fs::read_to_string(pkg.join("mifa.json")).unwrap(), first);
    // A hand edit that puts a training image into validation too is reported.
    let mut leaky = m.clone();
    leaky["splits"][0]["val"]
        .as_array_mut()
        .unwrap()
        .push(train[0].clone().into());
    leaky["splits"][0]["test"] = serde_json::json!(["ghost"]);
    fs::write(
        pkg.join("mifa.json"),
        serde_json::to_string_pretty(&leaky).unwrap(),
    )
    .unwrap();
    mifa()
        .args(["validate", p])
        .assert()
        .failure()
        .stdout(predicate::str::contains(format!(
            "image \"{}\" is in both train and val",
            train[0]
        )))
        .stdout(predicate::str::contains(
            "names image \"ghost\", which is not in the package",
        ));
    let err = builder(&pkg).subset(Subset::Test).build().err().unwrap();
    assert!(err.to_string().contains("ghost"), "{err}");
}

#[test]
fn bad_requests_name_the_image_and_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 2, &[]);
    let msg = |r: Result<Loader, Error>| r.err().expect("refused").to_string();
    let e = msg(builder(&pkg).patch(48).build());
    assert!(
        e.contains("patch 48×48 is larger than image \"img_0\" (40×56 at level 0)"),
        "{e}"
    );
    let e = msg(builder(&pkg).task(TaskKind::Semantic, "nothing").build());
    assert!(e.contains("no annotation set \"nothing\""), "{e}");
    let e = msg(builder(&pkg).subset(Subset::Train).build());
    assert!(e.contains("make one with `mifa split`"), "{e}");
    let e = msg(builder(&pkg)
        .task(TaskKind::Classification, "cells")
        .build());
    assert!(
        e.contains("classification needs image-level class labels"),
        "{e}"
    );
    // A set that covers only some images: the missing ones are named.
    let geo = tmp.path().join("one.geojson");
    fs::write(&geo, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"classification":{"name":"round"}},"geometry":{"type":"Polygon","coordinates":[[[4,4],[20,4],[20,20],[4,20],[4,4]]]}}]}"#).unwrap();
    mifa()
        .args([
            "import",
            pkg.to_str().unwrap(),
            "geojson",
            geo.to_str().unwrap(),
            "--image",
            "img_1",
            "--set",
            "shapes",
        ])
        .assert()
        .success();
    let e = msg(builder(&pkg).task(TaskKind::Semantic, "shapes").build());
    assert!(
        e.contains("no annotations for 1 of the 2 images served: img_0"),
        "{e}"
    );
}

#[test]
fn whole_planes_of_different_sizes_come_one_per_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 1, &[]);
    // A second, smaller image (24 × 32), value = y * 32 + x.
    let small = tmp.path().join("small.tif");
    let f = fs::File::create(&small).unwrap();
    let data: Vec<u16> = (0..24 * 32).map(|v| v as u16).collect();
    tiff::encoder::TiffEncoder::new(f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(32, 24, &data)
        .unwrap();
    mifa().arg("add").arg(&pkg).arg(&small).assert().success();
    let whole = |b| {
        Loader::builder(&pkg)
            .sampling(Sampling::Whole)
            .batch_size(b)
            .build()
    };
    let e = whole(2).err().unwrap().to_string();
    assert!(e.contains("cannot share a batch"), "{e}");
    let batches = collect(&whole(1).unwrap(), 0);
    let shapes: BTreeSet<[usize; 4]> = batches.iter().map(|b| b.shape).collect();
    assert_eq!(shapes, BTreeSet::from([[1, 1, 40, 56], [1, 1, 24, 32]]));
    for b in &batches {
        if b.samples[0].image == "small" {
            assert_eq!(
                b.images.to_vec(),
                data.iter().map(|&v| f32::from(v)).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn a_corrupt_chunk_is_an_error_naming_image_and_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 2, &["--ngff", "0.4"]);
    // Zarr v2: one file per chunk, "0/1" style or "0.1"; damage every chunk of img_1.
    let level = pkg.join("images/img_1.ome.zarr/0");
    let mut damaged = 0;
    for e in walk(&level) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with('.') && !name.ends_with(".json") {
            fs::write(&e, b"not a zstd frame").unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    for workers in [0, 2] {
        let l = builder(&pkg).workers(workers).build().unwrap();
        let results: Vec<Result<Batch, Error>> = l.epoch(0).collect();
        let err = results
            .last()
            .unwrap()
            .as_ref()
            .expect_err("the epoch ends in an error");
        let s = err.to_string();
        assert!(s.contains("image \"img_1\": chunk ["), "{s}");
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
    }
}

#[test]
fn polygons_boxes_and_points_become_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 1, &[]);
    let p = pkg.to_str().unwrap();
    // A 10×10 square (pixels 10..20) of class "round" and two points of class "spot".
    let geo = tmp.path().join("img_0.geojson");
    fs::write(&geo, r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"classification":{"name":"round"}},"geometry":{"type":"Polygon","coordinates":[[[10,10],[20,10],[20,20],[10,20],[10,10]]]}},
      {"type":"Feature","properties":{"classification":{"name":"spot"}},"geometry":{"type":"Point","coordinates":[30.5,5.5]}},
      {"type":"Feature","properties":{"classification":{"name":"spot"}},"geometry":{"type":"Point","coordinates":[3.5,30.5]}}]}"#).unwrap();
    mifa()
        .args([
            "import",
            p,
            "geojson",
            geo.to_str().unwrap(),
            "--image",
            "img_0",
            "--set",
            "shapes",
        ])
        .assert()
        .success();
    let whole_of = |task, set: &str| {
        Loader::builder(&pkg)
            .task(task, set)
            .sampling(Sampling::Whole)
            .batch_size(1)
            .workers(0)
            .build()
            .unwrap()
    };
    let whole = |task| whole_of(task, "shapes");
    let l = whole(TaskKind::Semantic);
    let round = l.num_classes() - 1;
    let b = collect(&l, 0).pop().unwrap();
    let m = b.masks.unwrap();
    for y in 0..H as usize {
        for x in 0..W as usize {
            let inside = (10..20).contains(&y) && (10..20).contains(&x);
            let v = m[y * W as usize + x];
            assert_eq!(v != 0, inside, "({y}, {x}) = {v}");
        }
    }
    assert!(m.iter().any(|&v| v > 0 && v <= round));
    let b = collect(&whole(TaskKind::Detection), 0).pop().unwrap();
    let boxes = &b.boxes.unwrap()[0];
    assert_eq!(boxes.len(), 1);
    assert_eq!(boxes[0].bbox, [10.0, 10.0, 20.0, 20.0]);
    let mut l = Loader::builder(&pkg)
        .task(TaskKind::Points, "shapes")
        .sampling(Sampling::Whole)
        .batch_size(1)
        .heatmap(1.5);
    l = l.workers(0);
    let b = collect(&l.build().unwrap(), 0).pop().unwrap();
    let pts = &b.points.unwrap()[0];
    assert_eq!(
        pts.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(),
        vec![(30.5, 5.5), (3.5, 30.5)]
    );
    let hm = b.heatmaps.unwrap();
    assert_eq!(hm[5 * W as usize + 30], 1.0);
    assert!(hm[0] < 1e-3);
    // Boxes from an instance mask: the extent of each label value in the window.
    let b = collect(&whole_of(TaskKind::Detection, "cells"), 0)
        .pop()
        .unwrap();
    let bx: Vec<[f32; 4]> = b.boxes.unwrap()[0].iter().map(|b| b.bbox).collect();
    assert_eq!(bx, vec![[28.0, 0.0, 56.0, 40.0], [0.0, 0.0, 8.0, 8.0]]);
}

#[test]
fn load_command_reports_throughput_and_balance() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 2, &[]);
    // `mifa load` of the semantic task on every image, with `extra` options.
    let load = |extra: &[&str]| {
        mifa()
            .arg("load")
            .arg(&pkg)
            .args(["--split", "all", "--task", "semantic", "--set", "cells"])
            .args(extra)
            .assert()
    };
    let out = load(&[
        "--patch",
        "16",
        "--batch-size",
        "4",
        "--batches",
        "6",
        "--json",
    ])
    .success()
    .get_output()
    .stdout
    .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["batches"], 6);
    assert_eq!(v["patches"], 24);
    assert!(v["patches_per_s"].as_f64().unwrap() > 0.0);
    let fg = v["foreground_fraction"].as_f64().unwrap();
    // Half the image plus an 8×8 block is foreground; random 16×16 windows see some of it.
    assert!(fg > 0.2 && fg < 0.9, "{fg}");
    load(&["--patch", "64"])
        .failure()
        .stderr(predicate::str::contains("patch 64×64 is larger than image"));
}

#[cfg(feature = "tch")]
#[test]
fn batches_become_tensors_without_a_copy_when_tensor_backed() {
    use tch::{Device, Kind};
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 2, &[]);
    let plain = collect(&builder(&pkg).workers(0).build().unwrap(), 0);
    let backed = collect(&builder(&pkg).workers(2).tensors(true).build().unwrap(), 0);
    assert_eq!(fingerprint(&plain), fingerprint(&backed));
    for (p, b) in plain.iter().zip(backed) {
        let n = p.shape[0] as i64;
        let ptr = b.images.as_ptr();
        let tp = p.images_tensor(Device::Cpu);
        assert_eq!(tp.size(), vec![n, 1, 24, 24]);
        assert_eq!(tp.kind(), Kind::Float);
        let mp = p.masks_tensor(Device::Cpu).unwrap();
        assert_eq!(mp.size(), vec![n, 24, 24]);
        assert_eq!(mp.kind(), Kind::Int64);
        let t = b.into_tensors(Device::Cpu);
        // Tensor-backed: the tensor is the batch's own memory, not a copy.
        assert_eq!(t.images.data_ptr() as *const f32, ptr);
        assert!(tp.equal(&t.images));
        assert!(mp.equal(&t.masks.unwrap()));
        assert_eq!(t.samples.len() as i64, n);
    }
}

/// Rewrites the `shape` of an array's `zarr.json`.
fn edit_shape(array: &Path, shape: serde_json::Value) {
    let file = array.join("zarr.json");
    let mut md: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    md["shape"] = shape;
    fs::write(&file, md.to_string()).unwrap();
}

#[test]
fn an_edited_huge_shape_or_a_label_of_another_shape_is_an_error_not_an_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), 1, &[]);
    let image = pkg.join("images/img_0.ome.zarr");
    let label = image.join("labels/cells/0");
    edit_shape(&label, serde_json::json!([H, W + 8]));
    let err = builder(&pkg).build().err().expect("refused").to_string();
    assert!(
        err.contains(
            "labels/cells/0: shape: label yx [40, 64] does not match image yx [40, 56] along x"
        ),
        "{err}"
    );
    edit_shape(&label, serde_json::json!([H, W]));
    edit_shape(&image.join("0"), serde_json::json!([1_000_000, 1_000_000]));
    let err = builder(&pkg).build().err().expect("refused").to_string();
    assert!(err.contains("img_0.ome.zarr/0"), "{err}");
    assert!(err.contains("(shape [1000000, 1000000])"), "{err}");
    let preview = tmp.path().join("preview.png");
    mifa()
        .args(["preview", pkg.to_str().unwrap(), "img_0", "--out"])
        .arg(&preview)
        .assert()
        .failure()
        .stderr(predicate::str::contains("(shape [1000000, 1000000])"));
    assert!(!preview.exists());
}
