//! The one runner every hostile case goes through: spawns the binary with its inputs, reaps it
//! with `wait4` for the exit status and the peak RSS, kills it past the time limit, and checks
//! the five promises (no panic, a clear error naming the file, bounded memory, bounded time,
//! the package unchanged after a failure).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `MIFA_HOSTILE_BIN` (e.g. a release build, or a copy taken while
/// a shared target folder is rebuilt by others), else the one cargo built for this test.
pub fn bin() -> PathBuf {
    std::env::var_os("MIFA_HOSTILE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mifa")))
}

/// Peak resident memory a case may reach (`MIFA_HOSTILE_RSS_MIB`, default 512).
pub fn rss_limit_kib() -> u64 {
    env_u64("MIFA_HOSTILE_RSS_MIB", 512) * 1024
}

/// Wall-clock seconds a case may run (`MIFA_HOSTILE_SECONDS`, default 20).
pub fn time_limit() -> Duration {
    Duration::from_secs(env_u64("MIFA_HOSTILE_SECONDS", 20))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the command should end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A refusal: a non-zero exit, the named things in stderr.
    Fail,
    /// Success (e.g. writing through /dev/null, a closed pipe).
    Success,
    /// Either is correct; only the other promises are checked.
    Either,
}

/// Where the child's stdout goes.
#[derive(Clone, Debug)]
pub enum Stdout {
    /// A file in the case's folder (kept for checks).
    Capture,
    /// `/dev/full`: every write fails with ENOSPC.
    DevFull,
    /// A pipe whose reading end is closed: writes get EPIPE (or SIGPIPE, also fine).
    ClosedPipe,
}

/// A check run after the command, on its captured output.
pub type Check = Box<dyn Fn(&Outcome) -> Result<(), String> + Send>;

/// One run of the binary, and what it must and must not do.
pub struct Spec {
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// Standard input (default /dev/null).
    pub stdin: Option<PathBuf>,
    /// Standard output.
    pub stdout: Stdout,
    /// The expected end.
    pub expect: Expect,
    /// Each entry: alternatives, one of which must appear in stderr on failure.
    pub names: Vec<Vec<String>>,
    /// Trees that must be byte-identical after a failed command (or always, if `readonly`).
    pub guard: Vec<PathBuf>,
    /// Whether the command must never change the guarded trees, success or not.
    pub readonly: bool,
    /// Trees outside the package that must be unchanged whatever happens (escape targets).
    pub keep: Vec<PathBuf>,
    /// Extra checks.
    pub checks: Vec<Check>,
}

impl Spec {
    /// A command expected to be refused.
    pub fn fail<I, S>(args: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            stdout: Stdout::Capture,
            expect: Expect::Fail,
            names: Vec::new(),
            guard: Vec::new(),
            readonly: false,
            keep: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// A command expected to succeed.
    pub fn ok<I, S>(args: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            expect: Expect::Success,
            ..Spec::fail(args)
        }
    }

    /// A command that may succeed or fail (the other promises still hold).
    pub fn either<I, S>(args: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            expect: Expect::Either,
            ..Spec::fail(args)
        }
    }

    /// stderr must name this (on failure).
    pub fn names(mut self, s: impl Into<String>) -> Spec {
        self.names.push(vec![s.into()]);
        self
    }

    /// stderr must name the file's name (the last component of the path).
    pub fn names_file(self, p: &Path) -> Spec {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string_lossy().into_owned());
        self.names(n)
    }

    /// stderr must name one of these.
    pub fn names_any(mut self, alts: &[&str]) -> Spec {
        self.names
            .push(alts.iter().map(|s| s.to_string()).collect());
        self
    }

    /// The package (or any tree) must be unchanged if the command fails.
    pub fn guard(mut self, p: &Path) -> Spec {
        self.guard.push(p.to_path_buf());
        self
    }

    /// The guarded trees must be unchanged even on success (a reading command).
    pub fn readonly(mut self) -> Spec {
        self.readonly = true;
        self
    }

    /// A tree outside the package that must stay as it is whatever happens.
    pub fn keep(mut self, p: &Path) -> Spec {
        self.keep.push(p.to_path_buf());
        self
    }

    /// Standard input from a file.
    pub fn stdin(mut self, p: &Path) -> Spec {
        self.stdin = Some(p.to_path_buf());
        self
    }

    /// Standard output elsewhere.
    pub fn stdout(mut self, s: Stdout) -> Spec {
        self.stdout = s;
        self
    }

    /// Accepted with a warning naming `needle`, or refused: a documented leniency (the
    /// format's reference tools accept it too), never a silent acceptance.
    pub fn warns(mut self, needle: &str) -> Spec {
        self.expect = Expect::Either;
        let n = needle.to_string();
        self.check(move |o| {
            if o.code == Some(0) && !o.stderr.contains(n.as_str()) {
                Err(format!("accepted without a warning naming {n}"))
            } else {
                Ok(())
            }
        })
    }

    /// Either outcome is correct (bounded, no panic, nothing changed on failure).
    pub fn lenient(mut self) -> Spec {
        self.expect = Expect::Either;
        self
    }

    /// An extra check on the outcome.
    pub fn check(mut self, f: impl Fn(&Outcome) -> Result<(), String> + Send + 'static) -> Spec {
        self.checks.push(Box::new(f));
        self
    }
}

