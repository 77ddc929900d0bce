//! Error messages: their text, where they point, and that the parser
//! carries on after an error.

mod common;

use common::*;
use rheobase_syntax::{line_col, Span};

/// The single error of `src`, as (message, underlined text).
fn one(src: &str) -> (String, String) {
    let ds = errs(src);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    (ds[0].message.clone(), text(src, ds[0].span).to_string())
}

#[test]
fn missing_expression() {
    let src = "x = \n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "expected an expression after `=`");
    assert_eq!(ds[0].span, Span::new(3, 3));
    let (m, t) = one("y = 3 +* 2\n");
    assert_eq!(m, "expected an expression after `+`, found `*`");
    assert_eq!(t, "*");
    let (m, t) = one("run\n");
    assert_eq!(m, "expected an expression after `run`");
    assert_eq!(t, "");
}

#[test]
fn unexpected_tokens() {
    let (m, t) = one("q = f(a b)\n");
    assert_eq!(m, "expected `)`, `,` or an operator after `a`, found `b`");
    assert_eq!(t, "b");
    let (m, t) = one("x y\n");
    assert_eq!(m, "expected `.` or `=` after `x`, found `y`");
    assert_eq!(t, "y");
    let (m, _) = one("x = lambda\n");
    assert_eq!(m, "expected an expression after `=`, found `lambda`");
    let (m, t) = one("x = a if b\n");
    assert_eq!(
        m,
        "expected an operator or the end of the line after `a`, found `if`"
    );
    assert_eq!(t, "if");
}

#[test]
fn chained_comparison() {
    let src = "x = a < b < c\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "comparisons cannot be chained");
    assert_eq!(text(src, ds[0].span), "a < b < c");
    assert_eq!(
        ds[0].notes,
        ["write `a < b and b < c` instead of `a < b < c`"]
    );
    // Parenthesised, it is a comparison of a boolean, which Python allows.
    ok("x = (a < b) < c\n");
}

#[test]
fn tabs_in_indentation() {
    let src = "NeuronGroup P(1):\n\tmodel: v : 1\n";
    let ds = errs(src);
    assert_eq!(
        ds[0].message,
        "a tab in indentation (line 2, column 1); use spaces"
    );
    assert_eq!(ds[0].span, Span::new(18, 19));
    assert_eq!(line_col(src, ds[0].span.start), (2, 1));
    // A tab after the indentation is ordinary whitespace.
    ok("x =\t1\n");
}

#[test]
fn unknown_and_duplicate_keys() {
    let src = "NeuronGroup P(1):\n    model: v : 1\n    treshold: v > 1\n";
    let ds = errs(src);
    assert_eq!(ds.len(), 1);
    assert_eq!(
        ds[0].message,
        "unknown key `treshold` in NeuronGroup; valid keys are model, threshold, reset, refractory, method, init, events, on_event, run_regularly, namespace, order, dt, clock"
    );
    assert_eq!(text(src, ds[0].span), "treshold");
    assert_eq!(ds[0].notes, ["help: did you mean `threshold`?"]);

    let src = "Synapses S(P -> P):\n    on_pre: v += 1\n    delay: 1*ms\n    on_pre: v += 2\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "duplicate key `on_pre`");
    let second = src.rfind("on_pre").unwrap();
    let first = src.find("on_pre").unwrap();
    assert_eq!(ds[0].span, Span::new(second, second + 6));
    assert_eq!(
        ds[0].secondary,
        [(Span::new(first, first + 6), "first given here".to_string())]
    );

    let (m, _) = one("Synapses S(P -> P):\n    pre: v += 1\n");
    assert!(
        m.starts_with("unknown key `pre` in Synapses; valid keys are model, on_pre"),
        "{m}"
    );
}

#[test]
fn values_inline_and_block_but_not_both() {
    let src = "NeuronGroup P(1):\n    reset: v = 0\n        w = 1\n";
    let ds = errs(src);
    assert_eq!(
        ds[0].message,
        "`reset:` has both a value after the colon and an indented block"
    );
    assert_eq!(text(src, ds[0].span), "w = 1");
    assert_eq!(text(src, ds[0].secondary[0].0), "v = 0");

    let src = "Synapses S(P -> P):\n    connect:\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "`connect:` has no value");
    assert_eq!(text(src, ds[0].span), ":");
}

