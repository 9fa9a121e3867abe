//! The `dbn` commands as library functions: each takes typed settings and returns a typed
//! outcome, which the binary (`src/main.rs`, `src/cli.rs`) prints; the binary only parses flags
//! into these settings. Progress lines (one per epoch, the refit's) are printed as the work
//! goes. The training commands share [`start`] and return a [`Summary`], the one type behind
//! every `summary.json`.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use dbn_data::{
    ExampleSet, ImageBatcher, SplitSize, TableOptions, class_name, csv_bytes, labelled_csv_bytes,
    npy_bytes,
};
use dbn_model::ais::{AisConfig, ais_log_partition, average_log_likelihood};
use dbn_model::bound::{sample_path, variational_bound};
use dbn_model::{
    Dbn, DbnClassifier, Generative, PretrainedDbn, UpDownDbn, VisibleUnits, load_module,
    write_atomically,
};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::{FinetuneConfig, RunConfig, Schedule};
use crate::confusion::Confusion;
use crate::device::Devices;
use crate::finetune::test_confusion;
use crate::inputs::{Inputs, Invert, read_inputs};
use crate::pictures::{rows, save_png, tile_grid};
use crate::run_dir::{Existing, RunDir};
use crate::stages::{self, Data, DataInfo, DataRequest, Pinned, Summary, Visible, seconds};

/// What a training command (train, pretrain, finetune, compare) is asked to do.
pub struct RunRequest<'a> {
    /// The command: summary.json's `command`, and part of its error messages.
    pub command: &'static str,
    /// The settings, from the preset, the file and the flags; checked by [`start`].
    pub config: RunConfig,
    /// Where the data comes from.
    pub data: DataRequest,
    /// The run's folder.
    pub out: PathBuf,
    /// What to do when `out` exists: refuse, overwrite, or resume the run in it.
    pub existing: Existing,
    /// The settings a resumed run's saved `config.json` is read over (its preset's).
    pub base: RunConfig,
    /// The settings given by flag, which the data do not adapt.
    pub pinned: Pinned,
    /// The backend's name, for the first line and `summary.json`.
    pub backend: &'a str,
    /// The device's name ([`crate::device::RunDevice::name`]), for `summary.json`.
    pub device: &'a str,
    /// The stack `dbn finetune --from` starts from, which the settings and data must fit.
    pub stack: Option<StackShape>,
}

/// What a pretrained stack fixes of the run that fine-tunes it.
#[derive(Clone, Debug, PartialEq)]
pub struct StackShape {
    /// The layer sizes, visible first ([`Dbn::layer_sizes`]).
    pub layers: Vec<usize>,
    /// The first RBM's visible units.
    pub visible: VisibleUnits,
}

impl StackShape {
    /// The shape of `dbn`.
    pub fn of<B: Backend>(dbn: &Dbn<B>) -> Self {
        Self {
            layers: dbn.layer_sizes(),
            visible: dbn.rbms[0].visible,
        }
    }

    /// Checks that the settings `config` give the stack's layers: before the data are read,
    /// whose width the layers are then checked against.
    ///
    /// # Errors
    /// Other layers, naming the flag to pass.
    fn check_layers(&self, config: &RunConfig) -> Result<(), String> {
        match self.layers == config.dbn.layers {
            true => Ok(()),
            false => Err(format!(
                "--from: the stack has layers {:?}, the settings {:?}; pass --layers to match",
                self.layers, config.dbn.layers
            )),
        }
    }

    /// Checks that the data, as `config` says they were loaded, go to the stack's visible
    /// units.
    ///
    /// # Errors
    /// Other units, naming the flag to pass.
    fn check_visible(&self, config: &RunConfig) -> Result<(), String> {
        match self.visible == config.dbn.visible {
            true => Ok(()),
            false => Err(format!(
                "--from: the stack has {:?} visible units, these data go to {:?} units; pass the \
                 --visible of its pretraining",
                self.visible, config.dbn.visible
            )),
        }
    }
}

/// A training run ready to go: settings checked, data loaded, folder prepared and
/// `config.json` written, all before any training.
pub struct Started {
    /// The command.
    pub command: &'static str,
    /// The settings.
    pub config: RunConfig,
    /// The data.
    pub data: Data,
    /// The run's folder.
    pub dir: RunDir,
    /// Whether the run continues from its checkpoints.
    pub resume: bool,
    /// The backend's name.
    pub backend: String,
    /// The device's name.
    pub device: String,
    /// When the command started.
    pub start: Instant,
}

/// A setting or data field whose value differs between a saved run and the one asked for;
/// shown as `path: there there, now now`.
#[derive(Debug)]
struct Difference {
    /// Its keys and indices, dot-separated (`finetune.batch_size`).
    path: String,
    /// Its value in the saved run, as JSON.
    there: String,
    /// Its value now, as JSON.
    now: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} there, {} now", self.path, self.there, self.now)
    }
}

/// The first setting (its path of keys and indices from `path`) whose value differs between
/// `a` (saved) and `b` (now); `None` when they are equal.
fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
) -> Option<Difference> {
    use serde_json::Value;
    let inner = |key: &str| match path {
        "" => key.to_string(),
        _ => format!("{path}.{key}"),
    };
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            keys.find_map(|key| {
                let (x, y) = (a.get(key), b.get(key));
                let null = Value::Null;
                first_difference(x.unwrap_or(&null), y.unwrap_or(&null), &inner(key))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &inner(&i.to_string()))),
        _ if a == b => None,
        _ => Some(Difference {
            path: path.to_string(),
            there: a.to_string(),
            now: b.to_string(),
        }),
    }
}

/// The first setting in which `now` differs from the saved run's `saved` (see
/// [`first_difference`]); `None` when they are the same.
fn settings_difference(
    saved: &RunConfig,
    now: &RunConfig,
) -> Result<Option<Difference>, serde_json::Error> {
    let (saved, now) = (serde_json::to_value(saved)?, serde_json::to_value(now)?);
    Ok(first_difference(&saved, &now, ""))
}

/// The first field of a run's `data.json` in which `now` differs from `saved` (see
/// [`first_difference`]), the standardisation last, as it follows from the others; the files
/// compared as the paths they resolve to where both exist, so that `data/x.csv` and
/// `./data/x.csv` are the same data, and the test splits by the count they hold out of the
/// file's `examples`, so that 0.2 and 114 of 569 are the same split.
fn data_difference(
    saved: &DataInfo,
    now: &DataInfo,
    examples: usize,
) -> Result<Option<Difference>, Box<dyn Error>> {
    let same_count = |a: SplitSize, b: SplitSize| a.of(examples) == b.of(examples);
    let test_split = match (saved.test_split, now.test_split) {
        (Some(a), Some(b)) if same_count(a, b) => Some(b),
        _ => saved.test_split,
    };
    let saved = &DataInfo {
        test_split,
        ..saved.clone()
    };
    // A data.json written before the flags and feature names were kept has no `source` or
    // `features` to compare, nor one before the value range was, a `value_range`.
    let kept = saved.source.is_some();
    let range_kept = saved.value_range.is_some();
    let rest = |info: &DataInfo| {
        serde_json::to_value(DataInfo {
            train: stages::resolved(&info.train),
            test: stages::resolved(&info.test),
            standardization: None,
            source: info.source.clone().filter(|_| kept),
            value_range: info.value_range.filter(|_| range_kept),
            features: if kept {
                info.features.clone()
            } else {
                Vec::new()
            },
            ..info.clone()
        })
    };
    let standardization = |info: &DataInfo| serde_json::to_value(&info.standardization);
    let (a, b) = (rest(saved)?, rest(now)?);
    let (x, y) = (standardization(saved)?, standardization(now)?);
    Ok(first_difference(&a, &b, "").or_else(|| first_difference(&x, &y, "standardization")))
}

