//! Splits recorded in a package: the data types and the computation are the model's
//! ([`mifa_model::split`], re-exported here); this module adds what needs the package's files.

use crate::package::Package;
use mifa_model::split::Error as SplitError;
pub use mifa_model::split::*;
use std::collections::BTreeMap;

/// Errors computing, checking or recording a split.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The split itself is unusable.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// Reading the set's annotations failed.
    #[error(transparent)]
    Vectors(#[from] crate::vectors::Error),
    /// Writing the manifest failed.
    #[error(transparent)]
    Package(#[from] crate::package::Error),
}

/// The class of each image in vector set `set`: its first image-level label, else the most
/// frequent object class (ties: first by name). Images without a class are left out.
pub fn image_classes(pkg: &Package, set: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let mut vector_files = 0;
    for f in crate::vectors::set_files(pkg, set)? {
        let crate::vectors::SetFile::Vector { image, path } = f else {
            continue;
        };
        vector_files += 1;
        let c = crate::formats::geojson::read(&path, Default::default())
            .map_err(crate::vectors::Error::from)?
            .collection;
        let class = c.image_labels.first().map(|l| l.class.clone()).or_else(|| {
            let mut n: BTreeMap<&str, usize> = BTreeMap::new();
            for o in &c.objects {
                if let Some(k) = o.class() {
                    *n.entry(k).or_default() += 1;
                }
            }
            n.iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(k, _)| k.to_string())
        });
        if let Some(class) = class {
            out.insert(image, class);
        }
    }
    if vector_files == 0 {
        return Err(SplitError::Stratify {
            set: set.into(),
            message: "it has no vector (GeoJSON) files; stratify by a set with class labels or classified objects".into(),
        }
        .into());
    }
    if out.is_empty() {
        return Err(SplitError::Stratify {
            set: set.into(),
            message: "none of its images has a class label or a classified object".into(),
        }
        .into());
    }
    Ok(out)
}

/// What `mifa split` asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// Name of the split.
    pub id: String,
    /// Fractions.
    pub fractions: Fractions,
    /// Seed.
    pub seed: u64,
    /// Grouping.
    pub group_by: GroupBy,
    /// Vector set to stratify by.
    pub stratify: Option<String>,
}

/// Computes a split and records it in the manifest (replacing one of the same name). Returns
/// the split and whether an identical split (same inputs hash and membership) was there.
pub fn record(pkg: &mut Package, req: &Request) -> Result<(Split, bool), Error> {
    let strata = match &req.stratify {
        Some(set) => Some((set.as_str(), image_classes(pkg, set)?)),
        None => None,
    };
    let s = compute_stratified(
        pkg.manifest(),
        &req.id,
        req.fractions,
        req.seed,
        req.group_by,
        strata.as_ref().map(|(set, c)| (*set, c)),
    )?;
    let out = pkg
        .update(|m| -> Result<(Split, bool), Error> {
            let same = |o: &Split| {
                o.inputs_hash == s.inputs_hash
                    && o.train == s.train
                    && o.val == s.val
                    && o.test == s.test
            };
            match m.splits.iter_mut().find(|o| o.id == s.id) {
                Some(o) if same(o) => Ok((o.clone(), true)),
                Some(o) => {
                    *o = s.clone();
                    Ok((s.clone(), false))
                }
                None => {
                    m.splits.push(s.clone());
                    Ok((s.clone(), false))
                }
            }
        })
        .map_err(|e| match e {
            crate::package::UpdateError::Change(e) => e,
            crate::package::UpdateError::Package(e) => Error::Package(e),
        })?;
    Ok(out)
}