#[test]
fn headers() {
    let (m, t) = one("NeuronGrup P(10):\n    model: v : 1\n");
    assert_eq!(m, "unknown declaration `NeuronGrup`");
    assert_eq!(t, "NeuronGrup");
    let ds = errs("NeuronGrup P(10):\n");
    assert!(ds[0]
        .notes
        .contains(&"help: did you mean `NeuronGroup`?".to_string()));

    let src = "NeuronGroup P(10)\n    model: v : 1\n";
    let ds = errs(src);
    assert_eq!(
        ds[0].message,
        "expected `:` at the end of the NeuronGroup header"
    );
    assert_eq!(ds[0].span, Span::new(17, 17));

    let src = "Synapses S(P => P):\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "expected `[` or `->` after `P`, found `=>`");
    assert!(ds[0].notes[0].contains("Synapses S(P[0:3200] -> P):"));
}

#[test]
fn brackets() {
    let src = "x = (1 + 2\ny = 3\n";
    let ds = errs(src);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].message, "this `(` is never closed");
    assert_eq!(ds[0].span, Span::new(4, 5));

    let src = "x = [1, (2]\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "this `]` does not match the `(` before it");
    assert_eq!(ds[0].span, Span::new(10, 11));
    assert_eq!(ds[0].secondary[0].0, Span::new(8, 9));
}

#[test]
fn equations() {
    let src = "NeuronGroup P(1):\n    model:\n        dv/dt : volt\n";
    let (m, t) = one(src);
    assert_eq!(
        m,
        "the differential equation for `v` has no right-hand side"
    );
    assert_eq!(t, "v");

    let src = "NeuronGroup P(1):\n    model:\n        v = 1 :\n";
    let (m, _) = one(src);
    assert_eq!(m, "expected a unit such as `mV` after `:`");

    let src = "NeuronGroup P(1):\n    model:\n        v : volt (unless refractory\n";
    let (m, _) = one(src);
    assert_eq!(m, "this `(` is never closed");
}

#[test]
fn connect_arguments() {
    let src = "Synapses S(P -> P):\n    connect: condition='i < j', conditon=3\n";
    let (m, t) = one(src);
    assert_eq!(
        m,
        "unknown argument `conditon` in `connect:`; valid arguments are condition, p, i, j, n, skip_if_invalid"
    );
    assert_eq!(t, "conditon");

    let src = "Synapses S(P -> P):\n    connect: p=0.1, p=0.2\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "`p` is given twice in this `connect:`");

    // Errors inside quotes point into the quotes.
    let src = "Synapses S(P -> P):\n    connect: j='k for k in range(i-3, i+4) if'\n";
    let ds = errs(src);
    assert_eq!(ds[0].message, "expected an expression after `if`");
    assert_eq!(ds[0].span.start, src.find("if'").unwrap() + 2);

    let src = "Synapses S(P -> P):\n    connect: skip_if_invalid=1\n";
    let (m, _) = one(src);
    assert_eq!(m, "`skip_if_invalid` must be `True` or `False`");

    let src = "Synapses S(P -> P):\n    connect: j='k for k in sample(N_post)'\n";
    let (m, _) = one(src);
    assert!(m.contains("exactly one of `p=`"), "{m}");
}

#[test]
fn numbers() {
    let (m, t) = one("x = 1e999*mV\n");
    assert_eq!(m, "number too large");
    assert_eq!(t, "1e999");
}

#[test]
fn many_errors_are_collected() {
    let src = "a = \nb = 1\nc = )\nNeuronGroup P(1):\n    model: v : 1\n    bogus: 3\n    threshold: v >\nrun 1*ms\n";
    let ds = errs(src);
    let messages: Vec<&str> = ds.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(ds.len(), 4, "{messages:#?}");
    assert_eq!(messages[0], "expected an expression after `=`");
    assert_eq!(messages[1], "expected an expression after `=`, found `)`");
    assert!(messages[2].starts_with("unknown key `bogus`"));
    assert_eq!(messages[3], "expected an expression after `>`");
}

#[test]
fn indentation_errors() {
    let src = "  x = 1\n";
    let (m, _) = one(src);
    assert_eq!(m, "unexpected indentation");
    let src = "x = 1\n    y = 2\n";
    let (m, t) = one(src);
    assert_eq!(m, "unexpected indented block");
    assert_eq!(t, "y = 2");
    let src = "NeuronGroup P(1):\n    model: v : 1\n  threshold: v > 1\n";
    let (m, _) = one(src);
    assert!(m.starts_with("inconsistent indentation"), "{m}");
}

#[test]
fn body_line_that_is_not_a_key() {
    let src = "NeuronGroup P(1):\n    dv/dt = -v/tau : volt\n";
    let ds = errs(src);
    assert!(
        ds[0]
            .message
            .starts_with("expected a key such as `model:` in the body of NeuronGroup `P`"),
        "{:?}",
        ds[0]
    );
    assert!(ds[0].notes.iter().any(|n| n.contains("under `model:`")));
}
