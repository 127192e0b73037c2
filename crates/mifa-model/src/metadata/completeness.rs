//! MIFA/REMBI completeness: which fields a package has, classed required / recommended / optional.
//!
//! The classes follow the BioImage Archive's REMBI submission template (BioImages.v5: `required` →
//! required, `desirable` → recommended) and BIA's MIFA model for annotation sets. Where those
//! sources disagree we take the stricter one, so that a package reported complete here can be
//! submitted. Per-item rules (one per author, biosample, image, annotation set) are counted once
//! per item, so scores grow with the package.

use super::{AxisType, Manifest, Person};
use serde::Serialize;

/// How much a field matters for reuse and for submission to the BioImage Archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Needed for a BIA submission.
    Required,
    /// Strongly advised by MIFA/REMBI.
    Recommended,
    /// Nice to have.
    Optional,
}

impl Level {
    /// `required`, `recommended` or `optional`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Required => "required",
            Level::Recommended => "recommended",
            Level::Optional => "optional",
        }
    }
}

/// Metadata modules, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    /// MIFA/REMBI Study, with authors, publications, funding and models.
    Study,
    /// REMBI Study Component.
    StudyComponent,
    /// REMBI Biosample.
    Biosample,
    /// REMBI Specimen.
    Specimen,
    /// REMBI Image Acquisition.
    ImageAcquisition,
    /// REMBI Image Correlation (only when present).
    ImageCorrelation,
    /// REMBI Image Analysis (only when present).
    ImageAnalysis,
    /// Image entries and their links to REMBI modules.
    Images,
    /// MIFA annotation sets.
    Annotations,
}

impl Module {
    /// Every module, in report order.
    pub const ALL: [Module; 9] = [
        Module::Study,
        Module::StudyComponent,
        Module::Biosample,
        Module::Specimen,
        Module::ImageAcquisition,
        Module::ImageCorrelation,
        Module::ImageAnalysis,
        Module::Images,
        Module::Annotations,
    ];

    /// Name as printed and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Study => "study",
            Module::StudyComponent => "study_component",
            Module::Biosample => "biosample",
            Module::Specimen => "specimen",
            Module::ImageAcquisition => "image_acquisition",
            Module::ImageCorrelation => "image_correlation",
            Module::ImageAnalysis => "image_analysis",
            Module::Images => "images",
            Module::Annotations => "annotations",
        }
    }
}

/// One field checked for presence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Module the field belongs to.
    pub module: Module,
    /// JSON path in the manifest, e.g. `study.authors[0].orcid`.
    pub path: String,
    /// Importance.
    pub level: Level,
    /// Whether the field is filled.
    pub present: bool,
    /// One line saying what to fill in and how.
    pub hint: String,
}

/// Met / total for one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Score {
    /// Checks passed.
    pub met: usize,
    /// Checks in total.
    pub total: usize,
}

/// Scores of one module.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleScore {
    /// Module.
    pub module: Module,
    /// Required fields.
    pub required: Score,
    /// Recommended fields.
    pub recommended: Score,
    /// Optional fields.
    pub optional: Score,
}

/// The completeness report: a score per module and every gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    /// Scores, one per module, in report order.
    pub modules: Vec<ModuleScore>,
    /// Every check not met, required first.
    pub gaps: Vec<Check>,
}

impl Completeness {
    /// True when every required field of every module is filled.
    pub fn required_complete(&self) -> bool {
        self.modules
            .iter()
            .all(|m| m.required.met == m.required.total)
    }
}

/// Runs every completeness check on a manifest.
pub fn assess(m: &Manifest) -> Completeness {
    let checks = checks(m);
    let modules = Module::ALL
        .iter()
        .map(|&module| {
            let score = |level| {
                let of_level = checks
                    .iter()
                    .filter(|c| c.module == module && c.level == level);
                Score {
                    met: of_level.clone().filter(|c| c.present).count(),
                    total: of_level.count(),
                }
            };
            ModuleScore {
                module,
                required: score(Level::Required),
                recommended: score(Level::Recommended),
                optional: score(Level::Optional),
            }
        })
        .collect();
    let mut gaps: Vec<Check> = checks.into_iter().filter(|c| !c.present).collect();
    gaps.sort_by_key(|c| (c.level, c.module));
    Completeness { modules, gaps }
}

