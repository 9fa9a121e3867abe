//! A run's settings: presets, a JSON config file, and command-line overrides, in that order.

use std::path::Path;

use burn::config::Config;
use dbn_data::{N_CLASSES, SplitSize};
use dbn_model::check::at_least_one;
use dbn_model::{
    DbnClassifierConfig, DbnConfig, ModelError, OverlayError, PretrainConfig, Range,
    RbmTrainingConfig, RunSeed, UpDownConfig, config_over,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The optimiser of supervised fine-tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum OptimizerKind {
    /// Stochastic gradient descent with momentum (`momentum`).
    Sgd,
    /// Adam.
    Adam,
}

/// How fine-tuning weighs each class's examples in its loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ClassWeight {
    /// Every example alike: the mean loss, which on data of unequal classes a net lowers most
    /// by getting the commonest right.
    #[default]
    Equal,
    /// Each class's examples weigh `n / (k · n_class)` (scikit-learn's `class_weight =
    /// "balanced"`; `n` training examples, `k` classes among them): every class counts alike
    /// in the loss, whatever its share of the examples, in training and in the validation loss
    /// that chooses the epoch. Raises the rare classes' recall at the common ones' cost.
    Balanced,
}

impl ClassWeight {
    /// The loss weight of each of `classes` classes for training examples of `counts` (one
    /// per class from 0, shorter where the largest classes have none); `None` for equal
    /// weights. A class without training examples weighs 1.
    pub fn weights(self, counts: &[usize], classes: usize) -> Option<Vec<f32>> {
        let ClassWeight::Balanced = self else {
            return None;
        };
        let n: usize = counts.iter().sum();
        let present = counts.iter().filter(|&&c| c > 0).count();
        let weight = |c: usize| match c {
            0 => 1.0,
            c => (n as f64 / (present * c) as f64) as f32,
        };
        Some(
            (0..classes)
                .map(|k| weight(counts.get(k).copied().unwrap_or(0)))
                .collect(),
        )
    }
}

/// A learning-rate schedule of fine-tuning: an initial rate and its factor per epoch.
#[derive(Config, Debug, PartialEq)]
pub struct Schedule {
    /// Initial learning rate.
    pub learning_rate: f64,
    /// Factor applied to the rate over each epoch; 1 keeps it constant.
    #[config(default = 1.0)]
    pub lr_decay: f64,
}

impl Schedule {
    /// `rate 0.5 x0.9 per epoch`, or `constant rate 0.1`.
    pub fn describe(&self) -> String {
        let rate = readable(self.learning_rate);
        if self.lr_decay == 1.0 {
            format!("constant rate {rate}")
        } else {
            format!("rate {rate} x{} per epoch", self.lr_decay)
        }
    }

    /// A name for the schedule's files: `lr0.5-x0.9`.
    pub fn file_name(&self) -> String {
        format!("lr{}-x{}", readable(self.learning_rate), self.lr_decay)
    }
}

