//! Per-feature standardisation of real-valued data, for Gaussian visible units.
//!
//! A Gaussian-visible RBM models `v | h ~ N(a + W h, 1)`: unit variance per feature, which the
//! data only has once each feature is centred and scaled (Hinton 2010, *A Practical Guide to
//! Training RBMs*, §13.2). The mean and scale are fitted on the training examples alone and
//! stored with the model, so that new inputs are standardised exactly as the training data was.

use serde::{Deserialize, Serialize};

use crate::dataset::ExampleSet;
use burn::data::dataset::Dataset;

/// The brightest 8-bit grey level.
pub const GREY_MAX: f32 = 255.0;

/// The lowest and highest of some values, and whether all are whole numbers: what tells data
/// in [0, 1] and 8-bit grey levels from other data, gathered in one pass ([`ValueRange::of`]).
/// Of no values, `lo` is +∞ and `hi` −∞: they lie in [0, 1] and are no grey levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    /// The lowest value.
    pub lo: f32,
    /// The highest value.
    pub hi: f32,
    /// Whether every value is a whole number.
    pub whole: bool,
}

impl ValueRange {
    /// The range of `values`.
    pub fn of(values: impl IntoIterator<Item = f32>) -> Self {
        let empty = Self {
            lo: f32::INFINITY,
            hi: f32::NEG_INFINITY,
            whole: true,
        };
        values.into_iter().fold(empty, |range, x| Self {
            lo: range.lo.min(x),
            hi: range.hi.max(x),
            whole: range.whole && x.fract() == 0.0,
        })
    }

    /// `(lo, hi)`; `None` for no values.
    pub fn bounds(&self) -> Option<(f32, f32)> {
        (self.lo <= self.hi).then_some((self.lo, self.hi))
    }

    /// Whether every value lies in [0, 1], as probabilities and grey levels divided by 255 do.
    pub fn in_unit_interval(&self) -> bool {
        self.lo >= 0.0 && self.hi <= 1.0
    }

    /// Whether the values are 8-bit grey levels written as numbers (a CSV file of pixels, such
    /// as the MNIST CSV files): every value a whole number from 0 to [`GREY_MAX`], the largest
    /// above half of it, as an 8-bit picture's brightest pixels are. Whole numbers below that
    /// (scikit-learn's digits of 0 to 16, counts) are not told from other data.
    pub fn grey_levels(&self) -> bool {
        self.whole && self.lo >= 0.0 && self.hi <= GREY_MAX && self.hi > GREY_MAX / 2.0
    }
}

/// `x ↦ (x - mean) / scale`, feature by feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// Each feature's mean over the training examples, `[width]`.
    pub mean: Vec<f32>,
    /// Each feature's standard deviation over the training examples, `[width]`; 1 for a
    /// feature that is constant there (it then stays constant, centred at 0).
    pub scale: Vec<f32>,
}

