//! Annotation models against real files written by other tools.

use crate::common::repo;
use mifa::annotations::Rle;

/// The 734 compressed RLE masks of cocoapi's results sample decode, re-encode to the same
/// strings, and give the areas and boxes pycocotools 2.0.11 computed for them.
#[test]
fn cocoapi_results_rle_round_trip_with_pycocotools_areas_and_boxes() {
    let dir = repo("tests/fixtures/cocoapi_results");
    let text =
        std::fs::read_to_string(dir.join("instances_val2014_fakesegm100_results.json")).unwrap();
    let results: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let reference =
        std::fs::read_to_string(dir.join("pycocotools_2.0.11_reference_segm.csv")).unwrap();
    let rows: Vec<Vec<f64>> = reference
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(results.len(), 734);
    assert_eq!(rows.len(), results.len());
    for (i, (r, row)) in results.iter().zip(&rows).enumerate() {
        let seg = &r["segmentation"];
        let (h, w) = (
            seg["size"][0].as_u64().unwrap() as u32,
            seg["size"][1].as_u64().unwrap() as u32,
        );
        let counts = seg["counts"].as_str().unwrap();
        let rle = Rle::from_compressed(counts, h, w).unwrap_or_else(|e| panic!("mask {i}: {e}"));
        assert_eq!(rle.to_compressed(), counts, "mask {i}: re-encoding differs");
        assert_eq!(rle.area() as f64, row[5], "mask {i}: area");
        assert_eq!(
            rle.bbox(),
            [row[6], row[7], row[8], row[9]],
            "mask {i}: bbox"
        );
        // Through a pixel mask and back gives the same runs.
        assert_eq!(
            Rle::from_mask(&rle.to_mask(), h, w),
            rle,
            "mask {i}: mask round trip"
        );
    }
}

/// The DSB2018 instance mask (125 nuclei, non-contiguous ids) traces into one polygon per
/// nucleus and rasterises back to the identical mask.
#[test]
fn dsb_mask_to_polygons_to_mask_is_exact() {
    use mifa::annotations::contour::{rasterise, trace};
    use mifa::formats::{tiff::TiffSource, Limits, PlaneSource};
    use mifa::raster::PixelData;
    let path = repo("examples/data/dsb2018/mask2d.tif");
    let mut src = TiffSource::open(&path, &Limits::default()).unwrap();
    let PixelData::U16(mask) = src.read_plane(0).unwrap().data else {
        panic!("uint16 mask")
    };
    let traced = trace(&mask, 512, 512);
    assert_eq!(traced.len(), 125);
    let mut back = vec![0u16; 512 * 512];
    for (value, polys) in &traced {
        for p in polys {
            rasterise(p, *value, &mut back, 512, 512);
        }
    }
    assert_eq!(back, mask);
}
