//! In-memory rasters: typed pixel buffers, 2D planes and the 2× downsampling used for pyramids.
//!
//! Intensities are downsampled by the mean of each 2×2 block (rounded to nearest for integers);
//! labels by the most frequent value of the block (ties go to the top-left pixel), so a label
//! pyramid never contains an id that level 0 does not.

use crate::metadata::DataType;

/// A typed, contiguous pixel buffer.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum PixelData {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of any variant.
#[macro_export]
#[doc(hidden)]
macro_rules! with_pixels {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::raster::PixelData::Bool($v) => $body,
            $crate::raster::PixelData::U8($v) => $body,
            $crate::raster::PixelData::U16($v) => $body,
            $crate::raster::PixelData::U32($v) => $body,
            $crate::raster::PixelData::U64($v) => $body,
            $crate::raster::PixelData::I8($v) => $body,
            $crate::raster::PixelData::I16($v) => $body,
            $crate::raster::PixelData::I32($v) => $body,
            $crate::raster::PixelData::I64($v) => $body,
            $crate::raster::PixelData::F32($v) => $body,
            $crate::raster::PixelData::F64($v) => $body,
        }
    };
}

/// Like [`with_pixels!`], rebuilding the same variant from the body's `Vec`.
#[macro_export]
#[doc(hidden)]
macro_rules! map_pixels {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::raster::PixelData::Bool($v) => $crate::raster::PixelData::Bool($body),
            $crate::raster::PixelData::U8($v) => $crate::raster::PixelData::U8($body),
            $crate::raster::PixelData::U16($v) => $crate::raster::PixelData::U16($body),
            $crate::raster::PixelData::U32($v) => $crate::raster::PixelData::U32($body),
            $crate::raster::PixelData::U64($v) => $crate::raster::PixelData::U64($body),
            $crate::raster::PixelData::I8($v) => $crate::raster::PixelData::I8($body),
            $crate::raster::PixelData::I16($v) => $crate::raster::PixelData::I16($body),
            $crate::raster::PixelData::I32($v) => $crate::raster::PixelData::I32($body),
            $crate::raster::PixelData::I64($v) => $crate::raster::PixelData::I64($body),
            $crate::raster::PixelData::F32($v) => $crate::raster::PixelData::F32($body),
            $crate::raster::PixelData::F64($v) => $crate::raster::PixelData::F64($body),
        }
    };
}

impl PixelData {
    /// Sample type.
    pub fn dtype(&self) -> DataType {
        match self {
            PixelData::Bool(_) => DataType::Bool,
            PixelData::U8(_) => DataType::Uint8,
            PixelData::U16(_) => DataType::Uint16,
            PixelData::U32(_) => DataType::Uint32,
            PixelData::U64(_) => DataType::Uint64,
            PixelData::I8(_) => DataType::Int8,
            PixelData::I16(_) => DataType::Int16,
            PixelData::I32(_) => DataType::Int32,
            PixelData::I64(_) => DataType::Int64,
            PixelData::F32(_) => DataType::Float32,
            PixelData::F64(_) => DataType::Float64,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        with_pixels!(self, v => v.len())
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-filled buffer of `n` samples.
    pub fn zeros(dtype: DataType, n: usize) -> PixelData {
        match dtype {
            DataType::Bool => PixelData::Bool(vec![false; n]),
            DataType::Uint8 => PixelData::U8(vec![0; n]),
            DataType::Uint16 => PixelData::U16(vec![0; n]),
            DataType::Uint32 => PixelData::U32(vec![0; n]),
            DataType::Uint64 => PixelData::U64(vec![0; n]),
            DataType::Int8 => PixelData::I8(vec![0; n]),
            DataType::Int16 => PixelData::I16(vec![0; n]),
            DataType::Int32 => PixelData::I32(vec![0; n]),
            DataType::Int64 => PixelData::I64(vec![0; n]),
            DataType::Float32 => PixelData::F32(vec![0.0; n]),
            DataType::Float64 => PixelData::F64(vec![0.0; n]),
        }
    }

    /// Every `step`-th sample starting at `offset` (de-interleaves one sample of RGB data).
    pub fn strided(&self, offset: usize, step: usize) -> PixelData {
        map_pixels!(self, v => v.iter().skip(offset).step_by(step).copied().collect())
    }

    /// Distinct values, as i128 (labels only: integer types).
    pub fn distinct_labels(&self) -> Option<std::collections::BTreeSet<i128>> {
        fn collect<T: Copy + Into<i128>>(v: &[T]) -> std::collections::BTreeSet<i128> {
            let mut set = std::collections::BTreeSet::new();
            let mut last = None;
            for &x in v {
                let x: i128 = x.into();
                // Runs of one label are the common case: skip the set lookup for them.
                if last != Some(x) {
                    set.insert(x);
                    last = Some(x);
                }
            }
            set
        }
        // 8- and 16-bit labels: a presence table, no set lookups at all.
        fn table<T: Copy + Into<usize>>(v: &[T], size: usize) -> std::collections::BTreeSet<i128> {
            let mut seen = vec![false; size];
            for &x in v {
                seen[x.into()] = true;
            }
            (0..size).filter(|&i| seen[i]).map(|i| i as i128).collect()
        }
        Some(match self {
            PixelData::U8(v) => table(v, 1 << 8),
            PixelData::U16(v) => table(v, 1 << 16),
            PixelData::U32(v) => collect(v),
            PixelData::U64(v) => collect(v),
            PixelData::I8(v) => collect(v),
            PixelData::I16(v) => collect(v),
            PixelData::I32(v) => collect(v),
            PixelData::I64(v) => collect(v),
            PixelData::Bool(_) | PixelData::F32(_) | PixelData::F64(_) => return None,
        })
    }

    /// Minimum and maximum as f64 (NaN ignored); `None` when empty.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        fn mm<T: Copy + ToF64>(v: &[T]) -> Option<(f64, f64)> {
            let mut it = v.iter().map(|x| x.to_f64()).filter(|x| !x.is_nan());
            let first = it.next()?;
            Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
        }
        with_pixels!(self, v => mm(v))
    }
}

