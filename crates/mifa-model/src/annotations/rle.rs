//! COCO run-length encoding, exactly as pycocotools (`maskApi.c`) defines it.
//!
//! Runs go down the columns (Fortran order: `y` fastest), start with a run of zeros (possibly
//! empty), and sum to `height × width`. The compressed string form packs each count in 5-bit
//! groups as characters 48–111, from the fourth count on as a difference to the count two
//! before. Polygons are rasterised the way `frPyObjects` does it, so a mask made here equals
//! pycocotools' `annToMask` pixel for pixel (checked in `tests/interop/`).

use std::fmt;

/// Errors decoding RLE data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RleError {
    /// The counts do not cover the image.
    #[error("RLE counts sum to {sum}, but size [{height}, {width}] has {expected} pixels")]
    Sum {
        /// Sum of the counts.
        sum: u64,
        /// Expected `height × width`.
        expected: u64,
        /// Height.
        height: u32,
        /// Width.
        width: u32,
    },
    /// A character outside the 48–111 alphabet.
    #[error(
        "compressed RLE has {found:?} at position {position}; counts use characters '0' to 'o'"
    )]
    Char {
        /// The character.
        found: char,
        /// Its byte offset.
        position: usize,
    },
    /// A count that is negative or too large once decoded.
    #[error("compressed RLE count {index} decodes to {value}, outside 0..2^32")]
    Count {
        /// Index of the count.
        index: usize,
        /// The decoded value.
        value: i64,
    },
    /// The string ends inside a count.
    #[error("compressed RLE ends in the middle of a count")]
    Truncated,
    /// A polygon coordinate list that cannot be rasterised.
    #[error("polygon {0}")]
    Polygon(String),
}

/// Coordinates beyond this (in pixels) are refused: rasterising them would walk a boundary of
/// billions of points.
pub const MAX_COORDINATE: f64 = 1.0e7;

/// A binary mask as COCO run lengths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rle {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Alternating runs of 0 and 1, column-major, starting with 0.
    pub counts: Vec<u32>,
}

impl Rle {
    /// Encodes a row-major mask (`height × width` values, non-zero = inside).
    pub fn from_mask<T: Copy + Default + PartialEq>(mask: &[T], height: u32, width: u32) -> Rle {
        let (h, w) = (height as usize, width as usize);
        assert_eq!(mask.len(), h * w, "mask size");
        let zero = T::default();
        let mut counts = Vec::new();
        let (mut current, mut run) = (false, 0u32);
        for x in 0..w {
            for y in 0..h {
                let v = mask[y * w + x] != zero;
                if v != current {
                    counts.push(run);
                    run = 0;
                    current = v;
                }
                run += 1;
            }
        }
        counts.push(run);
        Rle {
            height,
            width,
            counts,
        }
    }

    /// Checks and wraps uncompressed counts (COCO's `{"counts": [...], "size": [h, w]}`).
    pub fn from_counts(counts: Vec<u32>, height: u32, width: u32) -> Result<Rle, RleError> {
        let sum: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let expected = u64::from(height) * u64::from(width);
        if sum != expected {
            return Err(RleError::Sum {
                sum,
                expected,
                height,
                width,
            });
        }
        Ok(Rle {
            height,
            width,
            counts,
        })
    }

    /// Decodes into a row-major mask of 0 and 1.
    pub fn to_mask(&self) -> Vec<u8> {
        let (h, w) = (self.height as usize, self.width as usize);
        let mut out = vec![0u8; h * w];
        if h == 0 {
            return out;
        }
        for (s, e) in self.intervals() {
            let (s, e) = (s as usize, (e as usize).min(h * w));
            // Walk the run column by column: no division per pixel.
            let (mut x, mut y, mut left) = (s / h, s % h, e.saturating_sub(s));
            while left > 0 {
                let n = left.min(h - y);
                for row in y..y + n {
                    out[row * w + x] = 1;
                }
                left -= n;
                x += 1;
                y = 0;
            }
        }
        out
    }

