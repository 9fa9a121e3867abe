//! Up-down fine-tuning of a DBN's generative model: the contrastive wake-sleep algorithm of
//! Hinton, Osindero & Teh (2006), section 5 and appendix B.
//!
//! Below the top RBM the tied weights are untied: each RBM `l < L` keeps bottom-up recognition
//! weights `R_l` and hidden biases `c_l`, and top-down generative weights `G_l` and visible
//! biases `a_l`, both starting from the pretrained `W_l` ([`UpDownDbn::untie`]). One mini-batch
//! (`ε` the learning rate, means over the batch):
//!
//! ```text
//! wake:        s_0 = v,  s_l ~ σ(c_l + s_(l-1) R_l)                      l = 1 … L-1
//! top RBM:     CD-k on [s_(L-1), label], its negative phase t_(L-1) (labels dropped)
//! sleep:       t_(l-1) ~ σ(a_l + t_l G_lᵀ),  t_0 = E[v | t_1]          l = L-1 … 1
//! generative:  G_l += ε ⟨(s_(l-1) - E[s_(l-1) | s_l])ᵀ s_l⟩,   a_l += ε ⟨s_(l-1) - E[s_(l-1) | s_l]⟩
//! recognition: R_l += ε ⟨t_(l-1)ᵀ (t_l - σ(c_l + t_(l-1) R_l))⟩,  c_l += ε ⟨t_l - σ(c_l + t_(l-1) R_l)⟩
//! ```
//!
//! The generative weights learn to reconstruct each layer from the recognised layer above (the
//! wake phase), the recognition weights to recognise what the generative model dreams (the
//! sleep phase). Every update is computed from the parameters before the step; the learning
//! rate and momentum apply to every weight and bias alike, weight decay to the weights
//! ([`OptimizerConfig`]). [`UpDownTrainer`] runs epochs
//! of it with a checkpoint after each, resumed bit for bit like pretraining.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use burn::record::Record;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::cd::{CdConfig, CdState, Rates, RbmDelta};
use crate::check::at_least_one;
use crate::dbn::{Dbn, DbnConfig};
use crate::error::ModelError;
use crate::feed::Feed;
use crate::generative::Generative;
use crate::kernels::{all_finite_each, bernoulli, in_thread_pool};
use crate::numerics::all_finite;
use crate::optimizer::OptimizerConfig;
use crate::persist::{read_checkpoint, write_checkpoint};
use crate::rbm::Rbm;
use crate::seed::RunSeed;
use crate::trainer::flat_parameters;
use crate::training::RbmTrainingConfig;

/// Settings of up-down fine-tuning.
#[derive(Config, Debug)]
pub struct UpDownConfig {
    /// Epochs over the training data.
    #[config(default = 10)]
    pub epochs: usize,
    /// Examples per mini-batch.
    #[config(default = 100)]
    pub batch_size: usize,
    /// The top RBM's estimator: CD-k started from the wake states (Hinton et al. ran 3 Gibbs
    /// steps, later 6 and 10: `final_k` grows them over the epochs).
    #[config(default = "CdConfig::new().with_k(3)")]
    pub cd: CdConfig,
    /// Learning rate and momentum of every weight and bias alike, and weight decay of every
    /// weight (not the biases). On the quick
    /// preset's labelled stack, rate 0.1 took the generative test error from 6.19% to 4.30% in
    /// 30 epochs, where 0.01 and 0.05 reached 5.59% and 5.16% in 10 (docs/results.md).
    #[config(
        default = "OptimizerConfig::new().with_learning_rate(0.1).with_momentum(0.0).with_weight_decay(0.0)"
    )]
    pub optimizer: OptimizerConfig,
    /// Training (and validation) examples used for the per-epoch reconstruction error.
    #[config(default = 1000)]
    pub monitor_size: usize,
}

