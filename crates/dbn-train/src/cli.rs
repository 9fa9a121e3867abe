//! The command line: subcommands, their flags and what they run.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::backend::Autodiff;
use clap::{Args, Parser, Subcommand};
use dbn_data::{N_CLASSES, SplitSize, TableOptions, shipped_mnist_dir};
use dbn_model::check::parse_at_least_one;
use dbn_model::{
    PersistentConfig, Range, RbmTrainingConfig, UpDownConfig, VisibleUnits, write_atomically,
};

use crate::backend::Selected;
use dbn_train::bench::{self, BenchSettings, PeerCommand, default_peer_script, peer_peak};
use dbn_train::commands::{
    self, EncodeWith, FeatureFile, InputSettings, LoglikSettings, RunRequest, SampleSettings,
};
use dbn_train::config::{ClassWeight, OptimizerKind, Preset, RunConfig};
use dbn_train::device::{self, DeviceRequest, Devices, RunBackend, RunDevice};
use dbn_train::inputs::Invert;
use dbn_train::run_dir::Existing;
use dbn_train::stages::{self, DEFAULT_TEST_SPLIT, DataInfo, DataRequest, Pinned, Visible};

type Inner = Selected;
type Train = Autodiff<Selected>;

/// Deep belief networks on Burn: pretrain stacked RBMs, sample from them, fine-tune them into
/// classifiers.
#[derive(Debug, Parser)]
#[command(name = "dbn", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Device to run on: default (the best the backend finds: the first GPU of a GPU build,
    /// else the CPU), cpu, gpu, gpu:N (CUDA's device N, wgpu's discrete GPU N), or one of
    /// wgpu's adapter kinds: discrete[:N], integrated[:N], virtual[:N]. The first line of every
    /// command names the backend and the device it started
    #[arg(long, global = true, env = "DBN_DEVICE", value_name = "DEVICE", default_value = "default", value_parser = DeviceRequest::from_str)]
    device: DeviceRequest,
    /// Several devices, comma-separated (e.g. gpu:0,gpu:1): fine-tuning (train, finetune,
    /// compare) runs on all of them with burn-train's multi-device strategy, each step one batch
    /// per device and their gradients summed on the first, which does the rest of the work.
    /// Instead of --device
    #[arg(long, global = true, env = "DBN_DEVICES", value_name = "DEVICE,...", value_delimiter = ',', value_parser = DeviceRequest::from_str, conflicts_with = "device")]
    devices: Option<Vec<DeviceRequest>>,
}

/// The devices of a command, started.
struct OnDevices {
    /// The first: every command's only device, and fine-tuning's main one.
    main: RunDevice<Inner>,
    /// All of them, for fine-tuning.
    all: Devices<Train>,
    /// What they are, for the first line and `summary.json`.
    name: String,
}

