//! Building a loader: the images of the split, their arrays and targets, the planes and their
//! sample slots, normalisation statistics and foreground cells. Every check that can fail runs
//! here, before the first batch.

use super::read::{ArrayReader, ChunkCache, Conv, Counters};
use super::targets::Obj;
use super::{
    axis_roles, grid_positions, open, Error, Inner, Loader, LoaderBuilder, Normalize, Sampling,
    Subset, TaskKind,
};
use crate::annotations::shapes::Geometry;
use crate::formats::geojson;
use crate::formats::ome_zarr::Multiscale;
use crate::metadata::{Manifest, MaskKind};
use crate::package::Package;
use crate::raster::PixelData;
use crate::vectors::{self, SetFile};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// One served image.
pub(crate) struct Source {
    pub id: String,
    pub image: ArrayReader,
    pub c_axis: Option<usize>,
    pub channels: Vec<u64>,
    pub norm: Vec<Conv<f32>>,
    pub label: Option<(ArrayReader, Conv<i64>)>,
    /// Label value → class, for boxes and points from labels.
    pub value_class: HashMap<i64, i64>,
    pub objects: Vec<Obj>,
    pub class: Option<i64>,
}

/// One plane (t, z position) of an image, with its sampling grid.
pub(crate) struct PlaneRef {
    pub source: usize,
    /// Indices of every image axis but y and x (the channel entry is set per channel).
    pub fixed: Vec<u64>,
    /// The same for the label array.
    pub label_fixed: Vec<u64>,
    /// Indices along the plane axes, for reporting.
    pub plane: Vec<u64>,
    pub ys: Range<u64>,
    pub xs: Range<u64>,
    pub gy: Vec<u64>,
    pub gx: Vec<u64>,
    /// Foreground boxes `[y, x, h, w]` to centre biased samples in.
    pub fg: Vec<[u64; 4]>,
}

fn image_err(image: &str, message: impl Into<String>) -> Error {
    Error::Image {
        image: image.into(),
        message: message.into(),
    }
}

fn values_f64(d: &PixelData) -> Vec<f64> {
    mifa_model::with_pixels!(d, v => v.iter().map(|&x| to_f64(x)).collect())
}

trait ToF64: Copy {
    fn f(self) -> f64;
}
macro_rules! to_f64_impl {
    ($($t:ty),*) => { $(impl ToF64 for $t { fn f(self) -> f64 { self as f64 } })* };
}
to_f64_impl!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
impl ToF64 for bool {
    fn f(self) -> f64 {
        f64::from(u8::from(self))
    }
}
fn to_f64<T: ToF64>(x: T) -> f64 {
    x.f()
}

/// The coarsest level with both sides ≥ 64 (else level 0): cheap statistics that still see
/// every region of the image.
fn stats_level(ms: &Multiscale) -> usize {
    let n = ms.axes.len();
    (0..ms.levels.len())
        .rev()
        .find(|&l| ms.levels[l].shape[n - 2] >= 64 && ms.levels[l].shape[n - 1] >= 64)
        .unwrap_or(0)
}

/// All values of channel `ch` at the statistics level.
fn channel_values(
    ms: &Multiscale,
    c_axis: Option<usize>,
    ch: u64,
    id: &str,
) -> Result<Vec<f64>, Error> {
    let l = stats_level(ms);
    let shape = &ms.levels[l].shape;
    let region: Vec<Range<u64>> = shape
        .iter()
        .enumerate()
        .map(|(a, &s)| if Some(a) == c_axis { ch..ch + 1 } else { 0..s })
        .collect();
    let d = ms.read_region(l, &region).map_err(|e| {
        image_err(
            id,
            format!("statistics level {l}: {}", crate::io_error::chain(&e)),
        )
    })?;
    let mut v = values_f64(&d);
    v.retain(|x| x.is_finite());
    Ok(v)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let r = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, f) = (r.floor() as usize, r.fract());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + (next - sorted[i]) * f
}

