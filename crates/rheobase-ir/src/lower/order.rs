//! Synaptic code whose result depends on the order in which the synapses
//! of one step run.
//!
//! A pathway's code runs once for every synapse that received a spike,
//! and several of them may share a presynaptic or postsynaptic neuron (or
//! a shared variable). Accumulating into such a variable (`v_post += w`)
//! gives the same result in any order. Reading one that the same code
//! also changes (Clopath 2010's `v_lowpass2 += 10*mV` followed by a read
//! of `v_lowpass2_post`), or setting it with `=` to a value that differs
//! between synapses, does not: each synapse sees what the synapses before
//! it wrote. Brian2's own code targets disagree on such code (its numpy
//! target runs each statement for all synapses before the next statement,
//! its Cython and C++ targets one synapse after another, with the values
//! read before the synapse's own change), and Brian2 logs a warning for
//! some of it. rheobase runs the synapses one after another in the order
//! they were created and says so with a warning, so that the numbers never
//! differ silently.
//!
//! The analysis works on the statements as written, with every name
//! resolved to the array it reads, so that `x` and `x_post` (one array)
//! and `v_pre` and `v_post` of a recurrent Synapses (one array through two
//! indices) are seen to be the same variable.

use crate::check::{Binding, Scope};
use rheobase_kernel::{ArrayId, IndexSpace};
use rheobase_syntax::ast::{self, AssignOp, ExprKind};
use rheobase_syntax::{Diagnostic, Span};
use std::collections::BTreeMap;

/// What a name in the code reads: arrays, each through an index, and
/// whether it varies from one synapse to the next.
#[derive(Default, Clone)]
struct Reads {
    arrays: Vec<(ArrayId, IndexSpace)>,
    varies: bool,
}

impl Reads {
    fn merge(&mut self, other: &Reads) {
        self.arrays.extend(other.arrays.iter().copied());
        self.varies |= other.varies;
    }
}

/// A statement that writes a variable several synapses share.
struct SharedWrite {
    op: AssignOp,
    space: IndexSpace,
    span: Span,
    name: String,
    /// For `=`: whether the value differs between synapses.
    value_varies: bool,
}

