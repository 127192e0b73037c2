//! Training batches straight from a package: split-aware, seeded, shuffled per epoch, sharded
//! across ranks, resumable, read chunk by chunk through a shared cache by worker threads.
//!
//! ```no_run
//! use mifa_loader::{Loader, Subset, TaskKind, Sampling};
//! let loader = Loader::builder("pkg")
//!     .subset(Subset::Train)
//!     .task(TaskKind::Semantic, "nuclei")
//!     .patch(256)
//!     .batch_size(16)
//!     .sampling(Sampling::Random { foreground: 0.5 })
//!     .seed(7)
//!     .build()?;
//! for batch in loader.epoch(0) {
//!     let batch = batch?; // images [n, c, h, w] f32, masks [n, h, w] i64
//!     # let _ = batch;
//! }
//! # Ok::<(), mifa_loader::Error>(())
//! ```
//!
//! Contract: every sample of an epoch is computed from `(seed, epoch, sample index)` only, so
//! the batches are the same whatever the number of workers, and an epoch can resume at any
//! batch without reading the ones before. Errors (a corrupt chunk, a missing file) are
//! returned as `Err` from the iterator, which then ends; nothing panics or hangs.
use mifa_formats as formats;
use mifa_model::{annotations, io_error, metadata, raster};
use mifa_package::{package, split, vectors};

mod order;
mod read;
pub mod stats;
mod targets;
#[cfg(feature = "tch")]
pub mod tensors;

pub use order::{epoch_order, grid_positions, shard};

use crate::metadata::AxisType;
use crate::package::Package;
use crate::split::SplitMix64;
use read::{ChunkCache, Conv, Counters};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

/// Loader errors: each names the image (and chunk or file) concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening the package failed.
    #[error(transparent)]
    Package(#[from] crate::package::Error),
    /// The split is unknown or unusable.
    #[error(transparent)]
    Split(#[from] mifa_model::split::Error),
    /// An image cannot be loaded.
    #[error("image {image:?}: {message}")]
    Image {
        /// Image id.
        image: String,
        /// What is wrong.
        message: String,
    },
    /// A chunk cannot be read or decoded.
    #[error("image {image:?}: chunk {chunk:?} of {}: {message}", path.display())]
    Chunk {
        /// Image id.
        image: String,
        /// The array.
        path: PathBuf,
        /// Chunk indices (inner chunk of a shard when sharded).
        chunk: Vec<u64>,
        /// Decoder message.
        message: String,
    },
    /// The annotations a task needs are missing or unreadable.
    #[error("task {task}, set {set:?}: {message}")]
    Task {
        /// The task.
        task: &'static str,
        /// The annotation set.
        set: String,
        /// What is wrong.
        message: String,
    },
    /// The patch does not fit.
    #[error(
        "patch {patch}×{patch} is larger than {what} {image:?} ({height}×{width} at level {level})"
    )]
    PatchTooLarge {
        /// `image`, or `the sampling window of image`.
        what: &'static str,
        /// Image id.
        image: String,
        /// Patch side.
        patch: u64,
        /// Plane rows at the level.
        height: u64,
        /// Plane columns at the level.
        width: u64,
        /// Pyramid level.
        level: usize,
    },
    /// An option is out of range.
    #[error("{0}")]
    Config(String),
    /// A worker thread ended without sending its batch (it panicked).
    #[error("loader worker {0} stopped without a result (it panicked)")]
    Worker(usize),
}

/// Which images of the split to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Every image of the package (no split needed).
    All,
    /// The split's training images.
    Train,
    /// Validation images.
    Val,
    /// Test images.
    Test,
}

impl std::str::FromStr for Subset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subset, Error> {
        Ok(match s {
            "all" => Subset::All,
            "train" => Subset::Train,
            "val" | "validation" => Subset::Val,
            "test" => Subset::Test,
            _ => {
                return Err(Error::Config(format!(
                    "subset {s:?}: expected train, val, test or all"
                )))
            }
        })
    }
}

/// What the targets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Images only.
    Images,
    /// Class index per pixel (`masks`, 0 = background): label values of semantic masks, the
    /// class of instance labels (from `image-label` properties, else 1), polygon classes.
    Semantic,
    /// Object id per pixel (`masks`, 0 = background): label values or polygon order.
    Instance,
    /// Boxes with classes (`boxes`): polygon bounds, or the extent of each label value.
    Detection,
    /// Points (`points`, optionally `heatmaps`): point annotations, or label centroids.
    Points,
    /// One class per image (`labels`), from the set's image-level labels.
    Classification,
}

