//! Images and masks in a package: import as OME-Zarr (with labels), read back, export as TIFF.
//!
//! Imports write every new OME-Zarr under a temporary name in `images/`, rename it into place
//! when complete, and update the manifest last, all under the writer lock; on any error the
//! temporary data is removed and the package is left exactly as it was.

use crate::formats::ome_zarr::{self, Multiscale, NgffVersion, WriteOptions};
use crate::formats::tiff::{Compression, TiffSource};
use crate::formats::{self, Limits, PlaneSource, SourceMeta};
use crate::io_error::io;
use crate::metadata::{
    AnnotationFile, AnnotationSet, AnnotationType, Axis, AxisType, DataType, ImageEntry, MaskKind,
    SpatialInfo,
};
use crate::package::{self, Package, Transaction, UpdateError, IMAGES_DIR};
use crate::raster::Downsample;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Errors of image and mask operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing an image file failed.
    #[error(transparent)]
    Format(#[from] formats::Error),
    /// The package refused or failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// An argument does not fit the data.
    #[error("{0}")]
    Invalid(String),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
}

impl From<UpdateError<Error>> for Error {
    fn from(e: UpdateError<Error>) -> Self {
        match e {
            UpdateError::Package(p) => Error::Package(p),
            UpdateError::Change(c) => c,
        }
    }
}

/// Receives the progress of an import, in bytes of pixels. Any `Fn(u64) + Sync` closure is one
/// (it sees the advances only).
pub trait Progress: Sync {
    /// The bytes the operation will process, once the inputs are opened.
    fn total(&self, _bytes: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, bytes: u64);
}

impl<F: Fn(u64) + Sync> Progress for F {
    fn advance(&self, bytes: u64) {
        self(bytes)
    }
}

fn pixel_bytes(meta: &SourceMeta) -> u64 {
    meta.shape.iter().product::<u64>() * meta.dtype.size() as u64
}

/// Physical sizes and names given on the command line; they override file metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Axis names for plain multi-page TIFFs (e.g. `tyx`), or to check a file's axes.
    pub axes: Option<String>,
    /// Pixel size in x, y (defaults to x) and z.
    pub pixel_size: Vec<f64>,
    /// Unit of the pixel sizes (UDUNITS-2, e.g. `micrometer`).
    pub unit: Option<String>,
    /// Time between frames.
    pub time_interval: Option<f64>,
    /// Unit of the time interval (default `second`).
    pub time_unit: Option<String>,
    /// Channel names.
    pub channel_names: Vec<String>,
}

/// REMBI links given to every imported image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Links {
    /// Biosample id.
    pub biosample: Option<String>,
    /// Specimen id.
    pub specimen: Option<String>,
    /// Image acquisition id.
    pub acquisition: Option<String>,
    /// Study component id.
    pub study_component: Option<String>,
}

/// Masks that come with a batch of images, matched to them by file stem.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskBatch {
    /// A folder of mask files.
    pub dir: PathBuf,
    /// Label name (`labels/<name>`), also the annotation set id.
    pub name: String,
    /// Instance or semantic.
    pub kind: MaskKind,
}

/// Options of [`add_images`].
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// How to write OME-Zarr.
    pub write: WriteOptions,
    /// Resource caps.
    pub limits: Limits,
    /// Metadata overrides.
    pub overrides: Overrides,
    /// Id for the image (single input only); default: the file name without extensions.
    pub id: Option<String>,
    /// REMBI links.
    pub links: Links,
    /// Masks to import with the images.
    pub masks: Option<MaskBatch>,
}

/// Options of [`add_mask`].
#[derive(Debug, Clone, Default)]
pub struct MaskOptions {
    /// How to write OME-Zarr labels (the version follows the image's).
    pub write: WriteOptions,
    /// Resource caps.
    pub limits: Limits,
    /// Axis names of the mask file when it is a plain multi-page TIFF.
    pub axes: Option<String>,
    /// Per-label-value properties, e.g. `{"1": {"class": "nucleus"}}`.
    pub properties: BTreeMap<i128, Map<String, Value>>,
}

/// One image added.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// Image id.
    pub id: String,
    /// Source file.
    pub source: PathBuf,
    /// Axes, e.g. `zyx`.
    pub axes: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Sample type.
    pub dtype: DataType,
    /// Number of pyramid levels written.
    pub levels: usize,
    /// Labels written with it: (name, number of objects).
    pub labels: Vec<(String, usize)>,
    /// Bytes of uncompressed pixels read (image and masks given with it).
    pub bytes: u64,
}

