//! rheobase-ir
