//! Expressions: precedence, literals, units and connect arguments.

mod common;

use common::*;
use rheobase_syntax::ast::*;

#[test]
fn precedence_follows_python() {
    assert_eq!(expr("1 + 2 * 3"), "(+ 1i (* 2i 3i))");
    assert_eq!(expr("1 - 2 - 3"), "(- (- 1i 2i) 3i)");
    assert_eq!(expr("a / b // c % d"), "(% (// (/ a b) c) d)");
    assert_eq!(expr("-x**2"), "(neg (** x 2i))");
    assert_eq!(expr("2**-1"), "(** 2i (neg 1i))");
    assert_eq!(expr("a**b**c"), "(** a (** b c))");
    assert_eq!(expr("-a * b"), "(* (neg a) b)");
    assert_eq!(expr("+a"), "(pos a)");
    assert_eq!(
        expr("a or b and not c < d + 1"),
        "(or a (and b (not (< c (+ d 1i)))))"
    );
    assert_eq!(expr("not a and b"), "(and (not a) b)");
    assert_eq!(expr("(a < b) == c"), "(== (< a b) c)");
    assert_eq!(expr("a <= b"), "(<= a b)");
    assert_eq!(expr("a != b"), "(!= a b)");
    assert_eq!(expr("(1 + 2) * 3"), "(* (+ 1i 2i) 3i)");
}

#[test]
fn literals_and_calls() {
    assert_eq!(expr(".5"), "0.5");
    assert_eq!(expr("13."), "13");
    assert_eq!(expr("1e-3"), "0.001");
    assert_eq!(expr("3"), "3i");
    assert_eq!(expr("1_000"), "1000i");
    assert_eq!(expr("True and False"), "(and true false)");
    assert_eq!(expr("[1, 2.5, 7]*ms"), "(* [1i 2.5 7i] ms)");
    assert_eq!(expr("[]"), "[]");
    assert_eq!(expr("clip(w, 0, gmax)"), "clip(w 0i gmax)");
    assert_eq!(expr("rand()"), "rand()");
    assert_eq!(expr("exp(-v/(5*mV))"), "exp((/ (neg v) (* 5i mV)))");
    // Integer literals beyond i64 are fine as floats.
    assert_eq!(
        expr("123456789012345678901234567890"),
        "123456789012345680000000000000i"
    );
    // Names may start with keywords as long as they are not keywords.
    assert_eq!(
        expr("android + format + iffy"),
        "(+ (+ android format) iffy)"
    );
}

#[test]
fn spans_are_source_offsets() {
    let src = "x = (a + b) * 2  # comment\n";
    let m = ok(src);
    let Item::Constant { value, .. } = &m.items[0] else {
        panic!()
    };
    assert_eq!(text(src, value.span), "(a + b) * 2");
    let ExprKind::Binary(_, lhs, rhs) = &value.kind else {
        panic!()
    };
    assert_eq!(text(src, lhs.span), "(a + b)");
    assert_eq!(text(src, rhs.span), "2");
}

