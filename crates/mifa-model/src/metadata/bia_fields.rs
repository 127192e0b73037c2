//! The BioImage Archive ⇄ MIFA/REMBI field mapping, written once.
//!
//! Every BIA section type mifa writes or reads has one [`BiaSection`] here, listing its attributes
//! as BIA's BioImages.v5 template spells them ([`Field::name`]), how much BIA needs each
//! ([`Need`]), and where a metadata sheet puts its value in the manifest ([`Import`]). The BIA
//! export (`publish::bia::plan`) writes attributes by these names, the submission check
//! (`publish::bia::check`) knows sections and attributes from [`BIA_SECTIONS`], and the sheet
//! import (`sheet`) reads blocks per [`SHEET_SECTIONS`]. Fields that only a sheet knows (an NCBI
//! taxon id, the parts of an annotation method) are in the same lists, marked `bia: false`, so
//! that a sheet lists attributes in one order.

/// How much BIA needs an attribute of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// May be left out.
    Optional,
    /// Must be there and not blank.
    Required,
    /// Must be there (BIA's ingest reads it), even if blank.
    Present,
}

/// What a sheet value sets in the manifest entry of its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// One string at this key.
    Text(&'static str),
    /// One integer at this key.
    Int(&'static str),
    /// Each value appended as a string to this list.
    List(&'static str),
    /// Each value appended as `{"label": value}` to this list.
    Labels(&'static str),
    /// Comma-separated roles, appended.
    Roles,
    /// Comma-separated annotation types, appended.
    Types(&'static str),
    /// `Scientific name (common name)`, appended to `organisms`.
    Organism,
    /// NCBI taxon of the last organism: `9606`, `NCBITaxon_9606`, `NCBI:txid9606`.
    Taxon,
    /// A string inside a nested object: (object key, inner key).
    Nested(&'static str, &'static str),
    /// A software name (and optional version after the last space) appended to method.software.
    Software,
    /// An ORCID iD, normalised.
    Orcid,
}

/// One attribute of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The attribute name as BIA spells it (for a sheet-only field, the sheet's name).
    pub name: &'static str,
    /// Whether the attribute belongs to the BIA section (false: only a sheet knows it).
    pub bia: bool,
    /// How much BIA needs it.
    pub need: Need,
    /// Where a sheet row of this attribute goes; `None` when a sheet cannot set it.
    pub import: Option<Import>,
    /// Further (normalised: lower case, single spaces) names a sheet accepts.
    pub aliases: &'static [&'static str],
}

impl Field {
    const fn attr(name: &'static str) -> Field {
        Field {
            name,
            bia: true,
            need: Need::Optional,
            import: None,
            aliases: &[],
        }
    }

    const fn sheet_only(
        name: &'static str,
        import: Import,
        aliases: &'static [&'static str],
    ) -> Field {
        Field {
            name,
            bia: false,
            need: Need::Optional,
            import: Some(import),
            aliases,
        }
    }

    const fn required(self) -> Field {
        Field {
            need: Need::Required,
            ..self
        }
    }

    const fn present(self) -> Field {
        Field {
            need: Need::Present,
            ..self
        }
    }

    const fn optional(self) -> Field {
        Field {
            need: Need::Optional,
            ..self
        }
    }

    const fn not_bia(self) -> Field {
        Field { bia: false, ..self }
    }

    const fn import(self, import: Import, aliases: &'static [&'static str]) -> Field {
        Field {
            import: Some(import),
            aliases,
            ..self
        }
    }

    /// The name a sheet shows for the attribute (lower case).
    pub fn sheet_name(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// One section type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BiaSection {
    /// The section type as BIA spells it.
    pub name: &'static str,
    /// Another type name BIA reads as this one.
    pub alias: Option<&'static str>,
    /// Attributes, in sheet order (BIA's need is per attribute).
    pub fields: &'static [Field],
    /// Needs apply only to sections directly under `Study` (study authors, not annotators
    /// written as `Author` under an annotation section).
    pub needs_under_study_only: bool,
}

impl BiaSection {
    const fn new(name: &'static str, fields: &'static [Field]) -> BiaSection {
        BiaSection {
            name,
            alias: None,
            fields,
            needs_under_study_only: false,
        }
    }

    /// The attributes that belong to the BIA section.
    pub fn bia_fields(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| f.bia)
    }
}

use Import::*;

// Attributes shared by several sections.
/// `Title`, required.
pub const TITLE: Field = Field::attr("Title").required().import(Text("title"), &[]);
/// `Name`, required.
pub const NAME: Field = Field::attr("Name").required().import(Text("name"), &[]);
/// `Description`, required (optional where a section says so).
pub const DESCRIPTION: Field = Field::attr("Description")
    .required()
    .import(Text("description"), &[]);
