//! The pest parser and the translation of its errors into user terms.
//!
//! Nothing here is public outside the crate: the rest of the compiler sees
//! only the AST and [`Diagnostic`]s.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pairs;
use pest::Parser;

use crate::layout::complexity_error;
use crate::{Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct Grammar;

/// Parses `text` (which starts at byte `base` of the source) with `rule`.
///
/// The complexity check runs first so that pest never recurses into
/// pathological nesting.
pub(crate) fn run(rule: Rule, text: &str, base: usize) -> Result<Pairs<'_, Rule>, Diagnostic> {
    if let Some(d) = complexity_error(text, base) {
        return Err(d);
    }
    Grammar::parse(rule, text).map_err(|e| translate(e, text, base))
}

/// What a rule stands for, in the words of an error message.
fn describe(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        expr | expr_only | number | true_lit | false_lit | paren | list | name_or_call
        | clock_dt | neg | pos | not_op | slice_start | slice_stop | string | sample_arg => {
            "an expression"
        }
        ident | name_only | name_list | keyword | diff_lhs | set_var | constant => "a name",
        or_op | and_op | pow | mul | floordiv | div | modulo | add | sub | le | ge | lt | gt
        | eq | ne => "an operator",
        call_args => "`(`",
        EOI => "the end of the line",
        lparen | connect_empty => "`(`",
        flags => "flags such as `(constant)`",
        rparen => "`)`",
        lbracket | slice => "`[`",
        rbracket => "`]`",
        comma | list_rest => "`,`",
        colon | range_rest => "`:`",
        semi => "`;`",
        dot => "`.`",
        arrow => "`->`",
        assign => "`=`",
        assign_op => "`=` or an update such as `+=`",
        statement | statements => "a statement such as `v = 0*mV`",
        unit | unit_factor | unit_name | unit_number | unit_paren | unit_exponent => {
            "a unit such as `mV`"
        }
        unit_pow | unit_mul | unit_div => "an operator",
        flag => "a flag such as `unless refractory`",
        group_ref => "a group name such as `P` or `P[0:100]`",
        seed_kw => "`seed`",
        run_kw => "`run`",
        kw_for => "`for`",
        kw_in => "`in`",
        kw_if => "`if`",
        generator_tail => "`for`",
        if_tail => "`if`",
        kw_range | range_call => "`range(...)`",
        kw_sample | sample_call => "`sample(...)`",
        connect_arg | connect_args => "a connect argument such as `p=0.1`",
        sq_inner | dq_inner => "the closing quote",
        event_line => "an event such as `spike2: v > 10*mV`",
        record_value => "neurons to record, such as `all`, `0, 5, 9` or `0:100`",
        _ => "something else",
    }
}

/// Orders categories so that the most useful one is named first.
fn priority(what: &str) -> u8 {
    match what {
        "an expression" => 0,
        "a name" => 1,
        "a unit such as `mV`" => 2,
        "an operator" => 8,
        "the end of the line" => 9,
        _ => 5,
    }
}

/// Joins alternatives as "A", "A or B", "A, B or C".
pub(crate) fn join_alternatives(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The token just before `pos` in `text` (skipping whitespace), for
/// "expected X after `=`".
fn previous_token(text: &str, pos: usize) -> Option<&str> {
    let before = text.get(..pos)?.trim_end();
    let last = before.chars().next_back()?;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let start = if is_word(last) {
        before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_word(c))
            .last()
            .map_or(0, |(k, _)| k)
    } else if "+-*/%<>=!".contains(last) {
        before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| "+-*/%<>=!".contains(c))
            .take(3)
            .last()
            .map_or(0, |(k, _)| k)
    } else {
        before.len() - last.len_utf8()
    };
    let token = &before[start..];
    // Long tokens make poor messages; a number or name of 40 characters is
    // better left unquoted.
    (token.chars().count() <= 40).then_some(token)
}

/// The token at `pos`, for "found `x`".
fn found_token(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = text.get(pos..)?;
    let first = rest.chars().next()?;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let len = if is_word(first) {
        rest.char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(rest.len(), |(k, _)| k)
    } else if "+-*/%<>=!".contains(first) {
        rest.char_indices()
            .take(3)
            .find(|&(_, c)| !"+-*/%<>=!".contains(c))
            .map_or(rest.len().min(3), |(k, _)| k)
    } else {
        first.len_utf8()
    };
    Some((&rest[..len], len))
}

/// Turns a pest error into a diagnostic with a message in the user's terms.
fn translate(error: pest::error::Error<Rule>, text: &str, base: usize) -> Diagnostic {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut what: Vec<&'static str> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(|&r| describe(r)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    what.retain(|w| *w != "something else");
    // Where an expression may start, `(`, `[` and a name are kinds of
    // expression; after an operand, a `(` would open a call and a `[`
    // index an Array (`W[i, j]`), which the word "operator" covers well
    // enough for a message.
    if what.contains(&"an expression") {
        what.retain(|w| !matches!(*w, "a name" | "`(`" | "`[`"));
    }
    if what.contains(&"an operator") {
        what.retain(|w| !matches!(*w, "`(`" | "`[`"));
    }
    what.sort_by_key(|w| priority(w));
    what.dedup();
    let expected = if what.is_empty() {
        "something else".to_string()
    } else {
        join_alternatives(&what)
    };
    // A character that cannot start any token (a control character, `€`,
    // a non-ASCII letter) is named by its code point: "expected something
    // else, found ` `" says nothing when the character is invisible.
    if let Some(c) = text.get(pos..).and_then(|r| r.chars().next()) {
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') || !c.is_ascii() {
            let shown = if c.is_control() {
                format!("U+{:04X}", u32::from(c))
            } else {
                format!("`{c}` (U+{:04X})", u32::from(c))
            };
            let mut message = format!("unexpected character {shown}");
            if !what.is_empty() {
                message.push_str(&format!("; expected {expected}"));
            }
            let span = Span::new(base + pos, base + pos + c.len_utf8());
            let mut d = Diagnostic::error(span, message).with_label("unexpected character");
            if c.is_alphabetic() {
                d = d.with_note("names may use only ASCII letters, digits and `_`, as in Brian2");
            }
            return d;
        }
    }
    let mut message = format!("expected {expected}");
    if let Some(prev) = previous_token(text, pos) {
        message.push_str(&format!(" after `{prev}`"));
    }
    let (span, label) = match found_token(text, pos) {
        Some((tok, len)) => {
            if tok.chars().count() <= 40 {
                message.push_str(&format!(", found `{tok}`"));
            }
            (
                Span::new(base + pos, base + pos + len),
                "unexpected".to_string(),
            )
        }
        None => (
            Span::new(base + pos, base + pos),
            format!("expected {expected} here"),
        ),
    };
    let mut d = Diagnostic::error(span, message).with_label(label);
    // A lone `=` inside an expression is either a comparison written with
    // one `=` or a keyword argument, which Brian2's expressions do not have.
    if found_token(text, pos).is_some_and(|(tok, _)| tok == "=") && what.contains(&"an operator") {
        d = d.with_note(
            "to compare, write `==`; keyword arguments such as `p=` exist only in `connect:` and in `sample(...)`",
        );
    }
    d
}
