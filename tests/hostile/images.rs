//! Images and masks: TIFF (IFD chains, declared sizes, compression, truncation), OME-TIFF
//! OME-XML, PNG and JPEG (declared-size bombs, truncation), OME-Zarr inputs and the package's
//! own OME-Zarr edited (shapes, chunks, dtypes, paths), masks.

use crate::gen::*;
use crate::runner::Spec;
use crate::{case, Case};
use std::fs;
use std::path::{Path, PathBuf};

/// `mifa add PKG FILE`, refused, naming the file, the package unchanged.
fn add_refused(c: &Ctx, name: &str, bytes: Vec<u8>) -> Spec {
    let pkg = c.pkg();
    let f = c.write(name, bytes);
    Spec::fail(["add".as_ref(), pkg.as_os_str(), f.as_os_str()])
        .names_file(&f)
        .guard(&pkg)
}

/// `mifa add PKG --mask FILE --image img --name m2`, refused.
fn mask_refused(c: &Ctx, name: &str, bytes: Vec<u8>) -> Spec {
    let pkg = c.pkg();
    let f = c.write(name, bytes);
    Spec::fail([
        "add".as_ref(),
        pkg.as_os_str(),
        "--mask".as_ref(),
        f.as_os_str(),
        "--image".as_ref(),
        "img".as_ref(),
        "--name".as_ref(),
        "m2".as_ref(),
    ])
    .names_file(&f)
    .guard(&pkg)
}

fn two_pages() -> Vec<Page> {
    vec![Page::gray8(16, 16), Page::gray8(16, 16)]
}

fn page(f: impl FnOnce(&mut Page)) -> Vec<u8> {
    let mut p = Page::gray8(16, 16);
    f(&mut p);
    tiff(&[p], Chain::End)
}

fn tiff_cases() -> Vec<(&'static str, Vec<u8>)> {
    let valid = tiff(&[Page::gray8(16, 16)], Chain::End);
    let mut flipped = valid.clone();
    for b in flipped.iter_mut().skip(8).step_by(7) {
        *b ^= 0xA5;
    }
    vec![
        ("ifd_loop_to_first", tiff(&two_pages(), Chain::LoopToFirst)),
        (
            "ifd_self_loop",
            tiff(&[Page::gray8(16, 16)], Chain::SelfLoop),
        ),
        ("ifd_past_end", tiff(&two_pages(), Chain::PastEnd)),
        (
            "strip_declares_4gb",
            page(|p| p.counts = Some(vec![4_000_000_000])),
        ),
        (
            "huge_dimensions_tiny_strip",
            page(|p| {
                p.width = 1_000_000;
                p.height = 1_000_000;
                p.rows_per_strip = 1_000_000;
            }),
        ),
        (
            "huge_tile",
            page(|p| {
                p.width = 65_536;
                p.height = 65_536;
                p.tile = Some((65_536, 65_536));
            }),
        ),
        ("tiles_not_multiple_of_16", page(|p| p.tile = Some((3, 3)))),
        ("unknown_compression", page(|p| p.compression = 12_345)),
        ("lzw_garbage", page(|p| p.compression = 5)),
        ("deflate_garbage", page(|p| p.compression = 8)),
        ("jpeg_garbage", page(|p| p.compression = 7)),
        (
            "packbits_truncated_run",
            page(|p| {
                // A literal run of 128 bytes with 3 of them present.
                p.compression = 32_773;
                p.blocks = vec![vec![0x7F, 1, 2, 3]];
            }),
        ),
        ("strip_past_end", page(|p| p.offsets = Some(vec![1 << 30]))),
        ("truncated_in_strip", {
            let mut b = tiff(&[Page::gray8(64, 64)], Chain::End);
            // The strip comes first: keep the header and half of it, drop the IFD.
            b.truncate(8 + 64 * 32);
            b
        }),
        ("truncated_ifd", {
            let b = valid.clone();
            b[..b.len() - 30].to_vec()
        }),
        ("header_only", b"II*\0".to_vec()),
        ("empty", Vec::new()),
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect(),
        ),
        ("big_endian_garbage", {
            let mut b = b"MM\0*\xff\xff\xff\xf0".to_vec();
            b.extend(vec![0xEE; 64]);
            b
        }),
        ("flipped_bytes", flipped),
        ("zero_width", page(|p| p.width = 0)),
        ("bits_per_sample_3", page(|p| p.bits = 3)),
        (
            "float_with_8_bits",
            page(|p| p.extra.push((339, 3, vec![3]))),
        ),
        (
            "65535_samples_per_pixel",
            page(|p| p.extra.push((277, 3, vec![65_535]))),
        ),
        (
            "a_million_rows_one_strip_listed",
            page(|p| {
                p.height = 1_000_000;
                p.rows_per_strip = 1;
            }),
        ),
        ("rows_per_strip_zero", page(|p| p.rows_per_strip = 0)),
        ("many_pages_huge_each", {
            let mut pages = Vec::new();
            for _ in 0..50 {
                let mut p = Page::gray8(16, 16);
                p.width = 40_000;
                p.height = 40_000;
                pages.push(p);
            }
            tiff(&pages, Chain::End)
        }),
    ]
}