fn scale_geometry(g: &Geometry, sx: f64, sy: f64) -> Geometry {
    use crate::annotations::contour::Polygon;
    use crate::annotations::shapes::Point;
    let pt = |p: &Point| Point {
        x: p.x / sx,
        y: p.y / sy,
        z: p.z,
    };
    let ring = |r: &Vec<[f64; 2]>| r.iter().map(|c| [c[0] / sx, c[1] / sy]).collect();
    let poly = |p: &Polygon| Polygon {
        exterior: ring(&p.exterior),
        holes: p.holes.iter().map(ring).collect(),
    };
    match g {
        Geometry::Point(p) => Geometry::Point(pt(p)),
        Geometry::MultiPoint(v) => Geometry::MultiPoint(v.iter().map(pt).collect()),
        Geometry::LineString(v) => Geometry::LineString(v.iter().map(pt).collect()),
        Geometry::MultiLineString(v) => {
            Geometry::MultiLineString(v.iter().map(|l| l.iter().map(pt).collect()).collect())
        }
        Geometry::Polygon(p) => Geometry::Polygon(poly(p)),
        Geometry::MultiPolygon(v) => Geometry::MultiPolygon(v.iter().map(poly).collect()),
    }
}

pub(super) fn build(cfg: LoaderBuilder) -> Result<Loader, Error> {
    check_config(&cfg)?;
    let pkg = open(&cfg.dir)?;
    let ids = served_ids(&cfg, pkg.manifest())?;
    let mut plan = Plan::new(cfg, pkg, &ids)?;
    for (si, id) in ids.iter().enumerate() {
        plan.add_image(si, id)?;
    }
    plan.finish()
}

fn bad<T>(m: String) -> Result<T, Error> {
    Err(Error::Config(m))
}

/// The option checks that need no package.
fn check_config(cfg: &LoaderBuilder) -> Result<(), Error> {
    if cfg.batch_size == 0 {
        return bad("batch size must be at least 1".into());
    }
    if cfg.patch == 0 {
        return bad("patch size must be at least 1".into());
    }
    if cfg.world == 0 || cfg.rank >= cfg.world {
        return bad(format!(
            "rank {} of world size {}: need rank < world",
            cfg.rank, cfg.world
        ));
    }
    if let Sampling::Random { foreground } = cfg.sampling {
        if !(0.0..=1.0).contains(&foreground) {
            return bad(format!(
                "foreground ratio {foreground} is not between 0 and 1"
            ));
        }
    }
    if let Some(c) = cfg.augment.crop {
        if c == 0 || (c > cfg.patch && cfg.sampling != Sampling::Whole) {
            return bad(format!(
                "crop {c} must be between 1 and the patch size {}",
                cfg.patch
            ));
        }
    }
    if let Normalize::Percentile { low, high } = cfg.normalize {
        if !(0.0..=100.0).contains(&low) || !(0.0..=100.0).contains(&high) || low >= high {
            return bad(format!(
                "percentiles {low}, {high}: need 0 <= low < high <= 100"
            ));
        }
    }
    if let Some(sigma) = cfg.heatmap_sigma {
        if !(sigma.is_finite() && sigma > 0.0) {
            return bad(format!("heatmap sigma {sigma} must be a positive number"));
        }
    }
    if cfg.task != TaskKind::Images && cfg.set.is_none() {
        return bad(format!("task {} needs an annotation set", cfg.task.name()));
    }
    Ok(())
}

/// The ids of the images to serve: the given list, every image, or a subset of a split.
fn served_ids(cfg: &LoaderBuilder, m: &Manifest) -> Result<Vec<String>, Error> {
    let ids: Vec<String> = match (&cfg.images, cfg.subset) {
        (Some(v), _) => v.clone(),
        (None, Subset::All) => m.images.iter().map(|i| i.id.clone()).collect(),
        (None, sub) => {
            let s = crate::split::find(m, cfg.split.as_deref())?;
            let (name, list) = match sub {
                Subset::Train => ("train", &s.train),
                Subset::Val => ("val", &s.val),
                _ => ("test", &s.test),
            };
            if list.is_empty() {
                return bad(format!("split {:?} has no {name} images", s.id));
            }
            let problems = crate::split::check(m, s);
            if !problems.is_empty() {
                return bad(format!(
                    "cannot load: {}",
                    crate::io_error::first_few_by(&problems, 5, "; ")
                ));
            }
            list.clone()
        }
    };
    if ids.is_empty() {
        return bad("no images to load".into());
    }
    for id in &ids {
        if m.image(id).is_none() {
            return bad(format!("image {id:?} is not in the package"));
        }
    }
    Ok(ids)
}

