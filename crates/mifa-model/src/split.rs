//! Train/validation/test splits that never leak (the data types and the computation; `mifa-package` records
//! them in a package): images are grouped (by image, biosample or
//! specimen), the groups shuffled from a seed and dealt to the splits by image count, so a group
//! never straddles two splits. The same inputs and seed always give the same split: the shuffle
//! is SplitMix64 + Fisher–Yates, defined here, not by a crate's version.

use crate::metadata::Manifest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod summary;

/// Errors computing or checking a split.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The fractions are unusable.
    #[error("fractions train {train}, val {val}, test {test}: {message}")]
    Fractions {
        /// Train fraction.
        train: f64,
        /// Validation fraction.
        val: f64,
        /// Test fraction.
        test: f64,
        /// What is wrong.
        message: String,
    },
    /// An image lacks the key it is grouped by.
    #[error("image {image:?} has no {key}; set it (mifa meta set …) or group by image")]
    MissingGroup {
        /// The image.
        image: String,
        /// `biosample` or `specimen`.
        key: &'static str,
    },
    /// Nothing to split.
    #[error("the package has no images to split")]
    Empty,
    /// The stratification set is unusable.
    #[error("cannot stratify by set {set:?}: {message}")]
    Stratify {
        /// The set.
        set: String,
        /// What is wrong.
        message: String,
    },
    /// The package has no split.
    #[error("the package has no split; make one with `mifa split`")]
    NoSplit,
    /// Several splits and none named.
    #[error("the package has several splits ({known}); name one")]
    Ambiguous {
        /// The names recorded.
        known: String,
    },
    /// No split of that name.
    #[error("no split {id:?} in the package (splits: {known})")]
    Unknown {
        /// The name asked for.
        id: String,
        /// The names recorded.
        known: String,
    },
}

/// The split named `id`, or the only one when `id` is `None`.
pub fn find<'a>(m: &'a Manifest, id: Option<&str>) -> Result<&'a Split, Error> {
    let names: Vec<&str> = m.splits.iter().map(|s| s.id.as_str()).collect();
    let found = match id {
        Some(id) => m.splits.iter().find(|s| s.id == id),
        None if m.splits.len() == 1 => m.splits.first(),
        None => None,
    };
    found.ok_or_else(|| match (id, names.is_empty()) {
        (_, true) => Error::NoSplit,
        (Some(id), false) => Error::Unknown {
            id: id.to_string(),
            known: names.join(", "),
        },
        (None, false) => Error::Ambiguous {
            known: names.join(", "),
        },
    })
}

/// What images are grouped by, so that related images stay in one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Each image alone.
    Image,
    /// The REMBI biosample imaged.
    Biosample,
    /// The REMBI specimen.
    Specimen,
}

impl GroupBy {
    fn key(self) -> &'static str {
        match self {
            GroupBy::Image => "image",
            GroupBy::Biosample => "biosample",
            GroupBy::Specimen => "specimen",
        }
    }
}

/// Fractions of the images per split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fractions {
    /// Training.
    pub train: f64,
    /// Validation.
    pub val: f64,
    /// Test.
    pub test: f64,
}

impl Fractions {
    /// Checks that each is in [0, 1] and they sum to 1 (within 1e-6).
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: &str| Error::Fractions {
            train: self.train,
            val: self.val,
            test: self.test,
            message: message.into(),
        };
        let all = [self.train, self.val, self.test];
        if all.iter().any(|f| !f.is_finite() || *f < 0.0 || *f > 1.0) {
            return Err(bad("each must be between 0 and 1"));
        }
        let sum: f64 = all.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(bad(&format!("they sum to {sum}, not 1")));
        }
        Ok(())
    }
}

/// A split recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Split {
    /// Name of the split (`default` unless given).
    pub id: String,
    /// How it was made: `grouped-shuffle` (SplitMix64 Fisher–Yates over sorted groups, dealt
    /// by image count to the split furthest below its share).
    pub method: String,
    /// What images were grouped by.
    pub group_by: GroupBy,
    /// Seed of the shuffle.
    pub seed: u64,
    /// The annotation set whose classes stratified the split: groups were dealt class by class
    /// (a group's class is the most frequent one of its images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<String>,
    /// Requested fractions.
    pub fractions: Fractions,
    /// FNV-1a 64 of the inputs (sorted `image<TAB>group` lines, fractions, seed, method), to
    /// tell whether re-running would reproduce it.
    pub inputs_hash: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Training images.
    pub train: Vec<String>,
    /// Validation images.
    pub val: Vec<String>,
    /// Test images.
    pub test: Vec<String>,
}

/// Deterministic generator: SplitMix64 (Steele, Lea & Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (Lemire's multiply-shift, rejection for exactness).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The group of one image (the only biosample or specimen is implied).
fn group_of(m: &Manifest, img: &crate::metadata::ImageEntry, by: GroupBy) -> Option<String> {
    match by {
        GroupBy::Image => Some(img.id.clone()),
        GroupBy::Biosample => m.biosample_of(img).map(str::to_string),
        GroupBy::Specimen => m.specimen_of(img).map(str::to_string),
    }
}

