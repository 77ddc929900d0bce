//! Whole models: the CUBA example of the language description and an HH
//! model whose `dv/dt` spans three lines.

mod common;

use common::*;
use rheobase_syntax::ast::*;

const CUBA: &str = "# CUBA: Vogels & Abbott (2005), current-based exponential synapses.
taum = 20*ms
taue = 5*ms
taui = 10*ms
Vt = -50*mV
Vr = -60*mV
El = -49*mV
we = (60*0.27/10)*mV
wi = (-20*4.5/10)*mV

defaultclock.dt = 0.1*ms
seed(42)

NeuronGroup P(4000):
    model:
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
    threshold: v > Vt
    reset: v = Vr
    refractory: 5*ms
    method: exact
    init:
        v = Vr + rand()*(Vt - Vr)
        ge = 0*mV
        gi = 0*mV

Synapses Ce(P[0:3200] -> P):
    on_pre: ge += we
    connect: p=0.02

Synapses Ci(P[3200:4000] -> P):
    on_pre: gi += wi
    connect: p=0.02

SpikeMonitor spikes(P)
StateMonitor trace(P):
    variables: v, ge
    record: 0, 1, 2

run 1*second
";

#[test]
fn cuba_parses_with_the_expected_shape() {
    let m = ok(CUBA);
    let kinds: Vec<&str> = m
        .items
        .iter()
        .map(|it| match it {
            Item::Constant { .. } => "const",
            Item::Subgroup { .. } => "subgroup",
            Item::SetDt { .. } => "dt",
            Item::Seed { .. } => "seed",
            Item::SetVariable { .. } => "setvar",
            Item::LinkVariable { .. } => "link",
            Item::SetVariableWhere { .. } => "setwhere",
            Item::SetSchedule(_) => "schedule",
            Item::SetPathwayDelay { .. } => "pathwaydelay",
            Item::Run { .. } => "run",
            Item::NeuronGroup(_) => "NeuronGroup",
            Item::Synapses(_) => "Synapses",
            Item::PoissonGroup(_) => "PoissonGroup",
            Item::PoissonInput(_) => "PoissonInput",
            Item::SpikeGeneratorGroup(_) => "SpikeGeneratorGroup",
            Item::TimedArray(_) => "TimedArray",
            Item::Clock(_) => "Clock",
            Item::SpikeMonitor(_) => "SpikeMonitor",
            Item::StateMonitor(_) => "StateMonitor",
            Item::PopulationRateMonitor(_) => "PopulationRateMonitor",
            Item::RunRegularly { .. } => "run_regularly",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "const",
            "const",
            "const",
            "const",
            "const",
            "const",
            "const",
            "const",
            "dt",
            "seed",
            "NeuronGroup",
            "Synapses",
            "Synapses",
            "SpikeMonitor",
            "StateMonitor",
            "run"
        ]
    );

    let Item::Constant { name, value, span } = &m.items[7] else {
        panic!()
    };
    assert_eq!(name.name, "wi");
    assert_eq!(sx(value), "(* (/ (* (neg 20i) 4.5) 10i) mV)");
    assert_eq!(text(CUBA, *span), "wi = (-20*4.5/10)*mV");

    let Item::SetDt { value, .. } = &m.items[8] else {
        panic!()
    };
    assert_eq!(sx(value), "(* 0.1 ms)");
    let Item::Seed { value, .. } = &m.items[9] else {
        panic!()
    };
    assert_eq!(sx(value.as_ref().unwrap()), "42i");

    let Item::NeuronGroup(g) = &m.items[10] else {
        panic!()
    };
    assert_eq!(g.name.name, "P");
    assert_eq!(sx(&g.size), "4000i");
    assert_eq!(g.model.len(), 3);
    let EquationKind::Differential(rhs) = &g.model[0].kind else {
        panic!()
    };
    assert_eq!(sx(rhs), "(/ (- (+ ge gi) (- v El)) taum)");
    assert_eq!(g.model[0].variable.name, "v");
    assert_eq!(sx(&g.model[0].unit), "volt");
    assert_eq!(g.model[0].flags[0].name, "unless refractory");
    assert_eq!(
        text(CUBA, g.model[0].span),
        "dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)"
    );
    assert_eq!(sx(g.threshold.as_ref().unwrap()), "(> v Vt)");
    let reset = g.reset.as_ref().unwrap();
    assert_eq!(reset.statements.len(), 1);
    assert_eq!(reset.statements[0].target.name, "v");
    assert_eq!(reset.statements[0].op, AssignOp::Assign);
    assert_eq!(sx(&reset.statements[0].value), "Vr");
    assert_eq!(sx(g.refractory.as_ref().unwrap()), "(* 5i ms)");
    assert_eq!(g.method.as_ref().unwrap().name, "exact");
    let init = g.init.as_ref().unwrap();
    assert_eq!(init.statements.len(), 3);
    assert_eq!(sx(&init.statements[0].value), "(+ Vr (* rand() (- Vt Vr)))");
    assert_eq!(
        text(CUBA, init.span),
        "v = Vr + rand()*(Vt - Vr)\n        ge = 0*mV\n        gi = 0*mV"
    );
    assert!(text(CUBA, g.span).starts_with("NeuronGroup P(4000):"));
    assert!(text(CUBA, g.span).ends_with("gi = 0*mV"));

    let Item::Synapses(s) = &m.items[11] else {
        panic!()
    };
    assert_eq!(s.name.name, "Ce");
    let slice = s.source.slice.as_ref().unwrap();
    assert_eq!(sx(slice.start.as_ref().unwrap()), "0i");
    assert_eq!(sx(slice.stop.as_ref().unwrap()), "3200i");
    assert_eq!(text(CUBA, s.source.span), "P[0:3200]");
    assert_eq!(s.target.group.name, "P");
    assert!(s.target.slice.is_none());
    let pre = s.on_pre.as_ref().unwrap();
    assert_eq!(pre.statements[0].op, AssignOp::Add);
    assert_eq!(s.connect.len(), 1);
    assert_eq!(sx(s.connect[0].p.as_ref().unwrap()), "0.02");

    let Item::SpikeMonitor(sm) = &m.items[13] else {
        panic!()
    };
    assert_eq!(sm.source.group.name, "P");
    assert!(sm.variables.is_empty());
    let Item::StateMonitor(st) = &m.items[14] else {
        panic!()
    };
    let vars: Vec<&str> = st.variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(vars, ["v", "ge"]);
    let Some(Record::List(rec)) = &st.record else {
        panic!()
    };
    assert_eq!(rec.iter().map(sx).collect::<Vec<_>>(), ["0i", "1i", "2i"]);
    let Item::Run { duration, .. } = &m.items[15] else {
        panic!()
    };
    assert_eq!(sx(duration), "(* 1i second)");
}

