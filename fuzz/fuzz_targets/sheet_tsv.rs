//! Metadata sheets in TSV: `sheet::read` on a `.tsv` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("sheet.tsv", data);
    let _ = mifa::sheet::read(&path);
});