/// `File List`: the path of a section's file list.
pub const FILE_LIST: Field = Field::attr("File List").required();
/// `Previous version`.
pub const PREVIOUS_VERSION: Field = Field::attr("Previous version");
/// `Previous version accession`.
pub const PREVIOUS_ACCESSION: Field = Field::attr("Previous version accession");

// Submission (the PageTab document's own attributes).
/// `ReleaseDate`: when the study becomes public.
pub const RELEASE_DATE: Field = Field::attr("ReleaseDate")
    .required()
    .import(Text("release_date"), &["release date"]);
/// `AttachTo`: the collection.
pub const ATTACH_TO: Field = Field::attr("AttachTo").required();
/// `Template`: the template version.
pub const TEMPLATE: Field = Field::attr("Template").required();
/// The submission's attributes.
pub const SUBMISSION: BiaSection =
    BiaSection::new("Submission", &[TITLE, RELEASE_DATE, ATTACH_TO, TEMPLATE]);

// Study.
/// `Keywords`.
pub const KEYWORDS: Field = Field::attr("Keywords")
    .required()
    .import(Labels("keywords"), &["keyword"]);
/// `License`.
pub const LICENSE: Field = Field::attr("License")
    .required()
    .import(Text("license"), &["licence"]);
/// `Acknowledgements`.
pub const ACKNOWLEDGEMENTS: Field =
    Field::attr("Acknowledgements").import(Text("acknowledgements"), &["acknowledgments"]);
/// `Funding statement`.
pub const FUNDING_STATEMENT: Field =
    Field::attr("Funding statement").import(Text("funding_statement"), &[]);
/// `Dataset version`: the release published.
pub const DATASET_VERSION: Field = Field::attr("Dataset version");
/// `Dataset fingerprint`: the release's dataset hash.
pub const DATASET_FINGERPRINT: Field = Field::attr("Dataset fingerprint");
/// The Study section.
pub const STUDY: BiaSection = BiaSection::new(
    "Study",
    &[
        TITLE,
        DESCRIPTION,
        KEYWORDS,
        LICENSE,
        RELEASE_DATE.not_bia(),
        ACKNOWLEDGEMENTS,
        FUNDING_STATEMENT,
        DATASET_VERSION,
        DATASET_FINGERPRINT,
        PREVIOUS_VERSION,
        PREVIOUS_ACCESSION,
    ],
);

// People.
/// `E-mail`.
pub const EMAIL: Field = Field::attr("E-mail").import(Text("email"), &["email"]);
/// `ORCID`.
pub const ORCID: Field = Field::attr("ORCID").import(Orcid, &[]);
/// `affiliation`: a reference to an `organisation` section.
pub const AFFILIATION: Field =
    Field::attr("affiliation").import(Text("affiliation"), &["organisation", "organization"]);
/// `Role`.
pub const ROLE: Field = Field::attr("Role").import(Roles, &["roles"]);
/// A study author.
pub const AUTHOR: BiaSection = BiaSection {
    needs_under_study_only: true,
    ..BiaSection::new(
        "Author",
        &[NAME, EMAIL.present(), ORCID, AFFILIATION.present(), ROLE],
    )
};
/// An annotator of an annotation set (not `Author`: BIA's ingest takes every `Author` section
/// of the tree as a study author).
pub const ANNOTATOR: BiaSection = BiaSection::new("Annotator", &[NAME, EMAIL, ORCID, ROLE]);
/// An author's organisation.
pub const ORGANISATION: BiaSection = BiaSection::new(
    "organisation",
    &[NAME, Field::attr("Address"), Field::attr("RORID")],
);

// Publications and funding.
/// `Authors` of a publication.
pub const PUBLICATION_AUTHORS: Field = Field::attr("Authors").import(Text("authors"), &[]);
/// `DOI`.
pub const DOI: Field = Field::attr("DOI").import(Text("doi"), &[]);
/// `Pubmed ID`.
pub const PUBMED_ID: Field = Field::attr("Pubmed ID").import(Text("pmid"), &["pmid"]);
/// `Year`.
pub const YEAR: Field = Field::attr("Year").import(Int("year"), &[]);
/// A publication.
pub const PUBLICATION: BiaSection = BiaSection::new(
    "Publication",
    &[TITLE.optional(), PUBLICATION_AUTHORS, DOI, PUBMED_ID, YEAR],
);
/// `Agency`.
pub const AGENCY: Field = Field::attr("Agency").import(Text("funder"), &["funder"]);
/// `grant_id`.
pub const GRANT_ID: Field = Field::attr("grant_id").import(Text("grant_id"), &["grant id"]);
/// A grant.
pub const FUNDING: BiaSection = BiaSection::new("Funding", &[AGENCY, GRANT_ID]);

