//! Code-generation shortcuts must not change results: small whole powers
//! become products, and repeated pure calls are computed once, but never
//! across a store or a reassigned local that could change their value.

mod common;

use common::*;
use rheobase_jit::Jit;
use rheobase_kernel::{BinaryOp, Iteration, Stmt, UnaryOp};

fn run(body: Vec<Stmt>, n_locals: u32, a0: &mut [f64], a1: &mut [f64]) {
    let k = kernel("reuse", Iteration::Range, n_locals, body);
    let mut jit = Jit::new().expect("jit");
    let compiled = jit.compile(&k).expect("compiles");
    let arrays = [a0.as_mut_ptr(), a1.as_mut_ptr()];
    let args = args(&arrays, 0, a0.len() as u64);
    // SAFETY: both arrays have an element for every index 0..len, and the
    // kernel touches only those two arrays at its own index.
    unsafe {
        compiled.call(&args);
    }
}

#[test]
fn small_powers_equal_pow() {
    let xs = [
        -2.5,
        -1.0,
        -0.0,
        0.0,
        0.3,
        1.7,
        1e150,
        f64::NAN,
        f64::INFINITY,
    ];
    for k in [1.0, 2.0, 3.0, 4.0] {
        let mut a = xs.to_vec();
        let mut out = vec![0.0; xs.len()];
        run(
            vec![Stmt::Store(
                rheobase_kernel::ArrayId(1),
                rheobase_kernel::IndexSpace::Own,
                bin(BinaryOp::Pow, ld(0), c(k)),
            )],
            0,
            &mut a,
            &mut out,
        );
        for (x, y) in xs.iter().zip(&out) {
            let want = x.powf(k);
            // Products of three or four factors may round differently from
            // a correctly rounded pow by an ulp.
            let close = same(*y, want) || ((y - want) / want).abs() < 4.0 * f64::EPSILON;
            assert!(close, "{x}**{k}: {y} vs {want}");
        }
    }
}

#[test]
fn repeated_calls_see_stores_and_reassignments() {
    // _0 = sin(a0); a0 = a0 + 1; a1 = sin(a0) + _0   (the second sin must
    // read the stored value, not reuse the first call)
    let body = vec![
        set(0, un(UnaryOp::Sin, ld(0))),
        store(0, add(ld(0), c(1.0))),
        store(1, add(un(UnaryOp::Sin, ld(0)), local(0))),
    ];
    let mut a = vec![0.0, 1.0];
    let mut b = vec![0.0, 0.0];
    run(body, 1, &mut a, &mut b);
    for (k, x0) in [0.0f64, 1.0].iter().enumerate() {
        assert_eq!(b[k], (x0 + 1.0).sin() + x0.sin());
    }
    // _0 = 1; _1 = sin(_0); _0 = 2; a1 = sin(_0) + _1
    let body = vec![
        set(0, c(1.0)),
        set(1, un(UnaryOp::Sin, local(0))),
        set(0, c(2.0)),
        store(1, add(un(UnaryOp::Sin, local(0)), local(1))),
    ];
    let mut a = vec![0.0];
    let mut b = vec![0.0];
    run(body, 2, &mut a, &mut b);
    assert_eq!(b[0], 2f64.sin() + 1f64.sin());
    // A call made inside a branch is not reused after it.
    let body = vec![
        Stmt::If {
            cond: bin(BinaryOp::Gt, ld(0), c(0.0)),
            then: vec![store(1, un(UnaryOp::Sin, ld(0)))],
        },
        store(1, add(ld(1), un(UnaryOp::Sin, ld(0)))),
    ];
    let mut a = vec![-1.0, 2.0];
    let mut b = vec![0.0, 0.0];
    run(body, 0, &mut a, &mut b);
    assert_eq!(b[0], (-1f64).sin());
    assert_eq!(b[1], 2f64.sin() * 2.0);
}
