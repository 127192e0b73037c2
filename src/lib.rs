//! # mifa
//!
//! Turns microscopy images and their annotations into AI-ready, FAIR dataset packages that
//! follow the MIFA guidelines and REMBI, ready for the BioImage Archive.
//!
//! A package is a directory with a manifest (`mifa.json`), images, annotation sets and release
//! records; [`package::Package`] opens and writes it (atomically, under a lock), [`metadata`] is
//! the manifest's data model, [`validate`] checks a package and reports MIFA/REMBI completeness,
//! [`edit`] and [`sheet`] change metadata without hand-editing JSON, and [`info`] summarises a
//! package.
//!
//! ```no_run
//! use mifa::{metadata::Manifest, package::Package};
//! let pkg = Package::create("my-dataset".as_ref(), Manifest::new("Nuclei of HeLa cells in widefield", "CC-BY-4.0"))?;
//! let report = mifa::validate::validate(pkg.root())?;
//! println!("{} errors", report.errors().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

// The library lives in the crates under crates/; this facade keeps `mifa::…` paths working.

pub use mifa_formats as formats;
pub use mifa_loader as loader;
pub use mifa_model::io_error;
pub use mifa_model::{annotations, ids, manifest, metadata, raster, split as split_model};
pub use mifa_model::{map_pixels, with_pixels};
pub use mifa_package::{
    edit, images, info, package, sheet, split, tracks, validate, vectors, versions,
};
pub use mifa_publish as publish;

pub use metadata::Manifest;
pub use package::Package;
