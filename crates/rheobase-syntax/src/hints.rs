//! Help for Brian2 habits: Python constructs a Brian2 user writes out of
//! habit, which the model language does not have.
//!
//! A parse error on such a line would otherwise read as a bare "expected
//! an expression, found `'`". [`explain`] looks at the line an error is
//! on, and when it recognises the construct, replaces the message by one
//! naming it and adds what to write instead (or says that it is not
//! supported yet). Errors it does not recognise pass unchanged.

use crate::diagnostic::{Diagnostic, Span};

/// The declaration keywords, for Brian2's constructor calls.
const KINDS: [&str; 12] = [
    "NeuronGroup",
    "Synapses",
    "PoissonGroup",
    "PoissonInput",
    "SpikeGeneratorGroup",
    "TimedArray",
    "Array",
    "Clock",
    "SpikeMonitor",
    "EventMonitor",
    "StateMonitor",
    "PopulationRateMonitor",
];

/// `d`, explained if its line holds a Brian2 construct.
pub(crate) fn explain(source: &str, d: Diagnostic) -> Diagnostic {
    // Only the grammar's own errors ("expected an expression, found
    // `'`") are explained; every other error already names its problem.
    if !(d.message.starts_with("expected ") || d.message.starts_with("unknown declaration")) {
        return d;
    }
    let at = d.span.start.min(source.len());
    if !source.is_char_boundary(at) {
        return d;
    }
    let line_start = source[..at].rfind('\n').map_or(0, |k| k + 1);
    let line_end = source[at..].find('\n').map_or(source.len(), |k| at + k);
    let line = &source[line_start..line_end];
    let indent = line.len() - line.trim_start().len();
    let code = line.trim_start();
    let span_of = |text: &str| {
        let start = line_start + indent;
        Span::new(start, start + text.len())
    };
    // Python statements are recognised at the top level only: indented
    // lines are a declaration's body, whose errors say what it expects.
    if indent == 0 {
        if let Some((word, message, notes)) = python_line(code) {
            return replace(d, span_of(word), message, notes);
        }
    }
    // A quote opening a string where the error is: a Brian2 code string.
    // (An error at a closing quote is about the string's content, which
    // `connect:` arguments may quote, as in Brian2.)
    let rest = &source[at..line_end];
    let before = &source[line_start..at];
    let opens = |q: char| before.matches(q).count().is_multiple_of(2);
    if !(opens('\'') && opens('"')) {
        return d;
    }
    if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        return replace(
            d,
            Span::new(at, at + 3),
            "Brian2's multi-line code strings need no quotes here".into(),
            vec![
                "write each equation on its own line, indented under `model:`".into(),
                "example:\n    model:\n        dv/dt = -v/tau : volt".into(),
            ],
        );
    }
    if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = &rest[1..];
        let (unquoted, len) = match inner.find(quote) {
            Some(k) => (&inner[..k], k + 2),
            None => (inner, rest.len()),
        };
        return replace(
            d,
            Span::new(at, at + len),
            "Brian2's code strings need no quotes here".into(),
            vec![format!(
                "help: write `{}` instead of `{quote}{}{quote}`",
                unquoted.trim(),
                unquoted
            )],
        );
    }
    d
}

/// A new error in place of the parser's, pointing at the construct: the
/// parser's label and notes were about the grammar, not the habit.
fn replace(_parser: Diagnostic, span: Span, message: String, notes: Vec<String>) -> Diagnostic {
    let mut new = Diagnostic::error(span, message);
    new.notes = notes;
    new
}

/// Brian2's `mon.when = 'end'`: a monitor's schedule attribute set at the
/// top level (a part's, `S.pre.when = 'end'`, is a statement of its own).
fn schedule_attribute(code: &str) -> Option<(&str, String, Vec<String>)> {
    let (lhs, _) = code.split_once('=')?;
    let lhs = lhs.trim_end();
    let (object_path, attr) = lhs.rsplit_once('.')?;
    let path_chars = |c: char| c.is_ascii_alphanumeric() || "_.[]'\"".contains(c);
    if !matches!(attr, "when" | "order") || !object_path.chars().all(path_chars) {
        return None;
    }
    let object = object_path.split(['.', '[']).next().unwrap_or(object_path);
    let value = code[lhs.len()..].trim_start_matches([' ', '=']).trim();
    let unquoted = value.trim_matches(['\'', '"']);
    if object_path == object {
        // `mon.when = 'end'`: only the quotes made it a parse error.
        return Some((
            lhs,
            format!("Brian2's `{lhs} = {value}` is the `{attr}:` key of a monitor or PoissonInput"),
            vec![format!(
                "help: write `{attr}: {unquoted}` in the body of the declaration of `{object}`"
            )],
        ));
    }
    // `S.pre.when = 'end'` parses as a schedule statement.
    None
}

/// The name of a call at the start of `code` (`S.connect(p=0.1)` →
/// `S.connect`), if `code` starts with one.
fn call_name(code: &str) -> Option<&str> {
    let end = code.find('(')?;
    let name = code[..end].trim_end();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    ok.then_some(name)
}

/// The text between the parentheses of a call that starts `code`.
fn call_arguments(code: &str) -> &str {
    let open = code.find('(').map_or(0, |k| k + 1);
    let close = code.rfind(')').filter(|&k| k >= open).unwrap_or(code.len());
    code[open..close].trim()
}