/// `x` as a person reads it: `0.5` or `100000`, but `1e36` and `2.5e-7` where plain digits
/// would run to dozens.
pub fn readable(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// Settings of supervised fine-tuning (Burn's `Learner`).
#[derive(Config, Debug)]
pub struct FinetuneConfig {
    /// Most epochs of fine-tuning.
    #[config(default = 10)]
    pub epochs: usize,
    /// Examples per mini-batch.
    #[config(default = 100)]
    pub batch_size: usize,
    /// The optimiser.
    #[config(default = "OptimizerKind::Sgd")]
    pub optimizer: OptimizerKind,
    /// Initial learning rate (0.5 with SGD and momentum 0.9 reached 97.5% validation accuracy
    /// after 3 epochs from a quick-preset stack, where 0.1 reached 96.3%).
    #[config(default = 0.5)]
    pub learning_rate: f64,
    /// Factor applied to the learning rate over each epoch (an exponential schedule stepped
    /// every mini-batch); 1 keeps it constant.
    #[config(default = 0.9)]
    pub lr_decay: f64,
    /// Momentum of SGD (ignored by Adam).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// L2 weight decay; 0 turns it off.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Largest L2 norm of each parameter's gradient in a step: a larger one is scaled down to
    /// it before the optimiser uses it (Pascanu et al. 2013); `None` leaves gradients as they
    /// are.
    #[config(default = "None")]
    pub clip_norm: Option<f64>,
    /// How each class's examples weigh in the loss.
    #[config(default = "ClassWeight::Equal")]
    pub class_weight: ClassWeight,
    /// Stop when the validation loss has not improved for this many epochs.
    #[config(default = 5)]
    pub patience: usize,
    /// Probability of dropping each hidden unit in a training step (Srivastava et al. 2014
    /// used 0.5); 0 turns dropout off.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Probability of dropping each input pixel in a training step (0.2 in the same paper).
    #[config(default = 0.0)]
    pub input_dropout: f64,
    /// Other schedules to fine-tune with beside `learning_rate` and `lr_decay`, each from the
    /// same start; the validation split keeps the one of lowest validation loss (and only it is
    /// refitted). Empty: the one schedule. The quick preset adds a constant rate of 0.1: its
    /// MNIST-tuned 0.5 x0.9 left Fashion-MNIST underfitting (`docs/results.md`).
    #[config(default = "Vec::new()")]
    pub alternatives: Vec<Schedule>,
    /// Once the validation split has chosen the epoch, fine-tune again from the same start on
    /// the training and validation images together for that many epochs, and keep the last:
    /// every labelled image serves, as in the published MNIST figures (trained on all 60,000).
    #[config(default = false)]
    pub refit: bool,
}

impl FinetuneConfig {
    /// Every schedule it fine-tunes with: its own (`learning_rate`, `lr_decay`), then the
    /// `alternatives`.
    pub fn schedules(&self) -> Vec<Schedule> {
        std::iter::once(Schedule::new(self.learning_rate).with_lr_decay(self.lr_decay))
            .chain(self.alternatives.iter().cloned())
            .collect()
    }

    /// These settings with `schedule` alone.
    pub fn with_schedule(&self, schedule: &Schedule) -> Self {
        Self {
            learning_rate: schedule.learning_rate,
            lr_decay: schedule.lr_decay,
            alternatives: Vec::new(),
            ..self.clone()
        }
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        Range::Positive.check("learning_rate", self.learning_rate)?;
        Range::Factor.check("lr_decay", self.lr_decay)?;
        Range::Fraction.check("momentum", self.momentum)?;
        if let Some(norm) = self.clip_norm {
            Range::Positive.check("clip_norm", norm)?;
        }
        Range::NonNegative.check("weight_decay", self.weight_decay)?;
        for (i, schedule) in self.alternatives.iter().enumerate() {
            let at = |field: &str| format!("alternatives.{i}.{field}");
            Range::Positive.check(&at("learning_rate"), schedule.learning_rate)?;
            Range::Factor.check(&at("lr_decay"), schedule.lr_decay)?;
        }
        at_least_one("patience", self.patience)?;
        Range::Fraction.check("dropout", self.dropout)?;
        Range::Fraction.check("input_dropout", self.input_dropout)
    }
}

/// Everything a `dbn` run needs besides paths: saved as the run's `config.json`. What the
/// networks are (`dbn`) stands apart from how they are trained (`pretrain`, `finetune`), and
/// the run has one seed (`seed`), from which every consumer derives its own ([`RunSeed`]).
#[derive(Config, Debug)]
pub struct RunConfig {
    /// The stack: layer sizes, unit kinds, initial scale.
    pub dbn: DbnConfig,
    /// How the stack is pretrained: each RBM's CD, optimiser, sparsity, loop and stopping.
    #[config(default = "PretrainConfig::new()")]
    pub pretrain: PretrainConfig,
    /// Supervised fine-tuning.
    pub finetune: FinetuneConfig,
    /// Up-down fine-tuning of the generative model after pretraining (Hinton, Osindero & Teh
    /// 2006; [`UpDownConfig`]); `None`, the presets' choice, skips it. The classifier is still
    /// fine-tuned from the pretrained stack.
    #[config(default = "None")]
    pub updown: Option<UpDownConfig>,
    /// Training examples held out for validation: a count, or a fraction of the file's examples
    /// (`0.1`). `None`: the last 10,000 training images of an IDX folder (as is customary for
    /// MNIST), a tenth of a table file's (shuffled) examples.
    #[config(default = "None")]
    pub validation: Option<SplitSize>,
    /// Classes of the data: the classifier's outputs and, with `dbn.labels` above 0, the top
    /// RBM's label units. Set from the data by the run (one more than its highest label).
    #[config(default = "N_CLASSES")]
    pub classes: usize,
    /// Use only the first N training images (after the validation split), for quick runs.
    #[config(default = "None")]
    pub train_limit: Option<usize>,
    /// Fine-tune on only N labelled training images (N/10 per class); pretraining still sees
    /// every training image.
    #[config(default = "None")]
    pub labels: Option<usize>,
    /// Pretrain on binarised images: each pixel 1 with probability grey/255, drawn once from
    /// `seed` (the data of the log-likelihood literature); fine-tuning sees grey levels.
    #[config(default = false)]
    pub binarize: bool,
    /// The run's one seed: of initialisation, shuffling and sampling (each derived from it by
    /// [`RunSeed`]); CPU runs with one seed are reproducible.
    #[config(default = 42)]
    pub seed: u64,
}

/// Named starting points for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Hinton's 784-500-500-2000 stack, 10 CD-1 epochs per layer (on MNIST; smaller data
    /// pretrain for as many updates), up to 20 fine-tuning epochs (early stopping on the
    /// validation loss) with two schedules (0.5 x0.9 per epoch, and a constant 0.1; the
    /// validation split keeps one), then refitted on all 60,000 labelled images for the epochs
    /// chosen: 1.68% test error on 2 CPU cores (seed 42, flex; 1.55% over five seeds,
    /// `docs/results.md`).
    Quick,
    /// Hinton's 784-500-500-2000-10 with 50 CD-1 epochs per layer, fine-tuned with light
    /// dropout (0.2 of the hidden units, 0.1 of the pixels) at rate 0.5 x0.94 per epoch for 30
    /// epochs, keeping the one of lowest validation loss, then refitted on all 60,000 labelled
    /// images for that many epochs (`docs/results.md`).
    Hinton,
}

