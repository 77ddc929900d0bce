//! Building, folding and analysing kernel expressions.
//!
//! The checker produces [`rheobase_kernel::Expr`] trees directly; the
//! integrators then rewrite those trees (substitute a state variable by a
//! stage value, split a right-hand side into its linear parts). The
//! constructors here fold constants as they build, so that a model's
//! constants never reach the generated code as arithmetic.

use rheobase_kernel::{ArrayId, BinaryOp, Expr, IndexSpace, LocalId, UnaryOp};
use std::collections::BTreeMap;

pub fn c(v: f64) -> Expr {
    Expr::Const(v)
}

pub fn as_const(e: &Expr) -> Option<f64> {
    match e {
        Expr::Const(v) => Some(*v),
        _ => None,
    }
}

/// Evaluates a unary operation on a constant, with the kernel's semantics.
pub fn eval_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Not => f64::from(x == 0.0),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Floor => x.floor(),
        UnaryOp::Ceil => x.ceil(),
        UnaryOp::Trunc => x.trunc(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log10 => x.log10(),
        UnaryOp::Expm1 => x.exp_m1(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Exprel => {
            if x == 0.0 {
                1.0
            } else {
                x.exp_m1() / x
            }
        }
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tan => x.tan(),
        UnaryOp::Sinh => x.sinh(),
        UnaryOp::Cosh => x.cosh(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Arcsin => x.asin(),
        UnaryOp::Arccos => x.acos(),
        UnaryOp::Arctan => x.atan(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
    }
}

/// Evaluates a binary operation on constants, with the kernel's semantics.
pub fn eval_binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::FloorDiv => (a / b).floor(),
        BinaryOp::Mod => a - (a / b).floor() * b,
        BinaryOp::Lt => f64::from(a < b),
        BinaryOp::Le => f64::from(a <= b),
        BinaryOp::Gt => f64::from(a > b),
        BinaryOp::Ge => f64::from(a >= b),
        BinaryOp::Eq => f64::from(a == b),
        BinaryOp::Ne => f64::from(a != b),
        BinaryOp::And => f64::from(a != 0.0 && b != 0.0),
        BinaryOp::Or => f64::from(a != 0.0 || b != 0.0),
    }
}

pub fn unary(op: UnaryOp, a: Expr) -> Expr {
    if let Some(x) = as_const(&a) {
        return c(eval_unary(op, x));
    }
    if op == UnaryOp::Neg {
        if let Expr::Unary(UnaryOp::Neg, inner) = a {
            return *inner;
        }
    }
    Expr::Unary(op, Box::new(a))
}

pub fn binary(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    match (as_const(&a), as_const(&b)) {
        (Some(x), Some(y)) => return c(eval_binary(op, x, y)),
        // Identities that keep generated code small. They are exact in
        // IEEE arithmetic for finite operands, which is all a model's
        // state should hold.
        (Some(x), None) if x == 0.0 && op == BinaryOp::Add => return b,
        (None, Some(y)) if y == 0.0 && matches!(op, BinaryOp::Add | BinaryOp::Sub) => return a,
        (Some(x), None) if x == 1.0 && op == BinaryOp::Mul => return b,
        (None, Some(y)) if y == 1.0 && matches!(op, BinaryOp::Mul | BinaryOp::Div) => return a,
        _ => {}
    }
    Expr::Binary(op, Box::new(a), Box::new(b))
}

pub fn add(a: Expr, b: Expr) -> Expr {
    binary(BinaryOp::Add, a, b)
}
pub fn sub(a: Expr, b: Expr) -> Expr {
    binary(BinaryOp::Sub, a, b)
}
pub fn mul(a: Expr, b: Expr) -> Expr {
    binary(BinaryOp::Mul, a, b)
}
pub fn div(a: Expr, b: Expr) -> Expr {
    binary(BinaryOp::Div, a, b)
}
pub fn neg(a: Expr) -> Expr {
    unary(UnaryOp::Neg, a)
}
pub fn load(a: ArrayId) -> Expr {
    Expr::Load(a, IndexSpace::Own)
}
pub fn local(l: LocalId) -> Expr {
    Expr::Local(l)
}

