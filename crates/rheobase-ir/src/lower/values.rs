//! Values from data: `G.v = [1, 2, 3]*mV`, `G.x = linspace(0, 1, N)`,
//! `G.I = arange(5)*nA`, as Brian2 assigns a numpy array to a group's
//! variable. The array is evaluated here, element for element as numpy
//! computes it, checked against the number of elements it sets, and
//! becomes a one-column lookup table that the setting reads at row `i`.
//! Brian2 writes a numeric array unconditionally (refractory neurons
//! too), unlike a string assignment, so the caller does the same.

use super::*;
use crate::check::TableInfo;
use rheobase_kernel::program::TableDecl;
use rheobase_kernel::TableId;

/// The name of a synapse's own index in synaptic code, which an array
/// value set on a synaptic variable is read at (`i` is the source neuron
/// there).
pub(super) const SYNAPSE_ROW: &str = "synapse.index";

/// An evaluated array value: SI values, one unit and numpy's kind (integer
/// only when every operand was an integer).
struct Values {
    values: Vec<f64>,
    dim: Dimension,
    integer: bool,
}

/// Either one number (broadcast as numpy does) or an array.
enum Operand {
    Scalar(f64, Dimension, bool),
    Array(Values),
}

/// Functions of one number that numpy applies element by element to an
/// array (`cos(arange(8)*pi/4)`), as Brian2's namespace gives them to a
/// script.
const ELEMENTWISE: &[&str] = &[
    "exp", "log", "log10", "expm1", "log1p", "sqrt", "abs", "sin", "cos", "tan", "sinh", "cosh",
    "tanh", "arcsin", "arccos", "arctan", "floor", "ceil", "sign",
];

/// Whether `e` is an array of values rather than an expression per
/// element: a list literal, a call of `linspace`/`arange`, or the name of
/// an `Array` (`is_array` says which names are), possibly combined with
/// numbers by arithmetic, as numpy combines a whole array.
pub(super) fn is_array_value(e: &ast::Expr, is_array: &dyn Fn(&str) -> bool) -> bool {
    match &e.kind {
        ExprKind::List(_) => true,
        ExprKind::Name(name) => is_array(name),
        ExprKind::Call { function, args } if ELEMENTWISE.contains(&function.name.as_str()) => {
            args.iter().any(|a| is_array_value(a, is_array))
        }
        ExprKind::Call { function, .. } => matches!(function.name.as_str(), "linspace" | "arange"),
        ExprKind::Unary(_, a) => is_array_value(a, is_array),
        ExprKind::Binary(_, a, b) => is_array_value(a, is_array) || is_array_value(b, is_array),
        _ => false,
    }
}