fn ome_tiff(order: &str, sizes: [u64; 5], pages: usize) -> Vec<u8> {
    let xml = ome_xml(order, sizes[0], sizes[1], sizes[2], sizes[3], sizes[4]);
    let mut ps: Vec<Page> = (0..pages).map(|_| Page::gray8(16, 16)).collect();
    ps[0].description = Some(xml);
    tiff(&ps, Chain::End)
}

fn ome_cases() -> Vec<(&'static str, Vec<u8>)> {
    let with_xml = |xml: String| {
        let mut p = Page::gray8(16, 16);
        p.description = Some(xml);
        tiff(&[p], Chain::End)
    };
    vec![
        (
            "dimension_order_xyqqq",
            ome_tiff("XYQQQ", [16, 16, 3, 1, 1], 1),
        ),
        (
            "dimension_order_repeats",
            ome_tiff("XYZZT", [16, 16, 1, 1, 1], 1),
        ),
        (
            "sizez_more_than_pages",
            ome_tiff("XYZCT", [16, 16, 3, 1, 1], 1),
        ),
        (
            "sizez_a_million",
            ome_tiff("XYZCT", [16, 16, 1_000_000, 1, 1], 1),
        ),
        (
            "sizex_differs_from_tiff",
            ome_tiff("XYZCT", [17, 16, 1, 1, 1], 1),
        ),
        ("sizes_zero", ome_tiff("XYZCT", [16, 16, 0, 1, 1], 1)),
        (
            "sizes_overflow_u64",
            ome_tiff("XYZCT", [16, 16, u64::MAX, u64::MAX, 2], 1),
        ),
        (
            "malformed_xml",
            with_xml(ome_xml("XYZCT", 16, 16, 1, 1, 1).replace("</OME>", "")),
        ),
        (
            "negative_size",
            with_xml(ome_xml("XYZCT", 16, 16, 1, 1, 1).replace("SizeC=\"1\"", "SizeC=\"-1\"")),
        ),
        (
            "entity_bomb",
            with_xml(format!(
                r#"<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>{}"#,
                ome_xml("XYZCT", 16, 16, 1, 1, 1)
                    .replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "")
                    .replace("Name=\"hostile\"", "Name=\"&g;\"")
            )),
        ),
        (
            "deeply_nested_xml",
            with_xml(ome_xml("XYZCT", 16, 16, 1, 1, 1).replace(
                "</Image>",
                &format!("{}{}</Image>", "<A>".repeat(50_000), "</A>".repeat(50_000)),
            )),
        ),
    ]
}

fn chunk_of(pkg: &Path) -> PathBuf {
    chunk_files(&pkg.join("images/img.ome.zarr/0"))
        .into_iter()
        .next()
        .expect("a chunk")
}

fn level0(pkg: &Path) -> PathBuf {
    pkg.join("images/img.ome.zarr/0/zarr.json")
}

