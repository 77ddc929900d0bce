//! The unit after `:` in an equation, and name lookup.

use rheobase_units::{
    declaration_unit, lookup_unit, parse_declaration, similar_unit_names, Dimension,
};

#[test]
fn accepts_unscaled_units() {
    let cases = [
        ("volt", Dimension::VOLT),
        ("amp", Dimension::AMP),
        ("ampere", Dimension::AMP),
        ("siemens", Dimension::SIEMENS),
        ("farad", Dimension::FARAD),
        ("second", Dimension::SECOND),
        ("hertz", Dimension::HERTZ),
        ("Hz", Dimension::HERTZ),
        ("ohm", Dimension::OHM),
        ("metre", Dimension::METRE),
        ("meter", Dimension::METRE),
        ("kilogram", Dimension::KILOGRAM),
        ("kgram", Dimension::KILOGRAM),
        ("mole", Dimension::MOLE),
        ("mol", Dimension::MOLE),
        ("mmolar", Dimension::MOLAR),
        ("mM", Dimension::MOLAR),
        ("kelvin", Dimension::KELVIN),
        ("coulomb", Dimension::COULOMB),
        ("radian", Dimension::DIMENSIONLESS),
        ("kliter", Dimension::VOLUME),
        ("candle", Dimension::CANDELA),
        ("1", Dimension::DIMENSIONLESS),
        (" volt ", Dimension::VOLT),
    ];
    for (name, dim) in cases {
        assert_eq!(declaration_unit(name), Ok(dim), "{name}");
    }
}

fn rejected(name: &str) -> String {
    declaration_unit(name).expect_err(name)
}

#[test]
fn rejects_scaled_units_with_a_hint() {
    for (name, hint) in [
        ("mV", "volt"),
        ("ms", "second"),
        ("nS", "siemens"),
        ("mS", "siemens"),
        ("pF", "farad"),
        ("ufarad", "farad"),
        ("cm", "metre"),
        ("umetre", "metre"),
        ("cmetre", "metre"),
        ("kHz", "hertz"),
        ("gram", "kilogram"),
        ("molar", "mmolar"),
        ("uM", "mmolar"),
        ("liter", "metre**3"),
        ("cm2", "metre**2"),
        ("Mohm", "ohm"),
        ("msiemens2", "siemens**2"),
        ("mradian", "radian"),
    ] {
        let msg = rejected(name);
        assert!(msg.contains(&format!("use `{hint}`")), "{name}: {msg}");
        assert!(msg.contains("scaled"), "{name}: {msg}");
    }
    assert_eq!(
        rejected("mV"),
        "`mV` is a scaled unit (1 mV = 0.001 volt); equations declare units without prefixes: \
         use `volt`"
    );
    assert!(rejected("nS").contains("1 nS = 1e-9 siemens"));
}

#[test]
fn rejects_powered_names() {
    assert_eq!(
        rejected("metre2"),
        "`metre2` cannot be used as a declared unit: use `metre**2`"
    );
    assert!(rejected("volt3").contains("use `volt**3`"));
}

#[test]
fn unknown_names_get_suggestions() {
    let msg = rejected("candela");
    assert!(
        msg.starts_with("`candela` is not a unit; did you mean `candle`"),
        "{msg}"
    );
    let msg = rejected("V");
    assert!(msg.contains("did you mean `volt`"), "{msg}");
    let msg = rejected("uV");
    assert!(msg.contains("did you mean `volt`? ("), "{msg}");
    let msg = rejected("siemen");
    assert!(msg.contains("`siemens`"), "{msg}");
    let msg = rejected("celsius");
    assert!(msg.contains("`kelvin`"), "{msg}");
    let msg = rejected("xyzzyq");
    assert!(!msg.contains("did you mean"), "{msg}");
    assert!(msg.contains("volt, amp, siemens"), "{msg}");
    assert!(rejected("bool").contains("`boolean`"));
}

