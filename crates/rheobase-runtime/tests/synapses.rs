//! Synapses, connections, spike generators, summed variables, Poisson
//! inputs and tables: hand-built programs run by the real JIT.

use rheobase_kernel::program::{
    Action, ArrayDecl, ConnectPlan, GeneratorPlan, GroupPlan, KernelId, MonitorPlan, Multiplicity,
    PoissonInputPlan, Program, RecordedVariable, SummedPlan, SynapsesPlan, TableDecl, ValueKind,
};
use rheobase_kernel::{
    ArrayId, BinaryOp, Expr, IndexSpace, Iteration, Kernel, Stmt, TableId, UnaryOp,
};
use rheobase_runtime::{MonitorData, RunConfig, RuntimeError, Simulation};

const DT: f64 = 1e-4;

fn c(x: f64) -> Expr {
    Expr::Const(x)
}
fn ld(a: ArrayId, space: IndexSpace) -> Expr {
    Expr::Load(a, space)
}
fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
fn add(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Add, a, b)
}
fn sub(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Sub, a, b)
}
fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Mul, a, b)
}
fn store(a: ArrayId, space: IndexSpace, e: Expr) -> Stmt {
    Stmt::Store(a, space, e)
}
/// `a[space] += e`
fn inc(a: ArrayId, space: IndexSpace, e: Expr) -> Stmt {
    store(a, space, add(ld(a, space), e))
}
fn index(space: IndexSpace) -> Expr {
    Expr::Index(space)
}

/// Builds a [`Program`] piece by piece.
struct Builder {
    p: Program,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            p: Program {
                dt: DT,
                clocks: vec![rheobase_kernel::program::ClockPlan { dt: DT, every: 1 }],
                arrays: vec![],
                kernels: vec![],
                groups: vec![],
                monitors: vec![],
                actions: vec![],
                synapses: vec![],
                tables: vec![],
                poisson_inputs: vec![],
                regular: vec![],
                places: vec![],
                later_places: Vec::new(),
            },
        }
    }

    fn array(&mut self, name: &str, group: usize, len: usize, initial: f64) -> ArrayId {
        self.p.arrays.push(ArrayDecl {
            name: name.into(),
            group,
            len,
            initial,
            kind: ValueKind::Float,
            synapses: None,
        });
        ArrayId(self.p.arrays.len() as u32 - 1)
    }

    fn syn_array(&mut self, name: &str, synapses: usize, initial: f64) -> ArrayId {
        let group = self.p.synapses.get(synapses).map_or(0, |s| s.source);
        self.p.arrays.push(ArrayDecl {
            name: name.into(),
            group,
            len: 0,
            initial,
            kind: ValueKind::Float,
            synapses: Some(synapses),
        });
        ArrayId(self.p.arrays.len() as u32 - 1)
    }

    fn kernel(&mut self, name: &str, iteration: Iteration, body: Vec<Stmt>) -> KernelId {
        self.p.kernels.push(Kernel {
            name: name.into(),
            iteration,
            n_locals: 0,
            body,
        });
        KernelId(self.p.kernels.len() as u32 - 1)
    }

    fn group(&mut self, name: &str, size: usize) -> usize {
        self.p.groups.push(GroupPlan {
            name: name.into(),
            clock: 0,
            size,
            variables: vec![],
            method: None,
            state_update: None,
            spike: None,
            generator: None,
            events: vec![],
        });
        self.p.groups.len() - 1
    }

    fn generator(
        &mut self,
        name: &str,
        size: usize,
        spikes: Vec<(u64, u32)>,
        period: u64,
    ) -> usize {
        let g = self.group(name, size);
        self.p.groups[g].generator = Some(GeneratorPlan {
            spikes,
            period,
            from_step: 0,
        });
        g
    }

    /// A Synapses object over whole groups, with a synaptic `delay`
    /// (initially 0) and no pathways yet.
    fn synapses(&mut self, name: &str, source: usize, target: usize) -> usize {
        let s = self.p.synapses.len();
        let (ns, nt) = (self.p.groups[source].size, self.p.groups[target].size);
        self.p.synapses.push(SynapsesPlan {
            clock: 0,
            name: name.into(),
            source,
            source_start: 0,
            source_stop: ns,
            target,
            target_start: 0,
            target_stop: nt,
            source_synapses: None,
            target_synapses: None,
            variables: vec![],
            connect: vec![],
            delay: ArrayId(u32::MAX),
            on_pre: None,
            on_post: None,
            pre_event: None,
            post_event: None,
            pathways: vec![],
            state_update: None,
            summed: vec![],
            n_incoming: None,
            n_outgoing: None,
            n_synapses: None,
        });
        let delay = self.syn_array(&format!("{name}.delay"), s, 0.0);
        self.p.synapses[s].delay = delay;
        self.p.synapses[s].variables.push(("delay".into(), delay));
        s
    }

    /// Adds a connect line and the action that runs it.
    fn connect(&mut self, s: usize, plan: ConnectPlan) {
        self.p.synapses[s].connect.push(plan);
        let connect = self.p.synapses[s].connect.len() - 1;
        self.p.actions.push(Action::Connect {
            synapses: s,
            connect,
        });
    }

    fn init_synapses(&mut self, s: usize, name: &str, body: Vec<Stmt>) {
        let kernel = self.kernel(name, Iteration::Range, body);
        self.p.actions.push(Action::InitialiseSynapses {
            kernel,
            synapses: s,
        });
    }

    fn run(&mut self, steps: u64) {
        self.p.actions.push(Action::Run { steps });
    }

    fn state_monitor(
        &mut self,
        name: &str,
        group: usize,
        synapses: Option<usize>,
        vars: &[(&str, ArrayId)],
        record: Vec<usize>,
    ) -> usize {
        self.p.monitors.push(MonitorPlan::State {
            source_start: 0,
            name: name.into(),
            group,
            synapses,
            variables: vars
                .iter()
                .map(|(n, a)| RecordedVariable {
                    name: (*n).into(),
                    array: *a,
                    kind: ValueKind::Float,
                })
                .collect(),
            record,
            every: 1,
            prepare: None,
            record_all_synapses: false,
            record_pairs: None,
            schedule: None,
            from_step: 0,
        });
        self.p.monitors.len() - 1
    }

    fn spike_monitor(&mut self, name: &str, group: usize) -> usize {
        let stop = self.p.groups[group].size;
        self.p.monitors.push(MonitorPlan::Spike {
            name: name.into(),
            group,
            start: 0,
            stop,
            variables: vec![],
            event: None,
            record: true,
            schedule: None,
            from_step: 0,
        });
        self.p.monitors.len() - 1
    }

    fn build(self, threads: usize) -> Simulation {
        Simulation::new(self.p, RunConfig { seed: 7, threads }).expect("program is valid")
    }
}

