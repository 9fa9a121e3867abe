//! Supervised fine-tuning through burn-train (`SupervisedTraining` + `Learner`), and test
//! evaluation.
//!
//! A resumed run ends with the same weights as one that never stopped (CPU, same seed): every
//! piece of state that burn-train does not checkpoint is a function of the epoch. The shuffle
//! comes from an [`EpochLoader`] (seed, epoch); early stopping and the checkpoint kept read the
//! whole history from the metric logs ([`crate::learner_dir`]), which we write ourselves and
//! which are on disk before their epoch's checkpoint is written; the learning rate, the
//! optimiser's velocities and the weights are in burn-train's checkpoint, which is written
//! through [`AtomicMpkRecorder`] (no truncated file after a kill) and used only when all three of
//! its files exist. A NaN or infinite training loss stops the run at once,
//! before that epoch is checkpointed ([`Diverged`]); a log or checkpoint that cannot be written
//! stops it with the file named.

use std::error::Error;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoader;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::LrScheduler;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamConfig, Optimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::tensor::backend::{AutodiffBackend, DeviceId};
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Interrupter, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};
use dbn_data::{ClassificationBatch, ClassificationBatcher, EpochLoader, Example, ExampleSet};
use dbn_model::kernels::in_thread_pool;
use dbn_model::{AtomicMpkRecorder, DbnClassifier, RunSeed};

use crate::config::{FinetuneConfig, OptimizerKind};
use crate::confusion::Confusion;
use crate::device::Devices;
use crate::learner_dir::{
    AfterLogs, MetricFiles, NoImprovementSince, ValidatedEpoch, best_epoch, forget_epochs_after,
    last_checkpoint,
};
use crate::renderer::EpochLines;
use crate::sgd::{ExponentialDecay, FusedSgd};

/// The classifier as burn-train trains it (a local type, so the training traits can be
/// implemented for it).
#[derive(Module, Debug)]
pub struct LearnerModel<B: Backend> {
    /// The network being fine-tuned.
    pub net: DbnClassifier<B>,
    /// Counts the training steps, seeds their random draws, stops the run at the first
    /// non-finite training loss (not saved in records).
    #[module(skip)]
    watch: StepWatch,
    /// The loss weight of each class ([`crate::config::ClassWeight::weights`]); `None` weighs
    /// every example alike (not saved in records).
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
}

impl<B: Backend> LearnerModel<B> {
    /// `net`, to be trained; its watch stops nothing until [`finetune`] gives it a run.
    pub fn new(net: DbnClassifier<B>) -> Self {
        Self {
            net,
            watch: StepWatch::unattached(),
            class_weights: None,
        }
    }

    /// `net` in a run with `seed` whose first step is batch 1 of `first_epoch`, on the devices
    /// and batches per epoch of `shares` (in the order of [`Devices`]); `interrupter` stops the
    /// run at the first non-finite training loss, read as often as [`loss_reads_every`] says
    /// for `device`'s backend. The loss weighs each class by `class_weights` (`None`: alike).
    fn watched(
        net: DbnClassifier<B>,
        class_weights: Option<Vec<f32>>,
        interrupter: Interrupter,
        seed: RunSeed,
        (first_epoch, shares): (usize, &[(DeviceId, usize)]),
        device: &B::Device,
    ) -> Self {
        let reads_every = loss_reads_every::<B>(device);
        Self {
            net,
            watch: StepWatch::new(interrupter, seed, first_epoch, shares, reads_every),
            class_weights,
        }
    }

    /// Forward pass and loss of a batch.
    fn classify(&self, batch: ClassificationBatch<B>) -> ClassificationOutput<B> {
        let output = self.net.forward(batch.images);
        let targets = batch.targets.clone();
        let loss = self
            .net
            .weighted_loss(output.clone(), targets, self.class_weights.as_deref());
        ClassificationOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

impl<B: AutodiffBackend> TrainStep for LearnerModel<B> {
    type Input = ClassificationBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ClassificationBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let device = batch.images.device();
        let at = self.watch.next_step(device.to_id());
        let output = {
            let _turn = self
                .watch
                .draws_in_turn()
                .then(|| DRAWS.lock().unwrap_or_else(|e| e.into_inner()));
            B::seed(&device, self.watch.seed_of(at));
            self.classify(batch)
        };
        if self.watch.reads(at) {
            self.watch
                .observe(output.loss.clone().into_scalar().elem::<f64>(), at);
        }
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for LearnerModel<B> {
    type Input = ClassificationBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ClassificationBatch<B>) -> ClassificationOutput<B> {
        self.classify(batch)
    }
}

/// The message of burn-train's dashboard when `q` stops a run.
const USER_STOP: &str = "Stopping training from user input.";

/// Where the training loss first became NaN or infinite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFinite {
    /// Epoch, from 1.
    pub epoch: usize,
    /// The first batch (from 1) whose loss was not read before this one: the loss became
    /// non-finite at one of the batches `since..=batch` ([`loss_reads_every`]).
    pub since: usize,
    /// The batch within the epoch, from 1, whose loss was read non-finite.
    pub batch: usize,
    /// The loss there.
    pub loss: f64,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.since == self.batch {
            write!(f, "epoch {}, batch {}", self.epoch, self.batch)
        } else {
            let (epoch, since, batch) = (self.epoch, self.since, self.batch);
            write!(f, "epoch {epoch}, one of batches {since}-{batch}")
        }
    }
}

