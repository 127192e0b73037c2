//! Vector annotation sets in a package: imports (GeoJSON, points CSV, COCO), exports (COCO,
//! GeoJSON) and mask ↔ polygon conversions, each returning a [`Fidelity`] report.
//!
//! A vector set stores one GeoJSON file per image, `annotations/<set>/<image>.geojson`, in the
//! profile of `formats/geojson/README.md`. Classes go to the package vocabulary
//! (`Manifest::classes`). Files are written first (temporary name, rename), the manifest last;
//! a failed import leaves the package as it was.

use crate::annotations::contour;
use crate::annotations::fidelity::Fidelity;
use crate::annotations::shapes::{
    box_object, keys, objects_from_labels, Collection, Geometry, Object, ObjectId,
};
use crate::annotations::{Polygon, Rle};
use crate::formats::coco::{self, Annotation, Counts, Segmentation};
use crate::formats::{geojson, points};
use crate::images::{self, MaskOptions, Progress};
use crate::io_error::io;
use crate::metadata::{
    AnnotationFile, AnnotationSet, AnnotationType, ImageEntry, ImportRecord, Manifest, MaskKind,
    SpatialInfo,
};
use crate::package::{self, Package, Transaction, UpdateError, ANNOTATIONS_DIR};
use crate::raster::{PixelData, Plane};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors of vector annotation operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing GeoJSON failed.
    #[error(transparent)]
    Geojson(#[from] geojson::Error),
    /// Reading or writing COCO failed.
    #[error(transparent)]
    Coco(#[from] coco::Error),
    /// Reading a points file failed.
    #[error(transparent)]
    Points(#[from] points::Error),
    /// An image or mask operation failed.
    #[error(transparent)]
    Images(#[from] images::Error),
    /// The package refused or failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// The data or an argument is unusable; the message names the file, image and object.
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

/// Suffix of vector annotation files.
pub const VECTOR_EXT: &str = ".geojson";

/// Where the vector annotations of `image` in `set` live, relative to the package root.
pub fn vector_path(set: &str, image: &str) -> String {
    format!("{ANNOTATIONS_DIR}/{set}/{image}{VECTOR_EXT}")
}

/// Level-0 `(height, width)` of an image, from its y and x axes.
pub fn image_size(e: &ImageEntry) -> Option<(u32, u32)> {
    let find = |n: &str| {
        let i = e.axes.iter().position(|a| a.name == n)?;
        u32::try_from(*e.shape.get(i)?).ok()
    };
    Some((find("y")?, find("x")?))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Options shared by the imports.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Annotation set to import into (created if missing).
    pub set: String,
    /// Drop unusable objects (reported) instead of failing.
    pub skip_invalid: bool,
    /// Replace an image's existing file in the set instead of refusing.
    pub replace: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The set.
    pub set: String,
    /// Files written (one per image).
    pub files: usize,
    /// Objects stored.
    pub objects: usize,
    /// Image-level labels stored.
    pub image_labels: usize,
    /// Classes added to the vocabulary.
    pub classes_added: Vec<String>,
    /// Images added to the package (COCO `--images`).
    pub images_added: Vec<String>,
    /// Warnings, each naming the image and object.
    pub warnings: Vec<String>,
    /// What the conversion into the package's profile kept and lost.
    pub fidelity: Fidelity,
}

fn image_entry<'a>(m: &'a Manifest, image: &str) -> Result<&'a ImageEntry, Error> {
    m.image(image).ok_or_else(|| {
        let known: Vec<&str> = m.images.iter().map(|i| i.id.as_str()).take(10).collect();
        Error::Invalid(format!(
            "no image {image:?} in the package (images: {})",
            known.join(", ")
        ))
    })
}

fn check_set_id(set: &str) -> Result<(), Error> {
    if crate::validate::valid_id(set) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{set:?} is not a valid set id (letters, digits, '_', '.', '-')"
        )))
    }
}

/// Where the objects of an import come from, to name them in errors: the file, and for line
/// formats the line of each object.
struct Source<'a> {
    file: &'a Path,
    lines: &'a [u64],
}

impl Source<'_> {
    /// `FILE` or `FILE:LINE` of object `i`.
    fn locate(&self, i: usize) -> String {
        match self.lines.get(i) {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

/// Checks objects against the image and the profile before they are stored: coordinates in
/// range, inside the image (wholly outside: an error, or dropped with `skip`; partly: a
/// warning), ids unique (missing ones are numbered after the largest). Records drops in `fid`.
fn prepare(
    c: &mut Collection,
    src: &Source<'_>,
    image: &str,
    size: (u32, u32),
    skip: bool,
    fid: &mut Fidelity,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let mut kept = Vec::with_capacity(c.objects.len());
    let mut seen: HashSet<ObjectId> = HashSet::new();
    for (i, o) in std::mem::take(&mut c.objects).into_iter().enumerate() {
        let name = o.name(i);
        let checked = check_object(&o, size).and_then(|w| match &o.id {
            Some(id) if seen.contains(id) => Err(format!("id {id} is used twice")),
            _ => Ok(w),
        });
        match checked {
            Err(p) if skip => fid.drop(image, &name, p),
            Err(p) => {
                return Err(Error::Invalid(format!(
                    "{}: image {image}, object {name}: {p}",
                    src.locate(i)
                )))
            }
            Ok(notes) => {
                if let Some(id) = &o.id {
                    seen.insert(id.clone());
                }
                warnings.extend(
                    notes
                        .into_iter()
                        .map(|n| format!("image {image}, object {name}: {n}")),
                );
                kept.push(o);
            }
        }
    }
    let mut next = seen
        .iter()
        .filter_map(|id| match id {
            ObjectId::Int(i) => Some(*i),
            ObjectId::Str(_) => None,
        })
        .max()
        .unwrap_or(0);
    for o in &mut kept {
        if o.id.is_none() {
            next += 1;
            o.id = Some(ObjectId::Int(next));
        }
    }
    c.objects = kept;
    Ok(())
}

/// One object against its image: `Err` when it cannot be used (bad coordinates, wholly
/// outside), else the warnings it deserves (partly outside, invalid geometry by the OGC rules).
fn check_object(o: &Object, (height, width): (u32, u32)) -> Result<Vec<String>, String> {
    let (h, w) = (f64::from(height), f64::from(width));
    if let Some((k, v)) = o.geometry.bad_coordinate() {
        return Err(format!("coordinate {k} is {v}; out of range"));
    }
    let Some([x0, y0, x1, y1]) = o.geometry.bounds() else {
        return Err("has no coordinates".into());
    };
    if x1 < 0.0 || y1 < 0.0 || x0 > w || y0 > h {
        return Err(format!(
            "lies wholly outside the {width}×{height} image (extent x {x0}..{x1}, y {y0}..{y1})"
        ));
    }
    let mut notes = Vec::new();
    if x0 < 0.0 || y0 < 0.0 || x1 > w || y1 > h {
        notes.push(format!(
            "extends beyond the {width}×{height} image (extent x {x0}..{x1}, y {y0}..{y1}); pixels outside are ignored when rasterised"
        ));
    }
    for p in geometry_problems(o) {
        notes.push(format!(
            "{p}; kept (rasterised even-odd, as pycocotools would)"
        ));
    }
    Ok(notes)
}

/// Adds the collection's classes to the vocabulary (colours from the file when it has them)
/// and gives each object its class colour; returns the names added.
fn adopt_classes(m: &mut Manifest, c: &mut Collection) -> Vec<String> {
    let mut added = Vec::new();
    for name in c
        .classes()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    {
        let color = c
            .objects
            .iter()
            .filter(|o| o.class() == Some(name.as_str()))
            .find_map(|o| {
                let c = o.properties.get(keys::CLASSIFICATION)?.get("color")?;
                let v: Vec<u8> = serde_json::from_value(c.clone()).ok()?;
                Some([*v.first()?, *v.get(1)?, *v.get(2)?])
            });
        if m.class(&name).is_none() {
            added.push(name.clone());
        }
        let class = m.class_or_insert(&name, color).clone();
        for o in c
            .objects
            .iter_mut()
            .filter(|o| o.class() == Some(name.as_str()))
        {
            o.set_class(&class.name, class.color);
        }
    }
    added
}

/// Adds to the manifest as it is now (another writer may have added classes since it was read)
/// the classes it lacks, by name; a taken id gets the next free one (files name classes, so
/// ids may change).
fn merge_classes(m: &mut Manifest, classes: &[crate::metadata::Class]) {
    for c in classes {
        if m.class(&c.name).is_some() {
            continue;
        }
        let mut c = c.clone();
        if m.classes.iter().any(|k| k.id == c.id) {
            c.id = m.classes.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        }
        m.classes.push(c);
    }
}

/// Records `annotations/<set>/<image>.geojson` in `set` (created as a vector set if missing).
fn record_vector_file(
    m: &mut Manifest,
    set: &str,
    image: &str,
    types: Vec<AnnotationType>,
    record: Option<ImportRecord>,
) {
    let path = vector_path(set, image);
    let file = AnnotationFile {
        path: path.clone(),
        source_images: vec![image.to_string()],
        types: types.clone(),
        mask_kind: None,
        transformation: None,
        created: Some(now()),
        extra: Default::default(),
    };
    let s = match m.annotation_sets.iter().position(|s| s.id == set) {
        Some(i) => &mut m.annotation_sets[i],
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
                spatial: Some(SpatialInfo {
                    units: "pixel".into(),
                    description: Some(
                        "GeoJSON in level-0 pixel coordinates of the source image: x right, y down, pixel (x, y) covers [x, x+1) × [y, y+1)".into(),
                    ),
                    extra: Default::default(),
                }),
                created: Some(now()),
                files: Vec::new(),
                imported_from: Vec::new(),
                extra: Default::default(),
            });
            m.annotation_sets.last_mut().expect("just pushed")
        }
    };
    for t in types {
        if !s.types.contains(&t) {
            s.types.push(t);
        }
    }
    match s.files.iter_mut().find(|f| f.path == path) {
        Some(f) => *f = file,
        None => s.files.push(file),
    }
    if let Some(r) = record {
        s.imported_from.push(r);
    }
}

