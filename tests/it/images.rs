//! Images and masks: TIFF/PNG/JPEG/OME-Zarr in, OME-Zarr (with labels) in the package, TIFF out.

use crate::common::{init, mifa, quiet, repo};
use mifa::formats::ome_zarr::{Multiscale, NgffVersion, WriteOptions};
use mifa::formats::tiff::{Compression, TiffSource};
use mifa::formats::{Limits, PlaneSource};
use mifa::images::{self, AddOptions, MaskBatch, MaskOptions, Overrides};
use mifa::io_error::chain;
use mifa::metadata::{DataType, Manifest, MaskKind};
use mifa::raster::PixelData;
use mifa::Package;
use std::fs;
use std::path::{Path, PathBuf};

fn new_package(tmp: &Path) -> Package {
    Package::create(
        &tmp.join("pkg"),
        Manifest::new("Images imported for the integration tests", "CC0-1.0"),
    )
    .unwrap()
}

fn add(
    pkg: &mut Package,
    inputs: &[PathBuf],
    opts: &AddOptions,
) -> Result<Vec<images::Added>, images::Error> {
    images::add_images(pkg, inputs, opts, &quiet)
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
    // One arm per pixel type: the planes of one source share it.
    macro_rules! extend {
        ($acc:expr, $p:expr, $($t:ident),*) => {
            match ($acc, $p) {
                $((PixelData::$t(mut a), PixelData::$t(b)) => {
                    a.extend(b);
                    PixelData::$t(a)
                })*
                (a, b) => panic!("mixed types {:?} {:?}", a.dtype(), b.dtype()),
            }
        };
    }
    it.fold(first, |acc, p| {
        extend!(acc, p, U8, U16, U32, U64, I8, I16, I32, I64, F32, F64)
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
        // One page of colour type `$ct`, its values `$v` of the spread.
        macro_rules! page {
            ($ct:ty, $v:expr) => {{
                let data: Vec<_> = (0..n).map(|i| ($v)(f(i))).collect();
                enc.write_image::<$ct>(w, h, &data).unwrap()
            }};
        }
        match dtype {
            DataType::Uint8 => page!(ct::Gray8, |x: f64| (x * 255.0) as u8),
            DataType::Uint16 => page!(ct::Gray16, |x: f64| (x * 65535.0) as u16),
            DataType::Uint32 => page!(ct::Gray32, |x: f64| (x * 4e9) as u32),
            DataType::Uint64 => page!(ct::Gray64, |x: f64| (x * 1.8e19) as u64),
            DataType::Int8 => page!(ct::GrayI8, |x: f64| (x * 255.0 - 128.0) as i8),
            DataType::Int16 => page!(ct::GrayI16, |x: f64| (x * 65535.0 - 32768.0) as i16),
            DataType::Int32 => page!(ct::GrayI32, |x: f64| (x * 4e9 - 2e9) as i32),
            DataType::Int64 => page!(ct::GrayI64, |x: f64| (x * 1.8e19 - 9e18) as i64),
            DataType::Float32 => page!(ct::Gray32Float, |x: f64| (x - 0.5) as f32 * 1e3),
            DataType::Float64 => page!(ct::Gray64Float, |x: f64| (x - 0.5) * 1e-3),
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
        &quiet,
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
        &quiet,
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
        &quiet,
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
        &quiet,
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
    init(&pkg, "Images imported through the command line", "CC0-1.0");
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

// Hostile and malformed inputs (issue 14): refused before decoding, with the file named.

/// Offset of the first JPEG SOFn marker's height field.
fn jpeg_sof_dims(bytes: &[u8]) -> usize {
    let mut i = 2;
    loop {
        assert_eq!(bytes[i], 0xFF, "marker expected at {i}");
        let m = bytes[i + 1];
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if matches!(m, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            return i + 5;
        }
        i += 2 + len;
    }
}

fn open_err(path: &Path, limits: &Limits) -> String {
    match mifa::formats::open_source(path, limits) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn jpeg_declaring_gigabytes_is_refused_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(repo("tests/fixtures/stardist/histo.jpg")).unwrap();
    let at = jpeg_sof_dims(&bytes);
    bytes[at..at + 4].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]); // 30000 x 30000
    let bomb = tmp.path().join("bomb.jpg");
    fs::write(&bomb, &bytes).unwrap();
    let start = std::time::Instant::now();
    let err = open_err(&bomb, &Limits::default());
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
    assert!(err.contains("bomb.jpg"), "{err}");
    assert!(
        err.contains("JPEG declares 30000x30000 pixels, 2700000000 bytes decoded"),
        "{err}"
    );
    assert!(
        err.contains("decode limit of 1073741824 bytes (1024 MiB)"),
        "{err}"
    );
    assert!(err.contains("--max-decode-mb"), "{err}");
    // Within a raised cap, the file opens (its header only: nothing is decoded yet).
    let raised = Limits::default().with_max_decode_mb(4096);
    assert!(mifa::formats::open_source(&bomb, &raised).is_ok());
}

/// A PNG with a valid IHDR claiming `w` x `h` RGB pixels and a tiny zlib stream.
fn png_with_ihdr(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.finalize().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn png_declaring_gigabytes_is_refused_and_a_raised_cap_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("bomb.png");
    fs::write(&bomb, png_with_ihdr(30_000, 20_000)).unwrap();
    let err = open_err(&bomb, &Limits::default());
    assert!(err.contains("bomb.png: PNG declares 20000x30000 pixels, 1800000000 bytes decoded, over the decode limit"), "{err}");
    // 1.8 GB fits a 2 GiB cap: opening (header only) succeeds.
    let raised = Limits::default().with_max_decode_mb(2048);
    assert!(mifa::formats::open_source(&bomb, &raised).is_ok());
}

#[test]
fn truncated_jpeg_and_png_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let jpeg = fs::read(repo("tests/fixtures/stardist/histo.jpg")).unwrap();
    for cut in [jpeg.len() - 2, jpeg.len() / 2, jpeg_sof_dims(&jpeg) + 20] {
        let p = tmp.path().join(format!("cut{cut}.jpg"));
        fs::write(&p, &jpeg[..cut]).unwrap();
        let err = open_err(&p, &Limits::default());
        assert!(
            err.contains(&format!("cut{cut}.jpg: truncated JPEG")),
            "{err}"
        );
    }
    // The whole file still opens and decodes.
    let whole = tmp.path().join("whole.jpg");
    fs::write(&whole, &jpeg).unwrap();
    mifa::formats::open_source(&whole, &Limits::default())
        .unwrap()
        .read_plane(0)
        .unwrap();

    let img = image::GrayImage::from_fn(300, 200, |x, y| {
        image::Luma([((x * 7 + y * 13) % 251) as u8])
    });
    let png = tmp.path().join("ok.png");
    img.save(&png).unwrap();
    let bytes = fs::read(&png).unwrap();
    for cut in [bytes.len() - 1, bytes.len() - 12, bytes.len() / 2] {
        let p = tmp.path().join(format!("cut{cut}.png"));
        fs::write(&p, &bytes[..cut]).unwrap();
        let err = open_err(&p, &Limits::default());
        assert!(
            err.contains(&format!("cut{cut}.png: truncated PNG")),
            "{err}"
        );
    }
    mifa::formats::open_source(&png, &Limits::default())
        .unwrap()
        .read_plane(0)
        .unwrap();
}

/// A classic little-endian TIFF of one 8-bit grey page, `w` x `h`, whose single strip holds
/// `rows` rows; the strip data is a few Deflate bytes.
fn tiff_one_strip(w: u32, h: u32, rows: u32, description: Option<&str>) -> Vec<u8> {
    let deflate = [0x78u8, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
    tiff_strip(w, h, rows, description, 8, &deflate)
}

/// As [`tiff_one_strip`], with the strip's compression and bytes given.
fn tiff_strip(
    w: u32,
    h: u32,
    rows: u32,
    description: Option<&str>,
    compression: u32,
    data: &[u8],
) -> Vec<u8> {
    let desc = description.map(|d| format!("{d}\0"));
    let mut entries: Vec<(u16, u16, u32, u32)> = vec![
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, compression),
        (262, 3, 1, 1),
        (273, 4, 1, 0), // StripOffsets: patched below
        (277, 3, 1, 1),
        (278, 4, 1, rows),
        (279, 4, 1, data.len() as u32),
    ];
    let n = entries.len() + usize::from(desc.is_some());
    let ifd_len = 2 + 12 * n + 4;
    let desc_at = 8 + ifd_len as u32;
    let data_at = desc_at + desc.as_ref().map_or(0, |d| d.len() as u32);
    entries[5].3 = data_at;
    if let Some(d) = &desc {
        entries.push((270, 2, d.len() as u32, desc_at));
        entries.sort_by_key(|e| e.0);
    }
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((n as u16).to_le_bytes());
    for (tag, ty, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(ty.to_le_bytes());
        out.extend(count.to_le_bytes());
        if ty == 3 {
            out.extend((value as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes());
    if let Some(d) = &desc {
        out.extend(d.as_bytes());
    }
    out.extend(data);
    out
}

#[test]
fn tiff_strip_declaring_gigabytes_is_refused_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("strip.tif");
    fs::write(&bomb, tiff_one_strip(60_000, 60_000, 60_000, None)).unwrap();
    let err = open_err(&bomb, &Limits::default());
    assert!(
        err.contains("strip.tif: TIFF strip (page 0) declares 60000x60000 pixels, 3600000000 bytes decoded, over the decode limit of 1073741824 bytes"),
        "{err}"
    );
    // With the cap raised, the file opens (nothing decoded yet).
    TiffSource::open(&bomb, &Limits::default().with_max_decode_mb(4096)).unwrap();
}

#[test]
fn jpeg_in_tiff_declaring_more_than_its_strip_is_refused_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let mut jpeg = Vec::new();
    let img = image::GrayImage::from_fn(512, 256, |x, y| image::Luma([(x ^ y) as u8]));
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(&img)
        .unwrap();
    let p = tmp.path().join("jpeg.tif");
    fs::write(&p, tiff_strip(8, 8, 8, None, 7, &jpeg)).unwrap();
    let mut src = TiffSource::open(&p, &Limits::default()).unwrap();
    let err = src.read_plane(0).unwrap_err().to_string();
    assert!(
        err.contains("jpeg.tif: page 0 strip 0: its JPEG declares 512x256 pixels of 1 component(s), larger than the strip (8x8, 1 sample(s))"),
        "{err}"
    );
    // Within its strip, the embedded JPEG decodes.
    let p = tmp.path().join("fits.tif");
    fs::write(&p, tiff_strip(512, 256, 256, None, 7, &jpeg)).unwrap();
    let plane = TiffSource::open(&p, &Limits::default())
        .unwrap()
        .read_plane(0)
        .unwrap();
    assert_eq!((plane.height, plane.width), (256, 512));
}

fn ome(order: &str, (z, c, t): (u32, u32, u32), tiff_data: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\"><Image ID=\"Image:0\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"{order}\" Type=\"uint8\" SizeX=\"8\" SizeY=\"4\" SizeZ=\"{z}\" SizeC=\"{c}\" SizeT=\"{t}\">{tiff_data}</Pixels></Image></OME>"
    )
}

#[test]
fn ome_xml_dimension_order_sizes_and_tiff_data_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (ome("XYQQQ", (3, 1, 1), ""), "Pixels/@DimensionOrder: \"XYQQQ\" is not one of XYZCT, XYZTC, XYCTZ, XYCZT, XYTCZ, XYTZC"),
        (ome("XYZCT", (3, 1, 1), ""), "OME-XML describes 3 pages (T=1 Z=3 C=1, 1 sample(s) per page), the file has 1"),
        (ome("XYZCT", (0, 1, 1), ""), "Pixels/@SizeZ: \"0\" is not a positive integer"),
        (ome("XYZCT", (1, 1, 1), "<TiffData IFD=\"4\" PlaneCount=\"1\"/>"), "Pixels/TiffData[0]: IFD 4 with PlaneCount 1 points beyond the file's 1 IFD(s)"),
        (ome("XYZCT", (1, 1, 1), "<TiffData FirstZ=\"2\"/>"), "Pixels/TiffData[0]: first plane Z=2 C=0 T=0 is outside SizeZ=1, C=1, T=1"),
        (ome("XYZCT", (1, 1, 1), "<TiffData IFD=\"0\"><UUID FileName=\"other.ome.tif\">urn:uuid:1</UUID></TiffData>"), "planes stored in another file (\"other.ome.tif\")"),
    ];
    for (i, (xml, expected)) in cases.iter().enumerate() {
        let p = tmp.path().join(format!("case{i}.ome.tif"));
        fs::write(&p, tiff_one_strip(8, 4, 4, Some(xml))).unwrap();
        let err = open_err(&p, &Limits::default());
        assert!(err.contains(&format!("case{i}.ome.tif")), "{err}");
        assert!(err.contains(expected), "case {i}: {err}");
    }
    // A valid single-plane description opens.
    let p = tmp.path().join("ok.ome.tif");
    let xml = ome("XYZCT", (1, 1, 1), "<TiffData IFD=\"0\" PlaneCount=\"1\"/>");
    fs::write(&p, tiff_one_strip(8, 4, 4, Some(&xml))).unwrap();
    assert!(TiffSource::open(&p, &Limits::default()).is_ok());
}