impl OnDevices {
    /// Starts each of `requests` (at least one).
    fn start(requests: &[DeviceRequest]) -> Result<Self, Box<dyn Error>> {
        let list = requests
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let flag = match requests {
            [_] => "--device".to_string(),
            _ => format!("--devices {list}:"),
        };
        if let (Some(why), [_, _, ..]) = (Selected::ONE_DEVICE_ONLY, requests) {
            return Err(format!("{flag} the {} backend {why}", Selected::NAME).into());
        }
        let started = requests
            .iter()
            .map(|&request| device::start::<Selected>(request))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{flag} {e}"))?;
        let all = Devices::new(started.iter().map(|d| &d.device).cloned().collect())
            .map_err(|e| format!("{flag} {e}: list each device once"))?;
        let name = match &started[..] {
            [one] => one.name.clone(),
            several => format!(
                "{} devices: {}",
                several.len(),
                requests
                    .iter()
                    .zip(several)
                    .map(|(request, device)| format!("{request} ({})", device.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let main = started.into_iter().next().ok_or("no device given")?;
        Ok(Self { main, all, name })
    }

    /// The one device of a command that does not fine-tune.
    ///
    /// # Errors
    /// When several were given.
    fn one(&self, command: &str) -> Result<&RunDevice<Inner>, String> {
        match self.all.all().len() {
            1 => Ok(&self.main),
            _ => Err(format!(
                "--devices: `dbn {command}` runs on one device; several are for the commands \
                 that fine-tune (train, finetune, compare): give --device"
            )),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: greedy pretraining, supervised fine-tuning, then the test error.
    Train(RunArgs),
    /// Greedy layer-wise pretraining only; saves the stack and its pictures.
    Pretrain(RunArgs),
    /// Fine-tuning only, from a pretrained stack (--from) or from random initialisation.
    Finetune(FinetuneArgs),
    /// Test error of a fine-tuned classifier, and each class's recall and precision.
    Evaluate(ModelArgs),
    /// Generate examples from a pretrained stack: a grid of pictures, or a table in the data's
    /// units.
    Sample(SampleArgs),
    /// Pretrained vs random initialisation: same architecture, optimiser, epochs and seed.
    Compare(CompareArgs),
    /// AIS estimate of the test log-likelihood of a stack's first RBM, in nats.
    Loglik(LoglikArgs),
    /// Classify new examples with a fine-tuned classifier: tables (CSV, .npy, .npz, IDX) or
    /// pictures (PNG, JPEG); one CSV row per example, its class and class probabilities.
    Predict(PredictArgs),
    /// Export a stack's (or a fine-tuned classifier's) features at one layer for other tools: a
    /// .npy or CSV file, one row per example.
    Encode(EncodeArgs),
    /// Load a data folder, check every file, and print the examples per split and per label.
    Data(DataArgs),
    /// Time our CD-1, pretraining and fine-tuning epochs against PyTorch doing the same work.
    Bench(BenchArgs),
}

/// Where the data comes from.
#[derive(Debug, Args)]
struct DataSource {
    /// The data: a folder in MNIST layout (train-images-idx3-ubyte[.gz] and the three others;
    /// MNIST and Fashion-MNIST alike, images of any size), or a table file of one example per
    /// row: CSV (header optional, labels in --label-column), NumPy .npy (features) or .npz
    /// (features x, labels y). --data-dir is the same flag [default: for a command given a
    /// --model, the data it was trained on (its data.json); otherwise the MNIST copy shipped in
    /// the repository's data/mnist/]
    #[arg(
        long,
        visible_alias = "data-dir",
        env = "DBN_DATA_DIR",
        value_name = "PATH"
    )]
    data: Option<PathBuf>,
    /// The test examples of a --data file, of the same columns [default: --test-split of
    /// --data's examples].
    #[arg(long, value_name = "FILE")]
    test_data: Option<PathBuf>,
    /// The CSV column holding each example's class (its header name, or its index from 0): class
    /// indices 0 to K-1, or class names (setosa, M, ...: numbered in sorted order, kept in the
    /// run's data.json, and given back by `dbn predict`); it is not a feature. Without it a CSV
    /// file is unlabelled: `dbn pretrain` only.
    #[arg(long, value_name = "COLUMN")]
    label_column: Option<String>,
    /// Examples of a --data file held out for testing when there is no --test-data: a count,
    /// or a fraction such as 0.2. A file's examples are shuffled (by a fixed seed, the same for
    /// every run) before they are split [default: 0.2; for a command given a --model, the
    /// run's]
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    test_split: Option<SplitSize>,
}

impl DataSource {
    /// The request these flags make, with visible units `visible`.
    fn request(&self, visible: Visible) -> DataRequest {
        DataRequest {
            path: self.data.clone().unwrap_or_else(shipped_mnist_dir),
            test: self.test_data.clone(),
            label_column: self.label_column.clone(),
            test_split: self.test_split.unwrap_or(DEFAULT_TEST_SPLIT),
            visible,
        }
    }

    /// The request of a command reading the test examples of the run in `model`: the flags
    /// given over its data (`--data` absent: the run's data, and its test file and label
    /// column unless given; `--test-split` absent: the run's), saying which data when they are
    /// the run's.
    ///
    /// # Errors
    /// A `data.json` that cannot be read, or that names data no longer there.
    fn model_request(&self, model: &Path) -> Result<DataRequest, Box<dyn Error>> {
        let mut request = self.request(Visible::Auto);
        let Some(info) = DataInfo::of_model(model)? else {
            return Ok(request);
        };
        if let (None, Some(source)) = (&self.data, info.source) {
            let saved = model.join("data.json");
            if !source.data.exists() {
                return Err(format!(
                    "{}: the run's data, {}, are not there any more; give --data",
                    saved.display(),
                    source.data.display()
                )
                .into());
            }
            println!(
                "data: {} (the run's, from {})",
                source.data.display(),
                saved.display()
            );
            request.path = source.data;
            request.test = self.test_data.clone().or(source.test_data);
            request.label_column = self.label_column.clone().or(source.label_column);
        }
        if let (None, Some(split)) = (self.test_split, info.test_split) {
            request.test_split = split;
        }
        Ok(request)
    }
}

#[derive(Debug, Args)]
struct DataArgs {
    #[command(flatten)]
    source: DataSource,
    /// Training examples held out for validation: a count, or a fraction such as 0.1
    /// [default: the last 10000 training images of a folder, 0.1 of a file's examples].
    #[arg(long, value_name = "SIZE", value_parser = split_size, allow_negative_numbers = true)]
    validation: Option<SplitSize>,
}

/// Settings of a training run: a preset, then a config file, then these flags.
#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    source: DataSource,
    /// Folder of the run's artifacts (config, models, metrics, pictures, summary); an existing
    /// one is refused unless --resume or --overwrite [default: artifacts/COMMAND].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in --out from its last checkpoint, with the settings and
    /// data it started with (a difference is refused and named; --config DIR/config.json gives
    /// its settings).
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace an existing --out folder.
    #[arg(long)]
    overwrite: bool,
    /// Starting settings: quick (default; `dbn train` takes about 4 to 8 minutes on 2 cores) or
    /// hinton (the classic 784-500-500-2000-10 stack, 50 CD epochs per layer, fine-tuned with
    /// light dropout; `dbn train` about 9 to 11 minutes). Both refit on all labelled images
    /// once the validation split has chosen the epochs.
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    preset: Preset,
    /// JSON file of settings (a run's config.json, or only the settings to change) over the
    /// preset's; the flags below override it. A pretraining flag (--pretrain-*, --cd-k,
    /// --final-cd-k, --persistent, --pcd-chains, --sample-negative, --sample-data) sets every
    /// RBM, those the file gives settings of their own (pretrain.per_layer) included.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The run's one seed: of initialisation, shuffling and sampling (CPU runs are
    /// reproducible).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Layer sizes from the data up, comma-separated, e.g. 784,500,500,2000 [default: the
    /// preset's, its first size the data's width; for data of fewer than 8 features the
    /// hidden ones narrowed alike, to give the first at most 64 units a feature; with --from,
    /// the stack's].
    #[arg(long, value_delimiter = ',', value_name = "SIZES", action = clap::ArgAction::Set)]
    layers: Option<Vec<usize>>,
    /// CD epochs per RBM [default: the preset's (10; hinton 50), raised for data of fewer than
    /// 500 batches an epoch to make the updates the preset makes on MNIST, at most 1000].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pretrain_epochs: Option<usize>,
    /// CD learning rate.
    #[arg(long, value_name = "RATE", value_parser = positive, allow_negative_numbers = true)]
    pretrain_lr: Option<f64>,
    /// Factor applied to the CD learning rate after each epoch, in (0, 1] (1 keeps it constant).
    #[arg(long, value_name = "FACTOR", value_parser = decay_factor, allow_negative_numbers = true)]
    pretrain_lr_decay: Option<f64>,
    /// CD mini-batch size.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pretrain_batch_size: Option<usize>,
    /// Gibbs steps of CD-k.
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    cd_k: Option<usize>,
    /// Gibbs steps of the last CD epoch: the steps grow linearly from --cd-k in the first epoch
    /// to K in the last (Salakhutdinov & Murray's CD-25 RBMs grew from 1 to 25 steps).
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    final_cd_k: Option<usize>,
    /// CD weight decay (L2, on the weights), at least 0.
    #[arg(long, value_name = "COST", value_parser = non_negative, allow_negative_numbers = true)]
    pretrain_weight_decay: Option<f64>,
    /// CD momentum, for every epoch (the presets use 0.5 for 5 epochs, then 0.9).
    #[arg(long, value_name = "M", value_parser = fraction, allow_negative_numbers = true)]
    pretrain_momentum: Option<f64>,
    /// Persistent CD (chains kept across mini-batches). It wants a small step: with the
    /// presets' momentum 0.9 our PCD runs fell below the untrained model; --pretrain-momentum 0
    /// learned well, and best with --sample-negative.
    #[arg(long)]
    persistent: bool,
    /// Persistent CD's number of chains (default: one per mini-batch example). More chains
    /// average the model's statistics over more samples each update.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    pcd_chains: Option<usize>,
    /// The negative phase ends on a sampled visible state instead of the visible means: an
    /// unbiased estimate of the model's statistics, for persistent CD and the log-likelihood
    /// (with weight decay 0.0001, our best RBM: docs/results.md); the means, Hinton's CD-1
    /// recipe, are less noisy.
    #[arg(long)]
    sample_negative: bool,
    /// CD trains on a fresh Bernoulli sample of each mini-batch (grey levels, and in higher
    /// layers the probabilities below, read as probabilities), so no binary image repeats.
    #[arg(long)]
    sample_data: bool,
    /// Pretrain on binarised images (each pixel 1 with probability grey/255, drawn once from
    /// the seed), as the log-likelihood literature does; fine-tuning still sees grey levels.
    #[arg(long)]
    binarize: bool,
    /// Train the top RBM on its input and the example's label together (one softmax label
    /// unit per class of the data beside it, as Hinton, Osindero & Teh 2006): the stack then
    /// classifies alone (the generative test error in the summary) and `dbn sample --label`
    /// draws a chosen class
    #[arg(long)]
    labelled_top: bool,
    /// After pretraining, fine-tune the generative model by up-down (contrastive wake-sleep,
    /// Hinton, Osindero & Teh 2006) for N epochs: the weights below the top RBM are untied into
    /// recognition and generative weights (saved as updown.json and updown.mpk, which `dbn
    /// sample` then uses). Best with --labelled-top: the summary gives the generative test error
    /// and the class samples before and after it
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    updown_epochs: Option<usize>,
    /// Up-down learning rate, of every weight alike [default: 0.1]
    #[arg(long, value_name = "RATE", value_parser = positive, allow_negative_numbers = true)]
    updown_lr: Option<f64>,
    /// Gibbs steps of the top RBM's CD in up-down [default: 3]
    #[arg(long, value_name = "K", value_parser = at_least_one, allow_negative_numbers = true)]
    updown_cd_k: Option<usize>,
    /// Fine-tuning epochs (at most; early stopping on validation loss may end sooner).
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    finetune_epochs: Option<usize>,
    /// Fine-tuning learning rate. The quick preset fine-tunes with two schedules (0.5 x0.9 per
    /// epoch, and a constant 0.1) and keeps the one of lower validation loss (one that diverges
    /// is dropped with a warning); this flag, or --finetune-lr-decay, sets the one schedule.
    #[arg(long, value_name = "RATE", value_parser = positive, allow_negative_numbers = true)]
    finetune_lr: Option<f64>,
    /// Factor applied to the fine-tuning learning rate over each epoch, in (0, 1]; sets the one
    /// schedule, as --finetune-lr does.
    #[arg(long, value_name = "FACTOR", value_parser = decay_factor, allow_negative_numbers = true)]
    finetune_lr_decay: Option<f64>,
    /// Fine-tuning mini-batch size.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Fine-tuning optimiser.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Epochs without validation-loss improvement before fine-tuning stops.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    patience: Option<usize>,
    /// Fine-tuning dropout: probability of dropping each hidden unit, in [0, 1).
    #[arg(long, value_name = "P", value_parser = fraction, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Fine-tuning dropout of the input pixels, in [0, 1).
    #[arg(long, value_name = "P", value_parser = fraction, allow_negative_numbers = true)]
    input_dropout: Option<f64>,
    /// Fine-tuning gradient clipping: each weight matrix's and bias's gradient is scaled down
    /// to this L2 norm where it is larger [default: off]. 0.1 kept the first epochs on small
    /// tables from overshooting (a training loss of 7 at rate 0.5 on the irises); on MNIST it
    /// slowed learning (docs/results.md).
    #[arg(long, value_name = "NORM", value_parser = positive, allow_negative_numbers = true)]
    clip_norm: Option<f64>,
    /// How fine-tuning weighs each class's examples in the loss: equal, or balanced (each
    /// class's examples weigh n / (classes · its examples), so that every class counts alike,
    /// for data of unequal classes where the test error hides a class rarely got right)
    /// [default: equal]
    #[arg(long, value_enum)]
    class_weight: Option<ClassWeight>,
    /// Once the validation split has chosen the fine-tuning epoch, fine-tune again from the same
    /// start on the training and validation examples together for that many epochs, and keep
    /// the last (on MNIST all 60,000 labelled images, as the published figures used; up to twice
    /// the fine-tuning time), unless its loss on the validation examples ends above twice the
    /// chosen epoch's (then that epoch is kept, with a warning). Both presets refit unless
    /// --no-refit or --labels is given.
    #[arg(long, overrides_with = "no_refit")]
    refit: bool,
    /// Keep the epoch the validation split chose, without refitting.
    #[arg(long, overrides_with = "refit")]
    no_refit: bool,
    /// Training examples held out for validation (0 only for `dbn pretrain`): a count, or a
    /// fraction such as 0.1 [default: the last 10000 training images of a folder, 0.1 of a
    /// file's examples].
    #[arg(long, value_name = "SIZE", value_parser = split_size, allow_negative_numbers = true)]
    validation: Option<SplitSize>,
    /// The visible units: auto takes Bernoulli units when every training value lies in
    /// [0, 1] (grey levels, probabilities, binary data) or is an 8-bit grey level written as a
    /// number (whole numbers 0 to 255, the largest above 127), divided by 255, and Gaussian
    /// units otherwise; Gaussian units take the data standardised per feature, with the
    /// training examples' mean and standard deviation. The scaling is saved in the run's
    /// data.json and applied again by predict, encode and evaluate.
    #[arg(long, value_enum, default_value_t = Visible::Auto)]
    visible: Visible,
    /// Use only the first N training images (quick runs; pretraining still makes the preset's
    /// updates, as for any small data, unless --pretrain-epochs is given).
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    train_limit: Option<usize>,
    /// Fine-tune on only N labelled examples, as even across the classes as they allow (N/10
    /// per class on MNIST; a class with fewer gives all it has); pretraining sees all of them.
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    labels: Option<usize>,
}

#[derive(Debug, Args)]
struct FinetuneArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Folder of a pretraining run (`dbn pretrain --out DIR`) whose stack to fine-tune; its
    /// layers and visible units are the run's unless --layers or --visible give others.
    #[arg(long, value_name = "DIR", required_unless_present = "random_init")]
    from: Option<PathBuf>,
    /// Start from random initialisation instead (the baseline).
    #[arg(long, conflicts_with = "from")]
    random_init: bool,
}

#[derive(Debug, Args)]
struct CompareArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Fine-tuning learning rates to try for each initialisation, comma-separated, e.g.
    /// 0.5,0.1,0.02, each with the settings' factor per epoch (--finetune-lr-decay): each
    /// initialisation keeps the rate with the lowest validation loss (the test set is used only
    /// for the final errors), and only that rate is refitted [default: the schedules `dbn
    /// finetune` tries, the quick preset's 0.5 x0.9 per epoch and a constant 0.1, or
    /// --finetune-lr alone].
    #[arg(long, value_name = "RATES", value_delimiter = ',', value_parser = positive, allow_negative_numbers = true)]
    lr_grid: Vec<f64>,
}

#[derive(Debug, Args)]
struct ModelArgs {
    #[command(flatten)]
    source: DataSource,
    /// Folder of a run holding the model (classifier.json and .mpk, or dbn.json and .mpk).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
}

#[derive(Debug, Args)]
struct SampleArgs {
    /// Folder of a run holding a pretrained stack (dbn.json and dbn.mpk) and, after up-down,
    /// updown.json and updown.mpk.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Number of samples [default: 100; with --label, 10 per label].
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true)]
    n: Option<usize>,
    /// Generate this class, e.g. a digit (repeat the flag or list several, e.g. --label 0,1,2),
    /// by its index, or by its name where the training data named their classes (a CSV label
    /// column of names): its label clamped in the top RBM while the chains run, one row of the
    /// picture per label. Needs a stack pretrained with --labelled-top
    #[arg(
        long,
        value_name = "CLASS,...",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    label: Vec<String>,
    /// Start the chains from the up pass of test examples of --data (the first N; with
    /// --label, the first N of each label) instead of noise
    #[arg(long)]
    from_data: bool,
    #[command(flatten)]
    source: DataSource,
    /// Sample the pretrained stack (dbn.mpk) even where --model holds an up-down fine-tuned
    /// one (updown.mpk, from --updown-epochs), which is sampled otherwise
    #[arg(long)]
    pretrained: bool,
    /// Gibbs steps in the top RBM.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        allow_negative_numbers = true
    )]
    steps: usize,
    /// Seed of the chains.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    seed: u64,
    /// Where to write the samples: FILE.png, a grid of pictures (of a model of images); or
    /// FILE.csv or FILE.npy, a table of one row per sample (the visible units' means, in the
    /// training data's units as read: their scaling in data.json undone, IDX images and uint8
    /// arrays divided by 255; CSV with the data's feature names and, with --label, a last
    /// column `label` of classes, by name where the data named them), for any model
    #[arg(long, value_name = "FILE", default_value = "samples.png")]
    out: PathBuf,
}

