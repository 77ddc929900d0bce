//! Physical dimensions as exponents of the seven SI base units.

use std::fmt;

/// Names of the seven base dimensions, in [`Dimension`] index order, as a
/// Brian2 user writes them. Brian2 calls the unit of luminous intensity
/// `candle` (it has no `candela`), so that is what we print: every name a
/// [`Dimension`] is displayed with must also be accepted after `:` in an
/// equation.
pub const BASE_UNIT_NAMES: [&str; 7] = [
    "metre", "kilogram", "second", "amp", "kelvin", "mole", "candle",
];

/// Exponents of the 7 SI base dimensions: metre, kilogram, second, amp,
/// kelvin, mole, candela.
///
/// # Why `f64` exponents
///
/// Brian2 allows any real power of a quantity with units (`second**-0.5` for
/// noise, `sqrt(x)`, `x**(1/3)`), and it stores exponents as floats. A fixed
/// rational grid (say sixths) would reject powers a Brian2 model may use. So
/// exponents are `f64`, but every constructor and operation *snaps* each
/// exponent to the nearest fraction with a small denominator (1..12) when it
/// is within 1e-9 of one. Two dimensions reached by different routes, such as
/// `sqrt(second)**2` and `second`, then hold bit-identical exponents, and the
/// derived [`PartialEq`] is exact and transitive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dimension {
    exps: [f64; 7],
}

/// Denominators we snap exponents to (see [`Dimension`]).
const SNAP_DENOMINATORS: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0];

fn snap(e: f64) -> f64 {
    if !e.is_finite() {
        return e;
    }
    for d in SNAP_DENOMINATORS {
        let n = (e * d).round();
        if (e * d - n).abs() < 1e-9 {
            // `+ 0.0` turns -0.0 into 0.0 so nothing ever prints as "-0".
            return n / d + 0.0;
        }
    }
    e
}

const fn dim(m: f64, kg: f64, s: f64, a: f64, k: f64, mol: f64, cd: f64) -> Dimension {
    Dimension {
        exps: [m, kg, s, a, k, mol, cd],
    }
}

impl Dimension {
    /// No dimension (a pure number). Displays as `1`.
    pub const DIMENSIONLESS: Dimension = dim(0., 0., 0., 0., 0., 0., 0.);
    /// Length.
    pub const METRE: Dimension = dim(1., 0., 0., 0., 0., 0., 0.);
    /// Mass.
    pub const KILOGRAM: Dimension = dim(0., 1., 0., 0., 0., 0., 0.);
    /// Time.
    pub const SECOND: Dimension = dim(0., 0., 1., 0., 0., 0., 0.);
    /// Electric current.
    pub const AMP: Dimension = dim(0., 0., 0., 1., 0., 0., 0.);
    /// Temperature.
    pub const KELVIN: Dimension = dim(0., 0., 0., 0., 1., 0., 0.);
    /// Amount of substance.
    pub const MOLE: Dimension = dim(0., 0., 0., 0., 0., 1., 0.);
    /// Luminous intensity (Brian2's `candle`).
    pub const CANDELA: Dimension = dim(0., 0., 0., 0., 0., 0., 1.);

    /// 1/s.
    pub const HERTZ: Dimension = dim(0., 0., -1., 0., 0., 0., 0.);
    /// kg m / s^2.
    pub const NEWTON: Dimension = dim(1., 1., -2., 0., 0., 0., 0.);
    /// N / m^2.
    pub const PASCAL: Dimension = dim(-1., 1., -2., 0., 0., 0., 0.);
    /// N m.
    pub const JOULE: Dimension = dim(2., 1., -2., 0., 0., 0., 0.);
    /// J / s.
    pub const WATT: Dimension = dim(2., 1., -3., 0., 0., 0., 0.);
    /// A s.
    pub const COULOMB: Dimension = dim(0., 0., 1., 1., 0., 0., 0.);
    /// W / A.
    pub const VOLT: Dimension = dim(2., 1., -3., -1., 0., 0., 0.);
    /// C / V.
    pub const FARAD: Dimension = dim(-2., -1., 4., 2., 0., 0., 0.);
    /// V / A.
    pub const OHM: Dimension = dim(2., 1., -3., -2., 0., 0., 0.);
    /// A / V.
    pub const SIEMENS: Dimension = dim(-2., -1., 3., 2., 0., 0., 0.);
    /// V s.
    pub const WEBER: Dimension = dim(2., 1., -2., -1., 0., 0., 0.);
    /// Wb / m^2.
    pub const TESLA: Dimension = dim(0., 1., -2., -1., 0., 0., 0.);
    /// Wb / A.
    pub const HENRY: Dimension = dim(2., 1., -2., -2., 0., 0., 0.);
    /// mol / s.
    pub const KATAL: Dimension = dim(0., 0., -1., 0., 0., 1., 0.);
    /// J / kg (Brian2's `gray` and `sievert`).
    pub const GRAY: Dimension = dim(2., 0., -2., 0., 0., 0., 0.);
    /// cd / m^2 (Brian2's `lux`; `lumen` is dimensionally `candle`).
    pub const LUX: Dimension = dim(-2., 0., 0., 0., 0., 0., 1.);
    /// Concentration, mol / m^3 (= `mmolar` = `mM`).
    pub const MOLAR: Dimension = dim(-3., 0., 0., 0., 0., 1., 0.);
    /// Volume, m^3 (`liter` is 1e-3 of it).
    pub const VOLUME: Dimension = dim(3., 0., 0., 0., 0., 0., 0.);