/// One image at the loader's level: its axes and size, and the level-0 pixels per pixel.
struct ImageLevel {
    ms: Multiscale,
    /// Shape at the loader's level.
    shape: Vec<u64>,
    h: u64,
    w: u64,
    sy: f64,
    sx: f64,
    c_axis: Option<usize>,
    plane_axes: Vec<usize>,
}

/// The label image of a served image, when the set stores masks.
struct LabelPlan {
    ms: Multiscale,
    reader: ArrayReader,
    conv: Conv<i64>,
    value_class: HashMap<i64, i64>,
    /// Shape at the loader's level.
    shape: Vec<u64>,
}

/// The loader under construction: the images added so far and what they share.
struct Plan {
    cfg: LoaderBuilder,
    pkg: Package,
    set: String,
    /// Annotation file per image id.
    files: HashMap<String, SetFile>,
    num_classes: i64,
    sources: Vec<Source>,
    planes: Vec<PlaneRef>,
    channels_n: Option<usize>,
    whole_size: Option<(u64, u64)>,
    /// Values per served channel, for mean/std computed over every image.
    stat_values: Vec<Vec<f64>>,
}

impl Plan {
    fn new(cfg: LoaderBuilder, pkg: Package, ids: &[String]) -> Result<Plan, Error> {
        let set = cfg.set.clone().unwrap_or_default();
        let num_classes = pkg
            .manifest()
            .classes
            .iter()
            .map(|c| i64::from(c.id))
            .max()
            .unwrap_or(1)
            .max(1)
            + 1;
        let mut plan = Plan {
            cfg,
            pkg,
            set,
            files: HashMap::new(),
            num_classes,
            sources: Vec::new(),
            planes: Vec::new(),
            channels_n: None,
            whole_size: None,
            stat_values: Vec::new(),
        };
        if plan.cfg.task != TaskKind::Images {
            plan.files = plan.set_files(ids)?;
        }
        Ok(plan)
    }

    fn task_err(&self, message: String) -> Error {
        Error::Task {
            task: self.cfg.task.name(),
            set: self.set.clone(),
            message,
        }
    }

    fn class_id(&self, name: Option<&str>) -> i64 {
        name.and_then(|n| self.pkg.manifest().class(n))
            .map_or(1, |c| i64::from(c.id))
    }

