//! Compile time and run time, printed (run with `--nocapture`); nothing is
//! asserted about speed.

mod common;

use std::time::Instant;

use common::*;
use rheobase_jit::Jit;
use rheobase_kernel::{BinaryOp, Expr, IndexSpace, Iteration, Kernel, RandKind, Stmt, UnaryOp};

/// Ten kernels shaped like a small network's: state updates with exp and
/// noise, thresholds, resets, synaptic propagation.
fn network_kernels() -> Vec<Kernel> {
    let mut ks = Vec::new();
    for g in 0..3 {
        // Exponential-Euler-ish update with a conductance and noise.
        ks.push(kernel(
            &format!("G{g}.state_update"),
            Iteration::Range,
            3,
            vec![
                set(0, un(UnaryOp::Exp, div(mul(c(-1.0), Expr::Dt), c(0.02)))),
                set(
                    1,
                    add(
                        mul(ld(0), local(0)),
                        mul(
                            sub(c(1.0), local(0)),
                            add(c(-0.06), mul(ld(1), sub(c(0.0), ld(0)))),
                        ),
                    ),
                ),
                set(
                    2,
                    mul(
                        un(UnaryOp::Sqrt, Expr::Dt),
                        Expr::Rand {
                            kind: RandKind::Normal,
                            draw: 0,
                        },
                    ),
                ),
                store(0, add(local(1), mul(c(0.001), local(2)))),
                store(1, mul(ld(1), un(UnaryOp::Exp, div(Expr::Dt, c(-0.005))))),
            ],
        ));
        ks.push(kernel(
            &format!("G{g}.thresholder"),
            Iteration::Range,
            0,
            vec![Stmt::If {
                cond: bin(
                    BinaryOp::And,
                    bin(BinaryOp::Gt, ld(0), c(-0.05)),
                    bin(BinaryOp::Gt, sub(Expr::Time, ld(2)), c(0.002)),
                ),
                then: vec![Stmt::Emit],
            }],
        ));
        ks.push(kernel(
            &format!("G{g}.resetter"),
            Iteration::List,
            0,
            vec![store(0, c(-0.06)), store(2, Expr::Time)],
        ));
    }
    ks.push(kernel(
        "S.pre",
        Iteration::List,
        0,
        vec![store_in(
            1,
            IndexSpace::Post,
            add(ld_in(1, IndexSpace::Post), ld(3)),
        )],
    ));
    ks
}

#[test]
fn compile_time() {
    let t0 = Instant::now();
    let mut jit = Jit::new().unwrap();
    let new_time = t0.elapsed();
    let kernels = network_kernels();
    // First batch warms up allocations; measure a few.
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let compiled = jit.compile_all(&kernels).unwrap();
        times.push(t.elapsed());
        assert_eq!(compiled.len(), kernels.len());
    }
    let t = Instant::now();
    for k in &kernels {
        jit.compile(k).unwrap();
    }
    let one_by_one = t.elapsed();
    println!(
        "Jit::new: {new_time:?}; compile_all of {} kernels, 5 times: {times:?}; \
         one compile() per kernel: {one_by_one:?}; debug_assertions (verifier on): {}",
        kernels.len(),
        cfg!(debug_assertions),
    );
}

#[test]
fn run_time() {
    // Plain Euler LIF, no calls: v += dt*((El - v) + R*I)/tau.
    let k = kernel(
        "lif",
        Iteration::Range,
        0,
        vec![store(
            0,
            add(
                ld(0),
                mul(
                    Expr::Dt,
                    div(add(sub(c(-0.07), ld(0)), mul(c(1e8), ld(1))), c(0.01)),
                ),
            ),
        )],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let n = 1_000_000;
    let mut v = vec![-0.07; n];
    let mut input = vec![1e-10; n];
    let arrays = [v.as_mut_ptr(), input.as_mut_ptr()];
    let a = args(&arrays, 0, n as u64);
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        // SAFETY: two arrays of n elements.
        unsafe { compiled.call(&a) };
    }
    let per = t.elapsed().as_secs_f64() / (reps * n) as f64;
    println!("LIF update: {:.2} ns/neuron", per * 1e9);
    assert!(v[0] > -0.07);
}
