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
    /// Label units in the top RBM: a softmax group of this many units beside `h(L-1)`, trained
    /// with it on each example's label (Hinton, Osindero & Teh 2006); 0 for none. The data
    /// given to pretraining then carries each example's one-hot label as its last `labels`
    /// columns ([`DbnConfig::check_pretraining_width`]).
    #[config(default = 0)]
    pub labels: usize,
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
        let labels = if layer == self.n_rbms() {
            self.labels
        } else {
            0
        };
        RbmConfig::new(self.layers[layer - 1] + labels, self.layers[layer])
            .with_visible(visible)
            .with_init_std(self.init_std)
            .with_labels(labels)
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

    /// Checks the width of pretraining data: the visible layer, and with label units the
    /// one-hot label after it.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for `layers` naming both sizes.
    pub fn check_pretraining_width(&self, columns: usize) -> Result<(), ModelError> {
        match (self.labels, self.layers.first()) {
            (0, _) => self.check_data_width(columns),
            (labels, Some(&n)) if n + labels == columns => Ok(()),
            (labels, _) => Err(ModelError::invalid(
                "layers",
                format!(
                    "{:?} with {labels} label units for data of {columns} columns",
                    self.layers
                ),
                "each example is its features (the first size) followed by its one-hot label \
                 (one column per label unit)",
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
                &[pair[1].n_features()],
            )?;
        }
        if rbms[..rbms.len() - 1].iter().any(|r| r.labels > 0) {
            return Err(ModelError::invalid(
                "rbms",
                "label units below the top RBM",
                "only the top RBM may have label units",
            ));
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

    /// Layer sizes from the data up, `[n_visible, n_h1, …]` (label units not counted).
    pub fn layer_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.rbms[0].n_features()];
        sizes.extend(self.rbms.iter().map(Rbm::n_hidden));
        sizes
    }

    /// The top RBM's label units (0: none).
    pub fn labels(&self) -> usize {
        self.top().labels
    }

    /// `P(h(layer) | h(layer - 1))`: one step up through RBM `layer` (1-based).
    ///
    /// # Shapes
    /// below `[n, layers[layer - 1]]` -> `[n, layers[layer]]`
    pub fn up_step(&self, layer: usize, below: Tensor<B, 2>) -> Tensor<B, 2> {
        self.rbms[layer - 1].hidden_probs(below)
    }

    /// `P(h(layer - 1) | h(layer))`: one step down through RBM `layer` (1-based), with its
    /// visible biases (`E[v | h(1)]` for a Gaussian data layer); label units left out.
    ///
    /// # Shapes
    /// above `[n, layers[layer]]` -> `[n, layers[layer - 1]]`
    pub fn down_step(&self, layer: usize, above: Tensor<B, 2>) -> Tensor<B, 2> {
        let rbm = &self.rbms[layer - 1];
        let mean = rbm.visible_mean(above);
        match rbm.labels {
            0 => mean,
            _ => rbm.split_labels(mean).0,
        }
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

    /// Generates from states of the top RBM's visible layer `h(L-1)` (and its label units, if
    /// any): `gibbs_steps` Gibbs steps in the top RBM, a last up-down step, then the down pass
    /// sampling each hidden layer.
    ///
    /// # Shapes
    /// start `[n, n_visible of the top RBM]` -> probs, samples `[n, n_visible]`
    pub fn generate_from(&self, start: Tensor<B, 2>, gibbs_steps: usize) -> Generated<B> {
        let chain = self.top().gibbs(start, gibbs_steps);
        self.down_from_top(chain)
    }

    /// From states of the top RBM's visible layer: a last up-down step, then the down pass
    /// sampling each hidden layer.
    ///
    /// # Shapes
    /// chain `[n, n_visible of the top RBM]` -> probs, samples `[n, n_visible]`
    fn down_from_top(&self, chain: Tensor<B, 2>) -> Generated<B> {
        let top = self.rbms.len();
        let h_top = self.rbms[top - 1].sample_hidden(self.up_step(top, chain)); // [n, sizes[L]]
        let mut probs = self.down_step(top, h_top);
        for layer in (1..top).rev() {
            let state = bernoulli(probs);
            probs = self.down_step(layer, state);
        }
        let samples = self.rbms[0].sample_features(probs.clone());
        Generated { probs, samples }
    }

    /// Generates `n` examples starting the top RBM's chains from uniform noise (and, with label
    /// units, a label drawn uniformly, which the chains then sample freely).
    pub fn generate(&self, n: usize, gibbs_steps: usize) -> Generated<B> {
        self.generate_from_features(self.noise(n), gibbs_steps)
    }

    /// Generates one example of each class of `labels` (class indices, each below
    /// [`Dbn::labels`]): the top RBM's chains start from `start` (`h(L-1)` states) beside the
    /// one-hot label, which stays clamped for all `gibbs_steps` ([`Rbm::gibbs_clamped`]); then
    /// the down pass.
    ///
    /// # Shapes
    /// start `[n, sizes[L - 1]]`, labels `[n]` -> probs, samples `[n, n_visible]`
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack without label units or a label out of range.
    pub fn generate_class_from(
        &self,
        start: Tensor<B, 2>,
        labels: &[usize],
        gibbs_steps: usize,
    ) -> Result<Generated<B>, ModelError> {
        let top = self.top();
        let one_hot = self.one_hot(labels)?;
        let chain = top.gibbs_clamped(top.clamp_labels_beside(start, one_hot), gibbs_steps);
        Ok(self.down_from_top(chain))
    }

    /// [`Dbn::generate_class_from`] with the chains started from uniform noise.
    ///
    /// # Errors
    /// As [`Dbn::generate_class_from`].
    pub fn generate_class(
        &self,
        labels: &[usize],
        gibbs_steps: usize,
    ) -> Result<Generated<B>, ModelError> {
        self.generate_class_from(self.noise(labels.len()), labels, gibbs_steps)
    }

    /// `n` uniformly random binary states of the top RBM's feature units, where generation
    /// starts from noise.
    ///
    /// # Shapes
    /// -> `[n, sizes[L - 1]]`
    fn noise(&self, n: usize) -> Tensor<B, 2> {
        let top = self.top();
        bernoulli(Tensor::full(
            [n, top.n_features()],
            0.5,
            &top.weights.device(),
        ))
    }

    /// One-hot rows of `labels`, `[labels.len(), self.labels()]`.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack without label units or a label out of range.
    pub fn one_hot(&self, labels: &[usize]) -> Result<Tensor<B, 2>, ModelError> {
        let k = self.required_labels()?;
        if let Some(bad) = labels.iter().find(|&&label| label >= k) {
            return Err(ModelError::invalid(
                "label",
                format!("{bad} (of {k} label units)"),
                "a label is a class index below the number of label units",
            ));
        }
        Ok(crate::rbm::one_hot_rows(
            labels,
            k,
            &self.top().weights.device(),
        ))
    }

    /// The top RBM's label units.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack without label units.
    pub fn required_labels(&self) -> Result<usize, ModelError> {
        match self.labels() {
            0 => Err(ModelError::invalid(
                "labels",
                "0",
                "this stack's top RBM has no label units (pretrain it with labels)",
            )),
            k => Ok(k),
        }
    }

    /// `features` with a uniformly drawn one-hot label beside them when the top RBM has label
    /// units; `features` alone otherwise.
    ///
    /// # Shapes
    /// features `[n, sizes[L - 1]]` -> `[n, n_visible of the top RBM]`
    fn with_random_labels(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let k = self.labels();
        if k == 0 {
            return features;
        }
        let n = features.dims()[0];
        let uniform = Tensor::full([n, k], 1.0 / k as f64, &features.device());
        Tensor::cat(vec![features, crate::rbm::sample_one_hot(uniform)], 1)
    }

    /// Generates from states `features` of the top RBM's feature units `h(L-1)`, a label drawn
    /// uniformly beside them when the top RBM has label units (the chains then sample it
    /// freely): [`Dbn::generate_from`].
    ///
    /// # Shapes
    /// features `[n, sizes[L - 1]]` -> probs, samples `[n, n_visible]`
    pub fn generate_from_features(
        &self,
        features: Tensor<B, 2>,
        gibbs_steps: usize,
    ) -> Generated<B> {
        self.generate_from(self.with_random_labels(features), gibbs_steps)
    }

    /// The top RBM.
    pub fn top(&self) -> &Rbm<B> {
        self.rbms.last().expect("a DBN has at least one RBM")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generative::Generative;
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
    fn a_labelled_top_rbm_classifies_by_the_exact_conditional_and_keeps_clamped_labels() {
        let device = Default::default();
        let rbm = crate::conformance::random_labelled_rbm::<B>(4, 3, 3, 1.0, 62, &device);
        let dbn = Dbn::new(vec![rbm.clone()]).unwrap();
        assert_eq!((dbn.labels(), dbn.layer_sizes()), (3, vec![4, 3]));
        // p(x, y) ∝ Σ_h exp(a·v + b·h + vᵀWh), v = [x, one-hot y], by enumerating h.
        let (w, a, b) = (
            to_f64(rbm.weights.val()),
            to_f64(rbm.visible_bias.val()),
            to_f64(rbm.hidden_bias.val()),
        );
        let x = [1.0, 0.0, 1.0, 1.0];
        let joint: Vec<f64> = (0..3)
            .map(|y| {
                let v: Vec<f64> = (0..7)
                    .map(|i| {
                        if i < 4 {
                            x[i]
                        } else {
                            f64::from(u8::from(i - 4 == y))
                        }
                    })
                    .collect();
                (0..8)
                    .map(|s| {
                        let h: Vec<f64> = (0..3).map(|j| ((s >> j) & 1) as f64).collect();
                        let mut e: f64 = (0..7).map(|i| a[i] * v[i]).sum();
                        e += (0..3).map(|j| b[j] * h[j]).sum::<f64>();
                        for i in 0..7 {
                            for j in 0..3 {
                                e += v[i] * w[i * 3 + j] * h[j];
                            }
                        }
                        e.exp()
                    })
                    .sum()
            })
            .collect();
        let x_row = row(&[1.0, 0.0, 1.0, 1.0]);
        let energies = to_f64(dbn.label_free_energies(x_row.clone()).unwrap());
        let total: f64 = joint.iter().sum();
        let from_energies: f64 = energies.iter().map(|f| (-f).exp()).sum();
        for y in 0..3 {
            let exact = joint[y] / total;
            let ours = (-energies[y]).exp() / from_energies;
            assert!(
                (exact - ours).abs() < 1e-5,
                "p(y = {y} | x): {ours} against {exact}"
            );
        }
        let best = (0..3)
            .max_by(|&i, &j| joint[i].total_cmp(&joint[j]))
            .unwrap();
        let predicted: Vec<i64> = dbn
            .classify_generatively(x_row)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(predicted, [best as i64]);

        B::seed(&device, 63);
        let labels = [2, 0, 1, 2, 2, 0];
        let start = bernoulli(Tensor::<B, 2>::full([6, 4], 0.5, &device));
        let chain = rbm.gibbs_clamped(
            rbm.clamp_labels_beside(start, dbn.one_hot(&labels).unwrap()),
            25,
        );
        assert_eq!(
            to_f64(rbm.split_labels(chain).1),
            to_f64(dbn.one_hot(&labels).unwrap())
        );
        let generated = dbn.generate_class(&labels, 10).unwrap();
        assert_eq!(generated.samples.dims(), [6, 4]);
        let err = dbn.generate_class(&[3], 1).unwrap_err();
        assert!(
            err.to_string().contains("label = 3 (of 3 label units)"),
            "{err}"
        );
        let err = tutorial_dbn().generate_class(&[0], 1).unwrap_err();
        assert!(err.to_string().contains("no label units"), "{err}");
        let err = tutorial_dbn()
            .classify_generatively(row(&[1.0, 0.0, 1.0, 1.0]))
            .unwrap_err();
        assert!(err.to_string().contains("no label units"), "{err}");
    }

    #[test]
    fn a_labelled_stack_puts_the_label_units_in_its_top_rbm_only() {
        let config = DbnConfig::new(vec![10, 6, 4]).with_labels(3);
        let dbn = config.init::<B>(&Default::default()).unwrap();
        assert_eq!(dbn.layer_sizes(), vec![10, 6, 4]);
        assert_eq!((dbn.rbms[0].labels, dbn.rbms[1].labels), (0, 3));
        assert_eq!(dbn.rbms[1].n_visible(), 9);
        assert!(config.check_pretraining_width(13).is_ok());
        assert!(config.check_data_width(10).is_ok());
        let err = config.check_pretraining_width(10).unwrap_err();
        assert!(
            err.to_string().contains("followed by its one-hot label"),
            "{err}"
        );
        let mut rbms = dbn.rbms.clone();
        rbms.reverse();
        assert!(Dbn::new(rbms).is_err());
        let encoded = dbn.encode(Tensor::zeros([2, 10], &Default::default()));
        assert_eq!(encoded.dims(), [2, 4], "the top's label units off");
        let generated = dbn.generate(3, 2);
        assert_eq!(generated.samples.dims(), [3, 10]);
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
