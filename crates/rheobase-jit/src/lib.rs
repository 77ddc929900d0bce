//! rheobase-jit
