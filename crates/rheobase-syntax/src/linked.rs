//! `G.v = linked_var(A.w)` (or `linked_var(A, 'w')`): Brian2's linked
//! variables. The right-hand side names a variable instead of computing a
//! value, so the statement is recognised by hand before the assignment
//! grammar sees it.

use crate::ast::{Ident, Item, LinkIndex};
use crate::{Diagnostic, Span};

/// A word of identifier characters at the start of `s`.
fn word(s: &str) -> Option<&str> {
    let first = s.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    Some(&s[..len])
}

/// A cursor over one line of the source, keeping byte offsets.
struct Cursor<'s> {
    text: &'s str,
    pos: usize,
    end: usize,
}

impl<'s> Cursor<'s> {
    fn skip_space(&mut self) {
        while self.pos < self.end && self.text.as_bytes()[self.pos] == b' ' {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> Option<Ident> {
        self.skip_space();
        let w = word(&self.text[self.pos..self.end])?;
        let id = Ident {
            name: w.to_string(),
            span: Span::new(self.pos, self.pos + w.len()),
        };
        self.pos += w.len();
        Some(id)
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_space();
        if self.text[self.pos..self.end].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }
}

/// The `index=` argument as this module finds it: an array expression is
/// parsed by the caller's expression grammar.
enum LinkArg {
    Array(Span),
    Variable(Ident),
}

/// `Some` when the line `start..end` of `text` is `G.v = linked_var(...)`:
/// the [`Item::LinkVariable`] (without an `index=` array, whose text is
/// the span returned beside it), or an error in its arguments.
pub(crate) fn link_statement(
    text: &str,
    start: usize,
    end: usize,
) -> Option<Result<(Item, Option<Span>), Diagnostic>> {
    let mut c = Cursor {
        text,
        pos: start,
        end,
    };
    let group = c.ident()?;
    if !c.eat(".") {
        return None;
    }
    let variable = c.ident()?;
    if !c.eat("=") {
        return None;
    }
    let call = c.ident()?;
    if call.name != "linked_var" || !c.eat("(") {
        return None;
    }
    let span = Span::new(start, end);
    let args_start = c.pos;
    let bad = |at: Span| {
        Diagnostic::error(at, "expected `linked_var(GROUP.VARIABLE)`")
            .with_note("for example `B.v = linked_var(A.v)` or `B.v = linked_var(A, 'v')`")
    };
    let Some(source) = c.ident() else {
        return Some(Err(bad(Span::new(args_start, end))));
    };
    let source_variable = if c.eat(".") {
        c.ident()
    } else if c.eat(",") {
        c.skip_space();
        let quote = text[c.pos..end]
            .chars()
            .next()
            .filter(|q| *q == '\'' || *q == '"');
        match quote {
            Some(q) => {
                c.pos += 1;
                let v = c.ident();
                if v.is_some() && text[c.pos..end].starts_with(q) {
                    c.pos += 1;
                    v
                } else {
                    None
                }
            }
            None => None,
        }
    } else {
        None
    };
    let Some(source_variable) = source_variable else {
        return Some(Err(bad(Span::new(args_start, end))));
    };
    let mut index = None;
    if c.eat(",") {
        if !c.eat("index") || !c.eat("=") {
            c.skip_space();
            let rest = Span::new(c.pos, end.saturating_sub(1).max(c.pos));
            return Some(Err(Diagnostic::error(
                rest,
                "expected `index=` after the linked variable",
            )
            .with_note("for example `B.v = linked_var(A, 'v', index=[0, 2, 4])`")));
        }
        c.skip_space();
        // The argument runs to the call's closing parenthesis, the last
        // one on the line.
        let close = text[c.pos..end].rfind(')').map(|k| c.pos + k);
        let Some(close) = close else {
            return Some(Err(bad(Span::new(args_start, end))));
        };
        let arg = Span::new(c.pos, close);
        let inner = text[c.pos..close].trim_end();
        let quoted = inner.len() >= 2
            && (inner.starts_with('\'') && inner.ends_with('\'')
                || inner.starts_with('"') && inner.ends_with('"'));
        index = Some(if quoted {
            let name = &inner[1..inner.len() - 1];
            match word(name) {
                Some(w) if w.len() == name.len() => LinkArg::Variable(Ident {
                    name: w.to_string(),
                    span: Span::new(c.pos + 1, c.pos + 1 + w.len()),
                }),
                _ => {
                    return Some(Err(Diagnostic::error(
                        arg,
                        "`index=` names an integer variable of the linking group",
                    )))
                }
            }
        } else {
            LinkArg::Array(arg)
        });
        c.pos = close;
    }
    if !c.eat(")") {
        return Some(Err(bad(Span::new(args_start, end))));
    }
    c.skip_space();
    if c.pos != end {
        return Some(Err(Diagnostic::error(
            Span::new(c.pos, end),
            "unexpected text after `linked_var(...)`",
        )));
    }
    let (index, array) = match index {
        None => (None, None),
        Some(LinkArg::Variable(v)) => (Some(LinkIndex::Variable(v)), None),
        Some(LinkArg::Array(at)) => (None, Some(at)),
    };
    Some(Ok((
        Item::LinkVariable {
            group,
            variable,
            source,
            source_variable,
            index,
            span,
        },
        array,
    )))
}
