//! A run's settings: presets, a JSON config file, and command-line overrides, in that order.

use std::path::Path;

use burn::config::Config;
use dbn_data::DEFAULT_VALIDATION;
use dbn_model::{
    CdConfig, DbnClassifierConfig, DbnConfig, OverlayError, config_over, dbn_config_over,
};
use serde::{Deserialize, Serialize};

/// The optimiser of supervised fine-tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum OptimizerKind {
    /// Stochastic gradient descent with momentum (`momentum`).
    Sgd,
    /// Adam.
    Adam,
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
    /// Once the validation split has chosen the epoch, fine-tune again from the same start on
    /// the training and validation images together for that many epochs, and keep the last:
    /// every labelled image serves, as in the published MNIST figures (trained on all 60,000).
    #[config(default = false)]
    pub refit: bool,
}

/// Everything a `dbn` run needs besides paths: saved as the run's `config.json`.
#[derive(Config, Debug)]
pub struct RunConfig {
    /// The stack and its pretraining.
    pub dbn: DbnConfig,
    /// Supervised fine-tuning.
    pub finetune: FinetuneConfig,
    /// Training images held out for validation (the last ones of the training file).
    #[config(default = "DEFAULT_VALIDATION")]
    pub validation: usize,
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
    /// Seed of initialisation, shuffling and sampling: CPU runs with one seed are reproducible.
    #[config(default = 42)]
    pub seed: u64,
}

/// Named starting points for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Hinton's 784-500-500-2000 stack, 10 CD-1 epochs per layer, up to 20 fine-tuning epochs
    /// (early stopping on the validation loss), then refitted on all 60,000 labelled images for
    /// the epochs chosen: 1.50% test error in about 2.5 minutes on 2 CPU cores (seed 42, flex;
    /// 1.56% over five seeds, `docs/results.md`).
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
            Preset::Quick => (10, FinetuneConfig::new().with_epochs(20).with_refit(true)),
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
        let cd = CdConfig::new().with_epochs(cd_epochs);
        let dbn = DbnConfig::new(vec![784, 500, 500, 2000]).with_cd(cd);
        RunConfig::new(dbn, finetune)
    }
}

