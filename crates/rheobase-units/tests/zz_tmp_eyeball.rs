use rheobase_units::*;
#[test]
fn eyeball() {
    let mut seen = Vec::new();
    for n in all_unit_names() {
        let d = lookup_unit(n).unwrap().dim;
        let s = d.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    let ex = [
        "volt/second",
        "siemens*volt",
        "amp/farad",
        "volt/ohm",
        "siemens/farad",
        "1/(ohm*farad)",
        "volt**2*siemens",
        "amp*metre**-2",
        "siemens*metre**-2*volt",
        "mole/(metre**3*second)",
        "joule/mole",
        "coulomb/mole",
        "volt/amp",
        "amp/volt",
        "farad*volt",
        "volt*hertz",
        "second**-1.5",
        "volt**2/hertz",
        "siemens**0.5",
        "metre**0.5*second",
        "amp*second**0.5",
        "kilogram/metre**3",
        "siemens/(metre**2*second)",
        "farad/metre",
    ];
    for e in ex {
        seen.push(format!("{e} => {}", parse_declaration(e).unwrap()));
    }
    for s in seen {
        println!("{s}");
    }
    for n in [
        "mv",
        "Volt",
        "V",
        "S",
        "ohms",
        "msec",
        "uV",
        "kV",
        "nA",
        "umol",
        "cm^2",
        "sec",
        "nanosiemens",
        "mmol",
        "milli",
        "MOhm",
        "Gohm",
        "farads",
        "Ohm",
        "gramm",
        "ml",
        "mL",
        "molar",
        "hz",
        "KHz",
    ] {
        println!("{n}: {:?}", similar_unit_names(n));
    }
    for n in [
        "mV",
        "liter",
        "cm2",
        "candela",
        "uV",
        "nsiemens2",
        "kliter",
        "Gohm",
        "gram",
        "mmol",
        "bool",
        "volts",
        "V",
    ] {
        println!("{n}: {:?}", declaration_unit(n));
    }
}
