//! Generators of real-format inputs (valid structure, so that each case's one hostile thing is
//! what gets tested): baseline TIFF written by hand (to control every tag and offset), PNG and
//! JPEG through the `image` crate and then patched, stored zips, and the base packages every
//! case starts from (built once per run through the binary, then copied).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of one case: its own temporary directory and the inputs written there.
pub struct Ctx {
    /// The case's folder (the child's working directory too).
    pub dir: PathBuf,
    bases: &'static Bases,
}

impl Ctx {
    /// A fresh case folder.
    pub fn new(dir: PathBuf, bases: &'static Bases) -> Ctx {
        Ctx { dir, bases }
    }

    /// A path in the case folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes `bytes` to `rel` (parents created) and returns its path.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(&p, bytes).unwrap();
        p
    }

    /// A copy of the base package (an image `img` 64×64 u16 with the label `nuc`, the vector
    /// set `cells`, the points set `pts`, the tracks set `trk` (annotations/trk/tracks/, a
    /// CMSO data package), one author, a split, released as 1.0.0), at `pkg/`.
    pub fn pkg(&self) -> PathBuf {
        let p = self.dir.join("pkg");
        copy_tree(&self.bases.pkg, &p);
        p
    }

    /// A copy of the publication base: a complete package at `pub/pkg` and its BIA submission
    /// folder at `pub/sub`.
    pub fn published(&self) -> (PathBuf, PathBuf) {
        let p = self.dir.join("pub");
        copy_tree(&self.bases.published, &p);
        (p.join("pkg"), p.join("sub"))
    }

    /// A copy of a committed fixture (file or folder) under `rel`.
    pub fn fixture(&self, fixture: &str, rel: &str) -> PathBuf {
        let p = self.dir.join(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        copy_tree(&repo(fixture), &p);
        p
    }

    /// A named pipe nobody writes to.
    pub fn fifo(&self, rel: &str) -> PathBuf {
        let p = self.dir.join(rel);
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
        assert_eq!(r, 0, "mkfifo {}", p.display());
        p
    }

    /// A folder outside any package with a file that must survive (escape target).
    pub fn victim(&self) -> (PathBuf, PathBuf) {
        let d = self.dir.join("outside");
        fs::create_dir_all(&d).unwrap();
        let f = d.join("victim.txt");
        fs::write(&f, "SECRET-OUTSIDE-THE-PACKAGE\n").unwrap();
        (d, f)
    }
}

/// A path in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Copies a tree, keeping symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    let md = fs::symlink_metadata(from).unwrap();
    if md.file_type().is_symlink() {
        symlink(fs::read_link(from).unwrap(), to).unwrap();
    } else if md.is_dir() {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        fs::copy(from, to).unwrap();
    }
}

/// The base packages, built once.
pub struct Bases {
    /// The small package.
    pub pkg: PathBuf,
    /// `pkg/` and `sub/`: a complete package and its submission.
    pub published: PathBuf,
    _tmp: tempfile::TempDir,
}