    /// The `index`-th base dimension (0 metre, 1 kilogram, 2 second, 3 amp,
    /// 4 kelvin, 5 mole, 6 candela).
    ///
    /// # Panics
    /// If `index >= 7`.
    pub fn base(index: usize) -> Dimension {
        assert!(index < 7, "there are 7 base dimensions, not {}", index + 1);
        let mut exps = [0.0; 7];
        exps[index] = 1.0;
        Dimension { exps }
    }

    /// A dimension from its 7 exponents (metre, kilogram, second, amp,
    /// kelvin, mole, candela). Exponents are snapped as described on
    /// [`Dimension`].
    pub fn from_exponents(exps: [f64; 7]) -> Dimension {
        Dimension {
            exps: exps.map(snap),
        }
    }

    /// The 7 exponents, in base-dimension order.
    pub fn exponents(&self) -> [f64; 7] {
        self.exps
    }

    /// Whether every exponent is zero.
    pub fn is_dimensionless(&self) -> bool {
        self.exps.iter().all(|&e| e == 0.0)
    }

    /// Dimension of a product.
    #[allow(clippy::should_implement_trait)] // also provided as `*`
    pub fn mul(self, o: Dimension) -> Dimension {
        let mut exps = self.exps;
        for (e, oe) in exps.iter_mut().zip(o.exps) {
            *e += oe;
        }
        Dimension::from_exponents(exps)
    }

    /// Dimension of a quotient.
    #[allow(clippy::should_implement_trait)] // also provided as `/`
    pub fn div(self, o: Dimension) -> Dimension {
        self.mul(o.recip())
    }

    /// Dimension of `x**p`.
    pub fn powf(self, p: f64) -> Dimension {
        Dimension::from_exponents(self.exps.map(|e| e * p))
    }

    /// Dimension of `1/x`.
    pub fn recip(self) -> Dimension {
        Dimension::from_exponents(self.exps.map(|e| -e))
    }

    /// Dimension of `sqrt(x)`.
    pub fn sqrt(self) -> Dimension {
        self.powf(0.5)
    }
}

impl Default for Dimension {
    fn default() -> Self {
        Dimension::DIMENSIONLESS
    }
}

impl std::ops::Mul for Dimension {
    type Output = Dimension;
    fn mul(self, o: Dimension) -> Dimension {
        Dimension::mul(self, o)
    }
}

impl std::ops::Div for Dimension {
    type Output = Dimension;
    fn div(self, o: Dimension) -> Dimension {
        Dimension::div(self, o)
    }
}

/// Units a dimension may be displayed with, besides the base units. An exact
/// match prints the name alone; otherwise at most one of the first
/// `PRODUCT_UNITS` (to a power in `DISPLAY_POWERS`) times base units. Order
/// breaks ties, so the ones neuroscientists meet most come first; the rest
/// are only used for exact matches, because inside a product they obscure
/// more than they shorten (`1/(volt*second)` rather than `weber**-1`). Deliberately absent: `becquerel`
/// (same as hertz), `gray`/`sievert` (metre**2/second**2 reads better in a
/// neuron model), `lumen`/`lux`/`radian`/`steradian` (photometry and angles
/// are dimensionally trivial in Brian2), `mmolar` (`mole/metre**3` says what
/// it is without the milli that is not one).
const DISPLAY_UNITS: [(&str, Dimension); 14] = [
    ("volt", Dimension::VOLT),
    ("siemens", Dimension::SIEMENS),
    ("farad", Dimension::FARAD),
    ("ohm", Dimension::OHM),
    ("hertz", Dimension::HERTZ),
    ("coulomb", Dimension::COULOMB),
    ("joule", Dimension::JOULE),
    ("watt", Dimension::WATT),
    ("pascal", Dimension::PASCAL),
    ("newton", Dimension::NEWTON),
    ("weber", Dimension::WEBER),
    ("tesla", Dimension::TESLA),
    ("henry", Dimension::HENRY),
    ("katal", Dimension::KATAL),
];

