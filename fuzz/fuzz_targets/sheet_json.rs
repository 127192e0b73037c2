//! Metadata sheets in JSON: `sheet::read` on a `.json` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("sheet.json", data);
    let _ = mifa::sheet::read(&path);
});