/// A symbol that integrators treat as an unknown: a state variable of the
/// element being updated, or a local (noise terms are locals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sym {
    Array(ArrayId),
    Local(LocalId),
}

fn sym_of(e: &Expr) -> Option<Sym> {
    match e {
        Expr::Load(a, IndexSpace::Own) => Some(Sym::Array(*a)),
        Expr::Local(l) => Some(Sym::Local(*l)),
        _ => None,
    }
}

/// Replaces every occurrence of the symbols in `map` (and of `t`, if
/// `time` is given) in `e`.
pub fn substitute(e: &Expr, map: &BTreeMap<Sym, Expr>, time: Option<&Expr>) -> Expr {
    if let Some(s) = sym_of(e) {
        if let Some(r) = map.get(&s) {
            return r.clone();
        }
    }
    match e {
        Expr::Time => time.cloned().unwrap_or(Expr::Time),
        other => map_folding(other, &mut |x| substitute(x, map, time)),
    }
}

/// `e` with each direct operand replaced by `f` of it, folding the
/// constants a replacement makes as [`unary`] and [`binary`] do.
pub fn map_folding(e: &Expr, f: &mut impl FnMut(&Expr) -> Expr) -> Expr {
    match e {
        Expr::Unary(op, a) => unary(*op, f(a)),
        Expr::Binary(op, a, b) => {
            let a = f(a);
            binary(*op, a, f(b))
        }
        other => other.map_operands(f),
    }
}

/// Whether `e` mentions any of `syms`.
pub fn mentions(e: &Expr, syms: &[Sym]) -> bool {
    if let Some(s) = sym_of(e) {
        if syms.contains(&s) {
            return true;
        }
    }
    e.operands().any(|x| mentions(x, syms))
}

/// Whether `e` depends on the time outside of lookup tables, or draws
/// random numbers: either makes it not constant over a time step.
pub fn varies_within_step(e: &Expr) -> bool {
    match e {
        Expr::Time | Expr::Rand { .. } | Expr::Binomial { .. } => true,
        // A table is constant over its own dt, which is at least the
        // simulation step; its time argument does not count.
        Expr::Table { column, .. } => column.as_ref().is_some_and(|x| varies_within_step(x)),
        _ => e.operands().any(varies_within_step),
    }
}

/// Whether `e` draws random numbers.
pub fn draws_random(e: &Expr) -> bool {
    matches!(e, Expr::Rand { .. } | Expr::Binomial { .. }) || e.operands().any(draws_random)
}

/// An expression written as `Σ coefficient·symbol + rest`, where neither the
/// coefficients nor the rest mention the symbols.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub coefficients: BTreeMap<Sym, Expr>,
    pub rest: Expr,
}

impl Linear {
    fn constant(e: Expr) -> Linear {
        Linear {
            coefficients: BTreeMap::new(),
            rest: e,
        }
    }

    fn scale(self, k: &Expr, divide: bool) -> Linear {
        let f = |e: Expr| {
            // A part that is absent (an exact zero) stays absent, as it
            // does in sympy: `m*beta` has no rest, not a rest `0*beta`
            // (which `binary` keeps, since it is NaN for an infinite
            // `beta`).
            if as_const(&e) == Some(0.0) {
                return e;
            }
            if divide {
                div(e, k.clone())
            } else {
                mul(e, k.clone())
            }
        };
        Linear {
            coefficients: self
                .coefficients
                .into_iter()
                .map(|(s, e)| (s, f(e)))
                .collect(),
            rest: f(self.rest),
        }
    }

