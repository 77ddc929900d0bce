//! The owned abstract syntax tree of a `.model` file.
//!
//! Every node that a diagnostic may point at carries a [`Span`] of byte
//! offsets into the original source text. The tree knows nothing of units:
//! a unit such as `siemens*cm**-2` is just an [`Expr`] made of names,
//! numbers and operators, and it is the `ir` crate that gives it meaning.

use crate::Span;

/// The name an expression's `defaultclock.dt` becomes: not a valid
/// identifier, so no model name can collide with it.
pub const CLOCK_DT: &str = "defaultclock.dt";

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole `.model` file: top-level statements in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    pub items: Vec<Item>,
}

/// One top-level statement. They are executed in file order.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Built once per file; boxing would buy nothing.
pub enum Item {
    /// `NAME = EXPR`
    Constant {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `defaultclock.dt = EXPR`
    SetDt {
        value: Expr,
        span: Span,
    },
    /// `seed(INT)`; `seed()` (no argument) means "seed from the clock".
    Seed {
        value: Option<Expr>,
        span: Span,
    },
    /// `NAME = G[a:b]`: Brian2's `Pe = P[:3200]`, a name for a subgroup.
    /// After parsing, every later use of `NAME` as a group (a Synapses
    /// side, a monitor's source, a PoissonInput's or `run_regularly`'s
    /// target, a setting `NAME.v = ...`) is `G[a:b]` itself
    /// (`subgroups::resolve`), so later phases see only slices.
    Subgroup {
        name: Ident,
        group: GroupRef,
        span: Span,
    },
    /// `GROUP.VAR = EXPR` (not `defaultclock`).
    SetVariable {
        group: Ident,
        variable: Ident,
        value: Expr,
        span: Span,
    },
    /// `GROUP.VAR[SELECTOR] = EXPR`: Brian2's indexed and conditional
    /// assignment (`G.v[0:5] = ...`, `S.w['j > i'] = ...`).
    SetVariableWhere {
        group: Ident,
        variable: Ident,
        selector: Selector,
        value: Expr,
        span: Span,
    },
    /// `GROUP.VAR = linked_var(SOURCE.SOURCE_VAR)`: Brian2's linked
    /// variable (`VAR` is declared `(linked)` in GROUP).
    LinkVariable {
        group: Ident,
        variable: Ident,
        source: Ident,
        source_variable: Ident,
        /// Brian2's `index=`: the source element of each element of GROUP.
        index: Option<LinkIndex>,
        span: Span,
    },
    /// `OBJECT.PART.when = 'SLOT'` or `OBJECT.PART.order = N`: Brian2's
    /// schedule attribute of one part of a NeuronGroup or Synapses object
    /// (`G.state_updater.when`, `G.thresholder['spike'].order`,
    /// `G.resetter['spike'].when`, `S.pre.when`, `S.state_updater.order`).
    SetSchedule(SetSchedule),
    /// `SYNAPSES.PATHWAY.delay = EXPR`: Brian2's `S.up.delay = ...`, the
    /// delay of one named pathway of a Synapses object (`S.pre.delay` is
    /// `S.delay`).
    SetPathwayDelay {
        synapses: Ident,
        pathway: Ident,
        value: Expr,
        span: Span,
    },
    /// `run EXPR`, optionally with Brian2's `report=...` (checked by the
    /// parser: rheobase always shows a run's progress) and
    /// `report_period=EXPR` (a time, checked by the lowering).
    Run {
        duration: Expr,
        report_period: Option<Expr>,
        span: Span,
    },
    NeuronGroup(NeuronGroupDecl),
    Synapses(SynapsesDecl),
    PoissonGroup(PoissonGroupDecl),
    PoissonInput(PoissonInputDecl),
    SpikeGeneratorGroup(SpikeGeneratorDecl),
    TimedArray(TimedArrayDecl),
    /// `Clock NAME:` with `dt:` (Brian2's `Clock(dt=...)`), shared by
    /// the objects that name it in `clock:`.
    Clock(ClockDecl),
    SpikeMonitor(SpikeMonitorDecl),
    StateMonitor(StateMonitorDecl),
    PopulationRateMonitor(PopulationRateMonitorDecl),
    /// `G.run_regularly:` or `G[a:b].run_regularly:` with a block of
    /// keys: Brian2's `G.run_regularly(...)` written at the top level, on
    /// a whole group or on a subgroup (`N_exc = N[:Ne]`,
    /// `N_exc.run_regularly(...)`).
    RunRegularly {
        target: GroupRef,
        block: RunRegularly,
        span: Span,
    },
}

/// Which elements an indexed assignment sets.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// `[a:b]`, Python's slice rules.
    Slice(Slice),
    /// `[k]`: one element.
    Index(Expr),
    /// `['COND']`: the elements for which the condition holds.
    Condition(Expr),
    /// The neurons of a named subgroup (`Pe.v = ...` after `Pe = P[a:b]`):
    /// the slice's elements, whose code sees the subgroup's own `i` (0 for
    /// its first neuron) and `N` (its size), as in Brian2.
    Subgroup(Slice),
}

