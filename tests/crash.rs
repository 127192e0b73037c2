//! Crash safety: every command that writes a package is killed with SIGKILL at random moments,
//! many times. Each command first runs uninterrupted a few times on a copy of the same package,
//! which gives its duration and the package after it; then each kill, at a seeded delay drawn
//! in [0, duration], must leave the package exactly as it was before or as the uninterrupted
//! run left it (once the next writer has finished or undone the interrupted write), `mifa
//! validate` must pass, the next writer must run, and after a release `mifa verify` must pass.
//!
//! Bounded by a kill count: at least `MIFA_CRASH_KILLS` kills in all (default 200, spread
//! evenly over the commands), more while the run is shorter than `MIFA_CRASH_SECONDS` (default
//! 0), and at most eight attempts per wanted kill. `MIFA_CRASH_SEED` seeds the delays; `MIFA_CRASH_ONLY=NAME` runs one command's
//! scenario, `MIFA_CRASH_DELAY_US` fixes the delay (to reproduce a report), and
//! `MIFA_CRASH_KEEP=DIR` keeps the package as the kill left it whenever a check fails;
//! `MIFA_CRASH_BIN` names the binary to test (default: the one built with this test).

#[allow(dead_code)] // each binary uses some of the shared helpers
#[path = "./common/mod.rs"]
mod common;

use mifa::split::SplitMix64;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TITLE: &str = "Crash test package for interrupted writes";

/// Uninterrupted runs of each command before the kills (duration, determinism).
const MEASURED_RUNS: usize = 3;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn mifa() -> Command {
    // Where builds share a target folder, a copy of the binary keeps it fixed for the run.
    let bin = std::env::var_os("MIFA_CRASH_BIN").unwrap_or(env!("CARGO_BIN_EXE_mifa").into());
    let mut c = Command::new(bin);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Runs the binary to the end; the error is its stderr.
fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<(), String> {
    let out = mifa().args(args).stderr(Stdio::piped()).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = run(args) {
        panic!("setup step {args:?} failed: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs: small, so that commands are quick and kills are many.

fn write_tiff(path: &Path, seed: u64, w: u32, h: u32, frames: u32) {
    let mut rng = SplitMix64::new(seed);
    let f = fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(f).unwrap();
    for _ in 0..frames {
        let data: Vec<u16> = (0..w * h).map(|_| (rng.next_u64() % 4000) as u16).collect();
        enc.write_image::<tiff::encoder::colortype::Gray16>(w, h, &data)
            .unwrap();
    }
}

/// A `side`×`side` instance mask: 10-pixel squares on a 12-pixel grid, labelled 1, 2, …
fn write_mask(path: &Path, side: u32) {
    let data: Vec<u16> = (0..side * side)
        .map(|i| {
            let (x, y) = (i % side, i / side);
            if x % 12 < 2 || y % 12 < 2 {
                0
            } else {
                (1 + x / 12 + (side / 12) * (y / 12)) as u16
            }
        })
        .collect();
    let f = fs::File::create(path).unwrap();
    tiff::encoder::TiffEncoder::new(f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(side, side, &data)
        .unwrap();
}

/// `n` 8-pixel squares on a 14-pixel grid of a 64×64 image (at most 16), moved by `shift`.
fn squares(n: u32, shift: f64) -> String {
    let f: Vec<String> = (0..n)
        .map(|i| {
            let (x, y) = (
                2.0 + 14.0 * f64::from(i % 4) + shift,
                2.0 + 14.0 * f64::from(i / 4) + shift,
            );
            format!(
                r#"{{"type":"Feature","id":{},"properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}}}"#,
                i + 1,
                x + 8.0,
                x + 8.0,
                y + 8.0,
                y + 8.0
            )
        })
        .collect();
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        f.join(",")
    )
}

/// Writes every input file under `dir`. Images stay within 2×2 chunks: sharded arrays are
/// written with their chunks in whatever order the threads finish, so their bytes differ
/// from run to run.
fn write_inputs(dir: &Path) {
    for sub in ["pair", "masks", "imgs", "imgs3", "ctc5"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let ctc = mifa::formats::ctc::read(&repo("tests/fixtures/tracks/ctc/ctc_tiny/01_RES")).unwrap();
    let (h, w) = ctc.size;
    write_tiff(&dir.join("movie.tif"), 1, w as u32, h as u32, 3);
    write_tiff(&dir.join("s1.tif"), 2, 64, 64, 1);
    write_tiff(&dir.join("s2.tif"), 3, 64, 64, 1);
    write_tiff(&dir.join("new.tif"), 4, 128, 128, 1);
    write_tiff(&dir.join("new2.tif"), 6, 96, 128, 1);
    write_tiff(&dir.join("pair/pairimg.tif"), 5, 64, 64, 1);
    write_mask(&dir.join("masks/pairimg.tif"), 64);
    write_mask(&dir.join("mask_s1.tif"), 64);
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x * 3 + y * 5) % 256) as u8]))
        .save(dir.join("imgs/fresh.png"))
        .unwrap();
    for (name, n, shift) in [
        ("vec1.geojson", 12, 0.0),
        ("vec2.geojson", 6, 0.5),
        ("vec3.geojson", 10, 1.0),
        ("other.geojson", 8, 1.5),
    ] {
        fs::write(dir.join(name), squares(n, shift)).unwrap();
    }
    fs::write(
        dir.join("points.csv"),
        "index,axis-0,axis-1,label\n0,5,7,Tumor\n1,30,40,mitosis\n2,50,12,Tumor\n",
    )
    .unwrap();
    write_coco3(dir);
    write_ctc5(&dir.join("ctc5"));
    write_tiff(&dir.join("movie5.tif"), 7, 64, 64, CTC5_FRAMES);
    let coco = fs::read_to_string(repo("tests/fixtures/reference_libs/tiny_coco.json")).unwrap();
    fs::write(
        dir.join("fresh_coco.json"),
        coco.replace("blobs.png", "fresh.png"),
    )
    .unwrap();
}

