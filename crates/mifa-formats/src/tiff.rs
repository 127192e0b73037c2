//! TIFF: reading plain, OME-TIFF and ImageJ-hyperstack files plane by plane; writing OME-TIFF.
//!
//! Profile: `formats/tiff/README.md`. Axes and physical sizes come from OME-XML (`Pixels`
//! element) or the ImageJ description when present; plain multi-page files are read as `zyx`
//! unless the caller names the page axis. Decoding uses the `tiff` crate (uncompressed, LZW,
//! Deflate, PackBits, JPEG, ZSTD).

use super::{axes_from_names, Error, Limits, PlaneSource, SourceMeta};
use crate::metadata::{Axis, DataType};
use crate::raster::{PixelData, Plane};
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

/// A TIFF opened for reading, with its axes resolved.
pub struct TiffSource {
    meta: SourceMeta,
    decoder: Decoder<BufReader<File>>,
    /// IFD index of each page of the image (reduced-resolution pages skipped).
    pages: Vec<usize>,
    /// For each plane in C order over the non-yx axes: (position in `pages`, sample index).
    plane_map: Vec<(usize, usize)>,
    samples: usize,
    planar_separate: bool,
    cached: Option<(usize, PixelData)>,
    limits: Limits,
}

/// What the first page says about the file.
struct PageInfo {
    width: u32,
    height: u32,
    dtype: DataType,
    samples: usize,
    planar_separate: bool,
}

fn tiff_err(path: &Path) -> impl Fn(tiff::TiffError) -> Error + '_ {
    move |source| Error::Tiff {
        path: path.to_path_buf(),
        source,
    }
}

fn page_info(path: &Path, d: &mut Decoder<BufReader<File>>) -> Result<PageInfo, Error> {
    let te = tiff_err(path);
    let (width, height) = d.dimensions().map_err(&te)?;
    let color = d.colortype().map_err(&te)?;
    use tiff::ColorType as C;
    let (bits, samples) = match color {
        C::Gray(b) | C::Palette(b) => (b, 1),
        C::GrayA(b) => (b, 2),
        C::RGB(b) => (b, 3),
        C::RGBA(b) => (b, 4),
        C::Multiband {
            bit_depth,
            num_samples,
        } => (bit_depth, num_samples as usize),
        other => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "photometric interpretation {other:?}; convert to grayscale or RGB"
                ),
            })
        }
    };
    let format = d
        .find_tag_unsigned::<u16>(Tag::SampleFormat)
        .map_err(&te)?
        .unwrap_or(1);
    let dtype = match (format, bits) {
        (1, 8) => DataType::Uint8,
        (1, 16) => DataType::Uint16,
        (1, 32) => DataType::Uint32,
        (1, 64) => DataType::Uint64,
        (2, 8) => DataType::Int8,
        (2, 16) => DataType::Int16,
        (2, 32) => DataType::Int32,
        (2, 64) => DataType::Int64,
        // Half floats are widened to float32 (exactly representable).
        (3, 16) | (3, 32) => DataType::Float32,
        (3, 64) => DataType::Float64,
        (f, b) => {
            let kind = match f {
                1 => "unsigned integer",
                2 => "signed integer",
                3 => "floating point",
                _ => "unknown",
            };
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!("{b}-bit {kind} samples (sample format {f}); mifa reads 8/16/32/64-bit integers and 16/32/64-bit floats"),
            });
        }
    };
    let planar = d
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(&te)?
        .unwrap_or(1);
    Ok(PageInfo {
        width,
        height,
        dtype,
        samples,
        planar_separate: planar == 2 && samples > 1,
    })
}

/// "strip" or "tile" and the declared height and width of one, from the current page's tags.
fn unit_dims(
    path: &Path,
    d: &mut Decoder<BufReader<File>>,
    (height, width): (u32, u32),
) -> Result<(&'static str, (u64, u64)), Error> {
    let te = tiff_err(path);
    let tile = (
        d.find_tag_unsigned::<u32>(Tag::TileLength).map_err(&te)?,
        d.find_tag_unsigned::<u32>(Tag::TileWidth).map_err(&te)?,
    );
    Ok(match tile {
        (Some(h), Some(w)) => ("tile", (u64::from(h), u64::from(w))),
        _ => {
            // RowsPerStrip defaults to "the whole image in one strip".
            let rows = d
                .find_tag_unsigned::<u32>(Tag::RowsPerStrip)
                .map_err(&te)?
                .unwrap_or(u32::MAX)
                .min(height);
            ("strip", (u64::from(rows), u64::from(width)))
        }
    })
}

/// Checks the declared decoded size of one strip or tile of page `ifd` against the decode cap,
/// before anything of the page is decoded.
fn check_chunks(
    path: &Path,
    d: &mut Decoder<BufReader<File>>,
    ifd: usize,
    info: &PageInfo,
    limits: &Limits,
) -> Result<(), Error> {
    let (kind, dims) = unit_dims(path, d, (info.height, info.width))?;
    let samples = if info.planar_separate {
        1
    } else {
        info.samples
    };
    let unit = format!("TIFF {kind} (page {ifd})");
    limits.check_decode(path, &unit, dims, (samples * info.dtype.size()) as u64)
}

