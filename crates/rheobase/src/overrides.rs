//! Overrides: a top-level constant given a new value from outside the
//! file (`rheo run --set we=0.5*mV`, `Model::compile(.., &[("we",
//! "0.5*mV")])`, `rheobase.compile(path, we="0.5*mV")`).
//!
//! The value, in parentheses, replaces the constant's right-hand side in
//! the text, which is then checked like any file: the value may use units and earlier
//! constants, and an error in it is shown on the line it replaced. The
//! constant must keep its unit (a constant that is used nowhere would
//! otherwise take any unit silently), so the dimension of each overridden
//! constant is compared with the file's own.

use std::collections::HashMap;

use rheobase_ir::check::dim_name;
use rheobase_ir::DataFiles;
use rheobase_syntax::ast::{Item, Model as Ast};
use rheobase_syntax::{Diagnostic, DiagnosticKind, Span};

use crate::error::{Error, ModelError, OverrideError};

/// One override: a constant's name and its new value in the language's
/// syntax, e.g. `("we", "0.5*mV")`.
pub type Override = (String, String);

/// Where the overridden constants are in the source.
pub(crate) struct Placed {
    /// The source with every overridden value substituted.
    pub text: String,
    /// Per override (in the order given): the span of the new value in
    /// `text`.
    pub spans: Vec<Span>,
    /// Per override: the value as the file writes it (`20*ms`), which
    /// messages about `text` quote, since the user's own line is not the
    /// one shown.
    pub written: Vec<String>,
}

/// The closest names to `name` among `names`, best first (at most three).
pub(crate) fn similar<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let names: Vec<&str> = names.into_iter().collect();
    // A name that differs only in case is what was meant.
    let same: Vec<String> = names
        .iter()
        .filter(|n| n.eq_ignore_ascii_case(name))
        .map(|n| n.to_string())
        .collect();
    if !same.is_empty() {
        return same;
    }
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .map(|n| (strsim::damerau_levenshtein(name, n), n))
        .filter(|(d, n)| *d <= (name.len().max(n.len()) / 3).max(1))
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn override_error(o: &Override, message: String, help: String) -> Error {
    Error::Override(OverrideError {
        name: o.0.clone(),
        value: o.1.clone(),
        message,
        help,
    })
}

/// Substitutes each override's value for its constant's right-hand side
/// in `source` (parsed as `ast`), refusing names that are no constant of
/// the model or are assigned more than once.
pub(crate) fn place(source: &str, ast: &Ast, overrides: &[Override]) -> Result<Placed, Error> {
    let mut assigned: HashMap<&str, Vec<Span>> = HashMap::new();
    for item in &ast.items {
        if let Item::Constant { name, value, .. } = item {
            assigned.entry(&name.name).or_default().push(value.span);
        }
    }
    let mut edits: Vec<(Span, usize)> = Vec::new();
    for (k, o) in overrides.iter().enumerate() {
        let (name, value) = (o.0.as_str(), o.1.trim());
        if overrides[..k].iter().any(|p| p.0 == name) {
            return Err(override_error(
                o,
                format!("`{name}` is overridden twice"),
                "give each constant one value".into(),
            ));
        }
        let Some(spans) = assigned.get(name) else {
            let suggestions = similar(name, assigned.keys().copied());
            let help = match suggestions.first() {
                Some(s) => format!("did you mean `{s}`?"),
                None if assigned.is_empty() => "the model defines no constants".into(),
                None => {
                    let mut names: Vec<&str> = assigned.keys().copied().collect();
                    names.sort();
                    format!("the model's constants are {}", names.join(", "))
                }
            };
            return Err(override_error(
                o,
                format!("the model has no top-level constant `{name}`"),
                help,
            ));
        };
        if spans.len() > 1 {
            return Err(override_error(
                o,
                format!(
                    "`{name}` is assigned {} times in the model (it changes between runs)",
                    spans.len()
                ),
                "only a constant assigned once can be overridden; edit the file instead".into(),
            ));
        }
        if value.is_empty() || value.contains(['\n', '\r', '#']) {
            return Err(override_error(
                o,
                "the value must be one non-empty line without comments, e.g. `0.5*mV`".into(),
                String::new(),
            ));
        }
        edits.push((spans[0], k));
    }
    // Replaced from the end so that earlier spans stay valid; each new
    // span is then shifted by the edits before it.
    let mut sorted = edits.clone();
    sorted.sort_by_key(|(span, _)| span.start);
    let mut text = String::with_capacity(source.len());
    let mut spans = vec![Span::default(); overrides.len()];
    let mut written = vec![String::new(); overrides.len()];
    let mut at = 0;
    for (span, k) in sorted {
        written[k] = source[span.start..span.end].trim().to_string();
        text.push_str(&source[at..span.start]);
        // In parentheses, so that a value ending in an operator cannot
        // continue onto the next line of the file.
        let value = format!("({})", overrides[k].1.trim());
        spans[k] = Span::new(text.len(), text.len() + value.len());
        text.push_str(&value);
        at = span.end;
    }
    text.push_str(&source[at..]);
    Ok(Placed {
        text,
        spans,
        written,
    })
}

