//! geff groups: `formats::geff::read` on a Zarr store unpacked from the input (`zarr.json` or
//! `.zattrs`/`.zarray` documents and chunks, in the container format of `mifa_fuzz::split`),
//! without and with a pixel size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::geff::{read, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let dir = mifa_fuzz::unpack("geff", data);
    let _ = read(&dir, &ReadOptions::default());
    let opts = ReadOptions {
        pixel_size: Some(([0.5, 0.5, 2.0], "micrometer".into())),
    };
    let _ = read(&dir, &opts);
});