/// `series[r][k]` of variable `var` of a StateMonitor.
fn state_series(sim: &Simulation, monitor: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    match &sim.monitors()[monitor] {
        MonitorData::State { t, variables, .. } => (t.clone(), variables[0].traces()),
        other => panic!("not a state monitor: {other:?}"),
    }
}

/// A group of `n` neurons with `v`, where neuron `who` spikes at step
/// `at` through a threshold kernel (`|t - at*dt| < dt/2`).
fn spiking_group(b: &mut Builder, name: &str, n: usize, who: usize, at: u64) -> (usize, ArrayId) {
    let g = b.group(name, n);
    let v = b.array(&format!("{name}.v"), g, n, 0.0);
    let cond = bin(
        BinaryOp::And,
        bin(BinaryOp::Eq, index(IndexSpace::Own), c(who as f64)),
        bin(
            BinaryOp::Lt,
            Expr::Unary(UnaryOp::Abs, Box::new(sub(Expr::Time, c(at as f64 * DT)))),
            c(DT / 2.0),
        ),
    );
    let threshold = b.kernel(
        &format!("{name}.threshold"),
        Iteration::Range,
        vec![Stmt::If {
            cond,
            then: vec![Stmt::Emit],
        }],
    );
    b.p.groups[g].spike = Some(rheobase_kernel::program::EventPlan {
        name: "spike".into(),
        condition: threshold,
        effect: None,
    });
    b.p.groups[g].variables.push(("v".into(), v));
    (g, v)
}