/// A COCO file on three images not in the package (`imgs3/f1.png` … `f3.png`), each with a
/// few polygons of two categories: `import coco --images` adds three images in one commit.
fn write_coco3(dir: &Path) {
    let (mut images, mut anns) = (Vec::new(), Vec::new());
    for k in 1..=3u32 {
        image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x * k + y * 7) % 256) as u8]))
            .save(dir.join(format!("imgs3/f{k}.png")))
            .unwrap();
        images.push(format!(
            r#"{{"id":{k},"file_name":"f{k}.png","width":64,"height":64}}"#
        ));
        for i in 0..3u32 {
            let (x, y) = (4 + 18 * i, 4 + 6 * k);
            anns.push(format!(
                r#"{{"id":{},"image_id":{k},"category_id":{},"iscrowd":0,"segmentation":[[{x},{y},{},{y},{},{},{x},{}]],"area":100,"bbox":[{x},{y},10,10]}}"#,
                10 * k + i,
                1 + i % 2,
                x + 10,
                x + 10,
                y + 10,
                y + 10
            ));
        }
    }
    let coco = format!(
        r#"{{"images":[{}],"annotations":[{}],"categories":[{{"id":1,"name":"blob"}},{{"id":2,"name":"spot"}}]}}"#,
        images.join(","),
        anns.join(",")
    );
    fs::write(dir.join("coco3.json"), coco).unwrap();
}

/// Frames of the CTC folder `ctc5`.
const CTC5_FRAMES: u32 = 5;

/// A CTC results folder of `CTC5_FRAMES` 64×64 masks (four cells moving right, the fourth
/// one ending early) and its `res_track.txt`: the import writes a mask on every frame.
fn write_ctc5(dir: &Path) {
    for t in 0..CTC5_FRAMES {
        let data: Vec<u16> = (0..64 * 64u32)
            .map(|i| {
                let (x, y) = (i % 64, i / 64);
                let cell = 1 + (y / 16) as u16;
                let x0 = 4 + 6 * t;
                let inside = (x0..x0 + 8).contains(&x) && (y % 16) >= 4 && (y % 16) < 12;
                if inside && (cell < 4 || t < 3) {
                    cell
                } else {
                    0
                }
            })
            .collect();
        let f = fs::File::create(dir.join(format!("mask{t:03}.tif"))).unwrap();
        tiff::encoder::TiffEncoder::new(f)
            .unwrap()
            .write_image::<tiff::encoder::colortype::Gray16>(64, 64, &data)
            .unwrap();
    }
    let last = CTC5_FRAMES - 1;
    fs::write(
        dir.join("res_track.txt"),
        format!("1 0 {last} 0\n2 0 {last} 0\n3 0 {last} 0\n4 0 2 0\n"),
    )
    .unwrap();
}