/// A group used as a source or target: `P` or a slice `P[a:b]` (Python
/// slice rules; either bound may be missing).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    pub group: Ident,
    pub slice: Option<Slice>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub start: Option<Expr>,
    pub stop: Option<Expr>,
    pub span: Span,
}

/// `NeuronGroup NAME(N):` and its body keys.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronGroupDecl {
    pub name: Ident,
    pub size: Expr,
    /// `dt:` (Brian2's `dt=`): the object runs on a clock of its own with
    /// this time step instead of `defaultclock`.
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    pub model: Vec<Equation>,
    pub threshold: Option<Expr>,
    pub reset: Option<Block>,
    pub refractory: Option<Expr>,
    pub method: Option<Ident>,
    pub init: Option<Block>,
    /// `events:` — custom events, `NAME: CONDITION` per line.
    pub events: Vec<EventDecl>,
    /// `on_event NAME:` blocks.
    pub on_event: Vec<OnEvent>,
    /// `run_regularly:` blocks, in file order.
    pub run_regularly: Vec<RunRegularly>,
    /// `namespace:` — `NAME = EXPR` constants of this group only (Brian2's
    /// `namespace=`), which win over the file's constants in its code.
    pub namespace: Option<Block>,
    /// `order:` — Brian2's `order=`: the order of each of its parts in
    /// its slot (default 0).
    pub order: Option<Expr>,
    pub span: Span,
}

/// `OBJECT.PART[EVENT].when = 'SLOT'` or `... .order = N` (see
/// [`Item::SetSchedule`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SetSchedule {
    pub object: Ident,
    /// `state_updater`, `thresholder`, `resetter`, or a pathway's name
    /// (`pre`, `post`, or one given with `on_pre NAME:`).
    pub part: Ident,
    /// The event in `thresholder['EVENT']` / `resetter['EVENT']`.
    pub event: Option<Ident>,
    pub value: ScheduleValue,
    /// The whole left-hand side, `OBJECT.PART[EVENT].ATTRIBUTE`.
    pub target: Span,
    pub span: Span,
}

/// The value given to `when` (a slot name, quoted or not) or `order`.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleValue {
    When(Ident),
    Order(Expr),
}

/// A `run_regularly:` block of a NeuronGroup or Synapses: Brian2's
/// `G.run_regularly(code, dt=..., when=..., order=...)`, with the keyword
/// arguments as keys.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRegularly {
    /// `code:` — the statements, run for every element.
    pub code: Option<Block>,
    /// `dt:` — how often (default: every time step).
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    /// `when:` — the schedule slot (default `start`).
    pub when: Option<Ident>,
    /// `order:` — the order within the slot (default 0).
    pub order: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventDecl {
    pub name: Ident,
    pub condition: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OnEvent {
    pub event: Ident,
    pub statements: Block,
    pub span: Span,
}

/// `Synapses NAME(SOURCE -> TARGET):` and its body keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapsesDecl {
    pub name: Ident,
    pub source: GroupRef,
    pub target: GroupRef,
    /// `dt:` (Brian2's `dt=`): the object runs on a clock of its own with
    /// this time step instead of `defaultclock`.
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    pub model: Vec<Equation>,
    /// `on_pre:` and `on_post:`: the pathways named `pre` and `post`.
    pub on_pre: Option<Block>,
    pub on_post: Option<Block>,
    /// `delay:`, the delay of the `pre` pathway.
    pub delay: Option<Expr>,
    /// `on_pre NAME:` / `on_post NAME:` blocks: named pathways (Brian2's
    /// `on_pre={'NAME': ...}`), in file order.
    pub pathways: Vec<Pathway>,
    /// `delay NAME: EXPR`: the delay of the pathway NAME.
    pub pathway_delays: Vec<(Ident, Expr)>,
    /// `on_event: EVENT`: the event that triggers every pathway (Brian2's
    /// `on_event='custom'`; default `spike`).
    pub on_event: Option<Ident>,
    /// `on_event NAME: EVENT`: the event that triggers pathway NAME.
    pub pathway_events: Vec<(Ident, Ident)>,
    pub method: Option<Ident>,
    /// Every `connect:` line, in file order; they add up.
    pub connect: Vec<Connect>,
    pub init: Option<Block>,
    /// `run_regularly:` blocks, in file order.
    pub run_regularly: Vec<RunRegularly>,
    /// `namespace:` — constants of this Synapses object only, as for a
    /// NeuronGroup (Brian2's `namespace=`).
    pub namespace: Option<Block>,
    /// `order:` — Brian2's `order=`: the order of its state updater in
    /// the `groups` slot (default 0); its pathways keep orders -1 and +1.
    pub order: Option<Expr>,
    pub span: Span,
}

