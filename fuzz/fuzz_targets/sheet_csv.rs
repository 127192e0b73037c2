//! Metadata sheets in CSV: `sheet::read` on a `.csv` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("sheet.csv", data);
    let _ = mifa::sheet::read(&path);
});
