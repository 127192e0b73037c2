//! `mifa.json`: `manifest::parse_json` then `manifest::from_value` (version, schema, types).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("mifa.json");
    if let Ok(doc) = mifa::manifest::parse_json(path, text) {
        let _ = mifa::manifest::unknown_keys(&doc);
        let _ = mifa::manifest::from_value(path, doc);
    }
});