impl TaskKind {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Images => "images",
            TaskKind::Semantic => "semantic",
            TaskKind::Instance => "instance",
            TaskKind::Detection => "detection",
            TaskKind::Points => "points",
            TaskKind::Classification => "classification",
        }
    }
}

impl std::str::FromStr for TaskKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<TaskKind, Error> {
        Ok(match s {
            "images" => TaskKind::Images,
            "semantic" => TaskKind::Semantic,
            "instance" => TaskKind::Instance,
            "detection" => TaskKind::Detection,
            "points" => TaskKind::Points,
            "classification" => TaskKind::Classification,
            _ => return Err(Error::Config(format!(
                "task {s:?}: expected images, semantic, instance, detection, points or classification"
            ))),
        })
    }
}

/// Where patches are taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Uniformly random windows; with `foreground > 0` that fraction of samples is centred on
    /// a random annotated pixel (found on the coarsest label level or from object bounds).
    Random {
        /// Fraction of foreground-centred samples, 0–1.
        foreground: f64,
    },
    /// A deterministic grid covering every pixel, for validation (`stride` defaults to the
    /// patch size; the last window of a row or column is moved back inside the image).
    Grid {
        /// Step between windows.
        stride: Option<u64>,
    },
    /// Whole planes (all must have the same size when batched).
    Whole,
}

/// Intensity normalisation, per channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalize {
    /// Raw values as `f32`.
    None,
    /// `(x - p_low) / (p_high - p_low)` with percentiles of each image and channel, taken on
    /// the coarsest pyramid level of at least 64×64 pixels (as CSBDeep/StarDist normalise).
    Percentile {
        /// Low percentile, e.g. 1.
        low: f64,
        /// High percentile, e.g. 99.8.
        high: f64,
    },
    /// `(x - mean) / std` per channel; computed over the served images (coarse level) when
    /// `None`.
    MeanStd(Option<(Vec<f32>, Vec<f32>)>),
}

/// Random augmentations, applied identically to images and targets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Augment {
    /// Random horizontal and vertical flips.
    pub flips: bool,
    /// Random 90° rotations (square outputs only).
    pub rot90: bool,
    /// A random `crop × crop` window of each sampled window.
    pub crop: Option<u64>,
}

/// Where an epoch stands, to resume it: the loader continues at `position` (batches already
/// consumed) of `epoch` without reading what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Seed of the loader.
    pub seed: u64,
    /// Epoch.
    pub epoch: u64,
    /// Batches of the epoch already consumed.
    pub position: u64,
}

/// A box target: `[x0, y0, x1, y1]` in patch pixels (pixel corners, x right, y down), clipped
/// to the patch, and its class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxTarget {
    /// Corners.
    pub bbox: [f32; 4],
    /// Class index.
    pub class: i64,
}

/// A point target in patch pixels (pixel centre of the top-left pixel at 0.5, 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointTarget {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
    /// Class index.
    pub class: i64,
}

/// Where a sample came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleInfo {
    /// Sample index in the epoch's sample space.
    pub index: u64,
    /// Image id.
    pub image: String,
    /// Indices of the plane along the image's non-yx, non-channel axes (t, z), in axis order.
    pub plane: Vec<u64>,
    /// Window `[y0, x0, height, width]` at the loader's level.
    pub window: [u64; 4],
    /// Applied in this order: vertical flip, horizontal flip, then this many counter-clockwise
    /// quarter turns (as `numpy.rot90`).
    pub transform: (bool, bool, u8),
}

/// Element types of batch buffers.
pub trait BufferElement: Copy + Default + Send + 'static {
    /// The matching tensor kind.
    #[cfg(feature = "tch")]
    const KIND: tch::Kind;
}
impl BufferElement for f32 {
    #[cfg(feature = "tch")]
    const KIND: tch::Kind = tch::Kind::Float;
}
impl BufferElement for i64 {
    #[cfg(feature = "tch")]
    const KIND: tch::Kind = tch::Kind::Int64;
}

