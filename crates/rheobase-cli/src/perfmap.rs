//! `--perf-map`: names the JIT's kernels for `perf`.
//!
//! `perf report` resolves addresses in anonymous executable memory through
//! `/tmp/perf-PID.map`, one `START SIZE NAME` line per symbol (hexadecimal
//! start and size). Without it, every kernel shows as an unknown address
//! and a profile of a simulation says nothing about which kernel is hot.

use std::io::Write;
use std::path::PathBuf;

use rheobase::runtime::KernelCode;

/// Writes the perf map of this process and returns its path.
pub fn write(kernels: &[KernelCode]) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("perf-{}.map", std::process::id()));
    let mut text = String::new();
    for k in kernels.iter().filter(|k| k.size > 0) {
        // perf splits a line at its first two spaces; the name is the rest.
        text.push_str(&format!("{:x} {:x} rheo:{}\n", k.address, k.size, k.name));
    }
    let mut file = std::fs::File::create(&path)?;
    file.write_all(text.as_bytes())?;
    Ok(path)
}
