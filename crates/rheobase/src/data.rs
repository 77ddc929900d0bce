//! Reading numeric data files: the one IO helper of the library.
//!
//! Models name data with `file:` (`SpikeGeneratorGroup` spike lists and
//! `TimedArray` values); such a file is a numpy `.npy` file or a text table
//! (CSV, semicolon-, tab- or space-separated), read into a [`Table`] of
//! `f64`. [`ModelFiles`] reads the paths of a model relative to a folder
//! (the model file's, for [`Model::load`](crate::Model::load)); the `rheo`
//! command line reads its files with the same functions.
//!
//! Every error is one sentence in the user's terms saying what is wrong
//! with the file; the caller adds the path. Nothing here panics on hostile
//! input: `.npy` headers are bounded, shapes are checked against the file
//! length before any allocation, and the data is converted in fixed-size
//! chunks straight into the result (no second copy, even in Fortran
//! order).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// A table of numbers read from a data file: `rows × columns`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Number of rows (times of a TimedArray, spikes of a spike list).
    pub rows: usize,
    /// Number of columns.
    pub columns: usize,
    /// The `rows * columns` values, row after row.
    pub values: Vec<f64>,
}

/// Reads the `file:` data of a model: paths as written in the model,
/// relative to `base` (absolute paths as they are).
///
/// ```
/// use rheobase::ir::DataFiles;
/// let files = rheobase::data::ModelFiles::new("no/such/folder");
/// assert!(files.read("stim.npy").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    base: std::path::PathBuf,
}

impl ModelFiles {
    /// Reads paths relative to the folder `base`.
    pub fn new(base: impl Into<std::path::PathBuf>) -> ModelFiles {
        ModelFiles { base: base.into() }
    }

    /// Reads paths relative to the folder holding the model file `path`.
    pub fn for_model(path: &Path) -> ModelFiles {
        ModelFiles::new(path.parent().map(Path::to_path_buf).unwrap_or_default())
    }

    /// The folder paths are read relative to.
    pub fn base(&self) -> &Path {
        &self.base
    }
}

impl rheobase_ir::DataFiles for ModelFiles {
    fn read(&self, path: &str) -> Result<rheobase_ir::DataTable, String> {
        let table = read_table(&self.base.join(path))?;
        Ok(rheobase_ir::DataTable {
            rows: table.rows,
            columns: table.columns,
            values: table.values,
        })
    }
}

/// The first six bytes of every `.npy` file.
const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest `.npy` header accepted. numpy itself refuses headers above
/// 10 000 bytes by default; real headers are under 200 bytes.
const MAX_NPY_HEADER: u64 = 1 << 20;

/// Bytes converted per read when streaming `.npy` data (a multiple of
/// every item size).
const CHUNK: usize = 1 << 16;

/// Nesting limit for the Python literal in a `.npy` header.
const MAX_DEPTH: usize = 16;

/// What kind of file `meta` describes, for a message refusing it.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file (after following
/// symbolic links). Pipes and devices are refused before they are opened:
/// opening a FIFO waits for a writer, and `/dev/zero` never ends.
pub fn open_regular(path: &Path) -> Result<File, String> {
    let meta = std::fs::metadata(path).map_err(io_message)?;
    if !meta.is_file() {
        let kind = kind_of(&meta);
        return Err(if meta.is_dir() {
            "this is a directory".to_string()
        } else {
            format!("this is {kind}; only regular files are read")
        });
    }
    let file = File::open(path).map_err(io_message)?;
    // Checked again on the open file: the path may have been replaced
    // in between.
    let meta = file.metadata().map_err(io_message)?;
    if !meta.is_file() {
        return Err(format!(
            "this is {}; only regular files are read",
            kind_of(&meta)
        ));
    }
    Ok(file)
}

/// Reads all of the regular file at `path`, refusing it once more than
/// `limit` bytes were read (the size the file system reports is not
/// trusted: files in /proc report 0). `what` names the files in the
/// message, e.g. "model files".
pub fn read_capped(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_message)?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "the file is larger than {} MB; {what} larger than that are refused",
            limit / 1_000_000
        ));
    }
    Ok(bytes)
}

/// Largest data file read: a `file:` holds numbers for a model, and a
/// larger one is almost certainly the wrong file (or a device).
const MAX_DATA_BYTES: u64 = 4 << 30;

/// Reads `.npy` (by extension, or by its magic bytes whatever the
/// extension) or CSV/whitespace text (any other file, e.g. `.csv`, `.txt`,
/// `.dat`).
pub fn read_table(path: &Path) -> Result<Table, String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if extension == "npz" {
        return Err(
            "`.npz` archives are not supported; save a single array with numpy.save (`.npy`) instead"
                .to_string(),
        );
    }
    let file = open_regular(path)?;
    let file_len = file.metadata().map_err(io_message)?.len();
    if file_len > MAX_DATA_BYTES {
        return Err(format!(
            "the file is {} MB; data files larger than {} MB are refused",
            file_len / 1_000_000,
            MAX_DATA_BYTES / 1_000_000
        ));
    }
    // Capped while reading too, whatever the size reported.
    let mut reader = BufReader::with_capacity(CHUNK, file.take(MAX_DATA_BYTES + 1));
    let is_npy = extension == "npy" || {
        let head = reader.fill_buf().map_err(io_message)?;
        head.starts_with(NPY_MAGIC)
    };
    if is_npy {
        read_npy(reader, file_len)
    } else {
        let table = read_text(&mut reader)?;
        if reader.get_ref().limit() == 0 {
            // The file grew past the cap while it was read (or reported
            // a wrong size): what was read is not the whole file.
            return Err(format!(
                "the file is larger than {} MB; data files larger than that are refused",
                MAX_DATA_BYTES / 1_000_000
            ));
        }
        Ok(table)
    }
}