/// A batch buffer: a `Vec`, or with the `tch` feature and [`LoaderBuilder::tensors`] a CPU
/// tensor written in place, so handing it to tch copies nothing. `Vec` buffers go back to the
/// loader's pool when dropped: fresh allocations of this size cost more in page faults than
/// filling them.
pub struct Buffer<T: BufferElement> {
    repr: Repr<T>,
}

pub(crate) type Pool<T> = Arc<std::sync::Mutex<Vec<Vec<T>>>>;

enum Repr<T> {
    Vec(Vec<T>, Option<Pool<T>>),
    #[cfg(feature = "tch")]
    Tensor(tch::Tensor, std::marker::PhantomData<T>),
}

impl<T: BufferElement> Buffer<T> {
    /// A buffer of `len` values; zeroed when `zero` (else its content is unspecified and the
    /// caller overwrites all of it).
    fn take(len: usize, _tensor: bool, pool: &Pool<T>, zero: bool) -> Buffer<T> {
        #[cfg(feature = "tch")]
        if _tensor {
            let t = tch::Tensor::zeros([len as i64], (T::KIND, tch::Device::Cpu));
            return Buffer {
                repr: Repr::Tensor(t, std::marker::PhantomData),
            };
        }
        let reused = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let v = match reused {
            Some(v) if v.len() == len && !zero => v,
            Some(mut v) => {
                v.clear();
                v.resize(len, T::default());
                v
            }
            None => vec![T::default(); len],
        };
        Buffer {
            repr: Repr::Vec(v, Some(pool.clone())),
        }
    }

    /// The values, as a `Vec` (a copy).
    pub fn to_vec(&self) -> Vec<T> {
        (**self).to_vec()
    }
}

impl<T: BufferElement> Drop for Buffer<T> {
    fn drop(&mut self) {
        if let Repr::Vec(v, Some(pool)) = &mut self.repr {
            let v = std::mem::take(v);
            let mut g = pool.lock().unwrap_or_else(|p| p.into_inner());
            if g.len() < 16 {
                g.push(v);
            }
        }
    }
}

impl<T: BufferElement> std::ops::Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.repr {
            Repr::Vec(v, _) => v,
            #[cfg(feature = "tch")]
            // An empty tensor may have a null data pointer.
            Repr::Tensor(t, _) if t.numel() == 0 => &[],
            #[cfg(feature = "tch")]
            // SAFETY: a contiguous CPU tensor of kind T::KIND with numel > 0 elements, owned here.
            Repr::Tensor(t, _) => unsafe {
                std::slice::from_raw_parts(t.data_ptr() as *const T, t.numel())
            },
        }
    }
}

impl<T: BufferElement> std::ops::DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.repr {
            Repr::Vec(v, _) => v,
            #[cfg(feature = "tch")]
            Repr::Tensor(t, _) if t.numel() == 0 => &mut [],
            #[cfg(feature = "tch")]
            // SAFETY: as above; `&mut self` gives exclusive access to the only handle.
            Repr::Tensor(t, _) => unsafe {
                std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, t.numel())
            },
        }
    }
}

impl<T: BufferElement + std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer(len {})", self.len())
    }
}

/// One batch. Images are `[n, c, h, w]` row-major `f32`; masks `[n, h, w]` `i64`; heatmaps
/// `[n, 1, h, w]` `f32`.
#[derive(Debug)]
pub struct Batch {
    /// Epoch.
    pub epoch: u64,
    /// Batch index in the epoch (on this rank).
    pub index: u64,
    /// `[n, c, h, w]`.
    pub shape: [usize; 4],
    /// Pixels.
    pub images: Buffer<f32>,
    /// Semantic classes or instance ids per pixel.
    pub masks: Option<Buffer<i64>>,
    /// Gaussian point heatmaps (peak 1).
    pub heatmaps: Option<Buffer<f32>>,
    /// Boxes per sample.
    pub boxes: Option<Vec<Vec<BoxTarget>>>,
    /// Points per sample.
    pub points: Option<Vec<Vec<PointTarget>>>,
    /// Image class per sample.
    pub labels: Option<Vec<i64>>,
    /// Provenance of each sample.
    pub samples: Vec<SampleInfo>,
}

