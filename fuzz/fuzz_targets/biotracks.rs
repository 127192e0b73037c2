//! CMSO biotracks packages: `formats::biotracks::read` on a folder unpacked from the input
//! (`datapackage.json` and its CSV tables, in the container format of `mifa_fuzz::split`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = mifa_fuzz::unpack("biotracks", data);
    let _ = mifa::formats::biotracks::read(&dir);
});