fn mifa<I, S>(args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = Command::new(crate::runner::bin())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "base package: mifa {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 16-bit grey image with a gradient.
pub fn gray16(w: u32, h: u32) -> Vec<u16> {
    (0..w * h).map(|i| ((i * 37) % 4000) as u16).collect()
}

/// A mask of four 10×10 squares, values 1..=4.
pub fn mask16(w: u32, h: u32) -> Vec<u16> {
    let mut m = vec![0u16; (w * h) as usize];
    for (k, (y0, x0)) in [(4u32, 4u32), (4, 30), (30, 4), (30, 30)]
        .iter()
        .enumerate()
    {
        for y in *y0..y0 + 10 {
            for x in *x0..x0 + 10 {
                if y < h && x < w {
                    m[(y * w + x) as usize] = k as u16 + 1;
                }
            }
        }
    }
    m
}

/// A valid 16-bit grey TIFF through the `tiff` crate.
pub fn write_tiff16(path: &Path, w: u32, h: u32, data: &[u16]) {
    let f = fs::File::create(path).unwrap();
    tiff::encoder::TiffEncoder::new(f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(w, h, data)
        .unwrap();
}

/// A GeoJSON FeatureCollection of `n` 8×8 squares inside a 64×64 image.
pub fn squares_geojson(n: u32) -> String {
    let f: Vec<String> = (0..n)
        .map(|i| {
            let (x, y) = (2 + 10 * (i % 6), 2 + 10 * (i / 6));
            square_feature(i + 1, f64::from(x), f64::from(y), 8.0)
        })
        .collect();
    collection(&f)
}

/// One square Feature with a class.
pub fn square_feature(id: u32, x: f64, y: f64, s: f64) -> String {
    format!(
        r#"{{"type":"Feature","id":"{id}","properties":{{"objectType":"annotation","classification":{{"name":"nucleus","color":[255,0,0]}}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
        x2 = x + s,
        y2 = y + s
    )
}

/// A FeatureCollection of the given features.
pub fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

/// A points CSV with `n` points.
pub fn points_csv(n: u32) -> String {
    let mut s = String::from("x,y,class\n");
    for i in 0..n {
        s.push_str(&format!(
            "{}.5,{}.5,spot\n",
            3 + 7 * (i % 8),
            3 + 7 * (i / 8)
        ));
    }
    s
}

impl Bases {
    /// Builds both base packages through the binary.
    pub fn build() -> Bases {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let pkg = root.join("pkg");
        let img = root.join("img.tif");
        write_tiff16(&img, 64, 64, &gray16(64, 64));
        let mask = root.join("mask.tif");
        write_tiff16(&mask, 64, 64, &mask16(64, 64));
        let gj = root.join("cells.geojson");
        fs::write(&gj, squares_geojson(6)).unwrap();
        let pts = root.join("pts.csv");
        fs::write(&pts, points_csv(5)).unwrap();
        let p = pkg.as_os_str();
        mifa([
            OsStr::new("init"),
            p,
            "--title".as_ref(),
            "Hostile corpus base package for mifa tests".as_ref(),
            "--license".as_ref(),
            "CC-BY-4.0".as_ref(),
        ]);
        mifa([
            OsStr::new("add"),
            p,
            img.as_os_str(),
            "--id".as_ref(),
            "img".as_ref(),
            "--chunk".as_ref(),
            "32".as_ref(),
        ]);
        mifa([
            OsStr::new("add"),
            p,
            "--mask".as_ref(),
            mask.as_os_str(),
            "--image".as_ref(),
            "img".as_ref(),
            "--name".as_ref(),
            "nuc".as_ref(),
        ]);
        for (format, file, set) in [("geojson", &gj, "cells"), ("points", &pts, "pts")] {
            mifa([
                OsStr::new("import"),
                p,
                format.as_ref(),
                file.as_os_str(),
                "--image".as_ref(),
                "img".as_ref(),
                "--set".as_ref(),
                set.as_ref(),
            ]);
        }
        let tm = repo("tests/fixtures/tracks/trackmate/tiny_trackmate.xml");
        mifa([
            OsStr::new("import"),
            p,
            "tracks".as_ref(),
            tm.as_os_str(),
            "--from".as_ref(),
            "trackmate".as_ref(),
            "--set".as_ref(),
            "trk".as_ref(),
        ]);
        mifa([
            OsStr::new("author"),
            "add".as_ref(),
            p,
            "--name".as_ref(),
            "Josiah Carberry".as_ref(),
            "--orcid".as_ref(),
            "0000-0002-1825-0097".as_ref(),
            "--email".as_ref(),
            "josiah@example.org".as_ref(),
        ]);
        mifa([OsStr::new("split"), p]);
        mifa([
            OsStr::new("release"),
            p,
            "--version".as_ref(),
            "1.0.0".as_ref(),
            "--changes".as_ref(),
            "First release".as_ref(),
            "--allow-invalid".as_ref(),
        ]);
        let published = root.join("pub");
        build_published(&published);
        Bases {
            pkg,
            published,
            _tmp: tmp,
        }
    }
}

/// The demo package of tests/publish.rs (complete metadata), released and published.
fn build_published(root: &Path) {
    let pkg = root.join("pkg");
    let p = pkg.to_str().unwrap();
    let data = repo("examples/data/dsb2018");
    let d = |f: &str| data.join(f).to_str().unwrap().to_string();
    mifa([
        "init",
        p,
        "--title",
        "Nuclei of cultured cells for the hostile corpus",
        "--license",
        "CC-BY-4.0",
    ]);
    mifa(["meta", "import", p, &d("metadata.tsv")]);
    mifa(["meta", "set", p, "study.license", "CC-BY-4.0"]);
    mifa([
        "add",
        p,
        &d("img2d.tif"),
        "--id",
        "nuclei",
        "--pixel-size",
        "0.65",
    ]);
    mifa([
        "add",
        p,
        "--mask",
        &d("mask2d.tif"),
        "--image",
        "nuclei",
        "--name",
        "nuclei",
    ]);
    mifa(["meta", "import", p, &d("annotations.tsv")]);
    mifa([
        "release",
        p,
        "--version",
        "1.0.0",
        "--changes",
        "First release",
    ]);
    let sub = root.join("sub");
    mifa(["publish", "bia", p, "--out", sub.to_str().unwrap()]);
}

// ---------------------------------------------------------------- TIFF

/// One page of a hand-written baseline TIFF (little-endian, uncompressed unless told).
#[derive(Clone)]
pub struct Page {
    /// Width (tag 256).
    pub width: u32,
    /// Height (tag 257).
    pub height: u32,
    /// Bits per sample (258).
    pub bits: u16,
    /// Compression (259): 1 none.
    pub compression: u16,
    /// Strip (or tile) data, written in order.
    pub blocks: Vec<Vec<u8>>,
    /// Rows per strip (278).
    pub rows_per_strip: u32,
    /// Tile size (322, 323): tiled instead of stripped.
    pub tile: Option<(u32, u32)>,
    /// Byte counts to declare instead of the blocks' lengths.
    pub counts: Option<Vec<u32>>,
    /// Offsets to declare instead of the blocks' positions.
    pub offsets: Option<Vec<u32>>,
    /// ImageDescription (270).
    pub description: Option<String>,
    /// More SHORT/LONG tags: (tag, type 3 or 4, values).
    pub extra: Vec<(u16, u16, Vec<u32>)>,
}

impl Page {
    /// A valid 8-bit grey page, one strip.
    pub fn gray8(w: u32, h: u32) -> Page {
        Page {
            width: w,
            height: h,
            bits: 8,
            compression: 1,
            blocks: vec![(0..w * h).map(|i| (i % 251) as u8).collect()],
            rows_per_strip: h,
            tile: None,
            counts: None,
            offsets: None,
            description: None,
            extra: Vec::new(),
        }
    }
}

/// How the chain of IFDs ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// The last IFD points at nothing (0).
    End,
    /// The last IFD points back at the first.
    LoopToFirst,
    /// The last IFD points at itself.
    SelfLoop,
    /// The last IFD points past the end of the file.
    PastEnd,
}

/// A little-endian classic TIFF with these pages.
pub fn tiff(pages: &[Page], chain: Chain) -> Vec<u8> {
    let mut b: Vec<u8> = b"II*\0\0\0\0\0".to_vec();
    let mut ifd_offsets = Vec::new();
    let mut next_slots = Vec::new();
    for page in pages {
        let mut offsets = Vec::new();
        for blk in &page.blocks {
            offsets.push(b.len() as u32);
            b.extend_from_slice(blk);
            if b.len() % 2 == 1 {
                b.push(0);
            }
        }
        let offsets = page.offsets.clone().unwrap_or(offsets);
        let counts = page
            .counts
            .clone()
            .unwrap_or_else(|| page.blocks.iter().map(|x| x.len() as u32).collect());
        let mut entries: Vec<(u16, u16, Vec<u8>, u32)> = Vec::new();
        let num = |entries: &mut Vec<(u16, u16, Vec<u8>, u32)>, tag: u16, ty: u16, vals: &[u32]| {
            let mut v = Vec::new();
            for x in vals {
                if ty == 3 {
                    v.extend_from_slice(&(*x as u16).to_le_bytes());
                } else {
                    v.extend_from_slice(&x.to_le_bytes());
                }
            }
            entries.retain(|e| e.0 != tag);
            entries.push((tag, ty, v, vals.len() as u32));
        };
        num(&mut entries, 256, 4, &[page.width]);
        num(&mut entries, 257, 4, &[page.height]);
        num(&mut entries, 258, 3, &[u32::from(page.bits)]);
        num(&mut entries, 259, 3, &[u32::from(page.compression)]);
        num(&mut entries, 262, 3, &[1]);
        num(&mut entries, 277, 3, &[1]);
        num(&mut entries, 284, 3, &[1]);
        num(&mut entries, 339, 3, &[1]);
        match page.tile {
            None => {
                num(&mut entries, 273, 4, &offsets);
                num(&mut entries, 278, 4, &[page.rows_per_strip]);
                num(&mut entries, 279, 4, &counts);
            }
            Some((tw, th)) => {
                num(&mut entries, 322, 4, &[tw]);
                num(&mut entries, 323, 4, &[th]);
                num(&mut entries, 324, 4, &offsets);
                num(&mut entries, 325, 4, &counts);
            }
        }
        for (tag, ty, vals) in &page.extra {
            num(&mut entries, *tag, *ty, vals);
        }
        if let Some(d) = &page.description {
            let mut v = d.as_bytes().to_vec();
            v.push(0);
            let n = v.len() as u32;
            entries.push((270, 2, v, n));
        }
        entries.sort_by_key(|e| e.0);
        // Values longer than 4 bytes go before the IFD.
        let mut placed = Vec::new();
        for (tag, ty, v, n) in &entries {
            if v.len() > 4 {
                let at = b.len() as u32;
                b.extend_from_slice(v);
                if b.len() % 2 == 1 {
                    b.push(0);
                }
                placed.push((*tag, *ty, *n, at.to_le_bytes().to_vec()));
            } else {
                let mut inline = v.clone();
                inline.resize(4, 0);
                placed.push((*tag, *ty, *n, inline));
            }
        }
        let at = b.len() as u32;
        ifd_offsets.push(at);
        b.extend_from_slice(&(placed.len() as u16).to_le_bytes());
        for (tag, ty, n, v) in placed {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
            b.extend_from_slice(&v);
        }
        next_slots.push(b.len());
        b.extend_from_slice(&[0; 4]);
    }
    b[4..8].copy_from_slice(&ifd_offsets[0].to_le_bytes());
    for (i, slot) in next_slots.iter().enumerate() {
        let next = if i + 1 < ifd_offsets.len() {
            ifd_offsets[i + 1]
        } else {
            match chain {
                Chain::End => 0,
                Chain::LoopToFirst => ifd_offsets[0],
                Chain::SelfLoop => ifd_offsets[i],
                Chain::PastEnd => b.len() as u32 + 4096,
            }
        };
        b[*slot..slot + 4].copy_from_slice(&next.to_le_bytes());
    }
    b
}

/// An OME-XML document for one image of 8-bit planes.
pub fn ome_xml(order: &str, x: u64, y: u64, z: u64, c: u64, t: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:6c3e5f3e-0000-4000-8000-000000000000">
  <Image ID="Image:0" Name="hostile">
    <Pixels ID="Pixels:0" DimensionOrder="{order}" Type="uint8" SizeX="{x}" SizeY="{y}" SizeZ="{z}" SizeC="{c}" SizeT="{t}" PhysicalSizeX="0.5" PhysicalSizeY="0.5">
      <Channel ID="Channel:0:0" SamplesPerPixel="1"/>
      <TiffData IFD="0" PlaneCount="{n}"/>
    </Pixels>
  </Image>
</OME>"#,
        n = z.saturating_mul(c).saturating_mul(t)
    )
}