/// A named pathway of a Synapses object: `on_pre NAME:` or `on_post NAME:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pathway {
    pub name: Ident,
    /// `on_post NAME:` (triggered by the target neurons).
    pub post: bool,
    pub code: Block,
    pub span: Span,
}

/// `PoissonGroup NAME(N):` with `rates:`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonGroupDecl {
    pub name: Ident,
    pub size: Expr,
    /// `dt:` (Brian2's `dt=`): the object runs on a clock of its own with
    /// this time step instead of `defaultclock`.
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    pub rates: Option<Expr>,
    /// `run_regularly:` blocks, in file order (Brian2's
    /// `P.run_regularly("rates = ...")`).
    pub run_regularly: Vec<RunRegularly>,
    pub span: Span,
}

/// `PoissonInput NAME(TARGET.VAR):` or `PoissonInput NAME(TARGET[a:b].VAR):`
/// with `N:`, `rate:`, `weight:`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonInputDecl {
    pub name: Ident,
    pub target: Ident,
    /// `TARGET[a:b]`: only the neurons of the slice get the input.
    pub slice: Option<Slice>,
    pub variable: Ident,
    pub n: Option<Expr>,
    pub rate: Option<Expr>,
    pub weight: Option<Expr>,
    /// `when:` — Brian2's schedule slot (default `synapses`).
    pub when: Option<Ident>,
    /// `order:` — the order within the slot (default 0).
    pub order: Option<Expr>,
    pub span: Span,
}

/// `SpikeGeneratorGroup NAME(N):` with `indices:`/`times:` or `file:`, and
/// optional `period:`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeGeneratorDecl {
    pub name: Ident,
    pub size: Expr,
    /// `dt:` (Brian2's `dt=`): the object runs on a clock of its own with
    /// this time step instead of `defaultclock`.
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    pub indices: Option<Expr>,
    pub times: Option<Expr>,
    pub file: Option<PathLit>,
    pub period: Option<Expr>,
    pub span: Span,
}

/// `TimedArray NAME:` with `dt:` and `values:` or `file:`; also
/// `Array NAME:` with `values:` or `file:` (`array` set): a table of
/// values indexed by neuron or synapse (`W[i, j]`), not by time.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedArrayDecl {
    pub name: Ident,
    /// Declared `Array NAME:`.
    pub array: bool,
    pub dt: Option<Expr>,
    pub values: Option<Expr>,
    pub file: Option<PathLit>,
    pub span: Span,
}

/// `Clock NAME:` (Brian2's `NAME = Clock(dt=...)`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClockDecl {
    pub name: Ident,
    pub dt: Option<Expr>,
    pub span: Span,
}

/// A file path as written after `file:` (bare or quoted), quotes removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PathLit {
    pub path: String,
    pub span: Span,
}

/// `SpikeMonitor NAME(GROUP)`, optionally with a body holding `variables:`;
/// also `EventMonitor NAME(GROUP):` with `event:` (Brian2's
/// `EventMonitor(G, 'custom', variables=...)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeMonitorDecl {
    pub name: Ident,
    pub source: GroupRef,
    pub variables: Vec<Ident>,
    /// `event:` of an EventMonitor: the custom event it records (`None`
    /// for a SpikeMonitor).
    pub event: Option<Ident>,
    /// `when:` — Brian2's schedule slot (default: the slot of the
    /// thresholder of its event).
    pub when: Option<Ident>,
    /// `order:` — the order within the slot (default: the thresholder's
    /// order + 1 without `when:`, 0 with it).
    pub order: Option<Expr>,
    /// `record:` — Brian2's `record=`: `False` keeps only the counts (and
    /// the `variables:`), not each event's `i` and `t`.
    pub record: Option<Expr>,
    pub span: Span,
}

/// `StateMonitor NAME(GROUP):` with `variables:`, `record:`, optional `dt:`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMonitorDecl {
    pub name: Ident,
    pub source: GroupRef,
    pub variables: Vec<Ident>,
    pub record: Option<Record>,
    pub dt: Option<Expr>,
    /// `clock:` (Brian2's `clock=`): the name of a `Clock` declaration
    /// whose time step the object runs on.
    pub clock: Option<Ident>,
    /// `when:` — Brian2's schedule slot (default `start`).
    pub when: Option<Ident>,
    /// `order:` — the order within the slot (default 0).
    pub order: Option<Expr>,
    pub span: Span,
}