/// A package with one 3-page uint16 image `stack`.
fn package_with_stack(tmp: &Path) -> Package {
    let mut pkg = new_package(tmp);
    let tif = tmp.join("stack.tif");
    write_tiff_stack(&tif, DataType::Uint16);
    add(&mut pkg, &[tif], &AddOptions::default()).unwrap();
    pkg
}

/// Rewrites the `shape` of an array's `zarr.json`.
fn edit_shape(array: &Path, shape: &[u64]) {
    let file = array.join("zarr.json");
    let mut md: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    md["shape"] = serde_json::json!(shape);
    fs::write(&file, md.to_string()).unwrap();
}

#[test]
fn zarr_with_an_edited_huge_shape_is_refused_without_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_with_stack(tmp.path());
    let dir = pkg.root().join("images/stack.ome.zarr");
    edit_shape(&dir.join("0"), &[3, 1_000_000, 1_000_000]);
    let err = images::export_tiff(&pkg, &tmp.path().join("out"), Compression::None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stack.ome.zarr/0"), "{err}");
    assert!(err.contains("[3, 1000000, 1000000]"), "{err}");
    assert!(err.contains("over the limit"), "{err}");

    // A region read larger than the plane cap is refused before zarrs allocates it.
    edit_shape(&dir.join("0"), &[3, 37, 53]);
    let ms = Multiscale::open(&dir).unwrap().with_limits(Limits {
        max_plane_bytes: 1000,
        ..Default::default()
    });
    let err = ms.read_plane(0, 0).unwrap_err().to_string();
    assert!(err.contains("stack.ome.zarr/0: reading region"), "{err}");
    assert!(
        err.contains("needs 3922 bytes, over the limit of 1000 bytes"),
        "{err}"
    );
}

