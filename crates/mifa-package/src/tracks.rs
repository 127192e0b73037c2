//! Tracks annotation sets in a package: import from CMSO biotracks, Cell Tracking Challenge,
//! TrackMate XML and geff; export to biotracks, CTC and geff; consistency checks.
//!
//! A set's tracks are stored as a CMSO biotracks data package in
//! `annotations/<set>/tracks/` (objects, links, tracks, plus mifa's edges table), with pixel
//! coordinates (centres on integers) and 0-based frames of the source image. Its descriptor's
//! `mifa` block names the image and the label image whose values the objects' `mifa_label`
//! refer to. CTC masks become that label image (`labels/<set>`, with the image's time axis).

use crate::annotations::tracks::{Stats, TrackSet};
use crate::formats::{
    biotracks, ctc, geff, ome_zarr::Multiscale, tiff::TiffSource, trackmate, Limits, PlaneSource,
    SourceMeta,
};
use crate::images::{self, MaskOptions};
use crate::io_error::io;
use crate::metadata::{
    AnnotationFile, AnnotationSet, AnnotationType, Axis, AxisType, DataType, ImportRecord,
    MaskKind, SpatialInfo,
};
use crate::package::{self, Package, UpdateError, ANNOTATIONS_DIR, IMAGES_DIR};
use crate::raster::{PixelData, Plane};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folder of a set's tracks store, relative to the set's folder.
pub const STORE_DIR: &str = "tracks";
/// The store's descriptor, relative to the set's folder.
pub const DESCRIPTOR: &str = "tracks/datapackage.json";