/// `PopulationRateMonitor NAME(GROUP)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationRateMonitorDecl {
    pub name: Ident,
    pub source: GroupRef,
    pub span: Span,
}

/// The value of a StateMonitor's `record:` key.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// `all` (Brian2's `record=True`).
    All(Span),
    /// `0, 5, 9`
    List(Vec<Expr>),
    /// `a:b` or `a:b:step` — Python range semantics, `b` excluded.
    Range {
        start: Expr,
        stop: Expr,
        step: Option<Expr>,
        span: Span,
    },
    /// `S[i, :]`, `S[:, j]` or `S[i, j]`: the synapses of the monitored
    /// Synapses object `S` from source neuron `i` and/or onto target
    /// neuron `j` (`None` for `:`), in creation order, as Brian2's
    /// `record=S[i, :]`.
    Pairs {
        synapses: Ident,
        pre: Option<Expr>,
        post: Option<Expr>,
        span: Span,
    },
}

/// One line of Brian2's equation language.
#[derive(Debug, Clone, PartialEq)]
pub struct Equation {
    pub kind: EquationKind,
    /// The variable being defined (for `dv/dt`, this is `v`).
    pub variable: Ident,
    /// The unit after `:` as an expression of unit names, numbers and
    /// operators; `1`, `boolean` and `integer` are plain names/numbers here.
    pub unit: Expr,
    /// Flags in the parentheses after the unit, e.g. `unless refractory`;
    /// inner whitespace is normalised to one space.
    pub flags: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EquationKind {
    /// `dx/dt = EXPR : UNIT`
    Differential(Expr),
    /// `x = EXPR : UNIT`
    Subexpression(Expr),
    /// `x : UNIT`
    Parameter,
}

/// A sequence of statements (`reset:`, `on_pre:`, `init:`, ...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub statements: Vec<Statement>,
    pub span: Span,
}

/// `VAR OP EXPR`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub target: Ident,
    pub op: AssignOp,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    Assign,
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

/// One `connect:` line: Brian2's `Synapses.connect` arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connect {
    /// `condition='...'` or the condition as the first positional string.
    pub condition: Option<Expr>,
    /// `p=0.02` or `p='expression'`.
    pub p: Option<Expr>,
    /// `i=...`: a number, a list, or a string (expression or generator).
    pub i: Option<ConnectIndex>,
    /// `j=...`: a number, a list, or a string (expression or generator).
    pub j: Option<ConnectIndex>,
    /// `n=3` or `n='expression'`.
    pub n: Option<Expr>,
    /// `skip_if_invalid=True`.
    pub skip_if_invalid: Option<bool>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectIndex {
    /// A number or a list of numbers: `i=5`, `i=[1, 2]`.
    Values(Expr),
    /// A quoted expression, with an optional filter:
    /// `j='i'`, `j='int(i/2) if i % 2 == 0'`.
    Mapping { expr: Expr, condition: Option<Expr> },
    /// A quoted generator: `j='k for k in range(i-3, i+4) if k != i'`.
    Generator(Generator),
}

/// `EXPR for VAR in ITERABLE [if COND]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub element: Expr,
    pub variable: Ident,
    pub iterable: Iterable,
    pub condition: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Iterable {
    /// `range(stop)`, `range(start, stop)`, `range(start, stop, step)`.
    Range { args: Vec<Expr>, span: Span },
    /// `sample(stop, p=...)`, `sample(start, stop, p=...)`,
    /// `sample(..., size=...)`.
    Sample {
        args: Vec<Expr>,
        p: Option<Expr>,
        size: Option<Expr>,
        span: Span,
    },
}

/// An expression (Python syntax, as Brian2 parses it).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A numeric literal. `is_integer` is true for literals without a
    /// decimal point or exponent (`3`), which Brian2 types as integers.
    Number {
        value: f64,
        is_integer: bool,
    },
    /// `True` / `False`.
    Bool(bool),
    /// A name: a variable, a constant, a unit (`mV`), `t`, `i`, ...
    Name(String),
    /// A list literal `[1, 2.5, 7]`.
    List(Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `f(a, b)`; the function is a name (`exp`, `rand`, a TimedArray).
    Call {
        function: Ident,
        args: Vec<Expr>,
    },
    /// `W[i, j]`: an element of an `Array` (numpy indexing, as in
    /// Brian2's `S.w = W[S.i[:], S.j[:]]`).
    Subscript {
        array: Ident,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinaryOp {
    /// The operator as the user writes it, for messages.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "**",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

/// The `index=` argument of `linked_var`.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkIndex {
    /// An integer array, one source index per element (`[0, 2, 4]`,
    /// `arange(4)`).
    Array(Expr),
    /// `index='name'`: an integer variable of the linking group.
    Variable(Ident),
}
