//! Getting a package out to people: a BioImage Archive submission ([`bia`]), a static HTML
//! report to browse it ([`report`]) and single-image previews with overlays ([`preview`]).

pub mod bia;
pub mod canvas;
pub mod preview;
pub mod report;
