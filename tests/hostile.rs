//! The hostile-input corpus: every reader and writing command of the binary, given malformed,
//! oversized or escaping inputs generated at test time (see tests/hostile/README.md). Each
//! case goes through one runner (tests/hostile/runner.rs), which asserts no panic or signal,
//! a clear error naming the file, peak RSS and time within limits, and the package unchanged
//! byte for byte after a failed command.
//!
//! `MIFA_HOSTILE_FILTER=substring` runs only the matching cases; `MIFA_HOSTILE_JOBS` sets the
//! parallelism; `MIFA_HOSTILE_SECONDS` and `MIFA_HOSTILE_RSS_MIB` the limits;
//! `MIFA_HOSTILE_BIN` the binary; `MIFA_HOSTILE_VERBOSE` prints every case's outcome.

#[path = "hostile/gen.rs"]
mod gen;
#[path = "hostile/runner.rs"]
mod runner;

#[path = "hostile/control.rs"]
mod control;
#[path = "hostile/images.rs"]
mod images;
#[path = "hostile/package.rs"]
mod package;
#[path = "hostile/publish.rs"]
mod publish;
#[path = "hostile/sheets.rs"]
mod sheets;
#[path = "hostile/tracks.rs"]
mod tracks;
#[path = "hostile/vectors.rs"]
mod vectors;

use gen::{Bases, Ctx};
use runner::Spec;
use std::sync::{Mutex, OnceLock};

/// One hostile case: a name (`area/what`) and the function that writes its inputs into the
/// case's folder and says what the command must do.
pub struct Case {
    /// `area/what`.
    pub name: String,
    /// Builds the inputs and the expectation.
    pub make: Box<dyn Fn(&Ctx) -> Spec + Send + Sync>,
}

/// A case.
pub fn case(name: &str, make: impl Fn(&Ctx) -> Spec + Send + Sync + 'static) -> Case {
    Case {
        name: name.to_string(),
        make: Box::new(make),
    }
}

fn all_cases() -> Vec<Case> {
    let mut v = control::cases();
    v.extend(images::cases());
    v.extend(vectors::cases());
    v.extend(sheets::cases());
    v.extend(tracks::cases());
    v.extend(package::cases());
    v.extend(publish::cases());
    v
}

fn bases() -> &'static Bases {
    static B: OnceLock<Bases> = OnceLock::new();
    B.get_or_init(Bases::build)
}

#[test]
fn hostile_inputs_are_refused_cleanly() {
    let cases = all_cases();
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "duplicate case {}", c.name);
    }
    let filter = std::env::var("MIFA_HOSTILE_FILTER").unwrap_or_default();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    let t0 = std::time::Instant::now();
    let bases = bases();
    println!(
        "hostile: base packages built in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let jobs = std::env::var("MIFA_HOSTILE_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() * 2)
                .unwrap_or(4)
                .clamp(2, 8)
        });
    let queue = Mutex::new(cases.iter().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::<(String, String, String)>::new());
    let verbose = std::env::var_os("MIFA_HOSTILE_VERBOSE").is_some();
    let times = Mutex::new(Vec::new());
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(c) = queue.lock().unwrap().pop() else {
                    break;
                };
                let tmp = tempfile::tempdir().unwrap();
                let ctx = Ctx::new(tmp.path().to_path_buf(), bases);
                // A case whose inputs cannot be made is a failure of the corpus, reported
                // like the others rather than stopping the run.
                let spec =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (c.make)(&ctx)))
                    {
                        Ok(s) => s,
                        Err(_) => {
                            failures.lock().unwrap().push((
                                c.name.clone(),
                                "the case's inputs could not be generated".into(),
                                String::new(),
                            ));
                            continue;
                        }
                    };
                let (outcome, why) = runner::run(&spec, &ctx.dir);
                times
                    .lock()
                    .unwrap()
                    .push((outcome.elapsed, c.name.clone()));
                if verbose {
                    println!("case {}: {}", c.name, outcome.describe());
                }
                if !why.is_empty() {
                    failures.lock().unwrap().push((
                        c.name.clone(),
                        why.join("; "),
                        outcome.describe(),
                    ));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let n = cases.len();
    println!(
        "hostile: {n} cases, {} passed, {} failed ({:.0} s)",
        n - failures.len(),
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    let mut times = times.into_inner().unwrap();
    times.sort();
    let slow: Vec<String> = times
        .iter()
        .rev()
        .take(5)
        .map(|(t, n)| format!("{n} {:.1} s", t.as_secs_f64()))
        .collect();
    println!("slowest: {}", slow.join(", "));
    for (name, why, outcome) in &failures {
        println!("FAIL {name}: {why}\n     {outcome}");
    }
    assert!(
        failures.is_empty(),
        "{} of {n} hostile cases failed (listed above)",
        failures.len()
    );
}
