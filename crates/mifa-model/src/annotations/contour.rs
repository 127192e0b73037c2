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

/// Drops repeated consecutive vertices (and a closing copy of the first), which carry nothing;
/// returns the number of distinct vertices left, which must be at least 3 for a ring.
pub fn tidy_ring(ring: &mut Ring) -> usize {
    ring.dedup();
    while ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    ring.len()
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

/// Splits rings that pass through a vertex more than once into simple rings and regroups them
/// by orientation: loops turning like an exterior (positive area) become exteriors, the others
/// holes of the exterior that contains them. The pixels are unchanged (even-odd parity is a sum
/// over edges), but every ring is simple, as the OGC rules (shapely, `geo`) want: a traced
/// object that touches itself at a pixel corner comes out as an exterior plus a hole touching
/// it at that corner. Usually returns one polygon; several when loops turn out to be separate
/// areas.
pub fn simple_rings(p: &Polygon) -> Vec<Polygon> {
    let repeats = |r: &Ring| {
        let mut seen = std::collections::HashSet::with_capacity(r.len());
        !r.iter()
            .all(|v| seen.insert((v[0].to_bits(), v[1].to_bits())))
    };
    if !std::iter::once(&p.exterior).chain(&p.holes).any(repeats) {
        return vec![p.clone()];
    }
    // A loop turning like the ring it came from keeps that ring's role; one turning the other
    // way takes the other role (a pocket of an exterior is a hole). Either winding is accepted.
    let mut exteriors: Vec<Ring> = Vec::new();
    let mut holes: Vec<Ring> = Vec::new();
    for (k, ring) in std::iter::once(&p.exterior).chain(&p.holes).enumerate() {
        let sign = signed_area2(ring).signum();
        let mut loops = Vec::new();
        split_loops(ring, &mut loops);
        for lp in loops {
            let same = signed_area2(&lp).signum() == sign;
            if same == (k == 0) {
                exteriors.push(lp);
            } else {
                holes.push(lp);
            }
        }
    }
    if exteriors.is_empty() {
        // A polygon given with its exterior wound the other way: keep it as it was.
        return vec![p.clone()];
    }
    if exteriors.len() == 1 {
        return vec![Polygon {
            exterior: exteriors.remove(0),
            holes,
        }];
    }
    let mut out: Vec<Polygon> = exteriors
        .into_iter()
        .map(|exterior| Polygon {
            exterior,
            holes: Vec::new(),
        })
        .collect();
    // Smallest containing exterior first: nested areas keep their own holes.
    out.sort_by(|a, b| {
        signed_area2(&a.exterior)
            .abs()
            .total_cmp(&signed_area2(&b.exterior).abs())
    });
    for h in holes {
        let at = out
            .iter()
            .position(|o| {
                h.iter()
                    .find(|v| !o.exterior.contains(v))
                    .is_some_and(|v| inside(&o.exterior, *v))
            })
            .unwrap_or(out.len() - 1);
        out[at].holes.push(h);
    }
    out
}

/// Cuts a ring into simple loops at its repeated vertices; loops without area are dropped.
fn split_loops(ring: &Ring, out: &mut Vec<Ring>) {
    let key = |v: &[f64; 2]| (v[0].to_bits(), v[1].to_bits());
    let mut path: Ring = Vec::with_capacity(ring.len());
    let mut at: std::collections::HashMap<(u64, u64), usize> = std::collections::HashMap::new();
    for v in ring {
        if let Some(&j) = at.get(&key(v)) {
            let lp: Ring = path.drain(j..).collect();
            for u in &lp[1..] {
                at.remove(&key(u));
            }
            path.push(*v);
            if signed_area2(&lp) != 0.0 {
                out.push(lp);
            }
        } else {
            at.insert(key(v), path.len());
            path.push(*v);
        }
    }
    if signed_area2(&path) != 0.0 {
        out.push(path);
    }
}

/// Whether `p` is inside `ring` (even-odd).
fn inside(ring: &Ring, p: [f64; 2]) -> bool {
    let n = ring.len();
    let mut c = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
        {
            c = !c;
        }
    }
    c
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
    let toggles = polygon_flips(polygon, height as u32, width as u32);
    paint_toggles(&toggles, value, out, height, width)
}

/// The sorted column-major positions where the pixels of `polygon` flip (every ring, even-odd),
/// as pycocotools finds them per ring; rings with unusable coordinates are skipped.
pub(crate) fn polygon_flips(polygon: &Polygon, height: u32, width: u32) -> Vec<u64> {
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
        polygon_toggles(&flat, height, width, &mut toggles);
    }
    toggles.sort_unstable();
    toggles
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

    #[test]
    fn self_touching_rings_become_simple() {
        // A ring closed only by a diagonal step, and a hole of two diagonal pixels.
        #[rustfmt::skip]
        let m: Vec<u8> = vec![
            0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
            1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1,
            1, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1,
            1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1,
            1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1,
        ];
        let t = trace(&m, 5, 11);
        for p in &t[&1] {
            let mut want = vec![0u8; 55];
            rasterise(p, 1u8, &mut want, 5, 11);
            let simple = simple_rings(p);
            assert_eq!(simple.len(), 1);
            let mut got = vec![0u8; 55];
            rasterise(&simple[0], 1u8, &mut got, 5, 11);
            assert_eq!(got, want);
            for r in std::iter::once(&simple[0].exterior).chain(&simple[0].holes) {
                let mut seen = std::collections::HashSet::new();
                assert!(
                    r.iter()
                        .all(|v| seen.insert((v[0].to_bits(), v[1].to_bits()))),
                    "{r:?}"
                );
            }
        }
        let pocket = &t[&1][0];
        assert_eq!(
            simple_rings(pocket)[0].holes.len(),
            1,
            "the pocket is a hole"
        );
        let diag = &t[&1][1];
        assert_eq!(
            simple_rings(diag)[0].holes.len(),
            2,
            "two holes touching at a corner"
        );
    }

    #[test]
    fn simple_rings_keep_holes_of_either_winding() {
        // The hole winds like the exterior and touches itself at (4, 4).
        let p = Polygon {
            exterior: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
            holes: vec![vec![
                [2.0, 2.0],
                [4.0, 2.0],
                [4.0, 4.0],
                [6.0, 4.0],
                [6.0, 6.0],
                [4.0, 6.0],
                [4.0, 4.0],
                [2.0, 4.0],
            ]],
        };
        let mut want = vec![0u8; 100];
        rasterise(&p, 1u8, &mut want, 10, 10);
        let simple = simple_rings(&p);
        assert_eq!(simple.len(), 1);
        assert_eq!(simple[0].holes.len(), 2);
        let mut got = vec![0u8; 100];
        rasterise(&simple[0], 1u8, &mut got, 10, 10);
        assert_eq!(got, want);
        assert_eq!(got.iter().filter(|&&v| v == 0).count(), 8);
    }

    proptest! {
        #[test]
        fn simple_rings_keep_the_pixels(h in 1usize..20, w in 1usize..20, bits in proptest::collection::vec(0u8..3, 400)) {
            let mask: Vec<u8> = (0..h * w).map(|i| bits[i]).collect();
            for (value, polys) in trace(&mask, h, w) {
                for p in polys {
                    let mut want = vec![0u8; h * w];
                    rasterise(&p, value, &mut want, h, w);
                    let mut got = vec![0u8; h * w];
                    for q in simple_rings(&p) {
                        rasterise(&q, value, &mut got, h, w);
                    }
                    prop_assert_eq!(got, want);
                }
            }
        }

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