/// Checks the settings, loads the data and prepares the folder; with
/// [`Existing::Resume`], refuses settings or data other than the saved run's.
///
/// # Errors
/// One line naming the setting, file or flag at fault.
pub fn start(request: RunRequest<'_>) -> Result<Started, Box<dyn Error>> {
    let start = Instant::now();
    let RunRequest {
        command,
        mut config,
        data,
        out,
        existing,
        base,
        pinned,
        backend,
        device,
        stack,
    } = request;
    config.validate()?;
    if let Some(stack) = &stack {
        stack.check_layers(&config)?;
    }
    let fine_tunes = (command != "pretrain").then_some(command);
    // The saved run's settings, read once; an error is reported once the folder is known to
    // hold a run.
    let saved = (existing == Existing::Resume)
        .then(|| RunConfig::from_file(&out.join("config.json"), &base));
    // A resumed run given its own saved settings (`--config DIR/config.json`) keeps them as
    // they are: the data adapted them when it started, and adapting a value it pinned then
    // (one equal to the preset's) would now refuse the run as changed.
    let pinned = match &saved {
        Some(Ok(saved)) if matches!(settings_difference(saved, &config), Ok(None)) => Pinned::all(),
        _ => pinned,
    };
    let data = stages::load_data(&data, &mut config, &base, pinned, command)?;
    if fine_tunes.is_some() && data.valid.len() == 0 {
        let asked = config.validation.map_or_else(
            || format!("{} (the default)", stages::DEFAULT_FILE_VALIDATION),
            |v| v.to_string(),
        );
        return Err(format!(
            "--validation {asked}: `dbn {command}` fine-tunes, which keeps the epoch with the \
             lowest validation loss and stops early on it; hold out at least one example (only \
             `dbn pretrain` runs without a validation split)"
        )
        .into());
    }
    if let Some(stack) = &stack {
        stack.check_visible(&config)?;
    }
    let dir = RunDir::prepare(&out, existing)?;
    let resume = existing == Existing::Resume;
    if let Some(saved) = saved {
        let saved = saved.map_err(|e| format!("--resume: {e}"))?;
        // The data first: other data adapt settings too (the classes, the first layer's width),
        // and a settings message would then name a derived value rather than the data flag.
        if let Some(saved_data) =
            DataInfo::of_model(dir.path()).map_err(|e| format!("--resume: {e}"))?
            && let Some(difference) = data_difference(&saved_data, &data.info, data.examples)?
        {
            return Err(format!(
                "--resume: the data differ from those of the run in {} ({difference}); give the \
                 data flags it started with (--data, --test-data, --label-column, --visible, \
                 --test-split)",
                dir.path().display()
            )
            .into());
        }
        if let Some(difference) = settings_difference(&saved, &config)? {
            return Err(format!(
                "--resume: the settings differ from those of the run in {} ({difference}); give \
                 the flags it started with, or --config {}",
                dir.path().display(),
                dir.file("config.json").display()
            )
            .into());
        }
    }
    dir.write_json("config.json", &config)?;
    dir.write_json("data.json", &data.info)?;
    println!(
        "run folder: {}  (backend {backend}, seed {})",
        dir.path().display(),
        config.seed
    );
    Ok(Started {
        command,
        config,
        data,
        dir,
        resume,
        backend: backend.into(),
        device: device.into(),
        start,
    })
}

impl Started {
    /// `summary` with the fields every training command fills alike (the command, the data's
    /// sizes, the total time, backend, seed and layers), written as the run's `summary.json`;
    /// then the charts of the run's metrics and `report.html`.
    fn finish(&self, summary: Summary) -> Result<Summary, Box<dyn Error>> {
        let summary = Summary {
            command: self.command.into(),
            test_images: self.data.test.len(),
            total_seconds: seconds(self.start),
            backend: self.backend.clone(),
            device: self.device.clone(),
            seed: self.config.seed,
            layers: self.config.dbn.layers.clone(),
            labelled_images: self.data.labelled.len(),
            ..summary
        };
        self.dir.write_json("summary.json", &summary)?;
        crate::charts::write_charts(&self.dir)?;
        crate::report::write_report(&self.dir)?;
        Ok(summary)
    }

    /// Pretraining (or, resumed, its saved stack) and its pictures, and the seconds it took.
    fn pretrain<B: Backend>(&self, device: &B::Device) -> Result<(Dbn<B>, f64), Box<dyn Error>> {
        let start = Instant::now();
        let PretrainedDbn { dbn, .. } =
            stages::pretrain::<B>(&self.config, &self.dir, &self.data, device, self.resume)?;
        let pretrain_seconds = seconds(start);
        stages::pictures(&self.dir, &dbn, &self.data, self.config.run_seed())?;
        Ok((dbn, pretrain_seconds))
    }
}

/// `dbn train` (greedy pretraining, fine-tuning, the test error) and, with `finetune` false,
/// `dbn pretrain`.
///
/// # Errors
/// The first error of a stage, naming what failed.
pub fn train<AB: AutodiffBackend>(
    run: &Started,
    devices: &Devices<AB>,
    finetune: bool,
) -> Result<Summary, Box<dyn Error>> {
    let device = devices.main();
    let (dbn, pretrain_seconds) = run.pretrain::<AB::InnerBackend>(device)?;
    let labelled = dbn.labels() > 0;
    let generative_test_error = labelled
        .then(|| stages::generative_test_error(&dbn, &run.data.test, device))
        .transpose()?;
    let mut summary = Summary {
        pretrain_seconds: Some(pretrain_seconds),
        generative_test_error,
        ..Summary::default()
    };
    let updown = match &run.config.updown {
        Some(settings) => {
            let start = Instant::now();
            let updown =
                stages::updown_stage(settings, &run.config, &run.dir, &run.data, &dbn, run.resume)?;
            summary.updown_seconds = Some(seconds(start));
            let seed = run.config.run_seed();
            stages::sample_pictures(&run.dir, updown.generator(), &run.data, seed, "-updown")?;
            summary.updown_generative_test_error = labelled
                .then(|| stages::generative_test_error(&updown, &run.data.test, device))
                .transpose()?;
            Some(updown)
        }
        None => None,
    };
    if finetune {
        let start = Instant::now();
        let tuned = stages::finetune_stage::<AB>(
            &run.config,
            &run.dir,
            &run.data,
            Some(&dbn),
            devices,
            run.resume,
        )?;
        summary.finetune_seconds = Some(seconds(start));
        summary.test_error = Some(stages::evaluate(
            &tuned.kept.net,
            &run.data,
            &run.dir,
            device,
        )?);
        if labelled {
            let (net, test, seed) = (&tuned.kept.net, &run.data.test, run.config.run_seed());
            summary.class_samples = Some(stages::sample_quality(&dbn, net, test, seed)?);
            if let Some(updown) = &updown {
                let quality = stages::sample_quality(updown, net, test, seed)?;
                summary.updown_class_samples = Some(quality);
            }
        }
        summary.finetune_best_epoch = tuned.kept.best.map(|best| best.epoch);
        summary.refit_images = tuned.refit_images;
        summary.finetune_schedule = Some(tuned.schedule.describe());
    }
    run.finish(summary)
}

/// `dbn finetune`: fine-tuning from the stack saved in `from` (a pretraining run's folder), or
/// from random initialisation when `from` is `None`.
///
/// # Errors
/// A stack that cannot be loaded or whose layers are not the settings', and the errors of
/// [`start`] and the fine-tuning stage.
pub fn finetune<AB: AutodiffBackend>(
    mut request: RunRequest<'_>,
    from: Option<&Path>,
    devices: &Devices<AB>,
) -> Result<Summary, Box<dyn Error>> {
    let device = devices.main();
    let dbn = match from {
        Some(dir) => Some(load_module::<AB::InnerBackend, Dbn<AB::InnerBackend>>(dir, device)?.0),
        None => None,
    };
    if let Some(dbn) = &dbn {
        let stack = StackShape::of(dbn);
        // The stack's layers, unless --layers or a config file gave others (checked then).
        if !request.pinned.layers && request.config.dbn.layers == request.base.dbn.layers {
            request.config.dbn.layers = stack.layers.clone();
            request.pinned.layers = true;
        }
        // A Gaussian stack's units take any data; a Bernoulli stack's data are left to
        // --visible auto, whose Gaussian choice for data outside [0, 1] is then refused.
        if stack.visible == VisibleUnits::Gaussian && request.data.visible == Visible::Auto {
            request.data.visible = Visible::Gaussian;
        }
        request.stack = Some(stack);
    }
    let run = start(request)?;
    let tuned = stages::finetune_stage::<AB>(
        &run.config,
        &run.dir,
        &run.data,
        dbn.as_ref(),
        devices,
        run.resume,
    )?;
    let summary = Summary {
        test_error: Some(stages::evaluate(
            &tuned.kept.net,
            &run.data,
            &run.dir,
            device,
        )?),
        random_init: dbn.is_none(),
        finetune_seconds: Some(seconds(run.start)),
        finetune_best_epoch: tuned.kept.best.map(|best| best.epoch),
        refit_images: tuned.refit_images,
        finetune_schedule: Some(tuned.schedule.describe()),
        ..Summary::default()
    };
    run.finish(summary)
}

