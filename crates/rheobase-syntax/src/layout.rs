//! The line pre-pass: comments, indentation and continuation lines.
//!
//! The file's structure is decided here, before any pest rule runs, for two
//! reasons. Indentation-sensitive layout is awkward to express in a PEG, and
//! a cheap linear scan is the right place to refuse inputs that would make a
//! recursive parser overflow its stack (deeply nested brackets) or allocate
//! without bound (enormous lines).
//!
//! The pre-pass produces a *masked* copy of the source with exactly the same
//! byte length: comments and carriage returns are replaced by spaces. Every
//! offset into the masked text is therefore also an offset into the original
//! source, so spans never need translating.

use crate::{Diagnostic, Span};

/// Brackets may not nest deeper than this. pest's rules and the AST builder
/// recurse once per bracket level, so the limit keeps both far from the end
/// of even a small thread stack.
pub(crate) const MAX_BRACKET_DEPTH: usize = 200;

/// A logical line longer than this is refused before pest sees it, because
/// pest's token queue costs tens of bytes per input byte.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// A bound on how deeply an expression's syntax tree may nest (operators
/// chained without brackets nest too: `a+b+c` is `(a+b)+c`). Deep trees are
/// refused because every later phase walks them recursively.
pub(crate) const MAX_EXPR_DEPTH: usize = 1000;

/// One logical line: one or more physical lines joined by continuation.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Byte offset of the first non-blank character.
    pub start: usize,
    /// Byte offset just past the last non-blank, non-comment character.
    pub end: usize,
    /// Width of the indentation of the first physical line, in columns
    /// (a space is one, a tab advances to the next multiple of 8).
    pub indent: usize,
    /// An error about this line was already reported by the pre-pass, so
    /// the parser must skip it rather than report a second, confusing one.
    pub poisoned: bool,
    /// Index (into the line list) of the first line after this line's
    /// indented block; the block is `index + 1 .. children_end`.
    pub children_end: usize,
}

/// The result of the pre-pass.
pub(crate) struct Layout {
    pub masked: String,
    pub lines: Vec<Line>,
}

/// Bracket bookkeeping for the logical line being assembled.
struct Brackets {
    /// Offsets of the open brackets, innermost last, at most
    /// `MAX_BRACKET_DEPTH` of them.
    open: Vec<usize>,
    /// Open brackets beyond the recorded ones (only after an overflow).
    hidden: usize,
}

impl Brackets {
    fn depth(&self) -> usize {
        self.open.len() + self.hidden
    }
}

/// A physical line of the masked text.
struct Physical {
    content_start: usize,
    content_end: usize,
    indent: usize,
}

