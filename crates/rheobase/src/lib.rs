//! rheobase
