//! The unit after `:` in an equation (`dv/dt = ... : volt`).
//!
//! Brian2 only accepts unscaled units there (`volt`, not `mV`): the
//! declaration fixes the dimension of a variable whose values are stored in
//! SI base units anyway, so a scale would be meaningless or misleading.

use crate::table::{table, Entry, DECLARATION_UNITS};
use crate::{fmt_number, Dimension};

/// The short list of allowed names shown when a name is not a unit at all.
const ALLOWED_SUMMARY: &str = "volt, amp, siemens, farad, ohm, second, hertz (Hz), metre, \
     kilogram, mole, mmolar (mM), kelvin, coulomb, joule, watt, pascal, newton, weber, tesla, \
     henry, ...";

/// For the unit after `:` in an equation: the dimension of a single unit
/// name, if Brian2 accepts it there.
///
/// Accepted: the unscaled base and derived names (`volt`, `amp`/`ampere`,
/// `siemens`, `farad`, `ohm`, `second`, `hertz`/`Hz`, `metre`/`meter`,
/// `kilogram`/`kgram`, `mole`/`mol`, `mmolar`/`mM`, `kelvin`, `coulomb`,
/// `joule`, `watt`, `pascal`, `newton`, `weber`, `tesla`, `henry`, `katal`,
/// `becquerel`, `gray`, `sievert`, `radian`, `steradian`, `candle`, `lumen`,
/// `lux`, `kliter`), and `1`. `boolean` and `integer` also give
/// [`Dimension::DIMENSIONLESS`]; telling them apart from `1` (the value type)
/// is the equation parser's business.
///
/// Rejected, with a hint naming what to write instead: scaled units (`mV`,
/// `ms`, `nS`, `cm`, `gram`, `liter`, `molar`: "use `volt`"), powered names
/// (`metre2`: "use `metre**2`"), and names that are not units ("did you
/// mean ...").
pub fn declaration_unit(name: &str) -> Result<Dimension, String> {
    let name = name.trim();
    match name {
        "1" | "boolean" | "integer" => return Ok(Dimension::DIMENSIONLESS),
        "bool" => {
            return Err("use `boolean`, not `bool`, as the unit of a boolean variable".into())
        }
        _ => {}
    }
    if let Some(entry) = table().by_name.get(name) {
        if DECLARATION_UNITS.contains(&name) {
            return Ok(entry.quantity.dim);
        }
        let hint = declaration_hint(entry);
        let value = entry.quantity.value;
        return Err(if value != 1.0 {
            format!(
                "`{name}` is a scaled unit (1 {name} = {} {hint}); equations declare units \
                 without prefixes: use `{hint}`",
                fmt_number(value)
            )
        } else {
            format!("`{name}` cannot be used as a declared unit: use `{hint}`")
        });
    }
    // Not a unit at all. Suggest what the user probably meant, in the form a
    // declaration accepts (`uV` -> `uvolt` -> `volt`).
    // Confident matches (`uV`, `volts`, `Volt`) alone when there are any,
    // rather than diluting them with look-alikes.
    let (confident, fuzzy) = crate::similar::candidates(name);
    let pool = if confident.is_empty() {
        fuzzy
    } else {
        confident
    };
    let mut suggestions: Vec<String> = Vec::new();
    for s in pool {
        let s = if DECLARATION_UNITS.contains(&s) {
            s.to_string()
        } else {
            declaration_hint(&table().by_name[s])
        };
        if !suggestions.contains(&s) && s != "1" {
            suggestions.push(s);
        }
    }
    let mut msg = format!("`{name}` is not a unit");
    if !suggestions.is_empty() {
        let list: Vec<String> = suggestions
            .iter()
            .take(3)
            .map(|s| format!("`{s}`"))
            .collect();
        msg.push_str(&format!("; did you mean {}?", list.join(" or ")));
    }
    msg.push_str(&format!(
        " (declared units are unscaled: {ALLOWED_SUMMARY}, combined with `*`, `/` and `**`, \
         or `1` for dimensionless)"
    ));
    Err(msg)
}

/// What to declare instead of a known but disallowed unit name.
fn declaration_hint(entry: &Entry) -> String {
    let dim = entry.quantity.dim;
    // Keep the user's own word when it is allowed (`mgray` -> `gray`, not
    // the `metre**2/second**2` it equals; `mradian` -> `radian`).
    if entry.power == 1
        && DECLARATION_UNITS.contains(&entry.stem)
        && table().by_name[entry.stem].quantity.dim == dim
    {
        return entry.stem.to_string();
    }
    // Brian2's own name for a concentration (`molar`, `uM` -> `mmolar`).
    if dim == Dimension::MOLAR {
        return "mmolar".to_string();
    }
    // Display only uses names a declaration accepts.
    dim.to_string()
}

