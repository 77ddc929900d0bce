//! Every unary and binary operator, as a value and as a condition,
//! compared with the Rust (and Python) semantics it is defined by.

mod common;

use common::*;
use rheobase_jit::{exprel, CompiledKernel, Jit};
use rheobase_kernel::{BinaryOp, Expr, Iteration, Stmt, UnaryOp};

type Unary = fn(f64) -> f64;
type Binary = fn(f64, f64) -> f64;

const INPUTS: [f64; 17] = [
    -7.0,
    -3.0,
    -2.5,
    -1.0,
    -0.5,
    -0.0,
    0.0,
    1e-300,
    0.3,
    0.5,
    1.0,
    2.0,
    5.5,
    7.0,
    710.0,
    f64::INFINITY,
    f64::NAN,
];

fn run(kernel: &CompiledKernel, a: &mut [f64], b: &mut [f64]) -> Vec<f64> {
    let n = a.len();
    let mut out = vec![f64::from_bits(0xdead); n];
    let arrays = [a.as_mut_ptr(), b.as_mut_ptr(), out.as_mut_ptr()];
    let args = args(&arrays, 0, n as u64);
    // SAFETY: three arrays of n elements.
    unsafe { kernel.call(&args) };
    out
}

fn numpy_sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

fn truth(x: f64) -> bool {
    x != 0.0 // NaN is true, as in C and Python
}

fn b2f(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[test]
fn unary_ops_match_rust() {
    let ops: Vec<(UnaryOp, Unary)> = vec![
        (UnaryOp::Neg, |x| -x),
        (UnaryOp::Not, |x| b2f(!truth(x))),
        (UnaryOp::Abs, f64::abs),
        (UnaryOp::Floor, f64::floor),
        (UnaryOp::Ceil, f64::ceil),
        (UnaryOp::Trunc, f64::trunc),
        (UnaryOp::Sqrt, f64::sqrt),
        (UnaryOp::Exp, f64::exp),
        (UnaryOp::Log, f64::ln),
        (UnaryOp::Log10, f64::log10),
        (UnaryOp::Expm1, f64::exp_m1),
        (UnaryOp::Log1p, f64::ln_1p),
        (UnaryOp::Exprel, exprel),
        (UnaryOp::Sin, f64::sin),
        (UnaryOp::Cos, f64::cos),
        (UnaryOp::Tan, f64::tan),
        (UnaryOp::Sinh, f64::sinh),
        (UnaryOp::Cosh, f64::cosh),
        (UnaryOp::Tanh, f64::tanh),
        (UnaryOp::Arcsin, f64::asin),
        (UnaryOp::Arccos, f64::acos),
        (UnaryOp::Arctan, f64::atan),
        (UnaryOp::Sign, numpy_sign),
    ];
    let kernels: Vec<_> = ops
        .iter()
        .map(|(op, _)| {
            kernel(
                &format!("{op:?}"),
                Iteration::Range,
                0,
                vec![store(2, un(*op, ld(0)))],
            )
        })
        .collect();
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&kernels).unwrap();
    let mut a: Vec<f64> = INPUTS.iter().flat_map(|&x| [x, -x]).collect();
    let mut b = vec![0.0; a.len()];
    for ((op, f), k) in ops.iter().zip(&compiled) {
        let out = run(k, &mut a, &mut b);
        for (x, y) in a.iter().zip(&out) {
            // `exp` is computed inline, within 1 ulp of libm's (see
            // tests/inline_exp.rs); everything else is libm's own result.
            let ulps = if *op == UnaryOp::Exp { 1 } else { 0 };
            let close = y.to_bits().abs_diff(f(*x).to_bits()) <= ulps;
            assert!(
                same(*y, f(*x)) || close,
                "{op:?}({x}) = {y}, want {}",
                f(*x)
            );
        }
    }
    // Spot checks of the definitions.
    assert_eq!(exprel(0.0), 1.0);
    assert_eq!(numpy_sign(-0.0), 0.0);
}

/// Python's float `//` and `%` as the kernel language defines them:
/// `floor(a/b)` and `a - floor(a/b)*b`.
fn py_floordiv(a: f64, b: f64) -> f64 {
    (a / b).floor()
}
fn py_mod(a: f64, b: f64) -> f64 {
    a - (a / b).floor() * b
}