const COBAHH: &str = "\
# COBAHH (Brette et al. 2007): Hodgkin-Huxley neurons, conductance synapses.
area = 20000*umetre**2
Cm = (1*ufarad*cm**-2) * area
gl = 5e-5*siemens*cm**-2 * area
El = -60*mV
EK = -90*mV
ENa = 50*mV
g_na = (100*msiemens*cm**-2) * area
g_kd = (30*msiemens*cm**-2) * area
VT = -63*mV
taue = 5*ms
taui = 10*ms
Ee = 0*mV
Ei = -80*mV
we = 6*nS
wi = 67*nS
N_E = 3200

NeuronGroup P(4000):
    model:
        dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-
                 g_na*(m*m*m)*h*(v-ENa)-
                 g_kd*(n*n*n*n)*(v-EK))/Cm : volt
        dm/dt = alpha_m*(1-m)-beta_m*m : 1
        dn/dt = alpha_n*(1-n)-beta_n*n : 1
        dh/dt = alpha_h*(1-h)-beta_h*h : 1
        dge/dt = -ge*(1./taue) : siemens
        dgi/dt = -gi*(1./taui) : siemens
        alpha_m = 0.32*(mV**-1)*4*mV/exprel((13.*mV-v+VT)/(4*mV))/ms : Hz
        beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40.*mV)/(5*mV))/ms : Hz
        alpha_h = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms : Hz
        beta_h = 4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms : Hz
        alpha_n = 0.032*(mV**-1)*5*mV/exprel((15.*mV-v+VT)/(5*mV))/ms : Hz
        beta_n = .5*exp((10.*mV-v+VT)/(40.*mV))/ms : Hz
    threshold: v > -20*mV
    refractory: 3*ms
    method: exponential_euler
    init:
        v = El + (randn() * 5 - 5)*mV
        ge = (randn() * 1.5 + 4) * 10.*nS
        gi = (randn() * 12 + 20) * 10.*nS

Synapses Ce(P[:N_E] -> P):
    on_pre: ge += we
    connect: p=0.02
Synapses Ci(P[N_E:] -> P):
    on_pre: gi += wi
    connect: p=0.02

PopulationRateMonitor rate(P)
run 1*second
";