/// For a JPEG-compressed page (compression 7), checks what each strip's or tile's embedded JPEG
/// declares before the decoder expands it: the `tiff` crate decodes the embedded JPEG at its own
/// declared size, which a hostile file sets far above the strip's.
fn check_jpeg_chunks(
    path: &Path,
    d: &mut Decoder<BufReader<File>>,
    ifd: usize,
    limits: &Limits,
) -> Result<(), Error> {
    use std::io::{Read, SeekFrom};
    let te = tiff_err(path);
    if d.find_tag_unsigned::<u16>(Tag::Compression).map_err(&te)? != Some(7) {
        return Ok(());
    }
    let (w, h) = d.dimensions().map_err(&te)?;
    let (kind, (ch, cw)) = unit_dims(path, d, (h, w))?;
    let tiled = kind == "tile";
    let (offsets, counts) = if tiled {
        (Tag::TileOffsets, Tag::TileByteCounts)
    } else {
        (Tag::StripOffsets, Tag::StripByteCounts)
    };
    let offsets = d.get_tag_u64_vec(offsets).map_err(&te)?;
    let counts = d.get_tag_u64_vec(counts).map_err(&te)?;
    let samples = u64::from(
        d.find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
            .map_err(&te)?
            .unwrap_or(1),
    );
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    for (i, (&offset, &count)) in offsets.iter().zip(&counts).enumerate() {
        let mut head = Vec::new();
        let r = d.inner();
        r.seek(SeekFrom::Start(offset)).map_err(io)?;
        r.by_ref()
            .take(count.min(1 << 16))
            .read_to_end(&mut head)
            .map_err(io)?;
        let Some((h, w, components)) = jpeg_sof(&head) else {
            continue;
        };
        let unit = format!("JPEG in TIFF {kind} {i} (page {ifd})");
        limits.check_decode(
            path,
            &unit,
            (u64::from(h), u64::from(w)),
            u64::from(components),
        )?;
        let unit_samples = ch.saturating_mul(cw).saturating_mul(samples);
        if u64::from(h) * u64::from(w) * u64::from(components) > unit_samples {
            return Err(Error::Metadata {
                path: path.to_path_buf(),
                key: format!("page {ifd} {kind} {i}"),
                message: format!(
                    "its JPEG declares {w}x{h} pixels of {components} component(s), larger than the {kind} ({cw}x{ch}, {samples} sample(s))"
                ),
            });
        }
    }
    Ok(())
}

/// Height, width and component count from the first SOFn segment of JPEG data, if it is there.
fn jpeg_sof(b: &[u8]) -> Option<(u16, u16, u8)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let m = b[i + 1];
        if matches!(m, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let s = b.get(i + 5..i + 10)?;
            return Some((
                u16::from_be_bytes([s[0], s[1]]),
                u16::from_be_bytes([s[2], s[3]]),
                s[4],
            ));
        }
        if m == 0xD8 || m == 0xFF {
            i += if m == 0xFF { 1 } else { 2 };
            continue;
        }
        i += 2 + usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
    }
    None
}

fn to_pixels(path: &Path, r: DecodingResult) -> Result<PixelData, Error> {
    Ok(match r {
        DecodingResult::U8(v) => PixelData::U8(v),
        DecodingResult::U16(v) => PixelData::U16(v),
        DecodingResult::U32(v) => PixelData::U32(v),
        DecodingResult::U64(v) => PixelData::U64(v),
        DecodingResult::I8(v) => PixelData::I8(v),
        DecodingResult::I16(v) => PixelData::I16(v),
        DecodingResult::I32(v) => PixelData::I32(v),
        DecodingResult::I64(v) => PixelData::I64(v),
        DecodingResult::F16(v) => PixelData::F32(v.into_iter().map(f32::from).collect()),
        DecodingResult::F32(v) => PixelData::F32(v),
        DecodingResult::F64(v) => PixelData::F64(v),
        #[allow(unreachable_patterns)]
        _ => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: "sample type".into(),
            })
        }
    })
}

/// Axes, shape and plane → (page, sample) layout resolved from metadata.
struct Layout {
    axes: Vec<Axis>,
    shape: Vec<u64>,
    plane_map: Vec<(usize, usize)>,
    channel_names: Vec<String>,
}

