//! TIFF files (plain, ImageJ, OME): `TiffSource::open` under small limits, then up to 4 planes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::tiff::TiffSource;
use mifa::formats::PlaneSource;

fuzz_target!(|data: &[u8]| {
    let path = mifa_fuzz::file("in.tif", data);
    let Ok(mut src) = TiffSource::open(&path, &mifa_fuzz::limits()) else {
        return;
    };
    for i in 0..src.meta().planes().min(4) {
        let _ = src.read_plane(i);
    }
});