    fn combine(self, other: Linear, subtract: bool) -> Linear {
        let mut coefficients = self.coefficients;
        for (s, e) in other.coefficients {
            let e = if subtract { neg(e) } else { e };
            let merged = match coefficients.remove(&s) {
                Some(prev) => add(prev, e),
                None => e,
            };
            coefficients.insert(s, merged);
        }
        let rest = if subtract {
            sub(self.rest, other.rest)
        } else {
            add(self.rest, other.rest)
        };
        Linear { coefficients, rest }
    }

    /// The coefficient of `s` (zero when absent).
    pub fn coefficient(&self, s: Sym) -> Expr {
        self.coefficients.get(&s).cloned().unwrap_or(c(0.0))
    }
}

/// Splits `e` into its linear form in `syms`, or `None` when `e` is not
/// linear in them (a product of two symbols, a symbol inside a function).
pub fn linear_form(e: &Expr, syms: &[Sym]) -> Option<Linear> {
    if !mentions(e, syms) {
        return Some(Linear::constant(e.clone()));
    }
    if let Some(s) = sym_of(e) {
        // `mentions` said yes, so `s` is one of the symbols.
        let mut coefficients = BTreeMap::new();
        coefficients.insert(s, c(1.0));
        return Some(Linear {
            coefficients,
            rest: c(0.0),
        });
    }
    match e {
        Expr::Unary(UnaryOp::Neg, a) => Some(linear_form(a, syms)?.scale(&c(-1.0), false)),
        Expr::Binary(BinaryOp::Add, a, b) => {
            Some(linear_form(a, syms)?.combine(linear_form(b, syms)?, false))
        }
        Expr::Binary(BinaryOp::Sub, a, b) => {
            Some(linear_form(a, syms)?.combine(linear_form(b, syms)?, true))
        }
        Expr::Binary(BinaryOp::Mul, a, b) => {
            if !mentions(a, syms) {
                Some(linear_form(b, syms)?.scale(a, false))
            } else if !mentions(b, syms) {
                Some(linear_form(a, syms)?.scale(b, false))
            } else {
                None
            }
        }
        Expr::Binary(BinaryOp::Div, a, b) if !mentions(b, syms) => {
            Some(linear_form(a, syms)?.scale(b, true))
        }
        _ => None,
    }
}

/// Why an expression cannot be written as `A·x + B` for Brian2's
/// `exponential_euler`.
#[derive(Debug, Clone, PartialEq)]
pub enum NotConditionallyLinear {
    /// Expanded, the expression has a term in `x**power` (`x**2`, `1/x`,
    /// `sqrt(x)`); Brian2 2.9 refuses some of these and silently drops
    /// others, so they are refused here.
    Power(f64),
    /// The expression mentions `x` only inside functions (`tanh(x)/tau`),
    /// so there is no term linear in `x`: Brian2 refuses it too.
    NoLinearTerm,
}

/// An expression expanded as a polynomial in one symbol: power → the sum
/// of the coefficients of that power. Coefficients may still mention the
/// symbol inside functions (`tanh(x)`), as in sympy's `collect`.
type Poly = Vec<(f64, Expr)>;

fn poly_add(mut a: Poly, b: Poly, subtract: bool) -> Poly {
    for (p, e) in b {
        let e = if subtract { neg(e) } else { e };
        match a.iter_mut().find(|(q, _)| *q == p) {
            Some((_, prev)) => *prev = add(prev.clone(), e),
            None => a.push((p, e)),
        }
    }
    a
}

fn poly_mul(a: &Poly, b: &Poly) -> Poly {
    let mut out: Poly = Vec::new();
    for (pa, ea) in a {
        for (pb, eb) in b {
            out = poly_add(out, vec![(pa + pb, mul(ea.clone(), eb.clone()))], false);
        }
    }
    out
}

fn poly_map(a: Poly, f: impl Fn(Expr) -> Expr) -> Poly {
    a.into_iter().map(|(p, e)| (p, f(e))).collect()
}