/// Training steps between two reads of the loss for the divergence check, on backend `B`:
/// every step on the CPU backends, where a read costs nothing and names the batch; every 50th
/// step on the others (GPUs), where each read waits for the device to finish its queued work.
/// The last step of every epoch is read too, so a diverged epoch never reaches a checkpoint.
pub fn loss_reads_every<B: Backend>(device: &B::Device) -> usize {
    let name = B::name(device);
    if name.contains("flex") || name.contains("ndarray") {
        1
    } else {
        50
    }
}

/// Where a training step is in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    /// The epoch, from 1.
    epoch: usize,
    /// The batch within the epoch, from 1; with several devices, each device's batches are
    /// numbered after those of the devices before it in [`Devices`].
    batch: usize,
    /// Whether it is its device's last batch of the epoch.
    last: bool,
}

/// One device's share of every epoch, and the steps it has taken.
#[derive(Debug)]
struct Share {
    device: DeviceId,
    /// Batches of the devices before it in an epoch.
    before: usize,
    /// Its batches in an epoch.
    batches: usize,
    taken: AtomicUsize,
}

/// Counts the training steps of a run, per device, and sees their training losses. Each
/// step's random draws (dropout) are seeded from (run seed, epoch, batch) alone, so a resumed
/// run draws what an uninterrupted one drew, and with several devices the draws do not depend
/// on which device's thread runs first. The first non-finite loss interrupts burn-train: the
/// epoch stops after that step, before validation and before a checkpoint is written
/// (burn-train computes its metrics on another thread, some steps behind, too late to keep a
/// diverged epoch out of the checkpoints). Clones share the state.
#[derive(Clone)]
struct StepWatch {
    interrupter: Interrupter,
    seed: RunSeed,
    first_epoch: usize,
    reads_every: usize,
    shares: Arc<Vec<Share>>,
    seen: Arc<Mutex<Option<NonFinite>>>,
}

impl std::fmt::Debug for StepWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepWatch")
            .field("seen", &self.seen())
            .finish_non_exhaustive()
    }
}

/// Held while a step seeds the backend's generator and draws from it: the generator is one
/// per process on every backend of Burn 0.21, so two devices' steps would otherwise draw from
/// each other's seeds.
static DRAWS: Mutex<()> = Mutex::new(());

impl StepWatch {
    /// A watch of a run with `seed` whose first step is batch 1 of `first_epoch`, reading the
    /// loss every `reads_every` steps ([`loss_reads_every`]); `shares` lists each device and
    /// its batches per epoch, in the order of [`Devices`].
    fn new(
        interrupter: Interrupter,
        seed: RunSeed,
        first_epoch: usize,
        shares: &[(DeviceId, usize)],
        reads_every: usize,
    ) -> Self {
        let mut before = 0;
        let shares = shares
            .iter()
            .map(|&(device, batches)| {
                let share = Share {
                    device,
                    before,
                    batches,
                    taken: AtomicUsize::new(0),
                };
                before += batches;
                share
            })
            .collect();
        Self {
            interrupter,
            seed,
            first_epoch,
            reads_every,
            shares: Arc::new(shares),
            seen: Arc::default(),
        }
    }

    /// The watch of a model outside a run: one device, and every step an epoch of its own (so
    /// that each step draws from a seed of its own).
    fn unattached() -> Self {
        let any = DeviceId::new(0, 0);
        Self::new(Interrupter::new(), RunSeed::default(), 1, &[(any, 1)], 1)
    }

    /// Whether the loss of step `at` is read: every `reads_every`-th batch and each device's
    /// last of the epoch.
    fn reads(&self, at: Step) -> bool {
        at.batch.is_multiple_of(self.reads_every.max(1)) || at.last
    }

    /// The next step on `device` (any device when the run has one); counts it. A device the
    /// run was not given stops the run.
    fn next_step(&self, device: DeviceId) -> Step {
        let one = self.shares.len() == 1;
        let share = self
            .shares
            .iter()
            .find(|share| one || share.device == device);
        let share = share.unwrap_or_else(|| {
            self.interrupter.stop(Some(&format!(
                "a training step ran on {device:?}, which is not one of the run's devices"
            )));
            &self.shares[0]
        });
        let step = share.taken.fetch_add(1, Ordering::SeqCst);
        let batches = share.batches.max(1);
        Step {
            epoch: self.first_epoch + step / batches,
            batch: share.before + step % batches + 1,
            last: step % batches + 1 == batches,
        }
    }

    /// The seed of the random draws of step `at`.
    fn seed_of(&self, at: Step) -> u64 {
        self.seed.finetune_step(at.epoch, at.batch)
    }

    /// Whether the run's steps take turns at the backend's generator ([`DRAWS`]): with
    /// several devices.
    fn draws_in_turn(&self) -> bool {
        self.shares.len() > 1
    }