/// The group of each image, in image-id order.
pub fn groups(m: &Manifest, by: GroupBy) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for img in &m.images {
        let g = group_of(m, img, by).ok_or_else(|| Error::MissingGroup {
            image: img.id.clone(),
            key: by.key(),
        })?;
        out.insert(img.id.clone(), g);
    }
    Ok(out)
}

/// Computes a split of the package's images.
pub fn compute(
    m: &Manifest,
    id: &str,
    fractions: Fractions,
    seed: u64,
    by: GroupBy,
) -> Result<Split, Error> {
    compute_stratified(m, id, fractions, seed, by, None)
}

/// Like [`compute`], with groups dealt separately per class: `strata` is `(set, image → class)`
/// and a group's class is the most frequent class of its images (ties: the first by name;
/// images without a class form their own stratum).
pub fn compute_stratified(
    m: &Manifest,
    id: &str,
    fractions: Fractions,
    seed: u64,
    by: GroupBy,
    strata: Option<(&str, &BTreeMap<String, String>)>,
) -> Result<Split, Error> {
    fractions.check()?;
    let of = groups(m, by)?;
    if of.is_empty() {
        return Err(Error::Empty);
    }
    let method = "grouped-shuffle";
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (img, g) in &of {
        members.entry(g.as_str()).or_default().push(img.as_str());
    }
    let mut order: Vec<&str> = members.keys().copied().collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let stratum_of = |g: &str| -> String {
        let Some((_, classes)) = strata else {
            return String::new();
        };
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        for img in &members[g] {
            if let Some(c) = classes.get(*img) {
                *n.entry(c.as_str()).or_default() += 1;
            }
        }
        n.iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default()
    };
    // The shuffled order is kept inside each stratum.
    let mut by_stratum: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for g in order {
        by_stratum.entry(stratum_of(g)).or_default().push(g);
    }
    let share = [fractions.train, fractions.val, fractions.test];
    let mut lists: [Vec<String>; 3] = Default::default();
    let mut counts = [0usize; 3];
    for groups in by_stratum.values() {
        let total = groups.iter().map(|g| members[g].len()).sum::<usize>() as f64;
        let mut local = [0usize; 3];
        // Splits with a share but no group yet come first, so that small group counts still
        // give every requested split at least one group; then the split furthest below its
        // share (of this stratum).
        for g in groups {
            let empty = (0..3).find(|&k| share[k] > 0.0 && counts[k] == 0);
            let k = empty.unwrap_or_else(|| {
                (0..3)
                    .filter(|&k| share[k] > 0.0)
                    .max_by(|&a, &b| {
                        let da = share[a] * total - local[a] as f64;
                        let db = share[b] * total - local[b] as f64;
                        da.total_cmp(&db).then(b.cmp(&a))
                    })
                    .expect("fractions sum to 1")
            });
            counts[k] += members[g].len();
            local[k] += members[g].len();
            lists[k].extend(members[g].iter().map(|s| s.to_string()));
        }
    }
    for l in &mut lists {
        l.sort();
    }
    let mut text = String::new();
    for (img, g) in &of {
        let class = strata
            .and_then(|(_, c)| c.get(img))
            .map_or("", String::as_str);
        text.push_str(&format!("{img}\t{g}\t{class}\n"));
    }
    if let Some((set, _)) = strata {
        text.push_str(&format!("stratify {set}\n"));
    }
    text.push_str(&format!(
        "{method} {seed} {} {} {} {}\n",
        by.key(),
        fractions.train,
        fractions.val,
        fractions.test
    ));
    let [train, val, test] = lists;
    Ok(Split {
        id: id.to_string(),
        method: method.into(),
        group_by: by,
        seed,
        stratify: strata.map(|(set, _)| set.to_string()),
        fractions,
        inputs_hash: format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes())),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        train,
        val,
        test,
    })
}