/// Expands command-line inputs: files, folders (their supported files and OME-Zarr groups,
/// sorted) and glob patterns.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for input in inputs {
        let p = PathBuf::from(input);
        if p.is_dir() && !is_zarr_group(&p) {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(io(&p))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_zarr_group(f) || (f.is_file() && is_image_file(f)))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: no TIFF, PNG, JPEG or OME-Zarr inside",
                    p.display()
                )));
            }
            out.extend(found);
        } else if p.exists() {
            out.push(p);
        } else if input.contains(['*', '?', '[']) {
            let mut found: Vec<PathBuf> = glob::glob(input)
                .map_err(|e| Error::Invalid(format!("{input}: bad pattern: {e}")))?
                .filter_map(Result::ok)
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::Invalid(format!("{input}: matches no file")));
            }
            out.extend(found);
        } else {
            return Err(Error::Invalid(format!(
                "{input}: no such file or directory"
            )));
        }
    }
    Ok(out)
}

fn is_zarr_group(p: &Path) -> bool {
    p.is_dir()
        && (p.join("zarr.json").is_file()
            || p.join(".zattrs").is_file()
            || p.join(".zgroup").is_file())
}

fn is_image_file(p: &Path) -> bool {
    let n = p.to_string_lossy().to_ascii_lowercase();
    [".tif", ".tiff", ".png", ".jpg", ".jpeg", ".btf"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// An image id from a file name: extensions dropped, other characters replaced by `-`.
pub fn id_from_path(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let mut stem = name.as_str();
    for ext in [
        ".ome.zarr",
        ".ome.tiff",
        ".ome.tif",
        ".zarr",
        ".tiff",
        ".tif",
        ".png",
        ".jpeg",
        ".jpg",
        ".btf",
    ] {
        if lower.ends_with(ext) {
            stem = &name[..name.len() - ext.len()];
            break;
        }
    }
    let mut id: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while id.starts_with(['-', '_', '.']) {
        id.remove(0);
    }
    if id.is_empty() {
        id = "image".into();
    }
    id
}

fn open_input(
    path: &Path,
    limits: &Limits,
    axes: Option<&str>,
) -> Result<Box<dyn PlaneSource>, Error> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if path.is_file()
        && (lower.ends_with(".tif") || lower.ends_with(".tiff") || lower.ends_with(".btf"))
    {
        return Ok(Box::new(TiffSource::open_with_axes(path, limits, axes)?));
    }
    let src = formats::open_source(path, limits)?;
    if let Some(a) = axes {
        let got = src.meta().axes_string();
        if got != a {
            return Err(Error::Invalid(format!(
                "{}: --axes {a} does not fit: the file's axes are {got}",
                path.display()
            )));
        }
    }
    Ok(src)
}

fn apply_overrides(meta: &mut SourceMeta, o: &Overrides) -> Result<(), Error> {
    let unit = o.unit.clone().unwrap_or_else(|| "micrometer".into());
    if !o.pixel_size.is_empty() {
        crate::metadata::checks::unit(&unit).map_err(Error::Invalid)?;
        let (x, y, z) = (
            o.pixel_size[0],
            *o.pixel_size.get(1).unwrap_or(&o.pixel_size[0]),
            o.pixel_size.get(2).copied(),
        );
        for (name, v) in [("x", Some(x)), ("y", Some(y)), ("z", z)] {
            if let (Some(a), Some(v)) = (meta.axes.iter_mut().find(|a| a.name == name), v) {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::Invalid(format!(
                        "--pixel-size {v} is not a positive number"
                    )));
                }
                a.scale = Some(v);
                a.unit = Some(unit.clone());
            }
        }
    }
    if let Some(dt) = o.time_interval {
        let u = o.time_unit.clone().unwrap_or_else(|| "second".into());
        crate::metadata::checks::unit(&u).map_err(Error::Invalid)?;
        if let Some(a) = meta.axes.iter_mut().find(|a| a.kind == AxisType::Time) {
            a.scale = Some(dt);
            a.unit = Some(u);
        }
    }
    if !o.channel_names.is_empty() {
        let n = meta
            .axes
            .iter()
            .position(|a| a.kind == AxisType::Channel)
            .map_or(1, |c| meta.shape[c] as usize);
        if o.channel_names.len() != n || !meta.axes.iter().any(|a| a.kind == AxisType::Channel) {
            return Err(Error::Invalid(format!(
                "{}: {} channel name(s) given for {} channel(s) (axes {})",
                meta.path.display(),
                o.channel_names.len(),
                n,
                meta.axes_string()
            )));
        }
        meta.channel_names = o.channel_names.clone();
    }
    Ok(())
}

/// The label image's expected axes and shape: the image's without the channel axis.
pub(crate) fn label_frame(image_axes: &[Axis], image_shape: &[u64]) -> (Vec<Axis>, Vec<u64>) {
    image_axes
        .iter()
        .zip(image_shape)
        .filter(|(a, _)| a.kind != AxisType::Channel)
        .map(|(a, &n)| (a.clone(), n))
        .unzip()
}