    /// Interrupts the run if the loss of step `at` is not finite.
    fn observe(&self, loss: f64, at: Step) {
        if loss.is_finite() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none() {
            let (every, batch) = (self.reads_every.max(1), at.batch);
            let since = if batch % every == 0 {
                batch + 1 - every
            } else {
                batch - batch % every + 1
            };
            *seen = Some(NonFinite {
                epoch: at.epoch,
                since,
                batch,
                loss,
            });
            self.interrupter
                .stop(Some("the training loss is not finite"));
        }
    }

    /// The first non-finite loss, if any.
    fn seen(&self) -> Option<NonFinite> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The training examples each of `devices` devices gets in an epoch of `examples`, as
/// burn-train's multi-device strategy splits the loader (`split_dataloader`): equal parts, the
/// remainder to the last.
fn examples_per_device(examples: usize, devices: usize) -> Vec<usize> {
    let part = examples / devices.max(1);
    (0..devices)
        .map(|i| {
            if i + 1 == devices {
                examples - part * i
            } else {
                part
            }
        })
        .collect()
}

/// Fine-tuning diverged: names where, and which checkpoint is the last good one.
#[derive(Debug, thiserror::Error)]
#[error(
    "fine-tuning diverged at {at}: the training loss became {}; lower the learning rate (now \
     {}). {}",
    at.loss,
    crate::config::readable(*learning_rate),
    kept.as_ref().map_or_else(
        || "No epoch had finished, so no checkpoint was written.".to_string(),
        |(epoch, dir)| format!(
            "The last good checkpoint (epoch {epoch}) is kept in {}.",
            dir.display()
        )
    )
)]
pub struct Diverged {
    /// Where the loss first became non-finite.
    pub at: NonFinite,
    /// The learning rate of the run.
    pub learning_rate: f64,
    /// The last complete checkpoint and its folder, if an epoch finished.
    pub kept: Option<(usize, PathBuf)>,
}

/// A fine-tuned network: the epoch its run kept ([`Keep`]).
pub struct FinetuneOutcome<B: Backend> {
    /// The network as it was after the epoch kept.
    pub net: DbnClassifier<B>,
    /// The epoch with the lowest mean validation loss; `None` with [`Keep::Last`] and when no
    /// validation loss was logged (then the last epoch's network is kept).
    pub best: Option<BestEpoch>,
    /// Whether the dashboard's `q` ended the run before its last epoch.
    pub stopped: bool,
}

/// The epoch kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestEpoch {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Its mean validation loss.
    pub valid_loss: f64,
}

/// What a fine-tuning run works on and where.
pub struct FinetuneJob<'a, B: Backend> {
    /// The settings.
    pub config: &'a FinetuneConfig,
    /// The run's seed: of the shuffling and of each step's dropout masks.
    pub seed: RunSeed,
    /// Labelled training examples.
    pub train: ExampleSet,
    /// Validation examples (early stopping, the epoch kept).
    pub valid: ExampleSet,
    /// Folder of burn-train's logs and checkpoints.
    pub dir: &'a Path,
    /// Continue from the last checkpoint in `dir`.
    pub resume: bool,
    /// Which epoch's network the run returns.
    pub keep: Keep,
    /// The devices: the network moves to the main one. With several, each step takes one
    /// batch per device and the optimiser sums their gradients, so an epoch has fewer, larger
    /// steps at the same learning rate (and `lr_decay` still applies once per epoch).
    pub devices: &'a Devices<B>,
    /// The loss weight of each class ([`crate::config::ClassWeight::weights`], one per output
    /// class at least), in training and validation; `None` weighs every example alike.
    pub class_weights: Option<&'a [f32]>,
}

/// Which epoch's network a fine-tuning run returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The epoch with the lowest validation loss; the run stops early after `patience` epochs
    /// without improvement.
    LowestValidationLoss,
    /// The last of all `epochs`, without early stopping: a refit whose number of epochs was
    /// chosen beforehand (its validation images may be among its training images).
    Last,
}

/// Fine-tunes `net` as `job` says, with burn-train's dashboard (a terminal) or plain lines,
/// checkpoints and, keeping the lowest validation loss, early stopping. Returns, on the inner
/// backend, the network of the epoch `job.keep` names (the lowest validation loss's checkpoint is
/// kept for that).
///
/// # Errors
/// [`Diverged`] when a training loss is not finite; an error naming the checkpoint file when
/// the best epoch's checkpoint cannot be loaded.
pub fn finetune<B: AutodiffBackend>(
    net: DbnClassifier<B>,
    job: FinetuneJob<'_, B>,
) -> Result<FinetuneOutcome<B::InnerBackend>, Box<dyn Error>> {
    let config = job.config;
    // On a thread of the pool; on `Flex`, the pool's other threads awake (see `in_thread_pool`).
    let outcome = in_thread_pool::<B::InnerBackend, _>(move || match config.optimizer {
        OptimizerKind::Sgd => learn(net, sgd(config), job),
        OptimizerKind::Adam => learn(net, adam(config).init(), job),
    });
    outcome.map_err(|error| -> Box<dyn Error> { error })
}

