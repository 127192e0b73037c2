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

pub mod annotations;
pub mod edit;
pub mod formats;
pub mod images;
pub mod info;
pub mod io_error;
pub mod loader;
pub mod manifest;
pub mod metadata;
pub mod package;
pub mod publish;
pub mod raster;
pub mod sheet;
pub mod split;
pub mod tracks;
pub mod validate;
pub mod vectors;
pub mod versions;

pub use metadata::Manifest;
pub use package::Package;
