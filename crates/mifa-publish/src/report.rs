//! A static HTML report of a package, to browse it before downloading it: one page
//! (`index.html`) with the study and REMBI summaries, a thumbnail per image with every annotation
//! set on its own switchable overlay, the annotation sets with object counts and coverage, class
//! counts, credit with ORCID links and the release history.
//!
//! The site needs no server: it opens from disk (`file://`), its pictures are PNG files under
//! `img/`, its styles and its few lines of script are inline, and it reads fine with scripts
//! off (every overlay is shown). It is built in a temporary sibling folder and renamed into
//! place, so a reader never sees half a site; an existing folder is replaced only when it holds
//! an earlier report (`mifa-report.json`).

use super::preview::{self, LayerKind, Preview, PreviewOptions};
use crate::formats::{self, geojson, ome_zarr::Multiscale};
use crate::info::{self, Info};
use crate::metadata::{AnnotationType, Manifest, MaskKind, Person};
use crate::package::{self, Package};
use crate::vectors;
use crate::versions::{self, Credit, Record};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Name of the marker file that tells a folder holds a mifa report (and describes it).
pub const MARKER: &str = "mifa-report.json";

/// `format` value of the marker.
const MARKER_FORMAT: &str = "mifa-report";

/// Errors of reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image could not be rendered.
    #[error("image {image:?}")]
    Preview {
        /// Image id.
        image: String,
        /// Cause.
        #[source]
        source: preview::Error,
    },
    /// Reading the package, or writing a file, failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// Reading the release records failed.
    #[error(transparent)]
    Versions(#[from] versions::Error),
    /// Listing an annotation set's files failed.
    #[error(transparent)]
    Vectors(#[from] vectors::Error),
    /// Reading a GeoJSON file (for class counts) failed.
    #[error(transparent)]
    Geojson(#[from] geojson::Error),
    /// Reading a label image (for class counts) failed.
    #[error("{}", path.display())]
    Label {
        /// The label image.
        path: PathBuf,
        /// Cause.
        #[source]
        source: formats::Error,
    },
    /// A filesystem operation on the site failed.
    #[error("{}: {action}", path.display())]
    Io {
        /// The path acted on.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The options or the output folder do not fit (names the value or the path).
    #[error("{0}")]
    Invalid(String),
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// What to put in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Most images given a thumbnail; with more images, thumbnails are spread evenly over the
    /// package's images (the page says how many are shown).
    pub max_images: usize,
    /// Longest side of a thumbnail, in pixels.
    pub thumb_size: u32,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_images: 48,
            thumb_size: 512,
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Images in the package.
    pub images: usize,
    /// Images given a thumbnail.
    pub shown: usize,
    /// Overlay layers written.
    pub layers: usize,
    /// Every file of the site, at its final place under the output folder.
    pub files: Vec<PathBuf>,
}

/// Writes the report of `pkg` into folder `out` (created, or replaced when it holds an earlier
/// report; any other existing folder or file is refused and left alone).
pub fn write_report(
    pkg: &Package,
    out: &Path,
    opts: &ReportOptions,
) -> Result<ReportSummary, Error> {
    if opts.thumb_size == 0 {
        return Err(Error::Invalid(
            "the thumbnail size must be at least 1 pixel".into(),
        ));
    }
    let (parent, name) = check_out(pkg, out)?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    remove_if_exists(&tmp)?;
    fs::create_dir(&tmp).map_err(io(&tmp, "cannot create the temporary site folder"))?;
    // Removes the temporary folder on every early return (and on a panic), so that a failed
    // run leaves nothing behind.
    let mut guard = TmpDir(Some(tmp.clone()));
    let (summary, files) = build(pkg, &tmp, opts)?;
    replace(out, &parent, &name, &tmp)?;
    guard.0 = None;
    Ok(ReportSummary {
        files: files.iter().map(|f| out.join(f)).collect(),
        ..summary
    })
}

struct TmpDir(Option<PathBuf>);

impl Drop for TmpDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

fn remove_if_exists(p: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(p).map_err(io(p, "cannot remove a leftover temporary folder"))
        }
        Ok(_) => fs::remove_file(p).map_err(io(p, "cannot remove a leftover temporary file")),
        Err(_) => Ok(()),
    }
}

/// Checks the output path before anything is written: its parent (created if missing), its
/// name, that it lies outside the package (a site inside would change the dataset's content)
/// and that an existing `out` is an earlier report or an empty folder.
fn check_out(pkg: &Package, out: &Path) -> Result<(PathBuf, String), Error> {
    let name = match out.file_name().and_then(|n| n.to_str()) {
        Some(n) if n != ".." => n.to_string(),
        _ => {
            return Err(Error::Invalid(format!(
                "{}: the report folder needs a plain (UTF-8) name as its last component",
                out.display()
            )))
        }
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent, "cannot create the folder"))?;
    let parent_abs = parent
        .canonicalize()
        .map_err(io(&parent, "cannot resolve the folder"))?;
    let out_abs = parent_abs.join(&name);
    let root = pkg
        .root()
        .canonicalize()
        .map_err(io(pkg.root(), "cannot resolve the package folder"))?;
    if out_abs.starts_with(&root) {
        return Err(Error::Invalid(format!(
            "{}: the report would be written inside the package {} (and become part of its content); choose a folder outside it",
            out.display(),
            root.display()
        )));
    }
    if root.starts_with(&out_abs) {
        return Err(Error::Invalid(format!(
            "{}: the report folder would contain the package {}; choose another folder",
            out.display(),
            root.display()
        )));
    }
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(out, "cannot inspect the report folder")(e)),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(out)
                .map_err(io(out, "cannot list the report folder"))?
                .next()
                .is_none();
            if !empty && !is_report(out) {
                return Err(Error::Invalid(format!(
                    "{}: exists and is not a mifa report (no {MARKER}); refusing to replace it — remove it or choose another folder",
                    out.display()
                )));
            }
        }
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "{}: exists and is not a folder; refusing to replace it",
                out.display()
            )))
        }
    }
    Ok((parent, name))
}

