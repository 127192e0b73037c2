//! What a conversion lost: objects dropped, holes dropped, per-object overlap with the source.

use serde::Serialize;
use std::fmt;

/// One object a conversion dropped or changed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Loss {
    /// Image id.
    pub image: String,
    /// Object id (or `#n`, its position in the file).
    pub object: String,
    /// What happened.
    pub reason: String,
}

/// The worst overlap of a conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    /// Image id.
    pub image: String,
    /// Object id.
    pub object: String,
    /// Its IoU with the source.
    pub iou: f64,
}

/// The fidelity report of one conversion: printed by every command that converts, and kept in
/// JSON by those that write a report file.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Fidelity {
    /// What was converted into what, e.g. `label mask -> COCO polygons`.
    pub conversion: String,
    /// Objects read.
    pub objects_in: usize,
    /// Objects written.
    pub objects_out: usize,
    /// Objects not written, with the reason.
    pub dropped: Vec<Loss>,
    /// Holes that the target format cannot hold (COCO polygons), so were filled.
    pub holes_dropped: usize,
    /// Objects compared pixel by pixel with their source.
    pub compared: usize,
    /// Of those, the ones reproduced exactly (IoU 1).
    pub exact: usize,
    /// Mean IoU over the objects compared.
    pub iou_mean: Option<f64>,
    /// The object with the lowest IoU.
    pub iou_min: Option<Worst>,
    /// Other changes worth knowing, counted (e.g. `pixels overwritten by a later object`).
    pub notes: Vec<String>,
    #[serde(skip)]
    iou_sum: f64,
}

impl Fidelity {
    /// An empty report for `conversion`.
    pub fn new(conversion: impl Into<String>) -> Fidelity {
        Fidelity {
            conversion: conversion.into(),
            ..Fidelity::default()
        }
    }

    /// Records that an object was dropped.
    pub fn drop(&mut self, image: &str, object: &str, reason: impl Into<String>) {
        self.dropped.push(Loss {
            image: image.into(),
            object: object.into(),
            reason: reason.into(),
        });
    }

    /// Records the IoU of one converted object with its source.
    pub fn compare(&mut self, image: &str, object: &str, iou: f64) {
        self.compared += 1;
        self.iou_sum += iou;
        if iou >= 1.0 {
            self.exact += 1;
        }
        self.iou_mean = Some(self.iou_sum / self.compared as f64);
        if self.iou_min.as_ref().is_none_or(|w| iou < w.iou) {
            self.iou_min = Some(Worst {
                image: image.into(),
                object: object.into(),
                iou,
            });
        }
    }

    /// Adds a note, once.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Whether nothing was lost.
    pub fn is_lossless(&self) -> bool {
        self.dropped.is_empty() && self.holes_dropped == 0 && self.exact == self.compared
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} objects in, {} out",
            self.conversion, self.objects_in, self.objects_out
        )?;
        if !self.dropped.is_empty() {
            let mut reasons: Vec<(&str, usize)> = Vec::new();
            for d in &self.dropped {
                match reasons.iter_mut().find(|(r, _)| *r == d.reason) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((&d.reason, 1)),
                }
            }
            let text: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            write!(f, ", {} dropped ({})", self.dropped.len(), text.join("; "))?;
        }
        if self.holes_dropped > 0 {
            write!(f, ", {} holes filled", self.holes_dropped)?;
        }
        if let (Some(mean), Some(worst)) = (self.iou_mean, &self.iou_min) {
            write!(
                f,
                "; pixels: {} of {} objects exact, IoU mean {:.4}, min {:.4} (image {}, object {})",
                self.exact, self.compared, mean, worst.iou, worst.image, worst.object
            )?;
        }
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        if self.is_lossless() {
            write!(f, " - lossless")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_the_worst_object() {
        let mut f = Fidelity::new("label mask -> COCO polygons");
        f.objects_in = 3;
        f.objects_out = 2;
        f.compare("img", "1", 1.0);
        f.compare("img", "2", 0.5);
        f.drop("img", "3", "has no area");
        f.holes_dropped = 1;
        let text = f.to_string();
        assert!(text.contains("1 dropped (1 has no area)"), "{text}");
        assert!(
            text.contains(
                "1 of 2 objects exact, IoU mean 0.7500, min 0.5000 (image img, object 2)"
            ),
            "{text}"
        );
        assert!(!f.is_lossless());
        let mut g = Fidelity::new("x");
        g.compare("i", "1", 1.0);
        assert!(g.to_string().ends_with("lossless"));
    }
}
