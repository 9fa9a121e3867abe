//! Greedy layer-wise pretraining, checkpointed after every epoch and resumable.
//!
//! RBM 1 trains on the data; it is then frozen and the data mapped through `P(h(1) | v)`
//! (probabilities, or samples with `sample_up`) for RBM 2, and so on: each RBM sees only the
//! layer below it. The data is a [`Feed`]: in memory, each layer's input is mapped once; streamed,
//! each batch is mapped as it is read ([`Feed::map`]). With a checkpoint file, the whole position
//! (every RBM's parameters, the current RBM's CD state, the statistics so far) is written after
//! each epoch as one Burn record (`#[derive(Record)]`, in Burn's named MessagePack format) to a
//! temporary file renamed over the checkpoint, so an interruption at any moment leaves the last
//! complete checkpoint; a resumed run ends with the same weights as one that never stopped (CPU
//! backends, same seed).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::Record;

use crate::cd::CdState;
use crate::dbn::{Dbn, DbnConfig, DbnRecord};
use crate::error::ModelError;
use crate::feed::Feed;
use crate::kernels::bernoulli;
use crate::overlay::{OverlayError, parse, value_over};
use crate::persist::{read_checkpoint, write_checkpoint};
use crate::rbm::Rbm;
use crate::seed::RunSeed;
use crate::trainer::{EpochStats, RbmRun, RbmTrainer, RunProgress};
use crate::training::RbmTrainingConfig;

/// How a stack is pretrained: each RBM's training settings and what feeds the RBMs above the
/// first.
#[derive(burn::config::Config, Debug)]
pub struct PretrainConfig {
    /// Training settings shared by every RBM that `per_layer` does not set.
    #[config(default = "RbmTrainingConfig::new()")]
    pub rbm: RbmTrainingConfig,
    /// One RBM's training settings each, bottom first, replacing `rbm`; empty to share `rbm`.
    /// Read from JSON, each element is laid over `rbm`, so it names only what differs.
    #[config(default = "Vec::new()")]
    pub per_layer: Vec<RbmTrainingConfig>,
    /// Feed each RBM binary samples of the layer below instead of its probabilities P(h|v).
    #[config(default = false)]
    pub sample_up: bool,
}

impl PretrainConfig {
    /// The training settings of RBM `layer` (1-based).
    pub fn for_layer(&self, layer: usize) -> &RbmTrainingConfig {
        self.per_layer.get(layer - 1).unwrap_or(&self.rbm)
    }

