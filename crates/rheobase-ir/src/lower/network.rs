//! Lowering of network objects: Synapses, PoissonGroup, PoissonInput,
//! SpikeGeneratorGroup and TimedArray.

use super::{
    kind_of, regular, topological_order, validate_variable_name, Builder, GroupInfo, KernelCounters,
};
use crate::check::{dim_name, Binding, Failed, Scope, TableInfo, Ty, Typed, VariableInfo};
use crate::expr::{self, as_const, binary, c};
use crate::integrators::{self, Method, OdeSystem};
use rheobase_kernel::program::{
    Action, ArrayDecl, ConnectPlan, EventPlan, GeneratorElement, GeneratorPlan, GroupPlan,
    KernelId, Multiplicity, PathwayPlan, PathwaySide, PoissonInputPlan, RegularPlan, RegularTarget,
    Slot, SummedPlan, SynapsesPlan, TableDecl, ValueKind,
};
use rheobase_kernel::{
    ArrayId, BinaryOp, Expr, IndexSpace, Iteration, LocalId, RandKind, Stmt, TableId, UnaryOp,
};
use rheobase_syntax::ast::{self, ConnectIndex, EquationKind, ExprKind, Iterable};
use rheobase_syntax::{Diagnostic, Span};
use rheobase_units::Dimension;
use std::collections::HashMap;

/// What later statements need to know about a Synapses object.
/// A Synapses object's pathway, resolved from its declaration.
struct ResolvedPathway<'d> {
    /// Brian2's name: `pre`, `post` or the NAME of `on_pre NAME:`.
    name: String,
    span: Span,
    side: PathwaySide,
    /// The object's `on_pre`/`on_post` (no queue of its own for `post`).
    default: bool,
    code: &'d ast::Block,
    /// `None`: spikes; `Some(k)`: custom event `k` of its side's group.
    event: Option<usize>,
    /// Its delay and the key that gave it (`delay`, `delay up`).
    delay: Option<(&'d ast::Expr, String)>,
}

pub(crate) struct SynapsesInfo {
    pub name: String,
    /// The scope of its code: synaptic variables, `_pre`/`_post` neuron
    /// variables, `i`, `j`.
    pub scope: Scope,
}

/// Rewrites a neuron group's binding so that it is read through a
/// synapse's `pre` or `post` index.
pub(super) fn through(binding: &Binding, space: IndexSpace) -> Binding {
    match binding {
        Binding::Variable(v) => Binding::Variable(VariableInfo {
            space: if v.space == IndexSpace::Shared {
                IndexSpace::Shared
            } else {
                space
            },
            ..v.clone()
        }),
        Binding::Subexpression(t) => Binding::Subexpression(Typed {
            expr: reindex(&t.expr, space),
            ..t.clone()
        }),
        other => other.clone(),
    }
}

/// Whether a binding reads through a linked variable's index array.
fn through_index(binding: &Binding) -> bool {
    let mut found = false;
    let mut look = |_, space| found |= matches!(space, IndexSpace::Via(_));
    match binding {
        Binding::Variable(v) => look(v.array, v.space),
        Binding::Subexpression(t) => t.expr.visit_loads(&mut look),
        _ => {}
    }
    found
}

fn reindex(e: &Expr, space: IndexSpace) -> Expr {
    match e {
        Expr::Load(a, IndexSpace::Own) => Expr::Load(*a, space),
        // Through an index array, the source element's number is the
        // array's value.
        Expr::Index(IndexSpace::Own) => match space {
            IndexSpace::Via(via) => Expr::Load(via, IndexSpace::Own),
            _ => Expr::Index(space),
        },
        other => other.map_operands(&mut |x| reindex(x, space)),
    }
}

/// One side of a Synapses object: a range of a group's neurons, plus
/// the sizes of both sides (`N_pre`, `N_post`).
#[derive(Debug, Clone, Copy)]
struct Side {
    group: usize,
    /// `Some(k)`: the side is the synapses of `program.synapses[k]`.
    synapses: Option<usize>,
    start: usize,
    stop: usize,
    n_pre: usize,
    n_post: usize,
}

/// What one side of a Synapses object refers to: a range of a neuron
/// group's neurons, or (Brian2's `Synapses(dopamine, synapse_stdp)`) the
/// synapses of an earlier Synapses object, a group of its `N` synapses.
struct Endpoint {
    /// The neuron group, or for synapses the group owning their arrays.
    group: usize,
    start: usize,
    /// The end of the range; for synapses their number when it is known
    /// before the run, else 0 (the runtime sets it before connecting).
    stop: usize,
    /// `Some(k)`: the synapses of `program.synapses[k]`.
    synapses: Option<usize>,
    /// For synapses: whether `stop` is their number.
    known: bool,
    /// The variables its side reads (`x_pre`, `x_post`, `x`), indexed as
    /// its own elements.
    scope: Scope,
}

/// Whether `e` reads an array through `space` or uses its index.
fn expr_uses(e: &Expr, space: IndexSpace) -> bool {
    match e {
        Expr::Load(_, s) | Expr::Index(s) => *s == space,
        Expr::Unary(_, a) => expr_uses(a, space),
        Expr::Binary(_, a, b) => expr_uses(a, space) || expr_uses(b, space),
        Expr::Select(k, a, b) => expr_uses(k, space) || expr_uses(a, space) || expr_uses(b, space),
        Expr::Table { time, column, .. } => {
            expr_uses(time, space) || column.as_ref().is_some_and(|c| expr_uses(c, space))
        }
        _ => false,
    }
}

/// The right-hand sides of a Synapses object's equations and the values
/// of its statements (`on_pre`, `on_post`, named pathways, `init:`).
fn code_expressions(d: &ast::SynapsesDecl) -> Vec<&ast::Expr> {
    let mut exprs: Vec<&ast::Expr> = Vec::new();
    for eq in &d.model {
        if let EquationKind::Differential(e) | EquationKind::Subexpression(e) = &eq.kind {
            exprs.push(e);
        }
    }
    for b in [&d.on_pre, &d.on_post, &d.init]
        .into_iter()
        .flatten()
        .chain(d.pathways.iter().map(|p| &p.code))
    {
        exprs.extend(b.statements.iter().map(|s| &s.value));
    }
    exprs
}

fn collect_names<'e>(e: &'e ast::Expr, out: &mut Vec<&'e str>) {
    super::collect_names(e, out)
}

/// The first use in `e` of one of `names`, with its span.
fn find_name<'e>(e: &'e ast::Expr, names: &[&str]) -> Option<(&'e str, Span)> {
    match &e.kind {
        ExprKind::Name(n) if names.contains(&n.as_str()) => Some((n, e.span)),
        ExprKind::Name(_) | ExprKind::Number { .. } | ExprKind::Bool(_) => None,
        ExprKind::List(items)
        | ExprKind::Call { args: items, .. }
        | ExprKind::Subscript { args: items, .. } => items.iter().find_map(|x| find_name(x, names)),
        ExprKind::Unary(_, a) => find_name(a, names),
        ExprKind::Binary(_, a, b) => find_name(a, names).or_else(|| find_name(b, names)),
    }
}

/// Every expression of a `connect:` line.
fn connect_expressions(cl: &ast::Connect) -> Vec<&ast::Expr> {
    let mut exprs: Vec<&ast::Expr> = [&cl.condition, &cl.p, &cl.n]
        .into_iter()
        .flatten()
        .collect();
    for index in [&cl.i, &cl.j].into_iter().flatten() {
        match index {
            ConnectIndex::Values(e) => exprs.push(e),
            ConnectIndex::Mapping { expr, condition } => {
                exprs.push(expr);
                exprs.extend(condition);
            }
            ConnectIndex::Generator(g) => {
                exprs.push(&g.element);
                exprs.extend(&g.condition);
                match &g.iterable {
                    Iterable::Range { args, .. } => exprs.extend(args),
                    Iterable::Sample { args, p, size, .. } => {
                        exprs.extend(args);
                        exprs.extend(p);
                        exprs.extend(size);
                    }
                }
            }
        }
    }
    exprs
}

/// The names used by `run_regularly` blocks' code and conditions.
fn regular_names<'e>(
    blocks: impl IntoIterator<Item = &'e ast::RunRegularly>,
    out: &mut Vec<&'e str>,
) {
    for r in blocks {
        for s in r.code.iter().flat_map(|b| &b.statements) {
            collect_names(&s.value, out);
        }
    }
}

/// For each object name, the names its top-level statements use: the
/// values (and conditions) of `S.w = ...` settings, its top-level
/// `run_regularly:` code and the variables a StateMonitor of it records.
/// A Synapses object declares `N`, `N_incoming` and `N_outgoing` only
/// when some code uses them, and these uses may come after it.
pub(super) fn names_used_later(model: &ast::Model) -> HashMap<String, Vec<String>> {
    let mut used: HashMap<String, Vec<String>> = HashMap::new();
    for item in &model.items {
        let mut names = Vec::new();
        let object = match item {
            ast::Item::SetVariable { group, value, .. } => {
                collect_names(value, &mut names);
                group
            }
            ast::Item::SetVariableWhere {
                group,
                selector,
                value,
                ..
            } => {
                collect_names(value, &mut names);
                if let ast::Selector::Condition(c) = selector {
                    collect_names(c, &mut names);
                }
                group
            }
            ast::Item::RunRegularly { target, block, .. } => {
                regular_names([block], &mut names);
                &target.group
            }
            ast::Item::StateMonitor(m) => {
                names.extend(m.variables.iter().map(|v| v.name.as_str()));
                &m.source.group
            }
            _ => continue,
        };
        used.entry(object.name.clone())
            .or_default()
            .extend(names.into_iter().map(str::to_string));
    }
    used
}

impl<'a> Builder<'a> {
    /// Evaluates a constant list such as `[1, 2.5, 7]*ms` (or a single
    /// number) to its values in SI units and their dimension.
    /// The rows of a 2-D TimedArray's `values:`, flattened row after row,
    /// with their unit and the number of columns (every row must have it).
    fn table_rows(&mut self, items: &[ast::Expr]) -> Result<(Vec<f64>, Dimension, usize), Failed> {
        let mut flat = Vec::new();
        let mut dim = Dimension::DIMENSIONLESS;
        let mut columns = None;
        for row in items {
            let (v, dm) = self.constant_array(row)?;
            if columns.is_some_and(|c| c != v.len()) {
                return Err(self.error(Diagnostic::error(
                    row.span,
                    "every row of a 2-D TimedArray needs the same length",
                )));
            }
            columns = Some(v.len());
            dim = dm;
            flat.extend(v);
        }
        Ok((flat, dim, columns.unwrap_or(1)))
    }

    /// Reads a `file:` through the caller's file access; a failure names
    /// the file and what is wrong with it.
    fn read_file(&mut self, f: &ast::PathLit) -> Result<super::DataTable, Failed> {
        match self.files.read(&f.path) {
            Ok(t) if t.values.len() == t.rows * t.columns => Ok(t),
            Ok(_) => Err(self.error(Diagnostic::error(
                f.span,
                format!("`{}`: the table's shape does not match its values", f.path),
            ))),
            Err(why) => Err(self.error(
                Diagnostic::error(f.span, format!("cannot use `{}`: {why}", f.path))
                    .with_label("this file"),
            )),
        }
    }

    fn register_group(&mut self, plan: GroupPlan, scope: Scope, spikes: bool) -> usize {
        let gi = self.program.groups.len();
        self.groups.push(GroupInfo {
            name: plan.name.clone(),
            size: plan.size,
            scope,
            spikes,
        });
        self.program.groups.push(plan);
        gi
    }

    fn group_size(&mut self, size: &ast::Expr) -> Result<usize, Failed> {
        let n = self.whole_number(size, "a group's size")?;
        if n < 1 || n as u64 > super::MAX_GROUP_SIZE as u64 {
            return Err(self.error(Diagnostic::error(
                size.span,
                format!(
                    "a group must have between 1 and {} neurons, not {n}",
                    super::MAX_GROUP_SIZE
                ),
            )));
        }
        Ok(n as usize)
    }

    fn neuron_scope(&self, size: usize) -> Scope {
        Scope {
            constants: self.constants.clone(),
            names: HashMap::new(),
            group_size: Some(size),
            has_element: true,
            dt: self.program.clocks[0].dt,
            indices: HashMap::from([("i".to_string(), Expr::Index(IndexSpace::Own))]),
            tables: self.tables.clone(),
            local: crate::check::Constants::new(),
        }
    }

