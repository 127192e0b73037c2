//! BioStudies PageTab TSV: `Submission::from_tsv` (then `to_tsv`/`to_json` of what it read) and
//! `FileList::read_tsv`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mifa::formats::pagetab::{FileList, Submission};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sub) = Submission::from_tsv(Path::new("submission.tsv"), text) {
            let _ = sub.to_tsv();
            let _ = sub.to_json();
        }
    }
    let path = mifa_fuzz::file("files.tsv", data);
    if let Ok(list) = FileList::read_tsv(&path) {
        let _ = list.to_tsv();
    }
});