fn check_mask(meta: &SourceMeta, axes: &[Axis], shape: &[u64], image: &str) -> Result<(), Error> {
    let dtype_ok = meta.dtype.is_integer();
    if !dtype_ok {
        return Err(Error::Invalid(format!(
            "{}: a {:?} mask; masks must hold integer label values (8-64-bit integers)",
            meta.path.display(),
            meta.dtype
        )));
    }
    if meta.shape != shape {
        let names: String = axes.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::Invalid(format!(
            "{}: mask shape {:?} ({}) differs from image {image:?}'s {:?} ({names})",
            meta.path.display(),
            meta.shape,
            meta.axes_string(),
            shape
        )));
    }
    Ok(())
}

/// `image-label` metadata: a colour per value, properties, source.
fn image_label(
    version: NgffVersion,
    values: &BTreeSet<i128>,
    properties: &BTreeMap<i128, Map<String, Value>>,
) -> Value {
    let mut il = Map::new();
    if version == NgffVersion::V04 {
        il.insert("version".into(), json!("0.4"));
    }
    // Very large instance masks get no colour table: viewers fall back to their own colours.
    if values.len() <= 100_000 {
        let colors: Vec<Value> = values
            .iter()
            .filter(|&&v| v != 0 && (0..=i64::MAX as i128).contains(&v))
            .map(|&v| json!({"label-value": v as i64, "rgba": ome_zarr::label_color(v)}))
            .collect();
        il.insert("colors".into(), json!(colors));
    }
    let props: Vec<Value> = properties
        .iter()
        .filter(|(v, _)| values.contains(v))
        .map(|(&v, p)| {
            let mut o = Map::new();
            o.insert("label-value".into(), json!(v as i64));
            o.extend(p.clone());
            Value::Object(o)
        })
        .collect();
    if !props.is_empty() {
        il.insert("properties".into(), json!(props));
    }
    il.insert("source".into(), json!({"image": "../../"}));
    Value::Object(il)
}

/// A label image to write: its name, axes, per-value properties, and whether to flush it.
#[derive(Clone, Copy)]
struct LabelSpec<'a> {
    name: &'a str,
    axes: &'a [Axis],
    properties: &'a BTreeMap<i128, Map<String, Value>>,
    durable: bool,
}