fn filled(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(
        &mut self,
        module: Module,
        path: impl Into<String>,
        level: Level,
        present: bool,
        hint: &str,
    ) {
        self.0.push(Check {
            module,
            path: path.into(),
            level,
            present,
            hint: hint.to_string(),
        });
    }
}

/// Every check, in manifest order.
pub fn checks(m: &Manifest) -> Vec<Check> {
    use Level::*;
    use Module as M;
    let mut c = Checks(Vec::new());
    let s = &m.study;

    c.add(
        M::Study,
        "study.title",
        Required,
        !s.title.trim().is_empty(),
        "a title of at least 25 characters: mifa meta set DIR study.title \"…\"",
    );
    c.add(M::Study, "study.description", Required, filled(&s.description),
        "describe the biological application and what the annotations are for: mifa meta set DIR study.description \"…\"");
    c.add(
        M::Study,
        "study.keywords",
        Required,
        !s.keywords.is_empty(),
        "at least one keyword: mifa meta set DIR study.keywords[+].label nuclei",
    );
    c.add(
        M::Study,
        "study.license",
        Required,
        !s.license.trim().is_empty(),
        "an SPDX licence id, CC0-1.0 or CC-BY-4.0 preferred",
    );
    c.add(
        M::Study,
        "study.release_date",
        Required,
        filled(&s.release_date),
        "the public release date YYYY-MM-DD: mifa meta set DIR study.release_date 2025-01-31",
    );
    c.add(M::Study, "study.authors", Required, !s.authors.is_empty(),
        "at least one author: mifa author add DIR --name \"…\" --email … --affiliation \"…\" --orcid …");
    c.add(
        M::Study,
        "study.authors[*].email",
        Required,
        s.authors.iter().any(|a| filled(&a.email)),
        "a contact: at least one author with an e-mail address (mifa author add … --email …)",
    );
    for (i, a) in s.authors.iter().enumerate() {
        person_checks(
            &mut c,
            M::Study,
            &format!("study.authors[{i}]"),
            a,
            Required,
        );
    }
    c.add(M::Study, "study.keywords[*].curie", Recommended,
        !s.keywords.is_empty() && s.keywords.iter().all(|k| filled(&k.curie)),
        "tie keywords to ontology terms (e.g. GO:0005634): mifa meta set DIR study.keywords[0].curie GO:0005634");
    c.add(
        M::Study,
        "study.funding_statement",
        Recommended,
        filled(&s.funding_statement),
        "who funded the work, as free text: mifa meta set DIR study.funding_statement \"…\"",
    );
    c.add(M::Study, "study.publications", Recommended, !s.publications.is_empty(),
        "a publication describing the data (DOI or PMID): mifa meta set DIR study.publications[+].doi 10.…");
    c.add(
        M::Study,
        "study.funding",
        Recommended,
        !s.funding.is_empty(),
        "grants: mifa meta set DIR study.funding[+].funder \"…\"",
    );
    c.add(
        M::Study,
        "study.acknowledgements",
        Optional,
        filled(&s.acknowledgements),
        "acknowledgements: mifa meta set DIR study.acknowledgements \"…\"",
    );
    c.add(M::Study, "study.models", Optional, !s.models.is_empty(),
        "AI models trained on these data (BioImage Model Zoo id or URL): mifa meta set DIR study.models[+].bioimage_io_id …");

    let r = &m.rembi;
    c.add(
        M::StudyComponent,
        "rembi.study_components",
        Required,
        !r.study_components.is_empty(),
        "at least one study component: mifa meta set DIR rembi.study_components[main].name \"…\"",
    );
    for (i, x) in r.study_components.iter().enumerate() {
        let p = format!("rembi.study_components[{i}]");
        c.add(
            M::StudyComponent,
            format!("{p}.name"),
            Required,
            filled(&x.name),
            "name of this group of images",
        );
        c.add(
            M::StudyComponent,
            format!("{p}.description"),
            Required,
            filled(&x.description),
            "what these images show and how they relate to the rest of the study",
        );
    }
    c.add(
        M::Biosample,
        "rembi.biosamples",
        Required,
        !r.biosamples.is_empty(),
        "at least one biosample: mifa meta set DIR rembi.biosamples[ID].title \"…\"",
    );
    for (i, x) in r.biosamples.iter().enumerate() {
        let p = format!("rembi.biosamples[{i}]");
        c.add(
            M::Biosample,
            format!("{p}.title"),
            Required,
            filled(&x.title),
            "a short title, used to associate images",
        );
        c.add(M::Biosample, format!("{p}.organisms"), Required, !x.organisms.is_empty(),
            "the organism: set organisms[0].scientific_name (e.g. Homo sapiens) and organisms[0].ncbi_taxon (e.g. 9606)");
        c.add(
            M::Biosample,
            format!("{p}.biological_entity"),
            Required,
            filled(&x.biological_entity),
            "what was imaged, e.g. \"HeLa cells\" or \"mouse liver tissue\"",
        );
        c.add(
            M::Biosample,
            format!("{p}.organisms[*].ncbi_taxon"),
            Recommended,
            !x.organisms.is_empty() && x.organisms.iter().all(|o| o.ncbi_taxon.is_some()),
            "NCBI taxonomy id of each organism, e.g. 9606 for Homo sapiens",
        );
        c.add(
            M::Biosample,
            format!("{p}.description"),
            Recommended,
            filled(&x.description),
            "a description of the biosample",
        );
        c.add(
            M::Biosample,
            format!("{p}.*_variables"),
            Recommended,
            !(x.intrinsic_variables.is_empty()
                && x.extrinsic_variables.is_empty()
                && x.experimental_variables.is_empty()),
            "intrinsic (e.g. genotype), extrinsic (e.g. treatment) or experimental variables",
        );
    }
    c.add(M::Specimen, "rembi.specimens", Required, !r.specimens.is_empty(),
        "at least one specimen: mifa meta set DIR rembi.specimens[ID].sample_preparation_protocol \"…\"");
    for (i, x) in r.specimens.iter().enumerate() {
        let p = format!("rembi.specimens[{i}]");
        c.add(
            M::Specimen,
            format!("{p}.title"),
            Required,
            filled(&x.title),
            "a short title, used to associate images",
        );
        c.add(
            M::Specimen,
            format!("{p}.sample_preparation_protocol"),
            Required,
            filled(&x.sample_preparation_protocol),
            "how the sample was prepared for imaging (fixation, staining, mounting)",
        );
        c.add(
            M::Specimen,
            format!("{p}.growth_protocol"),
            Recommended,
            filled(&x.growth_protocol),
            "how cells or organisms were grown",
        );
    }
    c.add(
        M::ImageAcquisition,
        "rembi.acquisitions",
        Required,
        !r.acquisitions.is_empty(),
        "at least one image acquisition: mifa meta set DIR rembi.acquisitions[ID].instrument \"…\"",
    );
    for (i, x) in r.acquisitions.iter().enumerate() {
        let p = format!("rembi.acquisitions[{i}]");
        c.add(
            M::ImageAcquisition,
            format!("{p}.title"),
            Required,
            filled(&x.title),
            "a short title, used to associate images",
        );
        c.add(
            M::ImageAcquisition,
            format!("{p}.instrument"),
            Required,
            filled(&x.instrument),
            "the imaging instrument (make, model)",
        );
        c.add(
            M::ImageAcquisition,
            format!("{p}.imaging_method"),
            Required,
            x.imaging_method.is_some(),
            "the imaging method, e.g. label \"fluorescence microscopy\" with curie FBbi:00000246",
        );
        c.add(
            M::ImageAcquisition,
            format!("{p}.parameters"),
            Required,
            filled(&x.parameters),
            "acquisition parameters: objective, pixel size, exposure, channels",
        );
        c.add(
            M::ImageAcquisition,
            format!("{p}.imaging_method.curie"),
            Recommended,
            x.imaging_method.as_ref().is_some_and(|t| filled(&t.curie)),
            "an FBbi term for the imaging method, e.g. FBbi:00000246",
        );
    }
    for (i, x) in r.correlations.iter().enumerate() {
        let p = format!("rembi.correlations[{i}]");
        c.add(
            M::ImageCorrelation,
            format!("{p}.title"),
            Required,
            filled(&x.title),
            "a short title",
        );
        c.add(
            M::ImageCorrelation,
            format!("{p}.spatial_temporal_alignment"),
            Required,
            filled(&x.spatial_temporal_alignment),
            "how images were aligned in space and time",
        );
        c.add(
            M::ImageCorrelation,
            format!("{p}.fiducials"),
            Recommended,
            filled(&x.fiducials),
            "fiducials used",
        );
        c.add(
            M::ImageCorrelation,
            format!("{p}.transformation_matrix"),
            Recommended,
            filled(&x.transformation_matrix),
            "the transformation matrix",
        );
    }
    for (i, x) in r.analyses.iter().enumerate() {
        let p = format!("rembi.analyses[{i}]");
        c.add(
            M::ImageAnalysis,
            format!("{p}.title"),
            Required,
            filled(&x.title),
            "a short title",
        );
        c.add(
            M::ImageAnalysis,
            format!("{p}.overview"),
            Required,
            filled(&x.overview),
            "an overview of the image analysis",
        );
    }

    for (i, img) in m.images.iter().enumerate() {
        let p = format!("images[{i}]");
        let linked = |own: &Option<String>, count: usize| own.is_some() || count == 1;
        c.add(
            M::Images,
            format!("{p}.biosample"),
            Required,
            linked(&img.biosample, r.biosamples.len()),
            "the biosample imaged (implied when the package has exactly one)",
        );
        c.add(
            M::Images,
            format!("{p}.specimen"),
            Required,
            linked(&img.specimen, r.specimens.len()),
            "the specimen imaged (implied when the package has exactly one)",
        );
        c.add(
            M::Images,
            format!("{p}.acquisition"),
            Required,
            linked(&img.acquisition, r.acquisitions.len()),
            "the image acquisition (implied when the package has exactly one)",
        );
        c.add(
            M::Images,
            format!("{p}.study_component"),
            Required,
            linked(&img.study_component, r.study_components.len()),
            "the study component (implied when the package has exactly one)",
        );
        let space: Vec<_> = img
            .axes
            .iter()
            .filter(|a| a.kind == AxisType::Space)
            .collect();
        c.add(
            M::Images,
            format!("{p}.axes[*].scale"),
            Recommended,
            !space.is_empty() && space.iter().all(|a| a.scale.is_some() && a.unit.is_some()),
            "physical pixel size and unit of every space axis (e.g. 0.65 micrometer)",
        );
        if img.axes.iter().any(|a| a.kind == AxisType::Channel) {
            c.add(
                M::Images,
                format!("{p}.channel_names"),
                Recommended,
                !img.channel_names.is_empty(),
                "a name per channel, e.g. DAPI, GFP",
            );
        }
    }

    for (i, set) in m.annotation_sets.iter().enumerate() {
        let p = format!("annotation_sets[{i}]");
        c.add(
            M::Annotations,
            format!("{p}.title"),
            Required,
            filled(&set.title),
            "a short title of the annotation set",
        );
        c.add(
            M::Annotations,
            format!("{p}.overview"),
            Required,
            filled(&set.overview),
            "annotation overview: what was annotated, for what task",
        );
        c.add(
            M::Annotations,
            format!("{p}.types"),
            Required,
            !set.types.is_empty(),
            "annotation types from the BIA vocabulary, e.g. segmentation_mask",
        );
        c.add(M::Annotations, format!("{p}.method"), Required, set.method.is_some(),
            "annotation method: kind (manual_expert, crowdsourced, software, semi_automatic, synthetic) and how");
        c.add(
            M::Annotations,
            format!("{p}.authors"),
            Required,
            !set.authors.is_empty(),
            "the annotators: mifa author add DIR --set ID --name \"…\" --orcid … --role annotator",
        );
        c.add(
            M::Annotations,
            format!("{p}.files"),
            Required,
            !set.files.is_empty(),
            "the annotation files of this set",
        );
        for (j, f) in set.files.iter().enumerate() {
            c.add(
                M::Annotations,
                format!("{p}.files[{j}].source_images"),
                Required,
                !f.source_images.is_empty(),
                "the image(s) this file annotates",
            );
        }
        c.add(
            M::Annotations,
            format!("{p}.authors[*].email"),
            Recommended,
            set.authors.iter().any(|a| filled(&a.email)),
            "a contact for questions about the annotations: an annotator with an e-mail",
        );
        c.add(
            M::Annotations,
            format!("{p}.authors[*].orcid"),
            Recommended,
            !set.authors.is_empty() && set.authors.iter().all(|a| filled(&a.orcid)),
            "an ORCID iD for every annotator, so credit follows them across versions",
        );
        if let Some(method) = &set.method {
            if matches!(
                method.kind,
                super::MethodKind::Software | super::MethodKind::SemiAutomatic
            ) {
                c.add(
                    M::Annotations,
                    format!("{p}.method.software"),
                    Recommended,
                    !method.software.is_empty(),
                    "the software (name and version) that produced the annotations",
                );
            }
        }
        c.add(
            M::Annotations,
            format!("{p}.confidence"),
            Recommended,
            filled(&set.confidence),
            "confidence level, e.g. inter-annotator agreement or review outcome",
        );
        c.add(
            M::Annotations,
            format!("{p}.criteria"),
            Recommended,
            filled(&set.criteria),
            "annotation criteria: the rules the annotators followed",
        );
        c.add(
            M::Annotations,
            format!("{p}.transformations"),
            Recommended,
            filled(&set.transformations),
            "transformations applied to the annotations since they were made (or \"none\")",
        );
        c.add(
            M::Annotations,
            format!("{p}.spatial"),
            Recommended,
            set.spatial.is_some(),
            "spatial information: the units and coordinate convention of the annotations",
        );
        c.add(
            M::Annotations,
            format!("{p}.created"),
            Recommended,
            filled(&set.created),
            "when the annotations were created (RFC 3339)",
        );
    }
    c.0
}

