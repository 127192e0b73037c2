//! PNG and JPEG inputs, decoded with the `image` crate. Grey images read as `yx`; colour
//! images as `cyx` with channels named after their samples (R, G, B, A).
//!
//! Opening reads the header only; pixels are decoded when the first plane is read, so a batch of
//! many files does not hold them all in memory at once. Opening also refuses, before any pixel
//! is decoded, a file whose declared size exceeds [`Limits::max_decode_bytes`] (a small file can
//! declare gigabytes) and a truncated file (the decoders would fill the missing rows with grey).

use super::{axes_from_names, Error, Limits, PlaneSource, SourceMeta};
use crate::metadata::DataType;
use crate::raster::{PixelData, Plane};
use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A PNG or JPEG file.
pub struct RasterSource {
    meta: SourceMeta,
    limits: Limits,
    /// Interleaved samples, once decoded.
    data: Option<PixelData>,
    samples: usize,
}

fn reader(
    path: &Path,
    limits: &Limits,
) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // A FIFO or device given as input would block the open or never end.
    let file = crate::input::open_regular(path)?;
    let mut reader = image::ImageReader::new(std::io::BufReader::new(file));
    // As `ImageReader::open` does: the extension first, the content when it tells.
    if let Ok(f) = ImageFormat::from_path(path) {
        reader.set_format(f);
    }
    let mut reader = reader.with_guessed_format().map_err(io)?;
    // A second line of defence behind the declared-size check in `open`: the decoders' own
    // buffers (output plus per-component rows) stay within twice the decode cap.
    let mut il = image::Limits::default();
    il.max_alloc = Some(limits.max_decode_bytes.saturating_mul(2));
    reader.limits(il);
    Ok(reader)
}

impl RasterSource {
    /// Reads the header and checks the size against `limits`.
    pub fn open(path: &Path, limits: &Limits) -> Result<RasterSource, Error> {
        let err = |source| Error::Image {
            path: path.to_path_buf(),
            source,
        };
        let reader = reader(path, limits)?;
        let format = reader.format();
        // A header cut short is reported as what it is, a truncated file.
        let decoder = match reader.into_decoder() {
            Ok(d) => d,
            Err(e) => {
                check_complete(path, format)?;
                return Err(err(e));
            }
        };
        let (w, h) = decoder.dimensions();
        let (w, h) = (u64::from(w), u64::from(h));
        let (dtype, samples, names): (DataType, usize, &[&str]) = match decoder.color_type() {
            ColorType::L8 => (DataType::Uint8, 1, &[]),
            ColorType::L16 => (DataType::Uint16, 1, &[]),
            ColorType::La8 => (DataType::Uint8, 2, &["L", "A"]),
            ColorType::La16 => (DataType::Uint16, 2, &["L", "A"]),
            ColorType::Rgb8 => (DataType::Uint8, 3, &["R", "G", "B"]),
            ColorType::Rgb16 => (DataType::Uint16, 3, &["R", "G", "B"]),
            ColorType::Rgba8 => (DataType::Uint8, 4, &["R", "G", "B", "A"]),
            ColorType::Rgba16 => (DataType::Uint16, 4, &["R", "G", "B", "A"]),
            ColorType::Rgb32F => (DataType::Float32, 3, &["R", "G", "B"]),
            ColorType::Rgba32F => (DataType::Float32, 4, &["R", "G", "B", "A"]),
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("pixel layout {other:?}"),
                })
            }
        };
        let (axes, shape) = if samples == 1 {
            (axes_from_names("yx").expect("valid"), vec![h, w])
        } else {
            (
                axes_from_names("cyx").expect("valid"),
                vec![samples as u64, h, w],
            )
        };
        // All samples are decoded together: check them as one decode unit and one plane.
        let unit = if format == Some(ImageFormat::Jpeg) {
            "JPEG"
        } else {
            "PNG"
        };
        limits.check_decode(path, unit, (h, w), (samples * dtype.size()) as u64)?;
        limits.check(path, &[h, w * samples as u64], dtype)?;
        check_complete(path, format)?;
        Ok(RasterSource {
            meta: SourceMeta {
                path: path.to_path_buf(),
                axes,
                shape,
                dtype,
                channel_names: names.iter().map(|s| s.to_string()).collect(),
            },
            limits: *limits,
            data: None,
            samples,
        })
    }

    fn decode(&self) -> Result<PixelData, Error> {
        let path = &self.meta.path;
        let img = reader(path, &self.limits)?
            .decode()
            .map_err(|source| Error::Image {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(match img {
            DynamicImage::ImageLuma8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageLuma16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageLumaA8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageLumaA16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgb8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageRgb16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgba8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageRgba16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgb32F(b) => PixelData::F32(b.into_raw()),
            DynamicImage::ImageRgba32F(b) => PixelData::F32(b.into_raw()),
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("pixel layout {:?}", other.color()),
                })
            }
        })
    }
}

