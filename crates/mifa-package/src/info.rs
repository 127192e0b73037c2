//! A summary of a package: images, annotation sets with coverage and object counts, annotators,
//! versions, splits. Coverage and counts are computed from the package, never typed by hand.

use crate::metadata::{AnnotationSet, Manifest};
use crate::package::{Package, VERSIONS_DIR};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// How much of the package's images an annotation set covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Images referenced as a source image by at least one file of the set.
    pub images_annotated: usize,
    /// Images in the package.
    pub images_total: usize,
    /// Annotation files in the set.
    pub files: usize,
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} images, {} file(s)",
            self.images_annotated, self.images_total, self.files
        )
    }
}

/// Computes the MIFA coverage of an annotation set.
pub fn coverage(m: &Manifest, set: &AnnotationSet) -> Coverage {
    let images: BTreeSet<&str> = m.images.iter().map(|i| i.id.as_str()).collect();
    let annotated: BTreeSet<&str> = set
        .files
        .iter()
        .flat_map(|f| f.source_images.iter().map(String::as_str))
        .filter(|id| images.contains(id))
        .collect();
    Coverage {
        images_annotated: annotated.len(),
        images_total: images.len(),
        files: set.files.len(),
    }
}

/// Counts the objects in an annotation file: GeoJSON features, COCO annotations, CSV/TSV rows,
/// label values of an OME-Zarr label image (from its colour table). `None` for other files and
/// for files that cannot be read.
pub fn count_objects(path: &Path) -> Option<u64> {
    if path.is_dir() {
        // An OME-Zarr label image: one colour entry per non-zero value (as mifa writes them).
        let ms = crate::formats::ome_zarr::Multiscale::open(path).ok()?;
        let colors = ms.image_label?.get("colors")?.as_array()?.clone();
        return Some(
            colors
                .iter()
                .filter(|c| c.get("label-value").and_then(|v| v.as_i64()) != Some(0))
                .count() as u64,
        );
    }
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".geojson") || name.ends_with(".json") {
        #[derive(serde::Deserialize)]
        struct Counted {
            #[serde(default)]
            features: Option<Vec<serde::de::IgnoredAny>>,
            #[serde(default)]
            annotations: Option<Vec<serde::de::IgnoredAny>>,
        }
        let file = std::fs::File::open(path).ok()?;
        let c: Counted = serde_json::from_reader(std::io::BufReader::new(file)).ok()?;
        c.features.or(c.annotations).map(|v| v.len() as u64)
    } else if name.ends_with(".csv") || name.ends_with(".tsv") {
        let text = std::fs::read_to_string(path).ok()?;
        Some(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .count()
                .saturating_sub(1) as u64,
        )
    } else {
        None
    }
}

/// One image line.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    /// Id.
    pub id: String,
    /// Axis names, e.g. `cyx`.
    pub axes: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Sample type.
    pub dtype: String,
    /// Uncompressed size in bytes.
    pub bytes: u64,
    /// Pixel size of the space axes, e.g. `0.65 micrometer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_size: Option<String>,
}

/// One annotation-set line.
#[derive(Debug, Clone, Serialize)]
pub struct SetInfo {
    /// Id.
    pub id: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Annotation types.
    pub types: Vec<String>,
    /// Coverage.
    pub coverage: Coverage,
    /// Objects counted in the files that could be counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<u64>,
    /// Annotator names.
    pub annotators: Vec<String>,
}

/// One person credited anywhere in the package.
#[derive(Debug, Clone, Serialize)]
pub struct Contributor {
    /// Name.
    pub name: String,
    /// ORCID iD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orcid: Option<String>,
    /// Roles across the study and every set.
    pub roles: Vec<String>,
    /// Annotation sets this person annotated.
    pub sets: Vec<String>,
}

/// The summary printed by `mifa info`.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// Study title.
    pub title: String,
    /// Licence.
    pub license: String,
    /// Manifest format version.
    pub format_version: String,
    /// Images.
    pub images: Vec<ImageInfo>,
    /// Annotation sets.
    pub annotation_sets: Vec<SetInfo>,
    /// Per annotation type: (sets, objects).
    pub by_type: BTreeMap<String, (usize, u64)>,
    /// Study authors and annotators, merged by ORCID (or name).
    pub contributors: Vec<Contributor>,
    /// Release records found under `versions/`, oldest first.
    pub versions: Vec<String>,
    /// Recorded splits, by name: images in train, val and test.
    pub splits: BTreeMap<String, [usize; 3]>,
}