fn units(model: &str) -> Vec<(String, String, Vec<String>)> {
    let m = ok(&format!("NeuronGroup P(1):\n    model:\n{model}"));
    let Item::NeuronGroup(g) = &m.items[0] else {
        panic!()
    };
    g.model
        .iter()
        .map(|eq| {
            (
                eq.variable.name.clone(),
                sx(&eq.unit),
                eq.flags.iter().map(|f| f.name.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn units_and_flags() {
    let got = units(
        "        g : siemens/meter**2\n\
         \x20       dx/dt = xi*second**-0.5 : second**-0.5 (unless  refractory, constant over dt)\n\
         \x20       n : integer (shared,constant)\n\
         \x20       b : boolean\n\
         \x20       y = 2*x : 1\n\
         \x20       z : siemens*cm**-2\n\
         \x20       q : 1/second\n",
    );
    let want = [
        ("g", "(/ siemens (** meter 2i))", vec![]),
        (
            "x",
            "(** second (neg 0.5))",
            vec!["unless refractory", "constant over dt"],
        ),
        ("n", "integer", vec!["shared", "constant"]),
        ("b", "boolean", vec![]),
        ("y", "1i", vec![]),
        ("z", "(* siemens (** cm (neg 2i)))", vec![]),
        ("q", "(/ 1i second)", vec![]),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want.iter()) {
        assert_eq!(g.0, w.0);
        assert_eq!(g.1, w.1);
        assert_eq!(g.2, w.2);
    }
}

#[test]
fn equation_kinds_and_synapse_flags() {
    let src = "Synapses S(P -> P):\n    model:\n        w : 1\n        dApre/dt = -Apre/taupre : 1 (event-driven)\n        g_post = w*s : siemens (summed)\n";
    let m = ok(src);
    let Item::Synapses(s) = &m.items[0] else {
        panic!()
    };
    assert!(matches!(s.model[0].kind, EquationKind::Parameter));
    assert!(matches!(s.model[1].kind, EquationKind::Differential(_)));
    assert_eq!(s.model[1].variable.name, "Apre");
    assert_eq!(text(src, s.model[1].variable.span), "Apre");
    assert_eq!(s.model[1].flags[0].name, "event-driven");
    assert_eq!(text(src, s.model[1].flags[0].span), "event-driven");
    assert!(matches!(s.model[2].kind, EquationKind::Subexpression(_)));
    assert_eq!(s.model[2].variable.name, "g_post");
    assert_eq!(s.model[2].flags[0].name, "summed");
}

fn connects(lines: &str) -> (String, Vec<Connect>) {
    let src = format!("Synapses S(P -> P):\n{lines}");
    let m = ok(&src);
    let Item::Synapses(s) = &m.items[0] else {
        panic!()
    };
    (src.clone(), s.connect.clone())
}

fn index(ix: &Option<ConnectIndex>) -> String {
    match ix {
        None => "-".into(),
        Some(ConnectIndex::Values(e)) => format!("values {}", sx(e)),
        Some(ConnectIndex::Mapping { expr, condition }) => format!(
            "map {} if {}",
            sx(expr),
            condition.as_ref().map_or("-".into(), sx)
        ),
        Some(ConnectIndex::Generator(g)) => {
            let it = match &g.iterable {
                Iterable::Range { args, .. } => {
                    format!(
                        "range({})",
                        args.iter().map(sx).collect::<Vec<_>>().join(" ")
                    )
                }
                Iterable::Sample { args, p, size, .. } => format!(
                    "sample({} p={} size={})",
                    args.iter().map(sx).collect::<Vec<_>>().join(" "),
                    p.as_ref().map_or("-".into(), sx),
                    size.as_ref().map_or("-".into(), sx)
                ),
            };
            format!(
                "gen {} for {} in {} if {}",
                sx(&g.element),
                g.variable.name,
                it,
                g.condition.as_ref().map_or("-".into(), sx)
            )
        }
    }
}

#[test]
fn connect_arguments() {
    let (src, c) = connects(
        "    connect: p=0.02\n\
         \x20   connect: 'i != j', p='0.1*exp(-abs(i-j)/10)'\n\
         \x20   connect:\n\
         \x20       condition=\"i < j\", skip_if_invalid=True\n\
         \x20       i=5, j=[1, 2]\n\
         \x20       j='i'\n\
         \x20       j='int(i/2) if i % 2 == 0', n=3\n\
         \x20       j='k for k in range(i-3, i+4) if k != i', skip_if_invalid=False\n\
         \x20       j='k for k in sample(N_post, p=0.1)'\n\
         \x20       j='k for k in sample(0, N_post, size=10)', n='1+1'\n\
         \x20   connect: all\n\
         \x20   connect: ()\n\
         \x20   connect: True\n",
    );
    assert_eq!(c.len(), 12);
    assert_eq!(sx(c[0].p.as_ref().unwrap()), "0.02");
    assert_eq!(text(&src, c[0].span), "p=0.02");
    assert_eq!(sx(c[1].condition.as_ref().unwrap()), "(!= i j)");
    assert_eq!(text(&src, c[1].condition.as_ref().unwrap().span), "i != j");
    assert_eq!(
        sx(c[1].p.as_ref().unwrap()),
        "(* 0.1 exp((/ (neg abs((- i j))) 10i)))"
    );
    assert_eq!(sx(c[2].condition.as_ref().unwrap()), "(< i j)");
    assert_eq!(c[2].skip_if_invalid, Some(true));
    assert_eq!(index(&c[3].i), "values 5i");
    assert_eq!(index(&c[3].j), "values [1i 2i]");
    assert_eq!(index(&c[4].j), "map i if -");
    assert_eq!(index(&c[5].j), "map int((/ i 2i)) if (== (% i 2i) 0i)");
    assert_eq!(sx(c[5].n.as_ref().unwrap()), "3i");
    assert_eq!(
        index(&c[6].j),
        "gen k for k in range((- i 3i) (+ i 4i)) if (!= k i)"
    );
    assert_eq!(c[6].skip_if_invalid, Some(false));
    assert_eq!(
        index(&c[7].j),
        "gen k for k in sample(N_post p=0.1 size=-) if -"
    );
    assert_eq!(
        index(&c[8].j),
        "gen k for k in sample(0i N_post p=- size=10i) if -"
    );
    assert_eq!(sx(c[8].n.as_ref().unwrap()), "(+ 1i 1i)");
    for all in &c[9..11] {
        assert_eq!(
            (
                &all.condition,
                &all.p,
                &all.i,
                &all.j,
                &all.n,
                all.skip_if_invalid
            ),
            (&None, &None, &None, &None, &None, None)
        );
    }
    assert_eq!(sx(c[11].condition.as_ref().unwrap()), "true");
    // The generator's spans point inside the quotes of the original text.
    let Some(ConnectIndex::Generator(g)) = &c[6].j else {
        panic!()
    };
    assert_eq!(text(&src, g.span), "k for k in range(i-3, i+4) if k != i");
    assert_eq!(text(&src, g.variable.span), "k");
}
