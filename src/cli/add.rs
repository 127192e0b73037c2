//! `mifa add`: images as OME-Zarr (with their masks), or one mask for an image already there.

use super::{open, Bar, MaskKind};
use anyhow::{bail, Result};
use clap::Args;
use mifa::formats::ome_zarr::{NgffVersion, WriteOptions};
use mifa::formats::Limits;
use mifa::images::{self, AddOptions, Links, MaskBatch, MaskOptions, Overrides};
use mifa::package::Package;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct AddArgs {
    /// Package directory.
    dir: PathBuf,
    /// Image files, folders or glob patterns.
    inputs: Vec<String>,
    /// Image id (one input only; default: the file name without extensions).
    #[arg(long)]
    id: Option<String>,
    /// Axis names, for plain multi-page TIFFs (e.g. tyx) or to check a file's axes.
    #[arg(long)]
    axes: Option<String>,
    /// Pixel size in x[,y[,z]] (overrides file metadata).
    #[arg(long, value_delimiter = ',', value_parser = positive_number)]
    pixel_size: Vec<f64>,
    /// Unit of --pixel-size (UDUNITS-2 name).
    #[arg(long, default_value = "micrometer")]
    unit: String,
    /// Time between frames.
    #[arg(long, value_parser = positive_number)]
    time_interval: Option<f64>,
    /// Unit of --time-interval.
    #[arg(long, default_value = "second")]
    time_unit: String,
    /// Channel names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    channel_names: Vec<String>,
    /// OME-Zarr version to write.
    #[arg(long, value_enum, default_value = "0.5")]
    ngff: Ngff,
    /// Chunk edge in y and x.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    chunk: u64,
    /// zstd compression level (1 fastest … 19 smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    /// REMBI biosample id for the images.
    #[arg(long)]
    biosample: Option<String>,
    /// REMBI specimen id for the images.
    #[arg(long)]
    specimen: Option<String>,
    /// REMBI image acquisition id for the images.
    #[arg(long)]
    acquisition: Option<String>,
    /// REMBI study component id for the images.
    #[arg(long)]
    study_component: Option<String>,
    /// Folder of masks for the images, matched by file name.
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Label name of the masks (labels/<name>; also the annotation set id).
    #[arg(long, default_value = "cells")]
    mask_name: String,
    /// What mask values mean.
    #[arg(long, value_enum, default_value = "instance")]
    kind: MaskKind,
    /// One mask for an image already in the package (with --image and --name).
    #[arg(long, conflicts_with_all = ["inputs", "masks"], requires_all = ["image", "name"])]
    mask: Option<PathBuf>,
    /// Image the --mask belongs to.
    #[arg(long)]
    image: Option<String>,
    /// Label name of the --mask.
    #[arg(long)]
    name: Option<String>,
    /// Class of each label value, JSON: {"1": "nucleus"} or [{"label-value": 1, "class": …}].
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Largest decoded size, in MiB, of one decode unit: a PNG or JPEG, a TIFF strip or tile, a
    /// Zarr chunk (a small file can declare gigabytes).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_decode_mb: u64,
}

/// `--ngff`: the OME-Zarr version written.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Ngff {
    #[value(name = "0.5")]
    V05,
    #[value(name = "0.4")]
    V04,
}

/// A pixel size or time interval: finite, above 0, at most 10¹² (the pyramid's levels double
/// it, and the result must stay a finite JSON number).
fn positive_number(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 1e12 {
        Ok(v)
    } else {
        Err(format!("{s} is not a number above 0 and at most 1e12"))
    }
}

pub fn run(a: AddArgs) -> Result<ExitCode> {
    let limits = Limits::default().with_max_decode_mb(a.max_decode_mb);
    let mut pkg = open(&a.dir)?;
    let write = WriteOptions {
        version: match a.ngff {
            Ngff::V05 => NgffVersion::V05,
            Ngff::V04 => NgffVersion::V04,
        },
        chunk: a.chunk,
        zstd_level: a.zstd_level,
        ..Default::default()
    };
    if a.mask.is_some() {
        add_mask(&mut pkg, a, write, limits)?;
    } else {
        add_images(&mut pkg, a, write, limits)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--mask FILE --image ID --name NAME`.
fn add_mask(pkg: &mut Package, a: AddArgs, write: WriteOptions, limits: Limits) -> Result<()> {
    let (mask, image, name) = (
        a.mask.expect("run checks --mask"),
        a.image.expect("clap requires --image"),
        a.name.expect("clap requires --name"),
    );
    let properties = match &a.classes {
        Some(p) => images::read_classes(p)?,
        None => Default::default(),
    };
    let opts = MaskOptions {
        write,
        limits,
        axes: a.axes,
        properties,
    };
    let bar = Bar::new();
    let n = images::add_mask(pkg, &image, &mask, &name, a.kind.into(), &opts, &bar)?;
    bar.finish();
    outln!(
        "added label {name} to {image}: {n} object(s), from {}",
        mask.display()
    );
    Ok(())
}

/// Images (and a folder of their masks).
fn add_images(pkg: &mut Package, a: AddArgs, write: WriteOptions, limits: Limits) -> Result<()> {
    if a.classes.is_some() {
        bail!("--classes goes with --mask");
    }
    let inputs = images::expand_inputs(&a.inputs)?;
    let kind = a.kind.into();
    let opts = AddOptions {
        write,
        limits,
        overrides: Overrides {
            axes: a.axes,
            pixel_size: a.pixel_size,
            unit: Some(a.unit),
            time_interval: a.time_interval,
            time_unit: Some(a.time_unit),
            channel_names: a.channel_names,
        },
        id: a.id,
        links: Links {
            biosample: a.biosample,
            specimen: a.specimen,
            acquisition: a.acquisition,
            study_component: a.study_component,
        },
        masks: a.masks.map(|dir| MaskBatch {
            dir,
            name: a.mask_name,
            kind,
        }),
    };
    let bar = Bar::new();
    let start = std::time::Instant::now();
    let added = images::add_images(pkg, &inputs, &opts, &bar)?;
    bar.finish();
    let secs = start.elapsed().as_secs_f64();
    print_added(&added, secs)
}

fn print_added(added: &[images::Added], secs: f64) -> Result<()> {
    let bytes: u64 = added.iter().map(|x| x.bytes).sum();
    for x in added {
        let shape: Vec<String> = x.shape.iter().map(u64::to_string).collect();
        let labels: Vec<String> = x
            .labels
            .iter()
            .map(|(n, k)| format!("{n} ({k} objects)"))
            .collect();
        outln!(
            "added {} from {}: {} {} {:?}, {} level(s){}",
            x.id,
            x.source.display(),
            x.axes,
            shape.join("x"),
            x.dtype,
            x.levels,
            if labels.is_empty() {
                String::new()
            } else {
                format!(", labels: {}", labels.join(", "))
            }
        );
    }
    outln!(
        "{} image(s), {:.1} MB of pixels (images and masks) in {:.2} s ({:.1} MB/s)",
        added.len(),
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