/// A file written at a staging path of the transaction, put in place by [`Staged::install`]
/// (an existing file it replaces is kept as a backup until the commit; the transaction rolls
/// both back on an error or a crash).
struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
}

impl Staged {
    fn new(pkg: &Package, tx: &Transaction<'_>, rel: &str, replace: bool) -> Result<Staged, Error> {
        let dest = pkg.resolve(rel).map_err(Error::Invalid)?;
        // Never written through a link: it could lead out of the package.
        package::lstat_in_package(pkg.root(), &dest)?;
        if dest.exists() && !replace {
            return Err(Error::Invalid(format!(
                "{rel} already exists; give --replace to replace it"
            )));
        }
        // A set folder made here goes again if the transaction rolls back.
        tx.create_dir_all(dest.parent().expect("inside the package"))?;
        Ok(Staged {
            tmp: tx.staging_path(&dest),
            dest,
        })
    }

    /// Moves the new file into place (the replaced one aside).
    fn install(&self, tx: &Transaction<'_>) -> Result<(), Error> {
        Ok(tx.replace(&self.tmp, &self.dest)?)
    }
}

/// The path of COCO image `img` in the `--images` folder `dir`, refusing a `file_name` that
/// leads outside it: absolute, with `..`, or through a symbolic link to elsewhere.
fn image_in_dir(coco: &Path, dir: &Path, img: &coco::Image) -> Result<PathBuf, Error> {
    let refuse = |why: String| {
        Error::Invalid(format!(
            "{}: image {} has file_name {:?}, which leads outside the --images folder {} ({why}); refusing to read it",
            coco.display(),
            img.id,
            img.file_name,
            dir.display()
        ))
    };
    let name = Path::new(&img.file_name);
    if name.is_absolute() {
        return Err(refuse("an absolute path".into()));
    }
    if name.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        return Err(refuse("'..'".into()));
    }
    let path = dir.join(name);
    // Links inside the folder are fine as long as they stay in it.
    if let (Ok(d), Ok(p)) = (dir.canonicalize(), path.canonicalize()) {
        if !p.starts_with(&d) {
            return Err(refuse(format!("a symbolic link to {}", p.display())));
        }
    }
    Ok(path)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Imports a GeoJSON file (QuPath export or plain RFC 7946) as the annotations of `image`.
pub fn import_geojson(
    pkg: &mut Package,
    file: &Path,
    image: &str,
    opts: &ImportOptions,
) -> Result<Imported, Error> {
    let read = geojson::read(
        file,
        geojson::ReadOptions {
            skip_invalid: opts.skip_invalid,
        },
    )?;
    let mut fid = Fidelity::new("GeoJSON -> package GeoJSON");
    for (object, reason) in &read.dropped {
        fid.drop(image, object, reason.clone());
    }
    fid.objects_in = read.collection.objects.len() + read.dropped.len();
    let warnings = read
        .warnings
        .iter()
        .map(|w| format!("{}: {w}", file.display()))
        .collect();
    import_collection(
        pkg,
        read.collection,
        image,
        "geojson",
        &Source { file, lines: &[] },
        opts,
        fid,
        warnings,
    )
}

/// Imports a points CSV/TSV as point annotations of `image`.
pub fn import_points(
    pkg: &mut Package,
    file: &Path,
    image: &str,
    origin: points::Origin,
    opts: &ImportOptions,
) -> Result<Imported, Error> {
    let (c, lines) = points::read_located(file, origin)?;
    let mut fid = Fidelity::new("points CSV -> package GeoJSON");
    fid.objects_in = c.objects.len();
    let src = Source {
        file,
        lines: &lines,
    };
    import_collection(pkg, c, image, "points-csv", &src, opts, fid, Vec::new())
}

#[allow(clippy::too_many_arguments)]
fn import_collection(
    pkg: &mut Package,
    mut c: Collection,
    image: &str,
    format: &str,
    src: &Source<'_>,
    opts: &ImportOptions,
    mut fid: Fidelity,
    mut warnings: Vec<String>,
) -> Result<Imported, Error> {
    let file = src.file;
    check_set_id(&opts.set)?;
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    let entry = image_entry(pkg.manifest(), image)?;
    let size = image_size(entry)
        .ok_or_else(|| Error::Invalid(format!("image {image:?} has no y and x axes")))?;
    prepare(
        &mut c,
        src,
        image,
        size,
        opts.skip_invalid,
        &mut fid,
        &mut warnings,
    )?;
    if c.objects.is_empty() && c.image_labels.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no annotations to import",
            file.display()
        )));
    }
    c.image = Some(image.to_string());
    fid.objects_out = c.objects.len();
    let rel = vector_path(&opts.set, image);
    let staged = Staged::new(pkg, &tx, &rel, opts.replace)?;
    let mut classes_added = Vec::new();
    let types = c.annotation_types();
    let record = ImportRecord {
        format: format.into(),
        file: file_name(file),
        imported: now(),
        info: None,
        licenses: Vec::new(),
        image_ids: BTreeMap::new(),
        file_names: BTreeMap::new(),
        extra: Default::default(),
    };
    // Classes first (the objects take the vocabulary's colours), then the file, then the
    // manifest that records both.
    let mut m = pkg.manifest().clone();
    classes_added.extend(adopt_classes(&mut m, &mut c));
    geojson::write(&staged.tmp, &c)?;
    staged.install(&tx)?;
    let classes = m.classes.clone();
    tx.commit(pkg, |m| -> Result<(), Error> {
        merge_classes(m, &classes);
        record_vector_file(m, &opts.set, image, types, Some(record));
        Ok(())
    })?;
    Ok(Imported {
        set: opts.set.clone(),
        files: 1,
        objects: c.objects.len(),
        image_labels: c.image_labels.len(),
        classes_added,
        images_added: Vec::new(),
        warnings,
        fidelity: fid,
    })
}

// ---------------------------------------------------------------------------------------------
// COCO import.

/// Options of [`import_coco`].
#[derive(Debug, Clone, Default)]
pub struct CocoImportOptions {
    /// Set, skipping and replacing.
    pub common: ImportOptions,
    /// Folder holding the COCO images, to import those not yet in the package.
    pub images_dir: Option<PathBuf>,
    /// How images found in `images_dir` are imported.
    pub add: images::AddOptions,
}

