//! `mifa`: the command-line tool. Parses arguments, calls the library, prints. Each subcommand
//! lives in its own module under `cli/`; this file holds the command tree and the exit rules.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// Standard output could not be written: a full disk, a closed pipe, a revoked terminal.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output")]
struct Output(#[source] std::io::Error);

/// `println!` that returns a failed write as [`Output`] (from the enclosing function) instead of
/// panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::Output)?
    }};
}

/// `print!` that returns a failed write as [`Output`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::Output)?
    }};
}

/// `eprintln!` that ignores a closed or failing standard error: there is nowhere left to
/// report to, and a diagnostic is no reason to stop.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

// After the macros: `macro_rules!` are visible only to modules declared below them.
mod cli;

// Imports allocate and free a plane-sized buffer per plane; mimalloc reuses them where glibc
// maps and faults in fresh pages each time (measured: see benches/compare/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mifa",
    version,
    about = "AI-ready, FAIR microscopy datasets (MIFA/REMBI) for the BioImage Archive"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new, empty package.
    Init(cli::init::InitArgs),
    /// Read or change metadata.
    #[command(subcommand)]
    Meta(cli::meta::MetaCommand),
    /// Manage study authors and annotators.
    #[command(subcommand)]
    Author(cli::author::AuthorCommand),
    /// Check a package: schema, values, references, files; then MIFA/REMBI completeness.
    Validate(cli::validate::ValidateArgs),
    /// Summarise a package.
    Info(cli::info::InfoArgs),
    /// Import images (TIFF, OME-TIFF, PNG, JPEG, OME-Zarr) as OME-Zarr, or a mask as a label.
    ///
    /// Images: `mifa add DIR a.tif b.tif` (files, folders, globs), optionally with their masks
    /// from a folder (`--masks masks/ --mask-name cells`, matched by file name). A mask for an
    /// image already in the package: `mifa add DIR --mask m.tif --image ID --name cells`.
    Add(Box<cli::add::AddArgs>),
    /// Import vector annotations into an annotation set: GeoJSON (QuPath or plain), a points
    /// CSV/TSV, or a COCO file (images matched by file name, or imported with --images).
    ///
    /// `mifa import DIR geojson cells.geojson --image img1 --set cells`;
    /// `mifa import DIR coco instances.json --set gt [--images imgs/]`;
    /// `mifa import DIR tracks --from ctc 01_GT/TRA --set gt --image movie` (tracks from
    /// biotracks, ctc, trackmate or geff; CTC masks become the label `labels/<set>`).
    Import(cli::import::ImportArgs),
    /// Convert between masks and polygons inside the package, with a fidelity report.
    #[command(subcommand)]
    Convert(cli::convert::ConvertCommand),
    /// Export to another format: `tiff` (images and labels, OUT a folder), `coco` (annotation
    /// sets as one COCO file, OUT.json), `geojson` (sets as OUT/<set>/<image>.geojson);
    /// tracks of one set (`--set`) as `biotracks` (a CMSO data package), `ctc` (a Cell
    /// Tracking Challenge folder) or `geff` (a Zarr group), OUT a new folder.
    Export(cli::export::ExportArgs),
    /// Split the images into train/validation/test, recorded in the manifest. Related images
    /// (same biosample or specimen with --group-by) never straddle two splits; the same inputs
    /// and seed always give the same split.
    Split(cli::split::SplitArgs),
    /// Iterate training batches without a model: throughput and target statistics, to check
    /// a pipeline (and to benchmark it).
    ///
    /// `mifa load DIR --split train --task semantic --set nuclei --patch 256 --batch-size 32
    /// --batches 100 --workers 2`
    Load(Box<cli::load::LoadArgs>),
    /// Release a version: an immutable record `versions/X.Y.Z.json` with the hash of every
    /// file, the dataset hash, a metadata snapshot and the credit of everyone so far.
    Release(cli::release::ReleaseArgs),
    /// Recompute every hash and compare with a release: missing, corrupted, unexpected files.
    Verify(cli::verify::VerifyArgs),
    /// Contributors with ORCID and roles, carried over every release; or a CITATION.cff.
    Credit(cli::credit::CreditArgs),
    /// What changed between two releases, or a release and the working state (`working`):
    /// images, annotation sets object by object, metadata, credit.
    Diff(cli::diff::DiffArgs),
    /// Restore an annotation set as it was in a release (files from the package's store).
    Restore(cli::restore::RestoreArgs),
    /// Prepare a submission to a public archive.
    #[command(subcommand)]
    Publish(cli::publish::PublishCommand),
    /// Write a static HTML report (no server needed): thumbnails with annotation overlays,
    /// metadata, class counts, coverage, credit and version history.
    Report(cli::report::ReportArgs),
    /// Draw one image with its annotations (masks coloured per label, polygons outlined,
    /// points, tracks as paths) into a PNG.
    Preview(cli::preview::PreviewArgs),
    /// Print the JSON Schema of a format we define.
    Schema(cli::schema::SchemaArgs),
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a closed stdout arrives as an EPIPE write error,
    // which `exit` treats as the reader having seen enough.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let done = run(cli.command).and_then(|code| {
        // `print!` output without a newline is still buffered; its failure counts too.
        std::io::stdout().flush().map_err(Output)?;
        Ok(code)
    });
    match done {
        Ok(code) => code,
        Err(e) => exit(&e),
    }
}

/// Exit status and message of a failed command: 2, the "cannot run" status, except for a
/// closed stdout (`mifa validate DIR | head`), which ends quietly with 0 as ripgrep does.
fn exit(e: &anyhow::Error) -> ExitCode {
    if let Some(Output(io)) = e.downcast_ref::<Output>() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    errln!("error: {e:#}");
    ExitCode::from(2)
}

/// Prints clap's help, version or usage error; a failed write is handled as [`exit`] does.
fn usage(e: &clap::Error) -> ExitCode {
    let status = ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    if e.use_stderr() {
        // A usage error: a failing stderr leaves nothing to report to.
        let _ = e.print();
        return status;
    }
    let printed = e
        .print()
        .and_then(|()| std::io::stdout().flush())
        .map_err(|io| anyhow::Error::new(Output(io)));
    match printed {
        Ok(()) => status,
        Err(err) => exit(&err),
    }
}

/// Runs one subcommand; its exit status when it succeeds (1: it found problems).
fn run(command: Command) -> Result<ExitCode> {
    use cli::*;
    match command {
        Command::Init(a) => init::run(a),
        Command::Meta(c) => meta::run(c),
        Command::Author(c) => author::run(c),
        Command::Validate(a) => validate::run(a),
        Command::Info(a) => info::run(a),
        Command::Add(a) => add::run(*a),
        Command::Import(a) => import::run(a),
        Command::Convert(c) => convert::run(c),
        Command::Export(a) => export::run(a),
        Command::Split(a) => split::run(a),
        Command::Load(a) => load::run(*a),
        Command::Release(a) => release::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Credit(a) => credit::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Restore(a) => restore::run(a),
        Command::Publish(c) => publish::run(c),
        Command::Report(a) => report::run(a),
        Command::Preview(a) => preview::run(a),
        Command::Schema(a) => schema::run(a),
    }
}
