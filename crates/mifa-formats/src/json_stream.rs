//! Reading big JSON documents without building a DOM.
//!
//! COCO collections and QuPath exports run to gigabytes, nearly all of it in one array. The
//! stream walks the top level itself, cuts the big array into elements with a byte scanner
//! (strings and nesting only, no parsing), and hands batches of elements to `serde_json`,
//! parsed in parallel from the read buffer. Memory stays at one buffer (a few MB, more only
//! for a single element larger than that) plus what the caller keeps.

use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::Path;

/// A JSON syntax or type error at a byte offset of the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The consumer of the elements stopped, with this message.
    #[error("{0}")]
    Stopped(String),
    /// The document is not what was expected here.
    #[error("{message}")]
    Syntax {
        /// Byte offset in the file.
        offset: u64,
        /// What was wrong.
        message: String,
    },
}

impl StreamError {
    /// The byte offset, for syntax errors.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> Option<u64> {
        match self {
            StreamError::Io(_) | StreamError::Stopped(_) => None,
            StreamError::Syntax { offset, .. } => Some(*offset),
        }
    }
}

/// 1-based line and column of byte `offset` in `path` (read again: only errors need it).
pub(crate) fn line_col(path: &Path, offset: u64) -> (usize, usize) {
    let Ok(bytes) = std::fs::read(path) else {
        return (0, 0);
    };
    let end = (offset as usize).min(bytes.len());
    let before = &bytes[..end];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = end
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// Byte offset, inside `slice`, of a `serde_json` error's 1-based line and column.
fn offset_in(slice: &[u8], e: &serde_json::Error) -> usize {
    let mut line = 1;
    let mut start = 0;
    if e.line() > 1 {
        for (i, &b) in slice.iter().enumerate() {
            if b == b'\n' {
                line += 1;
                start = i + 1;
                if line == e.line() {
                    break;
                }
            }
        }
    }
    (start + e.column().saturating_sub(1)).min(slice.len())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Unknown,
    Container,
    Str,
    Scalar,
}

/// Finds where one JSON value ends, fed in pieces.
#[derive(Clone, Copy)]
struct Scanner {
    kind: Kind,
    depth: u32,
    in_str: bool,
    escape: bool,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            kind: Kind::Unknown,
            depth: 0,
            in_str: false,
            escape: false,
        }
    }

    /// Feeds the next bytes of the value; returns the end (exclusive) once it is complete.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.kind {
                Kind::Unknown => match b {
                    b'{' | b'[' => {
                        self.kind = Kind::Container;
                        self.depth = 1;
                    }
                    b'"' => self.kind = Kind::Str,
                    _ => self.kind = Kind::Scalar,
                },
                Kind::Str => {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        return Some(i + 1);
                    }
                }
                Kind::Scalar => {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t') {
                        return Some(i);
                    }
                }
                Kind::Container => {
                    // Most bytes of a big array are digits and separators: jump over them
                    // eight at a time (not right after a backslash: that byte is escaped).
                    while !self.escape && i + 8 <= bytes.len() && !special8(&bytes[i..i + 8]) {
                        i += 8;
                    }
                    let &b = bytes.get(i)?;
                    if self.in_str {
                        if self.escape {
                            self.escape = false;
                        } else if b == b'\\' {
                            self.escape = true;
                        } else if b == b'"' {
                            self.in_str = false;
                        }
                    } else {
                        match b {
                            b'"' => self.in_str = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    return Some(i + 1);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            i += 1;
        }
        None
    }
}

/// Whether any of 8 bytes is `"`, `\\`, `{`, `}`, `[` or `]` (SWAR: setting bit 5 maps `[\\]`
/// onto `{|}`, then a zero-byte test per target).
#[inline]
fn special8(chunk: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let folded = word | (0x20 * ONES);
    has_zero(folded ^ (0x7B * ONES))
        || has_zero(folded ^ (0x7C * ONES))
        || has_zero(folded ^ (0x7D * ONES))
        || has_zero(word ^ (0x22 * ONES))
}

const BUFFER: usize = 8 << 20;
/// Bytes of elements parsed together (in parallel).
const BATCH: usize = 1 << 20;

/// A forward-only JSON reader over the top level of a document.
pub(crate) struct JsonStream<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> JsonStream<R> {
    #[cfg(test)]
    pub(crate) fn new(reader: R) -> Self {
        Self::with_size_hint(reader, BUFFER as u64)
    }

