//! Monitor recordings streamed to disk during a run.
//!
//! The simulation hands its monitors' samples over whenever they reach the
//! memory budget (`--buffer-mb`). Each recorded array (`t`, `i`, `v`, ...)
//! of each monitor is appended to its own raw file in a hidden directory
//! of the output directory, already encoded as the `.npz` will hold it.
//! At the end of the run, every monitor's `.npz` is assembled from its
//! spilled files followed by the samples still in memory, then the hidden
//! directory is removed. Memory use is therefore bounded by the budget
//! whatever the length of the run; disk use peaks at the spilled data
//! plus the largest monitor's `.npz`.
//!
//! The files are only ever appended to, so if the process is killed
//! outright (SIGKILL, power loss) the raw samples written so far survive
//! in `OUT/.rheo-spill-PID/`, one little-endian array per file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rheobase::{MonitorData, RecordingSink, ValueKind};

use crate::npz::Dtype;

/// How the `.npz` stores a recorded variable of kind `kind`.
pub fn dtype_of(kind: ValueKind) -> Dtype {
    match kind {
        ValueKind::Float => Dtype::F64,
        ValueKind::Integer => Dtype::I32,
        ValueKind::Boolean => Dtype::Bool,
    }
}

/// One spilled array. Its file is opened for each append and closed
/// again: a model may record thousands of arrays, more than a process may
/// keep open, and appends are rare (one per monitor whenever the buffer
/// fills), so the cost is a few system calls per buffer.
struct Column {
    path: PathBuf,
    elements: usize,
    dtype: Dtype,
}

/// Samples encoded and written at a time (512 kB of `f64`): small
/// beside the buffer, large enough that writes are not tiny.
const ENCODE_CHUNK: usize = 1 << 16;

/// The spilled arrays of one run.
pub struct Spill {
    dir: PathBuf,
    /// Keyed by (monitor index, array name).
    columns: BTreeMap<(usize, String), Column>,
    buffer: Vec<u8>,
}

impl Spill {
    /// Spill files for a run writing into `out`; nothing is created until
    /// the first samples arrive, so short runs never touch the disk twice.
    pub fn new(out: &Path) -> Spill {
        Spill {
            dir: out.join(format!(".rheo-spill-{}", std::process::id())),
            columns: BTreeMap::new(),
            buffer: Vec::new(),
        }
    }