impl UpDownConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field by its path (`cd.k`).
    pub fn validate(&self) -> Result<(), ModelError> {
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("monitor_size", self.monitor_size)?;
        self.cd.validate().map_err(|e| e.within("cd"))?;
        self.optimizer.validate().map_err(|e| e.within("optimizer"))
    }

    /// The top RBM's CD settings: the estimator, the optimiser and the epochs (which schedule
    /// `cd.final_k`).
    fn top_training(&self) -> RbmTrainingConfig {
        RbmTrainingConfig::new()
            .with_cd(self.cd.clone())
            .with_optimizer(self.optimizer.clone())
            .with_epochs(self.epochs)
            .with_batch_size(self.batch_size)
    }
}

/// Checks that a stack of these layer sizes can be fine-tuned by up-down: it has weights below
/// its top RBM to untie.
///
/// # Errors
/// [`ModelError::InvalidConfig`] for `layers` of fewer than two RBMs.
pub fn check_stack(layers: &[usize]) -> Result<(), ModelError> {
    if layers.len() < 3 {
        return Err(ModelError::invalid(
            "layers",
            format!("{layers:?}"),
            "up-down unties the weights below the top RBM, so it needs at least two RBMs",
        ));
    }
    Ok(())
}

/// A DBN with untied weights below its top RBM: the generative model and its recognition
/// weights (see the [module docs](self)).
#[derive(Module, Debug)]
pub struct UpDownDbn<B: Backend> {
    /// The generative model: the top RBM and, below it, each RBM's generative weights `G_l`
    /// and visible biases `a_l` (their hidden biases are not used).
    pub generative: Dbn<B>,
    /// The recognition weights `R_l` and hidden biases `c_l` of each RBM below the top (their
    /// visible biases are not used).
    pub recognition: Dbn<B>,
}

impl<B: Backend> UpDownDbn<B> {
    /// Unties a pretrained stack: generative and recognition weights both start as its own.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] for a stack of one RBM (nothing to untie).
    pub fn untie(dbn: Dbn<B>) -> Result<Self, ModelError> {
        check_stack(&dbn.layer_sizes())?;
        let below = dbn.rbms.len() - 1;
        let recognition = Dbn::new(dbn.rbms[..below].to_vec())?;
        Ok(Self {
            generative: dbn,
            recognition,
        })
    }

    /// Layer sizes from the data up (label units not counted).
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.generative.layer_sizes()
    }

    /// `data` recognised up to `h(L-1)` and brought back down by the generative weights, both
    /// ways through the means: how well the generative weights below the top RBM reconstruct
    /// what the recognition weights see.
    ///
    /// # Shapes
    /// data `[n, n_visible]` -> `[n, n_visible]`
    pub fn reconstruct(&self, data: Tensor<B, 2>) -> Tensor<B, 2> {
        let below = self.recognition.rbms.len();
        (1..=below).rev().fold(self.recognise(data), |h, layer| {
            self.generative.down_step(layer, h)
        })
    }
}

/// The up-down stack recognises with its recognition weights.
impl<B: Backend> Generative<B> for UpDownDbn<B> {
    fn generator(&self) -> &Dbn<B> {
        &self.generative
    }

    /// Through the recognition weights up to `h(L-1)`, then the top RBM's own.
    fn features(&self, v: Tensor<B, 2>, layer: usize) -> Tensor<B, 2> {
        let below = self.recognition.rbms.len();
        assert!(layer <= below + 1, "layer {layer} above the top");
        let recognised = self.recognition.up(v, layer.min(below));
        if layer > below {
            self.generative.up_step(layer, recognised)
        } else {
            recognised
        }
    }
}

/// What up-down training carries from one mini-batch to the next: the top RBM's CD state and
/// the velocity of each directed layer's weights (a Burn record, for checkpoints).
#[derive(Clone, Debug, Record)]
pub struct UpDownState<B: Backend> {
    /// The top RBM's velocity (and PCD chains).
    pub top: CdState<B>,
    /// Velocity of each generative layer's weights and visible biases, bottom first.
    pub generative: Vec<RbmDelta<B>>,
    /// Velocity of each recognition layer's weights and hidden biases, bottom first.
    pub recognition: Vec<RbmDelta<B>>,
}

