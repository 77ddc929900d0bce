//! Turning pest pairs into AST nodes.
//!
//! Each function here takes the pairs of one successfully parsed rule and
//! builds owned AST values, translating pest's spans (relative to the text
//! handed to pest) into byte offsets of the original source. Checks that a
//! PEG cannot express neatly (chained comparisons, number overflow, the
//! keyword arguments of `connect:`) are made here too.

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, ConstPrattParser, Op};

use crate::ast::*;
use crate::grammar::{self, Rule};
use crate::{Diagnostic, Span};

/// Operator precedence, lowest first, as in Python: `or` < `and` < `not` <
/// comparisons < `+ -` < `* / // %` < unary `- +` < `**`. Because `**`
/// binds tighter than a unary minus on its left, `-x**2` is `-(x**2)`; pest's
/// Pratt parser also lets a prefix operator start the right operand of `**`,
/// so `2**-1` parses.
static PRATT: ConstPrattParser<Rule, 18> = ConstPrattParser::new_const([
    (Op::infix(Rule::or_op, Assoc::Left), true),
    (Op::infix(Rule::and_op, Assoc::Left), true),
    (Op::prefix(Rule::not_op), true),
    (Op::infix(Rule::lt, Assoc::Left), true),
    (Op::infix(Rule::le, Assoc::Left), false),
    (Op::infix(Rule::gt, Assoc::Left), false),
    (Op::infix(Rule::ge, Assoc::Left), false),
    (Op::infix(Rule::eq, Assoc::Left), false),
    (Op::infix(Rule::ne, Assoc::Left), false),
    (Op::infix(Rule::add, Assoc::Left), true),
    (Op::infix(Rule::sub, Assoc::Left), false),
    (Op::infix(Rule::mul, Assoc::Left), true),
    (Op::infix(Rule::div, Assoc::Left), false),
    (Op::infix(Rule::floordiv, Assoc::Left), false),
    (Op::infix(Rule::modulo, Assoc::Left), false),
    (Op::prefix(Rule::neg), true),
    (Op::prefix(Rule::pos), false),
    (Op::infix(Rule::pow, Assoc::Right), true),
]);

/// An expression together with whether it was written in parentheses, which
/// decides whether `(a < b) < c` is allowed (it is) or `a < b < c` (it is
/// not, as in Brian2).
type Folded = Result<(Expr, bool), Diagnostic>;

/// Converts pairs of text that starts at byte `base` of the source.
#[derive(Clone, Copy)]
pub(crate) struct Conv {
    pub base: usize,
}

/// The pairs inside `pair`, without the end-of-input marker.
pub(crate) fn children(pair: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    pair.into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .collect()
}

fn internal(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        span,
        format!("internal parser error: unexpected shape of {what}"),
    )
    .with_note("this is a bug in rheobase; please report it with the model file")
}

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::or_op => BinaryOp::Or,
        Rule::and_op => BinaryOp::And,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        Rule::floordiv => BinaryOp::FloorDiv,
        Rule::modulo => BinaryOp::Mod,
        Rule::pow => BinaryOp::Pow,
        _ => return None,
    })
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
    )
}

impl Conv {
    /// The source span of a pest span, without trailing whitespace: pest
    /// skips implicit whitespace before trying an optional part (`ident ~
    /// call_args?`, `unit_atom ~ (unit_pow ~ ...)?`) and keeps it in the
    /// pair's span even when the optional part is absent, which would
    /// underline `v ` instead of `v` and quote it as such in messages.
    pub fn span(&self, s: pest::Span<'_>) -> Span {
        let trimmed = s.as_str().trim_end_matches([' ', '\t', '\n', '\r']);
        let start = self.base + s.start();
        Span::new(start, start + trimmed.len())
    }

