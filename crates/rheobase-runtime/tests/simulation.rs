//! End-to-end tests: hand-built programs, compiled by the real JIT and
//! checked against plain Rust simulations of the same equations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rheobase_kernel::program::{
    Action, ArrayDecl, EventPlan, GroupPlan, KernelId, MonitorPlan, Program, RecordedVariable,
    ValueKind,
};
use rheobase_kernel::{
    rng, ArrayId, BinaryOp, Expr, IndexSpace, Iteration, Kernel, RandKind, Stmt, UnaryOp,
};
use rheobase_runtime::{MonitorData, RunConfig, RuntimeError, Simulation, CHUNK_SIZE};

const DT: f64 = 1e-4;
const SEED: u64 = 42;
const NOISE: f64 = 0.05;

// Arrays of the test model.
const V: ArrayId = ArrayId(0);
const TAU: ArrayId = ArrayId(1);
const LOW: ArrayId = ArrayId(2);
const COUNTER: ArrayId = ArrayId(3);
const X: ArrayId = ArrayId(4);

// Kernels of the test model.
const INIT: KernelId = KernelId(0);
const UPDATE: KernelId = KernelId(1);
const THRESHOLD: KernelId = KernelId(2);
const RESET: KernelId = KernelId(3);
const LOW_CONDITION: KernelId = KernelId(4);
const LOW_EFFECT: KernelId = KernelId(5);
const SET_X: KernelId = KernelId(6);
const COUNT: KernelId = KernelId(7);

fn c(x: f64) -> Expr {
    Expr::Const(x)
}
fn own(a: ArrayId) -> Expr {
    Expr::Load(a, IndexSpace::Own)
}
fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
fn kernel(name: &str, iteration: Iteration, body: Vec<Stmt>) -> Kernel {
    Kernel {
        name: name.into(),
        iteration,
        n_locals: 0,
        body,
    }
}

/// The model `dv/dt = (1 - v)/tau (+ noise)`, threshold `v > 0.5`, reset
/// `v = 0`, a custom event `low` (`v < 0.1`, effect `low += 1`), Euler.
struct Model {
    n: usize,
    noise: bool,
    every: u64,
    record: Vec<usize>,
    spike_range: (usize, usize),
    actions: Vec<Action>,
}

impl Model {
    fn new(n: usize) -> Model {
        Model {
            n,
            noise: false,
            every: 1,
            record: vec![0, 3, 7.min(n - 1)],
            spike_range: (2.min(n), 8.min(n)),
            actions: vec![
                Action::Initialise {
                    kernel: INIT,
                    group: 0,
                },
                Action::Run { steps: 200 },
            ],
        }
    }