/// One sentence for an IO failure.
fn io_message(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "cannot read the file: permission denied".to_string(),
        io::ErrorKind::IsADirectory => "this is a directory".to_string(),
        io::ErrorKind::InvalidData => "cannot read the file: it is not valid data".to_string(),
        _ => {
            // Drop the " (os error N)" suffix and lower-case the first letter.
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            let mut chars = text.chars();
            let text = match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect::<String>(),
                None => "unknown error".to_string(),
            };
            format!("cannot read the file: {text}")
        }
    }
}

// ---------------------------------------------------------------------------
// .npy

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F64,
    F32,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F64 | Kind::I64 | Kind::U64 => 8,
            Kind::F32 | Kind::I32 | Kind::U32 => 4,
            Kind::I16 | Kind::U16 => 2,
            Kind::I8 | Kind::U8 | Kind::Bool => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    kind: Kind,
    big_endian: bool,
}

fn unsupported_dtype(descr: &str) -> String {
    format!(
        "unsupported .npy data type `{}`; use float64, float32, int64 or int32",
        clip(descr)
    )
}

/// Parses a numpy type string such as `<f8`, `>i4` or `|b1`.
fn parse_dtype(descr: &str) -> Result<Dtype, String> {
    let (order, rest) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = match order {
        '>' => true,
        '=' => cfg!(target_endian = "big"),
        _ => false,
    };
    let kind = match rest {
        "f8" => Kind::F64,
        "f4" => Kind::F32,
        "i8" => Kind::I64,
        "i4" => Kind::I32,
        "i2" => Kind::I16,
        "i1" => Kind::I8,
        "u8" => Kind::U64,
        "u4" => Kind::U32,
        "u2" => Kind::U16,
        "u1" => Kind::U8,
        "b1" => Kind::Bool,
        _ => return Err(unsupported_dtype(descr)),
    };
    Ok(Dtype { kind, big_endian })
}

/// A Python literal as it appears in a `.npy` header.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Bool(bool),
    /// A whole number; `None` if it does not fit in a `u64` (or is negative).
    Int(Option<u64>),
    Seq(Vec<Py>),
    /// `None`, other names, dicts: nothing a valid header key needs.
    Other,
}

struct HeaderParser<'a> {
    text: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> String {
    format!("the .npy header is malformed ({what})")
}

impl HeaderParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r' | b'\0')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(malformed(&format!("expected `{}`", byte as char)))
        }
    }

    /// `{key: value, ...}` with an optional trailing comma.
    fn dict(&mut self, depth: usize) -> Result<HashMap<String, Py>, String> {
        if depth > MAX_DEPTH {
            return Err(malformed("nested too deeply"));
        }
        self.expect(b'{')?;
        let mut map = HashMap::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(map);
            }
            let key = match self.value(depth + 1)? {
                Py::Str(s) => s,
                _ => return Err(malformed("a key is not a string")),
            };
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(malformed("expected `,` or `}`")),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Py, String> {
        if depth > MAX_DEPTH {
            return Err(malformed("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => {
                self.pos += 1;
                let mut bytes = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err(malformed("a string is not closed")),
                        Some(b) if b == quote => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            self.pos += 1;
                            if let Some(b) = self.peek() {
                                bytes.push(b);
                                self.pos += 1;
                            }
                        }
                        Some(b) => {
                            bytes.push(b);
                            self.pos += 1;
                        }
                    }
                }
                Ok(Py::Str(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Py::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b) if b == close => {}
                        _ => return Err(malformed("expected `,` or a closing bracket")),
                    }
                }
            }
            Some(b'{') => {
                self.dict(depth + 1)?;
                Ok(Py::Other)
            }
            Some(b'-' | b'+' | b'0'..=b'9') => {
                let negative = self.peek() == Some(b'-');
                if matches!(self.peek(), Some(b'-' | b'+')) {
                    self.pos += 1;
                }
                let start = self.pos;
                let mut value: Option<u64> = Some(0);
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    value = value
                        .and_then(|v| v.checked_mul(10))
                        .and_then(|v| v.checked_add(u64::from(d - b'0')));
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(malformed("a sign without a number"));
                }
                // Python 2 long literals: `3L`.
                if matches!(self.peek(), Some(b'L' | b'l')) {
                    self.pos += 1;
                }
                if negative && value != Some(0) {
                    value = None;
                }
                Ok(Py::Int(value))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
                    self.pos += 1;
                }
                Ok(match &self.text[start..self.pos] {
                    b"True" => Py::Bool(true),
                    b"False" => Py::Bool(false),
                    _ => Py::Other,
                })
            }
            Some(_) => Err(malformed("unexpected character")),
            None => Err(malformed("it ends early")),
        }
    }
}

/// What a `.npy` header says about the data that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NpyHeader {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<u64>,
}

fn parse_npy_header(text: &[u8]) -> Result<NpyHeader, String> {
    let mut parser = HeaderParser { text, pos: 0 };
    let dict = parser.dict(0)?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(malformed("unexpected text after the dictionary"));
    }
    let dtype = match dict.get("descr") {
        Some(Py::Str(s)) => parse_dtype(s)?,
        Some(Py::Seq(_)) => {
            return Err(
                "unsupported .npy data type (a structured record type); use float64, float32, int64 or int32"
                    .to_string(),
            )
        }
        Some(_) => return Err(malformed("'descr' is not a type string")),
        None => return Err("the .npy header has no 'descr' (data type)".to_string()),
    };
    let fortran_order = match dict.get("fortran_order") {
        Some(Py::Bool(b)) => *b,
        Some(Py::Int(Some(n))) => *n != 0,
        None => false,
        Some(_) => return Err(malformed("'fortran_order' is not True or False")),
    };
    let shape = match dict.get("shape") {
        Some(Py::Seq(items)) => items
            .iter()
            .map(|item| match item {
                Py::Int(Some(n)) => Ok(*n),
                _ => Err("the .npy shape is not a tuple of non-negative whole numbers".to_string()),
            })
            .collect::<Result<Vec<u64>, String>>()?,
        Some(Py::Int(Some(n))) => vec![*n],
        Some(_) => {
            return Err("the .npy shape is not a tuple of non-negative whole numbers".to_string())
        }
        None => return Err("the .npy header has no 'shape'".to_string()),
    };
    Ok(NpyHeader {
        dtype,
        fortran_order,
        shape,
    })
}