    pub(super) fn poisson_group(&mut self, d: &ast::PoissonGroupDecl) -> Result<(), Failed> {
        self.define(&d.name)?;
        let size = self.group_size(&d.size)?;
        let Some(rates) = &d.rates else {
            return Err(self.error(Diagnostic::error(
                d.name.span,
                "a PoissonGroup needs `rates:` (e.g. `rates: 10*Hz`)",
            )));
        };
        let mut scope = self.neuron_scope(size);
        let mut counters = KernelCounters::default();
        let rate = {
            let mut checker = self.checker(&scope, &mut counters, false, false);
            checker.check(rates)?
        };
        if rate.dim != Dimension::HERTZ {
            return Err(self.error(Diagnostic::error(
                rates.span,
                format!(
                    "`rates:` must have unit hertz, but this has unit {}",
                    dim_name(rate.dim)
                ),
            )));
        }
        if let Some(r) = as_const(&rate.expr) {
            if !r.is_finite() || r < 0.0 {
                return Err(self.error(Diagnostic::error(
                    rates.span,
                    format!(
                        "`rates:` must be a finite rate of 0 Hz or more, but this is {} Hz",
                        crate::lower::value_text(r)
                    ),
                )));
            }
        }
        // As in Brian2, a constant rate is a parameter `rates : Hz` of
        // each neuron (so `run_regularly` code, a setting or a monitor can
        // use it, as Wang 2002's `P.run_regularly("rates = ...")` does);
        // an expression is a subexpression, read where it is used.
        let gi = self.program.groups.len();
        let mut variables = Vec::new();
        let rate_value = match as_const(&rate.expr) {
            Some(r) => {
                let array =
                    self.add_array(format!("{}.rates", d.name.name), gi, size, r, Ty::Float);
                variables.push(("rates".to_string(), array));
                scope.names.insert(
                    "rates".to_string(),
                    Binding::Variable(VariableInfo {
                        array,
                        space: IndexSpace::Own,
                        dim: Dimension::HERTZ,
                        ty: Ty::Float,
                        read_only: false,
                        flags: Vec::new(),
                        conditional_write: None,
                    }),
                );
                Expr::Load(array, IndexSpace::Own)
            }
            None => {
                // Substituted elsewhere only when it draws no random
                // number, since a draw's key belongs to this kernel.
                if counters.draws == 0 {
                    scope
                        .names
                        .insert("rates".to_string(), Binding::Subexpression(rate.clone()));
                }
                rate.expr
            }
        };
        // Brian2's PoissonGroup is `rand() < rates*dt`, checked each step.
        let draw = counters.draw();
        let cond = binary(
            BinaryOp::Lt,
            Expr::Rand {
                kind: RandKind::Uniform,
                draw,
            },
            expr::mul(rate_value, Expr::Dt),
        );
        let name = d.name.name.clone();
        let body = self.active_after_declaration(vec![Stmt::If {
            cond,
            then: vec![Stmt::Emit],
        }]);
        let condition = self.add_kernel(
            format!("{name}.threshold"),
            Iteration::Range,
            &counters,
            body,
        );
        let plan = GroupPlan {
            clock: self.clock_of(&name),
            name,
            size,
            variables,
            method: None,
            state_update: None,
            spike: Some(EventPlan {
                name: "spike".into(),
                condition,
                effect: None,
            }),
            generator: None,
            events: Vec::new(),
        };
        let gi = self.register_group(plan, scope.clone(), true);
        self.run_regularly(
            &d.run_regularly,
            &d.name.name,
            RegularTarget::Group(gi),
            &scope,
            None,
        )
    }

