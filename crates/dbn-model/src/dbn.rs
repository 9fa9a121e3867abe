//! The Deep Belief Network: a stack of RBMs, the bottom one on the data, each above on the
//! hidden layer of the one below.
//!
//! Layers are numbered from the data: layer 0 is the visible layer `v`, layer `l` is `h(l)`,
//! and RBM `l` (1-based, `rbms[l - 1]`) connects `h(l-1)` with `h(l)`. Then
//!
//! ```text
//! up (encoding):  P(h(l) | h(l-1))   = σ(b_l + W_lᵀ h(l-1))          RBM l's hidden bias
//! down:           P(h(l-1) | h(l))   = σ(a_l + W_l h(l))             RBM l's visible bias
//! generation:     Gibbs sampling in the top RBM, then the down pass to v
//! ```
//!
//! The down pass to `h(l-1)` uses RBM `l`'s visible biases, learnt for that layer by RBM `l`
//! (the tutorial's Example 3 takes them equal to `b_(l-1)`).

use burn::prelude::*;

use crate::error::ModelError;
use crate::kernels::bernoulli;
use crate::rbm::{Rbm, RbmConfig, VisibleUnits};

/// Configuration of a [`Dbn`]: what the stack is (how it is pretrained is a
/// [`crate::PretrainConfig`]).
#[derive(Config, Debug)]
pub struct DbnConfig {
    /// Layer sizes from the data up: `[784, 500, 500, 2000]` is Hinton's MNIST stack (three
    /// RBMs).
    pub layers: Vec<usize>,
    /// Kind of the data's units (the bottom RBM's visible units); every layer above is binary.
    #[config(default = "VisibleUnits::Bernoulli")]
    pub visible: VisibleUnits,
    /// Standard deviation of the initial weights.
    #[config(default = 0.01)]
    pub init_std: f64,
}

impl DbnConfig {
    /// Number of RBMs in the stack.
    pub fn n_rbms(&self) -> usize {
        self.layers.len().saturating_sub(1)
    }

    /// The configuration of RBM `layer` (1-based).
    pub fn rbm_config(&self, layer: usize) -> RbmConfig {
        let visible = if layer == 1 {
            self.visible
        } else {
            VisibleUnits::Bernoulli
        };
        RbmConfig::new(self.layers[layer - 1], self.layers[layer])
            .with_visible(visible)
            .with_init_std(self.init_std)
    }

    /// Checks the layer sizes and the initial scale.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid =
            |field, reason| ModelError::invalid(field, format!("{:?}", self.layers), reason);
        if self.layers.len() < 2 {
            return Err(invalid(
                "layers",
                "at least two sizes (visible, hidden) are needed",
            ));
        }
        if self.layers.contains(&0) {
            return Err(invalid("layers", "every layer needs at least one unit"));
        }
        for layer in 1..=self.n_rbms() {
            self.rbm_config(layer).validate()?;
        }
        Ok(())
    }

    /// Checks that the data's width matches the visible layer.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for `layers` naming both sizes.
    pub fn check_data_width(&self, n_features: usize) -> Result<(), ModelError> {
        match self.layers.first() {
            Some(&n) if n == n_features => Ok(()),
            _ => Err(ModelError::invalid(
                "layers",
                format!("{:?} for data of {n_features} features", self.layers),
                "the first size must equal the number of features per example",
            )),
        }
    }

    /// A fresh stack, every RBM initialised by its [`RbmConfig`] from the backend's generator
    /// (seed it first for a reproducible stack: `B::seed(device, seed.init())`).
    ///
    /// # Errors
    /// As [`DbnConfig::validate`].
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Dbn<B>, ModelError> {
        self.validate()?;
        let rbms = (1..=self.n_rbms())
            .map(|layer| self.rbm_config(layer).init(device))
            .collect();
        Ok(Dbn { rbms })
    }
}

