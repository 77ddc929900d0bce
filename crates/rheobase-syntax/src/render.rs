//! Rendering diagnostics for humans, without colour.
//!
//! Each diagnostic starts with a `FILE:LINE:COL: error: MESSAGE` line
//! (`warning:` for a warning),
//! the form compilers have used for decades, so editors and tools can
//! jump to the location. Below it, codespan-reporting draws the source
//! with the spans underlined and labelled, then the notes:
//!
//! ```text
//! model.rheo:3:9: error: unknown name `Vrest`
//!   |
//! 3 |     v = Vrest + 1
//!   |         ^^^^^ not defined
//!   |
//!   = help: did you mean `V_rest`?
//! ```
//!
//! Codespan's own first two lines (`error: MESSAGE` and `--> FILE:L:C`)
//! are replaced by that single line. Line and column are 1-based, the
//! column counted in characters, matching [`crate::line_col`].
//!
//! The renderer lives here, beside [`Diagnostic`], so that every user of
//! the library (the command line, the facade's error type, the Python
//! package) shows the same text: it is a pure function of the diagnostic
//! and the source, with no IO.

use crate::{Diagnostic, Span};
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

/// Renders `diagnostics` found in `source` (the contents of `file_name`).
/// Each rendered diagnostic ends with an empty line, separating it from
/// the next. Spans out of range, reversed, or splitting a UTF-8 character
/// are clamped to the source rather than trusted.
pub fn render(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    // Both are built once for all diagnostics: a file with 20,000 errors
    // must not be rescanned 20,000 times.
    let lines = LineIndex::new(source);
    let file = SimpleFile::new(file_name, source);
    let mut out = String::new();
    for diagnostic in diagnostics {
        render_one(&mut out, &lines, &file, diagnostic);
    }
    out
}

/// Where each line of a source starts, to turn byte offsets into 1-based
/// lines and columns in logarithmic time instead of a scan from the
/// start of the file.
struct LineIndex<'s> {
    source: &'s str,
    /// Byte offset of the first character of each line.
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    fn new(source: &'s str) -> LineIndex<'s> {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(k, _)| k + 1))
            .collect();
        LineIndex { source, starts }
    }

    /// The same as `rheobase_syntax::line_col(source, offset)`: the line,
    /// and the column counted in characters.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        // The last line starting at or before `offset`; a line break
        // itself belongs to the line it ends.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self
            .source
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }
}

/// `FILE: error: MESSAGE`, for errors that have no place in a source file
/// (e.g. the file cannot be read).
pub fn render_plain_message(file_name: &str, message: &str) -> String {
    format!("{file_name}: error: {message}\n")
}

/// Lines longer than this (in bytes) are not shown in snippets.
const MAX_SNIPPET_LINE: usize = 2000;

/// The length of the longest source line that `span` touches.
fn longest_line(source: &str, span: Span) -> usize {
    let start = source[..span.start].rfind('\n').map_or(0, |k| k + 1);
    let end = source[span.end..]
        .find('\n')
        .map_or(source.len(), |k| span.end + k);
    source[start..end]
        .split('\n')
        .map(str::len)
        .max()
        .unwrap_or(0)
}

