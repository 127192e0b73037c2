//! One image of a package as a picture with its annotations drawn on top: masks coloured per
//! label, polygons and boxes outlined, points as crosses, tracks as paths.
//!
//! The picture is read from the pyramid level closest above the requested size (so a preview
//! of a terapixel slide reads a few megapixels), contrast-stretched per channel between the
//! 0.5th and 99.8th percentiles. Every overlay is drawn on its own transparent layer, in the
//! level-0 pixel convention of the package (pixel `(x, y)` covers `[x, x+1) × [y, y+1)`).

use super::canvas::Canvas;
use crate::annotations::shapes::{keys, Geometry, Object};
use crate::formats::{self, geojson, ome_zarr::Multiscale};
use crate::metadata::{AnnotationType, AxisType, Manifest, MaskKind};
use crate::package::{self, Package};
use crate::raster::Plane;
use crate::{images, tracks, vectors};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Errors of previews.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image could not be opened.
    #[error(transparent)]
    Images(#[from] images::Error),
    /// Reading pixels failed.
    #[error(transparent)]
    Format(#[from] formats::Error),
    /// Reading a GeoJSON set file failed.
    #[error(transparent)]
    Geojson(#[from] geojson::Error),
    /// Reading a tracks set failed.
    #[error(transparent)]
    Tracks(#[from] tracks::Error),
    /// Listing a set's files failed.
    #[error(transparent)]
    Vectors(#[from] vectors::Error),
    /// Writing the PNG failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// An argument does not fit the package (names the image, set or level).
    #[error("{0}")]
    Invalid(String),
    /// Encoding the PNG failed.
    #[error("{path}: PNG encoding failed: {message}")]
    Png {
        /// Output file.
        path: PathBuf,
        /// Encoder message.
        message: String,
    },
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewOptions {
    /// Pyramid level to read (0 = full resolution); `None`: the coarsest level at least
    /// `max_size` wide or high.
    pub level: Option<usize>,
    /// Longest side of the picture, in pixels; larger levels are sampled down.
    pub max_size: u32,
    /// Annotation sets to draw (`None`: every set that annotates the image).
    pub sets: Option<Vec<String>>,
    /// Time point shown (default 0).
    pub t: Option<u64>,
    /// z plane shown (default the middle one).
    pub z: Option<u64>,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            level: None,
            max_size: 1024,
            sets: None,
            t: None,
            z: None,
        }
    }
}

/// Kind of overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// A label image.
    Mask,
    /// Polygons, boxes and lines.
    Shapes,
    /// Points.
    Points,
    /// Track paths.
    Tracks,
}

impl LayerKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Mask => "mask",
            LayerKind::Shapes => "shapes",
            LayerKind::Points => "points",
            LayerKind::Tracks => "tracks",
        }
    }
}

/// One annotation set drawn on a transparent layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Annotation set id.
    pub set: String,
    /// What was drawn.
    pub kind: LayerKind,
    /// Objects drawn (labels, shapes, points, track objects).
    pub objects: usize,
    /// The layer.
    pub canvas: Canvas,
}

/// A rendered image with its overlays.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Image id.
    pub image: String,
    /// Pyramid level read.
    pub level: usize,
    /// The plane shown, e.g. `t 0/9, z 12/25, channels 0–2 of 4`.
    pub plane: String,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// The image alone, RGB.
    pub rgb: Vec<u8>,
    /// One layer per drawn set.
    pub layers: Vec<Layer>,
    /// What could not be drawn, and why.
    pub notes: Vec<String>,
}

impl Preview {
    /// The image with every layer composited, RGB.
    pub fn composite(&self) -> Vec<u8> {
        let mut rgb = self.rgb.clone();
        for l in &self.layers {
            l.canvas.over(&mut rgb);
        }
        rgb
    }
}

/// Distinct colours for sets without class colours, in set order.
const SET_COLORS: [[u8; 3]; 8] = [
    [255, 215, 0],
    [0, 229, 255],
    [255, 64, 129],
    [118, 255, 3],
    [255, 145, 0],
    [213, 0, 249],
    [255, 255, 255],
    [0, 176, 255],
];

