//! The integrators on their own, against ODEs with known solutions.
//!
//! Each method's statements are evaluated by a small interpreter of the
//! kernel language (no JIT involved), so a failure here points at the
//! method itself. Convergence orders are measured from the error at two
//! step sizes.

use rheobase_ir::integrators::{integrate, Locals, Method, OdeSystem};
use rheobase_kernel::{ArrayId, BinaryOp, Expr, IndexSpace, LocalId, Stmt, UnaryOp};
use std::collections::BTreeMap;

struct Counter(u32);

impl Locals for Counter {
    fn fresh(&mut self) -> LocalId {
        self.0 += 1;
        LocalId(self.0 - 1)
    }
}

/// Evaluates a kernel expression for one element.
fn eval(e: &Expr, arrays: &[f64], locals: &[f64], t: f64, dt: f64) -> f64 {
    let ev = |x: &Expr| eval(x, arrays, locals, t, dt);
    match e {
        Expr::Const(v) => *v,
        Expr::Load(a, _) => arrays[a.0 as usize],
        Expr::Local(l) => locals[l.0 as usize],
        Expr::Time => t,
        Expr::Dt => dt,
        Expr::Unary(op, a) => rheobase_ir::expr::eval_unary(*op, ev(a)),
        Expr::Binary(op, a, b) => rheobase_ir::expr::eval_binary(*op, ev(a), ev(b)),
        Expr::Select(k, a, b) => {
            if ev(k) != 0.0 {
                ev(a)
            } else {
                ev(b)
            }
        }
        other => panic!("not used by these tests: {other}"),
    }
}

fn exec(stmts: &[Stmt], arrays: &mut [f64], locals: &mut [f64], t: f64, dt: f64) {
    for s in stmts {
        match s {
            Stmt::SetLocal(l, e) => locals[l.0 as usize] = eval(e, arrays, locals, t, dt),
            Stmt::Store(a, _, e) => arrays[a.0 as usize] = eval(e, arrays, locals, t, dt),
            Stmt::If { cond, then } => {
                if eval(cond, arrays, locals, t, dt) != 0.0 {
                    exec(then, arrays, locals, t, dt);
                }
            }
            Stmt::Emit => {}
        }
    }
}

fn x() -> Expr {
    Expr::Load(ArrayId(0), IndexSpace::Own)
}
fn y() -> Expr {
    Expr::Load(ArrayId(1), IndexSpace::Own)
}
fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}

fn system(f: Vec<Expr>) -> OdeSystem {
    let n = f.len();
    OdeSystem {
        vars: (0..n as u32).map(ArrayId).collect(),
        names: (0..n).map(|k| format!("x{k}")).collect(),
        f,
        g: vec![BTreeMap::new(); n],
        masked: vec![false; n],
        not_refractory: None,
        noise: Vec::new(),
    }
}

/// Integrates from `start` over `[0, t_end]` and returns the final state.
fn solve(method: Method, sys: &OdeSystem, start: &[f64], t_end: f64, dt: f64) -> Vec<f64> {
    let mut counter = Counter(0);
    let stmts = integrate(method, sys, dt, &mut counter).expect("method applies");
    let mut state = start.to_vec();
    let mut locals = vec![0.0; counter.0 as usize];
    let steps = (t_end / dt).round() as u64;
    for step in 0..steps {
        exec(&stmts, &mut state, &mut locals, step as f64 * dt, dt);
    }
    state
}

/// The harmonic oscillator x' = y, y' = -x from (1, 0): x = cos t.
fn oscillator() -> OdeSystem {
    system(vec![y(), Expr::Unary(UnaryOp::Neg, Box::new(x()))])
}

/// A nonlinear equation with a known solution: x' = -x² has x = 1/(1 + t)
/// from x(0) = 1.
fn riccati() -> OdeSystem {
    system(vec![Expr::Unary(
        UnaryOp::Neg,
        Box::new(bin(BinaryOp::Mul, x(), x())),
    )])
}

fn order(method: Method, sys: &OdeSystem, start: &[f64], exact: f64) -> f64 {
    let e1 = (solve(method, sys, start, 1.0, 0.01)[0] - exact).abs();
    let e2 = (solve(method, sys, start, 1.0, 0.005)[0] - exact).abs();
    (e1 / e2).log2()
}

#[test]
fn explicit_methods_converge_with_their_order() {
    let cos1 = 1.0f64.cos();
    for (method, want) in [
        (Method::Euler, 1.0),
        (Method::Rk2, 2.0),
        (Method::Rk4, 4.0),
        (Method::Heun, 1.0),
    ] {
        let p = order(method, &oscillator(), &[1.0, 0.0], cos1);
        assert!(
            (p - want).abs() < 0.15,
            "{method} on the oscillator: order {p:.3}, expected {want}"
        );
        let p = order(method, &riccati(), &[1.0], 0.5);
        assert!(
            (p - want).abs() < 0.15,
            "{method} on x' = -x²: order {p:.3}, expected {want}"
        );
    }
}

#[test]
fn exact_solves_linear_systems_exactly() {
    // Coupled: the oscillator, with a step as large as 0.1.
    let end = solve(Method::Exact, &oscillator(), &[1.0, 0.0], 1.0, 0.1);
    assert!((end[0] - 1.0f64.cos()).abs() < 1e-12, "{end:?}");
    assert!((end[1] + 1.0f64.sin()).abs() < 1e-12, "{end:?}");
    // Triangular with input, as CUBA's v-ge: x' = (2 - x)/0.01,
    // y' = (x/2 - y)/0.03 from (0, 0).
    let sys = system(vec![
        bin(
            BinaryOp::Div,
            bin(BinaryOp::Sub, Expr::Const(2.0), x()),
            Expr::Const(0.01),
        ),
        bin(
            BinaryOp::Div,
            bin(
                BinaryOp::Sub,
                bin(BinaryOp::Mul, Expr::Const(0.5), x()),
                y(),
            ),
            Expr::Const(0.03),
        ),
    ]);
    let t = 0.016;
    let end = solve(Method::Exact, &sys, &[0.0, 0.0], t, 0.001);
    let (tx, ty) = (0.01f64, 0.03f64);
    let want_y = 1.0 * (1.0 - (ty * (-t / ty).exp() - tx * (-t / tx).exp()) / (ty - tx));
    assert!((end[1] - want_y).abs() < 1e-12, "{} vs {want_y}", end[1]);
}

#[test]
fn exponential_euler_is_exact_for_decoupled_linear_equations() {
    // x' = (3 - x)/0.02 with x(0) = 0: x = 3(1 - exp(-t/0.02)).
    let sys = system(vec![bin(
        BinaryOp::Div,
        bin(BinaryOp::Sub, Expr::Const(3.0), x()),
        Expr::Const(0.02),
    )]);
    let end = solve(Method::ExponentialEuler, &sys, &[0.0], 0.05, 0.01);
    let want = 3.0 * (1.0 - (-0.05f64 / 0.02).exp());
    assert!((end[0] - want).abs() < 1e-12, "{} vs {want}", end[0]);
}

#[test]
fn methods_refuse_what_they_cannot_integrate() {
    let mut counter = Counter(0);
    assert!(integrate(Method::Exact, &riccati(), 1e-4, &mut counter).is_err());
    // x' = -x² is neither linear nor linear in x itself.
    assert!(integrate(Method::ExponentialEuler, &riccati(), 1e-4, &mut counter).is_err());
    assert_eq!(
        rheobase_ir::integrators::choose(&oscillator()),
        Method::Exact
    );
    assert_eq!(rheobase_ir::integrators::choose(&riccati()), Method::Euler);
}
