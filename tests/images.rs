//! Images and masks: TIFF/PNG/JPEG/OME-Zarr in, OME-Zarr (with labels) in the package, TIFF out.

use mifa::formats::ome_zarr::{Multiscale, NgffVersion, WriteOptions};
use mifa::formats::tiff::{Compression, TiffSource};
use mifa::formats::{Limits, PlaneSource};
use mifa::images::{self, AddOptions, MaskBatch, MaskOptions, Overrides};
use mifa::metadata::{DataType, Manifest, MaskKind};
use mifa::raster::PixelData;
use mifa::Package;
use std::fs;
use std::path::{Path, PathBuf};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn new_package(tmp: &Path) -> Package {
    Package::create(
        &tmp.join("pkg"),
        Manifest::new("Images imported for the integration tests", "CC0-1.0"),
    )
    .unwrap()
}

fn no_progress(_: u64) {}

fn add(
    pkg: &mut Package,
    inputs: &[PathBuf],
    opts: &AddOptions,
) -> Result<Vec<images::Added>, images::Error> {
    images::add_images(pkg, inputs, opts, &no_progress)
}

/// All planes of a source, concatenated.
fn read_all(src: &mut dyn PlaneSource) -> PixelData {
    let n = src.meta().planes();
    let planes: Vec<PixelData> = (0..n).map(|i| src.read_plane(i).unwrap().data).collect();
    concat(planes)
}

fn concat(planes: Vec<PixelData>) -> PixelData {
    let mut it = planes.into_iter();
    let first = it.next().unwrap();
    it.fold(first, |acc, p| match (acc, p) {
        (PixelData::U8(mut a), PixelData::U8(b)) => {
            a.extend(b);
            PixelData::U8(a)
        }
        (PixelData::U16(mut a), PixelData::U16(b)) => {
            a.extend(b);
            PixelData::U16(a)
        }
        (PixelData::U32(mut a), PixelData::U32(b)) => {
            a.extend(b);
            PixelData::U32(a)
        }
        (PixelData::U64(mut a), PixelData::U64(b)) => {
            a.extend(b);
            PixelData::U64(a)
        }
        (PixelData::I8(mut a), PixelData::I8(b)) => {
            a.extend(b);
            PixelData::I8(a)
        }
        (PixelData::I16(mut a), PixelData::I16(b)) => {
            a.extend(b);
            PixelData::I16(a)
        }
        (PixelData::I32(mut a), PixelData::I32(b)) => {
            a.extend(b);
            PixelData::I32(a)
        }
        (PixelData::I64(mut a), PixelData::I64(b)) => {
            a.extend(b);
            PixelData::I64(a)
        }
        (PixelData::F32(mut a), PixelData::F32(b)) => {
            a.extend(b);
            PixelData::F32(a)
        }
        (PixelData::F64(mut a), PixelData::F64(b)) => {
            a.extend(b);
            PixelData::F64(a)
        }
        (a, b) => panic!("mixed types {:?} {:?}", a.dtype(), b.dtype()),
    })
}

fn read_level0(ms: &Multiscale) -> PixelData {
    let n: u64 = ms.levels[0].shape[..ms.levels[0].shape.len() - 2]
        .iter()
        .product();
    concat(
        (0..n as usize)
            .map(|i| ms.read_plane(0, i).unwrap().data)
            .collect(),
    )
}