/// The input files of `dbn predict` and `dbn encode`, and how they are read.
#[derive(Debug, Args)]
struct InputArgs {
    /// Input files: tables (.csv, .npy, .npz, IDX images such as t10k-images-idx3-ubyte.gz)
    /// of as many features per example as the model takes, or pictures (.png, .jpg), turned
    /// to grey levels and resized to the model's square input
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// The CSV column holding each example's class (its header name, or its index from 0), as
    /// the training data gave them (class indices, or names); it is not a feature. With
    /// labels, `dbn predict` also prints its accuracy and each class's recall and precision,
    /// on stderr (`dbn encode` leaves them out of the features)
    #[arg(long, value_name = "COLUMN")]
    label_column: Option<String>,
    /// Invert a picture's grey levels (MNIST's digits are light on dark): auto inverts the
    /// pictures whose border is light
    #[arg(long, value_enum, default_value_t = Invert::Auto)]
    invert: Invert,
}

impl InputArgs {
    /// The settings of [`commands::predict`] and [`commands::encode`].
    fn settings(&self) -> InputSettings<'_> {
        InputSettings {
            paths: &self.inputs,
            table: TableOptions {
                label_column: self.label_column.clone(),
                ..TableOptions::default()
            },
            invert: self.invert,
        }
    }
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// Folder of a run holding a fine-tuned classifier (classifier.json and classifier.mpk)
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Write the predictions to this CSV file instead of printing them
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EncodeArgs {
    /// Folder of a run holding a pretrained stack (dbn.json and dbn.mpk) and, after up-down,
    /// the fine-tuned one (updown.json and updown.mpk), whose recognition weights encode; or a
    /// fine-tuned classifier (classifier.json and classifier.mpk), which encodes where the
    /// folder holds no stack (a `dbn finetune` run) or --classifier asks
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Encode with the pretrained stack (dbn.mpk) even where --model holds an up-down fine-tuned
    /// one (updown.mpk)
    #[arg(long)]
    pretrained: bool,
    /// Encode with the fine-tuned classifier's hidden layers (classifier.mpk): the features
    /// fine-tuning shaped for the classes, where the stack's were learned from the data alone
    #[arg(long, conflicts_with = "pretrained")]
    classifier: bool,
    /// The layer whose features to export, from 1 (the first hidden layer) [default: the top;
    /// with label units there, it is computed with them off]
    #[arg(long, value_name = "L", allow_negative_numbers = true)]
    layer: Option<usize>,
    #[command(flatten)]
    input: InputArgs,
    /// Where to write the features: FILE.npy (float32 [examples, units], for numpy.load) or
    /// FILE.csv (a header h{L}_0,...)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct LoglikArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Annealing runs.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least_one, allow_negative_numbers = true)]
    runs: usize,
    /// Intermediate temperatures.
    #[arg(long, value_name = "N", default_value_t = 14_500, value_parser = at_least_one, allow_negative_numbers = true)]
    betas: usize,
    /// Seed of the binarisation and of the annealing.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    seed: u64,
    /// Also the variational lower bound on the test log-likelihood of the whole stack cut at
    /// each depth (1, 2, ... RBMs; Salakhutdinov & Murray 2008), one line per depth, each
    /// depth's top RBM's log Z by AIS with the settings above
    #[arg(long)]
    bound: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Examples per epoch (random Bernoulli(0.2) data held on the device).
    #[arg(long, value_name = "N", default_value_t = 60_000, value_parser = at_least_one, allow_negative_numbers = true)]
    examples: usize,
    /// Times each workload is run; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one, allow_negative_numbers = true)]
    repeat: usize,
    /// Only the workloads whose name contains this text (cd1, pretrain, finetune, 784x500...).
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// Python interpreter that runs the PyTorch peer.
    #[arg(long, value_name = "PROGRAM", default_value = "python3")]
    python: PathBuf,
    /// The peer script [default: benches/peer_torch.py of this workspace].
    #[arg(long, value_name = "FILE")]
    peer_script: Option<PathBuf>,
    /// PyTorch's device [default: cuda with the cuda and wgpu backends, cpu otherwise].
    #[arg(long, value_name = "DEVICE", value_parser = ["cpu", "cuda"])]
    peer_device: Option<String>,
    /// Time our side only.
    #[arg(long)]
    no_peer: bool,
}