impl Builder<'_> {
    /// Whether `e` is an array of values ([`is_array_value`]), with this
    /// model's `Array` declarations as the names of whole arrays.
    pub(super) fn is_array(&self, e: &ast::Expr) -> bool {
        is_array_value(e, &|name| self.tables.contains_key(&format!("{name}[]")))
    }

    /// Refuses a setting whose value names an `Array` whole when `scope`
    /// (the group's or the synapses' own names) has a variable of the same
    /// name: in Brian2 `G.v = A` is the numpy array and `G.v = 'A'` the
    /// variable, a difference the model's setting cannot spell, so neither
    /// meaning is chosen silently.
    pub(super) fn check_array_shadowing(
        &mut self,
        scope: &Scope,
        group: &ast::Ident,
        value: &ast::Expr,
    ) -> Result<(), Failed> {
        let mut clash = None;
        visit_names(value, &mut |name, span| {
            if clash.is_none()
                && self.tables.contains_key(&format!("{name}[]"))
                && scope.names.contains_key(name)
            {
                clash = Some((name.to_string(), span));
            }
        });
        match clash {
            None => Ok(()),
            Some((name, span)) => Err(self.error(
                Diagnostic::error(
                    span,
                    format!("`{name}` is both an Array and a variable of `{}`", group.name),
                )
                .with_note("rename the Array or the variable: as a value, the name would be the whole Array in a Brian2 script and the variable in a code string"),
            )),
        }
    }

    /// The first element and one past the last of `slice` over `size`
    /// elements, with Python's rules for omitted and negative bounds.
    fn slice_bounds(&mut self, slice: &ast::Slice, size: usize) -> Result<(i64, i64), Failed> {
        let lo = match &slice.start {
            None => 0,
            Some(e) => self.element_index(e, Some(size))?,
        };
        let hi = match &slice.stop {
            None => size as i64,
            Some(e) => self.element_index(e, Some(size))?,
        };
        Ok((lo, hi))
    }

    /// Rewrites the array value `value` of a setting of `group.variable`
    /// into a per-element lookup of a new table, after checking that the
    /// array has as many elements as the setting sets (`size` elements,
    /// restricted to `selector`); `row` names the element's index in the
    /// setting's scope (`i` for neurons, [`SYNAPSE_ROW`] for synapses).
    /// How many values the array value `value` has.
    pub(super) fn array_length(&mut self, value: &ast::Expr) -> Result<usize, Failed> {
        match self.array_operand(value)? {
            Operand::Array(v) => Ok(v.values.len()),
            // `is_array_value` only sends arrays here.
            Operand::Scalar(..) => Err(Failed),
        }
    }

    pub(super) fn array_lookup(
        &mut self,
        group: &ast::Ident,
        variable: &ast::Ident,
        value: &ast::Expr,
        (size, row): (usize, &str),
        selector: Option<&ast::Selector>,
    ) -> Result<ast::Expr, Failed> {
        let (first, count) = match selector {
            None => (0, size),
            Some(ast::Selector::Slice(s)) => {
                let (lo, hi) = self.slice_bounds(s, size)?;
                (lo, (hi - lo).max(0) as usize)
            }
            // A named subgroup's code already counts `i` from its start.
            Some(ast::Selector::Subgroup(s)) => {
                let (lo, hi) = self.slice_bounds(s, size)?;
                (0, (hi - lo).max(0) as usize)
            }
            Some(ast::Selector::Index(_)) => {
                return Err(self.error(
                    Diagnostic::error(value.span, "one element cannot be set to an array of values")
                        .with_note("give a single value, or select a slice such as `[0:3]`"),
                ))
            }
            Some(ast::Selector::Condition(_)) => {
                return Err(self.error(
                    Diagnostic::error(
                        value.span,
                        "the elements a condition selects cannot be set to an array of values",
                    )
                    .with_note("how many elements the condition selects is known only when it runs; give an expression of `i`, or select a slice such as `[0:3]`"),
                ))
            }
        };
        let values = match self.array_operand(value)? {
            Operand::Array(v) => v,
            // `is_array_value` only sends arrays here.
            Operand::Scalar(..) => return Err(Failed),
        };
        if values.values.len() != count {
            let elements = if row == SYNAPSE_ROW {
                "synapses"
            } else {
                "neurons"
            };
            let what = match selector {
                None => format!("`{}` has {size} {elements}", group.name),
                Some(_) => format!("the slice selects {count} of `{}`'s {elements}", group.name),
            };
            return Err(self.error(
                Diagnostic::error(
                    value.span,
                    format!("this array has {} values, but {what}", values.values.len()),
                )
                .with_label(format!(
                    "{} values for `{}`",
                    values.values.len(),
                    variable.name
                ))
                .with_note("as in Brian2, an array sets one value per element"),
            ));
        }
        let name = format!(
            "{}.{}.values.{}",
            group.name,
            variable.name,
            self.program.tables.len()
        );
        let id = TableId(self.program.tables.len() as u32);
        let rows = values.values.len().max(1);
        let mut flat = values.values;
        flat.resize(rows, 0.0);
        // Row `k` is found at time `k*ROW_SECONDS`: a table step far above
        // any simulation step, so the lookup's half-step tolerance never
        // reaches the next row, and `k*ROW_SECONDS` is exact for every
        // group size.
        self.program.tables.push(TableDecl {
            name: name.clone(),
            values: flat,
            rows,
            columns: 1,
            dt: ROW_SECONDS,
        });
        self.tables.insert(
            name.clone(),
            TableInfo {
                id,
                dim: values.dim,
                columns: 1,
            },
        );
        let span = value.span;
        let node = |kind| ast::Expr { kind, span };
        let mut row = node(ExprKind::Name(row.into()));
        if first != 0 {
            row = node(ExprKind::Binary(
                ast::BinaryOp::Sub,
                Box::new(row),
                Box::new(node(ExprKind::Number {
                    value: first as f64,
                    is_integer: true,
                })),
            ));
        }
        let time = node(ExprKind::Binary(
            ast::BinaryOp::Mul,
            Box::new(row),
            Box::new(node(ExprKind::Binary(
                ast::BinaryOp::Mul,
                Box::new(node(ExprKind::Number {
                    value: ROW_SECONDS,
                    is_integer: false,
                })),
                Box::new(node(ExprKind::Name("second".into()))),
            ))),
        ));
        let lookup = node(ExprKind::Call {
            function: ast::Ident { name, span },
            args: vec![time],
        });
        Ok(if values.integer {
            node(ExprKind::Call {
                function: ast::Ident {
                    name: "int".into(),
                    span,
                },
                args: vec![lookup],
            })
        } else {
            lookup
        })
    }

    /// The values of a constant list (a TimedArray's `values:`, a
    /// SpikeGeneratorGroup's `indices:`/`times:`, `connect: i=[...]`), or
    /// of one number as a list of one: evaluated as an array value, so
    /// that `[...]*uA/(cmeter**2)` and `arange(0, 12.5, 2.5)*Hz` give
    /// numpy's values, as in Brian2.
    pub(super) fn constant_array(
        &mut self,
        e: &ast::Expr,
    ) -> Result<(Vec<f64>, Dimension), Failed> {
        Ok(match self.array_operand(e)? {
            Operand::Array(v) => (v.values, v.dim),
            Operand::Scalar(x, dim, _) => (vec![x], dim),
        })
    }

    /// The values of a constant array, its unit, and whether every value
    /// is an integer as numpy types it (`[0, 2]` and `arange(3)`, not
    /// `[0., 2.]`); `None` for a single number.
    pub(super) fn constant_integer_array(
        &mut self,
        e: &ast::Expr,
    ) -> Result<Option<(Vec<f64>, Dimension, bool)>, Failed> {
        Ok(match self.array_operand(e)? {
            Operand::Array(v) => Some((v.values, v.dim, v.integer)),
            Operand::Scalar(..) => None,
        })
    }

    /// Evaluates an array expression as numpy does: lists, `linspace`,
    /// `arange`, and arithmetic element by element with a number
    /// broadcast over an array.
    fn array_operand(&mut self, e: &ast::Expr) -> Result<Operand, Failed> {
        match &e.kind {
            ExprKind::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                let mut dim = None;
                let mut integer = true;
                for item in items {
                    let (v, d, int) = self.scalar(item)?;
                    if let Some(first) = dim {
                        if first != d {
                            return Err(self.error(Diagnostic::error(
                                item.span,
                                format!(
                                    "list elements must share one unit, but this has unit {} and an earlier one {}",
                                    dim_name(d),
                                    dim_name(first)
                                ),
                            )));
                        }
                    }
                    dim = Some(d);
                    integer &= int;
                    values.push(v);
                }
                Ok(Operand::Array(Values {
                    values,
                    dim: dim.unwrap_or(Dimension::DIMENSIONLESS),
                    integer,
                }))
            }
            ExprKind::Call { function, args } if function.name == "linspace" => {
                self.linspace(e, args).map(Operand::Array)
            }
            ExprKind::Call { function, args } if function.name == "arange" => {
                self.arange(e, args).map(Operand::Array)
            }
            ExprKind::Name(name) if self.is_array(e) => {
                self.whole_array(e, name).map(Operand::Array)
            }
            ExprKind::Call { function, args } if self.is_array(e) => self
                .function_of_array(e, function, args)
                .map(Operand::Array),
            ExprKind::Unary(ast::UnaryOp::Neg, a) if self.is_array(a) => {
                Ok(match self.array_operand(a)? {
                    Operand::Array(mut v) => {
                        v.values.iter_mut().for_each(|x| *x = -*x);
                        Operand::Array(v)
                    }
                    Operand::Scalar(x, d, int) => Operand::Scalar(-x, d, int),
                })
            }
            ExprKind::Unary(ast::UnaryOp::Pos, a) if self.is_array(a) => self.array_operand(a),
            ExprKind::Binary(op, a, b) if self.is_array(e) => {
                let (ea, eb) = (a, b);
                let a = self.array_operand(a)?;
                let b = self.array_operand(b)?;
                match (*op, &ea.kind, &eb.kind, a, b) {
                    // A list literal times a number is Python's list
                    // repetition (`[0, 1]*3` is six values), not numpy's
                    // arithmetic: the script's list is a Python list.
                    (
                        ast::BinaryOp::Mul,
                        ExprKind::List(_),
                        _,
                        Operand::Array(v),
                        Operand::Scalar(k, d, int),
                    )
                    | (
                        ast::BinaryOp::Mul,
                        _,
                        ExprKind::List(_),
                        Operand::Scalar(k, d, int),
                        Operand::Array(v),
                    ) if d.is_dimensionless() => self.repeated(v, k, int, e).map(Operand::Array),
                    (_, _, _, a, b) => self.elementwise(*op, a, b, e),
                }
            }
            _ => {
                let (v, d, int) = self.scalar(e)?;
                Ok(Operand::Scalar(v, d, int))
            }
        }
    }

    /// The values of the `Array` `name` used whole (`G.v = V0*mV`, numpy's
    /// `G.v = V0*mV` on a loaded array): a 1-D Array, or a 2-D one of one
    /// column, which numpy would broadcast as a column, is one value per
    /// element; several columns are a row of values per element, which no
    /// variable takes. The values are numbers without a unit, as a `.npy`
    /// holds them, and are taken as floating point.
    fn whole_array(&mut self, e: &ast::Expr, name: &str) -> Result<Values, Failed> {
        let (_, info, rows) = self.array_table(&ast::Ident {
            name: name.to_string(),
            span: e.span,
        })?;
        if info.columns != 1 {
            return Err(self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "`{name}` has {rows} rows of {} columns; as a whole value it would give \
                         each element a row of values, not one",
                        info.columns
                    ),
                )
                .with_label(format!("{rows} x {} values", info.columns))
                .with_note(format!(
                    "a whole Array is one value per element only when it is 1-D (or has one \
                     column); pick a column with `{name}[i, k]`"
                )),
            ));
        }
        let values = self.program.tables[info.id.0 as usize].values[..rows].to_vec();
        Ok(Values {
            values,
            dim: info.dim,
            integer: false,
        })
    }

    /// `cos(array)` and the other [`ELEMENTWISE`] functions: the function
    /// of each element, folded as the same function of one number is (so
    /// the values are the ones `G.v = cos(0.5)` gives). Only dimensionless
    /// arrays are taken, since each element becomes a plain number.
    fn function_of_array(
        &mut self,
        e: &ast::Expr,
        function: &ast::Ident,
        args: &[ast::Expr],
    ) -> Result<Values, Failed> {
        let [arg] = args else {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!("`{}` of an array takes one argument", function.name),
            )));
        };
        let values = match self.array_operand(arg)? {
            Operand::Array(v) => v,
            Operand::Scalar(..) => return Err(Failed),
        };
        if !values.dim.is_dimensionless() {
            return Err(self.error(
                Diagnostic::error(
                    arg.span,
                    format!(
                        "`{}` of an array with a unit ({}) is not supported",
                        function.name,
                        dim_name(values.dim)
                    ),
                )
                .with_note("divide the array by its unit first, or write an expression of `i`"),
            ));
        }
        let mut out = Vec::with_capacity(values.values.len());
        let mut integer = true;
        let mut dim = Dimension::DIMENSIONLESS;
        for x in values.values {
            let element = ast::Expr {
                kind: ExprKind::Call {
                    function: function.clone(),
                    args: vec![ast::Expr {
                        kind: ExprKind::Number {
                            value: x,
                            is_integer: values.integer,
                        },
                        span: arg.span,
                    }],
                },
                span: e.span,
            };
            let (v, d, int) = self.scalar(&element)?;
            out.push(v);
            dim = d;
            integer &= int;
        }
        Ok(Values {
            values: out,
            dim,
            integer,
        })
    }

    /// `[...]*k`: Python's list repeated `k` times (an empty list for
    /// `k <= 0`); a number that is not an integer is Python's TypeError.
    fn repeated(
        &mut self,
        v: Values,
        k: f64,
        integer: bool,
        e: &ast::Expr,
    ) -> Result<Values, Failed> {
        if !integer {
            return Err(self.error(
                Diagnostic::error(e.span, "a list can only be multiplied by an integer (Python repeats it), or by a unit")
                    .with_note("for numbers times a factor, write the factor into the list or use `arange`/`linspace`"),
            ));
        }
        let times = if k > 0.0 { k as usize } else { 0 };
        let values = v.values.repeat(times);
        Ok(Values {
            values,
            dim: v.dim,
            integer: v.integer,
        })
    }

    /// A constant number of an array expression, with its unit and whether
    /// it is an integer.
    fn scalar(&mut self, e: &ast::Expr) -> Result<(f64, Dimension, bool), Failed> {
        if self.is_array(e) {
            return Err(self.error(
                Diagnostic::error(e.span, "an array cannot be nested in this array")
                    .with_note("rows of values are a 2-D TimedArray's; a group's variable takes one value per neuron"),
            ));
        }
        let t = self.constant(e)?;
        Ok((
            as_const(&t.expr).unwrap_or(f64::NAN),
            t.dim,
            t.ty == Ty::Integer,
        ))
    }

    /// `a OP b` for arrays and numbers, element by element.
    fn elementwise(
        &mut self,
        op: ast::BinaryOp,
        a: Operand,
        b: Operand,
        e: &ast::Expr,
    ) -> Result<Operand, Failed> {
        use ast::BinaryOp as B;
        let parts = |o: Operand| match o {
            Operand::Scalar(x, d, int) => (vec![x], d, int, false),
            Operand::Array(v) => (v.values, v.dim, v.integer, true),
        };
        let (xa, da, ia, aa) = parts(a);
        let (xb, db, ib, ab) = parts(b);
        if aa && ab && xa.len() != xb.len() {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!(
                    "arrays of {} and {} values cannot be combined element by element",
                    xa.len(),
                    xb.len()
                ),
            )));
        }
        let (f, dim, integer): (fn(f64, f64) -> f64, Dimension, bool) = match op {
            B::Add | B::Sub if da != db => {
                let (ta, tb) = match &e.kind {
                    ExprKind::Binary(_, a, b) => (
                        self.span_text(a.span),
                        self.span_text(b.span),
                    ),
                    _ => (String::new(), String::new()),
                };
                return Err(self.error(
                    Diagnostic::error(
                        e.span,
                        format!(
                            "dimension mismatch: cannot {} `{ta}` ({}) and `{tb}` ({})",
                            if op == B::Add { "add" } else { "subtract" },
                            dim_name(da),
                            dim_name(db)
                        ),
                    )
                    .with_label(format!("{} vs {}", dim_name(da), dim_name(db))),
                ));
            }
            B::Add => (|x, y| x + y, da, ia && ib),
            B::Sub => (|x, y| x - y, da, ia && ib),
            B::Mul => (|x, y| x * y, da * db, ia && ib),
            B::Div => (|x, y| x / y, da / db, false),
            _ => {
                return Err(self.error(
                    Diagnostic::error(
                        e.span,
                        "an array of values can only be added, subtracted, multiplied or divided",
                    )
                    .with_note("for another function of the index, write an expression of `i`, such as `G.v = -70*mV + 0.5*mV*i`"),
                ))
            }
        };
        let n = xa.len().max(xb.len());
        let at = |x: &[f64], k: usize| if x.len() == 1 { x[0] } else { x[k] };
        let values = (0..n).map(|k| f(at(&xa, k), at(&xb, k))).collect();
        Ok(Operand::Array(Values {
            values,
            dim,
            integer,
        }))
    }

    /// numpy's `linspace(start, stop, num)`: `k*step + start`, the last
    /// value `stop` exactly.
    fn linspace(&mut self, e: &ast::Expr, args: &[ast::Expr]) -> Result<Values, Failed> {
        if !(2..=3).contains(&args.len()) {
            return Err(self.error(Diagnostic::error(
                e.span,
                "`linspace` takes a start, a stop and a number of values: `linspace(0*mV, 10*mV, N)`",
            )));
        }
        let (start, ds, _) = self.scalar(&args[0])?;
        let (stop, dp, _) = self.scalar(&args[1])?;
        if ds != dp {
            return Err(self.error(Diagnostic::error(
                args[1].span,
                format!(
                    "`linspace`'s start has unit {} but its stop has unit {}",
                    dim_name(ds),
                    dim_name(dp)
                ),
            )));
        }
        // numpy's default number of values.
        let num = match args.get(2) {
            Some(n) => self.count(n, "`linspace`'s number of values")?,
            None => 50,
        };
        let mut values: Vec<f64> = if num > 1 {
            let step = (stop - start) / (num - 1) as f64;
            (0..num)
                .map(|k| {
                    if step == 0.0 {
                        k as f64 / (num - 1) as f64 * (stop - start) + start
                    } else {
                        k as f64 * step + start
                    }
                })
                .collect()
        } else {
            vec![start; num]
        };
        if num > 1 {
            values[num - 1] = stop;
        }
        Ok(Values {
            values,
            dim: ds,
            integer: false,
        })
    }

    /// numpy's `arange([start,] stop[, step])`: `ceil((stop - start)/step)`
    /// values `start + k*delta`, `delta` being `(start + step) - start` as
    /// numpy computes it; integers if every argument is one.
    fn arange(&mut self, e: &ast::Expr, args: &[ast::Expr]) -> Result<Values, Failed> {
        let mut parts = Vec::new();
        for a in args {
            parts.push(self.scalar(a)?);
        }
        let (start, stop, step) = match parts.as_slice() {
            [stop] => ((0.0, stop.1, true), *stop, (1.0, Dimension::DIMENSIONLESS, true)),
            [start, stop] => (*start, *stop, (1.0, start.1, true)),
            [start, stop, step] => (*start, *stop, *step),
            _ => {
                return Err(self.error(Diagnostic::error(
                    e.span,
                    "`arange` takes a stop, or a start and a stop, and an optional step: `arange(0, 10, 2)`",
                )))
            }
        };
        // Brian2's unit-aware arange: one unit for all three (a bare stop
        // gives its unit to the implicit start and step).
        let dim = stop.1;
        let step_dim = if parts.len() == 1 { dim } else { step.1 };
        if start.1 != dim || step_dim != dim {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!(
                    "`arange`'s start, stop and step must have one unit, but they have {}, {} and {}",
                    dim_name(start.1),
                    dim_name(dim),
                    dim_name(step_dim)
                ),
            )));
        }
        if step.0 == 0.0 {
            return Err(self.error(Diagnostic::error(
                e.span,
                "`arange`'s step must not be zero",
            )));
        }
        let len = ((stop.0 - start.0) / step.0).ceil();
        if !len.is_finite() {
            return Err(self.error(Diagnostic::error(
                e.span,
                "`arange` needs a finite start, stop and step",
            )));
        }
        let len = len.max(0.0) as usize;
        if len > MAX_VALUES {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!("`arange` would make {len} values, more than this setting can hold"),
            )));
        }
        let delta = (start.0 + step.0) - start.0;
        let values = (0..len)
            .map(|k| match k {
                0 => start.0,
                1 => start.0 + step.0,
                _ => start.0 + k as f64 * delta,
            })
            .collect();
        Ok(Values {
            values,
            dim,
            integer: start.2 && stop.2 && step.2,
        })
    }

    /// The source text of `span`, for messages.
    fn span_text(&self, span: Span) -> String {
        self.source
            .get(span.start..span.end)
            .map_or("?", str::trim)
            .to_string()
    }

    /// A count of values: a whole, non-negative number within reason.
    fn count(&mut self, e: &ast::Expr, what: &str) -> Result<usize, Failed> {
        let n = self.whole_number(e, what)?;
        if n < 0 {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!("{what} must not be negative"),
            )));
        }
        if n as u64 > MAX_VALUES as u64 {
            return Err(self.error(Diagnostic::error(
                e.span,
                format!("{what} is {n}, more than this setting can hold"),
            )));
        }
        Ok(n as usize)
    }
}