/// Which plane of a multi-dimensional image is shown.
#[derive(Debug, Clone, Copy)]
struct Pick {
    t: u64,
    z: Option<u64>,
}

/// Renders image `image` of the package with its annotation sets.
pub fn render(pkg: &Package, image: &str, opts: &PreviewOptions) -> Result<Preview, Error> {
    let m = pkg.manifest();
    check_request(m, image, opts)?;
    let ms = pkg.open_image(image)?;
    let level = pick_level(&ms, image, opts)?;
    let n = ms.levels.len();
    let shape = &ms.levels[level].shape;
    let (lh, lw) = yx(shape);
    let (h0, w0) = yx(&ms.levels[0].shape);
    if lh.saturating_mul(lw) > 1 << 28 {
        return Err(Error::Invalid(format!(
            "level {level} of image {image:?} is {lw} × {lh} pixels; choose a coarser level (the image has {n})"
        )));
    }
    let f = (f64::from(opts.max_size) / lh.max(lw) as f64).min(1.0);
    let width = ((lw as f64 * f).round() as u32).max(1);
    let height = ((lh as f64 * f).round() as u32).max(1);

    let mut notes = Vec::new();
    let axis = |kind: AxisType, name: &str| {
        ms.axes
            .iter()
            .position(|a| a.kind == kind && (kind != AxisType::Space || a.name == name))
    };
    let t_size = axis(AxisType::Time, "t").map(|i| shape[i]).unwrap_or(1);
    let z_size = axis(AxisType::Space, "z").map(|i| shape[i]);
    let t = opts.t.unwrap_or(0);
    if t >= t_size {
        return Err(Error::Invalid(format!(
            "image {image:?} has {t_size} time point(s); t {t} does not exist"
        )));
    }
    let z = match (opts.z, z_size) {
        (Some(z), Some(nz)) if z >= nz => {
            return Err(Error::Invalid(format!(
                "image {image:?} has {nz} z plane(s); z {z} does not exist"
            )))
        }
        (Some(_), None) => {
            return Err(Error::Invalid(format!("image {image:?} has no z axis")));
        }
        (Some(z), Some(_)) => Some(z),
        (None, Some(nz)) => Some(nz / 2),
        (None, None) => None,
    };
    let pick = Pick { t, z };
    let c_size = axis(AxisType::Channel, "c").map(|i| shape[i]).unwrap_or(1);
    let shown = c_size.min(3);
    let plane = describe_plane(pick, t_size, z_size, c_size, shown);

    let rgb = image_rgb(&ms, level, pick, shown, (width, height))?;

    // Overlays, scaled from level-0 pixels to the picture.
    let sx = f64::from(width) / w0 as f64;
    let sy = f64::from(height) / h0 as f64;
    let draw = DrawCtx {
        m,
        width,
        height,
        sx,
        sy,
        has_t: t_size > 1,
        pick,
    };
    let mut layers = Vec::new();
    for (si, set) in m.annotation_sets.iter().enumerate() {
        if let Some(only) = &opts.sets {
            if !only.contains(&set.id) {
                continue;
            }
        }
        let color = SET_COLORS[si % SET_COLORS.len()];
        if set.types.contains(&AnnotationType::Tracks)
            && pkg
                .root()
                .join(package::ANNOTATIONS_DIR)
                .join(&set.id)
                .join(tracks::DESCRIPTOR)
                .is_file()
        {
            let stored = tracks::read_set(pkg, &set.id)?;
            if stored.image.as_deref() == Some(image) {
                layers.push(draw.tracks(&set.id, &stored.set.graph));
            } else if opts.sets.is_some() {
                notes.push(format!(
                    "set {:?}: its tracks belong to {}, not to {image:?}",
                    set.id,
                    stored
                        .image
                        .as_deref()
                        .map_or("no image".to_string(), |i| format!("image {i:?}"))
                ));
            }
            continue;
        }
        for file in vectors::set_files(pkg, &set.id)? {
            match file {
                vectors::SetFile::Vector { image: i, path } if i == image => {
                    let c = geojson::read(&path, geojson::ReadOptions { skip_invalid: true })?
                        .collection;
                    layers.extend(draw.shapes(&set.id, &c.objects, color));
                }
                vectors::SetFile::Mask {
                    image: i,
                    label,
                    kind,
                } if i == image => {
                    let lm = ms.label(&label)?;
                    layers.push(draw.mask(&set.id, &lm, (lh, lw), pick, kind)?);
                }
                _ => {}
            }
        }
    }
    if opts.sets.is_some() && layers.is_empty() && notes.is_empty() {
        notes.push(format!("none of the chosen sets annotates image {image:?}"));
    }
    Ok(Preview {
        image: image.to_string(),
        level,
        plane,
        width,
        height,
        rgb,
        layers,
        notes,
    })
}