/// (a) A spike at step 10 reaches the target exactly `delay` steps later.
#[test]
fn homogeneous_delay_shifts_the_effect_by_whole_steps() {
    let mut b = Builder::new();
    let (g, _) = spiking_group(&mut b, "G", 2, 0, 10);
    let h = b.group("H", 2);
    let v = b.array("H.v", h, 2, 0.0);
    let s = b.synapses("S", g, h);
    let w = b.syn_array("S.w", s, 0.5);
    let delay = b.p.synapses[s].delay;
    let on_pre = b.kernel(
        "S.on_pre",
        Iteration::List,
        vec![inc(v, IndexSpace::Post, ld(w, IndexSpace::Own))],
    );
    b.p.synapses[s].on_pre = Some(on_pre);
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![0],
            j: vec![1],
            n: 1,
        },
    );
    b.init_synapses(
        s,
        "S.delay_init",
        vec![store(delay, IndexSpace::Own, c(1.5e-3))],
    );
    let m = b.state_monitor("M", h, None, &[("v", v)], vec![0, 1]);
    b.run(40);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (_, series) = state_series(&sim, m);
    // Sampled at the start of each step: the jump at step 25 shows at 26.
    for (k, &x) in series[1].iter().enumerate() {
        let expected = if k >= 26 { 0.5 } else { 0.0 };
        assert_eq!(x, expected, "sample {k}");
    }
    assert!(series[0].iter().all(|&x| x == 0.0));
    let stats = sim.synapse_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].name, "S");
    assert_eq!(stats[0].synapses, 1);
    assert!(stats[0].bytes > 0);
    assert!(sim.timings().connect_seconds >= stats[0].connect_seconds);
}

/// (b) Per-synapse delays (0, 3 and 10 steps), a spike in flight across
/// runs, and a queue that grows between runs.
#[test]
fn heterogeneous_delays_and_spikes_in_flight_between_runs() {
    let mut b = Builder::new();
    let g = b.generator("G", 1, vec![(10, 0), (25, 0)], 0);
    let h = b.group("H", 3);
    let arrival = b.array("H.arrival", h, 3, -1.0);
    let s = b.synapses("S", g, h);
    let delay = b.p.synapses[s].delay;
    let on_pre = b.kernel(
        "S.on_pre",
        Iteration::List,
        vec![store(arrival, IndexSpace::Post, Expr::Time)],
    );
    b.p.synapses[s].on_pre = Some(on_pre);
    b.connect(
        s,
        ConnectPlan::AllPairs {
            p: None,
            filter: None,
            n: Multiplicity::Constant(1),
        },
    );
    // delay = i² · 0.3 ms = [0, 0.3, 1.2] ms → 0, 3 and 12 steps.
    b.init_synapses(
        s,
        "S.delay_init",
        vec![store(
            delay,
            IndexSpace::Own,
            mul(
                index(IndexSpace::Own),
                mul(index(IndexSpace::Own), c(0.3e-3)),
            ),
        )],
    );
    b.run(15);
    // The spike of step 10 to target 2 (due at 22) is in flight. New
    // delays (30 steps for everyone) apply to later spikes only.
    b.init_synapses(
        s,
        "S.delay_init2",
        vec![store(delay, IndexSpace::Own, c(3e-3))],
    );
    b.run(60);
    let mut sim = b.build(1);
    sim.run_next_action().unwrap(); // connect
    sim.run_next_action().unwrap(); // delays
    sim.run_next_action().unwrap(); // run 15
    let at = |sim: &Simulation| sim.array(arrival).to_vec();
    let got = at(&sim);
    assert!((got[0] - 10.0 * DT).abs() < 1e-12, "{got:?}");
    assert!((got[1] - 13.0 * DT).abs() < 1e-12, "{got:?}");
    assert_eq!(got[2], -1.0);
    sim.run_all().unwrap();
    let got = at(&sim);
    assert!((got[2] - 55.0 * DT).abs() < 1e-12, "{got:?}");
    assert!((got[0] - 55.0 * DT).abs() < 1e-12, "{got:?}");
}

/// The in-flight spike of the first run arrives at its old due step.
#[test]
fn queued_spikes_keep_their_due_step_when_delays_change() {
    let mut b = Builder::new();
    let g = b.generator("G", 1, vec![(10, 0)], 0);
    let h = b.group("H", 1);
    let arrival = b.array("H.arrival", h, 1, -1.0);
    let s = b.synapses("S", g, h);
    let delay = b.p.synapses[s].delay;
    let on_pre = b.kernel(
        "S.on_pre",
        Iteration::List,
        vec![store(arrival, IndexSpace::Post, Expr::Time)],
    );
    b.p.synapses[s].on_pre = Some(on_pre);
    b.connect(
        s,
        ConnectPlan::AllPairs {
            p: None,
            filter: None,
            n: Multiplicity::Constant(1),
        },
    );
    b.init_synapses(s, "S.d1", vec![store(delay, IndexSpace::Own, c(1e-3))]);
    b.run(15);
    b.init_synapses(s, "S.d2", vec![store(delay, IndexSpace::Own, c(3.3e-3))]);
    b.run(30);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    assert!((sim.array(arrival)[0] - 20.0 * DT).abs() < 1e-12);
}