    /// The set's file per image; every served image needs one.
    fn set_files(&self, ids: &[String]) -> Result<HashMap<String, SetFile>, Error> {
        let mut files = HashMap::new();
        for f in vectors::set_files(&self.pkg, &self.set)
            .map_err(|e| self.task_err(crate::io_error::chain(&e)))?
        {
            let image = match &f {
                SetFile::Vector { image, .. } | SetFile::Mask { image, .. } => image.clone(),
            };
            files.insert(image, f);
        }
        let missing: Vec<&str> = ids
            .iter()
            .filter(|i| !files.contains_key(*i))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(self.task_err(format!(
                "no annotations for {} of the {} images served: {}",
                missing.len(),
                ids.len(),
                missing.join(", ")
            )));
        }
        Ok(files)
    }

    /// Adds image `si`: its arrays, targets, normalisation and planes.
    fn add_image(&mut self, si: usize, id: &str) -> Result<(), Error> {
        let img = self.open_level(id)?;
        let channels = self.channels(&img, id)?;
        let lvl = &img.ms.levels[self.cfg.level];
        let image = ArrayReader::open(2 * si as u32, id, &img.ms.root, &lvl.path, img.ms.dtype)?;
        let label = self.label(si, id, &img)?;
        let (objects, class) = self.objects(id, &img)?;
        let norm = self.normalisation(&img, &channels, id)?;
        let (ys, xs) = self.window(id, img.h, img.w)?;
        self.add_planes(si, id, &img, label.as_ref(), &objects, ys, xs)?;
        let (label, value_class) = match label {
            Some(l) => (Some((l.reader, l.conv)), l.value_class),
            None => (None, HashMap::new()),
        };
        self.sources.push(Source {
            id: id.to_owned(),
            image,
            c_axis: img.c_axis,
            channels,
            norm,
            label,
            value_class,
            objects,
            class,
        });
        Ok(())
    }

    /// Opens an image and checks its level and axes.
    fn open_level(&self, id: &str) -> Result<ImageLevel, Error> {
        let ms = self
            .pkg
            .open_image(id)
            .map_err(|e| image_err(id, crate::io_error::chain(&e)))?;
        let level = self.cfg.level;
        let Some(lvl) = ms.levels.get(level) else {
            return Err(image_err(
                id,
                format!("has {} levels; level {level} asked", ms.levels.len()),
            ));
        };
        let n = ms.axes.len();
        if n < 2 || ms.axes[n - 2].name != "y" || ms.axes[n - 1].name != "x" {
            return Err(image_err(
                id,
                format!("axes {} do not end in y, x", ms.axes_string()),
            ));
        }
        let shape = lvl.shape.clone();
        let shape0 = &ms.levels[0].shape;
        let (h, w) = (shape[n - 2], shape[n - 1]);
        // Level-0 pixels per pixel of this level: the ratio of the levels' scales (exact, e.g.
        // 2^l), not of their shapes (rounded up at odd sizes).
        let factor = |a: usize| {
            let (s0, sl) = (
                ms.levels[0].scale.get(a).copied().unwrap_or(1.0),
                lvl.scale.get(a).copied().unwrap_or(1.0),
            );
            if s0 > 0.0 && sl > 0.0 && (sl / s0).is_finite() {
                sl / s0
            } else {
                shape0[a] as f64 / shape[a] as f64
            }
        };
        let (sy, sx) = (factor(n - 2), factor(n - 1));
        let (c_axis, plane_axes) = axis_roles(&ms.axes);
        Ok(ImageLevel {
            ms,
            shape,
            h,
            w,
            sy,
            sx,
            c_axis,
            plane_axes,
        })
    }

    /// The channels served from this image; every image serves as many.
    fn channels(&mut self, img: &ImageLevel, id: &str) -> Result<Vec<u64>, Error> {
        let n_ch = img.c_axis.map_or(1, |a| img.shape[a]);
        let channels: Vec<u64> = match &self.cfg.channels {
            Some(v) => {
                if let Some(&c) = v.iter().find(|&&c| c >= n_ch) {
                    return Err(image_err(
                        id,
                        format!("has {n_ch} channels; channel {c} asked"),
                    ));
                }
                v.clone()
            }
            None => (0..n_ch).collect(),
        };
        if *self.channels_n.get_or_insert(channels.len()) != channels.len() {
            return bad(format!(
                "image {id:?} has {} channels, earlier images {}; select channels (--channels) so that all agree",
                channels.len(),
                self.channels_n.unwrap_or(0)
            ));
        }
        Ok(channels)
    }

    /// The label image of `id`, when the set stores masks: checked against the image and the
    /// task, with the conversion of its values.
    fn label(&mut self, si: usize, id: &str, img: &ImageLevel) -> Result<Option<LabelPlan>, Error> {
        let Some(SetFile::Mask {
            label: name, kind, ..
        }) = self.files.get(id)
        else {
            return Ok(None);
        };
        let (name, kind) = (name.clone(), *kind);
        let level = self.cfg.level;
        let task = self.cfg.task;
        let lms = img
            .ms
            .label(&name)
            .map_err(|e| image_err(id, crate::io_error::chain(&e)))?;
        let Some(ll) = lms.levels.get(level) else {
            return Err(image_err(
                id,
                format!("label {name:?} has no level {level}"),
            ));
        };
        check_label_shape(id, &name, level, img, &lms, &ll.shape)?;
        let shape = ll.shape.clone();
        let mut value_class = HashMap::new();
        let props = lms
            .image_label
            .as_ref()
            .map(vectors::label_classes)
            .unwrap_or_default();
        for (v, c) in &props {
            value_class.insert(*v, self.class_id(Some(c)));
        }
        if kind == MaskKind::Semantic
            && matches!(
                task,
                TaskKind::Instance | TaskKind::Detection | TaskKind::Points
            )
        {
            return Err(self.task_err(format!(
                "image {id:?}: the set holds a semantic mask (one value per class); task {} needs instance labels (one value per object)",
                task.name()
            )));
        }
        let conv = match (task, kind) {
            (TaskKind::Semantic, MaskKind::Semantic) => Conv::Cast,
            (TaskKind::Semantic, MaskKind::Instance) if !value_class.is_empty() => {
                Conv::Map(value_class.clone())
            }
            (TaskKind::Semantic, MaskKind::Instance) => Conv::Binary,
            (TaskKind::Classification, _) => {
                return Err(self.task_err(format!("image {id:?} has a mask in this set; classification needs image-level class labels (a GeoJSON set)")));
            }
            _ => Conv::Cast,
        };
        if task == TaskKind::Semantic && kind == MaskKind::Semantic {
            // Values are class ids; the largest one sets the class count.
            if let Some(max) = max_label_value(&lms) {
                self.num_classes = self.num_classes.max(max + 1);
            }
        }
        let reader = ArrayReader::open(2 * si as u32 + 1, id, &lms.root, &ll.path, lms.dtype)?;
        Ok(Some(LabelPlan {
            ms: lms,
            reader,
            conv,
            value_class,
            shape,
        }))
    }

    /// The objects of `id`'s GeoJSON file, in loader-level pixels, and its image-level class;
    /// the task must find what it needs there.
    fn objects(&self, id: &str, img: &ImageLevel) -> Result<(Vec<Obj>, Option<i64>), Error> {
        let mut objects = Vec::new();
        let Some(SetFile::Vector { path, .. }) = self.files.get(id) else {
            return Ok((objects, None));
        };
        let task = self.cfg.task;
        let c = geojson::read(path, geojson::ReadOptions::default())
            .map_err(|e| self.task_err(format!("image {id:?}: {}", crate::io_error::chain(&e))))?
            .collection;
        let class = c
            .image_labels
            .first()
            .map(|l| self.class_id(Some(&l.class)));
        for (k, o) in c.objects.iter().enumerate() {
            let g = scale_geometry(&o.geometry, img.sx, img.sy);
            let Some(b) = g.bounds() else { continue };
            objects.push(Obj {
                class: self.class_id(o.class()),
                instance: o.label().map_or(k as i64 + 1, |l| l as i64),
                bounds: b,
                geometry: g,
            });
        }
        let usable = match task {
            TaskKind::Points => objects
                .iter()
                .any(|o| matches!(o.geometry, Geometry::Point(_) | Geometry::MultiPoint(_))),
            TaskKind::Classification => class.is_some(),
            TaskKind::Images => true,
            _ => objects.iter().any(|o| !o.geometry.polygons().is_empty()),
        };
        if !usable {
            return Err(self.task_err(format!(
                "image {id:?} has no {} in this set",
                match task {
                    TaskKind::Points => "points",
                    TaskKind::Classification => "image-level class label",
                    _ => "polygons or boxes",
                }
            )));
        }
        Ok((objects, class))
    }

    /// One conversion per served channel; mean/std over every image is set in `finish`.
    fn normalisation(
        &mut self,
        img: &ImageLevel,
        channels: &[u64],
        id: &str,
    ) -> Result<Vec<Conv<f32>>, Error> {
        let mut norm = Vec::new();
        for (ci, &ch) in channels.iter().enumerate() {
            match &self.cfg.normalize {
                Normalize::None => norm.push(Conv::Affine {
                    offset: 0.0,
                    scale: 1.0,
                }),
                Normalize::Percentile { low, high } => {
                    let mut v = channel_values(&img.ms, img.c_axis, ch, id)?;
                    v.sort_by(f64::total_cmp);
                    let (lo, hi) = (percentile(&v, *low), percentile(&v, *high));
                    let span = (hi - lo).max(1e-20);
                    norm.push(Conv::Affine {
                        offset: -lo,
                        scale: 1.0 / span,
                    });
                }
                Normalize::MeanStd(Some((mean, std))) => {
                    let (Some(&mu), Some(&sd)) = (mean.get(ci), std.get(ci)) else {
                        return bad(format!(
                            "mean/std given for {} channels, {} served",
                            mean.len().min(std.len()),
                            channels.len()
                        ));
                    };
                    norm.push(Conv::Affine {
                        offset: -f64::from(mu),
                        scale: 1.0 / f64::from(sd).max(1e-12),
                    });
                }
                Normalize::MeanStd(None) => {
                    if self.stat_values.len() <= ci {
                        self.stat_values.resize(ci + 1, Vec::new());
                    }
                    self.stat_values[ci].extend(channel_values(&img.ms, img.c_axis, ch, id)?);
                    norm.push(Conv::Affine {
                        offset: 0.0,
                        scale: 1.0,
                    });
                }
            }
        }
        Ok(norm)
    }

    /// The sampled rows and columns of an `h`×`w` plane; the patch (or whole-image size)
    /// must fit in them.
    fn window(&mut self, id: &str, h: u64, w: u64) -> Result<(Range<u64>, Range<u64>), Error> {
        let cfg = &self.cfg;
        let (ys, xs) = match &cfg.window {
            Some((ys, xs)) => {
                if ys.end > h || xs.end > w || ys.start >= ys.end || xs.start >= xs.end {
                    return Err(image_err(
                        id,
                        format!(
                            "window rows {ys:?} × columns {xs:?} is outside its {h}×{w} pixels"
                        ),
                    ));
                }
                (ys.clone(), xs.clone())
            }
            None => (0..h, 0..w),
        };
        let (wh, ww) = (ys.end - ys.start, xs.end - xs.start);
        let what = if cfg.window.is_some() {
            "the sampling window of image"
        } else {
            "image"
        };
        let too_large = |patch| Error::PatchTooLarge {
            what,
            image: id.to_string(),
            patch,
            height: wh,
            width: ww,
            level: cfg.level,
        };
        if cfg.sampling == Sampling::Whole {
            let size = match cfg.augment.crop {
                Some(c) if c > wh.min(ww) => return Err(too_large(c)),
                Some(c) => (c, c),
                None => (wh, ww),
            };
            if *self.whole_size.get_or_insert(size) != size && cfg.batch_size > 1 {
                let first = self.whole_size.unwrap_or_default();
                return bad(format!(
                    "whole images of different sizes ({}×{} and {}×{}, image {id:?}) cannot share a batch; use batch size 1, --crop or patches",
                    first.0, first.1, size.0, size.1
                ));
            }
        } else if cfg.patch > wh || cfg.patch > ww {
            return Err(too_large(cfg.patch));
        }
        Ok((ys, xs))
    }

    /// Adds every plane of image `si` with its sampling grid and foreground cells.
    #[allow(clippy::too_many_arguments)]
    fn add_planes(
        &mut self,
        si: usize,
        id: &str,
        img: &ImageLevel,
        label: Option<&LabelPlan>,
        objects: &[Obj],
        ys: Range<u64>,
        xs: Range<u64>,
    ) -> Result<(), Error> {
        let cfg = &self.cfg;
        let (wh, ww) = (ys.end - ys.start, xs.end - xs.start);
        let stride = match cfg.sampling {
            Sampling::Grid { stride } => stride.unwrap_or(cfg.patch).clamp(1, cfg.patch),
            _ => cfg.patch,
        };
        let gy: Vec<u64> = grid_positions(wh, cfg.patch.min(wh), stride)
            .iter()
            .map(|p| p + ys.start)
            .collect();
        let gx: Vec<u64> = grid_positions(ww, cfg.patch.min(ww), stride)
            .iter()
            .map(|p| p + xs.start)
            .collect();
        let plane_sizes: Vec<u64> = img.plane_axes.iter().map(|&a| img.shape[a]).collect();
        let n_planes: u64 = plane_sizes.iter().product();
        let want_fg = matches!(cfg.sampling, Sampling::Random { foreground } if foreground > 0.0);
        for p in 0..n_planes {
            let (plane, fixed) = plane_indices(p, &plane_sizes, &img.plane_axes, img.ms.axes.len());
            let label_fixed = label.map_or_else(Vec::new, |l| label_indices(l, img, &fixed));
            let fg = match label {
                _ if !want_fg => Vec::new(),
                Some(l) => label_foreground(&l.ms, &label_fixed, (img.h, img.w), &ys, &xs, id)?,
                None => object_foreground(objects, &ys, &xs),
            };
            self.planes.push(PlaneRef {
                source: si,
                fixed,
                label_fixed,
                plane,
                ys: ys.clone(),
                xs: xs.clone(),
                gy: gy.clone(),
                gx: gx.clone(),
                fg,
            });
        }
        Ok(())
    }

    /// Sets what needs every image (mean/std, class count, sample slots) and checks that
    /// there is something to sample.
    fn finish(mut self) -> Result<Loader, Error> {
        let cfg = &self.cfg;
        if let Normalize::MeanStd(None) = cfg.normalize {
            for (ci, v) in self.stat_values.iter().enumerate() {
                let n = v.len().max(1) as f64;
                let mean = v.iter().sum::<f64>() / n;
                let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
                    .sqrt()
                    .max(1e-12);
                for s in &mut self.sources {
                    s.norm[ci] = Conv::Affine {
                        offset: -mean,
                        scale: 1.0 / sd,
                    };
                }
            }
        }
        if cfg.task == TaskKind::Classification {
            self.num_classes = self.num_classes.max(
                self.sources
                    .iter()
                    .filter_map(|s| s.class)
                    .max()
                    .unwrap_or(0)
                    + 1,
            );
        }
        let planes = &self.planes;
        let mut slots = Vec::with_capacity(planes.len() + 1);
        slots.push(0u64);
        for p in planes {
            let last = *slots.last().expect("non-empty");
            slots.push(last + (p.gy.len() * p.gx.len()) as u64);
        }
        let grid_total = *slots.last().expect("non-empty");
        if planes.is_empty() {
            return bad("the images have no planes (an axis of length 0)".into());
        }
        if let Sampling::Random { foreground } = cfg.sampling {
            if foreground > 0.0 && planes.iter().all(|p| p.fg.is_empty()) {
                return Err(self.task_err(
                    "foreground sampling asked, but no annotated pixel was found in the served images"
                        .into(),
                ));
            }
        }
        let n_samples = match cfg.sampling {
            Sampling::Whole => planes.len() as u64,
            Sampling::Grid { .. } => grid_total,
            Sampling::Random { .. } => cfg.samples_per_epoch.unwrap_or(grid_total),
        };
        let out = match cfg.sampling {
            Sampling::Whole => self.whole_size.unwrap_or((cfg.patch, cfg.patch)),
            _ => cfg.augment.crop.map_or((cfg.patch, cfg.patch), |c| (c, c)),
        };
        let cache = ChunkCache::new(cfg.cache_bytes);
        Ok(Loader {
            inner: Arc::new(Inner {
                channels: self.channels_n.unwrap_or(1),
                cfg: self.cfg,
                sources: self.sources,
                planes: self.planes,
                slots,
                n_samples,
                out,
                num_classes: self.num_classes,
                cache,
                counters: Counters::default(),
                pool_f32: Default::default(),
                pool_i64: Default::default(),
            }),
        })
    }
}

