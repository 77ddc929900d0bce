//! "Did you mean" suggestions for unknown unit names.

use crate::table::{table, PREFIXES, SHORTCUTS};

/// How people write units elsewhere (SI symbols, plurals, abbreviations)
/// mapped to Brian2's long name. Combined with any SI prefix, so `uV` finds
/// `uvolt`, `kOhm` finds `kohm`, `msec` finds `msecond` and `ms`.
const SYMBOLS: [(&str, &str); 27] = [
    ("V", "volt"),
    ("A", "amp"),
    ("S", "siemens"),
    ("F", "farad"),
    ("Hz", "hertz"),
    ("hz", "hertz"),
    ("s", "second"),
    ("sec", "second"),
    ("m", "metre"),
    ("g", "gram"),
    ("M", "molar"),
    ("C", "coulomb"),
    ("J", "joule"),
    ("W", "watt"),
    ("Pa", "pascal"),
    ("N", "newton"),
    ("K", "kelvin"),
    ("H", "henry"),
    ("T", "tesla"),
    ("Wb", "weber"),
    ("L", "liter"),
    ("l", "liter"),
    ("Ohm", "ohm"),
    ("Ω", "ohm"),
    ("cd", "candle"),
    ("candela", "candle"),
    ("celsius", "kelvin"),
];

/// Spelled-out SI prefixes, so `nanosiemens` finds `nsiemens`.
const PREFIX_WORDS: [(&str, &str); 12] = [
    ("pico", "p"),
    ("nano", "n"),
    ("micro", "u"),
    ("milli", "m"),
    ("centi", "c"),
    ("kilo", "k"),
    ("mega", "M"),
    ("giga", "G"),
    ("femto", "f"),
    ("atto", "a"),
    ("deci", "d"),
    ("tera", "T"),
];

/// At most this many suggestions: a hint, not a listing.
const MAX_SUGGESTIONS: usize = 5;

/// Names that are close to `name` among all unit names (for "did you mean"
/// hints), best first, at most five, never `name` itself.
///
/// Sources, in this order: `name` read as a prefixed SI symbol, a plural or
/// a spelled-out prefix (`uV` -> `uvolt`, `msec` -> `ms`, `msecond`; `volts`
/// -> `volt`; `nanosiemens` -> `nsiemens`; `candela` -> `candle`), names
/// equal up to case (`mv` -> `mV`), and the nearest names by edit distance
/// (`siemen` -> `siemens`, `sceond` -> `second`), everyday names first and
/// exotic ones (`Eohm`, `dasecond`, `volt3`) only when nothing else is close.
pub fn similar_unit_names(name: &str) -> Vec<&'static str> {
    let (mut out, fuzzy) = candidates(name);
    for n in fuzzy {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.truncate(MAX_SUGGESTIONS);
    out
}

/// (confident matches: translations and case variants; fuzzy matches).
pub(crate) fn candidates(name: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let t = table();
    let mut confident: Vec<&'static str> = Vec::new();
    let push = |out: &mut Vec<&'static str>, s: &str| {
        if let Some((&k, _)) = t.by_name.get_key_value(s) {
            if k != name && !out.contains(&k) {
                out.push(k);
            }
        }
    };

    // 1. Prefix + symbol, spelled-out prefixes, and plurals.
    let mut translated: Vec<String> = Vec::new();
    let unmicro = name.replace(['μ', 'µ'], "u");
    for (prefix, _) in PREFIXES.iter().copied().chain([("", 1.0)]) {
        if let Some(rest) = unmicro.strip_prefix(prefix) {
            for (sym, long) in SYMBOLS {
                if rest == sym {
                    translated.push(format!("{prefix}{long}"));
                }
            }
        }
    }
    let mut spelled = unmicro.clone();
    for (word, prefix) in PREFIX_WORDS {
        if let Some(rest) = unmicro.strip_prefix(word) {
            spelled = format!("{prefix}{rest}");
            translated.push(spelled.clone());
        }
    }
    for base in [&unmicro, &spelled] {
        if let Some(singular) = base.strip_suffix('s') {
            translated.push(singular.to_string());
        }
    }
    for long in &translated {
        for (short, l) in SHORTCUTS {
            if l == long {
                push(&mut confident, short);
            }
        }
        push(&mut confident, long);
    }

    // 2. Same name up to case.
    let lower = name.to_lowercase();
    for &n in &t.names {
        if n.to_lowercase() == lower {
            push(&mut confident, n);
        }
    }

    // 3. The nearest names by edit distance, within a limit that grows with
    // the length of the name.
    let chars: Vec<char> = name.chars().collect();
    let limit = match chars.len() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let mut close: Vec<(u8, usize, usize, &'static str)> = t
        .names
        .iter()
        .filter_map(|&n| {
            let nc: Vec<char> = n.chars().collect();
            if nc.len().abs_diff(chars.len()) > limit {
                return None;
            }
            // Optimal string alignment: Levenshtein plus adjacent swaps,
            // so `sceond` is one edit from `second`.
            let d = strsim::osa_distance(name, n);
            (d <= limit).then(|| (rarity(n, name), d, nc.len().abs_diff(chars.len()), n))
        })
        .collect();
    close.sort();
    // Exotic names only if there is nothing ordinary.
    let least_rare = close.first().map_or(0, |c| c.0);
    let mut fuzzy = Vec::new();
    for (_, _, _, n) in close.into_iter().filter(|c| c.0 == least_rare) {
        push(&mut fuzzy, n);
    }
    (confident, fuzzy)
}

/// 0 for everyday names (shortcuts, unprefixed units), 1 for the usual
/// prefixes p n u m k M G, 2 for the rest (rare prefixes, and powered names
/// unless the query itself ends in a digit).
fn rarity(name: &str, query: &str) -> u8 {
    let Some(e) = table().by_name.get(name) else {
        return 2;
    };
    if e.power > 1 && !query.ends_with(|c: char| c.is_ascii_digit()) {
        return 2;
    }
    if is_everyday(name) {
        return 0;
    }
    let prefix = name.strip_suffix(['2', '3']).unwrap_or(name);
    let prefix = prefix.strip_suffix(e.stem).unwrap_or("");
    if ["p", "n", "u", "m", "k", "M", "G"].contains(&prefix) {
        1
    } else {
        2
    }
}

/// Shortcuts and unprefixed names: what users usually mean.
fn is_everyday(name: &str) -> bool {
    SHORTCUTS.iter().any(|(s, _)| *s == name)
        || table()
            .by_name
            .get(name)
            .is_some_and(|e| name.strip_suffix(['2', '3']).unwrap_or(name) == e.stem)
}