// The flags' parsers: each checks its value with the range of the setting it sets
// ([`Range`], the settings' own check), so a flag and its setting cannot disagree.

/// A count of at least one.
fn at_least_one(text: &str) -> Result<usize, String> {
    parse_at_least_one(text)
}

/// A split's size: a count of examples, or a fraction strictly between 0 and 1.
fn split_size(text: &str) -> Result<SplitSize, String> {
    text.parse()
}

/// A positive, finite number: a learning rate.
fn positive(text: &str) -> Result<f64, String> {
    Range::Positive.parse(text)
}

/// A factor in (0, 1], for learning-rate decay.
fn decay_factor(text: &str) -> Result<f64, String> {
    Range::Factor.parse(text)
}

/// A number in [0, 1): a dropout probability or a momentum.
fn fraction(text: &str) -> Result<f64, String> {
    Range::Fraction.parse(text)
}

/// A number of at least 0: a weight decay.
fn non_negative(text: &str) -> Result<f64, String> {
    Range::NonNegative.parse(text)
}

/// Sets `field` to the flag's value when the flag was given.
fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

impl RunArgs {
    /// The preset, replaced by the config file if given, then overridden by each flag given;
    /// checked by the run ([`commands::start`]).
    fn settings(&self) -> Result<RunConfig, Box<dyn Error>> {
        let mut config = match &self.config {
            Some(path) => RunConfig::from_file(path, &self.preset.config())
                .map_err(|e| format!("--config {e}"))?,
            None => self.preset.config(),
        };
        // A pretraining flag sets every RBM: the shared settings and each of `per_layer`.
        for rbm in config.pretrain.all_mut() {
            self.set_rbm(rbm)?;
        }
        config.binarize |= self.binarize;
        if self.labelled_top {
            config.dbn.labels = N_CLASSES;
        }
        if let Some(epochs) = self.updown_epochs {
            config.updown.get_or_insert_with(UpDownConfig::new).epochs = epochs;
        }
        match config.updown.as_mut() {
            Some(updown) => {
                set(&mut updown.optimizer.learning_rate, self.updown_lr);
                set(&mut updown.cd.k, self.updown_cd_k);
            }
            None if self.updown_lr.is_some() || self.updown_cd_k.is_some() => {
                return Err(
                    "--updown-lr / --updown-cd-k: up-down is off; turn it on with \
                            --updown-epochs N"
                        .into(),
                );
            }
            None => {}
        }
        let f = &mut config.finetune;
        // A rate or decay given is the schedule: no other is tried beside it.
        if self.finetune_lr.is_some() || self.finetune_lr_decay.is_some() {
            f.alternatives.clear();
        }
        set(&mut f.epochs, self.finetune_epochs);
        set(&mut f.learning_rate, self.finetune_lr);
        set(&mut f.lr_decay, self.finetune_lr_decay);
        set(&mut f.batch_size, self.batch_size);
        set(&mut f.optimizer, self.optimizer);
        set(&mut f.patience, self.patience);
        set(&mut f.dropout, self.dropout);
        set(&mut f.input_dropout, self.input_dropout);
        set(&mut f.clip_norm, self.clip_norm.map(Some));
        set(&mut f.class_weight, self.class_weight);
        // An explicit --labels run fine-tunes on those labels alone, whatever the preset says.
        if self.no_refit || (self.labels.is_some() && !self.refit) {
            f.refit = false;
        }
        f.refit |= self.refit;
        set(&mut config.dbn.layers, self.layers.clone());
        set(&mut config.seed, self.seed);
        config.validation = self.validation.or(config.validation);
        config.train_limit = self.train_limit.or(config.train_limit);
        config.labels = self.labels.or(config.labels);
        Ok(config)
    }

