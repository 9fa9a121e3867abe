//! The helpers every test module of the crate shares: the tutorial's worked models, small
//! random RBMs, every binary state of a few units, comparisons with a tolerance, and the check
//! that a config names its bad field.

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::dbn::Dbn;
use crate::error::ModelError;
use crate::rbm::{Rbm, RbmConfig, VisibleUnits};

/// The backend of the crate's unit tests.
pub type B = NdArray;

/// The tutorial's layer-1 RBM (Example 1): 4 visible, 3 hidden, zero visible biases
/// (Example 3 takes them as zero).
pub fn tutorial_rbm1() -> Rbm<B> {
    let device = Default::default();
    let w = Tensor::from_floats(
        [
            [0.3, -0.1, 0.5],
            [0.2, 0.4, -0.3],
            [-0.1, 0.6, 0.2],
            [0.4, -0.2, 0.1],
        ],
        &device,
    );
    let b = Tensor::from_floats([-0.1, 0.2, 0.1], &device);
    Rbm::new(w, Tensor::zeros([4], &device), b, VisibleUnits::Bernoulli).unwrap()
}

/// The tutorial's layer-2 RBM: 3 visible, 2 hidden; visible biases equal to b1, as
/// Example 3's top-down pass takes them.
pub fn tutorial_rbm2() -> Rbm<B> {
    let device = Default::default();
    let w = Tensor::from_floats([[0.5, -0.3], [0.2, 0.7], [-0.4, 0.1]], &device);
    let a = Tensor::from_floats([-0.1, 0.2, 0.1], &device);
    let b = Tensor::from_floats([0.1, -0.2], &device);
    Rbm::new(w, a, b, VisibleUnits::Bernoulli).unwrap()
}

/// One example, `[1, values.len()]`.
pub fn row(values: &[f32]) -> Tensor<B, 2> {
    Tensor::<B, 1>::from_floats(values, &Default::default()).unsqueeze()
}

/// Asserts that `actual` and `expected` agree element by element within `tol`.
pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tol,
            "{actual:?} vs {expected:?} (tolerance {tol})"
        );
    }
}

/// A small RBM with random weights of a useful size, seeded.
pub fn random_rbm(n_visible: usize, n_hidden: usize, scale: f64, seed: u64) -> Rbm<B> {
    let device = Default::default();
    B::seed(&device, seed);
    let rbm = RbmConfig::new(n_visible, n_hidden)
        .with_init_std(scale)
        .init::<B>(&device);
    let a = Tensor::random([n_visible], Distribution::Normal(0.0, scale), &device);
    let b = Tensor::random([n_hidden], Distribution::Normal(0.0, scale), &device);
    Rbm {
        visible_bias: rbm.visible_bias.map(|_| a),
        hidden_bias: rbm.hidden_bias.map(|_| b),
        ..rbm
    }
}

/// All 2^n binary vectors, `[2^n, n]`, bit j of row i is unit j.
pub fn all_states(n: usize) -> Tensor<B, 2> {
    let values: Vec<f32> = (0..1usize << n)
        .flat_map(|i| (0..n).map(move |j| ((i >> j) & 1) as f32))
        .collect();
    Tensor::from_data(TensorData::new(values, [1 << n, n]), &Default::default())
}

/// The tutorial's two-layer DBN (Examples 1 and 3).
pub fn tutorial_dbn() -> Dbn<B> {
    Dbn::new(vec![tutorial_rbm1(), tutorial_rbm2()]).unwrap()
}

/// Asserts that `validate` refuses each config of `cases` with an error naming the field
/// given beside it (its path, for nested settings).
pub fn assert_names_fields<C>(
    cases: impl IntoIterator<Item = (C, &'static str)>,
    validate: impl Fn(&C) -> Result<(), ModelError>,
) {
    for (config, field) in cases {
        let err = validate(&config).expect_err(field);
        assert!(
            matches!(&err, ModelError::InvalidConfig { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
}
