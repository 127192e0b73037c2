//! Targets of a window: rasterised polygons, boxes, points, heatmaps; and the flips and
//! quarter turns applied identically to pixels and coordinates.

use super::{BoxTarget, PointTarget, TaskKind};
use crate::annotations::shapes::{polygon_rle, Geometry};
use std::collections::{BTreeMap, HashMap};

/// An annotation object, in the loader level's pixel coordinates (pixel corners).
#[derive(Debug, Clone)]
pub(crate) struct Obj {
    pub class: i64,
    pub instance: i64,
    /// `[x0, y0, x1, y1]`.
    pub bounds: [f64; 4],
    pub geometry: Geometry,
}

/// Boxes and points of one sample.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    pub boxes: Vec<BoxTarget>,
    pub points: Vec<PointTarget>,
}

/// Continuous (corner convention) image of `(x, y)` under flips then quarter turns.
fn map_xy(x: f32, y: f32, h: f32, w: f32, (fv, fh, rot): (bool, bool, u8)) -> (f32, f32) {
    let (mut x, mut y) = (x, y);
    if fv {
        y = h - y;
    }
    if fh {
        x = w - x;
    }
    for _ in 0..rot {
        // Counter-clockwise, as numpy.rot90: new row = w - x, new column = y (square only).
        (x, y) = (y, w - x);
    }
    (x, y)
}

impl Targets {
    pub fn transform(&mut self, h: f32, w: f32, t: (bool, bool, u8)) {
        for b in &mut self.boxes {
            let (xa, ya) = map_xy(b.bbox[0], b.bbox[1], h, w, t);
            let (xb, yb) = map_xy(b.bbox[2], b.bbox[3], h, w, t);
            b.bbox = [xa.min(xb), ya.min(yb), xa.max(xb), ya.max(yb)];
        }
        for p in &mut self.points {
            (p.x, p.y) = map_xy(p.x, p.y, h, w, t);
        }
    }
}

/// Applies flips then quarter turns to a row-major `h × w` plane in place.
pub(crate) fn transform<T: Copy>(
    buf: &mut [T],
    h: usize,
    w: usize,
    (fv, fh, rot): (bool, bool, u8),
) {
    let src = buf.to_vec();
    for y in 0..h {
        for x in 0..w {
            let (mut dy, mut dx) = (
                if fv { h - 1 - y } else { y },
                if fh { w - 1 - x } else { x },
            );
            for _ in 0..rot {
                (dy, dx) = (w - 1 - dx, dy);
            }
            buf[dy * w + dx] = src[y * w + x];
        }
    }
}

fn translate(g: &Geometry, dx: f64, dy: f64) -> Geometry {
    use crate::annotations::contour::Polygon;
    let poly = |p: &Polygon| Polygon {
        exterior: p.exterior.iter().map(|c| [c[0] - dx, c[1] - dy]).collect(),
        holes: p
            .holes
            .iter()
            .map(|r| r.iter().map(|c| [c[0] - dx, c[1] - dy]).collect())
            .collect(),
    };
    match g {
        Geometry::Polygon(p) => Geometry::Polygon(poly(p)),
        Geometry::MultiPolygon(ps) => Geometry::MultiPolygon(ps.iter().map(poly).collect()),
        other => other.clone(),
    }
}

