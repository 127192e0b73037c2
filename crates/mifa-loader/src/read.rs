//! Chunk-level reads: each array is read subchunk by subchunk (the inner chunks of a shard),
//! decoded chunks are shared through a byte-bounded LRU cache, and a batch fetches each chunk
//! it touches once.

use super::Error;
use crate::formats::ome_zarr;
use crate::formats::store::ZarrView;
use crate::raster::PixelData;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zarrs::array::{Array, ArrayShardedExt, ArrayShardedReadableExt, ArrayShardedReadableExtCache};

/// One decoded chunk, in its stored type, row-major over the chunk shape.
pub(crate) type Chunk = PixelData;

/// Cache key: reader id and chunk indices.
pub(crate) type Key = (u32, Vec<u64>);

/// Counters of what the readers did, shared by all workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub decoded_chunks: AtomicU64,
    pub decoded_bytes: AtomicU64,
    pub decode_nanos: AtomicU64,
    pub cache_hits: AtomicU64,
}

/// An LRU cache of decoded chunks bounded by their size in bytes.
pub(crate) struct ChunkCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<Key, (Arc<Chunk>, u64)>,
    order: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
}

fn chunk_bytes(c: &Chunk) -> usize {
    mifa_model::with_pixels!(c, v => std::mem::size_of_val(v.as_slice()))
}