/// Replaces comments (outside quotes) and carriage returns by spaces of the
/// same byte length, so that the masked text lines up with the source.
///
/// It works on bytes: every byte it looks for is ASCII, and a comment runs
/// to the end of its line, so blanking every byte of it (including all the
/// bytes of any multi-byte character) keeps the text valid UTF-8.
fn mask(source: &str) -> String {
    let mut bytes = source.as_bytes().to_vec();
    // A byte-order mark at the very start is invisible to the user.
    if source.starts_with('\u{feff}') {
        bytes[..3].fill(b' ');
    }
    let mut k = 0;
    let mut quote: Option<u8> = None;
    while k < bytes.len() {
        match bytes[k] {
            b'\n' => quote = None,
            b'\r' => bytes[k] = b' ',
            b if quote == Some(b) => quote = None,
            _ if quote.is_some() => {}
            b @ (b'\'' | b'"') => quote = Some(b),
            b'#' => {
                let end = memchr_newline(&bytes, k).unwrap_or(bytes.len());
                bytes[k..end].fill(b' ');
                k = end;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    // Cannot fail (see above); falling back to the source keeps this
    // function total without a panic path.
    String::from_utf8(bytes).unwrap_or_else(|_| source.to_string())
}

/// True when a line's content ends with something that cannot end an
/// expression: an open bracket, a comma or a binary operator. Such a line
/// continues on the next one, as Brian2's multi-line equations do.
fn ends_with_operator(content: &str) -> bool {
    let Some(last) = content.chars().next_back() else {
        return false;
    };
    if matches!(
        last,
        '(' | '[' | ',' | '+' | '-' | '*' | '/' | '%' | '<' | '>' | '!'
    ) {
        return true;
    }
    // `==`, `<=`, `>=` and `!=` end in `=`, but a lone `=` (an assignment
    // with its value missing) does not continue: it is reported as an error
    // on its own line instead of swallowing the next statement.
    if last == '=' {
        let before = content[..content.len() - 1].chars().next_back();
        return matches!(before, Some('=' | '<' | '>' | '!'));
    }
    for word in ["and", "or", "not"] {
        if let Some(rest) = content.strip_suffix(word) {
            let prev = rest.chars().next_back();
            if !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                return true;
            }
        }
    }
    false
}

/// The pre-pass stops recording errors after this many; the parser caps
/// the total anyway, and a file with a million tabbed lines should not cost
/// a million diagnostics' worth of memory.
const MAX_LAYOUT_ERRORS: usize = 200;

fn push_capped(diags: &mut Vec<Diagnostic>, d: Diagnostic) {
    if diags.len() < MAX_LAYOUT_ERRORS {
        diags.push(d);
    }
}

/// Runs the pre-pass, appending any errors to `diags`.
pub(crate) fn layout(source: &str, diags: &mut Vec<Diagnostic>) -> Layout {
    let masked = mask(source);
    let mut lines: Vec<Line> = Vec::new();
    let mut brackets = Brackets {
        open: Vec::new(),
        hidden: 0,
    };
    // Whether the previous physical line ended in an operator.
    let mut continues = false;

    let mut line_start = 0;
    let mut line_number = 1;
    let bytes = masked.as_bytes();
    while line_start <= masked.len() {
        let line_end = memchr_newline(bytes, line_start).unwrap_or(masked.len());
        let physical = physical_line(&masked, line_start, line_end, line_number, diags);
        line_number += 1;
        if let Some(p) = physical {
            let joins = match lines.last() {
                // A trailing operator continues onto a line indented at
                // least as much as the statement; an open bracket onto a
                // line indented more. A line further left than that starts
                // something new, so that a forgotten operand or bracket is
                // reported where it is instead of swallowing the next key
                // or statement.
                Some(cur) => {
                    (continues && p.indent >= cur.indent)
                        || (brackets.depth() > 0 && p.indent > cur.indent)
                }
                None => false,
            };
            if !joins {
                if let Some(cur) = lines.last_mut() {
                    finish_line(cur, &brackets, &masked, diags);
                }
                brackets.open.clear();
                brackets.hidden = 0;
                lines.push(Line {
                    start: p.content_start,
                    end: p.content_end,
                    indent: p.indent,
                    poisoned: false,
                    children_end: 0,
                });
            }
            if let Some(cur) = lines.last_mut() {
                cur.end = p.content_end;
                scan_brackets(&masked, &p, &mut brackets, cur, diags);
            }
            continues = ends_with_operator(&masked[p.content_start..p.content_end]);
        }
        line_start = line_end + 1;
    }
    if let Some(cur) = lines.last_mut() {
        finish_line(cur, &brackets, &masked, diags);
    }
    compute_blocks(&mut lines);
    Layout { masked, lines }
}

fn memchr_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|k| k + from)
}

