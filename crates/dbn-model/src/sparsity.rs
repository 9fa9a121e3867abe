//! The sparsity penalty of CD training (Hinton's guide, section 11): a running mean `q` of each
//! hidden unit's activation is pushed toward a target.
//!
//! ```text
//! q     = decay · q + (1 - decay) · mean(h0)        (the first batch starts it at mean(h0))
//! step -= lr · cost · (q - target)                   (hidden biases; ⟨v0⟩(q - target)ᵀ on W)
//! ```

use burn::prelude::*;

use crate::cd::RbmDelta;
use crate::check::Range;
use crate::error::ModelError;

/// The sparsity penalty's settings; a training config holds them as an `Option`, `None` for no
/// penalty.
#[derive(Config, Debug)]
pub struct SparsityConfig {
    /// Weight of the penalty.
    #[config(default = 0.01)]
    pub cost: f64,
    /// Target mean activation of each hidden unit.
    #[config(default = 0.05)]
    pub target: f64,
    /// Decay of the running mean `q` of hidden activations (q ← decay·q + (1-decay)·mean).
    #[config(default = 0.95)]
    pub decay: f64,
}

impl SparsityConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ModelError> {
        Range::Positive.check("cost", self.cost)?;
        Range::OpenUnit.check("target", self.target)?;
        Range::Fraction.check("decay", self.decay)
    }
}

/// Updates the running mean of hidden activations: `decay · q + (1 - decay) · mean(h0)`; the
/// first batch starts it at `mean(h0)`.
///
/// # Shapes
/// q `[n_hidden]`, h0 `[batch, n_hidden]` -> `[n_hidden]`
pub fn update_hidden_activity<B: Backend>(
    q: Option<Tensor<B, 1>>,
    h0: Tensor<B, 2>,
    decay: f64,
) -> Tensor<B, 1> {
    let current = h0.mean_dim(0).squeeze_dim(0);
    match q {
        Some(q) => q.mul_scalar(decay) + current.mul_scalar(1.0 - decay),
        None => current,
    }
}

/// Adds the sparsity penalty's gradient, `-cost · (q - target)` on the hidden biases and
/// `-cost · ⟨v0⟩ (q - target)ᵀ` on the weights. On a scaled gradient, scale `cost` alike.
///
/// # Shapes
/// q `[n_hidden]`, v0 `[batch, n_visible]`
pub fn add_sparsity_penalty<B: Backend>(
    gradient: RbmDelta<B>,
    q: Tensor<B, 1>,
    v0: Tensor<B, 2>,
    target: f64,
    cost: f64,
) -> RbmDelta<B> {
    let excess = q.sub_scalar(target).mul_scalar(cost); // [n_hidden]
    let mean_v = v0.mean_dim(0).transpose(); // [n_visible, 1]
    RbmDelta {
        weights: gradient.weights - mean_v.matmul(excess.clone().unsqueeze()),
        hidden_bias: gradient.hidden_bias - excess,
        ..gradient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_names_fields;

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (SparsityConfig::new().with_cost(0.0), "cost"),
            (SparsityConfig::new().with_target(1.5), "target"),
            (SparsityConfig::new().with_decay(1.0), "decay"),
        ];
        assert_names_fields(cases, |config| config.validate());
        assert!(SparsityConfig::new().validate().is_ok());
    }
}
