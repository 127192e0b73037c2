//! GeoJSON annotations over bytes: `formats::geojson::read_from`, strict and with
//! `skip_invalid` (the path reader is `read_from` over the opened file).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::geojson::{read_from, ReadOptions};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let name = Path::new("in.geojson");
    let len = Some(data.len() as u64);
    let _ = read_from(data, len, name, ReadOptions::default());
    let _ = read_from(data, len, name, ReadOptions { skip_invalid: true });
});
