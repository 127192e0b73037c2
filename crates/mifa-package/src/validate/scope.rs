//! What a commit checks on disk. The whole model is checked on every commit (it is in memory and
//! cheap); files — OME-Zarr stores, vector files, stored tracks — only where the write touched
//! them, so an edit costs what it changes. `mifa validate` still checks everything.

use crate::metadata::{AnnotationFile, AnnotationSet, ImageEntry, Manifest};
use std::collections::{HashMap, HashSet};

/// The images, annotation files and annotation sets whose files a commit re-reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scope {
    images: HashSet<String>,
    files: HashSet<String>,
    sets: HashSet<String>,
}

impl Scope {
    /// What changed from `old` to `new`: image entries and annotation files that are new or
    /// differ, the images whose OME-Zarr holds a changed file (a mask written as a label), the
    /// files and sets that depend on a changed image, and every annotation file when the classes
    /// changed (objects name classes).
    pub fn between(old: &Manifest, new: &Manifest) -> Scope {
        let mut scope = Scope {
            images: changed_images(old, new),
            ..Scope::default()
        };
        scope.changed_annotations(old, new);
        scope.images_holding_changed_files(new);
        scope.dependents_of_images(new, old.classes != new.classes);
        scope
    }

    pub(crate) fn has_image(&self, id: &str) -> bool {
        self.images.contains(id)
    }

    pub(crate) fn has_file(&self, rel: &str) -> bool {
        self.files.contains(rel)
    }

    pub(crate) fn has_set(&self, id: &str) -> bool {
        self.sets.contains(id)
    }

    fn changed_annotations(&mut self, old: &Manifest, new: &Manifest) {
        let old_sets: HashMap<&str, &AnnotationSet> = old
            .annotation_sets
            .iter()
            .map(|s| (s.id.as_str(), s))
            .collect();
        let old_files: HashMap<&str, &AnnotationFile> = old
            .annotation_sets
            .iter()
            .flat_map(|s| &s.files)
            .map(|f| (f.path.as_str(), f))
            .collect();
        for set in &new.annotation_sets {
            if old_sets.get(set.id.as_str()) != Some(&set) {
                self.sets.insert(set.id.clone());
            }
            for f in &set.files {
                if old_files.get(f.path.as_str()) != Some(&f) {
                    self.files.insert(f.path.clone());
                    self.sets.insert(set.id.clone());
                }
            }
        }
    }

    /// A label lives inside its image's OME-Zarr: writing one touches that image.
    fn images_holding_changed_files(&mut self, new: &Manifest) {
        let by_path: HashMap<&str, &str> = new
            .images
            .iter()
            .map(|i| (i.path.trim_end_matches('/'), i.id.as_str()))
            .collect();
        for rel in &self.files {
            let ancestors = rel.match_indices('/').map(|(at, _)| &rel[..at]);
            for dir in ancestors {
                if let Some(id) = by_path.get(dir) {
                    self.images.insert((*id).to_string());
                }
            }
        }
    }

    fn dependents_of_images(&mut self, new: &Manifest, classes_changed: bool) {
        for set in &new.annotation_sets {
            for f in &set.files {
                let mut on_touched = f.source_images.iter().filter(|i| self.images.contains(*i));
                let depends = on_touched.next().is_some();
                if depends || classes_changed {
                    self.files.insert(f.path.clone());
                    self.sets.insert(set.id.clone());
                }
            }
        }
    }
}

fn changed_images(old: &Manifest, new: &Manifest) -> HashSet<String> {
    let before: HashMap<&str, &ImageEntry> =
        old.images.iter().map(|i| (i.id.as_str(), i)).collect();
    new.images
        .iter()
        .filter(|i| before.get(i.id.as_str()) != Some(i))
        .map(|i| i.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{AnnotationFile, AnnotationSet, ImageEntry};

    fn image(id: &str) -> ImageEntry {
        serde_json::from_value(serde_json::json!({
            "id": id, "path": format!("images/{id}.ome.zarr"),
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "shape": [4, 4], "dtype": "uint8"
        }))
        .unwrap()
    }

    fn file(path: &str, image: &str) -> AnnotationFile {
        serde_json::from_value(serde_json::json!({"path": path, "source_images": [image]})).unwrap()
    }

    fn set(id: &str, files: Vec<AnnotationFile>) -> AnnotationSet {
        let mut s: AnnotationSet = serde_json::from_value(serde_json::json!({"id": id})).unwrap();
        s.files = files;
        s
    }

    fn package(n: usize) -> Manifest {
        let mut m = Manifest::new("A package to scope commits", "CC0-1.0");
        for i in 0..n {
            m.images.push(image(&format!("i{i}")));
            let path = format!("annotations/v{i}/i{i}.geojson");
            m.annotation_sets
                .push(set(&format!("v{i}"), vec![file(&path, &format!("i{i}"))]));
        }
        m
    }

    #[test]
    fn a_study_edit_touches_no_file() {
        let old = package(5);
        let mut new = old.clone();
        new.study.title = "Another title for the same package".into();
        assert_eq!(Scope::between(&old, &new), Scope::default());
    }

    #[test]
    fn a_mask_touches_its_image_and_what_depends_on_it() {
        let old = package(5);
        let mut new = old.clone();
        let label = file("images/i2.ome.zarr/labels/nuclei", "i2");
        new.annotation_sets.push(set("nuclei", vec![label]));
        let s = Scope::between(&old, &new);
        assert_eq!(s.images, HashSet::from(["i2".to_string()]));
        assert!(s.has_file("images/i2.ome.zarr/labels/nuclei"));
        assert!(s.has_file("annotations/v2/i2.geojson"));
        assert!(!s.has_file("annotations/v3/i3.geojson"));
        assert_eq!(
            s.sets,
            HashSet::from(["nuclei".to_string(), "v2".to_string()])
        );
    }

    #[test]
    fn an_image_edit_touches_its_files_and_a_class_edit_every_file() {
        let old = package(3);
        let mut new = old.clone();
        new.images[1].shape = vec![8, 8];
        let s = Scope::between(&old, &new);
        assert!(s.has_image("i1") && !s.has_image("i0"));
        assert!(
            s.has_file("annotations/v1/i1.geojson") && !s.has_file("annotations/v0/i0.geojson")
        );
        let mut classes = old.clone();
        classes
            .classes
            .push(serde_json::from_value(serde_json::json!({"id": 1, "name": "cell"})).unwrap());
        let s = Scope::between(&old, &classes);
        assert!(s.images.is_empty());
        assert_eq!(s.files.len(), 3);
    }
}