/// Whether `dir` holds a report written by [`write_report`].
pub fn is_report(dir: &Path) -> bool {
    fs::read(dir.join(MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("format").and_then(Value::as_str).map(String::from))
        .as_deref()
        == Some(MARKER_FORMAT)
}

/// Moves the finished site onto `out`. An earlier report is first moved aside, and moved
/// back if the site cannot take its place.
fn replace(out: &Path, parent: &Path, name: &str, tmp: &Path) -> Result<(), Error> {
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = out.exists();
    if had_old {
        remove_if_exists(&old)?;
        fs::rename(out, &old).map_err(io(out, "cannot move the earlier report aside"))?;
    }
    if let Err(e) = fs::rename(tmp, out) {
        if had_old {
            let _ = fs::rename(&old, out);
        }
        return Err(io(out, "cannot move the new report into place")(e));
    }
    if let Ok(d) = fs::File::open(parent) {
        let _ = d.sync_all();
    }
    if had_old {
        fs::remove_dir_all(&old).map_err(io(&old, "cannot remove the earlier report"))?;
    }
    Ok(())
}

/// File names made from ids: only `[A-Za-z0-9._-]`, no leading dot, bounded length, unique
/// (case-insensitively, for case-folding file systems).
#[derive(Default)]
struct Names {
    used: HashSet<String>,
}

impl Names {
    fn unique(&mut self, parts: &[&str], ext: &str) -> String {
        let base: Vec<String> = parts.iter().map(|p| sanitize(p)).collect();
        let base = base.join(".");
        let mut name = format!("{base}.{ext}");
        let mut k = 2;
        while !self.used.insert(name.to_ascii_lowercase()) {
            name = format!("{base}-{k}.{ext}");
            k += 1;
        }
        name
    }
}

fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Which images get a thumbnail: all, or `max` spread evenly (the centre of each of `max` equal
/// runs of the manifest order).
fn pick_images(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| ((2 * i + 1) * n) / (2 * max)).collect()
}

/// One rendered thumbnail and where its files went.
struct Thumb {
    preview: Preview,
    base: String,
    layers: Vec<String>,
}

/// Builds the whole site in `dir`; returns the summary and the files, relative to `dir`.
fn build(
    pkg: &Package,
    dir: &Path,
    opts: &ReportOptions,
) -> Result<(ReportSummary, Vec<String>), Error> {
    let m = pkg.manifest();
    let img_dir = dir.join("img");
    let mut files = Vec::new();
    let chosen = pick_images(m.images.len(), opts.max_images);
    if !chosen.is_empty() {
        fs::create_dir(&img_dir).map_err(io(&img_dir, "cannot create the folder"))?;
    }
    let mut names = Names::default();
    let mut thumbs = Vec::new();
    let popts = PreviewOptions {
        max_size: opts.thumb_size,
        ..Default::default()
    };
    // One image that cannot be drawn (a corrupt chunk, a label without a pyramid) should not
    // cost the whole report: it is named on the page instead.
    let mut failed: Vec<(String, String)> = Vec::new();
    for &i in &chosen {
        let id = &m.images[i].id;
        let p = match preview::render(pkg, id, &popts) {
            Ok(p) => p,
            Err(e) => {
                failed.push((id.clone(), crate::io_error::chain(&e)));
                continue;
            }
        };
        let write = |file: &str, px: &[u8]| {
            preview::write_png(&img_dir.join(file), p.width, p.height, px).map_err(|source| {
                Error::Preview {
                    image: id.clone(),
                    source,
                }
            })
        };
        let base = names.unique(&[id], "png");
        write(&base, &p.rgb)?;
        files.push(format!("img/{base}"));
        let mut layers = Vec::new();
        for l in &p.layers {
            let f = names.unique(&[id, &l.set, l.kind.as_str()], "png");
            write(&f, &l.canvas.rgba)?;
            files.push(format!("img/{f}"));
            layers.push(f);
        }
        thumbs.push(Thumb {
            preview: p,
            base,
            layers,
        });
    }

    let info = info::info(pkg);
    let records = versions::records(pkg.root())?;
    let (_, credit) = versions::current_credit(pkg)?;
    let classes = count_classes(pkg)?;
    let generated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let latest = records.last().map(|(_, r)| r);

    let page = Page {
        m,
        info: &info,
        thumbs: &thumbs,
        failed: &failed,
        shown_of: (thumbs.len(), m.images.len()),
        records: &records,
        credit: &credit,
        classes: &classes,
        generated: &generated,
    };
    let html = page.html();
    package::write_atomic(&dir.join("index.html"), html.as_bytes())?;
    files.push("index.html".into());

    let layers: usize = thumbs.iter().map(|t| t.layers.len()).sum();
    files.push(MARKER.into());
    let marker = json!({
        "format": MARKER_FORMAT,
        "format_version": 1,
        "generator": format!("mifa {}", env!("CARGO_PKG_VERSION")),
        "generated": generated,
        "package": {
            "title": m.study.title,
            "version": latest.map(|r| r.version.clone()),
            "dataset_sha256": latest.map(|r| r.dataset_sha256.clone()),
        },
        "images": m.images.len(),
        "shown": thumbs.iter().map(|t| t.preview.image.clone()).collect::<Vec<_>>(),
        "layers": layers,
        "files": files,
    });
    let text = serde_json::to_string_pretty(&marker)
        .map_err(|e| Error::Invalid(format!("cannot encode {MARKER}: {e}")))?;
    package::write_atomic(&dir.join(MARKER), text.as_bytes())?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((
        ReportSummary {
            images: m.images.len(),
            shown: thumbs.len(),
            layers,
            files: Vec::new(),
        },
        files,
    ))
}

/// Per-class counts over every annotation file of the package (not only the images shown).
#[derive(Debug, Default)]
struct ClassCounts {
    /// Class name → counts; manifest classes first (in manifest order), then names found only
    /// in the files.
    rows: Vec<ClassRow>,
    /// GeoJSON objects without a class.
    unclassified: u64,
    /// Instance label images and the labels their colour tables list.
    instance_masks: (u64, u64),
    /// Semantic-mask values that match no class: value → label images.
    unknown_values: BTreeMap<i64, u64>,
    /// Tracks sets: (set, objects, links).
    tracks: Vec<(String, usize, usize)>,
}

#[derive(Debug, Clone)]
struct ClassRow {
    name: String,
    color: Option<[u8; 3]>,
    /// GeoJSON objects of this class.
    objects: u64,
    /// Semantic label images that list the class's value.
    masks: u64,
    /// Sets it occurs in.
    sets: BTreeSet<String>,
}

fn count_classes(pkg: &Package) -> Result<ClassCounts, Error> {
    let m = pkg.manifest();
    let mut c = ClassCounts {
        rows: m
            .classes
            .iter()
            .map(|k| ClassRow {
                name: k.name.clone(),
                color: k.color,
                objects: 0,
                masks: 0,
                sets: BTreeSet::new(),
            })
            .collect(),
        ..Default::default()
    };
    let mut row_of: HashMap<String, usize> = c
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let by_id: HashMap<i64, usize> = m
        .classes
        .iter()
        .enumerate()
        .map(|(i, k)| (i64::from(k.id), i))
        .collect();
    for set in &m.annotation_sets {
        let tracks_store = pkg
            .root()
            .join(package::ANNOTATIONS_DIR)
            .join(&set.id)
            .join(crate::tracks::DESCRIPTOR);
        if set.types.contains(&AnnotationType::Tracks) && tracks_store.is_file() {
            if let Ok(stored) = crate::tracks::read_set(pkg, &set.id) {
                let g = &stored.set.graph;
                c.tracks
                    .push((set.id.clone(), g.nodes.len(), g.edges.len()));
            }
            continue;
        }
        for f in &set.files {
            let Ok(path) = pkg.resolve(&f.path) else {
                continue;
            };
            if f.path.ends_with(".geojson") {
                let read = geojson::read(&path, geojson::ReadOptions { skip_invalid: true })?;
                for o in &read.collection.objects {
                    let Some(name) = o.class() else {
                        c.unclassified += 1;
                        continue;
                    };
                    let i = *row_of.entry(name.to_string()).or_insert_with(|| {
                        c.rows.push(ClassRow {
                            name: name.to_string(),
                            color: None,
                            objects: 0,
                            masks: 0,
                            sets: BTreeSet::new(),
                        });
                        c.rows.len() - 1
                    });
                    c.rows[i].objects += 1;
                    c.rows[i].sets.insert(set.id.clone());
                }
            } else if f.path.contains("/labels/") {
                let values = label_values(&path)?;
                match f.mask_kind.unwrap_or(MaskKind::Instance) {
                    MaskKind::Instance => {
                        c.instance_masks.0 += 1;
                        c.instance_masks.1 += values.len() as u64;
                    }
                    MaskKind::Semantic => {
                        for v in values {
                            match by_id.get(&v) {
                                Some(&i) => {
                                    c.rows[i].masks += 1;
                                    c.rows[i].sets.insert(set.id.clone());
                                }
                                None => *c.unknown_values.entry(v).or_default() += 1,
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(c)
}

/// The non-zero values listed in a label image's colour table (what mifa writes for every
/// value present).
fn label_values(path: &Path) -> Result<BTreeSet<i64>, Error> {
    let ms = Multiscale::open(path).map_err(|source| Error::Label {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(ms
        .image_label
        .as_ref()
        .and_then(|il| il.get("colors"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("label-value").and_then(Value::as_i64))
                .filter(|&v| v != 0)
                .collect()
        })
        .unwrap_or_default())
}

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes what may not stand in a URL path (DOIs may hold `<`, `#`, spaces…).
fn url_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:;()".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A DOI without its resolver or `doi:` prefix.
fn bare_doi(doi: &str) -> &str {
    let d = doi.trim();
    for p in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi:",
        "DOI:",
    ] {
        if let Some(rest) = d.strip_prefix(p) {
            return rest;
        }
    }
    d
}

/// An ORCID iD in its bare form (`0000-0002-1825-0097`), when it has that shape.
fn bare_orcid(orcid: &str) -> Option<&str> {
    let o = orcid.trim();
    let o = o
        .strip_prefix("https://orcid.org/")
        .or_else(|| o.strip_prefix("http://orcid.org/"))
        .unwrap_or(o);
    let b = o.as_bytes();
    let ok = b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 9 | 14 => c == b'-',
            18 => c.is_ascii_digit() || c == b'X',
            _ => c.is_ascii_digit(),
        });
    ok.then_some(o)
}

fn orcid_html(orcid: Option<&str>) -> String {
    match orcid {
        Some(o) => match bare_orcid(o) {
            Some(b) => format!(r#" <a class="orcid" href="https://orcid.org/{b}">ORCID {b}</a>"#),
            None => format!(r#" <span class="orcid">ORCID {}</span>"#, esc(o)),
        },
        None => String::new(),
    }
}

fn link_if_web(url: &str, text: &str) -> String {
    let u = url.trim();
    if u.starts_with("https://") || u.starts_with("http://") {
        format!(r#"<a href="{}">{}</a>"#, esc(u), esc(text))
    } else {
        esc(text)
    }
}

fn rgb_css(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// The colour a layer is drawn in: its dominant opaque colour, or `None` when it has many
/// (masks and tracks are coloured per label or lineage).
fn layer_color(rgba: &[u8]) -> Option<[u8; 3]> {
    let mut hist: HashMap<[u8; 3], usize> = HashMap::new();
    let mut n = 0;
    for p in rgba.chunks_exact(4).filter(|p| p[3] >= 200) {
        *hist.entry([p[0], p[1], p[2]]).or_default() += 1;
        n += 1;
    }
    let (c, k) = hist.into_iter().max_by_key(|&(c, k)| (k, c))?;
    (k * 5 >= n * 4).then_some(c)
}

fn snake_words(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(esc).unwrap_or_default()
}

const STYLE: &str = r#"
:root{--fg:#1d2125;--muted:#5f6b76;--line:#d9dee3;--bg:#fff;--soft:#f4f6f8;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1240px;margin:0 auto;padding:0 20px}
header{padding-top:24px;border-bottom:1px solid var(--line)}
h1{font-size:1.6em;margin:0 0 6px}
h2{font-size:1.25em;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:1.05em;margin:18px 0 6px}
a{color:var(--accent)}
.muted,.note{color:var(--muted)}
.note{font-size:.9em}
.pre{white-space:pre-line}
nav a{margin-right:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:.92em}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
table.kv th{width:13em}
th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.kw{display:inline-block;background:var(--soft);border:1px solid var(--line);border-radius:10px;padding:0 8px;margin:2px 4px 2px 0;font-size:.9em}
.gallery{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
figure.shot{margin:0;max-width:100%;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px}
.stack{position:relative;max-width:100%;line-height:0;background:#000}
.stack img{display:block;width:100%;height:auto}
.stack img.layer{position:absolute;left:0;top:0;width:100%;height:100%}
.stack.px img{image-rendering:pixelated}
figcaption{margin-top:6px;font-size:.9em;line-height:1.4}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}
.chip{display:inline-flex;align-items:center;gap:5px;border:1px solid var(--line);background:#fff;border-radius:12px;padding:1px 8px;font-size:.9em;cursor:pointer}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;border:1px solid rgba(0,0,0,.35)}
.sw.multi{background:conic-gradient(#ff4d4d,#ffd400,#4dff4d,#00d4ff,#4d4dff,#ff4dff,#ff4d4d)}
.nojs input[type=checkbox],.nojs .toggles{display:none}
.toggles{margin:6px 0 12px}
"#;

/// Keeps the page usable without scripts: checkboxes only appear when they can work.
const HEAD_SCRIPT: &str = "document.documentElement.className='js';";

/// Overlay switches; for headless checks, on `<body>`: `data-loaded` (images that decoded),
/// `data-broken` (those that did not) and `data-thumb` (page box `x,y,w,h` of the first
/// thumbnail, in CSS pixels).
const BODY_SCRIPT: &str = r#"(function(){
function layers(){return Array.prototype.slice.call(document.querySelectorAll('input[data-layer]'));}
function show(c){var l=document.getElementById(c.getAttribute('data-layer'));if(l)l.style.visibility=c.checked?'':'hidden';}
layers().forEach(function(c){c.addEventListener('change',function(){show(c);});});
Array.prototype.slice.call(document.querySelectorAll('input[data-set-toggle]')).forEach(function(t){
t.addEventListener('change',function(){var s=t.getAttribute('data-set-toggle');
layers().forEach(function(c){if(c.getAttribute('data-set')===s){c.checked=t.checked;show(c);}});});});
window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);});
document.body.setAttribute('data-loaded',String(imgs.length-bad.length));
if(bad.length)document.body.setAttribute('data-broken',bad.map(function(i){return i.getAttribute('src');}).join(' '));
var s=document.querySelector('.stack');if(s){var r=s.getBoundingClientRect();
document.body.setAttribute('data-thumb',[r.left+window.scrollX,r.top+window.scrollY,r.width,r.height].map(Math.round).join(','));}});
})();"#;

struct Page<'a> {
    m: &'a Manifest,
    info: &'a Info,
    thumbs: &'a [Thumb],
    failed: &'a [(String, String)],
    shown_of: (usize, usize),
    records: &'a [(PathBuf, Record)],
    credit: &'a [Credit],
    classes: &'a ClassCounts,
    generated: &'a str,
}

impl Page<'_> {
    fn html(&self) -> String {
        let m = self.m;
        let mut h = String::new();
        let latest = self.records.last().map(|(_, r)| r.version.as_str());
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\" class=\"nojs\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"mifa {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
             <script>{HEAD_SCRIPT}</script>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n<p class=\"muted\">{} image(s), {} annotation set(s), {}; report generated {} by mifa {}.</p>\n",
            env!("CARGO_PKG_VERSION"),
            esc(&m.study.title),
            esc(&m.study.title),
            m.images.len(),
            m.annotation_sets.len(),
            match latest {
                Some(v) => format!("latest release {}", esc(v)),
                None => "not released".to_string(),
            },
            esc(self.generated),
            env!("CARGO_PKG_VERSION"),
        );
        h.push_str(
            "<nav><a href=\"#study\">Study</a><a href=\"#images\">Images</a><a href=\"#rembi\">REMBI</a>\
             <a href=\"#sets\">Annotation sets</a><a href=\"#classes\">Classes</a><a href=\"#credit\">Credit</a>\
             <a href=\"#versions\">Versions</a></nav>\n</header>\n<main>\n",
        );
        self.study(&mut h);
        self.images(&mut h);
        self.rembi(&mut h);
        self.sets(&mut h);
        self.class_counts(&mut h);
        self.splits(&mut h);
        self.credit_section(&mut h);
        self.versions(&mut h);
        let _ = write!(
            h,
            "</main>\n<footer><p class=\"note\">Generated {} by mifa {} from <code>mifa.json</code> (manifest format {}). Counts and coverage are computed from the package files.</p></footer>\n<script>{BODY_SCRIPT}</script>\n</body>\n</html>\n",
            esc(self.generated),
            env!("CARGO_PKG_VERSION"),
            esc(&m.format_version),
        );
        h
    }

    fn study(&self, h: &mut String) {
        let s = &self.m.study;
        h.push_str("<section id=\"study\">\n<h2>Study</h2>\n");
        if let Some(d) = &s.description {
            let _ = writeln!(h, "<p class=\"pre\">{}</p>", esc(d));
        }
        h.push_str("<table class=\"kv\">\n");
        let _ = writeln!(h, "<tr><th>Licence</th><td>{}</td></tr>", esc(&s.license));
        if let Some(d) = &s.release_date {
            let _ = writeln!(h, "<tr><th>Release date</th><td>{}</td></tr>", esc(d));
        }
        if !s.keywords.is_empty() {
            let kws: Vec<String> = s
                .keywords
                .iter()
                .map(|k| match &k.curie {
                    Some(c) => format!(
                        "<span class=\"kw\" title=\"{}\">{}</span>",
                        esc(c),
                        esc(&k.label)
                    ),
                    None => format!("<span class=\"kw\">{}</span>", esc(&k.label)),
                })
                .collect();
            let _ = writeln!(h, "<tr><th>Keywords</th><td>{}</td></tr>", kws.concat());
        }
        if !s.authors.is_empty() {
            let a: Vec<String> = s.authors.iter().map(person_html).collect();
            let _ = writeln!(h, "<tr><th>Authors</th><td>{}</td></tr>", a.join("<br>"));
        }
        for p in &s.publications {
            let mut cell = String::new();
            if let Some(a) = &p.authors {
                let stop = if a.trim_end().ends_with('.') { "" } else { "." };
                let _ = write!(cell, "{}{stop} ", esc(a.trim_end()));
            }
            if let Some(t) = &p.title {
                let _ = write!(cell, "<i>{}</i>", esc(t));
            }
            if let Some(y) = p.year {
                let _ = write!(cell, " ({y})");
            }
            if let Some(d) = &p.doi {
                let b = bare_doi(d);
                let _ = write!(
                    cell,
                    " <a href=\"https://doi.org/{}\">doi:{}</a>",
                    esc(&url_path(b)),
                    esc(b)
                );
            }
            if let Some(pm) = &p.pmid {
                let _ = write!(cell, " PMID {}", esc(pm));
            }
            let _ = writeln!(h, "<tr><th>Publication</th><td>{cell}</td></tr>");
        }
        for f in &s.funding {
            let _ = writeln!(
                h,
                "<tr><th>Funding</th><td>{}{}</td></tr>",
                esc(&f.funder),
                f.grant_id
                    .as_deref()
                    .map(|g| format!(", grant {}", esc(g)))
                    .unwrap_or_default()
            );
        }
        if let Some(f) = &s.funding_statement {
            let _ = writeln!(h, "<tr><th>Funding statement</th><td>{}</td></tr>", esc(f));
        }
        for md in &s.models {
            let name = md
                .name
                .as_deref()
                .or(md.bioimage_io_id.as_deref())
                .unwrap_or("model");
            let mut cell = match &md.url {
                Some(u) => link_if_web(u, name),
                None => esc(name),
            };
            if let Some(b) = &md.bioimage_io_id {
                let _ = write!(cell, " (bioimage.io {})", esc(b));
            }
            let _ = writeln!(h, "<tr><th>Model</th><td>{cell}</td></tr>");
        }
        if let Some(a) = &s.acknowledgements {
            let _ = writeln!(h, "<tr><th>Acknowledgements</th><td>{}</td></tr>", esc(a));
        }
        h.push_str("</table>\n</section>\n");
    }

    fn rembi(&self, h: &mut String) {
        let r = &self.m.rembi;
        let m = self.m;
        h.push_str("<section id=\"rembi\">\n<h2>REMBI metadata</h2>\n");
        let used = |f: &dyn Fn(&crate::metadata::ImageEntry) -> Option<&String>, id: &str| {
            m.images
                .iter()
                .filter(|i| f(i).map(String::as_str) == Some(id))
                .count()
        };
        if r.study_components.is_empty()
            && r.biosamples.is_empty()
            && r.specimens.is_empty()
            && r.acquisitions.is_empty()
        {
            h.push_str("<p class=\"muted\">No REMBI study components, biosamples, specimens or acquisitions recorded.</p>\n");
        }
        if !r.study_components.is_empty() {
            h.push_str("<h3>Study components</h3>\n<table><tr><th>Id</th><th>Name</th><th>Description</th><th class=\"n\">Images</th></tr>\n");
            for c in &r.study_components {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&c.id),
                    opt(&c.name),
                    opt(&c.description),
                    used(&|i| i.study_component.as_ref(), &c.id)
                );
            }
            h.push_str("</table>\n");
        }
        if !r.biosamples.is_empty() {
            h.push_str("<h3>Biosamples</h3>\n<table><tr><th>Id</th><th>Title</th><th>Organisms</th><th>Biological entity</th><th>Description</th><th class=\"n\">Images</th></tr>\n");
            for b in &r.biosamples {
                let orgs: Vec<String> = b
                    .organisms
                    .iter()
                    .map(|o| {
                        let mut s = format!("<i>{}</i>", esc(&o.scientific_name));
                        if let Some(c) = &o.common_name {
                            let _ = write!(s, " ({})", esc(c));
                        }
                        if let Some(t) = o.ncbi_taxon {
                            let _ = write!(
                                s,
                                " <a href=\"https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id={t}\">NCBI:txid{t}</a>"
                            );
                        }
                        s
                    })
                    .collect();
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&b.id),
                    opt(&b.title),
                    orgs.join("<br>"),
                    opt(&b.biological_entity),
                    opt(&b.description),
                    used(&|i| i.biosample.as_ref(), &b.id)
                );
            }
            h.push_str("</table>\n");
        }
        if !r.specimens.is_empty() {
            h.push_str("<h3>Specimens</h3>\n<table><tr><th>Id</th><th>Title</th><th>Sample preparation</th><th>Growth protocol</th><th class=\"n\">Images</th></tr>\n");
            for s in &r.specimens {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&s.id),
                    opt(&s.title),
                    opt(&s.sample_preparation_protocol),
                    opt(&s.growth_protocol),
                    used(&|i| i.specimen.as_ref(), &s.id)
                );
            }
            h.push_str("</table>\n");
        }
        if !r.acquisitions.is_empty() {
            h.push_str("<h3>Image acquisitions</h3>\n<table><tr><th>Id</th><th>Title</th><th>Imaging method</th><th>Instrument</th><th>Parameters</th><th class=\"n\">Images</th></tr>\n");
            for a in &r.acquisitions {
                let method = a
                    .imaging_method
                    .as_ref()
                    .map(|t| match &t.curie {
                        Some(c) => format!("{} <code>{}</code>", esc(&t.label), esc(c)),
                        None => esc(&t.label),
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&a.id),
                    opt(&a.title),
                    method,
                    opt(&a.instrument),
                    opt(&a.parameters),
                    used(&|i| i.acquisition.as_ref(), &a.id)
                );
            }
            h.push_str("</table>\n");
        }
        if !r.correlations.is_empty() || !r.analyses.is_empty() {
            let names = |v: Vec<(&String, &Option<String>)>| -> String {
                v.iter()
                    .map(|(id, t)| {
                        format!(
                            "<code>{}</code>{}",
                            esc(id),
                            t.as_deref()
                                .map(|t| format!(" {}", esc(t)))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            h.push_str("<p>");
            if !r.correlations.is_empty() {
                let _ = write!(
                    h,
                    "Image correlations: {}. ",
                    names(r.correlations.iter().map(|c| (&c.id, &c.title)).collect())
                );
            }
            if !r.analyses.is_empty() {
                let _ = write!(
                    h,
                    "Image analyses: {}.",
                    names(r.analyses.iter().map(|c| (&c.id, &c.title)).collect())
                );
            }
            h.push_str("</p>\n");
        }
        h.push_str("</section>\n");
    }

    fn images(&self, h: &mut String) {
        let (shown, total) = self.shown_of;
        h.push_str("<section id=\"images\">\n<h2>Images</h2>\n");
        if total == 0 {
            h.push_str("<p class=\"muted\">The package holds no images.</p>\n</section>\n");
            return;
        }
        let _ = writeln!(
            h,
            "<p>Thumbnails of {shown} of {total} image(s){}, with every annotation set that annotates them drawn on its own overlay (masks filled per label, shapes outlined, points as crosses, tracks as paths).</p>",
            if shown < total {
                ", spread evenly over the package's order"
            } else {
                ""
            }
        );
        for (id, why) in self.failed {
            let _ = writeln!(
                h,
                "<p class=\"muted\">Image <strong>{}</strong> could not be drawn: {}</p>",
                esc(id),
                esc(why)
            );
        }
        // Switches for a whole set at once, over every thumbnail.
        let mut sets: Vec<&str> = Vec::new();
        for t in self.thumbs {
            for l in &t.preview.layers {
                if !sets.contains(&l.set.as_str()) {
                    sets.push(&l.set);
                }
            }
        }
        if !sets.is_empty() {
            h.push_str("<div class=\"toggles\">");
            for s in &sets {
                let _ = write!(
                    h,
                    "<label class=\"chip\"><input type=\"checkbox\" checked data-set-toggle=\"{0}\">{0}</label> ",
                    esc(s)
                );
            }
            h.push_str("</div>\n");
        }
        h.push_str("<div class=\"gallery\">\n");
        let mut layer_no = 0;
        for (k, t) in self.thumbs.iter().enumerate() {
            let p = &t.preview;
            let entry = self.m.image(&p.image);
            // Small images are enlarged by a whole factor, pixel-sharp, to stay legible.
            let side = p.width.max(p.height).max(1);
            let factor = (256 / side).max(1);
            let dw = p.width * factor;
            let _ = write!(
                h,
                "<figure class=\"shot\" id=\"image-{k}\">\n<div class=\"stack{}\" style=\"width:{dw}px\">\n<img class=\"base\" src=\"img/{}\" width=\"{}\" height=\"{}\" alt=\"image {}\">\n",
                if factor > 1 { " px" } else { "" },
                t.base,
                p.width,
                p.height,
                esc(&p.image)
            );
            let mut chips = String::new();
            for (l, file) in p.layers.iter().zip(&t.layers) {
                layer_no += 1;
                let _ = writeln!(
                    h,
                    "<img class=\"layer\" id=\"L{layer_no}\" src=\"img/{file}\" width=\"{}\" height=\"{}\" alt=\"{} {} overlay\">",
                    p.width,
                    p.height,
                    esc(&l.set),
                    l.kind.as_str()
                );
                let sw = match layer_color(&l.canvas.rgba) {
                    Some(c) if !matches!(l.kind, LayerKind::Mask | LayerKind::Tracks) => {
                        format!(
                            "<span class=\"sw\" style=\"background:{}\"></span>",
                            rgb_css(c)
                        )
                    }
                    _ => "<span class=\"sw multi\" title=\"coloured per label\"></span>".into(),
                };
                let what = match l.kind {
                    LayerKind::Mask => "labels",
                    LayerKind::Shapes => "shapes",
                    LayerKind::Points => "points",
                    LayerKind::Tracks => "track objects",
                };
                let _ = write!(
                    chips,
                    "<label class=\"chip\"><input type=\"checkbox\" checked data-layer=\"L{layer_no}\" data-set=\"{0}\">{sw}{0} · {1} · {2} {what}</label>",
                    esc(&l.set),
                    l.kind.as_str(),
                    l.objects
                );
            }
            h.push_str("</div>\n<figcaption>");
            let _ = write!(h, "<b>{}</b>", esc(&p.image));
            if let Some(e) = entry {
                let axes: String = e.axes.iter().map(|a| a.name.as_str()).collect();
                let shape: Vec<String> = e.shape.iter().map(u64::to_string).collect();
                let _ = write!(
                    h,
                    " · {} <code>{}</code> {}",
                    shape.join("×"),
                    esc(&axes),
                    snake_words(e.dtype)
                );
            }
            let _ = write!(
                h,
                "<br><span class=\"muted\">level {} shown at {}×{}{}</span>",
                p.level,
                p.width,
                p.height,
                if p.plane.is_empty() {
                    String::new()
                } else {
                    format!(", {}", esc(&p.plane))
                }
            );
            if chips.is_empty() {
                h.push_str("<br><span class=\"muted\">no annotation overlays</span>");
            } else {
                let _ = write!(h, "<div class=\"chips\">{chips}</div>");
            }
            for n in &p.notes {
                let _ = write!(h, "<div class=\"note\">{}</div>", esc(n));
            }
            h.push_str("</figcaption>\n</figure>\n");
        }
        h.push_str("</div>\n");

        let anchors: HashMap<&str, usize> = self
            .thumbs
            .iter()
            .enumerate()
            .map(|(k, t)| (t.preview.image.as_str(), k))
            .collect();
        h.push_str("<h3>All images</h3>\n<table><tr><th>Id</th><th>Axes</th><th>Shape</th><th>Type</th><th>Pixel size</th><th class=\"n\">Size</th><th>Biosample</th><th>Specimen</th><th>Acquisition</th><th>Source file</th></tr>\n");
        for (e, i) in self.m.images.iter().zip(&self.info.images) {
            let id = match anchors.get(e.id.as_str()) {
                Some(k) => format!("<a href=\"#image-{k}\">{}</a>", esc(&e.id)),
                None => esc(&e.id),
            };
            let shape: Vec<String> = i.shape.iter().map(u64::to_string).collect();
            let _ = writeln!(
                h,
                "<tr><td>{id}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&i.axes),
                shape.join("×"),
                esc(&i.dtype),
                opt(&i.pixel_size),
                crate::info::human_bytes(i.bytes),
                opt(&e.biosample),
                opt(&e.specimen),
                opt(&e.acquisition),
                opt(&e.source),
            );
        }
        h.push_str("</table>\n<p class=\"note\">Size: uncompressed pixel data of level 0.</p>\n</section>\n");
    }

    fn sets(&self, h: &mut String) {
        h.push_str("<section id=\"sets\">\n<h2>Annotation sets</h2>\n");
        if self.m.annotation_sets.is_empty() {
            h.push_str(
                "<p class=\"muted\">The package holds no annotation sets.</p>\n</section>\n",
            );
            return;
        }
        h.push_str("<table><tr><th>Set</th><th>Types</th><th>Method</th><th class=\"n\">Objects</th><th>Coverage</th><th>Annotators</th><th>Created</th></tr>\n");
        for (s, i) in self
            .m
            .annotation_sets
            .iter()
            .zip(&self.info.annotation_sets)
        {
            let mut title = format!("<b>{}</b>", esc(s.title.as_deref().unwrap_or(&s.id)));
            if s.title.as_deref().is_some_and(|t| t != s.id) {
                let _ = write!(title, " <code>{}</code>", esc(&s.id));
            }
            for (label, text) in [
                ("", &s.overview),
                ("Criteria: ", &s.criteria),
                ("Confidence: ", &s.confidence),
            ] {
                if let Some(t) = text {
                    let _ = write!(title, "<div class=\"note\">{label}{}</div>", esc(t));
                }
            }
            let method = s
                .method
                .as_ref()
                .map(|md| {
                    let mut c = snake_words(md.kind);
                    let sw: Vec<String> = md
                        .software
                        .iter()
                        .map(|x| match &x.version {
                            Some(v) => format!("{} {}", esc(&x.name), esc(v)),
                            None => esc(&x.name),
                        })
                        .collect();
                    if !sw.is_empty() {
                        let _ = write!(c, " ({})", sw.join(", "));
                    }
                    if let Some(d) = &md.description {
                        let _ = write!(c, "<div class=\"note\">{}</div>", esc(d));
                    }
                    c
                })
                .unwrap_or_else(|| "<span class=\"muted\">not recorded</span>".into());
            let tracked = self.classes.tracks.iter().find(|t| t.0 == s.id);
            let objects = match (i.objects, tracked) {
                (Some(n), _) => n.to_string(),
                // Track stores are tables info does not count; the graph was read anyway.
                (None, Some((_, nodes, _))) => {
                    format!("{nodes}<div class=\"note\">track objects</div>")
                }
                (None, None) => "<span class=\"muted\">not counted</span>".into(),
            };
            let c = &i.coverage;
            let _ = writeln!(
                h,
                "<tr><td>{title}</td><td>{}</td><td>{method}</td><td class=\"n\">{objects}</td><td>{}/{} images<div class=\"note\">{} file(s)</div></td><td>{}</td><td>{}</td></tr>",
                esc(&i.types.join(", ")),
                c.images_annotated,
                c.images_total,
                c.files,
                esc(&i.annotators.join(", ")),
                opt(&s.created),
            );
        }
        h.push_str("</table>\n<p class=\"note\">Objects: GeoJSON features, COCO annotations and table rows of the set's files, and labels listed in label images' colour tables. Coverage: images referenced by at least one file of the set, of all images in the package.</p>\n</section>\n");
    }

    fn class_counts(&self, h: &mut String) {
        let c = self.classes;
        h.push_str("<section id=\"classes\">\n<h2>Classes</h2>\n");
        if c.rows.is_empty()
            && c.unclassified == 0
            && c.instance_masks.0 == 0
            && c.unknown_values.is_empty()
            && c.tracks.is_empty()
        {
            h.push_str("<p class=\"muted\">No classes and no annotation objects recorded.</p>\n</section>\n");
            return;
        }
        if !c.rows.is_empty() || c.unclassified > 0 {
            h.push_str("<table><tr><th>Class</th><th>Colour</th><th class=\"n\">Vector objects</th><th class=\"n\">Semantic masks</th><th>Sets</th></tr>\n");
            for r in &c.rows {
                let sw = r
                    .color
                    .map(|k| {
                        format!(
                            "<span class=\"sw\" style=\"background:{0}\"></span> <code>{0}</code>",
                            rgb_css(k)
                        )
                    })
                    .unwrap_or_else(|| "<span class=\"muted\">none</span>".into());
                let sets: Vec<String> = r.sets.iter().map(|s| esc(s)).collect();
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{sw}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(&r.name),
                    r.objects,
                    r.masks,
                    sets.join(", ")
                );
            }
            if c.unclassified > 0 {
                let _ = writeln!(
                    h,
                    "<tr><td><i>no class</i></td><td></td><td class=\"n\">{}</td><td></td><td></td></tr>",
                    c.unclassified
                );
            }
            h.push_str("</table>\n<p class=\"note\">Counted over every annotation file of the package, not only the images shown. Vector objects: GeoJSON features by their <code>classification.name</code>. Semantic masks: label images whose colour table lists the class's id as a value.</p>\n");
        }
        if c.instance_masks.0 > 0 {
            let _ = writeln!(
                h,
                "<p>Instance masks: {} label(s) in {} label image(s); instance labels carry no class.</p>",
                c.instance_masks.1, c.instance_masks.0
            );
        }
        if !c.unknown_values.is_empty() {
            let v: Vec<String> = c
                .unknown_values
                .iter()
                .map(|(v, n)| format!("{v} (in {n})"))
                .collect();
            let _ = writeln!(
                h,
                "<p>Semantic-mask values without a class: {}.</p>",
                v.join(", ")
            );
        }
        for (set, nodes, edges) in &c.tracks {
            let _ = writeln!(
                h,
                "<p>Tracks set <code>{}</code>: {nodes} object(s), {edges} link(s) (not classified).</p>",
                esc(set)
            );
        }
        h.push_str("</section>\n");
    }

    fn splits(&self, h: &mut String) {
        if self.m.splits.is_empty() {
            return;
        }
        h.push_str("<section id=\"splits\">\n<h2>Splits</h2>\n<table><tr><th>Split</th><th class=\"n\">Train</th><th class=\"n\">Validation</th><th class=\"n\">Test</th><th>Grouped by</th><th>Stratified by</th><th class=\"n\">Seed</th><th>Created</th></tr>\n");
        for s in &self.m.splits {
            let group = serde_json::to_value(s.group_by)
                .ok()
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&s.id),
                s.train.len(),
                s.val.len(),
                s.test.len(),
                esc(&group),
                opt(&s.stratify),
                s.seed,
                esc(&s.created)
            );
        }
        h.push_str("</table>\n<p class=\"note\">Number of images in each part.</p>\n</section>\n");
    }

    fn credit_section(&self, h: &mut String) {
        h.push_str("<section id=\"credit\">\n<h2>Credit</h2>\n");
        if self.credit.is_empty() {
            h.push_str("<p class=\"muted\">Nobody is credited yet.</p>\n</section>\n");
            return;
        }
        h.push_str("<table><tr><th>Name</th><th>ORCID</th><th>Affiliation</th><th>Roles</th><th>Annotation sets</th><th>Credited since</th></tr>\n");
        let people: Vec<&Person> = self
            .m
            .study
            .authors
            .iter()
            .chain(self.m.annotation_sets.iter().flat_map(|s| &s.authors))
            .collect();
        for c in self.credit {
            let affiliation = people
                .iter()
                .find(|p| match (&p.orcid, &c.orcid) {
                    (Some(a), Some(b)) => a == b,
                    _ => p.name.eq_ignore_ascii_case(&c.name),
                })
                .and_then(|p| p.affiliation.as_deref())
                .map(esc)
                .unwrap_or_default();
            let orcid = orcid_html(c.orcid.as_deref());
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{affiliation}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                orcid.trim_start(),
                esc(&c.roles.join(", ")),
                esc(&c.sets.join(", ")),
                esc(&c.since),
            );
        }
        h.push_str("</table>\n<p class=\"note\">The credit of the latest release carried forward with everyone named in the manifest now; <i>unreleased</i>: not yet in a release.</p>\n</section>\n");
    }

    fn versions(&self, h: &mut String) {
        h.push_str("<section id=\"versions\">\n<h2>Version history</h2>\n");
        if self.records.is_empty() {
            h.push_str("<p class=\"muted\">Not released yet (no records under <code>versions/</code>).</p>\n</section>\n");
            return;
        }
        h.push_str("<table><tr><th>Version</th><th>Released</th><th>Changes</th><th>Dataset hash</th><th>Previous</th><th class=\"n\">Files</th><th class=\"n\">Credited</th></tr>\n");
        for (_, r) in self.records.iter().rev() {
            let hex = r
                .dataset_sha256
                .strip_prefix("sha256:")
                .unwrap_or(&r.dataset_sha256);
            let short: String = hex.chars().take(12).collect();
            let mut changes = format!("<span class=\"pre\">{}</span>", esc(&r.changes));
            if !r.released_with_errors.is_empty() {
                let _ = write!(
                    changes,
                    "<div class=\"note\">released with {} validation error(s)</div>",
                    r.released_with_errors.len()
                );
            }
            let _ = writeln!(
                h,
                "<tr><td><b>{}</b></td><td>{}</td><td>{changes}</td><td><code title=\"sha256 {}\">{}…</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.version),
                esc(&r.timestamp),
                esc(&r.dataset_sha256),
                esc(&short),
                r.previous
                    .as_ref()
                    .map(|p| esc(&p.version))
                    .unwrap_or_else(|| "—".into()),
                r.files.len(),
                r.credit.len(),
            );
        }
        h.push_str("</table>\n</section>\n");
    }
}

