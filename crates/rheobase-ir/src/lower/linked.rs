//! Linked variables: `x : volt (linked)` in a NeuronGroup and
//! `B.x = linked_var(A.y)` at the top level (Brian2's `linked_var`).
//! Code of B that reads or writes `x` uses A's array `y`: the element of
//! the same index when A and B have the same size, A's only element when
//! A has one (or `y` is shared), as Brian2 links them without `index=`.
//!
//! B's kernels are made where B is declared, so the link is looked up
//! ahead, in the `linked_var` statement later in the file; Brian2 refuses
//! to run B before it is linked, so no `run` may come between the two.

use super::*;
use rheobase_kernel::program::TableDecl;
use rheobase_kernel::TableId;

/// A `linked_var` statement found ahead of the groups.
pub(super) struct Link {
    pub source: ast::Ident,
    pub source_variable: ast::Ident,
    pub index: Option<ast::LinkIndex>,
    pub span: Span,
    /// `run` statements before it.
    pub runs_before: usize,
}

/// What the lowering needs to know ahead about links.
#[derive(Default)]
pub(super) struct Links {
    /// (group, variable) → its first `linked_var` statement.
    pub links: HashMap<(String, String), Link>,
    /// Group name → `run` statements before its declaration, and the span
    /// of the first `run` after it.
    pub groups: HashMap<String, (usize, Option<Span>)>,
    /// (group or Synapses object, variable) of every variable declared
    /// `(linked)` so far, linked or not (a failed link was reported).
    pub declared: std::collections::HashSet<(String, String)>,
}

/// Collects every `linked_var` statement and where the groups and runs are.
pub(super) fn scan(model: &ast::Model) -> Links {
    let mut out = Links::default();
    let mut runs = 0;
    for item in &model.items {
        match item {
            Item::Run { span, .. } => {
                runs += 1;
                for (before, first_after) in out.groups.values_mut() {
                    if *before == runs - 1 && first_after.is_none() {
                        *first_after = Some(*span);
                    }
                }
            }
            Item::NeuronGroup(g) => {
                out.groups
                    .entry(g.name.name.clone())
                    .or_insert((runs, None));
            }
            Item::Synapses(s) => {
                out.groups
                    .entry(s.name.name.clone())
                    .or_insert((runs, None));
            }
            Item::LinkVariable {
                group,
                variable,
                source,
                source_variable,
                index,
                span,
            } => {
                out.links
                    .entry((group.name.clone(), variable.name.clone()))
                    .or_insert(Link {
                        source: source.clone(),
                        source_variable: source_variable.clone(),
                        index: index.clone(),
                        span: *span,
                        runs_before: runs,
                    });
            }
            _ => {}
        }
    }
    out
}