/// The label's rows and columns must match the image's, its other axes too (or have size 1).
fn check_label_shape(
    id: &str,
    name: &str,
    level: usize,
    img: &ImageLevel,
    lms: &Multiscale,
    label_shape: &[u64],
) -> Result<(), Error> {
    let (h, w) = (img.h, img.w);
    let ln = lms.axes.len();
    if label_shape[ln - 2] != h || label_shape[ln - 1] != w {
        return Err(image_err(
            id,
            format!(
                "label {name:?} level {level} is {}×{}, the image {h}×{w}",
                label_shape[ln - 2],
                label_shape[ln - 1]
            ),
        ));
    }
    for (a, ax) in lms.axes.iter().enumerate().take(ln - 2) {
        let image_size = img
            .ms
            .axes
            .iter()
            .position(|b| b.name == ax.name)
            .map(|b| img.shape[b]);
        if image_size != Some(label_shape[a]) && label_shape[a] != 1 {
            return Err(image_err(
                id,
                format!(
                    "label {name:?} has {} {:?} planes, the image {}",
                    label_shape[a],
                    ax.name,
                    image_size.map_or("none".to_string(), |n| n.to_string())
                ),
            ));
        }
    }
    Ok(())
}

/// The largest `label-value` of a label image's `colors`, when it lists them.
fn max_label_value(lms: &Multiscale) -> Option<i64> {
    lms.image_label
        .as_ref()
        .and_then(|il| il.get("colors"))
        .and_then(|c| c.as_array())
        .map(|c| {
            c.iter()
                .filter_map(|e| e.get("label-value").and_then(|v| v.as_i64()))
                .max()
                .unwrap_or(0)
        })
}

