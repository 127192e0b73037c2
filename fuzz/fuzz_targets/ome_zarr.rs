//! OME-Zarr images: `Multiscale::open` on a store unpacked from the input (`zarr.json` or
//! `.zattrs`/`.zgroup`/`.zarray` documents and chunks, in the container format of
//! `mifa_fuzz::split`), then each label (`Multiscale::label`), `ZarrPlanes::from_multiscale`
//! under small limits, and the first plane of the smallest and the largest level.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::ome_zarr::{Multiscale, ZarrPlanes};
use mifa::formats::PlaneSource;

fuzz_target!(|data: &[u8]| {
    let dir = mifa_fuzz::unpack("ome_zarr", data);
    let Ok(ms) = Multiscale::open(&dir) else {
        return;
    };
    for name in ms.labels.iter().take(4) {
        let _ = ms.label(name);
    }
    let _ = ms.axes_string();
    let last = ms.levels.len().saturating_sub(1);
    let Ok(mut planes) = ZarrPlanes::from_multiscale(ms, &mifa_fuzz::limits()) else {
        return;
    };
    // Levels never grow (checked by open), so the limits on level 0 bound the smallest too.
    let _ = planes.multiscale().read_plane(last, 0);
    let _ = planes.read_plane(0);
});