    pub(super) fn spike_generator(&mut self, d: &ast::SpikeGeneratorDecl) -> Result<(), Failed> {
        self.define(&d.name)?;
        let size = self.group_size(&d.size)?;
        let (indices, times_v, ind_span, times_span) = match (&d.file, &d.indices, &d.times) {
            (Some(f), None, None) => {
                // Two columns: neuron index and spike time in seconds (or
                // two rows of the same).
                let table = self.read_file(f)?;
                let (n, at): (usize, Box<dyn Fn(usize, usize) -> f64>) = match (
                    table.rows,
                    table.columns,
                ) {
                    (_, 2) => (table.rows, Box::new(move |r, c| table.values[r * 2 + c])),
                    (2, cols) => (cols, Box::new(move |r, c| table.values[c * cols + r])),
                    (r, c) => {
                        return Err(self.error(Diagnostic::error(f.span, format!("`{}` has {r} rows and {c} columns; a spike file needs two columns: neuron index and spike time in seconds", f.path))));
                    }
                };
                let indices: Vec<f64> = (0..n).map(|r| at(r, 0)).collect();
                let times: Vec<f64> = (0..n).map(|r| at(r, 1)).collect();
                (indices, times, f.span, f.span)
            }
            (Some(f), _, _) => {
                return Err(self.error(Diagnostic::error(
                    f.span,
                    "give either `file:` or `indices:` and `times:`, not both",
                )));
            }
            (None, Some(ind), Some(times)) => {
                let (indices, idim) = self.constant_array(ind)?;
                let (times_v, tdim) = self.constant_array(times)?;
                if !idim.is_dimensionless() {
                    return Err(self.error(Diagnostic::error(
                        ind.span,
                        "`indices:` are neuron numbers, without a unit",
                    )));
                }
                if tdim != Dimension::SECOND {
                    return Err(self.error(Diagnostic::error(
                        times.span,
                        format!(
                            "`times:` must have unit second, but they have unit {}",
                            dim_name(tdim)
                        ),
                    )));
                }
                if indices.len() != times_v.len() {
                    return Err(self.error(Diagnostic::error(
                        d.span,
                        format!(
                            "`indices:` has {} entries but `times:` has {}",
                            indices.len(),
                            times_v.len()
                        ),
                    )));
                }
                (indices, times_v, ind.span, times.span)
            }
            _ => {
                return Err(self.error(Diagnostic::error(
                    d.name.span,
                    "a SpikeGeneratorGroup needs `indices:` and `times:`, or `file:`",
                )));
            }
        };
        let dt = self.dt;
        let mut spikes = Vec::new();
        for (&n, &t) in indices.iter().zip(&times_v) {
            if n.fract() != 0.0 || n < 0.0 || n >= size as f64 {
                return Err(self.error(Diagnostic::error(
                    ind_span,
                    format!("neuron index {n} is outside the group's {size} neurons"),
                )));
            }
            if t < 0.0 || !t.is_finite() {
                return Err(self.error(Diagnostic::error(
                    times_span,
                    format!("spike time {t} s is negative or not finite"),
                )));
            }
            // Brian2 shifts spike times by a thousandth of a step before
            // binning, so a time on a step boundary lands in that step.
            spikes.push((((t + 1e-3 * dt) / dt) as u64, n as u32));
        }
        spikes.sort_unstable();
        if let Some(w) = spikes.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.error(Diagnostic::error(
                d.span,
                format!(
                    "neuron {} spikes twice in the time step starting at {} s",
                    w[0].1,
                    w[0].0 as f64 * dt
                ),
            )));
        }
        let period = match &d.period {
            None => 0,
            Some(p) => {
                let v = self.constant_value(p, Dimension::SECOND, "`period:`")?;
                let steps = (v / dt).round();
                if v != 0.0 && (steps < 1.0 || ((steps * dt - v) / dt).abs() > 1e-6) {
                    return Err(self.error(Diagnostic::error(
                        p.span,
                        "`period:` must be a whole multiple of the time step",
                    )));
                }
                if let Some(last) = spikes.last() {
                    if steps > 0.0 && last.0 >= steps as u64 {
                        return Err(self.error(Diagnostic::error(
                            p.span,
                            "every spike time must be smaller than `period:`",
                        )));
                    }
                }
                steps as u64
            }
        };
        let plan = GroupPlan {
            name: d.name.name.clone(),
            size,
            clock: self.clock_of(&d.name.name),
            variables: Vec::new(),
            method: None,
            state_update: None,
            spike: None,
            generator: Some(GeneratorPlan {
                spikes,
                period,
                // Its spikes count steps of its own clock, and it joins
                // at the first of them at or after the ticks run so far.
                from_step: self
                    .steps_so_far
                    .div_ceil(self.program.clocks[self.clock_of(&d.name.name)].every),
            }),
            events: Vec::new(),
        };
        let scope = self.neuron_scope(size);
        self.register_group(plan, scope, true);
        Ok(())
    }

    pub(super) fn timed_array(&mut self, d: &ast::TimedArrayDecl) -> Result<(), Failed> {
        if !d.array {
            return self.timed_table(d);
        }
        // `Array W:` is a table read at row `i`, column `j` (see
        // `values::subscripts`): made as a TimedArray whose rows lie far
        // apart in time, and named `W[]` among the tables so that it is
        // not callable as a function of time.
        if d.values.is_none() && d.file.is_none() {
            self.define(&d.name)?;
            return Err(self.error(Diagnostic::error(
                d.name.span,
                "an Array needs `values:` (a list of lists) or `file:` (a `.npy` or text table)",
            )));
        }
        let span = d.name.span;
        let number = |value| ast::Expr {
            kind: ExprKind::Number {
                value,
                is_integer: false,
            },
            span,
        };
        let second = ast::Expr {
            kind: ExprKind::Name("second".into()),
            span,
        };
        let table = ast::TimedArrayDecl {
            dt: Some(ast::Expr {
                kind: ExprKind::Binary(
                    ast::BinaryOp::Mul,
                    Box::new(number(super::values::ROW_SECONDS)),
                    Box::new(second),
                ),
                span,
            }),
            ..d.clone()
        };
        self.timed_table(&table)?;
        if let Some(info) = self.tables.remove(&d.name.name) {
            self.tables.insert(format!("{}[]", d.name.name), info);
        }
        Ok(())
    }

    fn timed_table(&mut self, d: &ast::TimedArrayDecl) -> Result<(), Failed> {
        self.define(&d.name)?;
        if let Some(f) = &d.file {
            if d.values.is_some() {
                return Err(self.error(Diagnostic::error(
                    f.span,
                    "give either `file:` or `values:`, not both",
                )));
            }
            let Some(dt) = &d.dt else {
                return Err(self.error(Diagnostic::error(d.name.span, "a TimedArray needs `dt:`")));
            };
            let table_dt = self.constant_value(dt, Dimension::SECOND, "a TimedArray's `dt:`")?;
            if table_dt <= 0.0 || !table_dt.is_finite() {
                return Err(self.error(Diagnostic::error(
                    dt.span,
                    "a TimedArray's `dt:` must be positive",
                )));
            }
            // Rows are times, columns neurons; values are dimensionless
            // (multiply by a unit where the TimedArray is used).
            let table = self.read_file(f)?;
            if table.rows == 0 || table.columns == 0 {
                return Err(self.error(Diagnostic::error(
                    f.span,
                    format!("`{}` holds no values", f.path),
                )));
            }
            let id = TableId(self.program.tables.len() as u32);
            let columns = table.columns;
            self.program.tables.push(TableDecl {
                name: d.name.name.clone(),
                values: table.values,
                rows: table.rows,
                columns,
                dt: table_dt,
            });
            self.tables.insert(
                d.name.name.clone(),
                TableInfo {
                    id,
                    dim: Dimension::DIMENSIONLESS,
                    columns,
                },
            );
            return Ok(());
        }
        let (Some(values), Some(dt)) = (&d.values, &d.dt) else {
            return Err(self.error(Diagnostic::error(
                d.name.span,
                "a TimedArray needs `values:` and `dt:`",
            )));
        };
        let table_dt = self.constant_value(dt, Dimension::SECOND, "a TimedArray's `dt:`")?;
        if table_dt <= 0.0 || !table_dt.is_finite() {
            return Err(self.error(Diagnostic::error(
                dt.span,
                "a TimedArray's `dt:` must be positive",
            )));
        }
        // A list of lists is 2-D: rows are times, columns neurons.
        let (flat, dim, rows, columns) = match &values.kind {
            ExprKind::Binary(op, a, b) if matches!(&a.kind, ExprKind::List(items) if items.iter().any(|x| matches!(x.kind, ExprKind::List(_)))) =>
            {
                let ExprKind::List(items) = &a.kind else {
                    return Err(Failed);
                };
                let k = self.constant(b)?;
                let kv = as_const(&k.expr).unwrap_or(f64::NAN);
                let (mut flat, dim, columns) = self.table_rows(items)?;
                let dim = if *op == ast::BinaryOp::Mul {
                    flat.iter_mut().for_each(|x| *x *= kv);
                    dim * k.dim
                } else {
                    flat.iter_mut().for_each(|x| *x /= kv);
                    dim / k.dim
                };
                (flat, dim, items.len(), columns)
            }
            // A list of lists without a unit: dimensionless rows.
            ExprKind::List(items) if items.iter().any(|x| matches!(x.kind, ExprKind::List(_))) => {
                let (flat, dim, columns) = self.table_rows(items)?;
                (flat, dim, items.len(), columns)
            }
            _ => {
                let (v, dim) = self.constant_array(values)?;
                let n = v.len();
                (v, dim, n, 1)
            }
        };
        if rows == 0 || columns == 0 {
            return Err(self.error(Diagnostic::error(
                values.span,
                "a TimedArray needs at least one value",
            )));
        }
        let id = TableId(self.program.tables.len() as u32);
        self.program.tables.push(TableDecl {
            name: d.name.name.clone(),
            values: flat,
            rows,
            columns,
            dt: table_dt,
        });
        self.tables
            .insert(d.name.name.clone(), TableInfo { id, dim, columns });
        Ok(())
    }

    pub(super) fn poisson_input(&mut self, d: &ast::PoissonInputDecl) -> Result<(), Failed> {
        self.define(&d.name)?;
        // On a subgroup (Brian2's `PoissonInput(G[a:b], ...)`), only its
        // neurons get the input, and its code sees the subgroup's `i`
        // (from 0) and `N`, as Brian2's subgroups do.
        let target = ast::GroupRef {
            group: d.target.clone(),
            slice: d.slice.clone(),
            span: d.slice.as_ref().map_or(d.target.span, |s| s.span),
        };
        let (g, scope, slice) = self.subgroup_scope(&target)?;
        let Some(Binding::Variable(var)) = scope.names.get(&d.variable.name).cloned() else {
            return Err(self.error(Diagnostic::error(
                d.variable.span,
                format!(
                    "group `{}` has no variable `{}`",
                    d.target.name, d.variable.name
                ),
            )));
        };
        if var.read_only || var.flags.iter().any(|f| f == "constant" || f == "shared") {
            return Err(self.error(Diagnostic::error(
                d.variable.span,
                format!(
                    "a PoissonInput adds to its variable every step, but `{}` is {}",
                    d.variable.name,
                    if var.read_only {
                        "read-only"
                    } else if var.flags.iter().any(|f| f == "constant") {
                        "`(constant)`"
                    } else {
                        "`(shared)`"
                    }
                ),
            )));
        }
        let (Some(n), Some(rate_expr), Some(weight)) = (&d.n, &d.rate, &d.weight) else {
            return Err(self.error(Diagnostic::error(
                d.name.span,
                "a PoissonInput needs `N:`, `rate:` and `weight:`",
            )));
        };
        let n = self.whole_number(n, "`N:`")?;
        if n < 0 {
            return Err(self.error(Diagnostic::error(d.name.span, "`N:` must not be negative")));
        }
        let rate = self.constant_value(rate_expr, Dimension::HERTZ, "`rate:`")?;
        // Each step draws binomial(N, rate*dt): a probability, as Brian2
        // requires.
        if rate < 0.0 || rate * self.dt > 1.0 {
            return Err(self.error(Diagnostic::error(
                rate_expr.span,
                format!(
                    "`rate:` must be between 0 Hz and 1/dt ({} Hz), since each step fires each input with probability rate*dt; this is {} Hz",
                    crate::lower::value_text(1.0 / self.dt),
                    crate::lower::value_text(rate)
                ),
            )));
        }
        let mut counters = KernelCounters::default();
        let w = {
            let mut checker = self.checker(&scope, &mut counters, true, false);
            checker.check(weight)?
        };
        if w.dim != var.dim {
            return Err(self.error(Diagnostic::error(
                weight.span,
                format!(
                    "dimension mismatch: `{}` has unit {}, but the weight has unit {}",
                    d.variable.name,
                    dim_name(var.dim),
                    dim_name(w.dim)
                ),
            )));
        }
        let draw = counters.draw();
        let p = rate * self.dt;
        let value = expr::add(
            Expr::Load(var.array, var.space),
            expr::mul(
                Expr::Binomial {
                    n: n as u64,
                    p,
                    draw,
                },
                w.expr,
            ),
        );
        let mut body = vec![Stmt::Store(var.array, var.space, value)];
        if let Some(nr) = var.conditional_write {
            body = vec![Stmt::If {
                cond: Expr::Load(nr, IndexSpace::Own),
                then: body,
            }];
        }
        if let Some(range) = slice {
            body = super::only_within(body, range);
        }
        let body = self.active_after_declaration(body);
        let kernel = self.add_kernel(
            format!("{}.poisson_input", d.name.name),
            Iteration::Range,
            &counters,
            body,
        );
        // Brian2 2.9's PoissonInput takes no name: it is `poissoninput`,
        // then `poissoninput_1`, ..., in the order they are made.
        let brian2_name = match self.poisson_names.len() {
            0 => "poissoninput".to_string(),
            k => format!("poissoninput_{k}"),
        };
        match self.poisson_input_schedule(d)? {
            // Moved by `when:`/`order:`, it runs as `run_regularly` code
            // does: every step, at the place Brian2's sort gives its name.
            Some((slot, order, _)) => {
                self.poisson_names.push((brian2_name.clone(), false));
                self.regular.push(regular::PendingRegular {
                    plan: RegularPlan {
                        name: brian2_name,
                        kernel,
                        target: RegularTarget::Group(g),
                        every: 1,
                        from_step: self.steps_so_far,
                        slot: Slot::new(Slot::START, 0),
                    },
                    slot,
                    order,
                    input: Some(d.name.name.clone()),
                });
            }
            None => {
                self.poisson_names.push((brian2_name.clone(), true));
                self.program.poisson_inputs.push(PoissonInputPlan {
                    name: d.name.name.clone(),
                    brian_name: brian2_name,
                    group: g,
                    kernel,
                });
            }
        }
        Ok(())
    }

    /// Brian2's `when=`/`order=` of a PoissonInput (defaults `synapses`
    /// and 0) when they move it from that place: its slot, order and the
    /// span of `when:` (or of its name).
    fn poisson_input_schedule(
        &mut self,
        d: &ast::PoissonInputDecl,
    ) -> Result<Option<(usize, i64, Span)>, Failed> {
        if d.when.is_none() && d.order.is_none() {
            return Ok(None);
        }
        let default_slot = regular::slot("synapses");
        let (slot, order, span) =
            self.when_order(d.when.as_ref(), d.order.as_ref(), d.name.span)?;
        let slot = if d.when.is_some() { slot } else { default_slot };
        Ok(((slot, order) != (default_slot, 0)).then_some((slot, order, span)))
    }

    /// Resolves a side of a Synapses object: `G`, `G[a:b]`, or the name
    /// of an earlier Synapses object, whose synapses Brian2 treats as a
    /// group of `N` elements. `role` is `source` or `target`.
    fn endpoint(
        &mut self,
        r: &ast::GroupRef,
        own: &ast::Ident,
        role: &str,
    ) -> Result<Endpoint, Failed> {
        if r.group.name == own.name {
            // Brian2 cannot write it either: the object does not exist yet
            // when its source and target are given.
            return Err(self.error(
                Diagnostic::error(
                    r.group.span,
                    format!("`{}` cannot be its own {role}", own.name),
                )
                .with_note("the source and target of a Synapses object are neuron groups or Synapses objects declared before it"),
            ));
        }
        let k = match self.synapse_index(&r.group.name) {
            Some(k) if !self.groups.iter().any(|g| g.name == r.group.name) => k,
            _ => {
                let (group, start, stop) = self.group_ref(r)?;
                return Ok(Endpoint {
                    group,
                    start,
                    stop,
                    synapses: None,
                    known: true,
                    scope: self.groups[group].scope.clone(),
                });
            }
        };
        if let Some(slice) = &r.slice {
            return Err(self.error(
                Diagnostic::error(
                    slice.span,
                    format!(
                        "a slice of the Synapses object `{}` cannot be the {role} of synapses yet",
                        r.group.name
                    ),
                )
                .with_note(format!(
                    "connect to all of `{}` and select its synapses with a condition, e.g. `connect: 'j < 10'`",
                    r.group.name
                )),
            ));
        }
        let scope = self.synapses_as_group(k);
        let count = self.known_synapse_count(k, true);
        Ok(Endpoint {
            group: self.program.synapses[k].target,
            start: 0,
            stop: count.unwrap_or(0),
            synapses: Some(k),
            known: count.is_some(),
            scope,
        })
    }

    /// The scope of `program.synapses[k]` seen as a group of synapses,
    /// each an element: only the synapses' own variables (and shared
    /// ones); what they read of their own neurons (`v_post`) is not a
    /// variable of the group.
    fn synapses_as_group(&self, k: usize) -> Scope {
        let mut scope = self.synapse_infos[k].scope.clone();
        scope.names.retain(|_, b| match b {
            Binding::Variable(v) => matches!(v.space, IndexSpace::Own | IndexSpace::Shared),
            Binding::Subexpression(t) => {
                !expr_uses(&t.expr, IndexSpace::Pre) && !expr_uses(&t.expr, IndexSpace::Post)
            }
            _ => false,
        });
        scope
    }

    /// What a side made of synapses cannot do: trigger pathways (synapses
    /// have no spikes or events, so Brian2 refuses `on_pre` from them),
    /// give `N_pre`/`N_post` before their number is known, or be the
    /// outer side of a `connect:` rule or the side of a per-pair `n=`,
    /// whose scratch values are per neuron.
    fn refuse_synapse_sides(
        &mut self,
        d: &ast::SynapsesDecl,
        source: &Endpoint,
        target: &Endpoint,
    ) -> Result<(), Failed> {
        let mut failed = false;
        let side_name = |r: &ast::GroupRef| r.group.name.clone();
        let pathways = d
            .on_pre
            .iter()
            .map(|b| (PathwaySide::Pre, b.span, "on_pre".to_string()))
            .chain(
                d.on_post
                    .iter()
                    .map(|b| (PathwaySide::Post, b.span, "on_post".to_string())),
            )
            .chain(d.pathways.iter().map(|p| {
                let (side, key) = if p.post {
                    (PathwaySide::Post, "on_post")
                } else {
                    (PathwaySide::Pre, "on_pre")
                };
                (side, p.span, format!("{key} {}", p.name.name))
            }));
        for (side, span, key) in pathways {
            let (end, r, role) = match side {
                PathwaySide::Pre => (source, &d.source, "source"),
                PathwaySide::Post => (target, &d.target, "target"),
            };
            if end.synapses.is_some() {
                failed = true;
                let name = side_name(r);
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`{key}:` is triggered by spikes of the {role}, but `{name}` is a Synapses object, whose synapses never spike"
                        ),
                    )
                    .with_note(format!(
                        "as in Brian2, synapses as a {role} can be read (`x_{}`) and summed into, not trigger code",
                        if role == "source" { "pre" } else { "post" }
                    )),
                );
            }
        }
        let mut used = Vec::new();
        let mut exprs = code_expressions(d);
        for cl in &d.connect {
            exprs.extend(cl.condition.iter().chain(cl.p.iter()).chain(cl.n.iter()));
            for ix in [&cl.i, &cl.j].into_iter().flatten() {
                match ix {
                    ConnectIndex::Mapping { expr, condition } => {
                        exprs.push(expr);
                        exprs.extend(condition.iter());
                    }
                    ConnectIndex::Generator(g) => {
                        exprs.push(&g.element);
                        exprs.extend(g.condition.iter());
                    }
                    ConnectIndex::Values(_) => {}
                }
            }
        }
        for e in exprs {
            collect_names(e, &mut used);
        }
        for (n, end, r) in [("N_pre", source, &d.source), ("N_post", target, &d.target)] {
            if !end.known && used.contains(&n) {
                failed = true;
                let name = side_name(r);
                self.error(
                    Diagnostic::error(
                        r.span,
                        format!(
                            "`{}` uses `{n}`, the number of synapses of `{name}`, which is known only when they are made",
                            d.name.name
                        ),
                    )
                    .with_note(format!(
                        "rheobase needs `{n}` before the run; give `{name}` a `connect:` whose number of synapses is fixed (lists, or all pairs), or write the number"
                    )),
                );
            }
        }
        for cl in &d.connect {
            // `j='EXPR'` over synapses is supported (a mapping kernel over
            // them); generators and `i=` strings are not yet.
            let outer_is_synapses = match (&cl.i, &cl.j) {
                (None, Some(ConnectIndex::Generator(_))) => source
                    .synapses
                    .is_some()
                    .then_some((&d.source, "`j=` generators")),
                (Some(ConnectIndex::Mapping { .. } | ConnectIndex::Generator(_)), None) => target
                    .synapses
                    .is_some()
                    .then_some((&d.target, "`i=` strings")),
                _ => None,
            };
            if let Some((r, key)) = outer_is_synapses {
                failed = true;
                let name = side_name(r);
                self.error(
                    Diagnostic::error(
                        cl.span,
                        format!("{key} over the synapses of `{name}` are not supported yet"),
                    )
                    .with_note(
                        "connect them by a condition (`connect: 'j == i + 1'`) or, from synapses, \
                         a `j='EXPR'` mapping",
                    ),
                );
            }
            let explicit = matches!(
                (&cl.i, &cl.j),
                (Some(ConnectIndex::Values(_)), Some(ConnectIndex::Values(_)))
            );
            for (end, r) in [(source, &d.source), (target, &d.target)] {
                if explicit && !end.known {
                    failed = true;
                    let name = side_name(r);
                    self.error(
                        Diagnostic::error(
                            cl.span,
                            format!("`i=`/`j=` lists name synapses of `{name}`, whose number is known only when they are made"),
                        )
                        .with_note("connect them by a condition instead, e.g. `connect: 'j == 3'`"),
                    );
                }
            }
            let per_pair = cl.n.as_ref().is_some_and(|e| self.constant(e).is_err());
            if per_pair && (source.synapses.is_some() || target.synapses.is_some()) {
                // Drop the diagnostics of the attempt to read a constant.
                if let Some(e) = &cl.n {
                    self.diagnostics
                        .retain(|d| !(d.span.start >= e.span.start && d.span.end <= e.span.end));
                }
                failed = true;
                let span = cl.n.as_ref().map_or(cl.span, |e| e.span);
                self.error(Diagnostic::error(
                    span,
                    "a per-pair `n=` expression is not supported yet for synapses of a Synapses object",
                ).with_note("give `n=` as a number"));
            }
        }
        if failed {
            Err(Failed)
        } else {
            Ok(())
        }
    }

    fn synapse_array(
        &mut self,
        name: String,
        owner: usize,
        si: usize,
        initial: f64,
        ty: Ty,
    ) -> ArrayId {
        let id = ArrayId(self.program.arrays.len() as u32);
        self.program.arrays.push(ArrayDecl {
            name,
            group: owner,
            len: 0,
            initial,
            kind: kind_of(ty),
            synapses: Some(si),
        });
        id
    }

    pub(super) fn synapses(&mut self, d: &ast::SynapsesDecl) -> Result<(), Failed> {
        self.define(&d.name)?;
        let sname = d.name.name.clone();
        let source = self.endpoint(&d.source, &d.name, "source")?;
        let target = self.endpoint(&d.target, &d.name, "target")?;
        let (sg, ss, se) = (source.group, source.start, source.stop);
        let (tg, ts, te) = (target.group, target.start, target.stop);
        let si = self.program.synapses.len();
        self.refuse_synapse_sides(d, &source, &target)?;
        let src_scope = source.scope.clone();
        let tgt_scope = target.scope.clone();

        // The scope of synaptic code: unsuffixed names fall back to the
        // target's variables, as in Brian2; `_pre`/`_post` are explicit.
        let mut scope = Scope {
            constants: self.constants.clone(),
            names: HashMap::new(),
            group_size: None,
            has_element: true,
            dt: self.program.clocks[0].dt,
            indices: HashMap::from([
                (
                    "i".to_string(),
                    expr::sub(Expr::Index(IndexSpace::Pre), c(ss as f64)),
                ),
                (
                    "j".to_string(),
                    expr::sub(Expr::Index(IndexSpace::Post), c(ts as f64)),
                ),
                // The synapse's own index, for array values (`S.w = [...]`);
                // not a name a model can write.
                (
                    super::values::SYNAPSE_ROW.to_string(),
                    Expr::Index(IndexSpace::Own),
                ),
            ]),
            tables: self.tables.clone(),
            local: crate::check::Constants::new(),
        };
        // Brian2's `Synapses(..., namespace=...)`: constants of this object
        // only, which win over the file's in its code and settings, as a
        // NeuronGroup's `namespace:` does.
        if let Some(ns) = &d.namespace {
            scope.local = self.namespace(ns)?;
            for (name, b) in &scope.local {
                scope.constants.insert(name.clone(), b.clone());
            }
        }
        // A neuron's value read through a linked variable's index array
        // would need the synapse's neuron and then its source neuron: not
        // supported, so such names are not seen through the synapse.
        let tgt_names = tgt_scope.names.iter().filter(|(_, b)| !through_index(b));
        let src_names = src_scope.names.iter().filter(|(_, b)| !through_index(b));
        for (n, b) in tgt_names {
            scope.names.insert(n.clone(), through(b, IndexSpace::Post));
            scope
                .names
                .insert(format!("{n}_post"), through(b, IndexSpace::Post));
        }
        for (n, b) in src_names {
            scope
                .names
                .insert(format!("{n}_pre"), through(b, IndexSpace::Pre));
        }
        for (n, v, side) in [("N_pre", se - ss, &source), ("N_post", te - ts, &target)] {
            if !side.known {
                // Checked by `refuse_synapse_sides`: not used.
                continue;
            }
            scope.names.insert(
                n.into(),
                Binding::Constant {
                    value: v as f64,
                    dim: Dimension::DIMENSIONLESS,
                    ty: Ty::Integer,
                },
            );
        }
        let syn_var = |array, dim, ty, read_only| {
            Binding::Variable(VariableInfo {
                array,
                space: IndexSpace::Own,
                dim,
                ty,
                read_only,
                flags: Vec::new(),
                conditional_write: None,
            })
        };
        let mut variables = Vec::new();
        let delay = self.synapse_array(format!("{sname}.delay"), tg, si, 0.0, Ty::Float);
        variables.push(("delay".to_string(), delay));
        scope.names.insert(
            "delay".into(),
            syn_var(delay, Dimension::SECOND, Ty::Float, false),
        );

        // N_incoming / N_outgoing exist only when some code uses them.
        let mut exprs = code_expressions(d);
        exprs.extend(d.delay.iter());
        exprs.extend(d.pathway_delays.iter().map(|(_, e)| e));
        let mut used: Vec<&str> = Vec::new();
        for e in exprs {
            collect_names(e, &mut used);
        }
        regular_names(&d.run_regularly, &mut used);
        let mut used: Vec<String> = used.into_iter().map(str::to_string).collect();
        used.extend(self.used_later.get(&sname).into_iter().flatten().cloned());
        let mut n_incoming = None;
        let mut n_outgoing = None;
        for (name, slot) in [
            ("N_incoming", &mut n_incoming),
            ("N_outgoing", &mut n_outgoing),
        ] {
            if used.iter().any(|u| u == name) {
                let a = self.synapse_array(format!("{sname}.{name}"), tg, si, 0.0, Ty::Integer);
                scope.names.insert(
                    name.into(),
                    syn_var(a, Dimension::DIMENSIONLESS, Ty::Integer, true),
                );
                *slot = Some(a);
            }
        }
        // Brian2's `N` of a Synapses object is its number of synapses; as
        // an internal variable it wins over a constant `N` of the file
        // (Brian2 warns of the clash, `resolution_conflict`, and so do we).
        let mut n_synapses = None;
        if used.iter().any(|u| u == "N") {
            let a = self.add_array(format!("{sname}.N"), tg, 1, 0.0, Ty::Integer);
            scope.names.insert(
                "N".into(),
                Binding::Variable(VariableInfo {
                    array: a,
                    space: IndexSpace::Shared,
                    dim: Dimension::DIMENSIONLESS,
                    ty: Ty::Integer,
                    read_only: true,
                    flags: Vec::new(),
                    conditional_write: None,
                }),
            );
            n_synapses = Some(a);
            if let (Some(&at), true) = (self.defined.get("N"), self.constants.contains_key("N")) {
                self.warnings.push(
                    Diagnostic::warning(
                        d.name.span,
                        format!("`N` in the code of `{sname}` is its number of synapses, not the constant `N`"),
                    )
                    .with_secondary(at, "this constant is not what `N` means there")
                    .with_note("as in Brian2, a Synapses object's own `N` wins over the file's names; give the constant another name to use it there"),
                );
            }
        }

        // Equations.
        let mut failed = false;
        let mut event_driven: Vec<(&ast::Equation, &ast::Expr, ArrayId, Dimension)> = Vec::new();
        let mut clock_driven: Vec<(&ast::Equation, &ast::Expr, ArrayId, Dimension)> = Vec::new();
        let mut subs: Vec<(&ast::Equation, &ast::Expr, Dimension, Ty)> = Vec::new();
        let mut summed: Vec<(&ast::Equation, &ast::Expr, VariableInfo)> = Vec::new();
        let mut declared: HashMap<String, Span> = HashMap::new();
        for eq in &d.model {
            let name = &eq.variable;
            let flags: Vec<&str> = eq.flags.iter().map(|f| f.name.as_str()).collect();
            let is_summed = flags.contains(&"summed");
            if !is_summed {
                if let Err(diag) = validate_variable_name(&name.name, name.span) {
                    failed = true;
                    self.error(diag);
                    continue;
                }
                if name.name.ends_with("_pre") || name.name.ends_with("_post") {
                    failed = true;
                    self.error(Diagnostic::error(name.span, format!("`{}`: names ending in `_pre` or `_post` refer to neuron variables and cannot be synaptic variables", name.name)));
                    continue;
                }
            }
            if !is_summed
                && (tgt_scope.names.contains_key(&name.name)
                    || src_scope.names.contains_key(&name.name))
            {
                failed = true;
                self.error(
                    Diagnostic::error(name.span, format!("`{}` is also a variable of the source or target group", name.name))
                        .with_note("as in Brian2, a synaptic variable needs its own name; the neurons' variables are reached with `_pre` and `_post`"),
                );
                continue;
            }
            if let Some(prev) = declared.insert(name.name.clone(), name.span) {
                failed = true;
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!("`{}` is defined twice in this Synapses object", name.name),
                    )
                    .with_secondary(prev, "first defined here"),
                );
                continue;
            }
            let Ok((dim, ty)) = self.declared_unit(&eq.unit) else {
                failed = true;
                continue;
            };
            let allowed: &[&str] = match eq.kind {
                EquationKind::Differential(_) => &["event-driven", "clock-driven"],
                EquationKind::Parameter => &["constant", "shared", "linked"],
                EquationKind::Subexpression(_) => &["summed", "shared", "constant over dt"],
            };
            for f in &eq.flags {
                if !allowed.contains(&f.name.as_str()) {
                    failed = true;
                    self.error(
                        Diagnostic::error(
                            f.span,
                            format!(
                                "the flag `{}` is not allowed here in a Synapses model",
                                f.name
                            ),
                        )
                        .with_note(format!("allowed here: {}", allowed.join(", "))),
                    );
                }
            }
            // Brian2's `S.G = linked_var(A, 'G')`: one value of a
            // one-neuron group (or a shared variable) for every synapse.
            if flags.contains(&"linked") {
                match self.linked_binding(&sname, None, eq, dim) {
                    Ok(b) => {
                        scope.names.insert(name.name.clone(), b);
                        continue;
                    }
                    Err(_) => failed = true,
                }
            }
            if flags.contains(&"shared") {
                if eq.kind != EquationKind::Parameter {
                    failed = true;
                    self.error(Diagnostic::error(
                        eq.span,
                        "shared synaptic subexpressions are not supported yet",
                    ).with_note("a shared synaptic parameter (`x : 1 (shared)`) is; write the expression where it is used"));
                    continue;
                }
                // One value for every synapse of this object, as Brian2's
                // shared variable: set at the top level (`S.x = ...`), read
                // by synaptic code, which cannot write it (each synapse
                // writing one value would make the result depend on the
                // order synapses run in).
                let array = self.add_array(format!("{sname}.{}", name.name), tg, 1, 0.0, ty);
                scope.names.insert(
                    name.name.clone(),
                    Binding::Variable(VariableInfo {
                        array,
                        space: IndexSpace::Shared,
                        dim,
                        ty,
                        read_only: true,
                        flags: vec!["shared".to_string()],
                        conditional_write: None,
                    }),
                );
                continue;
            }
            match &eq.kind {
                EquationKind::Parameter | EquationKind::Differential(_) => {
                    let array =
                        self.synapse_array(format!("{sname}.{}", name.name), tg, si, 0.0, ty);
                    variables.push((name.name.clone(), array));
                    scope
                        .names
                        .insert(name.name.clone(), syn_var(array, dim, ty, false));
                    if let EquationKind::Differential(rhs) = &eq.kind {
                        if flags.contains(&"event-driven") {
                            event_driven.push((eq, rhs, array, dim));
                        } else {
                            clock_driven.push((eq, rhs, array, dim));
                        }
                    }
                }
                EquationKind::Subexpression(e) if is_summed => {
                    let target = name.name.strip_suffix("_post");
                    let Some(target) = target else {
                        failed = true;
                        self.error(Diagnostic::error(name.span, format!("a summed variable names its target with `_post`, e.g. `{}_post`", name.name)).with_note("summing into presynaptic variables (`_pre`) is not supported yet"));
                        continue;
                    };
                    match tgt_scope.names.get(target) {
                        Some(Binding::Variable(v)) if v.dim == dim => {
                            summed.push((eq, e, v.clone()))
                        }
                        Some(Binding::Variable(v)) => {
                            failed = true;
                            self.error(Diagnostic::error(eq.unit.span, format!("`{target}` of the target group has unit {}, but the summed variable is declared with unit {}", dim_name(v.dim), dim_name(dim))));
                        }
                        _ => {
                            failed = true;
                            self.error(
                                Diagnostic::error(
                                    name.span,
                                    format!(
                                        "the target group has no parameter `{target}` to sum into"
                                    ),
                                )
                                .with_note(format!(
                                    "declare it in the target's model, e.g. `{target} : {}`",
                                    dim_name(dim)
                                )),
                            );
                        }
                    }
                }
                EquationKind::Subexpression(e) => subs.push((eq, e, dim, ty)),
            }
        }
        let lastupdate = if event_driven.is_empty() {
            None
        } else {
            let a = self.synapse_array(format!("{sname}.lastupdate"), tg, si, 0.0, Ty::Float);
            variables.push(("lastupdate".to_string(), a));
            scope.names.insert(
                "lastupdate".into(),
                syn_var(a, Dimension::SECOND, Ty::Float, false),
            );
            Some(a)
        };

        // Subexpressions, in dependency order.
        let names: Vec<&str> = subs.iter().map(|s| s.0.variable.name.as_str()).collect();
        let items: Vec<(&str, &ast::Expr)> = subs
            .iter()
            .map(|s| (s.0.variable.name.as_str(), s.1))
            .collect();
        match topological_order(&items, &names) {
            Err(cycle) => {
                let first = subs[cycle[0]].0;
                return Err(self.error(Diagnostic::error(
                    first.variable.span,
                    "subexpressions depend on each other in a cycle",
                )));
            }
            Ok(order) => {
                for k in order {
                    let (eq, e, dim, ty) = subs[k];
                    let mut counters = KernelCounters::default();
                    let Ok(t) = self.checker(&scope, &mut counters, false, false).check(e) else {
                        failed = true;
                        continue;
                    };
                    if t.dim != dim {
                        failed = true;
                        self.error(super::unit_mismatch(
                            self.source,
                            e.span,
                            &eq.variable.name,
                            dim,
                            t.dim,
                        ));
                        continue;
                    }
                    scope.names.insert(
                        eq.variable.name.clone(),
                        Binding::Subexpression(Typed { ty, ..t }),
                    );
                }
            }
        }
        if failed {
            return Err(Failed);
        }

        // Event-driven equations: solved exactly over the time since the
        // last update, at the start of every pathway.
        let mut ed_rhs: Vec<(ArrayId, String, Expr, Span)> = Vec::new();
        for (eq, rhs, array, dim) in &event_driven {
            let mut counters = KernelCounters::default();
            let t = self
                .checker(&scope, &mut counters, false, false)
                .check(rhs)?;
            if t.dim != *dim / Dimension::SECOND {
                return Err(self.error(super::unit_mismatch(
                    self.source,
                    rhs.span,
                    &format!("d{}/dt", eq.variable.name),
                    *dim / Dimension::SECOND,
                    t.dim,
                )));
            }
            ed_rhs.push((*array, eq.variable.name.clone(), t.expr, rhs.span));
        }
        let ed_syms: Vec<expr::Sym> = ed_rhs.iter().map(|x| expr::Sym::Array(x.0)).collect();
        let mut ed_plan = Vec::new();
        for (array, name, rhs, span) in &ed_rhs {
            let own = expr::Sym::Array(*array);
            let lin = expr::linear_form(rhs, &ed_syms).filter(|l| {
                l.coefficients.keys().all(|s| *s == own) && !expr::mentions(&l.rest, &ed_syms)
            });
            let Some(lin) = lin else {
                return Err(self.error(Diagnostic::error(*span, format!("the event-driven equation for `{name}` must be linear in `{name}` and not depend on other event-driven variables"))));
            };
            if expr::varies_within_step(&lin.rest)
                || expr::varies_within_step(&lin.coefficient(own))
            {
                return Err(self.error(Diagnostic::error(*span, format!("the event-driven equation for `{name}` may depend only on constants and parameters"))));
            }
            ed_plan.push((*array, lin.coefficient(own), lin.rest));
        }
        let pathway = |b: &mut Builder,
                       block: &ast::Block,
                       which: &str|
         -> Result<KernelId, Failed> {
            let mut counters = KernelCounters::default();
            let mut body = Vec::new();
            if let Some(lu) = lastupdate {
                let elapsed = expr::sub(Expr::Time, Expr::Load(lu, IndexSpace::Own));
                let mut news = Vec::new();
                for (array, a, rest) in &ed_plan {
                    let x = Expr::Load(*array, IndexSpace::Own);
                    let value = if as_const(a) == Some(0.0) {
                        expr::add(x, expr::mul(rest.clone(), elapsed.clone()))
                    } else {
                        let ba = expr::div(rest.clone(), a.clone());
                        expr::add(
                            expr::neg(ba.clone()),
                            expr::mul(
                                expr::add(ba, x),
                                expr::unary(UnaryOp::Exp, expr::mul(a.clone(), elapsed.clone())),
                            ),
                        )
                    };
                    let l = LocalId(counters.locals);
                    counters.locals += 1;
                    body.push(Stmt::SetLocal(l, value));
                    news.push((*array, l));
                }
                for (array, l) in news {
                    body.push(Stmt::Store(array, IndexSpace::Own, Expr::Local(l)));
                }
            }
            let stmts = b
                .checker(&scope, &mut counters, true, false)
                .check_block(block, which)?;
            body.extend(stmts);
            if let Some(w) = super::order::order_dependence(block, &scope, which) {
                b.warnings.push(w);
            }
            if let Some(lu) = lastupdate {
                body.push(Stmt::Store(lu, IndexSpace::Own, Expr::Time));
            }
            Ok(b.add_kernel(format!("{sname}.{which}"), Iteration::List, &counters, body))
        };
        // Every pathway, named as Brian2 names them: `on_pre:` is `pre`,
        // `on_post:` is `post`, `on_pre NAME:` is NAME.
        let resolved = self.resolve_pathways(d, sg, tg)?;
        let mut on_pre = None;
        let mut on_post = None;
        let (mut pre_event, mut post_event) = (None, None);
        let mut named = Vec::new();
        for p in &resolved {
            let label = match (p.default, p.side) {
                (true, PathwaySide::Pre) => "on_pre".to_string(),
                (true, PathwaySide::Post) => "on_post".to_string(),
                (false, PathwaySide::Pre) => format!("on_pre {}", p.name),
                (false, PathwaySide::Post) => format!("on_post {}", p.name),
            };
            let kernel = pathway(self, p.code, &label)?;
            match (p.default, p.side) {
                (true, PathwaySide::Pre) => (on_pre, pre_event) = (Some(kernel), p.event),
                (true, PathwaySide::Post) => (on_post, post_event) = (Some(kernel), p.event),
                (false, side) => {
                    // Each named pathway has its own delay variable,
                    // Brian2's `S.NAME.delay` (0 unless given).
                    let array = self.synapse_array(
                        format!("{sname}.{}.delay", p.name),
                        tg,
                        si,
                        0.0,
                        Ty::Float,
                    );
                    named.push((
                        PathwayPlan {
                            name: p.name.clone(),
                            side,
                            event: p.event,
                            kernel,
                            delay: array,
                        },
                        p.delay.clone(),
                    ));
                }
            }
        }

        // Clock-driven equations.
        let mut state_update = None;
        if !clock_driven.is_empty() {
            let mut counters = KernelCounters::default();
            // White noise in clock-driven equations, as in a group's.
            let (ode_scope, noise) =
                super::bind_noise(&scope, clock_driven.iter().map(|c| c.1), &mut counters);
            let noise_syms: Vec<expr::Sym> = noise.values().map(|&l| expr::Sym::Local(l)).collect();
            let mut system = OdeSystem {
                vars: Vec::new(),
                names: Vec::new(),
                f: Vec::new(),
                g: Vec::new(),
                masked: Vec::new(),
                not_refractory: None,
                noise: noise.values().copied().collect(),
            };
            for (eq, rhs, array, dim) in &clock_driven {
                let t = self
                    .checker(&ode_scope, &mut counters, false, false)
                    .check(rhs)?;
                if t.dim != *dim / Dimension::SECOND {
                    return Err(self.error(super::unit_mismatch(
                        self.source,
                        rhs.span,
                        &format!("d{}/dt", eq.variable.name),
                        *dim / Dimension::SECOND,
                        t.dim,
                    )));
                }
                let Some(lin) = expr::linear_form(&t.expr, &noise_syms) else {
                    return Err(self.error(Diagnostic::error(
                        rhs.span,
                        "white noise `xi` must enter the equation linearly (as `... + sigma*xi`)",
                    )));
                };
                system.push_equation(*array, eq.variable.name.clone(), lin, false);
            }
            let method = match &d.method {
                Some(m) => Method::from_name(&m.name).ok_or_else(|| {
                    self.error(Diagnostic::error(
                        m.span,
                        format!("unknown integration method `{}`", m.name),
                    ))
                })?,
                None => self.automatic_method(&system),
            };
            let mut body = super::noise_increments(&noise, &mut counters);
            let stmts = self
                .integrate(method, &system, &mut counters, &sname)
                .map_err(|integrators::Unsupported(why)| {
                    let span = d.method.as_ref().map_or(d.name.span, |m| m.span);
                    self.error(Diagnostic::error(
                        span,
                        format!(
                            "method `{method}` cannot integrate the equations of `{sname}`: {why}"
                        ),
                    ))
                })?;
            body.extend(stmts);
            let body = self.active_after_declaration(body);
            state_update = Some(self.add_kernel(
                format!("{sname}.state_update"),
                Iteration::Range,
                &counters,
                body,
            ));
        }

        // Summed variables.
        let mut summed_plans = Vec::new();
        for (eq, e, target) in &summed {
            if self
                .program
                .synapses
                .iter()
                .flat_map(|s| &s.summed)
                .any(|p| p.target == target.array)
            {
                return Err(self.error(Diagnostic::error(eq.variable.span, format!("`{}` is already the target of another summed variable", eq.variable.name)).with_note("as in Brian2, sum the terms into separate variables and add them in the target's equations")));
            }
            let mut counters = KernelCounters::default();
            let t = self.checker(&scope, &mut counters, false, false).check(e)?;
            let scratch = self.synapse_array(
                format!("{sname}.{}(summed)", eq.variable.name),
                tg,
                si,
                0.0,
                Ty::Float,
            );
            let kernel = self.add_kernel(
                format!("{sname}.summed.{}", eq.variable.name),
                Iteration::Range,
                &counters,
                vec![Stmt::Store(scratch, IndexSpace::Own, t.expr)],
            );
            summed_plans.push(SummedPlan {
                kernel,
                scratch,
                target: target.array,
                from_step: self.steps_so_far,
            });
        }

        // Connections.
        let mut connect = Vec::new();
        for (k, cline) in d.connect.iter().enumerate() {
            self.refuse_counts_in_connect(cline, &sname)?;
            let side = |group, synapses, start, stop| Side {
                group,
                synapses,
                start,
                stop,
                n_pre: se - ss,
                n_post: te - ts,
            };
            connect.push(self.connect_plan(
                cline,
                &scope,
                [
                    side(sg, source.synapses, ss, se),
                    side(tg, target.synapses, ts, te),
                ],
                &format!("{sname}.connect{k}"),
            )?);
        }

        // Delays: the `pre` pathway's `delay`, then the named pathways'.
        let default_delay = resolved
            .iter()
            .find(|p| p.default && p.side == PathwaySide::Pre)
            .and_then(|p| p.delay.as_ref());
        let delays: Vec<(&ast::Expr, &str, ArrayId)> = default_delay
            .map(|(e, key)| (*e, key.as_str(), delay))
            .into_iter()
            .chain(
                named
                    .iter()
                    .filter_map(|(p, e)| e.as_ref().map(|(e, key)| (*e, key.as_str(), p.delay))),
            )
            .collect();
        let mut delay_kernels = Vec::new();
        for (e, key, delay) in delays {
            let mut counters = KernelCounters::default();
            let t = self.checker(&scope, &mut counters, true, false).check(e)?;
            if t.dim != Dimension::SECOND {
                return Err(self.error(Diagnostic::error(
                    e.span,
                    format!(
                        "`{key}:` must have unit second, but this has unit {}",
                        dim_name(t.dim)
                    ),
                )));
            }
            match as_const(&t.expr) {
                Some(v) if !v.is_finite() || v < 0.0 => {
                    return Err(self.error(Diagnostic::error(
                        e.span,
                        format!(
                            "`{key}:` must be a finite duration of 0 s or more, but this is {} s",
                            crate::lower::value_text(v)
                        ),
                    )));
                }
                // The spike queue is a ring with a slot per step of the
                // longest delay (the runtime's limit is 2^24 steps).
                Some(v) if (v / self.dt + 0.5).floor() >= (1u64 << 24) as f64 => {
                    return Err(self.error(Diagnostic::error(
                        e.span,
                        format!(
                            "a delay of {} s is {} time steps, more than the {} supported",
                            crate::lower::value_text(v),
                            crate::lower::value_text((v / self.dt + 0.5).floor()),
                            1u64 << 24
                        ),
                    )));
                }
                Some(v) => self.program.arrays[delay.0 as usize].initial = v,
                None => {
                    let name = self.program.arrays[delay.0 as usize].name.clone();
                    delay_kernels.push(self.add_kernel(
                        name,
                        Iteration::Range,
                        &counters,
                        vec![Stmt::Store(delay, IndexSpace::Own, t.expr)],
                    ))
                }
            }
        }
        let init_kernel = match &d.init {
            Some(block) => {
                let mut counters = KernelCounters::default();
                let body = self
                    .checker(&scope, &mut counters, true, false)
                    .check_block(block, "`init:`")?;
                Some(self.add_kernel(format!("{sname}.init"), Iteration::Range, &counters, body))
            }
            None => None,
        };

        let n_connect = connect.len();
        self.program.synapses.push(SynapsesPlan {
            name: sname.clone(),
            clock: self.clock_of(&sname),
            source: sg,
            source_start: ss,
            source_stop: se,
            target: tg,
            target_start: ts,
            target_stop: te,
            source_synapses: source.synapses,
            target_synapses: target.synapses,
            variables,
            connect,
            delay,
            on_pre,
            on_post,
            pre_event,
            post_event,
            pathways: named.into_iter().map(|(p, _)| p).collect(),
            state_update,
            summed: summed_plans,
            n_incoming,
            n_outgoing,
            n_synapses,
        });
        self.synapses_order(si, d.order.as_ref())?;
        self.warn_clock_mismatch(si, d);
        for k in 0..n_connect {
            self.program.actions.push(Action::Connect {
                synapses: si,
                connect: k,
            });
        }
        for kernel in delay_kernels.into_iter().chain(init_kernel) {
            self.program.actions.push(Action::InitialiseSynapses {
                kernel,
                synapses: si,
            });
        }
        self.run_regularly(
            &d.run_regularly,
            &sname,
            rheobase_kernel::program::RegularTarget::Synapses(si),
            &scope,
            None,
        )?;
        self.synapse_infos.push(SynapsesInfo { name: sname, scope });
        Ok(())
    }

    /// Brian2's `synapses_dt_mismatch` warning: a pathway runs on the
    /// clock of the group whose spikes trigger it, so when that clock, the
    /// Synapses object's and the other side's do not all have one time
    /// step, its code runs at the times of the triggering side's clock
    /// and its delays are rounded to its steps, which may not be what the
    /// author expects.
    fn warn_clock_mismatch(&mut self, si: usize, d: &ast::SynapsesDecl) {
        let program = &self.program;
        let plan = &program.synapses[si];
        let side = |group: usize, synapses: Option<usize>| match synapses {
            Some(k) => (program.synapses[k].name.clone(), program.synapses[k].clock),
            None => (
                program.groups[group].name.clone(),
                program.groups[group].clock,
            ),
        };
        let source = side(plan.source, plan.source_synapses);
        let target = side(plan.target, plan.target_synapses);
        let dt = |c: usize| program.clocks[c].dt;
        let mut warnings = Vec::new();
        for pathway_side in [PathwaySide::Pre, PathwaySide::Post] {
            let (trigger, other) = match pathway_side {
                PathwaySide::Pre => (&source, &target),
                PathwaySide::Post => (&target, &source),
            };
            let step = dt(trigger.1);
            if step == dt(plan.clock) && step == dt(other.1) {
                continue;
            }
            for (name, _) in plan.pathway_names(pathway_side) {
                let (t, s, o) = (&trigger.0, &plan.name, &other.0);
                warnings.push(
                    Diagnostic::warning(
                        d.name.span,
                        format!(
                            "the pathway `{name}` runs on the clock of `{t}` (dt {step} s), and \
                             `{s}` or `{o}` has another dt"
                        ),
                    )
                    .with_label("its source, Synapses object and target differ in dt")
                    .with_note(format!(
                        "as in Brian2 (its warning `synapses_dt_mismatch`), the pathway's code \
                         runs at the times of `{t}`'s clock and its delays are rounded to \
                         multiples of {step} s; give `{t}`, `{s}` and `{o}` the same `dt:` if \
                         that is not what you mean"
                    )),
                );
            }
        }
        self.warnings.extend(warnings);
    }

    /// The pathways of a Synapses object with their triggers and delays,
    /// named as Brian2 names them (`on_pre:` is `pre`, `on_post:` is
    /// `post`, `on_pre NAME:` is NAME); `sg`/`tg` are the source and
    /// target groups.
    fn resolve_pathways<'d>(
        &mut self,
        d: &'d ast::SynapsesDecl,
        sg: usize,
        tg: usize,
    ) -> Result<Vec<ResolvedPathway<'d>>, Failed> {
        let mut failed = false;
        let mut list: Vec<ResolvedPathway<'d>> = Vec::new();
        let defaults = [
            (&d.on_pre, "pre", PathwaySide::Pre),
            (&d.on_post, "post", PathwaySide::Post),
        ];
        for (block, name, side) in defaults {
            if let Some(code) = block {
                list.push(ResolvedPathway {
                    name: name.to_string(),
                    span: code.span,
                    side,
                    default: true,
                    code,
                    event: None,
                    delay: None,
                });
            }
        }
        for p in &d.pathways {
            let side = if p.post {
                PathwaySide::Post
            } else {
                PathwaySide::Pre
            };
            if let Some(first) = list.iter().find(|x| x.name == p.name.name) {
                failed = true;
                self.error(
                    Diagnostic::error(
                        p.name.span,
                        format!("`{}` has two pathways named `{}`", d.name.name, p.name.name),
                    )
                    .with_secondary(first.span, "the first")
                    .with_note(
                        "as in Brian2, every pathway has its own name; `on_pre:` is the pathway \
                         `pre` and `on_post:` the pathway `post`",
                    ),
                );
                continue;
            }
            // `on_pre pre:` is `on_pre:` with its name written out.
            let default = matches!(
                (side, p.name.name.as_str()),
                (PathwaySide::Pre, "pre") | (PathwaySide::Post, "post")
            );
            list.push(ResolvedPathway {
                name: p.name.name.clone(),
                span: p.span,
                side,
                default,
                code: &p.code,
                event: None,
                delay: None,
            });
        }
        let names = |list: &[ResolvedPathway]| -> String {
            match list.len() {
                0 => format!("`{}` has no `on_pre:` or `on_post:` code", d.name.name),
                _ => format!(
                    "the pathways of `{}` are {}",
                    d.name.name,
                    list.iter()
                        .map(|p| format!("`{}`", p.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };

        // Delays: `delay:` is the delay of `pre`, `delay NAME:` of NAME.
        let delays = d
            .delay
            .iter()
            .map(|e| ("pre", e.span, e, "delay".to_string()))
            .chain(
                d.pathway_delays
                    .iter()
                    .map(|(n, e)| (n.name.as_str(), n.span, e, format!("delay {}", n.name))),
            );
        for (name, span, e, key) in delays {
            let known = names(&list);
            let Some(p) = list.iter_mut().find(|p| p.name == name) else {
                failed = true;
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`{key}:` gives the delay of a pathway `{name}`, which `{}` does not have",
                            d.name.name
                        ),
                    )
                    .with_note(known)
                    .with_note(
                        "give a pathway's delay with `delay NAME:`, e.g. `delay up: 2*ms` for \
                         `on_pre up:`",
                    ),
                );
                continue;
            };
            if p.delay.is_some() {
                failed = true;
                self.error(
                    Diagnostic::error(
                        span,
                        format!("the delay of pathway `{name}` is given twice"),
                    )
                    .with_note("`delay:` is the delay of the pathway `pre`"),
                );
                continue;
            }
            // A `post` pathway with a delay goes through a spike queue,
            // as a named pathway does.
            if p.side == PathwaySide::Post {
                p.default = false;
            }
            p.delay = Some((e, key));
        }

        // Triggers: `on_event: EVENT` for every pathway, `on_event NAME:
        // EVENT` for one; Brian2's default is the `spike` event.
        for (name, _) in &d.pathway_events {
            if !list.iter().any(|p| p.name == name.name) {
                failed = true;
                let known = names(&list);
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!(
                            "`on_event {}:` names a pathway `{}`, which `{}` does not have",
                            name.name, name.name, d.name.name
                        ),
                    )
                    .with_note(known),
                );
            }
        }
        for p in &mut list {
            let event = d
                .pathway_events
                .iter()
                .find(|(n, _)| n.name == p.name)
                .map(|(_, e)| e)
                .or(d.on_event.as_ref());
            let Some(event) = event else { continue };
            if event.name == "spike" {
                continue;
            }
            let (g, role) = match p.side {
                PathwaySide::Pre => (sg, "source"),
                PathwaySide::Post => (tg, "target"),
            };
            let group = &self.program.groups[g];
            match group.events.iter().position(|e| e.name == event.name) {
                Some(k) => p.event = Some(k),
                None => {
                    failed = true;
                    let declared = if group.events.is_empty() {
                        format!("`{}` declares no custom events", group.name)
                    } else {
                        format!(
                            "the events of `{}` are `spike`, {}",
                            group.name,
                            group
                                .events
                                .iter()
                                .map(|e| format!("`{}`", e.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    let mut diag = Diagnostic::error(
                        event.span,
                        format!(
                            "the pathway `{}` is triggered by the event `{}`, which the {role} \
                             group `{}` does not have",
                            p.name, event.name, group.name
                        ),
                    )
                    .with_note(declared);
                    let names = group.events.iter().map(|e| e.name.as_str());
                    diag = match crate::check::suggest(
                        self.diagnostics.len(),
                        &event.name,
                        names.chain(["spike"]),
                    ) {
                        Some(s) => diag.with_note(format!("help: did you mean `{s}`?")),
                        None => diag.with_note(
                            "declare it under the group's `events:`, e.g. `custom: v > 0.5`",
                        ),
                    };
                    self.error(diag);
                }
            }
        }
        if failed {
            return Err(Failed);
        }
        Ok(list)
    }

    /// A kernel over candidate pairs that emits those kept.
    fn filter_kernel(
        &mut self,
        scope: &Scope,
        condition: Option<&ast::Expr>,
        p: Option<&ast::Expr>,
        name: &str,
    ) -> Result<Option<KernelId>, Failed> {
        if condition.is_none() && p.is_none() {
            return Ok(None);
        }
        for e in condition.iter().chain(p.iter()) {
            self.refuse_synaptic_names(e, scope, "a connection condition")?;
        }
        let mut counters = KernelCounters::default();
        let mut cond = c(1.0);
        if let Some(e) = condition {
            let t = self.checker(scope, &mut counters, true, false).check(e)?;
            if t.ty != Ty::Boolean {
                return Err(self.error(Diagnostic::error(
                    e.span,
                    "a connection condition must be boolean, such as `i != j`",
                )));
            }
            cond = t.expr;
        }
        // `connect: True` (or a condition that folds to true) is every
        // pair, as Brian2 makes it: no filter, so the synapses are known
        // before connecting and counted by the memory estimate.
        if p.is_none() && as_const(&cond).is_some_and(|v| v != 0.0) {
            return Ok(None);
        }
        if let Some(e) = p {
            let t = self.checker(scope, &mut counters, true, false).check(e)?;
            if !t.dim.is_dimensionless() {
                return Err(self.error(Diagnostic::error(
                    e.span,
                    format!(
                        "a connection probability is dimensionless, but this has unit {}",
                        dim_name(t.dim)
                    ),
                )));
            }
            let draw = counters.draw();
            cond = binary(
                BinaryOp::And,
                cond,
                binary(
                    BinaryOp::Lt,
                    Expr::Rand {
                        kind: RandKind::Uniform,
                        draw,
                    },
                    t.expr,
                ),
            );
        }
        Ok(Some(self.add_kernel(
            format!("{name}.filter"),
            Iteration::List,
            &counters,
            vec![Stmt::If {
                cond,
                then: vec![Stmt::Emit],
            }],
        )))
    }

    /// `n=`: a constant, or an integer expression of the pair (`i`, `j`,
    /// `_pre`/`_post` variables) evaluated by a candidate kernel that
    /// stores the number at the pair's result neuron (`result_space` of
    /// `result_group`).
    fn multiplicity(
        &mut self,
        n: Option<&ast::Expr>,
        scope: &Scope,
        (result_space, result_group): (IndexSpace, usize),
        name: &str,
    ) -> Result<Multiplicity, Failed> {
        let Some(e) = n else {
            return Ok(Multiplicity::Constant(1));
        };
        match self.constant(e) {
            Ok(t) if as_const(&t.expr).is_some() => {
                let v = self.whole_number(e, "`n=`")?;
                return u32::try_from(v).map(Multiplicity::Constant).map_err(|_| {
                    self.error(Diagnostic::error(
                        e.span,
                        "`n=` must be between 0 and 4294967295",
                    ))
                });
            }
            _ => {
                // Not a constant: drop the diagnostics of the attempt.
                self.diagnostics
                    .retain(|d| !(d.span.start >= e.span.start && d.span.end <= e.span.end));
            }
        }
        self.refuse_synaptic_names(e, scope, "`n=`")?;
        let mut counters = KernelCounters::default();
        let t = self.checker(scope, &mut counters, true, false).check(e)?;
        if !t.dim.is_dimensionless() || t.ty != Ty::Integer {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    "`n=` must be a whole number or an integer expression such as `int(...)`",
                )
                .with_note(if t.dim.is_dimensionless() {
                    "this expression is not of integer type".to_string()
                } else {
                    format!("this has unit {}", dim_name(t.dim))
                }),
            ));
        }
        let size = self.groups[result_group].size;
        let scratch = self.add_array(format!("{name}.n"), result_group, size, 0.0, Ty::Integer);
        let kernel = self.add_kernel(
            format!("{name}.n"),
            Iteration::List,
            &counters,
            vec![Stmt::Store(scratch, result_space, t.expr)],
        );
        Ok(Multiplicity::PerPair { kernel, scratch })
    }

    /// Refuses synaptic variables (and `N_incoming`/`N_outgoing`) in
    /// connection code: the synapse does not exist yet.
    fn refuse_synaptic_names(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        what: &str,
    ) -> Result<(), Failed> {
        self.refuse_names(e, scope, &[IndexSpace::Own], |name| {
            format!("{what} cannot use the synaptic variable `{name}`: the synapse does not exist yet while connecting")
        })
    }

    /// Reports the first name of `e` whose binding in `scope` depends on
    /// one of `spaces` (a variable stored there, or a subexpression
    /// reading one), with the message `message(name)`.
    fn refuse_names(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        spaces: &[IndexSpace],
        message: impl Fn(&str) -> String,
    ) -> Result<(), Failed> {
        let mut names = Vec::new();
        collect_names(e, &mut names);
        for name in names {
            let depends = match scope.names.get(name) {
                Some(Binding::Variable(v)) => spaces.contains(&v.space),
                Some(Binding::Subexpression(t)) => spaces.iter().any(|&s| expr_uses(&t.expr, s)),
                _ => false,
            };
            if depends {
                return Err(self.error(Diagnostic::error(e.span, message(name))));
            }
        }
        Ok(())
    }

    /// Refuses `N`, `N_incoming` and `N_outgoing` in a `connect:` line of
    /// Synapses object `name`.
    fn refuse_counts_in_connect(&mut self, cl: &ast::Connect, name: &str) -> Result<(), Failed> {
        // Brian2 reads a Synapses object's own `N` (its synapses so far: 0
        // on the first line) even where a constant `N` exists, and the
        // counts of a synapse's neurons before the synapse is made: a
        // connection that depends on them is almost always a mistake, so
        // it is refused rather than computed from either meaning.
        let counts = ["N", "N_incoming", "N_outgoing"];
        if let Some((n, at)) = connect_expressions(cl)
            .into_iter()
            .find_map(|e| find_name(e, &counts))
        {
            let mut diag = if n == "N" {
                Diagnostic::error(at, format!("`N` in `connect:` would be, as in Brian2, the number of synapses `{name}` has made so far (0 on its first `connect:`), not a group's size or a constant"))
                    .with_note("write `N_pre` or `N_post` for the size of the source or target; a constant used here needs another name than `N`")
            } else {
                Diagnostic::error(at, format!("`connect:` cannot use `{n}`: it counts synapses, and the synapse does not exist yet while connecting"))
            };
            if n == "N" && self.constants.contains_key("N") {
                if let Some(&def) = self.defined.get("N") {
                    diag = diag.with_secondary(def, "this constant is not what `N` means there");
                }
            }
            return Err(self.error(diag));
        }
        Ok(())
    }

    fn connect_plan(
        &mut self,
        cl: &ast::Connect,
        scope: &Scope,
        sides: [Side; 2],
        name: &str,
    ) -> Result<ConnectPlan, Failed> {
        let [source, target] = sides;
        let (ss, se) = (source.start, source.stop);
        let (ts, te) = (target.start, target.stop);
        let skip = cl.skip_if_invalid.unwrap_or(false);
        let strings = matches!(
            (&cl.i, &cl.j),
            (
                Some(ConnectIndex::Mapping { .. } | ConnectIndex::Generator(_)),
                _
            ) | (
                _,
                Some(ConnectIndex::Mapping { .. } | ConnectIndex::Generator(_))
            )
        );
        if strings {
            if let Some(p) = &cl.p {
                return Err(self.error(Diagnostic::error(p.span, "`p=` cannot be combined with an `i=` or `j=` string (Brian2 refuses it too)").with_note("write the probability into the string: `... if rand() < 0.1`, or sample: `k for k in sample(N_post, p=0.1)`")));
            }
            if cl.condition.is_some() {
                return Err(self.error(Diagnostic::error(
                    cl.span,
                    "give the condition inside the `i=` or `j=` string (`j='... if COND'`)",
                )));
            }
        }
        // A constant p is drawn by the runtime with geometric skips; an
        // expression joins the filter.
        let (p_const, p_expr) = match &cl.p {
            None => (None, None),
            Some(e) => match self.constant(e) {
                Ok(t) if t.dim.is_dimensionless() => (as_const(&t.expr), None),
                _ => {
                    // Not a constant: drop the diagnostics of the attempt.
                    self.diagnostics
                        .retain(|d| !(d.span.start >= e.span.start && d.span.end <= e.span.end));
                    (None, Some(e))
                }
            },
        };
        if let Some(p) = p_const {
            if !(0.0..=1.0).contains(&p) {
                return Err(self.error(Diagnostic::error(
                    cl.span,
                    format!("a connection probability must lie between 0 and 1, not {p}"),
                )));
            }
        }
        let post = (IndexSpace::Post, target.group);
        match (&cl.i, &cl.j) {
            (None, None) => {
                let filter = self.filter_kernel(scope, cl.condition.as_ref(), p_expr, name)?;
                let n = self.multiplicity(cl.n.as_ref(), scope, post, name)?;
                Ok(ConnectPlan::AllPairs { p: p_const, filter, n })
            }
            (Some(ConnectIndex::Values(i)), Some(ConnectIndex::Values(j))) => {
                if cl.condition.is_some() || cl.p.is_some() {
                    return Err(self.error(Diagnostic::error(cl.span, "`i=` and `j=` lists cannot be combined with `condition=` or `p=`")));
                }
                let n = match self.multiplicity(cl.n.as_ref(), scope, post, name)? {
                    Multiplicity::Constant(n) => n,
                    Multiplicity::PerPair { .. } => {
                        let span = cl.n.as_ref().map_or(cl.span, |e| e.span);
                        return Err(self.error(Diagnostic::error(span, "with `i=` and `j=` lists, `n=` must be a number (Brian2 refuses an expression here too)")));
                    }
                };
                let (iv, _) = self.constant_array(i)?;
                let (jv, _) = self.constant_array(j)?;
                let (iv, jv) = match (iv.len(), jv.len()) {
                    (a, b) if a == b => (iv, jv),
                    (1, b) => (vec![iv[0]; b], jv),
                    (a, 1) => (iv, vec![jv[0]; a]),
                    (a, b) => return Err(self.error(Diagnostic::error(cl.span, format!("`i=` has {a} entries but `j=` has {b}")))),
                };
                let (ns, nt) = ((se - ss) as f64, (te - ts) as f64);
                let mut is = Vec::new();
                let mut js = Vec::new();
                for (a, b) in iv.into_iter().zip(jv) {
                    if a.fract() != 0.0 || a < 0.0 || a >= ns || b.fract() != 0.0 || b < 0.0 || b >= nt {
                        return Err(self.error(Diagnostic::error(cl.span, format!("the pair ({a}, {b}) is outside the source ({ns} neurons) or target ({nt} neurons)"))));
                    }
                    is.push(a as u32);
                    js.push(b as u32);
                }
                Ok(ConnectPlan::Explicit { i: is, j: js, n })
            }
            (None, Some(ConnectIndex::Mapping { expr: map, condition })) => {
                let (target_of, scratch) = self.outer_kernel(&source, false, &[map], name)?;
                let filter = self.filter_kernel(scope, condition.as_ref(), None, name)?;
                let n = self.multiplicity(cl.n.as_ref(), scope, post, name)?;
                Ok(ConnectPlan::Mapping { target_of, scratch: scratch[0], filter, skip_if_invalid: skip, n })
            }
            (None, Some(ConnectIndex::Generator(g))) => {
                self.generator_plan(g, false, cl, scope, sides, name)
            }
            (Some(ConnectIndex::Generator(g)), None) => {
                self.generator_plan(g, true, cl, scope, sides, name)
            }
            (Some(ConnectIndex::Mapping { expr, condition }), None) => {
                // Brian2 reads `i='EXPR if COND'` as the generator
                // `EXPR for _ in range(1) if COND`.
                let one = ast::Expr { kind: ExprKind::Number { value: 1.0, is_integer: true }, span: expr.span };
                let g = ast::Generator {
                    element: expr.clone(),
                    variable: ast::Ident { name: "_".into(), span: expr.span },
                    iterable: Iterable::Range { args: vec![one], span: expr.span },
                    condition: condition.clone(),
                    span: expr.span,
                };
                self.generator_plan(&g, true, cl, scope, sides, name)
            }
            (Some(ConnectIndex::Values(_)), None) | (None, Some(ConnectIndex::Values(_))) => {
                Err(self.error(Diagnostic::error(cl.span, "a list for `i=` needs a list for `j=` as well (and the other way round)").with_note("to connect neurons by a rule, give one of them as a string: `j='i'`, `i='j + 1'`, `j='k for k in range(i, i + 3)'`")))
            }
            (Some(_), Some(_)) => Err(self.error(Diagnostic::error(cl.span, "a string for `i=` or `j=` cannot be combined with the other index (Brian2 refuses it too)").with_note("give only one of them: `j='...'` makes targets for each source neuron, `i='...'` sources for each target neuron"))),
        }
    }

    /// A generator connection: `j='ELEMENT for VAR in ITERABLE if COND'`
    /// over the source neurons, or with `over_targets` `i='...'` over the
    /// target neurons.
    fn generator_plan(
        &mut self,
        g: &ast::Generator,
        over_targets: bool,
        cl: &ast::Connect,
        scope: &Scope,
        [source, target]: [Side; 2],
        name: &str,
    ) -> Result<ConnectPlan, Failed> {
        let skip = cl.skip_if_invalid.unwrap_or(false);
        let (outer, result) = if over_targets {
            (&target, &source)
        } else {
            (&source, &target)
        };
        let (outer_space, result_space) = if over_targets {
            (IndexSpace::Post, IndexSpace::Pre)
        } else {
            (IndexSpace::Pre, IndexSpace::Post)
        };
        let (result_name, outer_name) = if over_targets { ("i", "j") } else { ("j", "i") };
        let zero = ast::Expr {
            kind: ExprKind::Number {
                value: 0.0,
                is_integer: true,
            },
            span: g.span,
        };
        let one = ast::Expr {
            kind: ExprKind::Number {
                value: 1.0,
                is_integer: true,
            },
            span: g.span,
        };
        let (args, sample_p, sample_size) = match &g.iterable {
            Iterable::Range { args, .. } => (args.clone(), None, None),
            Iterable::Sample {
                args,
                p,
                size,
                span,
            } => {
                let p = match p {
                    Some(e) => {
                        let v =
                            self.constant_value(e, Dimension::DIMENSIONLESS, "`p=` of `sample`")?;
                        if !(0.0..=1.0).contains(&v) {
                            return Err(self.error(Diagnostic::error(
                                e.span,
                                format!("`p=` of `sample` is a probability, between 0 and 1, but this is {}", crate::lower::value_text(v)),
                            )));
                        }
                        Some(v)
                    }
                    None => None,
                };
                let size = match size {
                    Some(e) => {
                        let n = self.whole_number(e, "`size=` of `sample`")?;
                        if n < 0 {
                            return Err(self.error(Diagnostic::error(
                                e.span,
                                format!(
                                    "`size=` of `sample` must not be negative, but this is {n}"
                                ),
                            )));
                        }
                        Some(n as u64)
                    }
                    None => None,
                };
                if p.is_some() == size.is_some() {
                    return Err(self.error(Diagnostic::error(
                        *span,
                        "`sample` needs exactly one of `p=` and `size=`",
                    )));
                }
                (args.clone(), p, size)
            }
        };
        let (start, stop, step) = match args.len() {
            1 => (zero.clone(), args[0].clone(), one.clone()),
            2 => (args[0].clone(), args[1].clone(), one.clone()),
            3 => (args[0].clone(), args[1].clone(), args[2].clone()),
            _ => {
                return Err(self.error(Diagnostic::error(
                    g.span,
                    "`range`/`sample` take one to three positional arguments",
                )))
            }
        };
        let (bounds, scratch) =
            self.outer_kernel(outer, over_targets, &[&start, &stop, &step], name)?;
        // The generator variable of a candidate: `start + position*step`,
        // from the row's bounds.
        let k_expr = expr::add(
            Expr::Load(scratch[0], outer_space),
            expr::mul(
                Expr::Index(IndexSpace::Own),
                Expr::Load(scratch[2], outer_space),
            ),
        );
        let variable = g.variable.name.as_str();
        let mut kscope = scope.clone();
        kscope.names.remove(variable);
        kscope.indices.insert(variable.to_string(), k_expr.clone());
        let trivial = matches!(&g.element.kind, ExprKind::Name(n) if n == variable);
        let (element, result_expr) = if trivial {
            (None, k_expr)
        } else {
            // The element may use the outer index, the generator variable,
            // the outer side's variables and constants; not the result
            // side, which it computes.
            let what = if over_targets { "`i=`" } else { "`j=`" };
            let side = if over_targets { "source" } else { "target" };
            self.refuse_names(&g.element, &kscope, &[result_space, IndexSpace::Own], |n| {
                format!("{what} cannot use `{n}` here: it depends on the {side} neuron, which {what} computes")
            })?;
            let mut names = Vec::new();
            collect_names(&g.element, &mut names);
            if names.contains(&result_name) && !kscope.names.contains_key(result_name) {
                return Err(self.error(Diagnostic::error(
                    g.element.span,
                    format!("{what} computes `{result_name}`, so it cannot use `{result_name}`"),
                )));
            }
            let mut escope = kscope.clone();
            escope.indices.remove(result_name);
            let mut counters = KernelCounters::default();
            let t = self
                .checker(&escope, &mut counters, true, false)
                .check(&g.element)?;
            if !t.dim.is_dimensionless() || t.ty != Ty::Integer {
                return Err(self.error(
                    Diagnostic::error(g.element.span, format!("the element of a generator is a neuron index: an integer expression of `{outer_name}` and `{variable}` such as `{outer_name} + {variable}`"))
                        .with_note(if t.dim.is_dimensionless() {
                            "this expression is not of integer type (use `int(...)` or `//`)".to_string()
                        } else {
                            format!("this has unit {}", dim_name(t.dim))
                        }),
                ));
            }
            let values =
                self.add_array(format!("{name}.element"), outer.group, 1, 0.0, Ty::Integer);
            let kernel = self.add_kernel(
                format!("{name}.element"),
                Iteration::List,
                &counters,
                vec![Stmt::Store(values, IndexSpace::Own, t.expr)],
            );
            (
                Some(GeneratorElement { kernel, values }),
                Expr::Load(values, IndexSpace::Own),
            )
        };
        // In the condition, the generator variable and the result index
        // are the candidate's values (so a condition on `j` alone can be
        // evaluated for an out-of-range `j`, as in Brian2).
        let mut fscope = kscope;
        fscope.indices.insert(result_name.to_string(), result_expr);
        let filter = self.filter_kernel(&fscope, g.condition.as_ref(), None, name)?;
        let n = self.multiplicity(cl.n.as_ref(), scope, (result_space, result.group), name)?;
        Ok(ConnectPlan::Generator {
            over_targets,
            bounds,
            start: scratch[0],
            stop: scratch[1],
            step: scratch[2],
            element,
            sample_p,
            sample_size,
            filter,
            skip_if_invalid: skip,
            n,
        })
    }

    /// A Range kernel over the outer neurons of a connection (the source
    /// range, or the target range when `over_targets`) storing one value
    /// per expression (of the outer index and the outer group's variables,
    /// plain or with their `_pre`/`_post` suffix) into scratch arrays.
    fn outer_kernel(
        &mut self,
        outer: &Side,
        over_targets: bool,
        exprs: &[&ast::Expr],
        name: &str,
    ) -> Result<(KernelId, Vec<ArrayId>), Failed> {
        let mut scope = match outer.synapses {
            Some(k) => self.synapses_as_group(k),
            None => self.groups[outer.group].scope.clone(),
        };
        let suffix = if over_targets { "_post" } else { "_pre" };
        let aliases: Vec<_> = scope
            .names
            .iter()
            .map(|(n, b)| (format!("{n}{suffix}"), b.clone()))
            .collect();
        scope.names.extend(aliases);
        for (n, v) in [("N_pre", outer.n_pre), ("N_post", outer.n_post)] {
            scope.names.insert(
                n.into(),
                Binding::Constant {
                    value: v as f64,
                    dim: Dimension::DIMENSIONLESS,
                    ty: Ty::Integer,
                },
            );
        }
        scope.indices.insert(
            if over_targets { "j" } else { "i" }.into(),
            expr::sub(Expr::Index(IndexSpace::Own), c(outer.start as f64)),
        );
        let size = match outer.synapses {
            Some(_) => 0,
            None => self.groups[outer.group].size,
        };
        let mut counters = KernelCounters::default();
        let mut body = Vec::new();
        let mut arrays = Vec::new();
        for (k, e) in exprs.iter().enumerate() {
            let t = self.checker(&scope, &mut counters, true, false).check(e)?;
            if !t.dim.is_dimensionless() {
                return Err(self.error(Diagnostic::error(
                    e.span,
                    format!(
                        "a neuron index is dimensionless, but this has unit {}",
                        dim_name(t.dim)
                    ),
                )));
            }
            // Python's `range` and Brian2's `j=`/`i=` need integers:
            // `range(0.5, 3)` and `j='i/3'` are errors there, not rounded.
            if t.ty == Ty::Float {
                let text = self.source.get(e.span.start..e.span.end).unwrap_or("this");
                return Err(self.error(
                    Diagnostic::error(
                        e.span,
                        format!(
                        "a neuron index must be an integer, but `{text}` is a floating-point number"
                    ),
                    )
                    .with_note("help: use `//` for integer division, or `int(...)`"),
                ));
            }
            // Over synapses, one value per synapse, grown with them.
            let a = match outer.synapses {
                Some(s) => {
                    self.synapse_array(format!("{name}.index{k}"), outer.group, s, 0.0, Ty::Integer)
                }
                None => self.add_array(
                    format!("{name}.index{k}"),
                    outer.group,
                    size,
                    0.0,
                    Ty::Integer,
                ),
            };
            body.push(Stmt::Store(a, IndexSpace::Own, t.expr));
            arrays.push(a);
        }
        Ok((
            self.add_kernel(format!("{name}.indices"), Iteration::Range, &counters, body),
            arrays,
        ))
    }

    pub(super) fn synapse_index(&self, name: &str) -> Option<usize> {
        self.synapse_infos.iter().position(|s| s.name == name)
    }

    /// `S.w = EXPR` on a Synapses object.
    /// The number of synapses `synapses[si]`'s `connect:` lines make, when
    /// it is known before they run: explicit `i=`/`j=` lists and, with
    /// `all_pairs`, every pair without a condition or `p`, a constant
    /// number of times. `None` when it depends on the run (conditions,
    /// probabilities, mappings, generators).
    pub(super) fn known_synapse_count(&self, si: usize, all_pairs: bool) -> Option<usize> {
        let plan = &self.program.synapses[si];
        // A side made of synapses has its range's end only when their
        // number is known (it is 0 otherwise).
        let sides_known = [plan.source_synapses, plan.target_synapses]
            .into_iter()
            .flatten()
            .all(|k| self.known_synapse_count(k, true).is_some());
        let pairs = (plan.source_stop - plan.source_start) * (plan.target_stop - plan.target_start);
        plan.connect.iter().try_fold(0usize, |count, c| match c {
            ConnectPlan::Explicit { i, n, .. } => Some(count + i.len() * *n as usize),
            ConnectPlan::AllPairs {
                p: None,
                filter: None,
                n,
            } if all_pairs && sides_known => Some(count + pairs * n.constant()? as usize),
            _ => None,
        })
    }

    /// `S.NAME.delay = VALUE`: the delay of the pathway NAME, set where
    /// the statement stands (Brian2's `S.up.delay = ...`), as `S.delay`
    /// sets that of `pre`.
    pub(super) fn set_pathway_delay(
        &mut self,
        synapses: &ast::Ident,
        pathway: &ast::Ident,
        value: &ast::Expr,
        span: Span,
    ) -> Result<(), Failed> {
        let Some(si) = self.synapse_index(&synapses.name) else {
            return Err(self.error(
                Diagnostic::error(
                    synapses.span,
                    format!("`{}` is not a Synapses object", synapses.name),
                )
                .with_note("`S.NAME.delay = ...` sets the delay of the pathway NAME of Synapses S"),
            ));
        };
        let delay = ast::Ident {
            name: "delay".to_string(),
            span: pathway
                .span
                .to(Span::new(pathway.span.end, pathway.span.end + 6)),
        };
        let plan = &self.program.synapses[si];
        if pathway.name == "pre" && plan.on_pre.is_some() {
            return self.set_synapse_variable(si, &delay, value, span, None, None);
        }
        match plan.pathways.iter().find(|p| p.name == pathway.name) {
            Some(p) => {
                let array = p.delay;
                self.set_synapse_variable(si, &delay, value, span, None, Some(array))
            }
            None => {
                let mut names: Vec<String> = plan
                    .pathways
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                if plan.on_pre.is_some() {
                    names.insert(0, "`pre`".to_string());
                }
                let d = Diagnostic::error(
                    pathway.span,
                    format!(
                        "`{}` has no pathway `{}` with a delay",
                        plan.name, pathway.name
                    ),
                );
                if names.is_empty() {
                    return Err(self.error(d));
                }
                let mut d = d.with_note(format!(
                    "its pathways with a delay are {}",
                    names.join(", ")
                ));
                let bare: Vec<&str> = names.iter().map(|n| n.trim_matches('`')).collect();
                if let Some(s) = crate::check::suggest(
                    self.diagnostics.len(),
                    &pathway.name,
                    bare.iter().copied(),
                ) {
                    d = d.with_note(format!("help: did you mean `{s}`?"));
                }
                Err(self.error(d))
            }
        }
    }

    /// `S.VAR = VALUE` (or with a selector). `delay_of` is the delay array
    /// of a named pathway that `delay` stands for (`S.up.delay = ...`).
    pub(super) fn set_synapse_variable(
        &mut self,
        si: usize,
        variable: &ast::Ident,
        value: &ast::Expr,
        span: Span,
        selector: Option<&ast::Selector>,
        delay_of: Option<ArrayId>,
    ) -> Result<(), Failed> {
        let mut scope = self.refreshed(&self.synapse_infos[si].scope);
        if let Some(array) = delay_of {
            scope.names.insert(
                "delay".to_string(),
                Binding::Variable(VariableInfo {
                    array,
                    space: IndexSpace::Own,
                    dim: Dimension::SECOND,
                    ty: Ty::Float,
                    read_only: false,
                    flags: Vec::new(),
                    conditional_write: None,
                }),
            );
        }
        // `S.delay` is the delay of the pathway `pre` (Brian2's
        // `S.pre.delay`); without one, Brian2 refuses it too.
        let plan = &self.program.synapses[si];
        if variable.name == "delay"
            && delay_of.is_none()
            && plan.on_pre.is_none()
            && !plan.pathways.is_empty()
        {
            let names: Vec<String> = plan
                .pathways
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect();
            return Err(self.error(
                Diagnostic::error(
                    variable.span,
                    format!(
                        "`{}.delay` is the delay of the pathway `pre`, which `{}` does not have",
                        plan.name, plan.name
                    ),
                )
                .with_note(format!("its pathways are {}", names.join(", ")))
                .with_note(
                    "set a named pathway's delay with `delay NAME: ...` in the declaration \
                     or `S.NAME.delay = ...`",
                ),
            ));
        }
        match scope.names.get(&variable.name) {
            Some(Binding::Variable(v)) if v.space == IndexSpace::Own && !v.read_only => {}
            Some(Binding::Variable(v)) if v.flags.iter().any(|f| f == "shared") => {
                let (array, dim) = (v.array, v.dim);
                return self.set_shared_synaptic(si, variable, array, dim, value, selector);
            }
            _ => {
                return Err(self.error(Diagnostic::error(
                    variable.span,
                    format!(
                        "`{}` has no synaptic variable `{}`",
                        self.synapse_infos[si].name, variable.name
                    ),
                )));
            }
        }
        let value = &super::plain_zero_in_unit(&mut scope, &variable.name, value, selector);
        // `S.w = W[i, j]*mV`: elements of an Array, looked up per synapse.
        let value = self.subscripts(si, value)?;
        let block = ast::Block {
            statements: vec![ast::Statement {
                target: variable.clone(),
                op: ast::AssignOp::Assign,
                value,
                span,
            }],
            span,
        };
        let n = self.program.actions.len();
        let name = format!("{}.set.{}.{n}", self.synapse_infos[si].name, variable.name);
        let kernel = self.setting_kernel(&scope, &block, name, selector, None, false)?;
        self.program.actions.push(Action::InitialiseSynapses {
            kernel,
            synapses: si,
        });
        Ok(())
    }

    /// `S.x = VALUE` for a shared synaptic parameter: one constant value,
    /// stored where the statement stands (Brian2 sets a shared variable
    /// once, whatever the number of synapses, even none).
    fn set_shared_synaptic(
        &mut self,
        si: usize,
        variable: &ast::Ident,
        array: ArrayId,
        dim: Dimension,
        value: &ast::Expr,
        selector: Option<&ast::Selector>,
    ) -> Result<(), Failed> {
        let sname = self.synapse_infos[si].name.clone();
        if selector.is_some() {
            return Err(self.error(Diagnostic::error(
                variable.span,
                format!(
                    "`{}` of `{sname}` is shared: it has one value, so no elements can be selected",
                    variable.name
                ),
            )));
        }
        let t = self.constant(value)?;
        if t.dim != dim {
            return Err(self.error(
                Diagnostic::error(
                    value.span,
                    format!(
                        "dimension mismatch: `{}` has unit {}, but this value has unit {}",
                        variable.name,
                        dim_name(dim),
                        dim_name(t.dim)
                    ),
                )
                .with_label(format!("{} vs {}", dim_name(t.dim), dim_name(dim))),
            ));
        }
        let v = as_const(&t.expr).unwrap_or(f64::NAN);
        let kernel = self.add_kernel(
            format!(
                "{sname}.set.{}.{}",
                variable.name,
                self.program.actions.len()
            ),
            Iteration::Range,
            &KernelCounters::default(),
            vec![Stmt::Store(array, IndexSpace::Shared, c(v))],
        );
        self.program
            .actions
            .push(Action::Initialise { kernel, group: 0 });
        Ok(())
    }

    /// The recorded variables of a StateMonitor on synapses.
    pub(super) fn synapse_recorded(
        &mut self,
        si: usize,
        names: &[ast::Ident],
        prepare: &mut Vec<Stmt>,
    ) -> Result<Vec<rheobase_kernel::program::RecordedVariable>, Failed> {
        let scope = self.synapse_infos[si].scope.clone();
        let sname = self.synapse_infos[si].name.clone();
        let owner = self.program.synapses[si].target;
        let mut out = Vec::new();
        for v in names {
            match scope.names.get(&v.name) {
                Some(Binding::Variable(info)) if info.space == IndexSpace::Own => {
                    out.push(rheobase_kernel::program::RecordedVariable {
                        name: v.name.clone(),
                        array: info.array,
                        kind: kind_of(info.ty),
                    })
                }
                // A neuron variable seen through the synapse (`v_post`), a
                // shared or linked one-element value, a subexpression or an
                // index (`i`, `j`) is computed into a synaptic array just
                // before each recording, as Brian2 records them per synapse
                // (a shared value once for every recorded synapse).
                Some(Binding::Variable(info)) => {
                    let array = self.synapse_array(
                        format!("{sname}.{}(recorded)", v.name),
                        owner,
                        si,
                        0.0,
                        info.ty,
                    );
                    prepare.push(Stmt::Store(
                        array,
                        IndexSpace::Own,
                        Expr::Load(info.array, info.space),
                    ));
                    out.push(rheobase_kernel::program::RecordedVariable {
                        name: v.name.clone(),
                        array,
                        kind: kind_of(info.ty),
                    })
                }
                None if scope.indices.contains_key(&v.name) => {
                    let array = self.synapse_array(
                        format!("{sname}.{}(recorded)", v.name),
                        owner,
                        si,
                        0.0,
                        Ty::Integer,
                    );
                    prepare.push(Stmt::Store(
                        array,
                        IndexSpace::Own,
                        scope.indices[&v.name].clone(),
                    ));
                    out.push(rheobase_kernel::program::RecordedVariable {
                        name: v.name.clone(),
                        array,
                        kind: ValueKind::Integer,
                    })
                }
                Some(Binding::Subexpression(t)) => {
                    let array = self.synapse_array(
                        format!("{sname}.{}(recorded)", v.name),
                        owner,
                        si,
                        0.0,
                        t.ty,
                    );
                    prepare.push(Stmt::Store(array, IndexSpace::Own, t.expr.clone()));
                    out.push(rheobase_kernel::program::RecordedVariable {
                        name: v.name.clone(),
                        array,
                        kind: kind_of(t.ty),
                    })
                }
                _ => {
                    return Err(self.error(Diagnostic::error(
                        v.span,
                        format!(
                            "`{}` has no synaptic variable `{}` to record",
                            self.synapse_infos[si].name, v.name
                        ),
                    )))
                }
            }
        }
        Ok(out)
    }

    /// A StateMonitor on a Synapses object: `record:` lists synapse
    /// indices (all synapses are not known before the connections exist).
    pub(super) fn synapse_state_monitor(
        &mut self,
        si: usize,
        m: &ast::StateMonitorDecl,
    ) -> Result<(), Failed> {
        if m.source.slice.is_some() {
            return Err(self.error(Diagnostic::error(m.source.span, "a StateMonitor on synapses records the synapses listed in `record:`; slices are not supported")));
        }
        let mut prepare_body = Vec::new();
        let variables = self.synapse_recorded(si, &m.variables, &mut prepare_body)?;
        let prepare = if prepare_body.is_empty() {
            None
        } else {
            let counters = KernelCounters::default();
            Some(self.add_kernel(
                format!("{}.prepare", m.name.name),
                Iteration::Range,
                &counters,
                prepare_body,
            ))
        };
        let mut record_all = false;
        let mut record_pairs = None;
        let record = match &m.record {
            Some(ast::Record::List(items)) => {
                let mut out = Vec::new();
                for e in items {
                    let k = self.whole_number(e, "a synapse index")?;
                    if k < 0 {
                        return Err(self.error(Diagnostic::error(
                            e.span,
                            "synapse indices are not negative",
                        )));
                    }
                    out.push(k as usize);
                }
                out
            }
            Some(ast::Record::Range {
                start,
                stop,
                step,
                span,
            }) => {
                let (a, b, k) = self.record_range(start, stop, step.as_ref())?;
                if a < 0 || a >= b {
                    return Err(self.error(Diagnostic::error(
                        *span,
                        format!("the range {a}:{b} is empty"),
                    )));
                }
                let count = ((b - a) as u64).div_ceil(k as u64);
                if let Some(d) = crate::resources::list_too_large(*span, count, self.memory_limit) {
                    return Err(self.error(d));
                }
                (a as usize..b as usize).step_by(k).collect()
            }
            Some(ast::Record::All(_)) => {
                // With explicit lists the synapses are known now; otherwise
                // the runtime records every synapse at the first sample.
                match self.known_synapse_count(si, false) {
                    Some(c) => (0..c).collect(),
                    None => {
                        record_all = true;
                        Vec::new()
                    }
                }
            }
            Some(ast::Record::Pairs {
                synapses,
                pre,
                post,
                span: _,
            }) => {
                if synapses.name != m.source.group.name {
                    return Err(self.error(
                        Diagnostic::error(
                            synapses.span,
                            format!(
                                "`record:` selects synapses of `{}`, but the monitor records `{}`",
                                synapses.name, m.source.group.name
                            ),
                        )
                        .with_label("not the monitored Synapses object")
                        .with_secondary(m.source.span, "the recorded Synapses object"),
                    ));
                }
                let plan = &self.program.synapses[si];
                let sides = [
                    (
                        pre,
                        "source",
                        plan.source_stop - plan.source_start,
                        plan.source_synapses,
                    ),
                    (
                        post,
                        "target",
                        plan.target_stop - plan.target_start,
                        plan.target_synapses,
                    ),
                ];
                let mut chosen = [None, None];
                for (k, (e, role, len, of_synapses)) in sides.into_iter().enumerate() {
                    let Some(e) = e else { continue };
                    let n = self.whole_number(e, "a neuron index")?;
                    // A side made of synapses has as many elements as
                    // that object will have synapses, known only once
                    // they are made: the runtime refuses an index beyond
                    // them when the monitor first records.
                    let too_large = of_synapses.is_none() && n >= len as i64;
                    if n < 0 || too_large {
                        return Err(self.error(
                            Diagnostic::error(
                                e.span,
                                format!(
                                    "index {n} is out of range: the {role} of `{}` has {len} neurons (0 to {})",
                                    synapses.name,
                                    len.saturating_sub(1)
                                ),
                            )
                            .with_label(format!("not a {role} neuron of `{}`", synapses.name)),
                        ));
                    }
                    chosen[k] = Some(n as usize);
                }
                record_pairs = Some((chosen[0], chosen[1]));
                Vec::new()
            }
            None => {
                return Err(self.error(Diagnostic::error(m.name.span, "a StateMonitor on synapses needs `record:` with synapse indices (a list or a range)")));
            }
        };
        let every = self.monitor_every(m, self.program.synapses[si].clock)?;
        let group = self.program.synapses[si].target;
        self.program
            .monitors
            .push(rheobase_kernel::program::MonitorPlan::State {
                source_start: 0,
                name: m.name.name.clone(),
                group,
                synapses: Some(si),
                variables,
                record,
                every,
                prepare,
                record_all_synapses: record_all,
                record_pairs,
                schedule: None,
                from_step: self.steps_so_far,
            });
        Ok(())
    }
}
