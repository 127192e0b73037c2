//! `mifa`: the command-line tool. Parses arguments, calls the library, prints.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mifa::edit::{self, Added, PersonList, ValueMode};
use mifa::metadata::completeness::Completeness;
use mifa::metadata::{Manifest, Person};
use mifa::package::Package;
use mifa::validate::{self, Report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Standard output could not be written: a full disk, a closed pipe, a revoked terminal.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output")]
struct Output(#[source] std::io::Error);

/// `println!` that returns a failed write as [`Output`] (from the enclosing function) instead of
/// panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(Output)?
    };
}

/// `print!` that returns a failed write as [`Output`].
macro_rules! out {
    ($($arg:tt)*) => {
        write!(std::io::stdout().lock(), $($arg)*).map_err(Output)?
    };
}

/// `eprintln!` that ignores a closed or failing standard error: there is nowhere left to
/// report to, and a diagnostic is no reason to stop.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

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
    Init {
        /// Package directory (created if missing).
        dir: PathBuf,
        /// Study title (BIA asks for at least 25 characters).
        #[arg(long)]
        title: String,
        /// Licence, as an SPDX id (CC0-1.0 or CC-BY-4.0 preferred).
        #[arg(long)]
        license: String,
        /// Description of the biological application.
        #[arg(long)]
        description: Option<String>,
    },
    /// Read or change metadata.
    #[command(subcommand)]
    Meta(MetaCommand),
    /// Manage study authors and annotators.
    #[command(subcommand)]
    Author(AuthorCommand),
    /// Check a package: schema, values, references, files; then MIFA/REMBI completeness.
    Validate {
        /// Package directory.
        dir: PathBuf,
        /// Print the machine-readable report.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a package.
    Info {
        /// Package directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import images (TIFF, OME-TIFF, PNG, JPEG, OME-Zarr) as OME-Zarr, or a mask as a label.
    ///
    /// Images: `mifa add DIR a.tif b.tif` (files, folders, globs), optionally with their masks
    /// from a folder (`--masks masks/ --mask-name cells`, matched by file name). A mask for an
    /// image already in the package: `mifa add DIR --mask m.tif --image ID --name cells`.
    Add(Box<AddArgs>),
    /// Import vector annotations into an annotation set: GeoJSON (QuPath or plain), a points
    /// CSV/TSV, or a COCO file (images matched by file name, or imported with --images).
    ///
    /// `mifa import DIR geojson cells.geojson --image img1 --set cells`;
    /// `mifa import DIR coco instances.json --set gt [--images imgs/]`;
    /// `mifa import DIR tracks --from ctc 01_GT/TRA --set gt --image movie` (tracks from
    /// biotracks, ctc, trackmate or geff; CTC masks become the label `labels/<set>`).
    Import(ImportArgs),
    /// Convert between masks and polygons inside the package, with a fidelity report.
    #[command(subcommand)]
    Convert(ConvertCommand),
    /// Export to another format: `tiff` (images and labels, OUT a folder), `coco` (annotation
    /// sets as one COCO file, OUT.json), `geojson` (sets as OUT/<set>/<image>.geojson);
    /// tracks of one set (`--set`) as `biotracks` (a CMSO data package), `ctc` (a Cell
    /// Tracking Challenge folder) or `geff` (a Zarr group), OUT a new folder.
    Export {
        /// Package directory.
        dir: PathBuf,
        /// Format.
        #[arg(value_parser = ["tiff", "coco", "geojson", "biotracks", "ctc", "geff"])]
        format: String,
        /// Output folder (tiff, geojson) or file (coco).
        out: PathBuf,
        /// TIFF compression.
        #[arg(long, value_parser = ["deflate", "lzw", "none"], default_value = "deflate")]
        compression: String,
        /// Annotation sets to export (repeatable; default all).
        #[arg(long = "set")]
        sets: Vec<String>,
        /// COCO: write masks as traced polygons (holes are lost) instead of compressed RLE.
        #[arg(long)]
        polygons: bool,
    },
    /// Split the images into train/validation/test, recorded in the manifest. Related images
    /// (same biosample or specimen with --group-by) never straddle two splits; the same inputs
    /// and seed always give the same split.
    Split {
        /// Package directory.
        dir: PathBuf,
        /// Fraction of images for training.
        #[arg(long, default_value_t = 0.8)]
        train: f64,
        /// Fraction for validation.
        #[arg(long, default_value_t = 0.1)]
        val: f64,
        /// Fraction for testing.
        #[arg(long, default_value_t = 0.1)]
        test: f64,
        /// Seed of the shuffle.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// What images are grouped by.
        #[arg(long, value_parser = ["image", "biosample", "specimen"], default_value = "image")]
        group_by: String,
        /// Deal groups class by class, classes from this vector annotation set.
        #[arg(long)]
        stratify: Option<String>,
        /// Name of the split.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Iterate training batches without a model: throughput and target statistics, to check
    /// a pipeline (and to benchmark it).
    ///
    /// `mifa load DIR --split train --task semantic --set nuclei --patch 256 --batch-size 32
    /// --batches 100 --workers 2`
    Load(Box<LoadArgs>),
    /// Release a version: an immutable record `versions/X.Y.Z.json` with the hash of every
    /// file, the dataset hash, a metadata snapshot and the credit of everyone so far.
    Release {
        /// Package directory.
        dir: PathBuf,
        /// Semantic version, greater than the latest release.
        #[arg(long)]
        version: String,
        /// What changed.
        #[arg(long)]
        changes: String,
        /// Release despite validation errors (they are recorded).
        #[arg(long)]
        allow_invalid: bool,
        /// Remove a person's credit on purpose: `NAME_OR_ORCID=REASON` (repeatable; recorded).
        #[arg(long = "remove-credit")]
        remove_credit: Vec<String>,
    },
    /// Recompute every hash and compare with a release: missing, corrupted, unexpected files.
    Verify {
        /// Package directory.
        dir: PathBuf,
        /// Release to check (default the latest).
        #[arg(long)]
        version: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Contributors with ORCID and roles, carried over every release; or a CITATION.cff.
    Credit {
        /// Package directory.
        dir: PathBuf,
        /// text, json or cff.
        #[arg(long, value_parser = ["text", "json", "cff"], default_value = "text")]
        format: String,
    },
    /// What changed between two releases, or a release and the working state (`working`):
    /// images, annotation sets object by object, metadata, credit.
    Diff {
        /// Package directory.
        dir: PathBuf,
        /// From: a version or `working`.
        from: String,
        /// To: a version or `working`.
        #[arg(default_value = "working")]
        to: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore an annotation set as it was in a release (files from the package's store).
    Restore {
        /// Package directory.
        dir: PathBuf,
        /// The release.
        #[arg(long)]
        version: String,
        /// The annotation set.
        #[arg(long)]
        set: String,
    },
    /// Prepare a submission to a public archive.
    #[command(subcommand)]
    Publish(PublishCommand),
    /// Write a static HTML report (no server needed): thumbnails with annotation overlays,
    /// metadata, class counts, coverage, credit and version history.
    Report {
        /// Package directory.
        dir: PathBuf,
        /// Output folder (replaced if it holds an earlier report).
        #[arg(long)]
        out: PathBuf,
        /// Most images shown as thumbnails (spread over the package).
        #[arg(long, default_value_t = 48, value_parser = usize_in(1, 100_000))]
        max_images: usize,
        /// Longest side of a thumbnail in pixels.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=4096))]
        size: u32,
    },
    /// Draw one image with its annotations (masks coloured per label, polygons outlined,
    /// points, tracks as paths) into a PNG.
    Preview {
        /// Package directory.
        dir: PathBuf,
        /// Image id.
        image: String,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Pyramid level (default: the coarsest at least --size pixels wide or high).
        #[arg(long)]
        level: Option<usize>,
        /// Longest side of the picture in pixels.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=16_384))]
        size: u32,
        /// Annotation sets to draw, comma-separated (default: every set of the image).
        #[arg(long, value_delimiter = ',')]
        sets: Option<Vec<String>>,
        /// Time point (default 0).
        #[arg(long)]
        t: Option<u64>,
        /// z plane (default the middle one).
        #[arg(long)]
        z: Option<u64>,
    },
    /// Print the JSON Schema of a format we define.
    Schema {
        /// Which schema.
        #[arg(value_parser = ["manifest", "version"], default_value = "manifest")]
        which: String,
    },
}

#[derive(Subcommand)]
enum PublishCommand {
    /// A BioImage Archive submission of the latest release: PageTab (TSV and JSON), file
    /// lists, images and masks as zipped OME-Zarr, annotations, upload instructions.
    Bia {
        /// Package directory.
        dir: PathBuf,
        /// Submission folder to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only check and print the plan; write nothing.
        #[arg(long)]
        check_only: bool,
        /// Accession of the BIA study holding the previous version (S-BIAD…).
        #[arg(long)]
        previous_accession: Option<String>,
        /// Write the licence although BIA offers only CC0 and CC BY 4.0.
        #[arg(long)]
        allow_license: bool,
        /// Name the annotation sections `Annotations` (what BIA's ingester reads today)
        /// instead of the v5 template's `Annotation`.
        #[arg(long)]
        legacy_annotation_sections: bool,
        /// Replace an earlier submission folder written by mifa.
        #[arg(long)]
        force: bool,
    },
    /// Check a written submission folder (PageTab structure, references, file lists, files).
    Check {
        /// Submission folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum MetaCommand {
    /// Set a value: `mifa meta set DIR study.description "…"`.
    ///
    /// Paths: keys joined by '.', `[N]` an element, `[+]` a new element, `[ID]` the element
    /// with that id (created if missing), e.g. `rembi.biosamples[hela].organisms[0].ncbi_taxon`.
    Set {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path.
        path: String,
        /// Value: text, or JSON where the field needs a number, list or object.
        value: String,
        /// Parse the value as JSON.
        #[arg(long, conflicts_with = "string")]
        json: bool,
        /// Keep the value as text even if it looks like JSON.
        #[arg(long)]
        string: bool,
    },
    /// Print a value (JSON), or the whole manifest.
    Get {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path; omit for the whole manifest.
        path: Option<String>,
    },
    /// Remove a value.
    Unset {
        /// Package directory.
        dir: PathBuf,
        /// Dotted path.
        path: String,
    },
    /// Merge a metadata sheet (.json, .yaml, .tsv or .csv) into the package.
    Import {
        /// Package directory.
        dir: PathBuf,
        /// The sheet.
        sheet: PathBuf,
    },
}

#[derive(Args)]
struct ImportArgs {
    /// Package directory.
    dir: PathBuf,
    /// Format of the file (`tracks`: see --from).
    #[arg(value_parser = ["geojson", "points", "coco", "tracks"])]
    format: String,
    /// The file (a folder for CTC, geff and biotracks).
    file: PathBuf,
    /// Tracks: the source format.
    #[arg(long = "from", value_parser = ["biotracks", "ctc", "trackmate", "geff"])]
    from: Option<String>,
    /// Tracks: an existing label of --image whose values the objects' label values refer to.
    #[arg(long)]
    labels: Option<String>,
    /// Annotation set to import into (created if missing).
    #[arg(long)]
    set: String,
    /// Image the annotations belong to (geojson, points).
    #[arg(long)]
    image: Option<String>,
    /// COCO: folder with the images, to import those not yet in the package.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Points: where the file puts pixel centres (auto: napari's axis-N columns are centred).
    #[arg(long, value_parser = ["auto", "corner", "centre"], default_value = "auto")]
    origin: String,
    /// Leave out unusable objects (each reported) instead of failing.
    #[arg(long)]
    skip_invalid: bool,
    /// Replace an image's existing file in the set.
    #[arg(long)]
    replace: bool,
    /// Largest decoded size, in MiB, of one decode unit of an image or mask read (COCO
    /// --images, CTC masks): a PNG or JPEG, a TIFF strip or tile.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_decode_mb: u64,
}

#[derive(Subcommand)]
enum ConvertCommand {
    /// Rasterise a vector set into label images (OME-Zarr labels/<name>).
    ToMask {
        /// Package directory.
        dir: PathBuf,
        /// Vector annotation set.
        #[arg(long)]
        set: String,
        /// Label name (also the new mask set's id).
        #[arg(long)]
        name: String,
        /// Instance (one value per object) or semantic (class ids).
        #[arg(long, value_parser = ["instance", "semantic"], default_value = "instance")]
        kind: String,
    },
    /// Trace a mask set into polygons with holes (one GeoJSON per image).
    ToPolygons {
        /// Package directory.
        dir: PathBuf,
        /// Mask annotation set.
        #[arg(long)]
        mask: String,
        /// Vector set to write.
        #[arg(long)]
        set: String,
        /// Simplify outlines (Douglas-Peucker tolerance in pixels); default exact.
        #[arg(long)]
        simplify: Option<f64>,
        /// Replace existing files of the set.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum AuthorCommand {
    /// Add a person (merged with an existing entry of the same ORCID or name).
    Add(AuthorArgs),
    /// List the people credited in the package.
    List {
        /// Package directory.
        dir: PathBuf,
    },
}

#[derive(Args)]
struct AddArgs {
    /// Package directory.
    dir: PathBuf,
    /// Image files, folders or glob patterns.
    inputs: Vec<String>,
    /// Image id (one input only; default: the file name without extensions).
    #[arg(long)]
    id: Option<String>,
    /// Axis names, for plain multi-page TIFFs (e.g. tyx) or to check a file's axes.
    #[arg(long)]
    axes: Option<String>,
    /// Pixel size in x[,y[,z]] (overrides file metadata).
    #[arg(long, value_delimiter = ',', value_parser = positive_number)]
    pixel_size: Vec<f64>,
    /// Unit of --pixel-size (UDUNITS-2 name).
    #[arg(long, default_value = "micrometer")]
    unit: String,
    /// Time between frames.
    #[arg(long, value_parser = positive_number)]
    time_interval: Option<f64>,
    /// Unit of --time-interval.
    #[arg(long, default_value = "second")]
    time_unit: String,
    /// Channel names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    channel_names: Vec<String>,
    /// OME-Zarr version to write.
    #[arg(long, default_value = "0.5", value_parser = ["0.5", "0.4"])]
    ngff: String,
    /// Chunk edge in y and x.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    chunk: u64,
    /// zstd compression level (1 fastest … 19 smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    /// REMBI biosample id for the images.
    #[arg(long)]
    biosample: Option<String>,
    /// REMBI specimen id for the images.
    #[arg(long)]
    specimen: Option<String>,
    /// REMBI image acquisition id for the images.
    #[arg(long)]
    acquisition: Option<String>,
    /// REMBI study component id for the images.
    #[arg(long)]
    study_component: Option<String>,
    /// Folder of masks for the images, matched by file name.
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Label name of the masks (labels/<name>; also the annotation set id).
    #[arg(long, default_value = "cells")]
    mask_name: String,
    /// What mask values mean.
    #[arg(long, value_parser = ["instance", "semantic"], default_value = "instance")]
    kind: String,
    /// One mask for an image already in the package (with --image and --name).
    #[arg(long, conflicts_with_all = ["inputs", "masks"], requires_all = ["image", "name"])]
    mask: Option<PathBuf>,
    /// Image the --mask belongs to.
    #[arg(long)]
    image: Option<String>,
    /// Label name of the --mask.
    #[arg(long)]
    name: Option<String>,
    /// Class of each label value, JSON: {"1": "nucleus"} or [{"label-value": 1, "class": …}].
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Largest decoded size, in MiB, of one decode unit: a PNG or JPEG, a TIFF strip or tile, a
    /// Zarr chunk (a small file can declare gigabytes).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_decode_mb: u64,
}

/// A pixel size or time interval: finite, above 0, at most 10¹² (the pyramid's levels double
/// it, and the result must stay a finite JSON number).
fn positive_number(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 1e12 {
        Ok(v)
    } else {
        Err(format!("{s} is not a number above 0 and at most 1e12"))
    }
}

#[derive(Args)]
struct AuthorArgs {
    /// Package directory.
    dir: PathBuf,
    /// Full name.
    #[arg(long)]
    name: String,
    /// ORCID iD (bare or as https://orcid.org/… URL).
    #[arg(long)]
    orcid: Option<String>,
    /// E-mail address.
    #[arg(long)]
    email: Option<String>,
    /// Institution.
    #[arg(long)]
    affiliation: Option<String>,
    /// Role, repeatable or comma-separated (annotator, curator, reviewer, contact, …).
    #[arg(long = "role", value_delimiter = ',')]
    roles: Vec<String>,
    /// Add to this annotation set's authors instead of the study's.
    #[arg(long = "set")]
    set: Option<String>,
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a closed stdout arrives as an EPIPE write error,
    // which `exit` treats as the reader having seen enough.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let done = run(cli).and_then(|code| {
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

fn open(dir: &std::path::Path) -> Result<Package> {
    Package::open(dir).with_context(|| format!("cannot open package {}", dir.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init {
            dir,
            title,
            license,
            description,
        } => {
            let mut m = Manifest::new(title, license);
            m.study.description = description;
            Package::create(&dir, m)
                .with_context(|| format!("cannot create package {}", dir.display()))?;
            outln!("created package {}", dir.display());
            outln!("next: fill the metadata (mifa meta set / mifa author add / mifa meta import), then `mifa validate {}`", dir.display());
        }
        Command::Meta(MetaCommand::Set {
            dir,
            path,
            value,
            json,
            string,
        }) => {
            let mode = if json {
                ValueMode::Json
            } else if string {
                ValueMode::String
            } else {
                ValueMode::Auto
            };
            let mut pkg = open(&dir)?;
            edit::set_in_package(&mut pkg, &path, &value, mode)?;
            outln!("set {path}");
        }
        Command::Meta(MetaCommand::Get { dir, path }) => {
            let pkg = open(&dir)?;
            let doc = serde_json::to_value(pkg.manifest())?;
            let v = match &path {
                Some(p) => edit::get(&doc, p)?.clone(),
                None => doc,
            };
            match v {
                serde_json::Value::String(s) => outln!("{s}"),
                other => outln!("{}", serde_json::to_string_pretty(&other)?),
            }
        }
        Command::Meta(MetaCommand::Unset { dir, path }) => {
            let mut pkg = open(&dir)?;
            pkg.update_value(|doc| {
                edit::unset(doc, &path).map_err(mifa::package::UpdateError::Change)
            })
            .map_err(edit::Error::from)?;
            outln!("removed {path}");
        }
        Command::Meta(MetaCommand::Import { dir, sheet }) => {
            let mut pkg = open(&dir)?;
            let changed = mifa::sheet::import(&mut pkg, &sheet)?;
            outln!(
                "imported {}: {} value(s) changed",
                sheet.display(),
                changed.len()
            );
        }
        Command::Author(AuthorCommand::Add(a)) => {
            let mut pkg = open(&a.dir)?;
            let list = a.set.map_or(PersonList::Study, PersonList::Set);
            let person = Person {
                name: a.name.clone(),
                orcid: a.orcid,
                email: a.email,
                affiliation: a.affiliation,
                roles: a
                    .roles
                    .into_iter()
                    .map(|r| r.trim().to_ascii_lowercase())
                    .filter(|r| !r.is_empty())
                    .collect(),
                extra: Default::default(),
            };
            let what = edit::add_person(&mut pkg, &list, person)?;
            let target = match &list {
                PersonList::Study => "study authors".to_string(),
                PersonList::Set(id) => format!("annotators of {id}"),
            };
            match what {
                Added::New => outln!("added {} to the {target}", a.name),
                Added::Merged => outln!("updated {} in the {target}", a.name),
            }
        }
        Command::Author(AuthorCommand::List { dir }) => {
            let pkg = open(&dir)?;
            for c in mifa::info::contributors(pkg.manifest()) {
                let orcid = c
                    .orcid
                    .as_deref()
                    .map(|o| format!(" https://orcid.org/{o}"))
                    .unwrap_or_default();
                let sets = if c.sets.is_empty() {
                    String::new()
                } else {
                    format!(" [annotated: {}]", c.sets.join(", "))
                };
                outln!(
                    "{}{orcid} ({}){sets}",
                    c.name,
                    if c.roles.is_empty() {
                        "no role".into()
                    } else {
                        c.roles.join(", ")
                    }
                );
            }
        }
        Command::Validate { dir, json } => {
            let report = validate::validate(&dir)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print_report(&report)?;
            }
            return Ok(if report.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Info { dir, json } => {
            let pkg = open(&dir)?;
            let info = mifa::info::info(&pkg);
            if json {
                outln!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                out!("{info}");
            }
        }
        Command::Add(a) => add(*a)?,
        Command::Import(a) => import(a)?,
        Command::Convert(c) => convert(c)?,
        Command::Export {
            dir,
            format,
            out,
            compression,
            sets,
            polygons,
        } => {
            let pkg = open(&dir)?;
            pkg.check_output_outside(&out)?;
            if let Some(to) = match format.as_str() {
                "biotracks" => Some(mifa::tracks::Target::Biotracks),
                "ctc" => Some(mifa::tracks::Target::Ctc),
                "geff" => Some(mifa::tracks::Target::Geff),
                _ => None,
            } {
                let [set] = sets.as_slice() else {
                    bail!("{format} export writes the tracks of one set: give --set ID once");
                };
                let r = mifa::tracks::export_tracks(&pkg, set, to, &out)?;
                for n in &r.notes {
                    outln!("note: {n}");
                }
                outln!("wrote {}: {}", out.display(), stats_line(&r.stats));
                return Ok(ExitCode::SUCCESS);
            }
            if format == "coco" {
                let opts = mifa::vectors::CocoExportOptions { sets, polygons };
                let fid = mifa::vectors::export_coco(&pkg, &out, &opts)?;
                outln!("wrote {}", out.display());
                outln!("{fid}");
                return Ok(ExitCode::SUCCESS);
            }
            if format == "geojson" {
                for fid in mifa::vectors::export_geojson(&pkg, &out, &sets)? {
                    outln!("{fid}");
                }
                outln!("wrote {}", out.display());
                return Ok(ExitCode::SUCCESS);
            }
            let compression = match compression.as_str() {
                "none" => mifa::formats::tiff::Compression::None,
                "lzw" => mifa::formats::tiff::Compression::Lzw,
                _ => mifa::formats::tiff::Compression::Deflate,
            };
            mifa::package::check_output_dir(&out)?;
            let files = mifa::images::export_tiff(&pkg, &out, compression)?;
            for f in &files {
                outln!("wrote {}", f.display());
            }
            outln!("{} file(s) in {}", files.len(), out.display());
        }
        Command::Split {
            dir,
            train,
            val,
            test,
            seed,
            group_by,
            stratify,
            name,
        } => {
            use mifa::split::{Fractions, GroupBy, Request};
            let group_by = match group_by.as_str() {
                "biosample" => GroupBy::Biosample,
                "specimen" => GroupBy::Specimen,
                _ => GroupBy::Image,
            };
            let mut pkg = Package::open(&dir)?;
            let req = Request {
                id: name,
                fractions: Fractions { train, val, test },
                seed,
                group_by,
                stratify,
            };
            let (s, same) = mifa::split::record(&mut pkg, &req)
                .with_context(|| format!("cannot split {}", dir.display()))?;
            let groups = mifa::split::groups(pkg.manifest(), s.group_by)?;
            let n_groups = |l: &[String]| {
                l.iter()
                    .filter_map(|i| groups.get(i))
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            };
            outln!(
                "split {:?} ({}, seed {}, grouped by {}){}",
                s.id,
                s.method,
                s.seed,
                serde_json::to_value(s.group_by)?.as_str().unwrap_or(""),
                if same {
                    ": unchanged, identical to the recorded one"
                } else {
                    ""
                }
            );
            for (k, l) in [("train", &s.train), ("val", &s.val), ("test", &s.test)] {
                outln!(
                    "  {k:<5} {:>5} images in {:>4} groups",
                    l.len(),
                    n_groups(l)
                );
            }
            for (k, share, l) in [
                ("train", s.fractions.train, &s.train),
                ("val", s.fractions.val, &s.val),
                ("test", s.fractions.test, &s.test),
            ] {
                if share > 0.0 && l.is_empty() {
                    errln!(
                        "warning: {k} asked for {:.0}% but got no image: there are only {} groups",
                        share * 100.0,
                        groups
                            .values()
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                    );
                }
            }
            outln!("  inputs {}", s.inputs_hash);
        }
        Command::Load(a) => load(*a)?,
        Command::Release {
            dir,
            version,
            changes,
            allow_invalid,
            remove_credit,
        } => {
            let pkg = Package::open(&dir)?;
            let mut removals = Vec::new();
            for r in remove_credit {
                let Some((who, reason)) = r.split_once('=') else {
                    bail!("--remove-credit {r:?}: expected NAME_OR_ORCID=REASON");
                };
                let orcid = mifa::metadata::checks::orcid(who)
                    .is_ok()
                    .then(|| who.to_string());
                removals.push(mifa::versions::CreditRemoval {
                    name: who.to_string(),
                    orcid,
                    reason: reason.to_string(),
                });
            }
            let req = mifa::versions::ReleaseRequest {
                version,
                changes,
                allow_invalid,
                remove_credit: removals,
            };
            let r = mifa::versions::release(&pkg, &req)
                .with_context(|| format!("cannot release {}", dir.display()))?;
            let bytes: u64 = r.files.iter().map(|f| f.size).sum();
            outln!(
                "released {} ({} files, {}): {}",
                r.version,
                r.files.len(),
                bytes,
                r.dataset_sha256
            );
            if let Some(p) = &r.previous {
                outln!(
                    "previous: {} (record sha256:{})",
                    p.version,
                    p.record_sha256
                );
            }
            outln!("credit: {} people", r.credit.len());
            if !r.released_with_errors.is_empty() {
                errln!(
                    "warning: released with {} validation error(s), recorded in the release",
                    r.released_with_errors.len()
                );
            }
        }
        Command::Verify { dir, version, json } => {
            let v = mifa::versions::verify(&dir, version.as_deref())
                .with_context(|| format!("cannot verify {}", dir.display()))?;
            v.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
            if json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (what, list) in [
                    ("missing", &v.missing),
                    ("corrupted", &v.corrupted),
                    ("unexpected", &v.unexpected),
                    ("bad object", &v.bad_objects),
                    ("chain", &v.chain_errors),
                    ("head", &v.head_errors),
                    ("special", &v.special),
                ] {
                    for p in list {
                        outln!("{what:<10} {p}");
                    }
                }
                if v.ok() {
                    outln!("ok: the package is release {} exactly", v.version);
                }
            }
            if !v.ok() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Credit { dir, format } => {
            let pkg = Package::open(&dir)?;
            let (latest, credit) = mifa::versions::current_credit(&pkg)?;
            match format.as_str() {
                "json" => outln!("{}", serde_json::to_string_pretty(&credit)?),
                "cff" if credit.is_empty() => bail!(
                    "nobody is credited yet, and CITATION.cff needs at least one author: add them with `mifa author add`"
                ),
                "cff" => out!(
                    "{}",
                    mifa::versions::citation_cff(pkg.manifest(), &credit, latest.as_ref())
                ),
                _ => {
                    for c in &credit {
                        let orcid = c
                            .orcid
                            .as_ref()
                            .map(|o| format!(" https://orcid.org/{o}"))
                            .unwrap_or_default();
                        let sets = if c.sets.is_empty() {
                            String::new()
                        } else {
                            format!("; sets: {}", c.sets.join(", "))
                        };
                        outln!(
                            "{}{orcid} — {} (since {}{sets})",
                            c.name,
                            if c.roles.is_empty() {
                                "contributor".to_string()
                            } else {
                                c.roles.join(", ")
                            },
                            c.since
                        );
                    }
                }
            }
        }
        Command::Diff {
            dir,
            from,
            to,
            json,
        } => {
            let pkg = Package::open(&dir)?;
            let (a, b) = (
                mifa::versions::side(&pkg, &from)?,
                mifa::versions::side(&pkg, &to)?,
            );
            let d = mifa::versions::diff(&a, &b)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                out!("{d}");
            }
        }
        Command::Restore { dir, version, set } => {
            let mut pkg = Package::open(&dir)?;
            let r = mifa::versions::restore(&mut pkg, &version, &set)
                .with_context(|| format!("cannot restore set {set:?} of {}", dir.display()))?;
            outln!(
                "restored set {set:?} as of {version}: {} files written, {} removed",
                r.written.len(),
                r.removed.len()
            );
        }
        Command::Publish(PublishCommand::Bia {
            dir,
            out,
            check_only,
            previous_accession,
            allow_license,
            legacy_annotation_sections,
            force,
        }) => {
            use mifa::publish::bia;
            let pkg = Package::open(&dir)?;
            let opts = bia::PublishOptions {
                previous_accession,
                allow_license,
                annotation_section: if legacy_annotation_sections {
                    bia::AnnotationSection::Annotations
                } else {
                    bia::AnnotationSection::Annotation
                },
                force,
            };
            let print_plan = |plan: &bia::Plan| -> Result<()> {
                outln!(
                    "release {} ({}): {} files, {} to upload; route: {}",
                    plan.version,
                    plan.fingerprint,
                    plan.files.len(),
                    bia::human(plan.total_bytes),
                    match plan.route {
                        bia::Route::SubmissionTool =>
                            "submission tool upload (< 50 GB, files < 20 GB)",
                        bia::Route::Ftp => "FTP (up to 1 TB)",
                        bia::Route::Aspera => "Aspera (over 1 TB)",
                    }
                );
                for p in &plan.problems {
                    errln!("{p}");
                }
                Ok(())
            };
            if check_only || out.is_none() {
                if !check_only {
                    bail!("give --out SUBMISSION_DIR, or --check-only");
                }
                let plan = bia::plan(&pkg, &opts)?;
                print_plan(&plan)?;
                if !plan.errors().is_empty() {
                    return Ok(ExitCode::from(1));
                }
            } else {
                let out = out.unwrap_or_default();
                mifa::package::check_output_dir(&out)?;
                let done = bia::publish(&pkg, &out, &opts)
                    .with_context(|| format!("cannot publish {}", dir.display()))?;
                print_plan(&done.plan)?;
                outln!(
                    "wrote {}: submission.tsv, submission.json, upload/ ({} files); next steps in {}",
                    out.display(),
                    done.plan.files.len(),
                    out.join("README.md").display()
                );
            }
        }
        Command::Publish(PublishCommand::Check { dir }) => {
            let problems = mifa::publish::bia::check(&dir)
                .with_context(|| format!("cannot check {}", dir.display()))?;
            for p in &problems {
                outln!("{p}");
            }
            let errors = problems
                .iter()
                .filter(|p| p.severity == mifa::publish::bia::Severity::Error)
                .count();
            outln!(
                "{}: {errors} error(s), {} warning(s)",
                dir.display(),
                problems.len() - errors
            );
            if errors > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Report {
            dir,
            out,
            max_images,
            size,
        } => {
            let pkg = Package::open(&dir)?;
            let opts = mifa::publish::report::ReportOptions {
                max_images,
                thumb_size: size,
            };
            mifa::package::check_output_dir(&out)?;
            let r = mifa::publish::report::write_report(&pkg, &out, &opts)
                .with_context(|| format!("cannot write the report of {}", dir.display()))?;
            outln!(
                "wrote {}: {} of {} image(s) shown, {} overlay layer(s); open {}",
                out.display(),
                r.shown,
                r.images,
                r.layers,
                out.join("index.html").display()
            );
        }
        Command::Preview {
            dir,
            image,
            out,
            level,
            size,
            sets,
            t,
            z,
        } => {
            let pkg = Package::open(&dir)?;
            pkg.check_output_outside(&out)?;
            let opts = mifa::publish::preview::PreviewOptions {
                level,
                max_size: size,
                sets,
                t,
                z,
            };
            let p = mifa::publish::preview::render(&pkg, &image, &opts)
                .with_context(|| format!("cannot preview image {image:?} of {}", dir.display()))?;
            mifa::publish::preview::write_png(&out, p.width, p.height, &p.composite())?;
            let layers: Vec<String> = p
                .layers
                .iter()
                .map(|l| format!("{} ({}, {} objects)", l.set, l.kind.as_str(), l.objects))
                .collect();
            outln!(
                "wrote {} ({} × {}, level {}{}): {}",
                out.display(),
                p.width,
                p.height,
                p.level,
                if p.plane.is_empty() {
                    String::new()
                } else {
                    format!(", {}", p.plane)
                },
                if layers.is_empty() {
                    "no annotations".to_string()
                } else {
                    layers.join(", ")
                }
            );
            for n in &p.notes {
                errln!("note: {n}");
            }
        }
        Command::Schema { which } => match which.as_str() {
            "manifest" => out!("{}", mifa::manifest::schema_text()),
            "version" => out!("{}", mifa::versions::schema_text()),
            _ => bail!("unknown schema {which:?}"),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar() -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    pb
}

/// A terminal progress bar (hidden when stderr is not a terminal) fed by the library.
struct Bar(indicatif::ProgressBar);

impl mifa::images::Progress for Bar {
    fn total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

fn print_import(r: &mifa::vectors::Imported) -> Result<()> {
    const SHOWN: usize = 20;
    for w in r.warnings.iter().take(SHOWN) {
        errln!("warning: {w}");
    }
    if r.warnings.len() > SHOWN {
        errln!("warning: … and {} more", r.warnings.len() - SHOWN);
    }
    for d in r.fidelity.dropped.iter().take(SHOWN) {
        errln!(
            "dropped: image {}, object {}: {}",
            d.image,
            d.object,
            d.reason
        );
    }
    if !r.images_added.is_empty() {
        outln!(
            "added {} image(s): {}",
            r.images_added.len(),
            r.images_added.join(", ")
        );
    }
    outln!(
        "imported into set {}: {} object(s), {} image label(s), {} file(s)",
        r.set,
        r.objects,
        r.image_labels,
        r.files
    );
    if !r.classes_added.is_empty() {
        outln!("new classes: {}", r.classes_added.join(", "));
    }
    outln!("{}", r.fidelity);
    Ok(())
}

fn stats_line(s: &mifa::annotations::tracks::Stats) -> String {
    format!(
        "{} objects, {} links, {} tracklets, {} lineages, {} divisions, {} merges, {} gap links",
        s.nodes, s.edges, s.tracklets, s.lineages, s.divisions, s.merges, s.gaps
    )
}

fn import_tracks(a: ImportArgs) -> Result<()> {
    use mifa::tracks::Source;
    let from = match a.from.as_deref() {
        Some("biotracks") => Source::Biotracks,
        Some("ctc") => Source::Ctc,
        Some("trackmate") => Source::Trackmate,
        Some("geff") => Source::Geff,
        _ => bail!("tracks: give the source format with --from biotracks|ctc|trackmate|geff"),
    };
    let mut pkg = open(&a.dir)?;
    let mut opts = mifa::tracks::ImportOptions {
        image: a.image,
        labels: a.labels,
        ..Default::default()
    };
    opts.masks.limits = mifa::formats::Limits::default().with_max_decode_mb(a.max_decode_mb);
    let r = mifa::tracks::import_tracks(&mut pkg, from, &a.file, &a.set, &opts)?;
    for n in &r.notes {
        outln!("note: {n}");
    }
    if let Some((path, n)) = &r.labels {
        outln!("wrote label {path} ({n} objects)");
    }
    outln!("imported into set {}: {}", a.set, stats_line(&r.stats));
    Ok(())
}

fn import(a: ImportArgs) -> Result<()> {
    use mifa::vectors::{self, CocoImportOptions, ImportOptions};
    if a.format == "tracks" {
        return import_tracks(a);
    }
    if a.from.is_some() || a.labels.is_some() {
        bail!("--from and --labels apply to `tracks` imports");
    }
    let mut pkg = open(&a.dir)?;
    let common = ImportOptions {
        set: a.set,
        skip_invalid: a.skip_invalid,
        replace: a.replace,
    };
    let image = || {
        a.image
            .clone()
            .context("--image ID is needed for this format")
    };
    let r = match a.format.as_str() {
        "geojson" => vectors::import_geojson(&mut pkg, &a.file, &image()?, &common)?,
        "points" => {
            let origin = match a.origin.as_str() {
                "corner" => mifa::formats::points::Origin::Corner,
                "centre" => mifa::formats::points::Origin::Centre,
                _ => mifa::formats::points::Origin::Auto,
            };
            vectors::import_points(&mut pkg, &a.file, &image()?, origin, &common)?
        }
        _ => {
            if a.image.is_some() {
                bail!("--image does not apply to COCO: images are matched by file_name");
            }
            let mut opts = CocoImportOptions {
                common,
                images_dir: a.images,
                ..Default::default()
            };
            opts.add.limits = mifa::formats::Limits::default().with_max_decode_mb(a.max_decode_mb);
            let bar = Bar(progress_bar());
            let r = vectors::import_coco(&mut pkg, &a.file, &opts, &bar)?;
            bar.0.finish_and_clear();
            r
        }
    };
    print_import(&r)
}

fn convert(c: ConvertCommand) -> Result<()> {
    use mifa::metadata::MaskKind;
    match c {
        ConvertCommand::ToMask {
            dir,
            set,
            name,
            kind,
        } => {
            let mut pkg = open(&dir)?;
            let kind = if kind == "semantic" {
                MaskKind::Semantic
            } else {
                MaskKind::Instance
            };
            let fid =
                mifa::vectors::polygons_to_mask(&mut pkg, &set, &name, kind, &Default::default())?;
            outln!("{fid}");
        }
        ConvertCommand::ToPolygons {
            dir,
            mask,
            set,
            simplify,
            replace,
        } => {
            let mut pkg = open(&dir)?;
            if let Some(t) = simplify {
                if !(t.is_finite() && t > 0.0) {
                    bail!("--simplify {t}: give a tolerance in pixels above 0");
                }
            }
            let fid = mifa::vectors::mask_to_polygons(&mut pkg, &mask, &set, simplify, replace)?;
            outln!("{fid}");
        }
    }
    Ok(())
}

fn add(a: AddArgs) -> Result<()> {
    use mifa::images::{self, AddOptions, Links, MaskBatch, MaskOptions, Overrides};
    use mifa::metadata::MaskKind;
    let limits = mifa::formats::Limits::default().with_max_decode_mb(a.max_decode_mb);
    let mut pkg = open(&a.dir)?;
    let version: mifa::formats::ome_zarr::NgffVersion =
        a.ngff.parse().map_err(anyhow::Error::msg)?;
    let write = mifa::formats::ome_zarr::WriteOptions {
        version,
        chunk: a.chunk,
        zstd_level: a.zstd_level,
        ..Default::default()
    };
    let kind = if a.kind == "semantic" {
        MaskKind::Semantic
    } else {
        MaskKind::Instance
    };
    if let Some(mask) = a.mask {
        let (image, name) = (
            a.image.expect("clap requires --image"),
            a.name.expect("clap requires --name"),
        );
        let properties = match &a.classes {
            Some(p) => images::read_classes(p)?,
            None => Default::default(),
        };
        let opts = MaskOptions {
            write,
            limits,
            axes: a.axes,
            properties,
        };
        let bar = Bar(progress_bar());
        let n = images::add_mask(&mut pkg, &image, &mask, &name, kind, &opts, &bar)?;
        bar.0.finish_and_clear();
        outln!(
            "added label {name} to {image}: {n} object(s), from {}",
            mask.display()
        );
        return Ok(());
    }
    if a.classes.is_some() {
        bail!("--classes goes with --mask");
    }
    let inputs = images::expand_inputs(&a.inputs)?;
    let opts = AddOptions {
        write,
        limits,
        overrides: Overrides {
            axes: a.axes,
            pixel_size: a.pixel_size,
            unit: Some(a.unit),
            time_interval: a.time_interval,
            time_unit: Some(a.time_unit),
            channel_names: a.channel_names,
        },
        id: a.id,
        links: Links {
            biosample: a.biosample,
            specimen: a.specimen,
            acquisition: a.acquisition,
            study_component: a.study_component,
        },
        masks: a.masks.map(|dir| MaskBatch {
            dir,
            name: a.mask_name,
            kind,
        }),
    };
    let bar = Bar(progress_bar());
    let start = std::time::Instant::now();
    let added = images::add_images(&mut pkg, &inputs, &opts, &bar)?;
    bar.0.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 = added.iter().map(|x| x.bytes).sum();
    for x in &added {
        let shape: Vec<String> = x.shape.iter().map(u64::to_string).collect();
        let labels: Vec<String> = x
            .labels
            .iter()
            .map(|(n, k)| format!("{n} ({k} objects)"))
            .collect();
        outln!(
            "added {} from {}: {} {} {:?}, {} level(s){}",
            x.id,
            x.source.display(),
            x.axes,
            shape.join("x"),
            x.dtype,
            x.levels,
            if labels.is_empty() {
                String::new()
            } else {
                format!(", labels: {}", labels.join(", "))
            }
        );
    }
    outln!(
        "{} image(s), {:.1} MB of pixels (images and masks) in {:.2} s ({:.1} MB/s)",
        added.len(),
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}

fn print_report(report: &Report) -> Result<()> {
    let errors = report.errors();
    let warnings = report.warnings();
    outln!(
        "{}: {}, {} error(s), {} warning(s)",
        report.package.display(),
        if errors.is_empty() {
            "valid"
        } else {
            "INVALID"
        },
        errors.len(),
        warnings.len()
    );
    for e in &errors {
        outln!("  error: {e}");
    }
    for w in &warnings {
        outln!("  warning: {w}");
    }
    if let Some(c) = &report.completeness {
        print_completeness(c)?;
    }
    Ok(())
}

fn print_completeness(c: &Completeness) -> Result<()> {
    outln!("\nMIFA/REMBI completeness");
    for m in &c.modules {
        if m.required.total + m.recommended.total + m.optional.total == 0 {
            let why = match m.module.as_str() {
                "images" => "no images yet",
                "annotations" => "no annotation sets yet",
                _ => "not used",
            };
            outln!("  {:<18} ({why})", m.module.as_str());
            continue;
        }
        let mark = if m.required.met == m.required.total {
            "ok"
        } else {
            "  "
        };
        outln!(
            "  {:<18} required {}/{}, recommended {}/{}, optional {}/{} {mark}",
            m.module.as_str(),
            m.required.met,
            m.required.total,
            m.recommended.met,
            m.recommended.total,
            m.optional.met,
            m.optional.total
        );
    }
    if c.required_complete() {
        outln!("  every required field is filled");
    }
    if !c.gaps.is_empty() {
        outln!("\ngaps ({}):", c.gaps.len());
        for g in &c.gaps {
            outln!("  [{}] {}: {}", g.level.as_str(), g.path, g.hint);
        }
    }
    Ok(())
}

#[derive(Args)]
struct LoadArgs {
    /// Package directory.
    dir: PathBuf,
    /// Which images: train, val, test (of the recorded split) or all.
    #[arg(long, default_value = "train")]
    split: String,
    /// The recorded split to use (default: the only one).
    #[arg(long)]
    split_name: Option<String>,
    /// images, semantic, instance, detection, points or classification.
    #[arg(long, default_value = "images")]
    task: String,
    /// Annotation set of the targets.
    #[arg(long)]
    set: Option<String>,
    /// Patch side, pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=MAX_PATCH))]
    patch: u64,
    /// Samples per batch.
    #[arg(long, default_value_t = 32, value_parser = usize_in(1, MAX_BATCH))]
    batch_size: usize,
    /// Batches to iterate (across epochs; default one epoch).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batches: Option<u64>,
    /// Worker threads (0: in the calling thread).
    #[arg(long, default_value_t = 2, value_parser = usize_in(0, MAX_WORKERS))]
    workers: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// random, grid or whole.
    #[arg(long, default_value = "random")]
    sampling: String,
    /// Random sampling: fraction of samples centred on foreground.
    #[arg(long, default_value_t = 0.0)]
    foreground: f64,
    /// Grid sampling: step between windows (default the patch size).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    stride: Option<u64>,
    /// Random sampling: samples per epoch (default: as many as grid windows).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SAMPLES))]
    samples_per_epoch: Option<u64>,
    /// Pyramid level.
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Channels to serve, comma-separated indices (default all).
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<u64>>,
    /// none, percentile (1–99.8, per image and channel) or meanstd (over the served images).
    #[arg(long, default_value = "none")]
    normalize: String,
    /// Random flips.
    #[arg(long)]
    flips: bool,
    /// Random quarter turns.
    #[arg(long)]
    rot90: bool,
    /// Random crop of each window to this side.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_PATCH))]
    crop: Option<u64>,
    /// Points: render heatmaps with this sigma (pixels, above 0, at most 1000).
    #[arg(long, value_parser = heatmap_sigma)]
    heatmap_sigma: Option<f32>,
    /// Bound of the decoded-chunk cache, MiB (0: no cache).
    #[arg(long, default_value_t = 512, value_parser = usize_in(0, MAX_CACHE_MB))]
    cache_mb: usize,
    /// Distributed: this rank …
    #[arg(long, default_value_t = 0, value_parser = usize_in(0, MAX_WORLD - 1))]
    rank: usize,
    /// … of this many.
    #[arg(long, default_value_t = 1, value_parser = usize_in(1, MAX_WORLD))]
    world_size: usize,
    /// Drop the last partial batch.
    #[arg(long)]
    drop_last: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

// Bounds of `mifa load`'s numbers: far above any real use, low enough that no value the user
// types makes a thread spawn fail, a size overflow or an allocation beyond memory.
const MAX_WORKERS: usize = 256;
const MAX_BATCH: usize = 65_536;
const MAX_PATCH: u64 = 65_536;
/// Values in one batch (samples × channels × window pixels): 1 GiB of f32.
const MAX_BATCH_VALUES: u64 = 1 << 28;
const MAX_CHANNELS: usize = 1024;
/// Each epoch orders its samples in memory (8 bytes each, a few copies).
const MAX_SAMPLES: u64 = 10_000_000;
const MAX_CACHE_MB: usize = 1 << 20;
const MAX_WORLD: usize = 65_536;

/// Parser of a `usize` option within `min..=max`, with clap's range message.
fn usize_in(min: usize, max: usize) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(min as u64..=max as u64)
}

/// `--heatmap-sigma`: a positive finite number of pixels, at most 1000 (the kernel spans
/// six sigmas; more than that only fills the patch).
fn heatmap_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 1000.0 {
        Ok(v)
    } else {
        Err(format!(
            "{s} is not a number of pixels above 0 and at most 1000"
        ))
    }
}

/// Checks what one option cannot: the size of a batch, from the batch size and the planned
/// loader's window and channels (whole planes take their size from the images).
fn check_batch_size(batch_size: usize, loader: &mifa::loader::Loader) -> Result<()> {
    let (h, w) = loader.patch_shape();
    let values = (batch_size as u64)
        .saturating_mul(loader.channels() as u64)
        .saturating_mul(h.saturating_mul(w));
    if values > MAX_BATCH_VALUES {
        bail!(
            "a batch of {batch_size} samples of {} channel(s) × {h} × {w} pixels holds {values} values, more than {MAX_BATCH_VALUES}: lower --batch-size, --patch or --crop",
            loader.channels()
        );
    }
    Ok(())
}

fn load(a: LoadArgs) -> Result<()> {
    use mifa::loader::{Augment, Loader, Normalize, Sampling, Subset, TaskKind};
    if let Some(c) = a.channels.as_ref().filter(|c| c.len() > MAX_CHANNELS) {
        bail!(
            "--channels lists {} channels; at most {MAX_CHANNELS} can be served",
            c.len()
        );
    }
    let subset: Subset = a.split.parse()?;
    let task: TaskKind = a.task.parse()?;
    let sampling = match a.sampling.as_str() {
        "random" => Sampling::Random {
            foreground: a.foreground,
        },
        "grid" => Sampling::Grid { stride: a.stride },
        "whole" => Sampling::Whole,
        s => bail!("sampling {s:?}: expected random, grid or whole"),
    };
    let normalize = match a.normalize.as_str() {
        "none" => Normalize::None,
        "percentile" => Normalize::Percentile {
            low: 1.0,
            high: 99.8,
        },
        "meanstd" => Normalize::MeanStd(None),
        s => bail!("normalize {s:?}: expected none, percentile or meanstd"),
    };
    let mut b = Loader::builder(&a.dir)
        .subset(subset)
        .patch(a.patch)
        .batch_size(a.batch_size)
        .workers(a.workers)
        .seed(a.seed)
        .sampling(sampling)
        .level(a.level)
        .normalize(normalize)
        .augment(Augment {
            flips: a.flips,
            rot90: a.rot90,
            crop: a.crop,
        })
        .cache_bytes(a.cache_mb << 20)
        .shard(a.rank, a.world_size)
        .drop_last(a.drop_last);
    if let Some(n) = &a.split_name {
        b = b.split(n.clone());
    }
    if task != TaskKind::Images {
        let Some(set) = &a.set else {
            bail!("task {} needs --set", task.name());
        };
        b = b.task(task, set.clone());
    }
    if let Some(c) = a.channels.clone() {
        b = b.channels(c);
    }
    if let Some(n) = a.samples_per_epoch {
        b = b.samples_per_epoch(n);
    }
    if let Some(s) = a.heatmap_sigma {
        b = b.heatmap(s);
    }
    let t_build = std::time::Instant::now();
    let loader = b
        .build()
        .with_context(|| format!("cannot load {}", a.dir.display()))?;
    let build_s = t_build.elapsed().as_secs_f64();
    check_batch_size(a.batch_size, &loader)?;
    let per_epoch = loader.batches_per_epoch();
    let want = a.batches.unwrap_or(per_epoch);
    if per_epoch == 0 {
        bail!("an epoch has no batches (fewer samples than the batch size with --drop-last?)");
    }
    // Statistics of the targets.
    let mut classes: std::collections::BTreeMap<i64, u64> = Default::default();
    let (mut pixels, mut boxes, mut points) = (0u64, 0u64, 0u64);
    let (mut patches, mut timed_patches, mut got) = (0u64, 0u64, 0u64);
    let t0 = std::time::Instant::now();
    let mut first_batch_s = 0.0;
    let mut t_timed = t0;
    let mut epoch = 0;
    'outer: loop {
        for batch in loader.epoch(epoch) {
            let batch = batch.with_context(|| format!("epoch {epoch}"))?;
            let n = batch.shape[0] as u64;
            if let Some(m) = &batch.masks {
                // Small values counted in an array: this loop runs over every served pixel.
                let mut small = [0u64; 256];
                for &v in m.iter() {
                    if (0..256).contains(&v) {
                        small[v as usize] += 1;
                    } else {
                        *classes.entry(v).or_default() += 1;
                    }
                }
                for (k, &v) in small.iter().enumerate().filter(|(_, &v)| v > 0) {
                    *classes.entry(k as i64).or_default() += v;
                }
                pixels += m.len() as u64;
            }
            boxes += batch
                .boxes
                .as_ref()
                .map_or(0, |b| b.iter().map(Vec::len).sum::<usize>()) as u64;
            points += batch
                .points
                .as_ref()
                .map_or(0, |b| b.iter().map(Vec::len).sum::<usize>()) as u64;
            if let Some(l) = &batch.labels {
                for &c in l {
                    *classes.entry(c).or_default() += 1;
                }
            }
            patches += n;
            got += 1;
            if got == 1 {
                // The first batch pays for worker start-up and cold caches; it is reported
                // apart, as the Python comparison does.
                first_batch_s = t0.elapsed().as_secs_f64();
                t_timed = std::time::Instant::now();
            } else {
                timed_patches += n;
            }
            if got >= want {
                break 'outer;
            }
        }
        epoch += 1;
    }
    let secs = t_timed.elapsed().as_secs_f64();
    let (rate, timed) = if got > 1 {
        (timed_patches as f64 / secs.max(1e-9), true)
    } else {
        (patches as f64 / first_batch_s.max(1e-9), false)
    };
    let mb = rate * loader.stored_bytes_per_sample() as f64 / 1e6;
    let st = loader.read_stats();
    let fg = if pixels > 0 {
        1.0 - classes.get(&0).copied().unwrap_or(0) as f64 / pixels as f64
    } else {
        0.0
    };
    let total_class: u64 = classes.values().sum();
    if a.json {
        let class_fraction: serde_json::Map<String, serde_json::Value> = classes
            .iter()
            .take(64)
            .map(|(k, v)| {
                (
                    k.to_string(),
                    serde_json::json!(*v as f64 / total_class.max(1) as f64),
                )
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({
                "tool": "mifa load",
                "task": task.name(),
                "images": loader.images().len(),
                "samples_per_epoch": loader.num_samples(),
                "batches": got,
                "batch_size": a.batch_size,
                "workers": a.workers,
                "patches": patches,
                "build_seconds": build_s,
                "first_batch_seconds": first_batch_s,
                "seconds": secs,
                "timed_patches": timed_patches,
                "patches_per_s": rate,
                "mb_per_s": mb,
                "decoded_chunks": st.decoded_chunks,
                "decoded_mb": st.decoded_bytes as f64 / 1e6,
                "decode_seconds": st.decode_seconds,
                "decode_mb_per_s_per_worker": st.decoded_bytes as f64 / 1e6 / st.decode_seconds.max(1e-9),
                "cache_hits": st.cache_hits,
                "cache_mb": st.cache_bytes as f64 / 1e6,
                "foreground_fraction": fg,
                "class_fraction": class_fraction,
                "boxes_per_patch": boxes as f64 / patches.max(1) as f64,
                "points_per_patch": points as f64 / patches.max(1) as f64,
            })
        );
        return Ok(());
    }
    outln!(
        "{} images, {} samples per epoch, {} batches per epoch of {} (planned in {build_s:.2} s)",
        loader.images().len(),
        loader.num_samples(),
        per_epoch,
        a.batch_size
    );
    outln!(
        "{got} batches, {patches} patches of {}×{}×{}: first batch after {first_batch_s:.3} s",
        loader.channels(),
        loader.patch_shape().0,
        loader.patch_shape().1
    );
    outln!(
        "throughput{}: {rate:.0} patches/s, {mb:.1} MB/s of stored pixels ({} workers)",
        if timed { " after the first batch" } else { "" },
        a.workers
    );
    outln!(
        "reads: {} chunks decoded ({:.1} MB, {:.0} MB/s per worker while decoding), {} cache hits, cache {:.1} MB",
        st.decoded_chunks,
        st.decoded_bytes as f64 / 1e6,
        st.decoded_bytes as f64 / 1e6 / st.decode_seconds.max(1e-9),
        st.cache_hits,
        st.cache_bytes as f64 / 1e6
    );
    match task {
        TaskKind::Semantic | TaskKind::Instance => {
            outln!("foreground fraction {:.3}", fg);
            if task == TaskKind::Semantic {
                let parts: Vec<String> = classes
                    .iter()
                    .map(|(k, v)| format!("{k}: {:.3}", *v as f64 / total_class.max(1) as f64))
                    .collect();
                outln!("class balance (pixel fraction) {}", parts.join(", "));
            }
        }
        TaskKind::Detection => outln!(
            "{:.2} boxes per patch",
            boxes as f64 / patches.max(1) as f64
        ),
        TaskKind::Points => outln!(
            "{:.2} points per patch",
            points as f64 / patches.max(1) as f64
        ),
        TaskKind::Classification => {
            let parts: Vec<String> = classes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            outln!("classes (samples) {}", parts.join(", "));
        }
        TaskKind::Images => {}
    }
    Ok(())
}