    /// Every RBM's settings, the shared ones first: what a change meant for every layer
    /// applies to.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut RbmTrainingConfig> {
        std::iter::once(&mut self.rbm).chain(self.per_layer.iter_mut())
    }

    /// Checks every setting for a stack of `n_rbms` RBMs.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the bad field by its path (`per_layer.2.epochs`).
    pub fn validate(&self, n_rbms: usize) -> Result<(), ModelError> {
        self.rbm.validate().map_err(|e| e.within("rbm"))?;
        for (i, rbm) in self.per_layer.iter().enumerate() {
            rbm.validate()
                .map_err(|e| e.within(&format!("per_layer.{i}")))?;
        }
        if !self.per_layer.is_empty() && self.per_layer.len() != n_rbms {
            return Err(ModelError::invalid(
                "per_layer",
                format!("{} elements for {n_rbms} RBMs", self.per_layer.len()),
                "give one element per RBM (layers.len() - 1), or none",
            ));
        }
        Ok(())
    }

    /// The settings in JSON `text` laid over `base` as [`crate::config_over`] lays any config
    /// ([`RbmTrainingConfig::over`] for each RBM's), except that each element of `per_layer`
    /// is laid over `rbm` (as the text leaves it) rather than over a default: one RBM's
    /// settings name only what differs from the shared ones, e.g.
    /// `{"rbm": {"epochs": 50}, "per_layer": [{}, {}, {"cd": {"k": 5}}]}`.
    ///
    /// # Errors
    /// As [`crate::config_over`]; an error inside an element names it (`per_layer.2.kk`).
    pub fn over(text: &str, base: &Self) -> Result<Self, OverlayError> {
        let mut top = parse(text)?;
        let mut take = |key: &str| top.as_object_mut().and_then(|fields| fields.remove(key));
        let (rbm, per_layer) = (take("rbm"), take("per_layer"));
        let mut config: Self = value_over(top, base)?;
        if let Some(rbm) = rbm {
            config.rbm = RbmTrainingConfig::over(rbm, &base.rbm).map_err(|e| e.within("rbm"))?;
        }
        if let Some(per_layer) = per_layer {
            let serde_json::Value::Array(elements) = per_layer else {
                return Err(OverlayError::invalid("expected an array").within("per_layer"));
            };
            config.per_layer = elements
                .into_iter()
                .enumerate()
                .map(|(i, element)| {
                    RbmTrainingConfig::over(element, &config.rbm)
                        .map_err(|e| e.within(&format!("per_layer.{i}")))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(config)
    }
}

/// The outcome of pretraining.
#[derive(Debug)]
pub struct PretrainedDbn<B: Backend> {
    /// The pretrained stack.
    pub dbn: Dbn<B>,
    /// Per RBM (bottom first), its statistics per epoch.
    pub history: Vec<Vec<EpochStats>>,
}

/// Pretrains a [`Dbn`] of a [`DbnConfig`] greedily, bottom up, as a [`PretrainConfig`] says.
#[derive(Clone, Debug)]
pub struct DbnPretrainer {
    model: DbnConfig,
    config: PretrainConfig,
    seed: RunSeed,
    checkpoint: Option<PathBuf>,
}

/// Where a pretraining run stands: the stack, the layer in training, its run, and the finished
/// layers' statistics.
struct Position<B: Backend> {
    dbn: Dbn<B>,
    layer: usize,
    run: Option<RbmRun<B>>,
    finished: Vec<Vec<EpochStats>>,
}

impl DbnPretrainer {
    /// A pretrainer of stacks of `model`, without checkpoints, whose random draws derive from
    /// `seed`: each RBM's epochs ([`RunSeed::rbm_epoch`]) and the sampled up pass
    /// ([`RunSeed::sample_up`]).
    ///
    /// # Errors
    /// As [`DbnConfig::validate`] and [`PretrainConfig::validate`].
    pub fn new(
        model: DbnConfig,
        config: PretrainConfig,
        seed: RunSeed,
    ) -> Result<Self, ModelError> {
        model.validate()?;
        config.validate(model.n_rbms())?;
        Ok(Self {
            model,
            config,
            seed,
            checkpoint: None,
        })
    }

    /// The same pretrainer writing a checkpoint to `path` after every epoch.
    pub fn with_checkpoint(self, path: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint: Some(path.into()),
            ..self
        }
    }

    /// Pretrains every RBM of `dbn` in turn, calling `on_epoch` after each epoch of each layer;
    /// `ControlFlow::Break` stops after that epoch's checkpoint with
    /// [`ModelError::Interrupted`]. The data is a [`Feed`]: a tensor (`Tensor<B, 2>` converts) or
    /// a stream ([`Feed::stream`]).
    ///
    /// # Shapes
    /// train `[n, layers[0]]`, valid `[n_valid, layers[0]]`
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] when `dbn` or the data do not match the configured layers,
    /// any error of [`RbmTrainer::run`], [`ModelError::Io`] when a checkpoint cannot be written.
    pub fn pretrain<B: Backend>(
        &self,
        dbn: Dbn<B>,
        train: impl Into<Feed<B>>,
        valid: Option<Feed<B>>,
        on_epoch: impl FnMut(&EpochStats) -> ControlFlow<()>,
    ) -> Result<PretrainedDbn<B>, ModelError> {
        if dbn.layer_sizes() != self.model.layers {
            return Err(ModelError::invalid(
                "layers",
                format!("{:?}", self.model.layers),
                "the DBN given has other layer sizes",
            ));
        }
        let position = Position {
            dbn,
            layer: 1,
            run: None,
            finished: Vec::new(),
        };
        self.continue_from(position, train.into(), valid, on_epoch)
    }

    /// Continues the run saved in the checkpoint file.
    ///
    /// # Errors
    /// [`ModelError::Io`] when no valid checkpoint for this configuration exists, and the errors
    /// of [`DbnPretrainer::pretrain`].
    pub fn resume<B: Backend>(
        &self,
        train: impl Into<Feed<B>>,
        valid: Option<Feed<B>>,
        on_epoch: impl FnMut(&EpochStats) -> ControlFlow<()>,
    ) -> Result<PretrainedDbn<B>, ModelError> {
        let path = self.checkpoint.as_ref().ok_or_else(|| {
            ModelError::invalid(
                "checkpoint",
                "none",
                "resuming needs a checkpoint file (DbnPretrainer::with_checkpoint)",
            )
        })?;
        let train = train.into();
        let checkpoint: Checkpoint<B> = read_checkpoint(path, &train.device())?;
        let position = checkpoint.into_position(&self.model, path)?;
        self.continue_from(position, train, valid, on_epoch)
    }

    /// The input of RBM `layer` for `data`: the data itself for RBM 1, else the up pass through
    /// the RBMs below, `P(h | v)` or, with `sample_up`, a binary sample of it. In memory, each
    /// layer's sample is drawn once, after seeding the backend with [`RunSeed::sample_up`] of
    /// the layer it feeds; streamed, each batch is drawn afresh as it is read, from the epoch's
    /// seed. With label units in the top RBM, the data's last columns are the labels: the top
    /// RBM gets them beside its input, the RBMs below do not see them.
    ///
    /// # Shapes
    /// data `[n, layers[0] (+ labels)]` -> `[n, layers[layer - 1] (+ labels at the top)]`
    pub fn layer_input<B: Backend>(
        &self,
        dbn: &Dbn<B>,
        data: impl Into<Feed<B>>,
        layer: usize,
    ) -> Feed<B> {
        self.without_labels(self.carried_input(dbn, data.into(), layer), layer)
    }

    /// RBM `layer`'s input with the labels still beside it: `data` passed up through the RBMs
    /// below, one [`DbnPretrainer::carried_up`] each.
    ///
    /// # Shapes
    /// data `[n, layers[0] (+ labels)]` -> `[n, layers[layer - 1] (+ labels)]`
    fn carried_input<B: Backend>(&self, dbn: &Dbn<B>, data: Feed<B>, layer: usize) -> Feed<B> {
        (2..=layer).fold(data, |h, above| self.carried_up(dbn, h, above))
    }

    /// One layer of [`DbnPretrainer::layer_input`]'s up pass: from the input of RBM
    /// `layer - 1`, labels still beside it, to the input of RBM `layer` (through RBM
    /// `layer - 1`), the labels carried along. Pretraining keeps each layer's input for the
    /// next, so the data goes through each RBM once.
    ///
    /// # Shapes
    /// h `[n, layers[layer - 2] (+ labels)]` -> `[n, layers[layer - 1] (+ labels)]`
    fn carried_up<B: Backend>(&self, dbn: &Dbn<B>, h: Feed<B>, layer: usize) -> Feed<B> {
        if self.config.sample_up && matches!(h, Feed::InMemory(_)) {
            B::seed(&h.device(), self.seed.sample_up(layer));
        }
        let (sample_up, labels) = (self.config.sample_up, self.model.labels);
        let below = dbn.rbms[layer - 2].clone();
        h.map(move |h| {
            let (features, label_columns) = split_columns(h, labels);
            let probs = below.hidden_probs(features);
            let up = if sample_up { bernoulli(probs) } else { probs };
            join_columns(up, label_columns)
        })
    }

    /// RBM `layer`'s input from [`DbnPretrainer::carried_up`]'s: the label columns taken off
    /// below the top RBM.
    ///
    /// # Shapes
    /// carried `[n, layers[layer - 1] (+ labels)]` -> `[n, layers[layer - 1] (+ labels at the top)]`
    fn without_labels<B: Backend>(&self, carried: Feed<B>, layer: usize) -> Feed<B> {
        let labels = self.model.labels;
        if labels == 0 || layer == self.model.n_rbms() {
            return carried;
        }
        match carried.map(move |h| split_columns(h, labels).0) {
            // Taken out of the wider tensor, the columns are a strided view, from which every
            // mini-batch's rows were slow to read (an epoch of 784-500 took 67 s, not 2).
            Feed::InMemory(features) => {
                let device = features.device();
                Feed::InMemory(Tensor::from_data(features.into_data(), &device))
            }
            streamed => streamed,
        }
    }

    fn continue_from<B: Backend>(
        &self,
        mut position: Position<B>,
        train: Feed<B>,
        valid: Option<Feed<B>>,
        mut on_epoch: impl FnMut(&EpochStats) -> ControlFlow<()>,
    ) -> Result<PretrainedDbn<B>, ModelError> {
        if !train.is_empty() {
            self.model
                .check_pretraining_width(train.head(1).dims()[1])?;
        }
        // Each layer's input, labels still beside it, kept for the next layer's.
        let first = position.layer;
        let mut carried = self.carried_input(&position.dbn, train, first);
        let mut valid_carried = valid.map(|v| self.carried_input(&position.dbn, v, first));
        for layer in first..=self.model.n_rbms() {
            if layer > first {
                carried = self.carried_up(&position.dbn, carried, layer);
                valid_carried = valid_carried.map(|v| self.carried_up(&position.dbn, v, layer));
            }
            let trainer =
                RbmTrainer::new(self.config.for_layer(layer).clone(), self.seed)?.for_layer(layer);
            let input = self.without_labels(carried.clone(), layer);
            let valid_input = valid_carried.clone().map(|v| self.without_labels(v, layer));
            let run = match position.run.take() {
                Some(run) => run,
                None => trainer.start(position.dbn.rbms[layer - 1].clone(), &input)?,
            };
            let run = trainer.run(run, &input, valid_input.as_ref(), |run| {
                let stats = run.progress.history.last().expect("an epoch was trained");
                let flow = on_epoch(stats);
                if let Some(path) = &self.checkpoint {
                    write_checkpoint(
                        Checkpoint::of(&position.dbn, layer, run, &position.finished),
                        path,
                    )?;
                }
                match flow {
                    ControlFlow::Continue(()) => Ok(()),
                    ControlFlow::Break(()) => Err(ModelError::Interrupted {
                        layer,
                        epoch: stats.epoch,
                    }),
                }
            })?;
            position.dbn.rbms[layer - 1] = run.rbm;
            position.finished.push(run.progress.history);
        }
        Ok(PretrainedDbn {
            dbn: position.dbn,
            history: position.finished,
        })
    }
}

