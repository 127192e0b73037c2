//! mifa's side of the COCO side-by-side (`benches/compare/coco.sh`): load time, peak memory
//! and mask throughput on one COCO file, printed as one JSON object like
//! `benches/compare/coco_pycocotools.py` prints pycocotools'.
//!
//! `cargo run --release --example coco_bench -- FILE.json [--masks 20000]`

use mifa::formats::coco::Dataset;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .ok_or("usage: coco_bench FILE.json [--masks N]")?;
    let masks: usize = match args.iter().position(|a| a == "--masks") {
        Some(i) => args.get(i + 1).ok_or("--masks N")?.parse()?,
        None => 20_000,
    };
    let t = Instant::now();
    let d = Dataset::load(std::path::Path::new(file))?;
    let load_s = t.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    let images = d.header.image_index();
    let mut anns: Vec<_> = d.annotations.iter().collect();
    anns.sort_by_key(|a| a.id);
    anns.truncate(masks);
    // Same work as pycocotools' annToMask: the RLE, then the dense mask.
    let (mut pixels, mut secs) = (0u64, 0.0);
    for a in &anns {
        let img = images[&a.image_id];
        let t = Instant::now();
        let m = a.to_rle(img.height, img.width)?.ok_or("no mask")?.to_mask();
        secs += t.elapsed().as_secs_f64();
        pixels += m.iter().map(|&v| u64::from(v)).sum::<u64>();
    }
    println!(
        "{}",
        serde_json::json!({
            "tool": "mifa", "version": env!("CARGO_PKG_VERSION"), "file": file,
            "file_mb": (std::fs::metadata(file)?.len() as f64 / 1e6 * 10.0).round() / 10.0,
            "annotations": d.annotations.len(), "load_s": (load_s * 1000.0).round() / 1000.0,
            "peak_rss_mb": peak.round(), "masks": anns.len(),
            "masks_per_s": (anns.len() as f64 / secs).round(), "mask_pixels": pixels,
        })
    );
    Ok(())
}