/// Writes one label image into `labels_dir/<name>` (via a temporary name) and lists it in the
/// labels group. Returns the number of objects (non-zero values). `durable`: flush it to disk
/// before it is renamed into place (not needed inside an image that is itself still temporary).
fn write_label(
    image_dir: &Path,
    label: &LabelSpec<'_>,
    src: &mut dyn PlaneSource,
    opts: &WriteOptions,
    progress: &(dyn Fn(u64) + Sync),
    tx: Option<&Transaction<'_>>,
) -> Result<usize, Error> {
    let LabelSpec {
        name,
        axes,
        properties,
        durable,
    } = *label;
    let labels_dir = image_dir.join("labels");
    if let Some(tx) = tx {
        // A labels folder made for this label goes again on a rollback.
        tx.create_dir_all(&labels_dir)?;
    }
    let tmp = labels_dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let fin = labels_dir.join(name);
    if fin.exists() {
        return Err(Error::Invalid(format!(
            "{}: a label named {name:?} already exists",
            fin.display()
        )));
    }
    let meta = src.meta().clone();
    let result = (|| {
        let written = ome_zarr::write_multiscale(
            &tmp,
            name,
            axes,
            &meta.shape,
            meta.dtype,
            Downsample::Mode,
            opts,
            Map::new(),
            &mut |i| src.read_plane(i),
            progress,
        )?;
        let values = written.label_values.clone().unwrap_or_default();
        // Rewrite the group metadata now that the values (for colours) are known.
        let mut ome = group_ome(&tmp, opts.version)?;
        ome.insert(
            "image-label".into(),
            image_label(opts.version, &values, properties),
        );
        ome_zarr::write_group(&tmp, opts.version, ome)?;
        if durable {
            crate::formats::store::make_durable(&tmp).map_err(io(&tmp))?;
        }
        match tx {
            Some(tx) => tx.create(&tmp, &fin)?,
            None => std::fs::rename(&tmp, &fin).map_err(io(&fin))?,
        }
        Ok(values.iter().filter(|&&v| v != 0).count())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        return result;
    }
    // List it in labels/ (rewritten atomically).
    let mut names: Vec<String> = match Multiscale::open(image_dir) {
        Ok(m) => m.labels,
        Err(_) => Vec::new(),
    };
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    let mut ome = Map::new();
    if opts.version == NgffVersion::V05 {
        // ome-zarr-models requires the version here too (ome-zarr-py 0.18 omits it).
        ome.insert("version".into(), json!("0.5"));
    }
    ome.insert("labels".into(), json!(names));
    let staging = labels_dir.join(format!(".tmp-group-{}", std::process::id()));
    ome_zarr::write_group(&staging, opts.version, ome)?;
    for f in ["zarr.json", ".zgroup", ".zattrs"] {
        let from = staging.join(f);
        if from.is_file() {
            let dest = labels_dir.join(f);
            match tx {
                // The old one is kept until the commit (a backup of its own, also when one
                // transaction adds several labels to the image), so that a crash puts it back.
                Some(tx) => tx.replace(&from, &dest)?,
                None => std::fs::rename(&from, &dest).map_err(io(&labels_dir))?,
            }
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// The `ome` attributes of a group we wrote.
fn group_ome(dir: &Path, version: NgffVersion) -> Result<Map<String, Value>, Error> {
    let file = match version {
        NgffVersion::V05 => dir.join("zarr.json"),
        NgffVersion::V04 => dir.join(".zattrs"),
    };
    let text = std::fs::read_to_string(&file).map_err(io(&file))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    let ome = match version {
        NgffVersion::V05 => doc.pointer("/attributes/ome").cloned(),
        NgffVersion::V04 => Some(doc),
    };
    Ok(ome.and_then(|v| v.as_object().cloned()).unwrap_or_default())
}

struct Job {
    id: String,
    source: Box<dyn PlaneSource>,
    mask: Option<Box<dyn PlaneSource>>,
    /// Labels carried by an OME-Zarr input.
    zarr_labels: Vec<(String, Multiscale)>,
}

/// Adds images (and optionally their masks) to a package. Every input is opened and checked
/// before anything is written; images are written in parallel.
pub fn add_images(
    pkg: &mut Package,
    inputs: &[PathBuf],
    opts: &AddOptions,
    progress: &dyn Progress,
) -> Result<Vec<Added>, Error> {
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    let staged = stage_images(pkg, &tx, inputs, opts, progress)?;
    // On an error the transaction takes the images out again.
    tx.commit(pkg, |m| -> Result<(), Error> {
        staged.record(m);
        Ok(())
    })?;
    Ok(staged.added())
}

/// Images written into place in a transaction, not yet in the manifest: the caller records
/// them with [`StagedImages::record`] in its one commit (until then the transaction takes them
/// out again on an error or a crash).
#[must_use]
pub(crate) struct StagedImages {
    entries: Vec<(Added, ImageEntry)>,
    masks: Option<MaskBatch>,
}

impl StagedImages {
    /// Lists the images, and the labels written with them, in `m`.
    pub(crate) fn record(&self, m: &mut crate::metadata::Manifest) {
        for (added, entry) in &self.entries {
            m.images.push(entry.clone());
            for (label, _) in &added.labels {
                let kind = match &self.masks {
                    Some(b) if &b.name == label => Some(b.kind),
                    _ => None,
                };
                record_label(m, &added.id, label, kind);
            }
        }
    }

    /// The ids of the images.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|(a, _)| a.id.clone()).collect()
    }

    /// What was added, image by image.
    pub(crate) fn added(self) -> Vec<Added> {
        self.entries.into_iter().map(|(a, _)| a).collect()
    }
}

/// The writing part of [`add_images`], in `tx`: checks every input, writes the images and
/// renames them into place (journaled), and leaves the commit to the caller.
pub(crate) fn stage_images(
    pkg: &Package,
    tx: &Transaction<'_>,
    inputs: &[PathBuf],
    opts: &AddOptions,
    progress: &dyn Progress,
) -> Result<StagedImages, Error> {
    if inputs.is_empty() {
        return Err(Error::Invalid("no images given".into()));
    }
    if opts.id.is_some() && inputs.len() > 1 {
        return Err(Error::Invalid(format!(
            "--id names one image, but {} were given",
            inputs.len()
        )));
    }
    let existing: BTreeSet<String> = pkg.manifest().images.iter().map(|i| i.id.clone()).collect();
    let mut ids = BTreeSet::new();
    let mut jobs = Vec::new();
    for path in inputs {
        let id = opts.id.clone().unwrap_or_else(|| id_from_path(path));
        if !crate::validate::valid_id(&id) {
            return Err(Error::Invalid(format!(
                "{id:?} is not a valid image id (letters, digits, '_', '.', '-')"
            )));
        }
        if existing.contains(&id) || !ids.insert(id.clone()) {
            return Err(Error::Invalid(format!(
                "{}: image id {id:?} is already taken; rename the file or pass --id",
                path.display()
            )));
        }
        let final_dir = pkg.root().join(IMAGES_DIR).join(format!("{id}.ome.zarr"));
        if final_dir.exists() {
            return Err(Error::Invalid(format!(
                "{}: exists but the manifest does not list it (left by an interrupted import?); remove it first",
                final_dir.display())));
        }
        let source = open_input(path, &opts.limits, opts.overrides.axes.as_deref())?;
        let mut meta = source.meta().clone();
        apply_overrides(&mut meta, &opts.overrides)?;
        let source: Box<dyn PlaneSource> = Box::new(WithMeta {
            owner: source,
            meta,
        });
        let mut zarr_labels = Vec::new();
        if path.is_dir() {
            let ms = Multiscale::open(path)?;
            for name in &ms.labels {
                zarr_labels.push((name.clone(), ms.label(name)?));
            }
        }
        let mask = match &opts.masks {
            None => None,
            Some(b) => {
                let found = find_mask(&b.dir, path)?;
                let (laxes, lshape) = label_frame(&source.meta().axes, &source.meta().shape);
                let names: String = laxes.iter().map(|a| a.name.as_str()).collect();
                let m = open_input(&found, &opts.limits, None)
                    .or_else(|_| open_input(&found, &opts.limits, Some(&names)))?;
                check_mask(m.meta(), &laxes, &lshape, &id)?;
                Some(m)
            }
        };
        jobs.push(Job {
            id,
            source,
            mask,
            zarr_labels,
        });
    }

    progress.total(
        jobs.iter()
            .map(|j| {
                pixel_bytes(j.source.meta())
                    + j.mask.as_ref().map_or(0, |m| pixel_bytes(m.meta()))
                    + j.zarr_labels
                        .iter()
                        .map(|(_, ms)| {
                            ms.levels[0].shape.iter().product::<u64>() * ms.dtype.size() as u64
                        })
                        .sum::<u64>()
            })
            .sum(),
    );
    let advance = |b: u64| progress.advance(b);
    let progress = &advance;
    let images_dir = pkg.root().join(IMAGES_DIR);
    std::fs::create_dir_all(&images_dir).map_err(io(&images_dir))?;
    let pid = std::process::id();
    let results: Vec<Result<(Added, ImageEntry, PathBuf), Error>> = jobs
        .into_par_iter()
        .map(|mut job| {
            let tmp = images_dir.join(format!(".tmp-{}-{pid}.ome.zarr", job.id));
            let r = write_one(&tmp, &mut job, opts, progress);
            if r.is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            r.map(|(a, e)| (a, e, tmp))
        })
        .collect();
    let mut done = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(x) => done.push(x),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    // Those moved into place go with the transaction's rollback; the others here.
    let cleanup = |rest: &[(Added, ImageEntry, PathBuf)]| {
        for (_, _, tmp) in rest {
            let _ = std::fs::remove_dir_all(tmp);
        }
    };
    if let Some(e) = first_err {
        cleanup(&done);
        return Err(e);
    }
    // Chunks were written without per-file flushes: flush them all once, before they become
    // part of the package.
    if let Err(e) = crate::formats::store::make_durable(&images_dir) {
        cleanup(&done);
        return Err(io(&images_dir)(e).into());
    }
    for (i, (a, _, tmp)) in done.iter().enumerate() {
        let fin = images_dir.join(format!("{}.ome.zarr", a.id));
        if let Err(e) = tx.create(tmp, &fin) {
            cleanup(&done[i..]);
            return Err(e.into());
        }
    }
    Ok(StagedImages {
        entries: done.into_iter().map(|(a, e, _)| (a, e)).collect(),
        masks: opts.masks.clone(),
    })
}

/// A source whose metadata was overridden (pixel sizes, channel names).
struct WithMeta {
    owner: Box<dyn PlaneSource>,
    meta: SourceMeta,
}

impl PlaneSource for WithMeta {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }
    fn read_plane(&mut self, index: usize) -> Result<crate::raster::Plane, formats::Error> {
        self.owner.read_plane(index)
    }
}

fn find_mask(dir: &Path, image: &Path) -> Result<PathBuf, Error> {
    let want = id_from_path(image);
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| (p.is_file() && is_image_file(p)) || is_zarr_group(p))
        .filter(|p| id_from_path(p) == want)
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Invalid(format!(
            "{}: no mask named like {} (same name, any image extension)",
            dir.display(),
            image.display()
        ))),
        _ => Err(Error::Invalid(format!(
            "{}: several masks match {}: {:?}",
            dir.display(),
            image.display(),
            found
        ))),
    }
}