/// Problems of a recorded split: unknown images, an image in two splits, a group in two
/// splits (leakage).
pub fn check(m: &Manifest, s: &Split) -> Vec<String> {
    let mut out = Vec::new();
    let known: std::collections::HashSet<&str> = m.images.iter().map(|i| i.id.as_str()).collect();
    let mut where_: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, list) in [("train", &s.train), ("val", &s.val), ("test", &s.test)] {
        for img in list {
            if !known.contains(img.as_str()) {
                out.push(format!(
                    "split {:?}: {name} names image {img:?}, which is not in the package",
                    s.id
                ));
            }
            if let Some(other) = where_.insert(img, name) {
                out.push(format!(
                    "split {:?}: image {img:?} is in both {other} and {name}",
                    s.id
                ));
            }
        }
    }
    {
        let mut seen: BTreeMap<String, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
        for (img, split) in &where_ {
            let Some(entry) = m.image(img) else { continue };
            match group_of(m, entry, s.group_by) {
                Some(g) => seen
                    .entry(g)
                    .or_default()
                    .entry(split)
                    .or_default()
                    .push(img),
                None => out.push(format!(
                    "split {:?}: image {img:?} has no {}, so leakage cannot be checked",
                    s.id,
                    s.group_by.key()
                )),
            }
        }
        for (g, by_split) in seen {
            if by_split.len() > 1 {
                let parts: Vec<String> = by_split
                    .iter()
                    .map(|(k, v)| format!("{k} ({})", v.join(", ")))
                    .collect();
                out.push(format!(
                    "split {:?} leaks: {} {g:?} has images in {}",
                    s.id,
                    s.group_by.key(),
                    parts.join(" and ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{ImageEntry, Manifest};
    use proptest::prelude::*;

    fn manifest(groups: &[usize]) -> Manifest {
        let mut m = Manifest::new("t", "CC0-1.0");
        for (i, g) in groups.iter().enumerate() {
            let mut img: ImageEntry = serde_json::from_value(serde_json::json!({
                "id": format!("img{i:03}"), "path": format!("images/img{i:03}.ome.zarr"),
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "shape": [4, 4], "dtype": "uint8"}))
            .unwrap();
            img.biosample = Some(format!("bs{g}"));
            m.images.push(img);
        }
        m
    }

    #[test]
    fn stratified_splits_share_each_class() {
        // 12 images, each its own group: 8 of class a, 4 of class b.
        let m = manifest(&(0..12).collect::<Vec<_>>());
        let classes: BTreeMap<String, String> = m
            .images
            .iter()
            .enumerate()
            .map(|(i, img)| (img.id.clone(), if i < 8 { "a" } else { "b" }.to_string()))
            .collect();
        let f = Fractions {
            train: 0.5,
            val: 0.5,
            test: 0.0,
        };
        for seed in 0..20 {
            let s = compute_stratified(&m, "s", f, seed, GroupBy::Image, Some(("set", &classes)))
                .unwrap();
            assert_eq!(s.stratify.as_deref(), Some("set"));
            let count = |l: &[String], c: &str| l.iter().filter(|i| classes[*i] == c).count();
            assert_eq!(
                (count(&s.train, "a"), count(&s.val, "a")),
                (4, 4),
                "seed {seed}"
            );
            assert_eq!(
                (count(&s.train, "b"), count(&s.val, "b")),
                (2, 2),
                "seed {seed}"
            );
            let plain = compute(&m, "s", f, seed, GroupBy::Image).unwrap();
            assert_ne!(plain.inputs_hash, s.inputs_hash);
        }
    }

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (from the original C code).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn fractions_must_sum_to_one() {
        let f = Fractions {
            train: 0.8,
            val: 0.1,
            test: 0.2,
        };
        assert!(f.check().unwrap_err().to_string().contains("sum to 1.1"));
        let f = Fractions {
            train: 1.2,
            val: -0.1,
            test: -0.1,
        };
        assert!(f.check().is_err());
    }

    proptest! {
        #[test]
        fn groups_never_straddle_and_every_image_is_placed(
            groups in proptest::collection::vec(0usize..12, 1..60), seed in any::<u64>()) {
            let m = manifest(&groups);
            let f = Fractions { train: 0.7, val: 0.2, test: 0.1 };
            let s = compute(&m, "default", f, seed, GroupBy::Biosample).unwrap();
            prop_assert!(check(&m, &s).is_empty(), "{:?}", check(&m, &s));
            prop_assert_eq!(s.train.len() + s.val.len() + s.test.len(), groups.len());
            // Same inputs, same split.
            let again = compute(&m, "default", f, seed, GroupBy::Biosample).unwrap();
            prop_assert_eq!((&again.train, &again.val, &again.test), (&s.train, &s.val, &s.test));
            prop_assert_eq!(again.inputs_hash, s.inputs_hash);
        }
    }

    #[test]
    fn shares_are_close_with_many_groups() {
        let m = manifest(&(0..1000).collect::<Vec<_>>());
        let f = Fractions {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        };
        let s = compute(&m, "default", f, 7, GroupBy::Biosample).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (800, 100, 100));
    }

    #[test]
    fn leakage_is_reported() {
        let m = manifest(&[0, 0, 1]);
        let f = Fractions {
            train: 0.5,
            val: 0.5,
            test: 0.0,
        };
        let mut s = compute(&m, "default", f, 1, GroupBy::Biosample).unwrap();
        // Hand-edit: move one image of biosample 0 to the other side.
        let (a, b) = if s.train.contains(&"img000".to_string()) {
            (&mut s.train, &mut s.val)
        } else {
            (&mut s.val, &mut s.train)
        };
        a.retain(|x| x != "img001");
        b.push("img001".into());
        let p = check(&m, &s).join("\n");
        assert!(p.contains("leaks: biosample \"bs0\" has images in"), "{p}");
    }
}
