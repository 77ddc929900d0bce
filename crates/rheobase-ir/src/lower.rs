//! From a parsed model to a [`Program`]: every top-level statement in file
//! order, every group's equations checked and integrated, every monitor
//! resolved.

use crate::check::{
    self, dim_name, Binding, Checker, Constants, Failed, Scope, Ty, Typed, VariableInfo,
};
use crate::expr::{self, as_const, binary, c, load};
use crate::integrators::{self, with_parameter_values, Locals, Method, OdeSystem};
use crate::resources::{resource_check, Resources};
use rheobase_kernel::program::{
    Action, ArrayDecl, ClockPlan, EventPlan, GroupPlan, KernelId, MonitorPlan, MonitoredEvent,
    Part, Program, RecordedVariable, Slot, ValueKind,
};
use rheobase_kernel::{
    ArrayId, BinaryOp, Expr, IndexSpace, Iteration, Kernel, LocalId, RandKind, Stmt, UnaryOp,
};
use rheobase_syntax::ast::{self, EquationKind, ExprKind, Item};
use rheobase_syntax::{Diagnostic, Span};
use rheobase_units::{declaration_unit, Dimension};
use std::collections::{BTreeMap, HashMap};

mod indexed;
mod linked;
mod network;
mod order;
mod regular;
mod values;

/// The name under which a setting's plain `0` is checked (not a name a
/// model can write).
const PLAIN_ZERO: &str = "0 (a plain zero)";

/// Brian2 accepts the Python number zero for a variable of any unit,
/// `G.v = 0` and `G.v[0:2] = 0.0`, where any other plain number is a
/// dimension error. A setting with a condition (`G.v['i > 0'] = 0`) is a
/// code string in Brian2 and is dimension-checked there, as here. Returns
/// the value to check: the literal zero becomes a zero with the unit of
/// `variable`, bound in `scope`.
pub(crate) fn plain_zero_in_unit(
    scope: &mut Scope,
    variable: &str,
    value: &ast::Expr,
    selector: Option<&ast::Selector>,
) -> ast::Expr {
    let is_zero = matches!(value.kind, ExprKind::Number { value: v, .. } if v == 0.0);
    let by_condition = matches!(selector, Some(ast::Selector::Condition(_)));
    let dim = match scope.names.get(variable) {
        Some(Binding::Variable(info)) => info.dim,
        _ => return value.clone(),
    };
    if !is_zero || by_condition || dim.is_dimensionless() {
        return value.clone();
    }
    scope.names.insert(
        PLAIN_ZERO.to_string(),
        Binding::Constant {
            value: 0.0,
            dim,
            ty: Ty::Float,
        },
    );
    ast::Expr {
        kind: ExprKind::Name(PLAIN_ZERO.to_string()),
        span: value.span,
    }
}

/// The result of lowering a model.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub program: Program,
    /// The seed from `seed(N)`, if the file sets one.
    pub seed: Option<u64>,
    /// Every top-level constant assigned once, with its value (SI) and
    /// dimension, sorted by name: what an override of it must match.
    pub constants: Vec<(String, f64, Dimension)>,
    /// What runs but may not mean what its author expects (synaptic code
    /// whose result depends on the order of the synapses), in file order.
    pub warnings: Vec<Diagnostic>,
}

/// Default simulation time step, as Brian2's `defaultclock`.
pub const DEFAULT_DT: f64 = 1e-4;

/// Largest group size accepted: beyond this, indices no longer fit the
/// kernels' 32-bit event lists.
pub const MAX_GROUP_SIZE: usize = (u32::MAX - 1) as usize;

/// Largest subexpression accepted, in expression nodes once the
/// subexpressions it uses are substituted into it.
pub const MAX_SUBEXPRESSION_NODES: usize = 100_000;

/// Whether `e` has more than `limit` nodes; stops counting at the limit and
/// walks the tree without recursion.
fn exceeds_size(e: &Expr, limit: usize) -> bool {
    let mut stack = vec![e];
    let mut count = 0usize;
    while let Some(e) = stack.pop() {
        count += 1;
        if count > limit {
            return true;
        }
        stack.extend(e.operands());
    }
    false
}

/// Checks and lowers a whole model.
pub fn lower(model: &ast::Model, source: &str) -> Result<Lowered, Vec<Diagnostic>> {
    lower_with_files(model, source, &NoFiles)
}

/// A table of numbers from a data file: `rows × columns`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTable {
    pub rows: usize,
    pub columns: usize,
    pub values: Vec<f64>,
}

/// Where `file:` paths are read. The IR does no IO itself: the caller (the
/// CLI) resolves paths relative to the model file and parses the formats.
pub trait DataFiles {
    /// Reads the table at `path` as written in the model, or says in one
    /// sentence why it cannot.
    fn read(&self, path: &str) -> Result<DataTable, String>;
}

/// For models checked without access to files: every `file:` is an error.
pub struct NoFiles;

impl DataFiles for NoFiles {
    fn read(&self, _path: &str) -> Result<DataTable, String> {
        Err("data files cannot be read here (the model was given as text, not as a file)".into())
    }
}

/// Checks and lowers a whole model, reading `file:` data through `files`,
/// without checking that it fits on a machine (see [`lower_for`]).
pub fn lower_with_files(
    model: &ast::Model,
    source: &str,
    files: &dyn DataFiles,
) -> Result<Lowered, Vec<Diagnostic>> {
    lower_for(model, source, files, &Resources::unlimited())
}

/// Checks and lowers a whole model, reading `file:` data through `files`,
/// and refuses it if a run would not fit in `resources`.
pub fn lower_for(
    model: &ast::Model,
    source: &str,
    files: &dyn DataFiles,
    resources: &Resources,
) -> Result<Lowered, Vec<Diagnostic>> {
    // A file with nothing in it (or only comments) is almost always the
    // wrong file, or one cut short; checking it "ok" and running nothing
    // would hide that.
    if model.items.is_empty() {
        return Err(vec![Diagnostic::error(
            Span::new(0, 0),
            "this model is empty: it declares nothing and runs nothing",
        )
        .with_label(
            "expected a declaration, e.g. `NeuronGroup G(10):`, and a `run`",
        )]);
    }
    let mut b = Builder {
        redefined: redefined_constants(model),
        links: linked::scan(model),
        used_later: network::names_used_later(model),
        ..Builder::empty(
            source,
            files,
            resources.memory_limit,
            Program {
                dt: DEFAULT_DT,
                clocks: vec![ClockPlan {
                    dt: DEFAULT_DT,
                    every: 1,
                }],
                arrays: Vec::new(),
                kernels: Vec::new(),
                groups: Vec::new(),
                monitors: Vec::new(),
                actions: Vec::new(),
                synapses: Vec::new(),
                tables: Vec::new(),
                poisson_inputs: Vec::new(),
                regular: Vec::new(),
                places: Vec::new(),
                later_places: Vec::new(),
            },
        )
    };
    b.find_dt(model);
    for item in in_resolution_order(model) {
        // An item that fails has reported why; the next one is independent
        // enough to be checked too, so the user sees every error at once.
        let _ = b.item(item);
    }
    explain_used_before_defined(model, &mut b.diagnostics);
    // A named subgroup's slice is checked where it is declared and again
    // at each use (the parser put it there): one report is enough.
    let mut seen = std::collections::HashSet::new();
    b.diagnostics
        .retain(|d| seen.insert((d.span.start, d.span.end, d.message.clone())));
    drop_failed_table_cascades(model, &b.tables, &mut b.diagnostics);
    b.place_regular();
    if b.diagnostics.is_empty() {
        store_uniform_delays_once(&mut b.program);
        if let Some(d) = resource_check(model, &b.program, resources) {
            return Err(vec![d]);
        }
        let mut constants: Vec<(String, f64, Dimension)> = b
            .constants
            .iter()
            .filter_map(|(name, binding)| match binding {
                Binding::Constant { value, dim, .. } => Some((name.clone(), *value, *dim)),
                _ => None,
            })
            .collect();
        constants.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Lowered {
            program: b.program,
            seed: b.seed,
            constants,
            warnings: b.warnings,
        })
    } else {
        Err(b.diagnostics)
    }
}

/// Stores the delay of a Synapses object once instead of per synapse when
/// it is one value for all of them (`delay: D` with `D` constant) and no
/// code or monitor reads or changes it per synapse.
///
/// This is Brian2's homogeneous delay (`Synapses(..., delay=D)` keeps a
/// scalar `delay`): the runtime then queues each spike's synapses into one
/// slot, and a network of 10M synapses saves 80 MB. Reading `S.delay`
/// through the library gives one value, as Brian2's scalar does. A
/// `S.delay = ...` statement, an `init:` line, code that uses `delay` or a
/// monitor recording it keeps it per synapse.
fn store_uniform_delays_once(program: &mut Program) {
    let mut used = vec![false; program.arrays.len()];
    for kernel in &program.kernels {
        kernel.visit_arrays(&mut |a, _| used[a.0 as usize] = true);
    }
    for monitor in &program.monitors {
        let variables = match monitor {
            MonitorPlan::Spike { variables, .. } | MonitorPlan::State { variables, .. } => {
                variables
            }
            MonitorPlan::Rate { .. } => continue,
        };
        for v in variables {
            used[v.array.0 as usize] = true;
        }
    }
    // The same for the delays of named pathways (`delay up: 2*ms`).
    let delays: Vec<ArrayId> = program
        .synapses
        .iter()
        .flat_map(|plan| std::iter::once(plan.delay).chain(plan.pathways.iter().map(|p| p.delay)))
        .collect();
    for delay in delays {
        if !used[delay.0 as usize] {
            let decl = &mut program.arrays[delay.0 as usize];
            decl.synapses = None;
            decl.len = 1;
        }
    }
}

struct GroupInfo {
    name: String,
    size: usize,
    scope: Scope,
    spikes: bool,
}

struct Builder<'a> {
    /// Bytes a run may use: lists the model asks for (`record: 0:N`) are
    /// refused before they are made if they alone would not fit.
    memory_limit: u64,
    source: &'a str,
    files: &'a dyn DataFiles,
    diagnostics: Vec<Diagnostic>,
    /// Warnings found so far (see [`Lowered::warnings`]).
    warnings: Vec<Diagnostic>,
    constants: Constants,
    /// Every top-level name with where it was defined.
    defined: HashMap<String, Span>,
    dt: f64,
    seed: Option<u64>,
    groups: Vec<GroupInfo>,
    /// Groups whose declaration failed (and was reported): references to
    /// them fail silently instead of as unknown groups.
    failed_groups: Vec<String>,
    program: Program,
    steps_so_far: u64,
    /// TimedArrays defined so far.
    tables: HashMap<String, check::TableInfo>,
    /// Synapses objects defined so far (parallel to `program.synapses`).
    synapse_infos: Vec<network::SynapsesInfo>,
    /// Constants given a new value later in the file (`eta = 0` ... `run`
    /// ... `eta = 1e-2`): Brian2 reads a script's names when each run
    /// starts, so model code reads these from a one-element array that
    /// each assignment sets, in file order. Name → (array, its value now).
    parameters: HashMap<String, (ArrayId, Binding)>,
    /// Coupled `exact` equations whose propagators depend on per-run
    /// parameters, each assignment of which stores them again; by the
    /// name of their group or Synapses object.
    parametric_blocks: Vec<(String, integrators::ParametricBlock)>,
    /// The names assigned more than once at the top level.
    redefined: std::collections::HashSet<String>,
    /// `run_regularly:` blocks, placed in the schedule at the end.
    regular: Vec<regular::PendingRegular>,
    /// Brian2's names (`poissoninput`, `poissoninput_1`, ...) of the
    /// PoissonInputs declared so far, and whether each kept its default
    /// place (`synapses`, order 0).
    poisson_names: Vec<(String, bool)>,
    /// The `order:` of each NeuronGroup and Synapses object given one, by
    /// name (Brian2's `order=`; the default of its parts' orders).
    object_orders: HashMap<String, i64>,
    /// How many `run_regularly` codes each owner (a group, a subgroup's
    /// `G_subgroup`, a Synapses object) has so far, for Brian2's names
    /// `G_run_regularly`, `G_run_regularly_1`, ...; and, under the key
    /// `G[]`, how many subgroups of G have one.
    regular_counts: HashMap<String, usize>,
    /// The file's `linked_var` statements, found ahead.
    links: linked::Links,
    /// The clock (an index into `program.clocks`) of each NeuronGroup,
    /// PoissonGroup, SpikeGeneratorGroup and Synapses object given a
    /// `dt:`, by name (found ahead, in [`Builder::find_clocks`]).
    object_clocks: HashMap<String, usize>,
    /// The time step of each `Clock` declaration, by name (found ahead),
    /// for the `clock:` of objects, StateMonitors and `run_regularly`.
    clock_dts: HashMap<String, f64>,
    /// The names each object's top-level statements use (settings,
    /// `run_regularly`, StateMonitor variables), found ahead, so a
    /// Synapses object makes `N`, `N_incoming` and `N_outgoing` when any
    /// of them is used, also after its declaration.
    used_later: HashMap<String, Vec<String>>,
}

/// The names assigned more than once at the top level of `model`.
fn redefined_constants(model: &ast::Model) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    let mut twice = std::collections::HashSet::new();
    for item in &model.items {
        if let Item::Constant { name, .. } = item {
            if !seen.insert(name.name.clone()) {
                twice.insert(name.name.clone());
            }
        }
    }
    twice
}

/// Local and random-draw counters of one kernel under construction.
#[derive(Default)]
struct KernelCounters {
    locals: u32,
    draws: u32,
}