impl TiffSource {
    /// Opens a TIFF. `axes` names the axes of a plain multi-page file (e.g. `tyx`); OME and
    /// ImageJ metadata take precedence over it when they describe the file.
    pub fn open_with_axes(
        path: &Path,
        limits: &Limits,
        axes: Option<&str>,
    ) -> Result<TiffSource, Error> {
        let te = tiff_err(path);
        // A FIFO or device given as input would block the open or never end.
        let file = crate::input::open_regular(path)?;
        // A page is decoded whole (one plane); each strip or tile inside it is a decode unit,
        // checked against its declared size below and capped here for the compressed bytes.
        let mut tl = tiff::decoder::Limits::default();
        tl.decoding_buffer_size = usize::try_from(limits.max_plane_bytes).unwrap_or(usize::MAX);
        tl.intermediate_buffer_size =
            usize::try_from(limits.max_decode_bytes).unwrap_or(usize::MAX);
        // OME-XML of large series easily exceeds the 1 MiB default.
        tl.ifd_value_size = 256 << 20;
        let mut d = Decoder::new(BufReader::new(file))
            .map_err(&te)?
            .with_limits(tl);
        let first = page_info(path, &mut d)?;
        let description = d.get_tag_ascii_string(Tag::ImageDescription).ok();
        let x_res = d.get_tag_f64(Tag::XResolution).ok();

        // Collect full-resolution pages; reduced-resolution ones (NewSubfileType bit 0) are skipped.
        let mut pages = Vec::new();
        let mut ifd = 0usize;
        loop {
            let subfile = d
                .find_tag_unsigned::<u32>(Tag::NewSubfileType)
                .map_err(&te)?
                .unwrap_or(0);
            if subfile & 1 == 0 {
                let info = page_info(path, &mut d)?;
                if (info.width, info.height, info.dtype, info.samples)
                    != (first.width, first.height, first.dtype, first.samples)
                {
                    return Err(Error::Metadata {
                        path: path.to_path_buf(),
                        key: format!("page {ifd}"),
                        message: format!(
                            "{}x{} {:?} x{} differs from page 0 ({}x{} {:?} x{}); mifa reads stacks of identical pages",
                            info.width, info.height, info.dtype, info.samples,
                            first.width, first.height, first.dtype, first.samples
                        ),
                    });
                }
                check_chunks(path, &mut d, ifd, &info, limits)?;
                pages.push(ifd);
            }
            if !d.more_images() {
                break;
            }
            d.next_image().map_err(&te)?;
            ifd += 1;
        }
        d.seek_to_image(0).map_err(&te)?;

        let (h, w) = (u64::from(first.height), u64::from(first.width));
        let layout = match description.as_deref() {
            Some(desc) if desc.trim_start().starts_with("<?xml") || desc.contains("<OME") => {
                let ifds = ifd + 1;
                ome_layout(path, desc, (pages.len(), ifds), first.samples, (h, w))?
            }
            Some(desc) if desc.starts_with("ImageJ=") => {
                imagej_layout(path, desc, pages.len(), first.samples, (h, w), x_res)?
            }
            _ => plain_layout(path, axes, pages.len(), first.samples, (h, w))?,
        };
        limits.check(path, &layout.shape, first.dtype)?;
        let meta = SourceMeta {
            path: path.to_path_buf(),
            axes: layout.axes,
            shape: layout.shape,
            dtype: first.dtype,
            channel_names: layout.channel_names,
        };
        Ok(TiffSource {
            meta,
            decoder: d,
            pages,
            plane_map: layout.plane_map,
            samples: first.samples,
            planar_separate: first.planar_separate,
            cached: None,
            limits: *limits,
        })
    }

    /// Opens a TIFF, taking axes from its metadata (plain multi-page files: `zyx`).
    pub fn open(path: &Path, limits: &Limits) -> Result<TiffSource, Error> {
        Self::open_with_axes(path, limits, None)
    }
}

impl PlaneSource for TiffSource {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }

    fn read_plane(&mut self, index: usize) -> Result<Plane, Error> {
        let path = self.meta.path.clone();
        let (page, sample) = *self.plane_map.get(index).ok_or_else(|| Error::Metadata {
            path: path.clone(),
            key: format!("plane {index}"),
            message: format!("out of range ({} planes)", self.plane_map.len()),
        })?;
        let (h, w) = self.meta.plane_shape();
        if self.cached.as_ref().map(|c| c.0) != Some(page) {
            let ifd = *self.pages.get(page).ok_or_else(|| Error::Metadata {
                path: path.clone(),
                key: format!("page {page}"),
                message: format!(
                    "the metadata describes more pages than the file has ({})",
                    self.pages.len()
                ),
            })?;
            self.decoder.seek_to_image(ifd).map_err(tiff_err(&path))?;
            check_jpeg_chunks(&path, &mut self.decoder, ifd, &self.limits)?;
            let data = to_pixels(&path, self.decoder.read_image().map_err(tiff_err(&path))?)?;
            if data.len() < h * w * self.samples {
                return Err(Error::Metadata {
                    path,
                    key: format!("page {page}"),
                    message: format!(
                        "decoded {} samples, expected {}",
                        data.len(),
                        h * w * self.samples
                    ),
                });
            }
            self.cached = Some((page, data));
        }
        if self.samples == 1 {
            // One plane per page: hand the decoded buffer over instead of copying it.
            let (_, mut data) = self.cached.take().expect("just filled");
            if data.len() != h * w {
                data = mifa_model::map_pixels!(&data, v => v[..h * w].to_vec());
            }
            return Ok(Plane::new(h, w, data));
        }
        let data = &self.cached.as_ref().expect("just filled").1;
        let plane = if self.planar_separate {
            mifa_model::map_pixels!(data, v => v[sample * h * w..(sample + 1) * h * w].to_vec())
        } else {
            // Pages may carry padding past the last pixel: keep exactly one plane.
            mifa_model::map_pixels!(data.strided(sample, self.samples), v => v.into_iter().take(h * w).collect())
        };
        Ok(Plane::new(h, w, plane))
    }
}

