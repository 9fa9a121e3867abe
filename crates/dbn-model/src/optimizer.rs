//! The optimiser of CD training: gradient ascent with a learning rate that decays per epoch, a
//! momentum schedule, and L2 weight decay on the weights (Hinton's guide, sections 9 and 10).
//!
//! ```text
//! velocity = momentum · velocity + step - lr · weight_decay · W   (decay on weights only)
//! θ       += velocity                                             (one fused pass on Flex)
//! ```

use burn::module::Param;
use burn::prelude::*;

use crate::cd::RbmDelta;
use crate::check::Range;
use crate::error::ModelError;
use crate::kernels::{MomentumStep, momentum_update};
use crate::rbm::Rbm;

/// The optimiser's settings, with Hinton's practical defaults.
#[derive(Config, Debug)]
pub struct OptimizerConfig {
    /// Step size on the log-likelihood gradient (0.1 suits Bernoulli units; use about 0.001 for
    /// Gaussian visible units).
    #[config(default = 0.1)]
    pub learning_rate: f64,
    /// Factor applied to the learning rate after each epoch: epoch `e` (from 1) trains at
    /// `learning_rate · lr_decay^(e-1)`; 1 keeps it constant. Persistent CD needs a rate that
    /// shrinks for its chains to settle (Tieleman 2008 lets it fall to 0).
    #[config(default = 1.0)]
    pub lr_decay: f64,
    /// Momentum for the first `initial_momentum_epochs` epochs.
    #[config(default = 0.5)]
    pub initial_momentum: f64,
    /// Momentum afterwards.
    #[config(default = 0.9)]
    pub final_momentum: f64,
    /// Epochs trained with `initial_momentum`.
    #[config(default = 5)]
    pub initial_momentum_epochs: usize,
    /// L2 weight-decay coefficient, applied to the weights only (not the biases).
    #[config(default = 0.0002)]
    pub weight_decay: f64,
}

impl OptimizerConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        Range::Positive.check("learning_rate", self.learning_rate)?;
        Range::Factor.check("lr_decay", self.lr_decay)?;
        Range::Fraction.check("initial_momentum", self.initial_momentum)?;
        Range::Fraction.check("final_momentum", self.final_momentum)?;
        Range::NonNegative.check("weight_decay", self.weight_decay)
    }

    /// The same momentum in every epoch.
    pub fn with_momentum(self, momentum: f64) -> Self {
        self.with_initial_momentum(momentum)
            .with_final_momentum(momentum)
    }

    /// Momentum in epoch `epoch` (counted from 1).
    pub fn momentum(&self, epoch: usize) -> f64 {
        if epoch <= self.initial_momentum_epochs {
            self.initial_momentum
        } else {
            self.final_momentum
        }
    }

    /// Learning rate in epoch `epoch` (counted from 1): `learning_rate · lr_decay^(epoch-1)`.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let exponent = i32::try_from(epoch.saturating_sub(1)).unwrap_or(i32::MAX);
        self.learning_rate * self.lr_decay.powi(exponent)
    }
}

impl<B: Backend> Rbm<B> {
    /// The momentum step with L2 weight decay on the weights:
    /// `velocity ← momentum · velocity + step − decay · W` (biases without the decay term),
    /// then `θ ← θ + velocity`. `step` is the scaled gradient estimate and `decay` the learning
    /// rate times the weight-decay coefficient. Returns the moved RBM and the new velocity; on
    /// the `Flex` backend each parameter is updated in one fused pass ([`crate::kernels`]).
    pub fn momentum_step(
        self,
        velocity: RbmDelta<B>,
        step: RbmDelta<B>,
        momentum: f64,
        decay: f64,
    ) -> (Self, RbmDelta<B>) {
        /// Moves one parameter, keeping its id; returns its new velocity through `out`.
        fn update<B: Backend, const D: usize>(
            param: Param<Tensor<B, D>>,
            velocity: Tensor<B, D>,
            step: Tensor<B, D>,
            (momentum, decay): (f64, f64),
            out: &mut Option<Tensor<B, D>>,
        ) -> Param<Tensor<B, D>> {
            param.map(|p| {
                let (p, v) = momentum_update(p, velocity, step, MomentumStep::cd(momentum, decay));
                *out = Some(v);
                p
            })
        }
        let (mut w, mut a, mut b) = (None, None, None);
        let moved = Self {
            weights: update(
                self.weights,
                velocity.weights,
                step.weights,
                (momentum, decay),
                &mut w,
            ),
            visible_bias: update(
                self.visible_bias,
                velocity.visible_bias,
                step.visible_bias,
                (momentum, 0.0),
                &mut a,
            ),
            hidden_bias: update(
                self.hidden_bias,
                velocity.hidden_bias,
                step.hidden_bias,
                (momentum, 0.0),
                &mut b,
            ),
            visible: self.visible,
            labels: self.labels,
        };
        let velocity = RbmDelta {
            weights: w.expect("map runs its function"),
            visible_bias: a.expect("map runs its function"),
            hidden_bias: b.expect("map runs its function"),
        };
        (moved, velocity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_names_fields;

    #[test]
    fn the_schedules_follow_the_epoch() {
        let config = OptimizerConfig::new().with_lr_decay(0.5);
        assert_eq!(config.learning_rate_at(1), 0.1);
        assert_eq!(config.learning_rate_at(3), 0.025);
        assert_eq!((config.momentum(5), config.momentum(6)), (0.5, 0.9));
        let flat = config.with_momentum(0.3);
        assert_eq!((flat.momentum(1), flat.momentum(100)), (0.3, 0.3));
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (
                OptimizerConfig::new().with_learning_rate(0.0),
                "learning_rate",
            ),
            (
                OptimizerConfig::new().with_learning_rate(f64::NAN),
                "learning_rate",
            ),
            (
                OptimizerConfig::new().with_final_momentum(1.0),
                "final_momentum",
            ),
            (OptimizerConfig::new().with_lr_decay(0.0), "lr_decay"),
            (OptimizerConfig::new().with_lr_decay(1.5), "lr_decay"),
            (
                OptimizerConfig::new().with_weight_decay(-1e-3),
                "weight_decay",
            ),
        ];
        assert_names_fields(cases, |config| config.validate());
        assert!(OptimizerConfig::new().validate().is_ok());
        // Weight decay has no upper bound: the step is lr · decay · W.
        assert!(
            OptimizerConfig::new()
                .with_weight_decay(2.0)
                .validate()
                .is_ok()
        );
    }
}