    fn program(&self) -> Program {
        let n = self.n;
        let decl = |name: &str, len: usize, kind| ArrayDecl {
            name: format!("P.{name}"),
            group: 0,
            len,
            initial: 0.0,
            kind,
            synapses: None,
        };
        let index = || Expr::Index(IndexSpace::Own);
        // v = (i % 50) * 0.01; tau = 0.01 + (i % 7) * 0.001
        let init = kernel(
            "P.init",
            Iteration::Range,
            vec![
                Stmt::Store(
                    V,
                    IndexSpace::Own,
                    bin(BinaryOp::Mul, bin(BinaryOp::Mod, index(), c(50.0)), c(0.01)),
                ),
                Stmt::Store(
                    TAU,
                    IndexSpace::Own,
                    bin(
                        BinaryOp::Add,
                        c(0.01),
                        bin(BinaryOp::Mul, bin(BinaryOp::Mod, index(), c(7.0)), c(0.001)),
                    ),
                ),
            ],
        );
        // v = v + dt*(1 - v)/tau [+ NOISE*sqrt(dt)*randn()]
        let mut dv = bin(
            BinaryOp::Add,
            own(V),
            bin(
                BinaryOp::Div,
                bin(BinaryOp::Mul, Expr::Dt, bin(BinaryOp::Sub, c(1.0), own(V))),
                own(TAU),
            ),
        );
        if self.noise {
            dv = bin(
                BinaryOp::Add,
                dv,
                bin(
                    BinaryOp::Mul,
                    bin(
                        BinaryOp::Mul,
                        c(NOISE),
                        Expr::Unary(UnaryOp::Sqrt, Box::new(Expr::Dt)),
                    ),
                    Expr::Rand {
                        kind: RandKind::Normal,
                        draw: 0,
                    },
                ),
            );
        }
        let update = kernel(
            "P.state_update",
            Iteration::Range,
            vec![Stmt::Store(V, IndexSpace::Own, dv)],
        );
        let threshold = kernel(
            "P.spike.condition",
            Iteration::Range,
            vec![Stmt::If {
                cond: bin(BinaryOp::Gt, own(V), c(0.5)),
                then: vec![Stmt::Emit],
            }],
        );
        let reset = kernel(
            "P.spike.effect",
            Iteration::List,
            vec![Stmt::Store(V, IndexSpace::Own, c(0.0))],
        );
        let low_condition = kernel(
            "P.low.condition",
            Iteration::Range,
            vec![Stmt::If {
                cond: bin(BinaryOp::Lt, own(V), c(0.1)),
                then: vec![Stmt::Emit],
            }],
        );
        let low_effect = kernel(
            "P.low.effect",
            Iteration::List,
            vec![Stmt::Store(
                LOW,
                IndexSpace::Own,
                bin(BinaryOp::Add, own(LOW), c(1.0)),
            )],
        );
        // Writes a shared value: must never be split across threads.
        let set_x = kernel(
            "P.set_x",
            Iteration::Range,
            vec![Stmt::Store(X, IndexSpace::Shared, Expr::Time)],
        );
        let count = kernel(
            "P.count",
            Iteration::Range,
            vec![Stmt::Store(
                COUNTER,
                IndexSpace::Shared,
                bin(
                    BinaryOp::Add,
                    Expr::Load(COUNTER, IndexSpace::Shared),
                    c(1.0),
                ),
            )],
        );
        let recorded = |name: &str, array| RecordedVariable {
            name: name.into(),
            array,
            kind: ValueKind::Float,
        };
        Program {
            dt: DT,
            clocks: vec![rheobase_kernel::program::ClockPlan { dt: DT, every: 1 }],
            arrays: vec![
                decl("v", n, ValueKind::Float),
                decl("tau", n, ValueKind::Float),
                decl("low", n, ValueKind::Integer),
                decl("counter", 1, ValueKind::Integer),
                decl("x", 1, ValueKind::Float),
            ],
            kernels: vec![
                init,
                update,
                threshold,
                reset,
                low_condition,
                low_effect,
                set_x,
                count,
            ],
            groups: vec![GroupPlan {
                name: "P".into(),
                clock: 0,
                size: n,
                variables: vec![
                    ("v".into(), V),
                    ("tau".into(), TAU),
                    ("low".into(), LOW),
                    ("counter".into(), COUNTER),
                    ("x".into(), X),
                ],
                method: Some("euler".into()),
                state_update: Some(UPDATE),
                generator: None,
                spike: Some(EventPlan {
                    name: "spike".into(),
                    condition: THRESHOLD,
                    effect: Some(RESET),
                }),
                events: vec![EventPlan {
                    name: "low".into(),
                    condition: LOW_CONDITION,
                    effect: Some(LOW_EFFECT),
                }],
            }],
            monitors: vec![
                MonitorPlan::State {
                    source_start: 0,
                    name: "state".into(),
                    group: 0,
                    synapses: None,
                    variables: vec![recorded("v", V), recorded("x", X)],
                    record: self.record.clone(),
                    every: self.every,
                    prepare: None,
                    record_all_synapses: false,
                    record_pairs: None,
                    schedule: None,
                    from_step: 0,
                },
                MonitorPlan::Spike {
                    name: "spikes".into(),
                    group: 0,
                    start: self.spike_range.0,
                    stop: self.spike_range.1,
                    variables: vec![recorded("v", V)],
                    event: None,
                    record: true,
                    schedule: None,
                    from_step: 0,
                },
                MonitorPlan::Rate {
                    name: "rate".into(),
                    group: 0,
                    start: 0,
                    stop: n,
                    from_step: 0,
                },
            ],
            actions: self.actions.clone(),
            synapses: Vec::new(),
            tables: Vec::new(),
            poisson_inputs: Vec::new(),
            regular: Vec::new(),
            places: Vec::new(),
            later_places: Vec::new(),
        }
    }
}