impl Standardization {
    /// The mean and (population) standard deviation of each feature of `set`, accumulated in
    /// `f64`.
    pub fn fit(set: &ExampleSet) -> Self {
        let width = set.width();
        let n = set.len().max(1) as f64;
        let mut sum = vec![0f64; width];
        let mut sum_sq = vec![0f64; width];
        for row in (0..set.len()).filter_map(|i| set.features(i)) {
            for ((s, q), &x) in sum.iter_mut().zip(&mut sum_sq).zip(&row) {
                *s += f64::from(x);
                *q += f64::from(x) * f64::from(x);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let scale = sum_sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let sd = (q / n - m * m).max(0.0).sqrt();
                // A constant feature has no scale to divide by; the rounding of the f64 sums
                // leaves one an sd near 1e-8 of its mean, far below any real spread of f32
                // data (whose own rounding is 6e-8 of the value).
                if sd > (1e-7 * m.abs()).max(1e-12) {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale,
        }
    }

    /// Grey levels 0 to [`GREY_MAX`] divided by [`GREY_MAX`] into [0, 1], as an IDX file's
    /// pixels are read, for `width` features: the scaling of a table of pixels written as
    /// numbers ([`ValueRange::grey_levels`]) for Bernoulli visible units.
    pub fn grey_levels(width: usize) -> Self {
        Self {
            mean: vec![0.0; width],
            scale: vec![GREY_MAX; width],
        }
    }

    /// Whether this is the scaling of grey levels ([`Standardization::grey_levels`]) rather
    /// than one fitted to the data.
    pub fn is_grey_levels(&self) -> bool {
        *self == Self::grey_levels(self.width())
    }

    /// Features standardised.
    pub fn width(&self) -> usize {
        self.mean.len()
    }

    /// The same standardisation of values read divided by 255 (`x / 255` in place of `x`):
    /// the mean and scale divided by 255, so that `(x / 255 − mean / 255) / (scale / 255)` is
    /// `(x − mean) / scale`.
    pub fn of_divided(&self) -> Self {
        let divided = |v: &Vec<f32>| v.iter().map(|x| x / GREY_MAX).collect();
        Self {
            mean: divided(&self.mean),
            scale: divided(&self.scale),
        }
    }

    /// Undoes [`apply`](Self::apply) on one example in place: `x ↦ x · scale + mean`.
    ///
    /// # Shapes
    /// row `[width]`
    pub fn invert(&self, row: &mut [f32]) {
        for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
            *x = *x * s + m;
        }
    }

    /// Standardises one example in place.
    ///
    /// # Shapes
    /// row `[width]`
    pub fn apply(&self, row: &mut [f32]) {
        for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
            *x = (*x - m) / s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    fn set(values: Vec<f32>, cols: usize) -> ExampleSet {
        let rows = values.len() / cols;
        ExampleSet::from_table(
            "t.csv",
            Table {
                rows,
                cols,
                values,
                labels: None,
                classes: Vec::new(),
                image: None,
                grey_levels: false,
                names: Vec::new(),
            },
        )
    }

    #[test]
    fn grey_levels_are_told_by_whole_numbers_reaching_past_127() {
        let empty = ValueRange::of([]);
        assert!(empty.in_unit_interval() && !empty.grey_levels());
        assert_eq!(empty.bounds(), None);
        assert!(ValueRange::of([0.0, 0.5, 1.0]).in_unit_interval());
        assert!(!ValueRange::of([0.0, 1.5]).in_unit_interval());
        assert!(!ValueRange::of([-0.5, 1.0]).in_unit_interval());
        let grey = |values: Vec<f32>| ValueRange::of(values).grey_levels();
        assert!(grey(vec![0.0, 255.0, 12.0, 128.0]));
        // Whole numbers below 128 (scikit-learn's digits, 0 to 16), fractions, negative values,
        // values past 255, or data in [0, 1] are not grey levels.
        assert!(!grey(vec![0.0, 16.0, 3.0, 127.0]));
        assert!(!grey(vec![0.0, 200.5, 3.0, 7.0]));
        assert!(!grey(vec![-1.0, 200.0, 3.0, 7.0]));
        assert!(!grey(vec![0.0, 256.0, 3.0, 7.0]));
        assert!(!grey(vec![0.0, 1.0, 1.0, 0.0]));
        // Divided by 255 into [0, 1], and told from a fitted standardisation.
        let data = set(vec![0.0, 255.0, 51.0, 128.0], 2);
        let scaling = Standardization::grey_levels(2);
        assert!(scaling.is_grey_levels());
        assert!(!Standardization::fit(&data).is_grey_levels());
        let scaled = data.standardized(&scaling);
        assert_eq!(scaled.features(0).unwrap(), [0.0, 1.0]);
        assert_eq!(scaled.features(1).unwrap(), [0.2, 128.0 / 255.0]);
        // Two features are no square picture; four are one of 2x2, as grey levels only.
        assert_eq!(scaled.image_shape(), None);
        let square = set(vec![0.0, 255.0, 51.0, 128.0], 4);
        let scaled = square.standardized(&Standardization::grey_levels(4));
        assert_eq!(scaled.image_shape(), Some([2, 2]));
        let fitted = square.standardized(&Standardization::fit(&square));
        assert_eq!(fitted.image_shape(), None);
        // Values in [0, 1] (IDX images, `uint8` arrays, divided as they are read) are kept.
        let unit = set(vec![0.0, 1.0, 0.2, 0.5], 2).standardized(&scaling);
        assert_eq!(unit.features(1).unwrap(), [0.2, 0.5]);
    }

    #[test]
    fn standardised_features_have_mean_zero_and_unit_variance() {
        // Feature 0: 1, 2, 3, 6 (mean 3, variance 3.5); feature 1 constant 5.
        let data = set(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 6.0, 5.0], 2);
        let s = Standardization::fit(&data);
        assert_eq!(s.mean, [3.0, 5.0]);
        assert!((s.scale[0] - 3.5f32.sqrt()).abs() < 1e-6, "{:?}", s.scale);
        assert_eq!(s.scale[1], 1.0, "a constant feature keeps its scale");
        let standardized = data.standardized(&s);
        let column: Vec<f32> = (0..4)
            .map(|i| standardized.features(i).unwrap()[0])
            .collect();
        let mean = column.iter().sum::<f32>() / 4.0;
        let var = column.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
        assert_eq!(standardized.features(2).unwrap()[1], 0.0);
        let mut new = [6.0, 5.0];
        s.apply(&mut new);
        assert_eq!(new, [3.0 / 3.5f32.sqrt(), 0.0]);
        // Inverted back to the data's units.
        s.invert(&mut new);
        assert!((new[0] - 6.0).abs() < 1e-6 && new[1] == 5.0, "{new:?}");
        // Of the same values read divided by 255: the same standardised values.
        let mut divided = [6.0 / 255.0, 5.0 / 255.0];
        s.of_divided().apply(&mut divided);
        assert!((divided[0] - 3.0 / 3.5f32.sqrt()).abs() < 1e-5 && divided[1].abs() < 1e-6);
    }

    #[test]
    fn a_large_feature_with_a_real_spread_is_scaled() {
        // Mean 1e9, standard deviation 512: not a constant.
        let data = set(vec![1e9 - 512.0, 1e9 + 512.0], 1);
        let s = Standardization::fit(&data);
        assert!((s.scale[0] - 512.0).abs() < 1.0, "{:?}", s.scale);
        assert_eq!(Standardization::fit(&set(vec![1e9; 3], 1)).scale, [1.0]);
    }

    #[test]
    fn the_fit_is_of_the_view_alone() {
        let data = set(vec![0.0, 10.0, 20.0, 1000.0], 1);
        let s = Standardization::fit(&data.clone().take(3));
        assert_eq!(s.mean, [10.0]);
        // The standardised copy keeps the view's positions.
        let view = data.take(2).standardized(&s);
        assert_eq!(view.len(), 2);
        assert!((view.features(1).unwrap()[0]).abs() < 1e-6);
    }
}
