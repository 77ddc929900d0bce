//! Whole kernels: neuron updates, thresholds, resets, synapses, random
//! draws and tables, each compared with the same computation in Rust.

// Index loops over parallel arrays read more clearly here.
#![allow(clippy::needless_range_loop)]

mod common;

use common::*;
use rheobase_jit::Jit;
use rheobase_kernel::{
    rng, BinaryOp, Expr, IndexSpace, Iteration, RandKind, Stmt, TableDesc, TableId, UnaryOp,
};

/// `a*b + c` as the JIT computes it on this host: one fused rounding where
/// it has FMA, two elsewhere.
fn multiply_add(jit: &Jit) -> fn(f64, f64, f64) -> f64 {
    if jit.fuses_multiply_add() {
        f64::mul_add
    } else {
        |a, b, c| a * b + c
    }
}

/// v += dt * ((El - v) + R*I) / tau, with a local for the derivative.
#[test]
fn euler_lif_update_matches_rust() {
    const EL: f64 = -0.07;
    const R: f64 = 1e8;
    const TAU: f64 = 0.01;
    let k = kernel(
        "lif.state_update",
        Iteration::Range,
        1,
        vec![
            set(0, div(add(sub(c(EL), ld(0)), mul(c(R), ld(1))), c(TAU))),
            store(0, add(ld(0), mul(Expr::Dt, local(0)))),
        ],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let madd = multiply_add(&jit);

    let n = 1000;
    let mut v: Vec<f64> = (0..n).map(|i| -0.07 + 0.00001 * i as f64).collect();
    let mut input: Vec<f64> = (0..n).map(|i| 1e-10 * (i % 17) as f64).collect();
    let mut v_ref = v.clone();
    let dt = 1e-4;
    let arrays = [v.as_mut_ptr(), input.as_mut_ptr()];
    let mut a = args(&arrays, 0, n as u64);
    a.dt = dt;
    for _ in 0..100 {
        // SAFETY: arrays 0 and 1 have n elements; the kernel touches 0..n.
        assert_eq!(unsafe { compiled.call(&a) }, 0);
        for i in 0..n {
            // Division by a constant is multiplication by its reciprocal,
            // and a product added to something is one fused multiply-add
            // (as g++ compiles Brian2's C++).
            let dv = madd(R, input[i], EL - v_ref[i]) * (1.0 / TAU);
            v_ref[i] = madd(dt, dv, v_ref[i]);
        }
    }
    assert_eq!(v, v_ref, "JIT and Rust must agree bit for bit");

    // A partition touches only its own range.
    let before = v.clone();
    let a = args(&arrays, 100, 300);
    // SAFETY: as above.
    unsafe { compiled.call(&a) };
    for i in 0..n {
        if (100..300).contains(&i) {
            assert_ne!(v[i], before[i]);
        } else {
            assert_eq!(v[i], before[i]);
        }
    }
    // An empty range dereferences nothing (null arrays are fine).
    let a = args(&[], 5, 5);
    // SAFETY: start == end: no pointer is used.
    assert_eq!(unsafe { compiled.call(&a) }, 0);
}

/// if v > vt: emit; lastspike = t
#[test]
fn threshold_emits_and_stores() {
    let k = kernel(
        "P.thresholder",
        Iteration::Range,
        0,
        vec![Stmt::If {
            cond: bin(BinaryOp::Gt, ld(0), ld_in(1, IndexSpace::Shared)),
            then: vec![Stmt::Emit, store(2, Expr::Time)],
        }],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let n = 50;
    let mut v: Vec<f64> = (0..n).map(|i| ((i * 7) % 10) as f64).collect();
    v[3] = f64::NAN; // NaN > vt is false
    v[20] = 9.0; // with v[21] = 7: both elements of a pair spike
    let mut vt = [6.5];
    // An even and an odd number of elements: pairs of elements are tested
    // together, the odd one alone.
    for start in [10, 11] {
        let mut lastspike = vec![-1.0; n];
        let arrays = [v.as_mut_ptr(), vt.as_mut_ptr(), lastspike.as_mut_ptr()];
        let mut events = vec![u32::MAX; n];
        let mut a = args(&arrays, start, n as u64);
        a.events_out = events.as_mut_ptr();
        a.t = 0.125;
        // SAFETY: arrays have n elements (vt one, read at 0); events has
        // room for n - start.
        let count = unsafe { compiled.call(&a) } as usize;
        let expected: Vec<u32> = (start as u32..n as u32)
            .filter(|&i| v[i as usize] > 6.5)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(&events[..count], &expected[..]);
        for i in 0..n {
            let want = if expected.contains(&(i as u32)) {
                0.125
            } else {
                -1.0
            };
            assert_eq!(lastspike[i], want, "lastspike[{i}] from {start}");
        }
    }
}

/// v[e] = vr for the listed elements; also records Index(Own) with an
/// index offset.
#[test]
fn list_iteration_resets_listed_elements() {
    let k = kernel(
        "P.resetter",
        Iteration::List,
        0,
        vec![store(0, c(-0.06)), store(1, Expr::Index(IndexSpace::Own))],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let n = 20;
    let mut v = vec![0.0; n];
    let mut idx = vec![-1.0; n];
    let spikes: Vec<u32> = vec![99, 2, 5, 11, 19, 77];
    let arrays = [v.as_mut_ptr(), idx.as_mut_ptr()];
    // Positions 1..5 of the list: 2, 5, 11, 19.
    let mut a = args(&arrays, 1, 5);
    a.elements = spikes.as_ptr();
    a.index_offset = 1000;
    // SAFETY: listed elements are < n; positions 1..5 exist.
    assert_eq!(unsafe { compiled.call(&a) }, 0);
    for i in 0..n {
        if [2, 5, 11, 19].contains(&i) {
            assert_eq!(v[i], -0.06);
            assert_eq!(idx[i], 1000.0 + i as f64);
        } else {
            assert_eq!(v[i], 0.0);
            assert_eq!(idx[i], -1.0);
        }
    }
}

/// A synapse kernel over all synapses:
///   g_post[Post] += w[s] * scale[Shared] * x_pre[Pre]
///   src[s] = Index(Pre); dst[s] = Index(Post)
/// and the same as a List kernel over some synapses.
#[test]
fn synapse_index_spaces() {
    let body = vec![
        set(0, mul(ld(0), ld_in(1, IndexSpace::Shared))),
        store_in(
            2,
            IndexSpace::Post,
            add(
                ld_in(2, IndexSpace::Post),
                mul(local(0), ld_in(3, IndexSpace::Pre)),
            ),
        ),
        store(4, Expr::Index(IndexSpace::Pre)),
        store(5, Expr::Index(IndexSpace::Post)),
    ];
    let range = kernel("S.pre_range", Iteration::Range, 1, body.clone());
    let list = kernel("S.pre_list", Iteration::List, 1, body);
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile_all(&[range, list]).unwrap();
    let madd = multiply_add(&jit);

    let n_pre = 7;
    let n_post = 5;
    let n_syn = 30;
    let pre: Vec<u32> = (0..n_syn).map(|s| (s * 3 % n_pre) as u32).collect();
    let post: Vec<u32> = (0..n_syn).map(|s| (s * 7 % n_post) as u32).collect();
    let mut w: Vec<f64> = (0..n_syn).map(|s| 0.1 + s as f64).collect();
    let mut scale = [0.5];
    let mut g = vec![0.0; n_post];
    let mut x: Vec<f64> = (0..n_pre).map(|i| 1.0 + i as f64 * 0.25).collect();
    let mut src = vec![-1.0; n_syn];
    let mut dst = vec![-1.0; n_syn];

    let mut g_ref = vec![0.0; n_post];
    for s in 0..n_syn {
        // One fused multiply-add, as the JIT contracts it.
        g_ref[post[s] as usize] = madd(w[s] * 0.5, x[pre[s] as usize], g_ref[post[s] as usize]);
    }

    let arrays = [
        w.as_mut_ptr(),
        scale.as_mut_ptr(),
        g.as_mut_ptr(),
        x.as_mut_ptr(),
        src.as_mut_ptr(),
        dst.as_mut_ptr(),
    ];
    let mut a = args(&arrays, 0, n_syn as u64);
    a.pre_index = pre.as_ptr();
    a.post_index = post.as_ptr();
    // SAFETY: every synapse's pre/post index is within x/g; Own arrays have
    // n_syn elements.
    unsafe { compiled[0].call(&a) };
    assert_eq!(g, g_ref);
    for s in 0..n_syn {
        assert_eq!(src[s], pre[s] as f64);
        assert_eq!(dst[s], post[s] as f64);
    }

    // List: only synapses 4 and 17 (twice: accumulation is sequential).
    g.iter_mut().for_each(|v| *v = 0.0);
    let active: Vec<u32> = vec![4, 17, 17];
    let mut g_ref = vec![0.0; n_post];
    for &s in &active {
        let s = s as usize;
        // One fused multiply-add, as the JIT contracts it.
        g_ref[post[s] as usize] = madd(w[s] * 0.5, x[pre[s] as usize], g_ref[post[s] as usize]);
    }
    let arrays = [
        w.as_mut_ptr(),
        scale.as_mut_ptr(),
        g.as_mut_ptr(),
        x.as_mut_ptr(),
        src.as_mut_ptr(),
        dst.as_mut_ptr(),
    ];
    let mut a = args(&arrays, 0, active.len() as u64);
    a.pre_index = pre.as_ptr();
    a.post_index = post.as_ptr();
    a.elements = active.as_ptr();
    // SAFETY: as above; listed synapses < n_syn.
    unsafe { compiled[1].call(&a) };
    assert_eq!(g, g_ref);
}

#[test]
fn rand_draws_match_the_rng() {
    let k = kernel(
        "P.noise",
        Iteration::Range,
        0,
        vec![
            store(
                0,
                Expr::Rand {
                    kind: RandKind::Uniform,
                    draw: 0,
                },
            ),
            store(
                1,
                Expr::Rand {
                    kind: RandKind::Uniform,
                    draw: 1,
                },
            ),
            store(
                2,
                Expr::Rand {
                    kind: RandKind::Normal,
                    draw: 7,
                },
            ),
        ],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();
    let n = 64;
    let (seed, stream, step) = (12345, 3, 42);
    let run = |offset: u64| {
        let mut u0 = vec![0.0; n];
        let mut u1 = vec![0.0; n];
        let mut g = vec![0.0; n];
        let arrays = [u0.as_mut_ptr(), u1.as_mut_ptr(), g.as_mut_ptr()];
        let mut a = args(&arrays, 0, n as u64);
        a.seed = seed;
        a.stream = stream;
        a.step = step;
        a.index_offset = offset;
        // SAFETY: three arrays of n elements.
        unsafe { compiled.call(&a) };
        (u0, u1, g)
    };
    let (u0, u1, g) = run(0);
    for i in 0..n {
        let key = i as u64;
        assert_eq!(u0[i], rng::uniform(seed, stream, step, key, 0));
        assert_eq!(u1[i], rng::uniform(seed, stream, step, key, 1));
        assert_eq!(g[i], rng::normal(seed, stream, step, key, 7));
        assert_ne!(u0[i], u1[i]);
    }
    // With an offset, element i draws neuron (i + offset)'s numbers.
    let (v0, _, vg) = run(1000);
    for i in 0..n {
        let key = 1000 + i as u64;
        assert_eq!(v0[i], rng::uniform(seed, stream, step, key, 0));
        assert_eq!(vg[i], rng::normal(seed, stream, step, key, 7));
    }
    assert_ne!(u0, v0);
}

/// Row `trunc((time + dt/2) / table.dt)`, clamped (NaN maps to 0), and
/// column `trunc(col)`, NaN when outside the table.
#[test]
fn table_lookups_clamp_times_and_refuse_columns() {
    let k = kernel(
        "P.table",
        Iteration::Range,
        0,
        vec![
            store(
                2,
                Expr::Table {
                    table: TableId(1),
                    time: Box::new(ld(0)),
                    column: None,
                },
            ),
            store(
                3,
                Expr::Table {
                    table: TableId(0),
                    time: Box::new(ld(0)),
                    column: Some(Box::new(ld(1))),
                },
            ),
        ],
    );
    let mut jit = Jit::new().unwrap();
    let compiled = jit.compile(&k).unwrap();

    // Table 1: 5 rows, 1 column, rows 0.1 s apart. Table 0: 3 × 4.
    let t1: Vec<f64> = (0..5).map(|r| 10.0 + r as f64).collect();
    let t0: Vec<f64> = (0..12).map(|i| 100.0 + i as f64).collect();
    let tables = [
        TableDesc {
            values: t0.as_ptr(),
            rows: 3,
            columns: 4,
            dt: 0.1,
        },
        TableDesc {
            values: t1.as_ptr(),
            rows: 5,
            columns: 1,
            dt: 0.1,
        },
    ];
    let sim_dt = 0.01;
    let times = [
        -1.0,
        -0.004,
        0.0,
        0.094,
        0.095, // + dt/2 reaches row 1
        0.1,
        0.25,
        0.39,
        0.5,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let cols = [
        -1.0,
        0.0,
        0.5,
        1.99,
        2.0,
        3.7,
        4.0,
        1e20,
        f64::NAN,
        -f64::INFINITY,
    ];
    let mut time_in = Vec::new();
    let mut col_in = Vec::new();
    for &t in &times {
        for &c in &cols {
            time_in.push(t);
            col_in.push(c);
        }
    }
    let n = time_in.len();
    let mut out1 = vec![0.0; n];
    let mut out0 = vec![0.0; n];
    let arrays = [
        time_in.as_mut_ptr(),
        col_in.as_mut_ptr(),
        out1.as_mut_ptr(),
        out0.as_mut_ptr(),
    ];
    let mut a = args(&arrays, 0, n as u64);
    a.tables = tables.as_ptr();
    a.dt = sim_dt;
    // SAFETY: four arrays of n elements; both tables valid.
    unsafe { compiled.call(&a) };

    // Rust's `as i64` saturates and maps NaN to 0, like fcvt_to_sint_sat.
    let idx = |x: f64, last: i64| (x as i64).min(last).max(0);
    for i in 0..n {
        let row1 = idx((time_in[i] + sim_dt / 2.0) / 0.1, 4);
        assert_eq!(out1[i], t1[row1 as usize], "1-D, time {}", time_in[i]);
        let row0 = idx((time_in[i] + sim_dt / 2.0) / 0.1, 2);
        // A column outside 0..=3 after truncation (or NaN) reads NaN.
        let col0 = col_in[i].trunc();
        if (0.0..=3.0).contains(&col0) {
            assert_eq!(
                out0[i],
                t0[(row0 * 4 + col0 as i64) as usize],
                "2-D, time {} column {}",
                time_in[i],
                col_in[i]
            );
        } else {
            assert!(
                out0[i].is_nan(),
                "2-D, time {} column {}: {}",
                time_in[i],
                col_in[i],
                out0[i]
            );
        }
    }
    // Spot checks of the rule itself.
    let at = |t: f64| out1[times.iter().position(|&x| x == t).unwrap() * cols.len()];
    assert_eq!(at(-1.0), 10.0);
    assert_eq!(at(0.094), 10.0);
    assert_eq!(at(0.095), 11.0);
    assert_eq!(at(0.25), 12.0);
    assert_eq!(at(0.5), 14.0);
    assert_eq!(at(f64::INFINITY), 14.0);
    assert_eq!(out1[times.len() * cols.len() - 1], 10.0, "NaN time → row 0");
}

/// Kernels outlive the Jit, and clones run on several threads at once on
/// disjoint partitions.
#[test]
fn kernels_outlive_the_jit_and_run_in_parallel() {
    let k = kernel(
        "P.inc",
        Iteration::Range,
        0,
        vec![store(0, add(ld(0), Expr::Index(IndexSpace::Own)))],
    );
    let compiled = {
        let mut jit = Jit::new().unwrap();
        jit.compile(&k).unwrap()
    };
    let n = 4000usize;
    let mut v = vec![0.0; n];
    let chunks: Vec<(usize, &mut [f64])> = v
        .chunks_mut(1000)
        .enumerate()
        .map(|(i, c)| (i * 1000, c))
        .collect();
    std::thread::scope(|s| {
        for (offset, chunk) in chunks {
            let kernel = compiled.clone();
            s.spawn(move || {
                let arrays = [chunk.as_mut_ptr()];
                let mut a = args(&arrays, 0, chunk.len() as u64);
                a.index_offset = offset as u64;
                // SAFETY: each thread owns its chunk; indices < chunk.len().
                unsafe { kernel.call(&a) };
            });
        }
    });
    for (i, x) in v.iter().enumerate() {
        assert_eq!(*x, i as f64);
    }
    assert_eq!(compiled.name(), "P.inc");
}

/// Each batch's code is freed when its last kernel is dropped; many
/// compile/run/drop cycles must neither crash nor grow without bound.
#[test]
fn repeated_batches_free_their_memory() {
    let k = kernel(
        "P.exp",
        Iteration::Range,
        0,
        vec![store(0, un(rheobase_kernel::UnaryOp::Exp, ld(0)))],
    );
    let mut jit = Jit::new().unwrap();
    for _ in 0..300 {
        let compiled = jit.compile_all(&[k.clone(), k.clone()]).unwrap();
        let mut v = vec![0.0; 8];
        let arrays = [v.as_mut_ptr()];
        // SAFETY: one array of 8 elements.
        unsafe { compiled[1].call(&args(&arrays, 0, 8)) };
        assert_eq!(v, [1.0; 8]);
    }
}

/// `Expr::Binomial` compiles to a call of `rheobase_jit::binomial` with the
/// kernel's random key: same values, and sensible moments.
#[test]
fn binomial_draws_match_the_host_function() {
    let n_el = 20_000usize;
    for (n, p) in [(10u64, 0.2), (1000, 0.3), (40, 0.95), (800, 0.0025)] {
        let k = kernel(
            "binomial",
            Iteration::Range,
            0,
            vec![store(0, Expr::Binomial { n, p, draw: 3 })],
        );
        let compiled = Jit::new().unwrap().compile(&k).unwrap();
        let mut out = vec![0.0; n_el];
        let arrays = [out.as_mut_ptr()];
        let mut a = args(&arrays, 0, n_el as u64);
        a.seed = 5;
        a.stream = rng::stream_of("binomial");
        a.step = 9;
        a.index_offset = 100;
        // SAFETY: one array of n_el elements.
        unsafe { compiled.call(&a) };
        for (e, &x) in out.iter().enumerate() {
            let expected = rheobase_jit::binomial(5, a.stream, 9, e as u64 + 100, 3, n, p);
            assert_eq!(x.to_bits(), expected.to_bits());
        }
        let mean = out.iter().sum::<f64>() / n_el as f64;
        let m = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p) / n_el as f64).sqrt();
        assert!((mean - m).abs() < 5.0 * sd, "n={n} p={p}: mean {mean}");
    }
}

/// A clock-driven synaptic update reads its neurons' values through
/// `pre_index`/`post_index` and writes only its own slots: two synapses at a
/// time must give exactly what one at a time gives, for every split of the
/// range. A kernel that writes an array it also reads through a neuron index
/// must still run in element order.
#[test]
fn synaptic_updates_reading_neurons_match_one_at_a_time() {
    // s += dt * (v_post - s) * exp(-x_pre) + j, for each synapse.
    let body = vec![store(
        0,
        add(
            add(
                ld(0),
                mul(
                    mul(Expr::Dt, sub(ld_in(1, IndexSpace::Post), ld(0))),
                    un(UnaryOp::Exp, un(UnaryOp::Neg, ld_in(2, IndexSpace::Pre))),
                ),
            ),
            Expr::Index(IndexSpace::Post),
        ),
    )];
    // a[e] = a[post(e)] + 1 with post(e) = e - 1: a running count only if
    // each element sees the previous one's store.
    let chained = vec![store(0, add(ld_in(0, IndexSpace::Post), c(1.0)))];
    let mut jit = Jit::new().unwrap();
    let compiled = jit
        .compile_all(&[
            kernel("S.update", Iteration::Range, 0, body),
            kernel("S.chain", Iteration::Range, 0, chained),
        ])
        .unwrap();

    let n_syn = 41;
    let pre: Vec<u32> = (0..n_syn).map(|s| (s * 5 % 11) as u32).collect();
    let post: Vec<u32> = (0..n_syn).map(|s| (s * 3 % 13) as u32).collect();
    let v: Vec<f64> = (0..13).map(|i| -0.07 + i as f64 * 1e-3).collect();
    let x: Vec<f64> = (0..11).map(|i| 0.1 * i as f64).collect();
    let run = |start: usize, end: usize, s: &mut Vec<f64>| {
        let (mut v, mut x) = (v.clone(), x.clone());
        let arrays = [s.as_mut_ptr(), v.as_mut_ptr(), x.as_mut_ptr()];
        let mut a = args(&arrays, start as u64, end as u64);
        a.pre_index = pre.as_ptr();
        a.post_index = post.as_ptr();
        // SAFETY: every pre/post index is within x/v; s has n_syn elements.
        unsafe { compiled[0].call(&a) };
    };
    let initial: Vec<f64> = (0..n_syn).map(|s| s as f64 * 1e-3).collect();
    let mut together = initial.clone();
    run(0, n_syn, &mut together);
    let mut alone = initial.clone();
    for s in 0..n_syn {
        run(s, s + 1, &mut alone);
    }
    for s in 0..n_syn {
        assert_eq!(together[s].to_bits(), alone[s].to_bits(), "synapse {s}");
        let want = initial[s]
            + 1e-4 * (v[post[s] as usize] - initial[s]) * (-x[pre[s] as usize]).exp()
            + post[s] as f64;
        assert!((together[s] - want).abs() <= 1e-15 * want.abs().max(1.0));
    }

    let n = 9;
    let previous: Vec<u32> = (0..n).map(|e: u32| e.saturating_sub(1)).collect();
    let mut a_vals = vec![0.0; n as usize];
    let arrays = [a_vals.as_mut_ptr()];
    let mut a = args(&arrays, 0, u64::from(n));
    a.post_index = previous.as_ptr();
    // SAFETY: every index is below n.
    unsafe { compiled[1].call(&a) };
    let want: Vec<f64> = (1..=n).map(f64::from).collect();
    assert_eq!(a_vals, want);
}

/// Arrays interleaved in one buffer (a record of stride 4, as the runtime
/// stores the variables of plastic synapses): a kernel compiled with
/// those strides reads and writes exactly its own slot of each element,
/// over a Range (which then runs one element at a time) and a List, and
/// leaves the other slots alone.
#[test]
fn interleaved_arrays_are_addressed_by_their_stride() {
    let n = 37usize;
    // b = a * 3 + b; a, b in slots 0 and 2 of a record of 4; c stands alone.
    let body = vec![
        store(1, add(mul(ld(0), c(3.0)), ld(1))),
        store(2, add(ld(2), ld(0))),
    ];
    let mut jit = Jit::new().unwrap();
    jit.set_array_strides(&[4, 4, 1]).unwrap();
    let range = jit
        .compile(&kernel("strided_range", Iteration::Range, 0, body.clone()))
        .unwrap();
    let list = jit
        .compile(&kernel("strided_list", Iteration::List, 0, body))
        .unwrap();
    let fresh = || -> (Vec<f64>, Vec<f64>) {
        let record = (0..4 * n).map(|k| k as f64).collect();
        (record, vec![0.5; n])
    };

    let (mut record, mut alone) = fresh();
    let base = record.as_mut_ptr();
    let arrays = [base, base.wrapping_add(2), alone.as_mut_ptr()];
    // SAFETY: both members have n elements of stride 4 inside `record`
    // (the last one ends at 4·(n-1) + 2 < 4n), and `alone` has n.
    unsafe { range.call(&args(&arrays, 0, n as u64)) };
    for e in 0..n {
        let (a, b) = ((4 * e) as f64, (4 * e + 2) as f64);
        assert_eq!(record[4 * e], a);
        assert_eq!(record[4 * e + 1], (4 * e + 1) as f64, "slot 1 untouched");
        assert_eq!(record[4 * e + 2], a * 3.0 + b);
        assert_eq!(record[4 * e + 3], (4 * e + 3) as f64, "slot 3 untouched");
        assert_eq!(alone[e], 0.5 + a);
    }

    let (mut record, mut alone) = fresh();
    let base = record.as_mut_ptr();
    let arrays = [base, base.wrapping_add(2), alone.as_mut_ptr()];
    let elements: Vec<u32> = vec![36, 3, 17];
    let mut a = args(&arrays, 0, elements.len() as u64);
    a.elements = elements.as_ptr();
    // SAFETY: as above; every element is below n.
    unsafe { list.call(&a) };
    for e in 0..n {
        let touched = elements.contains(&(e as u32));
        let (x, y) = ((4 * e) as f64, (4 * e + 2) as f64);
        assert_eq!(record[4 * e + 2], if touched { x * 3.0 + y } else { y });
        assert_eq!(alone[e], if touched { 0.5 + x } else { 0.5 });
    }
}

#[test]
fn strides_must_be_small_powers_of_two() {
    let mut jit = Jit::new().unwrap();
    assert!(jit.set_array_strides(&[1, 2, 4, 8]).is_ok());
    assert!(jit.set_array_strides(&[3]).is_err());
    assert!(jit.set_array_strides(&[16]).is_err());
    assert!(jit.set_array_strides(&[0]).is_err());
}
