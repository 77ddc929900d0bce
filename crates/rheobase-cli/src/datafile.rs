//! Reading numeric data files: the facade's reader (`rheobase::data`),
//! which the library uses for `file:` data too, so that the command line
//! and the library read the same files the same way.

pub use rheobase::data::*;
