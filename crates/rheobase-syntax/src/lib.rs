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
//! them. After 100 errors it stops.
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

pub mod ast;
mod convert;
mod diagnostic;
mod grammar;
mod layout;
mod parser;

pub use diagnostic::{line_col, Diagnostic, Span};

/// Parses a whole `.model` file.
///
/// On success, returns the AST; otherwise every error found (up to 100),
/// in source order, each pointing at the offending text with byte offsets
/// into `source`.
pub fn parse(source: &str) -> Result<ast::Model, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let layout = layout::layout(source, &mut diags);
    let mut parser = parser::Parser::new(&layout.masked, &layout.lines, diags);
    let model = parser.model();
    let mut diags = parser.diags;
    if diags.is_empty() {
        Ok(model)
    } else {
        diags.sort_by_key(|d| (d.span.start, d.span.end));
        Err(diags)
    }
}
