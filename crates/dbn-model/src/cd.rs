//! Contrastive divergence (CD-k) and persistent CD, as explicit tensor updates: the estimator
//! of the log-likelihood gradient ([`CdConfig`]) and one mini-batch step ([`CdState::step`]).
//!
//! One mini-batch step, each line one function of this module or of [`crate::sparsity`] and
//! [`crate::optimizer`]:
//!
//! ```text
//! v0       = sample(v0)             (only with sample_data: the data read as probabilities)
//! h0       = P(h | v0)                                   positive phase (probabilities)
//! start    = sample(h0)             (CD: data-driven hidden states are sampled)
//!          | sample(P(h | chains))  (PCD: the persistent chains)
//! v_k, h_k = k Gibbs steps from start; the last step uses probabilities:
//!            v_k = E[v | h_(k-1)],  h_k = P(h | v_k)       negative phase
//!          | v_k = sample(E[v | h_(k-1)])  (with sample_negative: an unbiased estimate)
//! step     = lr · (⟨v0 h0ᵀ⟩ - ⟨v_k h_kᵀ⟩)  (and the bias terms: one GEMM, stacked)
//! step    -= lr · sparsity_cost · (q - target)           q: running mean of h0
//! velocity = momentum · velocity + step - lr · weight_decay · W   (decay on weights only)
//! θ       += velocity                                    (one fused pass on Flex)
//! ```
//!
//! Reference: G. Hinton, *A Practical Guide to Training Restricted Boltzmann Machines*, UTML TR
//! 2010-003 (sections 3, 9, 10, 11); T. Tieleman, *Training RBMs using approximations to the
//! likelihood gradient*, ICML 2008 (PCD).

use burn::prelude::*;
use burn::record::Record;

use crate::check::at_least_one;
use crate::error::ModelError;
use crate::kernels::{bernoulli, matmul, stack_scaled};
use crate::rbm::Rbm;
use crate::sparsity::{add_sparsity_penalty, update_hidden_activity};
use crate::training::RbmTrainingConfig;

/// The CD estimator: how the negative phase is run.
#[derive(Config, Debug)]
pub struct CdConfig {
    /// Gibbs steps of the negative phase (CD-k).
    #[config(default = 1)]
    pub k: usize,
    /// Gibbs steps in the last epoch: the steps grow linearly from `k` in the first epoch to
    /// `final_k` in the last, rounded to whole steps (Salakhutdinov & Murray 2008 raised CD's
    /// steps from 1 to 25 during training); `None` keeps `k` in every epoch.
    #[config(default = "None")]
    pub final_k: Option<usize>,
    /// Persistent CD: keep the negative chains across mini-batches instead of restarting them
    /// at the data; `None` for plain CD.
    #[config(default = "None")]
    pub persistent: Option<PersistentConfig>,
    /// End the negative phase on a sampled visible state `v_k ~ P(v | h_(k-1))` and use
    /// `P(h | v_k)` with it, instead of the visible means `E[v | h_(k-1)]` (Hinton's guide,
    /// section 3, for CD-1). The means cost less noise but bias the model's statistics, the
    /// more so as the weights grow: `E[v]·σ(b + WᵀE[v])` is not `E[v σ(b + Wᵀv)]`. With samples
    /// the statistics of PCD's chains are unbiased (Tieleman 2008). On binarised MNIST our PCD
    /// RBM gained 1 nat of test log-likelihood, and 3.8 with the lighter weight decay that the
    /// unbiased statistics want (0.0001 instead of 0.001; `docs/results.md`).
    #[config(default = false)]
    pub sample_negative: bool,
    /// Train on a fresh Bernoulli sample of each mini-batch, reading the data as probabilities
    /// (grey levels): every epoch sees other binary images. Bernoulli visible units and data
    /// in [0, 1] only.
    #[config(default = false)]
    pub sample_data: bool,
}

/// Persistent CD's chains.
#[derive(Config, Debug)]
pub struct PersistentConfig {
    /// Number of chains; `None` keeps one per mini-batch example. More chains than examples
    /// average the model's statistics over more samples each update.
    #[config(default = "None")]
    pub chains: Option<usize>,
}