    /// Sets the pretraining flags given on one RBM's training settings.
    fn set_rbm(&self, rbm: &mut RbmTrainingConfig) -> Result<(), Box<dyn Error>> {
        let o = &mut rbm.optimizer;
        set(&mut o.learning_rate, self.pretrain_lr);
        set(&mut o.lr_decay, self.pretrain_lr_decay);
        set(&mut o.weight_decay, self.pretrain_weight_decay);
        if let Some(momentum) = self.pretrain_momentum {
            *o = o.clone().with_momentum(momentum);
        }
        set(&mut rbm.epochs, self.pretrain_epochs);
        set(&mut rbm.batch_size, self.pretrain_batch_size);
        let cd = &mut rbm.cd;
        set(&mut cd.k, self.cd_k);
        set(&mut cd.final_k, self.final_cd_k.map(Some));
        // The estimator's own check, named by the flags when one of them set a bad value.
        if self.final_cd_k.is_some() || self.cd_k.is_some() {
            cd.validate()
                .map_err(|e| format!("--final-cd-k / --cd-k: {e}"))?;
        }
        if self.persistent {
            cd.persistent.get_or_insert_with(PersistentConfig::new);
        }
        if let Some(chains) = self.pcd_chains {
            let Some(persistent) = cd.persistent.as_mut() else {
                return Err(format!(
                    "--pcd-chains {chains}: only persistent CD keeps chains; add --persistent"
                )
                .into());
            };
            persistent.chains = Some(chains);
        }
        cd.sample_negative |= self.sample_negative;
        cd.sample_data |= self.sample_data;
        Ok(())
    }