/// Counters of a loader's reads so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadStats {
    /// Chunks decoded.
    pub decoded_chunks: u64,
    /// Bytes decoded (in the stored type).
    pub decoded_bytes: u64,
    /// Seconds spent decoding, summed over workers.
    pub decode_seconds: f64,
    /// Chunks served by the cache.
    pub cache_hits: u64,
    /// Bytes held by the cache now.
    pub cache_bytes: u64,
}

/// Configures a [`Loader`].
#[derive(Debug, Clone)]
pub struct LoaderBuilder {
    dir: PathBuf,
    split: Option<String>,
    subset: Subset,
    images: Option<Vec<String>>,
    task: TaskKind,
    set: Option<String>,
    heatmap_sigma: Option<f32>,
    patch: u64,
    batch_size: usize,
    sampling: Sampling,
    shuffle: Option<bool>,
    level: usize,
    channels: Option<Vec<u64>>,
    seed: u64,
    rank: usize,
    world: usize,
    drop_last: bool,
    samples_per_epoch: Option<u64>,
    workers: usize,
    prefetch: usize,
    cache_bytes: usize,
    normalize: Normalize,
    augment: Augment,
    window: Option<(Range<u64>, Range<u64>)>,
    tensors: bool,
}

impl LoaderBuilder {
    /// The split to use (default: the only one recorded).
    pub fn split(mut self, id: impl Into<String>) -> Self {
        self.split = Some(id.into());
        self
    }
    /// Which images of the split (default [`Subset::All`]).
    pub fn subset(mut self, s: Subset) -> Self {
        self.subset = s;
        self
    }
    /// Serve exactly these images instead of a split's.
    pub fn images(mut self, ids: Vec<String>) -> Self {
        self.images = Some(ids);
        self
    }
    /// The task and the annotation set its targets come from.
    pub fn task(mut self, kind: TaskKind, set: impl Into<String>) -> Self {
        self.task = kind;
        self.set = Some(set.into());
        self
    }
    /// Points: also render Gaussian heatmaps of this sigma (pixels).
    pub fn heatmap(mut self, sigma: f32) -> Self {
        self.heatmap_sigma = Some(sigma);
        self
    }
    /// Side of the square patch (default 256).
    pub fn patch(mut self, p: u64) -> Self {
        self.patch = p;
        self
    }
    /// Samples per batch (default 8).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// How windows are chosen (default random, no foreground bias).
    pub fn sampling(mut self, s: Sampling) -> Self {
        self.sampling = s;
        self
    }
    /// Shuffle each epoch (default: yes for random sampling, no otherwise).
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = Some(on);
        self
    }
    /// Pyramid level (default 0, full resolution).
    pub fn level(mut self, l: usize) -> Self {
        self.level = l;
        self
    }
    /// Channels to serve, by index (default all).
    pub fn channels(mut self, c: Vec<u64>) -> Self {
        self.channels = Some(c);
        self
    }
    /// Seed of shuffling, sampling and augmentation (default 0).
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Distributed training: this process is `rank` of `world`.
    pub fn shard(mut self, rank: usize, world: usize) -> Self {
        self.rank = rank;
        self.world = world;
        self
    }
    /// Drop the last, partial batch (and, when sharding, cut instead of padding).
    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }
    /// Samples per epoch for random sampling (default: as many as grid windows).
    pub fn samples_per_epoch(mut self, n: u64) -> Self {
        self.samples_per_epoch = Some(n);
        self
    }
    /// Worker threads (default 2; 0 computes batches in the caller's thread).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Batches each worker may have ready ahead (default 2).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }
    /// Bound of the decoded-chunk cache in bytes (default 512 MiB; 0 disables it).
    pub fn cache_bytes(mut self, n: usize) -> Self {
        self.cache_bytes = n;
        self
    }
    /// Intensity normalisation (default none).
    pub fn normalize(mut self, n: Normalize) -> Self {
        self.normalize = n;
        self
    }
    /// Augmentation (default none).
    pub fn augment(mut self, a: Augment) -> Self {
        self.augment = a;
        self
    }
    /// Only sample inside rows `ys` and columns `xs` (at the loader's level) of every image:
    /// a spatial hold-out when a package has too few images to split.
    pub fn window(mut self, ys: Range<u64>, xs: Range<u64>) -> Self {
        self.window = Some((ys, xs));
        self
    }
    /// With the `tch` feature: allocate batch buffers as CPU tensors (zero-copy hand-over).
    #[cfg(feature = "tch")]
    pub fn tensors(mut self, on: bool) -> Self {
        self.tensors = on;
        self
    }

    /// Opens the package, checks the options against it and plans the samples.
    pub fn build(self) -> Result<Loader, Error> {
        plan::build(self)
    }
}

