//! Metadata sheets in YAML: `sheet::read` on a `.yaml` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("sheet.yaml", data);
    let _ = mifa::sheet::read(&path);
});