/// A 3-page TIFF of 37x53 pixels per page, written with the `tiff` crate directly.
fn write_tiff_stack(path: &Path, dtype: DataType) {
    use tiff::encoder::{colortype as ct, TiffEncoder};
    let (w, h, pages) = (53u32, 37u32, 3usize);
    let n = (w * h) as usize;
    let mut enc = TiffEncoder::new(fs::File::create(path).unwrap()).unwrap();
    for p in 0..pages {
        // Values spread over the type's range, including extremes.
        let f = |i: usize| ((i * 7919 + p * 104_729) % 65_521) as f64 / 65_521.0;
        match dtype {
            DataType::Uint8 => enc
                .write_image::<ct::Gray8>(
                    w,
                    h,
                    &(0..n).map(|i| (f(i) * 255.0) as u8).collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Uint16 => enc
                .write_image::<ct::Gray16>(
                    w,
                    h,
                    &(0..n).map(|i| (f(i) * 65535.0) as u16).collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Uint32 => enc
                .write_image::<ct::Gray32>(
                    w,
                    h,
                    &(0..n).map(|i| (f(i) * 4e9) as u32).collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Uint64 => enc
                .write_image::<ct::Gray64>(
                    w,
                    h,
                    &(0..n).map(|i| (f(i) * 1.8e19) as u64).collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Int8 => enc
                .write_image::<ct::GrayI8>(
                    w,
                    h,
                    &(0..n)
                        .map(|i| (f(i) * 255.0 - 128.0) as i8)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Int16 => enc
                .write_image::<ct::GrayI16>(
                    w,
                    h,
                    &(0..n)
                        .map(|i| (f(i) * 65535.0 - 32768.0) as i16)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Int32 => enc
                .write_image::<ct::GrayI32>(
                    w,
                    h,
                    &(0..n)
                        .map(|i| (f(i) * 4e9 - 2e9) as i32)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Int64 => enc
                .write_image::<ct::GrayI64>(
                    w,
                    h,
                    &(0..n)
                        .map(|i| (f(i) * 1.8e19 - 9e18) as i64)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Float32 => enc
                .write_image::<ct::Gray32Float>(
                    w,
                    h,
                    &(0..n)
                        .map(|i| (f(i) - 0.5) as f32 * 1e3)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Float64 => enc
                .write_image::<ct::Gray64Float>(
                    w,
                    h,
                    &(0..n).map(|i| (f(i) - 0.5) * 1e-3).collect::<Vec<_>>(),
                )
                .unwrap(),
            DataType::Bool => unreachable!("TIFF has no bool"),
        }
    }
}

#[test]
fn tiff_to_package_to_tiff_is_bit_identical_for_every_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    let dtypes = [
        DataType::Uint8,
        DataType::Uint16,
        DataType::Uint32,
        DataType::Uint64,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Float32,
        DataType::Float64,
    ];
    let mut inputs = Vec::new();
    for d in dtypes {
        let p = tmp.path().join(format!("stack_{d:?}.tif").to_lowercase());
        write_tiff_stack(&p, d);
        inputs.push(p);
    }
    for version in [NgffVersion::V05, NgffVersion::V04] {
        let opts = AddOptions {
            write: WriteOptions {
                version,
                chunk: 16,
                ..Default::default()
            },
            overrides: Overrides {
                pixel_size: vec![0.5, 0.5, 2.0],
                unit: Some("micrometer".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut pkg_v = new_package(&tmp.path().join(version.as_str()));
        let added = add(&mut pkg_v, &inputs, &opts).unwrap();
        assert_eq!(added.len(), dtypes.len());
        let out = tmp.path().join(format!("out-{}", version.as_str()));
        let files = images::export_tiff(&pkg_v, &out, Compression::Deflate).unwrap();
        assert_eq!(files.len(), dtypes.len());
        for (input, d) in inputs.iter().zip(dtypes) {
            let mut src = TiffSource::open(input, &Limits::default()).unwrap();
            let original = read_all(&mut src);
            let id = images::id_from_path(input);
            let ms = pkg_v.open_image(&id).unwrap();
            assert_eq!(ms.version, version);
            assert_eq!(ms.axes_string(), "zyx");
            assert_eq!(ms.levels[0].shape, vec![3, 37, 53]);
            // chunk 16 => levels until the plane fits: 37x53 -> 19x27 -> 10x14.
            assert_eq!(ms.levels.len(), 3, "{id}");
            assert_eq!(ms.dtype, d);
            assert_eq!(
                read_level0(&ms),
                original,
                "{id}: OME-Zarr level 0 differs from the TIFF"
            );
            let exported = mifa::formats::tiff::export_name(&out, &id, None);
            let mut back = TiffSource::open(&exported, &Limits::default()).unwrap();
            assert_eq!(back.meta().dtype, d, "{id}");
            assert_eq!(read_all(&mut back), original, "{id}: exported TIFF differs");
            if !matches!(d, DataType::Uint64 | DataType::Int64) {
                // OME-TIFF (not defined for 64-bit integers) keeps axes and pixel sizes.
                assert_eq!(back.meta().axes_string(), "zyx", "{id}");
                assert_eq!(back.meta().axes[2].scale, Some(0.5));
                assert_eq!(back.meta().axes[0].scale, Some(2.0));
            }
        }
    }
}

#[test]
fn dsb_image_with_its_instance_mask() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    let masks = tmp.path().join("masks");
    fs::create_dir(&masks).unwrap();
    fs::copy(
        repo("examples/data/dsb2018/mask2d.tif"),
        masks.join("img2d.tif"),
    )
    .unwrap();
    let opts = AddOptions {
        masks: Some(MaskBatch {
            dir: masks,
            name: "nuclei".into(),
            kind: MaskKind::Instance,
        }),
        overrides: Overrides {
            pixel_size: vec![0.65],
            unit: Some("micrometer".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let added = add(&mut pkg, &[repo("examples/data/dsb2018/img2d.tif")], &opts).unwrap();
    assert_eq!(added[0].labels, vec![("nuclei".to_string(), 125)]);
    let ms = pkg.open_image("img2d").unwrap();
    assert_eq!(ms.levels.len(), 2);
    assert_eq!(ms.levels[1].scale, vec![1.3, 1.3]);
    assert_eq!(ms.levels[1].translation, Some(vec![0.325, 0.325]));
    let label = ms.label("nuclei").unwrap();
    assert_eq!(label.dtype, DataType::Uint16);
    let mut mask = TiffSource::open(
        &repo("examples/data/dsb2018/mask2d.tif"),
        &Limits::default(),
    )
    .unwrap();
    let original = read_all(&mut mask);
    assert_eq!(read_level0(&label), original);
    // Downsampled labels hold only ids of level 0.
    let ids = original.distinct_labels().unwrap();
    assert_eq!(ids.len(), 126); // 125 nuclei + background
    assert!(read_level0(&Multiscale {
        levels: label.levels[1..].to_vec(),
        ..label.clone()
    })
    .distinct_labels()
    .unwrap()
    .is_subset(&ids));
    let colors = label.image_label.as_ref().unwrap()["colors"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(colors, 125);
    // Region reads, dynamic and typed.
    let region = ms.read_region(0, &[100..110, 200..230]).unwrap();
    let PixelData::U16(full) = read_level0(&ms) else {
        panic!()
    };
    let expected: Vec<u16> = (100..110)
        .flat_map(|y| full[y * 512 + 200..y * 512 + 230].to_vec())
        .collect();
    assert_eq!(region, PixelData::U16(expected.clone()));
    let nd = ms
        .read_region_ndarray::<u16>(0, &[100..110, 200..230])
        .unwrap();
    assert_eq!(nd.shape(), &[10, 30]);
    assert_eq!(nd.iter().copied().collect::<Vec<_>>(), expected);
    // The manifest records the mask as a segmentation_mask set with coverage 1/1.
    let set = pkg.manifest().annotation_set("nuclei").unwrap();
    assert_eq!(set.files[0].path, "images/img2d.ome.zarr/labels/nuclei");
    assert_eq!(set.files[0].mask_kind, Some(MaskKind::Instance));
    let cov = mifa::info::coverage(pkg.manifest(), set);
    assert_eq!((cov.images_annotated, cov.images_total), (1, 1));
    let report = mifa::validate::validate(pkg.root()).unwrap();
    assert!(report.is_valid(), "{:?}", report.errors());
}

#[test]
fn rgb_jpeg_and_3d_stack_with_a_mask_added_later() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    let opts = AddOptions {
        write: WriteOptions {
            version: NgffVersion::V04,
            ..Default::default()
        },
        ..Default::default()
    };
    add(
        &mut pkg,
        &[
            repo("tests/fixtures/stardist/histo.jpg"),
            repo("tests/fixtures/stardist/img3d.tif"),
        ],
        &opts,
    )
    .unwrap();
    let histo = pkg.open_image("histo").unwrap();
    assert_eq!(histo.axes_string(), "cyx");
    assert_eq!(histo.levels[0].shape[0], 3);
    assert_eq!(histo.channel_names, ["R", "G", "B"]);
    let n = images::add_mask(
        &mut pkg,
        "img3d",
        &repo("tests/fixtures/stardist/mask3d.tif"),
        "nuclei",
        MaskKind::Instance,
        &MaskOptions::default(),
        &no_progress,
    )
    .unwrap();
    assert_eq!(n, 51); // the stardist README: 51 objects
    let img = pkg.open_image("img3d").unwrap();
    assert_eq!(img.version, NgffVersion::V04);
    assert_eq!(
        img.label("nuclei").unwrap().version,
        NgffVersion::V04,
        "labels follow the image's version"
    );
    // A mask that does not fit is refused, and the package is unchanged.
    let before = fs::read(pkg.manifest_path()).unwrap();
    let err = images::add_mask(
        &mut pkg,
        "histo",
        &repo("tests/fixtures/stardist/mask3d.tif"),
        "wrong",
        MaskKind::Instance,
        &MaskOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("differs from image \"histo\""),
        "{err}"
    );
    assert_eq!(fs::read(pkg.manifest_path()).unwrap(), before);
    assert!(!pkg
        .root()
        .join("images/histo.ome.zarr/labels/wrong")
        .exists());
    let err = images::add_mask(
        &mut pkg,
        "img3d",
        &repo("tests/fixtures/stardist/mask3d.tif"),
        "nuclei",
        MaskKind::Instance,
        &MaskOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn ome_zarr_examples_valid_import_invalid_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    let base = repo("tests/fixtures/ome_zarr_examples/data");
    for name in [
        "valid/image-01.zarr",
        "valid/image-02.zarr",
        "valid/image-03.zarr",
        "valid/image-04.zarr",
        "warning/image-01.zarr",
    ] {
        let opts = AddOptions {
            id: Some(name.replace(['/', '.'], "-")),
            ..Default::default()
        };
        add(&mut pkg, &[base.join(name)], &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let expect = [
        ("invalid/image-01.zarr", "multiscales: missing"),
        ("invalid/image-02.zarr", "multiscales: empty list"),
        (
            "invalid/image-03.zarr",
            "datasets[0].path: array \"0\" does not exist",
        ),
        (
            "invalid/image-04.zarr",
            "array \"1\" has 2 dimensions for 3 axes",
        ),
    ];
    let before = fs::read(pkg.manifest_path()).unwrap();
    for (name, msg) in expect {
        let err = add(&mut pkg, &[base.join(name)], &AddOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(msg) && err.contains(name), "{name}: {err}");
    }
    assert_eq!(fs::read(pkg.manifest_path()).unwrap(), before);
    assert!(mifa::validate::validate(pkg.root()).unwrap().is_valid());
}

#[test]
fn ome_zarr_from_ome_zarr_py_keeps_pixels_and_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    for v in ["tiny_v04", "tiny_v05"] {
        let src = repo(&format!("tests/fixtures/reference_libs/{v}.ome.zarr"));
        let added = add(&mut pkg, std::slice::from_ref(&src), &AddOptions::default()).unwrap();
        assert_eq!(added[0].labels, vec![("cells".to_string(), 9)], "{v}");
        let theirs = Multiscale::open(&src).unwrap();
        let ours = pkg.open_image(v).unwrap();
        assert_eq!(read_level0(&ours), read_level0(&theirs));
        assert_eq!(
            read_level0(&ours.label("cells").unwrap()),
            read_level0(&theirs.label("cells").unwrap())
        );
    }
}

#[test]
fn imagej_and_ome_tiff_axes_and_sizes_and_zstd_tiff() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    add(
        &mut pkg,
        &[
            repo("tests/fixtures/reference_libs/labels_tzyx_imagej.tif"),
            repo("tests/fixtures/reference_libs/labels_ome.ome.tif"),
        ],
        &AddOptions::default(),
    )
    .unwrap();
    let ij = pkg.manifest().image("labels_tzyx_imagej").unwrap();
    assert_eq!(
        ij.axes.iter().map(|a| a.name.as_str()).collect::<String>(),
        "tyx"
    );
    let ome = pkg.manifest().image("labels_ome").unwrap();
    assert_eq!(ome.axes[1].scale, Some(0.5));
    assert_eq!(ome.axes[1].unit.as_deref(), Some("micrometer"));
    // Cell Tracking Challenge masks are ZSTD-compressed TIFFs.
    let added = add(
        &mut pkg,
        &[repo("tests/fixtures/ctc_bacteria/man_track000000.tif")],
        &AddOptions::default(),
    )
    .unwrap();
    assert_eq!(added[0].shape, vec![1305, 1009]);
    assert_eq!(added[0].dtype, DataType::Uint16);
}

#[test]
fn large_planes_are_sharded_and_read_back_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    let opts = AddOptions {
        write: WriteOptions {
            shard_above_chunks: 1,
            shard_chunks: 2,
            chunk: 64,
            ..Default::default()
        },
        ..Default::default()
    };
    add(&mut pkg, &[repo("examples/data/dsb2018/img2d.tif")], &opts).unwrap();
    let md = fs::read_to_string(pkg.root().join("images/img2d.ome.zarr/0/zarr.json")).unwrap();
    assert!(md.contains("sharding_indexed"), "{md}");
    let ms = pkg.open_image("img2d").unwrap();
    let mut src =
        TiffSource::open(&repo("examples/data/dsb2018/img2d.tif"), &Limits::default()).unwrap();
    assert_eq!(read_level0(&ms), read_all(&mut src));
}

#[test]
fn bad_inputs_leave_the_package_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = new_package(tmp.path());
    add(
        &mut pkg,
        &[repo("examples/data/dsb2018/img2d.tif")],
        &AddOptions::default(),
    )
    .unwrap();
    let before = fs::read(pkg.manifest_path()).unwrap();
    let listing = |pkg: &Package| {
        let mut v: Vec<String> = fs::read_dir(pkg.root().join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let images_before = listing(&pkg);

    // Truncated TIFF: the good file in the same batch is not imported either.
    let truncated = tmp.path().join("truncated.tif");
    let bytes = fs::read(repo("tests/fixtures/stardist/img3d.tif")).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let err = add(
        &mut pkg,
        &[repo("tests/fixtures/stardist/histo.jpg"), truncated.clone()],
        &AddOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("truncated.tif"), "{err}");

    // Not an image at all.
    let junk = tmp.path().join("junk.tif");
    fs::write(&junk, b"this is not a TIFF").unwrap();
    let err = add(&mut pkg, &[junk], &AddOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.tif: TIFF"), "{err}");

    // A float mask.
    let float_mask = tmp.path().join("float.tif");
    write_tiff_stack(&float_mask, DataType::Float32);
    let err = images::add_mask(
        &mut pkg,
        "img2d",
        &float_mask,
        "cells",
        MaskKind::Instance,
        &MaskOptions::default(),
        &no_progress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Float32 mask; masks must hold integer label values"),
        "{err}"
    );

    // Limits cap allocation before decoding.
    let tiny = AddOptions {
        limits: Limits {
            max_plane_bytes: 1000,
            ..Default::default()
        },
        id: Some("capped".into()),
        ..Default::default()
    };
    let err = add(
        &mut pkg,
        &[repo("tests/fixtures/stardist/histo.jpg")],
        &tiny,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("limit"), "{err}");

    // Ids that would escape the package, or are taken.
    let esc = AddOptions {
        id: Some("../escape".into()),
        ..Default::default()
    };
    let err = add(&mut pkg, &[repo("tests/fixtures/stardist/histo.jpg")], &esc)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid image id"), "{err}");
    let err = add(
        &mut pkg,
        &[repo("examples/data/dsb2018/img2d.tif")],
        &AddOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("already taken"), "{err}");

    assert_eq!(fs::read(pkg.manifest_path()).unwrap(), before);
    assert_eq!(
        listing(&pkg),
        images_before,
        "temporary or partial images left behind"
    );
    assert!(mifa::validate::validate(pkg.root()).unwrap().is_valid());
}

#[test]
fn cli_add_with_masks_then_export() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("p");
    let mifa = || assert_cmd::Command::cargo_bin("mifa").unwrap();
    mifa()
        .args(["init"])
        .arg(&pkg)
        .args([
            "--title",
            "Images imported through the command line",
            "--license",
            "CC0-1.0",
        ])
        .assert()
        .success();
    let masks = tmp.path().join("masks");
    fs::create_dir(&masks).unwrap();
    fs::copy(
        repo("examples/data/dsb2018/mask2d.tif"),
        masks.join("img2d.tif"),
    )
    .unwrap();
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(repo("examples/data/dsb2018/img2d.tif"))
        .arg("--masks")
        .arg(&masks)
        .args(["--mask-name", "nuclei", "--pixel-size", "0.65"])
        .assert()
        .success()
        .stdout(predicates::str::contains("added img2d from"))
        .stdout(predicates::str::contains("labels: nuclei (125 objects)"));
    mifa()
        .arg("info")
        .arg(&pkg)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "[segmentation_mask] 125 objects, covers 1/1 images",
        ));
    let out = tmp.path().join("out");
    mifa()
        .arg("export")
        .arg(&pkg)
        .arg("tiff")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("2 file(s)"));
    assert!(out.join("img2d.ome.tif").is_file());
    assert!(out.join("img2d_nuclei.ome.tif").is_file());
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(repo("tests/fixtures/stardist/mask3d.tif"))
        .args(["--channel-names", "DAPI"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "1 channel name(s) given for 1 channel(s) (axes zyx)",
        ));
}