    /// The request of a training command: the settings, the data and the run folder
    /// (default `artifacts/COMMAND`) as the flags say.
    fn request<'a>(
        &'a self,
        command: &'static str,
        device: &'a str,
    ) -> Result<RunRequest<'a>, Box<dyn Error>> {
        let existing = match (self.resume, self.overwrite) {
            (true, _) => Existing::Resume,
            (_, true) => Existing::Overwrite,
            _ => Existing::Refuse,
        };
        Ok(RunRequest {
            command,
            config: self.settings()?,
            data: self.source.request(self.visible),
            out: self
                .out
                .clone()
                .unwrap_or_else(|| Path::new("artifacts").join(command)),
            existing,
            base: self.preset.config(),
            pinned: Pinned {
                layers: self.layers.is_some(),
                pretrain_lr: self.pretrain_lr.is_some(),
                pretrain_batch: self.pretrain_batch_size.is_some(),
                pretrain_epochs: self.pretrain_epochs.is_some(),
                finetune_batch: self.batch_size.is_some(),
            },
            backend: Selected::NAME,
            device,
            stack: None,
        })
    }
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<(), Box<dyn Error>> {
        let requests = self.devices.unwrap_or_else(|| vec![self.device]);
        let devices = OnDevices::start(&requests)?;
        let banner = format!("backend {} on {}", Selected::NAME, devices.name);
        // `dbn predict` prints its CSV on stdout, which the banner would break.
        match &self.command {
            Command::Predict(args) if args.out.is_none() => eprintln!("{banner}"),
            _ => println!("{banner}"),
        }
        match self.command {
            Command::Train(args) => train(&args, &devices, true),
            Command::Pretrain(args) => {
                devices.one("pretrain")?;
                train(&args, &devices, false)
            }
            Command::Finetune(args) => finetune(&args, &devices),
            Command::Evaluate(args) => evaluate(&args, devices.one("evaluate")?),
            Command::Sample(args) => sample(&args, devices.one("sample")?),
            Command::Compare(args) => compare(&args, &devices),
            Command::Loglik(args) => loglik(&args, devices.one("loglik")?),
            Command::Predict(args) => predict(&args, devices.one("predict")?),
            Command::Encode(args) => encode(&args, devices.one("encode")?),
            Command::Data(args) => data_summary(&args, devices.one("data")?),
            Command::Bench(args) => bench(&args, devices.one("bench")?),
        }
    }
}

/// `dbn train` (and `dbn pretrain` with `finetune = false`).
fn train(args: &RunArgs, devices: &OnDevices, finetune: bool) -> Result<(), Box<dyn Error>> {
    let command = if finetune { "train" } else { "pretrain" };
    let run = commands::start(args.request(command, &devices.name)?)?;
    commands::train::<Train>(&run, &devices.all, finetune)?.print();
    Ok(())
}

/// `dbn finetune`.
fn finetune(args: &FinetuneArgs, devices: &OnDevices) -> Result<(), Box<dyn Error>> {
    let request = args.run.request("finetune", &devices.name)?;
    commands::finetune::<Train>(request, args.from.as_deref(), &devices.all)?.print();
    Ok(())
}

/// `dbn compare`.
fn compare(args: &CompareArgs, devices: &OnDevices) -> Result<(), Box<dyn Error>> {
    let run = commands::start(args.run.request("compare", &devices.name)?)?;
    commands::compare::<Train>(&run, &args.lr_grid, &devices.all)?.print();
    Ok(())
}

/// `dbn evaluate`.
fn evaluate(args: &ModelArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let data = args.source.model_request(&args.model)?;
    let evaluation = commands::evaluate::<Inner>(&args.model, &data, &run_device.device)?;
    let report = stages::test_report(&evaluation.confusion, &evaluation.class_names);
    println!("{report}");
    Ok(())
}

/// `dbn sample`.
fn sample(args: &SampleArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let n = args
        .n
        .unwrap_or(if args.label.is_empty() { 100 } else { 10 });
    let data = match args.from_data {
        true => args.source.model_request(&args.model)?,
        false => args.source.request(Visible::Auto),
    };
    let info = DataInfo::of_model(&args.model)?;
    let names = info.as_ref().map_or(&[][..], |info| &info.class_names);
    let labels = stages::class_indices(&args.label, names)?;
    let settings = SampleSettings {
        n,
        steps: args.steps,
        seed: args.seed,
        labels: &labels,
        from_data: args.from_data.then_some(&data),
        pretrained: args.pretrained,
    };
    commands::sample::<Inner>(&args.model, &settings, &args.out, &run_device.device)?;
    let per_label = match args.label.len() {
        0 => String::new(),
        k => format!(" of each of {k} labels"),
    };
    println!(
        "{n} samples{per_label} after {} Gibbs steps: {}",
        args.steps,
        args.out.display()
    );
    Ok(())
}

/// `dbn predict`: the predictions as CSV on stdout (or in `--out`), the accuracy with each
/// class's figures, and the inverted pictures, on stderr.
fn predict(args: &PredictArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let predictions =
        commands::predict::<Inner>(&args.model, &args.input.settings(), &run_device.device)?;
    for picture in &predictions.inputs.inverted {
        eprintln!("{}: inverted (a light background)", picture.display());
    }
    match &args.out {
        Some(out) => {
            write_atomically(out, &predictions.csv())
                .map_err(|e| format!("--out {}: cannot write: {e}", out.display()))?;
            println!(
                "{} predictions: {}",
                predictions.inputs.len(),
                out.display()
            );
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), &predictions.csv())?,
    }
    if let Some(counted) = predictions.confusion() {
        eprintln!(
            "accuracy {:.2}% on the {} labelled examples\n{}",
            100.0 * (1.0 - counted.error()),
            predictions.inputs.len(),
            counted.table(&predictions.class_names)
        );
    }
    Ok(())
}

/// `dbn encode`.
fn encode(args: &EncodeArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    FeatureFile::of(&args.out)?;
    let with = match (args.classifier, args.pretrained) {
        (true, _) => EncodeWith::Classifier,
        (false, true) => EncodeWith::Pretrained,
        (false, false) => EncodeWith::Stack,
    };
    let encoded = commands::encode::<Inner>(
        &args.model,
        args.layer,
        with,
        &args.input.settings(),
        &run_device.device,
    )?;
    let bytes = encoded.file_bytes(&args.out)?;
    write_atomically(&args.out, &bytes)
        .map_err(|e| format!("--out {}: cannot write: {e}", args.out.display()))?;
    println!(
        "{} examples x {} features of layer {} ({}.mpk): {}",
        encoded.inputs.len(),
        encoded.width,
        encoded.layer,
        encoded.model,
        args.out.display()
    );
    Ok(())
}

/// `dbn loglik`.
fn loglik(args: &LoglikArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let settings = LoglikSettings {
        runs: args.runs,
        betas: args.betas,
        seed: args.seed,
        bound: args.bound,
    };
    let model = &args.model;
    let data = model.source.model_request(&model.model)?;
    let estimate = commands::loglik::<Inner>(&model.model, &data, settings, &run_device.device)?;
    println!(
        "log Z = {:.3} ± {:.3}; average test log-likelihood {:.2} nats ({} runs, {} temperatures, {:.1} s)",
        estimate.log_z, estimate.std_err, estimate.test, args.runs, args.betas, estimate.seconds
    );
    for b in &estimate.bounds {
        println!(
            "depth {}: variational bound {:.2} nats on the average test log-likelihood (top \
             RBM's log Z = {:.3} ± {:.3})",
            b.depth, b.bound, b.log_z, b.std_err
        );
    }
    Ok(())
}