fn person_html(p: &Person) -> String {
    let mut s = esc(&p.name);
    s.push_str(&orcid_html(p.orcid.as_deref()));
    if let Some(a) = &p.affiliation {
        let _ = write!(s, ", {}", esc(a));
    }
    if !p.roles.is_empty() {
        let _ = write!(
            s,
            " <span class=\"muted\">({})</span>",
            esc(&p.roles.join(", "))
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        let mut n = Names::default();
        assert_eq!(n.unique(&["a b/c"], "png"), "a_b_c.png");
        assert_eq!(n.unique(&["a b/c"], "png"), "a_b_c-2.png");
        assert_eq!(n.unique(&["A_B_C"], "png"), "A_B_C-3.png");
        assert_eq!(
            n.unique(&[".hidden", "set", "mask"], "png"),
            "_hidden.set.mask.png"
        );
        assert_eq!(n.unique(&[""], "png"), "_.png");
        assert!(n.unique(&[&"x".repeat(300)], "png").len() < 100);
    }

    #[test]
    fn picks_spread_evenly() {
        assert_eq!(pick_images(3, 5), vec![0, 1, 2]);
        assert_eq!(pick_images(10, 2), vec![2, 7]);
        assert_eq!(pick_images(10, 0), Vec::<usize>::new());
        let p = pick_images(1000, 48);
        assert_eq!(p.len(), 48);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p[47] < 1000);
    }

    #[test]
    fn escapes_and_links() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(bare_doi("https://doi.org/10.1/x"), "10.1/x");
        assert_eq!(url_path("10.1/a<b> c#"), "10.1/a%3Cb%3E%20c%23");
        assert_eq!(
            bare_orcid("https://orcid.org/0000-0002-1825-009X"),
            Some("0000-0002-1825-009X")
        );
        assert_eq!(bare_orcid("0000-0002-1825"), None);
        assert!(orcid_html(Some("<x>")).contains("&lt;x&gt;"));
        assert_eq!(link_if_web("javascript:alert(1)", "m"), "m");
    }

    #[test]
    fn layer_colour_is_dominant_or_none() {
        let mut px = [255u8, 0, 0, 255].repeat(9);
        px.extend([0, 0, 0, 0]);
        assert_eq!(layer_color(&px), Some([255, 0, 0]));
        px.extend([0u8, 255, 0, 255].repeat(9));
        assert_eq!(layer_color(&px), None);
        assert_eq!(layer_color(&[0, 0, 0, 0]), None);
    }
}
