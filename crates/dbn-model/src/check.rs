//! The range checks of every setting, in one place: the configs' `validate` and the command
//! line's flag parsers both call these, so that a flag and the setting it sets cannot disagree
//! on what is valid.

use crate::error::ModelError;

/// The numbers a real-valued setting may take. Every range also refuses NaN and infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// (0, ∞): a learning rate.
    Positive,
    /// [0, ∞): a weight decay, a cost, a tolerance.
    NonNegative,
    /// (0, 1]: a factor applied once per epoch (1 keeps the value constant).
    Factor,
    /// [0, 1): a momentum, a dropout probability, the decay of a running mean.
    Fraction,
    /// (0, 1): a target probability.
    OpenUnit,
}

impl Range {
    /// Whether `x` lies in the range.
    pub fn contains(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::Positive => x > 0.0,
                Range::NonNegative => x >= 0.0,
                Range::Factor => x > 0.0 && x <= 1.0,
                Range::Fraction => (0.0..1.0).contains(&x),
                Range::OpenUnit => x > 0.0 && x < 1.0,
            }
    }

    /// What a value in the range is, as an error message says it.
    pub fn requirement(self) -> &'static str {
        match self {
            Range::Positive => "must be positive",
            Range::NonNegative => "must be >= 0",
            Range::Factor => "must lie in (0, 1]",
            Range::Fraction => "must lie in [0, 1)",
            Range::OpenUnit => "must lie in (0, 1)",
        }
    }

    /// Checks `value` of the setting `field`.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming `field` when `value` lies outside the range.
    pub fn check(self, field: &str, value: f64) -> Result<(), ModelError> {
        match self.contains(value) {
            true => Ok(()),
            false => Err(ModelError::invalid(field, value, self.requirement())),
        }
    }

    /// A flag's text as a number in the range (for a command line's value parser).
    ///
    /// # Errors
    /// The requirement, for text that is not a number or a number outside the range.
    pub fn parse(self, text: &str) -> Result<f64, String> {
        match text.parse::<f64>() {
            Ok(x) if self.contains(x) => Ok(x),
            _ => Err(format!("{} (a number)", self.requirement())),
        }
    }
}

/// What a count that must be at least one says when it is not.
pub const AT_LEAST_ONE: &str = "must be at least 1";

/// Checks that the count `value` of the setting `field` is at least 1.
///
/// # Errors
/// [`ModelError::InvalidConfig`] naming `field` for 0.
pub fn at_least_one(field: &str, value: usize) -> Result<(), ModelError> {
    match value {
        0 => Err(ModelError::invalid(field, 0, AT_LEAST_ONE)),
        _ => Ok(()),
    }
}

/// A flag's text as a count of at least 1 (for a command line's value parser).
///
/// # Errors
/// The requirement, for text that is not a whole number or is 0.
pub fn parse_at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{AT_LEAST_ONE} (a whole number)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_holds_its_ends_as_documented() {
        use Range::*;
        let cases = [
            (Positive, [(0.0, false), (1e-12, true), (1e12, true)]),
            (NonNegative, [(0.0, true), (-1e-12, false), (5.0, true)]),
            (Factor, [(0.0, false), (1.0, true), (1.0 + 1e-12, false)]),
            (Fraction, [(0.0, true), (1.0, false), (-1e-12, false)]),
            (OpenUnit, [(0.0, false), (0.5, true), (1.0, false)]),
        ];
        for (range, points) in cases {
            for (x, inside) in points {
                assert_eq!(range.contains(x), inside, "{range:?} at {x}");
            }
            for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                assert!(!range.contains(x), "{range:?} holds {x}");
            }
        }
    }

    #[test]
    fn a_value_outside_names_its_setting_and_a_flag_its_requirement() {
        let err = Range::Factor.check("optimizer.lr_decay", 1.5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting optimizer.lr_decay = 1.5: must lie in (0, 1]"
        );
        assert_eq!(Range::Positive.parse("0.1"), Ok(0.1));
        assert_eq!(
            Range::Positive.parse("-0.1"),
            Err("must be positive (a number)".into())
        );
        assert!(Range::Fraction.parse("x").is_err());
        assert!(at_least_one("epochs", 1).is_ok());
        assert_eq!(
            at_least_one("epochs", 0).unwrap_err().to_string(),
            "invalid setting epochs = 0: must be at least 1"
        );
        assert_eq!(parse_at_least_one("3"), Ok(3));
        assert!(parse_at_least_one("0").is_err() && parse_at_least_one("-1").is_err());
    }
}