impl Preset {
    /// The preset's settings.
    pub fn config(self) -> RunConfig {
        let (cd_epochs, finetune) = match self {
            Preset::Quick => (
                10,
                FinetuneConfig::new()
                    .with_epochs(20)
                    .with_refit(true)
                    .with_alternatives(vec![Schedule::new(0.1)]),
            ),
            Preset::Hinton => (
                50,
                // Patience 30: every epoch runs. The validation loss still falls late, as the
                // rate does, after bumps that a patience of 5 took for the end.
                FinetuneConfig::new()
                    .with_epochs(30)
                    .with_patience(30)
                    .with_lr_decay(0.94)
                    .with_dropout(0.2)
                    .with_input_dropout(0.1)
                    .with_refit(true),
            ),
        };
        let rbm = RbmTrainingConfig::new().with_epochs(cd_epochs);
        let dbn = DbnConfig::new(vec![784, 500, 500, 2000]);
        RunConfig::new(dbn, finetune).with_pretrain(PretrainConfig::new().with_rbm(rbm))
    }
}

/// An error in the settings, naming the flag, file or field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl RunConfig {
    /// Reads a JSON config file over `base`: a setting the file leaves out keeps `base`'s value,
    /// so a file may hold only the settings it changes (or predate a setting added since). The
    /// pretraining settings are read by [`PretrainConfig::over`]: each element of
    /// `pretrain.per_layer` (one RBM's settings) over `pretrain.rbm`, so an element may hold
    /// only what that RBM changes. A file of the layout before the model and training settings
    /// were split (`dbn.cd`, `dbn.layer_cd`) is converted first ([`upgrade_legacy_layout`]).
    ///
    /// # Errors
    /// A [`SettingsError`] naming the file, and the field for one that no setting has.
    pub fn from_file(path: &Path, base: &RunConfig) -> Result<Self, SettingsError> {
        let named = |what: &str, e: &dyn std::fmt::Display| {
            SettingsError(format!("{}: {what}: {e}", path.display()))
        };
        let overlay_error = |e: OverlayError| match e {
            OverlayError::Invalid { .. } => named("invalid", &e),
            OverlayError::UnknownSetting(field) => named("unknown setting", &field),
        };
        let text = std::fs::read_to_string(path).map_err(|e| named("cannot read", &e))?;
        let mut top: Value = serde_json::from_str(&text).map_err(|e| named("invalid", &e))?;
        upgrade_legacy_layout(&mut top);
        // The pretraining settings follow PretrainConfig's own rule (`per_layer` over `rbm`).
        let pretrain = top
            .as_object_mut()
            .and_then(|fields| fields.remove("pretrain"));
        // An `updown` object turns the stage on over its defaults, as `null` turns it off.
        let mut base = base.clone();
        if top.get("updown").is_some_and(Value::is_object) {
            base.updown.get_or_insert_with(UpDownConfig::new);
        }
        let base = &base;
        let mut config = config_over(&top.to_string(), base).map_err(overlay_error)?;
        if let Some(pretrain) = pretrain {
            config.pretrain = PretrainConfig::over(&pretrain.to_string(), &base.pretrain)
                .map_err(|e| overlay_error(e.within("pretrain")))?;
        }
        Ok(config)
    }

    /// The run's seed, from which every consumer derives its own.
    pub fn run_seed(&self) -> RunSeed {
        RunSeed(self.seed)
    }

    /// The classifier these settings fine-tune: the stack's layers, a softmax over the
    /// `classes`, the fine-tuning dropout.
    pub fn classifier_config(&self) -> DbnClassifierConfig {
        DbnClassifierConfig::new(self.dbn.layers.clone())
            .with_n_outputs(self.classes)
            .with_dropout(self.finetune.dropout)
            .with_input_dropout(self.finetune.input_dropout)
    }

    /// Checks every setting, each part by its own `validate`, naming the first bad one by its
    /// path from the top (`pretrain.rbm.optimizer.learning_rate`).
    ///
    /// # Errors
    /// A [`SettingsError`].
    pub fn validate(&self) -> Result<(), SettingsError> {
        fn named(at: &'static str) -> impl Fn(ModelError) -> SettingsError {
            move |e| SettingsError(e.within(at).to_string())
        }
        self.dbn.validate().map_err(named("dbn"))?;
        self.pretrain
            .validate(self.dbn.n_rbms())
            .map_err(named("pretrain"))?;
        self.finetune.validate().map_err(named("finetune"))?;
        if let Some(updown) = &self.updown {
            updown.validate().map_err(named("updown"))?;
            dbn_model::updown::check_stack(&self.dbn.layers)
                .map_err(|e| SettingsError(format!("updown (--updown-epochs): {e}")))?;
        }
        if self.finetune.refit && self.labels.is_some() {
            return Err(SettingsError(
                "--refit adds the validation images to the labelled ones, which --labels limits: \
                 use one or the other"
                    .into(),
            ));
        }
        if self.dbn.labels > 0 && self.labels.is_some() {
            return Err(SettingsError(
                "--labelled-top trains the top RBM on every training image's label, which \
                 --labels limits: use one or the other"
                    .into(),
            ));
        }
        if let Some(validation) = self.validation {
            validation
                .validate()
                .map_err(|e| SettingsError(format!("validation (--validation): {e}")))?;
        }
        if self.labels == Some(0) || self.train_limit == Some(0) {
            return Err(SettingsError(
                "--labels and --train-limit must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Converts, in place, a config written before the model's settings were split from the
/// training settings (commit 6572313 and earlier): `dbn.cd`, `dbn.layer_cd` and `dbn.sample_up`
/// become `pretrain.rbm`, `pretrain.per_layer` and `pretrain.sample_up`, each RBM's flat CD
/// settings regrouped as [`RbmTrainingConfig`] holds them ([`legacy_rbm`]), and the copies of
/// the seed are dropped (the run's `seed` is the one). A config of today's layout is left as it
/// is.
pub fn upgrade_legacy_layout(top: &mut Value) {
    let Some(dbn) = top.get_mut("dbn").and_then(Value::as_object_mut) else {
        return;
    };
    let mut pretrain = Map::new();
    if let Some(cd) = dbn.remove("cd") {
        pretrain.insert("rbm".into(), legacy_rbm(cd));
    }
    if let Some(layer_cd) = dbn.remove("layer_cd") {
        let per_layer = match layer_cd {
            Value::Array(layers) => Value::Array(layers.into_iter().map(legacy_rbm).collect()),
            other => other,
        };
        pretrain.insert("per_layer".into(), per_layer);
    }
    if let Some(sample_up) = dbn.remove("sample_up") {
        pretrain.insert("sample_up".into(), sample_up);
    }
    dbn.remove("seed");
    if !pretrain.is_empty()
        && let Some(fields) = top.as_object_mut()
    {
        fields.insert("pretrain".into(), Value::Object(pretrain));
    }
}

/// One RBM's CD settings of the old flat layout, regrouped: the optimiser's under `optimizer`,
/// the estimator's under `cd` (`persistent: true` and `chains` as `cd.persistent`), the
/// sparsity settings as `sparsity` when `sparsity_cost` is positive (`null` when it is 0),
/// `patience` and `min_delta` as `early_stopping`; `init_visible_bias_from_data` renamed
/// `visible_bias_from_data`, `seed` dropped. A setting the old layout did not have either is
/// kept where it was, to be reported as unknown.
fn legacy_rbm(old: Value) -> Value {
    let Value::Object(mut old) = old else {
        return old;
    };
    let mut group = |keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|&key| old.remove(key).map(|value| (key.to_string(), value)))
            .collect()
    };
    let optimizer = group(&[
        "learning_rate",
        "lr_decay",
        "initial_momentum",
        "final_momentum",
        "initial_momentum_epochs",
        "weight_decay",
    ]);
    let mut cd = group(&["k", "final_k", "sample_negative", "sample_data"]);
    let [
        persistent,
        chains,
        cost,
        target,
        decay,
        patience,
        min_delta,
        from_data,
    ] = [
        "persistent",
        "chains",
        "sparsity_cost",
        "sparsity_target",
        "sparsity_decay",
        "patience",
        "min_delta",
        "init_visible_bias_from_data",
    ]
    .map(|key| old.remove(key));
    old.remove("seed");
    let mut new = old;
    if let Some(persistent) = persistent {
        let chains = serde_json::json!({ "chains": chains.unwrap_or(Value::Null) });
        let on = persistent == Value::Bool(true);
        cd.insert("persistent".into(), if on { chains } else { Value::Null });
    }
    if let Some(cost) = cost {
        let on = cost.as_f64().is_some_and(|c| c != 0.0);
        let sparsity: Map<String, Value> =
            [("cost", Some(cost)), ("target", target), ("decay", decay)]
                .into_iter()
                .filter_map(|(key, value)| value.map(|v| (key.to_string(), v)))
                .collect();
        let sparsity = if on {
            Value::Object(sparsity)
        } else {
            Value::Null
        };
        new.insert("sparsity".into(), sparsity);
    }
    if let Some(patience) = patience {
        let stopping = match patience {
            Value::Null => Value::Null,
            patience => {
                let mut stopping = Map::new();
                stopping.insert("patience".into(), patience);
                if let Some(min_delta) = min_delta {
                    stopping.insert("min_delta".into(), min_delta);
                }
                Value::Object(stopping)
            }
        };
        new.insert("early_stopping".into(), stopping);
    }
    if let Some(from_data) = from_data {
        new.insert("visible_bias_from_data".into(), from_data);
    }
    for (key, part) in [("optimizer", optimizer), ("cd", cd)] {
        if !part.is_empty() {
            new.insert(key.into(), Value::Object(part));
        }
    }
    Value::Object(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_plainly_unless_plain_digits_run_long() {
        let shown: Vec<String> = [0.5, 0.1, 100000.0, 0.0001, 1e6, 1e36, 2.5e-7, -3e9, 0.0]
            .map(readable)
            .into();
        assert_eq!(
            shown,
            [
                "0.5", "0.1", "100000", "0.0001", "1e6", "1e36", "2.5e-7", "-3e9", "0"
            ]
        );
        assert_eq!(Schedule::new(1e36).describe(), "constant rate 1e36");
        assert_eq!(
            Schedule::new(0.5).with_lr_decay(0.9).file_name(),
            "lr0.5-x0.9"
        );
    }

    #[test]
    fn presets_are_valid_and_round_trip_through_json() {
        for preset in [Preset::Quick, Preset::Hinton] {
            let config = preset.config();
            config.validate().unwrap();
            let json = serde_json::to_string(&config).unwrap();
            let back: RunConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(back.dbn.layers, config.dbn.layers);
            assert_eq!(back.finetune.epochs, config.finetune.epochs);
        }
        assert_eq!(Preset::Hinton.config().pretrain.rbm.epochs, 50);
    }

    #[test]
    fn the_presets_fine_tune_with_two_schedules_and_one_alone_is_one() {
        let quick = Preset::Quick.config().finetune;
        let described: Vec<String> = quick.schedules().iter().map(Schedule::describe).collect();
        assert_eq!(described, ["rate 0.5 x0.9 per epoch", "constant rate 0.1"]);
        let alone = quick.with_schedule(&quick.schedules()[1]);
        assert_eq!((alone.learning_rate, alone.lr_decay), (0.1, 1.0));
        assert_eq!(alone.schedules().len(), 1);
        assert_eq!(quick.schedules()[0].file_name(), "lr0.5-x0.9");
        let hinton = Preset::Hinton.config().finetune.schedules();
        assert_eq!(
            hinton.len(),
            1,
            "the hinton preset's schedule alone, as measured"
        );
        assert_eq!(hinton[0].describe(), "rate 0.5 x0.94 per epoch");
        let bad = FinetuneConfig {
            alternatives: vec![Schedule::new(0.1).with_lr_decay(1.5)],
            ..quick
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("alternatives.0.lr_decay"), "{err}");
    }

    #[test]
    fn a_config_file_overrides_only_the_settings_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial.json");
        let base = Preset::Hinton.config();
        std::fs::write(
            &path,
            r#"{"finetune": {"dropout": 0.2}, "pretrain": {"rbm": {"cd": {"k": 3}}}}"#,
        )
        .unwrap();
        let config = RunConfig::from_file(&path, &base).unwrap();
        assert_eq!(config.finetune.dropout, 0.2);
        assert_eq!(config.pretrain.rbm.cd.k, 3);
        assert_eq!(config.pretrain.rbm.epochs, base.pretrain.rbm.epochs);
        assert_eq!(config.finetune.epochs, base.finetune.epochs);
        assert_eq!(config.dbn.layers, base.dbn.layers);

        // The pretraining settings follow their own rule (PretrainConfig::over's tests): an
        // RBM's settings take the rest from the shared ones; errors name the path from the top.
        std::fs::write(
            &path,
            r#"{"pretrain": {"rbm": {"cd": {"k": 3}}, "per_layer": [{"epochs": 5}, {}, {}]}}"#,
        )
        .unwrap();
        let config = RunConfig::from_file(&path, &base).unwrap();
        assert!(config.pretrain.per_layer.iter().all(|rbm| rbm.cd.k == 3));
        assert_eq!(config.finetune.epochs, base.finetune.epochs);
        config.validate().unwrap();
        std::fs::write(&path, r#"{"pretrain": {"per_layer": [{}, {"kk": 2}]}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(
            err.contains("unknown setting: pretrain.per_layer.1.kk"),
            "{err}"
        );
        std::fs::write(&path, r#"{"pretrain": {"per_layer": [{"epochs": "two"}]}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(
            err.contains("invalid: pretrain.per_layer.0: invalid type"),
            "{err}"
        );

        std::fs::write(&path, r#"{"finetune": {"learning_rat": 0.1}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(
            err.contains("unknown setting: finetune.learning_rat"),
            "{err}"
        );
        std::fs::write(&path, r#"{"finetune": {"epochs": "many"}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(err.contains("partial.json: invalid"), "{err}");
    }

    #[test]
    fn balanced_class_weights_make_every_class_weigh_alike() {
        // 1,000 examples of three classes and a fourth without any.
        let counts = [900, 90, 10];
        assert_eq!(ClassWeight::Equal.weights(&counts, 4), None);
        let weights = ClassWeight::Balanced.weights(&counts, 4).unwrap();
        let expected = [1000.0 / 2700.0, 1000.0 / 270.0, 1000.0 / 30.0, 1.0];
        for (w, e) in weights.iter().zip(expected) {
            assert!((f64::from(*w) - e).abs() < 1e-5 * e, "{weights:?}");
        }
        // Each class's examples then weigh alike in all, and all of them together n.
        let masses: Vec<f64> = counts
            .iter()
            .zip(&weights)
            .map(|(&c, &w)| c as f64 * f64::from(w))
            .collect();
        assert!(
            masses.iter().all(|m| (m - 1000.0 / 3.0).abs() < 1e-3),
            "{masses:?}"
        );
        // Read from a config file by name; absent, the default.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("balanced.json");
        std::fs::write(&path, r#"{"finetune": {"class_weight": "Balanced"}}"#).unwrap();
        let base = Preset::Quick.config();
        assert_eq!(base.finetune.class_weight, ClassWeight::Equal);
        let config = RunConfig::from_file(&path, &base).unwrap();
        assert_eq!(config.finetune.class_weight, ClassWeight::Balanced);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let mut config = Preset::Quick.config();
        config.finetune.learning_rate = -0.1;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("finetune.learning_rate = -0.1"), "{err}");
        let mut config = Preset::Quick.config();
        config.finetune.clip_norm = Some(0.0);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("finetune.clip_norm = 0"), "{err}");
        let mut config = Preset::Quick.config();
        config.dbn.layers = vec![784, 0];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("dbn.layers = [784, 0]"), "{err}");
        let mut config = Preset::Quick.config();
        config.pretrain.rbm.optimizer.weight_decay = -1.0;
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("pretrain.rbm.optimizer.weight_decay = -1: must be >= 0"),
            "{err}"
        );
        let mut config = Preset::Quick.config();
        config.finetune.refit = true;
        config.labels = Some(1000);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("--refit") && err.contains("--labels"), "{err}");
    }

    /// A run's config.json as written before the model and training settings were split
    /// (the layout of commit 6572313), every CD setting away from its default.
    const LEGACY: &str = r#"{
        "dbn": {
            "layers": [784, 200, 100], "visible": "Bernoulli", "init_std": 0.02, "seed": 7,
            "sample_up": true,
            "cd": {
                "learning_rate": 0.05, "lr_decay": 0.9, "k": 2, "final_k": 4,
                "persistent": true, "chains": 300, "sample_data": true,
                "initial_momentum": 0.4, "final_momentum": 0.8, "initial_momentum_epochs": 3,
                "weight_decay": 0.001, "sparsity_cost": 0.1, "sparsity_target": 0.2,
                "sparsity_decay": 0.9, "sample_negative": true,
                "init_visible_bias_from_data": false, "batch_size": 50, "epochs": 3,
                "seed": 7, "monitor_size": 500, "patience": 4, "min_delta": 0.01
            },
            "layer_cd": [{"epochs": 2, "persistent": false}, {"sparsity_cost": 0.0}]
        },
        "finetune": {"epochs": 5},
        "validation": 10000, "train_limit": 5000, "labels": null, "seed": 7
    }"#;

    #[test]
    fn a_config_of_the_layout_before_the_split_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, LEGACY).unwrap();
        let config = RunConfig::from_file(&path, &Preset::Quick.config()).unwrap();
        config.validate().unwrap();
        assert_eq!(config.dbn.layers, [784, 200, 100]);
        assert_eq!((config.dbn.init_std, config.seed), (0.02, 7));
        let rbm = &config.pretrain.rbm;
        let o = &rbm.optimizer;
        assert_eq!(
            (
                o.learning_rate,
                o.lr_decay,
                o.initial_momentum,
                o.final_momentum
            ),
            (0.05, 0.9, 0.4, 0.8)
        );
        assert_eq!((o.initial_momentum_epochs, o.weight_decay), (3, 0.001));
        assert_eq!((rbm.cd.k, rbm.cd.final_k), (2, Some(4)));
        assert_eq!(
            rbm.cd.persistent.as_ref().map(|p| p.chains),
            Some(Some(300))
        );
        assert!(rbm.cd.sample_data && rbm.cd.sample_negative);
        let sparsity = rbm.sparsity.as_ref().expect("cost 0.1 is on");
        assert_eq!(
            (sparsity.cost, sparsity.target, sparsity.decay),
            (0.1, 0.2, 0.9)
        );
        let stopping = rbm.early_stopping.as_ref().expect("patience 4");
        assert_eq!((stopping.patience, stopping.min_delta), (4, 0.01));
        assert!(!rbm.visible_bias_from_data);
        assert_eq!((rbm.batch_size, rbm.epochs, rbm.monitor_size), (50, 3, 500));
        assert!(config.pretrain.sample_up);
        // Each old per-RBM element was read over the shared settings, as it is now.
        let [first, second] = &config.pretrain.per_layer[..] else {
            panic!("{:?}", config.pretrain.per_layer)
        };
        assert_eq!((first.epochs, first.cd.k), (2, 2));
        assert!(first.cd.persistent.is_none() && first.sparsity.is_some());
        assert!(second.sparsity.is_none() && second.cd.persistent.is_some());
        assert_eq!(config.finetune.epochs, 5);
        // A misspelt setting of the old layout is still named.
        let misspelt = LEGACY.replace("\"min_delta\"", "\"min_delt\"");
        std::fs::write(&path, misspelt).unwrap();
        let err = RunConfig::from_file(&path, &Preset::Quick.config()).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown setting: pretrain.rbm.min_delt"),
            "{err}"
        );
    }
}
