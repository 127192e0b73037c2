//! `mifa`: the command-line tool. Parses arguments, calls the library, prints.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mifa::edit::{self, Added, PersonList, ValueMode};
use mifa::metadata::completeness::Completeness;
use mifa::metadata::{Manifest, Person};
use mifa::package::Package;
use mifa::validate::{self, Report};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Print the JSON Schema of a format we define.
    Schema {
        /// Which schema.
        #[arg(value_parser = ["manifest"], default_value = "manifest")]
        which: String,
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
    #[arg(long, value_delimiter = ',')]
    pixel_size: Vec<f64>,
    /// Unit of --pixel-size (UDUNITS-2 name).
    #[arg(long, default_value = "micrometer")]
    unit: String,
    /// Time between frames.
    #[arg(long)]
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
    #[arg(long, default_value_t = 256)]
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
    // Die quietly on a closed pipe (`mifa validate DIR | head`), as Unix tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
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
            println!("created package {}", dir.display());
            println!("next: fill the metadata (mifa meta set / mifa author add / mifa meta import), then `mifa validate {}`", dir.display());
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
            println!("set {path}");
        }
        Command::Meta(MetaCommand::Get { dir, path }) => {
            let pkg = open(&dir)?;
            let doc = serde_json::to_value(pkg.manifest())?;
            let v = match &path {
                Some(p) => edit::get(&doc, p)?.clone(),
                None => doc,
            };
            match v {
                serde_json::Value::String(s) => println!("{s}"),
                other => println!("{}", serde_json::to_string_pretty(&other)?),
            }
        }
        Command::Meta(MetaCommand::Unset { dir, path }) => {
            let mut pkg = open(&dir)?;
            pkg.update_value(|doc| {
                edit::unset(doc, &path).map_err(mifa::package::UpdateError::Change)
            })
            .map_err(edit::Error::from)?;
            println!("removed {path}");
        }
        Command::Meta(MetaCommand::Import { dir, sheet }) => {
            let mut pkg = open(&dir)?;
            let changed = mifa::sheet::import(&mut pkg, &sheet)?;
            println!(
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
                Added::New => println!("added {} to the {target}", a.name),
                Added::Merged => println!("updated {} in the {target}", a.name),
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
                println!(
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
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print_report(&report);
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
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{info}");
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
                    println!("note: {n}");
                }
                println!("wrote {}: {}", out.display(), stats_line(&r.stats));
                return Ok(ExitCode::SUCCESS);
            }
            if format == "coco" {
                let opts = mifa::vectors::CocoExportOptions { sets, polygons };
                let fid = mifa::vectors::export_coco(&pkg, &out, &opts)?;
                println!("wrote {}", out.display());
                println!("{fid}");
                return Ok(ExitCode::SUCCESS);
            }
            if format == "geojson" {
                for fid in mifa::vectors::export_geojson(&pkg, &out, &sets)? {
                    println!("{fid}");
                }
                println!("wrote {}", out.display());
                return Ok(ExitCode::SUCCESS);
            }
            let compression = match compression.as_str() {
                "none" => mifa::formats::tiff::Compression::None,
                "lzw" => mifa::formats::tiff::Compression::Lzw,
                _ => mifa::formats::tiff::Compression::Deflate,
            };
            let files = mifa::images::export_tiff(&pkg, &out, compression)?;
            for f in &files {
                println!("wrote {}", f.display());
            }
            println!("{} file(s) in {}", files.len(), out.display());
        }
        Command::Schema { which } => {
            if which != "manifest" {
                bail!("unknown schema {which:?}");
            }
            print!("{}", mifa::manifest::schema_text());
        }
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

