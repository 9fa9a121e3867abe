//! The Restricted Boltzmann Machine: one function per operation of the model.
//!
//! With visible units `v` (`n_visible`), hidden units `h` (`n_hidden`), weights `W`
//! (`[n_visible, n_hidden]`, as Burn's `Linear` stores them), visible bias `a` and hidden bias
//! `b`, the energy is
//!
//! ```text
//! Bernoulli visible:  E(v, h) = -a·v - b·h - vᵀ W h
//! Gaussian visible:   E(v, h) = ½‖v - a‖² - b·h - vᵀ W h      (unit variance)
//! ```
//!
//! so that `P(h = 1 | v) = σ(b + Wᵀv)`, `P(v = 1 | h) = σ(a + W h)` (Bernoulli) or
//! `v | h ~ N(a + W h, 1)` (Gaussian). Batches are rows: `v` is `[batch, n_visible]`.
//!
//! With label units (`labels = K > 0`, Bernoulli only), the last `K` visible units are one
//! softmax group: a one-hot label `y` beside the `n_features = n_visible - K` binary units, with
//! the same energy, so that `P(y = k | h) = exp(a_k + (W h)_k) / Σ_k' exp(a_k' + (W h)_k')`: the
//! top RBM of Hinton, Osindero & Teh (2006), *A fast learning algorithm for deep belief nets*.
//!
//! References: G. Hinton, *A Practical Guide to Training Restricted Boltzmann Machines* (2010);
//! scikit-learn's `BernoulliRBM`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::kernels::{affine, bernoulli, sigmoid};
use crate::numerics::{log_sum_exp_rows, softplus};

/// The kind of the visible units. Hidden units are always Bernoulli.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VisibleUnits {
    /// Binary units; data in [0, 1] is read as probabilities.
    #[default]
    Bernoulli,
    /// Real-valued units with unit variance; standardise the data first.
    Gaussian,
}

/// Configuration of an [`Rbm`].
#[derive(Config, Debug)]
pub struct RbmConfig {
    /// Number of visible units (784 for MNIST).
    pub n_visible: usize,
    /// Number of hidden units.
    pub n_hidden: usize,
    /// Kind of the visible units.
    #[config(default = "VisibleUnits::Bernoulli")]
    pub visible: VisibleUnits,
    /// Standard deviation of the initial weights, drawn from N(0, init_std²); biases start at 0.
    /// Hinton's guide recommends 0.01.
    #[config(default = 0.01)]
    pub init_std: f64,
    /// Label units: the last `labels` of the `n_visible` units are one softmax group (see the
    /// [module docs](self)); 0 for none.
    #[config(default = 0)]
    pub labels: usize,
}

impl RbmConfig {
    /// Checks the sizes and the initial scale.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |field, value: String, reason| Err(ModelError::invalid(field, value, reason));
        if self.n_visible == 0 {
            return invalid(
                "n_visible",
                "0".into(),
                "an RBM needs at least one visible unit",
            );
        }
        if self.n_hidden == 0 {
            return invalid(
                "n_hidden",
                "0".into(),
                "an RBM needs at least one hidden unit",
            );
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return invalid(
                "init_std",
                self.init_std.to_string(),
                "must be finite and non-negative",
            );
        }
        if self.labels == 1 || self.labels > self.n_visible {
            return invalid(
                "labels",
                self.labels.to_string(),
                "a softmax group needs at least two units, all among the visible units",
            );
        }
        if self.labels > 0 && self.visible != VisibleUnits::Bernoulli {
            return invalid(
                "labels",
                self.labels.to_string(),
                "label units sit beside Bernoulli visible units only",
            );
        }
        Ok(())
    }

    /// A fresh RBM: weights from N(0, `init_std`²), zero biases. Uses the backend's RNG.
    ///
    /// # Panics
    /// If the config is invalid; call [`RbmConfig::validate`] first for an error instead.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Rbm<B> {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let weights = Tensor::random(
            [self.n_visible, self.n_hidden],
            Distribution::Normal(0.0, self.init_std),
            device,
        );
        Rbm {
            weights: Param::from_tensor(weights),
            visible_bias: Param::from_tensor(Tensor::zeros([self.n_visible], device)),
            hidden_bias: Param::from_tensor(Tensor::zeros([self.n_hidden], device)),
            visible: self.visible,
            labels: self.labels,
        }
    }
}