    /// A stream whose buffer starts at the document's size when that is below the usual 8 MB
    /// (many small files should not each zero a big buffer).
    pub(crate) fn with_size_hint(reader: R, size: u64) -> Self {
        let n = usize::try_from(size).unwrap_or(BUFFER).clamp(64, BUFFER);
        JsonStream {
            reader,
            buf: vec![0; n],
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn syntax(&self, message: impl Into<String>) -> StreamError {
        StreamError::Syntax {
            offset: self.offset(),
            message: message.into(),
        }
    }

    /// Moves the unread bytes to the front, grows the buffer if it is full, and reads more.
    /// Returns false at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.base += self.pos as u64;
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        let before = self.len;
        while self.len < self.buf.len() {
            let n = match self.reader.read(&mut self.buf[self.len..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                break;
            }
            self.len += n;
        }
        Ok(self.len > before)
    }

    /// The next byte that is not whitespace (a UTF-8 byte-order mark at the start counts as
    /// whitespace), without consuming it; `None` at the end.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, StreamError> {
        loop {
            while self.pos < self.len {
                let b = self.buf[self.pos];
                if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    self.pos += 1;
                } else if self.offset() == 0 && b == 0xEF {
                    if self.len < 3 && self.fill()? {
                        continue;
                    }
                    if self.buf[..3] == [0xEF, 0xBB, 0xBF] {
                        self.pos = 3;
                    } else {
                        return Ok(Some(b));
                    }
                } else {
                    return Ok(Some(b));
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Fails if anything but whitespace follows the document.
    pub(crate) fn expect_end(&mut self) -> Result<(), StreamError> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.syntax(
                "unexpected data after the end of the document (one JSON document per file)",
            )),
        }
    }

    /// Consumes `b` (after whitespace) or fails naming what was expected.
    pub(crate) fn expect(&mut self, b: u8, what: &str) -> Result<(), StreamError> {
        match self.peek()? {
            Some(c) if c == b => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => Err(self.syntax(format!("expected {what}, found {:?}", char::from(c)))),
            None => Err(self.syntax(format!("expected {what}, found the end of the file"))),
        }
    }

    /// The extent of the next complete value in the buffer, reading (and growing) as needed.
    fn extent(&mut self) -> Result<std::ops::Range<usize>, StreamError> {
        if self.peek()?.is_none() {
            return Err(self.syntax("expected a value, found the end of the file"));
        }
        let mut scanner = Scanner::new();
        let mut scanned = self.pos;
        loop {
            if let Some(end) = scanner.feed(&self.buf[scanned..self.len]) {
                return Ok(self.pos..scanned + end);
            }
            let consumed = scanned - self.pos;
            let had = self.len - self.pos;
            if !self.fill()? {
                if scanner.kind == Kind::Scalar {
                    return Ok(self.pos..self.len);
                }
                return Err(self.syntax("the file ends inside this value"));
            }
            scanned = self.pos + consumed.max(had);
        }
    }

    /// Parses the next value.
    pub(crate) fn value<T: DeserializeOwned>(&mut self) -> Result<T, StreamError> {
        let r = self.extent()?;
        let start = self.base + r.start as u64;
        let slice = &self.buf[r.clone()];
        let v = serde_json::from_slice(slice).map_err(|e| StreamError::Syntax {
            offset: start + offset_in(slice, &e) as u64,
            message: strip_position(&e),
        })?;
        self.pos = r.end;
        Ok(v)
    }

    /// Skips the next value without keeping it in memory; for an array, returns its length.
    pub(crate) fn skip(&mut self) -> Result<usize, StreamError> {
        if self.peek()? == Some(b'[') {
            let mut n = 0;
            self.elements(|s| {
                s.skip_one()?;
                n += 1;
                Ok(())
            })?;
            return Ok(n);
        }
        self.skip_one()?;
        Ok(0)
    }

    fn skip_one(&mut self) -> Result<(), StreamError> {
        if self.peek()?.is_none() {
            return Err(self.syntax("expected a value, found the end of the file"));
        }
        let mut scanner = Scanner::new();
        loop {
            if let Some(end) = scanner.feed(&self.buf[self.pos..self.len]) {
                self.pos += end;
                return Ok(());
            }
            // Nothing of a skipped value needs keeping.
            self.pos = self.len;
            if !self.fill()? {
                if scanner.kind == Kind::Scalar {
                    return Ok(());
                }
                return Err(self.syntax("the file ends inside this value"));
            }
        }
    }

    /// Walks an object's members: `member(stream, key)` must consume the value.
    pub(crate) fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), StreamError>,
    ) -> Result<(), StreamError> {
        self.expect(b'{', "'{'")?;
        let mut first = true;
        loop {
            match self.peek()? {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b',') if !first => self.pos += 1,
                _ if !first => return Err(self.syntax("expected ',' or '}' after a member")),
                _ => {}
            }
            first = false;
            if self.peek()? != Some(b'"') {
                return Err(self.syntax("expected a member name in double quotes"));
            }
            let key: String = self.value()?;
            self.expect(b':', "':' after a member name")?;
            member(self, key)?;
        }
    }

    /// Walks an array: `element(stream)` must consume each element.
    pub(crate) fn elements(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), StreamError>,
    ) -> Result<(), StreamError> {
        self.expect(b'[', "'['")?;
        let mut first = true;
        loop {
            match self.peek()? {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b',') if !first => self.pos += 1,
                _ if !first => return Err(self.syntax("expected ',' or ']' after an element")),
                _ => {}
            }
            first = false;
            element(self)?;
        }
    }

    /// Parses an array's elements with `parse`, in parallel batches, and gives them to `sink`
    /// in order. `parse` gets the element's bytes; its error becomes a syntax error at the
    /// element (serde errors at their own position).
    pub(crate) fn parse_elements<T, P, S>(
        &mut self,
        parse: P,
        mut sink: S,
    ) -> Result<(), StreamError>
    where
        R: Send,
        T: Send,
        P: Fn(&[u8]) -> Result<T, ElementError> + Sync,
        S: FnMut(T) -> Result<(), StreamError>,
    {
        self.expect(b'[', "'['")?;
        let mut state = ArrayState::default();
        // A pipeline: the next batch is cut (on this thread) while the last one is parsed (on
        // the others).
        let mut pending: Option<Batch> = None;
        loop {
            let (parsed, cut) = match pending.take() {
                Some(batch) => {
                    let (parsed, cut) =
                        rayon::join(|| batch.parse(&parse), || self.cut_batch(&mut state));
                    (parsed, cut)
                }
                None => (Vec::new(), self.cut_batch(&mut state)),
            };
            for item in parsed {
                sink(item?)?;
            }
            let batch = cut?;
            let last = state.done;
            if !batch.ranges.is_empty() {
                pending = Some(batch);
            }
            if last {
                if let Some(batch) = pending.take() {
                    for item in batch.parse(&parse) {
                        sink(item?)?;
                    }
                }
                return Ok(());
            }
        }
    }

    /// Copies the next complete elements (up to [`BATCH`] bytes) out of the stream, reading as
    /// needed; sets `state.done` at the closing bracket.
    fn cut_batch(&mut self, state: &mut ArrayState) -> Result<Batch, StreamError> {
        let mut batch = Batch::default();
        while batch.bytes.len() < BATCH && !state.done {
            let Some(b) = self.peek_in_buffer() else {
                if !self.fill()? {
                    return Err(self.syntax("the file ends inside an array"));
                }
                continue;
            };
            if b == b']' {
                if state.after_comma {
                    return Err(self.syntax("expected an element after ','"));
                }
                self.pos += 1;
                state.done = true;
                break;
            }
            if state.need_comma {
                if b != b',' {
                    return Err(self.syntax("expected ',' or ']' after an element"));
                }
                self.pos += 1;
                state.need_comma = false;
                state.after_comma = true;
                continue;
            }
            let start = self.pos;
            match Scanner::new().feed(&self.buf[start..self.len]) {
                Some(end) => {
                    let at = batch.bytes.len();
                    batch.bytes.extend_from_slice(&self.buf[start..start + end]);
                    batch.ranges.push((at..at + end, self.base + start as u64));
                    self.pos = start + end;
                    state.need_comma = true;
                    state.after_comma = false;
                }
                None => {
                    // Incomplete: read on (the buffer grows for an element bigger than it).
                    if !self.fill()? {
                        return Err(self.syntax("the file ends inside an array"));
                    }
                }
            }
        }
        Ok(batch)
    }

    fn peek_in_buffer(&mut self) -> Option<u8> {
        self.skip_ws_in_buffer().map(|p| self.buf[p])
    }

    fn skip_ws_in_buffer(&mut self) -> Option<usize> {
        while self.pos < self.len && matches!(self.buf[self.pos], b' ' | b'\n' | b'\r' | b'\t') {
            self.pos += 1;
        }
        (self.pos < self.len).then_some(self.pos)
    }
}