mod plan;

/// A planned loader; [`Loader::epoch`] iterates batches.
pub struct Loader {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    cfg: LoaderBuilder,
    sources: Vec<plan::Source>,
    planes: Vec<plan::PlaneRef>,
    /// Prefix sums of the sample slots of each plane.
    slots: Vec<u64>,
    n_samples: u64,
    out: (u64, u64),
    channels: usize,
    num_classes: i64,
    cache: ChunkCache,
    counters: Counters,
    pool_f32: Pool<f32>,
    pool_i64: Pool<i64>,
}

impl Loader {
    /// Starts configuring a loader over the package at `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> LoaderBuilder {
        LoaderBuilder {
            dir: dir.as_ref().to_path_buf(),
            split: None,
            subset: Subset::All,
            images: None,
            task: TaskKind::Images,
            set: None,
            heatmap_sigma: None,
            patch: 256,
            batch_size: 8,
            sampling: Sampling::Random { foreground: 0.0 },
            shuffle: None,
            level: 0,
            channels: None,
            seed: 0,
            rank: 0,
            world: 1,
            drop_last: false,
            samples_per_epoch: None,
            workers: 2,
            prefetch: 2,
            cache_bytes: 512 << 20,
            normalize: Normalize::None,
            augment: Augment::default(),
            window: None,
            tensors: false,
        }
    }

    /// Samples in one epoch (all ranks).
    pub fn num_samples(&self) -> u64 {
        self.inner.n_samples
    }

    /// Samples this rank serves per epoch.
    pub fn samples_per_rank(&self) -> u64 {
        let (n, w) = (self.inner.n_samples, self.inner.cfg.world as u64);
        if self.inner.cfg.drop_last {
            n / w
        } else {
            n.div_ceil(w)
        }
    }

    /// Batches this rank serves per epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        let n = self.samples_per_rank();
        let b = self.inner.cfg.batch_size as u64;
        if self.inner.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Images served, in order.
    pub fn images(&self) -> Vec<&str> {
        self.inner.sources.iter().map(|s| s.id.as_str()).collect()
    }

    /// Channels per image in a batch.
    pub fn channels(&self) -> usize {
        self.inner.channels
    }

    /// Output window `(height, width)`.
    pub fn patch_shape(&self) -> (u64, u64) {
        self.inner.out
    }

    /// Number of classes including background (semantic, detection, points,
    /// classification): the largest class index + 1.
    pub fn num_classes(&self) -> i64 {
        self.inner.num_classes
    }

    /// Stored bytes (image channels and label, at their stored types) behind one sample:
    /// the data volume a sample represents, for throughput figures.
    pub fn stored_bytes_per_sample(&self) -> u64 {
        let (h, w) = self.inner.out;
        let Some(s) = self.inner.sources.first() else {
            return 0;
        };
        let label = s.label.as_ref().map_or(0, |(r, _)| r.elem_size());
        (h * w) * (s.image.elem_size() * s.channels.len() + label) as u64
    }

    /// Read counters so far.
    pub fn read_stats(&self) -> ReadStats {
        let c = &self.inner.counters;
        ReadStats {
            decoded_chunks: c.decoded_chunks.load(Ordering::Relaxed),
            decoded_bytes: c.decoded_bytes.load(Ordering::Relaxed),
            decode_seconds: c.decode_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            cache_bytes: self.inner.cache.bytes() as u64,
        }
    }

    /// The batches of `epoch`.
    pub fn epoch(&self, epoch: u64) -> Batches {
        self.resume(State {
            seed: self.inner.cfg.seed,
            epoch,
            position: 0,
        })
    }

    /// The batches of `state.epoch` from batch `state.position` on. The seed must be the
    /// loader's (a state from another loader would silently give other batches).
    pub fn resume(&self, state: State) -> Batches {
        let cfg = &self.inner.cfg;
        let shuffle = cfg
            .shuffle
            .unwrap_or(matches!(cfg.sampling, Sampling::Random { .. }));
        let order = epoch_order(self.inner.n_samples, cfg.seed, state.epoch, shuffle);
        let mine = shard(&order, cfg.rank, cfg.world, cfg.drop_last);
        let b = cfg.batch_size;
        let mut batches: Vec<Vec<u64>> = mine.chunks(b).map(<[u64]>::to_vec).collect();
        if cfg.drop_last && batches.last().is_some_and(|l| l.len() < b) {
            batches.pop();
        }
        let error = (state.seed != cfg.seed).then(|| {
            Error::Config(format!(
                "resume state has seed {}, the loader {}",
                state.seed, cfg.seed
            ))
        });
        Batches::start(
            self.inner.clone(),
            state.epoch,
            batches,
            state.position as usize,
            error,
        )
    }
}

