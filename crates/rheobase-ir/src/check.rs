//! Name resolution, dimension checking and typing of expressions and
//! statements.
//!
//! The checker turns an AST expression into a kernel expression together
//! with its dimension and its Brian2 type (float, integer or boolean).
//! Constants are folded as the tree is built, so a checked expression that
//! is a [`Expr::Const`] is known at compile time. Every problem becomes a
//! [`Diagnostic`] in the user's terms: units by name, the offending term
//! underlined.

use crate::expr::{self, as_const, binary, c, unary};
use rheobase_kernel::{ArrayId, BinaryOp, Expr, IndexSpace, LocalId, RandKind, Stmt, UnaryOp};
use rheobase_syntax::ast::{self, ExprKind};
use rheobase_syntax::{Diagnostic, Span};
use rheobase_units::{lookup_unit, Dimension};
use std::collections::HashMap;

/// Brian2's value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Float,
    Integer,
    Boolean,
}

impl Ty {
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Float => "a number",
            Ty::Integer => "an integer",
            Ty::Boolean => "a boolean",
        }
    }
}

/// A checked expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub expr: Expr,
    pub dim: Dimension,
    pub ty: Ty,
}

/// What a name means where it is used.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// A top-level constant (or a unit, or `pi`).
    Constant { value: f64, dim: Dimension, ty: Ty },
    /// A stored variable of a group.
    Variable(VariableInfo),
    /// A subexpression, already checked with its own references resolved;
    /// it is substituted where it is used.
    Subexpression(Typed),
    /// A local of the statement block being checked.
    Temporary {
        local: LocalId,
        dim: Dimension,
        ty: Ty,
    },
    /// A white-noise symbol `xi` / `xi_*` (only in differential equations).
    Noise { local: LocalId },
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariableInfo {
    pub array: ArrayId,
    pub space: IndexSpace,
    pub dim: Dimension,
    pub ty: Ty,
    /// Written only by the runtime (`i`-like) or by nobody during a run.
    pub read_only: bool,
    pub flags: Vec<String>,
    /// For `(unless refractory)` variables: the `not_refractory` array.
    /// Brian2 applies writes to such a variable only while the neuron is
    /// not refractory, except in reset and event code.
    pub conditional_write: Option<ArrayId>,
}

/// The names visible in one context (a group's equations, a reset block,
/// the top level).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// A persistent map: every top-level expression gets a scope with the
    /// constants defined so far, and copying one must cost O(1), not the
    /// number of constants (40,000 constants would take minutes).
    pub constants: Constants,
    pub names: HashMap<String, Binding>,
    /// Size of the group, for `N`; `None` at the top level.
    pub group_size: Option<usize>,
    /// Whether `t`, `dt` and `i` exist (inside groups).
    pub has_element: bool,
    /// `defaultclock.dt`, for `defaultclock.dt` in constant contexts.
    pub dt: f64,
    /// Index names and what they mean here: `i` of a neuron, or `i`, `j`
    /// of a synapse (relative to the source and target ranges).
    pub indices: HashMap<String, Expr>,
    /// TimedArrays callable as functions.
    pub tables: HashMap<String, TableInfo>,
    /// A group's own constants (`namespace:`), also in `constants`, kept
    /// apart so that they still win when the file's constants are
    /// refreshed into the scope.
    pub local: Constants,
}

/// Constants by name, shared between scopes (see [`Scope::constants`]).
pub type Constants = im::HashMap<String, Binding>;

/// A TimedArray as seen by expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    pub id: rheobase_kernel::TableId,
    pub dim: Dimension,
    /// 1 for `f(t)`; more for `f(t, i)`.
    pub columns: usize,
}

/// Where an array of values (a list, `linspace`, `arange`) may stand.
const ARRAY_VALUE_NOTE: &str = "an array of values (a list, `linspace(...)`, `arange(...)`) is the whole value of a top-level setting, one value per neuron: `G.v = [1, 2, 3]*mV`";

/// Names a user cannot define: Brian2's reserved symbols, functions and
/// constants.
pub const RESERVED: &[&str] = &[
    "t",
    "dt",
    "t_in_timesteps",
    "xi",
    "i",
    "j",
    "N",
    "N_pre",
    "N_post",
    "N_incoming",
    "N_outgoing",
    "pi",
    "e",
    "inf",
    "True",
    "False",
    "lastupdate",
];

/// Brian2's `timestep(time, dt)`: the time step `time` falls in, shifted
/// by a thousandth of a step so that a multiple of `dt` computed with
/// rounding errors does not fall into the step before (NumPy's conversion
/// to int64 truncates).
fn time_step_of(time: Expr, dt: Expr) -> Expr {
    let shifted = binary(
        BinaryOp::Add,
        time,
        binary(BinaryOp::Mul, c(1e-3), dt.clone()),
    );
    unary(UnaryOp::Trunc, binary(BinaryOp::Div, shifted, dt))
}

