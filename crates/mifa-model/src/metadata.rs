//! The metadata model of a package: MIFA study and annotation metadata, REMBI image metadata,
//! image entries.
//!
//! These types are the manifest (`mifa.json`). Every struct keeps the keys it does not know in
//! `extra`, so a manifest written by a newer tool or edited by hand loses nothing when mifa
//! rewrites it. The JSON Schema in `formats/manifest/schema.json` is generated from these types.

pub mod bia_fields;
pub mod checks;
pub mod completeness;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Keys a struct does not model, kept verbatim across rewrites.
pub type Extra = Map<String, Value>;

/// The manifest format version this build writes and the newest it reads.
pub const FORMAT_VERSION: &str = "0.1";

/// The whole manifest, `mifa.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "mifa package manifest",
    description = "The manifest of a mifa dataset package (mifa.json)."
)]
pub struct Manifest {
    /// Manifest format version (`major.minor`); readers refuse versions newer than their own.
    #[schemars(regex(pattern = r"^\d+\.\d+$"))]
    pub format_version: String,
    /// Study-level metadata (MIFA, REMBI "Study").
    pub study: Study,
    /// REMBI image metadata modules.
    #[serde(default)]
    pub rembi: Rembi,
    /// Images of the package, one OME-Zarr each under `images/`.
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// The package's class vocabulary, shared by every annotation set: COCO categories,
    /// GeoJSON `classification` names and semantic mask values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Class>,
    /// Annotation sets, one folder each under `annotations/`.
    #[serde(default)]
    pub annotation_sets: Vec<AnnotationSet>,
    /// Train/validation/test splits of the images (`mifa split`), leakage-free by construction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<crate::split::Split>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

impl Manifest {
    /// A new manifest with the current format version and an otherwise empty study.
    pub fn new(title: impl Into<String>, license: impl Into<String>) -> Self {
        Manifest {
            format_version: FORMAT_VERSION.to_string(),
            study: Study {
                title: title.into(),
                license: license.into(),
                description: None,
                keywords: Vec::new(),
                release_date: None,
                acknowledgements: None,
                funding_statement: None,
                authors: Vec::new(),
                publications: Vec::new(),
                funding: Vec::new(),
                models: Vec::new(),
                extra: Extra::new(),
            },
            rembi: Rembi::default(),
            images: Vec::new(),
            classes: Vec::new(),
            annotation_sets: Vec::new(),
            splits: Vec::new(),
            extra: Extra::new(),
        }
    }

    /// The image with this id.
    pub fn image(&self, id: &str) -> Option<&ImageEntry> {
        self.images.iter().find(|i| i.id == id)
    }

    /// The annotation set with this id.
    pub fn annotation_set(&self, id: &str) -> Option<&AnnotationSet> {
        self.annotation_sets.iter().find(|s| s.id == id)
    }

    /// The biosample of an image: its own link, else the package's only biosample.
    pub fn biosample_of<'a>(&'a self, img: &'a ImageEntry) -> Option<&'a str> {
        implied(
            img.biosample.as_deref(),
            self.rembi.biosamples.iter().map(|x| x.id.as_str()),
        )
    }

    /// The specimen of an image: its own link, else the package's only specimen.
    pub fn specimen_of<'a>(&'a self, img: &'a ImageEntry) -> Option<&'a str> {
        implied(
            img.specimen.as_deref(),
            self.rembi.specimens.iter().map(|x| x.id.as_str()),
        )
    }

    /// The acquisition of an image: its own link, else the package's only acquisition.
    pub fn acquisition_of<'a>(&'a self, img: &'a ImageEntry) -> Option<&'a str> {
        implied(
            img.acquisition.as_deref(),
            self.rembi.acquisitions.iter().map(|x| x.id.as_str()),
        )
    }

    /// The study component of an image: its own link, else the package's only component.
    pub fn study_component_of<'a>(&'a self, img: &'a ImageEntry) -> Option<&'a str> {
        implied(
            img.study_component.as_deref(),
            self.rembi.study_components.iter().map(|x| x.id.as_str()),
        )
    }
}

/// An image's own REMBI link, else the only candidate when there is exactly one.
fn implied<'a>(own: Option<&'a str>, mut all: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    own.or_else(|| match (all.next(), all.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    })
}

