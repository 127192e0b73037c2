//! The house rules that the compiler does not check: small functions, and the library crates free
//! of the command line's dependencies.

use std::fs;
use std::path::{Path, PathBuf};

/// The longest a function may be (issue 15: none over ~200 lines).
const MAX_FN_LINES: usize = 200;
const LIBRARY_CRATES: [&str; 5] = [
    "mifa-model",
    "mifa-formats",
    "mifa-package",
    "mifa-loader",
    "mifa-publish",
];
/// Functions still over the limit when the rule came in, with their length then: they may only
/// shrink, and leave this list once they fit.
const KNOWN_LONG: &[(&str, usize)] = &[
    (
        "crates/mifa-model/src/metadata/completeness.rs::checks",
        445,
    ),
    ("crates/mifa-package/src/vectors.rs::import_coco", 376),
    ("crates/mifa-package/src/vectors.rs::export_coco", 342),
    ("crates/mifa-publish/src/bia.rs::check", 286),
    ("crates/mifa-package/src/tracks.rs::import_tracks", 279),
];
const CLI_ONLY: [&str; 4] = ["clap", "indicatif", "anyhow", "mimalloc"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Strips string and char literals and line comments, so braces inside them do not count.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A char literal ('{', '\n') or a lifetime ('a): skip only the former.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(rest.find('\'').map_or(1, |i| i.max(2)));
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

/// `(name, first line, length in lines)` of every function with a body.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = match t.strip_prefix("pub(") {
            Some(r) => r.split_once(") ").map_or(t, |(_, r)| r),
            None => t.strip_prefix("pub ").unwrap_or(t),
        };
        let t = ["const ", "async ", "unsafe "]
            .iter()
            .fold(t, |t, q| t.strip_prefix(q).unwrap_or(t));
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = code_of(l);
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if !started && code.trim_end().ends_with(';') {
                break;
            }
            if started && depth <= 0 {
                found.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    let mut problems = Vec::new();
    let mut still_long = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(root()).unwrap().display().to_string();
        for (name, line, len) in functions(&text) {
            let key = format!("{rel}::{name}");
            let known = KNOWN_LONG.iter().find(|(k, _)| *k == key);
            match known {
                Some((_, was)) if len > *was => problems.push(format!(
                    "{rel}:{line} {name} grew to {len} lines (was {was})"
                )),
                Some(_) if len > MAX_FN_LINES => still_long.push(key),
                Some(_) => {}
                None if len > MAX_FN_LINES => {
                    problems.push(format!("{rel}:{line} {name} ({len} lines)"))
                }
                None => {}
            }
        }
    }
    for (k, _) in KNOWN_LONG {
        if !still_long.iter().any(|s| s == k) {
            problems.push(format!("{k} is no longer over {MAX_FN_LINES} lines (or is gone): remove it from KNOWN_LONG"));
        }
    }
    assert!(
        files.len() > 50,
        "the walk found only {} files",
        files.len()
    );
    assert!(
        problems.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_function_scan_measures_what_it_should() {
    let text = "fn a() {\n    let s = \"}}\";\n    let c = '{';\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\nfn c();\n";
    assert_eq!(
        functions(text),
        vec![("a".to_string(), 1, 4), ("b".to_string(), 5, 3)]
    );
}

#[test]
fn library_crates_do_not_depend_on_the_command_line() {
    for c in LIBRARY_CRATES {
        let toml = fs::read_to_string(root().join("crates").join(c).join("Cargo.toml")).unwrap();
        for dep in CLI_ONLY {
            let listed = toml
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{dep} ")));
            assert!(
                !listed,
                "{c} lists {dep}, which only the command line may use"
            );
        }
    }
}