fn all_pairs_p(threads: usize) -> (Vec<u32>, Vec<u32>) {
    let mut b = Builder::new();
    let g = b.group("G", 2000);
    let s = b.synapses("S", g, g);
    b.connect(
        s,
        ConnectPlan::AllPairs {
            p: Some(0.1),
            filter: None,
            n: Multiplicity::Constant(1),
        },
    );
    let mut sim = b.build(threads);
    sim.run_all().unwrap();
    let (pre, post) = sim.connections(0);
    (pre.to_vec(), post.to_vec())
}

/// (c) Bernoulli connectivity: the count is binomial, rows are in order,
/// and the result does not depend on the thread count.
#[test]
fn random_connectivity_is_binomial_and_thread_independent() {
    let (pre, post) = all_pairs_p(1);
    let n = pre.len() as f64;
    let sd = (4e6 * 0.1 * 0.9_f64).sqrt();
    assert!((n - 4e5).abs() < 4.0 * sd, "{n} synapses");
    // Row-major order, no duplicate pair.
    let pairs: Vec<(u32, u32)> = pre.iter().copied().zip(post.iter().copied()).collect();
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    // Every row gets about 200.
    let mut per_row = vec![0u32; 2000];
    for &i in &pre {
        per_row[i as usize] += 1;
    }
    assert!(per_row.iter().all(|&k| (100..300).contains(&k)));
    assert_eq!(all_pairs_p(2), (pre, post));
}

/// (d) Explicit pairs with `n = 2`, subgroup ranges, N_incoming/N_outgoing.
#[test]
fn explicit_pairs_multisynapses_and_counts() {
    let mut b = Builder::new();
    let g = b.group("G", 4);
    let h = b.group("H", 5);
    let s = b.synapses("S", g, h);
    b.p.synapses[s].source_start = 1; // G[1:4]
    b.p.synapses[s].target_start = 2; // H[2:5]
    let n_in = b.syn_array("S.N_incoming", s, 0.0);
    let n_out = b.syn_array("S.N_outgoing", s, 0.0);
    b.p.synapses[s].n_incoming = Some(n_in);
    b.p.synapses[s].n_outgoing = Some(n_out);
    let w = b.syn_array("S.w", s, 3.0);
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![1, 0, 1],
            j: vec![2, 2, 0],
            n: 2,
        },
    );
    b.init_synapses(
        s,
        "S.w_init",
        vec![store(
            w,
            IndexSpace::Own,
            add(
                mul(index(IndexSpace::Pre), c(10.0)),
                index(IndexSpace::Post),
            ),
        )],
    );
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![2],
            j: vec![1],
            n: 1,
        },
    );
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (pre, post) = sim.connections(0);
    assert_eq!(pre, &[2, 2, 1, 1, 2, 2, 3]);
    assert_eq!(post, &[4, 4, 4, 4, 2, 2, 3]);
    // The second connection's synapse starts at w's initial value.
    assert_eq!(*sim.array(w), [24.0, 24.0, 14.0, 14.0, 22.0, 22.0, 3.0]);
    assert_eq!(*sim.array(n_in), [4.0, 4.0, 4.0, 4.0, 2.0, 2.0, 1.0]);
    assert_eq!(*sim.array(n_out), [4.0, 4.0, 2.0, 2.0, 4.0, 4.0, 1.0]);
    assert_eq!(sim.synapse_variable("S", "delay").unwrap().len(), 7);
}

#[test]
fn explicit_index_out_of_range_is_an_error() {
    let mut b = Builder::new();
    let g = b.group("G", 4);
    let s = b.synapses("S", g, g);
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![1],
            j: vec![4],
            n: 1,
        },
    );
    let mut sim = b.build(1);
    let err = sim.run_all().unwrap_err();
    assert!(matches!(&err, RuntimeError::Connect { synapses, .. } if synapses == "S"));
    assert!(err.to_string().contains("j=4"), "{err}");
}