#[test]
fn zarr_chunks_declaring_gigabytes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_with_stack(tmp.path());
    let dir = pkg.root().join("images/stack.ome.zarr");
    let ms = Multiscale::open(&dir).unwrap().with_limits(Limits {
        max_decode_bytes: 100,
        ..Default::default()
    });
    let err = ms.read_plane(0, 0).unwrap_err().to_string();
    assert!(
        err.contains("stack.ome.zarr/0: Zarr chunk declares 37x53 pixels, 3922 bytes decoded, over the decode limit of 100 bytes"),
        "{err}"
    );
}

#[test]
fn a_corrupt_chunk_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_with_stack(tmp.path());
    let dir = pkg.root().join("images/stack.ome.zarr");
    fs::write(dir.join("0/c/1/0/0"), b"not zstd at all").unwrap();
    let ms = Multiscale::open(&dir).unwrap();
    ms.read_plane(0, 0).unwrap();
    // The chunk is named by the error, the decoder's reason by its source.
    let err = chain(&ms.read_plane(0, 1).unwrap_err());
    assert!(err.contains("stack.ome.zarr/0: chunk [1, 0, 0]: "), "{err}");
    let err =
        chain(&images::export_tiff(&pkg, &tmp.path().join("out"), Compression::None).unwrap_err());
    assert!(err.contains("stack.ome.zarr/0: chunk [1, 0, 0]: "), "{err}");
}

