//! Getting a package out to people: a BioImage Archive submission ([`bia`]), a static HTML
//! report to browse it ([`report`]) and single-image previews with overlays ([`preview`]).
use mifa_formats as formats;
use mifa_model::{annotations, io_error, metadata, raster};
use mifa_package::{images, info, package, tracks, validate, vectors, versions};

pub mod bia;
pub mod canvas;
pub mod preview;
pub mod report;
