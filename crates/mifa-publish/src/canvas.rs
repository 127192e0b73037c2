//! A small RGBA canvas for overlays: alpha-blended pixels, thick lines, discs, crosses.
//!
//! Overlays are drawn on their own transparent layer so that a viewer (the report) can switch
//! them on and off; [`Canvas::over`] composites a layer onto an opaque picture.

/// Straight (not premultiplied) RGBA pixels, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}

impl Canvas {
    /// A fully transparent canvas.
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            rgba: vec![0; width as usize * height as usize * 4],
        }
    }

    /// Blends `color` (alpha in `color[3]`) over pixel `(x, y)`; outside pixels are ignored.
    pub fn blend(&mut self, x: i64, y: i64, color: [u8; 4]) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        let px = &mut self.rgba[i..i + 4];
        let a = f32::from(color[3]) / 255.0;
        let b = f32::from(px[3]) / 255.0;
        let out = a + b * (1.0 - a);
        if out <= 0.0 {
            return;
        }
        for k in 0..3 {
            let c = (f32::from(color[k]) * a + f32::from(px[k]) * b * (1.0 - a)) / out;
            px[k] = c.round().clamp(0.0, 255.0) as u8;
        }
        px[3] = (out * 255.0).round() as u8;
    }

    /// A filled disc of radius `r` pixels centred on `(x, y)` (radius 0: one pixel).
    pub fn disc(&mut self, x: f64, y: f64, r: f64, color: [u8; 4]) {
        let (cx, cy) = (x.floor() as i64, y.floor() as i64);
        let ri = r.ceil() as i64;
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f64) <= r * r + 0.25 {
                    self.blend(cx + dx, cy + dy, color);
                }
            }
        }
    }

    /// A line from `a` to `b` (canvas pixel coordinates, pixel centres at `.5`), `r` pixels
    /// either side of the centre line. Each pixel is blended once, so translucent lines stay even.
    pub fn line(&mut self, a: [f64; 2], b: [f64; 2], r: f64, color: [u8; 4]) {
        let ri = r.ceil() as i64;
        let (x0, y0) = (a[0].floor() as i64, a[1].floor() as i64);
        let (x1, y1) = (b[0].floor() as i64, b[1].floor() as i64);
        // A huge segment (far off-canvas coordinates) would take forever pixel by pixel.
        let lim = 4 * i64::from(self.width.max(self.height)) + 16;
        if [x0, y0, x1, y1].iter().any(|v| v.abs() > lim) {
            return;
        }
        let (minx, maxx) = (x0.min(x1) - ri, x0.max(x1) + ri);
        let (miny, maxy) = (y0.min(y1) - ri, y0.max(y1) + ri);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        for py in miny.max(0)..=maxy.min(i64::from(self.height) - 1) {
            for px in minx.max(0)..=maxx.min(i64::from(self.width) - 1) {
                let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a[0]) * dx + (cy - a[1]) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (a[0] + t * dx - cx, a[1] + t * dy - cy);
                if ex * ex + ey * ey <= (r + 0.5) * (r + 0.5) {
                    self.blend(px, py, color);
                }
            }
        }
    }

    /// A closed ring of vertices.
    pub fn ring(&mut self, pts: &[[f64; 2]], r: f64, color: [u8; 4]) {
        for (i, &p) in pts.iter().enumerate() {
            let q = pts[(i + 1) % pts.len()];
            self.line(p, q, r, color);
        }
    }

    /// An open polyline.
    pub fn polyline(&mut self, pts: &[[f64; 2]], r: f64, color: [u8; 4]) {
        for w in pts.windows(2) {
            self.line(w[0], w[1], r, color);
        }
        if pts.len() == 1 {
            self.disc(pts[0][0], pts[0][1], r, color);
        }
    }

    /// A `+` marker of half-size `s`, with a dark outline for contrast on bright images.
    pub fn cross(&mut self, x: f64, y: f64, s: f64, color: [u8; 4]) {
        let dark = [0, 0, 0, 160];
        for (c, w) in [(dark, 1.0), (color, 0.0)] {
            self.line([x - s, y], [x + s, y], w, c);
            self.line([x, y - s], [x, y + s], w, c);
        }
    }

    /// Pixels with any coverage.
    pub fn painted(&self) -> usize {
        self.rgba.chunks_exact(4).filter(|p| p[3] > 0).count()
    }

    /// Composites this layer over an opaque RGB picture of the same size.
    pub fn over(&self, rgb: &mut [u8]) {
        for (p, q) in self.rgba.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
            let a = u16::from(p[3]);
            if a == 0 {
                continue;
            }
            for k in 0..3 {
                q[k] = ((u16::from(p[k]) * a + u16::from(q[k]) * (255 - a) + 127) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blending_is_straight_alpha() {
        let mut c = Canvas::new(2, 1);
        c.blend(0, 0, [255, 0, 0, 255]);
        c.blend(0, 0, [0, 0, 255, 128]);
        assert_eq!(&c.rgba[0..4], &[127, 0, 128, 255]);
        c.blend(5, 5, [1, 1, 1, 255]);
        assert_eq!(c.painted(), 1);
    }

    #[test]
    fn lines_cover_their_pixels_once() {
        let mut c = Canvas::new(10, 10);
        c.line([0.5, 5.5], [9.5, 5.5], 0.0, [0, 255, 0, 100]);
        let row: Vec<u8> = (0..10).map(|x| c.rgba[(5 * 10 + x) * 4 + 3]).collect();
        assert!(row.iter().all(|&a| a == 100), "{row:?}");
        assert_eq!(c.painted(), 10);
        let mut d = Canvas::new(10, 10);
        d.ring(
            &[[1.0, 1.0], [8.0, 1.0], [8.0, 8.0], [1.0, 8.0]],
            0.0,
            [9, 9, 9, 255],
        );
        assert!((24..=40).contains(&d.painted()), "{}", d.painted());
        // The inside stays empty.
        assert_eq!(d.rgba[(5 * 10 + 5) * 4 + 3], 0);
    }

    #[test]
    fn layers_composite_over_rgb() {
        let mut c = Canvas::new(1, 1);
        c.blend(0, 0, [255, 255, 255, 51]);
        let mut rgb = vec![0u8, 100, 200];
        c.over(&mut rgb);
        assert_eq!(rgb, vec![51, 131, 211]);
    }
}
