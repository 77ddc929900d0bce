//! Spans and diagnostics shared by every phase.
//!
//! A diagnostic names what is wrong in the user's terms and points at the
//! source. Phases only build these values; [`crate::render`] turns them
//! into text with the file name, line, column and the underlined source
//! line ([`Diagnostic::render`]).

/// A byte range `start..end` in the source text of the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Which phase found a problem, so that a program driving rheobase can
/// tell a typing mistake from a model that is too large for the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DiagnosticKind {
    /// The text does not follow the grammar (found by the parser).
    Syntax,
    /// The text parses but the model is wrong: an unknown name, units that
    /// do not match, an impossible size (found while checking and
    /// lowering).
    #[default]
    Model,
    /// The model is valid but a run would not fit in the memory or on the
    /// disk it may use.
    Resources,
    /// A value given from outside the file (`--set NAME=VALUE`, or the
    /// library's overrides) names no constant or does not fit it.
    Override,
}

/// Whether a diagnostic stops the model from running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Severity {
    /// The model cannot run.
    #[default]
    Error,
    /// The model runs, but something in it may not mean what its author
    /// expects (as Brian2's logged warnings); shown, never fatal.
    Warning,
}

impl Severity {
    /// The word that starts the rendered diagnostic: `error` or `warning`.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A problem found in a model, located in its source.
///
/// `Display` shows the message alone (`error: MESSAGE`), since a
/// diagnostic does not hold the source; [`Diagnostic::render`] shows it
/// with `FILE:LINE:COL` and the underlined source line.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Which phase found it.
    pub kind: DiagnosticKind,
    /// Whether it is an error or only a warning.
    pub severity: Severity,
    /// One sentence in the user's terms, e.g. "unknown name `Vrest`".
    pub message: String,
    /// Where the problem is; underlined when rendered.
    pub span: Span,
    /// A short label printed under the underline (may be empty).
    pub label: String,
    /// Other places that explain the problem (e.g. the first definition of
    /// a name defined twice).
    pub secondary: Vec<(Span, String)>,
    /// Extra lines: hints and explanations ("did you mean `V_rest`?").
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span` saying `message`, of kind
    /// [`DiagnosticKind::Model`].
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind: DiagnosticKind::Model,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A warning at `span` saying `message`: the model still runs.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// The same diagnostic, of kind `kind`.
    pub fn with_kind(mut self, kind: DiagnosticKind) -> Diagnostic {
        self.kind = kind;
        self
    }

    /// The same diagnostic with `label` printed under the underline.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// The same diagnostic, also pointing at `span` with `label`.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    /// The same diagnostic with one more note; a note starting with
    /// `help: ` is shown as a hint.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
}

impl Diagnostic {
    /// This diagnostic as the user sees it: `FILE:LINE:COL: error:
    /// MESSAGE`, the source line with the span underlined, and the notes
    /// (see [`crate::render`]). `source` is the text the spans point
    /// into and `file_name` what to call it.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        crate::render::render(file_name, source, std::slice::from_ref(self))
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.severity.word(), self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// 1-based line and column (in characters) of a byte offset, for messages
/// that are not rendered through the CLI's renderer.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut line = 1;
    let mut line_start = 0;
    for (k, ch) in source.char_indices() {
        if k >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            line_start = k + 1;
        }
    }
    let col = source
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    (line, col)
}