impl KernelCounters {
    /// A fresh random draw id for this kernel, so that every draw of one
    /// element has its own key.
    fn draw(&mut self) -> u32 {
        let d = self.draws;
        self.draws += 1;
        d
    }
}

impl Locals for KernelCounters {
    fn fresh(&mut self) -> LocalId {
        let l = LocalId(self.locals);
        self.locals += 1;
        l
    }
}

fn kind_of(ty: Ty) -> ValueKind {
    match ty {
        Ty::Float => ValueKind::Float,
        Ty::Integer => ValueKind::Integer,
        Ty::Boolean => ValueKind::Boolean,
    }
}

impl<'a> Builder<'a> {
    /// A builder that has lowered nothing yet: the whole file's lowering
    /// starts from it, and so do the first passes that evaluate a time
    /// step or a run's duration before any group exists.
    fn empty(
        source: &'a str,
        files: &'a dyn DataFiles,
        memory_limit: u64,
        program: Program,
    ) -> Builder<'a> {
        Builder {
            memory_limit,
            files,
            source,
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            constants: Constants::new(),
            defined: HashMap::new(),
            dt: DEFAULT_DT,
            seed: None,
            groups: Vec::new(),
            failed_groups: Vec::new(),
            program,
            steps_so_far: 0,
            tables: HashMap::new(),
            synapse_infos: Vec::new(),
            parameters: HashMap::new(),
            parametric_blocks: Vec::new(),
            redefined: Default::default(),
            regular: Vec::new(),
            poisson_names: Vec::new(),
            object_orders: HashMap::new(),
            regular_counts: HashMap::new(),
            links: Default::default(),
            object_clocks: HashMap::new(),
            clock_dts: HashMap::new(),
            used_later: HashMap::new(),
        }
    }

    fn error(&mut self, d: Diagnostic) -> Failed {
        self.diagnostics.push(d);
        Failed
    }

    /// A checker for one kernel under construction, with its own locals
    /// and random draws. `override_conditional_write` is for event code
    /// (reset, `on_event`), which writes `(unless refractory)` variables
    /// unconditionally, as Brian2's Resetter does.
    fn checker<'s>(
        &'s mut self,
        scope: &'s Scope,
        counters: &'s mut KernelCounters,
        allow_random: bool,
        override_conditional_write: bool,
    ) -> Checker<'s> {
        Checker {
            scope,
            source: self.source,
            diagnostics: &mut self.diagnostics,
            draws: &mut counters.draws,
            allow_random,
            temporaries: HashMap::new(),
            next_local: &mut counters.locals,
            override_conditional_write,
        }
    }

    fn top_scope(&self) -> Scope {
        // Top-level expressions are Python, evaluated where they stand: a
        // per-run parameter has its current value there.
        let mut constants = self.constants.clone();
        for (name, (_, value)) in &self.parameters {
            constants.insert(name.clone(), value.clone());
        }
        Scope {
            constants,
            names: HashMap::new(),
            group_size: None,
            has_element: false,
            dt: self.program.clocks[0].dt,
            indices: HashMap::new(),
            tables: self.tables.clone(),
            local: Constants::new(),
        }
    }

    /// A group's scope for a statement later in the file: Brian2 resolves
    /// names when the statement runs, so constants and TimedArrays defined
    /// since the group's declaration are visible (the group's own names
    /// still come first).
    fn refreshed(&self, scope: &Scope) -> Scope {
        let mut scope = scope.clone();
        for (name, b) in &self.constants {
            scope.constants.insert(name.clone(), b.clone());
        }
        for (name, t) in &self.tables {
            scope.tables.insert(name.clone(), t.clone());
        }
        for (name, b) in &scope.local {
            scope.constants.insert(name.clone(), b.clone());
        }
        scope
    }

    /// Evaluates a constant expression at the top level.
    fn constant(&mut self, e: &ast::Expr) -> Result<Typed, Failed> {
        let scope = self.top_scope();
        let mut draws = 0;
        let mut locals = 0;
        let mut checker = Checker {
            scope: &scope,
            source: self.source,
            diagnostics: &mut self.diagnostics,
            draws: &mut draws,
            allow_random: false,
            temporaries: HashMap::new(),
            next_local: &mut locals,
            override_conditional_write: false,
        };
        let t = checker.check(e)?;
        if as_const(&t.expr).is_none() {
            return Err(self.error(Diagnostic::error(
                e.span,
                "this must be a constant expression",
            )));
        }
        Ok(t)
    }

    fn constant_value(
        &mut self,
        e: &ast::Expr,
        want: Dimension,
        what: &str,
    ) -> Result<f64, Failed> {
        let t = self.constant(e)?;
        if t.dim != want {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "{what} must have unit {}, but this has unit {}",
                        dim_name(want),
                        dim_name(t.dim)
                    ),
                )
                .with_label(format!("has unit {}", dim_name(t.dim))),
            ));
        }
        let v = as_const(&t.expr).unwrap_or(f64::NAN);
        // Every quantity read here (durations, time steps, rates, periods)
        // is used as a number of steps or a probability: infinity or NaN
        // would freeze or silently skip what it controls.
        if !v.is_finite() {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!(
                    "{what} must be a finite number, but this is {}",
                    value_text(v)
                ),
            )));
        }
        Ok(v)
    }

    fn whole_number(&mut self, e: &ast::Expr, what: &str) -> Result<i64, Failed> {
        let v = self.constant_value(e, Dimension::DIMENSIONLESS, what)?;
        if v.is_finite() && v.fract() == 0.0 && v.abs() > 9.0e15 {
            // A whole number all the same: say what is wrong with it, in
            // the digits the user wrote (a float would print 2^64 - 1 as
            // 18446744073709552000).
            let written = self
                .source
                .get(e.span.start..e.span.end)
                .map_or_else(|| value_text(v), str::to_string);
            return Err(self.error(Diagnostic::error(
                e.span,
                format!("{what} must be at most 9e15, but this is {written}"),
            )));
        }
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!(
                    "{what} must be a whole number, but this is {}",
                    value_text(v)
                ),
            )));
        }
        Ok(v as i64)
    }

    /// A group's `namespace:` (Brian2's `namespace=` argument): constants
    /// evaluated where the group is declared, seen only by its code.
    fn namespace(&mut self, block: &ast::Block) -> Result<Constants, Failed> {
        let mut local = Constants::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut failed = false;
        for st in &block.statements {
            let name = &st.target;
            if st.op != ast::AssignOp::Assign {
                failed = true;
                self.error(Diagnostic::error(
                    st.span,
                    "a namespace gives each name a value with `=`: `tau = 10*ms`",
                ));
                continue;
            }
            if let Some(prev) = seen.insert(&name.name, name.span) {
                failed = true;
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!("`{}` is defined twice in this namespace", name.name),
                    )
                    .with_secondary(prev, "first defined here"),
                );
                continue;
            }
            let n = name.name.as_str();
            let reserved = matches!(n, "t" | "dt" | "i" | "N" | "xi" | "True" | "False")
                || n.starts_with("xi_")
                || check::FUNCTIONS.contains(&n)
                || rheobase_units::lookup_unit(n).is_some();
            if reserved {
                failed = true;
                self.error(Diagnostic::error(
                    name.span,
                    format!("`{n}` is a reserved name or a unit and cannot be defined"),
                ));
                continue;
            }
            let Ok(t) = self.constant(&st.value) else {
                failed = true;
                continue;
            };
            let value = as_const(&t.expr).unwrap_or(f64::NAN);
            local.insert(
                name.name.clone(),
                Binding::Constant {
                    value,
                    dim: t.dim,
                    ty: t.ty,
                },
            );
        }
        if failed {
            Err(Failed)
        } else {
            Ok(local)
        }
    }

    fn define(&mut self, name: &ast::Ident) -> Result<(), Failed> {
        if let Some(prev) = self.defined.get(&name.name) {
            let prev = *prev;
            return Err(self.error(
                Diagnostic::error(name.span, format!("`{}` is defined twice", name.name))
                    .with_label("defined again here")
                    .with_secondary(prev, "first defined here"),
            ));
        }
        // Top-level names are like Python variables in a Brian2 script:
        // `N = 4000` is common and fine (a group's own `N` shadows it in
        // its code). Only names that would change what code means are
        // refused.
        let n = name.name.as_str();
        if matches!(n, "t" | "dt" | "xi" | "True" | "False" | "defaultclock")
            || n.starts_with("xi_")
            || check::FUNCTIONS.contains(&n)
        {
            return Err(self.error(Diagnostic::error(
                name.span,
                format!("`{}` is a reserved name and cannot be defined", name.name),
            )));
        }
        if rheobase_units::lookup_unit(&name.name).is_some() {
            return Err(self.error(Diagnostic::error(
                name.span,
                format!(
                    "`{}` is the name of a unit and cannot be redefined",
                    name.name
                ),
            )));
        }
        self.defined.insert(name.name.clone(), name.span);
        Ok(())
    }

    /// `defaultclock.dt` applies to the whole simulation, and the `exact`
    /// integrator needs it to build its propagators, so it is read before
    /// any group is lowered; so are the `dt:`s of objects with a clock of
    /// their own ([`Builder::find_clocks`]).
    fn find_dt(&mut self, model: &ast::Model) {
        let mut seen: Option<Span> = None;
        let mut run_seen: Option<Span> = None;
        // Brian2's network time after the runs so far, the sum of their
        // durations (`None` once a duration cannot be read early; the
        // `run` reports why).
        let mut elapsed: Option<f64> = Some(0.0);
        for item in &model.items {
            match item {
                Item::Run { span, duration, .. } => {
                    // The last run, where the time stands now.
                    run_seen = Some(*span);
                    let d = self
                        .early_time(model, item, duration, "a run's duration")
                        .ok();
                    elapsed = match (elapsed, d) {
                        (Some(t), Some(d)) if d >= 0.0 => Some(t + d),
                        _ => None,
                    };
                }
                Item::SetDt { value, span } => {
                    if let Some(run) = run_seen {
                        let d = self.dt_after_run(model, item, value, *span, run, elapsed);
                        self.error(d);
                        continue;
                    }
                    if let Some(prev) = seen {
                        self.error(
                            Diagnostic::error(*span, "`defaultclock.dt` is set twice")
                                .with_secondary(prev, "first set here")
                                .with_note("rheobase runs the whole file with one time step"),
                        );
                        continue;
                    }
                    seen = Some(*span);
                    if let Some(dt) = self.early_time_step(model, item, value, "the time step") {
                        self.dt = dt;
                    }
                }
                _ => {}
            }
        }
        self.find_clocks(model);
    }

    /// The diagnostic for `defaultclock.dt` set after a `run` at `span`:
    /// Brian2's own refusal when the time the runs reached is not a
    /// multiple of the new step (`Clock._set_t_update_dt`, `check_dt`),
    /// else the refusal of what Brian2 would do, which rheobase cannot
    /// yet (continue on the new step).
    fn dt_after_run(
        &self,
        model: &ast::Model,
        item: &Item,
        value: &ast::Expr,
        span: Span,
        run: Span,
        elapsed: Option<f64>,
    ) -> Diagnostic {
        let old = self.dt;
        let new = self.early_time(model, item, value, "the time step").ok();
        if let (Some(t), Some(new)) = (elapsed, new.filter(|&v| v > 0.0 && v.is_finite())) {
            // Brian2's `check_dt`: the time in steps of the old and of
            // the new dt must agree within `Clock.epsilon_dt` of a new
            // step.
            let old_t = (t / old).round() * old;
            let new_t = (t / new).round() * new;
            if ((new_t - old_t) / new).abs() > 1e-4 {
                return Diagnostic::error(
                    value.span,
                    format!(
                        "cannot set dt from {old} s to {new} s: the time {t} s is not a \
                         multiple of {new} s"
                    ),
                )
                .with_secondary(run, "the runs so far end at that time")
                .with_note(
                    "Brian2 refuses this change too (`Clock._set_t_update_dt`): a clock's \
                     time must be a whole number of its new steps",
                );
            }
        }
        Diagnostic::error(
            span,
            "changing `defaultclock.dt` between runs is not supported yet",
        )
        .with_secondary(run, "the simulation already ran here")
        .with_note(
            "Brian2 continues on the new time step from here; rheobase runs every object \
                 on `defaultclock` with one time step, so set it before the first `run` (or \
                 give the objects that need another step a `dt:` of their own)",
        )
    }

    /// The value of a time step given before any group is lowered
    /// (`defaultclock.dt`, an object's `dt:`): constants defined before
    /// `item` may be used in it, so they are evaluated in order in a first
    /// pass over those items. `None` when it is not a positive, finite
    /// time (reported).
    fn early_time_step(
        &mut self,
        model: &ast::Model,
        item: &Item,
        value: &ast::Expr,
        what: &str,
    ) -> Option<f64> {
        match self.early_time(model, item, value, what) {
            Ok(dt) if dt > 0.0 => Some(dt),
            Ok(dt) => {
                self.error(Diagnostic::error(
                    value.span,
                    format!("{what} must be positive, but it is {dt} s"),
                ));
                None
            }
            Err(mut diagnostics) => {
                self.diagnostics.append(&mut diagnostics);
                None
            }
        }
    }

    /// A time given at `item` (a time step, a run's duration), evaluated
    /// before any group is lowered, or the diagnostics that say why it
    /// cannot be.
    fn early_time(
        &self,
        model: &ast::Model,
        item: &Item,
        value: &ast::Expr,
        what: &str,
    ) -> Result<f64, Vec<Diagnostic>> {
        // Constants defined before it may be used in it; they are
        // evaluated in order in a first pass over those items.
        let mut pre = Builder::empty(
            self.source,
            self.files,
            self.memory_limit,
            self.program.clone(),
        );
        for earlier in &model.items {
            if std::ptr::eq(earlier, item) {
                break;
            }
            if let Item::Constant { name, value, .. } = earlier {
                if let Ok(t) = pre.constant(value) {
                    pre.constants.insert(
                        name.name.clone(),
                        Binding::Constant {
                            value: as_const(&t.expr).unwrap_or(f64::NAN),
                            dim: t.dim,
                            ty: t.ty,
                        },
                    );
                }
            }
        }
        pre.diagnostics.clear();
        pre.constant_value(value, Dimension::SECOND, what)
            .map_err(|_| pre.diagnostics)
    }

    /// Brian2's clocks: `defaultclock` (clock 0) and one per distinct
    /// `dt:` of a NeuronGroup, PoissonGroup, SpikeGeneratorGroup or
    /// Synapses object (objects with equal time steps run together in
    /// Brian2's `Network._nextclocks`, so they share one here), and the
    /// program's tick: the largest step of which every clock's `dt` is a
    /// whole multiple (to rounding: within a billionth, so that a clock's
    /// ticks stay at its own times over any run), so that each clock runs
    /// at the ticks Brian2 finds it due. With one clock the tick is
    /// `defaultclock.dt` and nothing changes.
    fn find_clocks(&mut self, model: &ast::Model) {
        // Brian2's shared `Clock(dt=...)` objects first: an object naming
        // one in `clock:` runs on its time step.
        let mut declared = std::collections::HashSet::new();
        for item in &model.items {
            let Item::Clock(d) = item else { continue };
            declared.insert(d.name.name.clone());
            let Some(value) = &d.dt else {
                self.error(Diagnostic::error(
                    d.name.span,
                    "a Clock needs `dt:` (Brian2's `Clock(dt=...)`)",
                ));
                continue;
            };
            if let Some(v) = self.early_time_step(model, item, value, "a clock's `dt`") {
                self.clock_dts.insert(d.name.name.clone(), v);
            }
        }
        let mut dts = vec![self.dt];
        let mut given: Vec<Span> = Vec::new();
        for item in &model.items {
            let (name, dt, clock) = match item {
                Item::NeuronGroup(d) => (&d.name, &d.dt, &d.clock),
                Item::Synapses(d) => (&d.name, &d.dt, &d.clock),
                Item::PoissonGroup(d) => (&d.name, &d.dt, &d.clock),
                Item::SpikeGeneratorGroup(d) => (&d.name, &d.dt, &d.clock),
                Item::StateMonitor(d) => (&d.name, &d.dt, &d.clock),
                _ => continue,
            };
            if !self.clock_key_is_valid(dt, clock, &declared) {
                continue;
            }
            // A StateMonitor's clock is checked here and counted in ticks
            // where it is lowered; it is not one of the objects' clocks.
            if matches!(item, Item::StateMonitor(_)) {
                continue;
            }
            let (v, span) = match (dt, clock) {
                (Some(value), _) => {
                    match self.early_time_step(model, item, value, "a clock's `dt`") {
                        Some(v) => (v, value.span),
                        None => continue,
                    }
                }
                (None, Some(c)) => match self.clock_dts.get(&c.name) {
                    Some(&v) => (v, c.span),
                    None => continue,
                },
                (None, None) => continue,
            };
            let clock = match dts.iter().position(|&d| d == v) {
                Some(c) => c,
                None => {
                    dts.push(v);
                    given.push(span);
                    dts.len() - 1
                }
            };
            self.object_clocks.insert(name.name.clone(), clock);
        }
        let smallest = dts.iter().copied().fold(f64::INFINITY, f64::min);
        // A tick of the smallest step divided by 1, 2, 3, ...: the first
        // that every step is a whole multiple of. Beyond a thousandth of
        // the smallest step the ticks would cost more than the model.
        let tick = (1..=1000u32)
            .map(|k| smallest / f64::from(k))
            .find(|&tick| {
                dts.iter().all(|&d| {
                    let r = (d / tick).round();
                    ((d / tick) - r).abs() <= 1e-9 * r
                })
            });
        let Some(tick) = tick else {
            // The clocks are still made (each at every tick), so that
            // the rest of the file is checked too.
            self.program.clocks = dts.iter().map(|&dt| ClockPlan { dt, every: 1 }).collect();
            if let Some(&span) = given.last() {
                self.error(
                    Diagnostic::error(
                        span,
                        "the time steps of this model's clocks have no common step of at least \
                         a thousandth of the smallest one",
                    )
                    .with_note(format!(
                        "the clocks' time steps are {} s; rheobase runs every clock at the \
                         multiples of one common step",
                        dts.iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(" s, ")
                    )),
                );
            }
            return;
        };
        self.program.dt = tick;
        self.program.clocks = dts
            .iter()
            .map(|&dt| ClockPlan {
                dt,
                every: (dt / tick).round() as u64,
            })
            .collect();
    }

    /// Whether an object's `dt:` and `clock:` can be used: not both (as
    /// Brian2's "Can only specify either a dt or a clock, not both"), and
    /// a `clock:` naming a `Clock` declaration. Reports why not.
    fn clock_key_is_valid(
        &mut self,
        dt: &Option<ast::Expr>,
        clock: &Option<ast::Ident>,
        declared: &std::collections::HashSet<String>,
    ) -> bool {
        match (dt, clock) {
            (Some(_), Some(c)) => {
                self.error(
                    Diagnostic::error(c.span, "an object takes `dt:` or `clock:`, not both")
                        .with_note(
                            "Brian2 says \"Can only specify either a dt or a clock, not both\"",
                        ),
                );
                false
            }
            (None, Some(c)) if !declared.contains(&c.name) => {
                let hint = crate::check::suggest(
                    self.diagnostics.len(),
                    &c.name,
                    declared.iter().map(|n| n.as_str()),
                );
                let d = Diagnostic::error(
                    c.span,
                    format!("`{}` is not a Clock declared in this file", c.name),
                );
                let d = match hint {
                    Some(s) => d.with_note(format!("help: did you mean `{s}`?")),
                    None => d.with_note(
                        "declare it first, as Brian2's `slow = Clock(dt=1*ms)`: \
                         `Clock slow:` with `dt: 1*ms`",
                    ),
                };
                self.error(d);
                false
            }
            _ => true,
        }
    }

    /// Runs `f` with `self.dt` the time step of the object `name`'s clock,
    /// which its integrator, refractoriness and rates are lowered with.
    fn on_clock_of<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let default = self.dt;
        self.dt = self.program.clocks[self.clock_of(name)].dt;
        let result = f(self);
        self.dt = default;
        result
    }

    /// The clock of the object `name` (0, `defaultclock`, unless it was
    /// given a `dt:`).
    pub(super) fn clock_of(&self, name: &str) -> usize {
        self.object_clocks.get(name).copied().unwrap_or(0)
    }

    fn item(&mut self, item: &Item) -> Result<(), Failed> {
        match item {
            Item::Constant { name, value, .. } if self.redefined.contains(&name.name) => {
                self.parameter(name, value)
            }
            Item::Constant { name, value, .. } => {
                self.define(name)?;
                let t = self.constant(value)?;
                let v = as_const(&t.expr).unwrap_or(f64::NAN);
                // `1/0` or `0*inf` is an error in Python (Brian2's
                // language); only a constant that names `inf` may be
                // infinite.
                let names_inf = self
                    .source
                    .get(value.span.start..value.span.end)
                    .is_some_and(|text| text.contains("inf"));
                if v.is_nan() || (v.is_infinite() && !names_inf) {
                    return Err(self.error(Diagnostic::error(
                        value.span,
                        format!(
                            "the constant `{}` is {} (a division by zero?); constants must be numbers",
                            name.name,
                            value_text(v)
                        ),
                    )));
                }
                self.constants.insert(
                    name.name.clone(),
                    Binding::Constant {
                        value: as_const(&t.expr).unwrap_or(f64::NAN),
                        dim: t.dim,
                        ty: t.ty,
                    },
                );
                Ok(())
            }
            // Read in `find_dt`.
            Item::SetDt { .. } => Ok(()),
            // Read in `find_clocks`; its name is taken here.
            Item::Clock(d) => self.define(&d.name),
            Item::SetSchedule(d) => self.set_schedule(d),
            Item::Seed { value, .. } => {
                if let Some(v) = value {
                    let n = self.whole_number(v, "the seed")?;
                    if n < 0 {
                        return Err(
                            self.error(Diagnostic::error(v.span, "the seed must not be negative"))
                        );
                    }
                    self.seed = Some(n as u64);
                }
                Ok(())
            }
            Item::Run {
                duration,
                report_period,
                ..
            } => {
                if let Some(e) = report_period {
                    let p = self.constant_value(e, Dimension::SECOND, "`report_period=`")?;
                    if p <= 0.0 || !p.is_finite() {
                        return Err(self.error(Diagnostic::error(
                            e.span,
                            format!("`report_period=` must be a positive time, but it is {p} s"),
                        )));
                    }
                }
                let d = self.constant_value(duration, Dimension::SECOND, "a run's duration")?;
                if d < 0.0 || !d.is_finite() {
                    return Err(self.error(Diagnostic::error(
                        duration.span,
                        format!("a run's duration must be positive and finite, but it is {d} s"),
                    )));
                }
                // Runs count ticks: with one clock its time steps.
                let tick = self.program.dt;
                let start = self.steps_so_far as f64 * tick;
                let end = end_step(start + d, tick);
                let steps = end.saturating_sub(self.steps_so_far);
                self.steps_so_far = end;
                self.program.actions.push(Action::Run { steps });
                Ok(())
            }
            Item::NeuronGroup(g) => {
                let result = self.on_clock_of(&g.name.name, |b| b.neuron_group(g));
                self.note_failure(&result, &g.name);
                result
            }
            Item::Subgroup { name, group, .. } => self.named_subgroup(name, group),
            Item::SetVariable {
                group,
                variable,
                value,
                span,
            } => self.set_variable(group, variable, value, *span, None),
            Item::SetVariableWhere {
                group,
                variable,
                selector,
                value,
                span,
            } => self.set_variable(group, variable, value, *span, Some(selector)),
            Item::SetPathwayDelay {
                synapses,
                pathway,
                value,
                span,
            } => self.set_pathway_delay(synapses, pathway, value, *span),
            Item::SpikeMonitor(m) => self.spike_monitor(m),
            Item::StateMonitor(m) => self.state_monitor(m),
            Item::PopulationRateMonitor(m) => {
                self.define(&m.name)?;
                self.archive_names(&m.name, "a PopulationRateMonitor", &[], &[])?;
                let (group, start, stop) = self.group_ref(&m.source)?;
                self.require_spikes(group, &m.source)?;
                self.program.monitors.push(MonitorPlan::Rate {
                    name: m.name.name.clone(),
                    group,
                    start,
                    stop,
                    from_step: self.steps_so_far,
                });
                Ok(())
            }
            Item::Synapses(d) => {
                let result = self.on_clock_of(&d.name.name, |b| b.synapses(d));
                self.note_failure(&result, &d.name);
                result
            }
            Item::PoissonGroup(d) => {
                let result = self.on_clock_of(&d.name.name, |b| b.poisson_group(d));
                self.note_failure(&result, &d.name);
                result
            }
            // Brian2's PoissonInput runs on its target's clock and draws
            // `binomial(N, rate*target.clock.dt)`.
            Item::PoissonInput(d) => self.on_clock_of(&d.target.name, |b| b.poisson_input(d)),
            Item::SpikeGeneratorGroup(d) => {
                let result = self.on_clock_of(&d.name.name, |b| b.spike_generator(d));
                self.note_failure(&result, &d.name);
                result
            }
            Item::TimedArray(d) => self.timed_array(d),
            Item::LinkVariable {
                group,
                variable,
                span,
                ..
            } => self.link_statement(group, variable, *span),
            Item::RunRegularly { target, block, .. } => self.top_run_regularly(target, block),
        }
    }

    /// A constant that the file assigns more than once: its first
    /// assignment makes the one-element array that model code reads, each
    /// later one sets it at that point of the file.
    fn parameter(&mut self, name: &ast::Ident, value: &ast::Expr) -> Result<(), Failed> {
        let first = !self.parameters.contains_key(&name.name);
        if first {
            self.define(name)?;
        }
        let t = self.constant(value)?;
        let v = as_const(&t.expr).unwrap_or(f64::NAN);
        let current = Binding::Constant {
            value: v,
            dim: t.dim,
            ty: t.ty,
        };
        if let Some((array, Binding::Constant { dim, .. })) = self.parameters.get(&name.name) {
            let (array, dim) = (*array, *dim);
            if t.dim != dim {
                let first = self.defined.get(&name.name).copied().unwrap_or(name.span);
                return Err(self.error(
                    Diagnostic::error(
                        value.span,
                        format!(
                            "`{}` had unit {}, but this new value has unit {}",
                            name.name,
                            dim_name(dim),
                            dim_name(t.dim)
                        ),
                    )
                    .with_label(format!("has unit {}", dim_name(t.dim)))
                    .with_secondary(first, "first defined here")
                    .with_note("model code uses the name with one unit in every run"),
                ));
            }
            self.parameters.insert(name.name.clone(), (array, current));
            if self.program.groups.is_empty() {
                // No kernel has run or can have read the old value.
                self.program.arrays[array.0 as usize].initial = v;
            } else {
                let mut stores = vec![Stmt::Store(array, IndexSpace::Shared, c(v))];
                let values = self.parameter_values();
                for (owner, block) in &self.parametric_blocks {
                    if !block.reads(array) {
                        continue;
                    }
                    match block.coefficients(&values) {
                        Ok(coefficients) => stores.extend(
                            coefficients
                                .into_iter()
                                .map(|(a, x)| Stmt::Store(a, IndexSpace::Shared, c(x))),
                        ),
                        Err(integrators::Unsupported(why)) => {
                            // Brian2 raises this when the next run starts
                            // and generates the state updater again.
                            let d = Diagnostic::error(
                                value.span,
                                format!(
                                    "with this value of `{}`, method `exact` cannot integrate \
                                     the equations of `{owner}` in the runs that follow: {why}",
                                    name.name
                                ),
                            )
                            .with_label(format!("`{}` = {v}", name.name))
                            .with_note(
                                "Brian2 fails when the next run starts (a division by zero \
                                 in its solution); give another `method:` for equations \
                                 whose matrix becomes singular",
                            );
                            return Err(self.error(d));
                        }
                    }
                }
                let kernel = self.add_kernel(
                    format!("set {}", name.name),
                    Iteration::Range,
                    &KernelCounters::default(),
                    stores,
                );
                self.program
                    .actions
                    .push(Action::Initialise { kernel, group: 0 });
            }
            return Ok(());
        }
        debug_assert!(first);
        let array = self.add_array(name.name.clone(), 0, 1, v, t.ty);
        self.constants.insert(
            name.name.clone(),
            Binding::Variable(VariableInfo {
                array,
                space: IndexSpace::Shared,
                dim: t.dim,
                ty: t.ty,
                read_only: true,
                flags: Vec::new(),
                conditional_write: None,
            }),
        );
        self.parameters.insert(name.name.clone(), (array, current));
        Ok(())
    }

    /// The values per-run parameters have now, by array.
    fn parameter_values(&self) -> HashMap<ArrayId, f64> {
        self.parameters
            .values()
            .filter_map(|(a, b)| match b {
                Binding::Constant { value, .. } => Some((*a, *value)),
                _ => None,
            })
            .collect()
    }

    /// The method Brian2 would choose for `system` when its first run
    /// starts: Brian2 chooses with the values the script's names have
    /// then, so per-run parameters take their values now (their later
    /// values only change what the chosen method computes).
    fn automatic_method(&self, system: &OdeSystem) -> Method {
        let values = self.parameter_values();
        let mut fixed = system.clone();
        for f in fixed.f.iter_mut() {
            *f = with_parameter_values(f, &values);
        }
        integrators::choose(&fixed)
    }

    /// The statements that advance `system` by one step with `method`.
    /// Per-run parameters are read at every step; where `exact` needs
    /// their values for propagators (a parameter in the coupling of
    /// equations solved together), those go to one-element arrays set
    /// now with the current values and again by each later assignment of
    /// a parameter they depend on (`parameter`), as Brian2 computes them
    /// again when each run starts.
    fn integrate(
        &mut self,
        method: Method,
        system: &OdeSystem,
        locals: &mut dyn Locals,
        owner: &str,
    ) -> Result<Vec<Stmt>, integrators::Unsupported> {
        let values = self.parameter_values();
        let mut new_arrays = Vec::new();
        let first_array = self.program.arrays.len();
        let mut new_array = |name: String| -> ArrayId {
            let id = ArrayId((first_array + new_arrays.len()) as u32);
            new_arrays.push(name);
            id
        };
        let mut parameters = integrators::RunTimeParameters {
            values: &values,
            new_array: &mut new_array,
            blocks: Vec::new(),
        };
        let stmts = integrators::integrate_with(method, system, self.dt, locals, &mut parameters)?;
        let blocks = std::mem::take(&mut parameters.blocks);
        for name in new_arrays {
            self.add_array(format!("{owner}: {name}"), 0, 1, 0.0, Ty::Float);
        }
        for block in blocks {
            for (array, value) in block.coefficients(&values)? {
                self.program.arrays[array.0 as usize].initial = value;
            }
            self.parametric_blocks.push((owner.to_string(), block));
        }
        Ok(stmts)
    }

    /// Remembers a group or Synapses object whose declaration failed, so
    /// that later references to it do not add "unknown" errors to the one
    /// that explains the failure.
    fn note_failure(&mut self, result: &Result<(), Failed>, name: &ast::Ident) {
        if result.is_err()
            && !self.groups.iter().any(|x| x.name == name.name)
            && self.synapse_index(&name.name).is_none()
        {
            self.failed_groups.push(name.name.clone());
        }
    }

    fn group_by_name(&mut self, name: &ast::Ident) -> Result<usize, Failed> {
        if let Some(k) = self.groups.iter().position(|g| g.name == name.name) {
            return Ok(k);
        }
        if self.failed_groups.contains(&name.name) {
            return Err(Failed);
        }
        let mut d = Diagnostic::error(name.span, format!("unknown group `{}`", name.name));
        if let Some(s) = check::suggest(
            self.diagnostics.len(),
            &name.name,
            self.groups.iter().map(|g| g.name.as_str()),
        ) {
            d = d.with_note(format!("help: did you mean `{s}`?"));
        }
        Err(self.error(d))
    }

    /// Resolves `G` or `G[a:b]` to the group and the absolute range.
    fn group_ref(&mut self, r: &ast::GroupRef) -> Result<(usize, usize, usize), Failed> {
        let g = self.group_by_name(&r.group)?;
        let n = self.groups[g].size as i64;
        let Some(slice) = &r.slice else {
            return Ok((g, 0, n as usize));
        };
        // The bound as written (for messages) and as Python uses it.
        let mut bound = |b: &Option<ast::Expr>, default: i64| -> Result<(i64, i64), Failed> {
            match b {
                None => Ok((default, default)),
                Some(e) => {
                    let written = self.whole_number(e, "a slice bound")?;
                    // Python slice semantics: negative counts from the end,
                    // out-of-range bounds are clipped.
                    let v = if written < 0 { written + n } else { written };
                    Ok((written, v.clamp(0, n)))
                }
            }
        };
        let (start_written, start) = bound(&slice.start, 0)?;
        let (stop_written, stop) = bound(&slice.stop, n)?;
        if stop <= start {
            // Name the bounds as written: `G[100:200]` of 10 neurons is not
            // "10:10", whatever clipping made of it.
            return Err(self.error(Diagnostic::error(
                slice.span,
                format!(
                    "this slice of `{}` is empty: {start_written}:{stop_written} selects none of its {n} neurons (0 to {})",
                    r.group.name,
                    n - 1
                ),
            )));
        }
        Ok((g, start as usize, stop as usize))
    }

    /// A monitor's source as the user wrote it (`G` or `G[0:10]`).
    fn source_text(&self, r: &ast::GroupRef) -> String {
        self.source
            .get(r.span.start..r.span.end)
            .unwrap_or(&r.group.name)
            .to_string()
    }

    fn require_spikes(&mut self, g: usize, r: &ast::GroupRef) -> Result<(), Failed> {
        if self.groups[g].spikes {
            Ok(())
        } else {
            Err(self.error(
                Diagnostic::error(
                    r.span,
                    format!(
                        "group `{}` has no `threshold:`, so it never spikes",
                        r.group.name
                    ),
                )
                .with_label("no spikes to record"),
            ))
        }
    }

    fn add_array(
        &mut self,
        name: String,
        group: usize,
        len: usize,
        initial: f64,
        ty: Ty,
    ) -> ArrayId {
        let id = ArrayId(self.program.arrays.len() as u32);
        self.program.arrays.push(ArrayDecl {
            name,
            group,
            len,
            initial,
            kind: kind_of(ty),
            synapses: None,
        });
        id
    }

    /// The per-step code of an object declared after a `run`, made to run
    /// only from the step where the object is declared. Brian2 adds an
    /// object to the network where the script creates it, so a group,
    /// PoissonInput or Synapses declared between two runs must not advance,
    /// spike or act during the earlier runs. Objects declared before the
    /// first run get their code unchanged (and keep the JIT's fast paths).
    fn active_after_declaration(&self, body: Vec<Stmt>) -> Vec<Stmt> {
        if self.steps_so_far == 0 || body.is_empty() {
            return body;
        }
        // `t` is `step * dt` exactly; half a tick of margin makes the
        // comparison independent of rounding.
        let start = (self.steps_so_far as f64 - 0.5) * self.program.dt;
        vec![Stmt::If {
            cond: binary(BinaryOp::Ge, Expr::Time, c(start)),
            then: body,
        }]
    }

    fn add_kernel(
        &mut self,
        name: String,
        iteration: Iteration,
        counters: &KernelCounters,
        body: Vec<Stmt>,
    ) -> KernelId {
        let id = KernelId(self.program.kernels.len() as u32);
        self.program.kernels.push(Kernel {
            name,
            iteration,
            n_locals: counters.locals,
            body,
        });
        id
    }

    /// Parses the unit after `:` of an equation.
    fn declared_unit(&mut self, e: &ast::Expr) -> Result<(Dimension, Ty), Failed> {
        match &e.kind {
            ExprKind::Name(n) if n == "boolean" => {
                return Ok((Dimension::DIMENSIONLESS, Ty::Boolean))
            }
            ExprKind::Name(n) if n == "integer" => {
                return Ok((Dimension::DIMENSIONLESS, Ty::Integer))
            }
            _ => {}
        }
        Ok((self.unit_dim(e)?, Ty::Float))
    }

    fn unit_dim(&mut self, e: &ast::Expr) -> Result<Dimension, Failed> {
        match &e.kind {
            ExprKind::Number { value, .. } if *value == 1.0 => Ok(Dimension::DIMENSIONLESS),
            ExprKind::Name(n) => match declaration_unit(n) {
                Ok(d) => Ok(d),
                Err(msg) => {
                    let failed = self.error(Diagnostic::error(e.span, msg));
                    // A scaled unit (`mV`) is reported, but its dimension is
                    // known, so the variable stays defined and its uses are
                    // checked instead of each reported as an unknown name.
                    match rheobase_units::lookup_unit(n) {
                        Some(q) => Ok(q.dim),
                        None => Err(failed),
                    }
                }
            },
            ExprKind::Binary(ast::BinaryOp::Mul, a, b) => Ok(self.unit_dim(a)? * self.unit_dim(b)?),
            ExprKind::Binary(ast::BinaryOp::Div, a, b) => Ok(self.unit_dim(a)? / self.unit_dim(b)?),
            ExprKind::Binary(ast::BinaryOp::Pow, a, b) => {
                let base = self.unit_dim(a)?;
                let p = self.constant_value(b, Dimension::DIMENSIONLESS, "a unit's exponent")?;
                Ok(base.powf(p))
            }
            _ => Err(self.error(
                Diagnostic::error(e.span, "expected a unit such as `volt`, `siemens/metre**2`, `1`, `boolean` or `integer`")
                    .with_label("not a unit"),
            )),
        }
    }

    fn neuron_group(&mut self, g: &ast::NeuronGroupDecl) -> Result<(), Failed> {
        self.define(&g.name)?;
        let n = self.whole_number(&g.size, "a group's size")?;
        if n < 1 || n as u64 > MAX_GROUP_SIZE as u64 {
            return Err(self.error(Diagnostic::error(
                g.size.span,
                format!("a group must have between 1 and {MAX_GROUP_SIZE} neurons, not {n}"),
            )));
        }
        let size = n as usize;
        let gi = self.groups.len();
        let gname = g.name.name.clone();
        let mut scope = Scope {
            constants: self.constants.clone(),
            names: HashMap::new(),
            group_size: Some(size),
            has_element: true,
            dt: self.program.clocks[0].dt,
            indices: HashMap::from([("i".to_string(), Expr::Index(IndexSpace::Own))]),
            tables: self.tables.clone(),
            local: Constants::new(),
        };
        if let Some(ns) = &g.namespace {
            scope.local = self.namespace(ns)?;
            for (name, b) in &scope.local {
                scope.constants.insert(name.clone(), b.clone());
            }
        }
        let mut variables: Vec<(String, ArrayId)> = Vec::new();
        let mut declared: HashMap<String, Span> = HashMap::new();
        let mut failed = false;
        let has_refractory = g.refractory.is_some();

        // The refractoriness variables exist before the equations are read,
        // because `(unless refractory)` variables refer to `not_refractory`.
        let (lastspike, not_refractory) = if has_refractory {
            let ls = self.add_array(format!("{gname}.lastspike"), gi, size, -1e4, Ty::Float);
            let nr = self.add_array(
                format!("{gname}.not_refractory"),
                gi,
                size,
                1.0,
                Ty::Boolean,
            );
            (Some(ls), Some(nr))
        } else {
            (None, None)
        };
        // Pass 1: names, units, flags; arrays for parameters and state.
        struct Sub<'e> {
            eq: &'e ast::Equation,
            expr: &'e ast::Expr,
            dim: Dimension,
            ty: Ty,
            constant_over_dt: bool,
        }
        let mut subs: Vec<Sub> = Vec::new();
        let mut diffs: Vec<(&ast::Equation, &ast::Expr, ArrayId, Dimension, bool)> = Vec::new();
        for eq in &g.model {
            let name = &eq.variable;
            if let Err(d) = validate_variable_name(&name.name, name.span) {
                failed = true;
                self.error(d);
                continue;
            }
            if let Some(prev) = declared.get(&name.name) {
                let prev = *prev;
                failed = true;
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!("`{}` is defined twice in this group", name.name),
                    )
                    .with_secondary(prev, "first defined here"),
                );
                continue;
            }
            declared.insert(name.name.clone(), name.span);
            let Ok((dim, ty)) = self.declared_unit(&eq.unit) else {
                failed = true;
                continue;
            };
            let flags: Vec<String> = eq.flags.iter().map(|f| f.name.clone()).collect();
            let allowed: &[&str] = match eq.kind {
                EquationKind::Differential(_) => &["unless refractory"],
                EquationKind::Parameter => &["constant", "shared", "linked"],
                EquationKind::Subexpression(_) => &["shared", "constant over dt"],
            };
            for f in &eq.flags {
                if !allowed.contains(&f.name.as_str()) {
                    failed = true;
                    let kind = match eq.kind {
                        EquationKind::Differential(_) => "a differential equation",
                        EquationKind::Parameter => "a parameter",
                        EquationKind::Subexpression(_) => "a subexpression",
                    };
                    let list = allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.error(
                        Diagnostic::error(
                            f.span,
                            format!(
                                "the flag `{}` is not allowed on {kind} in a NeuronGroup",
                                f.name
                            ),
                        )
                        .with_note(format!("allowed here: {list}")),
                    );
                }
            }
            let shared = flags.iter().any(|f| f == "shared");
            if flags.iter().any(|f| f == "linked") {
                match self.linked_binding(&gname, Some((gi, size)), eq, dim) {
                    Ok(b) => {
                        scope.names.insert(name.name.clone(), b);
                        continue;
                    }
                    // Declared as a plain parameter below, so that the
                    // group's code is still checked without the link.
                    Err(_) => failed = true,
                }
            }
            match &eq.kind {
                EquationKind::Parameter | EquationKind::Differential(_) => {
                    if matches!(eq.kind, EquationKind::Differential(_)) && ty != Ty::Float {
                        failed = true;
                        self.error(Diagnostic::error(
                            eq.unit.span,
                            "a differential equation's variable must be a float, not boolean or integer",
                        ));
                        continue;
                    }
                    let len = if shared { 1 } else { size };
                    let array = self.add_array(format!("{gname}.{}", name.name), gi, len, 0.0, ty);
                    variables.push((name.name.clone(), array));
                    scope.names.insert(
                        name.name.clone(),
                        Binding::Variable(VariableInfo {
                            array,
                            space: if shared {
                                IndexSpace::Shared
                            } else {
                                IndexSpace::Own
                            },
                            dim,
                            ty,
                            read_only: false,
                            flags: flags.clone(),
                            conditional_write: if flags.iter().any(|f| f == "unless refractory") {
                                not_refractory
                            } else {
                                None
                            },
                        }),
                    );
                    if let EquationKind::Differential(rhs) = &eq.kind {
                        let masked =
                            flags.iter().any(|f| f == "unless refractory") && has_refractory;
                        diffs.push((eq, rhs, array, dim, masked));
                    }
                }
                EquationKind::Subexpression(e) => subs.push(Sub {
                    eq,
                    expr: e,
                    dim,
                    ty,
                    constant_over_dt: flags.iter().any(|f| f == "constant over dt"),
                }),
            }
        }
        if let (Some(ls), Some(nr)) = (lastspike, not_refractory) {
            for (name, array, dim, ty) in [
                ("lastspike", ls, Dimension::SECOND, Ty::Float),
                ("not_refractory", nr, Dimension::DIMENSIONLESS, Ty::Boolean),
            ] {
                variables.push((name.to_string(), array));
                scope.names.insert(
                    name.to_string(),
                    Binding::Variable(VariableInfo {
                        array,
                        space: IndexSpace::Own,
                        dim,
                        ty,
                        read_only: false,
                        flags: Vec::new(),
                        conditional_write: None,
                    }),
                );
            }
        }

        // Pass 2: subexpressions in dependency order.
        let sub_names: Vec<&str> = subs.iter().map(|s| s.eq.variable.name.as_str()).collect();
        let order = match topological_order(
            &subs
                .iter()
                .map(|s| (s.eq.variable.name.as_str(), s.expr))
                .collect::<Vec<_>>(),
            &sub_names,
        ) {
            Ok(o) => o,
            Err(cycle) => {
                let first = &subs[cycle[0]];
                let names = cycle
                    .iter()
                    .map(|&k| format!("`{}`", subs[k].eq.variable.name))
                    .collect::<Vec<_>>()
                    .join(" → ");
                let uses = |k: usize| {
                    let next = &subs[cycle[(k + 1) % cycle.len()]];
                    format!("uses `{}`", next.eq.variable.name)
                };
                let mut d = Diagnostic::error(
                    first.eq.variable.span,
                    format!(
                        "subexpressions depend on each other in a cycle: {names} → `{}`",
                        first.eq.variable.name
                    ),
                )
                .with_label(uses(0));
                for k in 1..cycle.len() {
                    d = d.with_secondary(subs[cycle[k]].eq.variable.span, uses(k));
                }
                self.error(d);
                return Err(Failed);
            }
        };
        let mut su = KernelCounters::default();
        let mut su_body: Vec<Stmt> = Vec::new();
        let mut constant_over_dt_stmts: Vec<Stmt> = Vec::new();
        let mut subexpression_values: Vec<(String, Typed)> = Vec::new();
        for k in order {
            let s = &subs[k];
            // A subexpression that fails is reported once; its uses see a
            // placeholder of the declared unit instead of an unknown name.
            let placeholder = Binding::Subexpression(Typed {
                expr: c(f64::NAN),
                dim: s.dim,
                ty: s.ty,
            });
            let mut checker = self.checker(&scope, &mut su, s.constant_over_dt, false);
            let Ok(t) = checker.check(s.expr) else {
                failed = true;
                scope.names.insert(s.eq.variable.name.clone(), placeholder);
                continue;
            };
            if t.dim != s.dim {
                failed = true;
                self.error(unit_mismatch(
                    self.source,
                    s.expr.span,
                    &s.eq.variable.name,
                    s.dim,
                    t.dim,
                ));
                scope.names.insert(s.eq.variable.name.clone(), placeholder);
                continue;
            }
            if exceeds_size(&t.expr, MAX_SUBEXPRESSION_NODES) {
                // Subexpressions are substituted where they are used, so a
                // chain of them that each use the previous one twice grows
                // exponentially; stop before it exhausts time and memory.
                failed = true;
                self.error(
                    Diagnostic::error(
                        s.eq.variable.span,
                        format!(
                            "subexpression `{}` is too large: with the subexpressions it uses \
                             substituted, it has more than {MAX_SUBEXPRESSION_NODES} operations",
                            s.eq.variable.name
                        ),
                    )
                    .with_note(
                        "help: simplify the chain of subexpressions, or mark one in the middle \
                         `(constant over dt)`: it is then computed once per step (and held \
                         fixed during the step) instead of substituted",
                    ),
                );
                scope.names.insert(s.eq.variable.name.clone(), placeholder);
                continue;
            }
            let t = Typed { ty: s.ty, ..t };
            let name = s.eq.variable.name.clone();
            if s.constant_over_dt {
                // Stored and computed once at the start of each step, as
                // Brian2's SubexpressionUpdater does.
                let array = self.add_array(format!("{gname}.{name}"), gi, size, 0.0, s.ty);
                constant_over_dt_stmts.push(Stmt::Store(array, IndexSpace::Own, t.expr.clone()));
                let var = Typed {
                    expr: load(array),
                    dim: t.dim,
                    ty: t.ty,
                };
                scope.names.insert(
                    name.clone(),
                    Binding::Variable(VariableInfo {
                        array,
                        space: IndexSpace::Own,
                        dim: t.dim,
                        ty: t.ty,
                        read_only: true,
                        flags: vec!["constant over dt".into()],
                        conditional_write: None,
                    }),
                );
                subexpression_values.push((name, var));
            } else {
                scope
                    .names
                    .insert(name.clone(), Binding::Subexpression(t.clone()));
                subexpression_values.push((name, t));
            }
        }

        // Refractoriness: `not_refractory` is recomputed at the start of
        // every state update, exactly as Brian2's generated code does.
        if let (Some(ref_expr), Some(ls), Some(nr)) = (&g.refractory, lastspike, not_refractory) {
            let mut checker = self.checker(&scope, &mut su, true, false);
            match checker.check(ref_expr) {
                Ok(t) if t.dim == Dimension::SECOND => {
                    // Brian2's `timestep(x, dt) = int((x + 1e-3*dt)/dt)`.
                    // The time step is fixed for the whole run, so the
                    // division becomes a multiplication by a constant: the
                    // thousandth-of-a-step shift is far larger than the
                    // rounding difference, so the step count is the same.
                    let dt = self.dt;
                    let timestep = |x: Expr| {
                        expr::unary(
                            UnaryOp::Trunc,
                            expr::mul(expr::add(x, c(1e-3 * dt)), c(1.0 / dt)),
                        )
                    };
                    let since = timestep(expr::sub(Expr::Time, load(ls)));
                    // A constant period is counted in steps once, here,
                    // with Brian2's `timestep()` arithmetic.
                    let period = match as_const(&t.expr) {
                        Some(r) if !r.is_finite() || r < 0.0 => {
                            failed = true;
                            self.error(Diagnostic::error(
                                ref_expr.span,
                                format!(
                                    "`refractory:` must be a finite duration of 0 s or more, but this is {} s",
                                    value_text(r)
                                ),
                            ));
                            c(0.0)
                        }
                        Some(r) => c(((r + 1e-3 * self.dt) / self.dt).trunc()),
                        None => timestep(t.expr),
                    };
                    su_body.push(Stmt::Store(
                        nr,
                        IndexSpace::Own,
                        binary(BinaryOp::Ge, since, period),
                    ));
                }
                Ok(t) if t.ty == Ty::Boolean => {
                    let leave = expr::unary(UnaryOp::Not, t.expr);
                    su_body.push(Stmt::Store(
                        nr,
                        IndexSpace::Own,
                        binary(BinaryOp::Or, load(nr), leave),
                    ));
                }
                Ok(t) => {
                    failed = true;
                    self.error(Diagnostic::error(
                        ref_expr.span,
                        format!(
                            "`refractory:` must be a duration (unit second) or a boolean condition, but this has unit {}",
                            dim_name(t.dim)
                        ),
                    ));
                }
                Err(_) => failed = true,
            }
        }
        su_body.extend(constant_over_dt_stmts);

        // Pass 3: differential equations.
        let (diff_scope, noise) = bind_noise(&scope, diffs.iter().map(|d| d.1), &mut su);
        let mut system = OdeSystem {
            vars: Vec::new(),
            names: Vec::new(),
            f: Vec::new(),
            g: Vec::new(),
            masked: Vec::new(),
            not_refractory: not_refractory.map(load),
            noise: noise.values().copied().collect(),
        };
        let noise_syms: Vec<expr::Sym> = noise.values().map(|&l| expr::Sym::Local(l)).collect();
        for (eq, rhs, array, dim, masked) in &diffs {
            let mut checker = self.checker(&diff_scope, &mut su, false, false);
            let Ok(t) = checker.check(rhs) else {
                failed = true;
                continue;
            };
            let want = *dim / Dimension::SECOND;
            if t.dim != want {
                failed = true;
                let mut d = unit_mismatch(
                    self.source,
                    rhs.span,
                    &format!("d{}/dt", eq.variable.name),
                    want,
                    t.dim,
                );
                if t.dim == *dim {
                    d = d.with_note(format!("help: the right-hand side has the unit of `{}` itself; divide by a time constant", eq.variable.name));
                }
                self.error(d);
                continue;
            }
            let Some(lin) = expr::linear_form(&t.expr, &noise_syms) else {
                failed = true;
                self.error(Diagnostic::error(
                    rhs.span,
                    "white noise `xi` must enter the equation linearly (as `... + sigma*xi`)",
                ));
                continue;
            };
            system.push_equation(*array, eq.variable.name.clone(), lin, *masked);
        }
        let mut method_used = None;
        if !system.vars.is_empty() && !failed {
            let method = match &g.method {
                Some(m) => match Method::from_name(&m.name) {
                    Some(m) => m,
                    None => {
                        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                        let mut d = Diagnostic::error(
                            m.span,
                            format!("unknown integration method `{}`", m.name),
                        )
                        .with_note(format!("known methods: {}", names.join(", ")));
                        if let Some(s) =
                            check::suggest(self.diagnostics.len(), &m.name, names.iter().copied())
                        {
                            d = d.with_note(format!("help: did you mean `{s}`?"));
                        }
                        return Err(self.error(d));
                    }
                },
                None => self.automatic_method(&system),
            };
            su_body.extend(noise_increments(&noise, &mut su));
            match self.integrate(method, &system, &mut su, &g.name.name) {
                Ok(mut stmts) => su_body.append(&mut stmts),
                Err(integrators::Unsupported(why)) => {
                    let span = g.method.as_ref().map_or(g.name.span, |m| m.span);
                    return Err(self.error(Diagnostic::error(
                        span,
                        format!(
                            "method `{method}` cannot integrate the equations of `{gname}`: {why}"
                        ),
                    )));
                }
            }
            method_used = Some(method.name().to_string());
        } else if g.method.is_some() && system.vars.is_empty() && !failed {
            // Brian2 ignores a method without differential equations.
        }
        if failed {
            return Err(Failed);
        }
        let su_body = self.active_after_declaration(su_body);
        let state_update = if su_body.is_empty() {
            None
        } else {
            Some(self.add_kernel(
                format!("{gname}.state_update"),
                Iteration::Range,
                &su,
                su_body,
            ))
        };

        // Threshold and reset.
        let mut spike = None;
        if let Some(thr) = &g.threshold {
            let mut counters = KernelCounters::default();
            let cond = self.condition(&scope, thr, &mut counters, "`threshold:`")?;
            let cond = match not_refractory {
                Some(nr) => binary(BinaryOp::And, cond, load(nr)),
                None => cond,
            };
            let mut then = vec![Stmt::Emit];
            if let (Some(ls), Some(nr)) = (lastspike, not_refractory) {
                then.push(Stmt::Store(ls, IndexSpace::Own, Expr::Time));
                then.push(Stmt::Store(nr, IndexSpace::Own, c(0.0)));
            }
            let body = self.active_after_declaration(vec![Stmt::If { cond, then }]);
            let condition = self.add_kernel(
                format!("{gname}.threshold"),
                Iteration::Range,
                &counters,
                body,
            );
            let effect = match &g.reset {
                Some(block) => Some(self.block_kernel(
                    &scope,
                    block,
                    format!("{gname}.reset"),
                    Iteration::List,
                    "`reset:`",
                )?),
                None => None,
            };
            spike = Some(EventPlan {
                name: "spike".into(),
                condition,
                effect,
            });
        } else if let Some(block) = &g.reset {
            return Err(self.error(
                Diagnostic::error(
                    block.span,
                    format!("`{gname}` has a `reset:` but no `threshold:`"),
                )
                .with_note("a reset runs after each spike; add a `threshold:` condition"),
            ));
        }
        let mut events = Vec::new();
        for ev in &g.events {
            if ev.name.name == "spike" {
                return Err(self.error(Diagnostic::error(
                    ev.name.span,
                    "the `spike` event is defined by `threshold:`",
                )));
            }
            let mut counters = KernelCounters::default();
            let cond =
                self.condition(&scope, &ev.condition, &mut counters, "an event condition")?;
            let body = self.active_after_declaration(vec![Stmt::If {
                cond,
                then: vec![Stmt::Emit],
            }]);
            let condition = self.add_kernel(
                format!("{gname}.event.{}", ev.name.name),
                Iteration::Range,
                &counters,
                body,
            );
            events.push(EventPlan {
                name: ev.name.name.clone(),
                condition,
                effect: None,
            });
        }
        for on in &g.on_event {
            let Some(k) = events.iter().position(|e| e.name == on.event.name) else {
                let mut d =
                    Diagnostic::error(on.event.span, format!("unknown event `{}`", on.event.name));
                if on.event.name == "spike" {
                    d = d.with_note("the effect of a spike is written as `reset:`");
                } else if events.is_empty() {
                    d = d.with_note("declare events under `events:` first");
                }
                return Err(self.error(d));
            };
            if events[k].effect.is_some() {
                return Err(self.error(Diagnostic::error(
                    on.span,
                    format!("`on_event {}` is given twice", on.event.name),
                )));
            }
            let kernel = self.block_kernel(
                &scope,
                &on.statements,
                format!("{gname}.on_event.{}", on.event.name),
                Iteration::List,
                "`on_event`",
            )?;
            events[k].effect = Some(kernel);
        }

        // Keep the subexpressions visible for monitors.
        for (name, t) in subexpression_values {
            scope.names.entry(name).or_insert(Binding::Subexpression(t));
        }
        self.program.groups.push(GroupPlan {
            name: gname.clone(),
            size,
            clock: self.clock_of(&gname),
            variables,
            method: method_used,
            state_update,
            spike: spike.clone(),
            generator: None,
            events,
        });
        self.group_order(self.program.groups.len() - 1, g.order.as_ref())?;
        self.groups.push(GroupInfo {
            name: gname.clone(),
            size,
            scope: scope.clone(),
            spikes: spike.is_some(),
        });
        if let Some(init) = &g.init {
            let kernel = self.block_kernel(
                &scope,
                init,
                format!("{gname}.init"),
                Iteration::Range,
                "`init:`",
            )?;
            self.program
                .actions
                .push(Action::Initialise { kernel, group: gi });
        }
        self.run_regularly(
            &g.run_regularly,
            &gname,
            rheobase_kernel::program::RegularTarget::Group(gi),
            &scope,
            None,
        )?;
        Ok(())
    }

    fn condition(
        &mut self,
        scope: &Scope,
        e: &ast::Expr,
        counters: &mut KernelCounters,
        what: &str,
    ) -> Result<Expr, Failed> {
        let mut checker = self.checker(scope, counters, true, false);
        let t = checker.check(e)?;
        if t.ty != Ty::Boolean {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!("{what} must be a boolean condition, such as `v > -50*mV`"),
                )
                .with_label(format!("this is {}", t.ty.describe())),
            ));
        }
        Ok(t.expr)
    }

    fn block_kernel(
        &mut self,
        scope: &Scope,
        block: &ast::Block,
        name: String,
        iteration: Iteration,
        context: &str,
    ) -> Result<KernelId, Failed> {
        self.block_kernel_within(scope, block, name, iteration, context, None)
    }

    /// [`Self::block_kernel`], run only for the neurons `start..stop` of
    /// the group when `within` gives them (code of a subgroup).
    fn block_kernel_within(
        &mut self,
        scope: &Scope,
        block: &ast::Block,
        name: String,
        iteration: Iteration,
        context: &str,
        within: Option<(usize, usize)>,
    ) -> Result<KernelId, Failed> {
        // Event code (reset, `on_event`) writes `(unless refractory)`
        // variables unconditionally, as Brian2's Resetter does.
        let is_event_code = iteration == Iteration::List;
        let mut counters = KernelCounters::default();
        let mut checker = self.checker(scope, &mut counters, true, is_event_code);
        let mut body = checker.check_block(block, context)?;
        if let Some(range) = within {
            body = only_within(body, range);
        }
        Ok(self.add_kernel(name, iteration, &counters, body))
    }

    /// The scope of code run on `G` or on a subgroup `G[a:b]`: the group,
    /// its scope and, for a subgroup, its absolute range. As in Brian2, a
    /// subgroup's code sees its own `i` (0 for its first neuron) and `N`
    /// (its size).
    fn subgroup_scope(
        &mut self,
        target: &ast::GroupRef,
    ) -> Result<(usize, Scope, Option<Within>), Failed> {
        let g = self.group_by_name(&target.group)?;
        let mut scope = self.refreshed(&self.groups[g].scope);
        if target.slice.is_none() {
            return Ok((g, scope, None));
        }
        let (_, start, stop) = self.group_ref(target)?;
        scope.indices.insert(
            "i".to_string(),
            expr::sub(Expr::Index(IndexSpace::Own), c(start as f64)),
        );
        scope.group_size = Some(stop - start);
        Ok((g, scope, Some((start, stop))))
    }

    /// Brian2's `mon.when = 'end'` or `G.order = 1` (a schedule attribute
    /// set at the top level) when `object` has no variable of that name:
    /// the error saying what to write instead.
    fn schedule_attribute(
        &self,
        object: &ast::Ident,
        attribute: &ast::Ident,
        value: &ast::Expr,
    ) -> Option<Diagnostic> {
        if attribute.name != "when" && attribute.name != "order" {
            return None;
        }
        let (name, attr) = (&object.name, &attribute.name);
        let has_variable = |scope: &Scope| scope.names.contains_key(attr);
        if let Some(g) = self.groups.iter().find(|g| &g.name == name) {
            if has_variable(&g.scope) {
                return None;
            }
        } else if let Some(si) = self.synapse_index(name) {
            if has_variable(&self.synapse_infos[si].scope) {
                return None;
            }
        }
        let span = Span::new(object.span.start, attribute.span.end);
        let written = self
            .source
            .get(value.span.start..value.span.end)
            .unwrap_or("...");
        let key =
            format!("help: write `{attr}: {written}` in the body of the declaration of `{name}`");
        let monitor = self.program.monitors.iter().find(|m| m.name() == name);
        let input = self.program.poisson_inputs.iter().any(|p| &p.name == name)
            || self.regular.iter().any(|r| r.input.as_ref() == Some(name));
        let (message, note) = match monitor {
            Some(MonitorPlan::Rate { .. }) => (
                format!("Brian2's `{name}.{attr} = ...` is not supported"),
                "a PopulationRateMonitor records in the `end` slot, at order 0, as Brian2's \
                 takes no `when=` or `order=`"
                    .to_string(),
            ),
            Some(_) => (
                format!("Brian2's `{name}.{attr} = ...` is the `{attr}:` key of the monitor"),
                key,
            ),
            None if input => (
                format!("Brian2's `{name}.{attr} = ...` is the `{attr}:` key of the PoissonInput"),
                key,
            ),
            None if self.groups.iter().any(|g| &g.name == name)
                || self.synapse_index(name).is_some() =>
            {
                (
                    format!("Brian2's `{name}.{attr} = ...` does not move the parts of `{name}`"),
                    format!(
                        "in Brian2 its state updater, thresholders and resetters take their \
                         order when `{name}` is made; write `{attr}: {written}` in the \
                         declaration of `{name}`, or set one part's, as in \
                         `{name}.state_updater.{attr} = {written}`"
                    ),
                )
            }
            None => return None,
        };
        Some(Diagnostic::error(span, message).with_note(note))
    }

    /// `NAME = G[a:b]`: the parser has put the slice in every later use of
    /// `NAME`; here the name is defined (so it clashes with any other) and
    /// the slice checked against its group, at the declaration.
    fn named_subgroup(&mut self, name: &ast::Ident, group: &ast::GroupRef) -> Result<(), Failed> {
        self.define(name)?;
        if self.synapse_index(&group.group.name).is_some() {
            return Err(self.error(Diagnostic::error(
                group.span,
                format!(
                    "`{}` is a Synapses object: a named subgroup is a slice of a NeuronGroup",
                    group.group.name
                ),
            )));
        }
        self.group_ref(group)?;
        Ok(())
    }

    fn set_variable(
        &mut self,
        group: &ast::Ident,
        variable: &ast::Ident,
        value: &ast::Expr,
        span: Span,
        selector: Option<&ast::Selector>,
    ) -> Result<(), Failed> {
        if let Some(d) = self.schedule_attribute(group, variable, value) {
            return Err(self.error(d));
        }
        if let Some(si) = self.synapse_index(&group.name) {
            let scope = self.synapse_infos[si].scope.clone();
            self.check_array_shadowing(&scope, group, value)?;
            if self.is_array(value) {
                // Brian2 writes the array in synapse order and refuses one
                // of another length. The length is checked here when the
                // number of synapses is known before they are made, and
                // otherwise when the setting runs, after the connections
                // (`Action::CheckSynapseCount`, a run-time error located at
                // this line), as Brian2 checks it.
                let count = match (self.known_synapse_count(si, true), selector) {
                    (Some(count), _) => count,
                    (None, None) => {
                        let count = self.array_length(value)?;
                        self.program.actions.push(Action::CheckSynapseCount {
                            synapses: si,
                            values: count,
                            variable: variable.name.clone(),
                        });
                        count
                    }
                    (None, Some(_)) => {
                        return Err(self.error(
                            Diagnostic::error(
                                value.span,
                                "a selection of synapses can be set from an array of values only when the number of synapses is known before the run",
                            )
                            .with_note("it is for `connect: all` (without a condition or `p=`) and `i=`/`j=` lists; otherwise set every synapse (`S.w = [...]`) or write an expression of `i` and `j`, such as `S.w[0:3] = 0.1*(i + j)`"),
                        ));
                    }
                };
                let lookup = self.array_lookup(
                    group,
                    variable,
                    value,
                    (count, values::SYNAPSE_ROW),
                    selector,
                )?;
                return self.set_synapse_variable(si, variable, &lookup, span, selector, None);
            }
            return self.set_synapse_variable(si, variable, value, span, selector, None);
        }
        let g = self.group_by_name(group)?;
        let scope = self.groups[g].scope.clone();
        self.check_array_shadowing(&scope, group, value)?;
        // An array of values (`[1, 2]*mV`, `linspace(...)`) becomes a
        // lookup of row `i`, registered before the scope is taken, and is
        // written unconditionally, as Brian2 writes a numpy array.
        let array = self.is_array(value) && !values::has_subscript(value);
        let value = &if array {
            let size = self.groups[g].size;
            self.array_lookup(group, variable, value, (size, "i"), selector)?
        } else {
            value.clone()
        };
        // `G.c = A[i]*mV`: elements of an Array, looked up per neuron,
        // and written unconditionally too, as Brian2 writes numpy's
        // `A[G.i[:]]*mV`.
        let (value, indexed) = self.neuron_subscripts(g, value, selector)?;
        let array = array || indexed;
        let value = &value;
        let mut scope = match selector {
            // `Pe.v = ...` after `Pe = P[a:b]`: the subgroup's code sees its
            // own `i` and `N`, as Brian2's does.
            Some(ast::Selector::Subgroup(slice)) => {
                let subgroup = ast::GroupRef {
                    group: group.clone(),
                    slice: Some(slice.clone()),
                    span: group.span,
                };
                self.subgroup_scope(&subgroup)?.1
            }
            _ => self.refreshed(&self.groups[g].scope),
        };
        let value = &plain_zero_in_unit(&mut scope, &variable.name, value, selector);
        match scope.names.get(&variable.name) {
            Some(Binding::Variable(info)) if info.flags.iter().any(|f| f == "linked") => {
                return Err(self.error(
                    Diagnostic::error(
                        variable.span,
                        format!(
                            "`{}` of `{}` is a linked variable and cannot be set directly",
                            variable.name, group.name
                        ),
                    )
                    .with_note("as in Brian2, set the variable it is linked to"),
                ));
            }
            Some(Binding::Variable(_)) => {}
            Some(Binding::Subexpression(_)) => {
                return Err(self.error(Diagnostic::error(
                    variable.span,
                    format!(
                        "`{}` is a subexpression of `{}` and cannot be set",
                        variable.name, group.name
                    ),
                )));
            }
            _ => {
                let mut d = Diagnostic::error(
                    variable.span,
                    format!("group `{}` has no variable `{}`", group.name, variable.name),
                );
                if let Some(s) = check::suggest(
                    self.diagnostics.len(),
                    &variable.name,
                    scope.names.keys().map(String::as_str),
                ) {
                    d = d.with_note(format!("help: did you mean `{s}`?"));
                }
                return Err(self.error(d));
            }
        }
        let block = ast::Block {
            statements: vec![ast::Statement {
                target: variable.clone(),
                op: ast::AssignOp::Assign,
                value: value.clone(),
                span,
            }],
            span,
        };
        let n = self.program.actions.len();
        let size = self.groups[g].size;
        let kernel = self.setting_kernel(
            &scope,
            &block,
            format!("{}.set.{}.{n}", group.name, variable.name),
            selector,
            Some(size),
            array,
        )?;
        self.program
            .actions
            .push(Action::Initialise { kernel, group: g });
        Ok(())
    }

    fn recorded(
        &mut self,
        g: usize,
        names: &[ast::Ident],
        prepare: &mut Vec<Stmt>,
    ) -> Result<Vec<RecordedVariable>, Failed> {
        let scope = self.groups[g].scope.clone();
        let gname = self.groups[g].name.clone();
        let size = self.groups[g].size;
        let mut out = Vec::new();
        for v in names {
            match scope.names.get(&v.name) {
                // A shared value (or one linked to a one-neuron group) is
                // recorded once for every recorded neuron, as Brian2 does
                // ("it will be recorded once for every target"): copied
                // into a per-neuron array before each recording. So is a
                // value linked through `index=`, read at each neuron's
                // source neuron.
                Some(Binding::Variable(info))
                    if matches!(info.space, IndexSpace::Shared | IndexSpace::Via(_)) =>
                {
                    let array = self.add_array(
                        format!("{gname}.{}(recorded)", v.name),
                        g,
                        size,
                        0.0,
                        info.ty,
                    );
                    prepare.push(Stmt::Store(
                        array,
                        IndexSpace::Own,
                        Expr::Load(info.array, info.space),
                    ));
                    out.push(RecordedVariable {
                        name: v.name.clone(),
                        array,
                        kind: kind_of(info.ty),
                    });
                }
                Some(Binding::Variable(info)) => {
                    out.push(RecordedVariable {
                        name: v.name.clone(),
                        array: info.array,
                        kind: kind_of(info.ty),
                    });
                }
                Some(Binding::Subexpression(t)) => {
                    let array =
                        self.add_array(format!("{gname}.{}(recorded)", v.name), g, size, 0.0, t.ty);
                    prepare.push(Stmt::Store(array, IndexSpace::Own, t.expr.clone()));
                    out.push(RecordedVariable {
                        name: v.name.clone(),
                        array,
                        kind: kind_of(t.ty),
                    });
                }
                _ => {
                    let mut d = Diagnostic::error(
                        v.span,
                        format!("group `{gname}` has no variable `{}` to record", v.name),
                    );
                    if let Some(s) = check::suggest(
                        self.diagnostics.len(),
                        &v.name,
                        scope.names.keys().map(String::as_str),
                    ) {
                        d = d.with_note(format!("help: did you mean `{s}`?"));
                    }
                    return Err(self.error(d));
                }
            }
        }
        Ok(out)
    }

    /// Refuses, at check time, what would make a monitor's archive
    /// impossible to write after the run: a name too long for a file
    /// name (`NAME.npz` and its temporary name must fit the usual
    /// 255-byte limit), a variable recorded twice, or a variable named
    /// like one of the archive's own arrays (`reserved`).
    fn archive_names(
        &mut self,
        name: &ast::Ident,
        kind: &str,
        reserved: &[&str],
        variables: &[ast::Ident],
    ) -> Result<(), Failed> {
        const MAX_MONITOR_NAME: usize = 200;
        if name.name.len() > MAX_MONITOR_NAME {
            return Err(self.error(Diagnostic::error(
                name.span,
                format!(
                    "a monitor's name becomes the name of its output file; this one is {} bytes long, more than the {MAX_MONITOR_NAME} allowed",
                    name.name.len()
                ),
            )));
        }
        for (k, v) in variables.iter().enumerate() {
            if let Some(first) = variables[..k].iter().find(|w| w.name == v.name) {
                return Err(self.error(
                    Diagnostic::error(v.span, format!("`{}` is recorded twice", v.name))
                        .with_label("recorded again here")
                        .with_secondary(first.span, "first recorded here"),
                ));
            }
            if reserved.contains(&v.name.as_str()) {
                return Err(self.error(Diagnostic::error(
                    v.span,
                    format!(
                        "{kind} cannot record a variable named `{}`, the name of an array its output already holds ({})",
                        v.name,
                        reserved.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
                    ),
                ).with_note("help: rename the variable in the group's equations")));
            }
        }
        Ok(())
    }

    fn spike_monitor(&mut self, m: &ast::SpikeMonitorDecl) -> Result<(), Failed> {
        self.define(&m.name)?;
        let kind = match m.event {
            Some(_) => "an EventMonitor",
            None => "a SpikeMonitor",
        };
        self.archive_names(&m.name, kind, &["i", "t", "count"], &m.variables)?;
        let (g, start, stop) = self.group_ref(&m.source)?;
        let event = match &m.event {
            // Brian2's `EventMonitor(G, 'spike')` is a SpikeMonitor.
            Some(e) if e.name == "spike" => {
                self.require_spikes(g, &m.source)?;
                None
            }
            Some(e) => {
                let group = &self.program.groups[g];
                match group.events.iter().position(|x| x.name == e.name) {
                    Some(index) => Some(MonitoredEvent {
                        index,
                        before_evaluation: m.source.slice.is_some(),
                    }),
                    None => {
                        let names = group.events.iter().map(|x| x.name.as_str());
                        let mut d = Diagnostic::error(
                            e.span,
                            format!("`{}` has no event `{}`", group.name, e.name),
                        );
                        d = match check::suggest(self.diagnostics.len(), &e.name, names) {
                            Some(s) => d.with_note(format!("help: did you mean `{s}`?")),
                            None if group.events.is_empty() => d.with_note(format!(
                                "`{}` declares no custom events; declare one under its \
                                 `events:`, e.g. `custom: v > 0.5`",
                                group.name
                            )),
                            None => d.with_note(format!(
                                "its events are `spike`, {}",
                                group
                                    .events
                                    .iter()
                                    .map(|x| format!("`{}`", x.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        };
                        return Err(self.error(d));
                    }
                }
            }
            None => {
                self.require_spikes(g, &m.source)?;
                None
            }
        };
        let mut prepare = Vec::new();
        let variables = self.recorded(g, &m.variables, &mut prepare)?;
        if !prepare.is_empty() {
            return Err(self.error(Diagnostic::error(
                m.span,
                format!("{kind} can record state variables, but not subexpressions, at event time (yet)"),
            )));
        }
        let schedule = self.event_monitor_schedule(m, kind, g, event.as_ref())?;
        let record = match m.record.as_ref().map(|r| (&r.kind, r.span)) {
            None => true,
            Some((ExprKind::Bool(b), _)) => *b,
            Some((_, span)) => {
                let text = self.source.get(span.start..span.end).unwrap_or("");
                return Err(self.error(
                    Diagnostic::error(
                        span,
                        format!("`record:` of {kind} is `True` or `False`, but it is `{text}`"),
                    )
                    .with_note(
                        "Brian2's `record=False` keeps only the counts (and the `variables:`), \
                         not each event's `i` and `t`",
                    ),
                ));
            }
        };
        self.program.monitors.push(MonitorPlan::Spike {
            record,
            name: m.name.name.clone(),
            group: g,
            start,
            stop,
            variables,
            event,
            schedule,
            from_step: self.steps_so_far,
        });
        Ok(())
    }

    /// Brian2's `when=`/`order=` of a SpikeMonitor or EventMonitor, when
    /// they move it from its default place (right after its event's
    /// thresholder): its slot, order and the span of `when:`. As in Brian2,
    /// `order:` needs `when:`, and without `order:` a `when:` means order 0.
    fn event_monitor_schedule(
        &mut self,
        m: &ast::SpikeMonitorDecl,
        kind: &str,
        g: usize,
        event: Option<&MonitoredEvent>,
    ) -> Result<Option<Slot>, Failed> {
        // The default place: the thresholder's slot, its order + 1, as
        // the thresholder is placed when the monitor is made (`thresholds`
        // for spikes, `after_thresholds` for custom events; a subgroup's
        // EventMonitor follows the subgroup, at `thresholds` and its
        // group's order + 2).
        let default = match event {
            None => Some(Slot::new(Slot::THRESHOLDS, 1)),
            Some(e) if !e.before_evaluation => Some(Slot::new(Slot::AFTER_THRESHOLDS, 1)),
            Some(_) => None,
        };
        match (&m.when, &m.order) {
            (None, None) => Ok(match (default, event) {
                (Some(default), _) => {
                    let thresholder = self.part_place(Part::Thresholder(g, event.map(|e| e.index)));
                    let place = Slot::new(thresholder.when, thresholder.order + 1);
                    (place != default).then_some(place)
                }
                (None, _) => {
                    let order = self.object_order(&self.program.groups[g].name.clone());
                    (order != 0).then_some(Slot::new(Slot::THRESHOLDS, order + 2))
                }
            }),
            (None, Some(order)) => Err(self.error(
                Diagnostic::error(
                    order.span,
                    format!("{kind} given `order:` needs `when:` too"),
                )
                .with_note(
                    "Brian2 raises \"Cannot specify order if when is not specified\": \
                     without `when=` the monitor runs right after its event's thresholder",
                )
                .with_note(format!(
                    "write the slot as well, e.g. `when: {}`",
                    if event.is_some() {
                        "after_thresholds"
                    } else {
                        "thresholds"
                    }
                )),
            )),
            (when, order) => {
                let (slot, order, _) =
                    self.when_order(when.as_ref(), order.as_ref(), m.name.span)?;
                let placed = Slot::new(slot as u8, order);
                Ok((default != Some(placed)).then_some(placed))
            }
        }
    }

    /// The bounds and step of a `record: a:b[:step]` range (`b` excluded,
    /// as in Python's `range`).
    fn record_range(
        &mut self,
        a: &ast::Expr,
        b: &ast::Expr,
        step: Option<&ast::Expr>,
    ) -> Result<(i64, i64, usize), Failed> {
        let a = self.whole_number(a, "a range bound")?;
        let b = self.whole_number(b, "a range bound")?;
        let k = match step {
            None => 1,
            Some(e) => {
                let k = self.whole_number(e, "a range's step")?;
                if k < 1 {
                    return Err(self.error(Diagnostic::error(
                        e.span,
                        format!("a recorded range's step must be positive, not {k}"),
                    )));
                }
                k as usize
            }
        };
        Ok((a, b, k))
    }

    fn state_monitor(&mut self, m: &ast::StateMonitorDecl) -> Result<(), Failed> {
        // Brian2's `when=`/`order=`: placed in the schedule once the whole
        // file is known; the default (`start`, 0) is the usual place.
        let schedule = match (&m.when, &m.order) {
            (None, None) => None,
            (when, order) => {
                let (slot, order, _) =
                    self.when_order(when.as_ref(), order.as_ref(), m.name.span)?;
                Some(Slot::new(slot as u8, order)).filter(|&s| s != Slot::new(Slot::START, 0))
            }
        };
        self.state_monitor_plan(m)?;
        if let Some(MonitorPlan::State { schedule: s, .. }) = self.program.monitors.last_mut() {
            *s = schedule;
        }
        Ok(())
    }

    /// How many ticks apart a StateMonitor records: its own `dt:`
    /// (Brian2's `dt=`, a clock of its own), else every tick of its
    /// source's clock, as Brian2's StateMonitor runs on `source.clock`.
    pub(super) fn monitor_every(
        &mut self,
        m: &ast::StateMonitorDecl,
        source_clock: usize,
    ) -> Result<u64, Failed> {
        let tick = self.program.dt;
        let (mdt, span) = match (&m.dt, &m.clock) {
            (Some(e), _) => (
                self.constant_value(e, Dimension::SECOND, "a monitor's `dt`")?,
                e.span,
            ),
            // A `clock:` naming no Clock was reported ahead.
            (None, Some(c)) => (*self.clock_dts.get(&c.name).ok_or(Failed)?, c.span),
            (None, None) => return Ok(self.program.clocks[source_clock].every),
        };
        let ratio = mdt / tick;
        let r = ratio.round();
        if r < 1.0 || (ratio - r).abs() > 1e-6 * r {
            return Err(self.error(Diagnostic::error(span, format!("a monitor's `dt` must be a whole multiple of the simulation step ({tick} s), but it is {mdt} s"))));
        }
        Ok(r as u64)
    }

    fn state_monitor_plan(&mut self, m: &ast::StateMonitorDecl) -> Result<(), Failed> {
        self.define(&m.name)?;
        self.archive_names(&m.name, "a StateMonitor", &["t", "record"], &m.variables)?;
        if let Some(si) = self.synapse_index(&m.source.group.name) {
            return self.synapse_state_monitor(si, m);
        }
        let (g, start, stop) = self.group_ref(&m.source)?;
        if m.variables.is_empty() {
            return Err(self.error(Diagnostic::error(
                m.name.span,
                "a StateMonitor needs `variables:` (e.g. `variables: v`)",
            )));
        }
        let mut prepare = Vec::new();
        let variables = self.recorded(g, &m.variables, &mut prepare)?;
        let len = stop - start;
        let record: Vec<usize> = match &m.record {
            None => {
                return Err(self.error(Diagnostic::error(
                    m.name.span,
                    "a StateMonitor needs `record:` (`all`, a list `0, 5, 9`, or a range `0:100`)",
                )));
            }
            Some(ast::Record::All(_)) => (0..len).collect(),
            Some(ast::Record::Pairs { synapses, span, .. }) => {
                let source = self.source_text(&m.source);
                let s = &synapses.name;
                return Err(self.error(
                    Diagnostic::error(
                        *span,
                        format!(
                            "`{s}[...]` selects synapses, but this monitor records the neurons of \
                             `{source}` (a StateMonitor of `{s}` records its synapses)"
                        ),
                    )
                    .with_label("synapse indexing on a NeuronGroup monitor")
                    .with_secondary(m.source.span, "the recorded group"),
                ));
            }
            Some(ast::Record::List(items)) => {
                let mut out = Vec::new();
                for e in items {
                    let k = self.whole_number(e, "a recorded index")?;
                    if k < 0 || k as usize >= len {
                        let source = self.source_text(&m.source);
                        return Err(self.error(
                            Diagnostic::error(
                                e.span,
                                format!(
                                    "index {k} is out of range: `{source}` has {len} neurons (0 to {})",
                                    len - 1
                                ),
                            )
                            .with_label(format!("not a neuron of `{source}`"))
                            .with_secondary(m.source.span, "the recorded group"),
                        ));
                    }
                    out.push(k as usize);
                }
                out
            }
            Some(ast::Record::Range {
                start: a,
                stop: b,
                step,
                span,
            }) => {
                let (a, b, k) = self.record_range(a, b, step.as_ref())?;
                if a < 0 || b > len as i64 || a >= b {
                    return Err(self.error(Diagnostic::error(
                        *span,
                        format!(
                            "the range {a}:{b} is empty or outside the {len} neurons of `{}`",
                            self.source_text(&m.source)
                        ),
                    )));
                }
                (a as usize..b as usize).step_by(k).collect()
            }
        };
        let record = record.into_iter().map(|k| k + start).collect();
        let every = self.monitor_every(m, self.program.groups[g].clock)?;
        let prepare = if prepare.is_empty() {
            None
        } else {
            let counters = KernelCounters::default();
            Some(self.add_kernel(
                format!("{}.prepare", m.name.name),
                Iteration::Range,
                &counters,
                prepare,
            ))
        };
        self.program.monitors.push(MonitorPlan::State {
            source_start: start,
            name: m.name.name.clone(),
            group: g,
            synapses: None,
            variables,
            record,
            every,
            prepare,
            record_all_synapses: false,
            record_pairs: None,
            schedule: None,
            from_step: self.steps_so_far,
        });
        Ok(())
    }
}

/// A number as a message shows it: `inf`, `NaN`, or Rust's shortest
/// round-trip form, switching to an exponent for very large or small
/// magnitudes so that 1e300 is not printed with 300 digits.
pub(crate) fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-6) {
        // Shortest digits that read back as `v`, but a number of steps
        // computed from a huge delay (1.0000000000000001e304) is shown
        // with the digits a person would write.
        let short = format!("{v:.6e}");
        let short = match short.split_once('e') {
            Some((m, e)) => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
            None => short,
        };
        let full = format!("{v:e}");
        if full.len() <= short.len() {
            full
        } else {
            short
        }
    } else {
        format!("{v}")
    }
}

/// A TimedArray whose declaration failed has said why; every later use of
/// it would add "unknown function `ta`", which misleads (it is declared).
/// Those follow-on errors are dropped.
fn drop_failed_table_cascades(
    model: &ast::Model,
    tables: &HashMap<String, check::TableInfo>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let failed: Vec<&ast::TimedArrayDecl> = model
        .items
        .iter()
        .filter_map(|item| match item {
            Item::TimedArray(t) if !tables.contains_key(&t.name.name) => Some(t),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    diagnostics.retain(|d| {
        let Some(name) = d
            .message
            .strip_prefix("unknown function `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            return true;
        };
        !failed
            .iter()
            .any(|t| t.name.name == name && t.span.end <= d.span.start)
    });
}

/// The model's items in the order they are checked: the file's order,
/// except that the first definition of a constant or a TimedArray (or an
/// `Array`) is checked before the declarations and settings that precede
/// it since the last `run`.
///
/// Brian2 resolves the names in a group's code when a run starts, so
/// `NeuronGroup(..., 'dv/dt = -v/tau : volt')`, then `tau = 10*ms`, then
/// `run(...)` works. Moving a first definition up past objects and
/// settings changes no value: a constant's expression reads only constants
/// and tables, and nothing can have read a name before it exists (a
/// setting that did is now accepted with the value it would have had at
/// the run). It never moves past a `run`, a redefinition of a constant, a
/// `seed()` or a `defaultclock.dt` (which a definition could depend on),
/// so a name used by an earlier run is still "used before it is defined".
/// The elements `start..stop` of a group that a subgroup's code runs for.
type Within = (usize, usize);

/// `body` run only for the elements `start..stop` (of a subgroup).
fn only_within(body: Vec<Stmt>, (start, stop): Within) -> Vec<Stmt> {
    let own = || Expr::Index(IndexSpace::Own);
    vec![Stmt::If {
        cond: binary(
            BinaryOp::And,
            binary(BinaryOp::Ge, own(), c(start as f64)),
            binary(BinaryOp::Lt, own(), c(stop as f64)),
        ),
        then: body,
    }]
}

fn in_resolution_order(model: &ast::Model) -> Vec<&Item> {
    let mut defined = std::collections::HashSet::new();
    let mut order: Vec<&Item> = Vec::with_capacity(model.items.len());
    // Where the next first definition goes: after the last item it may
    // depend on or must not move past.
    let mut insert_at = 0;
    for item in &model.items {
        let first_definition = match item {
            Item::Constant { name, .. } => defined.insert(name.name.as_str()),
            Item::TimedArray(t) => defined.insert(t.name.name.as_str()),
            _ => false,
        };
        let barrier = matches!(
            item,
            Item::Run { .. }
                | Item::Seed { .. }
                | Item::SetDt { .. }
                | Item::Constant { .. }
                | Item::TimedArray(_)
        );
        if first_definition {
            order.insert(insert_at, item);
            insert_at += 1;
        } else {
            order.push(item);
            if barrier {
                insert_at = order.len();
            }
        }
    }
    order
}

/// Turns "unknown name `tau`" into "`tau` is used before it is defined"
/// when a constant of that name is defined further down the file, pointing
/// at both places: statements run in file order, as in a Python script.
fn explain_used_before_defined(model: &ast::Model, diagnostics: &mut [Diagnostic]) {
    for d in diagnostics.iter_mut() {
        let Some(name) = d
            .message
            .strip_prefix("unknown name `")
            .or_else(|| d.message.strip_prefix("unknown function `"))
            .or_else(|| d.message.strip_prefix("unknown group `"))
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue;
        };
        let later = model.items.iter().find_map(|item| match item {
            Item::Constant { name: n, .. } if n.name == name && n.span.start > d.span.start => {
                Some(n.span)
            }
            Item::TimedArray(t) if t.name.name == name && t.name.span.start > d.span.start => {
                Some(t.name.span)
            }
            Item::Subgroup { name: n, .. } if n.name == name && n.span.start > d.span.start => {
                Some(n.span)
            }
            _ => None,
        });
        if let Some(defined) = later {
            // Names in model code are resolved when a run starts (see
            // `in_resolution_order`), so such a use is an error only
            // because a run comes first: point at it.
            let run = model.items.iter().find_map(|item| match item {
                Item::Run { span, .. }
                    if span.start > d.span.start && span.end <= defined.start =>
                {
                    Some(*span)
                }
                _ => None,
            });
            let mut e = Diagnostic::error(d.span, format!("`{name}` is used before it is defined"))
                .with_label("used here");
            e = match run {
                Some(run) => e
                    .with_secondary(run, "this run needs it")
                    .with_secondary(defined, "defined later here")
                    .with_note(
                        "help: as in Brian2, names are looked up when a run starts; \
                         move the definition above this run",
                    ),
                None => e.with_secondary(defined, "defined later here").with_note(
                    "help: statements run in file order; move the definition above its first use",
                ),
            };
            *d = e;
        }
    }
}

/// The step at which a run that ends at time `t_end` stops, as Brian2's
/// `Clock._calc_timestep` computes it: the nearest step if `t_end` is within
/// 1e-4 steps of it, otherwise the next one.
pub fn end_step(t_end: f64, dt: f64) -> u64 {
    let nearest = (t_end / dt).round();
    if ((nearest * dt - t_end) / dt).abs() <= 1e-4 {
        nearest.max(0.0) as u64
    } else {
        (t_end / dt).ceil().max(0.0) as u64
    }
}

fn unit_mismatch(
    source: &str,
    span: Span,
    name: &str,
    want: Dimension,
    got: Dimension,
) -> Diagnostic {
    let text = source.get(span.start..span.end).unwrap_or("?");
    Diagnostic::error(
        span,
        format!(
            "dimension mismatch: `{name}` must have unit {}, but `{text}` has unit {}",
            dim_name(want),
            dim_name(got)
        ),
    )
    .with_label(format!("{} vs {}", dim_name(got), dim_name(want)))
}

fn validate_variable_name(name: &str, span: Span) -> Result<(), Diagnostic> {
    if name.starts_with('_') {
        return Err(Diagnostic::error(
            span,
            format!("`{name}`: names starting with `_` are reserved"),
        ));
    }
    if check::RESERVED.contains(&name)
        || name.starts_with("xi_")
        || name == "lastspike"
        || name == "not_refractory"
    {
        return Err(Diagnostic::error(
            span,
            format!("`{name}` is a reserved name and cannot be a variable"),
        ));
    }
    if check::FUNCTIONS.contains(&name) {
        return Err(Diagnostic::error(
            span,
            format!("`{name}` is the name of a function and cannot be a variable"),
        ));
    }
    if rheobase_units::lookup_unit(name).is_some() {
        return Err(Diagnostic::error(
            span,
            format!("`{name}` is the name of a unit and cannot be a variable"),
        ));
    }
    Ok(())
}

fn collect_names<'e>(e: &'e ast::Expr, out: &mut Vec<&'e str>) {
    match &e.kind {
        ExprKind::Name(n) => out.push(n),
        ExprKind::List(items) => items.iter().for_each(|x| collect_names(x, out)),
        ExprKind::Unary(_, a) => collect_names(a, out),
        ExprKind::Binary(_, a, b) => {
            collect_names(a, out);
            collect_names(b, out);
        }
        ExprKind::Call { args, .. } | ExprKind::Subscript { args, .. } => {
            args.iter().for_each(|x| collect_names(x, out))
        }
        ExprKind::Number { .. } | ExprKind::Bool(_) => {}
    }
}

/// The white-noise symbols (`xi`, `xi_NAME`) of the differential
/// equations `rhss`, each a fresh local of `counters`, and a copy of
/// `scope` in which they are bound.
fn bind_noise<'e>(
    scope: &Scope,
    rhss: impl Iterator<Item = &'e ast::Expr>,
    counters: &mut KernelCounters,
) -> (Scope, BTreeMap<String, LocalId>) {
    let mut noise: BTreeMap<String, LocalId> = BTreeMap::new();
    for rhs in rhss {
        collect_noise_names(rhs, &mut |n| {
            if !noise.contains_key(n) {
                let l = counters.fresh();
                noise.insert(n.to_string(), l);
            }
        });
    }
    let mut with_noise = scope.clone();
    for (n, &l) in &noise {
        with_noise
            .names
            .insert(n.clone(), Binding::Noise { local: l });
    }
    (with_noise, noise)
}

