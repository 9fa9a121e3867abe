//! What a generative stack does with data: recognise it (the features of the top RBM), generate
//! from it, and classify it by the top RBM's label units. [`Generative`] is implemented by the
//! greedily pretrained [`Dbn`], whose recognition weights are its generative weights transposed,
//! and by the up-down fine-tuned [`crate::UpDownDbn`], whose recognition weights are its own.
//!
//! ```text
//! recognise:     v -> P(h(L-1) | v)                 the up pass (the recognition weights)
//! classify:      argmin_k F_top([P(h(L-1) | v), one-hot k])
//! generate:      the top RBM's chains from a sample of the recognised features, then down
//! ```

use burn::prelude::*;

use crate::dbn::{Dbn, Generated};
use crate::error::ModelError;
use crate::kernels::bernoulli;

/// A generative stack: its generative part (the top RBM and the top-down weights, a [`Dbn`])
/// and a way to recognise data (the up pass to the top RBM's feature units).
pub trait Generative<B: Backend> {
    /// The generative model: the top RBM and, below it, the top-down weights and visible
    /// biases ([`Dbn::down_step`]). Generation from noise is its own ([`Dbn::generate`],
    /// [`Dbn::generate_class`]).
    fn generator(&self) -> &Dbn<B>;

    /// `P(h(layer) | v)`: the mean-field up pass through the first `layer` RBMs (0: the data
    /// itself) by the stack's recognition weights; at the top RBM's hidden layer, with its
    /// label units (if any) off.
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n, sizes[layer]]`
    ///
    /// # Panics
    /// When `layer` is above the top RBM's hidden layer.
    fn features(&self, v: Tensor<B, 2>, layer: usize) -> Tensor<B, 2>;

    /// `P(h(L-1) | v)`: the top RBM's feature units given the data, by the up pass.
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n, sizes[L - 1]]`
    fn recognise(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        self.features(v, self.generator().rbms.len() - 1)
    }

    /// A sample of the recognised features: where generation from data starts (for a one-RBM
    /// stack, a sample of the data's own units, Gaussian or binary).
    ///
    /// # Shapes
    /// data `[n, n_visible]` -> `[n, sizes[L - 1]]`
    fn start_from_data(&self, data: Tensor<B, 2>) -> Tensor<B, 2> {
        let features = self.recognise(data);
        let generator = self.generator();
        match generator.rbms.len() {
            1 => generator.rbms[0].sample_features(features),
            _ => bernoulli(features),
        }
    }

    /// Generates from the recognised `data`: the chains start at a sample of
    /// `P(h(L-1) | data)`, so the samples resemble the given examples more or less as
    /// `gibbs_steps` grows.
    ///
    /// # Shapes
    /// data `[n, n_visible]` -> probs, samples `[n, n_visible]`
    fn generate_from_data(&self, data: Tensor<B, 2>, gibbs_steps: usize) -> Generated<B> {
        let start = self.start_from_data(data);
        self.generator().generate_from_features(start, gibbs_steps)
    }

    /// [`Dbn::generate_class_from`] with the chains started at a sample of `P(h(L-1) | data)`
    /// (row `i` of `data` starts the chain of `labels[i]`).
    ///
    /// # Shapes
    /// data `[n, n_visible]`, labels `[n]` -> probs, samples `[n, n_visible]`
    ///
    /// # Errors
    /// As [`Dbn::generate_class_from`].
    fn generate_class_from_data(
        &self,
        data: Tensor<B, 2>,
        labels: &[usize],
        gibbs_steps: usize,
    ) -> Result<Generated<B>, ModelError> {
        let start = self.start_from_data(data);
        self.generator()
            .generate_class_from(start, labels, gibbs_steps)
    }

    /// Label-free energies of `v`'s features: for each class `k`, the top RBM's free energy of
    /// `[P(h(L-1) | v), one-hot k]`. The lowest is the generative classification
    /// ([`Generative::classify_generatively`]).
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n, labels]`
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack without label units.
    fn label_free_energies(&self, v: Tensor<B, 2>) -> Result<Tensor<B, 2>, ModelError> {
        self.generator().required_labels()?;
        Ok(self
            .generator()
            .top()
            .label_free_energies(self.recognise(v)))
    }

    /// The class whose label, clamped beside `P(h(L-1) | v)`, gives the top RBM the lowest free
    /// energy: classification by the generative model alone, no backprop.
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n]`
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack without label units.
    fn classify_generatively(&self, v: Tensor<B, 2>) -> Result<Tensor<B, 1, Int>, ModelError> {
        Ok(self.label_free_energies(v)?.argmin(1).squeeze_dim(1))
    }
}

/// The pretrained stack recognises with its own weights: `P(h(l) | h(l-1))` of each RBM below
/// the top.
impl<B: Backend> Generative<B> for Dbn<B> {
    fn generator(&self) -> &Dbn<B> {
        self
    }

    fn features(&self, v: Tensor<B, 2>, layer: usize) -> Tensor<B, 2> {
        assert!(layer <= self.rbms.len(), "layer {layer} above the top");
        self.up(v, layer)
    }
}