fn person_checks(c: &mut Checks, module: Module, p: &str, a: &Person, affiliation: Level) {
    c.add(
        module,
        format!("{p}.affiliation"),
        affiliation,
        filled(&a.affiliation),
        "the author's institution",
    );
    c.add(
        module,
        format!("{p}.orcid"),
        Level::Recommended,
        filled(&a.orcid),
        "the author's ORCID iD",
    );
    c.add(
        module,
        format!("{p}.roles"),
        Level::Recommended,
        !a.roles.is_empty(),
        "the author's roles, e.g. annotator, curator, corresponding author",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_package_lists_required_gaps() {
        let m = Manifest::new("Nuclei of HeLa cells imaged by widefield", "CC-BY-4.0");
        let report = assess(&m);
        assert!(!report.required_complete());
        let study = &report.modules[0];
        assert_eq!(study.module, Module::Study);
        // title and licence filled; description, keywords, release date, authors, contact missing.
        assert_eq!(study.required, Score { met: 2, total: 7 });
        let required: Vec<&str> = report
            .gaps
            .iter()
            .filter(|g| g.level == Level::Required)
            .map(|g| g.path.as_str())
            .collect();
        assert_eq!(
            required,
            [
                "study.description",
                "study.keywords",
                "study.release_date",
                "study.authors",
                "study.authors[*].email",
                "rembi.study_components",
                "rembi.biosamples",
                "rembi.specimens",
                "rembi.acquisitions",
            ]
        );
        // Absent optional modules are not held against the package.
        let corr = report
            .modules
            .iter()
            .find(|m| m.module == Module::ImageCorrelation)
            .unwrap();
        assert_eq!(corr.required.total, 0);
    }
}