impl<B: Backend> UpDownState<B> {
    /// The state before the first batch: zero velocities.
    pub fn new(model: &UpDownDbn<B>) -> Self {
        let zeros = |rbms: &[Rbm<B>]| rbms.iter().map(RbmDelta::zeros).collect();
        let below = model.recognition.rbms.len();
        Self {
            top: CdState::new(&model.generative.rbms[below]),
            generative: zeros(&model.generative.rbms[..below]),
            recognition: zeros(&model.recognition.rbms),
        }
    }

    /// One up-down update on mini-batch `batch` (see the [module docs](self)): `top` holds the
    /// top RBM's CD settings, `rates` the epoch's learning rate, momentum and Gibbs steps.
    ///
    /// # Shapes
    /// batch `[n, n_visible (+ labels)]`: each example, then its one-hot label when the top RBM
    /// has label units
    pub fn step(
        self,
        model: UpDownDbn<B>,
        batch: Tensor<B, 2>,
        top: &RbmTrainingConfig,
        rates: Rates,
    ) -> (UpDownDbn<B>, Self) {
        let UpDownDbn {
            mut generative,
            mut recognition,
        } = model;
        let below = recognition.rbms.len();
        let n_visible = recognition.rbms[0].n_visible();
        let labels = batch.clone().slice_dim(1, n_visible..);
        let v = batch.slice_dim(1, 0..n_visible);
        let wake = wake_states(&recognition, v); // s_0 … s_(L-1)
        let top_rbm = generative.rbms[below].clone();
        let top_input = match top_rbm.labels {
            0 => wake[below].clone(),
            _ => Tensor::cat(vec![wake[below].clone(), labels], 1),
        };
        let (trained_top, top_state, negative) =
            self.top
                .step_with_negative(top_rbm.clone(), top_input, top, rates);
        let dream = match top_rbm.labels {
            0 => negative,
            _ => top_rbm.split_labels(negative).0,
        };
        let sleep = sleep_states(&generative, bernoulli(dream)); // t_0 … t_(L-1)
        let decay = rates.learning_rate * top.optimizer.weight_decay;
        let mut velocities = (Vec::new(), Vec::new());
        for (l, (g_velocity, r_velocity)) in self
            .generative
            .into_iter()
            .zip(self.recognition)
            .enumerate()
        {
            let g = generative.rbms[l].clone();
            let step = generative_step(&g, wake[l].clone(), wake[l + 1].clone(), rates);
            let (g, g_velocity) = g.momentum_step(g_velocity, step, rates.momentum, decay);
            generative.rbms[l] = g;
            let r = recognition.rbms[l].clone();
            let step = recognition_step(&r, sleep[l].clone(), sleep[l + 1].clone(), rates);
            let (r, r_velocity) = r.momentum_step(r_velocity, step, rates.momentum, decay);
            recognition.rbms[l] = r;
            velocities.0.push(g_velocity);
            velocities.1.push(r_velocity);
        }
        generative.rbms[below] = trained_top;
        let state = Self {
            top: top_state,
            generative: velocities.0,
            recognition: velocities.1,
        };
        (
            UpDownDbn {
                generative,
                recognition,
            },
            state,
        )
    }
}

/// The wake phase: `s_0 = v` and each layer above sampled from the recognition weights.
///
/// # Shapes
/// v `[n, n_visible]` -> `L` tensors, `s_l` `[n, sizes[l]]`
fn wake_states<B: Backend>(recognition: &Dbn<B>, v: Tensor<B, 2>) -> Vec<Tensor<B, 2>> {
    let mut states = vec![v];
    for rbm in &recognition.rbms {
        let below = states.last().expect("s_0 is there").clone();
        states.push(bernoulli(rbm.hidden_probs(below)));
    }
    states
}

/// The sleep phase: from the top RBM's dream `t_(L-1)` down, each layer sampled from the
/// generative weights, the data layer's means `t_0` last.
///
/// # Shapes
/// dream `[n, sizes[L-1]]` -> `L` tensors, `t_l` `[n, sizes[l]]`, bottom first
fn sleep_states<B: Backend>(generative: &Dbn<B>, dream: Tensor<B, 2>) -> Vec<Tensor<B, 2>> {
    let below = generative.rbms.len() - 1;
    let mut states = vec![dream];
    for layer in (1..=below).rev() {
        let mean = generative.down_step(layer, states.last().expect("t_L-1").clone());
        states.push(if layer > 1 { bernoulli(mean) } else { mean });
    }
    states.reverse();
    states
}

