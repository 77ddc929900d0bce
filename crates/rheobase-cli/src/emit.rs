//! `rheo compile MODEL --emit ir|clif|asm`: the code generated for each
//! kernel, for people who want to see what their model became.
//!
//! `ir` prints the lowered kernels (after integrators and subexpression
//! substitution) in the model language's own notation: variables by
//! name, `v_pre`/`v_post` for a synapse's neurons, constants in decimal,
//! and as quantities (`-50*mV`) where the variable beside them has a
//! known unit. `clif` and `asm` print what Cranelift made of them (see
//! `rheobase_jit::Jit::emit`).

use crate::meta::Units;
use rheobase::kernel::program::Program;
use rheobase::kernel::{BinaryOp, Expr, IndexSpace, Kernel, RandKind, Stmt, UnaryOp};
use std::borrow::Cow;
use std::fmt::Write;

/// What `--emit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// The lowered kernels in the model language's notation.
    Ir,
    /// Cranelift IR.
    Clif,
    /// Machine code, as Cranelift disassembles it.
    Asm,
}

/// The kernels `filter` selects: the one of that name, or all of the
/// object of that name (`G` selects `G.state_update`, `G.threshold`, ...).
/// None selects all.
pub fn select<'p>(program: &'p Program, filter: Option<&str>) -> Result<Vec<&'p Kernel>, String> {
    let chosen: Vec<&Kernel> = program
        .kernels
        .iter()
        .filter(|k| {
            filter.is_none_or(|f| {
                k.name == f
                    || k.name
                        .strip_prefix(f)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = program.kernels.iter().map(|k| k.name.as_str()).collect();
        return Err(match filter {
            Some(f) => format!(
                "no kernel is named `{f}`; the model's kernels are: {}",
                names.join(", ")
            ),
            None => "the model has no kernels".to_string(),
        });
    }
    Ok(chosen)
}

/// The header line of `kernel`: its name, what it runs over and, for a
/// state update, the integration method.
pub fn header(program: &Program, kernel: &Kernel, methods: &[(String, String)]) -> String {
    let object = kernel.name.split('.').next().unwrap_or("");
    let mut text = format!("kernel {}", kernel.name);
    if let Some(g) = program.groups.iter().find(|g| g.name == object) {
        let neurons = if g.size == 1 { "neuron" } else { "neurons" };
        text.push_str(&format!(" (over {}, {} {neurons})", g.name, g.size));
    } else if program.synapses.iter().any(|s| s.name == object) {
        text.push_str(&format!(" (over the synapses of {object})"));
    }
    if kernel.name.ends_with(".state_update") {
        if let Some((_, m)) = methods.iter().find(|(o, _)| o == object) {
            text.push_str(&format!(", method: {m}"));
        }
    }
    text
}

/// The integration method of each object that has one: neuron groups
/// from the program, Synapses objects from their `method:` key.
pub fn methods(program: &Program, source: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = program
        .groups
        .iter()
        .filter_map(|g| Some((g.name.clone(), g.method.clone()?)))
        .collect();
    if let Ok(model) = rheobase::syntax::parse(source) {
        for item in &model.items {
            if let rheobase::syntax::ast::Item::Synapses(s) = item {
                if let Some(m) = &s.method {
                    out.push((s.name.name.clone(), m.name.clone()));
                }
            }
        }
    }
    out
}

/// `kernel` in the model language's notation.
pub fn ir_text(program: &Program, kernel: &Kernel, units: &Units) -> String {
    let printer = Printer {
        program,
        units,
        synaptic: program
            .synapses
            .iter()
            .any(|s| kernel.name.split('.').next() == Some(s.name.as_str())),
    };
    let mut text = String::new();
    for stmt in &kernel.body {
        printer.stmt(&mut text, stmt, 1);
    }
    text
}

struct Printer<'a> {
    program: &'a Program,
    units: &'a Units,
    /// The kernel runs over synapses: `i` and `j` are its neurons.
    synaptic: bool,
}

/// Binding strength of an operator, as in Python: higher binds tighter.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Select(..) => 0,
        Expr::Binary(op, ..) => match op {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Eq
            | BinaryOp::Ne => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::FloorDiv | BinaryOp::Mod => 6,
            BinaryOp::Pow => 8,
            BinaryOp::Min | BinaryOp::Max => 9,
        },
        Expr::Unary(UnaryOp::Not, _) => 3,
        Expr::Unary(UnaryOp::Neg, _) => 7,
        // A negative constant prints with its sign.
        Expr::Const(c) if *c < 0.0 => 7,
        _ => 9,
    }
}