/// `range(i - 1, i + 2)` over 5 x 5, via a bounds kernel.
fn neighbours(b: &mut Builder, skip_if_invalid: bool) -> usize {
    let g = b.group("G", 5);
    let s = b.synapses("S", g, g);
    let start = b.array("S._start", g, 5, 0.0);
    let stop = b.array("S._stop", g, 5, 0.0);
    let step = b.array("S._step", g, 5, 0.0);
    let i = index(IndexSpace::Own);
    let bounds = b.kernel(
        "S.connect0.bounds",
        Iteration::Range,
        vec![
            store(start, IndexSpace::Own, sub(i.clone(), c(1.0))),
            store(stop, IndexSpace::Own, add(i, c(2.0))),
            store(step, IndexSpace::Own, c(1.0)),
        ],
    );
    b.connect(
        s,
        ConnectPlan::Generator {
            over_targets: false,
            element: None,
            bounds,
            start,
            stop,
            step,
            sample_p: None,
            sample_size: None,
            filter: None,
            skip_if_invalid,
            n: Multiplicity::Constant(1),
        },
    );
    s
}

/// (e) Generators, samples and mappings.
#[test]
fn generator_with_skip_if_invalid() {
    let mut b = Builder::new();
    neighbours(&mut b, true);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (pre, post) = sim.connections(0);
    assert_eq!(pre, &[0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]);
    assert_eq!(post, &[0, 1, 0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4]);

    let mut b = Builder::new();
    neighbours(&mut b, false);
    let mut sim = b.build(1);
    let err = sim.run_all().unwrap_err();
    assert!(matches!(err, RuntimeError::Connect { .. }));
    assert!(err.to_string().contains("j=-1 for i=0"), "{err}");
}

/// An invalid target rejected by a condition that does not need the
/// target is not an error (Brian2 checks the index after the condition).
#[test]
fn invalid_target_dropped_by_condition_is_not_an_error() {
    let mut b = Builder::new();
    let g = b.group("G", 5);
    let s = b.synapses("S", g, g);
    let target = b.array("S._j", g, 5, 0.0);
    let target_of = b.kernel(
        "S.connect0.target",
        Iteration::Range,
        vec![store(
            target,
            IndexSpace::Own,
            add(index(IndexSpace::Own), c(1.0)),
        )],
    );
    // `j = i + 1 if i < 4`
    let filter = b.kernel(
        "S.connect0.filter",
        Iteration::List,
        vec![Stmt::If {
            cond: bin(BinaryOp::Lt, index(IndexSpace::Pre), c(4.0)),
            then: vec![Stmt::Emit],
        }],
    );
    b.connect(
        s,
        ConnectPlan::Mapping {
            target_of,
            scratch: target,
            filter: Some(filter),
            skip_if_invalid: false,
            n: Multiplicity::Constant(1),
        },
    );
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (pre, post) = sim.connections(0);
    assert_eq!(pre, &[0, 1, 2, 3]);
    assert_eq!(post, &[1, 2, 3, 4]);
}

#[test]
fn mapping_one_to_one_with_subgroups() {
    let mut b = Builder::new();
    let g = b.group("G", 6);
    let h = b.group("H", 6);
    let s = b.synapses("S", g, h);
    b.p.synapses[s].source_start = 2; // G[2:6] -> H[0:4]
    b.p.synapses[s].target_stop = 4;
    let target = b.array("S._j", g, 6, 0.0);
    // j = i (relative): absolute source index - source_start.
    let target_of = b.kernel(
        "S.connect0.target",
        Iteration::Range,
        vec![store(
            target,
            IndexSpace::Own,
            sub(index(IndexSpace::Own), c(2.0)),
        )],
    );
    b.connect(
        s,
        ConnectPlan::Mapping {
            target_of,
            scratch: target,
            filter: None,
            skip_if_invalid: false,
            n: Multiplicity::Constant(1),
        },
    );
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (pre, post) = sim.connections(0);
    assert_eq!(pre, &[2, 3, 4, 5]);
    assert_eq!(post, &[0, 1, 2, 3]);
}

