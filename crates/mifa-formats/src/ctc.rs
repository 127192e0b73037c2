//! Cell Tracking Challenge folders: `man_track.txt` / `res_track.txt` (`L B E P` per line) and
//! one label TIFF per frame (`man_track000.tif`, `mask000.tif`, … any digit count).
//!
//! Writing turns a graph into CTC tracks: each tracklet, cut at links that skip frames, is
//! one label; a division's daughters and a gap's continuation name it as parent. CTC has one
//! parent per track, so at a merge only the earliest-id parent is kept (the lost links are
//! counted in [`Written`]). Labels are kept when every object of a track already carries the
//! same, distinct mask value (a CTC round trip keeps its numbering); otherwise tracks are
//! numbered from 1 and masks relabelled.
//! Objects are the labels of each frame, at their mask centroid (pixel centres on integers); links join a label to itself in the next frame, and a track's
//! last object to the first objects of its children.

use crate::annotations::tracks::{Edge, Node, TrackGraph, TrackSet};
use crate::raster::PixelData;
use crate::raster::Plane;
use crate::{tiff::TiffSource, Limits, PlaneSource};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Errors reading a CTC folder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// A file cannot be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of the tracks file is unusable.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The tracks file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The folder breaks a CTC rule.
    #[error("{path}: {message}")]
    Invalid {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong, naming labels and frames.
        message: String,
    },
    /// A mask cannot be decoded.
    #[error(transparent)]
    Image(#[from] crate::Error),
}

/// One line of a tracks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    /// Label, the pixel value in the masks.
    pub label: u64,
    /// First frame.
    pub begin: u64,
    /// Last frame (inclusive).
    pub end: u64,
    /// Parent label, 0 for none.
    pub parent: u64,
}