/// Maps planes in C order over `dims` (our t, c, z order, each with its size) to pages, for a
/// file whose pages vary fastest along `page_order` (a permutation of the dims' names). With
/// interleaved samples, `c` is split into page-channel and sample.
fn plane_map(dims: &[(char, u64)], page_order: &str, samples: usize) -> Vec<(usize, usize)> {
    let size = |name: char| {
        dims.iter()
            .find(|d| d.0 == name)
            .map_or(1, |d| d.1 as usize)
    };
    let mut stride = std::collections::HashMap::new();
    let mut acc = 1usize;
    for name in page_order.chars() {
        stride.insert(name, acc);
        let n = if name == 'c' {
            size('c') / samples
        } else {
            size(name)
        };
        acc *= n.max(1);
    }
    let total: usize = dims.iter().map(|d| d.1 as usize).product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..total {
        let mut page = 0;
        let mut sample = 0;
        for (k, &(name, _)) in dims.iter().enumerate() {
            let i = idx[k];
            let (i, s) = if name == 'c' {
                (i / samples, i % samples)
            } else {
                (i, 0)
            };
            sample += s;
            page += i * stride.get(&name).copied().unwrap_or(0);
        }
        out.push((page, sample));
        for k in (0..dims.len()).rev() {
            idx[k] += 1;
            if (idx[k] as u64) < dims[k].1 {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Builds axes and shape from the non-yx dims that have a size above 1 (plus yx).
fn build(dims: &[(char, u64)], hw: (u64, u64)) -> (Vec<Axis>, Vec<u64>, Vec<(char, u64)>) {
    let kept: Vec<(char, u64)> = dims.iter().copied().filter(|d| d.1 > 1).collect();
    let names: String = kept.iter().map(|d| d.0).chain(['y', 'x']).collect();
    let axes = axes_from_names(&names).expect("dims are in tczyx order");
    let mut shape: Vec<u64> = kept.iter().map(|d| d.1).collect();
    shape.extend([hw.0, hw.1]);
    (axes, shape, kept)
}

fn unit_name(u: &str) -> Option<&'static str> {
    Some(match u.trim() {
        "µm" | "μm" | "um" | "micron" | "microns" | "micrometer" | "\\u00B5m" => "micrometer",
        "nm" | "nanometer" => "nanometer",
        "mm" | "millimeter" => "millimeter",
        "cm" | "centimeter" => "centimeter",
        "m" | "meter" => "meter",
        "Å" | "angstrom" => "angstrom",
        "pm" | "picometer" => "picometer",
        "s" | "sec" | "second" | "seconds" => "second",
        "ms" | "millisecond" => "millisecond",
        "µs" | "us" | "microsecond" => "microsecond",
        "ns" | "nanosecond" => "nanosecond",
        "min" | "minute" => "minute",
        "h" | "hour" => "hour",
        _ => return None,
    })
}

fn set_scale(axes: &mut [Axis], name: &str, scale: Option<f64>, unit: Option<&'static str>) {
    if let Some(a) = axes.iter_mut().find(|a| a.name == name) {
        if let Some(s) = scale.filter(|s| s.is_finite() && *s > 0.0) {
            a.scale = Some(s);
            a.unit = unit.map(String::from);
        }
    }
}

/// The six orders OME-XML allows for `Pixels/@DimensionOrder`.
const DIMENSION_ORDERS: [&str; 6] = ["XYZCT", "XYZTC", "XYCTZ", "XYCZT", "XYTCZ", "XYTZC"];

/// `pages`: full-resolution pages and IFDs in the file (TiffData counts IFDs).
fn ome_layout(
    path: &Path,
    xml: &str,
    (pages, ifds): (usize, usize),
    samples: usize,
    hw: (u64, u64),
) -> Result<Layout, Error> {
    let meta_err = |key: &str, message: String| Error::Metadata {
        path: path.to_path_buf(),
        key: key.into(),
        message,
    };
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| meta_err("ImageDescription", format!("OME-XML does not parse: {e}")))?;
    let pixels = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Pixels")
        .ok_or_else(|| meta_err("OME/Image/Pixels", "missing".into()))?;
    let size = |attr: &str| -> Result<u64, Error> {
        match pixels.attribute(attr) {
            None => Ok(1),
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|&n: &u64| n > 0)
                .ok_or_else(|| {
                    meta_err(
                        &format!("Pixels/@{attr}"),
                        format!("{v:?} is not a positive integer"),
                    )
                }),
        }
    };
    let (sx, sy) = (size("SizeX")?, size("SizeY")?);
    if (sy, sx) != hw {
        return Err(meta_err(
            "Pixels/@SizeX,SizeY",
            format!("{sx}x{sy} but the pages are {}x{}", hw.1, hw.0),
        ));
    }
    let (sz, sc, st) = (size("SizeZ")?, size("SizeC")?, size("SizeT")?);
    let order = pixels.attribute("DimensionOrder").unwrap_or("XYZCT");
    if !DIMENSION_ORDERS.contains(&order) {
        return Err(meta_err(
            "Pixels/@DimensionOrder",
            format!("{order:?} is not one of {}", DIMENSION_ORDERS.join(", ")),
        ));
    }
    // OME-TIFF: SizeC counts samples, so a page holds SamplesPerPixel channels.
    let page_channels = if samples > 1 {
        if sc % samples as u64 != 0 {
            return Err(meta_err(
                "Pixels/@SizeC",
                format!("{sc} channels do not split into pages of {samples} samples"),
            ));
        }
        sc / samples as u64
    } else {
        sc
    };
    let needed = st
        .checked_mul(sz)
        .and_then(|n| n.checked_mul(page_channels))
        .filter(|&n| n <= pages as u64)
        .ok_or_else(|| {
            meta_err(
                "Pixels",
                format!(
                    "OME-XML describes {} pages (T={st} Z={sz} C={sc}, {samples} sample(s) per page), the file has {pages}",
                    (u128::from(st) * u128::from(sz)).saturating_mul(u128::from(page_channels))
                ),
            )
        })?;
    let page_order = order[2..].to_ascii_lowercase();
    let sizes = (sz, page_channels, st);
    check_tiff_data(path, pixels, &page_order, sizes, samples, (needed, ifds))?;
    let dims = [('t', st), ('c', sc), ('z', sz)];
    let (mut axes, shape, kept) = build(&dims, hw);
    let map = plane_map(
        &kept,
        &page_order,
        if kept.iter().any(|d| d.0 == 'c') {
            samples
        } else {
            1
        },
    );
    for (axis, attr) in [
        ("x", "PhysicalSizeX"),
        ("y", "PhysicalSizeY"),
        ("z", "PhysicalSizeZ"),
    ] {
        let value = pixels.attribute(attr).and_then(|v| v.parse::<f64>().ok());
        let unit = unit_name(
            pixels
                .attribute(format!("{attr}Unit").as_str())
                .unwrap_or("µm"),
        );
        set_scale(&mut axes, axis, value, unit);
    }
    let dt = pixels
        .attribute("TimeIncrement")
        .and_then(|v| v.parse::<f64>().ok());
    set_scale(
        &mut axes,
        "t",
        dt,
        unit_name(pixels.attribute("TimeIncrementUnit").unwrap_or("s")),
    );
    let mut channel_names: Vec<String> = Vec::new();
    for ch in pixels
        .children()
        .filter(|n| n.tag_name().name() == "Channel")
    {
        let spp: usize = ch
            .attribute("SamplesPerPixel")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let name = ch.attribute("Name").unwrap_or("").to_string();
        for s in 0..spp {
            channel_names.push(if spp > 1 && !name.is_empty() {
                format!("{name}:{s}")
            } else {
                name.clone()
            });
        }
    }
    if channel_names.len() != sc as usize || channel_names.iter().all(String::is_empty) || sc == 1 {
        channel_names.clear();
    }
    Ok(Layout {
        axes,
        shape,
        plane_map: map,
        channel_names,
    })
}

/// Checks the `TiffData` elements against the pages: each must point at IFDs the file has, and
/// at the IFD that `DimensionOrder` from IFD 0 gives its first plane (the only layout mifa
/// reads); planes stored in other files are refused.
fn check_tiff_data(
    path: &Path,
    pixels: roxmltree::Node<'_, '_>,
    page_order: &str,
    (sz, sc, st): (u64, u64, u64),
    samples: usize,
    (needed, ifds): (u64, usize),
) -> Result<(), Error> {
    let own_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    for (i, td) in pixels
        .children()
        .filter(|n| n.tag_name().name() == "TiffData")
        .enumerate()
    {
        let key = format!("Pixels/TiffData[{i}]");
        let err = |message: String| Error::Metadata {
            path: path.to_path_buf(),
            key: key.clone(),
            message,
        };
        let file = td
            .children()
            .find(|n| n.tag_name().name() == "UUID")
            .and_then(|u| u.attribute("FileName"));
        if let Some(f) = file.filter(|f| Some(*f) != own_name.as_deref()) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "{key}: planes stored in another file ({f:?}); mifa reads single-file OME-TIFFs"
                ),
            });
        }
        let num = |attr: &str, default: u64| -> Result<u64, Error> {
            match td.attribute(attr) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("@{attr} {v:?} is not a non-negative integer"))),
            }
        };
        let ifd = num("IFD", 0)?;
        // Without IFD and PlaneCount, one TiffData covers every plane.
        let count_default = if td.attribute("IFD").is_some() {
            1
        } else {
            needed
        };
        let count = num("PlaneCount", count_default)?;
        // FirstC counts channels; a page holds `samples` of them.
        let c = num("FirstC", 0)? / samples as u64;
        let (z, t) = (num("FirstZ", 0)?, num("FirstT", 0)?);
        if z >= sz || c >= sc || t >= st {
            return Err(err(format!(
                "first plane Z={z} C={c} T={t} is outside SizeZ={sz}, C={sc}, T={st}"
            )));
        }
        if ifd.saturating_add(count) > ifds as u64 {
            return Err(err(format!(
                "IFD {ifd} with PlaneCount {count} points beyond the file's {ifds} IFD(s)"
            )));
        }
        let (mut expected, mut stride) = (0u64, 1u64);
        for (index, size) in page_order.chars().map(|a| match a {
            'z' => (z, sz),
            'c' => (c, sc),
            _ => (t, st),
        }) {
            expected += index * stride;
            stride *= size;
        }
        if ifd != expected {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "{key}: plane Z={z} C={c} T={t} is at IFD {ifd}, but DimensionOrder gives IFD {expected}; mifa reads OME-TIFFs whose IFDs follow DimensionOrder from IFD 0"
                ),
            });
        }
    }
    Ok(())
}