/// Errors of tracks operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing biotracks failed.
    #[error(transparent)]
    Biotracks(#[from] biotracks::Error),
    /// Reading or writing a CTC folder failed.
    #[error(transparent)]
    Ctc(#[from] ctc::Error),
    /// Reading TrackMate XML failed.
    #[error(transparent)]
    Trackmate(#[from] trackmate::Error),
    /// Reading or writing geff failed.
    #[error(transparent)]
    Geff(#[from] geff::Error),
    /// An image or label operation failed.
    #[error(transparent)]
    Images(#[from] images::Error),
    /// Reading an image failed.
    #[error(transparent)]
    Format(#[from] crate::formats::Error),
    /// The package refused or failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// The data or an argument is unusable; the message names the file, objects and frames.
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

/// Formats tracks are imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// CMSO biotracks data package.
    Biotracks,
    /// Cell Tracking Challenge folder.
    Ctc,
    /// TrackMate XML.
    Trackmate,
    /// geff Zarr group.
    Geff,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Biotracks => "biotracks",
            Source::Ctc => "ctc",
            Source::Trackmate => "trackmate",
            Source::Geff => "geff",
        }
    }
}

/// Options of [`import_tracks`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Image the tracks belong to: frames and positions refer to it, CTC masks become its label.
    pub image: Option<String>,
    /// An existing label of `image` whose values the objects' label values refer to.
    pub labels: Option<String>,
    /// How to write the label image (CTC masks).
    pub masks: MaskOptions,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Counts of the imported graph.
    pub stats: Stats,
    /// The label written from the source's masks: (path in the package, objects).
    pub labels: Option<(String, usize)>,
    /// How the source was interpreted and what was not kept, one line each.
    pub notes: Vec<String>,
}

struct SourceRead {
    set: TrackSet,
    info: Map<String, Value>,
    notes: Vec<String>,
    ctc: Option<ctc::Folder>,
}

fn read_source(
    from: Source,
    path: &Path,
    pixel: Option<([f64; 3], String)>,
) -> Result<SourceRead, Error> {
    let mut info = Map::new();
    let mut notes = Vec::new();
    let out = match from {
        Source::Biotracks => {
            let r = biotracks::read(path)?;
            for k in [
                "name",
                "title",
                "author",
                "cmso_space_unit",
                "cmso_time_unit",
            ] {
                if let Some(v) = r.meta.get(k) {
                    info.insert(k.into(), v.clone());
                }
            }
            notes.push(format!(
                "coordinates read as pixels with centres on integers (unit {:?})",
                r.set.space_unit.as_deref().unwrap_or("not given")
            ));
            SourceRead {
                set: r.set,
                info,
                notes,
                ctc: None,
            }
        }
        Source::Ctc => {
            let f = ctc::read(path)?;
            info.insert(
                "tracks_file".into(),
                json!(f
                    .tracks_file
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())),
            );
            info.insert("frames".into(), json!(f.frames.len()));
            info.insert("mask_size".into(), json!([f.size.1, f.size.0]));
            let set = TrackSet::from_graph(f.graph.clone());
            SourceRead {
                set,
                info,
                notes,
                ctc: Some(f),
            }
        }
        Source::Trackmate => {
            let r = trackmate::read(path)?;
            info.insert("trackmate_version".into(), json!(r.version));
            info.insert("spatial_units".into(), json!(r.set.space_unit));
            info.insert("time_units".into(), json!(r.set.time_unit));
            info.insert("pixel_size".into(), json!(r.pixel_size));
            if let Some(dt) = r.time_interval {
                info.insert("time_interval".into(), json!(dt));
            }
            if let Some(f) = &r.image_file {
                info.insert("image_file".into(), json!(f));
            }
            info.insert(
                "tracks".into(),
                Value::Array(
                    r.tracks
                        .iter()
                        .map(|t| json!({"TRACK_ID": t.id, "name": t.name, "filtered": t.filtered, "features": t.features}))
                        .collect(),
                ),
            );
            if r.pixel_size != [1.0; 3] {
                notes.push(format!(
                    "positions divided by the pixel size {:?} {}; POSITION_X/Y/Z are kept as features",
                    r.pixel_size,
                    r.set.space_unit.as_deref().unwrap_or("")
                ));
            }
            SourceRead {
                set: r.set,
                info,
                notes,
                ctc: None,
            }
        }
        Source::Geff => {
            let r = geff::read(path, &geff::ReadOptions { pixel_size: pixel })?;
            for k in [
                "geff_version",
                "axes",
                "related_objects",
                "track_node_props",
                "extra",
            ] {
                if let Some(v) = r.meta.get(k) {
                    info.insert(k.into(), v.clone());
                }
            }
            let mut set = r.set;
            // A directed graph keeps its directions (a link back in time is an error); an
            // undirected one has none, so links run from the earlier to the later frame.
            if r.meta.get("directed") == Some(&Value::Bool(false)) {
                notes.push(
                    "the graph is undirected; links are read from earlier to later frame".into(),
                );
                orient(&mut set);
            }
            notes.extend(r.notes);
            SourceRead {
                set,
                info,
                notes,
                ctc: None,
            }
        }
    };
    Ok(out)
}

/// Turns links that go backwards in time around (undirected sources).
fn orient(set: &mut TrackSet) {
    let frame: std::collections::HashMap<u64, i64> =
        set.graph.nodes.iter().map(|n| (n.id, n.t)).collect();
    for e in &mut set.graph.edges {
        if let (Some(a), Some(b)) = (frame.get(&e.source), frame.get(&e.target)) {
            if a > b {
                std::mem::swap(&mut e.source, &mut e.target);
            }
        }
    }
}

/// Image facts the tracks are checked against.
struct ImageFacts {
    /// Frames in the image (1 without a time axis).
    frames: u64,
    /// Pixel size x, y, z and unit.
    pixel: Option<([f64; 3], String)>,
    /// Frame interval and unit.
    time: Option<(String, f64)>,
    /// Level-0 shape and axes of the label frame (no channel axis).
    label_axes: Vec<Axis>,
    label_shape: Vec<u64>,
}

fn image_facts(ms: &Multiscale) -> ImageFacts {
    let shape = &ms.levels[0].shape;
    let scale = &ms.levels[0].scale;
    let mut frames = 1;
    let mut pixel = [1.0f64; 3];
    let mut unit = None;
    let mut time = None;
    for (k, a) in ms.axes.iter().enumerate() {
        match (a.kind, a.name.as_str()) {
            (AxisType::Time, _) => {
                frames = shape[k];
                if let Some(u) = &a.unit {
                    time = Some((u.clone(), scale.get(k).copied().unwrap_or(1.0)));
                }
            }
            (AxisType::Space, n) => {
                let i = match n {
                    "x" => 0,
                    "y" => 1,
                    _ => 2,
                };
                pixel[i] = scale.get(k).copied().unwrap_or(1.0);
                if unit.is_none() {
                    unit = a.unit.clone();
                }
            }
            _ => {}
        }
    }
    let (label_axes, label_shape) = images::label_frame(&ms.axes, shape);
    ImageFacts {
        frames,
        pixel: unit.map(|u| (pixel, u)),
        time,
        label_axes,
        label_shape,
    }
}

/// The problems of a graph against its image: frames outside the time axis, positions outside
/// the plane.
fn check_against_image(set: &TrackSet, facts: &ImageFacts) -> Vec<String> {
    let mut out = Vec::new();
    let n = facts.label_shape.len();
    let (h, w) = (
        facts.label_shape[n - 2] as f64,
        facts.label_shape[n - 1] as f64,
    );
    for node in &set.graph.nodes {
        if node.t < 0 || node.t as u64 >= facts.frames {
            out.push(format!(
                "object {} is at frame {}, outside the image's frames 0..{}",
                node.id,
                node.t,
                facts.frames.saturating_sub(1)
            ));
        } else if !(-0.5..w - 0.5).contains(&node.x) || !(-0.5..h - 0.5).contains(&node.y) {
            out.push(format!(
                "object {} at ({}, {}) is outside the {}×{} image",
                node.id, node.x, node.y, w, h
            ));
        }
    }
    out
}

/// Mask files of a CTC folder as one label image over the image's frames.
struct CtcFrames {
    meta: SourceMeta,
    frames: BTreeMap<u64, PathBuf>,
    planes_per_frame: usize,
    limits: Limits,
}

impl PlaneSource for CtcFrames {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }
    fn read_plane(&mut self, index: usize) -> Result<Plane, crate::formats::Error> {
        let t = (index / self.planes_per_frame) as u64;
        let n = self.meta.shape.len();
        let (h, w) = (
            self.meta.shape[n - 2] as usize,
            self.meta.shape[n - 1] as usize,
        );
        let Some(p) = self.frames.get(&t) else {
            return Ok(Plane::new(h, w, PixelData::zeros(self.meta.dtype, h * w)));
        };
        let mut src = TiffSource::open(p, &self.limits)?;
        let plane = src.read_plane(index % self.planes_per_frame)?;
        if plane.data.dtype() != self.meta.dtype || plane.height != h || plane.width != w {
            return Err(crate::formats::Error::Unsupported {
                path: p.clone(),
                message: format!(
                    "a {}×{} {:?} mask; frame 0's is {w}×{h} {:?}",
                    plane.width,
                    plane.height,
                    plane.data.dtype(),
                    self.meta.dtype
                ),
            });
        }
        Ok(plane)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Imports tracks into the tracks set `set`, attached to `opts.image` when given. Nothing is
/// written unless everything checks: the graph (ids, links forward in time, no cycles), frames
/// inside the image, CTC masks matching the image's frame shape.
pub fn import_tracks(
    pkg: &mut Package,
    from: Source,
    path: &Path,
    set: &str,
    opts: &ImportOptions,
) -> Result<Imported, Error> {
    if !crate::validate::valid_id(set) {
        return Err(Error::Invalid(format!(
            "{set:?} is not a valid set id (letters, digits, '_', '.', '-')"
        )));
    }
    let set_dir = pkg.root().join(ANNOTATIONS_DIR).join(set);
    if set_dir.join(DESCRIPTOR).exists() {
        return Err(Error::Invalid(format!(
            "set {set:?} already holds tracks ({}); import into a new set",
            set_dir.join(STORE_DIR).display()
        )));
    }
    let image = match &opts.image {
        Some(id) => {
            let entry = pkg
                .manifest()
                .image(id)
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("no image {id:?} in the package")))?;
            let dir = pkg.resolve(&entry.path).map_err(Error::Invalid)?;
            Some((id.clone(), Multiscale::open(&dir)?))
        }
        None => None,
    };
    let facts = image.as_ref().map(|(_, ms)| image_facts(ms));
    let SourceRead {
        set: mut tracks,
        info,
        mut notes,
        ctc: ctc_folder,
    } = read_source(from, path, facts.as_ref().and_then(|f| f.pixel.clone()))?;
    let problems = tracks.graph.check();
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: {} problem(s) in the tracks: {}",
            path.display(),
            problems.len(),
            crate::io_error::first_few_by(&problems, 10, "; ")
        )));
    }
    if let Some(f) = &facts {
        let p = check_against_image(&tracks, f);
        if !p.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the tracks do not fit image {:?}: {}",
                path.display(),
                opts.image.as_deref().unwrap_or(""),
                crate::io_error::first_few_by(&p, 5, "; ")
            )));
        }
    }
    // Which label image the objects' values refer to.
    let mut label_name: Option<String> = None;
    if let Some(l) = &opts.labels {
        let (id, ms) = image.as_ref().ok_or_else(|| {
            Error::Invalid("--labels names a label of --image; give the image too".into())
        })?;
        if !ms.labels.contains(l) {
            return Err(Error::Invalid(format!(
                "image {id:?} has no label {l:?} (labels: {})",
                ms.labels.join(", ")
            )));
        }
        label_name = Some(l.clone());
    }
    let write_masks = ctc_folder.is_some() && image.is_some() && label_name.is_none();
    if ctc_folder.is_some() && image.is_none() {
        notes.push(
            "the CTC masks were read for the object positions but not stored: give --image to keep them as a label of that image".into(),
        );
    }
    if write_masks {
        let (id, ms) = image.as_ref().expect("checked");
        if ms.labels.iter().any(|l| l == set) {
            return Err(Error::Invalid(format!(
                "image {id:?} already has a label {set:?}; import into another set"
            )));
        }
        label_name = Some(set.to_string());
    }
    if label_name.is_none()
        && tracks.graph.nodes.iter().any(|n| n.label.is_some())
        && from != Source::Ctc
    {
        notes.push(
            "objects carry label values but no label image is linked (use --image and --labels)"
                .into(),
        );
    }
    if from == Source::Ctc && label_name.is_none() {
        // The values refer to masks the package does not hold.
        for n in &mut tracks.graph.nodes {
            n.props.insert("ctc_label".into(), json!(n.label));
            n.label = None;
        }
    }
    // One transaction for the label and the tracks: on an error or a crash it takes out what
    // was put in place (the staging folder and a set folder made for it included).
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    // Stage the store first: nothing in the package changes if this fails. Never through a
    // link: the set's folder must be the package's own.
    crate::package::lstat_in_package(pkg.root(), &set_dir)?;
    tx.create_dir_all(&set_dir)?;
    let store = set_dir.join(STORE_DIR);
    let staging = tx.staging_path(&store);
    let labels_rel = label_name
        .as_ref()
        .zip(opts.image.as_ref())
        .map(|(l, id)| format!("{IMAGES_DIR}/{id}.ome.zarr/labels/{l}"));
    let mut mifa = json!({
        "format": "mifa-tracks",
        "version": 1,
        "coordinates": "level-0 pixels of the image, pixel centres on integers (add 0.5 for mifa's GeoJSON corner convention); frames 0-based",
    });
    if let Some(id) = &opts.image {
        mifa["image"] = json!(id);
    }
    if let Some(l) = &labels_rel {
        mifa["labels"] = json!(l);
    }
    if let Some(u) = &tracks.space_unit {
        mifa["source_space_unit"] = json!(u);
    }
    if let Some(u) = &tracks.time_unit {
        mifa["source_time_unit"] = json!(u);
    }
    let mut meta = Map::new();
    meta.insert("title".into(), json!(format!("Tracks {set}")));
    meta.insert("cmso_space_unit".into(), json!("pixel"));
    meta.insert("cmso_time_unit".into(), json!("frame"));
    meta.insert("mifa".into(), mifa);
    biotracks::write(
        &staging,
        &tracks,
        &biotracks::WriteOptions {
            name: set.to_string(),
            meta,
            edges_table: true,
        },
    )?;
    // CTC masks → labels/<set>, recorded with the tracks.
    let mut labels_out = None;
    let mut staged_label = None;
    if write_masks {
        let (id, _) = image.as_ref().expect("checked");
        let f = facts.as_ref().expect("with image");
        let folder = ctc_folder.as_ref().expect("checked");
        let last = folder.frames.keys().max().copied().unwrap_or(0);
        if last >= f.frames {
            return Err(Error::Invalid(format!(
                "{}: masks go up to frame {last} but image {id:?} has {} frame(s)",
                path.display(),
                f.frames
            )));
        }
        let first = folder.frames.values().next().cloned();
        let opened = first
            .as_ref()
            .map(|p| TiffSource::open(p, &opts.masks.limits))
            .transpose();
        let src = opened?;
        let dtype = src.as_ref().map_or(DataType::Uint16, |s| s.meta().dtype);
        let planes_per_frame: u64 = {
            let n = f.label_shape.len();
            let t_axis = f.label_axes.iter().any(|a| a.kind == AxisType::Time);
            f.label_shape[usize::from(t_axis)..n - 2].iter().product()
        };
        let meta = SourceMeta {
            path: folder.tracks_file.parent().unwrap_or(path).to_path_buf(),
            axes: f.label_axes.clone(),
            shape: f.label_shape.clone(),
            dtype,
            channel_names: Vec::new(),
        };
        let frames = folder.frames.clone();
        let limits = opts.masks.limits;
        let staged = images::stage_mask(
            pkg,
            &tx,
            id,
            set,
            MaskKind::Instance,
            &opts.masks,
            &|_: u64| {},
            &mut |_| {
                Ok(Box::new(CtcFrames {
                    meta: meta.clone(),
                    frames: frames.clone(),
                    planes_per_frame: planes_per_frame as usize,
                    limits,
                }))
            },
        )?;
        labels_out = Some((labels_rel.clone().expect("set above"), staged.objects));
        staged_label = Some(staged);
    }
    // Move the store into place and record the set.
    if store.exists() {
        return Err(Error::Invalid(format!(
            "set {set:?} already holds tracks ({}); import into a new set",
            store.display()
        )));
    }
    let record = ImportRecord {
        format: from.name().into(),
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        imported: now(),
        info: Some(Value::Object(info)),
        licenses: Vec::new(),
        image_ids: Default::default(),
        file_names: Default::default(),
        extra: Default::default(),
    };
    let file = AnnotationFile {
        path: format!("{ANNOTATIONS_DIR}/{set}/{DESCRIPTOR}"),
        source_images: opts.image.iter().cloned().collect(),
        types: vec![AnnotationType::Tracks],
        mask_kind: None,
        transformation: None,
        created: Some(now()),
        extra: Default::default(),
    };
    tx.create(&staging, &store)?;
    tx.commit(pkg, |m| -> Result<(), Error> {
        if let Some(l) = &staged_label {
            l.record(m);
        }
        let s = match m.annotation_sets.iter_mut().find(|s| s.id == set) {
            Some(s) => s,
            None => {
                m.annotation_sets.push(AnnotationSet {
                    id: set.to_string(),
                    title: Some(set.to_string()),
                    overview: None,
                    types: Vec::new(),
                    authors: Vec::new(),
                    method: None,
                    confidence: None,
                    criteria: None,
                    transformations: None,
                    spatial: None,
                    created: file.created.clone(),
                    files: Vec::new(),
                    imported_from: Vec::new(),
                    extra: Default::default(),
                });
                m.annotation_sets.last_mut().expect("pushed")
            }
        };
        if !s.types.contains(&AnnotationType::Tracks) {
            s.types.insert(0, AnnotationType::Tracks);
        }
        s.spatial = Some(SpatialInfo {
            units: "pixel".into(),
            description: Some("objects at level-0 pixel positions of the source image (pixel centres on integers), frames 0-based".into()),
            extra: Default::default(),
        });
        s.files.retain(|f| f.path != file.path);
        s.files.insert(0, file.clone());
        s.imported_from.push(record.clone());
        Ok(())
    })?;
    Ok(Imported {
        stats: tracks.graph.stats(),
        labels: labels_out,
        notes,
    })
}

