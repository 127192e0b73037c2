//! Submissions: `publish check` of a real submission folder with a hostile zip, PageTab or
//! file list in it, and `publish bia` with hostile outputs.

use crate::gen::*;
use crate::runner::Spec;
use crate::{case, Case};
use std::fs;
use std::path::Path;

const ZIP: &str = "upload/images/nuclei.ome.zarr.zip";

fn root_zarr() -> Vec<u8> {
    br#"{"zarr_format":3,"node_type":"group","attributes":{"ome":{"version":"0.5"}}}"#.to_vec()
}

fn with_zip(name: &'static str, bytes: fn() -> Vec<u8>) -> Case {
    case(&format!("publish_check/zip/{name}"), move |c| {
        let (_, sub) = c.published();
        let (out, _) = c.victim();
        fs::write(sub.join(ZIP), bytes()).unwrap();
        Spec::fail(["publish".as_ref(), "check".as_ref(), sub.as_os_str()])
            .names("nuclei.ome.zarr.zip")
            .guard(&sub)
            .readonly()
            .keep(&out)
    })
}

fn zips() -> Vec<Case> {
    vec![
        with_zip("dotdot_entry", || {
            zip(&[
                entry("zarr.json", &root_zarr()),
                entry("../../outside/evil.txt", b"x"),
            ])
        }),
        with_zip("inner_dotdot_entry", || {
            zip(&[
                entry("zarr.json", &root_zarr()),
                entry("0/../../../evil.txt", b"x"),
            ])
        }),
        with_zip("absolute_entry", || {
            zip(&[entry("zarr.json", &root_zarr()), entry("/etc/passwd", b"x")])
        }),
        with_zip("backslash_dotdot_entry", || {
            zip(&[
                entry("zarr.json", &root_zarr()),
                entry("..\\..\\evil.txt", b"x"),
            ])
        }),
        with_zip("drive_letter_entry", || {
            zip(&[entry("zarr.json", &root_zarr()), entry("C:/evil.txt", b"x")])
        }),
        with_zip("declares_2_pow_62_bytes", || {
            zip(&[
                entry("zarr.json", &root_zarr()),
                ZipEntry {
                    name: "0/c/0/0".into(),
                    data: vec![0; 16],
                    declared: Some(1 << 62),
                },
            ])
        }),
        with_zip("duplicate_entries", || {
            zip(&[entry("zarr.json", &root_zarr()), entry("zarr.json", b"{}")])
        }),
        with_zip("nul_in_name", || {
            zip(&[entry("zarr.json", &root_zarr()), entry("0/c\0/evil", b"x")])
        }),
        with_zip("not_a_zip", || {
            b"just some text, not an archive at all".to_vec()
        }),
        with_zip("empty_file", Vec::new),
        with_zip("truncated", || {
            let z = zip(&[
                entry("zarr.json", &root_zarr()),
                entry("0/zarr.json", b"{}"),
            ]);
            z[..z.len() - 30].to_vec()
        }),
        with_zip("entry_count_lies", || {
            let mut z = zip(&[entry("zarr.json", &root_zarr())]);
            let n = z.len();
            let eocd = n - 22 - br#"{"ome":{"version":"0.5"}}"#.len();
            z[eocd + 8..eocd + 10].copy_from_slice(&65_535u16.to_le_bytes());
            z[eocd + 10..eocd + 12].copy_from_slice(&65_535u16.to_le_bytes());
            z
        }),
        with_zip("central_directory_outside", || {
            let mut z = zip(&[entry("zarr.json", &root_zarr())]);
            let n = z.len();
            let eocd = n - 22 - br#"{"ome":{"version":"0.5"}}"#.len();
            z[eocd + 16..eocd + 20].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
            z
        }),
        with_zip("zip64_locator_to_nowhere", || {
            let mut z = zip(&[entry("zarr.json", &root_zarr())]);
            let n = z.len();
            let eocd = n - 22 - br#"{"ome":{"version":"0.5"}}"#.len();
            let mut loc = 0x0706_4b50u32.to_le_bytes().to_vec();
            loc.extend_from_slice(&0u32.to_le_bytes());
            loc.extend_from_slice(&(1u64 << 60).to_le_bytes());
            loc.extend_from_slice(&1u32.to_le_bytes());
            z.splice(eocd..eocd, loc);
            z
        }),
        with_zip("compressed_entry_method_99", || {
            let mut z = zip(&[entry("zarr.json", &root_zarr())]);
            // Method of the local header and the central entry.
            z[8] = 99;
            let cd = z
                .windows(4)
                .position(|w| w == 0x0201_4b50u32.to_le_bytes())
                .unwrap();
            z[cd + 10] = 99;
            z
        }),
    ]
}

fn submission(name: &'static str, needle: &'static str, edit: fn(&Path)) -> Case {
    case(&format!("publish_check/{name}"), move |c| {
        let (_, sub) = c.published();
        let (out, _) = c.victim();
        edit(&sub);
        let s = Spec::fail(["publish".as_ref(), "check".as_ref(), sub.as_os_str()]);
        // A submission folder is the user's own output: a symlink in it is what they chose
        // to upload; only the other promises hold.
        let s = if name == "zip_is_a_symlink_out" {
            s.lenient()
        } else {
            s
        };
        s.names(needle).guard(&sub).readonly().keep(&out)
    })
}

