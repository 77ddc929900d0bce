//! Printing that can never decide the outcome of a run.
//!
//! `println!` and `eprintln!` panic when the stream is gone: a closed pipe
//! (`rheo run ... 2>&1 | tee log` after Ctrl-C killed `tee`), a full
//! device (`>/dev/full`), a terminal that hung up. A panic there would
//! skip writing the results, so every message of `rheo` goes through
//! these functions instead, which write what they can and ignore the
//! rest. Rust already ignores SIGPIPE, so a closed pipe is an `EPIPE`
//! error here, never a signal that kills the process.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` to standard error, ignoring every failure.
pub fn err(args: fmt::Arguments) {
    let mut stream = io::stderr().lock();
    let _ = stream.write_fmt(args);
    let _ = stream.flush();
}

/// Writes `args` to standard output, ignoring every failure.
pub fn out(args: fmt::Arguments) {
    let mut stream = io::stdout().lock();
    let _ = stream.write_fmt(args);
    // Flushed now rather than at exit: the standard library's flush at
    // exit is also silent, but a message printed before a long run
    // should be seen before it.
    let _ = stream.flush();
}

/// `eprintln!` that cannot panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that cannot panic.
macro_rules! errs {
    ($($arg:tt)*) => {
        $crate::console::err(format_args!($($arg)*))
    };
}

/// `println!` that cannot panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, errs, outln};
