//! The kernel language: what the `ir` crate produces and the `jit` crate
//! compiles.
//!
//! A [`Kernel`] is a loop body run for every element (neuron or synapse) in
//! a range `[start, end)` of an iteration space. Units are gone: every value
//! is an `f64` in SI base units. Booleans are `0.0`/`1.0` and integers are
//! whole `f64` values (exact below 2^53), so the JIT needs one value type.
//!
//! Rules of the language:
//! - expressions have no side effects, except that `Rand` draws a number
//!   keyed by `(seed, stream, step, element, draw)`, so drawing is a pure
//!   function of its key and the order of evaluation does not matter;
//! - state writes are statements ([`Stmt::Store`]); a local is assigned
//!   before it is read;
//! - an array is addressed through an [`IndexSpace`], which says how the
//!   element index maps to the array index (itself, its presynaptic neuron,
//!   its postsynaptic neuron, or the single shared slot 0).
//!
//! The calling convention ([`KernelArgs`]) is shared by the JIT and the
//! runtime, and documented on the type.

pub mod program;
pub mod rng;

use std::fmt;

/// Index of a state array in [`KernelArgs::arrays`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArrayId(pub u32);

/// Index of a local (temporary) variable of one kernel invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

/// Index of a lookup table (TimedArray) in [`KernelArgs::tables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u32);

/// How the current element's index maps to the index used for an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexSpace {
    /// The element itself (neuron `i` of a group, synapse `s`).
    Own,
    /// The presynaptic neuron of synapse `s`: `pre_index[s]`.
    Pre,
    /// The postsynaptic neuron of synapse `s`: `post_index[s]`.
    Post,
    /// The single value of a shared variable: index 0.
    Shared,
    /// The element named by an index array of the own element:
    /// `arrays[a][arrays[via][i]]` (Brian2's `linked_var(A, 'v',
    /// index=...)`). The lowering checks every value of `via` is a valid
    /// index of `a` and that `via` is never written.
    Via(ArrayId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    /// Logical not: 1 if the operand is 0, else 0.
    Not,
    Abs,
    Floor,
    Ceil,
    /// Truncation toward zero (Brian2's `int()`).
    Trunc,
    Sqrt,
    Exp,
    Log,
    Log10,
    Expm1,
    Log1p,
    /// `(exp(x) - 1)/x`, 1 at 0.
    Exprel,
    Sin,
    Cos,
    Tan,
    Sinh,
    Cosh,
    Tanh,
    Arcsin,
    Arccos,
    Arctan,
    /// -1, 0 or 1.
    Sign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
    /// Python's `//`: `floor(a / b)`.
    FloorDiv,
    /// Python's `%`: result has the sign of the divisor.
    Mod,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// 1 if both operands are nonzero.
    And,
    /// 1 if either operand is nonzero.
    Or,
}

/// The distribution of a random draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandKind {
    /// Uniform on `[0, 1)`.
    Uniform,
    /// Standard normal.
    Normal,
}

/// A side-effect-free expression over `f64`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(f64),
    /// `arrays[array][index(space)]`.
    Load(ArrayId, IndexSpace),
    Local(LocalId),
    /// The index in a space as a number: `i` of a neuron (`Own`), `i` of a
    /// synapse's source (`Pre`) or `j` of its target (`Post`). Global
    /// indices: `index_offset` is added for `Own`.
    Index(IndexSpace),
    /// Current simulated time `t`, in seconds.
    Time,
    /// The time step `dt`, in seconds.
    Dt,
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `if cond != 0 { a } else { b }`; both sides are side-effect free.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A random number; `draw` distinguishes draws within one kernel and
    /// element, so that two `rand()` calls in one statement differ.
    Rand {
        kind: RandKind,
        draw: u32,
    },
    /// A binomial draw: successes in `n` trials of probability `p`, keyed
    /// like `Rand` (Brian2's `BinomialFunction`, used by PoissonInput).
    Binomial {
        n: u64,
        p: f64,
        draw: u32,
    },
    /// `table(time)` or `table(time, column)`: the value at row
    /// `trunc((time + dt/2) / table.dt)` clamped to `0..rows`, as Brian2's
    /// TimedArray does (half a simulation step of tolerance, so a row
    /// boundary that falls on a step is not missed by rounding). The column
    /// (second argument) is truncated; a column outside `0..columns` (or
    /// NaN) reads NaN, never another column (Brian2 raises an IndexError).
    Table {
        table: TableId,
        time: Box<Expr>,
        column: Option<Box<Expr>>,
    },
}

