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
use crate::metadata::MaskKind;
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
    crate::with_pixels!(d, v => v.iter().map(|&x| to_f64(x)).collect())
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
    let bad = |m: String| Err(Error::Config(m));
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
    let pkg = open(&cfg.dir)?;
    let m = pkg.manifest();
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
    let task = cfg.task;
    let set = cfg.set.clone().unwrap_or_default();
    let task_err = |message: String| Error::Task {
        task: task.name(),
        set: set.clone(),
        message,
    };
    let mut files: HashMap<String, SetFile> = HashMap::new();
    if task != TaskKind::Images {
        for f in vectors::set_files(&pkg, &set).map_err(|e| task_err(crate::io_error::chain(&e)))? {
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
            return Err(task_err(format!(
                "no annotations for {} of the {} images served: {}",
                missing.len(),
                ids.len(),
                missing.join(", ")
            )));
        }
    }
    let class_id = |name: Option<&str>| -> i64 {
        name.and_then(|n| m.class(n)).map_or(1, |c| i64::from(c.id))
    };
    let mut num_classes = m
        .classes
        .iter()
        .map(|c| i64::from(c.id))
        .max()
        .unwrap_or(1)
        .max(1)
        + 1;
    let mut sources = Vec::new();
    let mut planes = Vec::new();
    let mut channels_n = None;
    let mut whole_size: Option<(u64, u64)> = None;
    let mut stat_values: Vec<Vec<f64>> = Vec::new();
    for (si, id) in ids.iter().enumerate() {
        let ms = pkg
            .open_image(id)
            .map_err(|e| image_err(id, crate::io_error::chain(&e)))?;
        let level = cfg.level;
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
        let n_ch = c_axis.map_or(1, |a| shape[a]);
        let channels: Vec<u64> = match &cfg.channels {
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
        if *channels_n.get_or_insert(channels.len()) != channels.len() {
            return bad(format!(
                "image {id:?} has {} channels, earlier images {}; select channels (--channels) so that all agree",
                channels.len(),
                channels_n.unwrap_or(0)
            ));
        }
        let image = ArrayReader::open(2 * si as u32, id, &ms.root, &lvl.path, ms.dtype)?;
        // Label image, when the set stores masks.
        let mut label = None;
        let mut value_class = HashMap::new();
        let mut label_axes: Vec<String> = Vec::new();
        let mut label_shape: Vec<u64> = Vec::new();
        let mut label_ms = None;
        if let Some(SetFile::Mask {
            label: name, kind, ..
        }) = files.get(id)
        {
            let lms = ms
                .label(name)
                .map_err(|e| image_err(id, crate::io_error::chain(&e)))?;
            let Some(ll) = lms.levels.get(level) else {
                return Err(image_err(
                    id,
                    format!("label {name:?} has no level {level}"),
                ));
            };
            let ln = lms.axes.len();
            if ll.shape[ln - 2] != h || ll.shape[ln - 1] != w {
                return Err(image_err(
                    id,
                    format!(
                        "label {name:?} level {level} is {}×{}, the image {h}×{w}",
                        ll.shape[ln - 2],
                        ll.shape[ln - 1]
                    ),
                ));
            }
            for (a, ax) in lms.axes.iter().enumerate().take(ln - 2) {
                let image_size = ms
                    .axes
                    .iter()
                    .position(|b| b.name == ax.name)
                    .map(|b| shape[b]);
                if image_size != Some(ll.shape[a]) && ll.shape[a] != 1 {
                    return Err(image_err(
                        id,
                        format!(
                            "label {name:?} has {} {:?} planes, the image {}",
                            ll.shape[a],
                            ax.name,
                            image_size.map_or("none".to_string(), |n| n.to_string())
                        ),
                    ));
                }
            }
            label_shape = ll.shape.clone();
            let props = lms
                .image_label
                .as_ref()
                .map(vectors::label_classes)
                .unwrap_or_default();
            for (v, c) in &props {
                value_class.insert(*v, class_id(Some(c)));
            }
            if *kind == MaskKind::Semantic
                && matches!(
                    task,
                    TaskKind::Instance | TaskKind::Detection | TaskKind::Points
                )
            {
                return Err(task_err(format!(
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
                    return Err(task_err(format!("image {id:?} has a mask in this set; classification needs image-level class labels (a GeoJSON set)")));
                }
                _ => Conv::Cast,
            };
            if task == TaskKind::Semantic && *kind == MaskKind::Semantic {
                // Values are class ids; the largest one sets the class count.
                if let Some(max) = lms
                    .image_label
                    .as_ref()
                    .and_then(|il| il.get("colors"))
                    .and_then(|c| c.as_array())
                    .map(|c| {
                        c.iter()
                            .filter_map(|e| e.get("label-value").and_then(|v| v.as_i64()))
                            .max()
                            .unwrap_or(0)
                    })
                {
                    num_classes = num_classes.max(max + 1);
                }
            }
            let reader = ArrayReader::open(2 * si as u32 + 1, id, &lms.root, &ll.path, lms.dtype)?;
            label_axes = lms.axes.iter().map(|a| a.name.clone()).collect();
            label = Some((reader, conv));
            label_ms = Some(lms);
        }
        let mut objects = Vec::new();
        let mut class = None;
        if let Some(SetFile::Vector { path, .. }) = files.get(id) {
            let c = geojson::read(path, geojson::ReadOptions::default())
                .map_err(|e| task_err(format!("image {id:?}: {}", crate::io_error::chain(&e))))?
                .collection;
            class = c.image_labels.first().map(|l| class_id(Some(&l.class)));
            for (k, o) in c.objects.iter().enumerate() {
                let g = scale_geometry(&o.geometry, sx, sy);
                let Some(b) = g.bounds() else { continue };
                objects.push(Obj {
                    class: class_id(o.class()),
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
                return Err(task_err(format!(
                    "image {id:?} has no {} in this set",
                    match task {
                        TaskKind::Points => "points",
                        TaskKind::Classification => "image-level class label",
                        _ => "polygons or boxes",
                    }
                )));
            }
        }
        // Normalisation.
        let mut norm = Vec::new();
        for (ci, &ch) in channels.iter().enumerate() {
            match &cfg.normalize {
                Normalize::None => norm.push(Conv::Affine {
                    offset: 0.0,
                    scale: 1.0,
                }),
                Normalize::Percentile { low, high } => {
                    let mut v = channel_values(&ms, c_axis, ch, id)?;
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
                    if stat_values.len() <= ci {
                        stat_values.resize(ci + 1, Vec::new());
                    }
                    stat_values[ci].extend(channel_values(&ms, c_axis, ch, id)?);
                    norm.push(Conv::Affine {
                        offset: 0.0,
                        scale: 1.0,
                    });
                }
            }
        }
        // Planes.
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
        if cfg.sampling == Sampling::Whole {
            let size = match cfg.augment.crop {
                Some(c) if c > wh.min(ww) => {
                    return Err(Error::PatchTooLarge {
                        what,
                        image: id.clone(),
                        patch: c,
                        height: wh,
                        width: ww,
                        level,
                    });
                }
                Some(c) => (c, c),
                None => (wh, ww),
            };
            if *whole_size.get_or_insert(size) != size && cfg.batch_size > 1 {
                return bad(format!(
                    "whole images of different sizes ({}×{} and {}×{}, image {id:?}) cannot share a batch; use batch size 1, --crop or patches",
                    whole_size.unwrap_or_default().0, whole_size.unwrap_or_default().1, size.0, size.1
                ));
            }
        } else if cfg.patch > wh || cfg.patch > ww {
            return Err(Error::PatchTooLarge {
                what,
                image: id.clone(),
                patch: cfg.patch,
                height: wh,
                width: ww,
                level,
            });
        }
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
        let plane_sizes: Vec<u64> = plane_axes.iter().map(|&a| shape[a]).collect();
        let n_planes: u64 = plane_sizes.iter().product();
        let want_fg = matches!(cfg.sampling, Sampling::Random { foreground } if foreground > 0.0);
        for p in 0..n_planes {
            let mut rest = p;
            let mut plane = vec![0u64; plane_axes.len()];
            for k in (0..plane_axes.len()).rev() {
                plane[k] = rest % plane_sizes[k];
                rest /= plane_sizes[k];
            }
            let mut fixed = vec![0u64; n - 2];
            for (k, &a) in plane_axes.iter().enumerate() {
                fixed[a] = plane[k];
            }
            let label_fixed: Vec<u64> = label_axes
                .iter()
                .take(label_axes.len().saturating_sub(2))
                .enumerate()
                .map(|(la, name)| {
                    // A label axis of size 1 applies to every plane of the image.
                    if label_shape.get(la) == Some(&1) {
                        return 0;
                    }
                    ms.axes
                        .iter()
                        .position(|a| &a.name == name)
                        .map_or(0, |a| fixed[a])
                })
                .collect();
            let mut fg = Vec::new();
            if want_fg {
                if let Some(lms) = &label_ms {
                    fg = label_foreground(lms, &label_fixed, (h, w), &ys, &xs, id)?;
                } else {
                    for o in &objects {
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
                }
            }
            planes.push(PlaneRef {
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
        sources.push(Source {
            id: id.clone(),
            image,
            c_axis,
            channels,
            norm,
            label,
            value_class,
            objects,
            class,
        });
    }
    if let Normalize::MeanStd(None) = cfg.normalize {
        for (ci, v) in stat_values.iter().enumerate() {
            let n = v.len().max(1) as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-12);
            for s in &mut sources {
                s.norm[ci] = Conv::Affine {
                    offset: -mean,
                    scale: 1.0 / sd,
                };
            }
        }
    }
    if task == TaskKind::Classification {
        num_classes =
            num_classes.max(sources.iter().filter_map(|s| s.class).max().unwrap_or(0) + 1);
    }
    let mut slots = Vec::with_capacity(planes.len() + 1);
    slots.push(0u64);
    for p in &planes {
        let last = *slots.last().expect("non-empty");
        slots.push(last + (p.gy.len() * p.gx.len()) as u64);
    }
    let grid_total = *slots.last().expect("non-empty");
    if planes.is_empty() {
        return bad("the images have no planes (an axis of length 0)".into());
    }
    if let Sampling::Random { foreground } = cfg.sampling {
        if foreground > 0.0 && planes.iter().all(|p| p.fg.is_empty()) {
            return Err(task_err(
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
        Sampling::Whole => whole_size.unwrap_or((cfg.patch, cfg.patch)),
        _ => cfg.augment.crop.map_or((cfg.patch, cfg.patch), |c| (c, c)),
    };
    let cache = ChunkCache::new(cfg.cache_bytes);
    Ok(Loader {
        inner: Arc::new(Inner {
            channels: channels_n.unwrap_or(1),
            cfg,
            sources,
            planes,
            slots,
            n_samples,
            out,
            num_classes,
            cache,
            counters: Counters::default(),
            pool_f32: Default::default(),
            pool_i64: Default::default(),
        }),
    })
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