#[test]
fn cobahh_with_a_three_line_derivative() {
    let m = ok(COBAHH);
    let g = m
        .items
        .iter()
        .find_map(|it| match it {
            Item::NeuronGroup(g) => Some(g),
            _ => None,
        })
        .unwrap();
    assert_eq!(g.model.len(), 12);
    let dv = &g.model[0];
    let EquationKind::Differential(rhs) = &dv.kind else {
        panic!()
    };
    assert_eq!(
        sx(rhs),
        "(/ (- (- (+ (+ (* gl (- El v)) (* ge (- Ee v))) (* gi (- Ei v))) \
         (* (* (* g_na (* (* m m) m)) h) (- v ENa))) (* (* g_kd (* (* (* n n) n) n)) (- v EK))) Cm)"
    );
    assert!(text(COBAHH, dv.span).ends_with("/Cm : volt"));
    assert_eq!(sx(&g.model[4].unit), "siemens");
    assert_eq!(g.method.as_ref().unwrap().name, "exponential_euler");
    let synapses: Vec<&SynapsesDecl> = m
        .items
        .iter()
        .filter_map(|it| match it {
            Item::Synapses(s) => Some(s),
            _ => None,
        })
        .collect();
    let ce = synapses[0].source.slice.as_ref().unwrap();
    assert!(ce.start.is_none());
    assert_eq!(sx(ce.stop.as_ref().unwrap()), "N_E");
    let ci = synapses[1].source.slice.as_ref().unwrap();
    assert_eq!(sx(ci.start.as_ref().unwrap()), "N_E");
    assert!(ci.stop.is_none());
    assert!(matches!(m.items.last(), Some(Item::Run { .. })));
}

#[test]
fn every_declaration_kind_and_key() {
    let src = "\
N = 10 # neurons
NeuronGroup G(N + 1):
    model:
        dv/dt = -v/tau + sigma*xi*tau**-0.5 : volt
        I : amp (constant)
    threshold:
        v > -50*mV and
        not_refractory
    reset: v = -60*mV; w += b
    refractory: v > -40*mV
    events:
        burst: v > 0*mV
        quiet: v < -70*mV
    on_event burst: v -= 5*mV
    on_event quiet:
        v = -60*mV
        w //= 2
    init: v = -65*mV; I **= 1; I %= 2; I *= 2; I /= 3; I -= 1

G.I = i*0.1*nA
G.v = -70*mV + rand()*5*mV

PoissonGroup inp(100):
    rates: 10*Hz + i*Hz

PoissonInput drive(G.v):
    N: 50
    rate: 5*Hz
    weight: 0.1*mV

SpikeGeneratorGroup stim(3):
    indices: [0, 1, 2]
    times: [1, 2.5, 7]*ms
    period: 10*ms

SpikeGeneratorGroup fromfile(3):
    file: data/spikes file.csv

TimedArray stimulus:
    dt: 1*ms
    values: [0, 1, 0]*nA
TimedArray other:
    file: 'values.npy'

Synapses S(inp -> G[2:N]):
    model:
        w : volt
    on_pre: v += w
    on_post: w = clip(w + 1*mV, 0*mV, 5*mV)
    delay: 1*ms + rand()*ms
    method: euler
    connect: i=[0, 1], j=3
    connect: condition='j == i'
    init: w = rand()*mV

SpikeMonitor sm(G):
    variables: v
StateMonitor st(G[:3]):
    variables:
        v,
        I
    record: all
    dt: 1*ms
StateMonitor st2(G):
    variables: v
    record: 0:5
PopulationRateMonitor pr(G)
seed()
run 100*ms
defaultclock.dt = 0.05*ms
run 100*ms
";
    let m = ok(src);
    assert_eq!(m.items.len(), 19);
    let Item::NeuronGroup(g) = &m.items[1] else {
        panic!()
    };
    assert_eq!(sx(&g.size), "(+ N 1i)");
    assert_eq!(
        sx(g.threshold.as_ref().unwrap()),
        "(and (> v (* (neg 50i) mV)) not_refractory)"
    );
    assert_eq!(g.reset.as_ref().unwrap().statements.len(), 2);
    assert_eq!(g.events.len(), 2);
    assert_eq!(g.events[1].name.name, "quiet");
    assert_eq!(g.on_event.len(), 2);
    assert_eq!(g.on_event[1].event.name, "quiet");
    assert_eq!(
        g.on_event[1].statements.statements[1].op,
        AssignOp::FloorDiv
    );
    let ops: Vec<AssignOp> = g
        .init
        .as_ref()
        .unwrap()
        .statements
        .iter()
        .map(|s| s.op)
        .collect();
    assert_eq!(
        ops,
        [
            AssignOp::Assign,
            AssignOp::Pow,
            AssignOp::Mod,
            AssignOp::Mul,
            AssignOp::Div,
            AssignOp::Sub
        ]
    );
    let Item::SetVariable {
        group, variable, ..
    } = &m.items[2]
    else {
        panic!()
    };
    assert_eq!((group.name.as_str(), variable.name.as_str()), ("G", "I"));
    let Item::PoissonInput(pi) = &m.items[5] else {
        panic!()
    };
    assert_eq!(
        (pi.target.name.as_str(), pi.variable.name.as_str()),
        ("G", "v")
    );
    assert_eq!(sx(pi.n.as_ref().unwrap()), "50i");
    let Item::SpikeGeneratorGroup(sg) = &m.items[7] else {
        panic!()
    };
    assert_eq!(sg.file.as_ref().unwrap().path, "data/spikes file.csv");
    let Item::TimedArray(ta) = &m.items[9] else {
        panic!()
    };
    assert_eq!(ta.file.as_ref().unwrap().path, "values.npy");
    let Item::Synapses(s) = &m.items[10] else {
        panic!()
    };
    assert_eq!(s.connect.len(), 2);
    assert_eq!(s.method.as_ref().unwrap().name, "euler");
    let Item::StateMonitor(st) = &m.items[12] else {
        panic!()
    };
    assert_eq!(st.variables.len(), 2);
    assert!(matches!(st.record, Some(Record::All(_))));
    let Item::StateMonitor(st2) = &m.items[13] else {
        panic!()
    };
    let Some(Record::Range { start, stop, .. }) = &st2.record else {
        panic!()
    };
    assert_eq!((sx(start), sx(stop)), ("0i".to_string(), "5i".to_string()));
    assert!(matches!(m.items[15], Item::Seed { value: None, .. }));
    assert!(matches!(m.items[17], Item::SetDt { .. }));
}

