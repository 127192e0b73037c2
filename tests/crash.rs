//! Crash safety: writing commands killed with SIGKILL at random moments, many times. After
//! each kill the package is as it was or fully updated (the journal finishes or undoes the
//! interrupted write), `mifa validate` passes, the next writer is not locked out, and after a
//! release `mifa verify` passes. Bounded in time: `MIFA_CRASH_SECONDS` (default 25).

use mifa::split::SplitMix64;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mifa"));
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn run(args: &[&str]) -> bool {
    bin().args(args).status().unwrap().success()
}

fn write_image(path: &Path, seed: u64, side: u32) {
    let mut rng = SplitMix64::new(seed);
    let data: Vec<u16> = (0..side * side)
        .map(|_| (rng.next_u64() % 4000) as u16)
        .collect();
    let f = fs::File::create(path).unwrap();
    tiff::encoder::TiffEncoder::new(f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(side, side, &data)
        .unwrap();
}

fn squares(n: u32, shift: f64) -> String {
    let f: Vec<String> = (0..n)
        .map(|i| {
            let (x, y) = (10.0 + 12.0 * f64::from(i % 30) + shift, 10.0 + 12.0 * f64::from(i / 30));
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

/// Content files (versions/, the lock and temporaries left aside) with their bytes' hash.
fn snapshot(pkg: &Path) -> BTreeMap<String, String> {
    mifa::versions::content(pkg)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.sha256))
        .collect()
}

/// Whether every path is accounted for by the manifest: an image folder it lists, a set file,
/// or a label of a listed image.
fn explained(pkg: &Path, paths: &[String]) -> Result<(), String> {
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(pkg.join("mifa.json")).unwrap()).unwrap();
    let images: Vec<String> = m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}/", i["path"].as_str().unwrap()))
        .collect();
    let files: Vec<String> = m["annotation_sets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["files"].as_array().cloned().unwrap_or_default())
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    for p in paths {
        let ok = p == "mifa.json"
            || images.iter().any(|i| p.starts_with(i.as_str()))
            || files
                .iter()
                .any(|f| p == f || p.starts_with(&format!("{f}/")));
        if !ok {
            return Err(format!("{p} is not listed by the manifest"));
        }
    }
    Ok(())
}

#[test]
fn sigkill_during_writes_leaves_the_package_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pkg = t.join("pkg");
    let p = pkg.to_str().unwrap();
    assert!(run(&[
        "init",
        p,
        "--title",
        "Crash test package for interrupted writes",
        "--license",
        "CC0-1.0"
    ]));
    write_image(&t.join("base.tif"), 1, 512);
    assert!(run(&[
        "add",
        p,
        t.join("base.tif").to_str().unwrap(),
        "--id",
        "base",
        "--chunk",
        "64"
    ]));
    for (name, n, shift) in [("a.geojson", 300, 0.0), ("b.geojson", 240, 1.0)] {
        fs::write(t.join(name), squares(n, shift)).unwrap();
    }
    assert!(run(&[
        "import",
        p,
        "geojson",
        t.join("a.geojson").to_str().unwrap(),
        "--image",
        "base",
        "--set",
        "cells"
    ]));
    assert!(run(&[
        "release",
        p,
        "--version",
        "1.0.0",
        "--changes",
        "start"
    ]));
    let seconds: u64 = std::env::var("MIFA_CRASH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let seed = std::env::var("MIFA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut rng = SplitMix64::new(seed);
    let start = Instant::now();
    let (mut iterations, mut killed) = (0u32, 0u32);
    let mut killed_by_op = [0u32; 5];
    while start.elapsed() < Duration::from_secs(seconds) || iterations < 10 {
        iterations += 1;
        let k = iterations;
        let img = t.join(format!("img{k}.tif"));
        let op = rng.below(5);
        let args: Vec<String> = match op {
            0 => {
                write_image(&img, u64::from(k), 384);
                vec![
                    "add".into(),
                    p.into(),
                    img.to_string_lossy().into(),
                    "--id".into(),
                    format!("img{k}"),
                    "--chunk".into(),
                    "64".into(),
                ]
            }
            1 => {
                let f = if k % 2 == 0 { "a.geojson" } else { "b.geojson" };
                vec![
                    "import".into(),
                    p.into(),
                    "geojson".into(),
                    t.join(f).to_string_lossy().into(),
                    "--image".into(),
                    "base".into(),
                    "--set".into(),
                    "cells".into(),
                    "--replace".into(),
                ]
            }
            2 => vec![
                "meta".into(),
                "set".into(),
                p.into(),
                "study.description".into(),
                format!("Description number {k} of the crash test."),
            ],
            3 => vec![
                "convert".into(),
                "to-mask".into(),
                p.into(),
                "--set".into(),
                "cells".into(),
                "--name".into(),
                format!("m{k}"),
            ],
            _ => vec![
                "release".into(),
                p.into(),
                "--version".into(),
                format!("2.{k}.0"),
                "--changes".into(),
                format!("round {k}"),
            ],
        };
        let before = snapshot(&pkg);
        let manifest_before = fs::read(pkg.join("mifa.json")).unwrap();
        let mut child = bin().args(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
            killed_by_op[op as usize] += 1;
        }
        let _ = child.wait();
        // The next writer finishes or undoes the interrupted write (here: taking the lock).
        drop(mifa::package::Lock::acquire(&pkg).expect("no stale lock after a SIGKILL"));
        let after = snapshot(&pkg);
        if fs::read(pkg.join("mifa.json")).unwrap() == manifest_before {
            let differ: Vec<&String> = after
                .keys()
                .chain(before.keys())
                .filter(|p| after.get(*p) != before.get(*p))
                .collect();
            assert_eq!(
                after, before,
                "iteration {k} ({args:?}): manifest unchanged but files differ: {differ:?}"
            );
        } else {
            let new: Vec<String> = after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .cloned()
                .collect();
            if let Err(e) = explained(&pkg, &new) {
                panic!("iteration {k} ({args:?}): {e}");
            }
        }
        assert!(
            run(&["validate", p]),
            "iteration {k} ({args:?}): validate fails"
        );
        // Release what is there (unless nothing changed) and check it.
        let v = format!("2.{k}.1");
        let _ = run(&["release", p, "--version", &v, "--changes", "check"]);
        assert!(
            run(&["verify", p]),
            "iteration {k} ({args:?}): verify fails"
        );
    }
    eprintln!(
        "{iterations} iterations, {killed} killed mid-write (add, import, meta set, to-mask, release: {killed_by_op:?}), seed {seed}"
    );
    assert!(killed >= 5, "only {killed} kills landed mid-write");
}