/// One initialisation's result in `dbn compare`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    /// `pretrained` or `random_init`.
    pub name: &'static str,
    /// Share of misclassified test images, in [0, 1].
    pub test_error: f64,
    /// The schedule the validation split chose.
    pub schedule: Schedule,
    /// Its lowest validation loss.
    pub valid_loss: f64,
    /// Whether that schedule was refitted.
    pub refitted: bool,
}

/// What `dbn compare` found, in its `summary.json` as `schedules_tried`, `refit` and, for each
/// arm, `ARM_test_error`, `ARM_schedule` (as [`Schedule::describe`] puts it),
/// `ARM_learning_rate`, `ARM_lr_decay`, `ARM_valid_loss` and `ARM_refitted`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The schedules each initialisation tried.
    pub schedules_tried: Vec<Schedule>,
    /// Whether the settings asked for a refit.
    pub refit: bool,
    /// The pretrained stack's result, then random initialisation's.
    pub arms: Vec<Arm>,
}

impl Serialize for Comparison {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2 + 6 * self.arms.len()))?;
        let tried: Vec<String> = self
            .schedules_tried
            .iter()
            .map(Schedule::describe)
            .collect();
        map.serialize_entry("schedules_tried", &tried)?;
        map.serialize_entry("refit", &self.refit)?;
        for arm in &self.arms {
            let key = |field: &str| format!("{}_{field}", arm.name);
            map.serialize_entry(&key("test_error"), &arm.test_error)?;
            map.serialize_entry(&key("schedule"), &arm.schedule.describe())?;
            map.serialize_entry(&key("learning_rate"), &arm.schedule.learning_rate)?;
            map.serialize_entry(&key("lr_decay"), &arm.schedule.lr_decay)?;
            map.serialize_entry(&key("valid_loss"), &arm.valid_loss)?;
            map.serialize_entry(&key("refitted"), &arm.refitted)?;
        }
        map.end()
    }
}

/// The fine-tuning settings of `dbn compare`: `finetune`'s own schedules, or with `lr_grid`
/// one schedule per rate, each with `finetune`'s factor per epoch.
fn compared_schedules(finetune: &FinetuneConfig, lr_grid: &[f64]) -> FinetuneConfig {
    let Some((first, rest)) = lr_grid.split_first() else {
        return finetune.clone();
    };
    let decayed = |rate: f64| Schedule::new(rate).with_lr_decay(finetune.lr_decay);
    FinetuneConfig {
        learning_rate: *first,
        alternatives: rest.iter().map(|&rate| decayed(rate)).collect(),
        ..finetune.clone()
    }
}

/// `dbn compare`: one pretraining, then the same fine-tuning from the stack and from random
/// initialisation, each in a folder of its own (`pretrained/`, `random-init/`), as `dbn
/// finetune` runs it: every schedule of the settings (with `lr_grid`, one per rate), the one of
/// lowest validation loss kept, and only it refitted.
///
/// # Errors
/// The first error of a stage.
pub fn compare<AB: AutodiffBackend>(
    run: &Started,
    lr_grid: &[f64],
    devices: &Devices<AB>,
) -> Result<Summary, Box<dyn Error>> {
    let device = devices.main();
    let (dbn, pretrain_seconds) = run.pretrain::<AB::InnerBackend>(device)?;
    let mut config = run.config.clone();
    config.finetune = compared_schedules(&config.finetune, lr_grid);
    let mut arms = Vec::new();
    for (name, key, stack) in [
        ("pretrained", "pretrained", Some(&dbn)),
        ("random-init", "random_init", None),
    ] {
        println!("{name}:");
        let dir = run.dir.sub(name)?;
        // Each arm's folder is a model folder of its own: predict and evaluate read it.
        dir.write_json("data.json", &run.data.info)?;
        let tuned =
            stages::finetune_stage::<AB>(&config, &dir, &run.data, stack, devices, run.resume)?;
        let valid_loss = tuned
            .kept
            .best
            .map_or(f64::INFINITY, |best| best.valid_loss);
        // Each arm's test error with each class's figures, and its confusion.csv.
        let test_error = stages::evaluate(&tuned.kept.net, &run.data, &dir, device)?;
        let refitted = tuned.refit_images.is_some();
        println!(
            "{name}: test error {:.2}% ({}, validation loss {valid_loss:.4}{})",
            100.0 * test_error,
            tuned.schedule.describe(),
            if refitted { ", refitted" } else { "" },
        );
        arms.push(Arm {
            name: key,
            test_error,
            schedule: tuned.schedule,
            valid_loss,
            refitted,
        });
    }
    let summary = Summary {
        pretrain_seconds: Some(pretrain_seconds),
        comparison: Some(Comparison {
            schedules_tried: config.finetune.schedules(),
            refit: config.finetune.refit,
            arms,
        }),
        ..Summary::default()
    };
    run.finish(summary)
}

/// The test examples of a saved classifier counted by class and prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The examples counted: the test error, each class's figures.
    pub confusion: Confusion,
    /// The classes' names where the data named them (those of the model's `data.json`), else
    /// empty.
    pub class_names: Vec<String>,
}

/// `dbn evaluate`: the test examples of `data` ([`stages::model_test_set`]) counted by class
/// and the class the classifier saved in `model` gives them.
///
/// # Errors
/// A model or data that cannot be read, data of another width, unlabelled, or with a label
/// that names none of the model's classes.
pub fn evaluate<B: Backend>(
    model: &Path,
    data: &DataRequest,
    device: &B::Device,
) -> Result<Evaluation, Box<dyn Error>> {
    let (net, _) = load_module::<B, DbnClassifier<B>>(model, device)?;
    let test = stages::model_test_set(data, model)?;
    check_width(net.n_inputs(), &test)?;
    if !test.is_labelled() {
        return Err(format!(
            "--data {}: no labels to evaluate against",
            data.path.display()
        )
        .into());
    }
    let labels = test.labels().unwrap_or_default();
    check_labels(net.n_outputs(), &labels, |at| {
        format!("--data {} (test example {at})", data.path.display())
    })?;
    Ok(Evaluation {
        confusion: test_confusion(&net, &test, device),
        class_names: test.class_names().to_vec(),
    })
}

/// An error unless `set`'s examples have the model's `n_inputs` features.
fn check_width(n_inputs: usize, set: &ExampleSet) -> Result<(), String> {
    if set.width() == n_inputs {
        return Ok(());
    }
    Err(format!(
        "{}: {} features per example, the model takes {n_inputs}",
        set.source().display(),
        set.width()
    ))
}

/// An error unless every label names one of the classifier's classes: `0..n_outputs`, or 0
/// and 1 for a single sigmoid output. Labels beyond would count as errors whatever the model
/// did (data numbered otherwise than the training data, or another task), so they are refused,
/// the first of them named by `name(row)`.
fn check_labels(
    n_outputs: usize,
    labels: &[usize],
    name: impl Fn(usize) -> String,
) -> Result<(), String> {
    let classes = n_outputs.max(2);
    match labels.iter().position(|&label| label >= classes) {
        None => Ok(()),
        Some(at) => Err(format!(
            "{}: label {}, but the model has {classes} classes (0 to {}); are these labels \
             numbered as the training data's were?",
            name(at),
            labels[at],
            classes - 1
        )),
    }
}

/// What `dbn sample` generates.
#[derive(Clone, Debug, Default)]
pub struct SampleSettings<'a> {
    /// Samples (with `labels`: of each label).
    pub n: usize,
    /// Gibbs steps in the top RBM.
    pub steps: usize,
    /// Seed of the chains.
    pub seed: u64,
    /// Labels to generate, each clamped in the top RBM ([`Dbn::generate_class`]); none: the
    /// chains run freely.
    pub labels: &'a [usize],
    /// Start the chains from the up pass of test examples of this data (with `labels`,
    /// examples of each label) instead of noise.
    pub from_data: Option<&'a DataRequest>,
    /// Use the pretrained stack (`dbn.mpk`) even where the folder holds an up-down one
    /// (`updown.mpk`), which is used otherwise.
    pub pretrained: bool,
}

/// A generative stack loaded from a run folder, and the file stem it came from.
pub struct LoadedStack<B: Backend> {
    /// The stack: pretrained, or up-down fine-tuned.
    pub stack: Box<dyn Generative<B>>,
    /// `dbn` or `updown`.
    pub name: &'static str,
}