#[test]
fn whole_declarations() {
    let ok = [
        ("volt", Dimension::VOLT),
        (
            "siemens/meter**2",
            Dimension::SIEMENS / Dimension::METRE.powf(2.0),
        ),
        (
            "siemens*metre**-2",
            Dimension::SIEMENS / Dimension::METRE.powf(2.0),
        ),
        ("second**-0.5", Dimension::SECOND.powf(-0.5)),
        ("second ** -.5", Dimension::SECOND.powf(-0.5)),
        ("second**(-1/2)", Dimension::SECOND.powf(-0.5)),
        ("1/second", Dimension::HERTZ),
        (
            "1 / (ohm*metre)",
            (Dimension::OHM * Dimension::METRE).recip(),
        ),
        ("amp/metre**2", Dimension::AMP / Dimension::METRE.powf(2.0)),
        (
            "volt**2/second",
            Dimension::VOLT.powf(2.0) / Dimension::SECOND,
        ),
        ("mM/second", Dimension::MOLAR / Dimension::SECOND),
        ("1", Dimension::DIMENSIONLESS),
        ("boolean", Dimension::DIMENSIONLESS),
        ("integer", Dimension::DIMENSIONLESS),
        ("metre**1e0", Dimension::METRE),
        ("(1/second)**2", Dimension::SECOND.powf(-2.0)),
        ("1/(1/second)", Dimension::SECOND),
        ("second**(1/2)", Dimension::SECOND.sqrt()),
    ];
    for (expr, dim) in ok {
        assert_eq!(parse_declaration(expr), Ok(dim), "{expr}");
    }
    for (expr, needle) in [
        ("mV/ms", "use `volt`"),
        ("siemens/cm**2", "use `metre`"),
        ("1*siemens/metre**2", "quantity"),
        ("2*volt", "quantity"),
        ("2/second", "quantity"),
        ("second*1", "quantity"),
        ("-volt", "quantity"),
        ("3", "quantity"),
        ("volt**volt", "exponent"),
        ("volt*", "ends too early"),
        ("(volt", "missing `)`"),
        ("volt)", "unexpected `)`"),
        ("volt % 2", "unexpected character"),
        ("boolean*volt", "whole unit declaration"),
        ("", "ends too early"),
    ] {
        let msg = parse_declaration(expr).expect_err(expr);
        assert!(msg.contains(needle), "{expr}: {msg}");
    }
}

#[test]
fn lookup_in_expressions() {
    let check = |name: &str, value: f64, dim: Dimension| {
        let q = lookup_unit(name).unwrap_or_else(|| panic!("{name}"));
        assert!(
            ((q.value - value) / value).abs() < 1e-12,
            "{name}: {}",
            q.value
        );
        assert_eq!(q.dim, dim, "{name}");
    };
    check("mV", 1e-3, Dimension::VOLT);
    check("mvolt", 1e-3, Dimension::VOLT);
    check("ms", 1e-3, Dimension::SECOND);
    check("mS", 1e-3, Dimension::SIEMENS);
    check("msiemens", 1e-3, Dimension::SIEMENS);
    check("nS", 1e-9, Dimension::SIEMENS);
    check("pA", 1e-12, Dimension::AMP);
    check("pF", 1e-12, Dimension::FARAD);
    check("ufarad", 1e-6, Dimension::FARAD);
    check("umetre", 1e-6, Dimension::METRE);
    check("um", 1e-6, Dimension::METRE);
    check("cm", 1e-2, Dimension::METRE);
    check("cm2", 1e-4, Dimension::METRE.powf(2.0));
    check("um2", 1e-12, Dimension::METRE.powf(2.0));
    check("Hz", 1.0, Dimension::HERTZ);
    check("kHz", 1e3, Dimension::HERTZ);
    check("mM", 1.0, Dimension::MOLAR);
    check("molar", 1e3, Dimension::MOLAR);
    check("liter", 1e-3, Dimension::VOLUME);
    check("litre", 1e-3, Dimension::VOLUME);
    check("gram", 1e-3, Dimension::KILOGRAM);
    check("kgram", 1.0, Dimension::KILOGRAM);
    check("Mohm", 1e6, Dimension::OHM);
    check("mohm", 1e-3, Dimension::OHM);
    check("damp", 0.1, Dimension::AMP); // deci-amp, not deca
    check("daamp", 10.0, Dimension::AMP);
    check("radian", 1.0, Dimension::DIMENSIONLESS);
    // Brian2 has no one-letter symbols, no `candela` and no `celsius`.
    for name in [
        "V",
        "S",
        "A",
        "s",
        "candela",
        "celsius",
        "millivolt",
        "uV",
        "unit",
    ] {
        assert_eq!(lookup_unit(name), None, "{name}");
    }
}

#[test]
fn similar_names() {
    let s = |n: &str| similar_unit_names(n);
    assert_eq!(s("uV")[0], "uvolt");
    assert_eq!(&s("msec")[..2], ["ms", "msecond"]);
    assert_eq!(s("kOhm")[0], "kohm");
    assert_eq!(s("volts")[0], "volt");
    assert_eq!(s("candela")[0], "candle");
    assert!(s("mv").contains(&"mV"), "{:?}", s("mv"));
    assert!(s("siemen").contains(&"siemens"));
    assert!(s("sceond").contains(&"second"), "{:?}", s("sceond"));
    assert!(s("umeter").iter().all(|n| *n != "umeter"));
    assert!(s("xyzzyq").is_empty());
    assert_eq!(s("nanosiemens"), ["nS", "nsiemens"]);
    assert_eq!(s("MOhm")[0], "Mohm");
    assert_eq!(s("hz"), ["Hz", "hertz"]);
    // Exotic look-alikes only when nothing ordinary is close.
    assert_eq!(s("farads"), ["farad"]);
    assert_eq!(s("Gohm"), ["ohm"]);
    assert!(s("mV").len() <= 5 && !s("mV").contains(&"mV"));
}