/// The SGD optimiser of `config` (momentum, weight decay, gradient clipping).
fn sgd<B: AutodiffBackend, M: AutodiffModule<B>>(
    config: &FinetuneConfig,
) -> OptimizerAdaptor<FusedSgd, M, B> {
    let sgd = FusedSgd::new(config.momentum, config.weight_decay).init();
    match grad_clipping(config) {
        Some(clipping) => sgd.with_grad_clipping(clipping.init()),
        None => sgd,
    }
}

/// The gradient clipping of `config`, if any.
fn grad_clipping(config: &FinetuneConfig) -> Option<GradientClippingConfig> {
    config
        .clip_norm
        .map(|norm| GradientClippingConfig::Norm(norm as f32))
}

/// The learning rate of every step: `config.learning_rate`, times `config.lr_decay` per epoch
/// of `steps_per_epoch` optimiser steps (spread evenly over its steps).
fn schedule(config: &FinetuneConfig, steps_per_epoch: usize) -> ExponentialDecay {
    let gamma = config.lr_decay.powf(1.0 / steps_per_epoch.max(1) as f64);
    ExponentialDecay::new(config.learning_rate, gamma)
}

/// The training batches of a run: `train` in batches of `config.batch_size`, shuffled afresh
/// each epoch by the run's seed, the first pass being epoch `first_epoch`.
fn train_loader<B: Backend>(
    train: ExampleSet,
    config: &FinetuneConfig,
    seed: RunSeed,
    first_epoch: usize,
    device: &B::Device,
) -> EpochLoader<B, Example, ClassificationBatch<B>> {
    EpochLoader::new(
        train,
        ClassificationBatcher::default(),
        config.batch_size,
        Some(seed.finetune_shuffle()),
        first_epoch,
        device,
    )
}

/// One epoch (the first) of fine-tuning `net` on one device as [`finetune`] trains it: the
/// same batches in the same order, the same training step (the watch that seeds each step's
/// dropout and reads its loss), the optimiser of `config` and its learning-rate schedule,
/// without burn-train's metrics, logs and checkpoints. What `dbn bench` times; a test checks
/// that it ends with the weights of a one-epoch [`finetune`] run. The classes weigh as
/// `config.class_weight` says for `train`'s labels, as a run weighs them for its training
/// split. A non-finite loss stops the epoch early, as it stops a run.
pub fn first_epoch<B: AutodiffBackend>(
    net: DbnClassifier<B>,
    train: ExampleSet,
    config: &FinetuneConfig,
    seed: RunSeed,
    device: &B::Device,
) -> DbnClassifier<B> {
    in_thread_pool::<B::InnerBackend, _>(move || match config.optimizer {
        OptimizerKind::Sgd => first_epoch_with(net, sgd(config), train, config, seed, device),
        OptimizerKind::Adam => {
            first_epoch_with(net, adam(config).init(), train, config, seed, device)
        }
    })
}

/// [`first_epoch`] with `optimizer`.
fn first_epoch_with<B: AutodiffBackend, O: Optimizer<LearnerModel<B>, B>>(
    net: DbnClassifier<B>,
    mut optimizer: O,
    train: ExampleSet,
    config: &FinetuneConfig,
    seed: RunSeed,
    device: &B::Device,
) -> DbnClassifier<B> {
    let batches = train.len().div_ceil(config.batch_size);
    let classes = net.n_outputs().max(2);
    let class_weights = config.class_weight.weights(&train.label_counts(), classes);
    let loader = train_loader::<B>(train, config, seed, 1, device);
    let interrupter = Interrupter::new();
    let shares = [(device.to_id(), batches)];
    let mut model = LearnerModel::watched(
        net,
        class_weights,
        interrupter.clone(),
        seed,
        (1, &shares),
        device,
    );
    let mut schedule = schedule(config, batches);
    // The order of burn-train's single-device epoch: rate, step, optimiser.
    for batch in loader.iter() {
        let learning_rate = LrScheduler::step(&mut schedule);
        let output = TrainStep::step(&model, batch);
        model = optimizer.step(learning_rate, model, output.grads);
        if interrupter.should_stop() {
            break;
        }
    }
    model.net
}

/// The Adam optimiser of `config` (its weight decay).
fn adam(config: &FinetuneConfig) -> AdamConfig {
    AdamConfig::new()
        .with_weight_decay(weight_decay(config))
        .with_grad_clipping(grad_clipping(config))
}

fn weight_decay(config: &FinetuneConfig) -> Option<WeightDecayConfig> {
    (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32))
}

