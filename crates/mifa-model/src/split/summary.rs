//! What a recorded split holds, part by part: its images and how many groups they come from,
//! and the parts that asked for images but got none (fewer groups than parts).

use super::{groups, Error, Split};
use crate::metadata::Manifest;
use std::collections::BTreeSet;

/// One part of a split (`train`, `val` or `test`).
#[derive(Debug, Clone, PartialEq)]
pub struct Part<'a> {
    /// `train`, `val` or `test`.
    pub name: &'static str,
    /// The requested fraction of the images.
    pub share: f64,
    /// The part's images.
    pub images: &'a [String],
    /// Distinct groups among them.
    pub groups: usize,
}

impl Part<'_> {
    /// Asked for a share above 0 but got no image.
    pub fn starved(&self) -> bool {
        self.share > 0.0 && self.images.is_empty()
    }
}

/// The parts of a split and the package's number of groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary<'a> {
    /// `train`, `val`, `test`, in that order.
    pub parts: [Part<'a>; 3],
    /// Distinct groups over every image of the package.
    pub groups: usize,
}

/// Summarises `s`, grouping the images of `m` as the split did.
pub fn summary<'a>(m: &Manifest, s: &'a Split) -> Result<Summary<'a>, Error> {
    let groups = groups(m, s.group_by)?;
    let part = |name, share, images: &'a [String]| Part {
        name,
        share,
        images,
        groups: images
            .iter()
            .filter_map(|i| groups.get(i))
            .collect::<BTreeSet<_>>()
            .len(),
    };
    Ok(Summary {
        parts: [
            part("train", s.fractions.train, &s.train),
            part("val", s.fractions.val, &s.val),
            part("test", s.fractions.test, &s.test),
        ],
        groups: groups.values().collect::<BTreeSet<_>>().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ImageEntry;
    use crate::split::{compute, Fractions, GroupBy};

    /// One image per entry of `biosamples`, in that biosample.
    fn manifest(biosamples: &[&str]) -> Manifest {
        let mut m = Manifest::new("t", "CC0-1.0");
        for (i, b) in biosamples.iter().enumerate() {
            let mut img: ImageEntry = serde_json::from_value(serde_json::json!({
                "id": format!("img{i}"), "path": format!("images/img{i}.ome.zarr"),
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "shape": [4, 4], "dtype": "uint8"}))
            .unwrap();
            img.biosample = Some(b.to_string());
            m.images.push(img);
        }
        m
    }

    #[test]
    fn counts_the_groups_of_each_part() {
        let m = manifest(&["a", "a", "b", "b", "c", "d"]);
        let fractions = Fractions {
            train: 0.5,
            val: 0.25,
            test: 0.25,
        };
        let s = compute(&m, "default", fractions, 3, GroupBy::Biosample).unwrap();
        let sum = summary(&m, &s).unwrap();
        assert_eq!(sum.groups, 4);
        let names: Vec<_> = sum.parts.iter().map(|p| p.name).collect();
        assert_eq!(names, ["train", "val", "test"]);
        let images: usize = sum.parts.iter().map(|p| p.images.len()).sum();
        assert_eq!(images, 6);
        let groups: usize = sum.parts.iter().map(|p| p.groups).sum();
        assert_eq!(groups, 4, "a group never straddles two parts");
        assert!(sum.parts.iter().all(|p| !p.starved()));
    }

    #[test]
    fn a_part_without_images_is_starved_when_it_asked_for_some() {
        let m = manifest(&["a", "a"]);
        let fractions = Fractions {
            train: 0.5,
            val: 0.5,
            test: 0.0,
        };
        let s = compute(&m, "default", fractions, 0, GroupBy::Biosample).unwrap();
        let sum = summary(&m, &s).unwrap();
        assert_eq!(sum.groups, 1);
        let starved: Vec<_> = sum
            .parts
            .iter()
            .filter(|p| p.starved())
            .map(|p| p.name)
            .collect();
        assert_eq!(starved.len(), 1, "one of train and val gets the only group");
        assert!(!sum.parts[2].starved(), "test asked for nothing");
    }

    #[test]
    fn an_image_without_its_group_is_an_error() {
        let mut m = manifest(&["a", "b"]);
        let s = compute(
            &m,
            "default",
            Fractions {
                train: 1.0,
                val: 0.0,
                test: 0.0,
            },
            0,
            GroupBy::Biosample,
        )
        .unwrap();
        m.images[1].biosample = None;
        assert!(matches!(summary(&m, &s), Err(Error::MissingGroup { .. })));
    }
}