fn binary_ops() -> Vec<(BinaryOp, Binary)> {
    vec![
        (BinaryOp::Add, |a, b| a + b),
        (BinaryOp::Sub, |a, b| a - b),
        (BinaryOp::Mul, |a, b| a * b),
        (BinaryOp::Div, |a, b| a / b),
        (BinaryOp::Pow, f64::powf),
        (BinaryOp::Min, f64::min),
        (BinaryOp::Max, f64::max),
        (BinaryOp::FloorDiv, py_floordiv),
        (BinaryOp::Mod, py_mod),
        (BinaryOp::Lt, |a, b| b2f(a < b)),
        (BinaryOp::Le, |a, b| b2f(a <= b)),
        (BinaryOp::Gt, |a, b| b2f(a > b)),
        (BinaryOp::Ge, |a, b| b2f(a >= b)),
        (BinaryOp::Eq, |a, b| b2f(a == b)),
        (BinaryOp::Ne, |a, b| b2f(a != b)),
        (BinaryOp::And, |a, b| b2f(truth(a) && truth(b))),
        (BinaryOp::Or, |a, b| b2f(truth(a) || truth(b))),
    ]
}

fn pairs() -> (Vec<f64>, Vec<f64>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    for &x in &INPUTS {
        for &y in &INPUTS {
            a.push(x);
            b.push(y);
        }
    }
    (a, b)
}

#[test]
fn binary_ops_match_rust() {
    let ops = binary_ops();
    let kernels: Vec<_> = ops
        .iter()
        .map(|(op, _)| {
            kernel(
                &format!("{op:?}"),
                Iteration::Range,
                0,
                vec![store(2, bin(*op, ld(0), ld(1)))],
            )
        })
        .collect();
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&kernels).unwrap();
    let (mut a, mut b) = pairs();
    for ((op, f), k) in ops.iter().zip(&compiled) {
        let out = run(k, &mut a, &mut b);
        for i in 0..a.len() {
            let want = f(a[i], b[i]);
            assert!(
                same(out[i], want),
                "{op:?}({}, {}) = {}, want {want}",
                a[i],
                b[i],
                out[i]
            );
        }
    }
}

/// The same operators used as `If` conditions and `Select` conditions,
/// where comparisons and logic compile to flags instead of 1.0/0.0.
#[test]
fn conditions_match_values() {
    let ops = binary_ops();
    let mut kernels = Vec::new();
    for (op, _) in &ops {
        // out = 0; if op(a, b): out = 1
        kernels.push(kernel(
            &format!("if {op:?}"),
            Iteration::Range,
            0,
            vec![
                store(2, c(0.0)),
                Stmt::If {
                    cond: bin(*op, ld(0), ld(1)),
                    then: vec![store(2, c(1.0))],
                },
            ],
        ));
        // out = select(not op(a, b), -1, 1)
        kernels.push(kernel(
            &format!("select {op:?}"),
            Iteration::Range,
            0,
            vec![store(
                2,
                Expr::Select(
                    Box::new(un(UnaryOp::Not, bin(*op, ld(0), ld(1)))),
                    Box::new(c(-1.0)),
                    Box::new(c(1.0)),
                ),
            )],
        ));
    }
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&kernels).unwrap();
    let (mut a, mut b) = pairs();
    for (i, (op, f)) in ops.iter().enumerate() {
        let out_if = run(&compiled[2 * i], &mut a, &mut b);
        let out_sel = run(&compiled[2 * i + 1], &mut a, &mut b);
        for j in 0..a.len() {
            let t = truth(f(a[j], b[j]));
            assert_eq!(out_if[j], b2f(t), "if {op:?}({}, {})", a[j], b[j]);
            let want = if t { 1.0 } else { -1.0 };
            assert_eq!(out_sel[j], want, "select {op:?}({}, {})", a[j], b[j]);
        }
    }
}