fn imagej_layout(
    path: &Path,
    desc: &str,
    pages: usize,
    samples: usize,
    hw: (u64, u64),
    x_res: Option<f64>,
) -> Result<Layout, Error> {
    let get = |key: &str| {
        desc.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(str::trim)
    };
    // Unparsable or zero counts read as 1, as ImageJ itself reads them.
    let num = |key: &str| {
        get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1)
    };
    let (c, z, t) = (num("channels"), num("slices"), num("frames"));
    let c_total = if samples > 1 { samples as u64 } else { c };
    let page_channels = if samples > 1 { 1 } else { c };
    let needed = page_channels
        .checked_mul(z)
        .and_then(|n| n.checked_mul(t))
        .unwrap_or(u64::MAX);
    if needed > pages as u64 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "ImageJ metadata describes {needed} planes but the file has {pages} page(s): a contiguous ImageJ stack (over 4 GiB); save it as OME-TIFF or BigTIFF"
            ),
        });
    }
    let dims = [('t', t), ('c', c_total), ('z', z)];
    let (mut axes, shape, kept) = build(&dims, hw);
    // ImageJ writes pages channel-fastest, then slices, then frames.
    let map = plane_map(&kept, "czt", if samples > 1 { samples } else { 1 });
    let unit = get("unit").and_then(unit_name);
    if let Some(res) = x_res.filter(|r| *r > 0.0) {
        if unit.is_some() {
            set_scale(&mut axes, "x", Some(1.0 / res), unit);
            set_scale(&mut axes, "y", Some(1.0 / res), unit);
        }
    }
    let spacing = get("spacing").and_then(|v| v.parse::<f64>().ok());
    if unit.is_some() {
        set_scale(&mut axes, "z", spacing, unit);
    }
    let finterval = get("finterval").and_then(|v| v.parse::<f64>().ok());
    set_scale(
        &mut axes,
        "t",
        finterval,
        unit_name(get("tunit").unwrap_or("s")),
    );
    Ok(Layout {
        axes,
        shape,
        plane_map: map,
        channel_names: Vec::new(),
    })
}

