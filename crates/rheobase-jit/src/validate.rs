//! Checks a kernel before code generation and records what it uses.
//!
//! Code generation assumes a valid kernel (it never fails half-way, which
//! would leave Cranelift's builder state dirty), so every condition that
//! could make it fail is checked here and reported as
//! [`JitError::InvalidKernel`].

use std::collections::BTreeSet;

use rheobase_kernel::{Expr, IndexSpace, Kernel, RandKind, Stmt};

use crate::JitError;

/// Deepest nesting of expressions and statements accepted. Translation is
/// recursive; the limit keeps a pathological kernel from overflowing the
/// stack (real kernels are a few levels deep).
pub(crate) const MAX_DEPTH: usize = 512;

/// Largest array or table id accepted (exclusive). The id becomes a
/// constant byte offset into the argument tables, which must fit in 32
/// bits.
pub(crate) const MAX_ID: u32 = 1 << 24;

/// Random draws are keyed by `element ^ (draw << 48)` (see
/// `rheobase_kernel::rng`), so draw ids must stay below 2^16 to be distinct.
pub(crate) const MAX_DRAW: u32 = 1 << 16;

/// What a kernel touches: code generation loads only these values, once,
/// before the loop.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    pub arrays: BTreeSet<u32>,
    pub tables: BTreeSet<u32>,
    pub locals: BTreeSet<u32>,
    /// `pre_index[e]` is needed.
    pub pre: bool,
    /// `post_index[e]` is needed.
    pub post: bool,
    /// `e + index_offset` is needed (`Index(Own)` or a random draw).
    pub key: bool,
    pub time: bool,
    /// `dt` is needed (`Dt`, or a table lookup).
    pub dt: bool,
    pub rand: bool,
    /// The distinct uniform and normal draws `(is_normal, draw id)`.
    pub draws: BTreeSet<(bool, u32)>,
    pub emit: bool,
}

pub(crate) fn validate(kernel: &Kernel) -> Result<Usage, JitError> {
    let mut v = Validator {
        kernel,
        usage: Usage::default(),
    };
    v.stmts(&kernel.body, 0)?;
    if max_emits(&kernel.body) > 1 {
        return Err(v.invalid(
            "`emit` can run more than once per element (events_out has room for one \
             index per element)"
                .into(),
        ));
    }
    Ok(v.usage)
}

/// The most `Emit`s one iteration can execute.
fn max_emits(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .map(|s| match s {
            Stmt::Emit => 1,
            Stmt::If { then, .. } => max_emits(then),
            Stmt::SetLocal(..) | Stmt::Store(..) => 0,
        })
        .sum()
}

struct Validator<'k> {
    kernel: &'k Kernel,
    usage: Usage,
}

impl Validator<'_> {
    fn invalid(&self, reason: String) -> JitError {
        JitError::InvalidKernel {
            kernel: self.kernel.name.clone(),
            reason,
        }
    }

    fn depth(&self, depth: usize) -> Result<(), JitError> {
        if depth > MAX_DEPTH {
            Err(self.invalid(format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn local(&mut self, id: u32) -> Result<(), JitError> {
        if id >= self.kernel.n_locals {
            return Err(self.invalid(format!(
                "local _{id} out of range (n_locals = {})",
                self.kernel.n_locals
            )));
        }
        self.usage.locals.insert(id);
        Ok(())
    }

    fn space(&mut self, space: IndexSpace) {
        match space {
            IndexSpace::Pre => self.usage.pre = true,
            IndexSpace::Post => self.usage.post = true,
            IndexSpace::Own | IndexSpace::Shared | IndexSpace::Via(_) => {}
        }
    }

    fn array(&mut self, id: u32, space: IndexSpace) -> Result<(), JitError> {
        if id >= MAX_ID {
            return Err(self.invalid(format!("array id {id} too large (limit {MAX_ID})")));
        }
        self.usage.arrays.insert(id);
        self.space(space);
        // The index array is read at the own element.
        if let IndexSpace::Via(via) = space {
            if via.0 >= MAX_ID {
                return Err(self.invalid(format!("array id {} too large (limit {MAX_ID})", via.0)));
            }
            self.usage.arrays.insert(via.0);
        }
        Ok(())
    }

    fn stmts(&mut self, stmts: &[Stmt], depth: usize) -> Result<(), JitError> {
        self.depth(depth)?;
        for stmt in stmts {
            match stmt {
                Stmt::SetLocal(l, e) => {
                    self.local(l.0)?;
                    self.expr(e, depth + 1)?;
                }
                Stmt::Store(a, space, e) => {
                    self.array(a.0, *space)?;
                    self.expr(e, depth + 1)?;
                }
                Stmt::If { cond, then } => {
                    self.expr(cond, depth + 1)?;
                    self.stmts(then, depth + 1)?;
                }
                Stmt::Emit => self.usage.emit = true,
            }
        }
        Ok(())
    }

    fn expr(&mut self, expr: &Expr, depth: usize) -> Result<(), JitError> {
        self.depth(depth)?;
        match expr {
            Expr::Const(_) => {}
            Expr::Load(a, space) => self.array(a.0, *space)?,
            Expr::Local(l) => self.local(l.0)?,
            Expr::Index(space) => match space {
                IndexSpace::Own => self.usage.key = true,
                IndexSpace::Via(_) => {
                    return Err(
                        self.invalid("an index through an index array has no number".to_string())
                    )
                }
                other => self.space(*other),
            },
            Expr::Time => self.usage.time = true,
            Expr::Dt => self.usage.dt = true,
            Expr::Unary(_, a) => self.expr(a, depth + 1)?,
            Expr::Binary(_, a, b) => {
                self.expr(a, depth + 1)?;
                self.expr(b, depth + 1)?;
            }
            Expr::Select(c, a, b) => {
                self.expr(c, depth + 1)?;
                self.expr(a, depth + 1)?;
                self.expr(b, depth + 1)?;
            }
            Expr::Rand { kind, draw } => {
                if *draw >= MAX_DRAW {
                    let k = match kind {
                        RandKind::Uniform => "uniform",
                        RandKind::Normal => "normal",
                    };
                    return Err(
                        self.invalid(format!("{k} draw id {draw} too large (limit {MAX_DRAW})"))
                    );
                }
                self.usage.rand = true;
                self.usage.key = true;
                self.usage.draws.insert((*kind == RandKind::Normal, *draw));
            }
            Expr::Binomial { n, p, draw } => {
                let limit = 1u32 << crate::runtime::BINOMIAL_DRAW_BITS;
                if *draw >= limit {
                    return Err(
                        self.invalid(format!("binomial draw id {draw} too large (limit {limit})"))
                    );
                }
                if !(0.0..=1.0).contains(p) {
                    return Err(self.invalid(format!(
                        "binomial({n}, {p}): the probability is not in [0, 1]"
                    )));
                }
                self.usage.rand = true;
                self.usage.key = true;
                // Its first number can be drawn ahead with those of the
                // other elements, like a `rand()`: the normal number of
                // the normal approximation, or the first uniform number of
                // inversion, under the same key.
                let normal = crate::runtime::binomial_normal_approximation(*n, *p).is_some();
                self.usage.draws.insert((normal, *draw));
            }
            Expr::Table {
                table,
                time,
                column,
            } => {
                if table.0 >= MAX_ID {
                    return Err(
                        self.invalid(format!("table id {} too large (limit {MAX_ID})", table.0))
                    );
                }
                self.usage.tables.insert(table.0);
                self.usage.dt = true;
                self.expr(time, depth + 1)?;
                if let Some(c) = column {
                    self.expr(c, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}
