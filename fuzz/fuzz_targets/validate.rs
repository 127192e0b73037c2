//! Whole packages: `validate::validate` on a folder unpacked from the input (`mifa.json` with
//! its OME-Zarr images and annotation files, in the container format of `mifa_fuzz::split`),
//! which reads the manifest and checks it against the files it names.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = mifa_fuzz::unpack("package", data);
    if let Ok(report) = mifa::validate::validate(&dir) {
        let _ = report.errors();
    }
});