/// The warning for `block` (the code of `which`, e.g. `on_post`), if its
/// result depends on the order in which its synapses run; `scope` is the
/// scope the block was checked in.
pub(super) fn order_dependence(
    block: &ast::Block,
    scope: &Scope,
    which: &str,
) -> Option<Diagnostic> {
    let mut temporaries: BTreeMap<String, Reads> = BTreeMap::new();
    let mut writes: BTreeMap<ArrayId, Vec<SharedWrite>> = BTreeMap::new();
    // Every read of an array, with the statement it is in and the name
    // that reads it; the implicit read of `x += ...` is not one.
    let mut reads: Vec<(ArrayId, IndexSpace, Span, String)> = Vec::new();
    for s in &block.statements {
        let mut value = Reads::default();
        let mut here = Vec::new();
        reads_of(
            &s.value,
            scope,
            &temporaries,
            &mut value,
            &mut |array, space, name| here.push((array, space, s.span, name.to_string())),
        );
        match scope.names.get(&s.target.name) {
            // As in Brian2, a statement that reads nothing but its own
            // target (`v_post = 2*v_post`) is left out: alone, it applies
            // each synapse's change in turn, whatever the order.
            Some(Binding::Variable(info))
                if !here.is_empty()
                    && here.iter().all(|r| (r.0, r.1) == (info.array, info.space)) =>
            {
                continue;
            }
            _ => reads.extend(here),
        }
        match scope.names.get(&s.target.name) {
            Some(Binding::Variable(info)) => {
                if matches!(
                    info.space,
                    IndexSpace::Pre | IndexSpace::Post | IndexSpace::Shared
                ) {
                    writes.entry(info.array).or_default().push(SharedWrite {
                        op: s.op,
                        space: info.space,
                        span: s.span,
                        name: s.target.name.clone(),
                        value_varies: value.varies,
                    });
                }
            }
            // A name the block defines is a temporary of each synapse;
            // what it reads is read wherever it is used.
            _ => {
                let entry = temporaries.entry(s.target.name.clone()).or_default();
                if s.op != AssignOp::Assign {
                    value.varies = true;
                }
                entry.merge(&value);
            }
        }
    }
    for (array, ws) in &writes {
        let first = &ws[0];
        let sharers = match first.space {
            IndexSpace::Pre => "synapses of the same presynaptic neuron",
            IndexSpace::Post => "synapses of the same postsynaptic neuron",
            _ => "synapses (it is a shared variable)",
        };
        let warning = |span: Span, message: String, label: &str| {
            Diagnostic::warning(span, message)
                .with_label(label)
                .with_secondary(first.span, format!("`{}` changed here", first.name))
                .with_note(format!(
                    "rheobase runs the synapses of `{which}` one after another, in the \
                     order they were made, and each one sees what the synapses before it \
                     wrote; Brian2's numpy target runs each statement for all synapses \
                     before the next, and its Cython and C++ targets read each name once \
                     per synapse, before the synapse's statements run, so the three can \
                     give different numbers"
                ))
        };
        if let Some((_, space, span, name)) = reads.iter().find(|r| r.0 == *array) {
            // `v_pre` read where `v_post` is changed (a group onto itself).
            let message = match ws.iter().find(|w| w.space != *space) {
                Some(w) if *space != IndexSpace::Own => format!(
                    "`{which}` reads `{name}`, the variable it changes as `{}` for other \
                     synapses: the result depends on the order in which the synapses run",
                    w.name
                ),
                _ => format!(
                    "`{which}` reads `{name}`, which it also changes for other {sharers}: the \
                     result depends on the order in which the synapses run"
                ),
            };
            return Some(warning(*span, message, "read here"));
        }
        let accumulates = |op: AssignOp| matches!(op, AssignOp::Add | AssignOp::Sub);
        let scales = |op: AssignOp| matches!(op, AssignOp::Mul | AssignOp::Div);
        let commutes = ws.iter().all(|w| accumulates(w.op)) || ws.iter().all(|w| scales(w.op));
        if let Some(w) = ws
            .iter()
            .find(|w| w.op == AssignOp::Assign && w.value_varies)
        {
            return Some(warning(
                w.span,
                format!(
                    "`{which}` sets `{}` to a value that differs between {sharers}: the last \
                     synapse to run decides it",
                    w.name
                ),
                "set here",
            ));
        }
        if !commutes && ws.iter().any(|w| w.op != AssignOp::Assign) {
            let w = ws.iter().find(|w| w.op != first.op).unwrap_or(first);
            return Some(warning(
                w.span,
                format!(
                    "`{which}` changes `{}` in ways that do not commute: the result depends \
                     on the order in which the synapses run",
                    w.name
                ),
                "changed again here",
            ));
        }
    }
    None
}

/// Adds to `out` what `e` reads, calling `each` for every array read
/// through a name (with that name).
fn reads_of(
    e: &ast::Expr,
    scope: &Scope,
    temporaries: &BTreeMap<String, Reads>,
    out: &mut Reads,
    each: &mut dyn FnMut(ArrayId, IndexSpace, &str),
) {
    match &e.kind {
        ExprKind::Name(n) => {
            if let Some(t) = temporaries.get(n) {
                for &(a, space) in &t.arrays {
                    each(a, space, n);
                }
                out.merge(&t.clone());
                return;
            }
            if scope.indices.contains_key(n) {
                out.varies = true;
                return;
            }
            match scope.names.get(n) {
                Some(Binding::Variable(info)) => {
                    each(info.array, info.space, n);
                    out.arrays.push((info.array, info.space));
                    out.varies = true;
                }
                Some(Binding::Subexpression(typed)) => {
                    typed.expr.visit_loads(&mut |array, space| {
                        each(array, space, n);
                        out.arrays.push((array, space));
                    });
                    out.varies = true;
                }
                _ => {}
            }
        }
        ExprKind::List(items) => {
            for x in items {
                reads_of(x, scope, temporaries, out, each);
            }
        }
        ExprKind::Unary(_, a) => reads_of(a, scope, temporaries, out, each),
        ExprKind::Binary(_, a, b) => {
            reads_of(a, scope, temporaries, out, each);
            reads_of(b, scope, temporaries, out, each);
        }
        ExprKind::Call { function, args } => {
            // Random numbers are drawn per synapse.
            if matches!(function.name.as_str(), "rand" | "randn") {
                out.varies = true;
            }
            for x in args {
                reads_of(x, scope, temporaries, out, each);
            }
        }
        ExprKind::Subscript { args, .. } => {
            for x in args {
                reads_of(x, scope, temporaries, out, each);
            }
        }
        ExprKind::Number { .. } | ExprKind::Bool(_) => {}
    }
}