    /// The directory holding the spilled arrays.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether anything was spilled.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    fn append_column(
        &mut self,
        monitor: usize,
        name: &str,
        dtype: Dtype,
        values: &[f64],
    ) -> io::Result<()> {
        // Raw data is never stored changed: an integer array holding a
        // value int32 cannot (2**40, NaN) is widened to float64, which
        // holds every value exactly, and its earlier samples converted.
        // The archive then refuses the array (`write_monitor`), and the
        // spill files keep the samples as they were computed.
        let key = (monitor, name.to_string());
        let widened = self
            .columns
            .get(&key)
            .is_some_and(|c| c.dtype == Dtype::F64 && dtype == Dtype::I32);
        let dtype = if widened || dtype.unrepresentable(values).is_some() {
            if dtype == Dtype::I32 && !widened {
                self.widen(&key)?;
            }
            Dtype::F64
        } else {
            dtype
        };
        if let Some((_, v)) = dtype.unrepresentable(values) {
            return Err(dtype.unrepresentable_error(name, v));
        }
        // The buffer is reused across calls so that encoding a chunk does
        // not allocate each time.
        // Encoded a chunk at a time: encoding the whole column at once
        // would hold a second copy of the samples, and a run's peak
        // memory would be twice `--buffer-mb`.
        if values.is_empty() {
            // The column exists, empty, as it did before chunking.
            return self.append_bytes(monitor, name, &[], 0, dtype);
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let mut result = Ok(());
        for chunk in values.chunks(ENCODE_CHUNK) {
            buffer.clear();
            dtype.encode(chunk, &mut buffer);
            result = self.append_bytes(monitor, name, &buffer, chunk.len(), dtype);
            if result.is_err() {
                break;
            }
        }
        self.buffer = buffer;
        result
    }

    /// Rewrites the int32 file of column `key` (if any) as float64.
    fn widen(&mut self, key: &(usize, String)) -> io::Result<()> {
        let Some(column) = self.columns.get_mut(key) else {
            return Ok(());
        };
        if column.dtype != Dtype::I32 {
            return Ok(());
        }
        let bytes = fs::read(&column.path)?;
        let wide: Vec<u8> = bytes
            .chunks_exact(4)
            .flat_map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
            .collect();
        let temporary = column.path.with_extension("widening");
        fs::write(&temporary, &wide)?;
        fs::rename(&temporary, &column.path)?;
        column.dtype = Dtype::F64;
        Ok(())
    }

    fn append_bytes(
        &mut self,
        monitor: usize,
        name: &str,
        bytes: &[u8],
        elements: usize,
        dtype: Dtype,
    ) -> io::Result<()> {
        let key = (monitor, name.to_string());
        if !self.columns.contains_key(&key) {
            if self.columns.is_empty() {
                // A directory of this name can only be left over from a
                // killed process that had the same id; its files would be
                // appended to.
                if self.dir.exists() {
                    fs::remove_dir_all(&self.dir)?;
                }
                fs::create_dir_all(&self.dir)?;
            }
            let path = self.dir.join(format!("{monitor}-{name}.bin"));
            File::create(&path)?;
            self.columns.insert(
                key.clone(),
                Column {
                    path,
                    elements: 0,
                    dtype,
                },
            );
        }
        let column = self
            .columns
            .get_mut(&key)
            .ok_or_else(|| io::Error::other("spill column vanished"))?;
        let mut file = OpenOptions::new().append(true).open(&column.path)?;
        file.write_all(bytes)?;
        column.elements += elements;
        Ok(())
    }

    /// Appends what monitor `monitor` recorded since the last call, all of
    /// it or nothing: if any array cannot be written (a full disk), every
    /// array of the monitor is cut back to its length before the call, so
    /// the spilled files always hold the same samples of every array and
    /// the samples not written stay with the caller.
    pub fn append(&mut self, monitor: usize, samples: &MonitorData) -> io::Result<()> {
        let before: Vec<((usize, String), usize)> = self
            .columns
            .range((monitor, String::new())..)
            .take_while(|((m, _), _)| *m == monitor)
            .map(|(k, c)| (k.clone(), c.elements))
            .collect();
        let result = self.append_all(monitor, samples);
        if result.is_err() {
            for (key, column) in self.columns.iter_mut() {
                if key.0 != monitor {
                    continue;
                }
                let elements = before.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
                column.elements = elements;
                // Shrinking a file needs no space; if even that fails the
                // length check when the archive is assembled refuses the
                // file rather than trusting it.
                if let Ok(file) = OpenOptions::new().write(true).open(&column.path) {
                    let _ = file.set_len((elements * column.dtype.item_size()) as u64);
                }
            }
        }
        result
    }

    fn append_all(&mut self, monitor: usize, samples: &MonitorData) -> io::Result<()> {
        match samples {
            MonitorData::Spike {
                i, t, variables, ..
            } => {
                if i.is_empty() {
                    self.append_bytes(monitor, "i", &[], 0, Dtype::I32)?;
                }
                for chunk in i.chunks(ENCODE_CHUNK) {
                    let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                    self.append_bytes(monitor, "i", &bytes, chunk.len(), Dtype::I32)?;
                }
                self.append_column(monitor, "t", Dtype::F64, t)?;
                for (name, kind, values) in variables {
                    self.append_column(monitor, name, dtype_of(*kind), values)?;
                }
            }
            MonitorData::State { t, variables, .. } => {
                self.append_column(monitor, "t", Dtype::F64, t)?;
                for series in variables {
                    self.append_column(
                        monitor,
                        &series.name,
                        dtype_of(series.kind),
                        &series.values,
                    )?;
                }
            }
            MonitorData::Rate { t, rate, .. } => {
                self.append_column(monitor, "t", Dtype::F64, t)?;
                self.append_column(monitor, "rate", Dtype::F64, rate)?;
            }
        }
        Ok(())
    }

    /// The file holding what was spilled of array `name` of monitor
    /// `monitor`, and its number of elements, or `None` if nothing was.
    pub fn column(&self, monitor: usize, name: &str) -> Option<(&Path, usize)> {
        self.columns
            .get(&(monitor, name.to_string()))
            .map(|c| (c.path.as_path(), c.elements))
    }

    /// Whether array `name` of monitor `monitor` was spilled as float64
    /// although it is an integer array (see `append_column`).
    pub fn widened(&self, monitor: usize, name: &str, dtype: Dtype) -> bool {
        dtype == Dtype::I32
            && self
                .columns
                .get(&(monitor, name.to_string()))
                .is_some_and(|c| c.dtype == Dtype::F64)
    }

    /// Every spilled array: (monitor index, array name, file, numpy type,
    /// elements), for the recovery notes in run.json.
    pub fn arrays(&self) -> Vec<(usize, &str, &Path, String, usize)> {
        self.columns
            .iter()
            .map(|((m, name), c)| {
                (
                    *m,
                    name.as_str(),
                    c.path.as_path(),
                    c.dtype.descr(),
                    c.elements,
                )
            })
            .collect()
    }

    /// Deletes the spilled files of monitor `monitor` (after its archive
    /// was written), freeing their space for the next archive.
    pub fn remove_monitor(&mut self, monitor: usize) {
        let keys: Vec<(usize, String)> = self
            .columns
            .keys()
            .filter(|k| k.0 == monitor)
            .cloned()
            .collect();
        for key in keys {
            if let Some(column) = self.columns.remove(&key) {
                let _ = fs::remove_file(&column.path);
            }
        }
    }

    /// Deletes the spilled files (after the archives were written).
    pub fn remove(&mut self) -> io::Result<()> {
        self.columns.clear();
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The simulation's handle on a [`Spill`] that the command line keeps a
/// second handle on, to assemble the archives after the run.
pub struct SpillSink(pub Arc<Mutex<Spill>>);

impl RecordingSink for SpillSink {
    fn append(&mut self, monitor: usize, samples: &MonitorData) -> Result<(), String> {
        let mut spill = self
            .0
            .lock()
            .map_err(|_| "the recording writer failed earlier".to_string())?;
        let dir = spill.dir.display().to_string();
        spill
            .append(monitor, samples)
            .map_err(|e| format!("writing to {dir}: {e}"))
    }
}