/// The package every command starts from: four images (one a movie), a mask set and a vector
/// set on two images each, the vector set changed since release 1.0.0, a value to remove.
fn write_template(pkg: &Path, inputs: &Path) {
    let p = pkg.to_str().unwrap();
    let i = |rel: &str| inputs.join(rel).to_string_lossy().into_owned();
    must(&["init", p, "--title", TITLE, "--license", "CC0-1.0"]);
    must(&[
        "meta",
        "set",
        p,
        "study.acknowledgements",
        "Thanks to the crash test.",
    ]);
    let blobs = repo("tests/fixtures/reference_libs/tiny_v05.ome.zarr");
    must(&["add", p, blobs.to_str().unwrap(), "--id", "blobs"]);
    must(&["add", p, &i("movie.tif"), "--axes", "tyx", "--id", "movie"]);
    for id in ["s1", "s2"] {
        must(&[
            "add",
            p,
            &i(&format!("{id}.tif")),
            "--id",
            id,
            "--chunk",
            "32",
        ]);
    }
    // A second image in the mask set `cells`, so that tracing it writes two files.
    must(&[
        "add",
        p,
        "--mask",
        &i("mask_s1.tif"),
        "--image",
        "s1",
        "--name",
        "cells",
    ]);
    let vec_on = |file: &str, image: &str| {
        let (f, set) = (i(file), "vec");
        must(&[
            "import",
            p,
            "geojson",
            &f,
            "--image",
            image,
            "--set",
            set,
            "--replace",
        ]);
    };
    vec_on("vec1.geojson", "blobs");
    must(&["release", p, "--version", "1.0.0", "--changes", "start"]);
    // Since 1.0.0, the set has a new file (which a restore removes) and a changed one.
    vec_on("vec3.geojson", "s1");
    vec_on("vec2.geojson", "blobs");
    // A movie for the CTC folder of five frames, and a vector set on three images.
    must(&[
        "add",
        p,
        &i("movie5.tif"),
        "--axes",
        "tyx",
        "--id",
        "movie5",
    ]);
    for image in ["blobs", "s1", "s2"] {
        let f = i("other.geojson");
        must(&[
            "import", p, "geojson", &f, "--image", image, "--set", "multi",
        ]);
    }
    must(&["validate", p]);
}

// ---------------------------------------------------------------------------------------------
// Package states.

/// What a package holds: every file (the lock file aside) with the hash of its bytes, times
/// masked (the chain's head only as present), and every folder.
#[derive(Debug, Clone, PartialEq, Default)]
struct State {
    files: BTreeMap<String, String>,
    dirs: BTreeSet<String>,
}

fn state(pkg: &Path) -> State {
    let mut s = State::default();
    if pkg.is_dir() {
        walk(pkg, pkg, &mut s);
    }
    s
}

fn walk(root: &Path, dir: &Path, s: &mut State) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel == mifa::package::LOCK_FILE {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, s);
            s.dirs.insert(rel);
        } else if is_head(&rel) {
            s.files.insert(rel, "present (checked by verify)".into());
        } else {
            let bytes = masked_times(&fs::read(&p).unwrap());
            let hash = Sha256::digest(&bytes);
            s.files.insert(rel, format!("{hash:x}"));
        }
    }
}