fn plain_layout(
    path: &Path,
    axes: Option<&str>,
    pages: usize,
    samples: usize,
    hw: (u64, u64),
) -> Result<Layout, Error> {
    let page_axis = match axes {
        None => 'z',
        Some(names) => {
            let extra: Vec<char> = names
                .chars()
                .filter(|c| !("yx".contains(*c) || samples > 1 && *c == 'c'))
                .collect();
            match extra.as_slice() {
                [] if pages == 1 => 'z',
                [a] => *a,
                [] => {
                    return Err(Error::Metadata {
                        path: path.to_path_buf(),
                        key: "--axes".into(),
                        message: format!("{names:?} has no axis for the {pages} pages"),
                    })
                }
                _ => {
                    return Err(Error::Metadata {
                        path: path.to_path_buf(),
                        key: "--axes".into(),
                        message: format!(
                            "{names:?} needs several page axes, but this TIFF has no OME or ImageJ metadata saying how its {pages} pages split"
                        ),
                    })
                }
            }
        }
    };
    if samples > 1 && page_axis == 'c' && pages > 1 {
        return Err(Error::Metadata {
            path: path.to_path_buf(),
            key: "--axes".into(),
            message: "pages cannot be channels when each page already holds several samples".into(),
        });
    }
    let n = pages as u64;
    let dims: Vec<(char, u64)> = ['t', 'c', 'z']
        .iter()
        .map(|&a| {
            let mut size = if a == page_axis { n } else { 1 };
            if a == 'c' && samples > 1 {
                size = samples as u64;
            }
            (a, size)
        })
        .collect();
    let (axes_v, shape, kept) = build(&dims, hw);
    let page_order: String = kept
        .iter()
        .map(|d| d.0)
        .filter(|&a| a != 'c' || samples == 1)
        .collect();
    let map = plane_map(
        &kept,
        if page_order.is_empty() {
            "z"
        } else {
            &page_order
        },
        samples,
    );
    if let Some(names) = axes {
        let got: String = axes_v.iter().map(|a| a.name.as_str()).collect();
        if got != names && !(pages == 1 && samples == 1) {
            return Err(Error::Metadata {
                path: path.to_path_buf(),
                key: "--axes".into(),
                message: format!(
                    "{names:?} does not fit: the file reads as {got} with shape {shape:?}"
                ),
            });
        }
    }
    Ok(Layout {
        axes: axes_v,
        shape,
        plane_map: map,
        channel_names: Vec::new(),
    })
}

/// How exported TIFFs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression: readable by every tool.
    None,
    /// Deflate (zlib), fast level: readable by Fiji, tifffile, QuPath, napari.
    #[default]
    Deflate,
    /// LZW.
    Lzw,
}

/// What [`write_ome_tiff`] writes: name, axes, shape, type and channel names of one image.
#[derive(Debug, Clone, Copy)]
pub struct ExportImage<'a> {
    /// Image name (OME `Image/@Name`).
    pub name: &'a str,
    /// Axes (with physical sizes).
    pub axes: &'a [Axis],
    /// Shape.
    pub shape: &'a [u64],
    /// Sample type.
    pub dtype: DataType,
    /// Channel names.
    pub channel_names: &'a [String],
}