/// Edits the package's image, then runs a reading or writing command over it.
fn zarr_case(name: &'static str, edit: fn(&Path) -> String, cmds: &[&'static str]) -> Vec<Case> {
    cmds.iter()
        .map(|cmd| {
            let cmd = *cmd;
            case(&format!("zarr/{name}/{cmd}"), move |c| {
                let pkg = c.pkg();
                let needle = edit(&pkg);
                let p = pkg.as_os_str().to_os_string();
                let out = c.path("out");
                let args: Vec<std::ffi::OsString> = match cmd {
                    "export-tiff" => vec!["export".into(), p, "tiff".into(), out.into()],
                    "load" => vec![
                        "load".into(),
                        p,
                        "--patch".into(),
                        "32".into(),
                        "--batch-size".into(),
                        "2".into(),
                        "--batches".into(),
                        "2".into(),
                    ],
                    "preview" => vec![
                        "preview".into(),
                        p,
                        "img".into(),
                        "--out".into(),
                        c.path("p.png").into(),
                    ],
                    "validate" => vec!["validate".into(), p],
                    "report" => vec!["report".into(), p, "--out".into(), out.into()],
                    "to-polygons" => vec![
                        "convert".into(),
                        "to-polygons".into(),
                        p,
                        "--mask".into(),
                        "nuc".into(),
                        "--set".into(),
                        "traced".into(),
                    ],
                    _ => unreachable!(),
                };
                let s = Spec::fail(args)
                    .names_any(&[needle.as_str(), "img", "images[0]"])
                    .guard(&pkg);
                // A corrupt chunk is named: its key, not only its image.
                let s = if name == "corrupt_chunk" {
                    s.names_any(&["c/0/0", "chunk"])
                } else {
                    s
                };
                // The report names an image it cannot draw on its page and goes on.
                let s = if cmd == "report" { s.lenient() } else { s };
                if matches!(
                    cmd,
                    "validate" | "load" | "export-tiff" | "preview" | "report"
                ) {
                    s.readonly()
                } else {
                    s
                }
            })
        })
        .collect()
}

fn set_shape(p: &Path, shape: serde_json::Value) {
    edit_json(p, |v| v["shape"] = shape);
}