/// More values than any group can have: an array this long is a mistake,
/// refused before it is allocated.
const MAX_VALUES: usize = 1 << 28;

/// The time step of the tables that hold arrays of values, in seconds.
pub(super) const ROW_SECONDS: f64 = 1e6;

impl Builder<'_> {
    /// `value`, a top-level setting of a variable of Synapses `si`, with
    /// every `W[i, j]` made a lookup of the Array `W` at row `i` (the
    /// source neuron) and column `j` (the target), after checking that
    /// `W` has one row per source and one column per target, as numpy's
    /// `W[S.i[:], S.j[:]]` needs in Brian2.
    pub(super) fn subscripts(&mut self, si: usize, value: &ast::Expr) -> Result<ast::Expr, Failed> {
        let mut e = value.clone();
        self.rewrite_subscripts(&Indexed::Synapses(si), &mut e)?;
        Ok(e)
    }

    /// The Array that `W[...]` names and its table, or the error saying
    /// that `array` is not one.
    fn array_table(&mut self, array: &ast::Ident) -> Result<(String, TableInfo, usize), Failed> {
        let key = format!("{}[]", array.name);
        let Some(info) = self.tables.get(&key).cloned() else {
            return Err(self.error(
                Diagnostic::error(array.span, format!("`{}` is not an Array", array.name))
                    .with_note(format!(
                        "declare it with `Array {}:` and `file:` (a `.npy` or text \
                         table) or `values:` (a list of lists)",
                        array.name
                    )),
            ));
        };
        let rows = self.program.tables[info.id.0 as usize].rows;
        Ok((key, info, rows))
    }

    /// `value`, a top-level setting of a variable of neuron group `g`
    /// restricted to `selector`, with every `A[i]` (and `A[i, k]`, `k` a
    /// constant column) made a lookup of the Array `A` at row `i`, the
    /// neuron's index in `g`, as numpy's `A[G.i[:]]` in a Brian2 script;
    /// also whether `value` indexed an Array at all. The Array needs a row
    /// for every neuron the setting can set.
    pub(super) fn neuron_subscripts(
        &mut self,
        g: usize,
        value: &ast::Expr,
        selector: Option<&ast::Selector>,
    ) -> Result<(ast::Expr, bool), Failed> {
        if !has_subscript(value) {
            return Ok((value.clone(), false));
        }
        if self.is_array(value) {
            // Without the Array names, what is left is an array written
            // out (`[...]`, `arange`); otherwise an Array is used whole.
            let note = if is_array_value(value, &|_| false) {
                "declare the values as an Array too (`Array L:` with `values: [...]`) and \
                 write `A[i]*mV + L[i]*mV`"
            } else {
                "index every Array the same way: write `A[i]*mV + B[i]*mV`, not `A[i]*mV + B*mV`"
            };
            return Err(self.error(
                Diagnostic::error(
                    value.span,
                    "an Array's elements and an array of values cannot be combined in one setting",
                )
                .with_note(note),
            ));
        }
        let size = self.groups[g].size;
        // The number of rows the setting reads: one past the last neuron
        // it can select.
        let reach = match selector {
            Some(ast::Selector::Slice(s)) => {
                let (lo, hi) = self.slice_bounds(s, size)?;
                if hi > lo {
                    Some(hi as usize)
                } else {
                    Some(0)
                }
            }
            Some(ast::Selector::Index(e)) => {
                Some((self.element_index(e, Some(size))? as usize + 1).min(size))
            }
            // Rows are read at the subgroup's own `i`, from 0.
            Some(ast::Selector::Subgroup(s)) => {
                let (lo, hi) = self.slice_bounds(s, size)?;
                Some((hi - lo).max(0) as usize)
            }
            Some(ast::Selector::Condition(_)) | None => None,
        };
        let mut e = value.clone();
        let target = Indexed::Neurons {
            group: self.groups[g].name.clone(),
            size,
            reach,
        };
        self.rewrite_subscripts(&target, &mut e)?;
        Ok((e, true))
    }

    fn rewrite_subscripts(&mut self, target: &Indexed, e: &mut ast::Expr) -> Result<(), Failed> {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Subscript { array, args } => {
                let (key, info, rows) = self.array_table(array)?;
                let column = match target {
                    Indexed::Synapses(si) => {
                        self.synapse_subscript(*si, array, args, span, &info, rows)?
                    }
                    Indexed::Neurons { group, size, reach } => {
                        let (group, size, reach) = (group.clone(), *size, *reach);
                        self.neuron_subscript(
                            array,
                            args,
                            span,
                            &info,
                            rows,
                            (&group, size, reach),
                        )?
                    }
                };
                let node = |kind| ast::Expr { kind, span };
                let number = |value| {
                    node(ExprKind::Number {
                        value,
                        is_integer: false,
                    })
                };
                let row = args[0].clone();
                let time = node(ExprKind::Binary(
                    ast::BinaryOp::Mul,
                    Box::new(row),
                    Box::new(node(ExprKind::Binary(
                        ast::BinaryOp::Mul,
                        Box::new(number(ROW_SECONDS)),
                        Box::new(node(ExprKind::Name("second".into()))),
                    ))),
                ));
                let mut call_args = vec![time];
                call_args.extend(column);
                e.kind = ExprKind::Call {
                    function: ast::Ident {
                        name: key,
                        span: array.span,
                    },
                    args: call_args,
                };
                Ok(())
            }
            ExprKind::Unary(_, a) => self.rewrite_subscripts(target, a),
            ExprKind::Binary(_, a, b) => {
                self.rewrite_subscripts(target, a)?;
                self.rewrite_subscripts(target, b)
            }
            ExprKind::Call { args, .. } | ExprKind::List(args) => {
                for a in args {
                    self.rewrite_subscripts(target, a)?;
                }
                Ok(())
            }
            ExprKind::Number { .. } | ExprKind::Bool(_) | ExprKind::Name(_) => Ok(()),
        }
    }

    /// Checks `W[i, j]` in a setting of Synapses `si` against the
    /// sources and targets; the column read is `j`.
    fn synapse_subscript(
        &mut self,
        si: usize,
        array: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        info: &TableInfo,
        rows: usize,
    ) -> Result<Option<ast::Expr>, Failed> {
        if args.len() != 2 || !is_name(&args[0], "i") || !is_name(&args[1], "j") {
            return Err(self.error(
                Diagnostic::error(
                    span,
                    format!("an Array is indexed as `{}[i, j]`", array.name),
                )
                .with_note(
                    "row `i` is the synapse's source neuron and column `j` its target, \
                         as Brian2's `W[S.i[:], S.j[:]]`",
                ),
            ));
        }
        let plan = &self.program.synapses[si];
        let n_pre = plan.source_stop - plan.source_start;
        let n_post = plan.target_stop - plan.target_start;
        if rows != n_pre || info.columns != n_post {
            let message = format!(
                "`{}` has {rows} rows and {} columns, but `{}` connects {n_pre} sources \
                 to {n_post} targets",
                array.name, info.columns, plan.name
            );
            return Err(self.error(Diagnostic::error(array.span, message).with_note(
                "`W[i, j]` is the value from source `i` to target `j`, so `W` has \
                     one row per source neuron and one column per target neuron",
            )));
        }
        Ok(Some(args[1].clone()))
    }

    /// Checks `A[i]` or `A[i, k]` in a setting of neuron group `group`
    /// (`size` neurons, of which the setting reads rows up to `reach`, or
    /// all): the row is the neuron's index, the column a constant within
    /// the Array, and the Array has a row for every neuron read. The
    /// column read, if the Array has more than one.
    fn neuron_subscript(
        &mut self,
        array: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        info: &TableInfo,
        rows: usize,
        (group, size, reach): (&str, usize, Option<usize>),
    ) -> Result<Option<ast::Expr>, Failed> {
        let name = &array.name;
        let shape_note = || {
            format!(
                "as numpy's `{name}[G.i[:]]` in a Brian2 script, row `i` is the neuron's index \
                 in the group: write `{name}[i]` for a 1-D Array, `{name}[i, k]` (`k` a \
                 constant column) for a 2-D one"
            )
        };
        if args.is_empty() || args.len() > 2 || !is_name(&args[0], "i") {
            return Err(self.error(
                Diagnostic::error(
                    span,
                    format!("an Array is indexed as `{name}[i]` or `{name}[i, k]` in a setting of a neuron group"),
                )
                .with_note(shape_note()),
            ));
        }
        let column = match args.get(1) {
            None if info.columns > 1 => {
                return Err(self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`{name}` has {} columns; `{name}[i]` would be a row of them, not one value",
                            info.columns
                        ),
                    )
                    .with_note(format!(
                        "give the column: `{name}[i, 0]` to `{name}[i, {}]`",
                        info.columns - 1
                    )),
                ));
            }
            None => None,
            Some(k) => {
                let written = self.whole_number(k, "an Array's column")?;
                let n = info.columns as i64;
                // numpy's rule: a negative column counts from the end.
                let column = if written < 0 { written + n } else { written };
                if !(0..n).contains(&column) {
                    return Err(self.error(
                        Diagnostic::error(
                            k.span,
                            format!(
                                "column {written} is outside `{name}`, which has {} column{}",
                                info.columns,
                                if info.columns == 1 { "" } else { "s" }
                            ),
                        )
                        .with_note("as in numpy, columns count from 0 (and from -1 at the end)"),
                    ));
                }
                (info.columns > 1).then_some(ast::Expr {
                    kind: ExprKind::Number {
                        value: column as f64,
                        is_integer: true,
                    },
                    span: k.span,
                })
            }
        };
        let needed = reach.unwrap_or(size);
        if rows < needed {
            let what = if info.columns > 1 { "rows" } else { "values" };
            let message = match reach {
                None => format!("`{name}` has {rows} {what}, but `{group}` has {size} neurons"),
                Some(r) => format!(
                    "`{name}` has {rows} {what}, but the setting reaches neuron {} of `{group}` \
                     ({size} neurons)",
                    r - 1
                ),
            };
            return Err(
                self.error(Diagnostic::error(array.span, message).with_note(format!(
                    "`{name}[i]` is the value of neuron `i`, so `{name}` needs a {} for every \
                 neuron the setting sets, as numpy's `{name}[G.i[:]]` does",
                    if info.columns > 1 { "row" } else { "value" }
                ))),
            );
        }
        Ok(column)
    }
}