// REMBI.
/// `Organism`: `Scientific name (common name)`.
pub const ORGANISM: Field = Field::attr("Organism").required().import(Organism, &[]);
/// `Biological entity`.
pub const BIOLOGICAL_ENTITY: Field = Field::attr("Biological entity")
    .required()
    .import(Text("biological_entity"), &[]);
/// `Intrinsic variable`.
pub const INTRINSIC_VARIABLE: Field =
    Field::attr("Intrinsic variable").import(List("intrinsic_variables"), &["intrinsic variables"]);
/// `Extrinsic variable`.
pub const EXTRINSIC_VARIABLE: Field =
    Field::attr("Extrinsic variable").import(List("extrinsic_variables"), &["extrinsic variables"]);
/// `Experimental variable`.
pub const EXPERIMENTAL_VARIABLE: Field = Field::attr("Experimental variable")
    .import(List("experimental_variables"), &["experimental variables"]);
/// REMBI Biosample.
pub const BIOSAMPLE: BiaSection = BiaSection::new(
    "Biosample",
    &[
        TITLE,
        ORGANISM,
        Field::sheet_only("ncbi taxon id", Taxon, &["ncbi taxon", "taxon"]),
        DESCRIPTION.optional(),
        BIOLOGICAL_ENTITY,
        INTRINSIC_VARIABLE,
        EXTRINSIC_VARIABLE,
        EXPERIMENTAL_VARIABLE,
    ],
);
/// `Sample preparation protocol`.
pub const SAMPLE_PREPARATION: Field = Field::attr("Sample preparation protocol")
    .required()
    .import(Text("sample_preparation_protocol"), &[]);
/// `Growth protocol`.
pub const GROWTH_PROTOCOL: Field =
    Field::attr("Growth protocol").import(Text("growth_protocol"), &[]);
/// REMBI Specimen.
pub const SPECIMEN: BiaSection =
    BiaSection::new("Specimen", &[TITLE, SAMPLE_PREPARATION, GROWTH_PROTOCOL]);
/// `Imaging instrument`.
pub const INSTRUMENT: Field = Field::attr("Imaging instrument")
    .required()
    .import(Text("instrument"), &["instrument"]);
/// `Image acquisition parameters`.
pub const ACQUISITION_PARAMETERS: Field = Field::attr("Image acquisition parameters")
    .required()
    .import(Text("parameters"), &["parameters"]);
/// `Imaging method`: the method's label.
pub const IMAGING_METHOD: Field = Field::attr("Imaging method")
    .required()
    .import(Nested("imaging_method", "label"), &[]);
/// REMBI Image acquisition.
pub const IMAGE_ACQUISITION: BiaSection = BiaSection::new(
    "Image acquisition",
    &[
        TITLE,
        INSTRUMENT,
        ACQUISITION_PARAMETERS,
        IMAGING_METHOD,
        Field::sheet_only(
            "imaging method term",
            Nested("imaging_method", "curie"),
            &["imaging method term id", "fbbi"],
        ),
    ],
);
/// `Fiducials used`.
pub const FIDUCIALS: Field =
    Field::attr("Fiducials used").import(Text("fiducials"), &["fiducials"]);
/// `Spatial and temporal alignment`.
pub const ALIGNMENT: Field = Field::attr("Spatial and temporal alignment")
    .required()
    .import(Text("spatial_temporal_alignment"), &[]);
/// `Transformation matrix`.
pub const TRANSFORMATION_MATRIX: Field =
    Field::attr("Transformation matrix").import(Text("transformation_matrix"), &[]);
/// REMBI Image correlation.
pub const IMAGE_CORRELATION: BiaSection = BiaSection::new(
    "Image correlation",
    &[TITLE, FIDUCIALS, ALIGNMENT, TRANSFORMATION_MATRIX],
);
/// `Image analysis overview`.
pub const ANALYSIS_OVERVIEW: Field = Field::attr("Image analysis overview")
    .required()
    .import(Text("overview"), &["overview"]);
/// REMBI Image analysis.
pub const IMAGE_ANALYSIS: BiaSection =
    BiaSection::new("Image analysis", &[TITLE, ANALYSIS_OVERVIEW]);
/// REMBI Study Component: a group of images with one file list.
pub const STUDY_COMPONENT: BiaSection =
    BiaSection::new("Study Component", &[NAME, DESCRIPTION, FILE_LIST]);