/// Targets of the window `[y0, y0 + h) × [x0, x0 + w)` from objects; paints `mask` (semantic
/// classes or instance ids, later objects over earlier ones) when given.
pub(crate) fn from_objects(
    src: &super::plan::Source,
    y0: u64,
    x0: u64,
    h: u64,
    w: u64,
    task: TaskKind,
    mut mask: Option<&mut [i64]>,
) -> Targets {
    let mut t = Targets::default();
    let (fy, fx) = (y0 as f64, x0 as f64);
    let (fh, fw) = (h as f64, w as f64);
    for o in &src.objects {
        let [bx0, by0, bx1, by1] = o.bounds;
        let is_point = matches!(o.geometry, Geometry::Point(_) | Geometry::MultiPoint(_));
        if bx1 < fx || by1 < fy || bx0 > fx + fw || by0 > fy + fh {
            continue;
        }
        match task {
            TaskKind::Semantic | TaskKind::Instance if !is_point => {
                let Some(m) = mask.as_deref_mut() else {
                    continue;
                };
                let value = if task == TaskKind::Semantic {
                    o.class
                } else {
                    o.instance
                };
                let g = translate(&o.geometry, fx, fy);
                for p in g.polygons() {
                    let inside = polygon_rle(p, h as u32, w as u32).to_mask();
                    for (d, &v) in m.iter_mut().zip(&inside) {
                        if v != 0 {
                            *d = value;
                        }
                    }
                }
            }
            TaskKind::Detection if !is_point => {
                let b = [
                    (bx0 - fx).clamp(0.0, fw) as f32,
                    (by0 - fy).clamp(0.0, fh) as f32,
                    (bx1 - fx).clamp(0.0, fw) as f32,
                    (by1 - fy).clamp(0.0, fh) as f32,
                ];
                if b[2] > b[0] && b[3] > b[1] {
                    t.boxes.push(BoxTarget {
                        bbox: b,
                        class: o.class,
                    });
                }
            }
            TaskKind::Points if is_point => {
                for c in o.geometry.coords() {
                    let (x, y) = (c[0] - fx, c[1] - fy);
                    if (0.0..fw).contains(&x) && (0.0..fh).contains(&y) {
                        t.points.push(PointTarget {
                            x: x as f32,
                            y: y as f32,
                            class: o.class,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// Boxes (extent of each value) or points (centroid of each value) of a label window.
pub(crate) fn from_labels(
    values: &[i64],
    h: u64,
    w: u64,
    task: TaskKind,
    value_class: &HashMap<i64, i64>,
) -> Targets {
    // value -> (x0, y0, x1, y1, sum x, sum y, n)
    let mut acc: BTreeMap<i64, [u64; 7]> = BTreeMap::new();
    for y in 0..h {
        let row = &values[(y * w) as usize..((y + 1) * w) as usize];
        for (x, &v) in row.iter().enumerate() {
            if v == 0 {
                continue;
            }
            let x = x as u64;
            let e = acc.entry(v).or_insert([x, y, x, y, 0, 0, 0]);
            e[0] = e[0].min(x);
            e[1] = e[1].min(y);
            e[2] = e[2].max(x);
            e[3] = e[3].max(y);
            e[4] += x;
            e[5] += y;
            e[6] += 1;
        }
    }
    let mut t = Targets::default();
    for (v, e) in acc {
        let class = value_class.get(&v).copied().unwrap_or(1);
        match task {
            TaskKind::Detection => t.boxes.push(BoxTarget {
                bbox: [
                    e[0] as f32,
                    e[1] as f32,
                    (e[2] + 1) as f32,
                    (e[3] + 1) as f32,
                ],
                class,
            }),
            TaskKind::Points => t.points.push(PointTarget {
                x: e[4] as f32 / e[6] as f32 + 0.5,
                y: e[5] as f32 / e[6] as f32 + 0.5,
                class,
            }),
            _ => {}
        }
    }
    t
}

/// Renders Gaussian blobs (peak 1, maximum where they overlap) at `points`.
pub(crate) fn heatmap(buf: &mut [f32], h: usize, w: usize, points: &[PointTarget], sigma: f32) {
    let r = (3.0 * sigma).ceil() as i64;
    let k = -0.5 / (sigma * sigma);
    for p in points {
        let (cx, cy) = (p.x - 0.5, p.y - 0.5);
        let (x0, y0) = (cx.round() as i64 - r, cy.round() as i64 - r);
        for y in y0.max(0)..(y0 + 2 * r + 1).min(h as i64) {
            for x in x0.max(0)..(x0 + 2 * r + 1).min(w as i64) {
                let d2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
                let v = (k * d2).exp();
                let o = &mut buf[y as usize * w + x as usize];
                *o = o.max(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_and_point_transforms_agree() {
        let (h, w) = (4usize, 4usize);
        for t in [
            (true, false, 0),
            (false, true, 0),
            (false, false, 1),
            (true, true, 3),
            (true, false, 2),
        ] {
            let mut buf = vec![0u8; h * w];
            buf[w + 2] = 1; // pixel (y 1, x 2), centre (2.5, 1.5)
            transform(&mut buf, h, w, t);
            let (x, y) = map_xy(2.5, 1.5, h as f32, w as f32, t);
            let at = (y - 0.5) as usize * w + (x - 0.5) as usize;
            assert_eq!(buf[at], 1, "{t:?}");
            assert_eq!(buf.iter().map(|&v| v as usize).sum::<usize>(), 1);
        }
    }

    #[test]
    fn rot90_matches_numpy() {
        // numpy.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]
        let mut b = vec![1, 2, 3, 4];
        transform(&mut b, 2, 2, (false, false, 1));
        assert_eq!(b, vec![2, 4, 1, 3]);
    }

    #[test]
    fn label_boxes_and_centroids() {
        let v = vec![0, 5, 5, 0, 5, 5, 0, 0, 7];
        let t = from_labels(&v, 3, 3, TaskKind::Detection, &HashMap::new());
        assert_eq!(t.boxes[0].bbox, [1.0, 0.0, 3.0, 2.0]);
        assert_eq!(t.boxes[1].bbox, [2.0, 2.0, 3.0, 3.0]);
        let t = from_labels(&v, 3, 3, TaskKind::Points, &HashMap::from([(7, 2)]));
        assert_eq!((t.points[0].x, t.points[0].y), (2.0, 1.0));
        assert_eq!(t.points[1].class, 2);
    }
}
