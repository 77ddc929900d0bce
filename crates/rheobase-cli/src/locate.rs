//! Where in the model file a runtime error belongs.
//!
//! The runtime reports errors by object name (`cannot connect synapses
//! `S``), because it knows nothing of the source text. The user's terms
//! are a place in the file: this module finds the line that caused the
//! error — the `connect:` line, the `delay:`, the monitor's `record:`, the
//! assignment that gave a variable a value without meaning — and renders
//! the error as every other diagnostic, `FILE:LINE:COL: error: ...`.

use rheobase::syntax::ast::{self, Item, Record};
use rheobase::syntax::{Diagnostic, Span};
use rheobase::RuntimeError;

/// `message` (the text of `error`) as a diagnostic at the place in
/// `source` that caused it, or as `FILE: error: MESSAGE` when no place
/// is known.
pub fn render(
    file_name: &str,
    source: &str,
    error: Option<&RuntimeError>,
    message: &str,
) -> String {
    let span = error.and_then(|e| {
        // The source was checked before the run, so it parses; if it
        // somehow does not, the error is printed without a place.
        let model = rheobase::syntax::parse(source).ok()?;
        place(&model, e)
    });
    match span {
        Some(span) => Diagnostic::error(span, message).render(file_name, source),
        None => format!("{file_name}: error: {message}\n"),
    }
}

/// A model's text and the name errors call it by.
pub struct ModelText<'a> {
    pub file_name: &'a str,
    pub source: &'a str,
}

impl ModelText<'_> {
    /// `message` at the declaration of object `name` (a monitor whose
    /// archive could not be written), or without a place.
    pub fn at_declaration(&self, name: &str, message: &str) -> String {
        let span = rheobase::syntax::parse(self.source)
            .ok()
            .and_then(|model| declaration(&model, name));
        match span {
            Some(span) => Diagnostic::error(span, message).render(self.file_name, self.source),
            None => format!(
                "{}: error: {message}
",
                self.file_name
            ),
        }
    }
}

/// The span a runtime error points at.
pub fn place(model: &ast::Model, error: &RuntimeError) -> Option<Span> {
    match error {
        RuntimeError::Connect { synapses, .. } => {
            let s = synapses_decl(model, synapses)?;
            // With several `connect:` lines the message does not say which
            // one failed; the declaration is then the place.
            match s.connect.as_slice() {
                [one] => Some(one.span),
                _ => Some(s.name.span),
            }
        }
        RuntimeError::Delay { synapses, .. } => {
            // `S.delay = ...` set after connecting replaces `delay:`.
            if let Some(span) = last_setting(model, synapses, "delay") {
                return Some(span);
            }
            let s = synapses_decl(model, synapses)?;
            Some(s.delay.as_ref().map_or(s.name.span, |d| d.span))
        }
        RuntimeError::Record { monitor, .. } => {
            for item in &model.items {
                if let Item::StateMonitor(m) = item {
                    if m.name.name == *monitor {
                        return Some(match &m.record {
                            Some(Record::All(span))
                            | Some(Record::Range { span, .. })
                            | Some(Record::Pairs { span, .. }) => *span,
                            Some(Record::List(list)) => match (list.first(), list.last()) {
                                (Some(a), Some(b)) => a.span.to(b.span),
                                _ => m.name.span,
                            },
                            None => m.name.span,
                        });
                    }
                }
            }
            declaration(model, monitor)
        }
        RuntimeError::Output { monitor, .. } => declaration(model, monitor),
        // The setting of the array (the last one of that variable).
        RuntimeError::ArrayLength {
            synapses, variable, ..
        } => last_setting(model, synapses, variable).or_else(|| declaration(model, synapses)),
        RuntimeError::Diverged {
            group,
            variable,
            before_steps,
            ..
        } => {
            if *before_steps {
                if let Some(span) = last_setting(model, group, variable) {
                    return Some(span);
                }
            }
            equation(model, group, variable).or_else(|| declaration(model, group))
        }
        _ => None,
    }
}

fn synapses_decl<'m>(model: &'m ast::Model, name: &str) -> Option<&'m ast::SynapsesDecl> {
    model.items.iter().find_map(|item| match item {
        Item::Synapses(s) if s.name.name == name => Some(s),
        _ => None,
    })
}

