//! ZIP archives (as `publish check` reads them): `formats::zip::list`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("in.zip", data);
    let _ = mifa::formats::zip::list(&path);
});