/// The batches of one epoch, in order. Dropping it stops the workers.
pub struct Batches {
    epoch: u64,
    /// The first batch served (workers take batches `from + w`, `from + w + workers`, …).
    from: usize,
    next: usize,
    total: usize,
    seed: u64,
    mode: Mode,
    error: Option<Error>,
    done: bool,
}

enum Mode {
    Inline {
        inner: Arc<Inner>,
        batches: Vec<Vec<u64>>,
    },
    Threads {
        rx: Vec<mpsc::Receiver<Result<Batch, Error>>>,
        handles: Vec<std::thread::JoinHandle<()>>,
    },
}

impl Batches {
    fn start(
        inner: Arc<Inner>,
        epoch: u64,
        batches: Vec<Vec<u64>>,
        from: usize,
        error: Option<Error>,
    ) -> Batches {
        let total = batches.len();
        let seed = inner.cfg.seed;
        let workers = inner.cfg.workers;
        let mode = if workers == 0 || error.is_some() {
            Mode::Inline { inner, batches }
        } else {
            let batches = Arc::new(batches);
            let mut rx = Vec::new();
            let mut handles = Vec::new();
            for w in 0..workers {
                let (tx, r) = mpsc::sync_channel(inner.cfg.prefetch.max(1));
                rx.push(r);
                let inner = inner.clone();
                let batches = batches.clone();
                handles.push(std::thread::spawn(move || {
                    let mut b = from + w;
                    while b < batches.len() {
                        let out = inner.batch(epoch, b as u64, &batches[b]);
                        let failed = out.is_err();
                        if tx.send(out).is_err() || failed {
                            return;
                        }
                        b += workers;
                    }
                }));
            }
            Mode::Threads { rx, handles }
        };
        Batches {
            epoch,
            from,
            next: from,
            total,
            seed,
            mode,
            error,
            done: false,
        }
    }

    /// Where the iteration stands: save it to resume later.
    pub fn state(&self) -> State {
        State {
            seed: self.seed,
            epoch: self.epoch,
            position: self.next as u64,
        }
    }

    /// Batches left.
    pub fn remaining(&self) -> usize {
        self.total.saturating_sub(self.next)
    }
}