fn write_one(
    tmp: &Path,
    job: &mut Job,
    opts: &AddOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Added, ImageEntry), Error> {
    let meta = job.source.meta().clone();
    let mut extra = Map::new();
    let write = opts.write;
    let written = ome_zarr::write_multiscale(
        tmp,
        &job.id,
        &meta.axes,
        &meta.shape,
        meta.dtype,
        Downsample::Mean,
        &write,
        Map::new(),
        &mut |i| job.source.read_plane(i),
        progress,
    )?;
    if !meta.channel_names.is_empty() {
        extra.insert(
            "omero".into(),
            ome_zarr::omero(&meta.channel_names, meta.dtype, &written.ranges),
        );
        let mut ome = group_ome(tmp, write.version)?;
        ome.extend(extra);
        ome_zarr::write_group(tmp, write.version, ome)?;
    }
    let (laxes, _) = label_frame(&meta.axes, &meta.shape);
    let mut labels = Vec::new();
    if let Some(mask) = job.mask.as_mut() {
        let name = &opts.masks.as_ref().expect("mask implies a batch").name;
        let none = BTreeMap::new();
        let spec = LabelSpec {
            name,
            axes: &laxes,
            properties: &none,
            durable: false,
        };
        let n = write_label(tmp, &spec, mask.as_mut(), &write, progress, None)?;
        labels.push((name.clone(), n));
    }
    for (name, ms) in &job.zarr_labels {
        let props = ms
            .image_label
            .as_ref()
            .and_then(|il| il.get("properties"))
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        let v = p.get("label-value")?.as_i64()? as i128;
                        let mut m = p.as_object()?.clone();
                        m.remove("label-value");
                        Some((v, m))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut src = ome_zarr::ZarrPlanes::from_multiscale(ms.clone(), &opts.limits)?;
        let (_, lshape) = label_frame(&meta.axes, &meta.shape);
        if src.meta().shape != lshape {
            return Err(Error::Invalid(format!(
                "{}: label shape {:?} differs from the image's {:?} without channels",
                ms.root.display(),
                src.meta().shape,
                lshape
            )));
        }
        let spec = LabelSpec {
            name,
            axes: &laxes,
            properties: &props,
            durable: false,
        };
        let n = write_label(tmp, &spec, &mut src, &write, progress, None)?;
        labels.push((name.clone(), n));
    }
    let entry = ImageEntry {
        id: job.id.clone(),
        path: format!("{IMAGES_DIR}/{}.ome.zarr", job.id),
        axes: meta.axes.clone(),
        shape: meta.shape.clone(),
        dtype: meta.dtype,
        channel_names: meta.channel_names.clone(),
        biosample: opts.links.biosample.clone(),
        specimen: opts.links.specimen.clone(),
        acquisition: opts.links.acquisition.clone(),
        study_component: opts.links.study_component.clone(),
        source: meta
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        extra: Default::default(),
    };
    let mut bytes = meta.shape.iter().product::<u64>() * meta.dtype.size() as u64;
    if let Some(mask) = &job.mask {
        let m = mask.meta();
        bytes += m.shape.iter().product::<u64>() * m.dtype.size() as u64;
    }
    Ok((
        Added {
            id: job.id.clone(),
            source: meta.path.clone(),
            axes: meta.axes_string(),
            shape: meta.shape.clone(),
            dtype: meta.dtype,
            levels: written.levels.len(),
            labels,
            bytes,
        },
        entry,
    ))
}