/// The generative weights' delta-rule step, times the learning rate: the layer below
/// (`target`) against its prediction from the layer above (`above`).
///
/// # Shapes
/// target `[n, n_visible]`, above `[n, n_hidden]` of `rbm`
fn generative_step<B: Backend>(
    rbm: &Rbm<B>,
    target: Tensor<B, 2>,
    above: Tensor<B, 2>,
    rates: Rates,
) -> RbmDelta<B> {
    let scale = rates.learning_rate / target.dims()[0] as f64;
    let error = target - rbm.visible_mean(above.clone()); // [n, n_visible]
    RbmDelta {
        weights: error.clone().transpose().matmul(above).mul_scalar(scale),
        visible_bias: error.sum_dim(0).squeeze_dim(0).mul_scalar(scale),
        hidden_bias: rbm.hidden_bias.val().zeros_like(),
    }
}

/// The recognition weights' delta-rule step, times the learning rate: the dreamed layer above
/// (`target`) against its recognition from the dreamed layer below (`below`).
///
/// # Shapes
/// below `[n, n_visible]`, target `[n, n_hidden]` of `rbm`
fn recognition_step<B: Backend>(
    rbm: &Rbm<B>,
    below: Tensor<B, 2>,
    target: Tensor<B, 2>,
    rates: Rates,
) -> RbmDelta<B> {
    let scale = rates.learning_rate / below.dims()[0] as f64;
    let error = target - rbm.hidden_probs(below.clone()); // [n, n_hidden]
    RbmDelta {
        weights: below.transpose().matmul(error.clone()).mul_scalar(scale),
        visible_bias: rbm.visible_bias.val().zeros_like(),
        hidden_bias: error.sum_dim(0).squeeze_dim(0).mul_scalar(scale),
    }
}

/// What one epoch of up-down measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Record)]
pub struct UpDownEpoch {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Mean over the monitored training examples of `‖v - reconstruct(v)‖²`
    /// ([`UpDownDbn::reconstruct`]).
    pub reconstruction_error: f64,
    /// The same on the monitored validation examples, when validation data is given.
    pub valid_reconstruction_error: Option<f64>,
    /// Share of the validation examples misclassified by the top RBM's free energy
    /// ([`Generative::classify_generatively`]), with label units and validation data.
    pub valid_generative_error: Option<f64>,
    /// Wall time of the epoch, monitoring included.
    pub seconds: f64,
}

/// An up-down run between two epochs: saving and restoring it continues the run exactly.
#[derive(Clone, Debug)]
pub struct UpDownRun<B: Backend> {
    /// The model as trained so far.
    pub model: UpDownDbn<B>,
    /// The velocities and the top RBM's CD state.
    pub state: UpDownState<B>,
    /// One entry per epoch trained.
    pub history: Vec<UpDownEpoch>,
}

/// Trains an [`UpDownDbn`] of a [`DbnConfig`]'s stack as an [`UpDownConfig`] says.
#[derive(Clone, Debug)]
pub struct UpDownTrainer {
    model: DbnConfig,
    config: UpDownConfig,
    seed: RunSeed,
    checkpoint: Option<PathBuf>,
}

impl UpDownTrainer {
    /// A trainer of stacks of `model`, without checkpoints, whose epochs are seeded from
    /// [`RunSeed::up_down_epoch`].
    ///
    /// # Errors
    /// As [`DbnConfig::validate`] and [`UpDownConfig::validate`], and a stack of one RBM.
    pub fn new(model: DbnConfig, config: UpDownConfig, seed: RunSeed) -> Result<Self, ModelError> {
        model.validate()?;
        config.validate()?;
        check_stack(&model.layers)?;
        Ok(Self {
            model,
            config,
            seed,
            checkpoint: None,
        })
    }