fn sample(size: u64, skip_if_invalid: bool, threads: usize) -> Result<Simulation, RuntimeError> {
    let mut b = Builder::new();
    let g = b.group("G", 50);
    let h = b.group("H", 10);
    let s = b.synapses("S", g, h);
    let start = b.array("S._start", g, 50, 0.0);
    let stop = b.array("S._stop", g, 50, 0.0);
    let step = b.array("S._step", g, 50, 0.0);
    let bounds = b.kernel(
        "S.connect0.bounds",
        Iteration::Range,
        vec![
            store(start, IndexSpace::Own, c(0.0)),
            store(stop, IndexSpace::Own, c(10.0)),
            store(step, IndexSpace::Own, c(1.0)),
        ],
    );
    b.connect(
        s,
        ConnectPlan::Generator {
            over_targets: false,
            element: None,
            bounds,
            start,
            stop,
            step,
            sample_p: None,
            sample_size: Some(size),
            filter: None,
            skip_if_invalid,
            n: Multiplicity::Constant(1),
        },
    );
    let mut sim = b.build(threads);
    sim.run_all()?;
    Ok(sim)
}

#[test]
fn fixed_size_samples() {
    let sim = sample(3, false, 1).unwrap();
    let (pre, post) = sim.connections(0);
    assert_eq!(pre.len(), 150);
    for i in 0..50 {
        let row: Vec<u32> = (0..150).filter(|&s| pre[s] == i).map(|s| post[s]).collect();
        assert_eq!(row.len(), 3);
        assert!(row.windows(2).all(|w| w[0] < w[1]), "{row:?}");
    }
    // Not every row the same.
    assert!((0..50).any(|r| post[3 * r..3 * r + 3] != post[..3]));
    let again = sample(3, false, 4).unwrap();
    assert_eq!(again.connections(0), sim.connections(0));

    let err = sample(11, false, 1).err().unwrap();
    assert!(err.to_string().contains("sample size 11"), "{err}");
    let all = sample(11, true, 1).unwrap();
    assert_eq!(all.connections(0).0.len(), 500);
}

/// A condition on the pair: `i != j` with a random part keyed by (i, j).
#[test]
fn filtered_all_pairs() {
    let run = |threads: usize| {
        let mut b = Builder::new();
        let g = b.group("G", 30);
        let s = b.synapses("S", g, g);
        let filter = b.kernel(
            "S.connect0.filter",
            Iteration::List,
            vec![Stmt::If {
                cond: bin(
                    BinaryOp::And,
                    bin(
                        BinaryOp::Ne,
                        index(IndexSpace::Pre),
                        index(IndexSpace::Post),
                    ),
                    bin(
                        BinaryOp::Lt,
                        Expr::Rand {
                            kind: rheobase_kernel::RandKind::Uniform,
                            draw: 0,
                        },
                        c(0.5),
                    ),
                ),
                then: vec![Stmt::Emit],
            }],
        );
        b.connect(
            s,
            ConnectPlan::AllPairs {
                p: Some(0.8),
                filter: Some(filter),
                n: Multiplicity::Constant(1),
            },
        );
        let mut sim = b.build(threads);
        sim.run_all().unwrap();
        let (pre, post) = sim.connections(0);
        (pre.to_vec(), post.to_vec())
    };
    let (pre, post) = run(1);
    assert!(pre.iter().zip(&post).all(|(i, j)| i != j));
    let n = pre.len() as f64;
    let expected = 870.0 * 0.4;
    assert!(
        (n - expected).abs() < 4.0 * (870.0 * 0.4 * 0.6_f64).sqrt(),
        "{n}"
    );
    assert_eq!(run(3), (pre, post));
}