    /// One keyword argument of `run`: Brian2's `report=` (a name of where
    /// to write, or `None`) and `report_period=` (returned, for the
    /// lowering to check as a time). rheobase shows every run's progress
    /// on standard error (hidden by `--quiet`), so both are accepted for
    /// the script to run as written and change nothing.
    pub fn run_arg(
        &self,
        arg: Pair<'_, Rule>,
        seen: &mut Vec<(String, Span)>,
    ) -> Result<Option<Expr>, Diagnostic> {
        let arg_span = self.span(arg.as_span());
        let mut inner = arg.into_inner().filter(|p| p.as_rule() != Rule::assign);
        let (Some(name), Some(value)) = (inner.next(), inner.next()) else {
            return Err(internal(arg_span, "a `run` argument"));
        };
        let name = self.ident(&name);
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name.name) {
            return Err(Diagnostic::error(
                name.span,
                format!("`{}` is given twice in this `run`", name.name),
            )
            .with_secondary(*first, "first given here"));
        }
        seen.push((name.name.clone(), name.span));
        let value_span = self.span(value.as_span());
        match name.name.as_str() {
            "report" => {
                let text = value.as_str();
                let known = [
                    "'text'",
                    "'stdout'",
                    "'stderr'",
                    "\"text\"",
                    "\"stdout\"",
                    "\"stderr\"",
                ];
                if value.as_rule() == Rule::none_lit || known.contains(&text) {
                    Ok(None)
                } else {
                    Err(Diagnostic::error(
                        value_span,
                        format!("`report=` takes 'text', 'stdout', 'stderr' or None, not `{text}`"),
                    )
                    .with_note(
                        "a Python function cannot be called from a model file; rheobase shows \
                         the progress of every run on standard error",
                    ))
                }
            }
            "report_period" => match value.as_rule() {
                Rule::expr => Ok(Some(self.expr(value)?)),
                _ => Err(Diagnostic::error(
                    value_span,
                    "`report_period=` takes a time, such as `10*second`",
                )),
            },
            other => Err(Diagnostic::error(
                name.span,
                format!("`run` takes no argument `{other}` here"),
            )
            .with_note(
                "a model file's `run` takes its duration and Brian2's `report=` and \
                 `report_period=`; constants are the file's own, so `namespace=` is not needed",
            )),
        }
    }

    pub fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair.as_span()),
        }
    }

    /// Converts an `expr` pair.
    pub fn expr(&self, pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let whole = self.span(pair.as_span());
        if pair.as_rule() != Rule::expr {
            return Err(internal(whole, "an expression"));
        }
        self.fold(pair).map(|(e, _)| e)
    }

    fn fold(&self, pair: Pair<'_, Rule>) -> Folded {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let (rhs, _) = rhs?;
                let unary = match op.as_rule() {
                    Rule::neg => UnaryOp::Neg,
                    Rule::pos => UnaryOp::Pos,
                    _ => UnaryOp::Not,
                };
                let span = self.span(op.as_span()).to(rhs.span);
                Ok((
                    Expr {
                        kind: ExprKind::Unary(unary, Box::new(rhs)),
                        span,
                    },
                    false,
                ))
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, lhs_paren) = lhs?;
                let (rhs, _) = rhs?;
                let span = lhs.span.to(rhs.span);
                let Some(bin) = binary_op(op.as_rule()) else {
                    return Err(internal(span, "an operator"));
                };
                if is_comparison(bin) && !lhs_paren {
                    if let ExprKind::Binary(inner, _, _) = &lhs.kind {
                        if is_comparison(*inner) {
                            return Err(Diagnostic::error(span, "comparisons cannot be chained")
                                .with_label("two comparisons in a row")
                                .with_note(format!(
                                    "write `a {} b and b {} c` instead of `a {} b {} c`",
                                    inner.symbol(),
                                    bin.symbol(),
                                    inner.symbol(),
                                    bin.symbol()
                                )));
                        }
                    }
                }
                Ok((
                    Expr {
                        kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                        span,
                    },
                    false,
                ))
            })
            .parse(pair.into_inner())
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Folded {
        let span = self.span(pair.as_span());
        match pair.as_rule() {
            Rule::paren => {
                let inner = children(pair)
                    .into_iter()
                    .find(|p| p.as_rule() == Rule::expr)
                    .ok_or_else(|| internal(span, "parentheses"))?;
                let mut e = self.expr(inner)?;
                // The parentheses belong to the expression: an underline
                // under `(a + b)` reads better than one under `a + b)`.
                e.span = span;
                Ok((e, true))
            }
            Rule::list => {
                let items = self.exprs(pair)?;
                Ok((
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    false,
                ))
            }
            Rule::true_lit | Rule::false_lit => Ok((
                Expr {
                    kind: ExprKind::Bool(pair.as_rule() == Rule::true_lit),
                    span,
                },
                false,
            )),
            Rule::number => Ok((self.number(&pair)?, false)),
            // One clock: `defaultclock.dt` is the time step, a name the
            // checker resolves (`dt` in code, its value at the top level).
            Rule::clock_dt => Ok((
                Expr {
                    kind: ExprKind::Name(CLOCK_DT.into()),
                    span,
                },
                false,
            )),
            Rule::name_or_call => {
                let mut inner = pair.into_inner();
                let name = inner.next().ok_or_else(|| internal(span, "a name"))?;
                let function = self.ident(&name);
                match inner.next() {
                    Some(args) if args.as_rule() == Rule::subscript_args => {
                        let args = self.exprs(args)?;
                        Ok((
                            Expr {
                                kind: ExprKind::Subscript {
                                    array: function,
                                    args,
                                },
                                span,
                            },
                            false,
                        ))
                    }
                    Some(args) => {
                        let args = self.exprs(args)?;
                        Ok((
                            Expr {
                                kind: ExprKind::Call { function, args },
                                span,
                            },
                            false,
                        ))
                    }
                    None => Ok((
                        Expr {
                            kind: ExprKind::Name(function.name),
                            span,
                        },
                        false,
                    )),
                }
            }
            _ => Err(internal(span, "an expression")),
        }
    }

    /// The `expr` children of a list or argument list.
    fn exprs(&self, pair: Pair<'_, Rule>) -> Result<Vec<Expr>, Diagnostic> {
        pair.into_inner()
            .filter(|p| p.as_rule() == Rule::expr)
            .map(|p| self.expr(p))
            .collect()
    }

    /// A numeric literal. Python's integer literals are unbounded; ours
    /// become `f64` (losing precision beyond 2^53), but a literal whose value
    /// is infinite as an `f64` is refused rather than silently becoming `inf`.
    pub fn number(&self, pair: &Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(pair.as_span());
        let text = pair.as_str();
        let cleaned: String = text.chars().filter(|&c| c != '_').collect();
        let is_integer = !cleaned.contains(['.', 'e', 'E']);
        let value: f64 = cleaned
            .parse()
            .map_err(|_| Diagnostic::error(span, "this is not a valid number"))?;
        if !value.is_finite() {
            return Err(Diagnostic::error(span, "number too large")
                .with_label("larger than the largest 64-bit float (about 1.8e308)"));
        }
        Ok(Expr {
            kind: ExprKind::Number { value, is_integer },
            span,
        })
    }

    /// Converts a `unit` pair: a left-to-right chain of `*` and `/`.
    pub fn unit(&self, pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut acc: Option<Expr> = None;
        let mut op = BinaryOp::Mul;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::unit_mul => op = BinaryOp::Mul,
                Rule::unit_div => op = BinaryOp::Div,
                Rule::unit_factor => {
                    let factor = self.unit_factor(p)?;
                    acc = Some(match acc {
                        None => factor,
                        Some(lhs) => Expr {
                            span: lhs.span.to(factor.span),
                            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(factor)),
                        },
                    });
                }
                _ => return Err(internal(span, "a unit")),
            }
        }
        acc.ok_or_else(|| internal(span, "a unit"))
    }

    fn unit_factor(&self, pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut base: Option<Expr> = None;
        let mut exponent: Option<Expr> = None;
        for p in pair.into_inner() {
            let pspan = self.span(p.as_span());
            match p.as_rule() {
                Rule::unit_name => {
                    base = Some(Expr {
                        kind: ExprKind::Name(p.as_str().to_string()),
                        span: pspan,
                    })
                }
                Rule::unit_number => base = Some(self.number(&p)?),
                Rule::unit_paren => {
                    let inner = p
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::unit)
                        .ok_or_else(|| internal(pspan, "a unit"))?;
                    let mut e = self.unit(inner)?;
                    e.span = pspan;
                    base = Some(e);
                }
                Rule::unit_pow => {}
                Rule::unit_exponent => exponent = Some(self.unit_exponent(p)?),
                _ => return Err(internal(span, "a unit")),
            }
        }
        let base = base.ok_or_else(|| internal(span, "a unit"))?;
        Ok(match exponent {
            None => base,
            Some(exp) => Expr {
                span: base.span.to(exp.span),
                kind: ExprKind::Binary(BinaryOp::Pow, Box::new(base), Box::new(exp)),
            },
        })
    }

    fn unit_exponent(&self, pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut sign: Option<(UnaryOp, Span)> = None;
        let mut value: Option<Expr> = None;
        for p in pair.into_inner() {
            let pspan = self.span(p.as_span());
            match p.as_rule() {
                Rule::neg => sign = Some((UnaryOp::Neg, pspan)),
                Rule::pos => sign = Some((UnaryOp::Pos, pspan)),
                Rule::unit_number => value = Some(self.number(&p)?),
                Rule::paren => value = Some(self.primary(p)?.0),
                _ => return Err(internal(span, "an exponent")),
            }
        }
        let value = value.ok_or_else(|| internal(span, "an exponent"))?;
        Ok(match sign {
            None => value,
            Some((op, s)) => Expr {
                span: s.to(value.span),
                kind: ExprKind::Unary(op, Box::new(value)),
            },
        })
    }

    /// Converts an `equation` rule's children.
    pub fn equation(&self, span: Span, parts: Vec<Pair<'_, Rule>>) -> Result<Equation, Diagnostic> {
        let mut variable: Option<Ident> = None;
        let mut differential = false;
        let mut value: Option<Expr> = None;
        let mut unit: Option<Expr> = None;
        let mut flags = Vec::new();
        for p in parts {
            match p.as_rule() {
                Rule::diff_lhs => {
                    differential = true;
                    let name = p
                        .clone()
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::ident)
                        .ok_or_else(|| internal(span, "a derivative"))?;
                    variable = Some(self.ident(&name));
                }
                Rule::ident => variable = Some(self.ident(&p)),
                Rule::expr => value = Some(self.expr(p)?),
                Rule::unit => unit = Some(self.unit(p)?),
                Rule::flags => {
                    for f in p.into_inner().filter(|q| q.as_rule() == Rule::flag) {
                        let raw = f.as_str();
                        let trimmed = raw.trim_end();
                        let start = self.base + f.as_span().start();
                        flags.push(Ident {
                            name: trimmed.split_whitespace().collect::<Vec<_>>().join(" "),
                            span: Span::new(start, start + trimmed.len()),
                        });
                    }
                }
                Rule::assign | Rule::colon => {}
                _ => return Err(internal(span, "an equation")),
            }
        }
        let variable = variable.ok_or_else(|| internal(span, "an equation"))?;
        let unit = unit.ok_or_else(|| internal(span, "an equation"))?;
        let kind = match (differential, value) {
            (true, Some(v)) => EquationKind::Differential(v),
            (true, None) => {
                return Err(Diagnostic::error(
                    variable.span,
                    format!(
                        "the differential equation for `{}` has no right-hand side",
                        variable.name
                    ),
                )
                .with_note(format!("write `d{}/dt = EXPRESSION : UNIT`", variable.name)))
            }
            (false, Some(v)) => EquationKind::Subexpression(v),
            (false, None) => EquationKind::Parameter,
        };
        Ok(Equation {
            kind,
            variable,
            unit,
            flags,
            span,
        })
    }

    /// Converts a `statement` pair.
    pub fn statement(&self, pair: Pair<'_, Rule>) -> Result<Statement, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut target = None;
        let mut op = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => target = Some(self.ident(&p)),
                Rule::assign_op => {
                    op = Some(match p.as_str() {
                        "+=" => AssignOp::Add,
                        "-=" => AssignOp::Sub,
                        "*=" => AssignOp::Mul,
                        "/=" => AssignOp::Div,
                        "//=" => AssignOp::FloorDiv,
                        "%=" => AssignOp::Mod,
                        "**=" => AssignOp::Pow,
                        _ => AssignOp::Assign,
                    })
                }
                Rule::expr => value = Some(self.expr(p)?),
                _ => return Err(internal(span, "a statement")),
            }
        }
        match (target, op, value) {
            (Some(target), Some(op), Some(value)) => Ok(Statement {
                target,
                op,
                value,
                span,
            }),
            _ => Err(internal(span, "a statement")),
        }
    }

    /// Converts a `group_ref` pair.
    pub fn group_ref(&self, pair: Pair<'_, Rule>) -> Result<GroupRef, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut group = None;
        let mut slice = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => group = Some(self.ident(&p)),
                Rule::slice => {
                    let sspan = self.span(p.as_span());
                    let mut start = None;
                    let mut stop = None;
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::slice_start | Rule::slice_stop => {
                                let is_start = q.as_rule() == Rule::slice_start;
                                let e = q
                                    .into_inner()
                                    .next()
                                    .ok_or_else(|| internal(sspan, "a slice"))?;
                                let e = self.expr(e)?;
                                if is_start {
                                    start = Some(e);
                                } else {
                                    stop = Some(e);
                                }
                            }
                            _ => {}
                        }
                    }
                    slice = Some(Slice {
                        start,
                        stop,
                        span: sspan,
                    });
                }
                _ => return Err(internal(span, "a group reference")),
            }
        }
        let group = group.ok_or_else(|| internal(span, "a group reference"))?;
        Ok(GroupRef { group, slice, span })
    }

    /// Parses the inside of a quoted string (a `string` pair) with `rule`.
    fn quoted<'t>(
        &self,
        string: &Pair<'t, Rule>,
        rule: Rule,
    ) -> Result<(Conv, Vec<Pair<'t, Rule>>, Span), Diagnostic> {
        let span = self.span(string.as_span());
        let inner = string
            .clone()
            .into_inner()
            .next()
            .ok_or_else(|| internal(span, "a string"))?;
        let base = self.base + inner.as_span().start();
        let text = inner.as_str();
        let mut pairs = grammar::run(rule, text, base)?;
        let top = pairs.next().ok_or_else(|| internal(span, "a string"))?;
        Ok((Conv { base }, children(top), span))
    }

    /// A string's content as an expression, e.g. `p='0.1*exp(-d)'`.
    fn quoted_expr(&self, string: &Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
        let (conv, parts, span) = self.quoted(string, Rule::expr_only)?;
        let e = parts
            .into_iter()
            .next()
            .ok_or_else(|| internal(span, "a string"))?;
        conv.expr(e)
    }

    /// A string's content as a connect index: a mapping or a generator.
    fn quoted_index(&self, string: &Pair<'_, Rule>) -> Result<ConnectIndex, Diagnostic> {
        let (conv, parts, span) = self.quoted(string, Rule::index_spec)?;
        let inner_span = match (parts.first(), parts.last()) {
            (Some(a), Some(b)) => conv.span(a.as_span()).to(conv.span(b.as_span())),
            _ => span,
        };
        let mut element = None;
        let mut generator = None;
        let mut condition = None;
        for p in parts {
            match p.as_rule() {
                Rule::expr => element = Some(conv.expr(p)?),
                Rule::generator_tail => generator = Some(conv.generator_tail(p)?),
                Rule::if_tail => {
                    let e = p
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::expr)
                        .ok_or_else(|| internal(span, "a condition"))?;
                    condition = Some(conv.expr(e)?);
                }
                _ => return Err(internal(span, "a connect index")),
            }
        }
        let element = element.ok_or_else(|| internal(span, "a connect index"))?;
        Ok(match generator {
            None => ConnectIndex::Mapping {
                expr: element,
                condition,
            },
            Some((variable, iterable)) => ConnectIndex::Generator(Generator {
                element,
                variable,
                iterable,
                condition,
                span: inner_span,
            }),
        })
    }

    fn generator_tail(&self, pair: Pair<'_, Rule>) -> Result<(Ident, Iterable), Diagnostic> {
        let span = self.span(pair.as_span());
        let mut variable = None;
        let mut iterable = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => variable = Some(self.ident(&p)),
                Rule::range_call => iterable = Some(self.range_call(p)?),
                Rule::sample_call => iterable = Some(self.sample_call(p)?),
                _ => {}
            }
        }
        match (variable, iterable) {
            (Some(v), Some(it)) => Ok((v, it)),
            _ => Err(internal(span, "a generator")),
        }
    }

    fn range_call(&self, pair: Pair<'_, Rule>) -> Result<Iterable, Diagnostic> {
        let span = self.span(pair.as_span());
        let args = self.exprs(pair)?;
        if args.len() > 3 {
            return Err(Diagnostic::error(
                span,
                format!(
                    "`range` takes 1 to 3 arguments, but {} were given",
                    args.len()
                ),
            ));
        }
        Ok(Iterable::Range { args, span })
    }

    fn sample_call(&self, pair: Pair<'_, Rule>) -> Result<Iterable, Diagnostic> {
        let span = self.span(pair.as_span());
        let mut args = Vec::new();
        let mut p_arg: Option<Expr> = None;
        let mut size: Option<Expr> = None;
        for arg in pair
            .into_inner()
            .filter(|q| q.as_rule() == Rule::sample_arg)
        {
            let mut keyword = None;
            let mut value = None;
            for q in arg.into_inner() {
                match q.as_rule() {
                    Rule::ident => keyword = Some(self.ident(&q)),
                    Rule::expr => value = Some(self.expr(q)?),
                    _ => {}
                }
            }
            let value = value.ok_or_else(|| internal(span, "an argument"))?;
            match keyword {
                None if p_arg.is_some() || size.is_some() => {
                    return Err(Diagnostic::error(
                        value.span,
                        "a positional argument cannot follow a keyword argument",
                    ))
                }
                None => args.push(value),
                Some(k) if k.name == "p" || k.name == "size" => {
                    let slot = if k.name == "p" { &mut p_arg } else { &mut size };
                    if slot.is_some() {
                        return Err(Diagnostic::error(
                            k.span,
                            format!("`{}` is given twice", k.name),
                        ));
                    }
                    *slot = Some(value);
                }
                Some(k) => {
                    return Err(Diagnostic::error(
                        k.span,
                        format!(
                            "unknown argument `{}` of `sample`; it takes `p=` or `size=`",
                            k.name
                        ),
                    ))
                }
            }
        }
        if args.is_empty() || args.len() > 3 {
            return Err(Diagnostic::error(
                span,
                "`sample` takes 1 to 3 positional arguments (start, stop, step)",
            ));
        }
        if p_arg.is_some() == size.is_some() {
            return Err(Diagnostic::error(
                span,
                "`sample` needs exactly one of `p=` (a probability) or `size=` (a number of samples)",
            ));
        }
        Ok(Iterable::Sample {
            args,
            p: p_arg,
            size,
            span,
        })
    }

    /// Converts a `connect_args` rule's children into one `Connect`.
    pub fn connect(&self, span: Span, parts: Vec<Pair<'_, Rule>>) -> Result<Connect, Diagnostic> {
        const KEYS: [&str; 6] = ["condition", "p", "i", "j", "n", "skip_if_invalid"];
        let mut connect = Connect {
            span,
            ..Connect::default()
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut any_keyword = false;
        let mut positional = 0;
        for arg in parts
            .into_iter()
            .filter(|p| p.as_rule() == Rule::connect_arg)
        {
            let arg_span = self.span(arg.as_span());
            let mut keyword: Option<Ident> = None;
            let mut value: Option<Pair<'_, Rule>> = None;
            for q in arg.into_inner() {
                match q.as_rule() {
                    Rule::ident => keyword = Some(self.ident(&q)),
                    Rule::string | Rule::expr => value = Some(q),
                    _ => {}
                }
            }
            let value = value.ok_or_else(|| internal(arg_span, "a connect argument"))?;
            let is_string = value.as_rule() == Rule::string;
            let name = match &keyword {
                Some(k) => {
                    any_keyword = true;
                    if let Some((_, first)) = seen.iter().find(|(n, _)| *n == k.name) {
                        return Err(Diagnostic::error(
                            k.span,
                            format!("`{}` is given twice in this `connect:`", k.name),
                        )
                        .with_secondary(*first, "first given here"));
                    }
                    seen.push((k.name.clone(), k.span));
                    k.name.as_str()
                }
                None => {
                    if any_keyword || positional > 0 {
                        return Err(Diagnostic::error(
                            arg_span,
                            "only the condition may be given without a name, and only first",
                        )
                        .with_note("name the argument, e.g. `p=0.1` or `j='i'`"));
                    }
                    positional += 1;
                    seen.push(("condition".to_string(), arg_span));
                    "condition"
                }
            };
            let as_expr = |v: &Pair<'_, Rule>| -> Result<Expr, Diagnostic> {
                if is_string {
                    self.quoted_expr(v)
                } else {
                    self.expr(v.clone())
                }
            };
            match name {
                "condition" => connect.condition = Some(as_expr(&value)?),
                "p" => connect.p = Some(as_expr(&value)?),
                "n" => connect.n = Some(as_expr(&value)?),
                "i" | "j" => {
                    let index = if is_string {
                        self.quoted_index(&value)?
                    } else {
                        ConnectIndex::Values(self.expr(value)?)
                    };
                    if name == "i" {
                        connect.i = Some(index);
                    } else {
                        connect.j = Some(index);
                    }
                }
                "skip_if_invalid" => {
                    let e = if is_string {
                        None
                    } else {
                        Some(self.expr(value)?)
                    };
                    match e.map(|e| e.kind) {
                        Some(ExprKind::Bool(b)) => connect.skip_if_invalid = Some(b),
                        _ => {
                            return Err(Diagnostic::error(
                                arg_span,
                                "`skip_if_invalid` must be `True` or `False`",
                            ))
                        }
                    }
                }
                other => {
                    let span = keyword.as_ref().map_or(arg_span, |k| k.span);
                    let mut d = Diagnostic::error(
                        span,
                        format!(
                            "unknown argument `{other}` in `connect:`; valid arguments are {}",
                            KEYS.join(", ")
                        ),
                    );
                    if let Some(s) = crate::parser::suggest(other, &KEYS) {
                        d = d.with_note(format!("help: did you mean `{s}`?"));
                    }
                    return Err(d);
                }
            }
        }
        Ok(connect)
    }
}