/// The REMBI sections a study component's images link to, by their titles; each attribute is
/// named as the section it names.
pub const ASSOCIATIONS: BiaSection = BiaSection::new(
    "Associations",
    &[
        Field::attr(BIOSAMPLE.name).required(),
        Field::attr(SPECIMEN.name).required(),
        Field::attr(IMAGE_ACQUISITION.name).required(),
        Field::attr(IMAGE_CORRELATION.name),
        Field::attr(IMAGE_ANALYSIS.name),
    ],
);

// MIFA annotations.
/// `Annotation Overview`.
pub const ANNOTATION_OVERVIEW: Field = Field::attr("Annotation Overview")
    .required()
    .import(Text("overview"), &["overview"]);
/// `Annotation Type`: comma-separated BIA annotation types.
pub const ANNOTATION_TYPE: Field = Field::attr("Annotation Type")
    .required()
    .import(Types("types"), &["annotation types", "type"]);
/// `Annotation Method`: the method's kind, description, software, consensus and QA in one.
pub const ANNOTATION_METHOD: Field = Field::attr("Annotation Method")
    .required()
    .import(Nested("method", "description"), &["method"]);
/// `Annotation Confidence Level`.
pub const CONFIDENCE: Field =
    Field::attr("Annotation Confidence Level").import(Text("confidence"), &["confidence"]);
/// `Annotation Criteria`.
pub const CRITERIA: Field =
    Field::attr("Annotation Criteria").import(Text("criteria"), &["criteria"]);
/// `Annotation Coverage`: how many images are annotated.
pub const COVERAGE: Field = Field::attr("Annotation Coverage");
/// `Transformations`.
pub const TRANSFORMATIONS: Field =
    Field::attr("Transformations").import(Text("transformations"), &["transformation"]);
/// `Spatial Information`: units and description.
pub const SPATIAL_INFORMATION: Field = Field::attr("Spatial Information").import(
    Nested("spatial", "description"),
    &["spatial information description"],
);
/// `Creation Time`.
pub const CREATION_TIME: Field =
    Field::attr("Creation Time").import(Text("created"), &["annotation creation time", "created"]);
/// The older name of the annotation section, the one BIA's ingester looks for today.
pub const ANNOTATIONS: &str = "Annotations";
/// A MIFA annotation set.
pub const ANNOTATION: BiaSection = BiaSection {
    alias: Some(ANNOTATIONS),
    ..BiaSection::new(
        "Annotation",
        &[
            TITLE,
            ANNOTATION_OVERVIEW,
            ANNOTATION_TYPE,
            Field::sheet_only(
                "annotation method kind",
                Nested("method", "kind"),
                &["method kind"],
            ),
            ANNOTATION_METHOD,
            Field::sheet_only("annotation software", Software, &["software"]),
            Field::sheet_only("consensus", Nested("method", "consensus"), &[]),
            Field::sheet_only(
                "quality assurance",
                Nested("method", "quality_assurance"),
                &[],
            ),
            CONFIDENCE,
            CRITERIA,
            TRANSFORMATIONS,
            Field::sheet_only(
                "spatial information units",
                Nested("spatial", "units"),
                &["spatial units"],
            ),
            SPATIAL_INFORMATION,
            CREATION_TIME,
            FILE_LIST,
            COVERAGE,
        ],
    )
};
/// `Annotation version`.
pub const ANNOTATION_VERSION: Field = Field::attr("Annotation version").required();
/// `Version timestamp`.
pub const VERSION_TIMESTAMP: Field = Field::attr("Version timestamp").required();
/// `Version changes`.
pub const VERSION_CHANGES: Field = Field::attr("Version changes");
/// The release an annotation section belongs to.
pub const VERSION: BiaSection = BiaSection::new(
    "Version",
    &[
        ANNOTATION_VERSION,
        VERSION_TIMESTAMP,
        VERSION_CHANGES,
        PREVIOUS_VERSION,
        PREVIOUS_ACCESSION,
    ],
);

/// Every section type of a submission below the document itself.
pub const BIA_SECTIONS: &[BiaSection] = &[
    STUDY,
    AUTHOR,
    ANNOTATOR,
    ORGANISATION,
    PUBLICATION,
    FUNDING,
    BIOSAMPLE,
    SPECIMEN,
    IMAGE_ACQUISITION,
    IMAGE_CORRELATION,
    IMAGE_ANALYSIS,
    ANNOTATION,
    STUDY_COMPONENT,
    ASSOCIATIONS,
    VERSION,
];