/// The generative stack saved in `model`: the up-down one (`updown.json`, `updown.mpk`) when
/// there is one and `pretrained` is false, the pretrained stack (`dbn.json`, `dbn.mpk`)
/// otherwise.
///
/// # Errors
/// A model that cannot be loaded.
pub fn load_generative<B: Backend>(
    model: &Path,
    pretrained: bool,
    device: &B::Device,
) -> Result<LoadedStack<B>, Box<dyn Error>> {
    if !pretrained && model.join("updown.mpk").is_file() {
        let (stack, _) = load_module::<B, UpDownDbn<B>>(model, device)?;
        let stack = Box::new(stack);
        return Ok(LoadedStack {
            stack,
            name: "updown",
        });
    }
    let (stack, _) = load_module::<B, Dbn<B>>(model, device)?;
    let stack = Box::new(stack);
    Ok(LoadedStack { stack, name: "dbn" })
}

/// What `dbn sample` writes, by the name of its `--out` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFile {
    /// A grid of pictures (`.png`).
    Picture,
    /// A table of the samples in the data's units as read (`.csv`, `.npy`).
    Table(FeatureFile),
}

impl SampleFile {
    /// The kind `path` names by its extension (in any case).
    ///
    /// # Errors
    /// Another extension, naming `--out`.
    pub fn of(path: &Path) -> Result<Self, String> {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match extension.as_deref() {
            Some("png") => Ok(Self::Picture),
            _ => FeatureFile::of(path).map(Self::Table).map_err(|_| {
                format!(
                    "--out {}: name the file .png (a grid of pictures), or .csv or .npy (a \
                     table)",
                    path.display()
                )
            }),
        }
    }
}

/// `dbn sample`: examples generated by the stack saved in `model` as `settings` say, written
/// to `out` ([`SampleFile`]): as a grid of pictures, one row per label with labels; or as a
/// table, one row per sample, in the units of the training data (their scaling, as `data.json`
/// keeps it, undone), with a `label` column of the class asked for in a CSV file.
///
/// # Errors
/// A model that cannot be loaded or, for pictures, is not of square images; labels the stack
/// has not, a data folder that cannot be read or has too few images of a label, a file that
/// cannot be written.
pub fn sample<B: Backend>(
    model: &Path,
    settings: &SampleSettings<'_>,
    out: &Path,
    device: &B::Device,
) -> Result<(), Box<dyn Error>> {
    let SampleSettings {
        n,
        steps,
        seed,
        labels,
        from_data,
        pretrained,
    } = *settings;
    let file = SampleFile::of(out)?;
    if file == SampleFile::Table(FeatureFile::Npy) && !labels.is_empty() {
        return Err(format!(
            "--out {}: a .npy file holds the samples alone; with --label, name a .csv file, \
             whose last column gives each sample's class",
            out.display()
        )
        .into());
    }
    let LoadedStack { stack, name } = load_generative::<B>(model, pretrained, device)?;
    println!(
        "sampling from {}",
        model.join(format!("{name}.mpk")).display()
    );
    let dbn = stack.generator();
    let n_visible = dbn.layer_sizes()[0];
    // Refused before the chains run.
    if file == SampleFile::Picture {
        image_shape(model, n_visible)?;
    }
    let starts = from_data
        .map(|data| starting_images::<B>(data, model, n_visible, n, labels, device))
        .transpose()?;
    B::seed(device, seed);
    let asked = stages::n_of_each(labels.iter().copied(), n);
    let (generated, columns) = match (labels, starts) {
        ([], None) => (dbn.generate(n, steps), 10),
        ([], Some(images)) => (stack.generate_from_data(images, steps), 10),
        (_, starts) => {
            let generated = match starts {
                None => dbn.generate_class(&asked, steps),
                Some(images) => stack.generate_class_from_data(images, &asked, steps),
            };
            (generated.map_err(|e| format!("--label: {e}"))?, n)
        }
    };
    let values: Vec<f32> = generated.probs.into_data().to_vec()?;
    match file {
        SampleFile::Table(kind) => {
            let info = DataInfo::of_model(model)?;
            let bytes = sample_table(values, n_visible, info.as_ref(), &asked, kind)
                .map_err(|e| format!("{}: {e}", model.join("data.json").display()))?;
            write_atomically(out, &bytes)
                .map_err(|e| format!("--out {}: cannot write: {e}", out.display()))?;
        }
        SampleFile::Picture => {
            let shape = image_shape(model, n_visible)?;
            save_png(tile_grid(&rows(&values, n_visible), shape, columns, 2), out)?;
        }
    }
    Ok(())
}

/// The bytes of a table of generated `values` (`[n, width]` row after row, as the visible
/// units take them), in the units of the data `info` describes (its scaling undone), named by
/// its features (`x0`, `x1`, ... where the data named none); in CSV, each row's class from
/// `labels` (one per row, or none) in a last column, `label`, by name where the data named
/// their classes.
///
/// # Errors
/// A scaling or feature names of another width than the model's (a `data.json` not its own).
fn sample_table(
    mut values: Vec<f32>,
    width: usize,
    info: Option<&DataInfo>,
    labels: &[usize],
    kind: FeatureFile,
) -> Result<Vec<u8>, String> {
    let other = |what: &str, n: usize| format!("{what} of {n} features, the model takes {width}");
    if let Some(scaling) = info.and_then(|info| info.standardization.as_ref()) {
        if scaling.width() != width {
            return Err(other("a scaling", scaling.width()));
        }
        for row in values.chunks_mut(width.max(1)) {
            scaling.invert(row);
        }
    }
    let n = values.len() / width.max(1);
    let names = match info.map(|info| &info.features) {
        Some(features) if features.len() == width => features.clone(),
        Some(features) if !features.is_empty() => return Err(other("names", features.len())),
        _ => (0..width).map(|j| format!("x{j}")).collect(),
    };
    Ok(match (kind, labels.len() == n && n > 0) {
        (FeatureFile::Npy, _) => npy_bytes(n, width, &values),
        (FeatureFile::Csv, false) => csv_bytes(&names, n, &values),
        (FeatureFile::Csv, true) => {
            let classes = info.map_or(&[][..], |info| &info.class_names);
            let cells: Vec<String> = labels.iter().map(|&k| class_name(classes, k)).collect();
            labelled_csv_bytes(&names, n, &values, ("label", &cells))
        }
    })
}

/// The image shape of the model in `model` with `n_visible` visible units: its data's, or a
/// square.
///
/// # Errors
/// A model whose data are not images, or of Gaussian units (whose samples are not grey levels).
fn image_shape(model: &Path, n_visible: usize) -> Result<[usize; 2], Box<dyn Error>> {
    let side = (n_visible as f64).sqrt() as usize;
    match DataInfo::of_model(model)? {
        Some(info) if info.visible == VisibleUnits::Gaussian => Err(format!(
            "--model: {} has Gaussian visible units; `dbn sample` draws pictures of data in \
             [0, 1]: --out FILE.csv (or .npy) writes the samples as a table",
            model.display()
        )
        .into()),
        Some(DataInfo {
            image: Some(shape), ..
        }) => Ok(shape),
        Some(_) => Err(format!(
            "--model: {} was not trained on images: --out FILE.csv (or .npy) writes the samples \
             as a table",
            model.display()
        )
        .into()),
        None if side * side == n_visible => Ok([side, side]),
        None => Err(format!("--model: {n_visible} visible units are not a square image").into()),
    }
}

/// The test examples of `data` the chains of `dbn sample --from-data` start from (checked to be
/// of the model's `n_visible` features): the first `n`, or with `labels` the first `n` of each
/// label in turn.
///
/// # Shapes
/// -> `[n · max(1, labels.len()), pixels]`
fn starting_images<B: Backend>(
    data: &DataRequest,
    model: &Path,
    n_visible: usize,
    n: usize,
    labels: &[usize],
    device: &B::Device,
) -> Result<Tensor<B, 2>, Box<dyn Error>> {
    let test = stages::model_test_set(data, model)?;
    check_width(n_visible, &test).map_err(|e| format!("--from-data: {e}"))?;
    if !labels.is_empty() && !test.is_labelled() {
        return Err(format!("--from-data {}: no labels to pick", data.path.display()).into());
    }
    // Each label in turn, or all images as one group.
    let groups: Vec<Option<usize>> = match labels {
        [] => vec![None],
        _ => labels.iter().copied().map(Some).collect(),
    };
    let mut items = Vec::new();
    for group in groups {
        let of_group: Vec<_> = test
            .iter()
            .filter(|item| group.is_none_or(|label| item.label == Some(label)))
            .take(n)
            .collect();
        if of_group.len() < n {
            let of_label = group.map_or(String::new(), |label| format!(" of label {label}"));
            return Err(format!(
                "--from-data: {} has {} test examples{of_label}, fewer than --n {n}",
                test.source().display(),
                of_group.len()
            )
            .into());
        }
        items.extend(of_group);
    }
    Ok(ImageBatcher::default().batch(items, device))
}