/// Plane `p` (row-major over `plane_sizes`) as indices along the plane axes, and as indices of
/// every image axis but y and x.
fn plane_indices(
    p: u64,
    plane_sizes: &[u64],
    plane_axes: &[usize],
    n_axes: usize,
) -> (Vec<u64>, Vec<u64>) {
    let mut rest = p;
    let mut plane = vec![0u64; plane_axes.len()];
    for k in (0..plane_axes.len()).rev() {
        plane[k] = rest % plane_sizes[k];
        rest /= plane_sizes[k];
    }
    let mut fixed = vec![0u64; n_axes - 2];
    for (k, &a) in plane_axes.iter().enumerate() {
        fixed[a] = plane[k];
    }
    (plane, fixed)
}

/// The label array's indices (but y and x) of the image plane at `fixed`.
fn label_indices(label: &LabelPlan, img: &ImageLevel, fixed: &[u64]) -> Vec<u64> {
    let axes = &label.ms.axes;
    axes.iter()
        .take(axes.len().saturating_sub(2))
        .enumerate()
        .map(|(la, ax)| {
            // A label axis of size 1 applies to every plane of the image.
            if label.shape.get(la) == Some(&1) {
                return 0;
            }
            img.ms
                .axes
                .iter()
                .position(|a| a.name == ax.name)
                .map_or(0, |a| fixed[a])
        })
        .collect()
}