/// A Restricted Boltzmann Machine (see the [module docs](self) for its equations).
#[derive(Module, Debug)]
pub struct Rbm<B: Backend> {
    /// Weights `W`, `[n_visible, n_hidden]`.
    pub weights: Param<Tensor<B, 2>>,
    /// Visible bias `a`, `[n_visible]`.
    pub visible_bias: Param<Tensor<B, 1>>,
    /// Hidden bias `b`, `[n_hidden]`.
    pub hidden_bias: Param<Tensor<B, 1>>,
    /// Kind of the visible units (not a parameter: saved with the config).
    pub visible: VisibleUnits,
    /// Label units, the last of the visible units ([`RbmConfig::labels`]; saved with the
    /// config).
    pub labels: usize,
}

impl<B: Backend> Rbm<B> {
    /// An RBM from explicit parameters.
    ///
    /// # Shapes
    /// weights `[n_visible, n_hidden]`, visible_bias `[n_visible]`, hidden_bias `[n_hidden]`
    ///
    /// # Errors
    /// [`ModelError::Shape`] when the biases do not match the weights.
    pub fn new(
        weights: Tensor<B, 2>,
        visible_bias: Tensor<B, 1>,
        hidden_bias: Tensor<B, 1>,
        visible: VisibleUnits,
    ) -> Result<Self, ModelError> {
        let [n_visible, n_hidden] = weights.dims();
        check_shape("visible bias", &[n_visible], &visible_bias.dims())?;
        check_shape("hidden bias", &[n_hidden], &hidden_bias.dims())?;
        Ok(Self {
            weights: Param::from_tensor(weights),
            visible_bias: Param::from_tensor(visible_bias),
            hidden_bias: Param::from_tensor(hidden_bias),
            visible,
            labels: 0,
        })
    }

    /// The same RBM with its last `labels` visible units as a softmax group of label units.
    ///
    /// # Errors
    /// As [`RbmConfig::validate`]'s check of `labels`.
    pub fn with_labels(self, labels: usize) -> Result<Self, ModelError> {
        RbmConfig::new(self.n_visible(), self.n_hidden())
            .with_visible(self.visible)
            .with_labels(labels)
            .validate()?;
        Ok(Self { labels, ..self })
    }

    /// Number of visible units (label units included).
    pub fn n_visible(&self) -> usize {
        self.weights.dims()[0]
    }

    /// Number of visible units that are not label units.
    pub fn n_features(&self) -> usize {
        self.n_visible() - self.labels
    }

    /// Number of hidden units.
    pub fn n_hidden(&self) -> usize {
        self.weights.dims()[1]
    }

    /// Checks that `v` is a batch of visible vectors of this RBM.
    ///
    /// # Errors
    /// [`ModelError::Shape`] naming `what`.
    pub fn check_visible(&self, what: &'static str, v: &Tensor<B, 2>) -> Result<(), ModelError> {
        let [batch, n] = v.dims();
        check_shape(what, &[batch, self.n_visible()], &[batch, n])
    }

    /// Total input to the hidden units, `b + Wᵀv`. With label units, `v` may leave them out
    /// (`n_features` columns): they are then all off and contribute nothing.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` (or `[batch, n_features]`) -> `[batch, n_hidden]`
    pub fn hidden_input(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        let weights = self.weights.val();
        let weights = match v.dims()[1] {
            n if n == self.n_features() && self.labels > 0 => weights.slice_dim(0, 0..n),
            _ => weights,
        };
        affine(v, weights, self.hidden_bias.val())
    }

    /// `P(h = 1 | v) = σ(b + Wᵀv)`.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch, n_hidden]`
    pub fn hidden_probs(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        sigmoid(self.hidden_input(v))
    }

    /// A binary sample of the hidden units given their probabilities.
    ///
    /// # Shapes
    /// probs `[batch, n_hidden]` -> `[batch, n_hidden]`
    pub fn sample_hidden(&self, probs: Tensor<B, 2>) -> Tensor<B, 2> {
        bernoulli(probs)
    }

