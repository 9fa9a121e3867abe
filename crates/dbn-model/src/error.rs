//! Errors of model construction and training: each names the setting, shape or place at fault.

/// What can go wrong building or training a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A setting outside its valid range.
    #[error("invalid setting {field} = {value}: {reason}")]
    InvalidConfig {
        /// The setting's name, as in the config: a dotted path inside nested settings
        /// (`optimizer.learning_rate`).
        field: String,
        /// The value given.
        value: String,
        /// What a valid value is.
        reason: &'static str,
    },
    /// A tensor whose shape does not fit the model.
    #[error("{what}: expected shape {expected:?}, got {actual:?}")]
    Shape {
        /// Which tensor.
        what: &'static str,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// Input data holding NaN or infinite values.
    #[error("{what} contains NaN or infinite values")]
    NonFiniteData {
        /// Which data.
        what: &'static str,
    },
    /// Training produced a NaN or infinite weight, bias or statistic.
    #[error(
        "layer {layer} diverged at epoch {epoch}, batch {batch}: a weight, bias or statistic \
         became NaN or infinite; lower the learning rate (now {learning_rate})"
    )]
    Diverged {
        /// The RBM's layer in its stack, 1 for the bottom one.
        layer: usize,
        /// The epoch, counted from 1.
        epoch: usize,
        /// The mini-batch within the epoch, counted from 1.
        batch: usize,
        /// The learning rate in use.
        learning_rate: f64,
    },
    /// Up-down fine-tuning produced a NaN or infinite weight or bias.
    #[error(
        "up-down fine-tuning diverged at epoch {epoch}, batch {batch}: a weight or bias became \
         NaN or infinite; lower the learning rate (now {learning_rate})"
    )]
    UpDownDiverged {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The mini-batch within the epoch, counted from 1.
        batch: usize,
        /// The learning rate in use.
        learning_rate: f64,
    },
    /// A checkpoint or saved model that cannot be written or read.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Training stopped on request (the progress callback said so) after saving its checkpoint.
    #[error(
        "pretraining interrupted after layer {layer}, epoch {epoch}; resume from the checkpoint"
    )]
    Interrupted {
        /// The layer being trained.
        layer: usize,
        /// The last epoch completed.
        epoch: usize,
    },
    /// An exact computation asked of a model too large to enumerate.
    #[error("exact {what} enumerates 2^{n_units} states; at most 2^{limit} are supported")]
    TooLargeToEnumerate {
        /// Which computation.
        what: &'static str,
        /// Units on the enumerated side.
        n_units: usize,
        /// The largest supported.
        limit: usize,
    },
}

impl ModelError {
    /// An [`ModelError::InvalidConfig`] of setting `field` holding `value`.
    pub fn invalid(field: impl Into<String>, value: impl ToString, reason: &'static str) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            value: value.to_string(),
            reason,
        }
    }

    /// The same error raised inside the settings at dotted path `at`: an invalid setting's
    /// name gets `at.` in front, so that the error names it from the top; others are unchanged.
    pub fn within(self, at: &str) -> Self {
        match self {
            Self::InvalidConfig {
                field,
                value,
                reason,
            } => Self::InvalidConfig {
                field: format!("{at}.{field}"),
                value,
                reason,
            },
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
