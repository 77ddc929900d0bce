//! rheobase-units