/// A Deep Belief Network: its RBMs, bottom first (see the [module docs](self)).
#[derive(Module, Debug)]
pub struct Dbn<B: Backend> {
    /// RBM `l` is `rbms[l - 1]`; RBM 1 sits on the data.
    pub rbms: Vec<Rbm<B>>,
}

/// Generated data: the visible layer's probabilities (means) and a sample of them.
#[derive(Clone, Debug)]
pub struct Generated<B: Backend> {
    /// `E[v | h(1)]`, `[n, n_visible]`.
    pub probs: Tensor<B, 2>,
    /// A sample of `v`, `[n, n_visible]`.
    pub samples: Tensor<B, 2>,
}

impl<B: Backend> Dbn<B> {
    /// A stack from trained RBMs, bottom first.
    ///
    /// # Errors
    /// [`ModelError::Shape`] when an RBM's visible layer is not the hidden layer below, or
    /// [`ModelError::InvalidConfig`] for an empty stack or a Gaussian layer above the first.
    pub fn new(rbms: Vec<Rbm<B>>) -> Result<Self, ModelError> {
        if rbms.is_empty() {
            return Err(ModelError::invalid(
                "rbms",
                "[]",
                "a DBN needs at least one RBM",
            ));
        }
        for pair in rbms.windows(2) {
            crate::rbm::check_shape(
                "RBM visible layer (the hidden layer of the RBM below)",
                &[pair[0].n_hidden()],
                &[pair[1].n_visible()],
            )?;
        }
        if rbms[1..]
            .iter()
            .any(|r| r.visible != VisibleUnits::Bernoulli)
        {
            return Err(ModelError::invalid(
                "rbms",
                "Gaussian visible units above the first RBM",
                "hidden layers are binary, so only the first RBM may be Gaussian",
            ));
        }
        Ok(Self { rbms })
    }