/// The objects' bounding boxes `[y, x, h, w]` inside the window.
fn object_foreground(objects: &[Obj], ys: &Range<u64>, xs: &Range<u64>) -> Vec<[u64; 4]> {
    let mut fg = Vec::new();
    for o in objects {
        let [x0, y0, x1, y1] = o.bounds;
        let (y0, x0) = (
            y0.max(ys.start as f64) as u64,
            x0.max(xs.start as f64) as u64,
        );
        // At least the pixel holding a point (a point's bounds are empty).
        let y1 = (y1.ceil() as u64).max(y0 + 1).min(ys.end);
        let x1 = (x1.ceil() as u64).max(x0 + 1).min(xs.end);
        if y1 > y0 && x1 > x0 {
            fg.push([y0, x0, y1 - y0, x1 - x0]);
        }
    }
    fg
}

/// Foreground cells of one label plane, from its coarsest level, in loader-level pixels.
fn label_foreground(
    lms: &Multiscale,
    label_fixed: &[u64],
    (h, w): (u64, u64),
    ys: &Range<u64>,
    xs: &Range<u64>,
    id: &str,
) -> Result<Vec<[u64; 4]>, Error> {
    // The finest level of at most 2^22 pixels per plane: cells small enough to keep small
    // objects (a coarser mode-downsampled level loses them), bounded memory.
    let n = lms.axes.len();
    let l = (0..lms.levels.len())
        .find(|&l| {
            let s = &lms.levels[l].shape;
            s[n - 2] * s[n - 1] <= 1 << 22
        })
        .unwrap_or(lms.levels.len() - 1);
    let shape = &lms.levels[l].shape;
    let (ch, cw) = (shape[n - 2], shape[n - 1]);
    let mut region: Vec<Range<u64>> = label_fixed.iter().map(|&i| i..i + 1).collect();
    region.push(0..ch);
    region.push(0..cw);
    let d = lms.read_region(l, &region).map_err(|e| {
        image_err(
            id,
            format!("label level {l}: {}", crate::io_error::chain(&e)),
        )
    })?;
    let v = values_f64(&d);
    let (cy, cx) = (h.div_ceil(ch), w.div_ceil(cw));
    let mut out = Vec::new();
    for (i, &x) in v.iter().enumerate() {
        if x != 0.0 {
            let (y0, x0) = ((i as u64 / cw) * cy, (i as u64 % cw) * cx);
            let (y1, x1) = ((y0 + cy).min(ys.end), (x0 + cx).min(xs.end));
            let (y0, x0) = (y0.max(ys.start), x0.max(xs.start));
            if y1 > y0 && x1 > x0 {
                out.push([y0, x0, y1 - y0, x1 - x0]);
            }
        }
    }
    Ok(out)
}