/// Measures one physical line; `None` for a blank (or comment-only) line.
fn physical_line(
    masked: &str,
    start: usize,
    end: usize,
    line_number: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<Physical> {
    let text = &masked[start..end];
    // Plain byte loops: these run over every byte of the file, and they
    // stay fast even in unoptimised test builds.
    let b = text.as_bytes();
    let blank = |c: u8| c == b' ' || c == b'\t';
    let mut trimmed_end = b.len();
    while trimmed_end > 0 && blank(b[trimmed_end - 1]) {
        trimmed_end -= 1;
    }
    let mut indent_len = 0;
    while indent_len < trimmed_end && blank(b[indent_len]) {
        indent_len += 1;
    }
    if indent_len >= trimmed_end {
        return None;
    }
    if let Some(tab) = text[..indent_len].find('\t') {
        let offset = start + tab;
        // The indentation is ASCII, so its byte count is its column.
        let (line, col) = (line_number, tab + 1);
        push_capped(
            diags,
            Diagnostic::error(
                Span::new(offset, offset + 1),
                format!("a tab in indentation (line {line}, column {col}); use spaces"),
            )
            .with_label("tab"),
        );
    }
    // A tab is an error (reported above), but counted as Python counts it,
    // up to the next multiple of 8 columns, so that the line still lands
    // in the block it visibly belongs to and the tab is the only error.
    let indent =
        text[..indent_len]
            .bytes()
            .fold(0, |w, b| if b == b'\t' { (w / 8 + 1) * 8 } else { w + 1 });
    Some(Physical {
        content_start: start + indent_len,
        content_end: start + trimmed_end,
        indent,
    })
}

/// Tracks brackets outside quoted strings, to know whether the logical line
/// is still open and to refuse absurd nesting before pest recurses into it.
fn scan_brackets(
    masked: &str,
    p: &Physical,
    brackets: &mut Brackets,
    line: &mut Line,
    diags: &mut Vec<Diagnostic>,
) {
    let mut quote: Option<u8> = None;
    let text = &masked.as_bytes()[p.content_start..p.content_end];
    for (k, &b) in text.iter().enumerate() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'(' | b'[' => {
                if brackets.depth() >= MAX_BRACKET_DEPTH {
                    if !line.poisoned {
                        let offset = p.content_start + k;
                        push_capped(
                            diags,
                            Diagnostic::error(
                                Span::new(offset, offset + 1),
                                format!("brackets are nested more than {MAX_BRACKET_DEPTH} deep"),
                            )
                            .with_note("split the expression into named constants"),
                        );
                        line.poisoned = true;
                    }
                    brackets.hidden += 1;
                } else {
                    brackets.open.push(p.content_start + k);
                }
            }
            b')' | b']' => {
                if brackets.hidden > 0 {
                    brackets.hidden -= 1;
                } else if let Some(open) = brackets.open.pop() {
                    let expected = if masked.as_bytes()[open] == b'(' {
                        b')'
                    } else {
                        b']'
                    };
                    if b != expected && !line.poisoned {
                        let offset = p.content_start + k;
                        push_capped(
                            diags,
                            Diagnostic::error(
                                Span::new(offset, offset + 1),
                                format!(
                                    "this `{}` does not match the `{}` before it",
                                    b as char,
                                    masked.as_bytes()[open] as char
                                ),
                            )
                            .with_label(format!("expected `{}`", expected as char))
                            .with_secondary(Span::new(open, open + 1), "opened here"),
                        );
                        line.poisoned = true;
                    }
                    // Most likely the inner bracket was left unclosed, so
                    // this one closes the bracket before it; popping both
                    // keeps the rest of the file out of this line.
                    if b != expected {
                        if let Some(&outer) = brackets.open.last() {
                            let matches = (masked.as_bytes()[outer] == b'(') == (b == b')');
                            if matches {
                                brackets.open.pop();
                            }
                        }
                    }
                }
                // An unmatched closing bracket is left for the parser,
                // which reports it with its context.
            }
            _ => {}
        }
    }
}

