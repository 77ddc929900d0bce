//! Writing numpy `.npz` archives and other output files atomically.
//!
//! An `.npz` is a zip archive holding one `.npy` file per array, named
//! `NAME.npy`; `numpy.load` returns a mapping from `NAME` to the array.
//! We write NPY format version 1.0 (header length fits in a `u16`), which
//! every numpy since 1.0 reads, with little-endian data in C order.
//!
//! Entries are *stored* (not compressed): simulation output is mostly
//! floating-point noise that deflate barely shrinks, and stored entries
//! are written at disk speed and can be memory-mapped by readers.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The element type of an array, as numpy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    I64,
    I32,
    Bool,
    /// A fixed-width string of this many characters, stored as numpy
    /// does (`<U` + width: UTF-32 code points, padded with zeros). Used
    /// for the archive's `metadata`, a JSON text.
    Unicode(usize),
}

impl Dtype {
    /// The numpy type string: byte order, kind, item size.
    pub fn descr(self) -> String {
        match self {
            Dtype::F64 => "<f8".into(),
            Dtype::I64 => "<i8".into(),
            Dtype::I32 => "<i4".into(),
            // One byte has no byte order; numpy spells that `|`.
            Dtype::Bool => "|b1".into(),
            Dtype::Unicode(chars) => format!("<U{chars}"),
        }
    }

    pub fn item_size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::I32 => 4,
            Dtype::Bool => 1,
            Dtype::Unicode(chars) => 4 * chars,
        }
    }

    /// The first of `values` this type cannot hold exactly, with its
    /// position: a recorded integer that is not a whole number in range
    /// (2**40, NaN, inf in an int32 array). Such a value is an error,
    /// never stored changed (a cast would clamp it or make NaN 0).
    pub fn unrepresentable(self, values: &[f64]) -> Option<(usize, f64)> {
        let fits = |v: f64, lo: f64, hi: f64| v.fract() == 0.0 && v >= lo && v <= hi;
        match self {
            Dtype::F64 | Dtype::Bool | Dtype::Unicode(_) => None,
            Dtype::I32 => values
                .iter()
                .position(|&v| !fits(v, f64::from(i32::MIN), f64::from(i32::MAX))),
            // 2**63 itself is out of range; -2**63 is in.
            Dtype::I64 => values
                .iter()
                .position(|&v| !fits(v, -(2f64.powi(63)), 2f64.powi(63) - 1024.0)),
        }
        .map(|k| (k, values[k]))
    }

    /// The error for value `value` of array `name` that this type cannot
    /// hold.
    pub fn unrepresentable_error(self, name: &str, value: f64) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "integer variable `{name}` holds {}, which its {} array cannot store; \
                 values are never stored changed (keep integer variables whole and within \
                 ±{})",
                number_text(value),
                if self == Dtype::I64 {
                    "64-bit"
                } else {
                    "32-bit"
                },
                if self == Dtype::I64 {
                    "9.2e18"
                } else {
                    "2147483647"
                }
            ),
        )
    }

    /// Appends `values` encoded as this type, little-endian. Recorded
    /// integers and booleans are held as `f64`, which represents them
    /// exactly, so the conversion loses nothing.
    pub fn encode(self, values: &[f64], out: &mut Vec<u8>) {
        out.reserve(values.len() * self.item_size());
        match self {
            Dtype::F64 => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Dtype::I64 => values
                .iter()
                .for_each(|&v| out.extend_from_slice(&(v as i64).to_le_bytes())),
            Dtype::I32 => values
                .iter()
                .for_each(|&v| out.extend_from_slice(&(v as i32).to_le_bytes())),
            Dtype::Bool => out.extend(values.iter().map(|&v| u8::from(v != 0.0))),
            // Numbers are never text; `Part::Text` carries strings.
            Dtype::Unicode(_) => {}
        }
    }
}