impl ChunkCache {
    pub fn new(capacity: usize) -> ChunkCache {
        ChunkCache {
            capacity,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Chunk>> {
        if self.capacity == 0 {
            return None;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.tick += 1;
        let tick = g.tick;
        let (chunk, old) = {
            let e = g.map.get_mut(key)?;
            let old = e.1;
            e.1 = tick;
            (e.0.clone(), old)
        };
        if let Some(k) = g.order.remove(&old) {
            g.order.insert(tick, k);
        }
        Some(chunk)
    }

    pub fn insert(&self, key: Key, chunk: Arc<Chunk>) {
        let size = chunk_bytes(&chunk);
        if size > self.capacity {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.map.contains_key(&key) {
            return;
        }
        while g.bytes + size > self.capacity {
            let Some((_, k)) = g.order.pop_first() else {
                break;
            };
            if let Some((c, _)) = g.map.remove(&k) {
                g.bytes -= chunk_bytes(&c);
            }
        }
        g.tick += 1;
        let tick = g.tick;
        g.order.insert(tick, key.clone());
        g.map.insert(key, (chunk, tick));
        g.bytes += size;
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

/// One array (an image or label level) read by chunks.
pub(crate) struct ArrayReader {
    pub id: u32,
    pub image: String,
    pub path: PathBuf,
    pub shape: Vec<u64>,
    pub chunk: Vec<u64>,
    array: Array<ZarrView>,
    shards: ArrayShardedReadableExtCache,
    dtype: crate::metadata::DataType,
}

impl ArrayReader {
    pub fn open(
        id: u32,
        image: &str,
        root: &std::path::Path,
        level_path: &str,
        dtype: crate::metadata::DataType,
    ) -> Result<ArrayReader, Error> {
        let view = ZarrView::local(root).map_err(|e| Error::Image {
            image: image.into(),
            message: crate::formats::Error::Zarr {
                path: root.into(),
                message: e.to_string(),
            }
            .to_string(),
        })?;
        Self::open_in(id, image, view, level_path, &root.join(level_path), dtype)
    }

    /// Opens array `level_path` of the group `view` sees (over any store); `path` names it.
    pub fn open_in(
        id: u32,
        image: &str,
        view: ZarrView,
        level_path: &str,
        path: &std::path::Path,
        dtype: crate::metadata::DataType,
    ) -> Result<ArrayReader, Error> {
        let path = path.to_path_buf();
        let array = ome_zarr::open_array_in(view, level_path, &path).map_err(|e| Error::Image {
            image: image.into(),
            message: crate::io_error::chain(&e),
        })?;
        let shape = array.shape().to_vec();
        let grid = array.subchunk_grid();
        let zeros = vec![0u64; shape.len()];
        let chunk: Vec<u64> =
            grid.chunk_shape_u64(&zeros)
                .ok()
                .flatten()
                .ok_or_else(|| Error::Image {
                    image: image.into(),
                    message: format!("{}: the loader needs a regular chunk grid", path.display()),
                })?;
        // A regular grid: every chunk has the first chunk's shape.
        let shards = ArrayShardedReadableExtCache::new(&array);
        Ok(ArrayReader {
            id,
            image: image.into(),
            path,
            shape,
            chunk,
            array,
            shards,
            dtype,
        })
    }

    /// Bytes per stored value.
    pub fn elem_size(&self) -> usize {
        use crate::metadata::DataType as D;
        match self.dtype {
            D::Bool | D::Uint8 | D::Int8 => 1,
            D::Uint16 | D::Int16 => 2,
            D::Uint32 | D::Int32 | D::Float32 => 4,
            D::Uint64 | D::Int64 | D::Float64 => 8,
        }
    }

    fn decode(&self, idx: &[u64]) -> Result<Chunk, Error> {
        use crate::metadata::DataType as D;
        // One thread per decode: the loader already runs one decode per worker, and nested
        // rayon work from two workers queued behind each other (measured: 7× slower decodes).
        let opts = zarrs::array::CodecOptions::default().with_concurrent_target(1);
        let err = |e: &dyn std::fmt::Display| Error::Chunk {
            image: self.image.clone(),
            path: self.path.clone(),
            chunk: idx.to_vec(),
            message: e.to_string(),
        };
        macro_rules! get {
            ($t:ty) => {
                self.array
                    .retrieve_subchunk_opt::<Vec<$t>>(&self.shards, idx, &opts)
                    .map_err(|e| err(&e))?
            };
        }
        Ok(match self.dtype {
            D::Bool => PixelData::U8(get!(bool).into_iter().map(u8::from).collect()),
            D::Uint8 => PixelData::U8(get!(u8)),
            D::Uint16 => PixelData::U16(get!(u16)),
            D::Uint32 => PixelData::U32(get!(u32)),
            D::Uint64 => PixelData::U64(get!(u64)),
            D::Int8 => PixelData::I8(get!(i8)),
            D::Int16 => PixelData::I16(get!(i16)),
            D::Int32 => PixelData::I32(get!(i32)),
            D::Int64 => PixelData::I64(get!(i64)),
            D::Float32 => PixelData::F32(get!(f32)),
            D::Float64 => PixelData::F64(get!(f64)),
        })
    }

    /// The chunk at `idx`: from the batch's own map, the shared cache, or decoded.
    pub fn chunk(
        &self,
        idx: Vec<u64>,
        local: &mut HashMap<Key, Arc<Chunk>>,
        cache: &ChunkCache,
        counters: &Counters,
    ) -> Result<Arc<Chunk>, Error> {
        let key = (self.id, idx);
        if let Some(c) = local.get(&key) {
            return Ok(c.clone());
        }
        let c = if let Some(c) = cache.get(&key) {
            counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            c
        } else {
            let t = std::time::Instant::now();
            let c = Arc::new(self.decode(&key.1)?);
            counters
                .decode_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            counters.decoded_chunks.fetch_add(1, Ordering::Relaxed);
            counters
                .decoded_bytes
                .fetch_add(chunk_bytes(&c) as u64, Ordering::Relaxed);
            cache.insert(key.clone(), c.clone());
            c
        };
        local.insert(key, c.clone());
        Ok(c)
    }

    /// Copies the window `ys × xs` of the plane at `fixed` (indices of every axis but the last
    /// two, which are y and x) into `out` (row-major, `xs.len()` wide), converting each value
    /// with `conv`.
    #[allow(clippy::too_many_arguments)]
    pub fn read_window<T: Element>(
        &self,
        fixed: &[u64],
        ys: Range<u64>,
        xs: Range<u64>,
        out: &mut [T],
        local: &mut HashMap<Key, Arc<Chunk>>,
        cache: &ChunkCache,
        counters: &Counters,
        conv: &Conv<T>,
    ) -> Result<(), Error> {
        let n = self.shape.len();
        let (ch, cw) = (self.chunk[n - 2], self.chunk[n - 1]);
        let width = (xs.end - xs.start) as usize;
        // Row-major strides inside a chunk.
        let mut strides = vec![1u64; n];
        for a in (0..n - 1).rev() {
            strides[a] = strides[a + 1] * self.chunk[a + 1];
        }
        let base: u64 = fixed
            .iter()
            .enumerate()
            .map(|(a, &i)| (i % self.chunk[a]) * strides[a])
            .sum();
        for cy in ys.start / ch..ys.end.div_ceil(ch) {
            for cx in xs.start / cw..xs.end.div_ceil(cw) {
                let mut idx: Vec<u64> = fixed
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| i / self.chunk[a])
                    .collect();
                idx.push(cy);
                idx.push(cx);
                let c = self.chunk(idx, local, cache, counters)?;
                let y0 = ys.start.max(cy * ch);
                let y1 = ys.end.min((cy + 1) * ch);
                let x0 = xs.start.max(cx * cw);
                let x1 = xs.end.min((cx + 1) * cw);
                let run = (x1 - x0) as usize;
                for y in y0..y1 {
                    let src = (base + (y - cy * ch) * strides[n - 2] + (x0 - cx * cw)) as usize;
                    let dst = (y - ys.start) as usize * width + (x0 - xs.start) as usize;
                    T::convert(conv, &c, src, &mut out[dst..dst + run]);
                }
            }
        }
        Ok(())
    }
}

/// Converts stored values to the batch's element type.
pub(crate) enum Conv<T> {
    /// Affine: `(v + offset) * scale`, for images.
    Affine { offset: f64, scale: f64 },
    /// Plain cast, for labels.
    Cast,
    /// Lookup through a map, for labels whose values name classes; other non-zero values
    /// become 1 (the default foreground class).
    Map(HashMap<i64, i64>),
    /// Non-zero to 1.
    Binary,
    #[doc(hidden)]
    _Marker(std::marker::PhantomData<T>),
}

impl Conv<f32> {
    fn run(&self, c: &Chunk, src: usize, out: &mut [f32]) {
        let (offset, scale) = match *self {
            Conv::Affine { offset, scale } => (offset, scale),
            _ => (0.0, 1.0),
        };
        // 8- and 16-bit values are exact in f32; wider ones are shifted in f64 first, so that
        // large values keep their resolution.
        let (o32, s32) = (offset as f32, scale as f32);
        macro_rules! affine {
            ($($var:ident: $t:ident),*) => {
                match c {
                    $(PixelData::$var(v) => {
                        let len = out.len();
                        for (o, &x) in out.iter_mut().zip(&v[src..src + len]) {
                            *o = affine!(@$t x);
                        }
                    })*
                    PixelData::Bool(v) => {
                        let len = out.len();
                        for (o, &x) in out.iter_mut().zip(&v[src..src + len]) {
                            *o = (f32::from(u8::from(x)) + o32) * s32;
                        }
                    }
                }
            };
            (@narrow $x:ident) => { ($x as f32 + o32) * s32 };
            (@wide $x:ident) => { (($x as f64 + offset) * scale) as f32 };
        }
        affine!(U8: narrow, U16: narrow, I8: narrow, I16: narrow, F32: narrow,
            U32: wide, U64: wide, I32: wide, I64: wide, F64: wide);
    }
}

impl Conv<i64> {
    fn run(&self, c: &Chunk, src: usize, out: &mut [i64]) {
        macro_rules! labels {
            ($($var:ident),*) => {
                match c {
                    $(PixelData::$var(v) => {
                        let v = &v[src..src + out.len()];
                        match self {
                            Conv::Binary => {
                                for (o, &x) in out.iter_mut().zip(v) {
                                    *o = i64::from(x as i64 != 0);
                                }
                            }
                            Conv::Map(m) => {
                                for (o, &x) in out.iter_mut().zip(v) {
                                    let v = x as i64;
                                    *o = m.get(&v).copied().unwrap_or(i64::from(v != 0));
                                }
                            }
                            _ => {
                                for (o, &x) in out.iter_mut().zip(v) {
                                    *o = x as i64;
                                }
                            }
                        }
                    })*
                    PixelData::Bool(v) => {
                        let len = out.len();
                        for (o, &x) in out.iter_mut().zip(&v[src..src + len]) {
                            *o = i64::from(x);
                        }
                    }
                }
            };
        }
        labels!(U8, U16, U32, U64, I8, I16, I32, I64, F32, F64);
    }
}

/// Element types a window can be read into.
pub(crate) trait Element: Copy {
    fn convert(conv: &Conv<Self>, c: &Chunk, src: usize, out: &mut [Self]);
}

impl Element for f32 {
    fn convert(conv: &Conv<f32>, c: &Chunk, src: usize, out: &mut [f32]) {
        conv.run(c, src, out)
    }
}

impl Element for i64 {
    fn convert(conv: &Conv<i64>, c: &Chunk, src: usize, out: &mut [i64]) {
        conv.run(c, src, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::store::{LocalStore, MemoryStore};

    #[test]
    fn a_reader_over_memory_decodes_what_the_one_over_disk_does() {
        let pkg = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../formats/manifest/valid/complete");
        let image = "images/nuclei.ome.zarr";
        let mem = MemoryStore::copy_of(&pkg, 1 << 30).unwrap();
        let dtype = crate::metadata::DataType::Uint16;
        let open = |store: Arc<dyn crate::formats::store::ReadStore>| {
            let view = ZarrView::new(store, image);
            ArrayReader::open_in(0, "nuclei", view, "0", &pkg.join(image).join("0"), dtype).unwrap()
        };
        let disk = open(Arc::new(LocalStore::new(&pkg).unwrap()));
        let memory = open(Arc::new(mem));
        assert_eq!((&memory.shape, &memory.chunk), (&disk.shape, &disk.chunk));
        let (a, b) = (
            disk.decode(&[0, 0]).unwrap(),
            memory.decode(&[0, 0]).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 16 * 16);
    }
}