/// A stored tracks set: the tracks, the image and label they refer to.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Objects, links, grouping.
    pub set: TrackSet,
    /// Image id.
    pub image: Option<String>,
    /// Label image path in the package.
    pub labels: Option<String>,
    /// The store's descriptor.
    pub descriptor: PathBuf,
}

/// Reads the tracks of set `set`.
pub fn read_set(pkg: &Package, set: &str) -> Result<Stored, Error> {
    read_store(pkg.root(), set)
}

fn read_store(root: &Path, set: &str) -> Result<Stored, Error> {
    let p = root.join(ANNOTATIONS_DIR).join(set).join(DESCRIPTOR);
    // The store's tables are opened by the paths its descriptor gives: none may be a link.
    crate::package::check_tree_in_package(root, &root.join(ANNOTATIONS_DIR).join(set))?;
    if !p.is_file() {
        return Err(Error::Invalid(format!(
            "set {set:?} holds no tracks ({} is missing)",
            p.display()
        )));
    }
    let r = biotracks::read(&p)?;
    let mifa = r.meta.get("mifa");
    let get = |k: &str| {
        mifa.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Stored {
        set: r.set,
        image: get("image"),
        labels: get("labels"),
        descriptor: p,
    })
}

/// Formats tracks export to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// CMSO biotracks data package.
    Biotracks,
    /// Cell Tracking Challenge folder (results layout).
    Ctc,
    /// geff Zarr group.
    Geff,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// Counts of the exported graph.
    pub stats: Stats,
    /// What the format could not hold.
    pub notes: Vec<String>,
}