/// An error in the settings, naming the flag, file or field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl RunConfig {
    /// Reads a JSON config file over `base`: a setting the file leaves out keeps `base`'s value,
    /// so a file may hold only the settings it changes (or predate a setting added since). The
    /// stack's settings are read by [`dbn_config_over`]: each element of `dbn.layer_cd` (one
    /// RBM's CD settings) over `dbn.cd`, so an element may hold only what that RBM changes.
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
        let mut top: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| named("invalid", &e))?;
        // The stack's settings follow DbnConfig's own rule (`dbn.layer_cd` over `dbn.cd`).
        let dbn = top.as_object_mut().and_then(|fields| fields.remove("dbn"));
        let mut config = config_over(&top.to_string(), base).map_err(overlay_error)?;
        if let Some(dbn) = dbn {
            config.dbn = dbn_config_over(&dbn.to_string(), &base.dbn)
                .map_err(|e| overlay_error(e.within("dbn")))?;
        }
        Ok(config)
    }

    /// The classifier these settings fine-tune: the stack's layers, a softmax over the ten
    /// classes, the fine-tuning dropout.
    pub fn classifier_config(&self) -> DbnClassifierConfig {
        DbnClassifierConfig::new(self.dbn.layers.clone())
            .with_dropout(self.finetune.dropout)
            .with_input_dropout(self.finetune.input_dropout)
    }

    /// Checks every setting, naming the field of the first bad one.
    ///
    /// # Errors
    /// A [`SettingsError`].
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.dbn
            .validate()
            .map_err(|e| SettingsError(format!("pretraining: {e}")))?;
        // The classifier's own checks (its dropout rates) serve the settings too.
        self.classifier_config()
            .validate()
            .map_err(|e| SettingsError(format!("fine-tuning: {e}")))?;
        let f = &self.finetune;
        let checks = [
            (
                "finetune.epochs",
                f.epochs as f64,
                f.epochs >= 1,
                "at least 1",
            ),
            (
                "finetune.batch_size",
                f.batch_size as f64,
                f.batch_size >= 1,
                "at least 1",
            ),
            (
                "finetune.learning_rate",
                f.learning_rate,
                f.learning_rate > 0.0,
                "positive",
            ),
            (
                "finetune.lr_decay",
                f.lr_decay,
                f.lr_decay > 0.0 && f.lr_decay <= 1.0,
                "in (0, 1]",
            ),
            (
                "finetune.momentum",
                f.momentum,
                (0.0..1.0).contains(&f.momentum),
                "in [0, 1)",
            ),
            (
                "finetune.weight_decay",
                f.weight_decay,
                f.weight_decay >= 0.0,
                ">= 0",
            ),
            (
                "finetune.patience",
                f.patience as f64,
                f.patience >= 1,
                "at least 1",
            ),
        ];
        for (field, value, ok, expected) in checks {
            if !(ok && value.is_finite()) {
                return Err(SettingsError(format!(
                    "invalid setting {field} = {value}: must be {expected}"
                )));
            }
        }
        if f.refit && self.labels.is_some() {
            return Err(SettingsError(
                "--refit adds the validation images to the labelled ones, which --labels limits: \
                 use one or the other"
                    .into(),
            ));
        }
        if self.labels == Some(0) || self.train_limit == Some(0) {
            return Err(SettingsError(
                "--labels and --train-limit must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(Preset::Hinton.config().dbn.cd.epochs, 50);
    }

    #[test]
    fn a_config_file_overrides_only_the_settings_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial.json");
        let base = Preset::Hinton.config();
        std::fs::write(
            &path,
            r#"{"finetune": {"dropout": 0.2}, "dbn": {"cd": {"k": 3}}}"#,
        )
        .unwrap();
        let config = RunConfig::from_file(&path, &base).unwrap();
        assert_eq!(config.finetune.dropout, 0.2);
        assert_eq!(config.dbn.cd.k, 3);
        assert_eq!(config.dbn.cd.epochs, base.dbn.cd.epochs);
        assert_eq!(config.finetune.epochs, base.finetune.epochs);
        assert_eq!(config.dbn.layers, base.dbn.layers);

        // The stack's settings follow its own rule (dbn_config_over's tests): an RBM's CD
        // settings take the rest from the shared ones; errors name the path from the top.
        std::fs::write(
            &path,
            r#"{"dbn": {"cd": {"k": 3}, "layer_cd": [{"epochs": 5}, {}, {}]}}"#,
        )
        .unwrap();
        let config = RunConfig::from_file(&path, &base).unwrap();
        assert!(config.dbn.layer_cd.iter().all(|cd| cd.k == 3));
        assert_eq!(config.finetune.epochs, base.finetune.epochs);
        config.validate().unwrap();
        std::fs::write(&path, r#"{"dbn": {"layer_cd": [{}, {"kk": 2}]}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(err.contains("unknown setting: dbn.layer_cd.1.kk"), "{err}");
        std::fs::write(&path, r#"{"dbn": {"layer_cd": [{"k": "two"}]}}"#).unwrap();
        let err = RunConfig::from_file(&path, &base).unwrap_err().to_string();
        assert!(
            err.contains("invalid: dbn.layer_cd.0: invalid type"),
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
    fn bad_settings_name_their_field() {
        let mut config = Preset::Quick.config();
        config.finetune.learning_rate = -0.1;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("finetune.learning_rate = -0.1"), "{err}");
        let mut config = Preset::Quick.config();
        config.dbn.layers = vec![784, 0];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("layers = [784, 0]"), "{err}");
        let mut config = Preset::Quick.config();
        config.finetune.refit = true;
        config.labels = Some(1000);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("--refit") && err.contains("--labels"), "{err}");
    }
}
