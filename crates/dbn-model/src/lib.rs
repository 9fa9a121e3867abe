//! Restricted Boltzmann machines and deep belief networks as Burn modules, trained by
//! contrastive divergence written as explicit tensor updates (no autodiff).
//!
//! - [`rbm`]: [`Rbm`] / [`RbmConfig`], one function per operation: `P(h|v)`, sampling, `E[v|h]`,
//!   free energy, Gibbs steps, reconstruction; Bernoulli or unit-variance Gaussian visible units.
//! - [`cd`]: CD-k and persistent CD as explicit updates ([`CdConfig`] with Hinton's practical
//!   defaults: momentum 0.5 then 0.9, L2 weight decay on weights, sparsity target and cost).
//! - [`train`]: [`RbmTrainer`], epochs of shuffled mini-batches with per-epoch reconstruction
//!   error and free-energy gap ([`EpochStats`]), early stopping on a plateau, a
//!   [`ModelError::Diverged`] naming layer, epoch and batch on a non-finite update, and
//!   seed-reproducible runs.
//! - [`exact`]: exact `log Z`, log-likelihood and gradient of RBMs with up to 24 hidden units.
//! - [`dbn`]: [`Dbn`] / [`DbnConfig`], the stack: up and down passes, generation, encoding.
//! - [`pretrain`]: [`DbnPretrainer`], greedy layer-wise pretraining with per-epoch checkpoints
//!   and bit-exact resume.
//! - [`classifier`]: [`DbnEncoder`] and [`DbnClassifier`], the stack as a feed-forward net for
//!   fine-tuning on an autodiff backend, and the same architecture from random initialisation.
//! - [`io`]: saving and loading every module as a Burn record plus its config as JSON.
//! - [`ais`]: annealed importance sampling of `log Z` for RBMs of any size, and the average
//!   log-likelihood of data from it.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::prelude::*;
//! use dbn_model::{CdConfig, RbmConfig, RbmTrainer};
//!
//! let device = Default::default();
//! // Two 6-pixel patterns, 50 copies each.
//! let data = Tensor::<NdArray, 2>::from_floats(
//!     [[1., 1., 1., 0., 0., 0.], [0., 0., 0., 1., 1., 1.]],
//!     &device,
//! )
//! .repeat_dim(0, 50);
//! let rbm = RbmConfig::new(6, 3).init::<NdArray>(&device);
//! let trainer = RbmTrainer::new(CdConfig::new().with_epochs(20).with_batch_size(10))?;
//! let fitted = trainer.fit(rbm, data.clone(), None, |stats| {
//!     println!("epoch {}: reconstruction error {:.3}", stats.epoch, stats.reconstruction_error);
//! })?;
//! let features = fitted.rbm.hidden_probs(data); // [100, 3]
//! assert_eq!(features.dims(), [100, 3]);
//! # Ok::<(), dbn_model::ModelError>(())
//! ```

pub mod ais;
pub mod cd;
pub mod classifier;
pub mod dbn;
pub mod error;
pub mod exact;
pub mod io;
pub mod kernels;
pub mod math;
pub mod pretrain;
pub mod rbm;
pub mod train;

pub use ais::{AisConfig, AisEstimate};
pub use cd::{CdConfig, CdState, Rates, RbmDelta};
pub use classifier::{DbnClassifier, DbnClassifierConfig, DbnEncoder};
pub use dbn::{Dbn, DbnConfig, Generated};
pub use error::{ModelError, Result};
pub use io::{
    AtomicMpkRecorder, OverlayError, Persist, config_over, dbn_config_over, load_module,
    save_module, write_atomically,
};
pub use pretrain::{DbnPretrainer, PretrainedDbn};
pub use rbm::{Rbm, RbmConfig, VisibleUnits};
pub use train::{EpochStats, FittedRbm, Plateau, RbmRun, RbmTrainer, RunProgress};
