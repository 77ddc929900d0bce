//! What a kernel body touches, found by walking it once before the run.
//!
//! The executor needs these facts to call JIT code safely and to decide
//! whether a kernel may be split across threads; computing them from the
//! body (rather than trusting the producer of the program) keeps that
//! reasoning local to this crate.

use rheobase_kernel::{ArrayId, Expr, IndexSpace, Kernel, Stmt, TableId};

/// The arrays a kernel reads and writes, and how.
#[derive(Debug, Default, Clone)]
pub(crate) struct Access {
    /// Every `(array, space)` pair read with [`Expr::Load`].
    pub loads: Vec<(ArrayId, IndexSpace)>,
    /// Every `(array, space)` pair written with [`Stmt::Store`].
    pub stores: Vec<(ArrayId, IndexSpace)>,
    /// The body contains [`Stmt::Emit`].
    pub emits: bool,
    /// The lookup tables the body reads.
    pub tables: Vec<TableId>,
    /// The body uses `Pre`/`Post` indices (needs `pre_index`/`post_index`).
    pub uses_synapse_indices: bool,
    /// The body uses the `Post` index (an array at `Post` or `Index(Post)`).
    pub uses_post: bool,
    /// The body uses the `Pre` index (an array at `Pre` or `Index(Pre)`).
    pub uses_pre: bool,
    /// A rough cost of one element, in units of about one arithmetic
    /// instruction (see [`Access::cost`]).
    pub cost: u64,
}

impl Access {
    pub fn of(kernel: &Kernel) -> Access {
        let mut access = Access::default();
        for stmt in &kernel.body {
            access.stmt(stmt);
        }
        access.cost = kernel.body.iter().map(stmt_cost).sum::<u64>().max(1);
        access.loads.sort_by_key(|(a, s)| (*a, space_rank(*s)));
        access.loads.dedup();
        access.stores.sort_by_key(|(a, s)| (*a, space_rank(*s)));
        access.stores.dedup();
        access.tables.sort_unstable();
        access.tables.dedup();
        access
    }

    /// Whether disjoint element ranges of this kernel can run at the same
    /// time without one range reading or writing what another writes.
    ///
    /// True when every write goes to the element's own slot and no array
    /// that is written is also read at another element's slot (through a
    /// shared, pre- or postsynaptic index). Then element `e` touches only
    /// index `e` of every written array, so ranges never overlap.
    pub fn chunkable(&self) -> bool {
        self.stores.iter().all(|&(array, space)| {
            space == IndexSpace::Own
                && self
                    .loads
                    .iter()
                    .all(|&(a, s)| a != array || s == IndexSpace::Own)
        })
    }

    /// Every array the kernel addresses, with the space used.
    pub fn all(&self) -> impl Iterator<Item = (ArrayId, IndexSpace)> + '_ {
        self.loads.iter().chain(self.stores.iter()).copied()
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::SetLocal(_, e) => self.expr(e),
            Stmt::Store(array, space, e) => {
                self.space(*space);
                self.stores.push((*array, *space));
                if let IndexSpace::Via(via) = space {
                    self.loads.push((*via, IndexSpace::Own));
                }
                self.expr(e);
            }
            Stmt::If { cond, then } => {
                self.expr(cond);
                for s in then {
                    self.stmt(s);
                }
            }
            Stmt::Emit => self.emits = true,
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Const(_)
            | Expr::Local(_)
            | Expr::Time
            | Expr::Dt
            | Expr::Rand { .. }
            | Expr::Binomial { .. } => {}
            Expr::Load(array, space) => {
                self.space(*space);
                self.loads.push((*array, *space));
                // The index array is read at the own element.
                if let IndexSpace::Via(via) = space {
                    self.loads.push((*via, IndexSpace::Own));
                }
            }
            Expr::Index(space) => self.space(*space),
            Expr::Table { table, .. } => {
                self.tables.push(*table);
                for e in expr.operands() {
                    self.expr(e);
                }
            }
            Expr::Unary(..) | Expr::Binary(..) | Expr::Select(..) => {
                for e in expr.operands() {
                    self.expr(e);
                }
            }
        }
    }

    fn space(&mut self, space: IndexSpace) {
        if matches!(space, IndexSpace::Pre | IndexSpace::Post) {
            self.uses_synapse_indices = true;
        }
        if space == IndexSpace::Post {
            self.uses_post = true;
        }
        if space == IndexSpace::Pre {
            self.uses_pre = true;
        }
    }
}

