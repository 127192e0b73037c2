//! The data model of a mifa package: the manifest (MIFA/REMBI metadata), annotation
//! models, rasters, splits, and the rules for ids and paths. No I/O beyond the manifest file.
#![warn(missing_docs)]

pub mod annotations;
pub mod ids;
pub mod io_error;
pub mod manifest;
pub mod metadata;
pub mod raster;
pub mod split;

pub use metadata::Manifest;
