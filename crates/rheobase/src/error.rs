//! The one error type of the facade, and the model error that renders
//! itself with `FILE:LINE:COL` and the underlined source.

use std::fmt;
use std::sync::Arc;

use rheobase_runtime::RuntimeError;
use rheobase_syntax::{render, Diagnostic, DiagnosticKind};

/// Everything that can go wrong between model text and results.
///
/// `Display` gives the whole explanation a user needs; for a
/// [`Error::Model`] that is the rendered diagnostics, one block per
/// problem, each starting with `FILE:LINE:COL: error: MESSAGE`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The model text has errors (syntax, names, units, sizes, or a run
    /// that would not fit the machine).
    Model(ModelError),
    /// An override (`--set NAME=VALUE`, [`crate::Model::compile`]'s
    /// overrides) names no constant of the model or does not fit it.
    Override(OverrideError),
    /// A file could not be read.
    Io {
        /// The file, as the caller named it.
        path: String,
        /// Why, in one sentence.
        message: String,
    },
    /// The simulation failed while running (or was interrupted:
    /// [`RuntimeError::Interrupted`], after which the results so far are
    /// kept and the run can be resumed).
    Runtime(RuntimeError),
    /// A group, variable or monitor asked for by name does not exist.
    NotFound {
        /// What was asked for, e.g. "group `E`" or "variable `V` of `G`".
        what: String,
        /// The names that do exist and are closest, best first.
        suggestions: Vec<String>,
    },
    /// A variable was written with the wrong number of values.
    Length {
        /// `GROUP.VARIABLE`.
        variable: String,
        /// Number of values the variable holds.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// An argument makes no sense (a negative duration, say).
    InvalidArgument(String),
}

impl Error {
    /// Whether this is an interruption ([`RuntimeError::Interrupted`]):
    /// the run stopped at a whole step and everything recorded so far is
    /// kept.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Runtime(RuntimeError::Interrupted { .. }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Model(e) => e.fmt(f),
            Error::Override(e) => e.fmt(f),
            Error::Io { path, message } => write!(f, "{path}: error: {message}"),
            Error::Runtime(e) => write!(f, "error: {e}"),
            Error::NotFound { what, suggestions } => {
                write!(f, "error: there is no {what}")?;
                match suggestions.as_slice() {
                    [] => Ok(()),
                    [one] => write!(f, "; did you mean `{one}`?"),
                    many => write!(
                        f,
                        "; did you mean one of {}?",
                        many.iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            Error::Length {
                variable,
                expected,
                got,
            } => write!(
                f,
                "error: `{variable}` holds {expected} value{}, but {got} {} given",
                if *expected == 1 { "" } else { "s" },
                if *got == 1 { "was" } else { "were" }
            ),
            Error::InvalidArgument(message) => write!(f, "error: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Runtime(e) => Some(e),
            Error::Model(e) => e.diagnostics.first().map(|d| d as _),
            _ => None,
        }
    }
}

impl From<RuntimeError> for Error {
    fn from(e: RuntimeError) -> Error {
        Error::Runtime(e)
    }
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Error {
        Error::Model(e)
    }
}

/// The problems found in a model, with the text they point into, so that
/// it can render itself.
#[derive(Debug, Clone)]
pub struct ModelError {
    /// What the model is called in messages: its path, or the name given
    /// to [`crate::Model::from_source`].
    pub file_name: String,
    /// The text the diagnostics' spans point into (with any overrides
    /// substituted, so the line shown is the one that was checked).
    pub source: Arc<str>,
    /// Every problem found, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ModelError {
    /// The kind of the first problem (the one to fix first).
    pub fn kind(&self) -> DiagnosticKind {
        self.diagnostics
            .first()
            .map_or(DiagnosticKind::Model, |d| d.kind)
    }

    /// Every problem, rendered: one block per diagnostic, separated by an
    /// empty line (exactly what `rheo check` prints).
    pub fn render(&self) -> String {
        render::render(&self.file_name, &self.source, &self.diagnostics)
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl std::error::Error for ModelError {}

/// An override that names no constant of the model, or one that cannot
/// be overridden, or whose value does not fit it.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideError {
    /// The constant's name as given.
    pub name: String,
    /// The value as given.
    pub value: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// A hint ("did you mean `we`?"), or empty.
    pub help: String,
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error: in the override `{}={}`: {}",
            self.name, self.value, self.message
        )?;
        if !self.help.is_empty() {
            write!(f, "\n  = help: {}", self.help)?;
        }
        Ok(())
    }
}

impl std::error::Error for OverrideError {}