    /// Total input to the visible units, `a + W h`.
    ///
    /// # Shapes
    /// h `[batch, n_hidden]` -> `[batch, n_visible]`
    pub fn visible_input(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        affine(h, self.weights.val().transpose(), self.visible_bias.val())
    }

    /// `E[v | h]`: [`Rbm::visible_activation`] of `a + W h`.
    ///
    /// # Shapes
    /// h `[batch, n_hidden]` -> `[batch, n_visible]`
    pub fn visible_mean(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        self.visible_activation(self.visible_input(h))
    }

    /// The visible units' mean given their total input `x`: `σ(x)` for Bernoulli units, `x`
    /// itself for Gaussian ones, and the softmax of the label units' inputs.
    ///
    /// # Shapes
    /// input `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn visible_activation(&self, input: Tensor<B, 2>) -> Tensor<B, 2> {
        match (self.visible, self.labels) {
            (VisibleUnits::Gaussian, _) => input,
            (VisibleUnits::Bernoulli, 0) => sigmoid(input),
            (VisibleUnits::Bernoulli, _) => {
                let (features, labels) = self.split_labels(input);
                Tensor::cat(vec![sigmoid(features), softmax(labels, 1)], 1)
            }
        }
    }

    /// A sample of the visible units given their mean: Bernoulli draws, or the mean plus unit
    /// Gaussian noise; label units get one one-hot draw from their probabilities.
    ///
    /// # Shapes
    /// mean `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn sample_visible(&self, mean: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.labels {
            0 => self.sample_features(mean),
            _ => {
                let (features, labels) = self.split_labels(mean);
                Tensor::cat(
                    vec![self.sample_features(features), sample_one_hot(labels)],
                    1,
                )
            }
        }
    }

    /// A sample of the feature units (all but the label units) given their mean.
    ///
    /// # Shapes
    /// mean `[batch, n_features]` -> `[batch, n_features]`
    pub fn sample_features(&self, mean: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.visible {
            VisibleUnits::Bernoulli => bernoulli(mean),
            VisibleUnits::Gaussian => {
                let noise = mean.random_like(Distribution::Normal(0.0, 1.0));
                mean + noise
            }
        }
    }

    /// The columns of `x` for the feature units and for the label units.
    ///
    /// # Shapes
    /// x `[batch, n_visible]` -> `[batch, n_features]`, `[batch, labels]`
    pub fn split_labels(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let n = self.n_features();
        (x.clone().slice([0..x.dims()[0], 0..n]), x.slice_dim(1, n..))
    }

    /// `v` with its label units set to `labels`, the rest unchanged.
    ///
    /// # Shapes
    /// v `[batch, n_visible]`, labels `[batch, labels]` -> `[batch, n_visible]`
    pub fn clamp_labels(&self, v: Tensor<B, 2>, labels: Tensor<B, 2>) -> Tensor<B, 2> {
        let (features, _) = self.split_labels(v);
        self.clamp_labels_beside(features, labels)
    }

    /// `log Σ_v exp(v·x)` of each row of visible inputs `x`, summed over binary feature units and
    /// one-hot label groups: `Σ_i softplus(x_i) + log Σ_k exp(x_k)` (Bernoulli units only).
    ///
    /// # Shapes
    /// input `[batch, n_visible]` -> `[batch, 1]`
    pub fn log_sum_over_visible(&self, input: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.labels {
            0 => softplus(input).sum_dim(1),
            _ => {
                let (features, labels) = self.split_labels(input);
                softplus(features).sum_dim(1) + log_sum_exp_rows(labels)
            }
        }
    }

    /// Free energy `F(v) = -log Σ_h exp(-E(v, h))`:
    /// `-a·v - Σ_j softplus(b_j + (Wᵀv)_j)` (Bernoulli), `½‖v - a‖² - Σ_j softplus(…)` (Gaussian).
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch]`
    pub fn free_energy(&self, v: Tensor<B, 2>) -> Tensor<B, 1> {
        let hidden_term = softplus(self.hidden_input(v.clone())).sum_dim(1); // [batch, 1]
        let a = self.visible_bias.val().unsqueeze(); // [1, n_visible]
        let visible_term = match self.visible {
            VisibleUnits::Bernoulli => (v * a).sum_dim(1).neg(),
            VisibleUnits::Gaussian => (v - a).square().sum_dim(1).div_scalar(2.0),
        }; // [batch, 1]
        (visible_term - hidden_term).squeeze_dim(1)
    }

    /// Free energy of hidden configurations, `F(h) = -log Σ_v exp(-E(v, h))` (an integral for
    /// Gaussian units): `-b·h - Σ_i softplus(a_i + (W h)_i)` (Bernoulli),
    /// `-b·h - ½‖a + W h‖² + ½‖a‖² - (n_visible / 2) log 2π` (Gaussian).
    ///
    /// # Shapes
    /// h `[batch, n_hidden]` -> `[batch]`
    pub fn hidden_free_energy(&self, h: Tensor<B, 2>) -> Tensor<B, 1> {
        let bias_term = (h.clone() * self.hidden_bias.val().unsqueeze()).sum_dim(1); // [batch, 1]
        let input = self.visible_input(h); // [batch, n_visible]
        let visible_term = match self.visible {
            VisibleUnits::Bernoulli => self.log_sum_over_visible(input),
            VisibleUnits::Gaussian => {
                let a_norm = self
                    .visible_bias
                    .val()
                    .square()
                    .sum()
                    .into_scalar()
                    .elem::<f64>();
                let log_2pi = (2.0 * std::f64::consts::PI).ln();
                let constant = -0.5 * a_norm + 0.5 * self.n_visible() as f64 * log_2pi;
                input
                    .square()
                    .sum_dim(1)
                    .div_scalar(2.0)
                    .add_scalar(constant)
            }
        }; // [batch, 1]
        (bias_term + visible_term).neg().squeeze_dim(1)
    }

    /// One full Gibbs step from visible states: `h ~ P(h | v)`, then `v' ~ P(v | h)`.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn gibbs_step(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.sample_hidden(self.hidden_probs(v));
        self.sample_visible(self.visible_mean(h))
    }

    /// `k` Gibbs steps from visible states; returns the visible sample after the last one.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn gibbs(&self, v: Tensor<B, 2>, k: usize) -> Tensor<B, 2> {
        (0..k).fold(v, |v, _| self.gibbs_step(v))
    }

    /// `k` Gibbs steps from visible states with the label units held at `v`'s: each step's
    /// visible sample gets them back ([`Rbm::clamp_labels`]).
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn gibbs_clamped(&self, v: Tensor<B, 2>, k: usize) -> Tensor<B, 2> {
        let (_, labels) = self.split_labels(v.clone());
        (0..k).fold(v, |v, _| {
            self.clamp_labels(self.gibbs_step(v), labels.clone())
        })
    }

    /// Feature states beside label states: one visible batch.
    ///
    /// # Shapes
    /// features `[batch, n_features]`, labels `[batch, labels]` -> `[batch, n_visible]`
    pub fn clamp_labels_beside(
        &self,
        features: Tensor<B, 2>,
        labels: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        Tensor::cat(vec![features, labels], 1)
    }

    /// The free energy of `features` beside each one-hot label: column `k` is
    /// `F([features, one-hot k])` ([`Rbm::free_energy`]).
    ///
    /// # Shapes
    /// features `[n, n_features]` -> `[n, labels]`
    pub fn label_free_energies(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = features.dims()[0];
        let device = features.device();
        let energies = (0..self.labels)
            .map(|k| {
                let one_hot = one_hot_rows(&vec![k; n], self.labels, &device);
                let state = self.clamp_labels_beside(features.clone(), one_hot);
                self.free_energy(state).unsqueeze_dim(1)
            })
            .collect();
        Tensor::cat(energies, 1)
    }

    /// Mean-field reconstruction `E[v | h = P(h | v)]`: deterministic, used for monitoring.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch, n_visible]`
    pub fn reconstruct(&self, v: Tensor<B, 2>) -> Tensor<B, 2> {
        self.visible_mean(self.hidden_probs(v))
    }

    /// Squared reconstruction error of each example, summed over its units:
    /// `‖v - reconstruct(v)‖²`.
    ///
    /// # Shapes
    /// v `[batch, n_visible]` -> `[batch]`
    pub fn reconstruction_error(&self, v: Tensor<B, 2>) -> Tensor<B, 1> {
        let reconstruction = self.reconstruct(v.clone());
        (v - reconstruction).square().sum_dim(1).squeeze_dim(1)
    }

    /// Visible biases fitted to the data's marginals: `log(p / (1 - p))` of each unit's mean `p`
    /// (clamped to [0.001, 0.999]) for Bernoulli units, as Hinton's guide advises; `log p` of
    /// each label's frequency for label units; the data mean for Gaussian units. Also the base
    /// model of AIS.
    ///
    /// # Shapes
    /// data `[n, n_visible]` -> `[n_visible]`
    pub fn visible_bias_from_data(&self, data: Tensor<B, 2>) -> Tensor<B, 1> {
        self.visible_bias_from_mean(data.mean_dim(0).squeeze_dim(0))
    }

    /// [`Rbm::visible_bias_from_data`] from the data's mean.
    ///
    /// # Shapes
    /// mean `[n_visible]` -> `[n_visible]`
    pub fn visible_bias_from_mean(&self, mean: Tensor<B, 1>) -> Tensor<B, 1> {
        match self.visible {
            VisibleUnits::Bernoulli => {
                let p = mean.clamp(0.001, 0.999);
                let logits = (p.clone() / (p.clone().neg() + 1.0)).log();
                match self.labels {
                    0 => logits,
                    _ => {
                        let n = self.n_features();
                        Tensor::cat(vec![logits.slice(0..n), p.slice(n..).log()], 0)
                    }
                }
            }
            VisibleUnits::Gaussian => mean,
        }
    }

    /// The same RBM with its visible biases set by [`Rbm::visible_bias_from_mean`].
    ///
    /// # Shapes
    /// mean `[n_visible]`
    pub fn with_visible_bias_from_mean(self, mean: Tensor<B, 1>) -> Self {
        let bias = self.visible_bias_from_mean(mean);
        Self {
            visible_bias: self.visible_bias.map(|_| bias),
            ..self
        }
    }
}

