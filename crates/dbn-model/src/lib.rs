//! Restricted Boltzmann machines and deep belief networks as Burn modules, trained by
//! contrastive divergence written as explicit tensor updates (no autodiff).
//!
//! - [`rbm`]: [`Rbm`] / [`RbmConfig`], one function per operation: `P(h|v)`, sampling, `E[v|h]`,
//!   free energy, Gibbs steps, reconstruction; Bernoulli or unit-variance Gaussian visible units.
//! - [`cd`]: CD-k and persistent CD as explicit updates: the estimator's settings
//!   ([`CdConfig`]) and one mini-batch step ([`CdState::step`]).
//! - [`optimizer`], [`sparsity`]: the update's momentum, learning-rate schedule and weight decay
//!   ([`OptimizerConfig`]), and the optional sparsity penalty ([`SparsityConfig`]).
//! - [`training`]: [`RbmTrainingConfig`], how one RBM is trained, composed of those parts, the
//!   loop's settings and optional early stopping ([`EarlyStoppingConfig`]).
//! - [`feed`]: [`Feed`], the data the trainers read: one tensor in memory, or rows streamed
//!   from a Burn dataset through a Burn batcher ([`Feed::stream`]).
//! - [`trainer`]: [`RbmTrainer`], epochs of shuffled mini-batches with per-epoch reconstruction
//!   error and free-energy gap ([`EpochStats`]), a [`ModelError::Diverged`] naming layer, epoch
//!   and batch on a non-finite update.
//! - [`seed`]: [`RunSeed`], a run's one seed and the seed each consumer derives from it.
//! - [`exact`]: exact `log Z`, log-likelihood and gradient of RBMs with up to 24 hidden units.
//! - [`dbn`]: [`Dbn`] / [`DbnConfig`], the stack: up and down passes, generation, encoding.
//! - [`generative`]: [`Generative`], what a generative stack does with data (encode it at any
//!   layer, recognise it, generate from it, classify it by the top RBM's label units), for
//!   [`Dbn`] and [`UpDownDbn`].
//! - [`updown`]: [`UpDownDbn`] and [`UpDownTrainer`], up-down (contrastive wake-sleep)
//!   fine-tuning of the generative model with untied recognition weights, checkpointed.
//! - [`pretrain`]: [`DbnPretrainer`] and its [`PretrainConfig`], greedy layer-wise pretraining
//!   with per-epoch checkpoints and bit-exact resume.
//! - [`classifier`]: [`DbnEncoder`] and [`DbnClassifier`], the stack as a feed-forward net for
//!   fine-tuning on an autodiff backend, and the same architecture from random initialisation.
//! - [`persist`]: saving and loading every module as a Burn record plus its config as JSON,
//!   each file written atomically; [`overlay`]: reading a JSON config over a base one.
//! - [`check`]: the range checks every setting and flag share; [`numerics`]: stable softplus,
//!   log-sum-exp, finiteness checks; [`denormals`]: [`with_denormals_flushed`], work on the CPU
//!   with denormal floats flushed to zero (fine-tuning two to three times faster on some CPUs).
//! - [`kernels`]: fused kernels for Burn's `Flex` backend (CPU) and CubeCL kernels for `wgpu`
//!   and `cuda`, behind generic functions, with Burn's operations as the path of every other
//!   backend.
//! - `conformance` (with the `conformance` feature): the checks every backend must pass (the
//!   tutorial's worked examples, CD and AIS against exact oracles, save/load), generic over it.
//! - [`ais`]: annealed importance sampling of `log Z` for RBMs of any size, and the average
//!   log-likelihood of data from it.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::prelude::*;
//! use dbn_model::{RbmConfig, RbmTrainer, RbmTrainingConfig, RunSeed};
//!
//! let device = Default::default();
//! // Two 6-pixel patterns, 50 copies each.
//! let data = Tensor::<NdArray, 2>::from_floats(
//!     [[1., 1., 1., 0., 0., 0.], [0., 0., 0., 1., 1., 1.]],
//!     &device,
//! )
//! .repeat_dim(0, 50);
//! let rbm = RbmConfig::new(6, 3).init::<NdArray>(&device);
//! let config = RbmTrainingConfig::new().with_epochs(20).with_batch_size(10);
//! let trainer = RbmTrainer::new(config, RunSeed(42))?;
//! let fitted = trainer.fit(rbm, data.clone(), None, |stats| {
//!     println!("epoch {}: reconstruction error {:.3}", stats.epoch, stats.reconstruction_error);
//! })?;
//! let features = fitted.rbm.hidden_probs(data); // [100, 3]
//! assert_eq!(features.dims(), [100, 3]);
//! # Ok::<(), dbn_model::ModelError>(())
//! ```

#![deny(unsafe_code)]

pub mod ais;
pub mod bound;
pub mod cd;
pub mod check;
pub mod classifier;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod dbn;
pub mod denormals;
pub mod error;
pub mod exact;
pub mod feed;
pub mod generative;
pub mod kernels;
pub mod numerics;
pub mod optimizer;
pub mod overlay;
pub mod persist;
pub mod pretrain;
pub mod rbm;
pub mod seed;
pub mod sparsity;
#[cfg(test)]
pub(crate) mod test_support;
pub mod trainer;
pub mod training;
pub mod updown;

pub use ais::{AisConfig, AisEstimate};
pub use cd::{CdConfig, CdState, PersistentConfig, Rates, RbmDelta};
pub use check::Range;
pub use classifier::{DbnClassifier, DbnClassifierConfig, DbnEncoder};
pub use dbn::{Dbn, DbnConfig, Generated};
pub use denormals::with_denormals_flushed;
pub use error::{ModelError, Result};
pub use feed::{Feed, RowSource};
pub use generative::Generative;
pub use optimizer::OptimizerConfig;
pub use overlay::{OverlayError, config_over};
pub use persist::{
    AtomicMpkRecorder, Persist, load_module, read_checkpoint, save_module, write_atomically,
    write_checkpoint,
};
pub use pretrain::{DbnPretrainer, PretrainConfig, PretrainedDbn};
pub use rbm::{Rbm, RbmConfig, VisibleUnits, one_hot_rows};
pub use seed::RunSeed;
pub use sparsity::SparsityConfig;
pub use trainer::{EpochStats, FittedRbm, RbmRun, RbmTrainer, RunProgress};
pub use training::{EarlyStoppingConfig, Plateau, RbmTrainingConfig};
pub use updown::{UpDownConfig, UpDownDbn, UpDownEpoch, UpDownRun, UpDownState, UpDownTrainer};