/// How the child ended.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Peak RSS in KiB.
    pub max_rss_kib: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Killed by the runner (time or memory).
    pub killed: Option<String>,
    /// stderr (first 64 KiB).
    pub stderr: String,
    /// stdout (first 64 KiB) when captured.
    pub stdout: String,
}

impl Outcome {
    /// A one-line description for failure reports.
    pub fn describe(&self) -> String {
        let end = match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!("signal {s}"),
            _ => "?".into(),
        };
        let err: String = self.stderr.trim().chars().take(400).collect();
        format!(
            "{end}, {} MiB, {:.1} s; stderr: {}",
            self.max_rss_kib / 1024,
            self.elapsed.as_secs_f64(),
            err.replace('\n', " | ")
        )
    }
}

/// Every entry under `root` (not following symlinks) with a digest of what it is: file bytes,
/// a symlink's target text, "dir". The writer's lock file is recorded as present only (it
/// holds the pid of the last writer, by design).
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    snap(root, root, &mut out);
    out
}

fn snap(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
    use sha2::Digest;
    let rel = p
        .strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned();
    let Ok(md) = fs::symlink_metadata(p) else {
        out.insert(rel, "absent".into());
        return;
    };
    let ft = md.file_type();
    if ft.is_symlink() {
        let t = fs::read_link(p).map(|t| t.to_string_lossy().into_owned());
        out.insert(rel, format!("link {}", t.unwrap_or_default()));
    } else if ft.is_dir() {
        out.insert(rel, "dir".into());
        let mut names: Vec<_> = fs::read_dir(p)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for n in names {
            snap(root, &n, out);
        }
    } else if ft.is_file() {
        if rel == ".mifa.lock" {
            out.insert(rel, "lock".into());
            return;
        }
        let digest = fs::read(p)
            .map(|b| {
                sha2::Sha256::digest(&b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_else(|e| format!("unreadable {e}"));
        out.insert(rel, digest);
    } else if ft.is_fifo() {
        out.insert(rel, "fifo".into());
    } else {
        out.insert(rel, "special".into());
    }
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => d.push(format!("removed {k}")),
            Some(w) if w != v => d.push(format!("changed {k}")),
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            d.push(format!("added {k}"));
        }
    }
    d
}

fn read_head(p: &Path) -> String {
    let mut s = Vec::new();
    if let Ok(f) = fs::File::open(p) {
        let _ = f.take(64 * 1024).read_to_end(&mut s);
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// Current resident set of a live process in KiB (VmHWM, the peak so far).
fn live_peak_kib(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Spawns the binary as `spec` says, in `dir`, and waits for it within the limits.
pub fn execute(spec: &Spec, dir: &Path) -> Outcome {
    let err_path = dir.join(".hostile-stderr");
    let out_path = dir.join(".hostile-stdout");
    let mut cmd = Command::new(bin());
    cmd.args(&spec.args).current_dir(dir);
    cmd.env("RUST_BACKTRACE", "0");
    cmd.stdin(match &spec.stdin {
        Some(p) => Stdio::from(fs::File::open(p).expect("stdin file")),
        None => Stdio::null(),
    });
    cmd.stderr(Stdio::from(
        fs::File::create(&err_path).expect("stderr file"),
    ));
    let mut pipe_write: Option<std::os::fd::OwnedFd> = None;
    match spec.stdout {
        Stdout::Capture => {
            cmd.stdout(Stdio::from(
                fs::File::create(&out_path).expect("stdout file"),
            ));
        }
        Stdout::DevFull => {
            let f = fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full");
            cmd.stdout(Stdio::from(f));
        }
        Stdout::ClosedPipe => {
            use std::os::fd::FromRawFd;
            let mut fds = [0i32; 2];
            // SAFETY: pipe2 fills two fresh descriptors, which we then own.
            let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(r, 0, "pipe2");
            // SAFETY: both descriptors were just created and are owned by nobody else.
            let (rd, w) = unsafe {
                (
                    std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                    std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                )
            };
            drop(rd);
            cmd.stdout(Stdio::from(w.try_clone().expect("dup")));
            pipe_write = Some(w);
        }
    }
    // Its own process group, so that a kill reaches anything it started.
    cmd.process_group(0);
    let start = Instant::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                code: None,
                signal: None,
                max_rss_kib: 0,
                elapsed: Duration::ZERO,
                killed: Some(format!("cannot spawn: {e}")),
                stderr: String::new(),
                stdout: String::new(),
            }
        }
    };
    drop(pipe_write);
    let pid = child.id() as i32;
    let (limit, rss_cap) = (time_limit(), rss_limit_kib() * 2);
    let mut killed = None;
    let mut status = 0i32;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            killed = Some(format!("wait4: {}", std::io::Error::last_os_error()));
            break;
        }
        let over_time = start.elapsed() > limit;
        let peak = live_peak_kib(pid);
        if killed.is_none() && (over_time || peak > rss_cap) {
            killed = Some(if over_time {
                format!("killed after {} s", limit.as_secs())
            } else {
                format!("killed at {} MiB resident", peak / 1024)
            });
            // SAFETY: signalling the process group we created.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    let elapsed = start.elapsed();
    // Whatever it started dies with it.
    // SAFETY: signalling the process group we created; ESRCH is harmless.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Outcome {
        code,
        signal,
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
        elapsed,
        killed,
        stderr: read_head(&err_path),
        stdout: read_head(&out_path),
    }
}