/// The settings of `dbn loglik`'s annealed importance sampling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoglikSettings {
    /// Annealing runs.
    pub runs: usize,
    /// Intermediate temperatures.
    pub betas: usize,
    /// Seed of the binarisation and of the annealing.
    pub seed: u64,
    /// Also the variational bound of the stack cut at each depth ([`LogLikelihood::bounds`]).
    pub bound: bool,
}

/// What `dbn loglik` estimated.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLikelihood {
    /// The estimate of `log Z`.
    pub log_z: f64,
    /// Its standard error.
    pub std_err: f64,
    /// The average test log-likelihood, nats.
    pub test: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// With [`LoglikSettings::bound`], the bound at each depth from 1 (whose `log Z` and bound
    /// are the figures above); empty otherwise.
    pub bounds: Vec<DepthBound>,
}

/// `dbn loglik`: the AIS estimate of the average test log-likelihood of the first RBM of the
/// stack saved in `model`, on binarised images of `data`; with `settings.bound`, also the
/// variational lower bound of the stack cut at each depth (its first 1, 2, … RBMs), each
/// depth's top RBM's `log Z` by AIS from a base model fitted to the training images' up pass.
/// At depth 1 the bound is the first figure.
///
/// # Errors
/// A model or data folder that cannot be read, or invalid AIS settings.
pub fn loglik<B: Backend>(
    model: &Path,
    data: &DataRequest,
    settings: LoglikSettings,
    device: &B::Device,
) -> Result<LogLikelihood, Box<dyn Error>> {
    let (dbn, _) = load_module::<B, Dbn<B>>(model, device)?;
    let rbm = &dbn.rbms[0];
    if rbm.visible != VisibleUnits::Bernoulli {
        return Err(format!(
            "--model: {} has Gaussian visible units; `dbn loglik` estimates the likelihood of \
             binary data under Bernoulli units",
            model.display()
        )
        .into());
    }
    let splits = stages::load_splits(data, None, &[])?;
    check_width(rbm.n_features(), &splits.test)?;
    // Grey levels written as numbers, divided by 255 as for training.
    let layer = stages::visible_layer(stages::Visible::Bernoulli, &splits.train)?;
    let splits = match layer.scaling {
        Some(scaling) => splits.standardized(&scaling),
        None => splits,
    };
    let binary = ImageBatcher::stochastic(settings.seed);
    let set = |d: &ExampleSet| stages::batch_all::<B>(d, &binary, device);
    let start = Instant::now();
    let train = set(&splits.train);
    let base = rbm.visible_bias_from_data(train.clone());
    let ais = AisConfig::new()
        .with_n_runs(settings.runs)
        .with_n_betas(settings.betas)
        .with_seed(settings.seed);
    let estimate = ais_log_partition(rbm, base, &ais)?;
    let test_images = set(&splits.test);
    let test = average_log_likelihood(rbm, test_images.clone(), estimate.log_z)?;
    let mut bounds = Vec::new();
    if settings.bound {
        bounds.push(DepthBound {
            depth: 1,
            log_z: estimate.log_z,
            std_err: estimate.std_err,
            bound: test,
        });
        for depth in 2..=dbn.rbms.len() {
            bounds.push(depth_bound(&dbn, depth, &train, &test_images, &ais)?);
        }
    }
    Ok(LogLikelihood {
        log_z: estimate.log_z,
        std_err: estimate.std_err,
        test,
        seconds: seconds(start),
        bounds,
    })
}

/// The variational bound of the stack cut at one depth (`dbn loglik --bound`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthBound {
    /// RBMs kept, from 1.
    pub depth: usize,
    /// AIS estimate of the top RBM's `log Z`.
    pub log_z: f64,
    /// Standard error of `log_z`.
    pub std_err: f64,
    /// The bound on the average test log-likelihood, nats ([`dbn_model::bound`]).
    pub bound: f64,
}

/// Paths sampled per test image for the bound's expectation.
const BOUND_SAMPLES: usize = 5;

/// The bound of `dbn` cut at `depth` on the average log-likelihood of `test`, its top RBM's
/// `log Z` by AIS as `ais` says, from a base model fitted to the up pass of `train`; the paths
/// drawn from `ais`'s seed.
///
/// # Errors
/// Bad AIS settings.
fn depth_bound<B: Backend>(
    dbn: &Dbn<B>,
    depth: usize,
    train: &Tensor<B, 2>,
    test: &Tensor<B, 2>,
    ais: &AisConfig,
) -> Result<DepthBound, Box<dyn Error>> {
    let rbm = &dbn.rbms[depth - 1];
    let device = train.device();
    B::seed(&device, ais.seed);
    let below = sample_path(dbn, depth, train.clone())
        .pop()
        .expect("a path");
    let mut mean = below.mean_dim(0).squeeze_dim(0);
    if rbm.labels > 0 {
        let uniform = Tensor::full([rbm.labels], 1.0 / rbm.labels as f64, &device);
        mean = Tensor::cat(vec![mean, uniform], 0);
    }
    let estimate = ais_log_partition(rbm, rbm.visible_bias_from_mean(mean), ais)?;
    B::seed(&device, ais.seed);
    let bound = variational_bound(dbn, depth, test.clone(), estimate.log_z, BOUND_SAMPLES);
    Ok(DepthBound {
        depth,
        log_z: estimate.log_z,
        std_err: estimate.std_err,
        bound,
    })
}

/// What `dbn predict` and `dbn encode` read: the input files and how.
#[derive(Clone, Debug, Default)]
pub struct InputSettings<'a> {
    /// Tables (CSV, `.npy`, `.npz`, IDX images) and pictures (PNG, JPEG).
    pub paths: &'a [PathBuf],
    /// How tables are read (the CSV label column).
    pub table: TableOptions,
    /// When pictures are inverted.
    pub invert: Invert,
}

/// `dbn predict`'s outcome: one row per example.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// The examples: where each came from, its class if the input had labels, the pictures
    /// inverted.
    pub inputs: Inputs,
    /// Each example's predicted class.
    pub classes: Vec<usize>,
    /// `inputs.len() * n_outputs` class probabilities, row after row.
    pub probabilities: Vec<f32>,
    /// The classifier's outputs per example (1 for a single sigmoid unit: P(class 1)).
    pub n_outputs: usize,
    /// The classes' names, where the training data named them; empty for class indices.
    pub class_names: Vec<String>,
}

impl Predictions {
    /// The examples counted by label and predicted class, when the input had labels.
    pub fn confusion(&self) -> Option<Confusion> {
        let labels = self.inputs.labels.as_ref()?;
        Some(Confusion::new(self.n_outputs.max(2)).add(labels, &self.classes))
    }

    /// The predictions as CSV: `input,predicted,p_0,…` (`p_1` alone for one sigmoid output, the
    /// probability of class 1) and, with labels, `label`; where the classes are named, the
    /// classes by name and the probabilities' columns `p_NAME`, each cell quoted as CSV needs.
    pub fn csv(&self) -> Vec<u8> {
        let mut writer = String::from("input,predicted");
        // One sigmoid output: P(class 1).
        let first = usize::from(self.n_outputs == 1);
        for k in first..first + self.n_outputs {
            writer.push_str(&format!(
                ",{}",
                csv_cell(&format!("p_{}", dbn_data::class_name(&self.class_names, k)))
            ));
        }
        if self.inputs.labels.is_some() {
            writer.push_str(",label");
        }
        writer.push('\n');
        for (i, source) in self.inputs.sources.iter().enumerate() {
            let predicted = csv_cell(&dbn_data::class_name(&self.class_names, self.classes[i]));
            writer.push_str(&format!("{},{predicted}", csv_cell(source)));
            for p in &self.probabilities[i * self.n_outputs..(i + 1) * self.n_outputs] {
                writer.push_str(&format!(",{p:.6}"));
            }
            if let Some(labels) = &self.inputs.labels {
                writer.push_str(&format!(
                    ",{}",
                    csv_cell(&dbn_data::class_name(&self.class_names, labels[i]))
                ));
            }
            writer.push('\n');
        }
        writer.into_bytes()
    }
}