/// Checks that each overridden constant has the dimension it has in the
/// file: `original` and `overridden` are the constants of the two
/// lowerings ([`rheobase_ir::Lowered::constants`]).
pub(crate) fn check_units(
    overrides: &[Override],
    original: &[(String, f64, rheobase_units::Dimension)],
    overridden: &[(String, f64, rheobase_units::Dimension)],
) -> Result<(), Error> {
    for o in overrides {
        let find = |list: &[(String, f64, rheobase_units::Dimension)]| {
            list.iter().find(|c| c.0 == o.0).map(|c| c.2)
        };
        if let (Some(want), Some(got)) = (find(original), find(overridden)) {
            if want != got {
                return Err(override_error(
                    o,
                    format!(
                        "`{}` has unit {} in the model, but `{}` has unit {}",
                        o.0,
                        dim_name(want),
                        o.1.trim(),
                        dim_name(got)
                    ),
                    format!("give the value in {}", dim_name(want)),
                ));
            }
        }
    }
    Ok(())
}

/// Lowers `ast` (without a resource check) for its constants'
/// dimensions, or returns the model's own errors.
pub(crate) fn original_constants(
    file_name: &str,
    source: &str,
    ast: &Ast,
    files: &dyn DataFiles,
) -> Result<Vec<(String, f64, rheobase_units::Dimension)>, Error> {
    rheobase_ir::lower_with_files(ast, source, files)
        .map(|l| l.constants)
        .map_err(|diagnostics| {
            Error::Model(ModelError {
                file_name: file_name.to_string(),
                source: source.into(),
                diagnostics,
            })
        })
}

/// The diagnostic put before the errors of a model that checked without
/// overrides but not with them: the values given are the cause. It points
/// at the first value and also at the others.
pub(crate) fn blame(overrides: &[Override], placed: &Placed) -> Option<Diagnostic> {
    let spans = &placed.spans;
    let first = *spans.first()?;
    let label = |k: usize, what: &str| match placed.written.get(k) {
        Some(w) if !w.is_empty() => format!("{what} from outside the file (the file has `{w}`)"),
        _ => format!("{what} from outside the file"),
    };
    let given: Vec<String> = overrides
        .iter()
        .map(|o| format!("`{}={}`", o.0, o.1.trim()))
        .collect();
    let mut d = Diagnostic::error(
        first,
        format!(
            "the model checks as written, but not with {} {}",
            if given.len() == 1 {
                "the override"
            } else {
                "the overrides"
            },
            given.join(", ")
        ),
    )
    .with_kind(DiagnosticKind::Override)
    .with_label(label(0, "value set"));
    for (k, span) in spans.iter().enumerate().skip(1) {
        d = d.with_secondary(*span, label(k, "also set"));
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_names() {
        assert_eq!(similar("wee", ["we", "taum", "El"]), vec!["we"]);
        assert_eq!(similar("el", ["we", "taum", "El"]), vec!["El"]);
        assert!(similar("xyz", ["we", "taum"]).is_empty());
    }
}