const PRODUCT_UNITS: usize = 8;

const DISPLAY_POWERS: [f64; 8] = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5];

/// One factor of a displayed product: a unit name and its (nonzero) power.
type Factor = (&'static str, f64);

/// See `display_factors`.
type Cost = (usize, f64, f64, bool, usize);

fn fmt_power(p: f64) -> String {
    if p.fract() == 0.0 && p.abs() < 1e15 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

fn fmt_factor(name: &str, p: f64) -> String {
    if p == 1.0 {
        name.to_string()
    } else {
        format!("{name}**{}", fmt_power(p))
    }
}

impl Dimension {
    /// The factors the dimension is displayed as: a readable product of at
    /// most one named derived unit and base units. See the `Display` impl.
    fn display_factors(&self) -> Vec<Factor> {
        let base_factors = |d: &Dimension| -> Vec<Factor> {
            d.exps
                .iter()
                .zip(BASE_UNIT_NAMES)
                .filter(|(e, _)| **e != 0.0)
                .map(|(&e, n)| (n, e))
                .collect()
        };
        // Exact matches first: a single named unit says it best.
        if let Some((name, _)) = DISPLAY_UNITS.iter().find(|(_, d)| d == self) {
            return vec![(name, 1.0)];
        }
        // Greedy search: one named unit `D**k` times the remaining base units.
        // Cost, compared lexicographically: number of printed factors, then
        // |k| (`farad/metre**2`, not `kilogram/weber**2`), then the
        // remainder's total |exponent| (smaller powers read better), then
        // positive k before negative (`ohm*metre`, not `metre/siemens`),
        // then the order of DISPLAY_UNITS. Plain base
        // units win ties on the factor count (`second**-2`, not `hertz**2`;
        // `amp/metre**2`).
        let plain = base_factors(self);
        let integral = self.exps.iter().all(|e| e.fract() == 0.0);
        let mut best: Option<(Cost, Vec<Factor>)> = None;
        for (idx, (name, d)) in DISPLAY_UNITS[..PRODUCT_UNITS].iter().enumerate() {
            for k in DISPLAY_POWERS {
                // Half powers of a named unit only explain half powers in the
                // dimension (`volt**0.5`), never integer ones
                // (`kilogram**0.5/farad**0.5` for volt*second/metre).
                if k.fract() != 0.0 && integral {
                    continue;
                }
                let rest = self.div(d.powf(k));
                let rest_factors = base_factors(&rest);
                let abs_sum: f64 = rest_factors.iter().map(|(_, e)| e.abs()).sum();
                let cost = (1 + rest_factors.len(), k.abs(), abs_sum, k < 0.0, idx);
                let better = match &best {
                    None => true,
                    Some((c, _)) => cost.partial_cmp(c) == Some(std::cmp::Ordering::Less),
                };
                if better {
                    let mut f = vec![(*name, k)];
                    f.extend(rest_factors);
                    best = Some((cost, f));
                }
            }
        }
        match best {
            Some((cost, f)) if cost.0 < plain.len() => f,
            _ => plain,
        }
    }
}

/// Prints a dimension in the user's terms, never as an exponent vector:
/// `1` when dimensionless, a unit's name when it matches one exactly (`volt`,
/// `amp`, `hertz`, `coulomb`, ...), otherwise a product such as
/// `siemens/metre**2`, `volt/second`, `volt**2`, `second**-0.5`.
///
/// The output is always a valid unit declaration for Brian2 (and for
/// [`crate::parse_declaration`]): only unscaled names, `*`, `/`, `**` and
/// parentheses. A lone negative factor prints as a negative power
/// (`second**-0.5`, `volt**-1`); several as `1/(metre*second)`.
impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dimensionless() {
            return f.write_str("1");
        }
        let factors = self.display_factors();
        let num: Vec<String> = factors
            .iter()
            .filter(|(_, p)| *p > 0.0)
            .map(|&(n, p)| fmt_factor(n, p))
            .collect();
        let den: Vec<String> = factors
            .iter()
            .filter(|(_, p)| *p < 0.0)
            .map(|&(n, p)| fmt_factor(n, -p))
            .collect();
        let out = match (num.is_empty(), den.len()) {
            (false, 0) => num.join("*"),
            (false, 1) => format!("{}/{}", num.join("*"), den[0]),
            (false, _) => format!("{}/({})", num.join("*"), den.join("*")),
            (true, 1) => {
                let (n, p) = factors[0];
                fmt_factor(n, p)
            }
            (true, _) => format!("1/({})", den.join("*")),
        };
        f.write_str(&out)
    }
}
