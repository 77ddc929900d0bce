//! The table of unit names, built the way Brian2 builds `brian2.units.allunits`
//! and its default namespace (`stdunits` shortcuts), so that a name means here
//! exactly what it means in a Brian2 script. `tests/brian2_table.rs` checks
//! every entry against a table exported from Brian2 itself.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{Dimension, Quantity};

/// SI prefixes, as Brian2 spells them (`u` for micro, `da` for deca).
pub(crate) const PREFIXES: [(&str, f64); 20] = [
    ("y", 1e-24),
    ("z", 1e-21),
    ("a", 1e-18),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("c", 1e-2),
    ("d", 1e-1),
    ("da", 1e1),
    ("h", 1e2),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("Z", 1e21),
    ("Y", 1e24),
];

/// Long unit names Brian2 defines with every prefix and with the powers
/// `2` and `3` (`msiemens`, `umetre2`, `kohm`, ...): (name, value in SI base
/// units, dimension).
const PREFIXABLE: [(&str, f64, Dimension); 32] = [
    ("metre", 1.0, Dimension::METRE),
    ("meter", 1.0, Dimension::METRE),
    ("second", 1.0, Dimension::SECOND),
    ("amp", 1.0, Dimension::AMP),
    ("ampere", 1.0, Dimension::AMP),
    ("mole", 1.0, Dimension::MOLE),
    ("mol", 1.0, Dimension::MOLE),
    ("candle", 1.0, Dimension::CANDELA),
    // The kilogram is the base unit, so Brian2 prefixes the gram (`kgram` = 1).
    ("gram", 1e-3, Dimension::KILOGRAM),
    ("gramme", 1e-3, Dimension::KILOGRAM),
    ("molar", 1e3, Dimension::MOLAR),
    ("radian", 1.0, Dimension::DIMENSIONLESS),
    ("steradian", 1.0, Dimension::DIMENSIONLESS),
    ("hertz", 1.0, Dimension::HERTZ),
    ("newton", 1.0, Dimension::NEWTON),
    ("pascal", 1.0, Dimension::PASCAL),
    ("joule", 1.0, Dimension::JOULE),
    ("watt", 1.0, Dimension::WATT),
    ("coulomb", 1.0, Dimension::COULOMB),
    ("volt", 1.0, Dimension::VOLT),
    ("farad", 1.0, Dimension::FARAD),
    ("ohm", 1.0, Dimension::OHM),
    ("siemens", 1.0, Dimension::SIEMENS),
    ("weber", 1.0, Dimension::WEBER),
    ("tesla", 1.0, Dimension::TESLA),
    ("henry", 1.0, Dimension::HENRY),
    ("lumen", 1.0, Dimension::CANDELA),
    ("lux", 1.0, Dimension::LUX),
    ("becquerel", 1.0, Dimension::HERTZ),
    ("gray", 1.0, Dimension::GRAY),
    ("sievert", 1.0, Dimension::GRAY),
    ("katal", 1.0, Dimension::KATAL),
];

/// Defined with powers `2`, `3` but without prefixes.
const UNPREFIXED: [(&str, f64, Dimension); 3] = [
    ("kelvin", 1.0, Dimension::KELVIN),
    ("kilogram", 1.0, Dimension::KILOGRAM),
    ("kilogramme", 1.0, Dimension::KILOGRAM),
];

/// Defined with prefixes but without powers.
const LITRES: [(&str, f64, Dimension); 2] = [
    ("liter", 1e-3, Dimension::VOLUME),
    ("litre", 1e-3, Dimension::VOLUME),
];

/// Brian2's `stdunits` shortcuts (plus `mS`, which `from brian2 import *`
/// also provides): short name -> the long name it abbreviates.
pub(crate) const SHORTCUTS: [(&str, &str); 28] = [
    ("Hz", "hertz"),
    ("kHz", "khertz"),
    ("MHz", "Mhertz"),
    ("cm", "cmetre"),
    ("cm2", "cmetre2"),
    ("cm3", "cmetre3"),
    ("mm", "mmetre"),
    ("mm2", "mmetre2"),
    ("mm3", "mmetre3"),
    ("um", "umetre"),
    ("um2", "umetre2"),
    ("um3", "umetre3"),
    ("ms", "msecond"),
    ("us", "usecond"),
    ("mV", "mvolt"),
    ("mA", "mamp"),
    ("uA", "uamp"),
    ("nA", "namp"),
    ("pA", "pamp"),
    ("uF", "ufarad"),
    ("nF", "nfarad"),
    ("pF", "pfarad"),
    ("mS", "msiemens"),
    ("uS", "usiemens"),
    ("nS", "nsiemens"),
    ("mM", "mmolar"),
    ("uM", "umolar"),
    ("nM", "nmolar"),
];