/// `dbn data`: a table of counts per split and label.
fn data_summary(args: &DataArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let data = args.source.request(Visible::Auto);
    let report = commands::data_report::<Inner>(&data, args.validation, &run_device.device)?;
    println!("data: {}", data.path.display());
    let shape = match report.image {
        Some([rows, cols]) => format!("images of {rows}x{cols} pixels"),
        None => format!("{} features per example", report.width),
    };
    let units = match (report.visible, report.grey_levels) {
        (_, true) => "8-bit grey levels: divided by 255 for Bernoulli visible units",
        (VisibleUnits::Gaussian, _) => "Gaussian visible units, standardised",
        (VisibleUnits::Bernoulli, _) => "Bernoulli visible units",
    };
    let range = report.range.map_or(String::new(), |(lo, hi)| {
        format!(", values {lo} to {hi} ({units})")
    });
    println!(
        "{shape}{range}; loaded and checked in {:.2} s; backend: {}",
        report.seconds,
        Selected::NAME
    );
    println!();
    let classes = report.splits.iter().map(|s| s.label_counts.len()).max();
    let columns = classes.filter(|&k| k <= MAX_CLASS_COLUMNS).unwrap_or(0);
    // Each class's column headed by its name where the data name them, as wide as that.
    let heads: Vec<String> = (0..columns)
        .map(|k| dbn_data::class_name(&report.class_names, k))
        .collect();
    let widths: Vec<usize> = heads.iter().map(|h| h.chars().count().max(6)).collect();
    print!("{:<12}{:>8} {:>11}", "split", "examples", "mean");
    for (head, width) in heads.iter().zip(&widths) {
        print!(" {head:>width$}");
    }
    println!();
    for split in &report.splits {
        print!(
            "{:<12}{:>8} {:>11}",
            split.name,
            split.images,
            mean_cell(split.mean)
        );
        for (count, width) in split.label_counts.iter().zip(&widths) {
            print!(" {count:>width$}");
        }
        println!();
    }
    if let Some(k) = classes.filter(|&k| k > MAX_CLASS_COLUMNS) {
        let train = &report.splits[0].label_counts;
        let (lo, hi) = (train.iter().min(), train.iter().max());
        println!(
            "{k} classes, too many for a column each (at most {MAX_CLASS_COLUMNS}): {} to {} \
             training examples a class",
            lo.unwrap_or(&0),
            hi.unwrap_or(&0)
        );
    }
    Ok(())
}

/// Classes `dbn data` gives a column of counts each, at most.
const MAX_CLASS_COLUMNS: usize = 20;

/// A mean feature value in at most 11 characters: 4 decimals, or 4 significant digits in
/// scientific notation where those would not fit or would show nothing.
fn mean_cell(mean: f64) -> String {
    match mean.abs() {
        m if m != 0.0 && !(1e-3..1e5).contains(&m) => format!("{mean:.3e}"),
        _ => format!("{mean:.4}"),
    }
}

