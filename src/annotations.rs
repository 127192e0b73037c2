//! In-memory annotation models and conversions between them, shared by every annotation format.
//!
//! So far: COCO run-length encoding and pycocotools-compatible polygon rasterisation
//! ([`rle`]); shapes, points, tracks and mask ↔ polygon tracing come with their formats.

pub mod rle;

pub use rle::{Rle, RleError};