/// The image and the chosen sets must exist, the picture have a size.
fn check_request(m: &Manifest, image: &str, opts: &PreviewOptions) -> Result<(), Error> {
    if m.image(image).is_none() {
        let known: Vec<&str> = m.images.iter().map(|i| i.id.as_str()).collect();
        return Err(Error::Invalid(format!(
            "no image {image:?} in the package (images: {})",
            known.join(", ")
        )));
    }
    if opts.max_size == 0 {
        return Err(Error::Invalid(
            "the picture size must be at least 1 pixel".into(),
        ));
    }
    if let Some(sets) = &opts.sets {
        for s in sets {
            if m.annotation_set(s).is_none() {
                let known: Vec<&str> = m.annotation_sets.iter().map(|s| s.id.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "no annotation set {s:?} (sets: {})",
                    known.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The level asked, else the coarsest one at least `max_size` on its longer side.
fn pick_level(ms: &Multiscale, image: &str, opts: &PreviewOptions) -> Result<usize, Error> {
    let n = ms.levels.len();
    let level = match opts.level {
        Some(l) if l >= n => {
            return Err(Error::Invalid(format!(
                "image {image:?} has {n} level(s) (0–{}); level {l} does not exist",
                n - 1
            )))
        }
        Some(l) => l,
        None => (0..n)
            .rev()
            .find(|&l| {
                let (h, w) = yx(&ms.levels[l].shape);
                h.max(w) >= u64::from(opts.max_size)
            })
            .unwrap_or(0),
    };
    Ok(level)
}

/// The plane shown, e.g. `t 0/9, z 12/25, channels 0–2 of 4`.
fn describe_plane(pick: Pick, t_size: u64, z_size: Option<u64>, c_size: u64, shown: u64) -> String {
    let t = pick.t;
    let mut plane = Vec::new();
    if t_size > 1 {
        plane.push(format!("t {t}/{t_size}"));
    }
    if let (Some(z), Some(nz)) = (pick.z, z_size) {
        plane.push(format!("z {z}/{nz}"));
    }
    if c_size > 1 {
        plane.push(if shown < c_size {
            format!("channels 0–{} of {c_size}", shown - 1)
        } else {
            format!("{c_size} channels")
        });
    }
    plane.join(", ")
}

/// The image: each shown channel sampled, stretched, and mixed into RGB.
fn image_rgb(
    ms: &Multiscale,
    level: usize,
    pick: Pick,
    shown: u64,
    (width, height): (u32, u32),
) -> Result<Vec<u8>, Error> {
    let colors: &[[f32; 3]] = match shown {
        1 => &[[1.0, 1.0, 1.0]],
        2 => &[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        _ => &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    };
    let mut acc = vec![0f32; width as usize * height as usize * 3];
    for (c, color) in colors.iter().enumerate() {
        let p = read_yx(ms, level, pick, Some(c as u64))?;
        let vals = sample(&p, width, height);
        let (lo, hi) = stretch(&vals);
        for (i, v) in vals.iter().enumerate() {
            let g = if hi > lo {
                ((v - lo) / (hi - lo)).clamp(0.0, 1.0) as f32
            } else {
                0.0
            };
            for k in 0..3 {
                acc[i * 3 + k] += g * color[k];
            }
        }
    }
    let rgb: Vec<u8> = acc
        .iter()
        .map(|v| (v.min(1.0) * 255.0).round() as u8)
        .collect();
    Ok(rgb)
}

/// Writes a picture as PNG (temporary file, then rename).
pub fn write_png(path: &Path, width: u32, height: u32, pixels: &[u8]) -> Result<(), Error> {
    let color = if pixels.len() == width as usize * height as usize * 4 {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut buf = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut buf),
        pixels,
        width,
        height,
        color,
    )
    .map_err(|e| Error::Png {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    package::write_output(path, &buf)?;
    Ok(())
}

fn yx(shape: &[u64]) -> (u64, u64) {
    let n = shape.len();
    (shape[n - 2], shape[n - 1])
}

/// Reads the y–x plane of `level` at the picked t, z (by axis kind) and channel.
fn read_yx(ms: &Multiscale, level: usize, pick: Pick, c: Option<u64>) -> Result<Plane, Error> {
    let shape = &ms.levels[level].shape;
    let n = shape.len();
    let mut region: Vec<Range<u64>> = Vec::with_capacity(n);
    for (k, a) in ms.axes.iter().enumerate().take(n - 2) {
        let i = match a.kind {
            AxisType::Time => pick.t,
            AxisType::Channel => c.unwrap_or(0),
            AxisType::Space if a.name == "z" => pick.z.unwrap_or(shape[k] / 2),
            AxisType::Space => 0,
        };
        let i = i.min(shape[k].saturating_sub(1));
        region.push(i..i + 1);
    }
    region.push(0..shape[n - 2]);
    region.push(0..shape[n - 1]);
    let data = ms.read_region(level, &region)?;
    Ok(Plane::new(
        shape[n - 2] as usize,
        shape[n - 1] as usize,
        data,
    ))
}

/// Nearest-neighbour samples of a plane at the picture's pixel centres, as `f64`.
fn sample(p: &Plane, width: u32, height: u32) -> Vec<f64> {
    let xs: Vec<usize> = (0..width)
        .map(|x| {
            (((f64::from(x) + 0.5) * p.width as f64 / f64::from(width)) as usize).min(p.width - 1)
        })
        .collect();
    let ys: Vec<usize> = (0..height)
        .map(|y| {
            (((f64::from(y) + 0.5) * p.height as f64 / f64::from(height)) as usize)
                .min(p.height - 1)
        })
        .collect();
    let mut out = Vec::with_capacity(xs.len() * ys.len());
    mifa_model::with_pixels!(&p.data, v => {
        for &y in &ys {
            let row = &v[y * p.width..(y + 1) * p.width];
            out.extend(xs.iter().map(|&x| to_f64(row[x])));
        }
    });
    out
}

/// Pixel value as `f64` (bool as 0/1).
fn to_f64<T: ToF64>(v: T) -> f64 {
    v.to_f64()
}

trait ToF64: Copy {
    fn to_f64(self) -> f64;
}

macro_rules! to_f64_as {
    ($($t:ty),*) => { $(impl ToF64 for $t { fn to_f64(self) -> f64 { self as f64 } })* };
}
to_f64_as!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
impl ToF64 for bool {
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// Display range: 0.5th and 99.8th percentiles of the finite samples.
fn stretch(vals: &[f64]) -> (f64, f64) {
    let mut v: Vec<f64> = vals.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.005), at(0.998));
    if hi > lo {
        (lo, hi)
    } else {
        (v[0], v[v.len() - 1])
    }
}

struct DrawCtx<'a> {
    m: &'a Manifest,
    width: u32,
    height: u32,
    sx: f64,
    sy: f64,
    has_t: bool,
    pick: Pick,
}

impl DrawCtx<'_> {
    fn at(&self, x: f64, y: f64) -> [f64; 2] {
        [x * self.sx, y * self.sy]
    }

    /// An object's colour: its own classification colour, its class's, else the set's.
    fn object_color(&self, o: &Object, set_color: [u8; 3]) -> [u8; 3] {
        let cls = o.properties.get(keys::CLASSIFICATION);
        if let Some(c) = cls
            .and_then(|c| c.get("color"))
            .and_then(Value::as_array)
            .filter(|a| a.len() >= 3)
        {
            let rgb: Vec<u8> = c
                .iter()
                .take(3)
                .filter_map(|v| v.as_u64().map(|x| x.min(255) as u8))
                .collect();
            if rgb.len() == 3 {
                return [rgb[0], rgb[1], rgb[2]];
            }
        }
        cls.and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .and_then(|n| self.m.class(n))
            .and_then(|c| c.color)
            .unwrap_or(set_color)
    }

    /// Polygons, boxes and lines on one layer, points on another.
    fn shapes(&self, set: &str, objects: &[Object], set_color: [u8; 3]) -> Vec<Layer> {
        let mut shapes = Canvas::new(self.width, self.height);
        let mut points = Canvas::new(self.width, self.height);
        let (mut n_shapes, mut n_points) = (0, 0);
        for o in objects {
            if self.has_t {
                if let Some(t) = o.properties.get(keys::T).and_then(Value::as_u64) {
                    if t != self.pick.t {
                        continue;
                    }
                }
            }
            let c = self.object_color(o, set_color);
            let solid = [c[0], c[1], c[2], 255];
            let ring = |canvas: &mut Canvas, r: &[[f64; 2]]| {
                let pts: Vec<[f64; 2]> = r.iter().map(|p| self.at(p[0], p[1])).collect();
                canvas.ring(&pts, 0.5, solid);
            };
            let line = |canvas: &mut Canvas, ps: &[crate::annotations::shapes::Point]| {
                let pts: Vec<[f64; 2]> = ps.iter().map(|p| self.at(p.x, p.y)).collect();
                canvas.polyline(&pts, 0.5, solid);
            };
            match &o.geometry {
                Geometry::Point(p) => {
                    let q = self.at(p.x, p.y);
                    points.cross(q[0], q[1], 3.0, solid);
                    n_points += 1;
                }
                Geometry::MultiPoint(ps) => {
                    for p in ps {
                        let q = self.at(p.x, p.y);
                        points.cross(q[0], q[1], 3.0, solid);
                    }
                    n_points += 1;
                }
                Geometry::LineString(ps) => {
                    line(&mut shapes, ps);
                    n_shapes += 1;
                }
                Geometry::MultiLineString(ls) => {
                    for ps in ls {
                        line(&mut shapes, ps);
                    }
                    n_shapes += 1;
                }
                Geometry::Polygon(p) => {
                    for r in std::iter::once(&p.exterior).chain(&p.holes) {
                        ring(&mut shapes, r);
                    }
                    n_shapes += 1;
                }
                Geometry::MultiPolygon(ps) => {
                    for p in ps {
                        for r in std::iter::once(&p.exterior).chain(&p.holes) {
                            ring(&mut shapes, r);
                        }
                    }
                    n_shapes += 1;
                }
            }
        }
        let mut out = Vec::new();
        if n_shapes > 0 || n_points == 0 {
            out.push(Layer {
                set: set.to_string(),
                kind: LayerKind::Shapes,
                objects: n_shapes,
                canvas: shapes,
            });
        }
        if n_points > 0 {
            out.push(Layer {
                set: set.to_string(),
                kind: LayerKind::Points,
                objects: n_points,
                canvas: points,
            });
        }
        out
    }

    /// A label image: translucent fill, opaque outlines, colours from the label's `image-label`
    /// colours, else (semantic masks) the class colours, else a colour per value.
    fn mask(
        &self,
        set: &str,
        lm: &Multiscale,
        (lh, lw): (u64, u64),
        pick: Pick,
        kind: MaskKind,
    ) -> Result<Layer, Error> {
        let level = (0..lm.levels.len())
            .find(|&l| yx(&lm.levels[l].shape) == (lh, lw))
            .or_else(|| {
                (0..lm.levels.len()).rev().find(|&l| {
                    let (h, w) = yx(&lm.levels[l].shape);
                    h >= lh.min(u64::from(self.height)) && w >= lw.min(u64::from(self.width))
                })
            })
            .unwrap_or(0);
        let (h, w) = yx(&lm.levels[level].shape);
        if h.saturating_mul(w) > 1 << 28 {
            return Err(Error::Invalid(format!(
                "set {set:?}: label {} has no level near the picture size (the nearest is {w} × {h} pixels); give it a pyramid like its image's",
                lm.root.display()
            )));
        }
        let p = read_yx(lm, level, pick, None)?;
        let vals = sample(&p, self.width, self.height);
        let mut table: HashMap<i64, [u8; 3]> = HashMap::new();
        if let Some(colors) = lm
            .image_label
            .as_ref()
            .and_then(|il| il.get("colors"))
            .and_then(Value::as_array)
        {
            for c in colors {
                let v = c.get("label-value").and_then(Value::as_i64);
                let rgba = c.get("rgba").and_then(Value::as_array);
                if let (Some(v), Some(rgba)) = (v, rgba) {
                    let k: Vec<u8> = rgba
                        .iter()
                        .filter_map(|x| x.as_u64().map(|x| x.min(255) as u8))
                        .collect();
                    if k.len() >= 3 {
                        table.insert(v, [k[0], k[1], k[2]]);
                    }
                }
            }
        }
        if kind == MaskKind::Semantic {
            for c in &self.m.classes {
                if let Some(col) = c.color {
                    table.insert(i64::from(c.id), col);
                }
            }
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let mut canvas = Canvas::new(self.width, self.height);
        let mut seen = std::collections::HashSet::new();
        for y in 0..h {
            for x in 0..w {
                let v = vals[y * w + x] as i64;
                if v == 0 {
                    continue;
                }
                seen.insert(v);
                let c = *table.entry(v).or_insert_with(|| {
                    let c = crate::formats::ome_zarr::label_color(i128::from(v));
                    [c[0], c[1], c[2]]
                });
                let edge = [(0i64, -1i64), (0, 1), (-1, 0), (1, 0)]
                    .iter()
                    .any(|(dx, dy)| {
                        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                        nx < 0
                            || ny < 0
                            || nx >= w as i64
                            || ny >= h as i64
                            || vals[ny as usize * w + nx as usize] as i64 != v
                    });
                let alpha = if edge { 235 } else { 100 };
                canvas.blend(x as i64, y as i64, [c[0], c[1], c[2], alpha]);
            }
        }
        Ok(Layer {
            set: set.to_string(),
            kind: LayerKind::Mask,
            objects: seen.len(),
            canvas,
        })
    }

    /// Tracks: each link as a segment in its lineage's colour; the objects of the shown time
    /// point as dots.
    fn tracks(&self, set: &str, g: &crate::annotations::tracks::TrackGraph) -> Layer {
        let mut canvas = Canvas::new(self.width, self.height);
        let lineage = g.lineages();
        let by_id: HashMap<u64, usize> =
            g.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        let color = |id: u64| {
            let c = crate::formats::ome_zarr::label_color(
                lineage.get(&id).copied().unwrap_or(0) as i128
            );
            [c[0], c[1], c[2], 230]
        };
        for e in &g.edges {
            if let (Some(&a), Some(&b)) = (by_id.get(&e.source), by_id.get(&e.target)) {
                let (na, nb) = (&g.nodes[a], &g.nodes[b]);
                canvas.line(self.at(na.x, na.y), self.at(nb.x, nb.y), 0.5, color(na.id));
            }
        }
        for n in &g.nodes {
            if !self.has_t || n.t == self.pick.t as i64 {
                let q = self.at(n.x, n.y);
                canvas.disc(q[0], q[1], 2.5, color(n.id));
            }
        }
        Layer {
            set: set.to_string(),
            kind: LayerKind::Tracks,
            objects: g.nodes.len(),
            canvas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_ignores_outliers_and_flat_planes() {
        let mut v: Vec<f64> = (0..1000).map(f64::from).collect();
        v.push(1e9);
        let (lo, hi) = stretch(&v);
        assert!(lo <= 6.0 && hi < 1000.0, "{lo} {hi}");
        assert_eq!(stretch(&[3.0, 3.0]), (3.0, 3.0));
        assert_eq!(stretch(&[f64::NAN]), (0.0, 0.0));
    }

    #[test]
    fn sampling_takes_pixel_centres() {
        let p = Plane::new(
            2,
            4,
            crate::raster::PixelData::U8(vec![0, 1, 2, 3, 4, 5, 6, 7]),
        );
        // One output row samples the centre row of two: row 1.
        assert_eq!(sample(&p, 2, 1), vec![5.0, 7.0]);
        assert_eq!(sample(&p, 4, 2).len(), 8);
    }
}
