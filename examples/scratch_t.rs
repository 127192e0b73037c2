fn main() {
    let p = std::path::Path::new("/tmp/coco_bench/livecell_synth.json");
    let t = std::time::Instant::now();
    let h = mifa::formats::coco::read_header(p).unwrap();
    println!("header/skip {:?} {}", t.elapsed(), h.annotations);
    let t = std::time::Instant::now();
    let b = std::fs::read(p).unwrap();
    println!("read {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    println!(
        "value dom {:?} {}",
        t.elapsed(),
        v["annotations"].as_array().unwrap().len()
    );
}