/// A Python line a Brian2 script has: the word to underline, the message
/// and the notes.
fn python_line(code: &str) -> Option<(&str, String, Vec<String>)> {
    let first = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@'))
        .next()
        .unwrap_or("");
    let no_python = "a model file holds no Python code";
    if let Some(found) = schedule_attribute(code) {
        return Some(found);
    }
    match first {
        "import" | "from" if code.contains("import") => {
            return Some((
                first,
                format!("`{first}` is Python: a model file needs no imports"),
                vec![
                    "Brian2's units (`mV`, `ms`, ...) and functions (`exp`, `rand`, ...) are built in; delete this line".into(),
                ],
            ))
        }
        "@network_operation" => {
            return Some((
                first,
                "`@network_operation` (Python run during a simulation) is not supported yet".into(),
                vec![
                    format!("{no_python}; for an input that changes with time, use a `TimedArray` or a `SpikeGeneratorGroup`"),
                ],
            ))
        }
        "def" => {
            return Some((
                first,
                "Python functions (`def`) are not part of the model language".into(),
                vec![
                    format!("{no_python}; `network_operation` is not supported yet, and functions of time are written as a `TimedArray`"),
                ],
            ))
        }
        "for" | "while" => {
            return Some((
                first,
                format!("Python loops (`{first}`) are not part of the model language"),
                vec!["to sweep a parameter, run `rheo run MODEL --set NAME=VALUE` once per value, e.g. from a shell loop, or `rheobase.compile(MODEL, NAME=VALUE)` in a Python loop".into()],
            ))
        }
        "print" | "plot" | "show" | "figure" | "plt" | "xlabel" | "ylabel" => {
            return Some((
                first,
                format!("`{first}` is Python output: a model file only describes the simulation"),
                vec!["`rheo run` writes every monitor to OUT/NAME.npz; `rheo plot OUT` draws them".into()],
            ))
        }
        "start_scope" => {
            return Some((
                first,
                "`start_scope()` is not needed: each model file is a scope of its own".into(),
                vec!["delete this line".into()],
            ))
        }
        "np" | "numpy" => {
            return Some((
                first,
                format!("numpy (`{first}.`) is not available in a model file"),
                vec!["functions such as `exp`, `sqrt`, `clip`, `rand()` and `randn()` are built in: write them without `np.`; for a seed, write `seed(N)`".into()],
            ))
        }
        _ => {}
    }
    // `a, b = 1*ms, 2*ms`: Python's assignment of several names at once.
    if let Some((lhs, _)) = code.split_once('=') {
        let names: Vec<&str> = lhs.split(',').map(str::trim).collect();
        let is_name = |n: &str| {
            n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if names.len() > 1 && names.iter().all(|n| is_name(n)) {
            return Some((
                lhs.trim_end(),
                "several names assigned in one line is Python: a model file assigns one constant per line".into(),
                vec![format!(
                    "help: write one line per name: `{} = ...`, then `{} = ...`",
                    names[0], names[1]
                )],
            ));
        }
    }
    // `x *= 2`: Python arithmetic on a name.
    for op in ["+=", "-=", "*=", "/="] {
        if let Some((name, value)) = code.split_once(op) {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                let sign = &op[..1];
                return Some((
                    code,
                    format!("`{name} {op} ...` is Python arithmetic on a name: constants are given their value with `=`"),
                    vec![format!(
                        "help: write the value into the definition, or assign it again: `{name} = {name} {sign} {}`",
                        value.trim()
                    )],
                ));
            }
        }
    }
    // `dv/dt = ...` outside a group: Brian2's equations string, unquoted.
    if let Some((lhs, _)) = code.split_once('=') {
        let lhs = lhs.trim();
        if lhs.starts_with('d') && lhs.ends_with("/dt") && lhs.len() > 4 {
            return Some((
                lhs,
                "an equation outside a group: equations are written under the `model:` key of a NeuronGroup or Synapses".into(),
                vec!["example:\n    NeuronGroup G(10):\n        model:\n            dv/dt = -v/tau : volt".into()],
            ));
        }
    }
    if let Some(name) = call_name(code) {
        let method = name.rsplit('.').next().unwrap_or(name);
        let object = name.split('.').next().unwrap_or(name);
        match method {
            "store" | "restore" => {
                return Some((
                    name,
                    format!("`{method}()` is not supported yet"),
                    vec!["the `run` lines of a file continue from where the previous one ended; to start again from the initial state, run the model again".into()],
                ))
            }
            "connect" if name.contains('.') => {
                let args = call_arguments(code);
                return Some((
                    name,
                    format!("`{name}(...)` is Brian2's Python call: here connections are the `connect:` key of the Synapses declaration"),
                    vec![format!(
                        "help: write `connect: {args}` in the indented body of `Synapses {object}(...):`"
                    )],
                ));
            }
            "run" if name.contains('.') => {
                let args = call_arguments(code);
                return Some((
                    name,
                    "there is no `Network` object: every object declared in the file is simulated".into(),
                    vec![format!("help: write `run {args}`")],
                ));
            }
            _ => {}
        }
    }
    // `G = NeuronGroup(...)`: Brian2's constructor.
    let (target, value) = code.split_once('=')?;
    let target = target.trim();
    let value = value.trim_start();
    let called = call_name(value)?;
    if KINDS.contains(&called) {
        return Some((
            code,
            format!("`{target} = {called}(...)` is Brian2's Python constructor: declare objects with a header and an indented body"),
            vec![format!(
                "help: write `{called} {target}(...):` and put its settings (`model:`, `threshold:`, ...) on indented lines below, without quotes"
            )],
        ));
    }
    match called {
        "Network" => Some((
            code,
            "there is no `Network` object: every object declared in the file is simulated".into(),
            vec!["delete this line; `run 100*ms` runs the whole model".into()],
        )),
        "Equations" => Some((
            code,
            "`Equations(...)` is not needed: equations are written under a group's `model:` key".into(),
            vec!["example:\n    NeuronGroup G(10):\n        model:\n            dv/dt = -v/tau : volt".into()],
        )),
        _ => None,
    }
}
