//! Prints the mask mifa makes of every object in a COCO or GeoJSON file, as JSON, so that
//! `tests/interop/vectors_interop.py` can hold them against pycocotools and shapely.
//!
//! `annotation_masks coco FILE.json` → `{"<annotation id>": {"counts": "…", "area": n, "bbox": […]}}`
//! (masks as `Annotation::to_rle` makes them: polygons merged, RLE decoded, boxes filled);
//! `annotation_masks geojson FILE.geojson HEIGHT WIDTH` → `{"<feature id or #n>": {…}}` for every
//! area feature (`Geometry::to_rle`: even-odd within a polygon, union over polygons).

use mifa::annotations::Rle;
use mifa::formats::{coco, geojson};
use serde_json::{json, Map, Value};
use std::path::Path;

fn describe(r: &Rle) -> Value {
    json!({"counts": r.to_compressed(), "area": r.area(), "bbox": r.bbox()})
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: annotation_masks coco FILE | geojson FILE HEIGHT WIDTH";
    let (kind, file) = (
        args.first().ok_or(usage)?,
        Path::new(args.get(1).ok_or(usage)?),
    );
    let mut out = Map::new();
    match kind.as_str() {
        "coco" => {
            let d = coco::Dataset::load(file)?;
            let images = d.header.image_index();
            for (i, a) in d.annotations.iter().enumerate() {
                let img = images.get(&a.image_id).ok_or("annotation names no image")?;
                if let Some(r) = a.to_rle(img.height, img.width)? {
                    out.insert(
                        a.id.map_or(format!("#{}", i + 1), |id| id.to_string()),
                        describe(&r),
                    );
                }
            }
        }
        "geojson" => {
            let h: u32 = args.get(2).ok_or(usage)?.parse()?;
            let w: u32 = args.get(3).ok_or(usage)?.parse()?;
            let r = geojson::read(file, geojson::ReadOptions::default())?;
            for (i, o) in r.collection.objects.iter().enumerate() {
                if let Some(m) = o.geometry.to_rle(h, w) {
                    out.insert(o.name(i), describe(&m));
                }
            }
        }
        _ => return Err(usage.into()),
    }
    println!("{}", Value::Object(out));
    Ok(())
}