/// (f) `Igap_post = w*(v_pre - v_post) (summed)` over a target subgroup.
#[test]
fn summed_variable_replaces_the_target_values() {
    let mut b = Builder::new();
    let g = b.group("G", 4);
    let v = b.array("G.v", g, 4, 0.0);
    let igap = b.array("G.Igap", g, 4, 7.0);
    let set_v = b.kernel(
        "G.init",
        Iteration::Range,
        vec![store(v, IndexSpace::Own, index(IndexSpace::Own))],
    );
    b.p.actions.push(Action::Initialise {
        kernel: set_v,
        group: g,
    });
    let s = b.synapses("S", g, g);
    b.p.synapses[s].source_stop = 3; // G[0:3] -> G[1:4]
    b.p.synapses[s].target_start = 1;
    let w = b.syn_array("S.w", s, 1.0);
    let scratch = b.syn_array("S._summed_Igap", s, 0.0);
    let kernel = b.kernel(
        "S.summed_Igap",
        Iteration::Range,
        vec![store(
            scratch,
            IndexSpace::Own,
            mul(
                ld(w, IndexSpace::Own),
                sub(ld(v, IndexSpace::Pre), ld(v, IndexSpace::Post)),
            ),
        )],
    );
    b.p.synapses[s].summed.push(SummedPlan {
        kernel,
        scratch,
        target: igap,
        from_step: 0,
    });
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![0, 1, 2, 0, 1],
            j: vec![0, 0, 0, 1, 1],
            n: 1,
        },
    );
    b.run(1);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    // Targets 1, 2, 3 (relative 0, 1, 2): sources {0,1,2} -> 1,
    // {0,1} -> 2, none -> 3.
    let expected_1 = (0.0 - 1.0) + (1.0 - 1.0) + (2.0 - 1.0);
    let expected_2 = (0.0 - 2.0) + (1.0 - 2.0);
    assert_eq!(*sim.array(igap), [7.0, expected_1, expected_2, 0.0]);
}

/// (g) A spike generator with a period, seen by monitors and counts.
#[test]
fn generator_group_with_period() {
    let mut b = Builder::new();
    let g = b.generator("G", 3, vec![(0, 1), (2, 0), (2, 2)], 5);
    let m = b.spike_monitor("M", g);
    b.p.monitors.push(MonitorPlan::Rate {
        name: "R".into(),
        group: g,
        start: 0,
        stop: 3,
        from_step: 0,
    });
    b.run(7);
    b.run(5);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let MonitorData::Spike { i, t, count, .. } = &sim.monitors()[m] else {
        panic!()
    };
    assert_eq!(i, &[1, 0, 2, 1, 0, 2, 1]);
    let steps: Vec<u64> = t.iter().map(|&t| (t / DT).round() as u64).collect();
    assert_eq!(steps, [0, 2, 2, 5, 7, 7, 10]);
    assert_eq!(count, &[2, 3, 2]);
    assert_eq!(sim.spike_counts(), vec![("G".to_string(), 7)]);
    let MonitorData::Rate { rate, .. } = &sim.monitors()[1] else {
        panic!()
    };
    assert!((rate[2] - 2.0 / 3.0 / DT).abs() < 1e-6);
    assert_eq!(rate[1], 0.0);
}

/// (h) In one step, `on_pre` runs before `on_post`, and `on_post` goes by
/// target neuron, then synapse index.
#[test]
fn post_pathway_runs_after_pre_in_target_order() {
    let mut b = Builder::new();
    let g = b.generator("G", 3, vec![(3, 1)], 0);
    let h = b.generator("H", 3, vec![(3, 0), (3, 2)], 0);
    let counter = b.array("H.counter", h, 1, 0.0);
    let s = b.synapses("S", g, h);
    let pre_seq = b.syn_array("S.pre_seq", s, -1.0);
    let post_seq = b.syn_array("S.post_seq", s, -1.0);
    let tick = |seq: ArrayId| {
        vec![
            store(seq, IndexSpace::Own, ld(counter, IndexSpace::Shared)),
            inc(counter, IndexSpace::Shared, c(1.0)),
        ]
    };
    let on_pre = b.kernel("S.on_pre", Iteration::List, tick(pre_seq));
    let on_post = b.kernel("S.on_post", Iteration::List, tick(post_seq));
    b.p.synapses[s].on_pre = Some(on_pre);
    b.p.synapses[s].on_post = Some(on_post);
    // s0: 0->2, s1: 1->0, s2: 2->1, s3: 0->0
    b.connect(
        s,
        ConnectPlan::Explicit {
            i: vec![0, 1, 2, 0],
            j: vec![2, 0, 1, 0],
            n: 1,
        },
    );
    b.run(5);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    assert_eq!(*sim.array(pre_seq), [-1.0, 0.0, -1.0, -1.0]);
    assert_eq!(*sim.array(post_seq), [3.0, 1.0, -1.0, 2.0]);
}