impl Printer<'_> {
    fn stmt(&self, out: &mut String, stmt: &Stmt, depth: usize) {
        let pad = "    ".repeat(depth);
        match stmt {
            Stmt::SetLocal(l, e) => {
                let _ = writeln!(out, "{pad}_{} = {}", l.0, self.expr(e));
            }
            Stmt::Store(a, space, e) => {
                // The stored value has the variable's unit: `v = -65*mV`.
                let unit = self.unit(&Expr::Load(*a, *space));
                let _ = writeln!(
                    out,
                    "{pad}{} = {}",
                    self.array(a.0, *space),
                    self.expr_in(e, unit.as_deref())
                );
            }
            Stmt::If { cond, then } => {
                let _ = writeln!(out, "{pad}if {}:", self.expr(cond));
                for s in then {
                    self.stmt(out, s, depth + 1);
                }
            }
            Stmt::Emit => {
                let _ = writeln!(out, "{pad}emit  # the element joins this step's events");
            }
        }
    }

    /// The (object, variable) names of array `id`.
    fn names(&self, id: u32) -> (&str, &str) {
        let name = self
            .program
            .arrays
            .get(id as usize)
            .map_or("?", |a| a.name.as_str());
        name.split_once('.').unwrap_or(("", name))
    }

    fn array(&self, id: u32, space: IndexSpace) -> String {
        let (_, var) = self.names(id);
        match space {
            IndexSpace::Own | IndexSpace::Shared => var.to_string(),
            IndexSpace::Pre => format!("{var}_pre"),
            IndexSpace::Post => format!("{var}_post"),
            // Brian2's notation for a linked variable's index array.
            IndexSpace::Via(via) => format!("{var}[{}[i]]", self.names(via.0).1),
        }
    }

    /// The SI unit of `e`, where it follows from a variable in it.
    fn unit(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Load(a, _) => {
                let (object, var) = self.names(a.0);
                self.units.get(object, var).map(str::to_string)
            }
            Expr::Time | Expr::Dt => Some("second".into()),
            Expr::Unary(UnaryOp::Neg | UnaryOp::Abs, a) => self.unit(a),
            Expr::Binary(BinaryOp::Add | BinaryOp::Sub | BinaryOp::Min | BinaryOp::Max, a, b) => {
                self.unit(a).or_else(|| self.unit(b))
            }
            Expr::Select(_, a, b) => self.unit(a).or_else(|| self.unit(b)),
            _ => None,
        }
    }

    /// `c` as a quantity of `unit` (`-50*mV`), or a plain number.
    fn constant(c: f64, unit: Option<&str>) -> String {
        let number = |x: f64| crate::npz::number_text(x);
        match unit {
            Some(u) if u != "1" && c != 0.0 && c.is_finite() => {
                let (symbol, scale) = crate::plot::display_unit(Some(u), &[c]);
                // The model language spells micro `u`, as Brian2 does.
                let symbol = symbol.replace('µ', "u");
                let value = c * scale;
                // Shown rounded to what `{}` of the scaled value prints,
                // which is exact for values written in that unit.
                format!("{}*{symbol}", number(round_display(value)))
            }
            _ => number(round_display(c)),
        }
    }

    fn expr(&self, e: &Expr) -> String {
        self.expr_in(e, None)
    }

    /// Whether `e` is a plain number: constants, neuron indices and
    /// dimensionless variables, and products and quotients of them.
    fn is_number(&self, e: &Expr) -> bool {
        match e {
            Expr::Const(_) | Expr::Index(_) => true,
            Expr::Load(..) => self.unit(e).as_deref() == Some("1"),
            Expr::Unary(UnaryOp::Neg, a) => self.is_number(a),
            Expr::Binary(BinaryOp::Mul | BinaryOp::Div, a, b) => {
                self.is_number(a) && self.is_number(b)
            }
            _ => false,
        }
    }

    /// Whether `e` is a plain number without a constant in it: a
    /// constant may be a quantity folded to its SI value (`g_na*ENa`), so
    /// only a product with no other constant can say which unit its one
    /// constant has.
    fn is_pure_number(&self, e: &Expr) -> bool {
        !matches!(e, Expr::Const(_))
            && self.is_number(e)
            && match e {
                Expr::Unary(_, a) => self.is_pure_number(a),
                Expr::Binary(_, a, b) => self.is_pure_number(a) && self.is_pure_number(b),
                _ => true,
            }
    }

    /// The units in which to show the operands of `a * b` or `a / b`
    /// whose value has `unit`: a constant operand gets the unit that
    /// makes the whole come out in `unit`, where the other operand's unit
    /// says which (`i * 0.1 * nA` for an amp, `(v + 63*mV) / (4*mV)` for
    /// a number). Only units shown as a word and a prefix are given, so
    /// `1/mV` never appears.
    fn factor_units(
        &self,
        op: BinaryOp,
        a: &Expr,
        b: &Expr,
        unit: &str,
    ) -> (Option<String>, Option<String>) {
        let constant = |e: &Expr| matches!(e, Expr::Const(_));
        if unit == "1" {
            // A dimensionless quotient of a quantity by a constant, or of
            // a constant by a quantity: the constant has its unit.
            if op == BinaryOp::Div {
                if constant(b) {
                    return (None, self.unit(a).filter(|u| u != "1"));
                }
                if constant(a) {
                    return (self.unit(b).filter(|u| u != "1"), None);
                }
            }
            return (None, None);
        }
        // A quantity made of plain numbers and one constant: the constant
        // carries the unit (`i * 1e-10` is `i * (0.1*nA)`).
        match op {
            BinaryOp::Mul if constant(b) && self.is_pure_number(a) => {
                (None, Some(unit.to_string()))
            }
            BinaryOp::Mul if constant(a) && self.is_pure_number(b) => {
                (Some(unit.to_string()), None)
            }
            BinaryOp::Div if constant(a) && self.is_pure_number(b) => {
                (Some(unit.to_string()), None)
            }
            _ => (None, None),
        }
    }

    /// `e`, with `unit` the unit its context gives a bare constant.
    fn expr_in(&self, e: &Expr, unit: Option<&str>) -> String {
        let wrap = |inner: &Expr, min: u8, unit: Option<&str>| {
            let text = self.expr_in(inner, unit);
            // A constant shown as a quantity (`4*mV`) is a product: after
            // `/` it needs parentheses, `x / (4*mV)`.
            let binds = match inner {
                Expr::Const(_) if text.contains('*') => 6,
                _ => precedence(inner),
            };
            if binds < min {
                format!("({text})")
            } else {
                text
            }
        };
        match e {
            Expr::Const(c) => Self::constant(*c, unit),
            Expr::Load(a, space) => self.array(a.0, *space),
            Expr::Local(l) => format!("_{}", l.0),
            Expr::Index(space) => match (space, self.synaptic) {
                (IndexSpace::Post, true) => "j".into(),
                _ => "i".into(),
            },
            Expr::Time => "t".into(),
            Expr::Dt => "dt".into(),
            Expr::Unary(op, a) => {
                let inner_unit = if matches!(op, UnaryOp::Neg | UnaryOp::Abs) {
                    unit
                } else if takes_a_number(*op) {
                    // `exp`, `log`, `sin`, ... take a dimensionless
                    // argument: a constant dividing a quantity there has
                    // that quantity's unit (`exprel((v + 63*mV)/(4*mV))`).
                    Some("1")
                } else {
                    None
                };
                match op {
                    UnaryOp::Neg => format!("-{}", wrap(a, 8, inner_unit)),
                    UnaryOp::Not => format!("not {}", wrap(a, 3, None)),
                    _ => format!("{}({})", unary_name(*op), self.expr_in(a, inner_unit)),
                }
            }
            // `-1 * x` is `-x`, exactly.
            Expr::Binary(BinaryOp::Mul, a, b) if matches!(a.as_ref(), Expr::Const(c) if *c == -1.0) =>
            {
                format!("-{}", wrap(b, 8, unit))
            }
            Expr::Binary(op, a, b) => {
                // A constant added to, compared with or bounding a
                // quantity has its unit.
                let same_unit = matches!(
                    op,
                    BinaryOp::Add
                        | BinaryOp::Sub
                        | BinaryOp::Min
                        | BinaryOp::Max
                        | BinaryOp::Lt
                        | BinaryOp::Le
                        | BinaryOp::Gt
                        | BinaryOp::Ge
                        | BinaryOp::Eq
                        | BinaryOp::Ne
                );
                let side_unit = if same_unit {
                    self.unit(a)
                        .or_else(|| self.unit(b))
                        .or_else(|| unit.map(str::to_string))
                } else {
                    None
                };
                let su = side_unit.as_deref();
                // A product or quotient with a constant factor: the unit
                // that factor must carry for the whole to have `unit`.
                let (a_unit, b_unit) = match (op, unit) {
                    (BinaryOp::Mul | BinaryOp::Div, Some(u)) => self.factor_units(*op, a, b, u),
                    _ => (su.map(str::to_string), su.map(str::to_string)),
                };
                if let BinaryOp::Min | BinaryOp::Max = op {
                    let name = if *op == BinaryOp::Min {
                        "minimum"
                    } else {
                        "maximum"
                    };
                    return format!("{name}({}, {})", self.expr_in(a, su), self.expr_in(b, su));
                }
                // `x - -c` is `x + c` and `x + -c` is `x - c`, exactly in
                // floating point, and reads as the model was written
                // (`v - VT` with `VT = -63*mV` prints `v + 63*mV`).
                let (op, b): (BinaryOp, Cow<Expr>) = match (op, b.as_ref()) {
                    (BinaryOp::Add, Expr::Const(c)) if *c < 0.0 => {
                        (BinaryOp::Sub, Cow::Owned(Expr::Const(-c)))
                    }
                    (BinaryOp::Sub, Expr::Const(c)) if *c < 0.0 => {
                        (BinaryOp::Add, Cow::Owned(Expr::Const(-c)))
                    }
                    (BinaryOp::Add, Expr::Unary(UnaryOp::Neg, inner)) => {
                        (BinaryOp::Sub, Cow::Borrowed(inner.as_ref()))
                    }
                    (BinaryOp::Sub, Expr::Unary(UnaryOp::Neg, inner)) => {
                        (BinaryOp::Add, Cow::Borrowed(inner.as_ref()))
                    }
                    // `x - -c * y` is `x + c * y`: a product's sign is
                    // its first factor's, exactly.
                    (BinaryOp::Add | BinaryOp::Sub, Expr::Binary(BinaryOp::Mul, f, y)) if matches!(f.as_ref(), Expr::Const(c) if *c < 0.0) =>
                    {
                        let c = match f.as_ref() {
                            Expr::Const(c) => -c,
                            _ => 0.0,
                        };
                        let flipped = if *op == BinaryOp::Add {
                            BinaryOp::Sub
                        } else {
                            BinaryOp::Add
                        };
                        if c == 1.0 {
                            (flipped, Cow::Borrowed(y.as_ref()))
                        } else {
                            (
                                flipped,
                                Cow::Owned(Expr::Binary(
                                    BinaryOp::Mul,
                                    Box::new(Expr::Const(c)),
                                    y.clone(),
                                )),
                            )
                        }
                    }
                    _ => (*op, Cow::Borrowed(b.as_ref())),
                };
                let p = precedence(e);
                let symbol = binary_symbol(op);
                // Left-associative, except `**`.
                let (lp, rp) = if op == BinaryOp::Pow {
                    (p + 1, p)
                } else {
                    (p, p + 1)
                };
                format!(
                    "{} {symbol} {}",
                    wrap(a, lp, a_unit.as_deref()),
                    wrap(&b, rp, b_unit.as_deref())
                )
            }
            Expr::Select(c, a, b) => format!(
                "{} if {} else {}",
                wrap(a, 1, unit),
                wrap(c, 1, None),
                wrap(b, 1, unit)
            ),
            Expr::Rand { kind, .. } => match kind {
                RandKind::Uniform => "rand()".into(),
                RandKind::Normal => "randn()".into(),
            },
            Expr::Binomial { n, p, .. } => {
                format!("binomial({n}, {})", crate::npz::number_text(*p))
            }
            Expr::Table {
                table,
                time,
                column,
            } => {
                let name = self
                    .program
                    .tables
                    .get(table.0 as usize)
                    .map_or("table", |t| t.name.as_str());
                match column {
                    Some(c) => format!("{name}({}, {})", self.expr(time), self.expr(c)),
                    None => format!("{name}({})", self.expr(time)),
                }
            }
        }
    }
}