/// Parses a tracks file, checking each line and the rules between lines: unique labels,
/// `B ≤ E`, parents that exist and end before their children begin.
pub fn read_tracks(path: &Path) -> Result<Vec<Track>, Error> {
    let max = crate::input::TextLimits::current().max_table_bytes;
    let text = crate::input::read_text_capped(path, max, "a CTC tracks file")?;
    let bad = |line: usize, message: String| Error::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut tracks = Vec::new();
    let mut at: HashMap<u64, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 4 {
            return Err(bad(
                i + 1,
                format!(
                    "{} columns ({line:?}); a CTC track line is \"L B E P\"",
                    fields.len()
                ),
            ));
        }
        let n: Vec<u64> = fields
            .iter()
            .zip(["L", "B", "E", "P"])
            .map(|(f, name)| {
                f.parse::<u64>()
                    .map_err(|_| bad(i + 1, format!("{name} is {f:?}, not a whole number ≥ 0")))
            })
            .collect::<Result<_, _>>()?;
        let t = Track {
            label: n[0],
            begin: n[1],
            end: n[2],
            parent: n[3],
        };
        if t.label == 0 {
            return Err(bad(i + 1, "label 0 is the background".into()));
        }
        if i64::try_from(t.end).is_err() {
            return Err(bad(
                i + 1,
                format!(
                    "track {} ends at frame {}, beyond any image",
                    t.label, t.end
                ),
            ));
        }
        if t.end < t.begin {
            return Err(bad(
                i + 1,
                format!(
                    "track {} ends (frame {}) before it begins (frame {})",
                    t.label, t.end, t.begin
                ),
            ));
        }
        if let Some(j) = at.insert(t.label, i + 1) {
            return Err(bad(
                i + 1,
                format!("label {} is already on line {j}", t.label),
            ));
        }
        tracks.push(t);
    }
    let by_label: HashMap<u64, Track> = tracks.iter().map(|t| (t.label, *t)).collect();
    for t in &tracks {
        if t.parent == 0 {
            continue;
        }
        let line = at[&t.label];
        match by_label.get(&t.parent) {
            None => return Err(bad(line, format!("track {} has parent {}, which is not a track", t.label, t.parent))),
            Some(p) if p.end >= t.begin => {
                return Err(bad(
                    line,
                    format!(
                        "track {} begins at frame {} but its parent {} ends at frame {}; a parent must end first",
                        t.label, t.begin, p.label, p.end
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(tracks)
}

/// The frame number in a mask file name: the last run of digits (`man_track000012.tif` → 12).
fn frame_number(p: &Path) -> Option<u64> {
    let stem = p.file_stem()?.to_str()?;
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// A frame's number, size `(height, width)`, and per label the sums of x, of y and the pixel
/// count.
type FrameLabels = (u64, (usize, usize), BTreeMap<u64, (f64, f64, u64)>);

/// A CTC folder read.
#[derive(Debug, Clone)]
pub struct Folder {
    /// The tracks file.
    pub tracks_file: PathBuf,
    /// Its lines.
    pub tracks: Vec<Track>,
    /// Mask files by frame.
    pub frames: BTreeMap<u64, PathBuf>,
    /// Mask size `(height, width)`.
    pub size: (usize, usize),
    /// Objects and links.
    pub graph: TrackGraph,
}

/// Reads a CTC folder (the one holding the tracks file, or its parent with a `TRA` folder).
pub fn read(dir: &Path) -> Result<Folder, Error> {
    let dir = if dir.join("TRA").is_dir() {
        dir.join("TRA")
    } else {
        dir.to_path_buf()
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut txt = None;
    let mut frames = BTreeMap::new();
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let p = e.map_err(io(&dir))?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if name == "man_track.txt" || name == "res_track.txt" {
            txt = Some(p);
        } else if name.ends_with(".tif") || name.ends_with(".tiff") {
            let Some(t) = frame_number(&p) else {
                return Err(Error::Invalid {
                    path: p,
                    message: "a TIFF without a frame number in its name".into(),
                });
            };
            if let Some(other) = frames.insert(t, p.clone()) {
                return Err(Error::Invalid {
                    path: p,
                    message: format!("frame {t} is also {}", other.display()),
                });
            }
        }
    }
    let txt = txt.ok_or_else(|| Error::Invalid {
        path: dir.clone(),
        message: "no man_track.txt or res_track.txt".into(),
    })?;
    let tracks = read_tracks(&txt)?;
    let last = tracks.iter().map(|t| t.end).max().unwrap_or(0);
    for t in 0..=last {
        if !frames.contains_key(&t) && tracks.iter().any(|k| k.begin <= t && t <= k.end) {
            return Err(Error::Invalid {
                path: dir.clone(),
                message: format!("frame {t} has tracks but no mask file"),
            });
        }
    }
    // Centroids of every label of every frame (pixel sums per label), in parallel.
    let per_frame: Vec<FrameLabels> = frames
        .par_iter()
        .map(|(&t, p)| -> Result<_, Error> {
            let mut src = TiffSource::open(p, &Limits::default())?;
            if src.meta().planes() != 1 {
                return Err(Error::Invalid {
                    path: p.clone(),
                    message: format!(
                        "a mask of {} planes ({}); 3D CTC folders are not supported yet",
                        src.meta().planes(),
                        src.meta().axes_string()
                    ),
                });
            }
            let plane = src.read_plane(0)?;
            let (h, w) = (plane.height, plane.width);
            let mut sums: BTreeMap<u64, (f64, f64, u64)> = BTreeMap::new();
            // Objects are runs along rows: add one run at a time (sum of x over a run is
            // arithmetic), so the map is touched once per run, not per pixel.
            fn runs<T: Copy + PartialEq + Into<u64>>(
                d: &[T],
                w: usize,
                sums: &mut BTreeMap<u64, (f64, f64, u64)>,
            ) {
                for (y, row) in d.chunks_exact(w.max(1)).enumerate() {
                    let mut x0 = 0;
                    while x0 < row.len() {
                        let v = row[x0];
                        let mut x1 = x0 + 1;
                        while x1 < row.len() && row[x1] == v {
                            x1 += 1;
                        }
                        let label: u64 = v.into();
                        if label != 0 {
                            let n = (x1 - x0) as f64;
                            let e = sums.entry(label).or_insert((0.0, 0.0, 0));
                            e.0 += (x0 + x1 - 1) as f64 * n / 2.0;
                            e.1 += y as f64 * n;
                            e.2 += (x1 - x0) as u64;
                        }
                        x0 = x1;
                    }
                }
            }
            match &plane.data {
                PixelData::U8(d) => runs(d, w, &mut sums),
                PixelData::U16(d) => runs(d, w, &mut sums),
                PixelData::U32(d) => runs(d, w, &mut sums),
                other => {
                    return Err(Error::Invalid {
                        path: p.clone(),
                        message: format!(
                            "a {:?} mask; CTC masks hold unsigned integer labels",
                            other.dtype()
                        ),
                    })
                }
            }
            Ok((t, (h, w), sums))
        })
        .collect::<Result<_, _>>()?;
    let size = per_frame.first().map_or((0, 0), |f| f.1);
    if let Some((t, s, _)) = per_frame.iter().find(|f| f.1 != size) {
        return Err(Error::Invalid {
            path: frames[t].clone(),
            message: format!(
                "frame {t} is {}×{}, frame 0 is {}×{}",
                s.1, s.0, size.1, size.0
            ),
        });
    }
    let by_label: HashMap<u64, Track> = tracks.iter().map(|t| (t.label, *t)).collect();
    let mut graph = TrackGraph::default();
    let mut ids: HashMap<(u64, u64), u64> = HashMap::new();
    for (t, _, sums) in &per_frame {
        for (&label, &(sx, sy, n)) in sums {
            match by_label.get(&label) {
                Some(k) if k.begin <= *t && *t <= k.end => {}
                _ => {
                    return Err(Error::Invalid {
                        path: frames[t].clone(),
                        message: format!(
                            "label {label} is in frame {t}, outside its track in {}",
                            txt.display()
                        ),
                    })
                }
            }
            let id = graph.nodes.len() as u64 + 1;
            ids.insert((label, *t), id);
            graph.nodes.push(Node {
                id,
                t: *t as i64,
                // Mean pixel index: centres on integers, as skimage's regionprops.
                x: sx / n as f64,
                y: sy / n as f64,
                z: None,
                label: Some(label),
                props: serde_json::Map::new(),
            });
        }
    }
    for k in &tracks {
        for t in k.begin..=k.end {
            if !ids.contains_key(&(k.label, t)) {
                return Err(Error::Invalid {
                    path: frames.get(&t).cloned().unwrap_or_else(|| dir.clone()),
                    message: format!(
                        "track {} spans frames {}..{} but is missing from frame {t}",
                        k.label, k.begin, k.end
                    ),
                });
            }
            if t > k.begin {
                graph.edges.push(Edge {
                    source: ids[&(k.label, t - 1)],
                    target: ids[&(k.label, t)],
                });
            }
        }
        if k.parent != 0 {
            let p = by_label[&k.parent];
            graph.edges.push(Edge {
                source: ids[&(p.label, p.end)],
                target: ids[&(k.label, k.begin)],
            });
        }
    }
    Ok(Folder {
        tracks_file: txt,
        tracks,
        frames,
        size,
        graph,
    })
}

/// Which CTC layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Results: `res_track.txt`, `maskTTT.tif`.
    #[default]
    Res,
    /// Ground truth (`TRA` folder): `man_track.txt`, `man_trackTTT.tif`.
    Gt,
}

/// What a CTC export wrote and what CTC could not hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Written {
    /// Track lines.
    pub tracks: Vec<Track>,
    /// Frames written.
    pub frames: usize,
    /// Links dropped at merges (CTC allows one parent).
    pub merge_links_dropped: usize,
    /// Mask pixels set to background because no object of the frame carries their value.
    pub pixels_cleared: u64,
    /// Whether labels were renumbered (the objects' mask values were not usable as CTC labels).
    pub relabelled: bool,
}

/// CTC tracks of a graph: each object's track label, the track lines, links dropped at
/// merges, and whether labels were renumbered.
pub type CtcTracks = (HashMap<u64, u64>, Vec<Track>, usize, bool);

/// CTC tracks of a graph (see [`CtcTracks`]).
pub fn tracks_of(set: &TrackSet) -> Result<CtcTracks, String> {
    let g = &set.graph;
    let at = g.index();
    let (_, prev) = g.adjacency();
    // Tracklets cut where a link skips frames.
    let mut segments: Vec<Vec<u64>> = Vec::new();
    for path in g.tracklets() {
        let mut cur = vec![path[0]];
        for w in path.windows(2) {
            if g.nodes[at[&w[1]]].t - g.nodes[at[&w[0]]].t > 1 {
                segments.push(std::mem::take(&mut cur));
            }
            cur.push(w[1]);
        }
        segments.push(cur);
    }
    let keep = {
        let mut seen = std::collections::HashSet::new();
        segments.iter().all(|s| {
            let l = g.nodes[at[&s[0]]].label;
            l.is_some_and(|l| l > 0 && l <= u64::from(u32::MAX))
                && s.iter().all(|id| g.nodes[at[id]].label == l)
                && seen.insert(l)
        })
    };
    let mut track_of: HashMap<u64, u64> = HashMap::new();
    let mut lines = Vec::new();
    for (k, s) in segments.iter().enumerate() {
        let label = if keep {
            g.nodes[at[&s[0]]].label.expect("checked")
        } else {
            k as u64 + 1
        };
        for id in s {
            track_of.insert(*id, label);
        }
        lines.push(Track {
            label,
            begin: g.nodes[at[&s[0]]].t as u64,
            end: g.nodes[at[s.last().expect("non-empty")]].t as u64,
            parent: 0,
        });
    }
    if let Some(n) = g.nodes.iter().find(|n| n.t < 0) {
        return Err(format!(
            "object {} is at frame {}; CTC frames start at 0",
            n.id, n.t
        ));
    }
    let mut dropped = 0;
    for (k, s) in segments.iter().enumerate() {
        let first = at[&s[0]];
        let mut parents: Vec<u64> = prev[first].iter().map(|&i| g.nodes[i].id).collect();
        parents.sort_unstable();
        if let Some(p) = parents.first() {
            lines[k].parent = track_of[p];
            dropped += parents.len() - 1;
        }
    }
    lines.sort_by_key(|t| t.label);
    Ok((track_of, lines, dropped, !keep))
}

/// Writes a CTC folder into `dir`: the tracks file and one label TIFF per frame from 0 to
/// the last. `mask(t)` gives the label plane of frame `t`, whose values the objects' `label`
/// refer to; every object needs one. Frames are converted on every core.
pub fn write(
    dir: &Path,
    set: &TrackSet,
    layout: Layout,
    mask: &(dyn Fn(i64) -> Result<Plane, Error> + Sync),
) -> Result<Written, Error> {
    let invalid = |message: String| Error::Invalid {
        path: dir.to_path_buf(),
        message,
    };
    let g = &set.graph;
    if g.nodes.is_empty() {
        return Err(invalid(
            "no objects: a CTC folder needs at least one track".into(),
        ));
    }
    if let Some(n) = g.nodes.iter().find(|n| n.label.is_none()) {
        return Err(invalid(format!(
            "object {} (frame {}) has no mask value; CTC tracks are label masks, so every object needs one",
            n.id, n.t
        )));
    }
    if let Some(n) = g.nodes.iter().find(|n| n.z.is_some()) {
        return Err(invalid(format!(
            "object {} is 3D; this CTC writer writes 2D masks only",
            n.id
        )));
    }
    let (track_of, lines, dropped, relabelled) = tracks_of(set).map_err(invalid)?;
    let last = g.nodes.iter().map(|n| n.t).max().unwrap_or(0);
    let digits = if last >= 1000 { 4 } else { 3 };
    let (txt, prefix) = match layout {
        Layout::Res => ("res_track.txt", "mask"),
        Layout::Gt => ("man_track.txt", "man_track"),
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // Per frame: mask value → track label.
    let mut per_frame: BTreeMap<i64, HashMap<u64, u64>> = BTreeMap::new();
    for n in &g.nodes {
        per_frame
            .entry(n.t)
            .or_default()
            .insert(n.label.expect("checked"), track_of[&n.id]);
    }
    let wide = lines.iter().any(|t| t.label > u64::from(u16::MAX));
    let cleared: u64 = (0..=last)
        .into_par_iter()
        .map(|t| -> Result<u64, Error> {
            let empty = HashMap::new();
            let map = per_frame.get(&t).unwrap_or(&empty);
            let plane = mask(t)?;
            let (w, h) = (plane.width as u32, plane.height as u32);
            let mut cleared = 0u64;
            let mut out: Vec<u32> = Vec::with_capacity(plane.width * plane.height);
            let mut last_v = (u64::MAX, 0u32);
            let mut put = |v: u64| {
                if v == 0 {
                    out.push(0);
                    return;
                }
                if last_v.0 != v {
                    last_v = (v, map.get(&v).map_or(0, |&l| l as u32));
                }
                if last_v.1 == 0 {
                    cleared += 1;
                }
                out.push(last_v.1);
            };
            match &plane.data {
                PixelData::U8(d) => d.iter().for_each(|&v| put(u64::from(v))),
                PixelData::U16(d) => d.iter().for_each(|&v| put(u64::from(v))),
                PixelData::U32(d) => d.iter().for_each(|&v| put(u64::from(v))),
                PixelData::U64(d) => d.iter().for_each(|&v| put(v)),
                PixelData::I32(d) => d.iter().for_each(|&v| put(v.max(0) as u64)),
                PixelData::I64(d) => d.iter().for_each(|&v| put(v.max(0) as u64)),
                other => {
                    return Err(Error::Invalid {
                        path: dir.to_path_buf(),
                        message: format!(
                            "frame {t}: a {:?} mask; labels are integers",
                            other.dtype()
                        ),
                    })
                }
            }
            let path = dir.join(format!("{prefix}{t:0digits$}.tif"));
            let ioe = |source: std::io::Error| Error::Io {
                path: path.clone(),
                source,
            };
            let te = |e: tiff::TiffError| Error::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            };
            let file = std::fs::File::create(&path).map_err(ioe)?;
            let mut buf = std::io::BufWriter::new(file);
            let enc = tiff::encoder::TiffEncoder::new(&mut buf)
                .map_err(te)?
                .with_compression(tiff::encoder::Compression::Deflate(
                    tiff::encoder::DeflateLevel::Fast,
                ));
            let mut enc = enc;
            if wide {
                enc.write_image::<tiff::encoder::colortype::Gray32>(w, h, &out)
                    .map_err(te)?;
            } else {
                let o16: Vec<u16> = out.iter().map(|&v| v as u16).collect();
                enc.write_image::<tiff::encoder::colortype::Gray16>(w, h, &o16)
                    .map_err(te)?;
            }
            let f = buf.into_inner().map_err(|e| ioe(e.into_error()))?;
            f.sync_all().map_err(ioe)?;
            Ok(cleared)
        })
        .collect::<Result<Vec<u64>, Error>>()?
        .into_iter()
        .sum();
    let mut text = String::new();
    for t in &lines {
        text.push_str(&format!("{} {} {} {}\n", t.label, t.begin, t.end, t.parent));
    }
    let p = dir.join(txt);
    std::fs::write(&p, text).map_err(|source| Error::Io { path: p, source })?;
    Ok(Written {
        tracks: lines,
        frames: (last + 1) as usize,
        merge_links_dropped: dropped,
        pixels_cleared: cleared,
        relabelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(text: &str) -> Result<Vec<Track>, Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("man_track.txt");
        std::fs::write(&p, text).unwrap();
        read_tracks(&p)
    }

    #[test]
    fn tracks_file_rules() {
        assert_eq!(txt("1 0 1 0\n2 2 2 1\n3 2 2 1\n").unwrap().len(), 3);
        let e = |t: &str| txt(t).unwrap_err().to_string();
        assert!(
            e("1 0 1 0\n2 2 2\n")
                .ends_with(":2: 3 columns (\"2 2 2\"); a CTC track line is \"L B E P\""),
            "{}",
            e("1 0 1 0\n2 2 2\n")
        );
        assert!(e("1 0 1 0\n1 2 2 0\n").contains(":2: label 1 is already on line 1"));
        assert!(e("1 0 3 0\n2 2 4 1\n")
            .contains(":2: track 2 begins at frame 2 but its parent 1 ends at frame 3"));
        assert!(e("2 2 4 7\n").contains(":1: track 2 has parent 7, which is not a track"));
        assert!(e("1 3 2 0\n").contains("ends (frame 2) before it begins (frame 3)"));
        assert!(e("1 x 2 0\n").contains("B is \"x\""));
    }

    #[test]
    fn frame_numbers_from_names() {
        for (name, n) in [
            ("man_track000012.tif", 12),
            ("mask000.tif", 0),
            ("man_track0052.tif", 52),
            ("t7.tiff", 7),
        ] {
            assert_eq!(frame_number(Path::new(name)), Some(n), "{name}");
        }
        assert_eq!(frame_number(Path::new("mask.tif")), None);
    }

    #[test]
    fn frames_beyond_i64_and_devices_are_refused() {
        let e = txt("1 0 9223372036854775808 0\n").unwrap_err().to_string();
        assert!(
            e.ends_with(":1: track 1 ends at frame 9223372036854775808, beyond any image"),
            "{e}"
        );
        let e = read_tracks(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
    }
}
