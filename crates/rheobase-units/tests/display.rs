//! `Display` for `Dimension`: the user's terms, never exponent vectors.

use rheobase_units::{all_unit_names, lookup_unit, parse_declaration, Dimension};

fn d(expr: &str) -> Dimension {
    parse_declaration(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

#[test]
fn named_units_print_their_names() {
    let cases = [
        (Dimension::VOLT, "volt"),
        (Dimension::AMP, "amp"),
        (Dimension::SIEMENS, "siemens"),
        (Dimension::FARAD, "farad"),
        (Dimension::OHM, "ohm"),
        (Dimension::HERTZ, "hertz"),
        (Dimension::COULOMB, "coulomb"),
        (Dimension::JOULE, "joule"),
        (Dimension::WATT, "watt"),
        (Dimension::PASCAL, "pascal"),
        (Dimension::NEWTON, "newton"),
        (Dimension::WEBER, "weber"),
        (Dimension::TESLA, "tesla"),
        (Dimension::HENRY, "henry"),
        (Dimension::KATAL, "katal"),
        (Dimension::METRE, "metre"),
        (Dimension::KILOGRAM, "kilogram"),
        (Dimension::SECOND, "second"),
        (Dimension::KELVIN, "kelvin"),
        (Dimension::MOLE, "mole"),
        (Dimension::CANDELA, "candle"),
        (Dimension::DIMENSIONLESS, "1"),
    ];
    for (dim, s) in cases {
        assert_eq!(dim.to_string(), s);
    }
}

#[test]
fn products_read_naturally() {
    let cases = [
        ("siemens/metre**2", "siemens/metre**2"),
        ("farad/metre**2", "farad/metre**2"),
        ("amp/metre**2", "amp/metre**2"),
        ("volt/second", "volt/second"),
        ("amp/farad", "volt/second"),
        ("second**-0.5", "second**-0.5"),
        ("volt/second**0.5", "volt/second**0.5"),
        ("volt**2", "volt**2"),
        ("volt**2/second", "volt**2/second"),
        ("metre**2", "metre**2"),
        ("metre**3", "metre**3"),
        ("amp*second", "coulomb"),
        ("volt*amp", "watt"),
        ("1/ohm", "siemens"),
        ("1/siemens", "ohm"),
        ("1/second", "hertz"),
        ("second**-2", "second**-2"),
        ("1/volt", "volt**-1"),
        ("ohm*metre", "ohm*metre"),
        ("ohm*metre**2", "ohm*metre**2"),
        ("siemens/metre", "siemens/metre"),
        ("mmolar", "mole/metre**3"),
        ("mole/second", "katal"),
        ("metre/second", "metre/second"),
        ("metre**2/second", "metre**2/second"),
        ("joule/kelvin", "joule/kelvin"),
        ("joule/(mole*kelvin)", "joule/(kelvin*mole)"),
        ("volt/metre", "volt/metre"),
        ("amp/metre", "amp/metre"),
        ("siemens*second", "farad"),
        ("volt**3", "volt**3"),
        ("volt*second**0.5", "volt*second**0.5"),
        ("amp**2", "amp**2"),
        ("farad/second", "siemens"),
        ("hertz/volt", "1/(volt*second)"),
        ("volt*second", "weber"),
        ("volt*second/metre", "volt*second/metre"),
        ("1/(metre*second)", "1/(metre*second)"),
        ("kilogram*metre**2", "metre**2*kilogram"),
        ("gray", "metre**2/second**2"),
        ("lux", "candle/metre**2"),
        ("second**0.5", "second**0.5"),
        ("volt**0.5", "volt**0.5"),
        ("second**(1/3)", "second**0.3333333333333333"),
    ];
    for (expr, want) in cases {
        assert_eq!(d(expr).to_string(), want, "{expr}");
    }
}

#[test]
fn output_parses_back_to_the_same_dimension() {
    // Display must only use names and syntax a declaration accepts, so that a
    // hint can be pasted into the model as is.
    let mut dims: Vec<Dimension> = all_unit_names()
        .iter()
        .map(|n| lookup_unit(n).unwrap().dim)
        .collect();
    for i in 0..7 {
        for j in 0..7 {
            for p in [-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0] {
                dims.push(Dimension::base(i).mul(Dimension::base(j).powf(p)));
                dims.push(Dimension::VOLT.mul(Dimension::base(j).powf(p)));
                dims.push(Dimension::SIEMENS.powf(p).div(Dimension::base(i)));
            }
        }
    }
    for dim in dims {
        let s = dim.to_string();
        assert_eq!(parse_declaration(&s), Ok(dim), "`{s}` does not parse back");
        assert!(!s.contains("-0") || s.contains("-0."), "{s}");
    }
}
