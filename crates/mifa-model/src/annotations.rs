//! In-memory annotation models and conversions between them, shared by every annotation format.
//!
//! - [`shapes`]: objects (polygons, boxes, points, lines) with properties, and image-level
//!   labels and counts: what a vector annotation file of any format holds;
//! - [`rle`]: COCO run-length encoding and pycocotools-compatible polygon rasterisation;
//! - [`contour`]: lossless label mask ↔ polygon conversion on the pixel-corner convention;
//! - [`fidelity`]: what a conversion lost, reported by every command that converts.

pub mod contour;
pub mod fidelity;
pub mod rle;
pub mod shapes;
pub mod tracks;

pub use contour::{Polygon, Ring};
pub use fidelity::Fidelity;
pub use rle::{Rle, RleError};
pub use shapes::{Collection, Geometry, ImageLabel, Object, ObjectId, Point};