#[test]
fn python_floordiv_and_mod_with_negative_operands() {
    let cases = [
        // (a, b, a // b, a % b) as Python computes them
        (7.0, 3.0, 2.0, 1.0),
        (-7.0, 3.0, -3.0, 2.0),
        (7.0, -3.0, -3.0, -2.0),
        (-7.0, -3.0, 2.0, -1.0),
        (5.5, 2.0, 2.0, 1.5),
        (-5.5, 2.0, -3.0, 0.5),
        (5.5, -2.0, -3.0, -0.5),
        (-7.0, 2.0, -4.0, 1.0),
        (7.0, -2.0, -4.0, -1.0),
        (-7.0, -2.0, 3.0, -1.0),
        (6.0, 3.0, 2.0, 0.0),
    ];
    let kernels = [
        kernel(
            "floordiv",
            Iteration::Range,
            0,
            vec![store(2, bin(BinaryOp::FloorDiv, ld(0), ld(1)))],
        ),
        kernel(
            "mod",
            Iteration::Range,
            0,
            vec![store(2, bin(BinaryOp::Mod, ld(0), ld(1)))],
        ),
    ];
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&kernels).unwrap();
    let mut a: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let mut b: Vec<f64> = cases.iter().map(|c| c.1).collect();
    let q = run(&compiled[0], &mut a, &mut b);
    let r = run(&compiled[1], &mut a, &mut b);
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(q[i], case.2, "{} // {}", case.0, case.1);
        assert_eq!(r[i], case.3, "{} % {}", case.0, case.1);
    }
}

#[test]
fn nested_expressions_and_locals() {
    // _0 = a*a; if _0 > 4: _1 = sqrt(_0) + b; out = _1 (0 where unset:
    // locals start at 0 in every iteration).
    let k = kernel(
        "nested",
        Iteration::Range,
        2,
        vec![
            set(0, mul(ld(0), ld(0))),
            Stmt::If {
                cond: bin(
                    BinaryOp::And,
                    bin(BinaryOp::Gt, local(0), c(4.0)),
                    un(UnaryOp::Not, bin(BinaryOp::Eq, ld(1), c(99.0))),
                ),
                then: vec![set(1, add(un(UnaryOp::Sqrt, local(0)), ld(1)))],
            },
            store(2, local(1)),
        ],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let mut a = vec![1.0, 3.0, -5.0, 2.0, 10.0];
    let mut b = vec![0.5, 0.5, 1.0, 7.0, 99.0];
    let out = run(&compiled, &mut a, &mut b);
    assert_eq!(out, vec![0.0, 3.5, 6.0, 0.0, 0.0]);
}

/// `x / k` for a constant `k` is computed as `x * (1/k)`: within 1 ulp of
/// the quotient, exact for powers of two, and a true division where the
/// reciprocal would hide an overflow, an underflow or a division by zero.
#[test]
fn division_by_constants() {
    let xs: Vec<f64> = (0..2001)
        .map(|i| (i as f64 - 1000.0) * 0.37e-3)
        .chain([1e308, -1e-308, 5e-324, f64::INFINITY, f64::NAN, 0.0, -0.0])
        .collect();
    let constants = [
        0.001, 0.004, 0.1, 3.0, 7.1e-3, 2.0, 0.5, 1024.0, 0.0, -0.0, 1e-310, 1e308,
    ];
    let kernels: Vec<_> = constants
        .iter()
        .map(|&k| kernel("div", Iteration::Range, 0, vec![store(2, div(ld(0), c(k)))]))
        .collect();
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&kernels).unwrap();
    let mut a = xs.clone();
    let mut b = vec![0.0; xs.len()];
    for (&k, kernel) in constants.iter().zip(&compiled) {
        let out = run(kernel, &mut a, &mut b);
        let exact = k == 0.0 || !k.is_normal() || !(1.0 / k).is_normal() || {
            let bits = k.abs().to_bits();
            bits & ((1u64 << 52) - 1) == 0
        };
        for (x, y) in xs.iter().zip(&out) {
            let want = x / k;
            let apart = y.to_bits().abs_diff(want.to_bits());
            if exact {
                assert!(same(*y, want), "{x} / {k} = {y}, want {want}");
            } else {
                assert!(same(*y, want) || apart <= 1, "{x} / {k} = {y}, want {want}");
            }
        }
    }
}
