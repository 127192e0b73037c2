//! TrackMate XML: `formats::trackmate::read`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("tracks.xml", data);
    let _ = mifa::formats::trackmate::read(&path);
});
