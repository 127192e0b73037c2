//! The package on disk: lock, journal, one transaction for every write, the operations that
//! change a package, validation, versions and summaries.
#![warn(missing_docs)]

pub mod edit;
pub mod images;
pub mod info;
pub mod package;
pub mod sheet;
pub mod split;
pub mod tracks;
pub mod validate;
pub mod vectors;
pub mod versions;

use mifa_formats as formats;
use mifa_model::{annotations, io_error, manifest, metadata, raster};

pub use metadata::Manifest;
pub use package::Package;