/// Where a walk through an array stands.
#[derive(Default)]
struct ArrayState {
    need_comma: bool,
    after_comma: bool,
    done: bool,
}

/// Complete elements copied out of the stream, with their file offsets.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ranges: Vec<(std::ops::Range<usize>, u64)>,
}

impl Batch {
    fn parse<T: Send>(
        &self,
        parse: &(impl Fn(&[u8]) -> Result<T, ElementError> + Sync),
    ) -> Vec<Result<T, StreamError>> {
        use rayon::prelude::*;
        self.ranges
            .par_iter()
            .with_min_len(64)
            .map(|(r, offset)| {
                let slice = &self.bytes[r.clone()];
                parse(slice).map_err(|e| {
                    let ElementError::Json(e) = e;
                    StreamError::Syntax {
                        offset: offset + offset_in(slice, &e) as u64,
                        message: strip_position(&e),
                    }
                })
            })
            .collect()
    }
}

/// Why one element could not be parsed.
pub(crate) enum ElementError {
    /// Malformed or mistyped JSON.
    Json(serde_json::Error),
}

impl From<serde_json::Error> for ElementError {
    fn from(e: serde_json::Error) -> Self {
        ElementError::Json(e)
    }
}

/// `serde_json`'s message without its own " at line L column C" (the caller gives the file's).
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn stream(text: &str) -> JsonStream<&[u8]> {
        let mut s = JsonStream::new(text.as_bytes());
        s.buf = vec![0; 16]; // tiny buffer: every element straddles a refill
        s
    }

    #[test]
    fn members_and_elements_across_refills() {
        let text = r#" {"a": [1, 2.5, "x,]}", {"k": [true]}, null], "b": {"c": "d\"}"}, "n": 12345678901}"#;
        let mut s = stream(text);
        let mut got: Vec<(String, Vec<Value>)> = Vec::new();
        s.members(|s, key| {
            let mut vals = Vec::new();
            if key == "a" {
                s.parse_elements(
                    |b| Ok(serde_json::from_slice::<Value>(b)?),
                    |v| {
                        vals.push(v);
                        Ok(())
                    },
                )?;
            } else {
                vals.push(s.value()?);
            }
            got.push((key, vals));
            Ok(())
        })
        .unwrap();
        assert_eq!(got[0].1.len(), 5);
        assert_eq!(got[0].1[2], Value::from("x,]}"));
        assert_eq!(got[1].1[0]["c"], Value::from("d\"}"));
        assert_eq!(got[2].1[0], Value::from(12345678901u64));
    }

    #[test]
    fn escapes_before_long_runs_stay_escapes() {
        // An escaped character followed by 0-11 plain bytes, then the closing quote, at every
        // alignment: the byte after a backslash must never be jumped over.
        for pad in 0..8 {
            for tail in 0..12 {
                let (p, t) = ("x".repeat(pad), "A".repeat(tail));
                let text = format!(
                    r#"[{{"a": "{p}\n{t}"}}, {{"b": "{p}\"{t}"}}, {{"c": "{p}\u00b5{t}"}}]"#
                );
                let mut s = stream(&text);
                let mut n = 0;
                s.parse_elements(
                    |b| Ok(serde_json::from_slice::<Value>(b)?),
                    |_| {
                        n += 1;
                        Ok(())
                    },
                )
                .unwrap_or_else(|e| panic!("pad {pad}, tail {tail}: {e}"));
                assert_eq!(n, 3);
                assert_eq!(stream(&text).skip().unwrap(), 3, "pad {pad}, tail {tail}");
            }
        }
    }

    #[test]
    fn skip_counts_elements_in_bounded_memory() {
        let text = format!("[{}]", vec!["[1, 2, 3]"; 1000].join(","));
        let mut s = stream(&text);
        assert_eq!(s.skip().unwrap(), 1000);
        assert!(s.buf.len() <= 64, "buffer grew to {}", s.buf.len());
    }

    #[test]
    fn errors_carry_the_file_offset() {
        let text = "{\"a\": [1, 2,\n 3x]}";
        let mut s = stream(text);
        let e = s
            .members(|s, _| {
                s.parse_elements(|b| Ok(serde_json::from_slice::<Value>(b)?), |_| Ok(()))
            })
            .unwrap_err();
        let off = e.offset().unwrap() as usize;
        assert!(text[off..].starts_with('x'), "offset {off}: {e}");
        let truncated = "{\"a\": [1, 2";
        assert!(stream(truncated)
            .members(
                |s, _| s.parse_elements(|b| Ok(serde_json::from_slice::<Value>(b)?), |_| Ok(()))
            )
            .is_err());
    }
}