/// A statement of kernel code.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    SetLocal(LocalId, Expr),
    /// `arrays[array][index(space)] = value`.
    Store(ArrayId, IndexSpace, Expr),
    /// Runs `then` when `cond != 0`.
    If {
        cond: Expr,
        then: Vec<Stmt>,
    },
    /// Appends the current element's index (within the iteration space,
    /// without `index_offset`) to `events_out`. The kernel returns the
    /// number of indices appended.
    Emit,
}

/// How a kernel finds the elements it runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iteration {
    /// Elements `start..end`.
    Range,
    /// Elements `elements[start..end]` (e.g. the neurons that spiked).
    List,
}

/// One compiled unit: a loop body over elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// A name for messages and profiles, e.g. `P.state_update`.
    pub name: String,
    pub iteration: Iteration,
    /// Number of locals the body uses (`LocalId(0..n_locals)`).
    pub n_locals: u32,
    pub body: Vec<Stmt>,
}

/// Where a kernel finds a lookup table's values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TableDesc {
    /// Row-major `rows × columns` values.
    pub values: *const f64,
    pub rows: u64,
    pub columns: u64,
    /// Time between rows, seconds.
    pub dt: f64,
}

/// The arguments every kernel receives, by pointer.
///
/// Kernel signature: `extern "C" fn(args: *const KernelArgs) -> u64`,
/// returning the number of events emitted (0 for kernels without `Emit`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KernelArgs {
    /// State arrays, indexed by [`ArrayId`]. Each points at the first
    /// element of a contiguous `f64` array long enough for every index the
    /// kernel uses.
    pub arrays: *const *mut f64,
    /// For synapse kernels: `pre_index[s]` is the source neuron of synapse
    /// `s`. Null otherwise.
    pub pre_index: *const u32,
    /// For synapse kernels: `post_index[s]` is the target neuron. Null
    /// otherwise.
    pub post_index: *const u32,
    /// For [`Iteration::List`]: the element indices. Null otherwise.
    pub elements: *const u32,
    /// First position (inclusive) in the range or list.
    pub start: u64,
    /// Last position (exclusive).
    pub end: u64,
    /// Destination of [`Stmt::Emit`]; room for `end - start` indices.
    pub events_out: *mut u32,
    pub tables: *const TableDesc,
    pub t: f64,
    pub dt: f64,
    /// The step number (`t = step * dt` up to rounding); part of the random
    /// key.
    pub step: u64,
    pub seed: u64,
    /// Distinguishes the random streams of different kernels.
    pub stream: u64,
    /// Added to own indices for `Expr::Index(Own)` and for random keys, so
    /// that neuron identity is global when a group is partitioned.
    pub index_offset: u64,
}

impl Expr {
    /// The expression's direct operands, in order.
    pub fn operands(&self) -> impl Iterator<Item = &Expr> {
        let ops: [Option<&Expr>; 3] = match self {
            Expr::Unary(_, a) => [Some(a), None, None],
            Expr::Binary(_, a, b) => [Some(a), Some(b), None],
            Expr::Select(c, a, b) => [Some(c), Some(a), Some(b)],
            Expr::Table { time, column, .. } => [Some(time), column.as_deref(), None],
            Expr::Const(_)
            | Expr::Load(..)
            | Expr::Local(_)
            | Expr::Index(_)
            | Expr::Time
            | Expr::Dt
            | Expr::Rand { .. }
            | Expr::Binomial { .. } => [None, None, None],
        };
        ops.into_iter().flatten()
    }