/// Conversion to f64 for statistics.
pub trait ToF64 {
    /// The value as f64.
    fn to_f64(&self) -> f64;
}

macro_rules! to_f64 {
    ($($t:ty),*) => {$(impl ToF64 for $t { fn to_f64(&self) -> f64 { *self as f64 } })*};
}
to_f64!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
impl ToF64 for bool {
    fn to_f64(&self) -> f64 {
        f64::from(u8::from(*self))
    }
}

/// A 2D plane, row-major (`y` then `x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height * width` samples.
    pub data: PixelData,
}

/// How a plane is reduced to the next pyramid level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downsample {
    /// Mean of each 2×2 block: intensities.
    Mean,
    /// Most frequent value of each 2×2 block (ties: top-left): labels.
    Mode,
}

trait Reduce: Copy + PartialEq {
    fn mean(vals: &[Self]) -> Self;
}

macro_rules! reduce_int {
    ($($t:ty => $acc:ty),*) => {$(
        impl Reduce for $t {
            fn mean(vals: &[Self]) -> Self {
                let n = vals.len() as $acc;
                let sum: $acc = vals.iter().map(|&v| v as $acc).sum();
                // Round half away from zero, in integer arithmetic (exact for 64-bit values).
                let q = if sum >= 0 { (sum + n / 2) / n } else { (sum - n / 2) / n };
                q as $t
            }
        }
    )*};
}
// The narrowest accumulator that holds a sum of four values: 128-bit division is slow.
reduce_int!(u8 => i32, u16 => i32, u32 => i64, u64 => i128, i8 => i32, i16 => i32, i32 => i64, i64 => i128);

impl Reduce for f32 {
    fn mean(vals: &[Self]) -> Self {
        (vals.iter().map(|&v| f64::from(v)).sum::<f64>() / vals.len() as f64) as f32
    }
}
impl Reduce for f64 {
    fn mean(vals: &[Self]) -> Self {
        vals.iter().sum::<f64>() / vals.len() as f64
    }
}
impl Reduce for bool {
    fn mean(vals: &[Self]) -> Self {
        vals.iter().filter(|&&v| v).count() * 2 >= vals.len()
    }
}

fn mode<T: Copy + PartialEq>(vals: &[T]) -> T {
    // Most blocks are uniform (background, object interiors).
    if vals.iter().all(|&v| v == vals[0]) {
        return vals[0];
    }
    let mut best = vals[0];
    let mut best_count = 0;
    for (i, &v) in vals.iter().enumerate() {
        if vals[..i].contains(&v) {
            continue;
        }
        let count = vals.iter().filter(|&&w| w == v).count();
        if count > best_count {
            best = v;
            best_count = count;
        }
    }
    best
}

