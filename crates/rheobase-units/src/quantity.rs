//! Values with units.

use std::fmt;

use crate::Dimension;

/// A value in SI base units with its dimension: `-65*mV` is
/// `Quantity { value: -0.065, dim: Dimension::VOLT }`. Like Brian2's state,
/// values are always stored unscaled; the prefix only exists in the source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity {
    /// Magnitude in SI base units.
    pub value: f64,
    /// Physical dimension.
    pub dim: Dimension,
}

impl Quantity {
    /// A quantity from its SI value and dimension.
    pub const fn new(value: f64, dim: Dimension) -> Quantity {
        Quantity { value, dim }
    }

    /// A pure number.
    pub const fn dimensionless(value: f64) -> Quantity {
        Quantity {
            value,
            dim: Dimension::DIMENSIONLESS,
        }
    }

    /// `self**p`.
    pub fn powf(self, p: f64) -> Quantity {
        Quantity::new(self.value.powf(p), self.dim.powf(p))
    }

    /// `sqrt(self)`.
    pub fn sqrt(self) -> Quantity {
        Quantity::new(self.value.sqrt(), self.dim.sqrt())
    }
}

impl std::ops::Mul for Quantity {
    type Output = Quantity;
    fn mul(self, o: Quantity) -> Quantity {
        Quantity::new(self.value * o.value, self.dim.mul(o.dim))
    }
}

impl std::ops::Div for Quantity {
    type Output = Quantity;
    fn div(self, o: Quantity) -> Quantity {
        Quantity::new(self.value / o.value, self.dim.div(o.dim))
    }
}

impl std::ops::Mul<f64> for Quantity {
    type Output = Quantity;
    fn mul(self, o: f64) -> Quantity {
        Quantity::new(self.value * o, self.dim)
    }
}

impl std::ops::Neg for Quantity {
    type Output = Quantity;
    fn neg(self) -> Quantity {
        Quantity::new(-self.value, self.dim)
    }
}

/// `0.001 volt`, `2.5 siemens/metre**2`, or just the number when
/// dimensionless. Values print in SI base units (no prefix picking).
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dim.is_dimensionless() {
            write!(f, "{}", crate::fmt_number(self.value))
        } else {
            write!(f, "{} {}", crate::fmt_number(self.value), self.dim)
        }
    }
}