/// Reads one `.npy` stream of `len` bytes, such as a member of an
/// `.npz` archive (`rheo plot` reads the run's archives with it).
pub fn read_npy_stream<R: Read>(reader: R, len: u64) -> Result<Table, String> {
    read_npy(reader, len)
}

/// Reads a whole `.npy` stream of `file_len` bytes.
fn read_npy<R: Read>(mut reader: R, file_len: u64) -> Result<Table, String> {
    let truncated_header = || "the .npy file is truncated (it ends inside its header)".to_string();
    let mut prefix = [0u8; 8];
    let got = read_up_to(&mut reader, &mut prefix).map_err(io_message)?;
    if got == 0 {
        return Err("the file is empty".to_string());
    }
    if got < 6 || &prefix[..6] != NPY_MAGIC {
        return Err("not a .npy file (the first bytes are not \\x93NUMPY)".to_string());
    }
    if got < 8 {
        return Err(truncated_header());
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let header_len: u64 = match major {
        1 => {
            let mut b = [0u8; 2];
            read_exact_or(&mut reader, &mut b, truncated_header)?;
            u64::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_exact_or(&mut reader, &mut b, truncated_header)?;
            u64::from(u32::from_le_bytes(b))
        }
        _ => {
            return Err(format!(
                "unsupported .npy format version {major}.{minor}; versions 1.0, 2.0 and 3.0 are supported"
            ))
        }
    };
    let prefix_len: u64 = if major == 1 { 10 } else { 12 };
    if header_len > MAX_NPY_HEADER {
        return Err(format!(
            "the .npy header is implausibly large ({header_len} bytes)"
        ));
    }
    if prefix_len + header_len > file_len {
        return Err(truncated_header());
    }
    let mut header = vec![0u8; header_len as usize];
    read_exact_or(&mut reader, &mut header, truncated_header)?;
    let header = parse_npy_header(&header)?;

    let (rows, columns) = match header.shape.as_slice() {
        [] => (1, 1),
        [n] => (*n, 1),
        [r, c] => (*r, *c),
        dims => {
            return Err(format!(
                "the .npy array has {} dimensions; use a 1- or 2-dimensional array",
                dims.len()
            ))
        }
    };
    let too_large = || {
        format!(
            "the .npy shape {:?} is larger than the file could hold",
            header.shape
        )
    };
    let count = rows.checked_mul(columns).ok_or_else(too_large)?;
    let size = header.dtype.kind.size() as u64;
    let data_len = count.checked_mul(size).ok_or_else(too_large)?;
    let available = file_len - prefix_len - header_len;
    if data_len > available {
        return Err(format!(
            "the .npy data is shorter than its shape says (expected {data_len} bytes, found {available})"
        ));
    }
    let rows = usize::try_from(rows).map_err(|_| too_large())?;
    let columns = usize::try_from(columns).map_err(|_| too_large())?;
    let count = usize::try_from(count).map_err(|_| too_large())?;
    let data_bytes = usize::try_from(data_len).map_err(|_| too_large())?;

    let mut values: Vec<f64> = Vec::new();
    values
        .try_reserve_exact(count)
        .map_err(|_| format!("the .npy array is too large to load into memory ({count} values)"))?;
    // Fortran order stores columns one after another: element `k` of the
    // stream is at row `k % rows`, column `k / rows`. Write it straight
    // into its row-major place.
    let transpose = header.fortran_order && rows > 1 && columns > 1;
    if transpose {
        values.resize(count, 0.0);
    }
    let mut buffer = vec![0u8; CHUNK.min(data_bytes).max(1)];
    let mut remaining = data_bytes;
    let mut k = 0usize;
    while remaining > 0 {
        let n = remaining.min(buffer.len());
        let chunk = &mut buffer[..n];
        if let Err(e) = reader.read_exact(chunk) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                format!(
                    "the .npy data is shorter than its shape says (expected {data_bytes} bytes, found fewer)"
                )
            } else {
                io_message(e)
            });
        }
        remaining -= n;
        if transpose {
            decode(header.dtype, chunk, |v| {
                values[(k % rows) * columns + k / rows] = v;
                k += 1;
            })?;
        } else {
            decode(header.dtype, chunk, |v| values.push(v))?;
        }
    }
    Ok(Table {
        rows,
        columns,
        values,
    })
}

/// Converts whole items of `dtype` in `bytes` to `f64`, in order. Every
/// value is a float64 from here on, so a 64-bit integer that float64
/// cannot hold exactly (beyond 2**53) is refused rather than rounded: the
/// result would silently differ from numpy's integer arithmetic.
fn decode(dtype: Dtype, bytes: &[u8], mut put: impl FnMut(f64)) -> Result<(), String> {
    let mut inexact: Option<String> = None;
    macro_rules! each {
        ($t:ty, $n:expr, $conv:expr) => {
            for item in bytes.chunks_exact($n) {
                let mut a = [0u8; $n];
                a.copy_from_slice(item);
                let x = if dtype.big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                };
                #[allow(clippy::redundant_closure_call)]
                put(($conv)(x));
            }
        };
    }
    match dtype.kind {
        Kind::F64 => each!(f64, 8, |x: f64| x),
        Kind::F32 => each!(f32, 4, f64::from),
        Kind::I64 => each!(i64, 8, |x: i64| exact(&mut inexact, i128::from(x))),
        Kind::I32 => each!(i32, 4, f64::from),
        Kind::I16 => each!(i16, 2, f64::from),
        Kind::I8 => each!(i8, 1, f64::from),
        Kind::U64 => each!(u64, 8, |x: u64| exact(&mut inexact, i128::from(x))),
        Kind::U32 => each!(u32, 4, f64::from),
        Kind::U16 => each!(u16, 2, f64::from),
        Kind::U8 => each!(u8, 1, f64::from),
        Kind::Bool => {
            for &b in bytes {
                put(if b != 0 { 1.0 } else { 0.0 });
            }
        }
    }
    match inexact {
        None => Ok(()),
        Some(x) => Err(format!(
            "the .npy integer {x} cannot be represented exactly as a float64 \
             (integers beyond 2**53 lose digits); rheobase computes with float64 \
             values, so store values of at most 2**53 in magnitude"
        )),
    }
}