/// MIFA study metadata; attribute names follow BIA's REMBI "Study" section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Study {
    /// Study title.
    pub title: String,
    /// Description of the biological application: what was imaged and why, what the annotations are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keywords, each optionally tied to an ontology term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<Term>,
    /// Licence as an SPDX identifier; CC0-1.0 or CC-BY-4.0 preferred by the BioImage Archive.
    pub license: String,
    /// Public release date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    /// Acknowledgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgements: Option<String>,
    /// Funding statement, as free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding_statement: Option<String>,
    /// Study authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<Person>,
    /// Publications describing the data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<Publication>,
    /// Grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub funding: Vec<Funding>,
    /// AI models trained or evaluated on this dataset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelRef>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A term: free text, optionally identified by an ontology CURIE (e.g. `GO:0005634`, `FBbi:00000246`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Term {
    /// Human-readable label.
    pub label: String,
    /// Ontology term as a CURIE, `PREFIX:LOCAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9_.-]*:\S+$"))]
    pub curie: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// One class of the package's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Class {
    /// Number, unique in the package: the COCO category id and the value of the class in
    /// semantic masks (0 is background).
    #[schemars(range(min = 1))]
    pub id: u32,
    /// Name, unique in the package, as annotation files spell it.
    pub name: String,
    /// Display colour `[r, g, b]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<[u8; 3]>,
    /// Ontology term for the class (e.g. `GO:0005634` for a nucleus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<Term>,
    /// Parent class name (COCO `supercategory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
    /// What the class covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

impl Manifest {
    /// The class named `name`.
    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// The class named `name`, added (with the next free id and a palette colour) if missing.
    pub fn class_or_insert(&mut self, name: &str, color: Option<[u8; 3]>) -> &Class {
        if let Some(i) = self.classes.iter().position(|c| c.name == name) {
            if self.classes[i].color.is_none() {
                self.classes[i].color = color;
            }
            return &self.classes[i];
        }
        let id = self.classes.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        self.classes.push(Class {
            id,
            name: name.to_string(),
            color: color.or_else(|| Some(palette(id))),
            term: None,
            supercategory: None,
            description: None,
            extra: Extra::new(),
        });
        self.classes.last().expect("just pushed")
    }
}

/// A distinct colour per class number (a golden-angle hue walk, bright and saturated).
pub fn palette(id: u32) -> [u8; 3] {
    let h = (f64::from(id) * 137.507_764) % 360.0;
    let (s, v) = (0.75, 0.95);
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let u = |f: f64| ((f + m) * 255.0).round() as u8;
    [u(r), u(g), u(b)]
}