impl CdConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        at_least_one("k", self.k)?;
        if let Some(final_k) = self.final_k.filter(|&n| n < self.k) {
            return Err(ModelError::invalid(
                "final_k",
                format!("{final_k} with k = {}", self.k),
                "must be at least k (the steps only grow)",
            ));
        }
        if let Some(chains) = self.persistent.as_ref().and_then(|p| p.chains) {
            at_least_one("persistent.chains", chains)?;
        }
        Ok(())
    }

    /// Persistent CD with one chain per mini-batch example.
    pub fn with_pcd(self) -> Self {
        self.with_persistent(Some(PersistentConfig::new()))
    }

    /// Gibbs steps in epoch `epoch` of `epochs` (both counted from 1): `k`, or with `final_k`
    /// the whole number nearest `k + (final_k - k) · (epoch - 1) / (epochs - 1)`.
    pub fn gibbs_steps(&self, epoch: usize, epochs: usize) -> usize {
        let Some(final_k) = self.final_k else {
            return self.k;
        };
        let (done, span) = (epoch.saturating_sub(1), epochs.saturating_sub(1).max(1));
        let growth = final_k.saturating_sub(self.k) * done.min(span);
        self.k + (2 * growth + span) / (2 * span)
    }
}

/// The step sizes and Gibbs steps of one CD update, which change with the epoch (see
/// [`RbmTrainingConfig::rates`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Scale of the gradient estimate (and, times `weight_decay`, of the decay term).
    pub learning_rate: f64,
    /// Fraction of the previous velocity kept.
    pub momentum: f64,
    /// Gibbs steps of the negative phase.
    pub k: usize,
}

/// A quantity shaped like the RBM's parameters: statistics, a gradient, a velocity.
#[derive(Clone, Debug, Record)]
pub struct RbmDelta<B: Backend> {
    /// `[n_visible, n_hidden]`.
    pub weights: Tensor<B, 2>,
    /// `[n_visible]`.
    pub visible_bias: Tensor<B, 1>,
    /// `[n_hidden]`.
    pub hidden_bias: Tensor<B, 1>,
}

impl<B: Backend> RbmDelta<B> {
    /// Zeros shaped like `rbm`'s parameters.
    pub fn zeros(rbm: &Rbm<B>) -> Self {
        let device = rbm.weights.device();
        Self {
            weights: Tensor::zeros([rbm.n_visible(), rbm.n_hidden()], &device),
            visible_bias: Tensor::zeros([rbm.n_visible()], &device),
            hidden_bias: Tensor::zeros([rbm.n_hidden()], &device),
        }
    }

    /// Batch means of the sufficient statistics: `⟨v hᵀ⟩`, `⟨v⟩`, `⟨h⟩`.
    ///
    /// # Shapes
    /// v `[batch, n_visible]`, h `[batch, n_hidden]`
    pub fn statistics(v: Tensor<B, 2>, h: Tensor<B, 2>) -> Self {
        let n = v.dims()[0] as f64;
        Self {
            weights: v.clone().transpose().matmul(h.clone()).div_scalar(n),
            visible_bias: v.mean_dim(0).squeeze_dim(0),
            hidden_bias: h.mean_dim(0).squeeze_dim(0),
        }
    }

    /// All three parts flattened into one vector `[n_visible·n_hidden + n_visible + n_hidden]`.
    pub fn flatten(self) -> Tensor<B, 1> {
        Tensor::cat(
            vec![
                self.weights.flatten(0, 1),
                self.visible_bias,
                self.hidden_bias,
            ],
            0,
        )
    }
}

impl<B: Backend> std::ops::Sub for RbmDelta<B> {
    type Output = Self;

    /// Element-wise difference of every part.
    fn sub(self, other: Self) -> Self {
        Self {
            weights: self.weights - other.weights,
            visible_bias: self.visible_bias - other.visible_bias,
            hidden_bias: self.hidden_bias - other.hidden_bias,
        }
    }
}

/// The negative phase's end after k Gibbs steps: visible means (or a visible sample) and the
/// hidden probabilities given them.
#[derive(Clone, Debug)]
pub struct NegativePhase<B: Backend> {
    /// `E[v | h_(k-1)]`, or a sample of `P(v | h_(k-1))`, `[chains, n_visible]`.
    pub visible: Tensor<B, 2>,
    /// `P(h | visible)`, `[chains, n_hidden]`.
    pub hidden: Tensor<B, 2>,
}

