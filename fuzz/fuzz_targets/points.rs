//! Points tables (CSV or TSV, told apart by the header) over bytes: `formats::points::read_from`
//! with each origin convention (the path reader parses what it read the same way).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::points::{read_from, Origin};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    for origin in [Origin::Auto, Origin::Corner, Origin::Centre] {
        let _ = read_from(data, Path::new("points.csv"), origin);
    }
});