/// Records `images/<image>.ome.zarr/labels/<label>` in the segmentation-mask set named `label`,
/// creating the set when needed.
fn record_label(
    m: &mut crate::metadata::Manifest,
    image: &str,
    label: &str,
    kind: Option<MaskKind>,
) {
    let path = format!("{IMAGES_DIR}/{image}.ome.zarr/labels/{label}");
    let file = AnnotationFile {
        path: path.clone(),
        source_images: vec![image.to_string()],
        types: vec![AnnotationType::SegmentationMask],
        mask_kind: kind,
        transformation: None,
        created: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        extra: Default::default(),
    };
    match m.annotation_sets.iter_mut().find(|s| s.id == label) {
        Some(set) => {
            if !set.types.contains(&AnnotationType::SegmentationMask) {
                set.types.push(AnnotationType::SegmentationMask);
            }
            if !set.files.iter().any(|f| f.path == path) {
                set.files.push(file);
            }
        }
        None => m.annotation_sets.push(AnnotationSet {
            id: label.to_string(),
            title: Some(label.to_string()),
            overview: None,
            types: vec![AnnotationType::SegmentationMask],
            authors: Vec::new(),
            method: None,
            confidence: None,
            criteria: None,
            transformations: None,
            spatial: Some(SpatialInfo {
                units: "pixel".into(),
                description: Some("OME-Zarr label image on the pixel grid of its source image (same shape, level by level)".into()),
                extra: Default::default(),
            }),
            created: file.created.clone(),
            files: vec![file],
            imported_from: Vec::new(),
            extra: Default::default(),
        }),
    }
}

/// Adds a mask to an image already in the package, as `labels/<name>`, recorded in the
/// segmentation-mask annotation set `name`.
pub fn add_mask(
    pkg: &mut Package,
    image: &str,
    mask: &Path,
    name: &str,
    kind: MaskKind,
    opts: &MaskOptions,
    progress: &dyn Progress,
) -> Result<usize, Error> {
    add_mask_with(pkg, image, name, kind, opts, progress, &mut |laxes| {
        let names: String = laxes.iter().map(|a| a.name.as_str()).collect();
        let axes = opts.axes.clone().unwrap_or(names);
        open_input(mask, &opts.limits, None)
            .or_else(|e| open_input(mask, &opts.limits, Some(&axes)).map_err(|_| e))
    })
}

/// A label plane made in memory (e.g. rasterised polygons), written like a mask file.
pub(crate) struct MemoryMask {
    meta: SourceMeta,
    plane: Option<crate::raster::Plane>,
}