/// The name in the declaration of object `name`, of any kind.
fn declaration(model: &ast::Model, name: &str) -> Option<Span> {
    model.items.iter().find_map(|item| {
        let ident = match item {
            Item::NeuronGroup(d) => &d.name,
            Item::Synapses(d) => &d.name,
            Item::PoissonGroup(d) => &d.name,
            Item::PoissonInput(d) => &d.name,
            Item::SpikeGeneratorGroup(d) => &d.name,
            Item::TimedArray(d) => &d.name,
            Item::SpikeMonitor(d) => &d.name,
            Item::StateMonitor(d) => &d.name,
            Item::PopulationRateMonitor(d) => &d.name,
            _ => return None,
        };
        (ident.name == name).then_some(ident.span)
    })
}

/// The equation that declares `variable` in group or synapses `group`.
fn equation(model: &ast::Model, group: &str, variable: &str) -> Option<Span> {
    model.items.iter().find_map(|item| {
        let equations = match item {
            Item::NeuronGroup(d) if d.name.name == group => &d.model,
            Item::Synapses(d) if d.name.name == group => &d.model,
            _ => return None,
        };
        equations
            .iter()
            .find(|e| e.variable.name == variable)
            .map(|e| e.span)
    })
}

/// The last statement before the first `run` that sets `group.variable`:
/// a top-level `G.v = ...` (or `G.v[...] = ...`), else a line of the
/// group's `init:`. The first values scanned are those given before the
/// first run, so the last of these settings is the likeliest culprit.
fn last_setting(model: &ast::Model, group: &str, variable: &str) -> Option<Span> {
    let mut found = None;
    for item in &model.items {
        match item {
            Item::SetVariable {
                group: g,
                variable: v,
                span,
                ..
            }
            | Item::SetVariableWhere {
                group: g,
                variable: v,
                span,
                ..
            } if g.name == group && v.name == variable => found = Some(*span),
            Item::NeuronGroup(d) if d.name.name == group && found.is_none() => {
                found = init_statement(d.init.as_ref(), variable);
            }
            Item::Synapses(d) if d.name.name == group && found.is_none() => {
                found = init_statement(d.init.as_ref(), variable);
            }
            Item::Run { .. } if found.is_some() => break,
            _ => {}
        }
    }
    found
}

fn init_statement(init: Option<&ast::Block>, variable: &str) -> Option<Span> {
    init?
        .statements
        .iter()
        .rev()
        .find(|s| s.target.name == variable)
        .map(|s| s.span)
}

#[cfg(test)]
mod tests {
    use super::place;
    use rheobase::RuntimeError;

    const MODEL: &str = "NeuronGroup G(2):
    model:
        dv/dt = -v/(10*ms) : 1
Synapses S(G -> G):
    model:
        w : 1
    on_pre: v_post += w
    delay: 1*ms
    connect: j='i + 5'
S.w = 1
S.w = 0/0
StateMonitor m(S):
    variables: w
    record: 0:50
run 1*ms
";

    fn text_at(error: RuntimeError) -> String {
        let model = rheobase::syntax::parse(MODEL).expect("parses");
        let span = place(&model, &error).expect("a place");
        MODEL[span.start..span.end].to_string()
    }

    #[test]
    fn runtime_errors_point_at_the_line_that_caused_them() {
        let connect = RuntimeError::Connect {
            synapses: "S".into(),
            message: String::new(),
        };
        assert_eq!(text_at(connect), "j='i + 5'");
        let delay = RuntimeError::Delay {
            synapses: "S".into(),
            message: String::new(),
        };
        assert_eq!(text_at(delay), "1*ms");
        let record = RuntimeError::Record {
            monitor: "m".into(),
            message: String::new(),
        };
        assert_eq!(text_at(record), "0:50");
        let nan = |before_steps| RuntimeError::Diverged {
            group: "S".into(),
            variable: "w".into(),
            index: 0,
            value: f64::NAN,
            t: 0.0,
            synapse: true,
            before_steps,
        };
        assert_eq!(text_at(nan(true)), "S.w = 0/0");
        let length = RuntimeError::ArrayLength {
            synapses: "S".into(),
            variable: "w".into(),
            values: 3,
            made: 4,
        };
        assert_eq!(text_at(length), "S.w = 0/0");
        assert_eq!(text_at(nan(false)), "w : 1");
    }
}