fn halve<T: Reduce>(src: &[T], h: usize, w: usize, how: Downsample) -> Vec<T> {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = Vec::with_capacity(oh * ow);
    let mut block = [src[0]; 4];
    for oy in 0..oh {
        let y0 = oy * 2;
        let y1 = (y0 + 1).min(h - 1);
        let row0 = &src[y0 * w..(y0 + 1) * w];
        let row1 = &src[y1 * w..(y1 + 1) * w];
        for ox in 0..ow {
            let x0 = ox * 2;
            let x1 = x0 + 1;
            let mut n = 0;
            block[n] = row0[x0];
            n += 1;
            if x1 < w {
                block[n] = row0[x1];
                n += 1;
            }
            if y1 != y0 {
                block[n] = row1[x0];
                n += 1;
                if x1 < w {
                    block[n] = row1[x1];
                    n += 1;
                }
            }
            out.push(match how {
                Downsample::Mean => T::mean(&block[..n]),
                Downsample::Mode => mode(&block[..n]),
            });
        }
    }
    out
}

impl Plane {
    /// A plane, checking that the buffer has `height * width` samples.
    pub fn new(height: usize, width: usize, data: PixelData) -> Plane {
        assert_eq!(data.len(), height * width, "plane buffer size");
        Plane {
            height,
            width,
            data,
        }
    }

    /// The next pyramid level: half the size in y and x (rounded up).
    pub fn downsample(&self, how: Downsample) -> Plane {
        let (h, w) = (self.height, self.width);
        if h == 0 || w == 0 {
            return self.clone();
        }
        let data = map_pixels!(&self.data, v => halve(v, h, w, how));
        Plane {
            height: h.div_ceil(2),
            width: w.div_ceil(2),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mean_rounds_and_handles_odd_edges() {
        let p = Plane::new(3, 3, PixelData::U8(vec![0, 1, 10, 2, 3, 20, 100, 200, 255]));
        let d = p.downsample(Downsample::Mean);
        assert_eq!((d.height, d.width), (2, 2));
        // (0+1+2+3)/4 = 1.5 -> 2; (10+20)/2 = 15; (100+200)/2 = 150; 255.
        assert_eq!(d.data, PixelData::U8(vec![2, 15, 150, 255]));
        let s = Plane::new(1, 2, PixelData::I16(vec![-3, -4]));
        assert_eq!(
            s.downsample(Downsample::Mean).data,
            PixelData::I16(vec![-4])
        );
    }

    #[test]
    fn mode_keeps_majority_and_ties_go_top_left() {
        let p = Plane::new(2, 4, PixelData::U16(vec![5, 7, 1, 2, 7, 7, 3, 4]));
        assert_eq!(
            p.downsample(Downsample::Mode).data,
            PixelData::U16(vec![7, 1])
        );
    }

    proptest! {
        #[test]
        fn label_pyramids_never_invent_ids(h in 1usize..20, w in 1usize..20, seed in proptest::collection::vec(0u32..5, 400)) {
            let data: Vec<u32> = (0..h * w).map(|i| seed[i % seed.len()] * 37).collect();
            let mut p = Plane::new(h, w, PixelData::U32(data));
            let ids = p.data.distinct_labels().unwrap();
            while p.height > 1 || p.width > 1 {
                p = p.downsample(Downsample::Mode);
                prop_assert!(p.data.distinct_labels().unwrap().is_subset(&ids));
            }
        }

        #[test]
        fn mean_stays_within_block_range(h in 1usize..16, w in 1usize..16, vals in proptest::collection::vec(any::<u16>(), 256)) {
            let data: Vec<u16> = (0..h * w).map(|i| vals[i]).collect();
            let p = Plane::new(h, w, PixelData::U16(data.clone()));
            let d = p.downsample(Downsample::Mean);
            let (lo, hi) = (data.iter().min().unwrap(), data.iter().max().unwrap());
            let PixelData::U16(out) = d.data else { unreachable!() };
            prop_assert!(out.iter().all(|v| v >= lo && v <= hi));
        }
    }
}