/// The one generic body behind `finetune`'s two optimisers.
fn learn<B: AutodiffBackend, O: Optimizer<LearnerModel<B>, B> + 'static>(
    net: DbnClassifier<B>,
    optimizer: O,
    job: FinetuneJob<'_, B>,
) -> Result<FinetuneOutcome<B::InnerBackend>, Box<dyn Error + Send + Sync>> {
    let FinetuneJob {
        config,
        seed,
        train,
        valid,
        dir,
        resume,
        keep,
        devices,
        class_weights,
    } = job;
    let device = devices.main().clone();
    let net = net.fork(&device);
    let resumed = resume.then(|| last_checkpoint(dir)).flatten();
    if let Some(epoch) = resumed {
        forget_epochs_after(dir, epoch)?;
    }
    let stopping = (keep == Keep::LowestValidationLoss)
        .then(|| NoImprovementSince::new(config.patience, &LossMetric::<B>::new()));
    // A run that had already stopped early stays stopped.
    let last_epoch = match (resumed, &stopping) {
        (Some(epoch), Some(stopping))
            if best_epoch(dir).is_some_and(|(best, _)| stopping.stops(epoch, best)) =>
        {
            epoch
        }
        _ => config.epochs,
    };
    let first_epoch = resumed.map_or(1, |epoch| epoch + 1);
    let shares: Vec<(DeviceId, usize)> = devices
        .all()
        .iter()
        .zip(examples_per_device(train.len(), devices.all().len()))
        .map(|(device, examples)| (device.to_id(), examples.div_ceil(config.batch_size)))
        .collect();
    // burn-train steps the optimiser (and the scheduler) once per batch of each device.
    let steps_per_epoch = shares.iter().map(|&(_, batches)| batches).max();
    let scheduler = schedule(config, steps_per_epoch.unwrap_or(1));
    let loader_train = train_loader::<B>(train, config, seed, first_epoch, &device);
    let loader_valid = EpochLoader::<B::InnerBackend, _, _>::new(
        valid,
        ClassificationBatcher::default(),
        config.batch_size,
        None,
        first_epoch,
        &device,
    );
    let interrupter = Interrupter::new();
    let stopped_by = interrupter.clone();
    let validated = ValidatedEpoch::default();
    let model = LearnerModel::watched(
        net,
        class_weights.map(<[f32]>::to_vec),
        interrupter.clone(),
        seed,
        (first_epoch, &shares),
        &device,
    );
    let watch = model.watch.clone();
    let mut checkpoints =
        ComposedCheckpointingStrategy::builder().add(KeepLastNCheckpoints::new(2));
    if keep == Keep::LowestValidationLoss {
        checkpoints = checkpoints.add(MetricCheckpointingStrategy::new(
            &LossMetric::<B>::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
        ));
    }
    let mut training = SupervisedTraining::new(dir, Arc::new(loader_train), Arc::new(loader_valid))
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_metric_logger(MetricFiles::new(
            dir,
            first_epoch,
            interrupter.clone(),
            validated.clone(),
        ))
        .with_interrupter(interrupter)
        .with_training_strategy(execution(devices).into())
        .with_file_checkpointer(AtomicMpkRecorder)
        .with_checkpointing_strategy(AfterLogs {
            inner: checkpoints.build(),
            validated: validated.clone(),
        })
        .num_epochs(last_epoch);
    if let Some(stopping) = stopping {
        training = training.early_stopping(stopping);
    }
    // In a pipe, one line an epoch, without burn-train's closing summary: a dump of the whole
    // model and a table of the metrics the epoch lines already gave, once per fine-tuning.
    training = match std::io::stdout().is_terminal() {
        true => training.summary(),
        false => training.renderer(EpochLines::default()),
    };
    if let Some(epoch) = resumed {
        println!("fine-tuning: resuming after epoch {epoch}");
        training = training.checkpoint(epoch);
    }
    let result = training.launch(Learner::new(model, optimizer, scheduler));
    drop(result.renderer);
    if let Some(at) = watch.seen() {
        let kept = last_checkpoint(dir).map(|epoch| (epoch, dir.join("checkpoint")));
        return Err(Diverged {
            at,
            learning_rate: config.learning_rate,
            kept,
        }
        .into());
    }
    // A message that is neither ours nor the dashboard's `q`: a log or checkpoint that could not
    // be written. Past this check, a message means the dashboard stopped the run.
    let message = stopped_by.get_message();
    if let Some(message) = &message
        && message != USER_STOP
    {
        return Err(format!("fine-tuning stopped: {message}").into());
    }
    let stopped = message.is_some();
    let last = result.model;
    if keep == Keep::Last {
        // Fewer epochs than chosen would not be the network the run promises.
        if stopped {
            let done = last_checkpoint(dir).unwrap_or(0);
            return Err(format!(
                "stopped from the dashboard after epoch {done} of {}: run the same command with \
                 --resume to finish it",
                config.epochs
            )
            .into());
        }
        return Ok(FinetuneOutcome {
            net: last.net,
            best: None,
            stopped: false,
        });
    }
    let checkpoint = |epoch: usize| dir.join("checkpoint").join(format!("model-{epoch}"));
    let kept =
        best_epoch(dir).filter(|&(epoch, _)| checkpoint(epoch).with_extension("mpk").is_file());
    let Some((epoch, valid_loss)) = kept else {
        return Ok(FinetuneOutcome {
            net: last.net,
            best: None,
            stopped,
        });
    };
    let path = checkpoint(epoch);
    let model = last
        .load_file(path.clone(), &AtomicMpkRecorder, &device)
        .map_err(|e| {
            format!(
                "cannot load the best epoch's checkpoint {}: {e}",
                path.with_extension("mpk").display()
            )
        })?;
    println!("fine-tuning: restored epoch {epoch}, the lowest validation loss");
    Ok(FinetuneOutcome {
        net: model.net,
        best: Some(BestEpoch { epoch, valid_loss }),
        stopped,
    })
}

