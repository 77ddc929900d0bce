//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rheobase_syntax::ast::*;
use rheobase_syntax::{parse, Diagnostic};

/// Renders an expression fully parenthesised, so that tests can assert on
/// the shape of a tree in one readable string.
pub fn sx(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { value, is_integer } => {
            if *is_integer {
                format!("{value}i")
            } else {
                format!("{value}")
            }
        }
        ExprKind::Bool(b) => format!("{b}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::List(items) => {
            format!("[{}]", items.iter().map(sx).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Unary(op, x) => {
            let op = match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Pos => "pos",
                UnaryOp::Not => "not",
            };
            format!("({op} {})", sx(x))
        }
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), sx(a), sx(b)),
        ExprKind::Call { function, args } => format!(
            "{}({})",
            function.name,
            args.iter().map(sx).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Subscript { array, args } => format!(
            "{}[{}]",
            array.name,
            args.iter().map(sx).collect::<Vec<_>>().join(" ")
        ),
    }
}

/// Parses a model, failing the test with readable diagnostics on error.
pub fn ok(src: &str) -> Model {
    match parse(src) {
        Ok(m) => m,
        Err(ds) => panic!(
            "unexpected errors:\n{}",
            ds.iter()
                .map(|d| format!("  {:?}: {} {:?}", d.span, d.message, d.notes))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Parses a model that must fail.
pub fn errs(src: &str) -> Vec<Diagnostic> {
    match parse(src) {
        Ok(m) => panic!("expected errors, got {m:#?}"),
        Err(ds) => ds,
    }
}

/// Parses `x = EXPR` and renders the expression.
pub fn expr(src: &str) -> String {
    let m = ok(&format!("x = {src}\n"));
    match &m.items[0] {
        Item::Constant { value, .. } => sx(value),
        other => panic!("not a constant: {other:?}"),
    }
}

/// The source text a span covers.
pub fn text(src: &str, span: rheobase_syntax::Span) -> &str {
    &src[span.start..span.end]
}