/// One-hot rows of class indices `labels` among `k` classes (a label of `k` or more gives a
/// row of zeros): the label columns of a stack's pretraining data ([`crate::DbnConfig::labels`]).
///
/// # Shapes
/// -> `[labels.len(), k]`
pub fn one_hot_rows<B: Backend>(labels: &[usize], k: usize, device: &B::Device) -> Tensor<B, 2> {
    let values: Vec<f32> = labels
        .iter()
        .flat_map(|&label| (0..k).map(move |j| f32::from(u8::from(j == label))))
        .collect();
    Tensor::from_data(TensorData::new(values, [labels.len(), k]), device)
}

/// One one-hot draw per row from the categorical distribution of that row's probabilities
/// (Gumbel-max: the index of the largest `log p + G`, `G = -log(-log U)`).
///
/// # Shapes
/// probs `[batch, k]` -> `[batch, k]`
pub fn sample_one_hot<B: Backend>(probs: Tensor<B, 2>) -> Tensor<B, 2> {
    let uniform = probs
        .random_like(Distribution::Uniform(0.0, 1.0))
        .clamp_min(1e-30);
    let gumbel = uniform.log().neg().log().neg();
    let scores = probs.log() + gumbel;
    let best = scores.clone().max_dim(1); // [batch, 1]
    scores.greater_equal(best).float()
}

