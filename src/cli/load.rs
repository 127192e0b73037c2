//! `mifa load`: iterate training batches without a model and print the loader's throughput
//! and target statistics (computed by [`mifa::loader::stats`]).

use super::usize_in;
use anyhow::{bail, Context, Result};
use clap::Args;
use mifa::loader::stats::Run;
use mifa::loader::{self, Augment, Loader, TaskKind};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct LoadArgs {
    /// Package directory.
    dir: PathBuf,
    /// Which images: a part of the recorded split, or all of them.
    #[arg(long, value_enum, default_value = "train")]
    split: Subset,
    /// The recorded split to use (default: the only one).
    #[arg(long)]
    split_name: Option<String>,
    /// What the targets are.
    #[arg(long, value_enum, default_value = "images")]
    task: Task,
    /// Annotation set of the targets.
    #[arg(long)]
    set: Option<String>,
    /// Patch side, pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=MAX_PATCH))]
    patch: u64,
    /// Samples per batch.
    #[arg(long, default_value_t = 32, value_parser = usize_in(1, MAX_BATCH))]
    batch_size: usize,
    /// Batches to iterate (across epochs; default one epoch).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batches: Option<u64>,
    /// Worker threads (0: in the calling thread).
    #[arg(long, default_value_t = 2, value_parser = usize_in(0, MAX_WORKERS))]
    workers: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where patches are taken: random windows, a grid covering every pixel, or whole planes.
    #[arg(long, value_enum, default_value = "random")]
    sampling: Sampling,
    /// Random sampling: fraction of samples centred on foreground.
    #[arg(long, default_value_t = 0.0)]
    foreground: f64,
    /// Grid sampling: step between windows (default the patch size).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    stride: Option<u64>,
    /// Random sampling: samples per epoch (default: as many as grid windows).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SAMPLES))]
    samples_per_epoch: Option<u64>,
    /// Pyramid level.
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Channels to serve, comma-separated indices (default all).
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<u64>>,
    /// none, percentile (1–99.8, per image and channel) or meanstd (over the served images).
    #[arg(long, value_enum, default_value = "none")]
    normalize: Normalize,
    /// Random flips.
    #[arg(long)]
    flips: bool,
    /// Random quarter turns.
    #[arg(long)]
    rot90: bool,
    /// Random crop of each window to this side.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_PATCH))]
    crop: Option<u64>,
    /// Points: render heatmaps with this sigma (pixels, above 0, at most 1000).
    #[arg(long, value_parser = heatmap_sigma)]
    heatmap_sigma: Option<f32>,
    /// Bound of the decoded-chunk cache, MiB (0: no cache).
    #[arg(long, default_value_t = 512, value_parser = usize_in(0, MAX_CACHE_MB))]
    cache_mb: usize,
    /// Distributed: this rank …
    #[arg(long, default_value_t = 0, value_parser = usize_in(0, MAX_WORLD - 1))]
    rank: usize,
    /// … of this many.
    #[arg(long, default_value_t = 1, value_parser = usize_in(1, MAX_WORLD))]
    world_size: usize,
    /// Drop the last partial batch.
    #[arg(long)]
    drop_last: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

// Bounds of `mifa load`'s numbers: far above any real use, low enough that no value the user
// types makes a thread spawn fail, a size overflow or an allocation beyond memory.
const MAX_WORKERS: usize = 256;
const MAX_BATCH: usize = 65_536;
const MAX_PATCH: u64 = 65_536;
/// Values in one batch (samples × channels × window pixels): 1 GiB of f32.
const MAX_BATCH_VALUES: u64 = 1 << 28;
const MAX_CHANNELS: usize = 1024;
/// Each epoch orders its samples in memory (8 bytes each, a few copies).
const MAX_SAMPLES: u64 = 10_000_000;
const MAX_CACHE_MB: usize = 1 << 20;
const MAX_WORLD: usize = 65_536;

/// `--heatmap-sigma`: a positive finite number of pixels, at most 1000 (the kernel spans
/// six sigmas; more than that only fills the patch).
fn heatmap_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 1000.0 {
        Ok(v)
    } else {
        Err(format!(
            "{s} is not a number of pixels above 0 and at most 1000"
        ))
    }
}

