//! How one RBM is trained, composed of small parts that each check their own settings: the CD
//! estimator ([`CdConfig`]), the optimiser ([`OptimizerConfig`]), the sparsity penalty
//! ([`SparsityConfig`], optional), the loop (epochs, mini-batches, monitoring, the visible
//! biases' start) and early stopping ([`EarlyStoppingConfig`], optional). What the RBM *is*
//! (sizes, unit kinds, initial scale) is its [`crate::RbmConfig`]; the seed is the run's
//! ([`crate::RunSeed`]), handed to the trainer.

use burn::prelude::*;
use burn::record::Record;

use crate::cd::{CdConfig, PersistentConfig, Rates};
use crate::check::{Range, at_least_one};
use crate::error::ModelError;
use crate::optimizer::OptimizerConfig;
use crate::overlay::{OverlayError, value_over};
use crate::sparsity::SparsityConfig;

/// Settings of CD training for one RBM, with Hinton's practical defaults.
#[derive(Config, Debug)]
pub struct RbmTrainingConfig {
    /// The estimator of the gradient: CD-k, its schedule, persistent chains.
    #[config(default = "CdConfig::new()")]
    pub cd: CdConfig,
    /// Learning rate and its decay, momentum schedule, weight decay.
    #[config(default = "OptimizerConfig::new()")]
    pub optimizer: OptimizerConfig,
    /// The sparsity penalty; `None` for none.
    #[config(default = "None")]
    pub sparsity: Option<SparsityConfig>,
    /// Most epochs to train.
    #[config(default = 10)]
    pub epochs: usize,
    /// Examples per mini-batch.
    #[config(default = 100)]
    pub batch_size: usize,
    /// Examples of the training (and validation) data used for the per-epoch reconstruction
    /// error and free-energy gap.
    #[config(default = 1000)]
    pub monitor_size: usize,
    /// Start the visible biases at log(p / (1 - p)) of the training data (Hinton's advice).
    #[config(default = true)]
    pub visible_bias_from_data: bool,
    /// Stop on a plateau of the reconstruction error; `None` trains all `epochs`.
    #[config(default = "None")]
    pub early_stopping: Option<EarlyStoppingConfig>,
}

/// Early stopping on a plateau of the reconstruction error.
#[derive(Config, Debug)]
pub struct EarlyStoppingConfig {
    /// Stop after this many epochs without the reconstruction error improving by `min_delta`.
    #[config(default = 5)]
    pub patience: usize,
    /// Smallest relative improvement of the reconstruction error that resets the patience.
    #[config(default = 0.001)]
    pub min_delta: f64,
}

impl EarlyStoppingConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        at_least_one("patience", self.patience)?;
        Range::NonNegative.check("min_delta", self.min_delta)
    }

    /// A plateau detector that has seen nothing yet.
    pub fn detector(&self) -> Plateau {
        Plateau::new(self.patience, self.min_delta)
    }
}

impl RbmTrainingConfig {
    /// Checks every setting, each part by its own `validate`.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field by its path (`optimizer.lr_decay`).
    pub fn validate(&self) -> Result<(), ModelError> {
        self.cd.validate().map_err(|e| e.within("cd"))?;
        self.optimizer
            .validate()
            .map_err(|e| e.within("optimizer"))?;
        if let Some(sparsity) = &self.sparsity {
            sparsity.validate().map_err(|e| e.within("sparsity"))?;
        }
        if let Some(stopping) = &self.early_stopping {
            stopping
                .validate()
                .map_err(|e| e.within("early_stopping"))?;
        }
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("monitor_size", self.monitor_size)
    }

    /// The step sizes and Gibbs steps of epoch `epoch` (counted from 1).
    pub fn rates(&self, epoch: usize) -> Rates {
        Rates {
            learning_rate: self.optimizer.learning_rate_at(epoch),
            momentum: self.optimizer.momentum(epoch),
            k: self.cd.gibbs_steps(epoch, self.epochs),
        }
    }

    /// The settings in the JSON value `top` laid over `base` ([`crate::config_over`]'s rule):
    /// an optional part that `base` lacks and `top` gives as an object is laid over that part's
    /// defaults, so `{"sparsity": {"cost": 0.1}}` turns the penalty on with the other sparsity
    /// settings at their defaults; `null` turns a part off.
    ///
    /// # Errors
    /// As [`crate::config_over`].
    pub fn over(top: serde_json::Value, base: &Self) -> Result<Self, OverlayError> {
        let gives = |pointer: &str| top.pointer(pointer).is_some_and(|v| v.is_object());
        let mut base = base.clone();
        if gives("/sparsity") {
            base.sparsity.get_or_insert_with(SparsityConfig::new);
        }
        if gives("/early_stopping") {
            base.early_stopping
                .get_or_insert_with(EarlyStoppingConfig::new);
        }
        if gives("/cd/persistent") {
            base.cd.persistent.get_or_insert_with(PersistentConfig::new);
        }
        value_over(top, &base)
    }
}