/// Where an annotation set's content came from: one entry per import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportRecord {
    /// Format read: `coco`, `geojson`, `points-csv`.
    pub format: String,
    /// File name as given (without folders).
    pub file: String,
    /// When it was imported (RFC 3339).
    pub imported: String,
    /// COCO `info`, kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    /// COCO `licenses`, kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<serde_json::Value>,
    /// COCO image ids of the package images (`{"img1": 42}`), so that exports and results
    /// files keep them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub image_ids: std::collections::BTreeMap<String, i64>,
    /// COCO `file_name`s of the package images, kept for exports.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub file_names: std::collections::BTreeMap<String, String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A person: study author, annotator, curator, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// ORCID iD, `0000-0000-0000-000X` (ISO 7064 MOD 11-2 check digit verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"))]
    pub orcid: Option<String>,
    /// E-mail address; a person with one can be contacted about the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Affiliation (institution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// Roles, e.g. `annotator`, `curator`, `reviewer`, `contact`, `corresponding author` (others are warned about).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A publication describing the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Publication {
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Author list as printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<String>,
    /// DOI, `10.NNNN/…` (no `https://doi.org/` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    /// PubMed id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmid: Option<String>,
    /// Year of publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Funding {
    /// Funding body.
    pub funder: String,
    /// Grant identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// An AI model related to the dataset (BioImage Model Zoo id or URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelRef {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// BioImage Model Zoo id, e.g. `affable-shark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bioimage_io_id: Option<String>,
    /// Where the model lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI modules (Sarkans et al. 2021) other than Study; entities are referenced by `id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rembi {
    /// Study components: groups of images acquired and analysed the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub study_components: Vec<StudyComponent>,
    /// What was imaged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub biosamples: Vec<Biosample>,
    /// How it was prepared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specimens: Vec<Specimen>,
    /// How it was imaged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acquisitions: Vec<ImageAcquisition>,
    /// How images of several modalities were registered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlations: Vec<ImageCorrelation>,
    /// How images were analysed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ImageAnalysis>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Study Component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StudyComponent {
    /// Identifier, unique in the package.
    pub id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// An organism, by scientific name and NCBI taxon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Organism {
    /// Scientific name, e.g. `Homo sapiens`.
    pub scientific_name: String,
    /// Common name, e.g. `human`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// NCBI taxonomy id, e.g. 9606.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub ncbi_taxon: Option<u64>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Biosample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Biosample {
    /// Identifier, unique in the package.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Organism(s) the sample comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisms: Vec<Organism>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Biological entity, e.g. `HeLa cells`, `nuclei`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biological_entity: Option<String>,
    /// Intrinsic variables (e.g. genotype).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intrinsic_variables: Vec<String>,
    /// Extrinsic variables (e.g. treatment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extrinsic_variables: Vec<String>,
    /// Experimental variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experimental_variables: Vec<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Specimen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Specimen {
    /// Identifier, unique in the package.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Sample preparation protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_preparation_protocol: Option<String>,
    /// Growth protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_protocol: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Image Acquisition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageAcquisition {
    /// Identifier, unique in the package.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Imaging instrument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// Imaging method, ideally with an FBbi term (e.g. `FBbi:00000246` fluorescence microscopy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imaging_method: Option<Term>,
    /// Acquisition parameters (objective, exposure, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Image Correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageCorrelation {
    /// Identifier, unique in the package.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Fiducials used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiducials: Option<String>,
    /// Spatial and temporal alignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spatial_temporal_alignment: Option<String>,
    /// Transformation matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation_matrix: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// REMBI Image Analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageAnalysis {
    /// Identifier, unique in the package.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Image analysis overview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// Axis kind, as in OME-Zarr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AxisType {
    /// x, y, z.
    Space,
    /// t.
    Time,
    /// c.
    Channel,
}

/// One axis of an image: name, kind, physical unit and size of one pixel along it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Axis {
    /// Axis name: `t`, `c`, `z`, `y` or `x`.
    pub name: String,
    /// Axis kind.
    #[serde(rename = "type")]
    pub kind: AxisType,
    /// UDUNITS-2 unit name, e.g. `micrometer`, `second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Physical size of one pixel (or interval) along this axis, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// An image of the package. Filled automatically when images are imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageEntry {
    /// Identifier, unique in the package.
    pub id: String,
    /// Path inside the package, e.g. `images/<id>.ome.zarr`.
    pub path: String,
    /// Axes, in storage order.
    pub axes: Vec<Axis>,
    /// Size along each axis, in pixels.
    pub shape: Vec<u64>,
    /// Sample type, e.g. `uint16`.
    pub dtype: DataType,
    /// Channel names, one per channel, when there is a channel axis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_names: Vec<String>,
    /// Id of the REMBI biosample imaged (implied when the package has exactly one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biosample: Option<String>,
    /// Id of the REMBI specimen (implied when the package has exactly one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specimen: Option<String>,
    /// Id of the REMBI image acquisition (implied when the package has exactly one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<String>,
    /// Id of the REMBI study component (implied when the package has exactly one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_component: Option<String>,
    /// The file the image was imported from, for provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// Pixel sample type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DataType {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
}

impl DataType {
    /// True for the integer types (the types a label image may have).
    pub fn is_integer(self) -> bool {
        !matches!(self, DataType::Bool | DataType::Float32 | DataType::Float64)
    }

    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            DataType::Bool | DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Float32 => 4,
            DataType::Uint64 | DataType::Int64 | DataType::Float64 => 8,
        }
    }
}