/// Runs `k` Gibbs steps from sampled hidden states; intermediate steps sample both layers, the
/// last uses the hidden probabilities and the visible means (Hinton's guide, section 3), or with
/// `sample_visible` a visible sample (see [`CdConfig::sample_negative`]).
///
/// # Shapes
/// hidden_sample `[chains, n_hidden]` -> visible `[chains, n_visible]`, hidden
/// `[chains, n_hidden]`
pub fn negative_phase<B: Backend>(
    rbm: &Rbm<B>,
    hidden_sample: Tensor<B, 2>,
    k: usize,
    sample_visible: bool,
) -> NegativePhase<B> {
    let h = (1..k).fold(hidden_sample, |h, _| {
        let v = rbm.sample_visible(rbm.visible_mean(h));
        rbm.sample_hidden(rbm.hidden_probs(v))
    });
    let mean = rbm.visible_mean(h);
    let visible = if sample_visible {
        rbm.sample_visible(mean)
    } else {
        mean
    };
    let hidden = rbm.hidden_probs(visible.clone());
    NegativePhase { visible, hidden }
}

/// The CD estimate of the log-likelihood gradient times `scale`:
/// `scale · (⟨v0 h0ᵀ⟩ − ⟨v_k h_kᵀ⟩)` and the bias terms. The weight part is one matrix product
/// over the data and model rows stacked, `[v0; v_k]ᵀ [c0·h0; −c1·h_k]`, with each mean's
/// `1/n` and the scale folded into the (small) hidden side.
///
/// # Shapes
/// v0 `[batch, n_visible]`, h0 `[batch, n_hidden]` (probabilities), negative `[chains, _]`
pub fn cd_gradient<B: Backend>(
    v0: Tensor<B, 2>,
    h0: Tensor<B, 2>,
    negative: NegativePhase<B>,
    scale: f64,
) -> RbmDelta<B> {
    let data_scale = scale / v0.dims()[0] as f64;
    let model_scale = scale / negative.visible.dims()[0] as f64;
    let visible_bias = v0.clone().sum_dim(0).mul_scalar(data_scale)
        - negative.visible.clone().sum_dim(0).mul_scalar(model_scale);
    let hidden_bias = h0.clone().sum_dim(0).mul_scalar(data_scale)
        - negative.hidden.clone().sum_dim(0).mul_scalar(model_scale);
    let visible = Tensor::cat(vec![v0, negative.visible], 0);
    let hidden = stack_scaled([(h0, data_scale), (negative.hidden, -model_scale)]);
    RbmDelta {
        weights: matmul(visible.transpose(), hidden),
        visible_bias: visible_bias.squeeze_dim(0),
        hidden_bias: hidden_bias.squeeze_dim(0),
    }
}

/// `n` rows taken from `x` in order, starting again at its first row when they run out; `x`
/// itself when `n` is `None`.
///
/// # Shapes
/// x `[rows, cols]` -> `[n, cols]`
fn cycle_rows<B: Backend>(x: Tensor<B, 2>, n: Option<usize>) -> Tensor<B, 2> {
    let Some(n) = n else { return x };
    let rows = x.dims()[0];
    x.repeat_dim(0, n.div_ceil(rows)).slice(0..n)
}

/// What CD training carries from one mini-batch to the next (a Burn record, so that a
/// checkpoint holds it as it is).
#[derive(Clone, Debug, Record)]
pub struct CdState<B: Backend> {
    /// The momentum-smoothed update.
    pub velocity: RbmDelta<B>,
    /// PCD's persistent visible states, `[chains, n_visible]`; `None` for CD or before the first
    /// batch.
    pub chains: Option<Tensor<B, 2>>,
    /// Running mean of hidden activations for the sparsity penalty, `[n_hidden]`.
    pub hidden_activity: Option<Tensor<B, 1>>,
}

impl<B: Backend> CdState<B> {
    /// The state before the first batch: zero velocity, no chains.
    pub fn new(rbm: &Rbm<B>) -> Self {
        Self {
            velocity: RbmDelta::zeros(rbm),
            chains: None,
            hidden_activity: None,
        }
    }