/// `text` as one CSV cell: quoted where it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Examples per forward pass of `dbn predict` and `dbn encode`.
const CHUNK: usize = 1000;

/// The rows of `inputs` as tensors of at most [`CHUNK`] rows each.
///
/// # Shapes
/// -> tensors `[≤ CHUNK, width]`
fn chunks<'a, B: Backend>(
    inputs: &'a Inputs,
    width: usize,
    device: &'a B::Device,
) -> impl Iterator<Item = Tensor<B, 2>> + 'a {
    inputs.values.chunks(CHUNK * width).map(move |rows| {
        let n = rows.len() / width;
        Tensor::from_data(TensorData::new(rows.to_vec(), [n, width]), device)
    })
}

/// The input files of `settings` as a model of `width` inputs whose data were `info` (its
/// `data.json`) takes them: of its training data's feature columns where both name them, and
/// standardised as they were ([`read_inputs`], [`Inputs::for_model`]).
///
/// # Errors
/// The errors of [`read_inputs`] and [`Inputs::for_model`].
fn model_inputs(
    info: Option<&DataInfo>,
    width: usize,
    settings: &InputSettings<'_>,
) -> Result<Inputs, Box<dyn Error>> {
    let features = info.map_or(&[][..], |info| &info.features);
    let (paths, table, invert) = (settings.paths, &settings.table, settings.invert);
    read_inputs(paths, width, table, invert, features)?
        .for_model(info)
        .map_err(Into::into)
}

/// `dbn predict`: the classes and class probabilities the fine-tuned classifier saved in
/// `model` gives each example of the input files.
///
/// # Errors
/// A classifier that cannot be loaded, the errors of [`read_inputs`], and a label that names
/// none of the classifier's classes.
pub fn predict<B: Backend>(
    model: &Path,
    settings: &InputSettings<'_>,
    device: &B::Device,
) -> Result<Predictions, Box<dyn Error>> {
    let (net, config) = load_module::<B, DbnClassifier<B>>(model, device)?;
    let width = config.layers[0];
    let info = DataInfo::of_model(model)?;
    // Labels given by name are read onto the names of the model's data.
    let class_names = info
        .as_ref()
        .map_or(Vec::new(), |info| info.class_names.clone());
    let settings = InputSettings {
        table: TableOptions {
            classes: class_names.clone(),
            ..settings.table.clone()
        },
        ..settings.clone()
    };
    let inputs = model_inputs(info.as_ref(), width, &settings)?;
    if let (Some(info), Some((path, names))) = (&info, &inputs.label_names) {
        stages::check_label_kind(path, names, info, model)?;
    }
    if let Some(labels) = &inputs.labels {
        check_labels(net.n_outputs(), labels, |at| inputs.sources[at].clone())?;
    }
    let (mut classes, mut probabilities) = (Vec::new(), Vec::new());
    for x in chunks::<B>(&inputs, width, device) {
        let logits = net.forward(x);
        let predicted: Vec<i64> = net
            .predict(logits.clone())
            .into_data()
            .convert::<i64>()
            .to_vec()?;
        classes.extend(predicted.into_iter().map(|c| c as usize));
        probabilities.extend(net.probabilities(logits).into_data().to_vec::<f32>()?);
    }
    Ok(Predictions {
        inputs,
        classes,
        probabilities,
        n_outputs: net.n_outputs(),
        class_names,
    })
}

/// `dbn encode`'s outcome: the features of each example at one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// The examples read.
    pub inputs: Inputs,
    /// The layer, from 1 (the first hidden layer).
    pub layer: usize,
    /// Features per example: the layer's units.
    pub width: usize,
    /// `inputs.len() * width` values `P(h(layer) = 1 | …)`, row after row.
    pub values: Vec<f32>,
    /// The model that encoded them, named by its file: `dbn` (the pretrained stack),
    /// `updown` (its recognition weights) or `classifier` (the fine-tuned network).
    pub model: &'static str,
}

impl Encoded {
    /// The features as the bytes of a `.npy` (`[n, width]` float32) or CSV file (a header
    /// `h{layer}_0,…`), as `path`'s extension says.
    ///
    /// # Errors
    /// A path that ends in neither `.npy` nor `.csv`.
    pub fn file_bytes(&self, path: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
        let n = self.inputs.len();
        Ok(match FeatureFile::of(path)? {
            FeatureFile::Npy => npy_bytes(n, self.width, &self.values),
            FeatureFile::Csv => {
                let names: Vec<String> = (0..self.width)
                    .map(|j| format!("h{}_{j}", self.layer))
                    .collect();
                csv_bytes(&names, n, &self.values)
            }
        })
    }
}

/// The kinds of file `dbn encode` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureFile {
    /// NumPy's `.npy`.
    Npy,
    /// CSV with a header.
    Csv,
}

impl FeatureFile {
    /// The kind `path` names by its extension (in any case).
    ///
    /// # Errors
    /// A path that ends in neither `.npy` nor `.csv`, naming `--out`.
    pub fn of(path: &Path) -> Result<Self, String> {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match extension.as_deref() {
            Some("npy") => Ok(Self::Npy),
            Some("csv") => Ok(Self::Csv),
            _ => Err(format!(
                "--out {}: name the file .npy (numpy.load) or .csv",
                path.display()
            )),
        }
    }
}

/// The weights `dbn encode` encodes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeWith {
    /// The stack: the up-down one (`updown.mpk`) where the folder holds one, else the
    /// pretrained one (`dbn.mpk`); a folder holding a classifier but no stack (a `dbn finetune`
    /// run), the classifier's.
    Stack,
    /// The pretrained stack (`dbn.mpk`).
    Pretrained,
    /// The fine-tuned classifier's hidden layers (`classifier.mpk`).
    Classifier,
}

/// `dbn encode`: the features at `layer` (1 for the first hidden layer, up to the number of
/// hidden layers; `None`: the top) of the model saved in `model`, as `with` names it: the mean-field up
/// pass, `P(h(l) | h(l-1))` layer after layer, of a stack (through the up-down stack's
/// recognition weights), or a fine-tuned classifier's sigmoid layers. With label units in the
/// top RBM, its layer is computed with the label units off (no label is known).
///
/// # Errors
/// A model that cannot be loaded, a layer it does not have (naming `--layer`), and the errors
/// of [`read_inputs`].
pub fn encode<B: Backend>(
    model: &Path,
    layer: Option<usize>,
    with: EncodeWith,
    settings: &InputSettings<'_>,
    device: &B::Device,
) -> Result<Encoded, Box<dyn Error>> {
    let no_stack = !model.join("dbn.json").is_file() && model.join("classifier.json").is_file();
    if with == EncodeWith::Classifier || (with == EncodeWith::Stack && no_stack) {
        let (net, _) = load_module::<B, DbnClassifier<B>>(model, device)?;
        let encoder = &net.encoder;
        let features = |x, layer| encoder.features(x, layer);
        let sizes = encoder.layer_sizes();
        return encode_rows(
            (model, "classifier"),
            sizes,
            layer,
            features,
            settings,
            device,
        );
    }
    let pretrained = with == EncodeWith::Pretrained;
    let LoadedStack { stack, name } = load_generative::<B>(model, pretrained, device)?;
    let sizes = stack.generator().layer_sizes();
    let features = |x, layer| stack.features(x, layer);
    encode_rows((model, name), sizes, layer, features, settings, device)
}

/// [`encode`] by `features(x, layer)` of the model `name` in the folder `model`, of layers
/// `sizes` (from the input up).
fn encode_rows<B: Backend>(
    (model, name): (&Path, &'static str),
    sizes: Vec<usize>,
    layer: Option<usize>,
    features: impl Fn(Tensor<B, 2>, usize) -> Tensor<B, 2>,
    settings: &InputSettings<'_>,
    device: &B::Device,
) -> Result<Encoded, Box<dyn Error>> {
    let layer = layer.unwrap_or(sizes.len() - 1);
    if layer == 0 || layer >= sizes.len() {
        return Err(format!(
            "--layer {layer}: the model in {} has hidden layers 1 to {} (sizes {:?})",
            model.display(),
            sizes.len() - 1,
            &sizes[1..]
        )
        .into());
    }
    let inputs = model_inputs(DataInfo::of_model(model)?.as_ref(), sizes[0], settings)?;
    let mut values = Vec::new();
    for x in chunks::<B>(&inputs, sizes[0], device) {
        values.extend(features(x, layer).into_data().to_vec::<f32>()?);
    }
    Ok(Encoded {
        inputs,
        layer,
        width: sizes[layer],
        values,
        model: name,
    })
}

/// One split's row of `dbn data`.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitReport {
    /// `train`, `validation` or `test`.
    pub name: &'static str,
    /// Images.
    pub images: usize,
    /// Mean pixel value, in [0, 1].
    pub mean: f64,
    /// Images per label, 0 to 9.
    pub label_counts: Vec<usize>,
}

