//! What a run of batches served: target statistics (class balance, foreground, boxes and
//! points per patch) and throughput, the figures `mifa load` prints. They are computed here so
//! that every front end reports the same numbers.

use super::{Batch, Error, Loader, ReadStats};
use std::collections::BTreeMap;
use std::time::Instant;

/// Counts over the targets of the batches seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetStats {
    /// Per mask value, its pixels (semantic classes, instance ids; 0 is background); per image
    /// class, its samples (classification).
    pub classes: BTreeMap<i64, u64>,
    /// Mask pixels seen.
    pub pixels: u64,
    /// Boxes seen.
    pub boxes: u64,
    /// Points seen.
    pub points: u64,
    /// Samples (patches) seen.
    pub patches: u64,
}

impl TargetStats {
    /// Counts the targets of `batch`.
    pub fn add(&mut self, batch: &Batch) {
        if let Some(m) = &batch.masks {
            self.add_mask(m);
        }
        self.boxes += count(&batch.boxes);
        self.points += count(&batch.points);
        for &c in batch.labels.iter().flatten() {
            *self.classes.entry(c).or_default() += 1;
        }
        self.patches += batch.shape[0] as u64;
    }

    fn add_mask(&mut self, mask: &[i64]) {
        // Small values counted in an array: this loop runs over every served pixel.
        let mut small = [0u64; 256];
        for &v in mask {
            match usize::try_from(v) {
                Ok(i) if i < small.len() => small[i] += 1,
                _ => *self.classes.entry(v).or_default() += 1,
            }
        }
        for (k, &n) in small.iter().enumerate().filter(|(_, &n)| n > 0) {
            *self.classes.entry(k as i64).or_default() += n;
        }
        self.pixels += mask.len() as u64;
    }

    /// Fraction of mask pixels that are not 0; 0 without masks.
    pub fn foreground_fraction(&self) -> f64 {
        if self.pixels == 0 {
            return 0.0;
        }
        let background = self.classes.get(&0).copied().unwrap_or(0);
        1.0 - background as f64 / self.pixels as f64
    }

    /// Each class (mask value or image class) with its share of all counts, by class.
    pub fn class_fractions(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        let total = self.classes.values().sum::<u64>().max(1) as f64;
        self.classes
            .iter()
            .map(move |(&k, &n)| (k, n as f64 / total))
    }

    /// Mean boxes per patch.
    pub fn boxes_per_patch(&self) -> f64 {
        self.boxes as f64 / self.patches.max(1) as f64
    }

    /// Mean points per patch.
    pub fn points_per_patch(&self) -> f64 {
        self.points as f64 / self.patches.max(1) as f64
    }
}

/// Targets over every sample of a batch.
fn count<T>(per_sample: &Option<Vec<Vec<T>>>) -> u64 {
    per_sample.iter().flatten().map(|v| v.len() as u64).sum()
}

/// A timed run of batches. The first batch pays for worker start-up and cold caches, so it is
/// timed apart and the throughput counts the batches after it (as the Python comparison does).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Batches served.
    pub batches: u64,
    /// Patches after the first batch.
    pub timed_patches: u64,
    /// Seconds until the first batch arrived.
    pub first_batch_seconds: f64,
    /// Seconds from the first batch to the last.
    pub seconds: f64,
    /// Stored (undecoded-type) bytes of one sample, for the throughput in bytes.
    pub bytes_per_sample: u64,
    /// The targets of every batch, the first included.
    pub targets: TargetStats,
}

impl Run {
    /// Whether the throughput excludes the first batch (there were more than one).
    pub fn timed(&self) -> bool {
        self.batches > 1
    }

    /// Patches per second: after the first batch, or of the first alone when it was the only.
    pub fn patches_per_second(&self) -> f64 {
        if self.timed() {
            self.timed_patches as f64 / self.seconds.max(1e-9)
        } else {
            self.targets.patches as f64 / self.first_batch_seconds.max(1e-9)
        }
    }

    /// Megabytes (10⁶) of stored pixels per second, at [`Run::patches_per_second`].
    pub fn mb_per_second(&self) -> f64 {
        self.patches_per_second() * self.bytes_per_sample as f64 / 1e6
    }
}

impl ReadStats {
    /// Megabytes (10⁶) decoded per second of one worker's decoding time.
    pub fn decode_mb_per_second(&self) -> f64 {
        self.decoded_bytes as f64 / 1e6 / self.decode_seconds.max(1e-9)
    }
}

/// A batch failed; `epoch` is the epoch it belonged to.
#[derive(Debug, thiserror::Error)]
#[error("epoch {epoch}")]
pub struct EpochError {
    /// The epoch.
    pub epoch: u64,
    /// What failed.
    #[source]
    pub source: Error,
}

/// Serves `batches` batches from epoch 0 on (into the next epochs as needed), timing them and
/// counting their targets. Ends early if an epoch has no batch.
pub fn run(loader: &Loader, batches: u64) -> Result<Run, EpochError> {
    measure(
        |e| loader.epoch(e),
        batches,
        loader.stored_bytes_per_sample(),
    )
}