    /// One CD-k (or PCD-k) update on mini-batch `v0` with the settings of `config` and the
    /// epoch's `rates` (see [`RbmTrainingConfig::rates`]); returns the updated RBM and state.
    /// PCD chains start as a sample of the first batch (its rows repeated when
    /// [`PersistentConfig::chains`] asks for more).
    ///
    /// # Shapes
    /// v0 `[batch, n_visible]`
    pub fn step(
        self,
        rbm: Rbm<B>,
        v0: Tensor<B, 2>,
        config: &RbmTrainingConfig,
        rates: Rates,
    ) -> (Rbm<B>, Self) {
        let (rbm, state, _) = self.step_with_negative(rbm, v0, config, rates);
        (rbm, state)
    }

    /// [`CdState::step`], also returning the negative phase's visible layer (the means, or with
    /// [`CdConfig::sample_negative`] a sample), drawn from the RBM before the update: where
    /// up-down's sleep phase starts.
    ///
    /// # Shapes
    /// v0 `[batch, n_visible]` -> negative visible `[chains, n_visible]`
    pub fn step_with_negative(
        self,
        rbm: Rbm<B>,
        v0: Tensor<B, 2>,
        config: &RbmTrainingConfig,
        rates: Rates,
    ) -> (Rbm<B>, Self, Tensor<B, 2>) {
        let cd = &config.cd;
        let v0 = if cd.sample_data { bernoulli(v0) } else { v0 };
        let h0 = rbm.hidden_probs(v0.clone()); // [batch, n_hidden]
        let start = match (&cd.persistent, &self.chains) {
            (Some(_), Some(chains)) => rbm.sample_hidden(rbm.hidden_probs(chains.clone())),
            (Some(pcd), None) => {
                let chains = rbm.sample_visible(cycle_rows(v0.clone(), pcd.chains));
                rbm.sample_hidden(rbm.hidden_probs(chains))
            }
            (None, _) => rbm.sample_hidden(h0.clone()),
        };
        let negative = negative_phase(&rbm, start, rates.k, cd.sample_negative);
        // The chains go on from a binary state: the sample itself, or one drawn from the means.
        let chains = cd.persistent.as_ref().map(|_| {
            if cd.sample_negative {
                negative.visible.clone()
            } else {
                rbm.sample_visible(negative.visible.clone())
            }
        });
        let lr = rates.learning_rate;
        let negative_visible = negative.visible.clone();
        let mut step = cd_gradient(v0.clone(), h0.clone(), negative, lr);
        let mut hidden_activity = self.hidden_activity;
        if let Some(sparsity) = &config.sparsity {
            let q = update_hidden_activity(hidden_activity, h0, sparsity.decay);
            step = add_sparsity_penalty(step, q.clone(), v0, sparsity.target, lr * sparsity.cost);
            hidden_activity = Some(q);
        }
        let (rbm, velocity) = rbm.momentum_step(
            self.velocity,
            step,
            rates.momentum,
            lr * config.optimizer.weight_decay,
        );
        let state = Self {
            velocity,
            chains,
            hidden_activity,
        };
        (rbm, state, negative_visible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::to_f64;
    use crate::optimizer::OptimizerConfig;
    use crate::rbm::VisibleUnits;
    use crate::sparsity::SparsityConfig;
    use crate::test_support::assert_names_fields;
    use crate::test_support::{B, all_states, assert_close};

    /// An RBM whose hidden probabilities on the data are exactly 0 or 1 (saturated hidden
    /// biases, tiny weights), so a CD-1 step draws nothing random and is exactly predictable.
    fn deterministic_rbm() -> (Rbm<B>, Tensor<B, 2>) {
        let device = Default::default();
        let w = Tensor::<B, 2>::from_floats([[0.01, -0.02], [0.03, 0.01], [-0.01, 0.02]], &device);
        let a = Tensor::from_floats([0.1, -0.2, 0.3], &device);
        let b = Tensor::from_floats([200.0, -200.0], &device);
        let rbm = Rbm::new(w, a, b, VisibleUnits::Bernoulli).unwrap();
        let v0 = Tensor::from_floats([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], &device);
        (rbm, v0)
    }

    /// The first epoch's rates with momentum `momentum`.
    fn at(config: &RbmTrainingConfig, momentum: f64) -> Rates {
        Rates {
            momentum,
            ..config.rates(1)
        }
    }

    /// Training at rate 0.5 without weight decay, CD as `cd` says.
    fn plain(cd: CdConfig) -> RbmTrainingConfig {
        let optimizer = OptimizerConfig::new()
            .with_weight_decay(0.0)
            .with_learning_rate(0.5);
        RbmTrainingConfig::new()
            .with_cd(cd)
            .with_optimizer(optimizer)
    }

    /// `config` with its optimiser changed by `change`.
    fn optimizer(
        config: RbmTrainingConfig,
        change: impl FnOnce(OptimizerConfig) -> OptimizerConfig,
    ) -> RbmTrainingConfig {
        let optimizer = change(config.optimizer.clone());
        config.with_optimizer(optimizer)
    }

    #[test]
    fn a_cd1_step_matches_the_hand_computed_update() {
        // h0 = [1, 0] for both examples; v1 = σ(a + W[:, 0]); h1 = P(h | v1) = [1, 0].
        let (rbm, v0) = deterministic_rbm();
        let config = plain(CdConfig::new());
        let (after, _) = CdState::new(&rbm).step(rbm.clone(), v0, &config, at(&config, 0.0));
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let v1 = [sig(0.1 + 0.01), sig(-0.2 + 0.03), sig(0.3 - 0.01)];
        let mean_v0 = [0.5, 0.5, 1.0];
        let expected_w: Vec<f64> = (0..3)
            .flat_map(|i| {
                let w = [[0.01, -0.02], [0.03, 0.01], [-0.01, 0.02]][i];
                [w[0] + 0.5 * (mean_v0[i] - v1[i]), w[1]]
            })
            .collect();
        assert_close(&to_f64(after.weights.val()), &expected_w, 1e-6);
        let expected_a: Vec<f64> = (0..3)
            .map(|i| [0.1, -0.2, 0.3][i] + 0.5 * (mean_v0[i] - v1[i]))
            .collect();
        assert_close(&to_f64(after.visible_bias.val()), &expected_a, 1e-6);
        assert_close(&to_f64(after.hidden_bias.val()), &[200.0, -200.0], 1e-4);
    }

    #[test]
    fn weight_decay_subtracts_its_multiple_of_the_weights_and_spares_biases() {
        let (rbm, v0) = deterministic_rbm();
        let base = plain(CdConfig::new());
        let (without, _) = CdState::new(&rbm).step(rbm.clone(), v0.clone(), &base, at(&base, 0.0));
        let decayed = optimizer(base.clone(), |o| o.with_weight_decay(0.01));
        let (with, _) = CdState::new(&rbm).step(rbm.clone(), v0, &decayed, at(&decayed, 0.0));
        let diff = to_f64(with.weights.val() - without.weights.val());
        let expected = to_f64(rbm.weights.val().mul_scalar(-0.5 * 0.01));
        assert_close(&diff, &expected, 1e-7);
        let bias_diff = to_f64(with.visible_bias.val() - without.visible_bias.val());
        assert_close(&bias_diff, &[0.0; 3], 0.0);
    }

    #[test]
    fn momentum_adds_its_fraction_of_the_previous_velocity() {
        let (rbm, v0) = deterministic_rbm();
        let config = plain(CdConfig::new());
        let mut state = CdState::new(&rbm);
        state.velocity.weights = Tensor::ones([3, 2], &Default::default()).mul_scalar(0.1);
        let (with, _) = state
            .clone()
            .step(rbm.clone(), v0.clone(), &config, at(&config, 0.9));
        let (without, _) = state.step(rbm, v0, &config, at(&config, 0.0));
        let diff = to_f64(with.weights.val() - without.weights.val());
        assert_close(&diff, &[0.09; 6], 1e-7);
    }

    #[test]
    fn the_step_scales_with_the_epochs_learning_rate() {
        let (rbm, v0) = deterministic_rbm();
        let config = optimizer(plain(CdConfig::new()), |o| o.with_lr_decay(0.5));
        assert_eq!(config.rates(1).learning_rate, 0.5);
        assert_eq!(config.rates(3).learning_rate, 0.125);
        let (first, _) = CdState::new(&rbm).step(rbm.clone(), v0.clone(), &config, config.rates(1));
        let (third, _) = CdState::new(&rbm).step(rbm.clone(), v0, &config, config.rates(3));
        let moved = |after: &Rbm<B>| to_f64(after.weights.val() - rbm.weights.val());
        let quarter: Vec<f64> = moved(&first).iter().map(|d| d / 4.0).collect();
        assert_close(&moved(&third), &quarter, 1e-7);
    }

    #[test]
    fn the_gibbs_steps_grow_from_k_to_final_k() {
        let config = CdConfig::new().with_final_k(Some(25));
        let steps: Vec<usize> = (1..=6).map(|e| config.gibbs_steps(e, 5)).collect();
        assert_eq!(
            steps,
            [1, 7, 13, 19, 25, 25],
            "1 + 24 (e - 1) / 4, held after the last"
        );
        let rounding = CdConfig::new().with_k(2).with_final_k(Some(3));
        let steps: Vec<usize> = (1..=4).map(|e| rounding.gibbs_steps(e, 4)).collect();
        assert_eq!(steps, [2, 2, 3, 3], "2 + 1/3 rounds down, 2 + 2/3 up");
        assert_eq!(
            CdConfig::new().with_k(4).gibbs_steps(9, 10),
            4,
            "no final_k: always k"
        );
        assert_eq!(config.gibbs_steps(1, 1), 1, "one epoch runs k");
        // The training config hands its epochs to the schedule.
        let training = RbmTrainingConfig::new().with_epochs(5).with_cd(config);
        assert_eq!(training.rates(3).k, 13);
    }

    #[test]
    fn sample_data_trains_on_binary_draws_of_the_batch() {
        // h0 = [1, 0] whatever v0 (hidden biases ±200), so the visible-bias step is
        // lr · (v0 - v1) with v1 = σ(a + W[:, 0]): v0 shows through it, binary when sampled.
        let (rbm, _) = deterministic_rbm();
        let config = plain(CdConfig::new().with_sample_data(true));
        let v1 = [0.1 + 0.01, -0.2 + 0.03, 0.3 - 0.01].map(|x: f64| 1.0 / (1.0 + (-x).exp()));
        let mut seen = Vec::new();
        for seed in 0..8 {
            B::seed(&Default::default(), seed);
            let v0 = Tensor::<B, 2>::from_floats([[0.5, 0.5, 0.5]], &Default::default());
            let (after, _) = CdState::new(&rbm).step(rbm.clone(), v0, &config, at(&config, 0.0));
            let step = to_f64(after.visible_bias.val() - rbm.visible_bias.val());
            for (i, d) in step.iter().enumerate() {
                let v0 = d / 0.5 + v1[i];
                assert!(v0.abs() < 1e-5 || (v0 - 1.0).abs() < 1e-5, "v0 {v0}");
                seen.push(v0.round());
            }
        }
        assert!(seen.contains(&0.0) && seen.contains(&1.0), "{seen:?}");
    }

    #[test]
    fn sparsity_pushes_hidden_units_toward_the_target() {
        // q = mean(h0) = [1, 0] on the first batch; target 0.1, cost 0.2:
        // hidden bias -= lr·cost·(q - target), weights -= lr·cost·⟨v0⟩(q - target)ᵀ.
        let (rbm, v0) = deterministic_rbm();
        let base = plain(CdConfig::new());
        let (without, _) = CdState::new(&rbm).step(rbm.clone(), v0.clone(), &base, at(&base, 0.0));
        let sparse = base
            .clone()
            .with_sparsity(Some(SparsityConfig::new().with_cost(0.2).with_target(0.1)));
        let (with, state) =
            CdState::new(&rbm).step(rbm.clone(), v0.clone(), &sparse, at(&sparse, 0.0));
        let excess = [0.9 * 0.2, -0.1 * 0.2];
        let bias_diff = to_f64(with.hidden_bias.val() - without.hidden_bias.val());
        assert_close(&bias_diff, &[-0.5 * excess[0], -0.5 * excess[1]], 1e-4);
        let mean_v0 = [0.5, 0.5, 1.0];
        let expected: Vec<f64> = (0..3)
            .flat_map(|i| excess.map(|e| -0.5 * mean_v0[i] * e))
            .collect();
        let w_diff = to_f64(with.weights.val() - without.weights.val());
        assert_close(&w_diff, &expected, 1e-6);
        // The running mean decays toward the next batch's activity.
        let q = update_hidden_activity(
            state.hidden_activity,
            Tensor::zeros([2, 2], &Default::default()),
            0.95,
        );
        assert_close(&to_f64(q), &[0.95, 0.0], 1e-6);
    }

    /// A saturated "memory" RBM: each state [1, 0], [0, 1], [0, 0] maps to itself through h
    /// and back, with probabilities exactly 0 or 1, so PCD's chains stay where they start.
    fn memory_rbm() -> Rbm<B> {
        let device = Default::default();
        let w = Tensor::<B, 2>::from_floats([[300.0, -300.0], [-300.0, 300.0]], &device);
        let bias = || Tensor::<B, 1>::from_floats([-150.0, -150.0], &device);
        Rbm::new(w, bias(), bias(), VisibleUnits::Bernoulli).unwrap()
    }

    #[test]
    fn pcd_keeps_its_chains_between_batches() {
        let (rbm, device) = (memory_rbm(), Default::default());
        let ones_first = Tensor::<B, 2>::from_floats([[1.0, 0.0], [1.0, 0.0]], &device);
        let zeros = Tensor::<B, 2>::zeros([2, 2], &device);
        let pcd = plain(CdConfig::new().with_pcd());
        // Batch 1 puts the chains at [1, 0].
        let (rbm, state) = CdState::new(&rbm).step(rbm, ones_first, &pcd, at(&pcd, 0.0));
        assert_eq!(
            to_f64(state.chains.clone().unwrap()),
            vec![1.0, 0.0, 1.0, 0.0]
        );
        // Batch 2 is zeros: PCD's negative phase still runs from [1, 0], so the visible bias
        // moves by lr·(⟨v0⟩ - ⟨v_neg⟩) = 0.5·([0, 0] - [1, 0]); CD's would run from the data.
        let (after_pcd, state) = state.step(rbm.clone(), zeros.clone(), &pcd, at(&pcd, 0.0));
        assert_eq!(to_f64(state.chains.unwrap()), vec![1.0, 0.0, 1.0, 0.0]);
        let moved = to_f64(after_pcd.visible_bias.val() - rbm.visible_bias.val());
        assert_close(&moved, &[-0.5, 0.0], 1e-4);
        let cd = plain(CdConfig::new());
        let (after_cd, cd_state) = CdState::new(&rbm).step(rbm.clone(), zeros, &cd, at(&cd, 0.0));
        assert!(cd_state.chains.is_none());
        let moved = to_f64(after_cd.visible_bias.val() - rbm.visible_bias.val());
        assert_close(&moved, &[0.0, 0.0], 1e-4);
    }

    #[test]
    fn pcd_runs_as_many_chains_as_asked_started_from_the_batch_repeated() {
        let (rbm, device) = (memory_rbm(), Default::default());
        let batch = Tensor::<B, 2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let chains = PersistentConfig::new().with_chains(Some(5));
        let pcd = plain(CdConfig::new().with_persistent(Some(chains)));
        let (after, state) = CdState::new(&rbm).step(rbm.clone(), batch, &pcd, at(&pcd, 0.0));
        let chains = to_f64(state.chains.unwrap());
        assert_eq!(chains, [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        // The model's mean is over the five chains: 0.5·([0.5, 0.5] − [0.6, 0.4]).
        let moved = to_f64(after.visible_bias.val() - rbm.visible_bias.val());
        assert_close(&moved, &[-0.05, 0.05], 1e-4);
    }

    #[test]
    fn the_statistics_of_all_states_weighted_uniformly_are_plain_means() {
        let v = all_states(3);
        let stats = RbmDelta::<B>::statistics(v.clone(), v);
        // ⟨v_i v_j⟩ over all 8 states: 1/2 on the diagonal, 1/4 off it.
        let w = to_f64(stats.weights);
        assert_close(
            &w,
            &[0.5, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.25, 0.5],
            1e-7,
        );
        assert_close(&to_f64(stats.visible_bias), &[0.5; 3], 1e-7);
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (CdConfig::new().with_k(0), "k"),
            (CdConfig::new().with_k(5).with_final_k(Some(3)), "final_k"),
            (
                CdConfig::new().with_persistent(Some(PersistentConfig::new().with_chains(Some(0)))),
                "persistent.chains",
            ),
        ];
        assert_names_fields(cases, |config| config.validate());
        assert!(CdConfig::new().validate().is_ok());
        assert!(CdConfig::new().with_pcd().validate().is_ok());
    }
}