    /// The same trainer writing a checkpoint to `path` after every epoch.
    pub fn with_checkpoint(self, path: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint: Some(path.into()),
            ..self
        }
    }

    /// Unties `dbn` and trains it for the configured epochs, calling `on_epoch` after each (and
    /// after its checkpoint). The data is each example followed by its one-hot label when the
    /// top RBM has label units, as in pretraining.
    ///
    /// # Shapes
    /// train `[n, layers[0] (+ labels)]`, valid `[n_valid, layers[0] (+ labels)]`
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] when `dbn` or the data do not match the configured stack,
    /// [`ModelError::NonFiniteData`], [`ModelError::UpDownDiverged`], [`ModelError::Io`] when a
    /// checkpoint cannot be written.
    pub fn train<B: Backend>(
        &self,
        dbn: Dbn<B>,
        train: impl Into<Feed<B>>,
        valid: Option<Feed<B>>,
        on_epoch: impl FnMut(&UpDownEpoch),
    ) -> Result<UpDownRun<B>, ModelError> {
        if dbn.layer_sizes() != self.model.layers || dbn.labels() != self.model.labels {
            return Err(ModelError::invalid(
                "layers",
                format!(
                    "{:?} with {} label units",
                    self.model.layers, self.model.labels
                ),
                "the DBN given has other layer sizes or label units",
            ));
        }
        let model = UpDownDbn::untie(dbn)?;
        let run = UpDownRun {
            state: UpDownState::new(&model),
            model,
            history: Vec::new(),
        };
        self.continue_run(run, train.into(), valid, on_epoch)
    }

    /// Continues the run saved in the checkpoint file.
    ///
    /// # Errors
    /// [`ModelError::Io`] when no valid checkpoint of this stack exists, and the errors of
    /// [`UpDownTrainer::train`].
    pub fn resume<B: Backend>(
        &self,
        train: impl Into<Feed<B>>,
        valid: Option<Feed<B>>,
        on_epoch: impl FnMut(&UpDownEpoch),
    ) -> Result<UpDownRun<B>, ModelError> {
        let path = self.checkpoint.as_ref().ok_or_else(|| {
            ModelError::invalid(
                "checkpoint",
                "none",
                "resuming needs a checkpoint file (UpDownTrainer::with_checkpoint)",
            )
        })?;
        let train = train.into();
        let checkpoint: UpDownCheckpoint<B> = read_checkpoint(path, &train.device())?;
        if (&checkpoint.layers, checkpoint.labels) != (&self.model.layers, self.model.labels) {
            return Err(ModelError::Io {
                path: path.clone(),
                reason: format!(
                    "the checkpoint is of layers {:?} with {} label units, the configuration has \
                     {:?} with {}",
                    checkpoint.layers, checkpoint.labels, self.model.layers, self.model.labels
                ),
            });
        }
        let empty = UpDownDbn::untie(self.model.init::<B>(&train.device())?)?;
        let run = UpDownRun {
            model: empty.load_record(checkpoint.model),
            state: checkpoint.state,
            history: checkpoint.history,
        };
        self.continue_run(run, train, valid, on_epoch)
    }

    fn continue_run<B: Backend>(
        &self,
        mut run: UpDownRun<B>,
        train: Feed<B>,
        valid: Option<Feed<B>>,
        mut on_epoch: impl FnMut(&UpDownEpoch),
    ) -> Result<UpDownRun<B>, ModelError> {
        self.check_data("training data", &train)?;
        if let Some(valid) = &valid {
            self.check_data("validation data", valid)?;
        }
        let n_visible = self.model.layers[0];
        let features = |head: Tensor<B, 2>| head.slice_dim(1, 0..n_visible);
        let train_head = features(train.head(self.config.monitor_size));
        let valid_head = valid
            .as_ref()
            .map(|v| features(v.head(self.config.monitor_size)));
        let top = self.config.top_training();
        while run.history.len() < self.config.epochs {
            let epoch = run.history.len() + 1;
            let start = Instant::now();
            let (model, state) = self.epoch(run.model, run.state, &train, &top, epoch)?;
            let mean = |t: Tensor<B, 1>| t.mean().into_scalar().elem::<f64>();
            let error = |head: &Tensor<B, 2>| {
                mean(
                    (head.clone() - model.reconstruct(head.clone()))
                        .square()
                        .sum_dim(1)
                        .squeeze_dim(1),
                )
            };
            let stats = UpDownEpoch {
                epoch,
                reconstruction_error: error(&train_head),
                valid_reconstruction_error: valid_head.as_ref().map(error),
                valid_generative_error: match (&valid, self.model.labels) {
                    (Some(valid), k) if k > 0 => Some(generative_error(&model, valid, n_visible)),
                    _ => None,
                },
                seconds: start.elapsed().as_secs_f64(),
            };
            run.history.push(stats);
            run = UpDownRun {
                model,
                state,
                history: run.history,
            };
            if let Some(path) = &self.checkpoint {
                let checkpoint = UpDownCheckpoint {
                    layers: self.model.layers.clone(),
                    labels: self.model.labels,
                    model: run.model.clone().into_record(),
                    state: run.state.clone(),
                    history: run.history.clone(),
                };
                write_checkpoint(checkpoint, path)?;
            }
            on_epoch(run.history.last().expect("an epoch was trained"));
        }
        Ok(run)
    }

    /// One epoch of up-down updates over `train` in a shuffled order, seeded from
    /// [`RunSeed::up_down_epoch`]; checks every update for divergence.
    ///
    /// # Errors
    /// [`ModelError::UpDownDiverged`] naming the epoch and batch (from 1).
    fn epoch<B: Backend>(
        &self,
        model: UpDownDbn<B>,
        state: UpDownState<B>,
        train: &Feed<B>,
        top: &RbmTrainingConfig,
        epoch: usize,
    ) -> Result<(UpDownDbn<B>, UpDownState<B>), ModelError> {
        in_thread_pool::<B, _>(|| {
            let mut rng = StdRng::from_seed(self.seed.up_down_epoch(epoch));
            B::seed(&train.device(), rng.next_u64());
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rng);
            let rates = top.rates(epoch);
            let (mut model, mut state) = (model, state);
            for (batch, indices) in order.chunks(self.config.batch_size).enumerate() {
                (model, state) = state.step(model, train.rows(indices), top, rates);
                let parameters = model
                    .generative
                    .rbms
                    .iter()
                    .chain(&model.recognition.rbms)
                    .flat_map(flat_parameters);
                if !all_finite_each(parameters) {
                    return Err(ModelError::UpDownDiverged {
                        epoch,
                        batch: batch + 1,
                        learning_rate: rates.learning_rate,
                    });
                }
            }
            Ok((model, state))
        })
    }

    /// Checks the width and finiteness of every example of `data`, one chunk at a time.
    fn check_data<B: Backend>(&self, what: &'static str, data: &Feed<B>) -> Result<(), ModelError> {
        for chunk in data.chunks() {
            self.model.check_pretraining_width(chunk.dims()[1])?;
            if !all_finite(chunk) {
                return Err(ModelError::NonFiniteData { what });
            }
        }
        if data.is_empty() {
            return Err(ModelError::Shape {
                what,
                expected: vec![1, self.model.layers[0] + self.model.labels],
                actual: vec![0, self.model.layers[0] + self.model.labels],
            });
        }
        Ok(())
    }
}