pub const FUNCTIONS: &[&str] = &[
    "exp", "log", "log10", "expm1", "log1p", "exprel", "sqrt", "abs", "sin", "cos", "tan", "sinh",
    "cosh", "tanh", "arcsin", "arccos", "arctan", "floor", "ceil", "clip", "sign", "int", "rand",
    "randn", "min", "max", "timestep",
];

/// Checks expressions against a scope, collecting diagnostics.
pub struct Checker<'a> {
    pub scope: &'a Scope,
    pub source: &'a str,
    pub diagnostics: &'a mut Vec<Diagnostic>,
    /// Next random draw id of the kernel being built.
    pub draws: &'a mut u32,
    /// Whether `rand()`/`randn()` may be used here.
    pub allow_random: bool,
    /// Temporaries created by statements of the current block.
    pub temporaries: HashMap<String, Binding>,
    /// Next local id of the kernel being built.
    pub next_local: &'a mut u32,
    /// Whether writes ignore `(unless refractory)` (reset and event code,
    /// as Brian2's Resetter overrides the conditional write).
    pub override_conditional_write: bool,
}

/// The marker error of a failed check; the diagnostics say what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

pub type Checked<T> = Result<T, Failed>;

/// The closest candidate to `name`, if it is close enough to be a typo.
/// Hints ("did you mean") are given on the first this many diagnostics
/// of a file only. A hint compares a name with every candidate (every
/// constant, group or variable), so a file with thousands of errors and
/// thousands of names would otherwise take time quadratic in its size;
/// past the first screenful nobody reads hints anyway.
pub const HINTED_DIAGNOSTICS: usize = 100;

/// The candidate closest to `name`, if close enough, while fewer than
/// [`HINTED_DIAGNOSTICS`] diagnostics have been `reported`.
pub fn suggest<'n>(
    reported: usize,
    name: &str,
    candidates: impl Iterator<Item = &'n str>,
) -> Option<String> {
    if reported >= HINTED_DIAGNOSTICS {
        return None;
    }
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .filter(|c| *c != name)
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.to_string()))
        .map(|(_, c)| c.to_string())
}

/// A dimension as the user reads it.
pub fn dim_name(d: Dimension) -> String {
    if d.is_dimensionless() {
        "dimensionless".to_string()
    } else {
        d.to_string()
    }
}

