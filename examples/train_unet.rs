//! Trains a small U-Net (2 levels, 16 base filters, batch norm) for semantic segmentation on a
//! package's annotation set with tch (PyTorch), fed by [`mifa::loader`]: random foreground-biased
//! patches with flips and 90° turns for training, a grid of patches for validation, both
//! percentile-normalised and handed to tch as tensors without a copy.
//!
//! Training uses the package's split (train/val) when it has one with both subsets; otherwise
//! it holds out the bottom quarter of every image for validation. Each epoch prints the mean
//! training loss and the validation IoU (foreground, mean over classes, and the mean an
//! all-background prediction would score). It exits with an error when the loss does not fall
//! or the model does not beat the all-background baseline, so it doubles as a CI check.
//!
//! ```sh
//! bash examples/demo.sh      # makes demo-out/dsb2018
//! source .venv-tch/bin/activate   # a Python venv with torch 2.13.0
//! LIBTORCH_USE_PYTORCH=1 cargo run --features tch --example train_unet -- demo-out/dsb2018
//! ```
//!
//! Options: `--set nuclei --split ID --epochs 5 --steps 12 --batch 8 --patch 128 --seed 0
//! --save model.safetensors`.

use anyhow::{bail, ensure, Context, Result};
use mifa::loader::{self, Augment, Loader, LoaderBuilder, Normalize, Sampling, Subset, TaskKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::{self, Module, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

const USAGE: &str = "usage: train_unet PACKAGE [--set nuclei] [--split ID] [--epochs 5] \
                     [--steps 12] [--batch 8] [--patch 128] [--seed 0] [--save PATH.safetensors]";

struct Args {
    package: PathBuf,
    set: String,
    split: Option<String>,
    epochs: u64,
    steps: u64,
    batch: usize,
    patch: u64,
    seed: u64,
    save: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        package: PathBuf::new(),
        set: "nuclei".into(),
        split: None,
        epochs: 5,
        steps: 12,
        batch: 8,
        patch: 128,
        seed: 0,
        save: None,
    };
    let mut package = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if !arg.starts_with("--") {
            ensure!(package.is_none(), "unexpected argument {arg:?}\n{USAGE}");
            package = Some(PathBuf::from(arg));
            continue;
        }
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), v.to_string()),
            None => {
                let v = it.next().with_context(|| format!("{arg} needs a value"))?;
                (arg, v)
            }
        };
        let num = |v: &str| -> Result<u64> {
            v.parse()
                .with_context(|| format!("{flag}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--set" => a.set = value,
            "--split" => a.split = Some(value),
            "--epochs" => a.epochs = num(&value)?,
            "--steps" => a.steps = num(&value)?,
            "--batch" => a.batch = num(&value)? as usize,
            "--patch" => a.patch = num(&value)?,
            "--seed" => a.seed = num(&value)?,
            "--save" => a.save = Some(PathBuf::from(value)),
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    a.package = package.context(USAGE)?;
    ensure!(
        a.epochs > 0 && a.steps > 0 && a.batch > 0,
        "--epochs, --steps and --batch must be positive"
    );
    ensure!(
        a.patch >= 4 && a.patch % 4 == 0,
        "--patch {} must be a positive multiple of 4 (the U-Net halves it twice)",
        a.patch
    );
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Model

fn block(p: nn::Path, i: i64, o: i64) -> nn::SequentialT {
    let c = nn::ConvConfig {
        padding: 1,
        ..Default::default()
    };
    nn::seq_t()
        .add(nn::conv2d(&p / "c1", i, o, 3, c))
        .add(nn::batch_norm2d(&p / "bn1", o, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::conv2d(&p / "c2", o, o, 3, c))
        .add(nn::batch_norm2d(&p / "bn2", o, Default::default()))
        .add_fn(|x| x.relu())
}

/// Two-level U-Net: input side must be divisible by 4.
#[derive(Debug)]
struct UNet {
    d1: nn::SequentialT,
    d2: nn::SequentialT,
    mid: nn::SequentialT,
    up2: nn::ConvTranspose2D,
    u2: nn::SequentialT,
    up1: nn::ConvTranspose2D,
    u1: nn::SequentialT,
    head: nn::Conv2D,
}

impl UNet {
    fn new(p: &nn::Path, cin: i64, ncls: i64, f: i64) -> UNet {
        let up = nn::ConvTransposeConfig {
            stride: 2,
            ..Default::default()
        };
        UNet {
            d1: block(p / "d1", cin, f),
            d2: block(p / "d2", f, 2 * f),
            mid: block(p / "mid", 2 * f, 4 * f),
            up2: nn::conv_transpose2d(p / "up2", 4 * f, 2 * f, 2, up),
            u2: block(p / "u2", 4 * f, 2 * f),
            up1: nn::conv_transpose2d(p / "up1", 2 * f, f, 2, up),
            u1: block(p / "u1", 2 * f, f),
            head: nn::conv2d(p / "head", f, ncls, 1, Default::default()),
        }
    }
}

impl nn::ModuleT for UNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let s1 = self.d1.forward_t(x, train);
        let s2 = self.d2.forward_t(&s1.max_pool2d_default(2), train);
        let m = self.mid.forward_t(&s2.max_pool2d_default(2), train);
        let y = self
            .u2
            .forward_t(&Tensor::cat(&[self.up2.forward(&m), s2], 1), train);
        let y = self
            .u1
            .forward_t(&Tensor::cat(&[self.up1.forward(&y), s1], 1), train);
        self.head.forward(&y)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation metrics

/// Pixel confusion matrix, `m[target * n + prediction]`.
struct Confusion {
    n: usize,
    m: Vec<u64>,
}

impl Confusion {
    fn new(n: usize) -> Confusion {
        Confusion {
            n,
            m: vec![0; n * n],
        }
    }
    fn total(&self) -> u64 {
        self.m.iter().sum()
    }
    fn targets(&self, k: usize) -> u64 {
        self.m[k * self.n..(k + 1) * self.n].iter().sum()
    }
    fn predictions(&self, k: usize) -> u64 {
        (0..self.n).map(|t| self.m[t * self.n + k]).sum()
    }
    /// IoU of class `k`, `None` when it is neither in the targets nor predicted.
    fn iou(&self, k: usize) -> Option<f64> {
        let inter = self.m[k * self.n + k];
        let union = self.targets(k) + self.predictions(k) - inter;
        (union > 0).then(|| inter as f64 / union as f64)
    }
    /// Mean IoU over the classes present in targets or predictions.
    fn mean_iou(&self) -> f64 {
        let v: Vec<f64> = (0..self.n).filter_map(|k| self.iou(k)).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }
    /// IoU of foreground (every class but 0, i.e. class 1 when there are two) against
    /// background.
    fn foreground_iou(&self) -> f64 {
        let bg_both = self.m[0];
        let union = self.total() - bg_both;
        let inter: u64 = (1..self.n)
            .flat_map(|t| (1..self.n).map(move |p| (t, p)))
            .map(|(t, p)| self.m[t * self.n + p])
            .sum();
        if union == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        }
    }
    /// Mean IoU of predicting background everywhere: background scores its pixel fraction,
    /// every other class present in the targets 0.
    fn background_baseline(&self) -> f64 {
        let present = 1 + (1..self.n).filter(|&k| self.targets(k) > 0).count();
        self.targets(0) as f64 / self.total().max(1) as f64 / present as f64
    }
}

struct Metrics {
    foreground_iou: f64,
    mean_iou: f64,
    baseline: f64,
    pixels: u64,
}

/// Predicts every validation window and scores each pixel once (grid windows moved back inside
/// an image overlap their neighbours).
fn validate(
    net: &UNet,
    val: &Loader,
    sizes: &HashMap<String, (u64, u64)>,
    ncls: usize,
    device: Device,
) -> Result<Metrics> {
    let _guard = tch::no_grad_guard();
    let mut conf = Confusion::new(ncls);
    let mut seen: HashMap<(String, Vec<u64>), Vec<bool>> = HashMap::new();
    for batch in val.epoch(0) {
        let batch = batch?;
        let [n, _, h, w] = batch.shape;
        let pred = net
            .forward_t(&batch.images_tensor(device), false)
            .argmax(1, false)
            .to_kind(Kind::Int64)
            .to_device(Device::Cpu)
            .contiguous()
            .view([-1]);
        let pred = Vec::<i64>::try_from(&pred)?;
        let masks = batch
            .masks
            .as_ref()
            .context("validation batch without masks")?;
        ensure!(
            pred.len() == n * h * w && masks.len() == n * h * w && batch.samples.len() == n,
            "batch {}: shape {:?} but {} mask values and {} samples",
            batch.index,
            batch.shape,
            masks.len(),
            batch.samples.len()
        );
        for (i, s) in batch.samples.iter().enumerate() {
            let (ih, iw) = *sizes
                .get(&s.image)
                .with_context(|| format!("sample from unknown image {:?}", s.image))?;
            let [y0, x0, wh, ww] = s.window;
            ensure!(
                wh as usize == h && ww as usize == w && y0 + wh <= ih && x0 + ww <= iw,
                "sample {:?}: window {:?} does not match the batch shape {:?} or the image ({ih}×{iw})",
                s.image,
                s.window,
                batch.shape
            );
            let cover = seen
                .entry((s.image.clone(), s.plane.clone()))
                .or_insert_with(|| vec![false; (ih * iw) as usize]);
            for r in 0..h {
                let row = (y0 as usize + r) * iw as usize + x0 as usize;
                for c in 0..w {
                    if std::mem::replace(&mut cover[row + c], true) {
                        continue;
                    }
                    let k = i * h * w + r * w + c;
                    let (t, p) = (masks[k], pred[k]);
                    ensure!(
                        (0..ncls as i64).contains(&t),
                        "mask value {t} outside 0..{ncls} (image {:?}, window {:?})",
                        s.image,
                        s.window
                    );
                    conf.m[t as usize * ncls + p as usize] += 1;
                }
            }
        }
    }
    ensure!(conf.total() > 0, "the validation loader served no pixels");
    Ok(Metrics {
        foreground_iou: conf.foreground_iou(),
        mean_iou: conf.mean_iou(),
        baseline: conf.background_baseline(),
        pixels: conf.total(),
    })
}

// ---------------------------------------------------------------------------------------------
// Data

/// Settings shared by the training and validation loaders.
fn base(a: &Args, subset: Subset) -> LoaderBuilder {
    let mut b = Loader::builder(&a.package)
        .subset(subset)
        .task(TaskKind::Semantic, a.set.clone())
        .batch_size(a.batch)
        .seed(a.seed)
        .normalize(Normalize::Percentile {
            low: 1.0,
            high: 99.8,
        })
        .tensors(true);
    if let Some(s) = &a.split {
        b = b.split(s.clone());
    }
    b
}

fn train_loader(a: &Args, b: LoaderBuilder) -> Result<Loader> {
    Ok(b.patch(a.patch)
        .sampling(Sampling::Random { foreground: 0.5 })
        .augment(Augment {
            flips: true,
            rot90: true,
            crop: None,
        })
        .samples_per_epoch(a.steps * a.batch as u64)
        .build()?)
}

fn val_loader(b: LoaderBuilder, patch: u64) -> Result<Loader, loader::Error> {
    b.patch(patch)
        .sampling(Sampling::Grid { stride: None })
        .build()
}

/// The training and validation loaders: the split's train and val images when it has both,
/// otherwise the top three quarters and the bottom quarter of every image.
fn loaders(a: &Args, sizes: &HashMap<String, (u64, u64)>) -> Result<(Loader, Loader)> {
    let min_h = sizes
        .values()
        .map(|s| s.0)
        .min()
        .context("the package has no images")?;
    let min_w = sizes.values().map(|s| s.1).min().unwrap_or(0);
    let fit = |limit: u64| a.patch.min(limit) / 4 * 4;
    let reason = match val_loader(base(a, Subset::Val), fit(min_h.min(min_w))) {
        Ok(val) => {
            let train = train_loader(a, base(a, Subset::Train))?;
            println!(
                "split: training on {} image(s), validating on {}",
                train.images().len(),
                val.images().len()
            );
            return Ok((train, val));
        }
        Err(e @ (loader::Error::Split(_) | loader::Error::Config(_))) => e,
        Err(e) => return Err(e.into()),
    };
    let cut = min_h * 3 / 4;
    ensure!(
        cut >= 4 && min_h - cut >= 4,
        "images of {min_h} rows are too small for a hold-out"
    );
    println!(
        "no usable split ({reason}): spatial hold-out, training on rows [0, {cut}) and \
         validating on rows [{cut}, {min_h}) of every image"
    );
    let train = train_loader(a, base(a, Subset::All).window(0..cut, 0..min_w))?;
    let vpatch = fit((min_h - cut).min(min_w));
    ensure!(vpatch > 0, "the validation window is too small");
    let val = val_loader(base(a, Subset::All).window(cut..min_h, 0..min_w), vpatch)?;
    Ok((train, val))
}

/// Rows and columns of every image (at full resolution), by id.
fn image_sizes(a: &Args) -> Result<HashMap<String, (u64, u64)>> {
    let pkg = mifa::package::Package::open(&a.package)?;
    let mut sizes = HashMap::new();
    for im in &pkg.manifest().images {
        let dim = |name: &str, fallback: usize| {
            im.axes
                .iter()
                .position(|x| x.name == name)
                .or_else(|| im.shape.len().checked_sub(fallback))
                .and_then(|i| im.shape.get(i).copied())
                .with_context(|| format!("image {:?} has no {name} axis", im.id))
        };
        sizes.insert(im.id.clone(), (dim("y", 2)?, dim("x", 1)?));
    }
    Ok(sizes)
}

// ---------------------------------------------------------------------------------------------

fn run() -> Result<()> {
    let start = Instant::now();
    let a = parse_args()?;
    let sizes = image_sizes(&a)?;
    let (train, val) = loaders(&a, &sizes)?;
    let device = Device::cuda_if_available();
    let (cin, ncls) = (train.channels() as i64, train.num_classes());
    ensure!(
        ncls >= 2,
        "set {:?} has {ncls} class(es); need at least 2",
        a.set
    );
    ensure!(
        val.num_classes() == ncls && val.channels() as i64 == cin,
        "train and val loaders disagree: {cin} vs {} channels, {ncls} vs {} classes",
        val.channels(),
        val.num_classes()
    );
    println!(
        "{} channel(s), {ncls} classes; train {}×{} patches, {} batches of {} per epoch; \
         val {} windows of {}×{}; device {device:?}",
        cin,
        train.patch_shape().0,
        train.patch_shape().1,
        train.batches_per_epoch(),
        a.batch,
        val.num_samples(),
        val.patch_shape().0,
        val.patch_shape().1,
    );

    tch::manual_seed(a.seed as i64);
    let vs = nn::VarStore::new(device);
    let net = UNet::new(&vs.root(), cin, ncls, 16);
    let mut opt = nn::Adam::default().build(&vs, 1e-3)?;

    let mut losses = Vec::new();
    let mut last = None;
    for epoch in 0..a.epochs {
        let t0 = Instant::now();
        let (mut sum, mut n) = (0.0, 0);
        for batch in train.epoch(epoch) {
            let batch = batch?;
            let [_, c, h, w] = batch.shape;
            ensure!(
                c as i64 == cin && (h as u64, w as u64) == train.patch_shape(),
                "training batch {} has shape {:?}",
                batch.index,
                batch.shape
            );
            // Tensor-backed batch (`.tensors(true)`): the tensors are the batch's memory.
            let t = batch.into_tensors(device);
            let (x, y) = (t.images, t.masks.context("training batch without masks")?);
            let loss = net.forward_t(&x, true).cross_entropy_loss::<Tensor>(
                &y,
                None,
                Reduction::Mean,
                -100,
                0.0,
            );
            opt.backward_step(&loss);
            sum += loss.double_value(&[]);
            n += 1;
        }
        ensure!(n > 0, "epoch {epoch} served no training batches");
        let loss = sum / n as f64;
        let m = validate(&net, &val, &sizes, ncls as usize, device)?;
        println!(
            "epoch {epoch}: train loss {loss:.4}, val foreground IoU {:.3}, mean IoU {:.3} \
             (all-background {:.3}, {} px), {:.1} s",
            m.foreground_iou,
            m.mean_iou,
            m.baseline,
            m.pixels,
            t0.elapsed().as_secs_f64()
        );
        losses.push(loss);
        last = Some(m);
    }
    if let Some(path) = &a.save {
        vs.save(path)
            .with_context(|| format!("saving the weights to {}", path.display()))?;
        println!("saved the weights to {}", path.display());
    }

    let m = last.context("no epochs")?;
    let (first, final_loss) = (losses[0], losses[losses.len() - 1]);
    println!(
        "summary: {} epochs in {:.1} s; train loss {first:.4} -> {final_loss:.4}; val foreground \
         IoU {:.3}, mean IoU {:.3} vs all-background {:.3}",
        a.epochs,
        start.elapsed().as_secs_f64(),
        m.foreground_iou,
        m.mean_iou,
        m.baseline
    );
    let mut failed = Vec::new();
    if losses.len() > 1 && final_loss >= first {
        failed.push(format!(
            "the train loss did not fall ({first:.4} -> {final_loss:.4})"
        ));
    }
    if m.foreground_iou <= 0.0 {
        failed.push("the validation foreground IoU is 0".to_string());
    }
    if m.mean_iou <= m.baseline {
        failed.push(format!(
            "the mean IoU {:.3} does not beat all-background {:.3}",
            m.mean_iou, m.baseline
        ));
    }
    if !failed.is_empty() {
        bail!("training check failed: {}", failed.join("; "));
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("train_unet: {e:#}");
        std::process::exit(1);
    }
}