/// `x` as a float64, noting the first integer that float64 cannot hold
/// exactly in `inexact`.
fn exact(inexact: &mut Option<String>, x: i128) -> f64 {
    let v = x as f64;
    if inexact.is_none() && v as i128 != x {
        *inexact = Some(x.to_string());
    }
    v
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_exact_or<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    on_eof: impl Fn() -> String,
) -> Result<(), String> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            on_eof()
        } else {
            io_message(e)
        }
    })
}

// ---------------------------------------------------------------------------
// Text tables

/// Reads a text table: one row per line, values separated by commas,
/// semicolons, tabs or spaces; `#` starts a comment; a first line made
/// only of names is a header and is skipped.
fn read_text<R: BufRead>(mut reader: R) -> Result<Table, String> {
    let mut line = Vec::new();
    let mut line_no = 0usize;
    let mut values: Vec<f64> = Vec::new();
    // (line number, number of values) of the first data row.
    let mut first: Option<(usize, usize)> = None;
    let mut rows = 0usize;
    let mut seen_content = false;
    let mut header_line = None;
    let mut any_bytes = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_message)?;
        if n == 0 {
            break;
        }
        any_bytes = true;
        line_no += 1;
        let mut bytes = &line[..];
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_suffix(b"\r") {
            bytes = rest;
        }
        if line_no == 1 {
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
            }
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            format!("line {line_no} is not valid UTF-8 text (is this a binary file?)")
        })?;
        let text = match text.find('#') {
            Some(i) => &text[..i],
            None => text,
        };
        if text.trim().is_empty() {
            continue;
        }
        let fields = split_fields(text);
        if !seen_content {
            seen_content = true;
            if fields.iter().all(|f| parse_number(f).is_none()) {
                header_line = Some(line_no);
                continue;
            }
        }
        let start = values.len();
        for (column, field) in fields.iter().enumerate() {
            if field.is_empty() {
                return Err(format!("line {line_no}, column {} is empty", column + 1));
            }
            match parse_number(field) {
                Some(v) => values.push(v),
                None => {
                    return Err(format!(
                        "line {line_no}, column {}: `{}` is not a number",
                        column + 1,
                        clip(field)
                    ))
                }
            }
        }
        let count = values.len() - start;
        match first {
            None => first = Some((line_no, count)),
            Some((first_line, expected)) if expected != count => {
                return Err(format!(
                    "line {line_no} has {count} value{} but line {first_line} has {expected}",
                    if count == 1 { "" } else { "s" }
                ))
            }
            Some(_) => {}
        }
        rows += 1;
    }
    match first {
        Some((_, columns)) => Ok(Table {
            rows,
            columns,
            values,
        }),
        None => Err(if let Some(h) = header_line {
            format!("the file has only a header (line {h}) and no numbers")
        } else if any_bytes {
            "the file has no numbers (only blank lines or comments)".to_string()
        } else {
            "the file is empty".to_string()
        }),
    }
}

/// Splits a line into fields: commas and semicolons separate fields (so
/// `1,,2` has an empty field), and so does any run of whitespace.
fn split_fields(text: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    for part in text.split([',', ';']) {
        let part = part.trim();
        if part.is_empty() {
            fields.push(part);
        } else {
            for field in part.split_whitespace() {
                fields.push(unquote(field));
            }
        }
    }
    fields
}

fn unquote(field: &str) -> &str {
    if field.len() >= 2 {
        for q in ['"', '\''] {
            if let Some(inner) = field.strip_prefix(q).and_then(|f| f.strip_suffix(q)) {
                return inner.trim();
            }
        }
    }
    field
}

