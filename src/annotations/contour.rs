//! Label mask ↔ polygons, losslessly.
//!
//! Pixel convention (the same everywhere in mifa): pixel `(x, y)` covers `[x, x+1) × [y, y+1)` in
//! level-0 pixel coordinates, `x` right and `y` down; its centre is `(x + 0.5, y + 0.5)`. A pixel
//! belongs to a polygon when its centre is inside (even-odd rule, holes included), decided as
//! pycocotools decides it (see [`rasterise`]).
//!
//! [`trace`] follows the cracks between pixels, so vertices sit on pixel corners and
//! [`rasterise`] of the result gives the mask back exactly. Objects are 4-connected: pixels that
//! touch only at a corner are separate parts. Each part is one exterior ring (positive shoelace
//! area in image coordinates) with its holes (negative area); collinear vertices are dropped.

use super::rle::{polygon_toggles, MAX_COORDINATE};
use std::collections::BTreeMap;

/// A ring of vertices `[x, y]`, implicitly closed (the first vertex is not repeated).
pub type Ring = Vec<[f64; 2]>;

/// A polygon with holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Outer boundary.
    pub exterior: Ring,
    /// Holes.
    pub holes: Vec<Ring>,
}

/// Twice the signed area (shoelace) of a ring.
pub fn signed_area2(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

/// Traces every non-zero value of a row-major label mask into polygons, one per 4-connected part.
pub fn trace<T: Copy + PartialEq + Default + Ord>(
    mask: &[T],
    height: usize,
    width: usize,
) -> BTreeMap<T, Vec<Polygon>> {
    assert_eq!(mask.len(), height * width, "mask size");
    let zero = T::default();
    // Connected parts (4-connectivity), by flood fill.
    let mut part = vec![usize::MAX; mask.len()];
    let mut parts: Vec<(T, Vec<usize>)> = Vec::new();
    for start in 0..mask.len() {
        if mask[start] == zero || part[start] != usize::MAX {
            continue;
        }
        let id = parts.len();
        let value = mask[start];
        let mut pixels = vec![start];
        part[start] = id;
        let mut i = 0;
        while i < pixels.len() {
            let p = pixels[i];
            i += 1;
            let (x, y) = (p % width, p / width);
            let mut visit = |q: usize| {
                if mask[q] == value && part[q] == usize::MAX {
                    part[q] = id;
                    pixels.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < width {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - width);
            }
            if y + 1 < height {
                visit(p + width);
            }
        }
        parts.push((value, pixels));
    }
    let mut out: BTreeMap<T, Vec<Polygon>> = BTreeMap::new();
    for (id, (value, pixels)) in parts.iter().enumerate() {
        let inside = |x: i64, y: i64| -> bool {
            x >= 0
                && y >= 0
                && (x as usize) < width
                && (y as usize) < height
                && part[y as usize * width + x as usize] == id
        };
        let mut rings = trace_part(pixels, width, &inside);
        // The ring with the largest area is the outline; the others are holes.
        rings.sort_by(|a, b| signed_area2(b).total_cmp(&signed_area2(a)));
        let exterior = rings.remove(0);
        out.entry(*value).or_default().push(Polygon {
            exterior,
            holes: rings,
        });
    }
    out
}

/// Directed boundary edges of one part, with the part on the right of the direction of travel
/// in image coordinates (y down), chained into rings.
fn trace_part(pixels: &[usize], width: usize, inside: &dyn Fn(i64, i64) -> bool) -> Vec<Ring> {
    // Edges keyed by start corner; a corner starts at most two edges (at a diagonal touch).
    let mut next: BTreeMap<(i64, i64), Vec<(i64, i64)>> = BTreeMap::new();
    for &p in pixels {
        let (x, y) = ((p % width) as i64, (p / width) as i64);
        if !inside(x, y - 1) {
            next.entry((x, y)).or_default().push((x + 1, y)); // top edge, going right
        }
        if !inside(x + 1, y) {
            next.entry((x + 1, y)).or_default().push((x + 1, y + 1)); // right edge, going down
        }
        if !inside(x, y + 1) {
            next.entry((x + 1, y + 1)).or_default().push((x, y + 1)); // bottom edge, going left
        }
        if !inside(x - 1, y) {
            next.entry((x, y + 1)).or_default().push((x, y)); // left edge, going up
        }
    }
    let mut rings = Vec::new();
    while let Some((&start, _)) = next.iter().next() {
        let mut ring: Vec<(i64, i64)> = vec![start];
        let mut prev = start;
        let mut cur = take_edge(&mut next, start, None);
        while cur != start {
            ring.push(cur);
            let dir = (cur.0 - prev.0, cur.1 - prev.1);
            prev = cur;
            cur = take_edge(&mut next, cur, Some(dir));
        }
        rings.push(simplify(&ring));
    }
    rings
}

/// Removes and returns the edge leaving `at`. At a corner where the part touches itself
/// diagonally, turn right (towards the part) so that diagonal neighbours stay apart.
fn take_edge(
    next: &mut BTreeMap<(i64, i64), Vec<(i64, i64)>>,
    at: (i64, i64),
    dir: Option<(i64, i64)>,
) -> (i64, i64) {
    let list = next.get_mut(&at).expect("every boundary corner continues");
    let i = match (dir, list.len()) {
        (Some((dx, dy)), 2) => {
            // Right turn in image coordinates (y down): (dx, dy) -> (-dy, dx).
            let want = (at.0 - dy, at.1 + dx);
            list.iter().position(|&e| e == want).unwrap_or(0)
        }
        _ => 0,
    };
    let e = list.swap_remove(i);
    if list.is_empty() {
        next.remove(&at);
    }
    e
}

fn simplify(ring: &[(i64, i64)]) -> Ring {
    let n = ring.len();
    (0..n)
        .filter(|&i| {
            let (a, b, c) = (ring[(i + n - 1) % n], ring[i], ring[(i + 1) % n]);
            (b.0 - a.0) * (c.1 - b.1) != (b.1 - a.1) * (c.0 - b.0)
        })
        .map(|i| [ring[i].0 as f64, ring[i].1 as f64])
        .collect()
}

/// Fills, in a row-major buffer of `height × width`, the pixels of `polygon` (even-odd over
/// the exterior and holes), setting them to `value`; returns the pixels set. A pixel is inside
/// when its centre is, decided exactly as pycocotools' `frPyObjects` decides it (the boundary
/// walked at 1/5 pixel), so a COCO polygon rasterised here equals `annToMask` pixel for pixel.
/// Rings with non-finite or absurd coordinates (beyond ±[`MAX_COORDINATE`]) are skipped: the
/// readers refuse them with an error first.
pub fn rasterise<T: Copy>(
    polygon: &Polygon,
    value: T,
    out: &mut [T],
    height: usize,
    width: usize,
) -> usize {
    let mut toggles = Vec::new();
    let mut flat = Vec::new();
    for ring in std::iter::once(&polygon.exterior).chain(&polygon.holes) {
        if ring
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || v.abs() > MAX_COORDINATE)
        {
            continue;
        }
        flat.clear();
        flat.extend(ring.iter().flatten());
        polygon_toggles(&flat, height as u32, width as u32, &mut toggles);
    }
    toggles.sort_unstable();
    paint_toggles(&toggles, value, out, height, width)
}

/// Sets to `value` the pixels between successive pairs of sorted column-major flip positions;
/// returns the pixels set.
pub(crate) fn paint_toggles<T: Copy>(
    toggles: &[u64],
    value: T,
    out: &mut [T],
    height: usize,
    width: usize,
) -> usize {
    let total = (height * width) as u64;
    let mut set = 0;
    // An odd flip left over runs to the end, as in the RLE.
    let last = (toggles.len() % 2 == 1).then(|| [toggles[toggles.len() - 1], total]);
    for pair in toggles.chunks_exact(2).chain(last.as_ref().map(|p| &p[..])) {
        for p in pair[0].min(total)..pair[1].min(total) {
            let (x, y) = ((p as usize) / height, (p as usize) % height);
            out[y * width + x] = value;
            set += 1;
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn square_with_a_hole_and_a_diagonal_neighbour() {
        #[rustfmt::skip]
        let m: Vec<u8> = vec![
            1, 1, 1, 0, 0,
            1, 0, 1, 0, 0,
            1, 1, 1, 0, 0,
            0, 0, 0, 1, 0,
        ];
        let t = trace(&m, 4, 5);
        let polys = &t[&1];
        assert_eq!(polys.len(), 2, "the corner-touching pixel is its own part");
        let ring = &polys[0];
        assert_eq!(
            ring.exterior,
            vec![[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0]]
        );
        assert_eq!(
            ring.holes,
            vec![vec![[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0]]]
        );
        assert!(signed_area2(&ring.exterior) > 0.0 && signed_area2(&ring.holes[0]) < 0.0);
        let mut back = vec![0u8; 20];
        for p in polys {
            rasterise(p, 1u8, &mut back, 4, 5);
        }
        assert_eq!(back, m);
    }

    proptest! {
        #[test]
        fn mask_to_polygons_to_mask_is_exact(h in 1usize..20, w in 1usize..20, bits in proptest::collection::vec(0u8..4, 400)) {
            let mask: Vec<u8> = (0..h * w).map(|i| bits[i]).collect();
            let traced = trace(&mask, h, w);
            let mut back = vec![0u8; h * w];
            for (value, polys) in &traced {
                for p in polys {
                    prop_assert!(p.exterior.len() >= 4);
                    rasterise(p, *value, &mut back, h, w);
                }
            }
            prop_assert_eq!(back, mask);
        }
    }
}
