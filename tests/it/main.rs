//! The integration tests, in one binary so that the library is linked once rather than per file.

#[path = "../common/mod.rs"]
mod common;

mod annotations;
mod cli;
mod formats;
mod images;
mod layout;
mod loader;
mod publish;
mod report;
mod tracks;
mod vectors;
mod versions;
