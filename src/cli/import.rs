//! `mifa import`: vector annotations (GeoJSON, points, COCO) and tracks into a set.

use super::{open, Bar};
use anyhow::{bail, Context, Result};
use clap::Args;
use mifa::formats::points::Origin as LibOrigin;
use mifa::formats::Limits;
use mifa::tracks::Source;
use mifa::vectors::{self, CocoImportOptions, ImportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ImportArgs {
    /// Package directory.
    dir: PathBuf,
    /// Format of the file (`tracks`: see --from).
    #[arg(value_enum)]
    format: Format,
    /// The file (a folder for CTC, geff and biotracks).
    file: PathBuf,
    /// Tracks: the source format.
    #[arg(long = "from", value_enum)]
    from: Option<TrackFormat>,
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
    #[arg(long, value_enum, default_value = "auto")]
    origin: Origin,
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

/// The imported file's format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Geojson,
    Points,
    Coco,
    Tracks,
}

/// `--from`: the format of imported tracks.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TrackFormat {
    Biotracks,
    Ctc,
    Trackmate,
    Geff,
}

/// `--origin` of a points file.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Origin {
    Auto,
    Corner,
    Centre,
}

pub fn run(a: ImportArgs) -> Result<ExitCode> {
    if a.format == Format::Tracks {
        import_tracks(a)?;
        return Ok(ExitCode::SUCCESS);
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
    let r = match a.format {
        Format::Geojson => vectors::import_geojson(&mut pkg, &a.file, &image()?, &common)?,
        Format::Points => {
            let origin = match a.origin {
                Origin::Auto => LibOrigin::Auto,
                Origin::Corner => LibOrigin::Corner,
                Origin::Centre => LibOrigin::Centre,
            };
            vectors::import_points(&mut pkg, &a.file, &image()?, origin, &common)?
        }
        Format::Coco | Format::Tracks => {
            if a.image.is_some() {
                bail!("--image does not apply to COCO: images are matched by file_name");
            }
            let mut opts = CocoImportOptions {
                common,
                images_dir: a.images,
                ..Default::default()
            };
            opts.add.limits = Limits::default().with_max_decode_mb(a.max_decode_mb);
            let bar = Bar::new();
            let r = vectors::import_coco(&mut pkg, &a.file, &opts, &bar)?;
            bar.finish();
            r
        }
    };
    print_import(&r)?;
    Ok(ExitCode::SUCCESS)
}

fn import_tracks(a: ImportArgs) -> Result<()> {
    let from = match a.from {
        Some(TrackFormat::Biotracks) => Source::Biotracks,
        Some(TrackFormat::Ctc) => Source::Ctc,
        Some(TrackFormat::Trackmate) => Source::Trackmate,
        Some(TrackFormat::Geff) => Source::Geff,
        None => bail!("tracks: give the source format with --from biotracks|ctc|trackmate|geff"),
    };
    let mut pkg = open(&a.dir)?;
    let mut opts = mifa::tracks::ImportOptions {
        image: a.image,
        labels: a.labels,
        ..Default::default()
    };
    opts.masks.limits = Limits::default().with_max_decode_mb(a.max_decode_mb);
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

/// One line of a track graph's counts.
pub fn stats_line(s: &mifa::annotations::tracks::Stats) -> String {
    format!(
        "{} objects, {} links, {} tracklets, {} lineages, {} divisions, {} merges, {} gap links",
        s.nodes, s.edges, s.tracklets, s.lineages, s.divisions, s.merges, s.gaps
    )
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
