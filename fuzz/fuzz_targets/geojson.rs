//! GeoJSON annotations: `formats::geojson::read`, strict and with `skip_invalid`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::geojson::{read, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("in.geojson", data);
    let _ = read(&path, ReadOptions::default());
    let _ = read(&path, ReadOptions { skip_invalid: true });
});