/// The noise increments dW = sqrt(dt)·randn(), one per noise symbol per
/// step (and element), to run before the integrator uses them.
fn noise_increments(noise: &BTreeMap<String, LocalId>, counters: &mut KernelCounters) -> Vec<Stmt> {
    noise
        .values()
        .map(|&l| {
            let draw = counters.draw();
            Stmt::SetLocal(
                l,
                expr::mul(
                    expr::unary(UnaryOp::Sqrt, Expr::Dt),
                    Expr::Rand {
                        kind: RandKind::Normal,
                        draw,
                    },
                ),
            )
        })
        .collect()
}

fn collect_noise_names(e: &ast::Expr, f: &mut dyn FnMut(&str)) {
    let mut names = Vec::new();
    collect_names(e, &mut names);
    for n in names {
        if n == "xi" || n.starts_with("xi_") {
            f(n);
        }
    }
}

/// Orders subexpressions so each comes after those it uses; on a cycle,
/// returns the indices on it.
fn topological_order(
    items: &[(&str, &ast::Expr)],
    names: &[&str],
) -> Result<Vec<usize>, Vec<usize>> {
    let deps: Vec<Vec<usize>> = items
        .iter()
        .map(|(_, e)| {
            let mut used = Vec::new();
            collect_names(e, &mut used);
            let mut d: Vec<usize> = used
                .iter()
                .filter_map(|u| names.iter().position(|n| n == u))
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; items.len()];
    let mut order = Vec::new();
    fn visit(
        k: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        stack: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match state[k] {
            2 => return Ok(()),
            1 => {
                let pos = stack.iter().position(|&s| s == k).unwrap_or(0);
                return Err(stack[pos..].to_vec());
            }
            _ => {}
        }
        state[k] = 1;
        stack.push(k);
        for &d in &deps[k] {
            visit(d, deps, state, order, stack)?;
        }
        stack.pop();
        state[k] = 2;
        order.push(k);
        Ok(())
    }
    for k in 0..items.len() {
        let mut stack = Vec::new();
        visit(k, &deps, &mut state, &mut order, &mut stack)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_step_rounds_like_brian2() {
        assert_eq!(end_step(0.1, 1e-4), 1000);
        assert_eq!(end_step(0.3, 0.1), 3);
        assert_eq!(end_step(0.00015, 1e-4), 2);
    }
}
