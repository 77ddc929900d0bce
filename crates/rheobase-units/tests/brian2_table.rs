//! Compares the unit table with one exported from Brian2 itself
//! (`data/brian2_units.tsv`, made by `data/gen_brian2_units.py`): the same
//! names, the same values (relative 1e-12), the same dimensions (exact), and
//! the same verdict for each name as the unit after `:` in an equation.

use std::collections::HashSet;

use rheobase_units::{all_unit_names, declaration_unit, lookup_unit, parse_declaration, Dimension};

struct Row {
    name: String,
    value: f64,
    dim: Dimension,
    /// `base`, `hint:<Brian2's suggestion>` or `unknown` (Brian2 does not
    /// have the name in its equation namespace).
    declaration: String,
}

fn rows() -> Vec<Row> {
    include_str!("data/brian2_units.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 11, "bad row: {l}");
            let mut exps = [0.0; 7];
            for (i, e) in exps.iter_mut().enumerate() {
                *e = f[2 + i].parse().unwrap();
            }
            Row {
                name: f[0].to_string(),
                value: f[1].parse().unwrap(),
                dim: Dimension::from_exponents(exps),
                declaration: f[9].to_string(),
            }
        })
        .collect()
}

#[test]
fn same_names_as_brian2() {
    let ours: HashSet<&str> = all_unit_names().iter().copied().collect();
    let rows = rows();
    let theirs: HashSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(missing.is_empty(), "Brian2 names we lack: {missing:?}");
    assert!(extra.is_empty(), "names Brian2 does not have: {extra:?}");
    assert!(rows.len() > 2000);
}

#[test]
fn same_values_and_dimensions_as_brian2() {
    for r in rows() {
        let q = lookup_unit(&r.name).unwrap_or_else(|| panic!("{} missing", r.name));
        let rel = ((q.value - r.value) / r.value).abs();
        assert!(
            rel <= 1e-12,
            "{}: {} vs Brian2 {}",
            r.name,
            q.value,
            r.value
        );
        assert_eq!(
            q.dim, r.dim,
            "{}: dimension {} vs Brian2 {}",
            r.name, q.dim, r.dim
        );
    }
}

#[test]
fn same_declaration_verdicts_as_brian2() {
    for r in rows() {
        let got = declaration_unit(&r.name);
        if r.declaration == "base" {
            assert_eq!(got, Ok(r.dim), "{} is a base unit in Brian2", r.name);
            continue;
        }
        let msg = got.expect_err(&format!("Brian2 rejects `{}` after `:`", r.name));
        // Every rejection names a replacement, and the replacement is itself a
        // valid declaration of the same dimension.
        let hint = msg
            .rsplit("use `")
            .next()
            .and_then(|s| s.strip_suffix('`'))
            .unwrap_or_else(|| panic!("no hint in: {msg}"));
        assert_eq!(
            parse_declaration(hint),
            Ok(r.dim),
            "hint `{hint}` for `{}` has the wrong dimension ({msg})",
            r.name
        );
        // Where Brian2 suggests a single name, so do we. (Not always the same
        // one: we keep the user's own spelling when it is allowed, `ampere`
        // for `mampere`, `lumen` for `mlumen`, where Brian2 says `amp`,
        // `candle`.)
        if let Some(b) = r.declaration.strip_prefix("hint:") {
            if !b.contains(' ') {
                assert!(
                    hint.chars().all(char::is_alphanumeric),
                    "`{}`: Brian2 says `{b}`, we say: {msg}",
                    r.name
                );
            }
        }
    }
}
