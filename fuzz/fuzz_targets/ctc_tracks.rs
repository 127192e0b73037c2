//! Cell Tracking Challenge track file (`res_track.txt`): `formats::ctc::read_tracks`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("res_track.txt", data);
    let _ = mifa::formats::ctc::read_tracks(&path);
});