/// The estimated cost of one execution of `stmt`, counting both branches
/// of a conditional (thresholds are cheap either way). Memory accesses and
/// arithmetic count one; divisions and square roots a few; calls to
/// transcendental functions and random draws tens. Only the ratio of this
/// to the cost of handing work to a thread matters, so the figures need
/// to be right within a factor of two, not exact.
fn stmt_cost(stmt: &Stmt) -> u64 {
    match stmt {
        Stmt::SetLocal(_, e) => expr_cost(e),
        Stmt::Store(_, _, e) => 1 + expr_cost(e),
        Stmt::If { cond, then } => 1 + expr_cost(cond) + then.iter().map(stmt_cost).sum::<u64>(),
        Stmt::Emit => 1,
    }
}

fn expr_cost(expr: &Expr) -> u64 {
    use rheobase_kernel::{BinaryOp, UnaryOp};
    match expr {
        Expr::Const(_) | Expr::Local(_) | Expr::Time | Expr::Dt => 0,
        Expr::Load(..) | Expr::Index(_) => 1,
        Expr::Rand { .. } => 10,
        Expr::Binomial { .. } => 60,
        Expr::Unary(op, a) => {
            let own = match op {
                UnaryOp::Neg | UnaryOp::Not | UnaryOp::Abs | UnaryOp::Sign => 1,
                UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Trunc => 2,
                UnaryOp::Sqrt => 6,
                _ => 25,
            };
            own + expr_cost(a)
        }
        Expr::Binary(op, a, b) => {
            let own = match op {
                BinaryOp::Div | BinaryOp::FloorDiv | BinaryOp::Mod => 5,
                BinaryOp::Pow => 40,
                _ => 1,
            };
            own + expr_cost(a) + expr_cost(b)
        }
        Expr::Select(c, a, b) => 1 + expr_cost(c) + expr_cost(a) + expr_cost(b),
        Expr::Table { time, column, .. } => {
            6 + expr_cost(time) + column.as_deref().map_or(0, expr_cost)
        }
    }
}

/// `IndexSpace` has no `Ord`; a fixed rank lets us sort and dedup.
fn space_rank(space: IndexSpace) -> (u8, u32) {
    match space {
        IndexSpace::Own => (0, 0),
        IndexSpace::Pre => (1, 0),
        IndexSpace::Post => (2, 0),
        IndexSpace::Shared => (3, 0),
        IndexSpace::Via(via) => (4, via.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rheobase_kernel::{BinaryOp, Iteration};

    fn kernel(body: Vec<Stmt>) -> Kernel {
        Kernel {
            name: "k".into(),
            iteration: Iteration::Range,
            n_locals: 0,
            body,
        }
    }

    #[test]
    fn own_writes_are_chunkable() {
        let k = kernel(vec![Stmt::Store(
            ArrayId(0),
            IndexSpace::Own,
            Expr::Binary(
                BinaryOp::Add,
                Box::new(Expr::Load(ArrayId(0), IndexSpace::Own)),
                Box::new(Expr::Load(ArrayId(1), IndexSpace::Shared)),
            ),
        )]);
        let a = Access::of(&k);
        assert!(a.chunkable());
        assert!(!a.emits);
    }

    #[test]
    fn shared_writes_are_not_chunkable() {
        let k = kernel(vec![Stmt::Store(
            ArrayId(1),
            IndexSpace::Shared,
            Expr::Const(1.0),
        )]);
        assert!(!Access::of(&k).chunkable());
    }

    #[test]
    fn reading_a_written_array_elsewhere_is_not_chunkable() {
        let k = kernel(vec![Stmt::If {
            cond: Expr::Load(ArrayId(0), IndexSpace::Shared),
            then: vec![
                Stmt::Store(ArrayId(0), IndexSpace::Own, Expr::Const(1.0)),
                Stmt::Emit,
            ],
        }]);
        let a = Access::of(&k);
        assert!(!a.chunkable());
        assert!(a.emits);
    }
}
