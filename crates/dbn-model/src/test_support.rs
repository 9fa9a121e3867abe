//! The helpers every test module of the crate shares: the models of [`crate::conformance`] on
//! the unit tests' backend, and the check that a config names its bad field.

use burn::backend::NdArray;
use burn::prelude::*;

use crate::conformance;
pub use crate::conformance::assert_close;
use crate::dbn::Dbn;
use crate::error::ModelError;
use crate::rbm::Rbm;

/// The backend of the crate's unit tests.
pub type B = NdArray;

/// [`conformance::tutorial_rbm1`] on [`B`].
pub fn tutorial_rbm1() -> Rbm<B> {
    conformance::tutorial_rbm1(&Default::default())
}

/// [`conformance::tutorial_rbm2`] on [`B`].
pub fn tutorial_rbm2() -> Rbm<B> {
    conformance::tutorial_rbm2(&Default::default())
}

/// [`conformance::tutorial_dbn`] on [`B`].
pub fn tutorial_dbn() -> Dbn<B> {
    conformance::tutorial_dbn(&Default::default())
}

/// [`conformance::row`] on [`B`].
pub fn row(values: &[f32]) -> Tensor<B, 2> {
    conformance::row(values, &Default::default())
}

/// [`conformance::random_rbm`] on [`B`].
pub fn random_rbm(n_visible: usize, n_hidden: usize, scale: f64, seed: u64) -> Rbm<B> {
    conformance::random_rbm(n_visible, n_hidden, scale, seed, &Default::default())
}

/// [`conformance::all_states`] on [`B`].
pub fn all_states(n: usize) -> Tensor<B, 2> {
    conformance::all_states(n, &Default::default())
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
