//! Encodes masks and polygons given as JSON on stdin with mifa's COCO RLE codec and prints the
//! results as JSON; `tests/interop/coco_rle_interop.py` compares them with pycocotools.
//!
//! Input:  {"masks": [{"height": h, "width": w, "data": [0/1 row-major…]}],
//!          "polygons": [{"height": h, "width": w, "rings": [[x1, y1, x2, y2, …], …]}]}
//! Output: {"masks": [{"counts": "…", "area": n, "bbox": [x, y, w, h]}], "polygons": [same]}

use mifa::annotations::Rle;
use serde_json::{json, Value};

fn describe(r: &Rle) -> Value {
    json!({"counts": r.to_compressed(), "area": r.area(), "bbox": r.bbox()})
}

/// The elements of a JSON array (none if `v` is not one).
fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input: Value = serde_json::from_reader(std::io::stdin().lock())?;
    let dims = |v: &Value| -> (u32, u32) {
        (
            v["height"].as_u64().unwrap_or(0) as u32,
            v["width"].as_u64().unwrap_or(0) as u32,
        )
    };
    let masks: Vec<Value> = items(&input["masks"])
        .map(|m| {
            let (h, w) = dims(m);
            let data: Vec<u8> = items(&m["data"])
                .map(|v| v.as_u64().unwrap_or(0) as u8)
                .collect();
            let r = Rle::from_mask(&data, h, w);
            // Decoding our own string must give the mask back.
            assert_eq!(
                Rle::from_compressed(&r.to_compressed(), h, w)
                    .map(|r| r.to_mask())
                    .ok(),
                Some(data)
            );
            describe(&r)
        })
        .collect();
    let polygons: Vec<Value> = items(&input["polygons"])
        .map(|p| {
            let (h, w) = dims(p);
            let rings: Vec<Rle> = items(&p["rings"])
                .map(|ring| {
                    let xy: Vec<f64> = items(ring).filter_map(Value::as_f64).collect();
                    Rle::from_polygon(&xy, h, w).expect("finite coordinates")
                })
                .collect();
            describe(&Rle::union(&rings).expect("at least one ring"))
        })
        .collect();
    println!("{}", json!({"masks": masks, "polygons": polygons}));
    Ok(())
}