/// Runs `spec` in `dir` and returns every broken promise (empty: the case passed).
pub fn run(spec: &Spec, dir: &Path) -> (Outcome, Vec<String>) {
    let guarded: Vec<_> = spec.guard.iter().map(|p| snapshot(p)).collect();
    let kept: Vec<_> = spec.keep.iter().map(|p| snapshot(p)).collect();
    let o = execute(spec, dir);
    let mut why = Vec::new();
    if let Some(k) = &o.killed {
        why.push(k.clone());
    }
    if o.code == Some(101) || o.stderr.contains("panicked") {
        why.push("panic".into());
    }
    let pipe_death = matches!(spec.stdout, Stdout::ClosedPipe) && o.signal == Some(libc::SIGPIPE);
    if let Some(s) = o.signal {
        if !pipe_death && o.killed.is_none() {
            why.push(format!("died of signal {s}"));
        }
    }
    if o.max_rss_kib > rss_limit_kib() {
        why.push(format!("peak RSS {} MiB", o.max_rss_kib / 1024));
    }
    let failed = o.code.is_some_and(|c| c != 0) || (o.signal.is_some() && !pipe_death);
    match spec.expect {
        Expect::Fail if !failed => why.push("accepted (exit 0)".into()),
        Expect::Success if failed => why.push("refused a correct input".into()),
        _ => {}
    }
    if failed && spec.expect != Expect::Success {
        // Reports (validate, verify, publish check) go to stdout; other errors to stderr.
        let said = format!("{}\n{}", o.stderr, o.stdout);
        for alts in &spec.names {
            if !alts.iter().any(|a| said.contains(a.as_str())) {
                why.push(format!("stderr does not name {}", alts.join(" or ")));
            }
        }
        if o.code.is_some_and(|c| c != 0) && said.trim().is_empty() {
            why.push("no message".into());
        }
    }
    if failed || spec.readonly {
        for (p, before) in spec.guard.iter().zip(&guarded) {
            let d = diff(before, &snapshot(p));
            if !d.is_empty() {
                why.push(format!(
                    "{} changed: {}",
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    d.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    for (p, before) in spec.keep.iter().zip(&kept) {
        let d = diff(before, &snapshot(p));
        if !d.is_empty() {
            why.push(format!(
                "outside the package, {} touched: {}",
                p.display(),
                d.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for c in &spec.checks {
        if let Err(e) = c(&o) {
            why.push(e);
        }
    }
    (o, why)
}
