//! Dimension arithmetic, in particular exact equality after fractional powers.

use rheobase_units::{Dimension, Quantity};

#[test]
fn fractional_powers_are_exact() {
    let s = Dimension::SECOND;
    assert_eq!(s.sqrt().powf(2.0), s);
    assert_eq!(s.powf(-0.5).mul(s.powf(-0.5)), s.recip());
    assert_eq!(s.powf(1.0 / 3.0).powf(3.0), s);
    assert_eq!(s.powf(0.1).powf(10.0), s);
    assert_eq!(
        Dimension::VOLT.powf(1.5).div(Dimension::VOLT.sqrt()),
        Dimension::VOLT
    );
    assert!(s.powf(0.5).powf(2.0).div(s).is_dimensionless());
    assert_eq!(Dimension::VOLT.powf(0.0), Dimension::DIMENSIONLESS);
}

#[test]
fn base_and_derived_agree() {
    for (i, d) in [
        Dimension::METRE,
        Dimension::KILOGRAM,
        Dimension::SECOND,
        Dimension::AMP,
        Dimension::KELVIN,
        Dimension::MOLE,
        Dimension::CANDELA,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(Dimension::base(i), d);
    }
    assert_eq!(Dimension::VOLT, Dimension::WATT / Dimension::AMP);
    assert_eq!(Dimension::OHM, Dimension::VOLT / Dimension::AMP);
    assert_eq!(Dimension::SIEMENS, Dimension::OHM.recip());
    assert_eq!(Dimension::FARAD, Dimension::COULOMB / Dimension::VOLT);
    assert_eq!(Dimension::HERTZ, Dimension::SECOND.recip());
    assert_eq!(Dimension::JOULE, Dimension::NEWTON * Dimension::METRE);
    assert_eq!(Dimension::WEBER, Dimension::VOLT * Dimension::SECOND);
    assert_eq!(
        Dimension::TESLA,
        Dimension::WEBER / Dimension::METRE.powf(2.0)
    );
    assert_eq!(Dimension::HENRY, Dimension::WEBER / Dimension::AMP);
    assert_eq!(
        Dimension::PASCAL,
        Dimension::NEWTON / Dimension::METRE.powf(2.0)
    );
    assert_eq!(Dimension::KATAL, Dimension::MOLE / Dimension::SECOND);
    assert_eq!(Dimension::MOLAR, Dimension::MOLE / Dimension::VOLUME);
    assert_eq!(Dimension::default(), Dimension::DIMENSIONLESS);
}

#[test]
#[should_panic]
fn base_index_out_of_range() {
    let _ = Dimension::base(7);
}

#[test]
fn quantities() {
    let mv = Quantity::new(1e-3, Dimension::VOLT);
    let ns = Quantity::new(1e-9, Dimension::SIEMENS);
    let i = mv * ns;
    assert_eq!(i.dim, Dimension::AMP);
    assert!((i.value - 1e-12).abs() < 1e-24);
    assert_eq!((mv / mv).dim, Dimension::DIMENSIONLESS);
    assert_eq!((-(mv * 65.0)).value, -0.065);
    assert_eq!(
        Quantity::new(4.0, Dimension::SECOND).sqrt().dim.to_string(),
        "second**0.5"
    );
    assert_eq!(Quantity::new(0.5, Dimension::VOLT).to_string(), "0.5 volt");
    assert_eq!(Quantity::dimensionless(2.0).to_string(), "2");
    assert_eq!(
        Quantity::new(1e-9, Dimension::SIEMENS).to_string(),
        "1e-9 siemens"
    );
}