/// The bytes with every RFC 3339 time (`2026-01-02T03:04:05Z`, fraction and offset optional)
/// replaced by `<time>`: commands record when they ran, and two runs differ there only.
fn masked_times(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match time_len(&bytes[i..]) {
            Some(n) => {
                out.extend_from_slice(b"<time>");
                i += n;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn time_len(b: &[u8]) -> Option<usize> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < SHAPE.len() {
        return None;
    }
    let fits = b.iter().zip(SHAPE).all(|(c, s)| {
        if *s == b'd' {
            c.is_ascii_digit()
        } else {
            c == s
        }
    });
    if !fits {
        return None;
    }
    let mut n = SHAPE.len();
    if b.get(n) == Some(&b'.') {
        n += 1;
        while b.get(n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
    }
    match b.get(n) {
        Some(b'Z') => n += 1,
        Some(b'+' | b'-') if b.len() >= n + 6 => n += 6,
        _ => {}
    }
    Some(n)
}

/// A file of `versions/` other than a record or an object (the head of the record chain):
/// it holds a hash of the latest record, which holds the time of the release, so only its
/// presence is compared; `mifa verify` checks what it says.
fn is_head(path: &str) -> bool {
    path.strip_prefix("versions/").is_some_and(|name| {
        !name.contains('/') && !name.ends_with(".json") && !mifa::package::is_temporary(name)
    })
}

/// Stored objects of a release are content-addressed and immutable: a release killed after
/// storing some of them leaves them for the next one, which is harmless.
fn is_object(path: &str) -> bool {
    path.starts_with("versions/objects/")
        && !mifa::package::is_temporary(path.rsplit('/').next().unwrap_or(path))
}

/// Compares `now` with `target`: the paths that differ (objects of the after-state allowed
/// as extras), or else how many empty folders differ (they are not content).
fn compare(now: &State, target: &State, after: &State) -> Result<usize, Vec<String>> {
    let allowed = |p: &String| is_object(p) && now.files.get(p) == after.files.get(p);
    let differ: Vec<String> = differences(target, now)
        .into_iter()
        .filter(|(p, tag)| !(*tag == "left over" && allowed(p)))
        .map(|(p, tag)| format!("{p} ({tag})"))
        .collect();
    if !differ.is_empty() {
        return Err(differ);
    }
    let holds_file = |d: &String| now.files.keys().any(|p| p.starts_with(&format!("{d}/")));
    Ok(now
        .dirs
        .symmetric_difference(&target.dirs)
        .filter(|d| !holds_file(d))
        .count())
}

/// The files whose content differs between a reference state and the present one, each
/// with how: missing, left over or changed.
fn differences(a: &State, b: &State) -> Vec<(String, &'static str)> {
    let keys: BTreeSet<&String> = a.files.keys().chain(b.files.keys()).collect();
    keys.into_iter()
        .filter(|p| a.files.get(*p) != b.files.get(*p))
        .map(|p| {
            let tag = match (a.files.contains_key(p), b.files.contains_key(p)) {
                (true, false) => "missing",
                (false, true) => "left over",
                _ => "changed",
            };
            (p.clone(), tag)
        })
        .collect()
}

/// What the kill left, before any recovery: the files that differ from before the command,
/// and the journal.
fn left_behind(pkg: &Path, before: &State) -> String {
    let journal = fs::read_to_string(pkg.join(mifa::package::JOURNAL_FILE))
        .map(|t| format!("journal {t}"))
        .unwrap_or_else(|_| "no journal".into());
    let differ: Vec<String> = differences(before, &state(pkg))
        .into_iter()
        .map(|(p, tag)| format!("{p} ({tag})"))
        .collect();
    format!("{differ:?}, {journal}")
}

fn reset(pkg: &Path, template: Option<&Path>) {
    if pkg.exists() {
        fs::remove_dir_all(pkg).unwrap();
    }
    if let Some(t) = template {
        common::copy_dir(t, pkg);
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// What a command does to the package, beyond writing it.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Writes the package's files and manifest.
    Write,
    /// `init`: there is no package before it.
    Create,
    /// `release`: `mifa verify` must pass after it.
    Release,
}

/// One writing command, what it starts from and leaves, and what its kills found.
struct Scenario {
    name: &'static str,
    /// Its place in `SCENARIOS`.
    index: usize,
    args: Vec<OsString>,
    kind: Kind,
    /// Its own package folder, the same for every run, measured or killed.
    pkg: PathBuf,
    template: PathBuf,
    before: State,
    after: State,
    duration: Duration,
    rng: SplitMix64,
    tally: Tally,
}

/// What a scenario's attempts found.
#[derive(Default)]
struct Tally {
    attempts: u32,
    /// Attempts whose SIGKILL landed while the command ran.
    kills: u32,
    /// Attempts after which the package was as it was, or as the uninterrupted run left it.
    as_before: u32,
    as_after: u32,
    /// Runs to the end after a kill that left the package as it was.
    reruns: u32,
    /// Empty folders left or gone (not content, so not a failure).
    empty_dirs: usize,
    problems: Vec<String>,
}

/// Every command that writes a package, with its arguments: `@P` is the package, `@in/…` an
/// input file, `@repo/…` a file of the repository, `@tracks/…` a tracks fixture.
#[rustfmt::skip]
const SCENARIOS: &[(&str, Kind, &[&str])] = &[
    ("init", Kind::Create, &["init", "@P", "--title", TITLE, "--license", "CC0-1.0"]),
    ("meta set", Kind::Write, &["meta", "set", "@P", "study.description", "By the crash test."]),
    ("meta unset", Kind::Write, &["meta", "unset", "@P", "study.acknowledgements"]),
    ("meta import", Kind::Write, &["meta", "import", "@P", "@repo/examples/data/dsb2018/metadata.tsv"]),
    ("author add", Kind::Write, &["author", "add", "@P", "--name", "Ada Lovelace", "--orcid", "0000-0002-1825-0097"]),
    ("author add --set", Kind::Write, &["author", "add", "@P", "--name", "Ann Otator", "--set", "vec", "--role", "annotator"]),
    ("add images", Kind::Write, &["add", "@P", "@in/new.tif", "@in/new2.tif", "--chunk", "64"]),
    ("add ome-zarr", Kind::Write, &["add", "@P", "@repo/tests/fixtures/reference_libs/tiny_v05.ome.zarr", "--id", "copy"]),
    ("add --masks", Kind::Write, &["add", "@P", "@in/pair/pairimg.tif", "--masks", "@in/masks", "--mask-name", "nuc"]),
    ("add --mask", Kind::Write, &["add", "@P", "--mask", "@in/mask_s1.tif", "--image", "s1", "--name", "nuc"]),
    ("import geojson", Kind::Write, &["import", "@P", "geojson", "@in/other.geojson", "--image", "blobs", "--set", "other"]),
    ("import geojson --replace", Kind::Write, &["import", "@P", "geojson", "@in/vec3.geojson", "--image", "blobs", "--set", "vec", "--replace"]),
    ("import points", Kind::Write, &["import", "@P", "points", "@in/points.csv", "--image", "blobs", "--set", "pts"]),
    ("import coco", Kind::Write, &["import", "@P", "coco", "@repo/tests/fixtures/reference_libs/tiny_coco.json", "--set", "gt"]),
    ("import coco --images", Kind::Write, &["import", "@P", "coco", "@in/fresh_coco.json", "--set", "gt", "--images", "@in/imgs"]),
    ("import tracks biotracks", Kind::Write, &["import", "@P", "tracks", "--from", "biotracks", "@tracks/biotracks/biotracks_dp", "--set", "bt"]),
    ("import tracks ctc", Kind::Write, &["import", "@P", "tracks", "--from", "ctc", "@tracks/ctc/ctc_tiny/01_RES", "--set", "ctc", "--image", "movie"]),
    ("import tracks trackmate", Kind::Write, &["import", "@P", "tracks", "--from", "trackmate", "@tracks/trackmate/tiny_trackmate.xml", "--set", "tm"]),
    ("import tracks geff", Kind::Write, &["import", "@P", "tracks", "--from", "geff", "@tracks/geff/tiny.geff", "--set", "gf"]),
    ("convert to-mask", Kind::Write, &["convert", "to-mask", "@P", "--set", "vec", "--name", "vm"]),
    // One commit for several images each: masks on three images (two with labels already),
    // three images with their annotations, a mask on every frame of a movie.
    ("convert to-mask, 3 images", Kind::Write, &["convert", "to-mask", "@P", "--set", "multi", "--name", "mm"]),
    ("import coco --images, 3 images", Kind::Write, &["import", "@P", "coco", "@in/coco3.json", "--set", "gt3", "--images", "@in/imgs3"]),
    ("import tracks ctc, 5 frames", Kind::Write, &["import", "@P", "tracks", "--from", "ctc", "@in/ctc5", "--set", "ctc5", "--image", "movie5"]),
    ("convert to-polygons", Kind::Write, &["convert", "to-polygons", "@P", "--mask", "cells", "--set", "outl"]),
    ("convert to-polygons --replace", Kind::Write, &["convert", "to-polygons", "@P", "--mask", "cells", "--set", "vec", "--replace"]),
    ("split", Kind::Write, &["split", "@P", "--train", "0.5", "--val", "0.25", "--test", "0.25"]),
    ("release", Kind::Release, &["release", "@P", "--version", "2.0.0", "--changes", "Crash test"]),
    ("restore", Kind::Write, &["restore", "@P", "--version", "1.0.0", "--set", "vec"]),
];

/// A scenario's arguments with the package and input paths filled in.
fn resolve(args: &[&str], pkg: &Path, inputs: &Path) -> Vec<OsString> {
    args.iter()
        .map(|a| {
            let path = if *a == "@P" {
                pkg.to_path_buf()
            } else if let Some(rel) = a.strip_prefix("@in/") {
                inputs.join(rel)
            } else if let Some(rel) = a.strip_prefix("@repo/") {
                repo(rel)
            } else if let Some(rel) = a.strip_prefix("@tracks/") {
                repo("tests/fixtures/tracks").join(rel)
            } else {
                return OsString::from(a);
            };
            path.into_os_string()
        })
        .collect()
}

/// Runs the command uninterrupted a few times from `template`: its median duration, and the
/// package after it (which must be the same every time).
fn measure(
    name: &str,
    args: &[OsString],
    pkg: &Path,
    template: Option<&Path>,
) -> (Duration, State) {
    let mut times = Vec::new();
    let mut after: Option<State> = None;
    for _ in 0..MEASURED_RUNS {
        reset(pkg, template);
        let t = Instant::now();
        if let Err(e) = run(args) {
            panic!("{name}: the uninterrupted command fails: {e}");
        }
        times.push(t.elapsed());
        let s = state(pkg);
        if let Some(a) = after.as_ref().filter(|a| **a != s) {
            let d = compare(&s, a, a);
            panic!("{name}: two uninterrupted runs leave different packages: {d:?}");
        }
        after = Some(s);
    }
    times.sort();
    (
        times[times.len() / 2],
        after.expect("measured at least once"),
    )
}

/// How many kills and how long.
struct Plan {
    kills_per_scenario: u32,
    seconds: u64,
    seed: u64,
    fixed_delay: Option<u64>,
    /// Where the package as a kill left it is kept when a check fails.
    keep: Option<PathBuf>,
}

impl Scenario {
    /// The scenario of `SCENARIOS[index]`, in its own folder under `work`, measured.
    fn new(index: usize, work: &Path, template: &Path, inputs: &Path, seed: u64) -> Scenario {
        let (name, kind, args) = SCENARIOS[index];
        let pkg = work.join(format!("s{index}")).join("pkg");
        let args = resolve(args, &pkg, inputs);
        let from = (kind != Kind::Create).then_some(template);
        let before = from.map(state).unwrap_or_default();
        let (duration, after) = measure(name, &args, &pkg, from);
        assert_ne!(
            before, after,
            "{name}: the uninterrupted command changes nothing"
        );
        Scenario {
            name,
            index,
            args,
            kind,
            pkg,
            template: template.to_path_buf(),
            before,
            after,
            duration,
            rng: SplitMix64::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            tally: Tally::default(),
        }
    }

    /// One attempt: the command from the template, killed after a delay drawn in
    /// [0, duration], then the checks.
    fn attempt(&mut self, plan: &Plan) {
        let span = self.duration.as_micros() as u64;
        let delay = plan.fixed_delay.unwrap_or_else(|| self.rng.below(span + 1));
        let delay = Duration::from_micros(delay);
        let rerun = self.rng.below(2) == 0;
        let n = self.tally.attempts;
        self.tally.attempts += 1;
        let from = (self.kind != Kind::Create).then_some(self.template.as_path());
        reset(&self.pkg, from);
        let mut child = mifa().args(&self.args).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(libc::SIGKILL);
        let left = left_behind(&self.pkg, &self.before);
        let kept = plan
            .keep
            .as_ref()
            .map(|k| k.join(format!("s{}-last", self.index)));
        if let (true, Some(k)) = (killed, &kept) {
            reset(k, None);
            common::copy_dir(&self.pkg, k);
        }
        let outcome = if killed {
            self.tally.kills += 1;
            self.check(killed, rerun)
        } else if status.success() {
            self.check(killed, rerun)
        } else {
            Err(format!("exited by itself: {status:?}"))
        };
        if let Err(what) = outcome {
            self.fail(n, delay, &what, &left, kept.as_deref());
        }
    }

    /// After a kill (or a run that finished): once the next writer has recovered, the package
    /// is as it was or fully updated and validates; after a release it verifies; a command
    /// killed before its commit may run again to the end.
    fn check(&mut self, killed: bool, rerun: bool) -> Result<(), String> {
        let pkg = self.pkg.clone();
        if self.kind == Kind::Create && !pkg.join("mifa.json").exists() {
            // No package yet; the next writer is init again.
            self.tally.as_before += 1;
            return self.rerun();
        }
        // The next writer: it takes the lock and finishes or undoes the interrupted write.
        drop(mifa::package::Lock::acquire(&pkg).map_err(|e| format!("next writer: {e}"))?);
        let now = state(&pkg);
        let as_before = match self.kind {
            Kind::Create => Err(vec!["there was no package".into()]),
            _ => compare(&now, &self.before, &self.after),
        };
        let (empty_dirs, before) = match (as_before, compare(&now, &self.after, &self.after)) {
            (Ok(d), _) => (d, true),
            (_, Ok(d)) => (d, false),
            (Err(b), Err(a)) => {
                let valid = match validates(&pkg) {
                    Ok(()) => "it validates".to_string(),
                    Err(e) => e,
                };
                let again = match self.rerun() {
                    Ok(()) => "run again, it ends fully updated".to_string(),
                    Err(e) => e,
                };
                return Err(format!(
                    "neither as it was (differs in {b:?}) nor fully updated (differs in {a:?}); {valid}; {again}"
                ));
            }
        };
        if !killed && before {
            return Err("finished, yet the package is as it was".into());
        }
        self.tally.empty_dirs += empty_dirs;
        validates(&pkg)?;
        if before {
            self.tally.as_before += 1;
            if rerun || self.kind == Kind::Release {
                return self.rerun();
            }
        } else {
            self.tally.as_after += 1;
            if self.kind == Kind::Release {
                verifies(&pkg)?;
            }
        }
        Ok(())
    }

    /// The command again, to the end, after a kill that left the package as it was: it runs
    /// and leaves what the uninterrupted run left.
    fn rerun(&mut self) -> Result<(), String> {
        self.tally.reruns += 1;
        run(&self.args).map_err(|e| format!("run again, it fails: {e}"))?;
        if let Err(d) = compare(&state(&self.pkg), &self.after, &self.after) {
            return Err(format!("run again, it leaves {d:?} different"));
        }
        validates(&self.pkg)?;
        if self.kind == Kind::Release {
            verifies(&self.pkg)?;
        }
        Ok(())
    }

    fn fail(&mut self, n: u32, delay: Duration, what: &str, left: &str, kept: Option<&Path>) {
        let kept = kept
            .map(|k| {
                let dest = k.with_file_name(format!("s{}-attempt{n}", self.index));
                reset(&dest, None);
                common::copy_dir(k, &dest);
                format!("; kept in {}", dest.display())
            })
            .unwrap_or_default();
        let us = delay.as_micros();
        self.tally.problems.push(format!(
            "{} (attempt {n}, killed after {us} µs): {what}; the kill left {left}{kept}; reproduce: MIFA_CRASH_ONLY={:?} MIFA_CRASH_DELAY_US={us} cargo test --test crash",
            self.name, self.name,
        ));
    }
}

/// `mifa validate` exits 0 (the same check, in process).
fn validates(pkg: &Path) -> Result<(), String> {
    let report = mifa::validate::validate(pkg).map_err(|e| format!("validate: {e}"))?;
    if report.is_valid() {
        return Ok(());
    }
    let errors: Vec<String> = report.errors().iter().map(|i| i.to_string()).collect();
    Err(format!("validate: {errors:?}"))
}

fn verifies(pkg: &Path) -> Result<(), String> {
    run(&[OsString::from("verify"), pkg.into()]).map_err(|e| format!("verify: {e}"))
}

/// Shared by the workers: the scenarios (each measured by the worker that takes it first), a
/// counter handing them out, and the kills and attempts so far.
struct Pool<'a> {
    slots: Vec<Mutex<Option<Scenario>>>,
    next: AtomicUsize,
    /// Scenarios done with their share.
    measured: AtomicUsize,
    kills: AtomicU32,
    attempts: AtomicU32,
    work: &'a Path,
    template: &'a Path,
    inputs: &'a Path,
}

/// First whole scenarios, one at a time: measured, then killed until they have their share
/// of kills (at most four times as many attempts). Then single kills of any free scenario
/// while the kill phase is shorter than `plan.seconds` or the kills fewer than wanted (at
/// most eight attempts per wanted kill in all).
fn worker(pool: &Pool, chosen: &[usize], plan: &Plan, started: Instant) {
    let share = plan.kills_per_scenario;
    let wanted = share * chosen.len() as u32;
    loop {
        let k = pool.next.fetch_add(1, Ordering::SeqCst);
        let Some(&index) = chosen.get(k) else { break };
        let mut slot = pool.slots[index].lock().unwrap();
        let s = slot.insert(Scenario::new(
            index,
            pool.work,
            pool.template,
            pool.inputs,
            plan.seed,
        ));
        while s.tally.kills < share && s.tally.attempts < 4 * share {
            pool.attempt(s, plan);
        }
        pool.measured.fetch_add(1, Ordering::SeqCst);
    }
    // The others' whole scenarios first: more processes than cores would only slow them.
    while pool.measured.load(Ordering::SeqCst) < chosen.len() {
        std::thread::sleep(Duration::from_millis(10));
    }
    loop {
        let short = pool.kills.load(Ordering::SeqCst) < wanted;
        let early = started.elapsed() < Duration::from_secs(plan.seconds);
        if !(short || early) || pool.attempts.load(Ordering::SeqCst) >= 8 * wanted {
            return;
        }
        let k = pool.next.fetch_add(1, Ordering::SeqCst);
        match pool.slots[chosen[k % chosen.len()]].try_lock() {
            Ok(mut slot) => pool.attempt(slot.as_mut().expect("measured"), plan),
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

impl Pool<'_> {
    /// One attempt of `s`, counted in the totals.
    fn attempt(&self, s: &mut Scenario, plan: &Plan) {
        let kills = s.tally.kills;
        s.attempt(plan);
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.kills
            .fetch_add(s.tally.kills - kills, Ordering::SeqCst);
    }
}

#[test]
fn sigkill_during_every_writing_command_leaves_the_package_whole() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, template) = (tmp.path().join("in"), tmp.path().join("template"));
    write_inputs(&inputs);
    write_template(&template, &inputs);
    let only = std::env::var("MIFA_CRASH_ONLY").ok();
    let chosen: Vec<usize> = (0..SCENARIOS.len())
        .filter(|&i| only.as_deref().is_none_or(|o| o == SCENARIOS[i].0))
        .collect();
    assert!(!chosen.is_empty(), "no scenario is named {only:?}");
    let kills: u32 = env_or("MIFA_CRASH_KILLS", 200);
    let plan = Plan {
        kills_per_scenario: kills.div_ceil(chosen.len() as u32),
        seconds: env_or("MIFA_CRASH_SECONDS", 0),
        seed: env_or("MIFA_CRASH_SEED", 7),
        fixed_delay: std::env::var("MIFA_CRASH_DELAY_US")
            .ok()
            .and_then(|s| s.parse().ok()),
        keep: std::env::var_os("MIFA_CRASH_KEEP").map(PathBuf::from),
    };
    let pool = Pool {
        slots: SCENARIOS.iter().map(|_| Mutex::new(None)).collect(),
        next: AtomicUsize::new(0),
        measured: AtomicUsize::new(0),
        kills: AtomicU32::new(0),
        attempts: AtomicU32::new(0),
        work: tmp.path(),
        template: &template,
        inputs: &inputs,
    };
    // Commands wait on fsync as much as they compute: one worker more than the cores.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get() + 1);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(chosen.len()) {
            scope.spawn(|| worker(&pool, &chosen, &plan, started));
        }
    });
    let all: Vec<Scenario> = pool
        .slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap())
        .collect();
    report(&all, started.elapsed(), &plan, kills);
}
/// Prints the table and the summary line on stderr itself, past the test harness's capture,
/// so that every run's log shows them; then fails on any inconsistency.
fn report(all: &[Scenario], total: Duration, plan: &Plan, wanted: u32) {
    let mut out = format!(
        "{:<30} {:>7} {:>8} {:>6} {:>7} {:>6} {:>7} {:>6}\n",
        "command", "run ms", "attempts", "kills", "before", "after", "reruns", "empty"
    );
    for s in all {
        let t = &s.tally;
        out += &format!(
            "{:<30} {:>7.1} {:>8} {:>6} {:>7} {:>6} {:>7} {:>6}\n",
            s.name,
            s.duration.as_secs_f64() * 1e3,
            t.attempts,
            t.kills,
            t.as_before,
            t.as_after,
            t.reruns,
            t.empty_dirs
        );
    }
    let problems: Vec<&String> = all.iter().flat_map(|s| &s.tally.problems).collect();
    for p in &problems {
        out += &format!("INCONSISTENT: {p}\n");
    }
    let kills: u32 = all.iter().map(|s| s.tally.kills).sum();
    out += &format!(
        "crash: {kills} kills across {} commands, {} inconsistent (seed {}, {:.1} s)\n",
        all.len(),
        problems.len(),
        plan.seed,
        total.as_secs_f64()
    );
    let _ = std::io::stderr().write_all(out.as_bytes());
    assert!(
        problems.is_empty(),
        "{} inconsistent (listed above)",
        problems.len()
    );
    assert!(
        kills >= wanted || all.len() < SCENARIOS.len(),
        "only {kills} of {wanted} kills landed while a command ran"
    );
}