/// Package image ids of COCO images, matched by file name: the name the image was imported
/// from, or the id a file of that name would get.
fn match_images(m: &Manifest, header: &coco::Header) -> (HashMap<i64, String>, Vec<String>) {
    let mut by_name: HashMap<String, String> = HashMap::new();
    for e in &m.images {
        if let Some(src) = &e.source {
            by_name.insert(file_name(Path::new(src)), e.id.clone());
        }
    }
    let mut matched = HashMap::new();
    let mut missing = Vec::new();
    for img in &header.images {
        let name = file_name(Path::new(&img.file_name));
        let id = by_name.get(&name).cloned().or_else(|| {
            let guess = images::id_from_path(Path::new(&img.file_name));
            m.image(&guess).map(|e| e.id.clone())
        });
        match id {
            Some(id) => {
                matched.insert(img.id, id);
            }
            None => missing.push(img.file_name.clone()),
        }
    }
    (matched, missing)
}

/// Per-image features, serialised, kept in memory up to a budget and spilled to part files in
/// the staging folder beyond it: a COCO file of any size imports in bounded memory.
struct Spool {
    dir: PathBuf,
    buffers: HashMap<String, Vec<u8>>,
    counts: HashMap<String, usize>,
    spilled: HashSet<String>,
    held: usize,
    budget: usize,
}

const SPOOL_BUDGET: usize = 256 << 20;

impl Spool {
    fn push(&mut self, image: &str, o: &Object) -> Result<(), Error> {
        let n = self.counts.entry(image.to_string()).or_default();
        let buf = self.buffers.entry(image.to_string()).or_default();
        let before = buf.len();
        buf.extend_from_slice(if *n == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut *buf, &geojson::feature_value(o)).expect("in memory");
        *n += 1;
        self.held += buf.len() - before;
        if self.held > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn part(&self, image: &str) -> PathBuf {
        self.dir.join(format!(".{image}.part"))
    }

    fn spill(&mut self) -> Result<(), Error> {
        for (image, buf) in &mut self.buffers {
            if buf.is_empty() {
                continue;
            }
            let p = self.dir.join(format!(".{image}.part"));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io(&p))?;
            f.write_all(buf).map_err(io(&p))?;
            buf.clear();
            buf.shrink_to_fit();
            self.spilled.insert(image.clone());
        }
        self.held = 0;
        Ok(())
    }

    /// Writes `<image>.geojson` in the staging folder from what was spooled.
    fn finish(&mut self, image: &str) -> Result<PathBuf, Error> {
        let out = self.dir.join(format!("{image}{VECTOR_EXT}"));
        let head = Collection {
            image: Some(image.to_string()),
            ..Collection::default()
        };
        let r = (|| -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
            geojson::write_head(&mut w, &head)?;
            if self.spilled.contains(image) {
                let mut part = std::fs::File::open(self.part(image))?;
                std::io::copy(&mut part, &mut w)?;
                std::fs::remove_file(self.part(image))?;
            }
            if let Some(buf) = self.buffers.remove(image) {
                w.write_all(&buf)?;
            }
            geojson::write_tail(&mut w)?;
            w.flush()
        })();
        r.map_err(io(&out))?;
        Ok(out)
    }
}

/// One COCO annotation as an object of the profile; RLE masks are traced into polygons with
/// holes (exactly: rasterising them gives the mask back, which `fid` checks).
fn coco_object(
    a: &Annotation,
    (height, width): (u32, u32),
    class: Option<(&str, Option<[u8; 3]>)>,
) -> Result<(Object, Option<f64>), String> {
    let mut iou = None;
    let mut o = match &a.segmentation {
        Segmentation::Polygons(parts) => {
            let mut polys = Vec::with_capacity(parts.len());
            for (k, p) in parts.iter().enumerate() {
                if p.len() % 2 != 0 || p.len() < 6 {
                    return Err(format!(
                        "polygon part {} has {} values; a polygon needs at least 3 x, y points",
                        k + 1,
                        p.len()
                    ));
                }
                if let Some(v) = p
                    .iter()
                    .find(|v| !v.is_finite() || v.abs() > crate::annotations::rle::MAX_COORDINATE)
                {
                    return Err(format!(
                        "polygon part {} has coordinate {v}, out of range",
                        k + 1
                    ));
                }
                // Repeated vertices carry nothing (pycocotools draws them as points).
                let mut ring: Vec<[f64; 2]> = p.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
                let n = contour::tidy_ring(&mut ring);
                if n < 3 {
                    return Err(format!(
                        "polygon part {} has {n} distinct points; a polygon needs at least 3",
                        k + 1
                    ));
                }
                polys.push(Polygon {
                    exterior: ring,
                    holes: Vec::new(),
                });
            }
            let g = if polys.len() == 1 {
                Geometry::Polygon(polys.remove(0))
            } else {
                Geometry::MultiPolygon(polys)
            };
            Object::new(g)
        }
        Segmentation::Rle { .. } => {
            let rle = a
                .to_rle(height, width)
                .map_err(|e| e.to_string())?
                .ok_or("empty RLE")?;
            if rle.area() == 0 {
                return Err("the RLE mask is empty".into());
            }
            let t = trace_rle(&rle);
            let back = t.to_rle(height, width).expect("an area");
            iou = Some(back.iou(&rle));
            let mut o = Object::new(t);
            o.properties.insert(
                "coco_rle".into(),
                Value::from(match &a.segmentation {
                    Segmentation::Rle {
                        counts: Counts::List(_),
                        ..
                    } => "uncompressed",
                    _ => "compressed",
                }),
            );
            o
        }
        Segmentation::None => match a.bbox {
            Some(b) if b.iter().all(|v| v.is_finite()) && b[2] > 0.0 && b[3] > 0.0 => box_object(b),
            Some(b) => return Err(format!("bbox {b:?} is not [x, y, width > 0, height > 0]")),
            None => return Err("has neither segmentation nor bbox".into()),
        },
    };
    o.id = a.id.map(ObjectId::Int);
    if let Some((name, color)) = class {
        o.set_class(name, color);
    }
    if a.iscrowd {
        o.properties.insert(keys::ISCROWD.into(), Value::from(1));
    }
    if let Some(s) = a.score {
        o.properties.insert(keys::CONFIDENCE.into(), Value::from(s));
    }
    if let Some(extra) = &a.extra {
        for (k, v) in extra.iter() {
            o.properties.insert(k.clone(), v.clone());
        }
    }
    Ok((o, iou))
}

/// Traces a non-empty mask into polygons with holes, working on its bounding box only (a mask
/// of a large image costs its own size, not the image's).
fn trace_rle(rle: &Rle) -> Geometry {
    let [bx, by, bw, bh] = rle.bbox().map(|v| v as usize);
    let h = rle.height as u64;
    let mut crop = vec![0i64; bw * bh];
    for (s, e) in rle.intervals() {
        for p in s..e {
            let (x, y) = ((p / h) as usize - bx, (p % h) as usize - by);
            crop[y * bw + x] = 1;
        }
    }
    let mut polys: Vec<Polygon> = contour::trace(&crop, bh, bw)
        .into_values()
        .flatten()
        .collect();
    for p in &mut polys {
        for v in p.exterior.iter_mut().chain(p.holes.iter_mut().flatten()) {
            v[0] += bx as f64;
            v[1] += by as f64;
        }
    }
    if polys.len() == 1 {
        Geometry::Polygon(polys.remove(0))
    } else {
        Geometry::MultiPolygon(polys)
    }
}

