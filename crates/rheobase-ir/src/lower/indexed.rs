//! Indexed and conditional assignment, Brian2's `G.v[0:5] = ...`,
//! `G.v[3] = ...` and `S.w['j > i'] = ...`: the setting's kernel runs over
//! every element and stores only where the selection holds.

use super::*;

impl Builder<'_> {
    /// The kernel of a setting `block` over a group (`size` neurons) or a
    /// Synapses object (`size` unknown), restricted to `selector`;
    /// `unconditional` writes refractory neurons' `(unless refractory)`
    /// variables too, as Brian2 writes a numeric array.
    pub(super) fn setting_kernel(
        &mut self,
        scope: &Scope,
        block: &ast::Block,
        name: String,
        selector: Option<&ast::Selector>,
        size: Option<usize>,
        unconditional: bool,
    ) -> Result<KernelId, Failed> {
        let mut counters = KernelCounters::default();
        let mut checker = self.checker(scope, &mut counters, true, unconditional);
        let body = checker.check_block(block, "a setting")?;
        let cond = match selector {
            None => None,
            Some(ast::Selector::Condition(e)) => {
                let mut checker = self.checker(scope, &mut counters, true, false);
                let t = checker.check(e)?;
                if t.ty != Ty::Boolean {
                    return Err(self.error(
                        Diagnostic::error(
                            e.span,
                            "the selection must be a boolean condition, such as `'i > 5'`",
                        )
                        .with_label(format!("this is {}", t.ty.describe())),
                    ));
                }
                Some(t.expr)
            }
            Some(ast::Selector::Index(e)) => {
                let k = self.element_index(e, size)?;
                Some(binary(
                    BinaryOp::Eq,
                    Expr::Index(IndexSpace::Own),
                    c(k as f64),
                ))
            }
            Some(ast::Selector::Slice(s) | ast::Selector::Subgroup(s)) => {
                let lo = match &s.start {
                    None => 0,
                    Some(e) => self.element_index(e, size)?,
                };
                let hi = match (&s.stop, size) {
                    (None, Some(n)) => n as i64,
                    (None, None) => i64::MAX,
                    (Some(e), _) => self.element_index(e, size)?,
                };
                let i = Expr::Index(IndexSpace::Own);
                Some(binary(
                    BinaryOp::And,
                    binary(BinaryOp::Ge, i.clone(), c(lo as f64)),
                    binary(BinaryOp::Lt, i, c(hi.min(1 << 53) as f64)),
                ))
            }
        };
        let body = match cond {
            None => body,
            Some(cond) => vec![Stmt::If { cond, then: body }],
        };
        Ok(self.add_kernel(name, Iteration::Range, &counters, body))
    }

    /// An index or slice bound: a whole constant, negative counting from
    /// the end (Python's rule) for groups, clipped to the group.
    pub(super) fn element_index(
        &mut self,
        e: &ast::Expr,
        size: Option<usize>,
    ) -> Result<i64, Failed> {
        let v = self.whole_number(e, "an index")?;
        match size {
            Some(n) => {
                let n = n as i64;
                Ok((if v < 0 { v + n } else { v }).clamp(0, n))
            }
            None if v < 0 => Err(self.error(
                Diagnostic::error(e.span, "a negative synapse index is not supported")
                    .with_note("the number of synapses is known only when they are made; give the index from the start"),
            )),
            None => Ok(v),
        }
    }
}