/// Detects a plateau: `patience` consecutive values without a relative improvement of
/// `min_delta` over the best so far.
#[derive(Clone, Debug, PartialEq, Record)]
pub struct Plateau {
    patience: usize,
    min_delta: f64,
    best: Option<f64>,
    since_best: usize,
}

impl Plateau {
    /// A detector that has seen nothing yet.
    pub fn new(patience: usize, min_delta: f64) -> Self {
        Self {
            patience,
            min_delta,
            best: None,
            since_best: 0,
        }
    }

    /// Records `value`; true once it has stalled for `patience` values.
    pub fn stalled(&mut self, value: f64) -> bool {
        match self.best {
            Some(best) if value >= best * (1.0 - self.min_delta) => self.since_best += 1,
            _ => {
                self.best = Some(value);
                self.since_best = 0;
            }
        }
        self.since_best >= self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_names_fields;

    #[test]
    fn a_plateau_is_patience_values_without_enough_improvement() {
        let mut p = Plateau::new(2, 0.01);
        assert!(!p.stalled(10.0));
        assert!(!p.stalled(9.0));
        assert!(!p.stalled(8.95)); // under 1% better: one stall
        assert!(!p.stalled(8.0)); // improvement resets
        assert!(!p.stalled(8.0));
        assert!(p.stalled(7.99));
    }

    #[test]
    fn invalid_settings_are_named_by_their_path() {
        let optimizer = |o: OptimizerConfig| RbmTrainingConfig::new().with_optimizer(o);
        let cases = [
            (RbmTrainingConfig::new().with_epochs(0), "epochs"),
            (RbmTrainingConfig::new().with_batch_size(0), "batch_size"),
            (
                RbmTrainingConfig::new().with_monitor_size(0),
                "monitor_size",
            ),
            (
                optimizer(OptimizerConfig::new().with_lr_decay(1.5)),
                "optimizer.lr_decay",
            ),
            (
                RbmTrainingConfig::new().with_cd(CdConfig::new().with_k(0)),
                "cd.k",
            ),
            (
                RbmTrainingConfig::new()
                    .with_sparsity(Some(SparsityConfig::new().with_target(1.5))),
                "sparsity.target",
            ),
            (
                RbmTrainingConfig::new()
                    .with_early_stopping(Some(EarlyStoppingConfig::new().with_patience(0))),
                "early_stopping.patience",
            ),
        ];
        assert_names_fields(cases, |config| config.validate());
        assert!(RbmTrainingConfig::new().validate().is_ok());
    }

    #[test]
    fn an_optional_part_given_in_part_takes_the_rest_from_its_defaults() {
        let base = RbmTrainingConfig::new();
        let read = |text: &str| RbmTrainingConfig::over(serde_json::from_str(text).unwrap(), &base);
        let on = read(r#"{"sparsity": {"cost": 0.1}, "cd": {"persistent": {}}}"#).unwrap();
        let sparsity = on.sparsity.clone().expect("turned on");
        assert_eq!((sparsity.cost, sparsity.target), (0.1, 0.05));
        assert_eq!(on.cd.persistent.as_ref().map(|p| p.chains), Some(None));
        assert_eq!(on.cd.k, 1, "the rest of cd is kept");
        let stopping = read(r#"{"early_stopping": {"patience": 2}}"#).unwrap();
        let stopping = stopping.early_stopping.expect("turned on");
        assert_eq!((stopping.patience, stopping.min_delta), (2, 0.001));
        // Over a base that has the part, the file changes only what it names; null removes it.
        let off = RbmTrainingConfig::over(serde_json::json!({"sparsity": null}), &on).unwrap();
        assert!(off.sparsity.is_none() && off.cd.persistent.is_some());
        let target = serde_json::json!({"sparsity": {"target": 0.2}});
        let kept = RbmTrainingConfig::over(target, &on).unwrap();
        assert_eq!(kept.sparsity.map(|s| (s.cost, s.target)), Some((0.1, 0.2)));
        let err = read(r#"{"sparsity": {"costs": 0.1}}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting sparsity.costs");
    }
}