/// Exports the tracks of `set` to `out` (a folder that must not exist; written under a
/// temporary name and renamed when complete).
pub fn export_tracks(pkg: &Package, set: &str, to: Target, out: &Path) -> Result<Exported, Error> {
    let stored = read_set(pkg, set)?;
    // A dangling link counts too: the folder is renamed into place, over whatever is there.
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::Invalid(format!(
            "{} already exists; give a new folder",
            out.display()
        )));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let ms = match &stored.image {
        Some(id) => {
            let entry = pkg.manifest().image(id).cloned().ok_or_else(|| {
                Error::Invalid(format!(
                    "the tracks of set {set:?} refer to image {id:?}, which is not in the package"
                ))
            })?;
            Some(Multiscale::open(
                &pkg.resolve(&entry.path).map_err(Error::Invalid)?,
            )?)
        }
        None => None,
    };
    let facts = ms.as_ref().map(image_facts);
    let mut notes = Vec::new();
    let mut run = || -> Result<(), Error> {
        match to {
            Target::Biotracks => {
                let mut meta = Map::new();
                meta.insert(
                    "title".into(),
                    json!(format!("Tracks {set} (exported by mifa)")),
                );
                meta.insert("cmso_space_unit".into(), json!("pixel"));
                meta.insert("cmso_time_unit".into(), json!("frame"));
                biotracks::write(
                    &tmp,
                    &stored.set,
                    &biotracks::WriteOptions {
                        name: set.to_string(),
                        meta,
                        edges_table: true,
                    },
                )?;
            }
            Target::Geff => {
                let mut extra = Map::new();
                extra.insert(
                    "mifa".into(),
                    json!({"set": set, "image": stored.image, "labels": stored.labels}),
                );
                let opts = geff::WriteOptions {
                    space: facts
                        .as_ref()
                        .and_then(|f| f.pixel.clone())
                        .map(|(s, u)| (u, s)),
                    time: facts.as_ref().and_then(|f| f.time.clone()),
                    extra,
                };
                let left = geff::write(&tmp, &stored.set, &opts)?;
                notes.extend(left.into_iter().map(|l| format!("not in geff: {l}")));
            }
            Target::Ctc => {
                let labels = stored.labels.as_ref().ok_or_else(|| {
                    Error::Invalid(format!(
                        "set {set:?} has no label image; a CTC folder is label masks plus tracks (import CTC masks, or link a label with --labels)"
                    ))
                })?;
                let lms = Multiscale::open(&pkg.root().join(labels))?;
                let f = facts.as_ref().expect("a label implies an image");
                let t_axis = f.label_axes.iter().any(|a| a.kind == AxisType::Time);
                let n = f.label_shape.len();
                if n - usize::from(t_axis) > 2 {
                    return Err(Error::Invalid(
                        "CTC export of 3D labels is not supported".into(),
                    ));
                }
                let read = |t: i64| -> Result<Plane, ctc::Error> {
                    lms.read_plane(0, t as usize).map_err(ctc::Error::Image)
                };
                let w = ctc::write(&tmp, &stored.set, ctc::Layout::Res, &read)?;
                if w.merge_links_dropped > 0 {
                    notes.push(format!(
                        "{} link(s) into merges dropped: a CTC track has one parent",
                        w.merge_links_dropped
                    ));
                }
                if w.pixels_cleared > 0 {
                    notes.push(format!(
                        "{} mask pixel(s) of no tracked object set to background",
                        w.pixels_cleared
                    ));
                }
                if w.relabelled {
                    notes.push("tracks numbered from 1 and masks relabelled (the objects' values were not one per track)".into());
                }
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(Exported {
        stats: stored.set.graph.stats(),
        notes,
    })
}

/// Consistency problems of a stored tracks set, for `mifa validate`: graph rules, frames and
/// positions inside the image, and every object's label value present in its frame's mask.
pub fn check_stored(root: &Path, m: &crate::Manifest, set: &str) -> Vec<String> {
    let stored = match read_store(root, set) {
        Ok(s) => s,
        Err(e) => return vec![crate::io_error::chain(&e)],
    };
    let mut out = stored.set.graph.check();
    let Some(id) = &stored.image else {
        return out;
    };
    let Some(entry) = m.image(id) else {
        out.push(format!(
            "the tracks refer to image {id:?}, which is not in the package"
        ));
        return out;
    };
    let ms = match Multiscale::open(&root.join(&entry.path)) {
        Ok(ms) => ms,
        Err(e) => {
            out.push(format!("image {id:?}: {}", crate::io_error::chain(&e)));
            return out;
        }
    };
    let facts = image_facts(&ms);
    out.extend(check_against_image(&stored.set, &facts));
    let Some(labels) = &stored.labels else {
        return out;
    };
    let lms = match Multiscale::open(&root.join(labels)) {
        Ok(l) => l,
        Err(e) => {
            out.push(format!(
                "label image {labels}: {}",
                crate::io_error::chain(&e)
            ));
            return out;
        }
    };
    let n = lms.levels[0].shape.len();
    let planes_per_frame: u64 =
        lms.levels[0].shape[..n - 2].iter().product::<u64>() / facts.frames.max(1);
    let mut by_frame: BTreeMap<i64, Vec<(u64, u64)>> = BTreeMap::new();
    for node in &stored.set.graph.nodes {
        if let Some(l) = node.label {
            by_frame.entry(node.t).or_default().push((node.id, l));
        }
    }
    use rayon::prelude::*;
    let found: Vec<String> = by_frame
        .par_iter()
        .flat_map_iter(|(&t, objects)| {
            let mut values = std::collections::BTreeSet::new();
            let mut problems = Vec::new();
            for z in 0..planes_per_frame.max(1) {
                match lms.read_plane(0, (t as u64 * planes_per_frame.max(1) + z) as usize) {
                    Ok(p) => values.extend(p.data.distinct_labels().unwrap_or_default()),
                    Err(e) => problems.push(format!(
                        "frame {t} of {labels}: {}",
                        crate::io_error::chain(&e)
                    )),
                }
            }
            if problems.is_empty() {
                for (id, l) in objects {
                    if !values.contains(&i128::from(*l)) {
                        problems.push(format!(
                            "object {id} has label value {l}, which is not in frame {t} of {labels}"
                        ));
                    }
                }
            }
            problems.into_iter()
        })
        .collect();
    out.extend(found);
    out
}