/// The first columns of `x` and its last `last` columns (`None` when `last` is 0).
///
/// # Shapes
/// x `[n, m]` -> `[n, m - last]`, `[n, last]`
fn split_columns<B: Backend>(x: Tensor<B, 2>, last: usize) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
    if last == 0 {
        return (x, None);
    }
    let [n, m] = x.dims();
    (
        x.clone().slice([0..n, 0..m - last]),
        Some(x.slice_dim(1, m - last..)),
    )
}

/// `x` with `last` as its last columns, if any ([`split_columns`] undone).
///
/// # Shapes
/// x `[n, m]`, last `[n, k]` -> `[n, m + k]`
fn join_columns<B: Backend>(x: Tensor<B, 2>, last: Option<Tensor<B, 2>>) -> Tensor<B, 2> {
    match last {
        Some(last) => Tensor::cat(vec![x, last], 1),
        None => x,
    }
}

/// Everything a resumed pretraining run needs, as one Burn record.
#[derive(Record)]
struct Checkpoint<B: Backend> {
    /// Layer sizes of the stack.
    layers: Vec<usize>,
    /// The RBM in training, from 1.
    layer: usize,
    /// Every RBM, the one in training as it is after the epoch.
    dbn: DbnRecord<B>,
    /// The CD state of the RBM in training.
    state: CdState<B>,
    /// Its epochs so far and its plateau detector.
    progress: RunProgress,
    /// The statistics of the RBMs below it.
    finished: Vec<Vec<EpochStats>>,
}