/// Parses a whole unit declaration, as written after `:` in an equation:
/// `volt`, `siemens/metre**2`, `second**-0.5`, `1/second`, `amp*metre**-2`,
/// `volt**(1/2)`, `1`, `boolean`, `integer` (the last three give
/// [`Dimension::DIMENSIONLESS`]).
///
/// Each name must pass [`declaration_unit`]; numbers are only allowed as
/// exponents and as the `1` in `1` or `1/...`, because a declaration names a
/// unit, not a quantity (Brian2 rejects `1*siemens/metre**2`, `2/second`,
/// `second*1` too).
pub fn parse_declaration(expr: &str) -> Result<Dimension, String> {
    let trimmed = expr.trim();
    if matches!(trimmed, "boolean" | "integer" | "1") {
        return Ok(Dimension::DIMENSIONLESS);
    }
    let tokens = tokenize(trimmed)?;
    let mut p = Parser { tokens, pos: 0 };
    let v = p.expr()?;
    if p.pos != p.tokens.len() {
        return Err(format!(
            "could not interpret `{trimmed}` as a unit: unexpected `{}`",
            p.tokens[p.pos]
        ));
    }
    match v {
        Val::Unit(dim) => Ok(dim),
        _ => Err(format!(
            "`{trimmed}` is a quantity, not a unit: declare units only, e.g. \
             `siemens/metre**2`, not `1*siemens/metre**2`"
        )),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Op(&'static str),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Name(n) => f.write_str(n),
            Tok::Num(x) => write!(f, "{x}"),
            Tok::Op(o) => f.write_str(o),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // Optional exponent: 1e-3, 2.5E+2.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let x = text
                .parse::<f64>()
                .map_err(|_| format!("`{text}` is not a number"))?;
            out.push(Tok::Num(x));
        } else if c == '*' && chars.get(i + 1) == Some(&'*') {
            out.push(Tok::Op("**"));
            i += 2;
        } else {
            let op = match c {
                '*' => "*",
                '/' => "/",
                '(' => "(",
                ')' => ")",
                '-' => "-",
                '+' => "+",
                _ => return Err(format!("unexpected character `{c}` in unit `{s}`")),
            };
            out.push(Tok::Op(op));
            i += 1;
        }
    }
    Ok(out)
}

/// A value during parsing. Brian2 evaluates the declaration as Python, and
/// only a `Unit` object is accepted at the end: unit*unit, unit/unit,
/// unit**number and `1/unit` stay units, while any other number mixed in
/// (`1*siemens`, `2/second`, `-volt`) makes a quantity, which is an error.
#[derive(Clone, Copy)]
enum Val {
    Num(f64),
    Unit(Dimension),
    Quantity,
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }

    // expr := unary (('*' | '/') unary)*
    fn expr(&mut self) -> Result<Val, String> {
        let mut acc = self.unary()?;
        loop {
            if self.peek_op("*") {
                self.pos += 1;
                let r = self.unary()?;
                acc = match (acc, r) {
                    (Val::Unit(a), Val::Unit(b)) => Val::Unit(a.mul(b)),
                    (Val::Num(a), Val::Num(b)) => Val::Num(a * b),
                    _ => Val::Quantity,
                };
            } else if self.peek_op("/") {
                self.pos += 1;
                let r = self.unary()?;
                acc = match (acc, r) {
                    (Val::Unit(a), Val::Unit(b)) => Val::Unit(a.div(b)),
                    (Val::Num(1.0), Val::Unit(b)) => Val::Unit(b.recip()),
                    (Val::Num(a), Val::Num(b)) => Val::Num(a / b),
                    _ => Val::Quantity,
                };
            } else {
                return Ok(acc);
            }
        }
    }

    // unary := ('-' | '+') unary | power   (Python: -x**2 is -(x**2))
    fn unary(&mut self) -> Result<Val, String> {
        if self.peek_op("-") {
            self.pos += 1;
            return Ok(match self.unary()? {
                Val::Num(x) => Val::Num(-x),
                _ => Val::Quantity,
            });
        }
        if self.peek_op("+") {
            self.pos += 1;
            return self.unary();
        }
        self.power()
    }

    // power := atom ('**' unary)?
    fn power(&mut self) -> Result<Val, String> {
        let base = self.atom()?;
        if self.peek_op("**") {
            self.pos += 1;
            let Val::Num(e) = self.unary()? else {
                return Err("the exponent of a unit must be a number".to_string());
            };
            return Ok(match base {
                Val::Unit(d) => Val::Unit(d.powf(e)),
                Val::Num(x) => Val::Num(x.powf(e)),
                Val::Quantity => Val::Quantity,
            });
        }
        Ok(base)
    }

    // atom := number | name | '(' expr ')'
    fn atom(&mut self) -> Result<Val, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Tok::Num(x)) => {
                self.pos += 1;
                Ok(Val::Num(x))
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                if matches!(n.as_str(), "boolean" | "integer") {
                    return Err(format!("`{n}` must be the whole unit declaration"));
                }
                Ok(Val::Unit(declaration_unit(&n)?))
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.expr()?;
                if !self.peek_op(")") {
                    return Err("missing `)` in unit".to_string());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(t) => Err(format!("unexpected `{t}` in unit")),
            None => Err("unit ends too early".to_string()),
        }
    }
}