    /// The expression with each direct operand replaced by `f` of it (the
    /// same node otherwise): the one recursion expression rewrites share.
    pub fn map_operands(&self, f: &mut impl FnMut(&Expr) -> Expr) -> Expr {
        match self {
            Expr::Unary(op, a) => Expr::Unary(*op, Box::new(f(a))),
            Expr::Binary(op, a, b) => Expr::Binary(*op, Box::new(f(a)), Box::new(f(b))),
            Expr::Select(c, a, b) => Expr::Select(Box::new(f(c)), Box::new(f(a)), Box::new(f(b))),
            Expr::Table {
                table,
                time,
                column,
            } => Expr::Table {
                table: *table,
                time: Box::new(f(time)),
                column: column.as_ref().map(|x| Box::new(f(x))),
            },
            leaf => leaf.clone(),
        }
    }

    /// Calls `f` with every array the expression loads and its index space.
    pub fn visit_loads(&self, f: &mut dyn FnMut(ArrayId, IndexSpace)) {
        if let Expr::Load(a, space) = self {
            f(*a, *space);
            // The index array is read at the own element.
            if let IndexSpace::Via(via) = space {
                f(*via, IndexSpace::Own);
            }
        }
        for e in self.operands() {
            e.visit_loads(f);
        }
    }
}

impl Kernel {
    /// Calls `f` with every array the kernel loads or stores and its index
    /// space (an array may come more than once).
    pub fn visit_arrays(&self, f: &mut dyn FnMut(ArrayId, IndexSpace)) {
        fn walk(stmts: &[Stmt], f: &mut dyn FnMut(ArrayId, IndexSpace)) {
            for stmt in stmts {
                match stmt {
                    Stmt::SetLocal(_, e) => e.visit_loads(f),
                    Stmt::Store(a, space, e) => {
                        f(*a, *space);
                        if let IndexSpace::Via(via) = space {
                            f(*via, IndexSpace::Own);
                        }
                        e.visit_loads(f);
                    }
                    Stmt::If { cond, then } => {
                        cond.visit_loads(f);
                        walk(then, f);
                    }
                    Stmt::Emit => {}
                }
            }
        }
        walk(&self.body, f);
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel {} ({:?}):", self.name, self.iteration)?;
        for stmt in &self.body {
            write_stmt(f, stmt, 1)?;
        }
        Ok(())
    }
}

fn write_stmt(f: &mut fmt::Formatter<'_>, stmt: &Stmt, depth: usize) -> fmt::Result {
    let pad = "    ".repeat(depth);
    match stmt {
        Stmt::SetLocal(l, e) => writeln!(f, "{pad}_{} = {}", l.0, e),
        Stmt::Store(a, s, e) => writeln!(f, "{pad}a{}[{:?}] = {}", a.0, s, e),
        Stmt::If { cond, then } => {
            writeln!(f, "{pad}if {cond}:")?;
            for s in then {
                write_stmt(f, s, depth + 1)?;
            }
            Ok(())
        }
        Stmt::Emit => writeln!(f, "{pad}emit"),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(c) => write!(f, "{c:?}"),
            Expr::Load(a, s) => write!(f, "a{}[{:?}]", a.0, s),
            Expr::Local(l) => write!(f, "_{}", l.0),
            Expr::Index(s) => write!(f, "index[{s:?}]"),
            Expr::Time => write!(f, "t"),
            Expr::Dt => write!(f, "dt"),
            Expr::Unary(op, a) => write!(f, "{op:?}({a})"),
            Expr::Binary(op, a, b) => write!(f, "{op:?}({a}, {b})"),
            Expr::Select(c, a, b) => write!(f, "select({c}, {a}, {b})"),
            Expr::Rand { kind, draw } => write!(f, "{kind:?}#{draw}"),
            Expr::Binomial { n, p, draw } => write!(f, "binomial({n}, {p:?})#{draw}"),
            Expr::Table {
                table,
                time,
                column,
            } => match column {
                Some(c) => write!(f, "table{}({time}, {c})", table.0),
                None => write!(f, "table{}({time})", table.0),
            },
        }
    }
}
