//! Point annotations in CSV/TSV: one row per point (profile: `formats/points/README.md`).
//!
//! Columns are found by header name, case-insensitively: `x`, `y`, optional `z` and `t`
//! (also `axis-0` … `axis-N` as napari writes them: the last is x, then y, z, t), a class
//! (`class`, `label`, `category`, `type` or `name`), an `id`, a `confidence` (or `score`).
//! Other columns become properties (numbers as numbers). Coordinates are pixel coordinates
//! of level 0; napari puts pixel centres on integers, so its files are shifted by half a
//! pixel onto mifa's corner convention (see [`Origin`]).

use crate::annotations::rle::MAX_COORDINATE;
use crate::annotations::shapes::{keys, Collection, Geometry, Object, ObjectId, Point};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Errors reading a points file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// A row or the header is unusable.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong, naming the column and value.
        message: String,
    },
}

/// Where the file puts a pixel's centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Decide from the header: napari's `axis-N` columns mean `Centre`, anything else `Corner`.
    #[default]
    Auto,
    /// Pixel `(x, y)` spans `[x, x+1)`: mifa's, QuPath's and COCO's convention; kept as is.
    Corner,
    /// Pixel centres on integers (napari, scikit-image): 0.5 is added to x and y.
    Centre,
}

/// The message for a quoted field that the file never closes.
#[doc(hidden)]
pub const UNCLOSED_QUOTE: &str = "a quoted field opens here and is never closed (a missing '\"')";

/// Reads a points file into a collection of Point objects.
pub fn read(path: &Path, origin: Origin) -> Result<Collection, Error> {
    read_located(path, origin).map(|(c, _)| c)
}

/// Like [`read`], with the 1-based line of each object, so that later checks can name it.
pub fn read_located(path: &Path, origin: Origin) -> Result<(Collection, Vec<u64>), Error> {
    let max = crate::input::TextLimits::current().max_table_bytes;
    let text = crate::input::read_text_capped(path, max, "a points table")?;
    parse_located(&text, path, origin)
}

/// Reads a points table from any byte source (a network object, a buffer), capped like a file;
/// `name` is what errors are named with.
pub fn read_from(
    source: impl std::io::Read,
    name: &Path,
    origin: Origin,
) -> Result<(Collection, Vec<u64>), Error> {
    let max = crate::input::TextLimits::current().max_table_bytes;
    let text = crate::input::read_text_capped_from(source, name, max, "a points table")?;
    parse_located(&text, name, origin)
}

