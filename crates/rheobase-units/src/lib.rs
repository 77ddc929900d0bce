//! Physical units for rheobase, mirroring Brian2's unit system.
//!
//! A rheobase model is written in Brian2's language, so a unit name must mean
//! here exactly what it means in a Brian2 script. This crate provides:
//!
//! * [`Dimension`]: exponents of the seven SI base units, with exact equality
//!   (also for fractional powers such as the `second**-0.5` of white noise)
//!   and a [`Display`](std::fmt::Display) in the user's terms (`volt`,
//!   `siemens/metre**2`, `second**-0.5`), never exponent vectors, for error
//!   messages such as "`volt` vs `amp`".
//! * [`Quantity`]: a value in SI base units with its dimension. As in Brian2,
//!   every value is stored unscaled (`-65*mV` is `-0.065` volt).
//! * [`lookup_unit`]: every unit name a Brian2 script can use in an
//!   expression, about 2100 of them: the base and derived units, each with
//!   the SI prefixes `y z a f p n u m c d da h k M G T P E Z Y` and the powers
//!   `2`, `3` (`msiemens`, `ufarad`, `kohm`, `umetre2`), and the shortcuts of
//!   Brian2's `stdunits` (`mV`, `ms`, `nS`, `pA`, `pF`, `Hz`, `mM`, `cm2`,
//!   ...). The table is checked name by name against one exported from Brian2
//!   2.9 (`tests/data/`).
//! * [`declaration_unit`] / [`parse_declaration`]: the unit after `:` in an
//!   equation, where Brian2 only accepts unscaled units, with a hint for the
//!   rest ("use `volt`").
//! * [`similar_unit_names`]: "did you mean" candidates for unknown names.
//!
//! ```
//! use rheobase_units::{declaration_unit, lookup_unit, parse_declaration, Dimension};
//!
//! // Units in expressions: values in SI base units.
//! let mv = lookup_unit("mV").unwrap();
//! assert_eq!(mv.value, 1e-3);
//! assert_eq!(mv.dim, Dimension::VOLT);
//!
//! // Dimensions print the way a user writes them.
//! let g_density = lookup_unit("nS").unwrap().dim.div(Dimension::METRE.powf(2.0));
//! assert_eq!(g_density.to_string(), "siemens/metre**2");
//! assert_eq!(Dimension::SECOND.powf(-0.5).to_string(), "second**-0.5");
//! assert_eq!((Dimension::AMP * Dimension::SECOND).to_string(), "coulomb");
//!
//! // Fractional powers compare exactly.
//! assert_eq!(Dimension::SECOND.sqrt().powf(2.0), Dimension::SECOND);
//!
//! // Declarations take unscaled units only.
//! assert_eq!(declaration_unit("volt"), Ok(Dimension::VOLT));
//! assert!(declaration_unit("mV").unwrap_err().contains("use `volt`"));
//! assert_eq!(parse_declaration("siemens/meter**2"), Ok(g_density));
//! ```

mod declare;
mod dimension;
mod quantity;
mod similar;
mod table;

pub use declare::{declaration_unit, parse_declaration};
pub use dimension::{Dimension, BASE_UNIT_NAMES};
pub use quantity::Quantity;
pub use similar::similar_unit_names;

/// The value and dimension of a unit name usable inside expressions, as
/// Brian2's namespace provides it (`mV`, `ms`, `nS`, `pA`, `pF`, `ufarad`,
/// `msiemens`, `umetre`, `cm`, `Hz`, `mM`, `liter`, `gram`, `cm2`, ...).
/// Names are case-sensitive (`mS` is millisiemens, `ms` millisecond, `Mohm`
/// megaohm, `mohm` milliohm), and there are no one-letter symbols (`V`,
/// `S`), just as in Brian2.
pub fn lookup_unit(name: &str) -> Option<Quantity> {
    table::table().by_name.get(name).map(|e| e.quantity)
}

/// Every unit name [`lookup_unit`] knows, sorted.
pub fn all_unit_names() -> &'static [&'static str] {
    &table::table().names
}

/// A number for messages: plain for everyday magnitudes, `1e-9` style
/// otherwise (Rust's plain `{}` would print 24 zeros for `1e-24`).
pub(crate) fn fmt_number(v: f64) -> String {
    if v == 0.0 || (1e-4..1e6).contains(&v.abs()) || !v.is_finite() {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}