/// `x` rounded to 13 significant digits, which removes the noise of
/// decimal arithmetic from the display (`0.018000000000000002` → `0.018`,
/// `-50.00000000000001` → `-50`); the generated code uses the exact value.
fn round_display(x: f64) -> f64 {
    let rounded: f64 = format!("{x:.12e}").parse().unwrap_or(x);
    rounded
}

/// Functions whose argument is dimensionless, as Brian2 requires.
fn takes_a_number(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log10
            | UnaryOp::Expm1
            | UnaryOp::Log1p
            | UnaryOp::Exprel
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tan
            | UnaryOp::Sinh
            | UnaryOp::Cosh
            | UnaryOp::Tanh
            | UnaryOp::Arcsin
            | UnaryOp::Arccos
            | UnaryOp::Arctan
    )
}

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Not => "not",
        UnaryOp::Abs => "abs",
        UnaryOp::Floor => "floor",
        UnaryOp::Ceil => "ceil",
        UnaryOp::Trunc => "int",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Log10 => "log10",
        UnaryOp::Expm1 => "expm1",
        UnaryOp::Log1p => "log1p",
        UnaryOp::Exprel => "exprel",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Tan => "tan",
        UnaryOp::Sinh => "sinh",
        UnaryOp::Cosh => "cosh",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Arcsin => "arcsin",
        UnaryOp::Arccos => "arccos",
        UnaryOp::Arctan => "arctan",
        UnaryOp::Sign => "sign",
    }
}

fn binary_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Pow => "**",
        BinaryOp::FloorDiv => "//",
        BinaryOp::Mod => "%",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::Eq => "==",
        BinaryOp::Ne => "!=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
        BinaryOp::Min => "minimum",
        BinaryOp::Max => "maximum",
    }
}