/// `dbn bench`: each workload on our backend, then on the PyTorch peer; seconds, GFLOP/s and
/// the ratio of the two.
fn bench(args: &BenchArgs, run_device: &RunDevice<Inner>) -> Result<(), Box<dyn Error>> {
    let workloads = bench::workloads(args.only.as_deref())?;
    let script = args.peer_script.clone().unwrap_or_else(default_peer_script);
    let gpu = matches!(Selected::NAME, "cuda" | "wgpu");
    let peer_device = args
        .peer_device
        .as_deref()
        .unwrap_or(if gpu { "cuda" } else { "cpu" });
    let peer = (!args.no_peer).then(|| PeerCommand {
        python: &args.python,
        script: &script,
        device: peer_device,
    });
    println!(
        "backend {} ({} CPU threads available), {} examples per epoch, median of {} run(s)",
        Selected::NAME,
        std::thread::available_parallelism().map_or(1, usize::from),
        args.examples,
        args.repeat
    );
    if let Some(peer) = &peer {
        match peer_peak(peer) {
            Ok(gflops) => println!(
                "SGEMM peak (PyTorch on {}, 2048x2048x2048): {gflops:.1} GFLOP/s",
                peer.device
            ),
            Err(why) => println!("SGEMM peak not measured: {why}"),
        }
    }
    let settings = BenchSettings {
        examples: args.examples,
        repeat: args.repeat,
        peer,
    };
    bench::run_all::<Train>(&workloads, &settings, &run_device.device, |row| {
        let gflops = |s: f64| row.workload.flops(args.examples) / s / 1e9;
        let mut line = format!(
            "{:<34} dbn {:>8.3} s {:>7.1} GFLOP/s",
            row.workload.name(),
            row.ours,
            gflops(row.ours)
        );
        match &row.peer {
            None => {}
            Some(Err(why)) => line += &format!("   peer skipped: {why}"),
            Some(Ok(theirs)) => {
                line += &format!(
                    " | torch ({peer_device}, {} threads) {:>8.3} s {:>7.1} GFLOP/s | dbn/torch {:.2}",
                    theirs.threads,
                    theirs.seconds,
                    gflops(theirs.seconds),
                    row.ours / theirs.seconds
                );
            }
        }
        println!("{line}");
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_fits_its_column_whatever_its_size() {
        assert_eq!(mean_cell(0.131), "0.1310");
        assert_eq!(mean_cell(0.0), "0.0000");
        assert_eq!(mean_cell(-63.4954), "-63.4954");
        // A column of Unix times, and one of micro-scale values.
        assert_eq!(mean_cell(1.249e8), "1.249e8");
        assert_eq!(mean_cell(-2e-5), "-2.000e-5");
        assert!(
            [1e12, -1e-30, 99_999.9]
                .iter()
                .all(|&m| mean_cell(m).len() <= 11)
        );
    }

    #[test]
    fn a_flag_given_twice_or_a_negative_count_is_refused_naming_the_flag() {
        let parse = |flags: &[&str]| {
            Cli::try_parse_from(["dbn", "train"].iter().chain(flags))
                .err()
                .map(|e| e.to_string())
        };
        let twice = parse(&["--layers", "8,500", "--layers", "8,16"]).expect("refused");
        assert!(
            twice.contains("'--layers <SIZES>' cannot be used multiple times"),
            "{twice}"
        );
        let negative = parse(&["--pretrain-epochs", "-1"]).expect("refused");
        assert!(
            negative.contains("invalid value '-1' for '--pretrain-epochs"),
            "{negative}"
        );
        assert_eq!(parse(&["--layers", "8,500"]), None);
    }

    /// The settings `dbn train FLAGS` would run with, checked as the run checks them.
    fn train_settings(flags: &[&str]) -> Result<RunConfig, String> {
        let cli = Cli::try_parse_from(["dbn", "train"].iter().chain(flags)).unwrap();
        let Command::Train(args) = cli.command else {
            unreachable!("parsed as train")
        };
        let config = args.settings().map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn a_fine_tuning_rate_or_decay_given_is_the_one_schedule() {
        assert_eq!(train_settings(&[]).unwrap().finetune.schedules().len(), 2);
        for flags in [["--finetune-lr", "0.05"], ["--finetune-lr-decay", "0.8"]] {
            let config = train_settings(&flags).unwrap();
            assert_eq!(config.finetune.schedules().len(), 1, "{flags:?}");
        }
    }

    #[test]
    fn classes_weigh_alike_unless_balanced_is_asked() {
        let weight = |flags: &[&str]| train_settings(flags).map(|c| c.finetune.class_weight);
        assert_eq!(weight(&[]), Ok(ClassWeight::Equal));
        let balanced = ["--class-weight", "balanced"];
        assert_eq!(weight(&balanced), Ok(ClassWeight::Balanced));
        let err = Cli::try_parse_from(["dbn", "train", "--class-weight", "inverse"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("[possible values: equal, balanced]"),
            "{err}"
        );
    }

    #[test]
    fn gradients_are_clipped_only_when_asked() {
        let clip = |flags: &[&str]| train_settings(flags).map(|c| c.finetune.clip_norm);
        assert_eq!(clip(&[]), Ok(None));
        assert_eq!(clip(&["--clip-norm", "0.1"]), Ok(Some(0.1)));
        let err = Cli::try_parse_from(["dbn", "train", "--clip-norm", "0"]).unwrap_err();
        assert!(err.to_string().contains("'--clip-norm <NORM>'"), "{err}");
    }

    #[test]
    fn the_presets_refit_unless_told_otherwise_or_given_few_labels() {
        let refit = |flags: &[&str]| train_settings(flags).map(|c| c.finetune.refit);
        assert_eq!(refit(&[]), Ok(true));
        assert_eq!(refit(&["--preset", "hinton"]), Ok(true));
        assert_eq!(refit(&["--no-refit"]), Ok(false));
        assert_eq!(refit(&["--preset", "hinton", "--no-refit"]), Ok(false));
        // The last of the two flags wins.
        assert_eq!(refit(&["--refit", "--no-refit"]), Ok(false));
        assert_eq!(refit(&["--no-refit", "--refit"]), Ok(true));
        // --labels asks for fine-tuning on those labels alone: the preset's refit yields.
        assert_eq!(refit(&["--labels", "100"]), Ok(false));
        assert_eq!(refit(&["--preset", "hinton", "--labels", "100"]), Ok(false));
        let err = refit(&["--refit", "--labels", "100"]).unwrap_err();
        assert!(err.contains("--refit") && err.contains("--labels"), "{err}");
    }

    #[test]
    fn a_pretraining_flag_sets_every_rbm_those_of_the_file_included() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("layers.json");
        std::fs::write(
            &file,
            r#"{"pretrain": {"per_layer": [{"epochs": 50}, {"cd": {"k": 3}}, {}]}}"#,
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let config = train_settings(&[
            "--config",
            file,
            "--pretrain-epochs",
            "2",
            "--pretrain-lr",
            "0.05",
            "--pretrain-momentum",
            "0.3",
            "--persistent",
            "--pcd-chains",
            "7",
            "--sample-negative",
        ])
        .unwrap();
        let rbms = config.pretrain.per_layer.iter();
        for rbm in rbms.chain([&config.pretrain.rbm]) {
            assert_eq!(rbm.epochs, 2);
            assert_eq!(rbm.optimizer.learning_rate, 0.05);
            assert_eq!(rbm.optimizer.momentum(1), 0.3);
            assert_eq!(rbm.optimizer.momentum(100), 0.3);
            assert_eq!(rbm.cd.persistent.as_ref().map(|p| p.chains), Some(Some(7)));
            assert!(rbm.cd.sample_negative);
        }
        // What no flag names keeps the file's value, layer by layer.
        let ks: Vec<usize> = config.pretrain.per_layer.iter().map(|r| r.cd.k).collect();
        assert_eq!(ks, [1, 3, 1]);
        let config = train_settings(&["--config", file, "--cd-k", "2"]).unwrap();
        let ks: Vec<usize> = config.pretrain.per_layer.iter().map(|r| r.cd.k).collect();
        assert_eq!(ks, [2, 2, 2]);
        let epochs: Vec<usize> = config.pretrain.per_layer.iter().map(|r| r.epochs).collect();
        assert_eq!(epochs, [50, 10, 10]);
        // A layer that the flag cannot apply to is named by the flag.
        let err = train_settings(&["--config", file, "--pcd-chains", "5"]).unwrap_err();
        assert!(err.contains("--pcd-chains 5: only persistent CD"), "{err}");
        let err = train_settings(&["--config", file, "--final-cd-k", "2"]).unwrap_err();
        let expected =
            "--final-cd-k / --cd-k: invalid setting final_k = 2 with k = 3: must be at least k";
        assert!(err.contains(expected), "{err}");
        // --layers with another number of RBMs than the file's per-layer settings is refused.
        let err = train_settings(&["--config", file, "--layers", "784,100"]).unwrap_err();
        assert!(
            err.contains("pretrain.per_layer = 3 elements for 1 RBMs"),
            "{err}"
        );
    }

    #[test]
    fn every_flag_of_every_command_is_documented_in_its_help() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let mut flags = 0;
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            assert!(sub.get_about().is_some(), "dbn {name} has no description");
            let help = sub.clone().render_long_help().to_string();
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                let documented = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .is_some_and(|h| h.to_string().trim().len() > 10);
                assert!(documented, "dbn {name} --{long} has no description");
                assert!(
                    help.contains(&format!("--{long}")),
                    "dbn {name} --help lacks --{long}"
                );
                flags += 1;
            }
        }
        assert!(flags > 60, "only {flags} flags seen");
    }
}