/// Annotation types, exactly the BioImage Archive vocabulary.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum AnnotationType {
    ClassLabels,
    BoundingBoxes,
    Counts,
    DerivedAnnotations,
    GeometricalAnnotations,
    Graphs,
    PointAnnotations,
    SegmentationMask,
    Tracks,
    WeakAnnotations,
    Other,
}

impl AnnotationType {
    /// Every type, in the BIA vocabulary's order.
    pub const ALL: [AnnotationType; 11] = [
        AnnotationType::ClassLabels,
        AnnotationType::BoundingBoxes,
        AnnotationType::Counts,
        AnnotationType::DerivedAnnotations,
        AnnotationType::GeometricalAnnotations,
        AnnotationType::Graphs,
        AnnotationType::PointAnnotations,
        AnnotationType::SegmentationMask,
        AnnotationType::Tracks,
        AnnotationType::WeakAnnotations,
        AnnotationType::Other,
    ];

    /// The vocabulary term, e.g. `segmentation_mask`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnnotationType::ClassLabels => "class_labels",
            AnnotationType::BoundingBoxes => "bounding_boxes",
            AnnotationType::Counts => "counts",
            AnnotationType::DerivedAnnotations => "derived_annotations",
            AnnotationType::GeometricalAnnotations => "geometrical_annotations",
            AnnotationType::Graphs => "graphs",
            AnnotationType::PointAnnotations => "point_annotations",
            AnnotationType::SegmentationMask => "segmentation_mask",
            AnnotationType::Tracks => "tracks",
            AnnotationType::WeakAnnotations => "weak_annotations",
            AnnotationType::Other => "other",
        }
    }
}

impl std::fmt::Display for AnnotationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How annotations were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// Drawn by domain experts.
    ManualExpert,
    /// Drawn by a crowd of non-experts.
    Crowdsourced,
    /// Produced by software and not corrected.
    Software,
    /// Produced by software, then corrected by people.
    SemiAutomatic,
    /// Generated synthetically (simulation, rendering).
    Synthetic,
}

/// A piece of software and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Software {
    /// Name, e.g. `QuPath`.
    pub name: String,
    /// Version, e.g. `0.5.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// MIFA annotation method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnnotationMethod {
    /// Kind of method.
    pub kind: MethodKind,
    /// Free-text description of the procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Software used to draw or generate the annotations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<Software>,
    /// How disagreements between annotators were resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<String>,
    /// Quality-assurance protocol (review, proof-reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_assurance: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// MIFA spatial information: the coordinate system the annotations live in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpatialInfo {
    /// Unit of annotation coordinates, e.g. `pixel` or `micrometer`.
    pub units: String,
    /// Convention: origin, axis directions, pixel-centre convention, pyramid level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// What the values of a label image mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    /// Each non-zero value is one object (instance segmentation).
    Instance,
    /// Each non-zero value is one class (semantic segmentation).
    Semantic,
}

/// One annotation file and the images it annotates (MIFA "source image association").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnnotationFile {
    /// Path inside the package.
    pub path: String,
    /// Ids of the images this file annotates.
    pub source_images: Vec<String>,
    /// Types of annotation in this file, when narrower than the set's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<AnnotationType>,
    /// For label images: whether each value is one object or one class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_kind: Option<MaskKind>,
    /// Transformation from the source image to this file's coordinates, when not the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    /// When this file was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A MIFA annotation set (MIFA Table 1). Coverage is not stored: it is computed from the files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnnotationSet {
    /// Identifier, unique in the package; also the folder name under `annotations/`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Annotation overview: what was annotated and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    /// Annotation types (BIA vocabulary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<AnnotationType>,
    /// Annotators and contact people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<Person>,
    /// How the annotations were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<AnnotationMethod>,
    /// Confidence level, e.g. inter-annotator agreement or review outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<String>,
    /// Annotation criteria: the rules annotators followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
    /// Transformations applied to the annotations after they were made (or `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformations: Option<String>,
    /// Coordinate system of the annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spatial: Option<SpatialInfo>,
    /// When the annotations were created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Annotation files with their source images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AnnotationFile>,
    /// Files imported into the set, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported_from: Vec<ImportRecord>,
    /// Keys this version does not model, kept verbatim.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}