fn first_list(sub: &Path) -> std::path::PathBuf {
    let mut v: Vec<_> = fs::read_dir(sub.join("upload/file-lists"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("images")
        })
        .collect();
    v.sort();
    v.remove(0)
}

fn replace_row(sub: &Path, to: &str) {
    let l = first_list(sub);
    let t = fs::read_to_string(&l).unwrap();
    fs::write(&l, t.replacen("images/nuclei.ome.zarr.zip", to, 1)).unwrap();
}

fn submissions() -> Vec<Case> {
    vec![
        submission("submission_json_malformed", "submission.json", |s| {
            let b = fs::read(s.join("submission.json")).unwrap();
            fs::write(s.join("submission.json"), &b[..b.len() / 2]).unwrap();
        }),
        submission("submission_json_deep", "submission.json", |s| {
            fs::write(s.join("submission.json"), nested_objects(100_000, "1")).unwrap()
        }),
        submission("submission_json_dev_zero", "submission.json", |s| {
            fs::remove_file(s.join("submission.json")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", s.join("submission.json")).unwrap();
        }),
        submission("submission_json_wrong_types", "submission.json", |s| {
            fs::write(
                s.join("submission.json"),
                r#"{"attributes": 5, "section": []}"#,
            )
            .unwrap()
        }),
        submission("submission_tsv_deep_sections", "submission.tsv", |s| {
            let mut t = fs::read_to_string(s.join("submission.tsv")).unwrap();
            t.push_str(&"\nStudy Component\tS\tStudy\n".repeat(20_000));
            fs::write(s.join("submission.tsv"), t).unwrap();
        }),
        submission("file_list_row_dotdot", "..", |s| {
            fs::write(s.join("outside.zip"), b"x").unwrap();
            replace_row(s, "../../outside/victim.txt");
        }),
        submission("file_list_row_absolute", "/", |s| {
            replace_row(s, "/etc/hostname");
        }),
        submission("file_list_dev_zero", "images", |s| {
            let l = first_list(s);
            fs::remove_file(&l).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &l).unwrap();
        }),
        submission("file_list_binary", "images", |s| {
            fs::write(first_list(s), b"\x00\x01\x02Files\xff\xfe\n").unwrap();
        }),
        submission("zip_is_a_symlink_out", "nuclei.ome.zarr.zip", |s| {
            let z = s.join(ZIP);
            let out = s.join("../../outside/n.zip");
            fs::rename(&z, &out).unwrap();
            std::os::unix::fs::symlink(&out, &z).unwrap();
        }),
    ]
}

fn publish_bia() -> Vec<Case> {
    vec![
        case("publish_bia/out_is_an_unrelated_folder", |c| {
            let (pkg, _) = c.published();
            let (out, _) = c.victim();
            Spec::fail([
                "publish".as_ref(),
                "bia".as_ref(),
                pkg.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "--force".as_ref(),
            ])
            .names("outside")
            .guard(&pkg)
            .keep(&out)
        }),
        case("publish_bia/out_is_a_file", |c| {
            let (pkg, _) = c.published();
            let (out, victim) = c.victim();
            Spec::fail([
                "publish".as_ref(),
                "bia".as_ref(),
                pkg.as_os_str(),
                "--out".as_ref(),
                victim.as_os_str(),
            ])
            .names("victim.txt")
            .guard(&pkg)
            .keep(&out)
        }),
        case("publish_bia/out_inside_the_package", |c| {
            let (pkg, _) = c.published();
            Spec::fail([
                "publish".as_ref(),
                "bia".as_ref(),
                pkg.as_os_str(),
                "--out".as_ref(),
                pkg.join("images/sub").as_os_str(),
            ])
            .guard(&pkg)
        }),
        case("publish_bia/previous_accession_garbage", |c| {
            let (pkg, _) = c.published();
            let out = c.path("s2");
            Spec::fail([
                "publish".as_ref(),
                "bia".as_ref(),
                pkg.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "--previous-accession".as_ref(),
                "../../etc;rm -rf".as_ref(),
            ])
            .names("previous")
            .guard(&pkg)
        }),
        case("publish_bia/symlinked_annotation_not_published", |c| {
            let (pkg, _) = c.published();
            let (out, _) = c.victim();
            // The mask's first chunk points outside the package.
            let label = pkg.join("images/nuclei.ome.zarr/labels/nuclei/0");
            let ch = chunk_files(&label).remove(0);
            fs::rename(&ch, out.join("chunk")).unwrap();
            std::os::unix::fs::symlink(out.join("chunk"), &ch).unwrap();
            let dest = c.path("s3");
            Spec::fail([
                "publish".as_ref(),
                "bia".as_ref(),
                pkg.as_os_str(),
                "--out".as_ref(),
                dest.as_os_str(),
            ])
            .guard(&pkg)
            .keep(&out)
        }),
    ]
}

/// Every publication case.
pub fn cases() -> Vec<Case> {
    let mut v = zips();
    v.extend(submissions());
    v.extend(publish_bia());
    v
}
