//! Invalid kernels are rejected with a typed error, never a panic.

mod common;

use common::*;
use rheobase_jit::{Jit, JitError};
use rheobase_kernel::{ArrayId, Expr, IndexSpace, Iteration, Kernel, RandKind, Stmt, TableId};

fn reason_of(jit: &mut Jit, k: &Kernel) -> String {
    match jit.compile(k) {
        Err(JitError::InvalidKernel { kernel, reason }) => {
            assert_eq!(kernel, k.name);
            reason
        }
        Err(other) => panic!("expected InvalidKernel, got {other}"),
        Ok(_) => panic!("kernel {} should be rejected", k.name),
    }
}

#[test]
fn invalid_kernels_are_errors() {
    let mut jit = Jit::new().unwrap();

    let set_out_of_range = kernel("set", Iteration::Range, 1, vec![set(1, c(0.0))]);
    assert!(reason_of(&mut jit, &set_out_of_range).contains("_1"));

    let read_out_of_range = kernel(
        "read",
        Iteration::Range,
        2,
        vec![Stmt::If {
            cond: c(1.0),
            then: vec![store(0, add(local(0), local(5)))],
        }],
    );
    assert!(reason_of(&mut jit, &read_out_of_range).contains("_5"));

    let no_locals = kernel("none", Iteration::Range, 0, vec![store(0, local(0))]);
    reason_of(&mut jit, &no_locals);

    let draw = kernel(
        "draw",
        Iteration::Range,
        0,
        vec![store(
            0,
            Expr::Rand {
                kind: RandKind::Normal,
                draw: 1 << 16,
            },
        )],
    );
    assert!(reason_of(&mut jit, &draw).contains("draw"));

    let two_emits = kernel(
        "emits",
        Iteration::Range,
        0,
        vec![
            Stmt::Emit,
            Stmt::If {
                cond: ld(0),
                then: vec![Stmt::Emit],
            },
        ],
    );
    assert!(reason_of(&mut jit, &two_emits).contains("emit"));

    let big_array = kernel(
        "array",
        Iteration::Range,
        0,
        vec![Stmt::Store(ArrayId(u32::MAX), IndexSpace::Own, c(0.0))],
    );
    reason_of(&mut jit, &big_array);

    let big_table = kernel(
        "table",
        Iteration::Range,
        0,
        vec![store(
            0,
            Expr::Table {
                table: TableId(u32::MAX),
                time: Box::new(Expr::Time),
                column: None,
            },
        )],
    );
    reason_of(&mut jit, &big_table);

    let mut deep = c(1.0);
    for _ in 0..10_000 {
        deep = add(deep, c(1.0));
    }
    let deep = kernel("deep", Iteration::Range, 0, vec![store(0, deep)]);
    assert!(reason_of(&mut jit, &deep).contains("nesting"));

    let mut deep_if = vec![Stmt::Emit];
    for _ in 0..10_000 {
        deep_if = vec![Stmt::If {
            cond: c(1.0),
            then: deep_if,
        }];
    }
    let deep_if = kernel("deep_if", Iteration::Range, 0, deep_if);
    assert!(reason_of(&mut jit, &deep_if).contains("nesting"));
    // Drop iteratively-built deep trees without recursing too deep is the
    // caller's business; these are small enough for the default stack.

    // One bad kernel fails the whole batch; the Jit stays usable.
    let good = kernel("good", Iteration::Range, 0, vec![store(0, c(1.0))]);
    let err = jit
        .compile_all(&[good.clone(), set_out_of_range.clone()])
        .unwrap_err();
    assert!(matches!(err, JitError::InvalidKernel { ref kernel, .. } if kernel == "set"));
    assert!(err.to_string().contains("invalid kernel `set`"));
    let k = jit.compile(&good).unwrap();
    let mut v = vec![0.0; 3];
    let arrays = [v.as_mut_ptr()];
    // SAFETY: one array of 3 elements.
    unsafe { k.call(&args(&arrays, 0, 3)) };
    assert_eq!(v, [1.0; 3]);
}

#[test]
fn use_before_def_reads_zero() {
    // Allowed (locals start at 0.0), not an error.
    let k = kernel(
        "ubd",
        Iteration::Range,
        1,
        vec![store(0, add(local(0), c(2.0))), set(0, c(5.0))],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let mut v = vec![0.0; 4];
    let arrays = [v.as_mut_ptr()];
    // SAFETY: one array of 4 elements.
    unsafe { compiled.call(&args(&arrays, 0, 4)) };
    assert_eq!(v, [2.0; 4], "locals do not carry over between elements");
}

#[test]
fn binomial_limits_are_checked() {
    for (n, p, draw) in [(10u64, 1.5, 0u32), (10, f64::NAN, 0), (10, 0.5, 1024)] {
        let k = kernel(
            "bad_binomial",
            Iteration::Range,
            0,
            vec![store(0, Expr::Binomial { n, p, draw })],
        );
        let err = Jit::new().unwrap().compile(&k).unwrap_err();
        assert!(matches!(err, JitError::InvalidKernel { .. }), "{err}");
    }
}