/// `--split`: which images of the split.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Subset {
    Train,
    #[value(alias = "validation")]
    Val,
    Test,
    All,
}

/// `--task`: what the targets are.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Task {
    Images,
    Semantic,
    Instance,
    Detection,
    Points,
    Classification,
}

/// `--sampling`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Sampling {
    Random,
    Grid,
    Whole,
}

/// `--normalize`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Normalize {
    None,
    Percentile,
    #[value(name = "meanstd")]
    MeanStd,
}

impl From<Subset> for loader::Subset {
    fn from(s: Subset) -> Self {
        match s {
            Subset::Train => loader::Subset::Train,
            Subset::Val => loader::Subset::Val,
            Subset::Test => loader::Subset::Test,
            Subset::All => loader::Subset::All,
        }
    }
}

impl From<Task> for TaskKind {
    fn from(t: Task) -> Self {
        match t {
            Task::Images => TaskKind::Images,
            Task::Semantic => TaskKind::Semantic,
            Task::Instance => TaskKind::Instance,
            Task::Detection => TaskKind::Detection,
            Task::Points => TaskKind::Points,
            Task::Classification => TaskKind::Classification,
        }
    }
}

/// Checks what one option cannot: the size of a batch, from the batch size and the planned
/// loader's window and channels (whole planes take their size from the images).
fn check_batch_size(batch_size: usize, loader: &mifa::loader::Loader) -> Result<()> {
    let (h, w) = loader.patch_shape();
    let values = (batch_size as u64)
        .saturating_mul(loader.channels() as u64)
        .saturating_mul(h.saturating_mul(w));
    if values > MAX_BATCH_VALUES {
        bail!(
            "a batch of {batch_size} samples of {} channel(s) × {h} × {w} pixels holds {values} values, more than {MAX_BATCH_VALUES}: lower --batch-size, --patch or --crop",
            loader.channels()
        );
    }
    Ok(())
}