    /// Layer sizes from the data up, `[n_visible, n_h1, …]`.
    pub fn layer_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.rbms[0].n_visible()];
        sizes.extend(self.rbms.iter().map(Rbm::n_hidden));
        sizes
    }

    /// `P(h(layer) | h(layer - 1))`: one step up through RBM `layer` (1-based).
    ///
    /// # Shapes
    /// below `[n, layers[layer - 1]]` -> `[n, layers[layer]]`
    pub fn up_step(&self, layer: usize, below: Tensor<B, 2>) -> Tensor<B, 2> {
        self.rbms[layer - 1].hidden_probs(below)
    }

    /// `P(h(layer - 1) | h(layer))`: one step down through RBM `layer` (1-based), with its
    /// visible biases (`E[v | h(1)]` for a Gaussian data layer).
    ///
    /// # Shapes
    /// above `[n, layers[layer]]` -> `[n, layers[layer - 1]]`
    pub fn down_step(&self, layer: usize, above: Tensor<B, 2>) -> Tensor<B, 2> {
        self.rbms[layer - 1].visible_mean(above)
    }

    /// Mean-field up pass through the first `layers` RBMs: the input of RBM `layers + 1`.
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n, sizes[layers]]`
    pub fn up(&self, v: Tensor<B, 2>, layers: usize) -> Tensor<B, 2> {
        (1..=layers).fold(v, |h, layer| self.up_step(layer, h))
    }

    /// The top layer's features, `P(h(L) | …)` through every RBM.
    ///
    /// # Shapes
    /// v `[n, n_visible]` -> `[n, sizes[L]]`
    pub fn encode(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        self.up(v, self.rbms.len())
    }

    /// Generates from states of the top RBM's visible layer `h(L-1)`: `gibbs_steps` Gibbs steps
    /// in the top RBM, a last up-down step, then the down pass sampling each hidden layer.
    ///
    /// # Shapes
    /// start `[n, sizes[L - 1]]` -> probs, samples `[n, n_visible]`
    pub fn generate_from(&self, start: Tensor<B, 2>, gibbs_steps: usize) -> Generated<B> {
        let top = self.rbms.len();
        let chain = self.rbms[top - 1].gibbs(start, gibbs_steps);
        let h_top = self.rbms[top - 1].sample_hidden(self.up_step(top, chain)); // [n, sizes[L]]
        let mut probs = self.down_step(top, h_top);
        for layer in (1..top).rev() {
            let state = bernoulli(probs);
            probs = self.down_step(layer, state);
        }
        let samples = self.rbms[0].sample_visible(probs.clone());
        Generated { probs, samples }
    }

    /// Generates `n` examples starting the top RBM's chains from uniform noise.
    pub fn generate(&self, n: usize, gibbs_steps: usize) -> Generated<B> {
        let top = self.rbms.last().expect("a DBN has at least one RBM");
        let device = top.weights.device();
        let noise = bernoulli(Tensor::full([n, top.n_visible()], 0.5, &device));
        self.generate_from(noise, gibbs_steps)
    }

    /// Generates from the up pass of `data`: the chains start at a sample of
    /// `P(h(L-1) | data)`, so the samples resemble the given examples more or less as
    /// `gibbs_steps` grows.
    ///
    /// # Shapes
    /// data `[n, n_visible]` -> probs, samples `[n, n_visible]`
    pub fn generate_from_data(&self, data: Tensor<B, 2>, gibbs_steps: usize) -> Generated<B> {
        let below_top = self.up(data, self.rbms.len() - 1);
        let start = match self.rbms.len() {
            1 => self.rbms[0].sample_visible(below_top),
            _ => bernoulli(below_top),
        };
        self.generate_from(start, gibbs_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::to_f64;
    use crate::test_support::{B, row, tutorial_dbn, tutorial_rbm1};

    #[test]
    fn generation_returns_probabilities_and_binary_samples_of_the_visible_layer() {
        let device = Default::default();
        B::seed(&device, 61);
        let dbn = tutorial_dbn();
        let generated = dbn.generate(50, 10);
        assert_eq!(generated.probs.dims(), [50, 4]);
        let probs = to_f64(generated.probs);
        assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(
            to_f64(generated.samples)
                .iter()
                .all(|&s| s == 0.0 || s == 1.0)
        );
        let from_data = dbn.generate_from_data(row(&[1.0, 0.0, 1.0, 1.0]).repeat_dim(0, 3), 0);
        assert_eq!(from_data.samples.dims(), [3, 4]);
    }

    #[test]
    fn stacks_that_do_not_chain_are_rejected() {
        let err = Dbn::new(vec![tutorial_rbm1(), tutorial_rbm1()]).unwrap_err();
        assert!(
            err.to_string().contains("expected shape [3], got [4]"),
            "{err}"
        );
        let err = DbnConfig::new(vec![784]).validate().unwrap_err();
        assert!(err.to_string().contains("layers = [784]"), "{err}");
        let err = DbnConfig::new(vec![784, 0, 10]).validate().unwrap_err();
        assert!(err.to_string().contains("at least one unit"), "{err}");
        let err = DbnConfig::new(vec![4, 3])
            .with_init_std(-1.0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("init_std = -1"), "{err}");
        let err = DbnConfig::new(vec![700, 500])
            .check_data_width(784)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("[700, 500] for data of 784 features"),
            "{err}"
        );
    }

    #[test]
    fn init_builds_the_configured_stack() {
        let config = DbnConfig::new(vec![10, 6, 4, 8]).with_visible(VisibleUnits::Gaussian);
        let dbn = config.init::<B>(&Default::default()).unwrap();
        assert_eq!(dbn.layer_sizes(), vec![10, 6, 4, 8]);
        assert_eq!(dbn.rbms[0].visible, VisibleUnits::Gaussian);
        assert_eq!(dbn.rbms[2].visible, VisibleUnits::Bernoulli);
    }
}
