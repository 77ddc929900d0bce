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

/// At most this many suggestions: a hint, not a listing.
const MAX_SUGGESTIONS: usize = 5;

/// Names that are close to `name` among all unit names (for "did you mean"
/// hints), best first, at most five, never `name` itself.
///
/// Three sources, in this order: `name` read as a prefixed SI symbol or a
/// plural (`uV` -> `uvolt`, `msec` -> `ms`, `msecond`; `volts` -> `volt`;
/// `candela` -> `candle`), names equal up to case (`mv` -> `mV`), and names
/// within a small edit distance (`siemen` -> `siemens`, `umeter` ->
/// `umetre`), preferring the everyday names (shortcuts and unprefixed units).
pub fn similar_unit_names(name: &str) -> Vec<&'static str> {
    let t = table();
    let mut out: Vec<&'static str> = Vec::new();
    let push = |out: &mut Vec<&'static str>, s: &str| {
        if let Some((&k, _)) = t.by_name.get_key_value(s) {
            if k != name && !out.contains(&k) {
                out.push(k);
            }
        }
    };

    // 1. Prefix + symbol, and plurals.
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
    if let Some(singular) = name.strip_suffix('s') {
        translated.push(singular.to_string());
    }
    for long in &translated {
        for (short, l) in SHORTCUTS {
            if l == long {
                push(&mut out, short);
            }
        }
        push(&mut out, long);
    }

    // 2. Same name up to case.
    let lower = name.to_lowercase();
    for &n in &t.names {
        if n.to_lowercase() == lower {
            push(&mut out, n);
        }
    }

    // 3. Small edit distance.
    let chars: Vec<char> = name.chars().collect();
    let limit = match chars.len() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let mut close: Vec<(usize, bool, usize, &'static str)> = t
        .names
        .iter()
        .filter_map(|&n| {
            let nc: Vec<char> = n.chars().collect();
            if nc.len().abs_diff(chars.len()) > limit {
                return None;
            }
            let d = edit_distance(&chars, &nc);
            (d <= limit).then(|| (d, !is_everyday(n), nc.len().abs_diff(chars.len()), n))
        })
        .collect();
    close.sort();
    for (_, _, _, n) in close {
        push(&mut out, n);
    }

    out.truncate(MAX_SUGGESTIONS);
    out
}

/// Shortcuts and unprefixed, unpowered names: what users usually mean.
fn is_everyday(name: &str) -> bool {
    SHORTCUTS.iter().any(|(s, _)| *s == name)
        || table()
            .by_name
            .get(name)
            .is_some_and(|e| e.stem == name && e.power == 1)
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps, so
/// `sceond` is one edit from `second`).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=m {
        d[0][j] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}