/// (i) A PoissonInput adding `binomial(n, p)` per neuron and step.
#[test]
fn poisson_input_binomial_mean() {
    for (n, p) in [(100u64, 0.02), (1000, 0.1)] {
        let mut b = Builder::new();
        let g = b.group("G", 20_000);
        let v = b.array("G.v", g, 20_000, 0.0);
        let kernel = b.kernel(
            "PI",
            Iteration::Range,
            vec![inc(v, IndexSpace::Own, Expr::Binomial { n, p, draw: 0 })],
        );
        b.p.poisson_inputs.push(PoissonInputPlan {
            name: "PI".into(),
            brian_name: "poissoninput".into(),
            group: g,
            kernel,
        });
        b.run(10);
        let mut sim = b.build(2);
        sim.run_all().unwrap();
        let values = sim.array(v);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / values.len() as f64;
        let (m, s2) = (10.0 * n as f64 * p, 10.0 * n as f64 * p * (1.0 - p));
        assert!(
            (mean - m).abs() < 5.0 * (s2 / 20_000.0).sqrt(),
            "n={n} p={p}: {mean}"
        );
        assert!((var - s2).abs() < 0.1 * s2, "n={n} p={p}: var {var}");
    }
}

/// (j) A StateMonitor on synapses, and an out-of-range synapse index.
#[test]
fn state_monitor_on_synapses() {
    let build = |record: Vec<usize>| {
        let mut b = Builder::new();
        let g = b.group("G", 3);
        let s = b.synapses("S", g, g);
        let w = b.syn_array("S.w", s, 0.0);
        let update = b.kernel(
            "S.state_update",
            Iteration::Range,
            vec![inc(w, IndexSpace::Own, add(c(1.0), index(IndexSpace::Pre)))],
        );
        b.p.synapses[s].state_update = Some(update);
        b.connect(
            s,
            ConnectPlan::Explicit {
                i: vec![0, 1, 2],
                j: vec![0, 0, 0],
                n: 1,
            },
        );
        b.state_monitor("M", g, Some(s), &[("w", w)], record);
        b.run(4);
        b.build(1)
    };
    let mut sim = build(vec![0, 2]);
    sim.run_all().unwrap();
    let (t, series) = state_series(&sim, 0);
    assert_eq!(t.len(), 4);
    assert_eq!(series[0], [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(series[1], [0.0, 3.0, 6.0, 9.0]);

    let mut sim = build(vec![3]);
    let err = sim.run_all().unwrap_err();
    assert!(matches!(&err, RuntimeError::Record { monitor, .. } if monitor == "M"));
    assert!(err.to_string().contains("synapse 3"), "{err}");
}

/// Tables are passed to kernels: `v = table(t)` with rows every 2 steps.
#[test]
fn lookup_tables_reach_kernels() {
    let mut b = Builder::new();
    let g = b.group("G", 2);
    let v = b.array("G.v", g, 2, 0.0);
    b.p.tables.push(TableDecl {
        name: "stim".into(),
        values: vec![1.0, 2.0, 3.0],
        rows: 3,
        columns: 1,
        dt: 2.0 * DT,
    });
    let update = b.kernel(
        "G.state_update",
        Iteration::Range,
        vec![store(
            v,
            IndexSpace::Own,
            Expr::Table {
                table: TableId(0),
                time: Box::new(Expr::Time),
                column: None,
            },
        )],
    );
    b.p.groups[g].state_update = Some(update);
    let m = b.state_monitor("M", g, None, &[("v", v)], vec![1]);
    b.run(8);
    let mut sim = b.build(1);
    sim.run_all().unwrap();
    let (_, series) = state_series(&sim, m);
    // Sample k shows the value set in step k-1: table(t = (k-1)*dt).
    assert_eq!(series[0], [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
}

/// A synapse kernel that writes a neuron array through an own index is
/// rejected before running.
#[test]
fn synapse_kernel_with_neuron_own_array_is_invalid() {
    let mut b = Builder::new();
    let g = b.group("G", 3);
    let v = b.array("G.v", g, 3, 0.0);
    let s = b.synapses("S", g, g);
    let on_pre = b.kernel(
        "S.on_pre",
        Iteration::List,
        vec![inc(v, IndexSpace::Own, c(1.0))],
    );
    b.p.synapses[s].on_pre = Some(on_pre);
    let err = Simulation::new(b.p, RunConfig::default()).err().unwrap();
    assert!(matches!(err, RuntimeError::InvalidProgram(_)), "{err}");
}