impl<'a> Checker<'a> {
    fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).map_or("?", str::trim)
    }

    fn error(&mut self, d: Diagnostic) -> Failed {
        self.diagnostics.push(d);
        Failed
    }

    pub fn fresh_local(&mut self) -> LocalId {
        let l = LocalId(*self.next_local);
        *self.next_local += 1;
        l
    }

    /// Resolves a name in the usual order: the block's temporaries, the
    /// group's names, the top-level constants, units, then `pi`, `e`, `inf`.
    pub fn lookup(&self, name: &str) -> Option<Binding> {
        if let Some(b) = self.temporaries.get(name) {
            return Some(b.clone());
        }
        if let Some(b) = self.scope.names.get(name) {
            return Some(b.clone());
        }
        if let Some(b) = self.scope.constants.get(name) {
            return Some(b.clone());
        }
        if let Some(q) = lookup_unit(name) {
            return Some(Binding::Constant {
                value: q.value,
                dim: q.dim,
                ty: Ty::Float,
            });
        }
        let value = match name {
            "pi" => std::f64::consts::PI,
            "e" => std::f64::consts::E,
            "inf" => f64::INFINITY,
            _ => return None,
        };
        Some(Binding::Constant {
            value,
            dim: Dimension::DIMENSIONLESS,
            ty: Ty::Float,
        })
    }

    fn unknown_name(&mut self, name: &str, span: Span) -> Failed {
        let mut d = Diagnostic::error(span, format!("unknown name `{name}`"))
            .with_label("not defined here");
        // Past the first diagnostics, no hint: building the candidates
        // alone is linear in the number of names (see HINTED_DIAGNOSTICS).
        let reported = self.diagnostics.len();
        if reported < HINTED_DIAGNOSTICS {
            let candidates = self
                .temporaries
                .keys()
                .chain(self.scope.names.keys())
                .chain(self.scope.constants.keys())
                .map(String::as_str);
            if let Some(s) = suggest(reported, name, candidates) {
                d = d.with_note(format!("help: did you mean `{s}`?"));
            } else if let Some(u) = rheobase_units::similar_unit_names(name).first() {
                d = d.with_note(format!("help: did you mean the unit `{u}`?"));
            }
        }
        if name == "xi" || name.starts_with("xi_") {
            d = d.with_note(
                "white noise `xi` may only appear in differential equations".to_string(),
            );
        }
        self.error(d)
    }

    pub fn check(&mut self, e: &ast::Expr) -> Checked<Typed> {
        let dimless = Dimension::DIMENSIONLESS;
        match &e.kind {
            ExprKind::Number { value, is_integer } => {
                if !value.is_finite() {
                    return Err(self.error(Diagnostic::error(
                        e.span,
                        "this number is too large to represent",
                    )));
                }
                Ok(Typed {
                    expr: c(*value),
                    dim: dimless,
                    ty: if *is_integer { Ty::Integer } else { Ty::Float },
                })
            }
            ExprKind::Bool(b) => Ok(Typed {
                expr: c(f64::from(u8::from(*b))),
                dim: dimless,
                ty: Ty::Boolean,
            }),
            ExprKind::Name(name) => self.check_name(name, e.span),
            ExprKind::List(_) => Err(self.error(
                Diagnostic::error(e.span, "a list cannot be used in an expression")
                    .with_label("list here")
                    .with_note(ARRAY_VALUE_NOTE),
            )),
            ExprKind::Unary(op, a) => {
                let a = self.check(a)?;
                match op {
                    ast::UnaryOp::Pos => Ok(promote_bool(a)),
                    ast::UnaryOp::Neg => {
                        let a = promote_bool(a);
                        Ok(Typed {
                            expr: expr::neg(a.expr),
                            ..a
                        })
                    }
                    ast::UnaryOp::Not => {
                        if a.ty != Ty::Boolean {
                            return Err(self.error(
                                Diagnostic::error(e.span, "`not` needs a boolean operand")
                                    .with_label(format!("this is {}", a.ty.describe())),
                            ));
                        }
                        Ok(Typed {
                            expr: unary(UnaryOp::Not, a.expr),
                            dim: dimless,
                            ty: Ty::Boolean,
                        })
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.check_binary(*op, a, b, e.span),
            ExprKind::Call { function, args } => self.check_call(function, args, e.span),
            // Settings rewrite the `W[i, j]` they may use (`lower/values.rs`)
            // before checking; anywhere else indexing is not Brian2 code.
            ExprKind::Subscript { array, .. } => Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "`{}[...]` indexes an array, which model code cannot do",
                        array.name
                    ),
                )
                .with_note(
                    "as in Brian2, where `S.w = W[S.i[:], S.j[:]]` and `G.v = A[G.i[:]]` are \
                     numpy and not code strings, an `Array` can only be indexed in a top-level \
                     setting, `S.w = W[i, j]*mV` of a synaptic variable or `G.v = A[i]*mV` of a \
                     neuron group's variable",
                ),
            )),
        }
    }

    fn check_name(&mut self, name: &str, span: Span) -> Checked<Typed> {
        let dimless = Dimension::DIMENSIONLESS;
        // `defaultclock.dt` is the one time step: `dt` in code, and at
        // the top level (a TimedArray's `dt: defaultclock.dt`) its value.
        if name == rheobase_syntax::ast::CLOCK_DT {
            if self.scope.has_element {
                return self.check_name("dt", span);
            }
            return Ok(Typed {
                expr: Expr::Const(self.scope.dt),
                dim: Dimension::SECOND,
                ty: Ty::Float,
            });
        }
        if self.scope.has_element {
            match name {
                "t" => {
                    return Ok(Typed {
                        expr: Expr::Time,
                        dim: Dimension::SECOND,
                        ty: Ty::Float,
                    })
                }
                "t_in_timesteps" => {
                    // Brian2's clock variable, the index of the current
                    // step; `t` is that index times `dt`, so the time step
                    // of `t` (as `timestep(t, dt)` finds it) is that index.
                    return Ok(Typed {
                        expr: time_step_of(Expr::Time, Expr::Dt),
                        dim: dimless,
                        ty: Ty::Integer,
                    });
                }
                "dt" => {
                    return Ok(Typed {
                        expr: Expr::Dt,
                        dim: Dimension::SECOND,
                        ty: Ty::Float,
                    })
                }
                _ if !self.scope.names.contains_key(name)
                    && self.scope.indices.contains_key(name) =>
                {
                    if let Some(e) = self.scope.indices.get(name) {
                        return Ok(Typed {
                            expr: e.clone(),
                            dim: dimless,
                            ty: Ty::Integer,
                        });
                    }
                }
                "N" => {
                    if let Some(n) = self.scope.group_size {
                        return Ok(Typed {
                            expr: c(n as f64),
                            dim: dimless,
                            ty: Ty::Integer,
                        });
                    }
                }
                _ => {}
            }
        }
        match self.lookup(name) {
            Some(Binding::Constant { value, dim, ty }) => Ok(Typed {
                expr: c(value),
                dim,
                ty,
            }),
            Some(Binding::Variable(v)) => Ok(Typed {
                expr: Expr::Load(v.array, v.space),
                dim: v.dim,
                ty: v.ty,
            }),
            Some(Binding::Subexpression(t)) => Ok(t),
            Some(Binding::Temporary { local, dim, ty }) => Ok(Typed {
                expr: Expr::Local(local),
                dim,
                ty,
            }),
            Some(Binding::Noise { local }) => Ok(Typed {
                expr: Expr::Local(local),
                dim: Dimension::SECOND.powf(-0.5),
                ty: Ty::Float,
            }),
            None => {
                if !self.scope.has_element && matches!(name, "t" | "dt" | "i" | "N") {
                    return Err(self.error(Diagnostic::error(
                        span,
                        format!("`{name}` exists only inside a group's code"),
                    )));
                }
                Err(self.unknown_name(name, span))
            }
        }
    }

    fn mismatch(&mut self, what: &str, a: (&Typed, Span), b: (&Typed, Span), span: Span) -> Failed {
        let ta = self.text(a.1).to_string();
        let tb = self.text(b.1).to_string();
        let d = Diagnostic::error(
            span,
            format!(
                "dimension mismatch: cannot {what} `{ta}` ({}) and `{tb}` ({})",
                dim_name(a.0.dim),
                dim_name(b.0.dim)
            ),
        )
        .with_label(format!("{} vs {}", dim_name(a.0.dim), dim_name(b.0.dim)));
        let d = if (a.0.dim.is_dimensionless() && as_const(&a.0.expr) == Some(0.0))
            || (b.0.dim.is_dimensionless() && as_const(&b.0.expr) == Some(0.0))
        {
            d.with_note(
                "help: as in Brian2, a plain 0 is dimensionless; write it with a unit, e.g. `0*mV`",
            )
        } else {
            d
        };
        self.error(d)
    }

    fn check_binary(
        &mut self,
        op: ast::BinaryOp,
        a_ast: &ast::Expr,
        b_ast: &ast::Expr,
        span: Span,
    ) -> Checked<Typed> {
        use ast::BinaryOp as B;
        let a = self.check(a_ast);
        let b = self.check(b_ast);
        let (a, b) = (a?, b?);
        let dimless = Dimension::DIMENSIONLESS;
        let numeric_ty = |x: Ty, y: Ty| {
            if x != Ty::Float && y != Ty::Float {
                Ty::Integer
            } else {
                Ty::Float
            }
        };
        match op {
            B::Add | B::Sub => {
                if a.dim != b.dim {
                    let verb = if op == B::Add { "add" } else { "subtract" };
                    return Err(self.mismatch(verb, (&a, a_ast.span), (&b, b_ast.span), span));
                }
                let kop = if op == B::Add {
                    BinaryOp::Add
                } else {
                    BinaryOp::Sub
                };
                Ok(Typed {
                    ty: numeric_ty(a.ty, b.ty),
                    expr: binary(kop, a.expr, b.expr),
                    dim: a.dim,
                })
            }
            B::Mul => Ok(Typed {
                ty: numeric_ty(a.ty, b.ty),
                dim: a.dim * b.dim,
                expr: binary(BinaryOp::Mul, a.expr, b.expr),
            }),
            B::Div => Ok(Typed {
                ty: Ty::Float,
                dim: a.dim / b.dim,
                expr: binary(BinaryOp::Div, a.expr, b.expr),
            }),
            B::FloorDiv => Ok(Typed {
                ty: numeric_ty(a.ty, b.ty),
                dim: a.dim / b.dim,
                expr: binary(BinaryOp::FloorDiv, a.expr, b.expr),
            }),
            B::Mod => {
                if a.dim != b.dim {
                    return Err(self.mismatch(
                        "take the remainder of",
                        (&a, a_ast.span),
                        (&b, b_ast.span),
                        span,
                    ));
                }
                Ok(Typed {
                    ty: numeric_ty(a.ty, b.ty),
                    dim: a.dim,
                    expr: binary(BinaryOp::Mod, a.expr, b.expr),
                })
            }
            B::Pow => {
                if !b.dim.is_dimensionless() {
                    let tb = self.text(b_ast.span).to_string();
                    return Err(self.error(
                        Diagnostic::error(
                            b_ast.span,
                            format!(
                                "an exponent must be dimensionless, but `{tb}` has unit {}",
                                dim_name(b.dim)
                            ),
                        )
                        .with_label("exponent with a unit"),
                    ));
                }
                let dim = if a.dim.is_dimensionless() {
                    dimless
                } else {
                    match as_const(&b.expr) {
                        Some(p) => a.dim.powf(p),
                        None => {
                            let ta = self.text(a_ast.span).to_string();
                            return Err(self.error(
                                Diagnostic::error(
                                    b_ast.span,
                                    format!(
                                        "`{ta}` has unit {}, so its exponent must be a \
                                         constant, not a variable",
                                        dim_name(a.dim)
                                    ),
                                )
                                .with_label("not a constant"),
                            ));
                        }
                    }
                };
                Ok(Typed {
                    ty: Ty::Float,
                    dim,
                    expr: binary(BinaryOp::Pow, a.expr, b.expr),
                })
            }
            B::Lt | B::Le | B::Gt | B::Ge | B::Eq | B::Ne => {
                if a.dim != b.dim {
                    return Err(self.mismatch("compare", (&a, a_ast.span), (&b, b_ast.span), span));
                }
                let kop = match op {
                    B::Lt => BinaryOp::Lt,
                    B::Le => BinaryOp::Le,
                    B::Gt => BinaryOp::Gt,
                    B::Ge => BinaryOp::Ge,
                    B::Eq => BinaryOp::Eq,
                    _ => BinaryOp::Ne,
                };
                Ok(Typed {
                    ty: Ty::Boolean,
                    dim: dimless,
                    expr: binary(kop, a.expr, b.expr),
                })
            }
            B::And | B::Or => {
                for (t, s) in [(&a, a_ast.span), (&b, b_ast.span)] {
                    if t.ty != Ty::Boolean {
                        let d = Diagnostic::error(
                            s,
                            format!("`{}` needs boolean operands", op.symbol()),
                        )
                        .with_label(format!("this is {}", t.ty.describe()));
                        return Err(self.error(d));
                    }
                }
                let kop = if op == B::And {
                    BinaryOp::And
                } else {
                    BinaryOp::Or
                };
                Ok(Typed {
                    ty: Ty::Boolean,
                    dim: dimless,
                    expr: binary(kop, a.expr, b.expr),
                })
            }
        }
    }

    fn expect_dimensionless(&mut self, t: &Typed, span: Span, function: &str) -> Checked<()> {
        if t.dim.is_dimensionless() {
            return Ok(());
        }
        let text = self.text(span).to_string();
        Err(self.error(
            Diagnostic::error(
                span,
                format!(
                    "`{function}` needs a dimensionless argument, but `{text}` has unit {}",
                    dim_name(t.dim)
                ),
            )
            .with_label(format!("has unit {}", dim_name(t.dim))),
        ))
    }

    fn check_call(
        &mut self,
        function: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Checked<Typed> {
        let name = function.name.as_str();
        let dimless = Dimension::DIMENSIONLESS;
        // Python's `float()` and `round()` appear in the constants of Brian2
        // scripts (`int(round(duration/dt))`); they are Python, not part of
        // Brian2's code strings, so only top-level constants may use them.
        let top_level = !self.scope.has_element && self.scope.group_size.is_none();
        if matches!(name, "float" | "round") && !top_level {
            return Err(self.error(
                Diagnostic::error(
                    function.span,
                    format!("`{name}()` is a Python builtin, usable only in top-level constants"),
                )
                .with_note(match name {
                    "float" => "in model code every number is already a float",
                    _ => "in model code, `floor(x + 0.5)` rounds to the nearest whole number",
                }),
            ));
        }
        let arity = match name {
            "rand" | "randn" => 0,
            "float" | "round" => 1,
            "clip" => 3,
            "min" | "max" | "timestep" => 2,
            n if FUNCTIONS.contains(&n) => 1,
            n if self.scope.tables.contains_key(n) => {
                return self.check_table_call(function, args, span)
            }
            _ => {
                let mut d = Diagnostic::error(function.span, format!("unknown function `{name}`"))
                    .with_label("not a known function");
                if name == "linspace" || name == "arange" {
                    d = d.with_note(ARRAY_VALUE_NOTE);
                } else if let Some(s) =
                    suggest(self.diagnostics.len(), name, FUNCTIONS.iter().copied())
                {
                    d = d.with_note(format!("help: did you mean `{s}`?"));
                }
                return Err(self.error(d));
            }
        };
        if args.len() != arity {
            return Err(self.error(Diagnostic::error(
                span,
                format!(
                    "`{name}` takes {arity} argument{}, but {} {} given",
                    if arity == 1 { "" } else { "s" },
                    args.len(),
                    if args.len() == 1 { "was" } else { "were" }
                ),
            )));
        }
        let mut checked = Vec::new();
        let mut failed = false;
        for a in args {
            match self.check(a) {
                Ok(t) => checked.push(t),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Failed);
        }
        let float = |expr, dim| Typed {
            expr,
            dim,
            ty: Ty::Float,
        };
        match name {
            "rand" | "randn" => {
                if !self.allow_random {
                    return Err(self.error(
                        Diagnostic::error(span, format!("`{name}()` cannot be used here"))
                            .with_note(
                                "random numbers are allowed in statements, thresholds, and \
                             subexpressions flagged `(constant over dt)`; use `xi` for white \
                             noise in differential equations",
                            ),
                    ));
                }
                let draw = *self.draws;
                *self.draws += 1;
                let kind = if name == "rand" {
                    RandKind::Uniform
                } else {
                    RandKind::Normal
                };
                Ok(float(Expr::Rand { kind, draw }, dimless))
            }
            "sqrt" => {
                let a = checked.remove(0);
                Ok(float(unary(UnaryOp::Sqrt, a.expr), a.dim.powf(0.5)))
            }
            "abs" => {
                let a = checked.remove(0);
                Ok(Typed {
                    expr: unary(UnaryOp::Abs, a.expr),
                    ..a
                })
            }
            "floor" | "ceil" => {
                let a = checked.remove(0);
                let op = if name == "floor" {
                    UnaryOp::Floor
                } else {
                    UnaryOp::Ceil
                };
                Ok(float(unary(op, a.expr), a.dim))
            }
            "sign" => {
                let a = checked.remove(0);
                Ok(float(unary(UnaryOp::Sign, a.expr), dimless))
            }
            "float" => {
                let a = checked.remove(0);
                self.expect_dimensionless(&a, args[0].span, name)?;
                Ok(float(a.expr, dimless))
            }
            "round" => {
                // Python 3 rounds halves to the even neighbour.
                let a = checked.remove(0);
                self.expect_dimensionless(&a, args[0].span, name)?;
                let Some(v) = as_const(&a.expr) else {
                    return Err(self.error(Diagnostic::error(
                        args[0].span,
                        "`round()` needs a constant argument",
                    )));
                };
                Ok(Typed {
                    expr: c(v.round_ties_even()),
                    dim: dimless,
                    ty: Ty::Integer,
                })
            }
            "timestep" => {
                for (t, a) in checked.iter().zip(args) {
                    if t.dim != Dimension::SECOND {
                        let text = self.text(a.span).to_string();
                        return Err(self.error(
                            Diagnostic::error(
                                a.span,
                                format!(
                                    "`timestep` takes two times, `timestep(t, dt)`, but `{text}` \
                                     has unit {}",
                                    dim_name(t.dim)
                                ),
                            )
                            .with_label(format!("has unit {}", dim_name(t.dim))),
                        ));
                    }
                }
                let step = checked.remove(1).expr;
                let time = checked.remove(0).expr;
                Ok(Typed {
                    expr: time_step_of(time, step),
                    dim: dimless,
                    ty: Ty::Integer,
                })
            }
            "int" => {
                let a = checked.remove(0);
                self.expect_dimensionless(&a, args[0].span, name)?;
                Ok(Typed {
                    expr: unary(UnaryOp::Trunc, a.expr),
                    dim: dimless,
                    ty: Ty::Integer,
                })
            }
            "min" | "max" | "clip" => {
                for (k, t) in checked.iter().enumerate().skip(1) {
                    if t.dim != checked[0].dim {
                        let (a, b) = (checked[0].clone(), t.clone());
                        return Err(self.mismatch(
                            &format!("use in `{name}`"),
                            (&a, args[0].span),
                            (&b, args[k].span),
                            span,
                        ));
                    }
                }
                let ty = if checked.iter().all(|t| t.ty != Ty::Float) {
                    Ty::Integer
                } else {
                    Ty::Float
                };
                let dim = checked[0].dim;
                let mut it = checked.into_iter().map(|t| t.expr);
                let (a, b) = match (it.next(), it.next()) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return Err(Failed),
                };
                let expr = match name {
                    "min" => binary(BinaryOp::Min, a, b),
                    "max" => binary(BinaryOp::Max, a, b),
                    _ => {
                        // clip(x, lo, hi) = max(min(x, hi), lo).
                        let hi = it.next().unwrap_or(c(f64::INFINITY));
                        binary(BinaryOp::Max, binary(BinaryOp::Min, a, hi), b)
                    }
                };
                Ok(Typed { expr, dim, ty })
            }
            _ => {
                let a = checked.remove(0);
                self.expect_dimensionless(&a, args[0].span, name)?;
                let op = match name {
                    "exp" => UnaryOp::Exp,
                    "log" => UnaryOp::Log,
                    "log10" => UnaryOp::Log10,
                    "expm1" => UnaryOp::Expm1,
                    "log1p" => UnaryOp::Log1p,
                    "exprel" => UnaryOp::Exprel,
                    "sin" => UnaryOp::Sin,
                    "cos" => UnaryOp::Cos,
                    "tan" => UnaryOp::Tan,
                    "sinh" => UnaryOp::Sinh,
                    "cosh" => UnaryOp::Cosh,
                    "tanh" => UnaryOp::Tanh,
                    "arcsin" => UnaryOp::Arcsin,
                    "arccos" => UnaryOp::Arccos,
                    _ => UnaryOp::Arctan,
                };
                Ok(float(unary(op, a.expr), dimless))
            }
        }
    }

    fn check_table_call(
        &mut self,
        function: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Checked<Typed> {
        let Some(info) = self.scope.tables.get(&function.name).cloned() else {
            return Err(Failed);
        };
        let want = if info.columns > 1 { 2 } else { 1 };
        if args.len() != want {
            let form = if want == 2 { "(t, i)" } else { "(t)" };
            return Err(self.error(Diagnostic::error(
                span,
                format!(
                    "the TimedArray `{}` is called as `{}{form}`",
                    function.name, function.name
                ),
            )));
        }
        let time = self.check(&args[0])?;
        if time.dim != Dimension::SECOND {
            let text = self.text(args[0].span).to_string();
            return Err(self.error(Diagnostic::error(
                args[0].span,
                format!(
                    "a TimedArray's first argument is a time, but `{text}` has unit {}",
                    dim_name(time.dim)
                ),
            )));
        }
        let column = if want == 2 {
            let c = self.check(&args[1])?;
            if !c.dim.is_dimensionless() {
                return Err(self.error(Diagnostic::error(
                    args[1].span,
                    "a TimedArray's second argument is a neuron index",
                )));
            }
            // Out-of-range columns would be clamped when read; Brian2
            // raises an IndexError. Refused here where it can be known.
            let columns = info.columns;
            let out_of_range = match as_const(&c.expr) {
                Some(k) if k.fract() != 0.0 || k < 0.0 || k >= columns as f64 => Some(format!(
                    "column {k} is out of range: the TimedArray `{}` has {columns} columns (0 to {})",
                    function.name,
                    columns - 1
                )),
                Some(_) => None,
                None => {
                    // A column computed from `i` alone (`i`, `i + 1`,
                    // `N - 1 - i`) has a range known here.
                    let neuron = self
                        .scope
                        .indices
                        .get("i")
                        .filter(|_| !self.scope.indices.contains_key("j"));
                    let range = match (neuron, self.scope.group_size) {
                        (Some(index), Some(n)) if n > 0 => {
                            crate::bounds::index_range(&c.expr, index, (n - 1) as f64)
                        }
                        _ => None,
                    };
                    match range {
                        Some((lo, hi)) if lo.trunc() < 0.0 || hi.trunc() >= columns as f64 => {
                            let n = self.scope.group_size.unwrap_or(0);
                            let (lo, hi) = (lo.trunc(), hi.trunc());
                            Some(format!(
                                "`{}` reads columns {lo} to {hi} for this group's {n} neurons, but the TimedArray `{}` has {columns} columns (0 to {})",
                                self.text(span),
                                function.name,
                                columns - 1
                            ))
                        }
                        _ => None,
                    }
                }
            };
            if let Some(message) = out_of_range {
                return Err(self.error(Diagnostic::error(args[1].span, message)));
            }
            Some(Box::new(c.expr))
        } else {
            None
        };
        Ok(Typed {
            expr: Expr::Table {
                table: info.id,
                time: Box::new(time.expr),
                column,
            },
            dim: info.dim,
            ty: Ty::Float,
        })
    }

    /// Checks a block of statements, producing kernel statements. Writes go
    /// to `Variable`s; assigning to an unknown name creates a temporary.
    pub fn check_block(&mut self, block: &ast::Block, context: &str) -> Checked<Vec<Stmt>> {
        let mut out = Vec::new();
        let mut failed = false;
        for s in &block.statements {
            match self.check_statement(s, context) {
                Ok(mut stmts) => out.append(&mut stmts),
                Err(_) => failed = true,
            }
        }
        if failed {
            Err(Failed)
        } else {
            Ok(out)
        }
    }

    fn check_statement(&mut self, s: &ast::Statement, context: &str) -> Checked<Vec<Stmt>> {
        let name = s.target.name.as_str();
        let value = self.check(&s.value)?;
        let target = self.lookup(name);
        let mut condition = None;
        let (current, dim, ty, place): (Option<Expr>, Dimension, Ty, Place) = match target {
            Some(Binding::Variable(v)) => {
                if !self.override_conditional_write {
                    condition = v.conditional_write.map(|nr| Expr::Load(nr, v.space));
                }
                if v.read_only {
                    let mut d = Diagnostic::error(
                        s.target.span,
                        format!("`{name}` cannot be written in {context}"),
                    )
                    .with_label("read-only here");
                    // Only a shared synaptic parameter carries exactly this flag
                    // and is read-only (a group's shared constant also says
                    // `constant`).
                    if v.space == IndexSpace::Shared && v.flags == ["shared"] {
                        d = d.with_note(format!(
                            "`{name}` is a shared synaptic variable, one value for every synapse: set it at the top level (`S.{name} = ...`)"
                        ));
                    }
                    // A read-only linked one-element value is a Synapses
                    // object's link (a group's links are writable).
                    if v.space == IndexSpace::Shared && v.flags == ["linked"] {
                        d = d.with_note(format!(
                            "`{name}` is linked to one value that every synapse reads; change it in the group it is linked to"
                        ));
                    }
                    return Err(self.error(d));
                }
                (
                    Some(Expr::Load(v.array, v.space)),
                    v.dim,
                    v.ty,
                    Place::Array(v.array, v.space),
                )
            }
            Some(Binding::Temporary { local, dim, ty }) => {
                (Some(Expr::Local(local)), dim, ty, Place::Local(local))
            }
            Some(Binding::Subexpression(_)) => {
                return Err(self.error(
                    Diagnostic::error(
                        s.target.span,
                        format!("`{name}` is a subexpression and cannot be assigned to"),
                    )
                    .with_note("a subexpression is recomputed from its definition wherever it is used"),
                ))
            }
            Some(Binding::Constant { .. }) | Some(Binding::Noise { .. })
                if !matches!(name, "t" | "dt" | "i" | "N") && !self.scope.constants.contains_key(name) && lookup_unit(name).is_none() && !matches!(name, "pi" | "e" | "inf") =>
            {
                return Err(self.error(Diagnostic::error(
                    s.target.span,
                    format!("`{name}` cannot be assigned to"),
                )))
            }
            Some(Binding::Constant { .. }) | Some(Binding::Noise { .. }) => {
                return Err(self.error(
                    Diagnostic::error(
                        s.target.span,
                        format!("`{name}` is a constant and cannot be assigned to"),
                    )
                    .with_note("declare it as a parameter in `model:` (e.g. `x : volt`) to make it a per-neuron variable"),
                ))
            }
            None => {
                if matches!(name, "t" | "dt" | "i" | "N" | "j") || name == "lastspike" {
                    return Err(self.error(Diagnostic::error(
                        s.target.span,
                        format!("`{name}` cannot be assigned to"),
                    )));
                }
                if s.op != ast::AssignOp::Assign {
                    return Err(self.unknown_name(name, s.target.span));
                }
                // A new temporary, as in Brian2.
                let local = self.fresh_local();
                self.temporaries.insert(
                    name.to_string(),
                    Binding::Temporary {
                        local,
                        dim: value.dim,
                        ty: value.ty,
                    },
                );
                return Ok(vec![Stmt::SetLocal(local, value.expr)]);
            }
        };
        use ast::AssignOp as A;
        let needs_same_dim = matches!(s.op, A::Assign | A::Add | A::Sub | A::Mod);
        if needs_same_dim && value.dim != dim {
            let text = self.text(s.value.span).to_string();
            return Err(self.error(
                Diagnostic::error(
                    s.value.span,
                    format!(
                        "dimension mismatch: `{name}` has unit {}, but `{text}` has unit {}",
                        dim_name(dim),
                        dim_name(value.dim)
                    ),
                )
                .with_label(format!(
                    "{} vs {}",
                    dim_name(value.dim),
                    dim_name(dim)
                )),
            ));
        }
        if matches!(s.op, A::Mul | A::Div | A::Pow) && !value.dim.is_dimensionless() {
            let text = self.text(s.value.span).to_string();
            return Err(self.error(Diagnostic::error(
                s.value.span,
                format!(
                    "dimension mismatch: `{name}` keeps its unit {}, so the right-hand side must \
                     be dimensionless, but `{text}` has unit {}",
                    dim_name(dim),
                    dim_name(value.dim)
                ),
            )));
        }
        let current = current.unwrap_or(c(0.0));
        let new_value = match s.op {
            A::Assign => value.expr,
            A::Add => binary(BinaryOp::Add, current, value.expr),
            A::Sub => binary(BinaryOp::Sub, current, value.expr),
            A::Mul => binary(BinaryOp::Mul, current, value.expr),
            A::Div => binary(BinaryOp::Div, current, value.expr),
            A::FloorDiv => binary(BinaryOp::FloorDiv, current, value.expr),
            A::Mod => binary(BinaryOp::Mod, current, value.expr),
            A::Pow => binary(BinaryOp::Pow, current, value.expr),
        };
        // Storage is f64; integer and boolean variables keep their type as
        // the C++ code Brian2 generates would (truncation, nonzero test).
        let new_value = match ty {
            Ty::Integer if value.ty == Ty::Float || s.op == A::Div => {
                unary(UnaryOp::Trunc, new_value)
            }
            Ty::Boolean if value.ty != Ty::Boolean => binary(BinaryOp::Ne, new_value, c(0.0)),
            _ => new_value,
        };
        // Integer variables are Brian2's int32: a known value outside it
        // is refused here, as Brian2 refuses it (OverflowError), rather
        // than found when the results are written.
        if ty == Ty::Integer && matches!(place, Place::Array(..)) {
            if let Some(v) = as_const(&new_value) {
                if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&v) {
                    let text = self.text(s.value.span).to_string();
                    return Err(self.error(
                        Diagnostic::error(
                            s.value.span,
                            format!(
                                "`{text}` is {v}, which the integer variable `{name}` cannot hold"
                            ),
                        )
                        .with_note(
                            "integer variables are 32-bit, as in Brian2: whole numbers from \
                             -2147483648 to 2147483647",
                        ),
                    ));
                }
            }
        }
        let stmt = match place {
            Place::Array(a, space) => Stmt::Store(a, space, new_value),
            Place::Local(l) => Stmt::SetLocal(l, new_value),
        };
        Ok(vec![match condition {
            Some(cond) => Stmt::If {
                cond,
                then: vec![stmt],
            },
            None => stmt,
        }])
    }
}

enum Place {
    Array(ArrayId, IndexSpace),
    Local(LocalId),
}

fn promote_bool(t: Typed) -> Typed {
    if t.ty == Ty::Boolean {
        Typed {
            ty: Ty::Integer,
            ..t
        }
    } else {
        t
    }
}