fn parse_located(text: &str, path: &Path, origin: Origin) -> Result<(Collection, Vec<u64>), Error> {
    let bad = |line: u64, message: String| Error::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.contains('\t') { b'\t' } else { b',' };
    if let Some(line) = crate::input::unterminated_quote(text, delimiter) {
        return Err(bad(line as u64, UNCLOSED_QUOTE.into()));
    }
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let mut napari: Vec<(usize, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((h.strip_prefix("axis-")?.parse().ok()?, i)))
        .collect();
    napari.sort();
    let axis = |k: usize| napari.len().checked_sub(k + 1).map(|j| napari[j].1);
    let (x, y, z, t) = if napari.len() >= 2 {
        (axis(0), axis(1), axis(2), axis(3))
    } else {
        (
            find(&["x"]),
            find(&["y"]),
            find(&["z"]),
            find(&["t", "time", "frame"]),
        )
    };
    let (Some(x), Some(y)) = (x, y) else {
        return Err(bad(
            1,
            format!(
                "no x and y columns (header: {}); name them x, y (or axis-0, axis-1 as napari does)",
                header.join(", ")
            ),
        ));
    };
    let shift = match origin {
        Origin::Centre => 0.5,
        Origin::Corner => 0.0,
        Origin::Auto if napari.len() >= 2 => 0.5,
        Origin::Auto => 0.0,
    };
    let class = find(&[
        "class",
        "label",
        "category",
        "type",
        "name",
        "classification",
    ]);
    let id = find(&["id", "point_id"]);
    let confidence = find(&["confidence", "score", "probability"]);
    let used: Vec<usize> = [Some(x), Some(y), z, t, class, id, confidence]
        .into_iter()
        .flatten()
        .chain(
            header
                .iter()
                .position(|h| h == "index" && napari.len() >= 2),
        )
        .collect();
    let mut c = Collection::default();
    let mut lines = Vec::new();
    for (row, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(row as u64 + 2, e.to_string()))?;
        let line = rec.position().map_or(row as u64 + 2, |p| p.line());
        let num = |col: usize| -> Result<f64, Error> {
            let v = rec.get(col).unwrap_or("");
            let n: f64 = v.parse().map_err(|_| {
                bad(
                    line,
                    format!("column {:?} is {v:?}, not a number", header[col]),
                )
            })?;
            if !n.is_finite() || n.abs() > MAX_COORDINATE {
                return Err(bad(
                    line,
                    format!("column {:?} is {v}, outside ±{MAX_COORDINATE}", header[col]),
                ));
            }
            Ok(n)
        };
        let p = Point {
            x: num(x)? + shift,
            y: num(y)? + shift,
            z: z.filter(|&c| !rec.get(c).unwrap_or("").is_empty())
                .map(num)
                .transpose()?,
        };
        let mut o = Object::new(Geometry::Point(p));
        // A missing id is left to the importer, which numbers objects after the largest; a
        // file without an id column is numbered by row.
        o.id = match id {
            Some(i) => rec.get(i).filter(|s| !s.is_empty()).map(|s| {
                s.parse::<i64>()
                    .map(ObjectId::Int)
                    .unwrap_or_else(|_| ObjectId::Str(s.to_string()))
            }),
            None => Some(ObjectId::Int(row as i64 + 1)),
        };
        if let Some(name) = class.and_then(|i| rec.get(i)).filter(|s| !s.is_empty()) {
            o.set_class(name, None);
        }
        let given = |col: &Option<usize>| col.filter(|&c| !rec.get(c).unwrap_or("").is_empty());
        if let Some(col) = given(&t) {
            o.properties.insert(keys::T.into(), Value::from(num(col)?));
        }
        if let Some(col) = given(&confidence) {
            o.properties
                .insert(keys::CONFIDENCE.into(), Value::from(num(col)?));
        }
        for (i, v) in rec.iter().enumerate() {
            if used.contains(&i) || v.is_empty() {
                continue;
            }
            let value = match v.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::from(n),
                _ => Value::from(v),
            };
            o.properties.insert(header[i].clone(), value);
        }
        c.objects.push(o);
        lines.push(line);
    }
    Ok((c, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(name: &str, text: &str, origin: Origin) -> Result<Collection, Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let from_file = read(&p, origin);
        let from_bytes = read_from(text.as_bytes(), &p, origin).map(|(c, _)| c);
        match (&from_file, &from_bytes) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        }
        from_file
    }

    #[test]
    fn plain_and_napari_layouts() {
        let c = read_str(
            "p.csv",
            "X,Y,Class,area\n10,20,mitosis,5.5\n1.5,2,,x\n",
            Origin::Auto,
        )
        .unwrap();
        assert_eq!(c.objects.len(), 2);
        assert_eq!(
            c.objects[0].geometry,
            Geometry::Point(Point::xy(10.0, 20.0))
        );
        assert_eq!(c.objects[0].class(), Some("mitosis"));
        assert_eq!(c.objects[0].properties["area"], 5.5);
        assert_eq!(c.objects[1].class(), None);
        assert_eq!(c.objects[1].properties["area"], "x");
        let n = read_str(
            "n.csv",
            "index,axis-0,axis-1,axis-2\n0,3,10,20\n",
            Origin::Auto,
        )
        .unwrap();
        assert_eq!(
            n.objects[0].geometry,
            Geometry::Point(Point {
                x: 20.5,
                y: 10.5,
                z: Some(3.0)
            })
        );
        assert!(!n.objects[0].properties.contains_key("index"));
        let t = read_str("t.tsv", "x\ty\tt\n1\t2\t4\n", Origin::Centre).unwrap();
        assert_eq!(t.objects[0].properties["t"], 4.0);
        assert_eq!(t.objects[0].geometry, Geometry::Point(Point::xy(1.5, 2.5)));
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let e = read_str("b.csv", "x,y\n1,2\n3,abc\n", Origin::Auto)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("b.csv:3: column \"y\" is \"abc\", not a number"),
            "{e}"
        );
        let e = read_str("h.csv", "a,b\n1,2\n", Origin::Auto)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no x and y columns (header: a, b)"), "{e}");
        let e = read_str("i.csv", "x,y\n1,inf\n", Origin::Auto)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
    }

    #[test]
    fn devices_are_refused() {
        let e = read(Path::new("/dev/zero"), Origin::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
    }
}