fn print_import(r: &mifa::vectors::Imported) {
    const SHOWN: usize = 20;
    for w in r.warnings.iter().take(SHOWN) {
        eprintln!("warning: {w}");
    }
    if r.warnings.len() > SHOWN {
        eprintln!("warning: … and {} more", r.warnings.len() - SHOWN);
    }
    for d in r.fidelity.dropped.iter().take(SHOWN) {
        eprintln!(
            "dropped: image {}, object {}: {}",
            d.image, d.object, d.reason
        );
    }
    if !r.images_added.is_empty() {
        println!(
            "added {} image(s): {}",
            r.images_added.len(),
            r.images_added.join(", ")
        );
    }
    println!(
        "imported into set {}: {} object(s), {} image label(s), {} file(s)",
        r.set, r.objects, r.image_labels, r.files
    );
    if !r.classes_added.is_empty() {
        println!("new classes: {}", r.classes_added.join(", "));
    }
    println!("{}", r.fidelity);
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
    let opts = mifa::tracks::ImportOptions {
        image: a.image,
        labels: a.labels,
        ..Default::default()
    };
    let r = mifa::tracks::import_tracks(&mut pkg, from, &a.file, &a.set, &opts)?;
    for n in &r.notes {
        println!("note: {n}");
    }
    if let Some((path, n)) = &r.labels {
        println!("wrote label {path} ({n} objects)");
    }
    println!("imported into set {}: {}", a.set, stats_line(&r.stats));
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
            let opts = CocoImportOptions {
                common,
                images_dir: a.images,
                ..Default::default()
            };
            let bar = Bar(progress_bar());
            let r = vectors::import_coco(&mut pkg, &a.file, &opts, &bar)?;
            bar.0.finish_and_clear();
            r
        }
    };
    print_import(&r);
    Ok(())
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
            println!("{fid}");
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
            println!("{fid}");
        }
    }
    Ok(())
}

fn add(a: AddArgs) -> Result<()> {
    use mifa::images::{self, AddOptions, Links, MaskBatch, MaskOptions, Overrides};
    use mifa::metadata::MaskKind;
    let mut pkg = open(&a.dir)?;
    let version: mifa::formats::ome_zarr::NgffVersion =
        a.ngff.parse().map_err(anyhow::Error::msg)?;
    let write = mifa::formats::ome_zarr::WriteOptions {
        version,
        chunk: a.chunk,
        zstd_level: a.zstd_level,
        ..Default::default()
    };
    if a.chunk == 0 {
        bail!("--chunk must be at least 1");
    }
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
            axes: a.axes,
            properties,
            ..Default::default()
        };
        let bar = Bar(progress_bar());
        let n = images::add_mask(&mut pkg, &image, &mask, &name, kind, &opts, &bar)?;
        bar.0.finish_and_clear();
        println!(
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
        ..Default::default()
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
        println!(
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
    println!(
        "{} image(s), {:.1} MB of pixels (images and masks) in {:.2} s ({:.1} MB/s)",
        added.len(),
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}

fn print_report(report: &Report) {
    let errors = report.errors();
    let warnings = report.warnings();
    println!(
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
        println!("  error: {e}");
    }
    for w in &warnings {
        println!("  warning: {w}");
    }
    if let Some(c) = &report.completeness {
        print_completeness(c);
    }
}

fn print_completeness(c: &Completeness) {
    println!("\nMIFA/REMBI completeness");
    for m in &c.modules {
        if m.required.total + m.recommended.total + m.optional.total == 0 {
            let why = match m.module.as_str() {
                "images" => "no images yet",
                "annotations" => "no annotation sets yet",
                _ => "not used",
            };
            println!("  {:<18} ({why})", m.module.as_str());
            continue;
        }
        let mark = if m.required.met == m.required.total {
            "ok"
        } else {
            "  "
        };
        println!(
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
        println!("  every required field is filled");
    }
    if !c.gaps.is_empty() {
        println!("\ngaps ({}):", c.gaps.len());
        for g in &c.gaps {
            println!("  [{}] {}: {}", g.level.as_str(), g.path, g.hint);
        }
    }
}