/// A number as a message shows it: 1e300 with an exponent, not 300 digits.
pub fn number_text(v: f64) -> String {
    if v.is_finite() && v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A run of an array's elements. An array is the concatenation of its
/// parts, which lets a recording that was partly written to disk during
/// the run be archived without reading it back into memory.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Values converted to the array's type as they are written.
    Values(&'a [f64]),
    /// Integers for an `I64` array.
    I64(&'a [i64]),
    /// Integers for an `I32` array.
    I32(&'a [i32]),
    /// A file holding `elements` elements already encoded in the array's
    /// type (see [`Dtype::encode`]).
    File { path: &'a Path, elements: usize },
    /// One string for a `Unicode` array at least as wide as it.
    Text(&'a str),
}

impl Part<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Part::Values(v) => v.len(),
            Part::I64(v) => v.len(),
            Part::I32(v) => v.len(),
            Part::File { elements, .. } => *elements,
            Part::Text(_) => 1,
        }
    }
}

/// One named array of an `.npz` archive. An empty shape is a 0-d scalar
/// holding one element. The elements are in C (row-major) order, or in
/// Fortran (column-major) order if `fortran_order` is set: a recording
/// of shape (neurons, times) taken one time point after another is
/// column-major as recorded, and numpy reads either transparently.
#[derive(Debug, Clone)]
pub struct NpyArray<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    pub dtype: Dtype,
    pub parts: Vec<Part<'a>>,
}

impl<'a> NpyArray<'a> {
    /// A C-order array held in memory.
    pub fn new(name: &'a str, shape: Vec<usize>, dtype: Dtype, part: Part<'a>) -> NpyArray<'a> {
        NpyArray {
            name,
            shape,
            fortran_order: false,
            dtype,
            parts: vec![part],
        }
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The NPY 1.0 preamble and header for `array`: magic, version, header
/// length and the header dict, padded so the data starts at a multiple of
/// 64 bytes (numpy's alignment, which lets readers memory-map the data).
fn npy_header(array: &NpyArray) -> io::Result<Vec<u8>> {
    let shape = match array.shape.as_slice() {
        [] => "()".to_string(),
        // A 1-tuple needs its trailing comma to be a tuple in Python.
        [n] => format!("({n},)"),
        dims => {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
        array.dtype.descr(),
        if array.fortran_order { "True" } else { "False" },
        shape
    );
    const PREAMBLE: usize = 6 + 2 + 2; // magic, version, header length
    let unpadded = PREAMBLE + dict.len() + 1; // +1 for the final newline
    let total = unpadded.div_ceil(64) * 64;
    let header_len = u16::try_from(total - PREAMBLE).map_err(|_| {
        invalid_input(format!(
            "array `{}` has too many dimensions for an .npy header",
            array.name
        ))
    })?;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY");
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    Ok(out)
}

/// Checks everything that could make the archive wrong before any byte is
/// written, so a bad call fails cleanly instead of leaving a partial file.
fn validate(arrays: &[NpyArray]) -> io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for array in arrays {
        if array.name.is_empty() || array.name.contains('\0') {
            return Err(invalid_input(format!(
                "invalid .npz array name {:?}",
                array.name
            )));
        }
        if !seen.insert(array.name) {
            return Err(invalid_input(format!(
                "array name `{}` appears twice in one .npz",
                array.name
            )));
        }
        let elements = array
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                invalid_input(format!(
                    "shape {:?} of array `{}` overflows",
                    array.shape, array.name
                ))
            })?;
        if elements != array.len() {
            return Err(invalid_input(format!(
                "array `{}` has shape {:?} ({} elements) but {} data elements",
                array.name,
                array.shape,
                elements,
                array.len()
            )));
        }
        for part in &array.parts {
            if let Part::Values(values) = part {
                if let Some((_, v)) = array.dtype.unrepresentable(values) {
                    return Err(array.dtype.unrepresentable_error(array.name, v));
                }
            }
            match (part, array.dtype) {
                (Part::I64(_), Dtype::I64) | (Part::I32(_), Dtype::I32) | (Part::Values(_), _) => {}
                (Part::Text(text), Dtype::Unicode(chars)) if text.chars().count() <= chars => {}
                (Part::File { path, elements }, dtype) => {
                    let expected = (*elements as u64).saturating_mul(dtype.item_size() as u64);
                    let actual = fs::metadata(path)?.len();
                    if actual != expected {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "{} holds {actual} bytes, not the {expected} of {elements} \
                                 elements of `{}`",
                                path.display(),
                                array.name
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(invalid_input(format!(
                        "array `{}` mixes integer types",
                        array.name
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Writes the elements little-endian through a fixed-size buffer: one
/// `write` per element would make the zip writer's per-call CRC update and
/// bookkeeping dominate, and converting the whole array at once would
/// double peak memory for large recordings. File parts are copied as
/// they are.
fn write_data<W: Write>(out: &mut W, array: &NpyArray) -> io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(CHUNK);
    for part in &array.parts {
        match *part {
            Part::Values(values) => {
                for chunk in values.chunks(CHUNK / 8) {
                    buf.clear();
                    array.dtype.encode(chunk, &mut buf);
                    out.write_all(&buf)?;
                }
            }
            Part::I64(values) => {
                for chunk in values.chunks(CHUNK / 8) {
                    buf.clear();
                    chunk
                        .iter()
                        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
                    out.write_all(&buf)?;
                }
            }
            Part::I32(values) => {
                for chunk in values.chunks(CHUNK / 4) {
                    buf.clear();
                    chunk
                        .iter()
                        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
                    out.write_all(&buf)?;
                }
            }
            Part::Text(text) => {
                let Dtype::Unicode(chars) = array.dtype else {
                    continue;
                };
                buf.clear();
                let padding = chars.saturating_sub(text.chars().count());
                for c in text.chars().chain(std::iter::repeat_n('\0', padding)) {
                    buf.extend_from_slice(&u32::from(c).to_le_bytes());
                }
                out.write_all(&buf)?;
            }
            Part::File { path, elements } => {
                let expected = (elements * array.dtype.item_size()) as u64;
                let copied = io::copy(&mut File::open(path)?.take(expected), out)?;
                if copied != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} ended early", path.display()),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn write_npz_to<W: Write + Seek>(out: W, arrays: &[NpyArray]) -> io::Result<W> {
    // The zip writer finishes the archive when dropped after an error and
    // prints any failure of that to stderr itself. Behind `Sticky`, every
    // operation after the first failure is a silent no-op, so the error
    // this function returns is the only report.
    let abandoned = Rc::new(Cell::new(false));
    let mut zip = ZipWriter::new(Sticky {
        inner: out,
        failed: None,
        abandoned: abandoned.clone(),
    });
    let entries = (|| {
        for array in arrays {
            let header = npy_header(array)?;
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                // A fixed timestamp keeps identical runs byte-identical, so
                // output files can be compared by hash.
                .last_modified_time(DateTime::default())
                .unix_permissions(0o644)
                // Zip64 only where needed: the classic format cannot record
                // sizes of 4 GiB or more, and numpy reads both.
                .large_file(entry_size(array, &header) >= u64::from(u32::MAX));
            zip.start_file(format!("{}.npy", array.name), options)?;
            zip.write_all(&header)?;
            write_data(&mut zip, array)?;
        }
        Ok::<(), io::Error>(())
    })();
    if let Err(e) = entries {
        // Whatever the cause, the archive is abandoned: dropping the zip
        // writer must neither write nor report anything more.
        abandoned.set(true);
        return Err(e);
    }
    let sticky = zip.finish()?;
    sticky.into_inner()
}

/// Bytes of one `.npy` entry: header plus data.
fn entry_size(array: &NpyArray, header: &[u8]) -> u64 {
    header.len() as u64 + (array.len() as u64).saturating_mul(array.dtype.item_size() as u64)
}

/// An upper bound on the size of the archive `write_npz` makes of
/// `arrays`: each entry's data and `.npy` header, its local and central
/// zip headers with the Zip64 extra fields, and the end records. Used to
/// refuse, before writing, an archive the disk cannot hold.
pub fn archive_size(arrays: &[NpyArray]) -> u64 {
    const PER_ENTRY: u64 = 30 + 46 + 2 * 32 + 16;
    const END: u64 = 22 + 56 + 20;
    arrays
        .iter()
        .map(|a| {
            let header = npy_header(a).map_or(1 << 16, |h| h.len() as u64);
            let data = (a.len() as u64).saturating_mul(a.dtype.item_size() as u64);
            header + data + PER_ENTRY + 2 * (a.name.len() as u64 + 4)
        })
        .fold(END, u64::saturating_add)
}

/// A writer that remembers its first failure and then accepts and drops
/// everything (see [`write_npz_to`]), as it does once `abandoned` is set;
/// `into_inner` returns that failure.
struct Sticky<W> {
    inner: W,
    failed: Option<io::Error>,
    abandoned: Rc<Cell<bool>>,
}

impl<W> Sticky<W> {
    fn silent(&self) -> bool {
        self.failed.is_some() || self.abandoned.get()
    }

    fn into_inner(self) -> io::Result<W> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.inner),
        }
    }

    fn record<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        result.map_err(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            self.failed.get_or_insert(e);
            copy
        })
    }
}

impl<W: Write> Write for Sticky<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.silent() {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.record(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.silent() {
            return Ok(());
        }
        let result = self.inner.flush();
        self.record(result)
    }
}

impl<W: Seek> Seek for Sticky<W> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        if self.silent() {
            return Ok(0);
        }
        let result = self.inner.seek(pos);
        self.record(result)
    }
}

/// What was written: the file's size and its SHA-256, for run.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

/// Writes `arrays` as a numpy `.npz` archive at `path`.
///
/// Writes atomically: to a temporary file in the same directory, fsync,
/// then rename, so a crash never leaves a truncated `.npz` that looks
/// valid. Invalid input (shape not matching the data, duplicate or empty
/// names) is an `InvalidInput` error and leaves `path` untouched.
pub fn write_npz(path: &Path, arrays: &[NpyArray]) -> io::Result<Written> {
    validate(arrays)?;
    write_via_temp(path, |file| {
        let buffered = write_npz_to(BufWriter::new(file), arrays)?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        Ok(file)
    })
}

/// Writes `bytes` to `path` atomically (temporary file in the same
/// directory, fsync, rename): readers see either the old file or the
/// complete new one, never a prefix. Used for run.json and similar.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<Written> {
    write_via_temp(path, |mut file| {
        file.write_all(bytes)?;
        Ok(file)
    })
}

/// Distinguishes temporary files of concurrent writes within one process;
/// the process id distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path_for(path: &Path) -> io::Result<PathBuf> {
    let file_name = path.file_name().ok_or_else(|| {
        invalid_input(format!(
            "cannot write to {}: not a file path",
            path.display()
        ))
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // Same directory as the target: rename is only atomic within one
    // file system.
    Ok(path.with_file_name(temp_name))
}

fn write_via_temp(
    path: &Path,
    write: impl FnOnce(File) -> io::Result<File>,
) -> io::Result<Written> {
    let temp = temp_path_for(path)?;
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let file = write(file)?;
        // Data must be on disk before the rename makes it visible, or a
        // crash could leave the new name pointing at missing blocks.
        file.sync_data()?;
        drop(file);
        // The checksum is taken from the file as it is on disk, read
        // back, so run.json vouches for the bytes a reader will get.
        let written = checksum(&temp)?;
        fs::rename(&temp, path)?;
        Ok(written)
    })();
    if result.is_err() {
        // Best effort: the original error is what the user needs to see.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Size and SHA-256 of the file at `path`.
pub fn checksum(path: &Path) -> io::Result<Written> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(Written {
        bytes,
        sha256: format!("{:x}", hasher.finalize()),
    })
}

/// Makes renames into `path`'s directory durable; called once after all
/// of a run's outputs are written rather than once per file, which would
/// cost a disk flush each. Best effort: some platforms and file
/// systems cannot open or sync a directory, and the file is already
/// complete and in place either way.
pub fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A fresh directory per test, removed when dropped, so tests can run
    /// in parallel without a tempfile dependency.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(name: &str) -> TestDir {
            let dir =
                std::env::temp_dir().join(format!("rheo-npz-test-{}-{}", std::process::id(), name));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create test dir");
            TestDir(dir)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A parsed `.npy` entry: (descr, fortran_order, shape, data bytes).
    type Parsed = (String, bool, Vec<usize>, Vec<u8>);

    /// A minimal NPY 1.0 parser, independent of the writer, that checks
    /// the layout rules numpy relies on.
    fn parse_npy(bytes: &[u8]) -> Parsed {
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        assert_eq!(&bytes[6..8], &[1, 0]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let data_start = 10 + header_len;
        assert_eq!(data_start % 64, 0, "data must be 64-byte aligned");
        let header = std::str::from_utf8(&bytes[10..data_start]).expect("ascii header");
        assert!(header.ends_with('\n'));
        let header = header.trim_end();
        assert!(header.starts_with('{') && header.ends_with('}'));
        let field = |key: &str| -> &str {
            let start = header.find(&format!("'{key}': ")).expect("key") + key.len() + 4;
            &header[start..]
        };
        let descr = field("descr");
        let descr = descr[1..].split('\'').next().expect("descr").to_string();
        let fortran = field("fortran_order").starts_with("True");
        let shape_text = field("shape");
        let shape_text = &shape_text[1..shape_text.find(')').expect("shape end")];
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("dim"))
            .collect();
        (descr, fortran, shape, bytes[data_start..].to_vec())
    }

    fn read_npz(path: &Path) -> Vec<(String, Parsed)> {
        let file = File::open(path).expect("open npz");
        let mut archive = zip::ZipArchive::new(file).expect("valid zip");
        (0..archive.len())
            .map(|i| {
                let mut entry = archive.by_index(i).expect("entry");
                let name = entry.name().to_string();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).expect("read entry");
                (name, parse_npy(&bytes))
            })
            .collect()
    }

    const F64: [f64; 6] = [0.0, -1.5, 2.25, f64::INFINITY, 1e-300, f64::MAX];
    const I64: [i64; 4] = [i64::MIN, -1, 0, i64::MAX];
    const I32: [i32; 6] = [i32::MIN, -2, -1, 0, 1, i32::MAX];
    const BOOL: [f64; 3] = [1.0, 0.0, 1.0];

    fn sample_arrays() -> Vec<NpyArray<'static>> {
        vec![
            NpyArray::new("v", vec![2, 3], Dtype::F64, Part::Values(&F64)),
            NpyArray::new("t_ns", vec![4], Dtype::I64, Part::I64(&I64)),
            NpyArray::new("idx", vec![3, 2], Dtype::I32, Part::I32(&I32)),
            NpyArray::new("spiked", vec![3, 1], Dtype::Bool, Part::Values(&BOOL)),
            NpyArray::new("empty", vec![0, 5], Dtype::F64, Part::Values(&[])),
            NpyArray::new("empty_1d", vec![0], Dtype::I32, Part::I32(&[])),
            NpyArray::new("scalar", vec![], Dtype::I64, Part::I64(&[42])),
        ]
    }

    #[test]
    fn round_trip_through_rust_parser() {
        let dir = TestDir::new("round-trip");
        let path = dir.0.join("out.npz");
        write_npz(&path, &sample_arrays()).expect("write");

        let entries = read_npz(&path);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "v.npy",
                "t_ns.npy",
                "idx.npy",
                "spiked.npy",
                "empty.npy",
                "empty_1d.npy",
                "scalar.npy"
            ]
        );
        let get = |name: &str| &entries.iter().find(|(n, _)| n == name).expect(name).1;

        let (descr, fortran, shape, data) = get("v.npy");
        assert_eq!(
            (descr.as_str(), *fortran, shape.as_slice()),
            ("<f8", false, &[2, 3][..])
        );
        let values: Vec<f64> = data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(values, F64);

        let (descr, _, shape, data) = get("t_ns.npy");
        assert_eq!((descr.as_str(), shape.as_slice()), ("<i8", &[4][..]));
        let values: Vec<i64> = data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(values, I64);

        let (descr, _, shape, data) = get("idx.npy");
        assert_eq!((descr.as_str(), shape.as_slice()), ("<i4", &[3, 2][..]));
        let values: Vec<i32> = data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        assert_eq!(values, I32);

        let (descr, _, shape, data) = get("spiked.npy");
        assert_eq!((descr.as_str(), shape.as_slice()), ("|b1", &[3, 1][..]));
        assert_eq!(data, &[1, 0, 1]);

        let (descr, _, shape, data) = get("empty.npy");
        assert_eq!((descr.as_str(), shape.as_slice()), ("<f8", &[0, 5][..]));
        assert!(data.is_empty());

        let (_, _, shape, data) = get("empty_1d.npy");
        assert_eq!(shape, &[0]);
        assert!(data.is_empty());

        let (_, _, shape, data) = get("scalar.npy");
        assert!(shape.is_empty());
        assert_eq!(data, &42i64.to_le_bytes());

        // Nothing but the target may remain: the temporary file was renamed.
        let leftovers: Vec<_> = fs::read_dir(&dir.0).expect("read dir").collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn header_text_matches_numpy() {
        let array = NpyArray::new("a", vec![3, 4], Dtype::F64, Part::Values(&[0.0; 12]));
        let header = npy_header(&array).expect("header");
        // 10 bytes of preamble + 58 of dict + newline, padded to 64.
        assert_eq!(header.len(), 128);
        let text = std::str::from_utf8(&header[10..]).expect("ascii");
        assert_eq!(
            text.trim_end(),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"
        );
        assert_eq!(u16::from_le_bytes([header[8], header[9]]), 118);

        let one_d = NpyArray::new("b", vec![7], Dtype::Bool, Part::Values(&[0.0; 7]));
        let header = npy_header(&one_d).expect("header");
        assert!(std::str::from_utf8(&header[10..])
            .expect("ascii")
            .contains("'shape': (7,), "));
    }

    #[test]
    fn output_is_deterministic() {
        let dir = TestDir::new("deterministic");
        let (a, b) = (dir.0.join("a.npz"), dir.0.join("b.npz"));
        write_npz(&a, &sample_arrays()).expect("write a");
        write_npz(&b, &sample_arrays()).expect("write b");
        assert_eq!(fs::read(&a).expect("a"), fs::read(&b).expect("b"));
    }

    #[test]
    fn invalid_input_is_rejected_without_touching_the_target() {
        let dir = TestDir::new("invalid");
        let path = dir.0.join("out.npz");
        fs::write(&path, b"previous").expect("seed");
        let cases: Vec<Vec<NpyArray>> = vec![
            // Shape product differs from data length.
            vec![NpyArray::new(
                "x",
                vec![2, 2],
                Dtype::F64,
                Part::Values(&[1.0, 2.0, 3.0]),
            )],
            // Shape product overflows usize.
            vec![NpyArray::new(
                "x",
                vec![usize::MAX, 2],
                Dtype::I32,
                Part::I32(&[]),
            )],
            // Duplicate names would make one array shadow the other.
            vec![
                NpyArray::new("x", vec![0], Dtype::I32, Part::I32(&[])),
                NpyArray::new("x", vec![0], Dtype::I32, Part::I32(&[])),
            ],
            vec![NpyArray::new("", vec![0], Dtype::Bool, Part::Values(&[]))],
        ];
        for arrays in cases {
            let err = write_npz(&path, &arrays).expect_err("must fail");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        assert_eq!(fs::read(&path).expect("target"), b"previous");
        assert_eq!(fs::read_dir(&dir.0).expect("dir").count(), 1);
    }

    #[test]
    fn write_atomically_replaces_and_cleans_up() {
        let dir = TestDir::new("atomic");
        let path = dir.0.join("run.json");
        write_atomically(&path, b"{\"a\": 1}").expect("first");
        write_atomically(&path, b"{}").expect("replace");
        assert_eq!(fs::read(&path).expect("read"), b"{}");
        assert_eq!(fs::read_dir(&dir.0).expect("dir").count(), 1);

        // A missing directory is an error, not a panic, and leaves nothing.
        let missing = dir.0.join("no-such-dir").join("x.json");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(write_atomically(Path::new("/"), b"x").is_err());
    }

    /// An array made of a file part and an in-memory part, stored in
    /// Fortran order: how a recording streamed to disk is archived.
    fn write_streamed(dir: &Path) -> PathBuf {
        let spilled = dir.join("spilled.bin");
        let mut bytes = Vec::new();
        // Samples at t0 and t1 of three neurons, time-major.
        Dtype::F64.encode(&[0.0, 1.0, 2.0, 10.0, 11.0, 12.0], &mut bytes);
        fs::write(&spilled, &bytes).expect("spill");
        let path = dir.join("streamed.npz");
        let v = NpyArray {
            name: "v",
            shape: vec![3, 3],
            fortran_order: true,
            dtype: Dtype::F64,
            parts: vec![
                Part::File {
                    path: &spilled,
                    elements: 6,
                },
                Part::Values(&[20.0, 21.0, 22.0]),
            ],
        };
        let flags = NpyArray {
            name: "flag",
            shape: vec![3],
            fortran_order: false,
            dtype: Dtype::I32,
            parts: vec![Part::Values(&[1.0]), Part::I32(&[-2, 3])],
        };
        write_npz(&path, &[v, flags]).expect("write");
        path
    }

    #[test]
    fn parts_are_concatenated_and_fortran_order_is_declared() {
        let dir = TestDir::new("parts");
        let path = write_streamed(&dir.0);
        let entries = read_npz(&path);
        let (descr, fortran, shape, data) = &entries[0].1;
        assert_eq!(
            (descr.as_str(), *fortran, shape.as_slice()),
            ("<f8", true, &[3, 3][..])
        );
        let values: Vec<f64> = data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(values, [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 20.0, 21.0, 22.0]);
        let (_, _, _, data) = &entries[1].1;
        let flags: Vec<i32> = data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        assert_eq!(flags, [1, -2, 3]);

        // A file part shorter than announced is refused before writing.
        let short = dir.0.join("short.bin");
        fs::write(&short, [0u8; 12]).expect("short");
        let array = NpyArray {
            name: "x",
            shape: vec![2],
            fortran_order: false,
            dtype: Dtype::F64,
            parts: vec![Part::File {
                path: &short,
                elements: 2,
            }],
        };
        let err = write_npz(&dir.0.join("bad.npz"), &[array]).expect_err("short file");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(!dir.0.join("bad.npz").exists());
    }

    /// A Python interpreter with numpy, if this machine has one:
    /// `RHEO_TEST_PYTHON`, then `python3`, then the Brian2 venv.
    fn python_with_numpy() -> Option<PathBuf> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("RHEO_TEST_PYTHON") {
            candidates.push(p.into());
        }
        candidates.push("python3".into());
        if let Some(home) = std::env::var_os("HOME") {
            candidates.push(Path::new(&home).join(".brian2-venv/bin/python"));
        }
        candidates.into_iter().find(|python| {
            std::process::Command::new(python)
                .args(["-c", "import numpy"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// The real consumer's view: numpy itself must load the archive with
    /// the intended names, dtypes, shapes and values.
    #[test]
    fn numpy_loads_the_archive() {
        let Some(python) = python_with_numpy() else {
            eprintln!("note: no Python with numpy found; skipping numpy_loads_the_archive");
            return;
        };
        let dir = TestDir::new("numpy");
        let path = dir.0.join("out.npz");
        write_npz(&path, &sample_arrays()).expect("write");
        let streamed = write_streamed(&dir.0);
        let script = r#"
import sys, numpy as np
z = np.load(sys.argv[1], allow_pickle=False)
assert sorted(z.files) == sorted(['v', 't_ns', 'idx', 'spiked', 'empty', 'empty_1d', 'scalar']), z.files
def check(name, dtype, shape, values):
    a = z[name]
    assert a.dtype == np.dtype(dtype), (name, a.dtype)
    assert a.shape == shape, (name, a.shape)
    assert a.flags['C_CONTIGUOUS'], name
    assert np.array_equal(a, np.array(values, dtype=dtype).reshape(shape)), (name, a)
check('v', np.float64, (2, 3), [[0.0, -1.5, 2.25], [np.inf, 1e-300, np.finfo(np.float64).max]])
check('t_ns', np.int64, (4,), [np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max])
check('idx', np.int32, (3, 2), [[np.iinfo(np.int32).min, -2], [-1, 0], [1, np.iinfo(np.int32).max]])
check('spiked', np.bool_, (3, 1), [[True], [False], [True]])
check('empty', np.float64, (0, 5), [])
check('empty_1d', np.int32, (0,), [])
check('scalar', np.int64, (), 42)
s = np.load(sys.argv[2], allow_pickle=False)
assert s['v'].shape == (3, 3)
assert np.array_equal(s['v'], [[0, 10, 20], [1, 11, 21], [2, 12, 22]]), s['v']
assert np.array_equal(s['v'][1], [1, 11, 21])
assert s['flag'].dtype == np.int32 and list(s['flag']) == [1, -2, 3]
print('ok')
"#;
        let output = std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&path)
            .arg(&streamed)
            .output()
            .expect("run python");
        assert!(
            output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "ok",
            "numpy check failed with {}:\nstdout: {}\nstderr: {}",
            python.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