// ---------------------------------------------------------------- PNG / JPEG

/// A valid 8-bit grey PNG.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let data: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&data, w, h, image::ExtendedColorType::L8)
        .unwrap();
    out
}

/// A PNG whose IHDR declares `w`×`h` (CRC fixed up), the data left as it was.
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut b = png(16, 16);
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A valid 8-bit grey baseline JPEG.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..w * h).map(|i| ((i * 7) % 251) as u8).collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&data, w, h, image::ExtendedColorType::L8)
        .unwrap();
    out
}

/// A JPEG whose SOF0 declares `w`×`h`, the scan left as it was.
pub fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut b = jpeg(16, 16);
    let sof = b.windows(2).position(|x| x == [0xFF, 0xC0]).expect("SOF0");
    b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    b
}

// ---------------------------------------------------------------- zip

/// One entry of a hand-written zip.
pub struct ZipEntry {
    /// Name as stored.
    pub name: String,
    /// Bytes (stored).
    pub data: Vec<u8>,
    /// Size to declare in the central directory instead (through a ZIP64 extra field).
    pub declared: Option<u64>,
}

/// A stored zip of these entries, with a JSON OME comment.
pub fn zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut b = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let off = b.len() as u32;
        let crc = crc32fast::hash(&e.data);
        let n = e.data.len() as u32;
        b.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        b.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(e.name.as_bytes());
        b.extend_from_slice(&e.data);
        let (size_field, extra) = match e.declared {
            Some(d) => {
                let mut x = vec![1, 0, 16, 0];
                x.extend_from_slice(&d.to_le_bytes());
                x.extend_from_slice(&d.to_le_bytes());
                (u32::MAX, x)
            }
            None => (n, Vec::new()),
        };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size_field.to_le_bytes());
        central.extend_from_slice(&size_field.to_le_bytes());
        central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&0o100644u32.wrapping_shl(16).to_le_bytes());
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_off = b.len() as u32;
    let cd_len = central.len() as u32;
    b.extend_from_slice(&central);
    let comment = br#"{"ome":{"version":"0.5"}}"#;
    b.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    b.extend_from_slice(&cd_len.to_le_bytes());
    b.extend_from_slice(&cd_off.to_le_bytes());
    b.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    b.extend_from_slice(comment);
    b
}

/// A zip entry with its real size.
pub fn entry(name: &str, data: &[u8]) -> ZipEntry {
    ZipEntry {
        name: name.into(),
        data: data.to_vec(),
        declared: None,
    }
}

// ---------------------------------------------------------------- JSON documents

/// `depth` nested arrays around `inner`.
pub fn nested_arrays(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects `{"a":…}` around `inner`.
pub fn nested_objects(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// Reads a JSON file.
pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// Writes a JSON file (pretty).
pub fn write_json(p: &Path, v: &serde_json::Value) {
    fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Applies `f` to a JSON file in place.
pub fn edit_json(p: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v = read_json(p);
    f(&mut v);
    write_json(p, &v);
}

/// The files under `dir` whose name is `name` (recursively, sorted).
pub fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find_named(&p, name));
        } else if e.file_name() == name {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The chunk files (not metadata) under an array folder, sorted.
pub fn chunk_files(array: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(array).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(chunk_files(&p));
        } else {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with('.') && n != "zarr.json" {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