/// Summarises an open package.
pub fn info(pkg: &Package) -> Info {
    let m = pkg.manifest();
    let images = m
        .images
        .iter()
        .map(|img| {
            let space: Vec<_> = img
                .axes
                .iter()
                .filter(|a| a.kind == crate::metadata::AxisType::Space)
                .collect();
            let pixel_size = space
                .iter()
                .rev()
                .map(|a| {
                    a.scale.map(|s| {
                        format!(
                            "{s}{}",
                            a.unit
                                .as_deref()
                                .map(|u| format!(" {u}"))
                                .unwrap_or_default()
                        )
                    })
                })
                .collect::<Option<Vec<_>>>()
                .filter(|v| !v.is_empty())
                .map(|v| v.join(" x "));
            ImageInfo {
                id: img.id.clone(),
                axes: img.axes.iter().map(|a| a.name.as_str()).collect(),
                shape: img.shape.clone(),
                dtype: serde_json::to_value(img.dtype)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                bytes: img.shape.iter().product::<u64>() * img.dtype.size() as u64,
                pixel_size,
            }
        })
        .collect();

    let mut by_type: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let annotation_sets: Vec<SetInfo> = m
        .annotation_sets
        .iter()
        .map(|set| {
            let counts: Vec<u64> = set
                .files
                .iter()
                .filter_map(|f| pkg.resolve(&f.path).ok().and_then(|p| count_objects(&p)))
                .collect();
            let objects = (!counts.is_empty()).then(|| counts.iter().sum());
            for t in &set.types {
                let e = by_type.entry(t.to_string()).or_default();
                e.0 += 1;
                e.1 += objects.unwrap_or(0);
            }
            SetInfo {
                id: set.id.clone(),
                title: set.title.clone(),
                types: set.types.iter().map(|t| t.to_string()).collect(),
                coverage: coverage(m, set),
                objects,
                annotators: set.authors.iter().map(|a| a.name.clone()).collect(),
            }
        })
        .collect();

    Info {
        title: m.study.title.clone(),
        license: m.study.license.clone(),
        format_version: m.format_version.clone(),
        images,
        annotation_sets,
        by_type,
        contributors: contributors(m),
        versions: versions(&pkg.root().join(VERSIONS_DIR)),
        splits: splits(m),
    }
}

/// Everyone credited in the study or any annotation set, merged by ORCID, else by name.
pub fn contributors(m: &Manifest) -> Vec<Contributor> {
    let mut out: Vec<Contributor> = Vec::new();
    let study = m.study.authors.iter().map(|p| (p, None));
    let sets = m
        .annotation_sets
        .iter()
        .flat_map(|s| s.authors.iter().map(move |p| (p, Some(s.id.as_str()))));
    for (p, set) in study.chain(sets) {
        let existing = out.iter_mut().find(|c| match (&c.orcid, &p.orcid) {
            (Some(a), Some(b)) => a == b,
            _ => c.name.eq_ignore_ascii_case(&p.name),
        });
        let c = match existing {
            Some(c) => c,
            None => {
                out.push(Contributor {
                    name: p.name.clone(),
                    orcid: p.orcid.clone(),
                    roles: Vec::new(),
                    sets: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        if c.orcid.is_none() {
            c.orcid = p.orcid.clone();
        }
        for r in &p.roles {
            if !c.roles.contains(r) {
                c.roles.push(r.clone());
            }
        }
        if let Some(s) = set {
            if !c.sets.iter().any(|x| x == s) {
                c.sets.push(s.to_string());
            }
        }
    }
    out
}

fn versions(dir: &Path) -> Vec<String> {
    let mut v: Vec<(Vec<u64>, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_suffix(".json")?.to_string();
            let key = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
            Some((key, version))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

fn splits(m: &Manifest) -> BTreeMap<String, [usize; 3]> {
    m.splits
        .iter()
        .map(|s| (s.id.clone(), [s.train.len(), s.val.len(), s.test.len()]))
        .collect()
}

/// Bytes in binary units (KiB, MiB, …), one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.title)?;
        writeln!(
            f,
            "licence {}, manifest format {}",
            self.license, self.format_version
        )?;
        let total: u64 = self.images.iter().map(|i| i.bytes).sum();
        writeln!(
            f,
            "\nimages: {} ({} uncompressed)",
            self.images.len(),
            human_bytes(total)
        )?;
        for i in &self.images {
            let shape: Vec<String> = i.shape.iter().map(u64::to_string).collect();
            write!(
                f,
                "  {:<20} {} {} {}",
                i.id,
                i.axes,
                shape.join("x"),
                i.dtype
            )?;
            if let Some(p) = &i.pixel_size {
                write!(f, ", pixel {p}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "\nannotation sets: {}", self.annotation_sets.len())?;
        for s in &self.annotation_sets {
            let objects = s.objects.map_or("objects not counted".to_string(), |n| {
                format!("{n} objects")
            });
            writeln!(
                f,
                "  {:<20} [{}] {}, covers {}, annotators: {}",
                s.id,
                if s.types.is_empty() {
                    "no type".to_string()
                } else {
                    s.types.join(", ")
                },
                objects,
                s.coverage,
                if s.annotators.is_empty() {
                    "none listed".to_string()
                } else {
                    s.annotators.join(", ")
                }
            )?;
        }
        if !self.by_type.is_empty() {
            writeln!(f, "\nby type:")?;
            for (t, (sets, objects)) in &self.by_type {
                writeln!(f, "  {t:<24} {sets} set(s), {objects} objects")?;
            }
        }
        writeln!(f, "\ncontributors: {}", self.contributors.len())?;
        for c in &self.contributors {
            write!(f, "  {}", c.name)?;
            if let Some(o) = &c.orcid {
                write!(f, " (ORCID {o})")?;
            }
            if !c.roles.is_empty() {
                write!(f, ": {}", c.roles.join(", "))?;
            }
            if !c.sets.is_empty() {
                write!(f, "; annotated {}", c.sets.join(", "))?;
            }
            writeln!(f)?;
        }
        if self.versions.is_empty() {
            writeln!(f, "\nversions: none released")?;
        } else {
            writeln!(f, "\nversions: {}", self.versions.join(", "))?;
        }
        if self.splits.is_empty() {
            writeln!(f, "splits: none recorded")?;
        } else {
            let s: Vec<String> = self
                .splits
                .iter()
                .map(|(k, [a, b, c])| format!("{k} (train {a}, val {b}, test {c} images)"))
                .collect();
            writeln!(f, "splits: {}", s.join(", "))?;
        }
        Ok(())
    }
}
