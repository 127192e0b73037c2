//! OME-XML (the ImageDescription of an OME-TIFF): `TiffSource::open` on a small TIFF built
//! around the XML, then up to 8 planes read. Input: 3 header bytes (pages − 1 in the low nibble
//! and RGB in bit 4, width, height), then the XML.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::tiff::TiffSource;
use mifa::formats::PlaneSource;

fuzz_target!(|data: &[u8]| {
    let [shape, w, h, xml @ ..] = data else {
        return;
    };
    let pages = u16::from(shape & 0x0f) + 1;
    let rgb = shape & 0x10 != 0;
    let bytes = mifa_fuzz::tiff(xml, pages, u16::from(*w).max(1), u16::from(*h).max(1), rgb);
    let path = mifa_fuzz::file("in.ome.tif", &bytes);
    let Ok(mut src) = TiffSource::open(&path, &mifa_fuzz::limits()) else {
        return;
    };
    for i in 0..src.meta().planes().min(8) {
        let _ = src.read_plane(i);
    }
});
