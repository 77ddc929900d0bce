//! Spans and diagnostics shared by every phase.
//!
//! A diagnostic names what is wrong in the user's terms and points at the
//! source. Rendering (with file name, line, column and the underlined
//! source line) is the CLI's job; phases only build these values.

/// A byte range `start..end` in the source text of the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
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

/// A problem found in a model, located in its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
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
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
}

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