/// Writes planes as an OME-TIFF (8–32-bit and float types) or a plain multi-page TIFF (64-bit
/// integers, which OME does not define). Pages are in C order over the non-yx axes, i.e. OME
/// `DimensionOrder="XYZCT"`. Written to a temporary file and renamed.
pub fn write_ome_tiff(
    path: &Path,
    image: &ExportImage<'_>,
    compression: Compression,
    mut plane: impl FnMut(usize) -> Result<Plane, Error>,
) -> Result<(), Error> {
    let ExportImage {
        name,
        axes,
        shape,
        dtype,
        channel_names,
    } = *image;
    let n = shape.len();
    let (h, w) = (shape[n - 2], shape[n - 1]);
    let planes: u64 = shape[..n - 2].iter().product();
    let size = |name: &str| {
        axes.iter()
            .position(|a| a.name == name)
            .map_or(1, |i| shape[i])
    };
    let xml = ome_xml(
        name,
        axes,
        dtype,
        (size("t"), size("c"), size("z")),
        (h, w),
        channel_names,
    );
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let file = File::create(&tmp).map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        let bytes = planes * h * w * dtype.size() as u64;
        let mut out = BufWriter::new(file);
        // Classic TIFF offsets are 32-bit; switch to BigTIFF with room for headers.
        let comp = match compression {
            Compression::None => tiff::encoder::Compression::Uncompressed,
            Compression::Deflate => {
                tiff::encoder::Compression::Deflate(tiff::encoder::DeflateLevel::Fast)
            }
            Compression::Lzw => tiff::encoder::Compression::Lzw,
        };
        if bytes > (4u64 << 30) - (64 << 20) {
            let enc = tiff::encoder::TiffEncoder::new_big(&mut out)
                .map_err(tiff_err(path))?
                .with_compression(comp);
            write_pages(path, enc, planes, dtype, xml.as_deref(), axes, &mut plane)?;
        } else {
            let enc = tiff::encoder::TiffEncoder::new(&mut out)
                .map_err(tiff_err(path))?
                .with_compression(comp);
            write_pages(path, enc, planes, dtype, xml.as_deref(), axes, &mut plane)?;
        }
        out.flush().map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        let file = out.into_inner().map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn write_pages<W: Write + Seek, K: tiff::encoder::TiffKind>(
    path: &Path,
    mut local: tiff::encoder::TiffEncoder<W, K>,
    planes: u64,
    dtype: DataType,
    xml: Option<&str>,
    axes: &[Axis],
    plane: &mut impl FnMut(usize) -> Result<Plane, Error>,
) -> Result<(), Error> {
    use tiff::encoder::colortype as ct;
    let te = tiff_err(path);
    // TIFF resolution is pixels per centimetre; only written for metric space units.
    let pixel_um = axes
        .iter()
        .find(|a| a.name == "x")
        .and_then(|a| Some((a.scale?, a.unit.as_deref()?)))
        .and_then(|(s, u)| match u {
            "micrometer" => Some(s),
            "nanometer" => Some(s / 1000.0),
            "millimeter" => Some(s * 1000.0),
            _ => None,
        });
    for i in 0..planes as usize {
        let p = plane(i)?;
        if p.data.dtype() != dtype {
            return Err(Error::Metadata {
                path: path.to_path_buf(),
                key: format!("plane {i}"),
                message: format!("{:?} data for a {dtype:?} image", p.data.dtype()),
            });
        }
        macro_rules! page {
            ($ct:ty, $v:expr) => {{
                let mut img = local
                    .new_image::<$ct>(p.width as u32, p.height as u32)
                    .map_err(&te)?;
                if i == 0 {
                    if let Some(x) = xml {
                        img.encoder()
                            .write_tag(Tag::ImageDescription, x)
                            .map_err(&te)?;
                    }
                }
                if let Some(um) = pixel_um {
                    let per_cm = 1e4 / um;
                    let (n, d) = if per_cm >= 1000.0 {
                        (per_cm.round() as u32, 1)
                    } else {
                        ((per_cm * 1000.0).round() as u32, 1000)
                    };
                    img.resolution(
                        tiff::tags::ResolutionUnit::Centimeter,
                        tiff::encoder::Rational { n, d },
                    );
                }
                img.write_data($v).map_err(&te)?;
            }};
        }
        match &p.data {
            PixelData::Bool(v) => {
                let bytes: Vec<u8> = v.iter().map(|&b| u8::from(b)).collect();
                page!(ct::Gray8, &bytes)
            }
            PixelData::U8(v) => page!(ct::Gray8, v),
            PixelData::U16(v) => page!(ct::Gray16, v),
            PixelData::U32(v) => page!(ct::Gray32, v),
            PixelData::U64(v) => page!(ct::Gray64, v),
            PixelData::I8(v) => page!(ct::GrayI8, v),
            PixelData::I16(v) => page!(ct::GrayI16, v),
            PixelData::I32(v) => page!(ct::GrayI32, v),
            PixelData::I64(v) => page!(ct::GrayI64, v),
            PixelData::F32(v) => page!(ct::Gray32Float, v),
            PixelData::F64(v) => page!(ct::Gray64Float, v),
        }
    }
    Ok(())
}

fn ome_type(dtype: DataType) -> Option<&'static str> {
    Some(match dtype {
        DataType::Bool | DataType::Uint8 => "uint8",
        DataType::Uint16 => "uint16",
        DataType::Uint32 => "uint32",
        DataType::Int8 => "int8",
        DataType::Int16 => "int16",
        DataType::Int32 => "int32",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Uint64 | DataType::Int64 => return None,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ome_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "micrometer" => "µm",
        "nanometer" => "nm",
        "millimeter" => "mm",
        "centimeter" => "cm",
        "meter" => "m",
        "angstrom" => "Å",
        "picometer" => "pm",
        "second" => "s",
        "millisecond" => "ms",
        "microsecond" => "µs",
        "nanosecond" => "ns",
        "minute" => "min",
        "hour" => "h",
        _ => return None,
    })
}