/// Where a setting's `W[...]` is read: in a setting of Synapses, or of a
/// neuron group (`size` neurons, rows read up to `reach` when a slice or
/// an index limits the setting).
enum Indexed {
    Synapses(usize),
    Neurons {
        group: String,
        size: usize,
        reach: Option<usize>,
    },
}

fn is_name(a: &ast::Expr, n: &str) -> bool {
    matches!(&a.kind, ExprKind::Name(x) if x == n)
}

/// Calls `f` with every plain name in `e` (not a function's or an
/// Array's subscripted name) and its place.
fn visit_names(e: &ast::Expr, f: &mut dyn FnMut(&str, Span)) {
    match &e.kind {
        ExprKind::Name(n) => f(n, e.span),
        ExprKind::Unary(_, a) => visit_names(a, f),
        ExprKind::Binary(_, a, b) => {
            visit_names(a, f);
            visit_names(b, f);
        }
        ExprKind::Call { args, .. } | ExprKind::List(args) => {
            args.iter().for_each(|a| visit_names(a, f))
        }
        ExprKind::Subscript { args, .. } => args.iter().for_each(|a| visit_names(a, f)),
        ExprKind::Number { .. } | ExprKind::Bool(_) => {}
    }
}

/// Whether `e` indexes an Array anywhere (`A[i]`).
pub(super) fn has_subscript(e: &ast::Expr) -> bool {
    match &e.kind {
        ExprKind::Subscript { .. } => true,
        ExprKind::Unary(_, a) => has_subscript(a),
        ExprKind::Binary(_, a, b) => has_subscript(a) || has_subscript(b),
        ExprKind::Call { args, .. } | ExprKind::List(args) => args.iter().any(has_subscript),
        ExprKind::Number { .. } | ExprKind::Bool(_) | ExprKind::Name(_) => false,
    }
}