/// Share of `data`'s examples that `model` misclassifies by the top RBM's free energy; each row
/// is an example's `n_visible` features and then its one-hot label.
fn generative_error<B: Backend>(model: &UpDownDbn<B>, data: &Feed<B>, n_visible: usize) -> f64 {
    let (mut wrong, mut total) = (0usize, 0usize);
    for chunk in data.chunks() {
        let n = chunk.dims()[0];
        let truth = chunk
            .clone()
            .slice_dim(1, n_visible..)
            .argmax(1)
            .squeeze_dim(1);
        let predicted = model
            .classify_generatively(chunk.slice_dim(1, 0..n_visible))
            .expect("the stack has label units");
        let right: i64 = predicted.equal(truth).int().sum().into_scalar().elem();
        wrong += n - right as usize;
        total += n;
    }
    wrong as f64 / total as f64
}

/// Everything a resumed up-down run needs, as one Burn record.
#[derive(Record)]
struct UpDownCheckpoint<B: Backend> {
    /// Layer sizes of the stack.
    layers: Vec<usize>,
    /// Label units of its top RBM.
    labels: usize,
    /// The model after the epoch.
    model: UpDownDbnRecord<B>,
    /// The velocities and CD state.
    state: UpDownState<B>,
    /// The epochs so far.
    history: Vec<UpDownEpoch>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::random_labelled_rbm;
    use crate::numerics::to_f64;
    use crate::rbm::VisibleUnits;
    use crate::test_support::{B, assert_close, random_rbm};