/// burn-train's strategy for `devices`: one device, or several with the optimiser on the main
/// one.
fn execution<B: AutodiffBackend>(devices: &Devices<B>) -> ExecutionStrategy<B> {
    match devices.all() {
        [one] => ExecutionStrategy::single(one.clone()),
        several => ExecutionStrategy::multi(several.to_vec(), MultiDeviceOptim::OptimMainDevice),
    }
}

/// `set`'s examples counted by their class and the class `net` gives them, of `net`'s classes.
pub fn test_confusion<B: Backend>(
    net: &DbnClassifier<B>,
    set: &ExampleSet,
    device: &B::Device,
) -> Confusion {
    let predict = |images| Ok::<_, std::convert::Infallible>(net.predict(net.forward(images)));
    let classes = net.n_outputs().max(2);
    confusion(set, classes, device, predict).unwrap_or_else(|never| match never {})
}

/// `set`'s examples counted by their label and the class `predict` gives their image, of
/// `classes` classes (widened by a label or class beyond): the images 1,000 at a time.
///
/// # Shapes
/// `predict`: images `[batch, pixels]` -> classes `[batch]`
///
/// # Errors
/// The first error of `predict`.
pub fn confusion<B: Backend, E>(
    set: &ExampleSet,
    classes: usize,
    device: &B::Device,
    predict: impl Fn(Tensor<B, 2>) -> Result<Tensor<B, 1, Int>, E>,
) -> Result<Confusion, E> {
    let batcher = ClassificationBatcher::default();
    let indices = |t: Tensor<B, 1, Int>| -> Vec<usize> {
        t.into_data().iter::<i64>().map(|c| c as usize).collect()
    };
    let mut counted = Confusion::new(classes);
    for start in (0..set.len()).step_by(1000) {
        let items = (start..set.len().min(start + 1000))
            .filter_map(|i| set.get(i))
            .collect();
        let batch: ClassificationBatch<B> = batcher.batch(items, device);
        counted = counted.add(&indices(batch.targets), &indices(predict(batch.images)?));
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClassWeight;
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use dbn_model::DbnClassifierConfig;

    /// `n` examples of 6 features in [0, 1] among 3 classes, `offset` choosing which.
    fn examples(n: usize, offset: usize) -> ExampleSet {
        let values = (0..n * 6).map(|i| ((i * 7 + offset) % 11) as f32 / 10.0);
        let table = dbn_data::Table {
            rows: n,
            cols: 6,
            values: values.collect(),
            labels: Some((0..n).map(|i| (i * 5 + offset) % 3).collect()),
            classes: Vec::new(),
            image: None,
            grey_levels: false,
            names: Vec::new(),
        };
        ExampleSet::from_table("examples", table)
    }

    /// Every weight and bias of `net`, bottom layer first.
    fn parameters(net: &DbnClassifier<Flex>) -> Vec<Vec<f32>> {
        let layers = net.encoder.layers.iter().chain([&net.output]);
        layers
            .flat_map(|l| {
                [
                    l.weight.val(),
                    l.bias.as_ref().expect("a bias").val().unsqueeze(),
                ]
            })
            .map(|t: Tensor<Flex, 2>| t.into_data().to_vec().unwrap())
            .collect()
    }

    type A = Autodiff<Flex>;

    /// A 6-5-4 net of 3 outputs drawn from seed 3, dropping `input_dropout` of its inputs
    /// and `dropout` of its hidden units (the caller holds the generator's turn).
    fn small_net(input_dropout: f64, dropout: f64) -> DbnClassifier<A> {
        let device = Default::default();
        A::seed(&device, 3);
        DbnClassifierConfig::new(vec![6, 5, 4])
            .with_n_outputs(3)
            .with_input_dropout(input_dropout)
            .with_dropout(dropout)
            .init::<A>(&device)
            .unwrap()
    }

    #[test]
    fn the_benchs_epoch_takes_the_steps_of_a_one_epoch_run() {
        let _turn = crate::generator_turn();
        let device = Default::default();
        let net = small_net(0.1, 0.2);
        let (train, valid) = (examples(40, 0), examples(9, 1));
        let dir = tempfile::tempdir().unwrap();
        let devices = Devices::one(device);
        let mut runs = Vec::new();
        let settings = [
            (OptimizerKind::Sgd, ClassWeight::Equal),
            (OptimizerKind::Adam, ClassWeight::Equal),
            (OptimizerKind::Sgd, ClassWeight::Balanced),
        ];
        for (optimizer, class_weight) in settings {
            // The rate decays within the epoch, so the schedule's steps count too.
            let config = FinetuneConfig::new()
                .with_epochs(1)
                .with_batch_size(7)
                .with_learning_rate(0.3)
                .with_lr_decay(0.5)
                .with_weight_decay(0.01)
                .with_optimizer(optimizer)
                .with_class_weight(class_weight);
            let class_weights = class_weight.weights(&train.label_counts(), 3);
            let job = FinetuneJob {
                config: &config,
                seed: RunSeed(5),
                train: train.clone(),
                valid: valid.clone(),
                dir: &dir.path().join(format!("{optimizer:?}-{class_weight:?}")),
                resume: false,
                keep: Keep::Last,
                devices: &devices,
                class_weights: class_weights.as_deref(),
            };
            let run = finetune(net.clone(), job).unwrap().net;
            let bench = |seed| first_epoch(net.clone(), train.clone(), &config, seed, &device);
            assert_eq!(parameters(&bench(RunSeed(5)).valid()), parameters(&run));
            assert_ne!(parameters(&net.valid()), parameters(&run));
            // The seed reaches the order and the dropout masks.
            assert_ne!(parameters(&bench(RunSeed(6)).valid()), parameters(&run));
            runs.push(parameters(&run));
        }
        // The classes' weights (14, 13 and 13 examples: 0.95, 1.03, 1.03) reach the steps.
        assert_ne!(runs[0], runs[2]);
    }

    #[test]
    fn the_validation_loss_weighs_the_classes_as_training_does() {
        let device: burn::tensor::Device<A> = Default::default();
        let net = small_net(0.0, 0.0);
        let set = examples(12, 0);
        let weights = vec![0.5, 2.0, 4.0];
        let model = LearnerModel::watched(
            net.clone(),
            Some(weights.clone()),
            Interrupter::new(),
            RunSeed(5),
            (1, &[(device.to_id(), 1)]),
            &device,
        );
        let batch: ClassificationBatch<Flex> = ClassificationBatcher::default()
            .batch((0..12).filter_map(|i| set.get(i)).collect(), &device);
        let valid = model.valid();
        let loss = |w: Option<&[f32]>| {
            let logits = valid.net.forward(batch.images.clone());
            let loss = valid.net.weighted_loss(logits, batch.targets.clone(), w);
            loss.into_scalar().elem::<f64>()
        };
        let validated = InferenceStep::step(&valid, batch.clone())
            .loss
            .into_scalar()
            .elem::<f64>();
        assert_eq!(validated, loss(Some(&weights)));
        assert_ne!(validated, loss(None));
    }

    /// `n` examples of 6 features, every twentieth of class 1: the features spread over [0, 1)
    /// by a hash (SplitMix64's mixer), class 1's squeezed into [0.4, 1), so that the classes
    /// overlap (a logistic regression recalls none of class 1 with equal weights, 87% balanced).
    fn skewed(n: usize) -> ExampleSet {
        let spread = |i: usize| {
            let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 31;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 29;
            (x >> 40) as f32 / (1u64 << 24) as f32
        };
        let class = |row: usize| usize::from(row.is_multiple_of(20));
        let values = (0..n * 6).map(|i| match class(i / 6) {
            0 => spread(i),
            _ => 0.4 + 0.6 * spread(i),
        });
        let table = dbn_data::Table {
            rows: n,
            cols: 6,
            values: values.collect(),
            labels: Some((0..n).map(class).collect()),
            classes: Vec::new(),
            image: None,
            grey_levels: false,
            names: Vec::new(),
        };
        ExampleSet::from_table("skewed", table)
    }

    #[test]
    fn balanced_class_weights_raise_the_rare_classs_recall() {
        let _turn = crate::generator_turn();
        let device = Default::default();
        let train = skewed(600);
        let recall = |class_weight: ClassWeight| {
            A::seed(&device, 3);
            let mut net = DbnClassifierConfig::new(vec![6, 8])
                .with_n_outputs(2)
                .init::<A>(&device)
                .unwrap();
            let config = FinetuneConfig::new()
                .with_batch_size(20)
                .with_learning_rate(0.1)
                .with_lr_decay(1.0)
                .with_class_weight(class_weight);
            for _ in 0..30 {
                net = first_epoch(net, train.clone(), &config, RunSeed(5), &device);
            }
            let counted = test_confusion(&net.valid(), &train, &device);
            let rare = counted.per_class()[1];
            (rare.recall.unwrap(), counted.error())
        };
        let (equal, equal_error) = recall(ClassWeight::Equal);
        // Equal weights: the net answers the commonest class, 95% of the examples, nearly
        // always (seen: 1 of 30 recalled, 5.0% error); balanced, it recalls most of class 1 at
        // the cost of more errors on class 0 (seen: 30 of 30, 16.2% error).
        let (balanced, balanced_error) = recall(ClassWeight::Balanced);
        assert!(
            equal < 0.4,
            "recall of class 1 {equal} (error {equal_error})"
        );
        assert!(
            balanced > 0.7,
            "recall of class 1 {balanced} (error {balanced_error})"
        );
        assert!(
            balanced_error > equal_error,
            "{balanced_error} against {equal_error}"
        );
    }

    #[test]
    fn clipping_bounds_each_parameters_step_by_the_rate_times_the_norm() {
        let _turn = crate::generator_turn();
        let device = Default::default();
        let net = small_net(0.0, 0.0);
        let train = examples(8, 0);
        // One step without momentum: each parameter moves by the rate times its gradient.
        let config = FinetuneConfig::new()
            .with_batch_size(8)
            .with_learning_rate(2.0)
            .with_lr_decay(1.0)
            .with_momentum(0.0);
        let steps = |config: &FinetuneConfig| -> Vec<f32> {
            let stepped = first_epoch(net.clone(), train.clone(), config, RunSeed(5), &device);
            let before = parameters(&net.valid());
            let after = parameters(&stepped.valid());
            let norm = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f32>()
                    .sqrt()
            };
            before.iter().zip(&after).map(|(a, b)| norm(a, b)).collect()
        };
        // The norm between the parameters' steps: some are clipped, the others not, as each
        // parameter is clipped alone (not by the norm of all the gradients together).
        let free = steps(&config);
        let mut sorted = free.clone();
        sorted.sort_by(f32::total_cmp);
        let bound = sorted[sorted.len() / 2];
        assert!(
            sorted[0] < bound * 0.9 && bound * 1.1 < sorted[sorted.len() - 1],
            "{free:?}"
        );
        let clip = f64::from(bound) / config.learning_rate;
        let clipped = steps(&config.clone().with_clip_norm(Some(clip)));
        for (free, clipped) in free.iter().zip(&clipped) {
            assert!(*clipped <= bound * 1.0001, "{clipped} above {bound}");
            // A gradient already within the norm is left as it is.
            if *free <= bound {
                assert!((clipped - free).abs() <= 1e-6, "{clipped} against {free}");
            }
        }
    }

    /// The step at batch `batch` of epoch 1 on one device of 120 batches.
    fn at(batch: usize) -> Step {
        Step {
            epoch: 1,
            batch,
            last: batch == 120,
        }
    }

    #[test]
    fn on_a_gpu_the_loss_is_read_every_50_steps_and_at_the_end_of_each_epoch() {
        let one = [(DeviceId::new(0, 0), 120)];
        let watch = StepWatch::new(Interrupter::new(), RunSeed(1), 1, &one, 50);
        let read: Vec<usize> = (1..=120).filter(|&b| watch.reads(at(b))).collect();
        assert_eq!(read, [50, 100, 120]);
        watch.observe(f64::NAN, at(120));
        let seen = watch.seen().unwrap();
        assert_eq!((seen.since, seen.batch), (101, 120));
        assert_eq!(seen.to_string(), "epoch 1, one of batches 101-120");
        // On the CPU, every step, and the batch itself named.
        assert_eq!(loss_reads_every::<Autodiff<Flex>>(&Default::default()), 1);
        let cpu = StepWatch::new(Interrupter::new(), RunSeed(1), 1, &one, 1);
        assert!((1..=120).all(|b| cpu.reads(at(b))));
        cpu.observe(f64::INFINITY, at(7));
        assert_eq!(cpu.seen().unwrap().to_string(), "epoch 1, batch 7");
    }

    #[test]
    fn with_several_devices_each_batch_is_known_whichever_device_steps_first() {
        let (a, b) = (DeviceId::new(0, 0), DeviceId::new(0, 1));
        // 25 examples over two devices in batches of 5: 12 and 13 examples, 3 batches each.
        let shares: Vec<(DeviceId, usize)> = [a, b]
            .into_iter()
            .zip(examples_per_device(25, 2))
            .map(|(device, examples)| (device, examples.div_ceil(5)))
            .collect();
        assert_eq!(shares, [(a, 3), (b, 3)]);
        let steps = |order: &[DeviceId]| {
            let watch = StepWatch::new(Interrupter::new(), RunSeed(1), 4, &shares, 1);
            let mut steps: Vec<(DeviceId, Step)> =
                order.iter().map(|&d| (d, watch.next_step(d))).collect();
            steps.sort_by_key(|(_, step)| (step.epoch, step.batch));
            steps
        };
        let in_turn = steps(&[a, b, a, b, a, b, a, b]);
        assert_eq!(in_turn, steps(&[b, a, b, b, a, a, b, a]));
        let batches: Vec<(usize, usize, bool)> = in_turn
            .iter()
            .map(|(_, s)| (s.epoch, s.batch, s.last))
            .collect();
        assert_eq!(
            batches,
            [
                (4, 1, false),
                (4, 2, false),
                (4, 3, true),
                (4, 4, false),
                (4, 5, false),
                (4, 6, true),
                (5, 1, false),
                (5, 4, false)
            ]
        );
        assert_eq!(
            in_turn[3].0, b,
            "the second device's batches follow the first's"
        );
        // A device that is not the run's stops it.
        let watch = StepWatch::new(Interrupter::new(), RunSeed(1), 1, &shares, 1);
        watch.next_step(DeviceId::new(3, 0));
        assert!(watch.interrupter.should_stop());
        assert_eq!(examples_per_device(10, 3), [3, 3, 4]);
    }
}
