//! The `.model` language's syntax: a pest grammar and an owned AST with spans.
//!
//! A `.model` file declares a spiking network the way a Brian2 script would:
//! named constants, `NeuronGroup`s with Brian2 equations, `Synapses`,
//! inputs, monitors and `run` statements, in file order. This crate turns
//! its text into an [`ast::Model`] or a list of [`Diagnostic`]s; it knows
//! nothing of units or meaning, which the next phase adds.
//!
//! Parsing happens in two steps. A line pre-pass blanks out comments,
//! joins continuation lines (a line ending in an operator, a comma or an
//! open bracket continues on the next one) and works out which lines are
//! indented under which. Then each logical line or key value is parsed by a
//! pest rule and converted into AST nodes whose [`Span`]s are byte offsets
//! into the original source. pest's types never leave this crate.
//!
//! The parser never panics and never recurses without bound: nesting deeper
//! than 200 brackets, expressions nesting more than 1000 operations, and
//! statements longer than 1 MiB are reported as errors before pest sees
//! them. After 100 errors it stops. It runs on a helper thread with a
//! 64 MiB stack, so that even an unoptimised build parses the deepest
//! allowed input whatever the caller's stack size.
//!
//! ```
//! use rheobase_syntax::{ast, parse};
//!
//! let model = parse(
//!     "tau = 10*ms\n\
//!      NeuronGroup P(100):\n\
//!      \x20   model:\n\
//!      \x20       dv/dt = -v/tau : volt (unless refractory)\n\
//!      \x20   threshold: v > -50*mV\n\
//!      \x20   reset: v = -60*mV\n\
//!      run 1*second\n",
//! )
//! .expect("a valid model");
//! assert_eq!(model.items.len(), 3);
//! let ast::Item::NeuronGroup(group) = &model.items[1] else {
//!     panic!("expected a NeuronGroup");
//! };
//! assert_eq!(group.name.name, "P");
//! assert_eq!(group.model[0].flags[0].name, "unless refractory");
//!
//! let errors = parse("x = \n").unwrap_err();
//! assert_eq!(errors[0].message, "expected an expression after `=`");
//! ```

// `ConnectIndex::Generator` is much larger than its siblings; the AST is a
// fixed contract with the next phase, and a few hundred bytes per `connect:`
// line do not matter, so the variant is not boxed.
#[allow(clippy::large_enum_variant)]
pub mod ast;
mod convert;
mod diagnostic;
mod grammar;
mod hints;
mod layout;
mod linked;
mod parser;
pub mod render;
mod subgroups;

pub use diagnostic::{line_col, Diagnostic, DiagnosticKind, Severity, Span};

/// The parser's own stack. Nesting is limited (see the crate docs), but an
/// unoptimised build needs a few MiB for the deepest allowed input, more
/// than a test thread's default 2 MiB; only the pages actually used are
/// committed, so a generous size costs nothing.
const PARSER_STACK_BYTES: usize = 64 << 20;

/// Parses a whole `.model` file.
///
/// On success, returns the AST; otherwise every error found (up to 100),
/// in source order, each pointing at the offending text with byte offsets
/// into `source`.
///
/// The work runs on a scoped helper thread with a known, large stack, so
/// that the result does not depend on the caller's stack size. If the
/// thread cannot be created, the parser runs on the caller's thread.
pub fn parse(source: &str) -> Result<ast::Model, Vec<Diagnostic>> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("rheobase-syntax".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || parse_here(source));
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(vec![Diagnostic::error(
                    Span::new(0, 0),
                    "internal parser error: the parser crashed",
                )
                .with_note(
                    "this is a bug in rheobase; please report it with the model file",
                )])
            }),
            Err(_) => parse_here(source),
        }
    })
}

fn parse_here(source: &str) -> Result<ast::Model, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let layout = layout::layout(source, &mut diags);
    let mut parser = parser::Parser::new(&layout.masked, &layout.lines, diags);
    let mut model = parser.model();
    subgroups::resolve(&mut model, &mut parser.diags);
    // Brian2 habits (quoted code, Python calls) get an error naming them.
    let mut diags: Vec<Diagnostic> = parser
        .diags
        .into_iter()
        .map(|d| hints::explain(source, d))
        .collect();
    if diags.is_empty() {
        Ok(model)
    } else {
        // Stable sort: diagnostics at the same place keep the order in
        // which they were found.
        diags.sort_by_key(|d| (d.span.start, d.span.end));
        // Several errors of one line may become the same explanation.
        diags.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        for d in &mut diags {
            d.kind = DiagnosticKind::Syntax;
        }
        Err(diags)
    }
}