    /// Pixels inside (pycocotools `area`).
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// Bounding box `[x, y, width, height]` as pycocotools `toBbox` computes it.
    pub fn bbox(&self) -> [f64; 4] {
        let h = u64::from(self.height);
        let m = self.counts.len() / 2 * 2;
        if m == 0 || h == 0 {
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (u64::from(self.width), h, 0u64, 0u64);
        let (mut cc, mut xp) = (0u64, 0u64);
        for j in 0..m {
            cc += u64::from(self.counts[j]);
            let t = cc - (j % 2) as u64;
            let (y, x) = (t % h, t / h);
            if j % 2 == 0 {
                xp = x;
            } else if xp < x {
                // The run wraps into a later column: it spans the full height.
                ys = 0;
                ye = h - 1;
            }
            xs = xs.min(x);
            xe = xe.max(x);
            ys = ys.min(y);
            ye = ye.max(y);
        }
        [
            xs as f64,
            ys as f64,
            (xe - xs + 1) as f64,
            (ye - ys + 1) as f64,
        ]
    }

    /// The compressed string form (pycocotools `counts` as bytes).
    pub fn to_compressed(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for (i, &c) in self.counts.iter().enumerate() {
            let mut x = i64::from(c);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut ch = (x & 0x1f) as u8;
                x >>= 5;
                let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    ch |= 0x20;
                }
                s.push((ch + 48) as char);
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// Parses the compressed string form, checking that the counts cover `height × width`.
    pub fn from_compressed(s: &str, height: u32, width: u32) -> Result<Rle, RleError> {
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::new();
        let mut p = 0;
        while p < bytes.len() {
            let (mut x, mut k) = (0i64, 0u32);
            loop {
                let b = *bytes.get(p).ok_or(RleError::Truncated)?;
                if !(48..=111).contains(&b) {
                    return Err(RleError::Char {
                        found: s[p..].chars().next().unwrap_or('?'),
                        position: p,
                    });
                }
                let c = i64::from(b - 48);
                if k >= 12 {
                    return Err(RleError::Count {
                        index: counts.len(),
                        value: i64::MAX,
                    });
                }
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x += i64::from(counts[m - 2]);
            }
            let value = u32::try_from(x).map_err(|_| RleError::Count { index: m, value: x })?;
            counts.push(value);
        }
        Rle::from_counts(counts, height, width)
    }

    /// Rasterises one polygon ring `[x1, y1, x2, y2, …]` (pixel coordinates, COCO convention)
    /// exactly as pycocotools `frPyObjects` does: the boundary is walked at 5× resolution and
    /// a pixel is inside when its centre is.
    /// Refuses an odd number of values and non-finite or absurd (beyond ±[`MAX_COORDINATE`])
    /// coordinates.
    pub fn from_polygon(xy: &[f64], height: u32, width: u32) -> Result<Rle, RleError> {
        if xy.len() % 2 != 0 {
            return Err(RleError::Polygon(format!(
                "has an odd number of values ({}); expected x, y pairs",
                xy.len()
            )));
        }
        if u64::from(height) * u64::from(width) > u64::from(u32::MAX) {
            return Err(RleError::Polygon(format!(
                "on a {width}×{height} image: COCO RLE counts address at most 2^32 pixels"
            )));
        }
        if let Some((i, v)) = xy
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || v.abs() > MAX_COORDINATE)
        {
            return Err(RleError::Polygon(format!(
                "value {i} is {v}; coordinates must be finite and within ±{MAX_COORDINATE}"
            )));
        }
        Ok(Self::rasterise(xy, height, width))
    }

    fn rasterise(xy: &[f64], height: u32, width: u32) -> Rle {
        let mut a = Vec::new();
        polygon_toggles(xy, height, width, &mut a);
        a.sort_unstable();
        Self::from_toggles(&a, height, width)
    }

    /// Builds the mask whose pixels flip at the sorted column-major positions `toggles`
    /// (a position listed twice flips twice, i.e. not at all).
    pub(crate) fn from_toggles(toggles: &[u64], height: u32, width: u32) -> Rle {
        let total = u64::from(height) * u64::from(width);
        let mut counts: Vec<u32> = Vec::with_capacity(toggles.len() + 1);
        let mut prev = 0u64;
        // Runs alternate 0, 1, 0, …; an empty run merges its neighbours.
        for &t in toggles.iter().chain(std::iter::once(&total)) {
            let t = t.min(total);
            let run = t - prev;
            prev = t;
            if run == 0 && !counts.is_empty() {
                if t == total {
                    break;
                }
                // Flip back: the next run continues the previous one.
                let last = counts.pop().expect("non-empty");
                prev -= u64::from(last);
                continue;
            }
            counts.push(run as u32);
        }
        Rle {
            height,
            width,
            counts,
        }
    }

    /// Union of several masks of the same size (pycocotools merges an object's polygons so).
    pub fn union(parts: &[Rle]) -> Option<Rle> {
        let first = parts.first()?;
        if parts.len() == 1 {
            return Some(first.clone());
        }
        let mut all: Vec<(u64, u64)> = parts.iter().flat_map(Rle::intervals).collect();
        all.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        Some(Rle::from_intervals(&merged, first.height, first.width))
    }

    /// The runs of ones, as column-major `[start, end)` positions.
    pub fn intervals(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut pos = 0u64;
        self.counts.iter().enumerate().filter_map(move |(k, &c)| {
            let start = pos;
            pos += u64::from(c);
            (k % 2 == 1 && c > 0).then_some((start, pos))
        })
    }

    /// The mask made of sorted, disjoint column-major `[start, end)` runs of ones.
    pub fn from_intervals(runs: &[(u64, u64)], height: u32, width: u32) -> Rle {
        let total = u64::from(height) * u64::from(width);
        let mut counts = Vec::with_capacity(runs.len() * 2 + 1);
        let mut pos = 0u64;
        for &(s, e) in runs {
            let (s, e) = (s.min(total), e.min(total));
            if e <= s {
                continue;
            }
            if s == pos && !counts.is_empty() {
                // Touching the previous run: extend it.
                *counts.last_mut().expect("non-empty") += (e - s) as u32;
            } else {
                counts.push((s - pos) as u32);
                counts.push((e - s) as u32);
            }
            pos = e;
        }
        if pos < total || counts.is_empty() {
            counts.push((total - pos) as u32);
        }
        Rle {
            height,
            width,
            counts,
        }
    }

    /// Pixels set in both masks.
    pub fn intersection_area(&self, other: &Rle) -> u64 {
        let (a, b): (Vec<_>, Vec<_>) = (self.intervals().collect(), other.intervals().collect());
        let (mut i, mut j, mut n) = (0, 0, 0u64);
        while i < a.len() && j < b.len() {
            let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
            if s < e {
                n += e - s;
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        n
    }

    /// Intersection over union with another mask; 1 when both are empty.
    pub fn iou(&self, other: &Rle) -> f64 {
        let inter = self.intersection_area(other);
        let union = self.area() + other.area() - inter;
        if union == 0 {
            1.0
        } else {
            inter as f64 / union as f64
        }
    }
}

/// Appends to `out` the column-major positions (`x · height + y`) where the mask of one polygon
/// ring flips, exactly as pycocotools' `rleFrPoly` finds them: the boundary is walked at 5×
/// resolution and each pixel column flips at the first pixel whose centre is past a crossing.
/// Positions of several rings may be merged and sorted: the result is their even-odd union.
/// Coordinates must be finite and within [`MAX_COORDINATE`] (checked by the callers).
pub(crate) fn polygon_toggles(xy: &[f64], height: u32, width: u32, out: &mut Vec<u64>) {
    let (h, w) = (i64::from(height), i64::from(width));
    let k = xy.len() / 2;
    if k == 0 {
        return;
    }
    const SCALE: f64 = 5.0;
    // Vertices at 5x, rounded half up as C's (int)(v + .5) does (truncation toward zero).
    let mut x: Vec<i64> = (0..k).map(|j| (SCALE * xy[2 * j] + 0.5) as i64).collect();
    let mut y: Vec<i64> = (0..k)
        .map(|j| (SCALE * xy[2 * j + 1] + 0.5) as i64)
        .collect();
    x.push(x[0]);
    y.push(y[0]);
    // Dense boundary points, streamed: only consecutive points matter, so a huge polygon costs
    // time along its boundary but no memory beyond its crossings.
    let mut prev: Option<(i64, i64)> = None;
    let mut visit = |uj: i64, vj: i64| {
        if let Some((up, vp)) = prev {
            if uj != up {
                // Where the boundary crosses a pixel column, back at 1x.
                let xd = (if uj < up { uj } else { uj - 1 }) as f64;
                let xd = (xd + 0.5) / SCALE - 0.5;
                if xd.floor() == xd && xd >= 0.0 && xd <= (w - 1) as f64 {
                    let yd = (if vj < vp { vj } else { vp }) as f64;
                    let yd = ((yd + 0.5) / SCALE - 0.5).clamp(0.0, h as f64).ceil();
                    out.push((xd as i64 * h + yd as i64) as u64);
                }
            }
        }
        prev = Some((uj, vj));
    };
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            let s = if dx == 0 {
                0.0
            } else {
                (ye - ys) as f64 / dx as f64
            };
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                visit(t + xs, (ys as f64 + s * t as f64 + 0.5) as i64);
            }
        } else {
            let s = (xe - xs) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                visit((xs as f64 + s * t as f64 + 0.5) as i64, t + ys);
            }
        }
    }
}