/// [`ModelError::Shape`] unless `actual == expected`.
pub(crate) fn check_shape(
    what: &'static str,
    expected: &[usize],
    actual: &[usize],
) -> Result<(), ModelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(ModelError::Shape {
            what,
            expected: expected.to_vec(),
            actual: actual.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::{log_sum_exp, to_f64};
    use crate::test_support::{
        B, all_states, assert_close, random_rbm, row, tutorial_rbm1, tutorial_rbm2,
    };

    #[test]
    fn free_energy_marginalises_the_energy_over_hidden_states() {
        // F(v) = -log Σ_h exp(-E(v, h)), summed by enumerating all 2^3 hidden states.
        let rbm = random_rbm(4, 3, 0.8, 3);
        let v = [1.0f32, 0.0, 1.0, 1.0];
        let w = to_f64(rbm.weights.val());
        let (a, b) = (
            to_f64(rbm.visible_bias.val()),
            to_f64(rbm.hidden_bias.val()),
        );
        let negative_energies: Vec<f64> = (0..8)
            .map(|s| {
                let h: Vec<f64> = (0..3).map(|j| ((s >> j) & 1) as f64).collect();
                let mut e = 0.0;
                for i in 0..4 {
                    e += a[i] * v[i] as f64;
                    for j in 0..3 {
                        e += v[i] as f64 * w[i * 3 + j] * h[j];
                    }
                }
                e + (0..3).map(|j| b[j] * h[j]).sum::<f64>()
            })
            .collect();
        let f = to_f64(rbm.free_energy(row(&v)))[0];
        assert!((f + log_sum_exp(&negative_energies)).abs() < 1e-5, "{f}");
    }

    #[test]
    fn free_energies_of_both_sides_share_one_partition_function() {
        // Σ_v exp(-F(v)) = Σ_h exp(-F(h)) = Z for Bernoulli units.
        let rbm = random_rbm(5, 4, 1.0, 4);
        let from_v = log_sum_exp(&to_f64(rbm.free_energy(all_states(5)).neg()));
        let from_h = log_sum_exp(&to_f64(rbm.hidden_free_energy(all_states(4)).neg()));
        assert!((from_v - from_h).abs() < 1e-4, "{from_v} vs {from_h}");
    }

    #[test]
    fn gaussian_hidden_free_energy_integrates_the_visible_side() {
        // For one visible unit, ∫ exp(-E(v, h)) dv by the trapezoid rule on a fine grid.
        let device = Default::default();
        let w = Tensor::<B, 2>::from_floats([[0.7, -0.4]], &device);
        let a = Tensor::from_floats([0.3], &device);
        let b = Tensor::from_floats([0.2, -0.1], &device);
        let rbm = Rbm::new(w, a, b, VisibleUnits::Gaussian).unwrap();
        for (h, hv) in [([0.0, 0.0], 0.0), ([1.0, 0.0], 0.7), ([1.0, 1.0], 0.3)] {
            let bh = 0.2 * h[0] - 0.1 * h[1];
            let step = 1e-3;
            let integral: f64 = (-12000..12000)
                .map(|i| {
                    let v = i as f64 * step;
                    (-(0.5 * (v - 0.3) * (v - 0.3)) + bh + v * hv).exp() * step
                })
                .sum();
            let f = to_f64(rbm.hidden_free_energy(row(&[h[0] as f32, h[1] as f32])))[0];
            assert!(
                (f + integral.ln()).abs() < 1e-4,
                "h {h:?}: {f} vs {}",
                -integral.ln()
            );
        }
    }

    #[test]
    fn sample_means_match_probabilities() {
        let device = Default::default();
        B::seed(&device, 11);
        let rbm = random_rbm(6, 5, 1.0, 5);
        let n = 20_000;
        let v = row(&[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]).repeat_dim(0, n);
        let probs = rbm.hidden_probs(v.clone());
        let h = rbm.sample_hidden(probs.clone());
        let h_values = to_f64(h.clone());
        assert!(h_values.iter().all(|&x| x == 0.0 || x == 1.0));
        let mean_h = to_f64(h.mean_dim(0));
        let p_h = to_f64(probs.slice([0..1, 0..5]));
        for (m, p) in mean_h.iter().zip(&p_h) {
            assert!(
                (m - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "{m} vs {p}"
            );
        }
        let h_row = row(&[1.0, 0.0, 1.0, 1.0, 0.0]).repeat_dim(0, n);
        let mean = rbm.visible_mean(h_row);
        let mean_v = to_f64(rbm.sample_visible(mean.clone()).mean_dim(0));
        let p_v = to_f64(mean.slice([0..1, 0..6]));
        for (m, p) in mean_v.iter().zip(&p_v) {
            assert!(
                (m - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "{m} vs {p}"
            );
        }
    }

    #[test]
    fn gaussian_samples_have_the_mean_and_unit_variance() {
        let device = Default::default();
        B::seed(&device, 12);
        let rbm = Rbm::<B> {
            visible: VisibleUnits::Gaussian,
            ..random_rbm(3, 2, 1.0, 6)
        };
        let n = 20_000;
        let mean = rbm.visible_mean(row(&[1.0, 0.0]).repeat_dim(0, n));
        let samples = rbm.sample_visible(mean.clone());
        let sample_mean = to_f64(samples.clone().mean_dim(0));
        let sample_var = to_f64(samples.var(0));
        let expected = to_f64(mean.slice([0..1, 0..3]));
        for i in 0..3 {
            assert!((sample_mean[i] - expected[i]).abs() < 4.0 / (n as f64).sqrt());
            assert!((sample_var[i] - 1.0).abs() < 0.05, "{sample_var:?}");
        }
    }

    #[test]
    fn probabilities_stay_in_the_unit_interval_and_gibbs_never_yields_nan() {
        let device = Default::default();
        B::seed(&device, 13);
        let rbm = random_rbm(20, 10, 5.0, 7); // large weights: saturated sigmoids
        let v = bernoulli(Tensor::<B, 2>::full([50, 20], 0.5, &device));
        let p = to_f64(rbm.hidden_probs(v.clone()));
        assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
        let after = to_f64(rbm.gibbs(v, 25));
        assert!(after.iter().all(|&x| x == 0.0 || x == 1.0));
        let f = to_f64(rbm.free_energy(Tensor::ones([2, 20], &device).mul_scalar(100.0)));
        assert!(f.iter().all(|x| x.is_finite()), "{f:?}");
    }

    #[test]
    fn reconstruction_error_is_the_summed_squared_difference() {
        let rbm = tutorial_rbm1();
        let v = row(&[1.0, 0.0, 1.0, 1.0]);
        let r = to_f64(rbm.reconstruct(v.clone()));
        let expected: f64 = [1.0, 0.0, 1.0, 1.0]
            .iter()
            .zip(&r)
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        let err = to_f64(rbm.reconstruction_error(v))[0];
        assert!((err - expected).abs() < 1e-6);
    }

    #[test]
    fn visible_bias_from_data_is_the_logit_of_the_mean() {
        let device = Default::default();
        let data = Tensor::<B, 2>::from_floats(
            [
                [1.0, 0.0, 1.0],
                [1.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0],
            ],
            &device,
        );
        let bias = tutorial_rbm2().visible_bias_from_data(data);
        let expected = [(0.75f64 / 0.25).ln(), (0.001f64 / 0.999).ln(), 0.0];
        assert_close(&to_f64(bias), &expected, 1e-5);
    }

    #[test]
    fn mismatched_parameters_and_configs_are_errors() {
        let device = Default::default();
        let err = Rbm::<B>::new(
            Tensor::zeros([4, 3], &device),
            Tensor::zeros([3], &device),
            Tensor::zeros([3], &device),
            VisibleUnits::Bernoulli,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("visible bias: expected shape [4]"),
            "{err}"
        );
        let err = RbmConfig::new(784, 0).validate().unwrap_err();
        assert!(err.to_string().contains("n_hidden = 0"), "{err}");
        let err = tutorial_rbm1()
            .check_visible("data", &Tensor::zeros([2, 5], &device))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("data: expected shape [2, 4], got [2, 5]"),
            "{err}"
        );
    }

    #[test]
    fn init_draws_weights_at_the_configured_scale() {
        let device = Default::default();
        B::seed(&device, 14);
        let rbm = RbmConfig::new(784, 500).init::<B>(&device);
        let w = to_f64(rbm.weights.val());
        let std = (w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt();
        assert!((std - 0.01).abs() < 0.0005, "{std}");
        assert!(to_f64(rbm.hidden_bias.val()).iter().all(|&x| x == 0.0));
    }
}