fn zarr_in_package() -> Vec<Case> {
    let all = &["export-tiff", "load", "preview", "validate"];
    let mut v = Vec::new();
    v.extend(zarr_case(
        "shape_1e6_squared",
        |pkg| {
            set_shape(
                &level0(pkg),
                serde_json::json!([1_000_000u64, 1_000_000u64]),
            );
            "zarr.json".into()
        },
        all,
    ));
    v.extend(zarr_case(
        "corrupt_chunk",
        |pkg| {
            let ch = chunk_of(pkg);
            fs::write(&ch, b"this is not zstd at all, it is a corrupt chunk").unwrap();
            "c/0/0".into()
        },
        &["export-tiff", "load", "preview", "report"],
    ));
    v.extend(zarr_case(
        "data_type_float64",
        |pkg| {
            edit_json(&level0(pkg), |v| v["data_type"] = "float64".into());
            "img".into()
        },
        &["export-tiff", "load", "validate"],
    ));
    v.extend(zarr_case(
        "data_type_unknown",
        |pkg| {
            edit_json(&level0(pkg), |v| v["data_type"] = "complex2048".into());
            "zarr.json".into()
        },
        &["export-tiff", "validate"],
    ));
    v.extend(zarr_case(
        "zarr_json_malformed",
        |pkg| {
            fs::write(level0(pkg), "{\"zarr_format\": 3, \"node_type\": ").unwrap();
            "zarr.json".into()
        },
        &["export-tiff", "validate", "load"],
    ));
    v.extend(zarr_case(
        "chunk_shape_zero",
        |pkg| {
            edit_json(&level0(pkg), |v| {
                v["chunk_grid"]["configuration"]["chunk_shape"] = serde_json::json!([0, 0])
            });
            "zarr.json".into()
        },
        &["export-tiff", "validate"],
    ));
    v.extend(zarr_case(
        "label_shape_huge",
        |pkg| {
            set_shape(
                &pkg.join("images/img.ome.zarr/labels/nuc/0/zarr.json"),
                serde_json::json!([1_000_000u64, 1_000_000u64]),
            );
            "nuc".into()
        },
        &["export-tiff", "validate", "to-polygons"],
    ));
    v.extend(zarr_case(
        "dataset_path_dotdot",
        |pkg| {
            edit_json(&pkg.join("images/img.ome.zarr/zarr.json"), |v| {
                v["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] =
                    "../../../outside".into()
            });
            "..".into()
        },
        &["export-tiff", "validate"],
    ));
    v.extend(zarr_case(
        "dimension_names_wrong",
        |pkg| {
            edit_json(&level0(pkg), |v| {
                v["dimension_names"] = serde_json::json!(["q", "r", "s"])
            });
            "zarr.json".into()
        },
        &["validate"],
    ));
    v
}

/// An OME-Zarr input outside the package (a copy of the package's own image, edited).
fn zarr_input(name: &'static str, edit: fn(&Path) -> String) -> Case {
    case(&format!("zarr-input/{name}"), move |c| {
        let (pkg, _) = (c.pkg(), ());
        let src = c.path("in.ome.zarr");
        copy_tree(&pkg.join("images/img.ome.zarr"), &src);
        let needle = edit(&src);
        // A corrupt chunk is named: its key, not only the image.
        let chunk = needle == "CHUNK";
        let s = Spec::fail([
            "add".as_ref(),
            pkg.as_os_str(),
            src.as_os_str(),
            "--id".as_ref(),
            "second".as_ref(),
        ])
        .names_any(&[needle.as_str(), "in.ome.zarr"])
        .guard(&pkg);
        if chunk {
            s.names_any(&["c/0/0", "chunk"])
        } else {
            s
        }
    })
}

fn zarr_inputs() -> Vec<Case> {
    vec![
        zarr_input("shape_1e6_squared", |z| {
            set_shape(
                &z.join("0/zarr.json"),
                serde_json::json!([1_000_000u64, 1_000_000u64]),
            );
            "zarr.json".into()
        }),
        zarr_input("corrupt_chunk", |z| {
            let ch = chunk_files(&z.join("0")).remove(0);
            fs::write(&ch, vec![0xFF; 100]).unwrap();
            "CHUNK".into()
        }),
        zarr_input("dataset_path_dotdot", |z| {
            edit_json(&z.join("zarr.json"), |v| {
                v["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] =
                    "../../outside".into()
            });
            "..".into()
        }),
        zarr_input("dataset_path_absolute", |z| {
            edit_json(&z.join("zarr.json"), |v| {
                v["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "/etc".into()
            });
            "/etc".into()
        }),
        zarr_input("level_missing", |z| {
            fs::remove_dir_all(z.join("1")).unwrap();
            "1".into()
        }),
        zarr_input("ten_axes", |z| {
            edit_json(&z.join("zarr.json"), |v| {
                let axes: Vec<_> = (0..10)
                    .map(|i| serde_json::json!({"name": format!("a{i}"), "type": "space"}))
                    .collect();
                v["attributes"]["ome"]["multiscales"][0]["axes"] = axes.into();
            });
            "axes".into()
        }),
        zarr_input("deeply_nested_attributes", |z| {
            let text = fs::read_to_string(z.join("zarr.json")).unwrap();
            let bomb = nested_arrays(100_000, "0");
            let t = text.replacen(
                "\"attributes\": {",
                &format!("\"attributes\": {{\"x\": {bomb},"),
                1,
            );
            fs::write(z.join("zarr.json"), t).unwrap();
            "zarr.json".into()
        }),
        zarr_input("root_zarr_json_is_array", |z| {
            fs::write(z.join("zarr.json"), "[1,2,3]").unwrap();
            "zarr.json".into()
        }),
        zarr_input("scale_nan_strings", |z| {
            edit_json(&z.join("zarr.json"), |v| {
                v["attributes"]["ome"]["multiscales"][0]["datasets"][0]
                    ["coordinateTransformations"][0]["scale"] = serde_json::json!(["NaN", "inf"])
            });
            "scale".into()
        }),
        case("zarr-input/v04_zarray_shape_huge", |c| {
            let pkg = c.pkg();
            let src = c.fixture(
                "tests/fixtures/reference_libs/tiny_v04.ome.zarr",
                "v4.ome.zarr",
            );
            for za in find_named(&src, ".zarray") {
                edit_json(&za, |v| {
                    let n = v["shape"].as_array().map_or(2, Vec::len);
                    v["shape"] = vec![serde_json::json!(1_000_000_000u64); n].into();
                });
            }
            Spec::fail(["add".as_ref(), pkg.as_os_str(), src.as_os_str()])
                .names_any(&[".zarray", "v4.ome.zarr"])
                .guard(&pkg)
        }),
    ]
}

fn masks() -> Vec<Case> {
    let mut v = vec![
        case("mask/shape_differs_from_image", |c| {
            let mut b = Vec::new();
            {
                let p = c.path("small.tif");
                write_tiff16(&p, 32, 32, &mask16(32, 32));
                b.extend(fs::read(&p).unwrap());
            }
            mask_refused(c, "small_mask.tif", b)
        }),
        case("mask/float_values", |c| {
            let mut p = Page::gray8(64, 64);
            p.bits = 32;
            p.blocks = vec![vec![0x3F; 64 * 64 * 4]];
            p.extra.push((339, 3, vec![3]));
            mask_refused(c, "float_mask.tif", tiff(&[p], Chain::End))
        }),
        case("mask/ifd_loop", |c| {
            mask_refused(c, "loop_mask.tif", tiff(&two_pages(), Chain::LoopToFirst))
        }),
        case("mask/huge_declared", |c| {
            mask_refused(
                c,
                "huge_mask.tif",
                page(|p| {
                    p.width = 1_000_000;
                    p.height = 1_000_000;
                }),
            )
        }),
        case("mask/png_bomb", |c| {
            mask_refused(c, "bomb_mask.png", png_declaring(60_000, 60_000))
        }),
        case("mask/unknown_image", |c| {
            let pkg = c.pkg();
            let f = c.path("m.tif");
            write_tiff16(&f, 64, 64, &mask16(64, 64));
            Spec::fail([
                "add".as_ref(),
                pkg.as_os_str(),
                "--mask".as_ref(),
                f.as_os_str(),
                "--image".as_ref(),
                "no_such_image".as_ref(),
                "--name".as_ref(),
                "m2".as_ref(),
            ])
            .names("no_such_image")
            .guard(&pkg)
        }),
        case("mask/name_dotdot", |c| {
            let pkg = c.pkg();
            let f = c.path("m.tif");
            write_tiff16(&f, 64, 64, &mask16(64, 64));
            let (out, _) = c.victim();
            Spec::fail([
                "add".as_ref(),
                pkg.as_os_str(),
                "--mask".as_ref(),
                f.as_os_str(),
                "--image".as_ref(),
                "img".as_ref(),
                "--name".as_ref(),
                "../../../../outside".as_ref(),
            ])
            .names("..")
            .guard(&pkg)
            .keep(&out)
        }),
    ];
    for (name, text) in [
        ("classes_malformed", "{\"1\": \"nucleus\"".to_string()),
        ("classes_deep", nested_objects(100_000, "1")),
        ("classes_wrong_type", "{\"1\": [1, 2, 3]}".to_string()),
        (
            "classes_label_value_overflow",
            "{\"99999999999999999999999\": \"x\"}".to_string(),
        ),
    ] {
        v.push(case(&format!("mask/{name}"), move |c| {
            let pkg = c.pkg();
            let f = c.path("m.tif");
            write_tiff16(&f, 64, 64, &mask16(64, 64));
            let classes = c.write("classes.json", &text);
            Spec::fail([
                "add".as_ref(),
                pkg.as_os_str(),
                "--mask".as_ref(),
                f.as_os_str(),
                "--image".as_ref(),
                "img".as_ref(),
                "--name".as_ref(),
                "m2".as_ref(),
                "--classes".as_ref(),
                classes.as_os_str(),
            ])
            .names("classes.json")
            .guard(&pkg)
        }));
    }
    v.push(case("mask/masks_folder_with_a_bomb", |c| {
        let pkg = c.pkg();
        let img = c.path("two.tif");
        write_tiff16(&img, 64, 64, &gray16(64, 64));
        let masks = c.path("masks");
        fs::create_dir_all(&masks).unwrap();
        fs::write(masks.join("two.png"), png_declaring(60_000, 60_000)).unwrap();
        Spec::fail([
            "add".as_ref(),
            pkg.as_os_str(),
            img.as_os_str(),
            "--masks".as_ref(),
            masks.as_os_str(),
        ])
        .names("two.png")
        .guard(&pkg)
    }));
    v
}

/// Every image and mask case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (name, bytes) in tiff_cases() {
        v.push(case(&format!("tiff/{name}"), move |c| {
            let s = add_refused(c, &format!("{name}.tif"), bytes.clone());
            // A strip count past the end is harmless if only the plane's bytes are read.
            if name == "strip_declares_4gb" {
                s.lenient()
            } else {
                s
            }
        }));
    }
    for (name, bytes) in ome_cases() {
        v.push(case(&format!("ome-tiff/{name}"), move |c| {
            let s = add_refused(c, &format!("{name}.ome.tif"), bytes.clone());
            // Unknown elements, however deep, may be skipped if the parse stays bounded.
            if name == "deeply_nested_xml" {
                s.lenient()
            } else {
                s
            }
        }));
    }
    let raster: Vec<(&str, &str, Vec<u8>)> = vec![
        ("png", "bomb_60000_squared", png_declaring(60_000, 60_000)),
        ("png", "bomb_wide", png_declaring(2_000_000_000, 1)),
        ("png", "zero_width", png_declaring(0, 16)),
        ("png", "truncated", {
            let b = png(64, 64);
            b[..b.len() / 2].to_vec()
        }),
        ("png", "bad_crc", {
            let mut b = png(16, 16);
            b[30] ^= 0xFF;
            b
        }),
        ("png", "signature_then_garbage", {
            let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
            b.extend(vec![0xAB; 200]);
            b
        }),
        ("jpeg", "bomb_60000_squared", jpeg_declaring(60_000, 60_000)),
        ("jpeg", "truncated", {
            let b = jpeg(64, 64);
            b[..b.len() * 6 / 10].to_vec()
        }),
        ("jpeg", "soi_only", vec![0xFF, 0xD8]),
        ("jpeg", "zero_height", jpeg_declaring(16, 0)),
        ("jpeg", "no_eoi", {
            let mut b = jpeg(64, 64);
            b.truncate(b.len() - 2);
            b
        }),
    ];
    for (kind, name, bytes) in raster {
        let ext = if kind == "png" { "png" } else { "jpg" };
        v.push(case(&format!("{kind}/{name}"), move |c| {
            let s = add_refused(c, &format!("{name}.{ext}"), bytes.clone());
            // Every row is there, only the end marker is missing.
            if name == "no_eoi" {
                s.lenient()
            } else {
                s
            }
        }));
    }
    v.extend(zarr_in_package());
    v.extend(zarr_inputs());
    v.extend(masks());
    v.push(case("images/fifo_input", |c| {
        let pkg = c.pkg();
        let f = c.fifo("stuck.tif");
        Spec::fail(["add".as_ref(), pkg.as_os_str(), f.as_os_str()])
            .names_file(&f)
            .guard(&pkg)
    }));
    v.push(case("images/dev_zero_input", |c| {
        let pkg = c.pkg();
        let f = c.path("zero.tif");
        std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
        Spec::fail(["add".as_ref(), pkg.as_os_str(), f.as_os_str()])
            .names_file(&f)
            .guard(&pkg)
    }));
    v
}