/// Column of an annotation file list naming the annotated image.
pub const SOURCE_IMAGE: &str = "Source Image";
/// Columns of a study component's file list (after the file path).
pub const IMAGE_LIST_COLUMNS: [&str; 9] = [
    "Image id",
    "Axes",
    "Shape",
    "Data type",
    "Pixel size",
    "Channels",
    BIOSAMPLE.name,
    SPECIMEN.name,
    IMAGE_ACQUISITION.name,
];
/// Columns of an annotation file list (after the file path).
pub const ANNOTATION_LIST_COLUMNS: [&str; 4] = [
    SOURCE_IMAGE,
    ANNOTATION_TYPE.name,
    "Transformation",
    CREATION_TIME.name,
];

/// Where the blocks of a sheet section go in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The study itself.
    Study,
    /// A list under `study`.
    StudyList(&'static str),
    /// A list under `rembi`.
    Rembi(&'static str),
    /// `annotation_sets`.
    AnnotationSet,
    /// A study author, or (with an id) an annotator of that set.
    Person,
}

/// A block type of a metadata sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetSection {
    /// Names a sheet may start the block with (compared normalised); the first is shown.
    pub names: &'static [&'static str],
    /// Where its blocks go.
    pub target: Target,
    /// Its attributes; those with an [`Import`] can be given.
    pub fields: &'static [Field],
}

/// The block types of a metadata sheet, in the order a sheet's help lists them.
pub const SHEET_SECTIONS: &[SheetSection] = &[
    SheetSection {
        names: &[STUDY.name],
        target: Target::Study,
        fields: STUDY.fields,
    },
    SheetSection {
        names: &[AUTHOR.name, "contact", ANNOTATOR.name],
        target: Target::Person,
        fields: AUTHOR.fields,
    },
    SheetSection {
        names: &[PUBLICATION.name],
        target: Target::StudyList("publications"),
        fields: PUBLICATION.fields,
    },
    SheetSection {
        names: &[FUNDING.name, "grant"],
        target: Target::StudyList("funding"),
        fields: FUNDING.fields,
    },
    SheetSection {
        names: &["ai model", "model"],
        target: Target::StudyList("models"),
        fields: &[
            NAME,
            Field::sheet_only(
                "bioimage model zoo id",
                Text("bioimage_io_id"),
                &["bioimage.io id", "bioimage_io_id"],
            ),
            Field::sheet_only("url", Text("url"), &["link"]),
        ],
    },
    SheetSection {
        names: &[STUDY_COMPONENT.name],
        target: Target::Rembi("study_components"),
        fields: STUDY_COMPONENT.fields,
    },
    SheetSection {
        names: &[BIOSAMPLE.name],
        target: Target::Rembi("biosamples"),
        fields: BIOSAMPLE.fields,
    },
    SheetSection {
        names: &[SPECIMEN.name],
        target: Target::Rembi("specimens"),
        fields: SPECIMEN.fields,
    },
    SheetSection {
        names: &[IMAGE_ACQUISITION.name],
        target: Target::Rembi("acquisitions"),
        fields: IMAGE_ACQUISITION.fields,
    },
    SheetSection {
        names: &[IMAGE_CORRELATION.name],
        target: Target::Rembi("correlations"),
        fields: IMAGE_CORRELATION.fields,
    },
    SheetSection {
        names: &[IMAGE_ANALYSIS.name],
        target: Target::Rembi("analyses"),
        fields: IMAGE_ANALYSIS.fields,
    },
    SheetSection {
        names: &[ANNOTATION.name, ANNOTATIONS],
        target: Target::AnnotationSet,
        fields: ANNOTATION.fields,
    },
];

impl SheetSection {
    /// The attributes a sheet can give.
    pub fn importable(&self) -> impl Iterator<Item = (&'static Field, Import)> {
        self.fields.iter().filter_map(|f| f.import.map(|i| (f, i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_type_and_attribute_is_named_once() {
        let mut kinds: Vec<&str> = BIA_SECTIONS.iter().map(|s| s.name).collect();
        kinds.sort_unstable();
        let n = kinds.len();
        kinds.dedup();
        assert_eq!(kinds.len(), n, "a section type is listed twice");
        for s in BIA_SECTIONS.iter().chain([&SUBMISSION]) {
            let mut names: Vec<String> = s.fields.iter().map(Field::sheet_name).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{}: an attribute is listed twice", s.name);
        }
    }

    #[test]
    fn associations_name_sections_that_have_titles() {
        for f in ASSOCIATIONS.fields {
            let target = BIA_SECTIONS.iter().find(|s| s.name == f.name).unwrap();
            assert!(target.fields.contains(&TITLE), "{}", f.name);
        }
    }
}