/// Expands `e` into powers of `s` the way Brian2's `exponential_euler`
/// sees it (sympy's `expand` followed by `collect`): sums, products,
/// quotients and whole powers are multiplied out; a factor that contains
/// `s` in any other way (`tanh(s)`, `exp(s)`, `1/(s + 1)`) is a
/// coefficient of power 0. A power of `s` that is not whole (`sqrt(s)`)
/// is an error.
fn poly(e: &Expr, s: Sym) -> Result<Poly, f64> {
    if !mentions(e, &[s]) {
        return Ok(vec![(0.0, e.clone())]);
    }
    if sym_of(e) == Some(s) {
        return Ok(vec![(1.0, c(1.0))]);
    }
    // A single term `coefficient·s**p`, if `e` is one.
    let monomial = |p: &Poly| -> Option<(f64, Expr)> {
        match p.as_slice() {
            [(q, coef)] => Some((*q, coef.clone())),
            _ => None,
        }
    };
    // A power `base**k` of an expression of `s`, as sympy's `expand`
    // treats it: whole non-negative powers are multiplied out, a negative
    // or fractional power of a single term distributes over its factors,
    // and any other power is a coefficient.
    let power = |base: &Expr, k: f64| -> Result<Poly, f64> {
        let b = poly(base, s)?;
        if k.fract() == 0.0 && (0.0..=16.0).contains(&k) {
            let mut out = vec![(0.0, c(1.0))];
            for _ in 0..k as usize {
                out = poly_mul(&out, &b);
            }
            return Ok(out);
        }
        match monomial(&b) {
            Some((q, coef)) if q != 0.0 => {
                let p = q * k;
                if p.fract() != 0.0 {
                    return Err(p);
                }
                Ok(vec![(p, binary(BinaryOp::Pow, coef, c(k)))])
            }
            _ => Ok(vec![(0.0, binary(BinaryOp::Pow, base.clone(), c(k)))]),
        }
    };
    match e {
        Expr::Unary(UnaryOp::Neg, a) => Ok(poly_map(poly(a, s)?, neg)),
        Expr::Unary(UnaryOp::Sqrt, a) => match power(a, 0.5)? {
            // `sqrt` of a coefficient stays a `sqrt`.
            p if p.len() == 1 && p[0].0 == 0.0 => Ok(vec![(0.0, e.clone())]),
            p => Ok(p),
        },
        Expr::Binary(BinaryOp::Add, a, b) => Ok(poly_add(poly(a, s)?, poly(b, s)?, false)),
        Expr::Binary(BinaryOp::Sub, a, b) => Ok(poly_add(poly(a, s)?, poly(b, s)?, true)),
        Expr::Binary(BinaryOp::Mul, a, b) => Ok(poly_mul(&poly(a, s)?, &poly(b, s)?)),
        Expr::Binary(BinaryOp::Div, a, b) => {
            let num = poly(a, s)?;
            if !mentions(b, &[s]) {
                return Ok(poly_map(num, |x| div(x, (**b).clone())));
            }
            match monomial(&poly(b, s)?) {
                // `a / (k·s**q)`: every power of the numerator drops by q.
                Some((q, coef)) => Ok(num
                    .into_iter()
                    .map(|(p, x)| (p - q, div(x, coef.clone())))
                    .collect()),
                // A sum containing `s` in the denominator is a coefficient.
                None => Ok(poly_map(num, |x| div(x, (**b).clone()))),
            }
        }
        Expr::Binary(BinaryOp::Pow, a, b) => match as_const(b) {
            Some(k) => power(a, k),
            None => Ok(vec![(0.0, e.clone())]),
        },
        _ => Ok(vec![(0.0, e.clone())]),
    }
}

