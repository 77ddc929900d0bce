//! The parser must never panic, hang, overflow its stack or exhaust memory,
//! whatever the input.

mod common;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rheobase_syntax::parse;

/// Parses and checks that it took a reasonable time; the result itself does
/// not matter, only that there is one.
fn parse_quickly(
    src: &str,
) -> Result<rheobase_syntax::ast::Model, Vec<rheobase_syntax::Diagnostic>> {
    let t = Instant::now();
    let r = parse(src);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "parsing took {:?}",
        t.elapsed()
    );
    if let Err(ds) = &r {
        assert!(!ds.is_empty());
        assert!(ds.len() <= 101, "{} diagnostics", ds.len());
        for d in ds {
            assert!(
                d.span.start <= d.span.end && d.span.end <= src.len(),
                "{d:?}"
            );
            assert!(src.is_char_boundary(d.span.start) && src.is_char_boundary(d.span.end));
        }
    }
    r
}

#[test]
fn deeply_nested_brackets_are_an_error() {
    for open in ["(", "["] {
        let src = format!("x = {}1\n", open.repeat(100_000));
        let ds = parse_quickly(&src).unwrap_err();
        assert!(
            ds[0].message.contains("nested more than 200"),
            "{:?}",
            ds[0]
        );
        let closed = format!("x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
        let ds = parse_quickly(&closed).unwrap_err();
        assert!(
            ds[0].message.contains("nested more than 200"),
            "{:?}",
            ds[0]
        );
    }
    // Inside quotes the pre-pass does not count brackets, but the check
    // before pest does.
    let src = format!(
        "Synapses S(P -> P):\n    connect: p='{}1{}'\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let ds = parse_quickly(&src).unwrap_err();
    assert!(
        ds[0].message.contains("nested more than 200"),
        "{:?}",
        ds[0]
    );
    // 200 levels are fine.
    let src = format!("x = {}1{}\n", "(".repeat(200), ")".repeat(200));
    parse_quickly(&src).unwrap();
    let src = format!(
        "NeuronGroup P(1):\n    model:\n        v : {}volt{}\n",
        "(".repeat(199),
        ")".repeat(199)
    );
    parse_quickly(&src).unwrap();
}

#[test]
fn long_operator_chains_are_bounded() {
    // Within the limit, chains that recurse in the Pratt parser still parse.
    parse_quickly(&format!("x = {}1\n", "-".repeat(900))).unwrap();
    parse_quickly(&format!("x = {}1\n", "not ".repeat(900))).unwrap();
    parse_quickly(&format!("x = 2{}\n", "**2".repeat(400))).unwrap();
    parse_quickly(&format!("x = 1{}\n", "+1".repeat(900))).unwrap();
    // Beyond it, an error rather than a deep tree.
    for src in [
        format!("x = {}1\n", "-".repeat(1_000_000)),
        format!("x = 1{}\n", "+1".repeat(100_000)),
        format!("x = 2{}\n", "**2".repeat(100_000)),
        format!("x = {}1\n", "not ".repeat(100_000)),
    ] {
        let ds = parse_quickly(&src).unwrap_err();
        assert!(ds[0].message.contains("too complex"), "{:?}", ds[0]);
    }
    // The worst mixture within both limits: every bracket level also
    // carries prefix operators, in an expression, a unit and a quoted
    // connect argument. This runs on a test thread's small stack.
    let mixed = format!("{}1{}", "--f(".repeat(199), ")".repeat(199));
    parse_quickly(&format!("x = {mixed}\n")).unwrap();
    parse_quickly(&format!("Synapses S(P -> P):\n    connect: p='{mixed}'\n")).unwrap();
    let deep_unit = format!("{}volt{}", "(".repeat(199), "**-2)".repeat(199));
    parse_quickly(&format!(
        "NeuronGroup P(1):\n    model:\n        v : {deep_unit}\n"
    ))
    .unwrap();
    // Long flat lists are fine: their elements do not nest.
    let list = format!("x = [{}1]\n", "-1, ".repeat(50_000));
    parse_quickly(&list).unwrap();
}

#[test]
fn a_ten_megabyte_line_is_refused_quickly() {
    for filler in ["a", "1+", "(", "'", " ", "[1,", "é"] {
        let src = format!("x = {}\n", filler.repeat(10_000_000 / filler.len()));
        let ds = parse_quickly(&src).unwrap_err();
        assert!(!ds.is_empty());
    }
    // A 10 MB comment is just a comment.
    let src = format!("# {}\nx = 1\n", "a".repeat(10_000_000));
    parse_quickly(&src).unwrap();
}

#[test]
fn many_lines_and_deep_indentation() {
    let mut src = String::new();
    for k in 0..20_000 {
        src.push_str(&" ".repeat(k % 500));
        src.push_str("x = 1\n");
    }
    parse_quickly(&src).unwrap_err();
    let garbage = "$%^ ?\n".repeat(100_000);
    let ds = parse_quickly(&garbage).unwrap_err();
    assert!(ds.last().unwrap().message.contains("too many errors") || ds.len() <= 101);
    let fine = "x = 1\n".repeat(10_000);
    parse_quickly(&fine).unwrap();
}

#[test]
fn huge_numbers() {
    let ds = parse_quickly("x = 1e999\n").unwrap_err();
    assert_eq!(ds[0].message, "number too large");
    assert_eq!(ds[0].span, rheobase_syntax::Span::new(4, 9));
    let digits = format!("x = {}\n", "9".repeat(400));
    let ds = parse_quickly(&digits).unwrap_err();
    assert_eq!(ds[0].message, "number too large");
    parse_quickly(&format!("x = {}\n", "9".repeat(300))).unwrap();
    parse_quickly("x = 1e-999\n").unwrap();
}

const VALID: &str = "\
tau = 10*ms  # time constant
NeuronGroup P(100):
    model:
        dv/dt = (I - v)/tau : volt (unless refractory)
        I : volt
    threshold: v > 1*mV
    reset: v = 0*mV; I += 1*mV
    events:
        big: v > 2*mV
    on_event big: v = 0*mV
Synapses S(P[0:50] -> P[50:]):
    model: w : volt
    on_pre: v += w
    connect: j='k for k in range(i-3, i+4) if k != i', skip_if_invalid=True
    connect: 'i != j', p=0.1
StateMonitor m(P):
    variables: v, I
    record: 0:10
P.v = rand()*mV
run 10*ms
";

#[derive(Debug, Clone)]
enum Mutation {
    DeleteByte(usize),
    InsertByte(usize, u8),
    DuplicateLine(usize),
    DeleteLine(usize),
    SwapLines(usize, usize),
    InsertText(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteByte),
        (any::<usize>(), any::<u8>()).prop_map(|(k, b)| Mutation::InsertByte(k, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DeleteLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (
            any::<usize>(),
            prop::sample::select(vec![
                "(", ")", "[", "]", "'", "\"", "#", ":", "\t", "\n", "    ", "-", "**", "=", ",",
                ";", "not ", " and ", "1e999", "->", "é", "\u{feff}", "\r"
            ])
        )
            .prop_map(|(k, s)| Mutation::InsertText(k, s.to_string())),
    ]
}

fn apply(src: &str, muts: &[Mutation]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for m in muts {
        let n = bytes.len().max(1);
        match m {
            Mutation::DeleteByte(k) => {
                if !bytes.is_empty() {
                    bytes.remove(k % bytes.len());
                }
            }
            Mutation::InsertByte(k, b) => bytes.insert(k % (n + 1).min(bytes.len() + 1), *b),
            Mutation::InsertText(k, s) => {
                let at = k % (bytes.len() + 1);
                bytes.splice(at..at, s.bytes());
            }
            Mutation::DuplicateLine(k) | Mutation::DeleteLine(k) | Mutation::SwapLines(k, _) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let a = k % lines.len();
                match m {
                    Mutation::DuplicateLine(_) => lines.insert(a, lines[a]),
                    Mutation::DeleteLine(_) => {
                        lines.remove(a);
                    }
                    Mutation::SwapLines(_, b) => {
                        let b = b % lines.len();
                        lines.swap(a, b);
                    }
                    _ => {}
                }
                bytes = lines.join("\n").into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_mutation_base_is_valid() {
    common::ok(VALID);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,200}") {
        let _ = parse_quickly(&s);
    }

    #[test]
    fn random_model_like_strings_never_panic(
        s in "([a-z_]{1,6}|[0-9.e]{1,4}|[ \\t\\n#:=()\\[\\],;'\"+*/<>!-]|NeuronGroup |Synapses |model|connect|    ){0,60}"
    ) {
        let _ = parse_quickly(&s);
    }

    #[test]
    fn mutations_of_a_valid_model_never_panic(muts in prop::collection::vec(mutation(), 1..6)) {
        let src = apply(VALID, &muts);
        let _ = parse_quickly(&src);
    }
}
