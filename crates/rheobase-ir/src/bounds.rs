//! The range of values an index expression can take, where it follows
//! from the neuron index alone (`i`, `i + 1`, `N - 1 - i`, `i % 3`).
//!
//! Used to refuse, at check time, a 2-D TimedArray read outside its
//! columns: Brian2 raises an IndexError there, and reading a clamped
//! column instead would silently change a value.

use rheobase_kernel::{BinaryOp, Expr, UnaryOp};

/// The smallest and largest value of `e` when `index` (the expression of
/// the neuron index) ranges over `0..=last` and nothing else varies;
/// `None` if `e` depends on anything else or is not a plain arithmetic
/// combination.
pub(crate) fn index_range(e: &Expr, index: &Expr, last: f64) -> Option<(f64, f64)> {
    if e == index {
        return Some((0.0, last));
    }
    let ordered = |a: f64, b: f64| Some((a.min(b), a.max(b)));
    match e {
        Expr::Const(v) => Some((*v, *v)),
        Expr::Unary(op, a) => {
            let (lo, hi) = index_range(a, index, last)?;
            match op {
                UnaryOp::Neg => ordered(-hi, -lo),
                UnaryOp::Floor => Some((lo.floor(), hi.floor())),
                UnaryOp::Ceil => Some((lo.ceil(), hi.ceil())),
                UnaryOp::Trunc => ordered(lo.trunc(), hi.trunc()),
                UnaryOp::Abs if lo >= 0.0 => Some((lo, hi)),
                UnaryOp::Abs if hi <= 0.0 => Some((-hi, -lo)),
                UnaryOp::Abs => Some((0.0, hi.max(-lo))),
                _ => None,
            }
        }
        Expr::Binary(op, a, b) => {
            let (alo, ahi) = index_range(a, index, last)?;
            let (blo, bhi) = index_range(b, index, last)?;
            match op {
                BinaryOp::Add => Some((alo + blo, ahi + bhi)),
                BinaryOp::Sub => Some((alo - bhi, ahi - blo)),
                BinaryOp::Mul => {
                    let p = [alo * blo, alo * bhi, ahi * blo, ahi * bhi];
                    let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    Some((lo, hi))
                }
                // Division and floor division by a positive constant keep
                // the order of values.
                BinaryOp::Div if blo == bhi && blo > 0.0 => Some((alo / blo, ahi / blo)),
                BinaryOp::FloorDiv if blo == bhi && blo > 0.0 => {
                    Some(((alo / blo).floor(), (ahi / blo).floor()))
                }
                // Python's `%` by a positive constant lies in `0..b`; the
                // bound returned is the largest whole number below `b`,
                // which is what a column index is truncated to.
                BinaryOp::Mod if blo == bhi && blo > 0.0 => {
                    if alo >= 0.0 && ahi < blo {
                        Some((alo, ahi))
                    } else if blo.fract() == 0.0 {
                        Some((0.0, blo - 1.0))
                    } else {
                        Some((0.0, blo.floor()))
                    }
                }
                BinaryOp::Min => Some((alo.min(blo), ahi.min(bhi))),
                BinaryOp::Max => Some((alo.max(blo), ahi.max(bhi))),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::index_range;
    use rheobase_kernel::{BinaryOp, Expr, IndexSpace};

    fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }

    #[test]
    fn ranges_follow_the_neuron_index() {
        let i = Expr::Index(IndexSpace::Own);
        let c = Expr::Const;
        assert_eq!(index_range(&i, &i, 3.0), Some((0.0, 3.0)));
        let plus = bin(BinaryOp::Add, i.clone(), c(1.0));
        assert_eq!(index_range(&plus, &i, 3.0), Some((1.0, 4.0)));
        let minus = bin(BinaryOp::Sub, c(3.0), i.clone());
        assert_eq!(index_range(&minus, &i, 3.0), Some((0.0, 3.0)));
        let modulo = bin(BinaryOp::Mod, i.clone(), c(2.0));
        assert_eq!(index_range(&modulo, &i, 3.0), Some((0.0, 1.0)));
        let half = bin(BinaryOp::FloorDiv, i.clone(), c(2.0));
        assert_eq!(index_range(&half, &i, 3.0), Some((0.0, 1.0)));
        let other = bin(BinaryOp::Add, i.clone(), Expr::Time);
        assert_eq!(index_range(&other, &i, 3.0), None);
    }
}