/// Splits `e` into `(A, B)` with `e = A·s + B`, where `A` and `B` may
/// contain `s` inside functions (Brian2's conditionally linear form,
/// evaluated at the current state by `exponential_euler`).
pub fn conditionally_linear(e: &Expr, s: Sym) -> Result<(Expr, Expr), NotConditionallyLinear> {
    if !mentions(e, &[s]) {
        return Ok((c(0.0), e.clone()));
    }
    let p = poly(e, s).map_err(NotConditionallyLinear::Power)?;
    let mut a = None;
    let mut b = c(0.0);
    for (power, coef) in p {
        if power == 0.0 {
            b = coef;
        } else if power == 1.0 {
            a = Some(coef);
        } else if as_const(&coef) != Some(0.0) {
            return Err(NotConditionallyLinear::Power(power));
        }
    }
    match a {
        Some(a) if as_const(&a) != Some(0.0) => Ok((a, b)),
        _ if mentions(&b, &[s]) => Err(NotConditionallyLinear::NoLinearTerm),
        _ => Ok((c(0.0), b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_form_of_lif() {
        // (El - v)/tau with constants folded: (0.5 - v) / 0.01
        let v = load(ArrayId(0));
        let e = div(sub(c(0.5), v), c(0.01));
        let lin = linear_form(&e, &[Sym::Array(ArrayId(0))]).unwrap();
        assert_eq!(lin.coefficient(Sym::Array(ArrayId(0))), c(-100.0));
        assert_eq!(lin.rest, c(50.0));
    }

    #[test]
    fn products_of_unknowns_are_not_linear() {
        let v = load(ArrayId(0));
        let w = load(ArrayId(1));
        let e = mul(v, w);
        let syms = [Sym::Array(ArrayId(0)), Sym::Array(ArrayId(1))];
        assert!(linear_form(&e, &syms).is_none());
        // ... but conditionally linear in one of them.
        assert!(linear_form(&e, &syms[..1]).is_some());
    }

    fn x() -> Expr {
        load(ArrayId(0))
    }
    const X: Sym = Sym::Array(ArrayId(0));

    #[test]
    fn conditionally_linear_collects_nonlinear_coefficients() {
        // -(x - 1)·(1 + tanh(x)) - x  =  (-(1 + tanh x) - 1)·x + (1 + tanh x)
        let th = unary(UnaryOp::Tanh, x());
        let one_th = add(c(1.0), th.clone());
        let e = sub(neg(mul(sub(x(), c(1.0)), one_th.clone())), x());
        let (a, b) = conditionally_linear(&e, X).unwrap();
        let at = |e: &Expr, v: f64| substitute(e, &BTreeMap::from([(X, c(v))]), None);
        for v in [-1.5f64, 0.0, 0.3, 2.0] {
            let want = -(v - 1.0) * (1.0 + v.tanh()) - v;
            let got = as_const(&at(&a, v)).unwrap() * v + as_const(&at(&b, v)).unwrap();
            assert!((got - want).abs() < 1e-12, "{v}: {got} vs {want}");
        }
        assert!(mentions(&a, &[X]) && mentions(&b, &[X]));
    }

    #[test]
    fn conditionally_linear_refuses_other_powers() {
        let sq = sub(mul(x(), x()), x());
        assert_eq!(
            conditionally_linear(&sq, X),
            Err(NotConditionallyLinear::Power(2.0))
        );
        let inv = sub(div(c(1.0), x()), x());
        assert_eq!(
            conditionally_linear(&inv, X),
            Err(NotConditionallyLinear::Power(-1.0))
        );
        let root = sub(unary(UnaryOp::Sqrt, x()), x());
        assert_eq!(
            conditionally_linear(&root, X),
            Err(NotConditionallyLinear::Power(0.5))
        );
        let only = div(unary(UnaryOp::Tanh, x()), c(0.01));
        assert_eq!(
            conditionally_linear(&only, X),
            Err(NotConditionallyLinear::NoLinearTerm)
        );
        // x / x cancels, as in sympy, and leaves no linear term.
        let cancel = div(mul(x(), unary(UnaryOp::Exp, x())), x());
        assert_eq!(
            conditionally_linear(&cancel, X),
            Err(NotConditionallyLinear::NoLinearTerm)
        );
        // A sum in the denominator is a coefficient.
        let frac = sub(div(c(1.0), add(x(), c(1.0))), x());
        assert!(conditionally_linear(&frac, X).is_ok());
    }
}
