//! rheobase-runtime