    /// Plain steps at rate 0.5: no momentum, no weight decay.
    fn plain() -> UpDownConfig {
        UpDownConfig::new().with_optimizer(
            OptimizerConfig::new()
                .with_learning_rate(0.5)
                .with_momentum(0.0)
                .with_weight_decay(0.0),
        )
    }

    #[test]
    fn one_step_follows_the_delta_rules_on_a_saturated_stack() {
        // Saturated hidden biases make every sample certain: wake s_1 = [1, 0]; the top RBM's
        // hidden layer is [1, 0] and its negative visible means are [0, 1], so the dream is
        // t_1 = [0, 1]; t_0 = σ(a_1 + t_1 W_1ᵀ) is then exact.
        let device = Default::default();
        let w1 = [[0.1, -0.2], [0.3, 0.05], [-0.1, 0.2]];
        let a1 = [0.2, -0.3, 0.1];
        let rbm1 = Rbm::<B>::new(
            Tensor::from_floats(w1, &device),
            Tensor::from_floats(a1, &device),
            Tensor::from_floats([200.0, -200.0], &device),
            VisibleUnits::Bernoulli,
        )
        .unwrap();
        let rbm2 = Rbm::<B>::new(
            Tensor::from_floats([[0.01, 0.02], [-0.01, 0.01]], &device),
            Tensor::from_floats([-200.0, 200.0], &device),
            Tensor::from_floats([200.0, -200.0], &device),
            VisibleUnits::Bernoulli,
        )
        .unwrap();
        let model = UpDownDbn::untie(Dbn::new(vec![rbm1, rbm2]).unwrap()).unwrap();
        let v = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]];
        let config = plain();
        let top = config.top_training();
        let state = UpDownState::new(&model);
        let (after, _) = state.step(model, Tensor::from_floats(v, &device), &top, top.rates(1));
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let lr = 0.5;
        // Generative: target v, prediction σ(a_1 + s_1 G_1ᵀ) with s_1 = [1, 0].
        let predicted: Vec<f64> = (0..3).map(|i| sig(a1[i] + w1[i][0])).collect();
        let error: Vec<f64> = (0..3)
            .map(|i| (v[0][i] + v[1][i]) / 2.0 - predicted[i])
            .collect();
        let g: Vec<f64> = (0..3)
            .flat_map(|i| [w1[i][0] + lr * error[i], w1[i][1]])
            .collect();
        assert_close(&to_f64(after.generative.rbms[0].weights.val()), &g, 1e-6);
        let a: Vec<f64> = (0..3).map(|i| a1[i] + lr * error[i]).collect();
        assert_close(
            &to_f64(after.generative.rbms[0].visible_bias.val()),
            &a,
            1e-6,
        );
        // Recognition: below t_0 = σ(a_1 + W_1 [0, 1]), target t_1 = [0, 1], recognised as
        // σ(c_1 + t_0 R_1) = [1, 0]: the error is [-1, 1] for both rows.
        let t0: Vec<f64> = (0..3).map(|i| sig(a1[i] + w1[i][1])).collect();
        let r: Vec<f64> = (0..3)
            .flat_map(|i| [w1[i][0] - lr * t0[i], w1[i][1] + lr * t0[i]])
            .collect();
        assert_close(&to_f64(after.recognition.rbms[0].weights.val()), &r, 1e-6);
        assert_close(
            &to_f64(after.recognition.rbms[0].hidden_bias.val()),
            &[200.0 - lr, -200.0 + lr],
            1e-4,
        );
        // Each side leaves the biases it does not use alone.
        assert_close(
            &to_f64(after.generative.rbms[0].hidden_bias.val()),
            &[200.0, -200.0],
            0.0,
        );
        assert_close(
            &to_f64(after.recognition.rbms[0].visible_bias.val()),
            &a1.map(f64::from),
            1e-7,
        );
    }

    /// A 5-4-3 stack with 3 label units in its top RBM, its RBMs drawn from `seed` and
    /// `seed + 1`.
    fn labelled_stack(seed: u64) -> Dbn<B> {
        let device = Default::default();
        Dbn::new(vec![
            random_rbm(5, 4, 1.0, seed),
            random_labelled_rbm::<B>(4, 3, 3, 1.0, seed + 1, &device),
        ])
        .unwrap()
    }

    #[test]
    fn an_untied_stack_recognises_and_classifies_as_the_tied_one_did() {
        let device = Default::default();
        let dbn = labelled_stack(81);
        let v = Tensor::<B, 2>::from_floats(
            [[1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 1.0]],
            &device,
        );
        let untied = UpDownDbn::untie(dbn.clone()).unwrap();
        assert_eq!(untied.layer_sizes(), vec![5, 4, 3]);
        assert_close(
            &to_f64(untied.label_free_energies(v.clone()).unwrap()),
            &to_f64(dbn.label_free_energies(v).unwrap()),
            0.0,
        );
        let one = Dbn::new(vec![random_rbm(5, 4, 1.0, 83)]).unwrap();
        let err = UpDownDbn::untie(one).unwrap_err();
        assert!(err.to_string().contains("at least two RBMs"), "{err}");
    }

    #[test]
    fn features_go_up_the_recognition_weights_then_the_top_rbm() {
        let device = Default::default();
        let dbn = labelled_stack(84);
        let v = Tensor::<B, 2>::from_floats([[1.0, 0.0, 1.0, 1.0, 0.0]], &device);
        let mut untied = UpDownDbn::untie(dbn.clone()).unwrap();
        for layer in 0..=2 {
            assert_close(
                &to_f64(untied.features(v.clone(), layer)),
                &to_f64(Generative::features(&dbn, v.clone(), layer)),
                0.0,
            );
        }
        // Recognition weights of their own: layer 1 is theirs, layer 2 the top RBM's on it.
        let recognition = random_rbm(5, 4, 1.0, 86);
        untied.recognition = Dbn::new(vec![recognition.clone()]).unwrap();
        let h1 = recognition.hidden_probs(v.clone());
        assert_close(
            &to_f64(untied.features(v.clone(), 1)),
            &to_f64(h1.clone()),
            0.0,
        );
        let top = dbn.rbms[1].hidden_probs(h1);
        assert_close(&to_f64(untied.features(v.clone(), 2)), &to_f64(top), 0.0);
        assert_close(
            &to_f64(untied.recognise(v.clone())),
            &to_f64(untied.features(v, 1)),
            0.0,
        );
    }

    #[test]
    fn bad_settings_and_data_are_named() {
        let model = DbnConfig::new(vec![8, 6, 8]).with_labels(4);
        let err = UpDownTrainer::new(
            model.clone(),
            UpDownConfig::new().with_epochs(0),
            RunSeed(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("epochs"), "{err}");
        let err = UpDownTrainer::new(DbnConfig::new(vec![8, 6]), UpDownConfig::new(), RunSeed(1))
            .unwrap_err();
        assert!(err.to_string().contains("at least two RBMs"), "{err}");
        let trainer = UpDownTrainer::new(model.clone(), UpDownConfig::new(), RunSeed(1)).unwrap();
        let dbn = model.init::<B>(&Default::default()).unwrap();
        let data = Tensor::<B, 2>::ones([20, 12], &Default::default());
        let unlabelled = data.clone().slice_dim(1, 0..8);
        let err = trainer
            .train(dbn.clone(), unlabelled, None, |_| {})
            .unwrap_err();
        assert!(err.to_string().contains("one-hot label"), "{err}");
        let nan = data.mul_scalar(f32::NAN);
        let err = trainer.train(dbn, nan, None, |_| {}).unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
    }
}
