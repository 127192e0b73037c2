//! COCO instances/results JSON: `formats::coco::read_header`, `Dataset::load_from` over the
//! bytes, `Dataset::check`
//! and each annotation's `to_rle` against its image (when the image is small enough to rasterise).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::coco::{read_header, Dataset};

/// Largest image, in pixels, whose masks are rasterised here (a mask is one byte a pixel).
const MAX_PIXELS: u64 = 1 << 22;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("in.json", data);
    let _ = read_header(&path);
    let Ok(ds) = Dataset::load_from(data, &path) else {
        return;
    };
    let _ = ds.check();
    let images = ds.header.image_index();
    for a in &ds.annotations {
        if let Some(img) = images.get(&a.image_id) {
            if u64::from(img.height) * u64::from(img.width) <= MAX_PIXELS {
                let _ = a.to_rle(img.height, img.width);
            }
        }
    }
});