/// The names Brian2 accepts as the unit after `:` in an equation (its
/// `_base_units`): every unscaled, unpowered name of its default namespace.
/// Note `kgram`, `kliter` (= metre**3) and `mmolar`/`mM` (= mole/metre**3)
/// are in, `gram`, `liter`, `molar` are out.
pub(crate) const DECLARATION_UNITS: [&str; 39] = [
    "Hz",
    "amp",
    "ampere",
    "becquerel",
    "candle",
    "coulomb",
    "farad",
    "gray",
    "henry",
    "hertz",
    "joule",
    "katal",
    "kelvin",
    "kgram",
    "kgramme",
    "kilogram",
    "kilogramme",
    "kliter",
    "klitre",
    "lumen",
    "lux",
    "mM",
    "meter",
    "metre",
    "mmolar",
    "mol",
    "mole",
    "newton",
    "ohm",
    "pascal",
    "radian",
    "second",
    "siemens",
    "sievert",
    "steradian",
    "tesla",
    "volt",
    "watt",
    "weber",
];

/// One unit name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub quantity: Quantity,
    /// The long, unprefixed name it derives from (`volt` for `mV`, `mvolt2`).
    pub stem: &'static str,
    /// 1, 2 or 3 (`umetre2` has power 2).
    pub power: u8,
}

pub(crate) struct Table {
    pub by_name: HashMap<&'static str, Entry>,
    /// All names, sorted, for scanning (similar names).
    pub names: Vec<&'static str>,
}

pub(crate) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

type Map = HashMap<&'static str, Entry>;

fn add(map: &mut Map, name: String, value: f64, dim: Dimension, stem: &'static str, power: u8) {
    // Generated names live as long as the table, i.e. the whole process, so
    // leaking them once is what gives `similar_unit_names` its `&'static str`.
    let name: &'static str = Box::leak(name.into_boxed_str());
    let entry = Entry {
        quantity: Quantity::new(value, dim),
        stem,
        power,
    };
    let previous = map.insert(name, entry);
    debug_assert!(previous.is_none(), "unit name {name} defined twice");
}

/// `name`, `name2` and `name3`, as Brian2 defines them.
fn add_with_powers(map: &mut Map, name: String, value: f64, dim: Dimension, stem: &'static str) {
    add(
        map,
        format!("{name}2"),
        value * value,
        dim.powf(2.0),
        stem,
        2,
    );
    add(
        map,
        format!("{name}3"),
        value * value * value,
        dim.powf(3.0),
        stem,
        3,
    );
    add(map, name, value, dim, stem, 1);
}

fn build() -> Table {
    let mut map = Map::new();
    for (stem, value, dim) in PREFIXABLE {
        add_with_powers(&mut map, stem.to_string(), value, dim, stem);
        for (prefix, scale) in PREFIXES {
            add_with_powers(
                &mut map,
                format!("{prefix}{stem}"),
                scale * value,
                dim,
                stem,
            );
        }
    }
    for (stem, value, dim) in UNPREFIXED {
        add_with_powers(&mut map, stem.to_string(), value, dim, stem);
    }
    for (stem, value, dim) in LITRES {
        add(&mut map, stem.to_string(), value, dim, stem, 1);
        for (prefix, scale) in PREFIXES {
            add(
                &mut map,
                format!("{prefix}{stem}"),
                scale * value,
                dim,
                stem,
                1,
            );
        }
    }
    for (short, long) in SHORTCUTS {
        let e = map[long];
        add(
            &mut map,
            short.to_string(),
            e.quantity.value,
            e.quantity.dim,
            e.stem,
            e.power,
        );
    }
    let mut names: Vec<&'static str> = map.keys().copied().collect();
    names.sort_unstable();
    Table {
        by_name: map,
        names,
    }
}
