//! Property-based fuzzing of the front end: `rheobase::compile` must never
//! panic, whatever text it is given, and every diagnostic it returns must
//! point into the source (within it, on character boundaries), because the
//! CLI slices the source with those spans to draw the underlined line.
//!
//! Two kinds of input:
//! - token soup: random sequences of the language's words, punctuation and
//!   whitespace (`NeuronGroup`, `model:`, `dv/dt`, `ms`, `(`, newlines,
//!   indentation, ...), which reach deeper into the parser than random bytes;
//! - mutants of the real models in `spec-examples/`: lines deleted,
//!   duplicated or swapped, characters inserted, the text truncated. Most
//!   are still almost valid, so they exercise the checker and lowering.
//!   Mutants that compile are also built into a [`Simulation`] and run
//!   for a few steps, which must not panic either (NaN is fine).
//!
//! The case counts keep the whole file under ~20 s in a debug build. For a
//! longer session:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p rheobase --test fuzz --release
//! ```
//!
//! A failure is shrunk by proptest to a small input and recorded under
//! `proptest-regressions/` (next to this file), so it is replayed first on
//! the next run; add that file to version control with the fix.

use proptest::prelude::*;
use proptest::test_runner::Config;
use rheobase::runtime::Simulation;
use rheobase::{compile, Diagnostic, RunConfig};

const SPEC_EXAMPLES: &[(&str, &str)] = &[
    ("lif", include_str!("../../../spec-examples/lif.model")),
    ("adex", include_str!("../../../spec-examples/adex.model")),
    ("hh", include_str!("../../../spec-examples/hh.model")),
    (
        "izhikevich",
        include_str!("../../../spec-examples/izhikevich.model"),
    ),
    ("noise", include_str!("../../../spec-examples/noise.model")),
];

/// Case count from `PROPTEST_CASES`, or `default`.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Shrinking a long mutant can take many steps; keep a failure's
        // report quick in CI.
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// Every span of `d` (primary and secondary) lies within `source` and on
/// character boundaries.
fn check_spans(source: &str, diagnostics: &[Diagnostic]) -> Result<(), TestCaseError> {
    for d in diagnostics {
        prop_assert!(!d.message.is_empty(), "empty message: {d:?}");
        let spans = std::iter::once(d.span).chain(d.secondary.iter().map(|(s, _)| *s));
        for span in spans {
            prop_assert!(
                span.start <= span.end,
                "reversed span {span:?} in {d:?}\nsource:\n{source}"
            );
            prop_assert!(
                span.end <= source.len(),
                "span {span:?} beyond the source ({} bytes) in {d:?}\nsource:\n{source}",
                source.len()
            );
            prop_assert!(
                source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
                "span {span:?} splits a character in {d:?}\nsource:\n{source}"
            );
        }
    }
    Ok(())
}

/// Largest model simulated: mutants can multiply a group size by 10^k, and
/// the point here is not to allocate gigabytes.
const MAX_SIMULATED_ELEMENTS: usize = 100_000;

/// Compiles `source`; checks the diagnostics, or simulates a few steps.
fn compile_and_maybe_run(source: &str) -> Result<(), TestCaseError> {
    match compile(source) {
        Err(diagnostics) => {
            prop_assert!(
                !diagnostics.is_empty(),
                "compile failed without a diagnostic"
            );
            check_spans(source, &diagnostics)
        }
        Ok(model) => {
            let elements: usize = model.program.arrays.iter().map(|a| a.len).sum();
            if elements > MAX_SIMULATED_ELEMENTS {
                return Ok(());
            }
            // A runtime error (an invalid program the JIT refuses, a
            // divergence) is an answer; only a panic is a failure.
            if let Ok(mut sim) = Simulation::new(
                model.program,
                RunConfig {
                    seed: 1,
                    threads: 1,
                },
            ) {
                let _ = sim.advance(10);
            }
            Ok(())
        }
    }
}