impl Builder<'_> {
    /// The binding of `eq`'s variable, declared `(linked)` in `gname`
    /// with unit `dim`: `group` is the group's number and size, `None`
    /// for a Synapses object.
    pub(super) fn linked_binding(
        &mut self,
        gname: &str,
        group: Option<(usize, usize)>,
        eq: &ast::Equation,
        dim: Dimension,
    ) -> Result<Binding, Failed> {
        let size = group.map(|(_, n)| n);
        let var = &eq.variable;
        let key = (gname.to_string(), var.name.clone());
        self.links.declared.insert(key.clone());
        let Some(link) = self.links.links.get(&key) else {
            return Err(self.error(
                Diagnostic::error(
                    var.span,
                    format!("`{}` is declared `(linked)` but never linked", var.name),
                )
                .with_note(format!(
                    "link it after the group, before the next `run`: `{gname}.{} = linked_var(OTHER.VARIABLE)`",
                    var.name
                )),
            ));
        };
        let (source, source_variable, span, runs_before, index) = (
            link.source.clone(),
            link.source_variable.clone(),
            link.span,
            link.runs_before,
            link.index.clone(),
        );
        if let Some(&(declared, Some(run))) = self.links.groups.get(gname) {
            if runs_before > declared {
                return Err(self.error(
                    Diagnostic::error(
                        span,
                        format!("`{gname}.{}` is linked only after a `run`", var.name),
                    )
                    .with_secondary(
                        run,
                        format!("`{gname}` runs here with `{}` unlinked", var.name),
                    )
                    .with_note(
                        "as in Brian2, a linked variable must be linked before the group runs",
                    ),
                ));
            }
        }
        let Some(g) = self.groups.iter().position(|g| g.name == source.name) else {
            let later = self.links.groups.contains_key(&source.name);
            let mut d = Diagnostic::error(source.span, format!("unknown group `{}`", source.name));
            if later {
                d = Diagnostic::error(
                    source.span,
                    format!(
                        "`{}` is declared after `{gname}`, whose code reads `{}` from it",
                        source.name, var.name
                    ),
                )
                .with_note(format!("declare `{}` before `{gname}`", source.name));
            }
            return Err(self.error(d));
        };
        let src = &self.groups[g];
        let src_size = src.size;
        // A subexpression of the source is linked too, as in Brian2: its
        // expression is read at the linked element (`through`).
        let (info, target) = match src.scope.names.get(&source_variable.name) {
            Some(Binding::Variable(info)) if !info.read_only => (Some(info.clone()), None),
            Some(Binding::Subexpression(t)) => (None, Some(t.clone())),
            _ => {
                return Err(self.error(Diagnostic::error(
                    source_variable.span,
                    format!(
                        "group `{}` has no state variable or subexpression `{}` to link to",
                        source.name, source_variable.name
                    ),
                )));
            }
        };
        let (target_dim, target_shared) = match (&info, &target) {
            (Some(info), _) => (info.dim, info.space == IndexSpace::Shared),
            (None, Some(t)) => (t.dim, false),
            (None, None) => return Err(Failed),
        };
        if target_dim != dim {
            return Err(self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "the unit of `{}` ({}) does not match its link target `{}.{}` ({})",
                        var.name,
                        dim_name(dim),
                        source.name,
                        source_variable.name,
                        dim_name(target_dim)
                    ),
                )
                .with_secondary(eq.unit.span, "declared here"),
            ));
        }
        let target_size = if target_shared { 1 } else { src_size };
        let space = if let Some(index) = &index {
            self.link_index(gname, group, var, index, (&source, target_size))?
        } else if target_shared || src_size == 1 {
            IndexSpace::Shared
        } else if Some(src_size) == size {
            IndexSpace::Own
        } else {
            let d = match size {
                Some(size) => Diagnostic::error(
                    span,
                    format!(
                        "cannot link `{}` to `{}.{}`: `{gname}` has {size} neurons and `{}` has {src_size}",
                        var.name, source.name, source_variable.name, source.name
                    ),
                )
                .with_note(format!(
                    "as in Brian2, groups of different sizes are linked with `index=`: \
                     `linked_var({}, '{}', index=[...])`, one source neuron for each of the {size} neurons",
                    source.name, source_variable.name
                )),
                None => Diagnostic::error(
                    span,
                    format!(
                        "cannot link the synaptic variable `{}` to `{}.{}`: `{}` has {src_size} neurons, not one",
                        var.name, source.name, source_variable.name, source.name
                    ),
                )
                .with_note(
                    "Brian2 links a Synapses object to a group of several neurons only with `index=`, \
                     which is not supported yet for Synapses",
                ),
            };
            return Err(self.error(d));
        };
        // A value read through an index array is read-only: neurons
        // sharing a source neuron would write it in turn.
        let through_index = matches!(space, IndexSpace::Via(_));
        Ok(match (info, target) {
            // Synaptic code may read a linked value but not write it: every
            // synapse would write the one element, in the order they run.
            (Some(info), _) => Binding::Variable(VariableInfo {
                space,
                flags: vec!["linked".to_string()],
                conditional_write: None,
                read_only: info.read_only || size.is_none() || through_index,
                ..info
            }),
            (None, Some(t)) => super::network::through(&Binding::Subexpression(t), space),
            (None, None) => return Err(Failed),
        })
    }

    /// The index space of a link with `index=` for variable `var` of
    /// `gname` (`group`: its number and size; `None`: a Synapses object)
    /// to `source`, whose variable has `target_size` elements: Brian2's
    /// checks of the index array, then the array itself, set once before
    /// the group runs.
    fn link_index(
        &mut self,
        gname: &str,
        group: Option<(usize, usize)>,
        var: &ast::Ident,
        index: &ast::LinkIndex,
        (source, target_size): (&ast::Ident, usize),
    ) -> Result<IndexSpace, Failed> {
        let Some((gi, size)) = group else {
            let at = match index {
                ast::LinkIndex::Array(e) => e.span,
                ast::LinkIndex::Variable(v) => v.span,
            };
            return Err(self.error(Diagnostic::error(
                at,
                "`linked_var` with `index=` is not supported yet in a Synapses object",
            )));
        };
        let e = match index {
            ast::LinkIndex::Array(e) => e,
            ast::LinkIndex::Variable(v) => {
                return Err(self.error(
                    Diagnostic::error(
                        v.span,
                        "`index=` naming a variable of the linking group is not supported yet",
                    )
                    .with_note("give the index as an integer array, such as `index=[0, 2, 4]`"),
                ));
            }
        };
        let Some((values, dim, integer)) = self.constant_integer_array(e)? else {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "the index array for linked variable `{}` has to be a one-dimensional array of length {size}, not a single number",
                        var.name
                    ),
                )
                .with_note(format!("as in Brian2, it has one source neuron for each neuron of `{gname}`")),
            ));
        };
        if !integer || dim != Dimension::DIMENSIONLESS {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    "the index for a linked variable has to be an integer array",
                )
                .with_note("as in Brian2; for example `index=[0, 2, 4]` or `index=arange(3)`"),
            ));
        }
        if values.len() != size {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "the index array for linked variable `{}` has {} values, but `{gname}` has {size} neurons",
                        var.name,
                        values.len()
                    ),
                )
                .with_note("as in Brian2, it has one source neuron for each neuron of the linking group"),
            ));
        }
        if let Some(bad) = values
            .iter()
            .find(|&&x| !(0.0..target_size as f64).contains(&x))
        {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "the index array for linked variable `{}` contains {bad}, outside of the valid range [0, {target_size}[",
                        var.name
                    ),
                )
                .with_note(format!(
                    "`{}` has {target_size} element{}",
                    source.name,
                    if target_size == 1 { "" } else { "s" }
                )),
            ));
        }
        if target_size == 1 {
            // Every neuron reads the one element.
            return Ok(IndexSpace::Shared);
        }
        let array = self.add_array(
            format!("{gname}._{}_indices", var.name),
            gi,
            size,
            0.0,
            Ty::Integer,
        );
        // Row `k` of a one-column table holds neuron `k`'s index, read at
        // time `k*ROW_SECONDS` as `G.v = [...]` does.
        let table = TableId(self.program.tables.len() as u32);
        self.program.tables.push(TableDecl {
            name: format!("{gname}._{}_indices", var.name),
            values,
            rows: size,
            columns: 1,
            dt: super::values::ROW_SECONDS,
        });
        let time = Expr::Binary(
            BinaryOp::Mul,
            Box::new(Expr::Index(IndexSpace::Own)),
            Box::new(Expr::Const(super::values::ROW_SECONDS)),
        );
        let kernel = self.add_kernel(
            format!("{gname}.link.{}", var.name),
            Iteration::Range,
            &KernelCounters::default(),
            vec![Stmt::Store(
                array,
                IndexSpace::Own,
                Expr::Table {
                    table,
                    time: Box::new(time),
                    column: None,
                },
            )],
        );
        self.program
            .actions
            .push(Action::Initialise { kernel, group: gi });
        Ok(IndexSpace::Via(array))
    }

    /// A `linked_var` statement where it stands: the link was made when
    /// its group was declared; here only what it names is checked.
    pub(super) fn link_statement(
        &mut self,
        group: &ast::Ident,
        variable: &ast::Ident,
        span: Span,
    ) -> Result<(), Failed> {
        if self.synapse_index(&group.name).is_none() {
            self.group_by_name(group)?;
        }
        let linked = self
            .links
            .declared
            .contains(&(group.name.clone(), variable.name.clone()));
        if !linked {
            return Err(self.error(
                Diagnostic::error(
                    variable.span,
                    format!(
                        "`{}` of `{}` is not declared `(linked)`",
                        variable.name, group.name
                    ),
                )
                .with_note(format!(
                    "declare it in the model as `{} : UNIT (linked)`",
                    variable.name
                )),
            ));
        }
        match self
            .links
            .links
            .get(&(group.name.clone(), variable.name.clone()))
        {
            Some(first) if first.span != span => {
                let first = first.span;
                Err(self.error(
                    Diagnostic::error(
                        span,
                        format!("`{}.{}` is linked twice", group.name, variable.name),
                    )
                    .with_secondary(first, "first linked here"),
                ))
            }
            _ => Ok(()),
        }
    }
}
