//! Named subgroups, Brian2's `Pe = P[:3200]`: every later use of the name
//! as a group is replaced by the slice it names, so the phases after the
//! parser see only `P[a:b]`, which they already take everywhere a group
//! is taken. The replaced group keeps the span of the use, the slice the
//! spans of the declaration, so an error points at what the user wrote.

use crate::ast::*;
use crate::Diagnostic;
use std::collections::HashMap;

/// Replaces the uses of every `NAME = G[a:b]` after it, in file order.
/// A use before the declaration is left as written (the checker then
/// says the name is used before it is defined).
pub fn resolve(model: &mut Model, diags: &mut Vec<Diagnostic>) {
    let mut named: HashMap<String, GroupRef> = HashMap::new();
    for item in &mut model.items {
        match item {
            Item::Subgroup { name, group, .. } => {
                // A subgroup of a named subgroup is refused where it is
                // used as a slice of one (below).
                if let Some(base) = named.get(&group.group.name) {
                    if group.slice.is_some() {
                        diags.push(slice_of_subgroup(&group.group, base));
                        continue;
                    }
                    *group = as_slice(base, &group.group);
                }
                named.insert(name.name.clone(), group.clone());
            }
            Item::Synapses(d) => {
                for side in [&mut d.source, &mut d.target] {
                    replace(side, &named, diags);
                }
            }
            Item::SpikeMonitor(m) => replace(&mut m.source, &named, diags),
            Item::StateMonitor(m) => replace(&mut m.source, &named, diags),
            Item::PopulationRateMonitor(m) => replace(&mut m.source, &named, diags),
            Item::RunRegularly { target, .. } => replace(target, &named, diags),
            Item::PoissonInput(d) => {
                if let Some(base) = named.get(&d.target.name) {
                    if d.slice.is_some() {
                        diags.push(slice_of_subgroup(&d.target, base));
                        continue;
                    }
                    d.slice = base.slice.clone();
                    d.target = Ident {
                        name: base.group.name.clone(),
                        span: d.target.span,
                    };
                }
            }
            Item::SetVariable {
                group,
                variable,
                value,
                span,
            } => {
                if let Some(base) = named.get(&group.name) {
                    let Some(slice) = base.slice.clone() else {
                        continue;
                    };
                    *item = Item::SetVariableWhere {
                        group: Ident {
                            name: base.group.name.clone(),
                            span: group.span,
                        },
                        variable: variable.clone(),
                        selector: Selector::Subgroup(slice),
                        value: value.clone(),
                        span: *span,
                    };
                }
            }
            Item::SetVariableWhere { group, .. } => {
                if let Some(base) = named.get(&group.name) {
                    diags.push(
                        Diagnostic::error(
                            group.span,
                            format!(
                                "a selection of the subgroup `{}` cannot be set yet",
                                group.name
                            ),
                        )
                        .with_secondary(base.span, "the subgroup")
                        .with_note(format!(
                            "select from `{}` itself, counting from its first neuron",
                            base.group.name
                        )),
                    );
                }
            }
            _ => {}
        }
    }
}

/// `base` as used at `at`: the base group's name with the use's span.
fn as_slice(base: &GroupRef, at: &Ident) -> GroupRef {
    GroupRef {
        group: Ident {
            name: base.group.name.clone(),
            span: at.span,
        },
        slice: base.slice.clone(),
        span: at.span,
    }
}

fn replace(r: &mut GroupRef, named: &HashMap<String, GroupRef>, diags: &mut Vec<Diagnostic>) {
    let Some(base) = named.get(&r.group.name) else {
        return;
    };
    if r.slice.is_some() {
        diags.push(slice_of_subgroup(&r.group, base));
        return;
    }
    *r = as_slice(base, &r.group);
}

fn slice_of_subgroup(name: &Ident, base: &GroupRef) -> Diagnostic {
    Diagnostic::error(
        name.span,
        format!(
            "a slice of the subgroup `{}` is not supported yet",
            name.name
        ),
    )
    .with_secondary(base.span, "the subgroup")
    .with_note(format!(
        "slice `{}` itself, counting from its first neuron",
        base.group.name
    ))
}