impl fmt::Display for Rle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{\"size\": [{}, {}], \"counts\": \"{}\"}}",
            self.height,
            self.width,
            self.to_compressed()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_pycocotools_on_a_square() {
        // pycocotools: encode of a 5x4 mask with [1:3, 1:3] set -> b'62304', area 4, bbox [1,1,2,2].
        let mut m = vec![0u8; 20];
        for y in 1..3 {
            for x in 1..3 {
                m[y * 4 + x] = 1;
            }
        }
        let r = Rle::from_mask(&m, 5, 4);
        assert_eq!(r.to_compressed(), "62304");
        assert_eq!(r.area(), 4);
        assert_eq!(r.bbox(), [1.0, 1.0, 2.0, 2.0]);
        // frPyObjects([[1,1,3,1,3,3,1,3]], 5, 4) gives the same mask.
        assert_eq!(
            Rle::from_polygon(&[1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0, 3.0], 5, 4).unwrap(),
            r
        );
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(
            Rle::from_counts(vec![3, 4], 2, 2),
            Err(RleError::Sum {
                sum: 7,
                expected: 4,
                ..
            })
        ));
        assert!(matches!(
            Rle::from_compressed("6 2", 5, 4),
            Err(RleError::Char {
                found: ' ',
                position: 1
            })
        ));
        assert!(matches!(
            Rle::from_compressed("6p", 5, 4),
            Err(RleError::Char { .. })
        ));
        assert!(matches!(
            Rle::from_compressed("62304", 5, 5),
            Err(RleError::Sum { .. })
        ));
    }

    proptest! {
        #[test]
        fn mask_rle_string_round_trip(h in 1u32..24, w in 1u32..24, bits in proptest::collection::vec(any::<bool>(), 576), density in 0u8..4) {
            let n = (h * w) as usize;
            // Mix sparse, dense and blocky masks.
            let mask: Vec<u8> = (0..n).map(|i| u8::from(match density { 0 => bits[i] && bits[(i * 7) % 576], 1 => bits[i], 2 => bits[i / 3 % 576], _ => bits[i] || bits[(i * 3) % 576] })).collect();
            let r = Rle::from_mask(&mask, h, w);
            prop_assert_eq!(r.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(h * w));
            prop_assert_eq!(r.to_mask(), mask.clone());
            prop_assert_eq!(r.area(), mask.iter().map(|&v| u64::from(v)).sum::<u64>());
            let s = r.to_compressed();
            prop_assert_eq!(Rle::from_compressed(&s, h, w).unwrap(), r);
        }

        #[test]
        fn polygon_masks_stay_in_the_image(h in 1u32..40, w in 1u32..40, pts in proptest::collection::vec(-5.0f64..45.0, 6..16)) {
            let xy = &pts[..pts.len() / 2 * 2];
            let r = Rle::from_polygon(xy, h, w).unwrap();
            prop_assert_eq!(r.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(h * w));
        }

        #[test]
        fn run_algebra_matches_dense_masks(h in 1u32..16, w in 1u32..16, a in proptest::collection::vec(any::<bool>(), 256), b in proptest::collection::vec(any::<bool>(), 256)) {
            let n = (h * w) as usize;
            let ma: Vec<u8> = a[..n].iter().map(|&v| u8::from(v)).collect();
            let mb: Vec<u8> = b[..n].iter().map(|&v| u8::from(v)).collect();
            let (ra, rb) = (Rle::from_mask(&ma, h, w), Rle::from_mask(&mb, h, w));
            let runs: Vec<(u64, u64)> = ra.intervals().collect();
            prop_assert_eq!(Rle::from_intervals(&runs, h, w), ra.clone());
            let union: Vec<u8> = ma.iter().zip(&mb).map(|(x, y)| x | y).collect();
            prop_assert_eq!(Rle::union(&[ra.clone(), rb.clone()]).unwrap(), Rle::from_mask(&union, h, w));
            let inter = ma.iter().zip(&mb).filter(|(x, y)| **x == 1 && **y == 1).count() as u64;
            prop_assert_eq!(ra.intersection_area(&rb), inter);
            let u = union.iter().map(|&v| u64::from(v)).sum::<u64>();
            let iou = if u == 0 { 1.0 } else { inter as f64 / u as f64 };
            prop_assert!((ra.iou(&rb) - iou).abs() < 1e-12);
            // Toggles (as the rasteriser emits them) build the same masks.
            let toggles: Vec<u64> = runs.iter().flat_map(|&(s, e)| [s, e]).collect();
            prop_assert_eq!(Rle::from_toggles(&toggles, h, w), ra);
        }
    }
}