impl PlaneSource for MemoryMask {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }
    fn read_plane(&mut self, index: usize) -> Result<crate::raster::Plane, formats::Error> {
        match (index, self.plane.take()) {
            (0, Some(p)) => Ok(p),
            _ => Err(formats::Error::Unsupported {
                path: self.meta.path.clone(),
                message: format!("an in-memory mask has one plane; plane {index} was asked"),
            }),
        }
    }
}

/// Writes a 2D label plane made in memory into `image` as `labels/<name>` in `tx`, for
/// the caller to record (see [`stage_mask`]). The image's label frame must be one plane (every
/// axis but y and x of size 1).
pub(crate) fn stage_mask_plane(
    pkg: &Package,
    tx: &Transaction<'_>,
    image: &str,
    name: &str,
    kind: MaskKind,
    plane: crate::raster::Plane,
    opts: &MaskOptions,
) -> Result<StagedLabel, Error> {
    let origin = PathBuf::from(format!("<{name} of {image}>"));
    let progress = |_: u64| {};
    stage_mask(pkg, tx, image, name, kind, opts, &progress, &mut |laxes| {
        Ok(Box::new(MemoryMask {
            meta: SourceMeta {
                path: origin.clone(),
                axes: laxes.to_vec(),
                shape: Vec::new(),
                dtype: plane.data.dtype(),
                channel_names: Vec::new(),
            },
            plane: Some(plane.clone()),
        }))
    })
}

pub(crate) type OpenMask<'a> = &'a mut dyn FnMut(&[Axis]) -> Result<Box<dyn PlaneSource>, Error>;

/// Adds the mask `open` gives (on the image's label frame) to `image` as `labels/<name>`, and
/// commits it.
pub(crate) fn add_mask_with(
    pkg: &mut Package,
    image: &str,
    name: &str,
    kind: MaskKind,
    opts: &MaskOptions,
    progress: &dyn Progress,
    open: OpenMask<'_>,
) -> Result<usize, Error> {
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    let staged = stage_mask(pkg, &tx, image, name, kind, opts, progress, open)?;
    // On an error the transaction takes the label out again.
    tx.commit(pkg, |m| -> Result<(), Error> {
        staged.record(m);
        Ok(())
    })?;
    Ok(staged.objects)
}

/// A label image written into place in a transaction, not yet in the manifest: the caller
/// records it with [`StagedLabel::record`] in its one commit (until then the transaction takes
/// it out again on an error or a crash).
#[must_use]
pub(crate) struct StagedLabel {
    image: String,
    name: String,
    kind: MaskKind,
    /// Number of objects (non-zero values) in it.
    pub(crate) objects: usize,
}

impl StagedLabel {
    /// Lists the label in its segmentation-mask set in `m`.
    pub(crate) fn record(&self, m: &mut crate::metadata::Manifest) {
        record_label(m, &self.image, &self.name, Some(self.kind));
    }
}

