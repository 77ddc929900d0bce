//! The `.model` language's syntax: a pest grammar and an owned AST with spans.
//!
//! Principal entry point: [`parse`], which turns source text into an
//! [`ast::Model`] or a list of [`Diagnostic`]s. pest's types never leave this
//! crate, and this crate knows nothing of units or semantics.

pub mod ast;
mod diagnostic;

pub use diagnostic::{line_col, Diagnostic, Span};