/// A number in Python/Rust float syntax: `3`, `-1.5`, `1e-3`, `.5`,
/// `nan`, `inf`, `-Infinity`, and Python's digit separators `1_000`.
fn parse_number(field: &str) -> Option<f64> {
    if let Ok(v) = field.parse::<f64>() {
        return Some(v);
    }
    // Python allows `_` between digits only.
    if field.contains('_') {
        let bytes = field.as_bytes();
        let ok = bytes.iter().enumerate().all(|(i, &b)| {
            b != b'_'
                || (i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        });
        if ok {
            return field.replace('_', "").parse::<f64>().ok();
        }
    }
    None
}

/// Shortens a user-provided string for an error message.
fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A fresh scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "rheobase-datafile-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A `.npy` file: `header` is the dict text, padded as numpy does.
    fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let prefix = if version == 1 { 10 } else { 12 };
        let mut text = header.to_string();
        while !(prefix + text.len() + 1).is_multiple_of(64) {
            text.push(' ');
        }
        text.push('\n');
        let mut out = NPY_MAGIC.to_vec();
        out.extend([version, 0]);
        if version == 1 {
            out.extend((text.len() as u16).to_le_bytes());
        } else {
            out.extend((text.len() as u32).to_le_bytes());
        }
        out.extend(text.as_bytes());
        out.extend(data);
        out
    }

    fn header(descr: &str, fortran: bool, shape: &str) -> String {
        let f = if fortran { "True" } else { "False" };
        format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}")
    }

    fn parse_npy(bytes: &[u8]) -> Result<Table, String> {
        read_npy(Cursor::new(bytes), bytes.len() as u64)
    }

    fn parse_text(text: &str) -> Result<Table, String> {
        read_text(Cursor::new(text.as_bytes()))
    }

    fn table(rows: usize, columns: usize, values: &[f64]) -> Table {
        Table {
            rows,
            columns,
            values: values.to_vec(),
        }
    }

    /// Encodes `values` (small whole numbers) as `descr`.
    fn encode(descr: &str, values: &[i64]) -> Vec<u8> {
        let big = descr.starts_with('>');
        let mut out = Vec::new();
        macro_rules! put {
            ($x:expr) => {
                if big {
                    out.extend($x.to_be_bytes())
                } else {
                    out.extend($x.to_le_bytes())
                }
            };
        }
        for &v in values {
            match &descr[1..] {
                "f8" => put!(v as f64),
                "f4" => put!(v as f32),
                "i8" => put!(v),
                "i4" => put!(v as i32),
                "i2" => put!(v as i16),
                "i1" => put!(v as i8),
                "u8" => put!(v as u64),
                "u4" => put!(v as u32),
                "u2" => put!(v as u16),
                "u1" => put!(v as u8),
                "b1" => out.push(u8::from(v != 0)),
                other => panic!("no encoder for {other}"),
            }
        }
        out
    }

    const DTYPES: &[&str] = &[
        "<f8", ">f8", "<f4", ">f4", "<i8", ">i8", "<i4", ">i4", "<i2", ">i2", "|i1", "<u8", ">u8",
        "<u4", ">u4", "<u2", ">u2", "|u1", "|b1",
    ];

    #[test]
    fn npy_integers_float64_cannot_hold_are_refused() {
        // 2**53 + 1 would silently read as 2**53.
        let big = (1i64 << 53) + 1;
        for descr in ["<i8", ">i8", "<u8"] {
            let c = npy(
                1,
                &header(descr, false, "(3,)"),
                &encode(descr, &[1, big, 2]),
            );
            assert_eq!(
                parse_npy(&c),
                Err(format!(
                    "the .npy integer {big} cannot be represented exactly as a float64 \
                     (integers beyond 2**53 lose digits); rheobase computes with float64 \
                     values, so store values of at most 2**53 in magnitude"
                )),
                "{descr}"
            );
        }
        // Large integers that float64 holds exactly are read as they are.
        let exact = [1i64 << 53, -(1i64 << 60), i64::MIN];
        let c = npy(1, &header("<i8", false, "(3,)"), &encode("<i8", &exact));
        let expected: Vec<f64> = exact.iter().map(|&v| v as f64).collect();
        assert_eq!(parse_npy(&c), Ok(table(3, 1, &expected)));
    }

    #[test]
    fn npy_every_dtype_version_and_order() {
        for &descr in DTYPES {
            let signed = descr.contains('i') || descr.contains('f');
            let bool_type = descr.ends_with("b1");
            // Row-major 2 × 3 values.
            let logical: Vec<i64> = if bool_type {
                vec![1, 0, 1, 1, 0, 0]
            } else if signed {
                vec![-3, -2, -1, 0, 1, 100]
            } else {
                vec![0, 1, 2, 3, 4, 200]
            };
            let expected: Vec<f64> = logical.iter().map(|&v| v as f64).collect();
            // Column-major storage of the same matrix.
            let column_major: Vec<i64> = (0..3)
                .flat_map(|c| (0..2).map(move |r| (r, c)))
                .map(|(r, c)| logical[r * 3 + c])
                .collect();
            for version in [1u8, 2, 3] {
                let c = npy(
                    version,
                    &header(descr, false, "(2, 3)"),
                    &encode(descr, &logical),
                );
                assert_eq!(
                    parse_npy(&c),
                    Ok(table(2, 3, &expected)),
                    "{descr} v{version} C"
                );
                let f = npy(
                    version,
                    &header(descr, true, "(2, 3)"),
                    &encode(descr, &column_major),
                );
                assert_eq!(
                    parse_npy(&f),
                    Ok(table(2, 3, &expected)),
                    "{descr} v{version} Fortran"
                );
                let one_d = npy(
                    version,
                    &header(descr, true, "(6,)"),
                    &encode(descr, &logical),
                );
                assert_eq!(
                    parse_npy(&one_d),
                    Ok(table(6, 1, &expected)),
                    "{descr} v{version} 1-d"
                );
                let scalar = npy(
                    version,
                    &header(descr, false, "()"),
                    &encode(descr, &logical[..1]),
                );
                assert_eq!(
                    parse_npy(&scalar),
                    Ok(table(1, 1, &expected[..1])),
                    "{descr} v{version} 0-d"
                );
            }
        }
    }

    #[test]
    fn npy_float_values_exact() {
        let values = [0.1, -2.5e-300, f64::INFINITY, 1.0 / 3.0];
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse_npy(&npy(1, &header("<f8", false, "(4,)"), &data)).unwrap();
        assert_eq!(t.values, values);
        let nan = parse_npy(&npy(
            1,
            &header("<f8", false, "()"),
            &f64::NAN.to_le_bytes(),
        ))
        .unwrap();
        assert!(nan.values[0].is_nan());
    }

    #[test]
    fn npy_header_variants() {
        let data = encode("<f8", &[1, 2, 3, 4]);
        let expected = Ok(table(2, 2, &[1.0, 2.0, 3.0, 4.0]));
        for h in [
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
            "{'shape': (2,2), 'descr': '<f8', 'fortran_order': False}",
            "{'fortran_order':False,'shape':(2,2),'descr':'<f8'}",
            "{ \"descr\" : \"<f8\" , \"fortran_order\" : False , \"shape\" : ( 2 , 2 , ) , }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 2L), }",
            "{'descr': '<f8', 'shape': [2, 2]}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), 'extra': {'a': [None]}}",
        ] {
            assert_eq!(parse_npy(&npy(1, h, &data)), expected, "{h}");
        }
        // Unpadded header without trailing newline.
        let h = "{'descr':'<f8','fortran_order':False,'shape':(2,2)}";
        let mut bytes = NPY_MAGIC.to_vec();
        bytes.extend([1, 0]);
        bytes.extend((h.len() as u16).to_le_bytes());
        bytes.extend(h.as_bytes());
        bytes.extend(&data);
        assert_eq!(parse_npy(&bytes), expected);
        // Extra bytes after the data are ignored.
        let mut padded = npy(1, &header("<f8", false, "(2, 2)"), &data);
        padded.extend([0; 5]);
        assert_eq!(parse_npy(&padded), expected);
        // Empty arrays.
        assert_eq!(
            parse_npy(&npy(1, &header("<f8", false, "(0,)"), &[])),
            Ok(table(0, 1, &[]))
        );
        assert_eq!(
            parse_npy(&npy(1, &header("<f8", true, "(0, 3)"), &[])),
            Ok(table(0, 3, &[]))
        );
    }

    #[test]
    fn npy_errors() {
        let data = encode("<f8", &[1, 2, 3, 4]);
        let err = |bytes: &[u8]| parse_npy(bytes).unwrap_err();
        assert_eq!(err(b""), "the file is empty");
        assert_eq!(
            err(b"1,2,3\n4,5,6\n"),
            "not a .npy file (the first bytes are not \\x93NUMPY)"
        );
        assert_eq!(
            err(b"\x93NUM"),
            "not a .npy file (the first bytes are not \\x93NUMPY)"
        );
        assert_eq!(
            err(b"\x93NUMPY\x01\x00\x40"),
            "the .npy file is truncated (it ends inside its header)"
        );
        assert_eq!(
            err(&npy(1, &header("<c16", false, "(2,)"), &[0; 32])),
            "unsupported .npy data type `<c16`; use float64, float32, int64 or int32"
        );
        assert_eq!(
            err(&npy(1, &header("|O", false, "(2,)"), &[0; 16])),
            "unsupported .npy data type `|O`; use float64, float32, int64 or int32"
        );
        assert!(err(&npy(
            1,
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,)}",
            &[0; 16]
        ))
        .starts_with("unsupported .npy data type (a structured record type)"));
        assert_eq!(
            err(&npy(1, &header("<f8", false, "(100,)"), &[0; 400])),
            "the .npy data is shorter than its shape says (expected 800 bytes, found 400)"
        );
        assert_eq!(
            err(&npy(1, &header("<f8", false, "(2, 2, 1)"), &data)),
            "the .npy array has 3 dimensions; use a 1- or 2-dimensional array"
        );
        let mut v4 = npy(1, &header("<f8", false, "(4,)"), &data);
        v4[6] = 4;
        assert_eq!(
            err(&v4),
            "unsupported .npy format version 4.0; versions 1.0, 2.0 and 3.0 are supported"
        );
        assert_eq!(
            err(&npy(1, "{'descr': '<f8', 'shape': (2, -2)}", &data)),
            "the .npy shape is not a tuple of non-negative whole numbers"
        );
        assert_eq!(
            err(&npy(1, "{'fortran_order': False, 'shape': (4,)}", &data)),
            "the .npy header has no 'descr' (data type)"
        );
        assert_eq!(
            err(&npy(1, "{'descr': '<f8'}", &data)),
            "the .npy header has no 'shape'"
        );
        assert!(err(&npy(1, "{'descr': '<f8', 'shape': (4,)", &data))
            .starts_with("the .npy header is malformed"));
        assert!(err(&npy(1, "not a dict", &data)).starts_with("the .npy header is malformed"));
        let deep = format!(
            "{{'descr': '<f8', 'shape': {}4{}}}",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(err(&npy(1, &deep, &data)).starts_with("the .npy header is malformed"));
        // Shapes whose byte count overflows, or is just huge.
        assert!(err(&npy(
            1,
            &header("<f8", false, "(18446744073709551615, 18446744073709551615)"),
            &data
        ))
        .contains("larger than the file could hold"));
        assert!(err(&npy(
            1,
            &header("<f8", false, "(99999999999999999999999,)"),
            &data
        ))
        .starts_with("the .npy shape is not a tuple"));
        assert_eq!(
            err(&npy(1, &header("<f8", false, "(1000000000000,)"), &data)),
            "the .npy data is shorter than its shape says (expected 8000000000000 bytes, found 32)"
        );
        // A header length that claims more than the file holds.
        let mut giant = NPY_MAGIC.to_vec();
        giant.extend([2, 0]);
        giant.extend(u32::MAX.to_le_bytes());
        giant.extend(b"{}");
        assert_eq!(
            err(&giant),
            "the .npy header is implausibly large (4294967295 bytes)"
        );
        let mut long = NPY_MAGIC.to_vec();
        long.extend([1, 0]);
        long.extend(1000u16.to_le_bytes());
        long.extend(b"{'descr': '<f8'");
        assert_eq!(
            err(&long),
            "the .npy file is truncated (it ends inside its header)"
        );
    }

    /// A reader whose data stops before the length it claimed (a file
    /// truncated while being read).
    #[test]
    fn npy_stream_shorter_than_claimed_length() {
        let bytes = npy(1, &header("<f8", false, "(4,)"), &encode("<f8", &[1, 2]));
        let claimed = bytes.len() as u64 + 16;
        assert_eq!(
            read_npy(Cursor::new(&bytes), claimed),
            Err(
                "the .npy data is shorter than its shape says (expected 32 bytes, found fewer)"
                    .to_string()
            )
        );
    }

    #[test]
    fn npy_fuzz_mutations_never_panic() {
        let seeds: Vec<Vec<u8>> = vec![
            npy(
                1,
                &header("<f8", false, "(3, 2)"),
                &encode("<f8", &[1, 2, 3, 4, 5, 6]),
            ),
            npy(
                2,
                &header(">i4", true, "(2, 3)"),
                &encode(">i4", &[1, 2, 3, 4, 5, 6]),
            ),
            npy(
                3,
                &header("|b1", false, "(6,)"),
                &encode("|b1", &[1, 0, 1, 0, 1, 1]),
            ),
            npy(1, &header("<u2", false, "()"), &encode("<u2", &[7])),
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut outcomes = [0usize; 2];
        for i in 0..2000 {
            let mut bytes = seeds[i % seeds.len()].clone();
            let mutations = 1 + next() % 6;
            for _ in 0..mutations {
                let len = bytes.len().max(1) as u64;
                match next() % 6 {
                    0 | 1 => {
                        if !bytes.is_empty() {
                            let at = (next() % len) as usize;
                            bytes[at] = next() as u8;
                        }
                    }
                    2 => {
                        let at = (next() % (len + 1)) as usize;
                        bytes.truncate(at);
                    }
                    3 => {
                        let at = (next() % (len + 1)) as usize;
                        bytes.insert(at.min(bytes.len()), next() as u8);
                    }
                    4 => {
                        // Target the header: digits, brackets and quotes.
                        if bytes.len() > 12 {
                            let at = 10 + (next() % (bytes.len() as u64 - 10)) as usize;
                            bytes[at] = b"0123456789(),'[]{}:-TrueFalse"[(next() % 29) as usize];
                        }
                    }
                    _ => {
                        // Header length bytes.
                        if bytes.len() > 11 {
                            let at = 8 + (next() % 4) as usize;
                            bytes[at] = next() as u8;
                        }
                    }
                }
            }
            // Sometimes claim a wrong file length too.
            let claimed = match next() % 4 {
                0 => bytes.len() as u64 + next() % 1000,
                1 => (bytes.len() as u64).saturating_sub(next() % 16),
                _ => bytes.len() as u64,
            };
            let result = read_npy(Cursor::new(&bytes), claimed);
            if let Ok(t) = &result {
                assert_eq!(t.rows * t.columns, t.values.len());
            }
            outcomes[usize::from(result.is_ok())] += 1;
        }
        // The mutations must exercise both outcomes.
        assert!(outcomes[0] > 100 && outcomes[1] > 20, "{outcomes:?}");
        // Text parsing of the same kind of garbage never panics either.
        for seed in &seeds {
            let _ = read_text(Cursor::new(seed));
        }
    }

    #[test]
    fn text_variants() {
        let two_by_two = Ok(table(2, 2, &[1.0, 2.0, 3.0, 4.0]));
        for text in [
            "1,2\n3,4\n",
            "1,2\n3,4",
            "1;2\n3;4\n",
            "1\t2\n3\t4\n",
            "1 2\n3    4\n",
            "  1 ,  2  \n3 , 4\n",
            "1,2\r\n3,4\r\n",
            "# comment\n\n1,2 # trailing comment\n\n# another\n3,4\n",
            "time,index\n1,2\n3,4\n",
            "# a comment first\n\"t\" \"i\"\n1 2\n3 4\n",
            "\u{FEFF}t;i\r\n1;2\r\n3;4\r\n",
            "\"1\",\"2\"\n\"3\",\"4\"\n",
            "1 \t 2\n3\t \t4\n",
        ] {
            assert_eq!(parse_text(text), two_by_two, "{text:?}");
        }
        assert_eq!(parse_text("5\n6\n7\n"), Ok(table(3, 1, &[5.0, 6.0, 7.0])));
        assert_eq!(parse_text("42"), Ok(table(1, 1, &[42.0])));
        let t = parse_text("1e-3, -2.5E+2, .5, 1_000, +3.\ninf, -inf, Infinity, 7, 8\n").unwrap();
        assert_eq!(
            t.values,
            [
                1e-3,
                -250.0,
                0.5,
                1000.0,
                3.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                7.0,
                8.0
            ]
        );
        let t = parse_text("nan NaN\n").unwrap();
        assert!(t.values.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn text_errors() {
        let err = |text: &str| parse_text(text).unwrap_err();
        assert_eq!(
            err("1,2\n3,4\n5,abc\n"),
            "line 3, column 2: `abc` is not a number"
        );
        assert_eq!(
            err("1,2\n3,4\n\n1,2,3\n"),
            "line 4 has 3 values but line 1 has 2"
        );
        assert_eq!(err("1,2\n3\n"), "line 2 has 1 value but line 1 has 2");
        assert_eq!(
            err("# x\n1,2\n3,4,5\n"),
            "line 3 has 3 values but line 2 has 2"
        );
        assert_eq!(err(""), "the file is empty");
        assert_eq!(
            err("# only\n\n   \n"),
            "the file has no numbers (only blank lines or comments)"
        );
        assert_eq!(
            err("a,b\n"),
            "the file has only a header (line 1) and no numbers"
        );
        // Only the first line may be a header.
        assert_eq!(err("1,2\na,b\n"), "line 2, column 1: `a` is not a number");
        assert_eq!(err("a,b\nc,d\n"), "line 2, column 1: `c` is not a number");
        // A partly numeric first line is data, not a header.
        assert_eq!(err("t,2\n1,2\n"), "line 1, column 1: `t` is not a number");
        assert_eq!(err("1,,2\n"), "line 1, column 2 is empty");
        assert_eq!(err("1,2,\n"), "line 1, column 3 is empty");
        assert_eq!(err("1_,2\n"), "line 1, column 1: `1_` is not a number");
        assert_eq!(
            err("1,2\n\u{FF}\n"),
            "line 2, column 1: `\u{FF}` is not a number"
        );
        assert_eq!(
            read_text(Cursor::new(b"1,2\n\xFF\xFE\n".as_slice())).unwrap_err(),
            "line 2 is not valid UTF-8 text (is this a binary file?)"
        );
        let long = "x".repeat(100);
        assert_eq!(
            err(&format!("1\n{long}\n")),
            format!("line 2, column 1: `{}…` is not a number", "x".repeat(40))
        );
    }

    #[test]
    fn read_table_files() {
        let dir = Scratch::new();
        let csv = dir.write("spikes.csv", b"index,time\n0,1.5\n1,2.5\n");
        assert_eq!(read_table(&csv), Ok(table(2, 2, &[0.0, 1.5, 1.0, 2.5])));
        let txt = dir.write("values.txt", b"1\n2\n");
        assert_eq!(read_table(&txt), Ok(table(2, 1, &[1.0, 2.0])));
        let npy_bytes = npy(1, &header("<i8", false, "(3,)"), &encode("<i8", &[4, 5, 6]));
        let file = dir.write("values.npy", &npy_bytes);
        assert_eq!(read_table(&file), Ok(table(3, 1, &[4.0, 5.0, 6.0])));
        let upper = dir.write("VALUES.NPY", &npy_bytes);
        assert_eq!(read_table(&upper), Ok(table(3, 1, &[4.0, 5.0, 6.0])));
        // Recognised by its magic bytes whatever the extension.
        let sniffed = dir.write("values.dat", &npy_bytes);
        assert_eq!(read_table(&sniffed), Ok(table(3, 1, &[4.0, 5.0, 6.0])));
        let bad = dir.write("bad.npy", b"1,2,3\n");
        assert_eq!(
            read_table(&bad),
            Err("not a .npy file (the first bytes are not \\x93NUMPY)".to_string())
        );
        let empty_npy = dir.write("empty.npy", b"");
        assert_eq!(read_table(&empty_npy), Err("the file is empty".to_string()));
        let empty_csv = dir.write("empty.csv", b"");
        assert_eq!(read_table(&empty_csv), Err("the file is empty".to_string()));
        assert_eq!(read_table(&dir.0), Err("this is a directory".to_string()));
        assert_eq!(
            read_table(&dir.0.join("missing.csv")),
            Err("no such file".to_string())
        );
        let npz = dir.write("arrays.npz", b"PK");
        assert!(read_table(&npz).unwrap_err().contains(".npz"));
        // Big enough to need several chunks, in Fortran order.
        let (rows, columns) = (300usize, 100usize);
        let column_major: Vec<i64> = (0..columns)
            .flat_map(|c| (0..rows).map(move |r| (r * columns + c) as i64))
            .collect();
        let big = dir.write(
            "big.npy",
            &npy(
                2,
                &header("<f8", true, "(300, 100)"),
                &encode("<f8", &column_major),
            ),
        );
        let t = read_table(&big).unwrap();
        assert_eq!((t.rows, t.columns), (rows, columns));
        assert!(t.values.iter().enumerate().all(|(i, &v)| v == i as f64));
    }

    #[test]
    fn permission_denied_message() {
        // Running as root makes a real unreadable file impossible; check
        // the mapping directly.
        assert_eq!(
            io_message(io::Error::from(io::ErrorKind::PermissionDenied)),
            "cannot read the file: permission denied"
        );
        assert_eq!(
            io_message(io::Error::from(io::ErrorKind::NotFound)),
            "no such file"
        );
        assert_eq!(
            io_message(io::Error::from_raw_os_error(5)),
            "cannot read the file: input/output error"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dir = Scratch::new();
            let path = dir.write("secret.csv", b"1\n");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
            match read_table(&path) {
                Err(e) => assert_eq!(e, "cannot read the file: permission denied"),
                Ok(_) => eprintln!("note: running with privileges that ignore file modes; real permission test skipped"),
            }
        }
    }

    /// Files written by numpy itself, when a Python with numpy exists.
    #[test]
    fn real_numpy_files() {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let candidates = [
            home.join(".brian2-venv/bin/python"),
            PathBuf::from("python3"),
        ];
        let dir = Scratch::new();
        let script = r#"
import sys, numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
a = np.arange(12).reshape(3, 4)
for t in ['<f8', '>f8', '<f4', '>f4', '<i8', '>i8', '<i4', '>i4', '<i2', '>i2', 'i1', '<u8', '>u8', '<u4', '>u4', '<u2', '>u2', 'u1']:
    name = t.replace('<', 'le').replace('>', 'be')
    np.save(d + '/c_' + name + '.npy', a.astype(t))
    np.save(d + '/f_' + name + '.npy', np.asfortranarray(a.astype(t)))
np.save(d + '/bool.npy', (a % 3 == 0))
np.save(d + '/vec.npy', np.arange(12.0))
np.save(d + '/scalar.npy', np.float64(12.5))
np.save(d + '/empty.npy', np.zeros((0, 2)))
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(d + '/v%d.npy' % v[0], 'wb') as f:
        fmt.write_array(f, np.asfortranarray(a.astype('<f8')), version=v)
np.save(d + '/c16.npy', np.zeros(2, dtype=np.complex128))
np.save(d + '/three.npy', np.zeros((2, 2, 2)))
np.savetxt(d + '/savetxt.csv', a, delimiter=',', header='a,b,c,d')
np.savetxt(d + '/savetxt.txt', a * 0.1)
"#;
        let ran = candidates.iter().any(|python| {
            std::process::Command::new(python)
                .arg("-c")
                .arg(script)
                .arg(&dir.0)
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !ran {
            eprintln!("note: no python with numpy found; real numpy file test skipped");
            return;
        }
        let grid: Vec<f64> = (0..12).map(f64::from).collect();
        let read = |name: &str| read_table(&dir.0.join(name));
        for t in [
            "lef8", "bef8", "lef4", "bef4", "lei8", "bei8", "lei4", "bei4", "lei2", "bei2", "i1",
            "leu8", "beu8", "leu4", "beu4", "leu2", "beu2", "u1",
        ] {
            assert_eq!(read(&format!("c_{t}.npy")), Ok(table(3, 4, &grid)), "c_{t}");
            assert_eq!(read(&format!("f_{t}.npy")), Ok(table(3, 4, &grid)), "f_{t}");
        }
        let bools: Vec<f64> = (0..12).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
        assert_eq!(read("bool.npy"), Ok(table(3, 4, &bools)));
        assert_eq!(read("vec.npy"), Ok(table(12, 1, &grid)));
        assert_eq!(read("scalar.npy"), Ok(table(1, 1, &[12.5])));
        assert_eq!(read("empty.npy"), Ok(table(0, 2, &[])));
        for v in 1..=3 {
            assert_eq!(read(&format!("v{v}.npy")), Ok(table(3, 4, &grid)), "v{v}");
        }
        assert_eq!(
            read("c16.npy"),
            Err("unsupported .npy data type `<c16`; use float64, float32, int64 or int32".into())
        );
        assert!(read("three.npy").unwrap_err().contains("3 dimensions"));
        assert_eq!(read("savetxt.csv"), Ok(table(3, 4, &grid)));
        let tenths = read("savetxt.txt").unwrap();
        assert_eq!((tenths.rows, tenths.columns), (3, 4));
        for (i, v) in tenths.values.iter().enumerate() {
            assert!((v - i as f64 * 0.1).abs() < 1e-12);
        }
    }
}