fn measure<I>(
    mut epoch: impl FnMut(u64) -> I,
    want: u64,
    bytes_per_sample: u64,
) -> Result<Run, EpochError>
where
    I: Iterator<Item = Result<Batch, Error>>,
{
    let mut run = Run {
        batches: 0,
        timed_patches: 0,
        first_batch_seconds: 0.0,
        seconds: 0.0,
        bytes_per_sample,
        targets: TargetStats::default(),
    };
    let t0 = Instant::now();
    let mut t_timed = t0;
    let mut e = 0;
    while run.batches < want {
        let before = run.batches;
        for batch in epoch(e) {
            let batch = batch.map_err(|source| EpochError { epoch: e, source })?;
            run.targets.add(&batch);
            run.batches += 1;
            if run.batches == 1 {
                run.first_batch_seconds = t0.elapsed().as_secs_f64();
                t_timed = Instant::now();
            } else {
                run.timed_patches += batch.shape[0] as u64;
            }
            if run.batches >= want {
                break;
            }
        }
        if run.batches == before {
            break;
        }
        e += 1;
    }
    run.seconds = t_timed.elapsed().as_secs_f64();
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Buffer, Pool};

    /// A batch of `n` samples of `h × w` pixels with these optional targets.
    fn batch(n: usize, mask: Option<&[i64]>, labels: Option<Vec<i64>>) -> Batch {
        let pool: Pool<f32> = Default::default();
        let masks = mask.map(|m| {
            let pool: Pool<i64> = Default::default();
            let mut b = Buffer::take(m.len(), false, &pool, true);
            b.copy_from_slice(m);
            b
        });
        Batch {
            epoch: 0,
            index: 0,
            shape: [n, 1, 2, 2],
            images: Buffer::take(n * 4, false, &pool, true),
            masks,
            heatmaps: None,
            boxes: None,
            points: None,
            labels,
            samples: Vec::new(),
        }
    }

    #[test]
    fn masks_count_pixels_per_value_small_and_large() {
        let mut s = TargetStats::default();
        s.add(&batch(2, Some(&[0, 0, 1, 1, 2, 0, 300, -1]), None));
        let want: BTreeMap<i64, u64> = [(-1, 1), (0, 3), (1, 2), (2, 1), (300, 1)].into();
        assert_eq!(s.classes, want);
        assert_eq!((s.pixels, s.patches), (8, 2));
        assert!((s.foreground_fraction() - 5.0 / 8.0).abs() < 1e-12);
        let fractions: Vec<(i64, f64)> = s.class_fractions().collect();
        assert_eq!(fractions[1], (0, 3.0 / 8.0));
        let sum: f64 = fractions.iter().map(|(_, f)| f).sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn boxes_points_and_labels_are_counted_per_patch() {
        use crate::{BoxTarget, PointTarget};
        let mut b = batch(2, None, Some(vec![3, 3]));
        let bx = BoxTarget {
            bbox: [0.0, 0.0, 1.0, 1.0],
            class: 1,
        };
        b.boxes = Some(vec![vec![bx, bx, bx], vec![]]);
        let p = PointTarget {
            x: 0.5,
            y: 0.5,
            class: 1,
        };
        b.points = Some(vec![vec![p], vec![p]]);
        let mut s = TargetStats::default();
        s.add(&b);
        assert_eq!(s.boxes_per_patch(), 1.5);
        assert_eq!(s.points_per_patch(), 1.0);
        assert_eq!(s.classes, [(3, 2)].into());
        assert_eq!(s.foreground_fraction(), 0.0, "no masks, no foreground");
    }

    #[test]
    fn an_empty_run_divides_by_nothing() {
        let s = TargetStats::default();
        assert_eq!(s.boxes_per_patch(), 0.0);
        assert_eq!(s.class_fractions().count(), 0);
        assert_eq!(ReadStats::default().decode_mb_per_second(), 0.0);
    }

    /// Epochs of `per_epoch` batches of 4 samples each.
    fn epochs(per_epoch: usize) -> impl FnMut(u64) -> std::vec::IntoIter<Result<Batch, Error>> {
        move |_| {
            (0..per_epoch)
                .map(|_| Ok(batch(4, None, None)))
                .collect::<Vec<_>>()
                .into_iter()
        }
    }

    #[test]
    fn a_run_goes_on_into_the_next_epochs_and_times_all_but_the_first_batch() {
        let r = measure(epochs(3), 7, 10).unwrap();
        assert_eq!(r.batches, 7);
        assert_eq!(r.targets.patches, 28);
        assert_eq!(r.timed_patches, 24);
        assert!(r.timed());
        let rate = r.patches_per_second();
        assert!((r.mb_per_second() - rate * 10.0 / 1e6).abs() < 1e-9 * rate.max(1.0));
    }

    #[test]
    fn one_batch_is_timed_from_the_start() {
        let r = measure(epochs(3), 1, 10).unwrap();
        assert_eq!((r.batches, r.timed_patches), (1, 0));
        assert!(!r.timed());
        let expected = 4.0 / r.first_batch_seconds.max(1e-9);
        assert_eq!(r.patches_per_second(), expected);
    }

    #[test]
    fn an_empty_epoch_ends_the_run() {
        let r = measure(epochs(0), 5, 10).unwrap();
        assert_eq!(r.batches, 0);
    }

    #[test]
    fn a_failed_batch_names_its_epoch() {
        let mut calls = 0;
        let epoch = |e: u64| {
            calls += 1;
            let item = if e == 1 {
                Err(Error::Worker(3))
            } else {
                Ok(batch(1, None, None))
            };
            vec![item].into_iter()
        };
        let err = measure(epoch, 5, 1).unwrap_err();
        assert_eq!(err.epoch, 1);
        assert!(matches!(err.source, Error::Worker(3)));
        assert_eq!(calls, 2);
    }
}