/// Imports a COCO file (or a results file, whose image ids must come from an earlier COCO
/// import) into the vector set, one GeoJSON file per image. Streams the annotations: memory
/// stays bounded whatever the file size.
/// Images added with `--images` go again if the annotations then fail.
pub fn import_coco(
    pkg: &mut Package,
    file: &Path,
    opts: &CocoImportOptions,
    progress: &dyn Progress,
) -> Result<Imported, Error> {
    let set = opts.common.set.clone();
    check_set_id(&set)?;
    // One transaction for the images and the annotations: on an error or a crash it takes
    // the images out again.
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    let skip = opts.common.skip_invalid;
    let header = coco::read_header(file)?;
    let mut images_added = Vec::new();
    // The manifest as the commit will find it, with the images staged for it.
    let mut view = pkg.manifest().clone();
    let mut staged_images = None;
    let (mut matched, mut missing) = match_images(&view, &header);
    // Results name images by COCO id only: use the ids earlier imports recorded; an id recorded
    // for two images (train and val both from 1) names neither.
    let mut ambiguous: HashMap<i64, Vec<String>> = HashMap::new();
    if header.results {
        let mut recorded: HashMap<i64, Vec<String>> = HashMap::new();
        for s in &pkg.manifest().annotation_sets {
            for r in &s.imported_from {
                for (img, id) in &r.image_ids {
                    let v = recorded.entry(*id).or_default();
                    if !v.contains(img) {
                        v.push(img.clone());
                    }
                }
            }
        }
        for (id, imgs) in recorded {
            if imgs.len() == 1 {
                matched.insert(id, imgs[0].clone());
            } else {
                ambiguous.insert(id, imgs);
            }
        }
    }
    if !missing.is_empty() {
        if let Some(dir) = &opts.images_dir {
            let paths: Vec<PathBuf> = missing
                .iter()
                .map(|n| match header.images.iter().find(|i| &i.file_name == n) {
                    Some(img) => image_in_dir(file, dir, img),
                    None => Ok(dir.join(n)),
                })
                .collect::<Result<_, _>>()?;
            if let Some(p) = paths.iter().find(|p| !p.is_file()) {
                return Err(Error::Invalid(format!(
                    "{}: image {} is not in {}",
                    file.display(),
                    file_name(p),
                    dir.display()
                )));
            }
            let staged = images::stage_images(pkg, &tx, &paths, &opts.add, progress)?;
            staged.record(&mut view);
            images_added = staged.ids();
            staged_images = Some(staged);
            (matched, missing) = match_images(&view, &header);
        }
    }
    if !missing.is_empty() && !skip {
        let n = missing.len();
        missing.truncate(5);
        return Err(Error::Invalid(format!(
            "{}: {n} COCO image(s) match no package image by file name ({}{}); import them with --images DIR, or give --skip-invalid to leave their annotations out",
            file.display(),
            missing.join(", "),
            if n > 5 { ", …" } else { "" }
        )));
    }
    let m = view;
    let mut sizes: HashMap<i64, (String, (u32, u32))> = HashMap::new();
    for img in &header.images {
        if let Some(id) = matched.get(&img.id) {
            let e = image_entry(&m, id)?;
            let size = image_size(e)
                .ok_or_else(|| Error::Invalid(format!("image {id:?} has no y and x axes")))?;
            if size != (img.height, img.width) {
                return Err(Error::Invalid(format!(
                    "{}: COCO image {} ({}) is {}×{} but package image {id:?} is {}×{}",
                    file.display(),
                    img.id,
                    img.file_name,
                    img.width,
                    img.height,
                    size.1,
                    size.0
                )));
            }
            sizes.insert(img.id, (id.clone(), size));
        }
    }
    if header.results {
        for (cid, id) in &matched {
            if let Some(e) = m.image(id) {
                if let Some(size) = image_size(e) {
                    sizes.entry(*cid).or_insert((id.clone(), size));
                }
            }
        }
    }
    // Categories → vocabulary (a COCO id is kept when free).
    let mut vocab = m.clone();
    let mut classes_added = Vec::new();
    let mut cat_class: HashMap<i64, (String, Option<[u8; 3]>)> = HashMap::new();
    for c in &header.categories {
        if vocab.class(&c.name).is_none() {
            classes_added.push(c.name.clone());
            if let Ok(id) = u32::try_from(c.id) {
                if id > 0 && !vocab.classes.iter().any(|k| k.id == id) {
                    vocab.classes.push(crate::metadata::Class {
                        id,
                        name: c.name.clone(),
                        color: Some(crate::metadata::palette(id)),
                        term: None,
                        supercategory: c.supercategory.clone(),
                        description: None,
                        extra: Default::default(),
                    });
                }
            }
        }
        let k = vocab.class_or_insert(&c.name, None).clone();
        cat_class.insert(c.id, (k.name, k.color));
    }
    let staging = pkg
        .root()
        .join(ANNOTATIONS_DIR)
        .join(format!(".tmp-{set}-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(staging.clone());
    let mut fid = Fidelity::new("COCO -> package GeoJSON");
    let mut warnings = Vec::new();
    let mut spool = Spool {
        dir: staging.clone(),
        buffers: HashMap::new(),
        counts: HashMap::new(),
        spilled: HashSet::new(),
        held: 0,
        budget: SPOOL_BUDGET,
    };
    let mut types: HashMap<String, HashSet<AnnotationType>> = HashMap::new();
    let mut seen_ids: HashSet<i64> = HashSet::new();
    let mut next_id = 0i64;
    let mut numbered = 0usize;
    let mut index = 0usize;
    let mut failure: Option<Error> = None;
    // Converting (RLE tracing) and checking (OGC validity) run on every core as the file is
    // parsed; ids, drops and spooling stay in file order.
    enum Converted {
        Ready {
            image: String,
            object: Box<Object>,
            iou: Option<f64>,
            notes: Vec<String>,
        },
        Unusable {
            image: String,
            why: String,
        },
    }
    let convert = |a: Annotation| -> (Annotation, Converted) {
        let Some((image, size)) = sizes.get(&a.image_id) else {
            let why = match ambiguous.get(&a.image_id) {
                Some(imgs) => format!(
                    "image_id {} was recorded for several package images ({}); import these results against one ground truth",
                    a.image_id,
                    imgs.join(", ")
                ),
                None => format!("image_id {} is not a package image", a.image_id),
            };
            return (
                a,
                Converted::Unusable {
                    image: "?".into(),
                    why,
                },
            );
        };
        let class = match a.category_id {
            Some(c) => match cat_class.get(&c) {
                Some((n, col)) => Some((n.as_str(), *col)),
                None if header.categories.is_empty() => None,
                None => {
                    let why = format!("category_id {c} is not a category");
                    return (
                        a,
                        Converted::Unusable {
                            image: image.clone(),
                            why,
                        },
                    );
                }
            },
            None => None,
        };
        let done = coco_object(&a, *size, class)
            .and_then(|(o, iou)| check_object(&o, *size).map(|notes| (o, iou, notes)));
        let c = match done {
            Ok((o, iou, notes)) => Converted::Ready {
                image: image.clone(),
                object: Box::new(o),
                iou,
                notes,
            },
            Err(why) => Converted::Unusable {
                image: image.clone(),
                why,
            },
        };
        // The geometry is in the object now; keep only what naming needs.
        let slim = Annotation {
            segmentation: Segmentation::None,
            extra: None,
            ..a
        };
        (slim, c)
    };
    let result = coco::for_each_annotation_with(file, convert, |(a, c)| {
        let i = index;
        index += 1;
        fid.objects_in += 1;
        let name = a.name(i);
        match c {
            Converted::Unusable { image, why } if skip => {
                fid.drop(&image, &name, why);
                Ok(())
            }
            Converted::Unusable { image, why } if image == "?" => Err(format!("{name}: {why}")),
            Converted::Unusable { image, why } => Err(format!("{name} (image {image}): {why}")),
            Converted::Ready {
                image,
                mut object,
                iou,
                notes,
            } => {
                match object.id {
                    Some(ObjectId::Int(id)) if seen_ids.insert(id) => next_id = next_id.max(id),
                    Some(ObjectId::Int(id)) => {
                        let why = format!("id {id} is used twice");
                        if skip {
                            fid.drop(&image, &name, why);
                            return Ok(());
                        }
                        return Err(format!("{name}: {why}"));
                    }
                    _ => {
                        // Results files carry no ids: number them after those seen so far.
                        next_id += 1;
                        while !seen_ids.insert(next_id) {
                            next_id += 1;
                        }
                        numbered += 1;
                        object.id = Some(ObjectId::Int(next_id));
                    }
                }
                if let Some(iou) = iou {
                    fid.compare(&image, &name, iou);
                }
                warnings.extend(
                    notes
                        .into_iter()
                        .map(|n| format!("image {image}, object {name}: {n}")),
                );
                types
                    .entry(image.clone())
                    .or_default()
                    .insert(object.annotation_type());
                if let Err(e) = spool.push(&image, &object) {
                    failure = Some(e);
                    return Err(String::new());
                }
                fid.objects_out += 1;
                Ok(())
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    if numbered > 0 {
        fid.note(format!(
            "{numbered} annotations without an id were given one"
        ));
    }
    let written: Vec<String> = {
        let mut v: Vec<String> = spool.counts.keys().cloned().collect();
        v.sort();
        v
    };
    if written.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no annotations to import",
            file.display()
        )));
    }
    let mut staged = Vec::new();
    let mut finished = Vec::with_capacity(written.len());
    for image in &written {
        finished.push(spool.finish(image)?);
    }
    // One flush of the filesystem instead of one per file.
    crate::formats::store::make_durable(&staging).map_err(io(&staging))?;
    for (image, tmp) in written.iter().zip(finished) {
        let s = Staged::new(pkg, &tx, &vector_path(&set, image), opts.common.replace)?;
        std::fs::rename(&tmp, &s.tmp).map_err(io(&tmp))?;
        staged.push(s);
    }
    for s in &staged {
        s.install(&tx)?;
    }
    let image_ids: BTreeMap<String, i64> = header
        .images
        .iter()
        .filter_map(|i| Some((matched.get(&i.id)?.clone(), i.id)))
        .collect();
    let file_names: BTreeMap<String, String> = header
        .images
        .iter()
        .filter_map(|i| Some((matched.get(&i.id)?.clone(), i.file_name.clone())))
        .collect();
    let record = ImportRecord {
        format: "coco".into(),
        file: file_name(file),
        imported: now(),
        info: header.info.clone(),
        licenses: header.licenses.clone(),
        image_ids: if header.results {
            BTreeMap::new()
        } else {
            image_ids
        },
        file_names: if header.results {
            BTreeMap::new()
        } else {
            file_names
        },
        extra: Default::default(),
    };
    let classes = vocab.classes.clone();
    tx.commit(pkg, |m| -> Result<(), Error> {
        if let Some(s) = &staged_images {
            s.record(m);
        }
        merge_classes(m, &classes);
        for (k, image) in written.iter().enumerate() {
            let mut t: Vec<AnnotationType> = types[image].iter().copied().collect();
            t.sort_by_key(|a| a.as_str());
            record_vector_file(m, &set, image, t, (k == 0).then(|| record.clone()));
        }
        Ok(())
    })?;
    Ok(Imported {
        set,
        files: written.len(),
        objects: fid.objects_out,
        image_labels: 0,
        classes_added,
        images_added,
        warnings,
        fidelity: fid,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading sets back.

/// The files of a set, each with its image: vector files and label images.
pub enum SetFile {
    /// A GeoJSON file.
    Vector {
        /// Image id.
        image: String,
        /// Absolute path.
        path: PathBuf,
    },
    /// An OME-Zarr label image.
    Mask {
        /// Image id.
        image: String,
        /// Label name.
        label: String,
        /// Instance or semantic.
        kind: MaskKind,
    },
}

/// The files of set `set`.
pub fn set_files(pkg: &Package, set: &str) -> Result<Vec<SetFile>, Error> {
    let s = pkg.manifest().annotation_set(set).ok_or_else(|| {
        let known: Vec<&str> = pkg
            .manifest()
            .annotation_sets
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        Error::Invalid(format!(
            "no annotation set {set:?} (sets: {})",
            known.join(", ")
        ))
    })?;
    let mut out = Vec::new();
    for f in &s.files {
        let Some(image) = f.source_images.first().cloned() else {
            continue;
        };
        if f.path.ends_with(VECTOR_EXT) {
            let path = pkg.resolve(&f.path).map_err(Error::Invalid)?;
            // Never read through a link: it could lead out of the package.
            package::check_file_in_package(pkg.root(), &path)?;
            out.push(SetFile::Vector { image, path });
        } else if let Some((_, label)) = f.path.split_once("/labels/") {
            out.push(SetFile::Mask {
                image,
                label: label.to_string(),
                kind: f.mask_kind.unwrap_or(MaskKind::Instance),
            });
        }
    }
    Ok(out)
}

/// A 2D label plane read from the package.
pub struct LabelPlane {
    /// Row-major values.
    pub values: Vec<i64>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// The label image's `image-label` metadata.
    pub image_label: Map<String, Value>,
}

/// The level-0 label plane of a 2D mask (other axes of size 1), as `i64` values.
pub fn read_label_plane(pkg: &Package, image: &str, label: &str) -> Result<LabelPlane, Error> {
    let ms = pkg
        .open_image(image)?
        .label(label)
        .map_err(images::Error::from)?;
    let shape = &ms.levels[0].shape;
    let n = shape.len();
    if n >= 2 && shape[n - 2].saturating_mul(shape[n - 1]) > u64::from(u32::MAX) {
        return Err(Error::Invalid(format!(
            "label {label:?} of image {image:?} has {} × {} pixels; conversions work on planes of up to 2^32 pixels",
            shape[n - 2],
            shape[n - 1]
        )));
    }
    if n < 2 || shape[..n - 2].iter().any(|&d| d != 1) {
        return Err(Error::Invalid(format!(
            "label {label:?} of image {image:?} has shape {shape:?}; only 2D masks convert to polygons"
        )));
    }
    let plane: Plane = ms.read_plane(0, 0).map_err(images::Error::from)?;
    #[allow(clippy::unnecessary_cast)] // the i64 variant
    let values: Vec<i64> =
        mifa_model::with_pixels!(&plane.data, v => v.iter().map(|&x| x as i64).collect());
    Ok(LabelPlane {
        values,
        height: plane.height,
        width: plane.width,
        image_label: ms.image_label.clone().unwrap_or_default(),
    })
}

/// Class names of label values, from `image-label.properties` (`class` or `name`).
#[doc(hidden)]
pub fn label_classes(image_label: &Map<String, Value>) -> HashMap<i64, String> {
    image_label
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let v = p.get("label-value")?.as_i64()?;
            let c = p.get("class").or_else(|| p.get("name"))?.as_str()?;
            Some((v, c.to_string()))
        })
        .collect()
}

/// Per-value run lengths of a row-major label plane, in one column-major pass.
fn label_rles(values: &[i64], height: usize, width: usize) -> BTreeMap<i64, Rle> {
    let mut runs: BTreeMap<i64, Vec<(u64, u64)>> = BTreeMap::new();
    let total = height * width;
    let mut p = 0usize;
    while p < total {
        let v = values[(p % height) * width + p / height];
        let start = p;
        p += 1;
        while p < total && values[(p % height) * width + p / height] == v {
            p += 1;
        }
        if v != 0 {
            runs.entry(v).or_default().push((start as u64, p as u64));
        }
    }
    runs.into_iter()
        .map(|(v, r)| (v, Rle::from_intervals(&r, height as u32, width as u32)))
        .collect()
}

/// Traces a mask into objects: one per instance value, with its class from the label
/// properties (instances) or the vocabulary (semantic values are class ids).
fn mask_objects(
    m: &Manifest,
    values: &[i64],
    height: usize,
    width: usize,
    image_label: &Map<String, Value>,
    kind: MaskKind,
) -> Vec<(i64, Object)> {
    let classes = label_classes(image_label);
    let mut objs = objects_from_labels(values, height, width);
    for (v, o) in &mut objs {
        o.id = Some(ObjectId::Int(*v));
        let name = match kind {
            MaskKind::Instance => classes.get(v).cloned(),
            MaskKind::Semantic => classes.get(v).cloned().or_else(|| {
                m.classes
                    .iter()
                    .find(|c| i64::from(c.id) == *v)
                    .map(|c| c.name.clone())
            }),
        };
        if let Some(n) = name {
            let color = m.class(&n).and_then(|c| c.color);
            o.set_class(&n, color);
        }
    }
    objs
}

// ---------------------------------------------------------------------------------------------
// Exports.

/// Options of [`export_coco`].
#[derive(Debug, Clone, Default)]
pub struct CocoExportOptions {
    /// Sets to export (default: every set with vector files or masks).
    pub sets: Vec<String>,
    /// Write masks as polygons (traced; holes are lost) instead of compressed RLE.
    pub polygons: bool,
}

fn default_info(m: &Manifest) -> Value {
    let names: Vec<&str> = m.study.authors.iter().map(|p| p.name.as_str()).collect();
    json!({
        "description": m.study.title,
        "contributor": names.join(", "),
        "date_created": chrono::Utc::now().format("%Y/%m/%d").to_string(),
        "year": chrono::Datelike::year(&chrono::Utc::now()),
        "version": "1.0",
        "url": "",
    })
}

/// Writes the chosen sets as one COCO file: vector polygons and boxes as they are, masks as
/// compressed RLE (or traced polygons); `area` and `bbox` as pycocotools computes them.
/// Categories come from the vocabulary; COCO image ids and names recorded at import are kept.
pub fn export_coco(pkg: &Package, out: &Path, opts: &CocoExportOptions) -> Result<Fidelity, Error> {
    let m = pkg.manifest();
    let sets: Vec<String> = if opts.sets.is_empty() {
        m.annotation_sets
            .iter()
            .filter(|s| !s.files.is_empty())
            .map(|s| s.id.clone())
            .collect()
    } else {
        opts.sets.clone()
    };
    let mut files = Vec::new();
    for s in &sets {
        files.extend(set_files(pkg, s)?);
    }
    let recorded: Vec<&ImportRecord> = sets
        .iter()
        .filter_map(|s| m.annotation_set(s))
        .flat_map(|s| &s.imported_from)
        .filter(|r| r.format == "coco")
        .collect();
    let mut coco_ids: HashMap<String, i64> = HashMap::new();
    let mut coco_names: HashMap<String, String> = HashMap::new();
    for r in &recorded {
        for (img, id) in &r.image_ids {
            coco_ids.entry(img.clone()).or_insert(*id);
        }
        for (img, name) in &r.file_names {
            coco_names.entry(img.clone()).or_insert(name.clone());
        }
    }
    let mut header = coco::Header {
        info: Some(recorded.iter().find_map(|r| r.info.clone()).unwrap_or_else(|| default_info(m))),
        licenses: recorded
            .iter()
            .find(|r| !r.licenses.is_empty())
            .map(|r| r.licenses.clone())
            .unwrap_or_else(|| vec![json!({"id": 1, "name": m.study.license, "url": format!("https://spdx.org/licenses/{}.html", m.study.license)})]),
        ..coco::Header::default()
    };
    let kind = if opts.polygons { "polygons" } else { "RLE" };
    let mut fid = Fidelity::new(format!("package -> COCO (masks as {kind})"));
    let mut next = coco_ids.values().copied().max().unwrap_or(0);
    let mut image_ids: HashMap<String, i64> = HashMap::new();
    let mut taken: HashSet<i64> = HashSet::new();
    let mut clashes = 0;
    for e in &m.images {
        let Some((h, w)) = image_size(e) else {
            continue;
        };
        if u64::from(h) * u64::from(w) > u64::from(u32::MAX) {
            return Err(Error::Invalid(format!(
                "image {:?} has {h}×{w} pixels, more than COCO RLE counts can address (2^32)",
                e.id
            )));
        }
        // Ids recorded by different imports (train and val both from 1) may clash: the first
        // image keeps its id, the others get new ones.
        let id = match coco_ids.get(&e.id) {
            Some(&id) if taken.insert(id) => id,
            recorded => {
                clashes += usize::from(recorded.is_some());
                while taken.contains(&(next + 1)) || coco_ids.values().any(|&v| v == next + 1) {
                    next += 1;
                }
                next += 1;
                taken.insert(next);
                next
            }
        };
        image_ids.insert(e.id.clone(), id);
        // The name COCO gave it, else the file it came from, else its OME-TIFF export's.
        let file_name = coco_names.get(&e.id).cloned().unwrap_or_else(|| {
            e.source
                .as_deref()
                .map(|s| file_name(Path::new(s)))
                .unwrap_or_else(|| format!("{}.ome.tif", e.id))
        });
        header.images.push(coco::Image {
            id,
            file_name,
            width: w,
            height: h,
            extra: Map::new(),
        });
    }
    header.images.sort_by_key(|i| i.id);
    if clashes > 0 {
        fid.note(format!(
            "{clashes} image(s) whose recorded COCO id was already used got a new id"
        ));
    }
    let mut categories: Vec<coco::Category> = m
        .classes
        .iter()
        .map(|c| coco::Category {
            id: i64::from(c.id),
            name: c.name.clone(),
            supercategory: c.supercategory.clone(),
            extra: Map::new(),
        })
        .collect();
    let unclassified_id = categories.iter().map(|c| c.id).max().unwrap_or(0) + 1;
    let class_id: HashMap<&str, i64> = m
        .classes
        .iter()
        .map(|c| (c.name.as_str(), i64::from(c.id)))
        .collect();
    // Annotations are made image by image and streamed out; ids are kept when unique.
    let mut anns: Vec<Annotation> = Vec::new();
    let mut used_unclassified = false;
    for f in &files {
        match f {
            SetFile::Vector { image, path } => {
                let Some(&image_id) = image_ids.get(image) else {
                    continue;
                };
                let (h, w) = image_size(image_entry(m, image)?).expect("sized above");
                let c = geojson::read(path, geojson::ReadOptions::default())?.collection;
                for (i, o) in c.objects.iter().enumerate() {
                    fid.objects_in += 1;
                    let name = o.name(i);
                    let polys = o.geometry.polygons();
                    if polys.is_empty() {
                        fid.drop(
                            image,
                            &name,
                            format!(
                                "{}s have no area (COCO keypoints are not written)",
                                o.geometry.type_name()
                            ),
                        );
                        continue;
                    }
                    let category = match o.class().and_then(|n| class_id.get(n)) {
                        Some(&id) => id,
                        None => {
                            used_unclassified = true;
                            unclassified_id
                        }
                    };
                    let holes: usize = polys.iter().map(|p| p.holes.len()).sum();
                    let ours = o.geometry.to_rle(h, w);
                    // COCO polygons have no holes: such objects, and masks that came as RLE,
                    // go out as RLE unless polygons are asked for.
                    let as_rle = !opts.polygons
                        && !o.is_box()
                        && (holes > 0 || o.properties.contains_key("coco_rle"));
                    let (segmentation, area, bbox) = if as_rle {
                        let rle = ours.clone().expect("an area");
                        fid.compare(image, &name, 1.0);
                        if holes > 0 {
                            fid.note("objects with holes were written as RLE (COCO polygons have none; --polygons fills them)");
                        }
                        let (area, bbox) = (rle.area() as f64, rle.bbox());
                        (
                            Segmentation::Rle {
                                size: [h, w],
                                counts: Counts::Compressed(rle.to_compressed()),
                            },
                            area,
                            bbox,
                        )
                    } else {
                        let parts: Vec<Vec<f64>> = polys
                            .iter()
                            .map(|p| p.exterior.iter().flatten().copied().collect())
                            .collect();
                        let (area, bbox) = if o.is_box() {
                            let b = o.geometry.bounds().expect("has coordinates");
                            (
                                (b[2] - b[0]) * (b[3] - b[1]),
                                [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                            )
                        } else {
                            let (theirs, bbox) =
                                coco::polygon_mask_bbox(&parts, h, w).ok_or_else(|| {
                                    Error::Invalid(format!(
                                        "image {image}, object {name}: cannot be rasterised"
                                    ))
                                })?;
                            // What pycocotools will draw, against what the package holds.
                            if let Some(ours) = &ours {
                                fid.compare(image, &name, theirs.iou(ours));
                            }
                            (theirs.area() as f64, bbox)
                        };
                        fid.holes_dropped += holes;
                        (Segmentation::Polygons(parts), area, bbox)
                    };
                    anns.push(Annotation {
                        id: match o.id {
                            Some(ObjectId::Int(i)) => Some(i),
                            _ => None,
                        },
                        image_id,
                        category_id: Some(category),
                        segmentation,
                        bbox: Some(bbox),
                        area: Some(area),
                        iscrowd: o.is_crowd(),
                        score: o.confidence(),
                        extra: None,
                    });
                    fid.objects_out += 1;
                }
                for l in &c.image_labels {
                    fid.drop(
                        image,
                        &format!("image label {}", l.class),
                        "image-level labels have no COCO form",
                    );
                }
            }
            SetFile::Mask { image, label, kind } => {
                let Some(&image_id) = image_ids.get(image) else {
                    continue;
                };
                let LabelPlane {
                    values,
                    height: h,
                    width: w,
                    image_label: il,
                } = match read_label_plane(pkg, image, label) {
                    Ok(v) => v,
                    Err(Error::Invalid(why)) => {
                        fid.drop(image, label, why);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let classes = label_classes(&il);
                let rles = label_rles(&values, h, w);
                fid.objects_in += rles.len();
                let traced = if opts.polygons {
                    mask_objects(m, &values, h, w, &il, *kind)
                        .into_iter()
                        .collect::<HashMap<_, _>>()
                } else {
                    HashMap::new()
                };
                for (v, rle) in rles {
                    let class_name = match kind {
                        MaskKind::Instance => classes.get(&v).cloned(),
                        MaskKind::Semantic => classes.get(&v).cloned().or_else(|| {
                            m.classes
                                .iter()
                                .find(|c| i64::from(c.id) == v)
                                .map(|c| c.name.clone())
                        }),
                    };
                    let category = match class_name.as_deref().and_then(|n| class_id.get(n)) {
                        Some(&id) => id,
                        None => {
                            used_unclassified = true;
                            unclassified_id
                        }
                    };
                    let (segmentation, area, bbox) = if opts.polygons {
                        let o = &traced[&v];
                        let parts: Vec<Vec<f64>> = o
                            .geometry
                            .polygons()
                            .iter()
                            .map(|p| p.exterior.iter().flatten().copied().collect())
                            .collect();
                        fid.holes_dropped += o
                            .geometry
                            .polygons()
                            .iter()
                            .map(|p| p.holes.len())
                            .sum::<usize>();
                        let (theirs, bbox) = coco::polygon_mask_bbox(&parts, h as u32, w as u32)
                            .expect("traced rings");
                        let area = theirs.area() as f64;
                        fid.compare(image, &format!("{label}:{v}"), theirs.iou(&rle));
                        (Segmentation::Polygons(parts), area, bbox)
                    } else {
                        fid.compare(image, &format!("{label}:{v}"), 1.0);
                        (
                            Segmentation::Rle {
                                size: [h as u32, w as u32],
                                counts: Counts::Compressed(rle.to_compressed()),
                            },
                            rle.area() as f64,
                            rle.bbox(),
                        )
                    };
                    anns.push(Annotation {
                        id: None,
                        image_id,
                        category_id: Some(category),
                        segmentation,
                        bbox: Some(bbox),
                        area: Some(area),
                        iscrowd: false,
                        score: None,
                        extra: Some(Box::new(
                            [("mifa_label".to_string(), json!({"set": label, "value": v}))]
                                .into_iter()
                                .collect(),
                        )),
                    });
                    fid.objects_out += 1;
                }
            }
        }
    }
    if used_unclassified {
        categories.push(coco::Category {
            id: unclassified_id,
            name: "object".into(),
            supercategory: None,
            extra: Map::new(),
        });
        fid.note("objects without a class went to category \"object\"");
    }
    header.categories = categories;
    // Ids: kept when unique across the file, else all renumbered.
    let mut seen = HashSet::new();
    // (COCOeval takes an id of 0 for "no match", so ids must be positive.)
    let unique = anns
        .iter()
        .all(|a| a.id.is_some_and(|i| i > 0 && seen.insert(i)));
    if !unique {
        for (i, a) in anns.iter_mut().enumerate() {
            a.id = Some(i as i64 + 1);
        }
        if !anns.is_empty() {
            fid.note("annotation ids renumbered 1..n (the sources' ids were missing or clashed)");
        }
    }
    package::write_output_with(out, |out| -> Result<(), Error> {
        let mut w = coco::Writer::create(out, &header)?;
        for a in &anns {
            w.annotation(a)?;
        }
        w.finish()?;
        Ok(())
    })?;
    Ok(fid)
}

/// Writes every set (or the chosen ones) as GeoJSON into `out/<set>/<image>.geojson`: vector
/// files in the canonical profile, masks traced into polygons with holes (exactly).
pub fn export_geojson(pkg: &Package, out: &Path, sets: &[String]) -> Result<Vec<Fidelity>, Error> {
    let m = pkg.manifest();
    let sets: Vec<String> = if sets.is_empty() {
        m.annotation_sets
            .iter()
            .filter(|s| !s.files.is_empty())
            .map(|s| s.id.clone())
            .collect()
    } else {
        sets.to_vec()
    };
    let mut reports = Vec::new();
    package::check_output_dir(out)?;
    for set in &sets {
        let dir = out.join(set);
        package::check_output_dir(&dir)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut fid = Fidelity::new(format!("set {set} -> GeoJSON"));
        for f in set_files(pkg, set)? {
            match f {
                SetFile::Vector { image, path } => {
                    let mut c = geojson::read(&path, geojson::ReadOptions::default())?.collection;
                    fid.objects_in += c.objects.len();
                    fid.objects_out += c.objects.len();
                    c.image = Some(image.clone());
                    let file = dir.join(format!("{image}{VECTOR_EXT}"));
                    package::write_output_with(&file, |f| {
                        geojson::write(f, &c).map_err(Error::from)
                    })?;
                }
                SetFile::Mask { image, label, kind } => {
                    let LabelPlane {
                        values,
                        height: h,
                        width: w,
                        image_label: il,
                    } = match read_label_plane(pkg, &image, &label) {
                        Ok(v) => v,
                        Err(Error::Invalid(why)) => {
                            fid.drop(&image, &label, why);
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let objs = mask_objects(m, &values, h, w, &il, kind);
                    let rles = label_rles(&values, h, w);
                    fid.objects_in += rles.len();
                    for (v, o) in &objs {
                        let back = o.geometry.to_rle(h as u32, w as u32).expect("an area");
                        fid.compare(&image, &v.to_string(), back.iou(&rles[v]));
                    }
                    fid.objects_out += objs.len();
                    let c = Collection {
                        image: Some(image.clone()),
                        objects: objs.into_iter().map(|(_, o)| o).collect(),
                        ..Collection::default()
                    };
                    let file = dir.join(format!("{image}{VECTOR_EXT}"));
                    package::write_output_with(&file, |f| {
                        geojson::write(f, &c).map_err(Error::from)
                    })?;
                }
            }
        }
        reports.push(fid);
    }
    Ok(reports)
}

// ---------------------------------------------------------------------------------------------
// Conversions inside the package.

/// Rasterises vector set `set` into label images `labels/<name>` of its images: instance
/// masks number the objects (their `label` when unique, else 1, 2, … in file order), semantic
/// masks use class ids. Later objects paint over earlier ones; the report counts what that,
/// clipping and shapes without area cost.
pub fn polygons_to_mask(
    pkg: &mut Package,
    set: &str,
    name: &str,
    kind: MaskKind,
    opts: &MaskOptions,
) -> Result<Fidelity, Error> {
    // One transaction for every image: a crash or an error leaves none.
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    let files = set_files(pkg, set)?;
    let what = match kind {
        MaskKind::Instance => "instance",
        MaskKind::Semantic => "semantic",
    };
    let mut fid = Fidelity::new(format!("set {set} -> {what} label mask {name}"));
    let mut planes = Vec::new();
    for f in files {
        let SetFile::Vector { image, path } = f else {
            continue;
        };
        let m = pkg.manifest();
        let (h, w) = image_size(image_entry(m, &image)?).expect("image with y and x");
        if u64::from(h) * u64::from(w) > u64::from(u32::MAX) {
            return Err(Error::Invalid(format!(
                "image {image:?} has {h}×{w} pixels; rasterising works on planes of up to 2^32 pixels"
            )));
        }
        let c = geojson::read(&path, geojson::ReadOptions::default())?.collection;
        let labels: Vec<Option<u64>> = c.objects.iter().map(Object::label).collect();
        let distinct: HashSet<u64> = labels.iter().flatten().copied().collect();
        let use_labels = distinct.len() == labels.len() && !distinct.contains(&0);
        let mut out = vec![0u32; h as usize * w as usize];
        let mut props: BTreeMap<i128, Map<String, Value>> = BTreeMap::new();
        let mut painted: Vec<(String, u32, Rle)> = Vec::new();
        for (i, o) in c.objects.iter().enumerate() {
            fid.objects_in += 1;
            let oname = o.name(i);
            let Some(rle) = o.geometry.to_rle(h, w) else {
                fid.drop(
                    &image,
                    &oname,
                    format!("{}s have no area", o.geometry.type_name()),
                );
                continue;
            };
            let value: u32 = match kind {
                MaskKind::Instance if use_labels => u32::try_from(labels[i].expect("all labelled"))
                    .map_err(|_| {
                        Error::Invalid(format!("image {image}, object {oname}: label too large"))
                    })?,
                MaskKind::Instance => i as u32 + 1,
                MaskKind::Semantic => match o.class().and_then(|n| m.class(n)) {
                    Some(c) => c.id,
                    None => {
                        fid.drop(&image, &oname, "has no class, so no semantic value");
                        continue;
                    }
                },
            };
            if rle.area() == 0 {
                fid.drop(&image, &oname, "covers no pixel centre");
                continue;
            }
            for (s, e) in rle.intervals() {
                for p in s..e {
                    let (x, y) = ((p / u64::from(h)) as usize, (p % u64::from(h)) as usize);
                    out[y * w as usize + x] = value;
                }
            }
            if kind == MaskKind::Instance {
                let mut p = Map::new();
                if let Some(cl) = o.class() {
                    p.insert("class".into(), Value::from(cl));
                }
                if let Some(id) = &o.id {
                    p.insert("object".into(), Value::from(id));
                }
                props.insert(i128::from(value), p);
            } else if let Some(cl) = o.class() {
                props.insert(
                    i128::from(value),
                    [("class".to_string(), Value::from(cl))]
                        .into_iter()
                        .collect(),
                );
            }
            painted.push((oname, value, rle));
            fid.objects_out += 1;
        }
        // Each object against what is left of it in the label image.
        let mut overwritten = 0u64;
        for (oname, value, rle) in &painted {
            let mut kept = 0u64;
            for (s, e) in rle.intervals() {
                for p in s..e {
                    let (x, y) = ((p / u64::from(h)) as usize, (p % u64::from(h)) as usize);
                    kept += u64::from(out[y * w as usize + x] == *value);
                }
            }
            if kind == MaskKind::Instance {
                overwritten += rle.area() - kept;
                fid.compare(&image, oname, kept as f64 / rle.area() as f64);
            }
        }
        if overwritten > 0 {
            fid.note(format!(
                "{overwritten} pixels of overlapping objects went to the later object"
            ));
        }
        planes.push((
            image,
            Plane::new(h as usize, w as usize, PixelData::U32(out)),
            props,
        ));
    }
    if planes.is_empty() {
        return Err(Error::Invalid(format!(
            "set {set:?} has no vector files to rasterise"
        )));
    }
    let mut staged = Vec::with_capacity(planes.len());
    for (image, plane, props) in planes {
        let o = MaskOptions {
            properties: props,
            ..opts.clone()
        };
        staged.push(images::stage_mask_plane(
            pkg, &tx, &image, name, kind, plane, &o,
        )?);
    }
    tx.commit(pkg, |m| -> Result<(), Error> {
        staged.iter().for_each(|s| s.record(m));
        Ok(())
    })?;
    Ok(fid)
}

/// Traces mask set `mask` into vector set `set` (one GeoJSON per image), optionally simplified
/// (Douglas–Peucker, `tolerance` pixels; an object whose simplified outline is invalid keeps
/// its exact one). The report gives each object's IoU with its mask.
pub fn mask_to_polygons(
    pkg: &mut Package,
    mask: &str,
    set: &str,
    tolerance: Option<f64>,
    replace: bool,
) -> Result<Fidelity, Error> {
    use geo::Simplify;
    check_set_id(set)?;
    let files = set_files(pkg, mask)?;
    let mut fid = Fidelity::new(match tolerance {
        Some(t) => format!("mask {mask} -> polygons {set} (simplified, tolerance {t} px)"),
        None => format!("mask {mask} -> polygons {set}"),
    });
    let mut out: Vec<(String, Collection)> = Vec::new();
    for f in files {
        let SetFile::Mask { image, label, kind } = f else {
            continue;
        };
        let LabelPlane {
            values,
            height: h,
            width: w,
            image_label: il,
        } = read_label_plane(pkg, &image, &label)?;
        let rles = label_rles(&values, h, w);
        let mut objs = mask_objects(pkg.manifest(), &values, h, w, &il, kind);
        fid.objects_in += rles.len();
        for (v, o) in &mut objs {
            if let Some(t) = tolerance {
                let simplified: Vec<Polygon> = o
                    .geometry
                    .polygons()
                    .iter()
                    .map(|p| {
                        let g = to_geo(p).simplify(t);
                        from_geo(&g)
                    })
                    .collect();
                let ok = simplified.iter().all(|p| {
                    p.exterior.len() >= 3
                        && crate::annotations::shapes::polygon_problems(p).is_empty()
                });
                if ok {
                    o.geometry = if simplified.len() == 1 {
                        Geometry::Polygon(simplified.into_iter().next().expect("one"))
                    } else {
                        Geometry::MultiPolygon(simplified)
                    };
                } else {
                    fid.note(
                        "objects whose simplified outline was invalid kept their exact outline",
                    );
                }
            }
            let back = o.geometry.to_rle(h as u32, w as u32).expect("an area");
            fid.compare(&image, &v.to_string(), back.iou(&rles[v]));
        }
        fid.objects_out += objs.len();
        out.push((
            image.clone(),
            Collection {
                image: Some(image),
                objects: objs.into_iter().map(|(_, o)| o).collect(),
                ..Collection::default()
            },
        ));
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!(
            "set {mask:?} has no masks to trace"
        )));
    }
    let lock = pkg.lock()?;
    let tx = lock.transaction();
    for (image, c) in &out {
        let s = Staged::new(pkg, &tx, &vector_path(set, image), replace)?;
        geojson::write(&s.tmp, c)?;
        s.install(&tx)?;
    }
    tx.commit(pkg, |m| -> Result<(), Error> {
        for (image, c) in &out {
            record_vector_file(m, set, image, c.annotation_types(), None);
        }
        if let Some(s) = m.annotation_sets.iter_mut().find(|s| s.id == set) {
            if s.transformations.is_none() {
                s.transformations = Some(match tolerance {
                    Some(t) => format!("traced from mask set {mask} (pixel-exact outlines), simplified by Douglas-Peucker with tolerance {t} px"),
                    None => format!("traced from mask set {mask} (pixel-exact outlines)"),
                });
            }
        }
        Ok(())
    })?;
    Ok(fid)
}

fn to_geo(p: &Polygon) -> geo::Polygon<f64> {
    let ring = |r: &Vec<[f64; 2]>| {
        geo::LineString::from(r.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>())
    };
    geo::Polygon::new(ring(&p.exterior), p.holes.iter().map(ring).collect())
}

fn from_geo(g: &geo::Polygon<f64>) -> Polygon {
    let ring = |l: &geo::LineString<f64>| -> Vec<[f64; 2]> {
        let mut v: Vec<[f64; 2]> = l.coords().map(|c| [c.x, c.y]).collect();
        if v.len() > 1 && v.first() == v.last() {
            v.pop();
        }
        v
    };
    Polygon {
        exterior: ring(g.exterior()),
        holes: g.interiors().iter().map(ring).collect(),
    }
}

/// Geometry problems of an object that OGC/shapely validity rules flag (self-intersection,
/// rings crossing), as text; empty when valid or not an area.
pub fn geometry_problems(o: &Object) -> Vec<String> {
    o.geometry
        .polygons()
        .iter()
        .flat_map(crate::annotations::shapes::polygon_problems)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_runs_match_per_value_masks() {
        #[rustfmt::skip]
        let v: Vec<i64> = vec![
            1, 1, 0, 2,
            0, 1, 2, 2,
            3, 0, 0, 2,
        ];
        let r = label_rles(&v, 3, 4);
        for (value, rle) in &r {
            let want: Vec<u8> = v.iter().map(|&x| u8::from(x == *value)).collect();
            assert_eq!(rle, &Rle::from_mask(&want, 3, 4), "value {value}");
        }
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn spooled_features_survive_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool {
            dir: dir.path().to_path_buf(),
            buffers: HashMap::new(),
            counts: HashMap::new(),
            spilled: HashSet::new(),
            held: 0,
            budget: 300, // a few features: most go through part files
        };
        for i in 0..40 {
            let mut o = box_object([i as f64, 0.0, 1.0, 1.0]);
            o.id = Some(ObjectId::Int(i));
            spool.push(if i % 3 == 0 { "a" } else { "b" }, &o).unwrap();
        }
        assert!(!spool.spilled.is_empty());
        for (image, n) in [("a", 14), ("b", 26)] {
            let p = spool.finish(image).unwrap();
            let c = geojson::read(&p, geojson::ReadOptions::default())
                .unwrap()
                .collection;
            assert_eq!(c.objects.len(), n, "{image}");
            assert_eq!(c.image.as_deref(), Some(image));
            assert!(
                c.objects.windows(2).all(|w| w[0].id < w[1].id),
                "file order kept"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "part files removed: {left:?}");
    }

    #[test]
    fn geometry_problems_name_self_intersections() {
        let bow = Object::new(Geometry::Polygon(Polygon {
            exterior: vec![[0.0, 0.0], [5.0, 5.0], [5.0, 0.0], [0.0, 5.0]],
            holes: vec![],
        }));
        assert!(!geometry_problems(&bow).is_empty());
        let ok = box_object([0.0, 0.0, 2.0, 2.0]);
        assert!(geometry_problems(&ok).is_empty());
    }
}