impl Iterator for Batches {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.next >= self.total {
            self.done = true;
            return None;
        }
        let b = self.next;
        let out = match &self.mode {
            Mode::Inline { inner, batches } => inner.batch(self.epoch, b as u64, &batches[b]),
            Mode::Threads { rx, .. } => {
                let w = (b - self.from) % rx.len();
                rx[w].recv().unwrap_or(Err(Error::Worker(w)))
            }
        };
        // A failed batch is not consumed: a state saved now resumes at it.
        if out.is_err() {
            self.done = true;
        } else {
            self.next += 1;
        }
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = if self.done { 0 } else { self.remaining() };
        (n, Some(n))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        if let Mode::Threads { rx, handles } = &mut self.mode {
            // Dropping the receivers makes the workers' next send fail, so they stop.
            rx.clear();
            for h in handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

impl Inner {
    /// Computes one batch from its sample indices.
    fn batch(&self, epoch: u64, index: u64, samples: &[u64]) -> Result<Batch, Error> {
        let cfg = &self.cfg;
        let specs: Vec<Spec> = samples.iter().map(|&k| self.spec(epoch, k)).collect();
        // Whole planes of one image size per batch (build() refuses mixed sizes in batches > 1).
        let (oh, ow) = specs.first().map_or(self.out, |s| (s.h, s.w));
        if specs.iter().any(|s| (s.h, s.w) != (oh, ow)) {
            return Err(Error::Config(format!(
                "batch {index} mixes whole planes of different sizes"
            )));
        }
        let (n, c) = (samples.len(), self.channels);
        let px = (oh * ow) as usize;
        let task = cfg.task;
        let mut images = Buffer::<f32>::take(n * c * px, cfg.tensors, &self.pool_f32, false);
        let raster = matches!(task, TaskKind::Semantic | TaskKind::Instance);
        // Label windows overwrite every pixel; painted polygons need a zeroed mask.
        let painted = self.sources.iter().any(|s| s.label.is_none());
        let mut masks =
            raster.then(|| Buffer::<i64>::take(n * px, cfg.tensors, &self.pool_i64, painted));
        let mut heatmaps = (task == TaskKind::Points && cfg.heatmap_sigma.is_some())
            .then(|| Buffer::<f32>::take(n * px, cfg.tensors, &self.pool_f32, true));
        let mut boxes = (task == TaskKind::Detection).then(Vec::new);
        let mut points = (task == TaskKind::Points).then(Vec::new);
        let mut labels = (task == TaskKind::Classification).then(Vec::new);
        let mut infos = Vec::with_capacity(n);
        let mut local = HashMap::new();
        let mut scratch: Vec<i64> = Vec::new();
        for (i, (&k, spec)) in samples.iter().zip(specs).enumerate() {
            let plane = &self.planes[spec.plane];
            let src = &self.sources[plane.source];
            let ys = spec.y0..spec.y0 + oh;
            let xs = spec.x0..spec.x0 + ow;
            for (ci, &ch) in src.channels.iter().enumerate() {
                let mut fixed = plane.fixed.clone();
                if let Some(a) = src.c_axis {
                    fixed[a] = ch;
                }
                let out = &mut images[(i * c + ci) * px..(i * c + ci + 1) * px];
                src.image.read_window(
                    &fixed,
                    ys.clone(),
                    xs.clone(),
                    out,
                    &mut local,
                    &self.cache,
                    &self.counters,
                    &src.norm[ci],
                )?;
            }
            let mut t = targets::Targets::default();
            let need_label_pixels = src.label.is_some()
                && matches!(
                    task,
                    TaskKind::Semantic
                        | TaskKind::Instance
                        | TaskKind::Detection
                        | TaskKind::Points
                );
            if need_label_pixels {
                let (reader, conv) = src.label.as_ref().expect("checked");
                let fixed = plane.label_fixed.clone();
                let target: &mut [i64] = match masks.as_mut() {
                    Some(m) => &mut m[i * px..(i + 1) * px],
                    None => {
                        scratch.clear();
                        scratch.resize(px, 0);
                        &mut scratch
                    }
                };
                let conv = if raster { conv } else { &Conv::Cast };
                reader.read_window(
                    &fixed,
                    ys.clone(),
                    xs.clone(),
                    target,
                    &mut local,
                    &self.cache,
                    &self.counters,
                    conv,
                )?;
                if !raster {
                    t = targets::from_labels(target, oh, ow, task, &src.value_class);
                }
            } else if !src.objects.is_empty() || task == TaskKind::Classification {
                let mask = masks.as_mut().map(|m| &mut m[i * px..(i + 1) * px]);
                t = targets::from_objects(src, spec.y0, spec.x0, oh, ow, task, mask);
            }
            let (fv, fh, rot) = spec.transform;
            if fv || fh || rot > 0 {
                for ci in 0..c {
                    targets::transform(
                        &mut images[(i * c + ci) * px..(i * c + ci + 1) * px],
                        oh as usize,
                        ow as usize,
                        spec.transform,
                    );
                }
                if let Some(m) = masks.as_mut() {
                    targets::transform(
                        &mut m[i * px..(i + 1) * px],
                        oh as usize,
                        ow as usize,
                        spec.transform,
                    );
                }
                t.transform(oh as f32, ow as f32, spec.transform);
            }
            if let (Some(h), Some(sigma)) = (heatmaps.as_mut(), cfg.heatmap_sigma) {
                targets::heatmap(
                    &mut h[i * px..(i + 1) * px],
                    oh as usize,
                    ow as usize,
                    &t.points,
                    sigma,
                );
            }
            if let Some(b) = boxes.as_mut() {
                b.push(t.boxes);
            }
            if let Some(p) = points.as_mut() {
                p.push(t.points);
            }
            if let Some(l) = labels.as_mut() {
                l.push(src.class.unwrap_or(0));
            }
            infos.push(SampleInfo {
                index: k,
                image: src.id.clone(),
                plane: plane.plane.clone(),
                window: [spec.y0, spec.x0, oh, ow],
                transform: spec.transform,
            });
        }
        Ok(Batch {
            epoch,
            index,
            shape: [n, c, oh as usize, ow as usize],
            images,
            masks,
            heatmaps,
            boxes,
            points,
            labels,
            samples: infos,
        })
    }

    /// Where sample `k` of `epoch` is: a pure function of `(seed, epoch, k)`.
    fn spec(&self, epoch: u64, k: u64) -> Spec {
        let cfg = &self.cfg;
        let mut rng = SplitMix64::new(order::mix(order::mix(cfg.seed, epoch), k));
        let plane_idx = match cfg.sampling {
            Sampling::Whole => k as usize,
            _ if self.slots.is_empty() => 0,
            _ => {
                let slot = match cfg.sampling {
                    // Random samples are spread over planes by area, then placed at random.
                    Sampling::Random { .. } => {
                        let total = self.slots.last().copied().unwrap_or(1).max(1);
                        (u128::from(k) * u128::from(total) / u128::from(self.n_samples.max(1)))
                            as u64
                    }
                    _ => k,
                };
                self.slots.partition_point(|&s| s <= slot) - 1
            }
        };
        let p = &self.planes[plane_idx];
        let (ph, pw) = match cfg.sampling {
            Sampling::Whole => (p.ys.end - p.ys.start, p.xs.end - p.xs.start),
            _ => (cfg.patch, cfg.patch),
        };
        let (mut y0, mut x0) = match cfg.sampling {
            Sampling::Grid { .. } => {
                let t = k - self.slots[plane_idx];
                let nx = p.gx.len() as u64;
                (p.gy[(t / nx) as usize], p.gx[(t % nx) as usize])
            }
            Sampling::Whole => (p.ys.start, p.xs.start),
            Sampling::Random { foreground } => {
                let fg = foreground > 0.0
                    && !p.fg.is_empty()
                    && (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= foreground;
                if fg {
                    let [cy, cx, ch, cw] = p.fg[rng.below(p.fg.len() as u64) as usize];
                    let y = cy + rng.below(ch.max(1));
                    let x = cx + rng.below(cw.max(1));
                    let clamp = |v: u64, r: &Range<u64>, n: u64| {
                        v.saturating_sub(n / 2).clamp(r.start, r.end - n)
                    };
                    (clamp(y, &p.ys, ph), clamp(x, &p.xs, pw))
                } else {
                    (
                        p.ys.start + rng.below(p.ys.end - p.ys.start - ph + 1),
                        p.xs.start + rng.below(p.xs.end - p.xs.start - pw + 1),
                    )
                }
            }
        };
        let (mut oh, mut ow) = (ph, pw);
        if let Some(c) = cfg.augment.crop {
            y0 += rng.below(ph - c.min(ph) + 1);
            x0 += rng.below(pw - c.min(pw) + 1);
            (oh, ow) = (c.min(ph), c.min(pw));
        }
        let fv = cfg.augment.flips && rng.next_u64() & 1 == 1;
        let fh = cfg.augment.flips && rng.next_u64() & 1 == 1;
        let rot = if cfg.augment.rot90 && oh == ow {
            rng.below(4) as u8
        } else {
            0
        };
        Spec {
            plane: plane_idx,
            y0,
            x0,
            h: oh,
            w: ow,
            transform: (fv, fh, rot),
        }
    }
}

struct Spec {
    plane: usize,
    y0: u64,
    x0: u64,
    h: u64,
    w: u64,
    transform: (bool, bool, u8),
}

/// The package at `dir`, opened for reading.
pub(crate) fn open(dir: &Path) -> Result<Package, Error> {
    Ok(Package::open(dir)?)
}

/// Axis roles of an image: indices of y, x, channel and the other (plane) axes.
pub(crate) fn axis_roles(axes: &[crate::metadata::Axis]) -> (Option<usize>, Vec<usize>) {
    let n = axes.len();
    let c = axes.iter().position(|a| a.kind == AxisType::Channel);
    let planes = (0..n.saturating_sub(2)).filter(|&a| Some(a) != c).collect();
    (c, planes)
}