#[test]
fn comments_blank_lines_and_crlf() {
    let src = "\r\n# header\r\nx = 1  # one\r\n\r\n   \r\nNeuronGroup P(2):  # group\r\n\r\n    # a comment line in the body\r\n    model:\r\n\r\n        v : 1 # param\r\n\r\nrun 1*ms\r\n";
    let m = ok(src);
    assert_eq!(m.items.len(), 3);
    let Item::NeuronGroup(g) = &m.items[1] else {
        panic!()
    };
    assert_eq!(g.model.len(), 1);
    assert_eq!(text(src, g.model[0].span), "v : 1");
}

/// Brian2's `record=True` records every element and `record=False` none;
/// `True` is not the number 1.
#[test]
fn record_true_and_false_are_brian2s() {
    for (value, all) in [("True", true), ("False", false), ("all", true)] {
        let text = format!("StateMonitor m(G):\n    variables: v\n    record: {value}\n");
        let m = ok(&text);
        let Item::StateMonitor(st) = &m.items[0] else {
            panic!("a StateMonitor")
        };
        match &st.record {
            Some(Record::All(_)) => assert!(all, "{value}"),
            Some(Record::List(l)) => assert!(!all && l.is_empty(), "{value}"),
            other => panic!("{value}: {other:?}"),
        }
    }
}

#[test]
fn a_named_subgroup_stands_for_its_slice_after_its_declaration() {
    let m = ok("NeuronGroup P(10):\n    model:\n        v : 1\n    threshold: v > 1\nPe = P[:3]\nPe.v = i\nSpikeMonitor sp(Pe)\n");
    assert!(matches!(&m.items[1], Item::Subgroup { name, .. } if name.name == "Pe"));
    match &m.items[2] {
        Item::SetVariableWhere {
            group,
            selector: Selector::Subgroup(_),
            ..
        } => assert_eq!(group.name, "P"),
        other => panic!("expected a subgroup setting, got {other:?}"),
    }
    match &m.items[3] {
        Item::SpikeMonitor(sm) => {
            assert_eq!(sm.source.group.name, "P");
            assert!(sm.source.slice.is_some());
        }
        other => panic!("expected a SpikeMonitor, got {other:?}"),
    }
}

#[test]
fn a_bracketed_record_list_is_the_list() {
    let m = ok("NeuronGroup P(10):\n    model:\n        v : 1\nStateMonitor a(P):\n    variables: v\n    record: [0, 7, 9]\nStateMonitor b(P):\n    variables: v\n    record: range(2, 8, 3)\n");
    match &m.items[1] {
        Item::StateMonitor(sm) => {
            assert!(matches!(&sm.record, Some(Record::List(l)) if l.len() == 3))
        }
        other => panic!("expected a StateMonitor, got {other:?}"),
    }
    match &m.items[2] {
        Item::StateMonitor(sm) => assert!(matches!(
            &sm.record,
            Some(Record::Range { step: Some(_), .. })
        )),
        other => panic!("expected a StateMonitor, got {other:?}"),
    }
}