#[test]
fn a_label_whose_shape_differs_from_its_image_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkg = package_with_stack(tmp.path());
    let mask = tmp.path().join("mask.tif");
    write_tiff_stack(&mask, DataType::Uint8);
    images::add_mask(
        &mut pkg,
        "stack",
        &mask,
        "cells",
        MaskKind::Instance,
        &MaskOptions::default(),
        &quiet,
    )
    .unwrap();
    let dir = pkg.root().join("images/stack.ome.zarr");
    edit_shape(&dir.join("labels/cells/0"), &[3, 37, 40]);
    let err = Multiscale::open(&dir)
        .unwrap()
        .label("cells")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("labels/cells/0: shape: label zyx [3, 37, 40] does not match image zyx [3, 37, 53] along x"),
        "{err}"
    );
}

#[test]
fn cli_max_decode_mb_sets_the_decode_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("p");
    init(&pkg, "Decode caps from the command line", "CC0-1.0");
    // 1000 x 600 RGB: 1.8 MB decoded.
    let img = image::RgbImage::from_fn(1000, 600, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let png = tmp.path().join("wide.png");
    img.save(&png).unwrap();
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(&png)
        .args(["--max-decode-mb", "1"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "wide.png: PNG declares 600x1000 pixels, 1800000 bytes decoded, over the decode limit of 1048576 bytes (1 MiB); if the file is genuine, raise the limit with --max-decode-mb",
        ));
    let manifest = fs::read(pkg.join("mifa.json")).unwrap();
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(&png)
        .args(["--max-decode-mb", "0"])
        .assert()
        .code(2);
    assert_eq!(fs::read(pkg.join("mifa.json")).unwrap(), manifest);
    mifa()
        .arg("add")
        .arg(&pkg)
        .arg(&png)
        .args(["--max-decode-mb", "2"])
        .assert()
        .success();
}
