//! In-memory annotation models and conversions between them, shared by every annotation format.
//!
//! So far: COCO run-length encoding and pycocotools-compatible polygon rasterisation ([`rle`]);
//! lossless label mask ↔ polygon conversion on the pixel-corner convention ([`contour`]).
//! Points, boxes and tracks come with their formats.

pub mod contour;
pub mod rle;

pub use contour::{Polygon, Ring};
pub use rle::{Rle, RleError};