impl<B: Backend> Checkpoint<B> {
    /// The position after an epoch of RBM `layer`, whose current parameters are `run.rbm`.
    fn of(dbn: &Dbn<B>, layer: usize, run: &RbmRun<B>, finished: &[Vec<EpochStats>]) -> Self {
        let mut dbn = dbn.clone();
        dbn.rbms[layer - 1] = run.rbm.clone();
        Self {
            layers: dbn.layer_sizes(),
            layer,
            dbn: dbn.into_record(),
            state: run.state.clone(),
            progress: run.progress.clone(),
            finished: finished.to_vec(),
        }
    }

    /// The position saved, checked against the stack of `config`.
    fn into_position(self, config: &DbnConfig, path: &Path) -> Result<Position<B>, ModelError> {
        let io = |reason: String| ModelError::Io {
            path: path.to_path_buf(),
            reason,
        };
        if self.layers != config.layers || self.layer == 0 || self.layer > config.n_rbms() {
            return Err(io(format!(
                "the checkpoint is of layers {:?} (at RBM {}), the configuration has {:?}",
                self.layers, self.layer, config.layers
            )));
        }
        let rbms = self
            .dbn
            .rbms
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let rbm_config = config.rbm_config(i + 1);
                Rbm::new(
                    record.weights.val(),
                    record.visible_bias.val(),
                    record.hidden_bias.val(),
                    rbm_config.visible,
                )?
                .with_labels(rbm_config.labels)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dbn = Dbn::new(rbms)?;
        if dbn.layer_sizes() != config.layers {
            return Err(io(
                "the checkpoint's tensors do not have its layer sizes".into()
            ));
        }
        let run = RbmRun {
            rbm: dbn.rbms[self.layer - 1].clone(),
            state: self.state,
            progress: self.progress,
        };
        Ok(Position {
            dbn,
            layer: self.layer,
            run: Some(run),
            finished: self.finished,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::to_f64;
    use crate::optimizer::OptimizerConfig;
    use crate::test_support::{B, all_states, assert_close};

    #[test]
    fn each_rbm_trains_on_the_probabilities_of_the_layer_below() {
        // With a negligible learning rate, each RBM's visible biases keep their start,
        // logit(mean P(h | data)) of the RBMs below: they were fitted to the mapped data, not
        // the raw. RBM 3's input is RBM 2's kept and mapped once more.
        let device = Default::default();
        let data = all_states(6).slice([0..40, 0..6]);
        let rbm = RbmTrainingConfig::new()
            .with_optimizer(OptimizerConfig::new().with_learning_rate(1e-12))
            .with_epochs(1)
            .with_batch_size(8);
        let model = DbnConfig::new(vec![6, 6, 5, 4]).with_init_std(0.5);
        let dbn = model.init::<B>(&device).unwrap();
        let config = PretrainConfig::new().with_rbm(rbm);
        let pretrainer = DbnPretrainer::new(model, config, RunSeed(42)).unwrap();
        let mut layers_seen = Vec::new();
        let pretrained = pretrainer
            .pretrain(dbn, data.clone(), None, |s| {
                layers_seen.push(s.layer);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(layers_seen, vec![1, 2, 3]);
        assert_eq!(pretrained.history.len(), 3);
        let dbn = pretrained.dbn;
        let logit = |t: Tensor<B, 2>| {
            let p = t.mean_dim(0).squeeze_dim::<1>(0).clamp(0.001, 0.999);
            to_f64((p.clone() / (p.neg() + 1.0)).log())
        };
        for below in 1..=2 {
            let expected = logit(dbn.up(data.clone(), below));
            assert_close(&to_f64(dbn.rbms[below].visible_bias.val()), &expected, 1e-4);
        }
        let expected = logit(dbn.up(data.clone(), 1));
        let raw = logit(data);
        let distance: f64 = raw.iter().zip(&expected).map(|(a, b)| (a - b).abs()).sum();
        assert!(distance > 0.5, "raw and mapped data coincide: {distance}");
    }

    #[test]
    fn sample_up_feeds_binary_states_to_the_layers_above() {
        let device = Default::default();
        let model = DbnConfig::new(vec![6, 5, 4]).with_init_std(1.0);
        let dbn = model.init::<B>(&device).unwrap();
        let sampling = PretrainConfig::new().with_sample_up(true);
        let pretrainer = DbnPretrainer::new(model.clone(), sampling, RunSeed(42)).unwrap();
        let input = to_f64(pretrainer.layer_input(&dbn, all_states(6), 2).head(64));
        assert!(input.iter().all(|&x| x == 0.0 || x == 1.0));
        assert!(input.contains(&1.0) && input.contains(&0.0));
        let probabilities = DbnPretrainer::new(model, PretrainConfig::new(), RunSeed(42)).unwrap();
        let input = to_f64(probabilities.layer_input(&dbn, all_states(6), 2).head(64));
        assert!(input.iter().any(|&x| x > 0.0 && x < 1.0));
    }

    #[test]
    fn a_checkpoint_of_another_stack_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pretrain.ckpt");
        let device = Default::default();
        let rbm = RbmTrainingConfig::new().with_epochs(1).with_batch_size(8);
        let config = PretrainConfig::new().with_rbm(rbm);
        let model = DbnConfig::new(vec![6, 4]);
        let dbn = model.init::<B>(&device).unwrap();
        let pretrainer = DbnPretrainer::new(model, config.clone(), RunSeed(42))
            .unwrap()
            .with_checkpoint(&path);
        pretrainer
            .pretrain(dbn, all_states(6), None, |_| ControlFlow::Continue(()))
            .unwrap();
        let other = DbnPretrainer::new(DbnConfig::new(vec![6, 5]), config, RunSeed(42))
            .unwrap()
            .with_checkpoint(&path);
        let err = other
            .resume::<B>(all_states(6), None, |_| ControlFlow::Continue(()))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the checkpoint is of layers [6, 4]"),
            "{err}"
        );
        std::fs::write(&path, b"garbage").unwrap();
        let err = pretrainer
            .resume::<B>(all_states(6), None, |_| ControlFlow::Continue(()))
            .unwrap_err();
        assert!(err.to_string().contains("not a valid checkpoint"), "{err}");
    }

    #[test]
    fn each_rbm_s_settings_are_read_over_the_shared_ones() {
        let base = PretrainConfig::new();
        let text = r#"{"rbm": {"cd": {"k": 3}},
            "per_layer": [{"epochs": 5}, {}, {"cd": {"persistent": {"chains": 7}}}]}"#;
        let config = PretrainConfig::over(text, &base).unwrap();
        assert_eq!(config.rbm.cd.k, 3);
        let epochs: Vec<usize> = config.per_layer.iter().map(|rbm| rbm.epochs).collect();
        assert_eq!(epochs, [5, base.rbm.epochs, base.rbm.epochs]);
        assert!(config.per_layer.iter().all(|rbm| rbm.cd.k == 3));
        let chains = config.per_layer[2].cd.persistent.as_ref().map(|p| p.chains);
        assert_eq!(chains, Some(Some(7)));
        assert!(config.per_layer[0].cd.persistent.is_none());
        config.validate(3).unwrap();
        let err = config.validate(2).unwrap_err().to_string();
        assert!(err.contains("per_layer = 3 elements for 2 RBMs"), "{err}");
        // Errors name the element.
        let err = PretrainConfig::over(r#"{"per_layer": [{}, {"kk": 2}]}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting per_layer.1.kk");
        let err = PretrainConfig::over(r#"{"per_layer": [{"epochs": "two"}]}"#, &base).unwrap_err();
        assert!(
            err.to_string().starts_with("per_layer.0: invalid type"),
            "{err}"
        );
        let err = PretrainConfig::over(r#"{"per_layer": 3}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "per_layer: expected an array");
        let err = PretrainConfig::over(r#"{"rbm": {"sparsity": {"kk": 1}}}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting rbm.sparsity.kk");
        // An invalid element is named by its index when checked.
        let bad = PretrainConfig::over(r#"{"per_layer": [{}, {"epochs": 0}]}"#, &base).unwrap();
        let err = bad.validate(2).unwrap_err().to_string();
        assert!(err.contains("per_layer.1.epochs = 0"), "{err}");
    }
}
