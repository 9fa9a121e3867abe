//! Supervised fine-tuning through burn-train (`SupervisedTraining` + `Learner`), and test
//! evaluation.

use std::io::IsTerminal;
use std::path::Path;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::optim::{AdamConfig, Optimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, MetricEarlyStoppingStrategy, StoppingCondition,
    SupervisedTraining, TrainOutput, TrainStep,
};
use dbn_data::{ClassificationBatch, ClassificationBatcher, MnistDataset};
use dbn_model::DbnClassifier;

use crate::config::{FinetuneConfig, OptimizerKind};
use crate::renderer::EpochLines;
use crate::run::epoch_mean;
use crate::sgd::FusedSgd;

/// The classifier as burn-train trains it (a local type, so the training traits can be
/// implemented for it).
#[derive(Module, Debug)]
pub struct FineTuned<B: Backend> {
    /// The network being fine-tuned.
    pub net: DbnClassifier<B>,
}

impl<B: Backend> FineTuned<B> {
    /// Forward pass and loss of a batch.
    fn classify(&self, batch: ClassificationBatch<B>) -> ClassificationOutput<B> {
        let output = self.net.forward(batch.images);
        let loss = self.net.loss(output.clone(), batch.targets.clone());
        ClassificationOutput {
            loss,
            output,
            targets: batch.targets,
        }
    }
}

impl<B: AutodiffBackend> TrainStep for FineTuned<B> {
    type Input = ClassificationBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ClassificationBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let output = self.classify(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for FineTuned<B> {
    type Input = ClassificationBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ClassificationBatch<B>) -> ClassificationOutput<B> {
        self.classify(batch)
    }
}

/// The last epoch whose checkpoint burn-train wrote in `dir/checkpoint/`, if any.
pub fn last_checkpoint(dir: &Path) -> Option<usize> {
    std::fs::read_dir(dir.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .max()
}

/// A fine-tuned network: the epoch with the lowest validation loss.
pub struct Finetuned<B: Backend> {
    /// The network as it was after `best_epoch`.
    pub net: DbnClassifier<B>,
    /// The epoch (from 1) with the lowest mean validation loss; `None` when burn-train logged
    /// no validation loss (the last epoch's network is kept).
    pub best_epoch: Option<usize>,
}

/// The epoch with the lowest mean validation loss in burn-train's logs under `dir`.
pub fn best_epoch(dir: &Path) -> Option<usize> {
    (1..)
        .map_while(|epoch| Some((epoch, epoch_mean(dir, "valid", epoch, "Loss")?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(epoch, _)| epoch)
}

/// What a fine-tuning run works on and where.
pub struct FinetuneJob<'a> {
    /// The settings.
    pub config: &'a FinetuneConfig,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Labelled training examples.
    pub train: MnistDataset,
    /// Validation examples (early stopping, the epoch kept).
    pub valid: MnistDataset,
    /// Folder of burn-train's logs and checkpoints.
    pub dir: &'a Path,
    /// Continue from the last checkpoint in `dir`.
    pub resume: bool,
}

/// Fine-tunes `net` as `job` says, with burn-train's dashboard (a terminal) or plain lines,
/// checkpoints and early stopping. Returns, on the inner backend, the network of the epoch with
/// the lowest validation loss (its checkpoint is kept for that).
pub fn finetune<B: AutodiffBackend>(
    net: DbnClassifier<B>,
    job: FinetuneJob<'_>,
) -> Finetuned<B::InnerBackend> {
    let model = FineTuned { net };
    let config = job.config;
    match config.optimizer {
        OptimizerKind::Sgd => {
            let optimizer = FusedSgd::new(config.momentum, config.weight_decay).init();
            learn(model, optimizer, job)
        }
        OptimizerKind::Adam => {
            let optimizer = AdamConfig::new()
                .with_weight_decay(weight_decay(config))
                .init();
            learn(model, optimizer, job)
        }
    }
}

fn weight_decay(config: &FinetuneConfig) -> Option<WeightDecayConfig> {
    (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32))
}

/// The one generic body behind `finetune`'s two optimisers.
fn learn<B: AutodiffBackend, O: Optimizer<FineTuned<B>, B> + 'static>(
    model: FineTuned<B>,
    optimizer: O,
    job: FinetuneJob<'_>,
) -> Finetuned<B::InnerBackend> {
    let FinetuneJob {
        config,
        seed,
        train,
        valid,
        dir,
        resume,
    } = job;
    let steps_per_epoch = train.len().div_ceil(config.batch_size).max(1);
    let gamma = config.lr_decay.powf(1.0 / steps_per_epoch as f64);
    let scheduler = ExponentialLrSchedulerConfig::new(config.learning_rate, gamma)
        .init()
        .expect("validated: learning rate > 0 and decay in (0, 1]");
    let loader_train = DataLoaderBuilder::<B, _, _>::new(ClassificationBatcher::default())
        .batch_size(config.batch_size)
        .shuffle(seed)
        .build(train);
    let loader_valid =
        DataLoaderBuilder::<B::InnerBackend, _, _>::new(ClassificationBatcher::default())
            .batch_size(config.batch_size)
            .build(valid);
    let mut training = SupervisedTraining::new(dir, loader_train, loader_valid)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .with_checkpointing_strategy(
            ComposedCheckpointingStrategy::builder()
                .add(KeepLastNCheckpoints::new(2))
                .add(MetricCheckpointingStrategy::new(
                    &LossMetric::<B>::new(),
                    Aggregate::Mean,
                    Direction::Lowest,
                    Split::Valid,
                ))
                .build(),
        )
        .early_stopping(MetricEarlyStoppingStrategy::new(
            &LossMetric::<B>::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince {
                n_epochs: config.patience,
            },
        ))
        .num_epochs(config.epochs)
        .summary();
    if !std::io::stdout().is_terminal() {
        training = training.renderer(EpochLines::default());
    }
    if let Some(epoch) = resume.then(|| last_checkpoint(dir)).flatten() {
        training = training.checkpoint(epoch);
    }
    let result = training.launch(Learner::new(model, optimizer, scheduler));
    drop(result.renderer);
    let last = result.model;
    let best = best_epoch(dir);
    let checkpoint = best.map(|epoch| dir.join("checkpoint").join(format!("model-{epoch}")));
    match (
        best,
        checkpoint.filter(|path| path.with_extension("mpk").is_file()),
    ) {
        (Some(epoch), Some(path)) => {
            let device = last.net.output.weight.device();
            let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
            let model = last
                .load_file(path, &recorder, &device)
                .expect("burn-train wrote this checkpoint of the same model");
            println!("fine-tuning: restored epoch {epoch}, the lowest validation loss");
            Finetuned {
                net: model.net,
                best_epoch: Some(epoch),
            }
        }
        _ => Finetuned {
            net: last.net,
            best_epoch: None,
        },
    }
}

/// Share of `set` that `net` misclassifies, in [0, 1].
pub fn test_error<B: Backend>(
    net: &DbnClassifier<B>,
    set: &MnistDataset,
    device: &B::Device,
) -> f64 {
    let batcher = ClassificationBatcher::default();
    let mut wrong = 0i64;
    for start in (0..set.len()).step_by(1000) {
        let items = (start..set.len().min(start + 1000))
            .filter_map(|i| set.get(i))
            .collect();
        let batch: ClassificationBatch<B> = batcher.batch(items, device);
        let predicted = net.predict(net.forward(batch.images));
        wrong += predicted
            .not_equal(batch.targets)
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>();
    }
    wrong as f64 / set.len() as f64
}