fn render_one(
    out: &mut String,
    lines: &LineIndex,
    file: &SimpleFile<&str, &str>,
    diagnostic: &Diagnostic,
) {
    let (file_name, source) = (*file.name(), lines.source);
    let primary = clamp(source, diagnostic.span);
    let (line, col) = lines.line_col(primary.start);
    out.push_str(&format!(
        "{file_name}:{line}:{col}: {}: {}\n",
        diagnostic.severity.word(),
        diagnostic.message
    ));

    // A snippet of a very long line (a generated or corrupted file) would
    // flood the terminal; the header already says where the problem is.
    let touched = [primary]
        .into_iter()
        .chain(diagnostic.secondary.iter().map(|(s, _)| clamp(source, *s)));
    if touched
        .into_iter()
        .any(|s| longest_line(source, s) > MAX_SNIPPET_LINE)
    {
        if !diagnostic.label.is_empty() {
            out.push_str(&format!("  = {}\n", diagnostic.label));
        }
        for note in &diagnostic.notes {
            out.push_str(&format!("  = {}\n", note_text(note)));
        }
        out.push('\n');
        return;
    }

    let mut labels = vec![
        Label::primary((), primary.start..primary.end).with_message(diagnostic.label.as_str())
    ];
    for (span, label) in &diagnostic.secondary {
        let span = clamp(source, *span);
        labels.push(Label::secondary((), span.start..span.end).with_message(label.as_str()));
    }
    // The message is already in our header line; an empty one lets us find
    // and drop codespan's header exactly.
    let cs = CsDiagnostic::error()
        .with_message("")
        .with_labels(labels)
        .with_notes(diagnostic.notes.iter().map(|n| note_text(n)).collect());

    let config = Config {
        // ASCII draws the same everywhere: logs, CI, Windows consoles.
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut buffer = Vec::new();
    match term::emit_to_io_write(&mut buffer, &config, file, &cs) {
        Ok(()) => out.push_str(&strip_codespan_header(&String::from_utf8_lossy(&buffer))),
        // Cannot happen with clamped spans; if it does, the header line
        // still says what and where, which is better than nothing.
        Err(_) => {
            for note in &diagnostic.notes {
                out.push_str(&format!("  = {}\n", note_text(note)));
            }
            out.push('\n');
        }
    }
}

/// Notes are written by the phases as plain sentences; a leading `help: `
/// or `note: ` says which kind it is, and plain text is a note.
fn note_text(note: &str) -> String {
    if note.starts_with("help:") || note.starts_with("note:") {
        note.to_string()
    } else {
        format!("note: {note}")
    }
}

/// Drops codespan's `error: ` header (its message is empty) and the
/// `--> FILE:LINE:COL` locus line, both repeated by our own header line,
/// and trailing spaces codespan leaves in its gutter (invisible, but they
/// trip up golden files and editors that strip them).
fn strip_codespan_header(rendered: &str) -> String {
    let rest = rendered.strip_prefix("error: \n").unwrap_or(rendered);
    let rest = match rest.split_once('\n') {
        Some((first, tail)) if first.trim_start().starts_with("-->") => tail,
        _ => rest,
    };
    let mut out = String::with_capacity(rest.len());
    for line in rest.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Makes `span` safe to hand to codespan: within the source, start <= end,
/// both on character boundaries (start rounded down, end rounded up so a
/// split character is underlined whole), and without a trailing line
/// break, which would otherwise make a one-line span look multi-line.
fn clamp(source: &str, span: Span) -> Span {
    let (lo, hi) = if span.start <= span.end {
        (span.start, span.end)
    } else {
        (span.end, span.start)
    };
    let mut start = lo.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = hi.min(source.len()).max(start);
    while !source.is_char_boundary(end) {
        end += 1;
    }
    // A span of nothing but line breaks becomes an empty span at the end
    // of its line; codespan shows only what is left of a line once its
    // break is removed.
    end = start + source[start..end].trim_end_matches(['\n', '\r']).len();
    if start > 0 && source[start..].starts_with('\n') && source[..start].ends_with('\r') {
        // Between the two bytes of a CRLF: step back before the `\r`.
        start -= 1;
        end = end.max(start);
    }
    if start == end && start == source.len() {
        // "Unexpected end of file" and the like: point just past the last
        // character of the last line, not at the empty line after the
        // final newline, which shows nothing.
        start = source.trim_end_matches(['\n', '\r']).len();
        end = start;
    }
    Span::new(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Compares against `tests/data/render/NAME.txt`. With
    /// `RHEO_BLESS=1` the file is (re)written instead, for reviewing the
    /// new output with `git diff`.
    fn golden(name: &str, file_name: &str, source: &str, diagnostics: &[Diagnostic]) {
        let actual = render(file_name, source, diagnostics);
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/render")
            .join(format!("{name}.txt"));
        if std::env::var_os("RHEO_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &actual).expect("bless");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with RHEO_BLESS=1)", path.display()));
        assert_eq!(
            actual,
            expected,
            "\n--- actual ---\n{actual}\n--- expected ({}) ---\n{expected}",
            path.display()
        );
    }

    const NEURON: &str = "\
neuron LIF {
    param tau = 10 ms
    param V_rest = -70 mV
    state v = V_rest
    dv/dt = (Vrest - v) / tau
    param tau = 20 ms
}
";

    fn span_of(source: &str, needle: &str, nth: usize) -> Span {
        let start = source
            .match_indices(needle)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("needle in source");
        Span::new(start, start + needle.len())
    }

    #[test]
    fn unknown_name_with_notes() {
        let d = Diagnostic::error(span_of(NEURON, "Vrest", 0), "unknown name `Vrest`")
            .with_label("not defined")
            .with_note("help: did you mean `V_rest`?")
            .with_note("names are case-sensitive");
        golden("unknown_name", "lif.rheo", NEURON, &[d]);
    }

    #[test]
    fn duplicate_with_secondary_span() {
        let d = Diagnostic::error(span_of(NEURON, "tau", 2), "`tau` is defined twice")
            .with_label("second definition")
            .with_secondary(span_of(NEURON, "tau", 0), "first defined here");
        golden("duplicate", "lif.rheo", NEURON, &[d]);
    }

    #[test]
    fn multi_line_span() {
        let start = span_of(NEURON, "state", 0).start;
        let end = span_of(NEURON, "tau\n", 0).end;
        let d = Diagnostic::error(Span::new(start, end), "these lines form a cycle")
            .with_label("cycle");
        // Starting mid-line draws the start marker under the line.
        let mid = Diagnostic::error(
            Span::new(
                span_of(NEURON, "V_rest", 0).start,
                span_of(NEURON, "v =", 0).end,
            ),
            "a span starting mid-line",
        )
        .with_label("here");
        golden("multi_line", "lif.rheo", NEURON, &[d, mid]);
    }

    #[test]
    fn utf8_columns_and_split_characters() {
        let source = "param τ_m = 10 ms\nparam θ = 1 µV\n";
        let theta = source.find('θ').expect("theta");
        let d1 = Diagnostic::error(Span::new(theta, theta + 'θ'.len_utf8()), "bad name `θ`")
            .with_label("here");
        // Both ends inside multi-byte characters: widened to whole ones.
        let mu = source.find('µ').expect("mu");
        let d2 =
            Diagnostic::error(Span::new(mu + 1, mu + 2), "unknown unit `µV`").with_label("unit");
        golden("utf8", "greek.rheo", source, &[d1, d2]);
    }

    #[test]
    fn out_of_range_empty_and_reversed_spans() {
        let source = "neuron N {\n    v = 1\n";
        let len = source.len();
        let ds = [
            Diagnostic::error(Span::new(len, len), "unexpected end of file")
                .with_label("expected `}`")
                .with_secondary(Span::new(7, 8), "unclosed `{`"),
            Diagnostic::error(Span::new(len + 10, len + 20), "span beyond the end"),
            Diagnostic::error(Span::new(21, 15), "reversed span").with_label("this"),
            Diagnostic::error(Span::new(4, 4), "empty span").with_label("here"),
        ];
        golden("edge_spans", "n.rheo", source, &ds);
    }

    #[test]
    fn empty_source_and_tabs() {
        let ds = [Diagnostic::error(Span::new(0, 5), "empty model").with_label("nothing here")];
        golden("empty_source", "empty.rheo", "", &ds);
        let source = "neuron N {\n\tv = x\n}\n";
        let x = source.find('x').expect("x");
        let ds = [Diagnostic::error(Span::new(x, x + 1), "unknown name `x`").with_label("tab")];
        golden("tabs", "tab.rheo", source, &ds);
    }

    #[test]
    fn plain_message() {
        assert_eq!(
            render_plain_message(
                "missing.rheo",
                "cannot read file: No such file or directory"
            ),
            "missing.rheo: error: cannot read file: No such file or directory\n"
        );
    }

    #[test]
    fn no_diagnostics_render_nothing() {
        assert_eq!(render("x.rheo", "abc", &[]), "");
    }

    /// Every span over a small mixed-width source, including out-of-range
    /// and reversed ones, renders without panicking, and the header agrees
    /// with `line_col` on the clamped start.
    #[test]
    fn every_span_renders() {
        let source = "a é\r\n\tτ😀 b\n\nend";
        for start in 0..source.len() + 3 {
            for end in 0..source.len() + 3 {
                let d = Diagnostic::error(Span::new(start, end), "m")
                    .with_label("l")
                    .with_secondary(Span::new(end, start), "s");
                let out = render("f", source, &[d]);
                let clamped = clamp(source, Span::new(start, end));
                let (line, col) = crate::line_col(source, clamped.start);
                assert_eq!(LineIndex::new(source).line_col(clamped.start), (line, col));
                assert!(
                    out.starts_with(&format!("f:{line}:{col}: error: m\n")),
                    "{start}..{end}:\n{out}"
                );
                assert!(out.contains('^'), "{start}..{end}:\n{out}");
                // The CRLF's `\r` must not reach the terminal, where it
                // would move the cursor and garble the line.
                assert!(!out.contains('\r'), "{start}..{end}:\n{out}");
            }
        }
    }
}
