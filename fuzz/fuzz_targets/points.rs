//! Points tables (CSV or TSV, told apart by the header): `formats::points::read` with each
//! origin convention.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::points::{read, Origin};

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("points.csv", data);
    for origin in [Origin::Auto, Origin::Corner, Origin::Centre] {
        let _ = read(&path, origin);
    }
});