/// A structure walk over a file.
type Walker = fn(&mut BufReader<std::fs::File>) -> std::io::Result<Walk>;

/// Refuses a JPEG or PNG that ends before its image data does.
fn check_complete(path: &Path, format: Option<ImageFormat>) -> Result<(), Error> {
    let (name, walk): (_, Walker) = match format {
        Some(ImageFormat::Jpeg) => ("JPEG", jpeg_walk),
        Some(ImageFormat::Png) => ("PNG", png_walk),
        _ => return Ok(()),
    };
    let file = crate::input::open_regular(path)?;
    let truncated = |message: String| Error::Truncated {
        path: path.to_path_buf(),
        format: name,
        message,
    };
    match walk(&mut BufReader::with_capacity(1 << 16, file)) {
        Ok(Walk::Complete) => Ok(()),
        Ok(Walk::Broken(message)) => Err(truncated(message)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(truncated(format!(
            "the file ends before its {}",
            if name == "JPEG" {
                "end-of-image marker (EOI)"
            } else {
                "IEND chunk"
            }
        ))),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// How a structure walk ended (end of file is an `UnexpectedEof` error).
#[derive(Debug, PartialEq)]
enum Walk {
    /// The end marker was reached.
    Complete,
    /// The structure is broken before the end marker.
    Broken(String),
}

fn byte(r: &mut impl Read) -> std::io::Result<u8> {
    let mut b = [0u8];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn skip(r: &mut impl BufRead, mut n: u64) -> std::io::Result<()> {
    while n > 0 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        r.consume(k);
        n -= k as u64;
    }
    Ok(())
}

/// Walks JPEG marker segments and entropy-coded scans up to the EOI marker. Decoders in lenient
/// mode accept a file cut inside a scan; the missing EOI is what gives it away.
fn jpeg_walk(r: &mut impl BufRead) -> std::io::Result<Walk> {
    if (byte(r)?, byte(r)?) != (0xFF, 0xD8) {
        return Ok(Walk::Broken("no start-of-image marker".into()));
    }
    let mut marker = next_marker(r)?;
    loop {
        match marker {
            0xD9 => return Ok(Walk::Complete),
            0x01 | 0xD0..=0xD7 => marker = next_marker(r)?,
            _ => {
                let len = u16::from_be_bytes([byte(r)?, byte(r)?]);
                if len < 2 {
                    return Ok(Walk::Broken(format!(
                        "marker 0xFF{marker:02X} has segment length {len}"
                    )));
                }
                skip(r, u64::from(len) - 2)?;
                marker = if marker == 0xDA {
                    scan_end(r)?
                } else {
                    next_marker(r)?
                };
            }
        }
    }
}

/// The next marker code, skipping fill bytes (and stray bytes, as lenient decoders do).
fn next_marker(r: &mut impl BufRead) -> std::io::Result<u8> {
    loop {
        if byte(r)? == 0xFF {
            let mut m = byte(r)?;
            while m == 0xFF {
                m = byte(r)?;
            }
            if m != 0 {
                return Ok(m);
            }
        }
    }
}

/// Skips entropy-coded data (where 0xFF00 is a stuffed byte and RSTn markers are part of the
/// scan) and returns the marker that ends it.
fn scan_end(r: &mut impl BufRead) -> std::io::Result<u8> {
    loop {
        let m = next_marker(r)?;
        if !(0xD0..=0xD7).contains(&m) {
            return Ok(m);
        }
    }
}

/// Walks PNG chunks up to IEND, skipping their data.
fn png_walk(r: &mut impl BufRead) -> std::io::Result<Walk> {
    let mut sig = [0u8; 8];
    r.read_exact(&mut sig)?;
    if sig != *b"\x89PNG\r\n\x1a\n" {
        return Ok(Walk::Broken("no PNG signature".into()));
    }
    loop {
        let mut head = [0u8; 8];
        r.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > i32::MAX as u32 {
            return Ok(Walk::Broken(format!(
                "chunk {:?} declares {len} bytes (PNG allows 2^31 - 1)",
                String::from_utf8_lossy(&head[4..])
            )));
        }
        // Data and CRC: a chunk cut short ends the file early.
        skip(r, u64::from(len) + 4)?;
        if &head[4..] == b"IEND" {
            return Ok(Walk::Complete);
        }
    }
}

impl PlaneSource for RasterSource {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }

    fn read_plane(&mut self, index: usize) -> Result<Plane, Error> {
        let (h, w) = self.meta.plane_shape();
        if index >= self.samples {
            return Err(Error::Metadata {
                path: self.meta.path.clone(),
                key: format!("plane {index}"),
                message: format!("out of range ({} planes)", self.samples),
            });
        }
        if self.data.is_none() {
            self.data = Some(self.decode()?);
        }
        if self.samples == 1 {
            let data = self.data.take().expect("decoded above");
            return Ok(Plane::new(h, w, data));
        }
        let data = self
            .data
            .as_ref()
            .expect("decoded above")
            .strided(index, self.samples);
        if index + 1 == self.samples {
            self.data = None;
        }
        Ok(Plane::new(h, w, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn walk(bytes: &[u8]) -> std::io::Result<Walk> {
        jpeg_walk(&mut std::io::Cursor::new(bytes))
    }

    const SOI: &[u8] = &[0xFF, 0xD8];
    const EOI: &[u8] = &[0xFF, 0xD9];
    /// An APP1 segment holding a thumbnail's EOI, which must not end the walk.
    const APP1: &[u8] = &[0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
    const SOS: &[u8] = &[0xFF, 0xDA, 0x00, 0x03, 0x01];
    /// Entropy data with a stuffed 0xFF00 and a restart marker, both part of the scan.
    const SCAN: &[u8] = &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56];

    #[test]
    fn jpeg_walk_reaches_eoi_past_thumbnails_stuffing_and_restarts() {
        assert_eq!(
            walk(&jpeg(&[SOI, APP1, SOS, SCAN, EOI])).unwrap(),
            Walk::Complete
        );
        // Progressive: several scans, with a table segment between them.
        let dht = &[0xFF, 0xC4, 0x00, 0x03, 0x00];
        let two = jpeg(&[SOI, SOS, SCAN, dht, SOS, SCAN, EOI]);
        assert_eq!(walk(&two).unwrap(), Walk::Complete);
    }

    #[test]
    fn jpeg_walk_reports_a_file_cut_anywhere() {
        let whole = jpeg(&[SOI, APP1, SOS, SCAN, EOI]);
        for cut in 1..whole.len() - 1 {
            let e = walk(&whole[..cut]).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        assert!(matches!(walk(b"GIF89a"), Ok(Walk::Broken(_))));
        let bad_len = jpeg(&[SOI, &[0xFF, 0xE0, 0x00, 0x01], EOI]);
        assert_eq!(
            walk(&bad_len).unwrap(),
            Walk::Broken("marker 0xFFE0 has segment length 1".into())
        );
    }

    #[test]
    fn png_walk_needs_every_chunk_up_to_iend() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [
            (b"IHDR", &[0u8; 13][..]),
            (b"IDAT", &[1, 2, 3]),
            (b"IEND", &[]),
        ] {
            png.extend((data.len() as u32).to_be_bytes());
            png.extend(kind);
            png.extend(data);
            png.extend([0; 4]); // CRC: checked by the decoder, not the walk
        }
        let walk = |b: &[u8]| png_walk(&mut std::io::Cursor::new(b));
        assert_eq!(walk(&png).unwrap(), Walk::Complete);
        for cut in 8..png.len() {
            assert!(walk(&png[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = png.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(walk(&huge), Ok(Walk::Broken(_))));
    }
}