/// Checks a completed logical line for an unclosed bracket and excessive
/// length.
fn finish_line(line: &mut Line, brackets: &Brackets, masked: &str, diags: &mut Vec<Diagnostic>) {
    if line.poisoned {
        return;
    }
    if line.end - line.start > MAX_LINE_BYTES {
        push_capped(
            diags,
            Diagnostic::error(
                Span::new(line.start, line.start),
                format!("this statement is longer than {} bytes", MAX_LINE_BYTES),
            )
            .with_note("put long lists of values in a file and load them with `file:`"),
        );
        line.poisoned = true;
        return;
    }
    if let Some(&first) = brackets.open.first() {
        let ch = masked.get(first..first + 1).unwrap_or("(");
        let close = if ch == "[" { "]" } else { ")" };
        push_capped(
            diags,
            Diagnostic::error(
                Span::new(first, first + 1),
                format!("this `{ch}` is never closed"),
            )
            .with_label("unclosed")
            .with_note(format!(
                "add `{close}`; a statement continues on the next line only while a bracket is open and the next line is indented more, or when the line ends in an operator"
            )),
        );
        line.poisoned = true;
    }
}

/// Computes each line's indented block with a stack, in linear time and
/// without recursion (indentation may be arbitrarily deep).
fn compute_blocks(lines: &mut [Line]) {
    let mut stack: Vec<usize> = Vec::new();
    for k in 0..lines.len() {
        while let Some(&top) = stack.last() {
            if lines[top].indent >= lines[k].indent {
                lines[top].children_end = k;
                stack.pop();
            } else {
                break;
            }
        }
        stack.push(k);
    }
    let n = lines.len();
    for k in stack {
        lines[k].children_end = n;
    }
}

/// The deepest nesting an expression in `text` can produce, estimated
/// conservatively from brackets and operator counts, or `None` when it
/// exceeds the limits. Called before every pest parse, including of text
/// inside quotes (which the pre-pass does not count).
pub(crate) fn complexity_error(text: &str, base: usize) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    // Per open bracket level: operators seen since the last comma.
    let mut counts: Vec<usize> = vec![0];
    let mut total = 0usize;
    let mut k = 0;
    while k < bytes.len() {
        let b = bytes[k];
        match b {
            b'(' | b'[' => {
                if counts.len() > MAX_BRACKET_DEPTH {
                    return Some(Diagnostic::error(
                        Span::new(base + k, base + k + 1),
                        format!("brackets are nested more than {MAX_BRACKET_DEPTH} deep"),
                    ));
                }
                counts.push(0);
            }
            b')' | b']' if counts.len() > 1 => {
                total -= counts.pop().unwrap_or(0);
            }
            b',' => {
                if let Some(top) = counts.last_mut() {
                    total -= *top;
                    *top = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'=' | b'!' => {
                if let Some(top) = counts.last_mut() {
                    *top += 1;
                    total += 1;
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'0'..=b'9' => {
                let start = k;
                while k < bytes.len() && (bytes[k].is_ascii_alphanumeric() || bytes[k] == b'_') {
                    k += 1;
                }
                if matches!(&bytes[start..k], b"and" | b"or" | b"not") {
                    if let Some(top) = counts.last_mut() {
                        *top += 1;
                        total += 1;
                    }
                }
                continue;
            }
            _ => {}
        }
        if total + counts.len() > MAX_EXPR_DEPTH {
            return Some(
                Diagnostic::error(
                    Span::new(base + k, base + k + 1),
                    format!(
                        "this expression is too complex: it nests more than {MAX_EXPR_DEPTH} operations"
                    ),
                )
                .with_note("split it into several named constants or subexpressions"),
            );
        }
        k += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_offsets() {
        let src = "x = 1 # côté\r\ny = 'a#b' # c\n";
        let m = mask(src);
        assert_eq!(m.len(), src.len());
        assert!(m.starts_with("x = 1       "));
        assert!(m.contains("y = 'a#b'    "));
    }

    #[test]
    fn continuation_by_operator_and_bracket() {
        let mut d = Vec::new();
        let l = layout("a = (1 +\n  2)\nb = (3\n     )\nc = 4\n", &mut d);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(l.lines.len(), 3);
    }

    #[test]
    fn unclosed_bracket_does_not_swallow_file() {
        let mut d = Vec::new();
        let l = layout("a = (1\nb = 2\n", &mut d);
        assert_eq!(l.lines.len(), 2);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span, Span::new(4, 5));
    }
}