pub fn run(a: LoadArgs) -> Result<ExitCode> {
    if let Some(c) = a.channels.as_ref().filter(|c| c.len() > MAX_CHANNELS) {
        bail!(
            "--channels lists {} channels; at most {MAX_CHANNELS} can be served",
            c.len()
        );
    }
    let t_build = std::time::Instant::now();
    let loader = build(&a)?;
    let build_s = t_build.elapsed().as_secs_f64();
    check_batch_size(a.batch_size, &loader)?;
    let per_epoch = loader.batches_per_epoch();
    if per_epoch == 0 {
        bail!("an epoch has no batches (fewer samples than the batch size with --drop-last?)");
    }
    let run = loader::stats::run(&loader, a.batches.unwrap_or(per_epoch))?;
    let task = TaskKind::from(a.task);
    if a.json {
        print_json(&a, task, &loader, &run, build_s)?;
    } else {
        print_text(&a, task, &loader, &run, build_s)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The loader the options describe.
fn build(a: &LoadArgs) -> Result<Loader> {
    let task = TaskKind::from(a.task);
    let sampling = match a.sampling {
        Sampling::Random => loader::Sampling::Random {
            foreground: a.foreground,
        },
        Sampling::Grid => loader::Sampling::Grid { stride: a.stride },
        Sampling::Whole => loader::Sampling::Whole,
    };
    let normalize = match a.normalize {
        Normalize::None => loader::Normalize::None,
        Normalize::Percentile => loader::Normalize::Percentile {
            low: 1.0,
            high: 99.8,
        },
        Normalize::MeanStd => loader::Normalize::MeanStd(None),
    };
    let mut b = Loader::builder(&a.dir)
        .subset(a.split.into())
        .patch(a.patch)
        .batch_size(a.batch_size)
        .workers(a.workers)
        .seed(a.seed)
        .sampling(sampling)
        .level(a.level)
        .normalize(normalize)
        .augment(Augment {
            flips: a.flips,
            rot90: a.rot90,
            crop: a.crop,
        })
        .cache_bytes(a.cache_mb << 20)
        .shard(a.rank, a.world_size)
        .drop_last(a.drop_last);
    if let Some(n) = &a.split_name {
        b = b.split(n.clone());
    }
    if task != TaskKind::Images {
        let Some(set) = &a.set else {
            bail!("task {} needs --set", task.name());
        };
        b = b.task(task, set.clone());
    }
    if let Some(c) = a.channels.clone() {
        b = b.channels(c);
    }
    if let Some(n) = a.samples_per_epoch {
        b = b.samples_per_epoch(n);
    }
    if let Some(s) = a.heatmap_sigma {
        b = b.heatmap(s);
    }
    b.build()
        .with_context(|| format!("cannot load {}", a.dir.display()))
}

fn print_json(
    a: &LoadArgs,
    task: TaskKind,
    loader: &Loader,
    run: &Run,
    build_s: f64,
) -> Result<()> {
    let st = loader.read_stats();
    let t = &run.targets;
    let class_fraction: serde_json::Map<String, serde_json::Value> = t
        .class_fractions()
        .take(64)
        .map(|(k, f)| (k.to_string(), serde_json::json!(f)))
        .collect();
    outln!(
        "{}",
        serde_json::json!({
            "tool": "mifa load",
            "task": task.name(),
            "images": loader.images().len(),
            "samples_per_epoch": loader.num_samples(),
            "batches": run.batches,
            "batch_size": a.batch_size,
            "workers": a.workers,
            "patches": t.patches,
            "build_seconds": build_s,
            "first_batch_seconds": run.first_batch_seconds,
            "seconds": run.seconds,
            "timed_patches": run.timed_patches,
            "patches_per_s": run.patches_per_second(),
            "mb_per_s": run.mb_per_second(),
            "decoded_chunks": st.decoded_chunks,
            "decoded_mb": st.decoded_bytes as f64 / 1e6,
            "decode_seconds": st.decode_seconds,
            "decode_mb_per_s_per_worker": st.decode_mb_per_second(),
            "cache_hits": st.cache_hits,
            "cache_mb": st.cache_bytes as f64 / 1e6,
            "foreground_fraction": t.foreground_fraction(),
            "class_fraction": class_fraction,
            "boxes_per_patch": t.boxes_per_patch(),
            "points_per_patch": t.points_per_patch(),
        })
    );
    Ok(())
}

fn print_text(
    a: &LoadArgs,
    task: TaskKind,
    loader: &Loader,
    run: &Run,
    build_s: f64,
) -> Result<()> {
    let st = loader.read_stats();
    let t = &run.targets;
    let (h, w) = loader.patch_shape();
    outln!(
        "{} images, {} samples per epoch, {} batches per epoch of {} (planned in {build_s:.2} s)",
        loader.images().len(),
        loader.num_samples(),
        loader.batches_per_epoch(),
        a.batch_size
    );
    outln!(
        "{} batches, {} patches of {}×{h}×{w}: first batch after {:.3} s",
        run.batches,
        t.patches,
        loader.channels(),
        run.first_batch_seconds
    );
    outln!(
        "throughput{}: {:.0} patches/s, {:.1} MB/s of stored pixels ({} workers)",
        if run.timed() {
            " after the first batch"
        } else {
            ""
        },
        run.patches_per_second(),
        run.mb_per_second(),
        a.workers
    );
    outln!(
        "reads: {} chunks decoded ({:.1} MB, {:.0} MB/s per worker while decoding), {} cache hits, cache {:.1} MB",
        st.decoded_chunks,
        st.decoded_bytes as f64 / 1e6,
        st.decode_mb_per_second(),
        st.cache_hits,
        st.cache_bytes as f64 / 1e6
    );
    match task {
        TaskKind::Semantic | TaskKind::Instance => {
            outln!("foreground fraction {:.3}", t.foreground_fraction());
            if task == TaskKind::Semantic {
                let parts: Vec<String> = t
                    .class_fractions()
                    .map(|(k, f)| format!("{k}: {f:.3}"))
                    .collect();
                outln!("class balance (pixel fraction) {}", parts.join(", "));
            }
        }
        TaskKind::Detection => outln!("{:.2} boxes per patch", t.boxes_per_patch()),
        TaskKind::Points => outln!("{:.2} points per patch", t.points_per_patch()),
        TaskKind::Classification => {
            let parts: Vec<String> = t.classes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            outln!("classes (samples) {}", parts.join(", "));
        }
        TaskKind::Images => {}
    }
    Ok(())
}