fn simulate(model: &Model, threads: usize) -> Simulation {
    let mut sim = Simulation::new(
        model.program(),
        RunConfig {
            seed: SEED,
            threads,
        },
    )
    .expect("the test program compiles");
    sim.run_all().expect("the run succeeds");
    sim
}

/// What the plain Rust simulation produces.
#[derive(Default)]
struct Reference {
    v: Vec<f64>,
    low: Vec<f64>,
    /// (step, neuron, v at spike)
    spikes: Vec<(u64, usize, f64)>,
    /// (step, v of every neuron) before the update
    samples: Vec<(u64, Vec<f64>)>,
    /// spikes per step
    per_step: Vec<usize>,
}

/// The model in plain Rust: the same operations in the same order as the
/// kernels, so results must agree bit for bit. Runs `steps` steps after
/// the INIT kernel's initialisation.
fn reference(n: usize, steps: u64, noise: bool) -> Reference {
    let stream = rng::stream_of("P.state_update");
    let mut r = Reference {
        v: (0..n).map(|i| (i % 50) as f64 * 0.01).collect(),
        low: vec![0.0; n],
        ..Reference::default()
    };
    // The JIT fuses a product added to something into one multiply-add
    // where the host has FMA, as g++ compiles Brian2's C++; the reference
    // does the same.
    let fused = rheobase_jit::Jit::new().expect("jit").fuses_multiply_add();
    let madd = |a: f64, b: f64, c: f64| if fused { a.mul_add(b, c) } else { a * b + c };
    let tau: Vec<f64> = (0..n).map(|i| madd((i % 7) as f64, 0.001, 0.01)).collect();
    for step in 0..steps {
        r.samples.push((step, r.v.clone()));
        for (i, (v, tau)) in r.v.iter_mut().zip(&tau).enumerate() {
            *v += DT * (1.0 - *v) / tau;
            if noise {
                *v = madd(
                    NOISE * DT.sqrt(),
                    rng::normal(SEED, stream, step, i as u64, 0),
                    *v,
                );
            }
        }
        let spiking: Vec<usize> = (0..n).filter(|&i| r.v[i] > 0.5).collect();
        let low: Vec<usize> = (0..n).filter(|&i| r.v[i] < 0.1).collect();
        for &i in &spiking {
            r.spikes.push((step, i, r.v[i]));
            r.v[i] = 0.0;
        }
        for &i in &low {
            r.low[i] += 1.0;
        }
        r.per_step.push(spiking.len());
    }
    r
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn matches_plain_rust_simulation() {
    for noise in [false, true] {
        let mut model = Model::new(10);
        model.noise = noise;
        let sim = simulate(&model, 1);
        let r = reference(10, 200, noise);

        assert_eq!(sim.step(), 200);
        assert_eq!(bits(&sim.variable("P", "v").unwrap()), bits(&r.v));
        assert_eq!(bits(&sim.variable("P", "low").unwrap()), bits(&r.low));
        assert!(r.spikes.len() > 5, "the model should spike");
        assert_eq!(
            sim.spike_counts(),
            vec![("P".to_string(), r.spikes.len() as u64)]
        );

        let monitors = sim.monitors();
        let MonitorData::State {
            t,
            variables,
            record,
            ..
        } = &monitors[0]
        else {
            panic!("state monitor expected")
        };
        assert_eq!(t.len(), 200);
        for (k, (step, v)) in r.samples.iter().enumerate() {
            assert_eq!(t[k], *step as f64 * DT);
            for (ri, &i) in record.iter().enumerate() {
                assert_eq!(variables[0].at(ri, k).to_bits(), v[i].to_bits());
            }
        }

        let MonitorData::Spike {
            i,
            t,
            variables,
            count,
            ..
        } = &monitors[1]
        else {
            panic!("spike monitor expected")
        };
        let expected: Vec<_> = r
            .spikes
            .iter()
            .filter(|(_, n, _)| (2..8).contains(n))
            .collect();
        assert_eq!(i.len(), expected.len());
        for (k, (step, n, v)) in expected.iter().enumerate() {
            assert_eq!(i[k], *n as i32 - 2);
            assert_eq!(t[k], *step as f64 * DT);
            assert_eq!(variables[0].2[k].to_bits(), v.to_bits());
        }
        for (rel, &c) in count.iter().enumerate() {
            let n = rel + 2;
            assert_eq!(c as usize, expected.iter().filter(|s| s.1 == n).count());
        }

        let MonitorData::Rate { t, rate, .. } = &monitors[2] else {
            panic!("rate monitor expected")
        };
        assert_eq!(t.len(), 200);
        for (step, &spikes) in r.per_step.iter().enumerate() {
            assert_eq!(t[step], step as f64 * DT);
            assert_eq!(rate[step], spikes as f64 / DT / 10.0);
        }
    }
}

#[test]
fn thread_count_does_not_change_results() {
    // Large enough for several chunks, not a multiple of the chunk size.
    let n = 4 * CHUNK_SIZE + 1234;
    let mut model = Model::new(n);
    model.noise = true;
    model.record = vec![0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, n - 1];
    model.spike_range = (100, n - 100);
    model.actions = vec![
        Action::Initialise {
            kernel: INIT,
            group: 0,
        },
        Action::Initialise {
            kernel: COUNT,
            group: 0,
        },
        Action::Run { steps: 100 },
    ];
    let one = simulate(&model, 1);
    let r = reference(n, 100, true);
    assert_eq!(bits(&one.variable("P", "v").unwrap()), bits(&r.v));
    assert_eq!(one.spike_counts()[0].1, r.spikes.len() as u64);
    for threads in [2, 3] {
        let many = simulate(&model, threads);
        assert_eq!(many.timings().threads, threads);
        assert_eq!(one.monitors(), many.monitors());
        for var in ["v", "low", "counter", "x"] {
            assert_eq!(
                bits(&one.variable("P", var).unwrap()),
                bits(&many.variable("P", var).unwrap()),
                "{var} with {threads} threads"
            );
        }
        // The shared counter was incremented once per neuron: the kernel
        // writing it was not split across threads.
        assert_eq!(*many.variable("P", "counter").unwrap(), [n as f64]);
    }
    // Bitwise equality of the spike monitors, including spike order.
    let MonitorData::Spike { i, .. } = &one.monitors()[1] else {
        panic!()
    };
    assert!(i.len() > 100);
}

#[test]
fn actions_run_in_order_and_time_continues() {
    let mut model = Model::new(10);
    model.actions = vec![
        Action::Initialise {
            kernel: INIT,
            group: 0,
        },
        Action::Initialise {
            kernel: SET_X,
            group: 0,
        },
        Action::Run { steps: 50 },
        // Runs at t = 50 dt.
        Action::Initialise {
            kernel: SET_X,
            group: 0,
        },
        Action::Run { steps: 30 },
    ];
    let mut sim = Simulation::new(model.program(), RunConfig::default()).unwrap();
    assert_eq!(sim.remaining_steps(), 80);
    assert!(matches!(
        sim.run_next_action().unwrap(),
        Some(Action::Initialise { .. })
    ));
    assert_eq!(sim.variable("P", "v").unwrap()[3], 0.03);
    sim.run_all().unwrap();
    assert!(sim.run_next_action().unwrap().is_none());
    assert_eq!(sim.step(), 80);
    assert_eq!(sim.t(), 80.0 * DT);
    assert_eq!(sim.remaining_steps(), 0);
    assert_eq!(*sim.variable("P", "x").unwrap(), [50.0 * DT]);

    let MonitorData::State { t, variables, .. } = &sim.monitors()[0] else {
        panic!()
    };
    let expected: Vec<f64> = (0..80).map(|s| s as f64 * DT).collect();
    assert_eq!(t, &expected);
    // x as recorded (shared: same value for every recorded neuron):
    // 0 during the first run, then 50 dt.
    let x = &variables[1].trace(1);
    assert!(x[..50].iter().all(|&v| v == 0.0));
    assert!(x[50..].iter().all(|&v| v == 50.0 * DT));

    // The two runs together equal one run of 80 steps.
    let r = reference(10, 80, false);
    assert_eq!(bits(&sim.variable("P", "v").unwrap()), bits(&r.v));
    assert_eq!(sim.timings().steps, 80);
    assert!(sim.timings().compile_seconds > 0.0);
}

#[test]
fn state_monitor_records_every_nth_step_before_the_update() {
    let mut model = Model::new(10);
    model.every = 3;
    model.actions = vec![
        Action::Initialise {
            kernel: INIT,
            group: 0,
        },
        Action::Run { steps: 10 },
        Action::Run { steps: 10 },
    ];
    let sim = simulate(&model, 1);
    let r = reference(10, 20, false);
    let MonitorData::State {
        t,
        variables,
        record,
        ..
    } = &sim.monitors()[0]
    else {
        panic!()
    };
    // Steps 0, 3, ..., 18, across the two runs.
    let steps: Vec<u64> = (0..20).step_by(3).collect();
    assert_eq!(t.len(), steps.len());
    assert_eq!(t[0], 0.0);
    // The first sample is the initial value, before any integration.
    assert_eq!(variables[0].at(1, 0), 0.03);
    for (k, &step) in steps.iter().enumerate() {
        assert_eq!(t[k], step as f64 * DT);
        for (ri, &i) in record.iter().enumerate() {
            assert_eq!(variables[0].at(ri, k), r.samples[step as usize].1[i]);
        }
    }
}

#[test]
fn advance_and_array_access() {
    let model = Model::new(10);
    let mut sim = Simulation::new(model.program(), RunConfig::default()).unwrap();
    sim.array_mut(V).fill(0.499);
    sim.array_mut(TAU).fill(0.01);
    sim.advance(1).unwrap();
    // Everyone crossed 0.5 in the first step and was reset.
    assert_eq!(sim.last_spikes(0), &(0..10).collect::<Vec<u32>>()[..]);
    assert!(sim.array(V).iter().all(|&v| v == 0.0));
    assert_eq!(sim.step(), 1);
    // `low` is checked after the threshold, before the reset: nobody.
    assert!(sim.last_events(0, 0).is_empty());
    sim.advance(1).unwrap();
    assert_eq!(sim.last_events(0, 0).len(), 10);
    assert!(sim.variable("P", "nope").is_none());
    assert!(sim.variable("Q", "v").is_none());
}

#[test]
fn interrupted_runs_resume() {
    let model = Model::new(10);
    let flag = Arc::new(AtomicBool::new(true));
    let mut sim = Simulation::new(model.program(), RunConfig::default()).unwrap();
    sim.set_interrupt(flag.clone());
    // The flag is honoured between actions too: nothing runs while it is
    // raised, not even the initialisation.
    let err = sim.run_next_action().unwrap_err();
    assert!(matches!(err, RuntimeError::Interrupted { .. }));
    flag.store(false, Ordering::Relaxed);
    sim.run_next_action().unwrap(); // initialisation
    flag.store(true, Ordering::Relaxed);
    let err = sim.run_next_action().unwrap_err();
    assert!(matches!(err, RuntimeError::Interrupted { .. }));
    assert_eq!(err.to_string(), "simulation interrupted at t = 0 ms");
    assert_eq!(sim.step(), 0);
    flag.store(false, Ordering::Relaxed);
    sim.run_all().unwrap();
    assert_eq!(sim.step(), 200);
    let uninterrupted = simulate(&model, 1);
    assert_eq!(sim.monitors(), uninterrupted.monitors());
}

#[test]
fn simulation_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Simulation>();
    send_sync::<RuntimeError>();
}

#[test]
fn inconsistent_programs_are_rejected() {
    let model = Model::new(10);
    let mut program = model.program();
    if let MonitorPlan::State { record, .. } = &mut program.monitors[0] {
        record.push(10);
    }
    let err = Simulation::new(program, RunConfig::default())
        .err()
        .expect("must fail");
    assert!(matches!(err, RuntimeError::InvalidProgram(_)));
    assert!(err
        .to_string()
        .contains("monitor `state` records neuron 10 of 10"));

    // A reset used as a Range kernel.
    let mut program = model.program();
    program.groups[0].state_update = Some(RESET);
    let err = Simulation::new(program, RunConfig::default())
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("not a Range kernel"), "{err}");

    // An array shorter than the group.
    let mut program = model.program();
    program.arrays[1].len = 5;
    assert!(Simulation::new(program, RunConfig::default()).is_err());

    // Invalid kernels are reported by the JIT.
    let mut program = model.program();
    program.kernels[1].body.push(Stmt::SetLocal(
        rheobase_kernel::LocalId(3),
        Expr::Const(1.0),
    ));
    let err = Simulation::new(program, RunConfig::default())
        .err()
        .expect("must fail");
    assert!(matches!(err, RuntimeError::Jit(_)), "{err}");
}