/// What `dbn data` found in a folder.
#[derive(Clone, Debug, PartialEq)]
pub struct DataReport {
    /// Features per example.
    pub width: usize,
    /// Image rows and columns, when the examples are images.
    pub image: Option<[usize; 2]>,
    /// The lowest and highest training value.
    pub range: Option<(f32, f32)>,
    /// The visible units `--visible auto` gives the data.
    pub visible: VisibleUnits,
    /// Whether the values are 8-bit grey levels, which Bernoulli units take divided by 255.
    pub grey_levels: bool,
    /// The classes' names, where the labels are names; empty for class indices.
    pub class_names: Vec<String>,
    /// Seconds to load and check the files.
    pub seconds: f64,
    /// The three splits.
    pub splits: Vec<SplitReport>,
}

/// `dbn data`: loads and checks the three splits of `data`, holding out `validation`
/// training examples ([`stages::load_splits`]).
///
/// # Errors
/// A file that is missing or invalid, or an impossible split (naming the flag).
pub fn data_report<B: Backend>(
    data: &DataRequest,
    validation: Option<SplitSize>,
    device: &B::Device,
) -> Result<DataReport, Box<dyn Error>> {
    let start = Instant::now();
    let splits = stages::load_splits(data, validation, &[])?;
    let seconds = seconds(start);
    let report = |name, set: &ExampleSet| SplitReport {
        name,
        images: set.len(),
        mean: stages::images::<B>(set, device)
            .mean()
            .into_scalar()
            .elem::<f64>(),
        label_counts: set.label_counts(),
    };
    let layer = stages::visible_layer(Visible::Auto, &splits.train)?;
    let grey_levels = layer
        .scaling
        .is_some_and(|scaling| scaling.is_grey_levels());
    let width = splits.train.width();
    let square = dbn_data::square_image(width).filter(|_| grey_levels);
    Ok(DataReport {
        width,
        image: splits.train.image_shape().or(square),
        range: layer.range.bounds(),
        visible: layer.units,
        grey_levels,
        class_names: splits.train.class_names().to_vec(),
        seconds,
        splits: vec![
            report("train", &splits.train),
            report("validation", &splits.valid),
            report("test", &splits.test),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Row;
    use burn::backend::Flex;

    #[test]
    fn labels_beyond_the_classes_are_refused_naming_the_first() {
        let name = |at: usize| format!("data.csv:{at}");
        assert_eq!(check_labels(10, &[0, 9, 3], name), Ok(()));
        assert_eq!(check_labels(10, &[], name), Ok(()));
        let refused = check_labels(10, &[1, 10, 12], name).unwrap_err();
        assert!(
            refused.starts_with("data.csv:1: label 10, but the model has 10 classes (0 to 9)"),
            "{refused}"
        );
        // One sigmoid output: classes 0 and 1.
        assert_eq!(check_labels(1, &[0, 1], name), Ok(()));
        assert!(check_labels(1, &[2], name).is_err());
    }

    #[test]
    fn predictions_name_their_classes_and_quote_what_csv_must() {
        let inputs = Inputs {
            sources: vec!["a.csv:0".into(), "b,c.png".into()],
            values: Vec::new(),
            labels: Some(vec![1, 0]),
            label_names: None,
            inverted: Vec::new(),
            rows: vec![Row::Table, Row::Picture],
        };
        let named = Predictions {
            inputs: inputs.clone(),
            classes: vec![0, 1],
            probabilities: vec![0.75, 0.25, 0.5, 0.5],
            n_outputs: 2,
            class_names: vec!["setosa".into(), "big, \"red\"".into()],
        };
        assert_eq!(
            String::from_utf8(named.csv()).unwrap(),
            "input,predicted,p_setosa,\"p_big, \"\"red\"\"\",label\n\
             a.csv:0,setosa,0.750000,0.250000,\"big, \"\"red\"\"\"\n\
             \"b,c.png\",\"big, \"\"red\"\"\",0.500000,0.500000,setosa\n"
        );
        // One sigmoid output: the probability of class 1, by index.
        let sigmoid = Predictions {
            inputs,
            classes: vec![1, 0],
            probabilities: vec![0.9, 0.2],
            n_outputs: 1,
            class_names: Vec::new(),
        };
        let csv = String::from_utf8(sigmoid.csv()).unwrap();
        assert!(
            csv.starts_with("input,predicted,p_1,label\na.csv:0,1,0.900000,1\n"),
            "{csv}"
        );
    }

    #[test]
    fn data_report_counts_the_shipped_mnist_per_split_and_label() {
        let data = DataRequest::folder(dbn_data::shipped_mnist_dir());
        let report = data_report::<Flex>(&data, None, &Default::default()).unwrap();
        assert_eq!((report.width, report.image), (784, Some([28, 28])));
        let images: Vec<usize> = report.splits.iter().map(|s| s.images).collect();
        assert_eq!(images, [50_000, 10_000, 10_000]);
        let test = &report.splits[2];
        assert_eq!(
            test.label_counts,
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert!((test.mean - 0.1325).abs() < 5e-5, "{}", test.mean);
        let all = Some(SplitSize::Count(60_000));
        let err = data_report::<Flex>(&data, all, &Default::default()).unwrap_err();
        assert!(err.to_string().starts_with("--validation:"), "{err}");
    }

    #[test]
    fn a_table_file_is_shuffled_and_split_into_test_validation_and_training() {
        let data = DataRequest {
            label_column: Some("benign".into()),
            ..DataRequest::folder(dbn_data::shipped_mnist_dir().join("../wdbc/wdbc.csv"))
        };
        let report = data_report::<Flex>(&data, None, &Default::default()).unwrap();
        assert_eq!((report.width, report.image), (30, None));
        // 569 examples: a fifth tests (114), a tenth validates (57).
        let sizes: Vec<usize> = report.splits.iter().map(|s| s.images).collect();
        assert_eq!(sizes, [398, 57, 114]);
        let benign: usize = report.splits.iter().map(|s| s.label_counts[1]).sum();
        assert_eq!(benign, 357);
        let (lo, hi) = report.range.unwrap();
        assert!(lo >= 0.0 && hi > 1000.0, "{lo} {hi}");
        let unlabelled = DataRequest {
            label_column: None,
            ..data.clone()
        };
        let report = data_report::<Flex>(&unlabelled, None, &Default::default()).unwrap();
        assert_eq!(
            report.width, 31,
            "the label column is a feature when not named"
        );
        let err = data_report::<Flex>(
            &DataRequest {
                test_split: SplitSize::Count(0),
                ..data
            },
            None,
            &Default::default(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("--test-split 0:"), "{err}");
    }

    #[test]
    fn the_first_difference_of_two_settings_is_named_by_its_path() {
        let a = serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": true}});
        let differ = |b| first_difference(&a, &b, "").map(|d| d.to_string());
        assert_eq!(differ(a.clone()), None);
        let b = serde_json::json!({"a": 1, "b": {"c": [1, 3], "d": false}});
        assert_eq!(differ(b), Some("b.c.1: 2 there, 3 now".into()));
        let b = serde_json::json!({"a": 1, "b": {"c": [1], "d": true}});
        assert_eq!(differ(b), Some("b.c: [1,2] there, [1] now".into()));
        let b = serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": true}, "e": 0});
        assert_eq!(differ(b), Some("e: null there, 0 now".into()));
    }

    /// The shipped wdbc table, labelled by its `benign` column, split by `test_split`.
    fn wdbc(path: PathBuf, test_split: SplitSize) -> DataRequest {
        DataRequest {
            label_column: Some("benign".into()),
            test_split,
            ..DataRequest::folder(path)
        }
    }

    /// The shipped wdbc table's path.
    fn wdbc_file() -> PathBuf {
        dbn_data::shipped_mnist_dir().join("../wdbc/wdbc.csv")
    }

    /// A run of `command` over the quick preset into `out`.
    fn run_request(
        command: &'static str,
        config: RunConfig,
        data: DataRequest,
        out: &Path,
        (existing, pinned): (Existing, Pinned),
    ) -> RunRequest<'static> {
        RunRequest {
            command,
            config,
            data,
            out: out.into(),
            existing,
            base: crate::config::Preset::Quick.config(),
            pinned,
            backend: "flex",
            device: "the test's",
            stack: None,
        }
    }

    #[test]
    fn a_resumed_run_given_its_own_config_json_keeps_values_pinned_at_the_presets() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("run");
        // 398 training examples: the data would have batches of 19, not the preset's 100.
        let data = wdbc(wdbc_file(), stages::DEFAULT_TEST_SPLIT);
        let base = crate::config::Preset::Quick.config();
        let request = |config, existing, pinned| {
            run_request("train", config, data.clone(), &out, (existing, pinned))
        };
        let batches = |started: Started| {
            let config = started.config;
            (config.pretrain.rbm.batch_size, config.finetune.batch_size)
        };
        let adapted = start(request(base.clone(), Existing::Refuse, Pinned::default())).unwrap();
        assert_eq!(batches(adapted), (19, 19));
        // `--pretrain-batch-size 100 --batch-size 100`: the preset's values, pinned.
        let flags = Pinned {
            pretrain_batch: true,
            finetune_batch: true,
            ..Pinned::default()
        };
        let started = start(request(base.clone(), Existing::Overwrite, flags)).unwrap();
        assert_eq!(batches(started), (100, 100));
        let saved = RunConfig::from_file(&out.join("config.json"), &base).unwrap();
        let resumed = start(request(saved, Existing::Resume, Pinned::default())).unwrap();
        assert_eq!(batches(resumed), (100, 100));
        let err = start(request(base.clone(), Existing::Resume, Pinned::default()))
            .err()
            .expect("the preset without the flags is another run");
        assert!(
            err.to_string().starts_with("--resume: the settings differ")
                && err
                    .to_string()
                    .contains("(finetune.batch_size: 100 there, 19 now)"),
            "{err}"
        );
    }

    #[test]
    fn a_run_resumes_on_its_own_data_only() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("run");
        let file = wdbc_file();
        let base = crate::config::Preset::Quick.config();
        let request = |config, data, existing| {
            run_request("train", config, data, &out, (existing, Pinned::default()))
        };
        let split = stages::DEFAULT_TEST_SPLIT;
        start(request(
            base.clone(),
            wdbc(file.clone(), split),
            Existing::Refuse,
        ))
        .unwrap();
        let data_dir = dbn_data::shipped_mnist_dir();
        let spelt_otherwise = data_dir.parent().unwrap().join("wdbc/wdbc.csv");
        assert_ne!(spelt_otherwise, file);
        let same = wdbc(spelt_otherwise, split);
        let resumed = start(request(base.clone(), same, Existing::Resume));
        assert!(resumed.is_ok(), "the same file: {:?}", resumed.err());
        // The same examples held out, given as their count: 0.2 of wdbc's 569 is 114.
        let counted = wdbc(file.clone(), SplitSize::Count(114));
        let resumed = start(request(base.clone(), counted, Existing::Resume));
        assert!(resumed.is_ok(), "the same count: {:?}", resumed.err());
        // A data.json written before the value range was kept resumes on the same data.
        let path = out.join("data.json");
        let mut info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(info["value_range"].is_array(), "{info}");
        info.as_object_mut().unwrap().remove("value_range");
        std::fs::write(&path, info.to_string()).unwrap();
        let resumed = start(request(
            base.clone(),
            wdbc(file.clone(), split),
            Existing::Resume,
        ));
        assert!(resumed.is_ok(), "an older data.json: {:?}", resumed.err());
        // Held out by another share, with the run's own settings (`--config DIR/config.json`):
        // the same settings, other training examples.
        let saved = RunConfig::from_file(&out.join("config.json"), &base).unwrap();
        let other = wdbc(file.clone(), SplitSize::Count(100));
        let data_json = || std::fs::read(out.join("data.json")).unwrap();
        let before = data_json();
        let err = start(request(saved, other, Existing::Resume))
            .err()
            .expect("other data");
        assert_eq!(data_json(), before, "the refused run wrote its data.json");
        assert!(
            err.to_string().starts_with("--resume: the data differ")
                && err.to_string().contains("(test_split: "),
            "{err}"
        );
        // `dbn pretrain --resume` without `--label-column` (which pretraining does not need):
        // the data are named, not the classes they set in the settings.
        let unlabelled = DataRequest {
            label_column: None,
            ..wdbc(file, split)
        };
        let pretrain = RunRequest {
            command: "pretrain",
            ..request(base.clone(), unlabelled, Existing::Resume)
        };
        let err = start(pretrain).err().expect("no labels");
        assert!(
            err.to_string().starts_with("--resume: the data differ")
                && err.to_string().contains("(classes: 2 there, 0 now)")
                && err.to_string().contains("--label-column"),
            "{err}"
        );
    }

    #[test]
    fn a_pretraining_run_resumes_as_a_training_run_on_the_same_flags() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("run");
        let base = crate::config::Preset::Quick.config();
        let data = || wdbc(wdbc_file(), stages::DEFAULT_TEST_SPLIT);
        let request = |command, existing| {
            run_request(
                command,
                base.clone(),
                data(),
                &out,
                (existing, Pinned::default()),
            )
        };
        start(request("pretrain", Existing::Refuse)).unwrap();
        // The fine-tuning batch adapted as `dbn train` adapts it, though pretraining does not
        // use it: `dbn train --resume` was refused (`finetune.batch_size: 100 there, 19 now`).
        let resumed = start(request("train", Existing::Resume)).unwrap();
        assert_eq!(resumed.config.finetune.batch_size, 19);
    }

    #[test]
    fn compare_tries_the_settings_schedules_or_one_per_rate_of_the_grid() {
        let quick = crate::config::Preset::Quick.config().finetune;
        // Without a grid, the schedules `dbn train` and `dbn finetune` try: on small data the
        // random initialisation learns at the preset's constant 0.1 and not at 0.5 x0.9.
        let default = compared_schedules(&quick, &[]);
        assert_eq!(default.schedules(), quick.schedules());
        assert_eq!(
            default.schedules(),
            [Schedule::new(0.5).with_lr_decay(0.9), Schedule::new(0.1)]
        );
        let grid = compared_schedules(&quick, &[0.2, 0.05, 0.01]);
        let decayed = |rate| Schedule::new(rate).with_lr_decay(quick.lr_decay);
        assert_eq!(
            grid.schedules(),
            [decayed(0.2), decayed(0.05), decayed(0.01)]
        );
        assert_eq!(grid.epochs, quick.epochs);
    }

    #[test]
    fn a_comparison_is_laid_out_in_summary_json_one_key_per_arm_and_figure() {
        let arm = |name, refitted| Arm {
            name,
            test_error: 0.02,
            schedule: Schedule::new(0.5).with_lr_decay(0.9),
            valid_loss: 0.1,
            refitted,
        };
        let summary = Summary {
            command: "compare".into(),
            test_error: None,
            test_images: 10_000,
            random_init: false,
            pretrain_seconds: Some(1.0),
            finetune_seconds: None,
            finetune_best_epoch: None,
            refit_images: None,
            finetune_schedule: None,
            total_seconds: 2.0,
            backend: "flex".into(),
            device: "CPU, 2 threads".into(),
            seed: 42,
            layers: vec![784, 10],
            labelled_images: 100,
            generative_test_error: None,
            class_samples: None,
            updown_seconds: None,
            updown_generative_test_error: None,
            updown_class_samples: None,
            comparison: Some(Comparison {
                schedules_tried: vec![Schedule::new(0.5).with_lr_decay(0.9), Schedule::new(0.1)],
                refit: true,
                arms: vec![arm("pretrained", true), arm("random_init", false)],
            }),
        };
        let json = serde_json::to_value(&summary).unwrap();
        let tried = serde_json::json!(["rate 0.5 x0.9 per epoch", "constant rate 0.1"]);
        assert_eq!(json["schedules_tried"], tried);
        assert_eq!(json["pretrained_refitted"], true);
        assert_eq!(json["random_init_refitted"], false);
        assert_eq!(json["random_init_schedule"], "rate 0.5 x0.9 per epoch");
        assert_eq!(json["random_init_learning_rate"], 0.5);
        assert_eq!(json["random_init_lr_decay"], 0.9);
        assert_eq!(json["pretrained_valid_loss"], 0.1);
        assert_eq!(json["command"], "compare");
        let other = Summary {
            comparison: None,
            ..summary
        };
        let json = serde_json::to_value(&other).unwrap();
        assert!(json.get("refit").is_none() && json.get("pretrained_test_error").is_none());
    }
}