/// The writing part of [`add_mask_with`], in `tx`: writes the label and renames it into
/// place (journaled), and leaves the commit to the caller. Several labels, on one image or
/// several, may be staged in one transaction and recorded in its one commit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stage_mask(
    pkg: &Package,
    tx: &Transaction<'_>,
    image: &str,
    name: &str,
    kind: MaskKind,
    opts: &MaskOptions,
    progress: &dyn Progress,
    open: OpenMask<'_>,
) -> Result<StagedLabel, Error> {
    if !crate::validate::valid_id(name) {
        return Err(Error::Invalid(format!(
            "{name:?} is not a valid label name (letters, digits, '_', '.', '-')"
        )));
    }
    let entry = pkg.manifest().image(image).cloned().ok_or_else(|| {
        Error::Invalid(format!(
            "no image {image:?} in the package (images: {})",
            pkg.manifest()
                .images
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let image_dir = pkg.resolve(&entry.path).map_err(Error::Invalid)?;
    let ms = Multiscale::open(&image_dir)?;
    let (laxes, lshape) = label_frame(&ms.axes, &ms.levels[0].shape);
    let mut src = open(&laxes)?;
    if src.meta().shape.is_empty() {
        // In memory: one plane, on a frame whose other axes have size 1.
        let n = lshape.len();
        let plane_ok = lshape[..n - 2].iter().all(|&d| d == 1);
        if !plane_ok {
            return Err(Error::Invalid(format!(
                "image {image:?} has shape {lshape:?} beyond y and x; vector annotations are rasterised on 2D images only"
            )));
        }
        let mut meta = src.meta().clone();
        meta.shape = lshape.clone();
        src = Box::new(MemoryMask {
            meta,
            plane: Some(src.read_plane(0)?),
        });
    }
    check_mask(src.meta(), &laxes, &lshape, image)?;
    progress.total(pixel_bytes(src.meta()));
    let advance = |b: u64| progress.advance(b);
    let progress = &advance;
    let write = WriteOptions {
        version: ms.version,
        ..opts.write
    };
    let spec = LabelSpec {
        name,
        axes: &laxes,
        properties: &opts.properties,
        durable: true,
    };
    let objects = write_label(&image_dir, &spec, src.as_mut(), &write, progress, Some(tx))?;
    Ok(StagedLabel {
        image: image.to_string(),
        name: name.to_string(),
        kind,
        objects,
    })
}

/// Label values a classes file may name: those OME-Zarr `image-label` metadata records (as
/// JSON integers of 64 bits, signed like the `label-value`s of a list-form classes file).
const LABEL_VALUES: std::ops::RangeInclusive<i128> = (i64::MIN as i128)..=(i64::MAX as i128);

/// Reads a `classes.json`: `{"1": "nucleus", "2": {"class": "mitotic", …}}` or
/// `[{"label-value": 1, "class": "nucleus"}, …]`, into per-value properties.
pub fn read_classes(path: &Path) -> Result<BTreeMap<i128, Map<String, Value>>, Error> {
    let max = formats::input::TextLimits::current().max_table_bytes;
    let text = formats::input::read_text_capped(path, max, "a classes file")
        .map_err(formats::Error::from)?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let bad = |what: String| Error::Invalid(format!("{}: {what}", path.display()));
    let mut out = BTreeMap::new();
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                let value: i128 = k
                    .parse()
                    .ok()
                    .filter(|v| LABEL_VALUES.contains(v))
                    .ok_or_else(|| {
                        bad(format!(
                            "key {k:?} is not a label value (an integer of a 64-bit mask)"
                        ))
                    })?;
                let props = match v {
                    Value::String(s) => {
                        let mut m = Map::new();
                        m.insert("class".into(), Value::String(s));
                        m
                    }
                    Value::Object(m) => m,
                    other => {
                        return Err(bad(format!(
                            "value of {k:?} is {other}; use a class name or an object"
                        )))
                    }
                };
                out.insert(value, props);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let mut m = item
                    .as_object()
                    .cloned()
                    .ok_or_else(|| bad(format!("[{i}] is not an object")))?;
                let v = m
                    .remove("label-value")
                    .and_then(|v| v.as_i64())
                    .ok_or_else(|| bad(format!("[{i}] has no integer \"label-value\"")))?;
                out.insert(i128::from(v), m);
            }
        }
        other => return Err(bad(format!("{other} is neither an object nor a list"))),
    }
    Ok(out)
}

impl Package {
    /// Opens an image of the package as an OME-Zarr multiscale (for region reads, labels).
    pub fn open_image(&self, id: &str) -> Result<Multiscale, Error> {
        let entry = self
            .manifest()
            .image(id)
            .ok_or_else(|| Error::Invalid(format!("no image {id:?} in the package")))?;
        let dir = self.resolve(&entry.path).map_err(Error::Invalid)?;
        Ok(Multiscale::open(&dir)?)
    }
}

/// Exports every image (level 0) and each of its labels as OME-TIFF into `out`; returns the
/// files written.
pub fn export_tiff(
    pkg: &Package,
    out: &Path,
    compression: Compression,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let jobs: Vec<(String, Option<String>)> = pkg
        .manifest()
        .images
        .iter()
        .map(|img| -> Result<Vec<(String, Option<String>)>, Error> {
            let ms = pkg.open_image(&img.id)?;
            let mut v = vec![(img.id.clone(), None)];
            v.extend(ms.labels.iter().map(|l| (img.id.clone(), Some(l.clone()))));
            Ok(v)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    jobs.par_iter()
        .map(|(id, label)| -> Result<PathBuf, Error> {
            let image = pkg.open_image(id)?;
            let ms = match label {
                Some(l) => image.label(l)?,
                None => image,
            };
            let path = formats::tiff::export_name(out, id, label.as_deref());
            let name = match label {
                Some(l) => format!("{id} {l}"),
                None => id.clone(),
            };
            let shape = ms.levels[0].shape.clone();
            let image = formats::tiff::ExportImage {
                name: &name,
                axes: &ms.axes,
                shape: &shape,
                dtype: ms.dtype,
                channel_names: &ms.channel_names,
            };
            formats::tiff::write_ome_tiff(&path, &image, compression, |i| ms.read_plane(0, i))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod classes_tests {
    use super::*;

    #[test]
    fn class_label_values_must_fit_64_bits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("classes.json");
        std::fs::write(&p, r#"{"1": "nucleus", "-2": {"class": "edge"}}"#).unwrap();
        let c = read_classes(&p).unwrap();
        assert_eq!(c[&1]["class"], "nucleus");
        assert_eq!(c[&-2]["class"], "edge");
        std::fs::write(&p, r#"{"99999999999999999999999": "x"}"#).unwrap();
        let e = read_classes(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: key \"99999999999999999999999\" is not a label value (an integer of a 64-bit mask)",
                p.display()
            )
        );
    }
}