/// The words and punctuation of the language, plus some near misses.
const TOKENS: &[&str] = &[
    "NeuronGroup",
    "SpikeMonitor",
    "StateMonitor",
    "PopulationRateMonitor",
    "Synapses",
    "PoissonGroup",
    "TimedArray",
    "G",
    "M",
    "v",
    "w",
    "I",
    "tau",
    "x",
    "xi",
    "i",
    "N",
    "t",
    "dt",
    "defaultclock.dt",
    "seed",
    "run",
    "model:",
    "threshold:",
    "reset:",
    "refractory:",
    "method:",
    "init:",
    "events:",
    "variables:",
    "record:",
    "dt:",
    "exact",
    "euler",
    "rk4",
    "heun",
    "milstein",
    "dv/dt",
    "dw/dt",
    "volt",
    "amp",
    "second",
    "ms",
    "mV",
    "nA",
    "Hz",
    "1",
    "0",
    "10",
    "2.5",
    ".5",
    "1e-3",
    "1e308",
    "1e999",
    "99999999999999999999",
    "exp",
    "sqrt",
    "clip",
    "rand()",
    "randn()",
    "True",
    "not",
    "and",
    "or",
    "(unless refractory)",
    "(constant)",
    "(shared)",
    "all",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    "=",
    "+=",
    "==",
    "*",
    "**",
    "/",
    "//",
    "+",
    "-",
    "<",
    ">",
    ">=",
    "->",
    "#",
    "'",
    "\"",
    ";",
    " ",
    " ",
    " ",
    "\n",
    "\n",
    "\n    ",
    "\n        ",
    "\t",
    "\r\n",
    "é",
    "τ",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|tokens| tokens.concat())
}

/// Characters a mutation inserts: the grammar-ish alphabet and a few that
/// have no business in a model.
fn inserted_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::sample::select(
            "abcdvwxyzAGNT_0123456789 ().:*+/=<>\n-,[]#'\"".chars().collect::<Vec<_>>()
        ),
        1 => prop::sample::select(vec!['\t', '\r', '\0', 'é', 'τ', '€', '😀', '\u{feff}']),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertChar(usize, char),
    DeleteChars(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>();
    prop_oneof![
        2 => n.prop_map(Mutation::DeleteLine),
        2 => n.prop_map(Mutation::DuplicateLine),
        2 => (n, any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        4 => (n, inserted_char()).prop_map(|(p, c)| Mutation::InsertChar(p, c)),
        2 => (n, 1..8usize).prop_map(|(p, k)| Mutation::DeleteChars(p, k)),
        1 => n.prop_map(Mutation::Truncate),
    ]
}

/// The char boundary at or before `pos % (len + 1)`.
fn boundary(text: &str, pos: usize) -> usize {
    let mut p = pos % (text.len() + 1);
    while !text.is_char_boundary(p) {
        p -= 1;
    }
    p
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    match *m {
        Mutation::DeleteLine(k) if !lines.is_empty() => {
            lines.remove(k % lines.len());
            lines.concat()
        }
        Mutation::DuplicateLine(k) if !lines.is_empty() => {
            let k = k % lines.len();
            let line = lines[k];
            // A last line without a newline would otherwise merge with
            // its copy.
            if line.ends_with('\n') {
                lines.insert(k, line);
                lines.concat()
            } else {
                format!("{}\n{line}", lines.concat())
            }
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a % lines.len(), b % lines.len());
            lines.swap(a, b);
            let mut out = lines.concat();
            // The swapped-in last line may lack its newline.
            if !out.ends_with('\n') && text.ends_with('\n') {
                out.push('\n');
            }
            out
        }
        Mutation::InsertChar(pos, c) => {
            let p = boundary(text, pos);
            let mut out = text.to_string();
            out.insert(p, c);
            out
        }
        Mutation::DeleteChars(pos, k) => {
            let start = boundary(text, pos);
            let end = text[start..]
                .char_indices()
                .nth(k)
                .map_or(text.len(), |(i, _)| start + i);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Truncate(pos) => text[..boundary(text, pos)].to_string(),
        _ => text.to_string(),
    }
}

fn mutant() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SPEC_EXAMPLES),
        prop::collection::vec(mutation(), 1..5),
    )
        .prop_map(|((_, text), mutations)| {
            mutations
                .iter()
                .fold(text.to_string(), |acc, m| apply(&acc, m))
        })
}

/// The unmutated examples compile: otherwise every mutant would test only
/// the error path.
#[test]
fn spec_examples_compile() {
    for (name, text) in SPEC_EXAMPLES {
        if let Err(d) = compile(text) {
            panic!("spec-examples/{name}.model does not compile: {d:#?}");
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn token_soup_never_panics(source in token_soup()) {
        compile_and_maybe_run(&source)?;
    }

    #[test]
    fn mutated_examples_never_panic(source in mutant()) {
        compile_and_maybe_run(&source)?;
    }

    /// Lines of one valid model spliced into another: plausible structure
    /// in implausible places.
    #[test]
    fn spliced_examples_never_panic(
        a in prop::sample::select(SPEC_EXAMPLES),
        b in prop::sample::select(SPEC_EXAMPLES),
        cut_a in any::<usize>(),
        cut_b in any::<usize>(),
    ) {
        let (a, b) = (a.1, b.1);
        let source = format!("{}{}", &a[..boundary(a, cut_a)], &b[boundary(b, cut_b)..]);
        compile_and_maybe_run(&source)?;
    }
}