fn ome_xml(
    name: &str,
    axes: &[Axis],
    dtype: DataType,
    (t, c, z): (u64, u64, u64),
    (h, w): (u64, u64),
    channels: &[String],
) -> Option<String> {
    let ty = ome_type(dtype)?;
    let mut phys = String::new();
    for (axis, attr) in [
        ("x", "PhysicalSizeX"),
        ("y", "PhysicalSizeY"),
        ("z", "PhysicalSizeZ"),
        ("t", "TimeIncrement"),
    ] {
        if let Some(a) = axes.iter().find(|a| a.name == axis) {
            if let (Some(s), Some(u)) = (a.scale, a.unit.as_deref().and_then(ome_unit)) {
                phys.push_str(&format!(" {attr}=\"{s}\" {attr}Unit=\"{u}\""));
            }
        }
    }
    let mut chans = String::new();
    for i in 0..c {
        let nm = channels
            .get(i as usize)
            .map(|n| format!(" Name=\"{}\"", xml_escape(n)))
            .unwrap_or_default();
        chans.push_str(&format!(
            "<Channel ID=\"Channel:0:{i}\"{nm} SamplesPerPixel=\"1\"/>"
        ));
    }
    // TIFF ASCII tags take 7-bit text only: "µm" and non-ASCII names become character references.
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/2016-06 http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" Creator=\"mifa {}\">\
<Image ID=\"Image:0\" Name=\"{}\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYZCT\" Type=\"{ty}\" BigEndian=\"false\" \
SizeX=\"{w}\" SizeY=\"{h}\" SizeZ=\"{z}\" SizeC=\"{c}\" SizeT=\"{t}\"{phys}>{chans}<TiffData IFD=\"0\" PlaneCount=\"{}\"/></Pixels></Image></OME>",
        env!("CARGO_PKG_VERSION"),
        xml_escape(name),
        t * c * z
    );
    Some(
        xml.chars()
            .map(|ch| {
                if ch.is_ascii() {
                    ch.to_string()
                } else {
                    format!("&#{};", ch as u32)
                }
            })
            .collect(),
    )
}

/// The path an exported image or label gets under `out`.
pub fn export_name(out: &Path, image: &str, label: Option<&str>) -> PathBuf {
    match label {
        None => out.join(format!("{image}.ome.tif")),
        Some(l) => out.join(format!("{image}_{l}.ome.tif")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ome_dimension_orders_map_planes_to_pages() {
        // T=2, C=3, Z=4 in XYZCT: page = z + 4*(c + 3*t), our order (t, c, z) is the same.
        let dims = [('t', 2), ('c', 3), ('z', 4)];
        let m = plane_map(&dims, "zct", 1);
        assert_eq!(m[0], (0, 0));
        assert_eq!(m[1], (1, 0)); // z=1
        assert_eq!(m[4], (4, 0)); // c=1
        assert_eq!(m[12], (12, 0)); // t=1
                                    // XYCZT: page = c + 3*(z + 4*t).
        let m = plane_map(&dims, "czt", 1);
        assert_eq!(m[1], (3, 0)); // z=1 -> page 3
        assert_eq!(m[4], (1, 0)); // c=1 -> page 1
                                  // Interleaved RGB pages along z: plane (c, z) -> (page z, sample c).
        let m = plane_map(&[('c', 3), ('z', 2)], "z", 3);
        assert_eq!(m, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]);
    }

    fn layout(order: &str, sizes: &str, tiff_data: &str, pages: usize) -> Result<Layout, Error> {
        let xml = format!(
            "<OME><Image><Pixels DimensionOrder=\"{order}\" SizeX=\"2\" SizeY=\"2\" {sizes}>{tiff_data}</Pixels></Image></OME>"
        );
        ome_layout(Path::new("f.ome.tif"), &xml, (pages, pages), 1, (2, 2))
    }

    #[test]
    fn ome_xml_orders_sizes_and_tiff_data_are_validated() {
        for order in DIMENSION_ORDERS {
            assert!(
                layout(order, "SizeZ=\"2\" SizeT=\"3\"", "", 6).is_ok(),
                "{order}"
            );
        }
        for order in ["XYQQQ", "XYZZT", "XYZC", "ZCTXY", ""] {
            let e = layout(order, "SizeZ=\"3\"", "", 3)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("Pixels/@DimensionOrder"), "{order}: {e}");
        }
        for bad in [
            "SizeZ=\"-1\"",
            "SizeZ=\"0\"",
            "SizeT=\"1.5\"",
            "SizeC=\"x\"",
        ] {
            let e = layout("XYZCT", bad, "", 3).err().unwrap().to_string();
            assert!(e.contains("is not a positive integer"), "{bad}: {e}");
        }
        // Sizes whose product overflows are refused, not wrapped around.
        let max = u64::MAX;
        let huge = format!("SizeZ=\"{max}\" SizeT=\"{max}\" SizeC=\"{max}\"");
        let e = layout("XYZCT", &huge, "", 3).err().unwrap().to_string();
        assert!(e.contains("the file has 3"), "{e}");
        // TiffData: a plane at the IFD DimensionOrder gives passes; elsewhere it is refused.
        let sizes = "SizeZ=\"2\" SizeC=\"2\"";
        let td = "<TiffData IFD=\"2\" FirstC=\"1\" PlaneCount=\"2\"/>";
        assert!(layout("XYZCT", sizes, td, 4).is_ok());
        let e = layout("XYCZT", sizes, td, 4).err().unwrap().to_string();
        assert!(e.contains("DimensionOrder gives IFD 1"), "{e}");
        let e = layout("XYZCT", sizes, "<TiffData IFD=\"3\" PlaneCount=\"2\"/>", 4)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("points beyond the file's 4 IFD(s)"), "{e}");
    }
}
