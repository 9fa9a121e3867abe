//! Annealed importance sampling (AIS) estimates of an RBM's log partition function, for RBMs
//! too large to enumerate, and the average log-likelihood of data from it.
//!
//! Following R. Salakhutdinov and I. Murray, *On the Quantitative Analysis of Deep Belief
//! Networks*, ICML 2008: the base model A has no weights, the visible biases fitted to the
//! data's marginals, and `n_hidden` hidden units of zero bias, so
//! `log Z_A = n_hidden·log 2 + Σ_i softplus(a_A,i)` (Bernoulli) exactly. The intermediate
//! distributions, for `0 = β_0 < β_1 < … < β_K = 1`, are
//!
//! ```text
//! log p*_β(v) = c_β·v + Σ_j softplus(β (b_j + (Wᵀv)_j))            (Bernoulli)
//!             = -½‖v - c_β‖² + Σ_j softplus(β (b_j + (Wᵀv)_j))      (Gaussian)
//! with c_β = (1-β) a_A + β a_B
//! ```
//!
//! so that `p*_1 = exp(-F_B)` exactly, and for Gaussian units `log Z_A = n_hidden·log 2 +
//! (n_visible / 2)·log 2π`.
//!
//! Each run draws `v_0` from A, then for k = 1..K adds `log p*_βk(v) - log p*_β(k-1)(v)` to its
//! log-weight and moves `v` by one Gibbs step that leaves `p*_βk` invariant. Then
//! `Z_B / Z_A ≈ mean(w)`. The runs are the rows of one batch.

use burn::prelude::*;
use burn::tensor::Distribution;

use crate::error::ModelError;
use crate::kernels::{bernoulli, in_thread_pool, matmul, sigmoid};
use crate::numerics::{log_sum_exp, softplus, to_f64};
use crate::rbm::{Rbm, VisibleUnits};

/// Settings of an AIS run.
#[derive(Config, Debug)]
pub struct AisConfig {
    /// Number of intermediate distributions K. Salakhutdinov & Murray use 14,500: 500 spaced
    /// evenly over β in [0, 0.5], 4,000 over [0.5, 0.9] and 10,000 over [0.9, 1]; this schedule
    /// keeps those proportions for any K.
    #[config(default = 14_500)]
    pub n_betas: usize,
    /// Number of independent annealing runs.
    #[config(default = 100)]
    pub n_runs: usize,
    /// Seed of the backend's random draws.
    #[config(default = 42)]
    pub seed: u64,
}

/// An AIS estimate of `log Z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AisEstimate {
    /// `log Ẑ`, the log of the mean importance weight times `Z_A`.
    pub log_z: f64,
    /// Standard error of `log Ẑ` (delta method: std(w) / (mean(w)·√runs)).
    pub std_err: f64,
}

/// The annealing schedule: `n_betas + 1` values from 0 to 1 (see [`AisConfig::n_betas`]).
pub fn beta_schedule(n_betas: usize) -> Vec<f64> {
    let segments = [(0.0, 0.5, 500.0), (0.5, 0.9, 4000.0), (0.9, 1.0, 10000.0)];
    let mut betas = vec![0.0];
    let mut done = 0;
    for (i, (from, to, share)) in segments.into_iter().enumerate() {
        let steps = if i == 2 {
            n_betas - done
        } else {
            ((n_betas as f64 * share / 14_500.0).round() as usize).max(1)
        };
        betas.extend((1..=steps).map(|s| from + (to - from) * s as f64 / steps as f64));
        done += steps;
    }
    betas
}

/// `log p*_β(v)` for each row of `v`, given its hidden input `b + Wᵀv`, which does not depend
/// on β (so that one product serves every temperature at which `v` is scored).
///
/// # Shapes
/// v `[runs, n_visible]`, hidden_input `[runs, n_hidden]`, base_bias `[n_visible]` -> `[runs]`
fn log_unnormalised<B: Backend>(
    rbm: &Rbm<B>,
    base_bias: &Tensor<B, 1>,
    v: Tensor<B, 2>,
    hidden_input: Tensor<B, 2>,
    beta: f64,
) -> Tensor<B, 1> {
    let bias = mixed_bias(rbm, base_bias, beta).unsqueeze(); // [1, n_visible]
    let hidden = softplus(hidden_input.mul_scalar(beta)).sum_dim(1); // [runs, 1]
    let visible = match rbm.visible {
        VisibleUnits::Bernoulli => (v * bias).sum_dim(1),
        VisibleUnits::Gaussian => (v - bias).square().sum_dim(1).div_scalar(-2.0),
    }; // [runs, 1]
    (visible + hidden).squeeze_dim(1)
}

/// The visible bias of the β-th distribution, `c_β = (1-β) a_A + β a_B`.
///
/// # Shapes
/// base_bias `[n_visible]` -> `[n_visible]`
fn mixed_bias<B: Backend>(rbm: &Rbm<B>, base_bias: &Tensor<B, 1>, beta: f64) -> Tensor<B, 1> {
    base_bias.clone().mul_scalar(1.0 - beta) + rbm.visible_bias.val().mul_scalar(beta)
}

/// One Gibbs step leaving `p*_β` invariant, from `v`'s hidden input `b + Wᵀv`.
///
/// # Shapes
/// hidden_input `[runs, n_hidden]` -> `[runs, n_visible]`
fn transition<B: Backend>(
    rbm: &Rbm<B>,
    base_bias: &Tensor<B, 1>,
    hidden_input: Tensor<B, 2>,
    beta: f64,
) -> Tensor<B, 2> {
    let h = bernoulli(sigmoid(hidden_input.mul_scalar(beta)));
    let input = matmul(h, rbm.weights.val().transpose()).mul_scalar(beta)
        + mixed_bias(rbm, base_bias, beta).unsqueeze();
    rbm.sample_visible(rbm.visible_activation(input))
}

/// Samples from the base model and its exact `log Z_A`.
fn base_model<B: Backend>(
    rbm: &Rbm<B>,
    base_bias: &Tensor<B, 1>,
    n_runs: usize,
) -> (Tensor<B, 2>, f64) {
    let device = base_bias.device();
    let n_visible = rbm.n_visible();
    let hidden_part = rbm.n_hidden() as f64 * std::f64::consts::LN_2;
    let a = base_bias.clone().unsqueeze::<2>().repeat_dim(0, n_runs); // [runs, n_visible]
    match rbm.visible {
        VisibleUnits::Bernoulli => {
            let visible_part = to_f64(rbm.log_sum_over_visible(base_bias.clone().unsqueeze()))[0];
            let samples = rbm.sample_visible(rbm.visible_activation(a));
            (samples, visible_part + hidden_part)
        }
        VisibleUnits::Gaussian => {
            let log_z = 0.5 * n_visible as f64 * (2.0 * std::f64::consts::PI).ln() + hidden_part;
            let noise =
                Tensor::random([n_runs, n_visible], Distribution::Normal(0.0, 1.0), &device);
            (a + noise, log_z)
        }
    }
}

/// Estimates `log Z` of `rbm` by AIS from the base model with visible biases `base_bias`
/// (see [`Rbm::visible_bias_from_data`]).
///
/// # Shapes
/// base_bias `[n_visible]`
///
/// # Errors
/// [`ModelError::InvalidConfig`] for zero runs or temperatures, [`ModelError::Shape`] for a base
/// bias of the wrong size.
pub fn ais_log_partition<B: Backend>(
    rbm: &Rbm<B>,
    base_bias: Tensor<B, 1>,
    config: &AisConfig,
) -> Result<AisEstimate, ModelError> {
    for (field, value) in [("n_betas", config.n_betas), ("n_runs", config.n_runs)] {
        if value < if field == "n_betas" { 3 } else { 2 } {
            return Err(ModelError::invalid(
                field,
                value,
                "too few (at least 3 temperatures and 2 runs)",
            ));
        }
    }
    crate::rbm::check_shape("base visible bias", &[rbm.n_visible()], &base_bias.dims())?;
    let device = base_bias.device();
    B::seed(&device, config.seed);
    let betas = beta_schedule(config.n_betas);
    let (v, log_z_base) = base_model(rbm, &base_bias, config.n_runs);
    let log_w = in_thread_pool::<B, _>(|| {
        let (mut v, mut log_w) = (v, Tensor::<B, 1>::zeros([config.n_runs], &device));
        for pair in betas.windows(2) {
            let (previous, beta) = (pair[0], pair[1]);
            let input = rbm.hidden_input(v.clone()); // shared by both scores and the step
            log_w = log_w + log_unnormalised(rbm, &base_bias, v.clone(), input.clone(), beta)
                - log_unnormalised(rbm, &base_bias, v.clone(), input.clone(), previous);
            v = transition(rbm, &base_bias, input, beta);
        }
        log_w
    });
    let log_w = to_f64(log_w);
    Ok(estimate(&log_w, log_z_base))
}

/// `log Z_A + log mean(w)` and its delta-method standard error, from the runs' log-weights.
fn estimate(log_w: &[f64], log_z_base: f64) -> AisEstimate {
    let n = log_w.len() as f64;
    let log_mean = log_sum_exp(log_w) - n.ln();
    // Relative weights w / mean(w), computed in log space.
    let relative: Vec<f64> = log_w.iter().map(|lw| (lw - log_mean).exp()).collect();
    let variance = relative.iter().map(|r| (r - 1.0).powi(2)).sum::<f64>() / (n - 1.0);
    AisEstimate {
        log_z: log_z_base + log_mean,
        std_err: (variance / n).sqrt(),
    }
}

/// Average log-likelihood of `data` in nats per example, given an estimate of `log Z`.
///
/// # Shapes
/// data `[n, n_visible]`
///
/// # Errors
/// [`ModelError::Shape`] for data of the wrong width.
pub fn average_log_likelihood<B: Backend>(
    rbm: &Rbm<B>,
    data: Tensor<B, 2>,
    log_z: f64,
) -> Result<f64, ModelError> {
    rbm.check_visible("data", &data)?;
    let unnormalised = to_f64(rbm.free_energy(data).neg());
    Ok(unnormalised.iter().sum::<f64>() / unnormalised.len() as f64 - log_z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::log_partition;
    use crate::rbm::RbmConfig;
    use crate::test_support::{B, random_rbm};

    #[test]
    fn the_schedule_runs_from_zero_to_one_in_n_betas_steps() {
        for n in [3, 100, 1000, 14_500] {
            let betas = beta_schedule(n);
            assert_eq!(betas.len(), n + 1);
            assert_eq!((betas[0], *betas.last().unwrap()), (0.0, 1.0));
            assert!(
                betas.windows(2).all(|w| w[1] > w[0]),
                "not increasing for {n}"
            );
        }
        let betas = beta_schedule(14_500);
        assert!((betas[500] - 0.5).abs() < 1e-12 && (betas[4500] - 0.9).abs() < 1e-12);
    }

    #[test]
    fn the_standard_error_follows_the_delta_method() {
        // Equal weights: no error; weights 1 and 3: mean 2, sample std √2, se = √2/(2·√2) = 0.5.
        assert_eq!(
            estimate(&[0.5; 4], 1.0),
            AisEstimate {
                log_z: 1.5,
                std_err: 0.0
            }
        );
        let e = estimate(&[0.0, 3f64.ln()], 0.0);
        assert!(
            (e.log_z - 2f64.ln()).abs() < 1e-12 && (e.std_err - 0.5).abs() < 1e-12,
            "{e:?}"
        );
    }

    fn assert_agrees(rbm: &Rbm<B>, base: Tensor<B, 1>, config: &AisConfig) {
        let exact = log_partition(rbm).unwrap();
        let ais = ais_log_partition(rbm, base, config).unwrap();
        eprintln!(
            "exact log Z {exact:.4}, AIS {:.4} ± {:.4}",
            ais.log_z, ais.std_err
        );
        assert!(
            (ais.log_z - exact).abs() < 0.1,
            "AIS {ais:?} vs exact {exact}"
        );
    }

    #[test]
    fn ais_agrees_with_exact_log_z_on_784_visible_and_20_hidden_units() {
        // An RBM shaped like MNIST's first layer but with 20 hidden units (2^20 states to
        // enumerate), with weights and biases in the range trained RBMs have, and a base model
        // from data-like marginals.
        let device = Default::default();
        B::seed(&device, 52);
        let rbm = RbmConfig::new(784, 20)
            .with_init_std(0.05)
            .init::<B>(&device);
        let a = Tensor::<B, 1>::random([784], Distribution::Normal(-1.0, 1.0), &device);
        let b = Tensor::<B, 1>::random([20], Distribution::Normal(-0.5, 0.5), &device);
        let rbm = Rbm::new(rbm.weights.val(), a.clone(), b, VisibleUnits::Bernoulli).unwrap();
        let data = bernoulli(sigmoid(a.unsqueeze::<2>().repeat_dim(0, 500)));
        let base = rbm.visible_bias_from_data(data);
        assert_agrees(
            &rbm,
            base,
            &AisConfig::new().with_n_betas(1000).with_n_runs(100),
        );
    }

    #[test]
    fn ais_agrees_with_exact_log_z_for_gaussian_visible_units() {
        let rbm = Rbm::<B> {
            visible: VisibleUnits::Gaussian,
            ..random_rbm(10, 8, 0.3, 53)
        };
        let base = rbm.visible_bias.val();
        assert_agrees(
            &rbm,
            base,
            &AisConfig::new().with_n_betas(2000).with_n_runs(200),
        );
    }

    #[test]
    fn average_log_likelihood_subtracts_log_z_from_the_mean_unnormalised_log_probability() {
        let rbm = random_rbm(6, 4, 1.0, 54);
        let data = Tensor::<B, 2>::from_floats(
            [[1., 0., 1., 0., 1., 1.], [0., 0., 1., 1., 0., 0.]],
            &Default::default(),
        );
        let log_z = log_partition(&rbm).unwrap();
        let via_ais_api = average_log_likelihood(&rbm, data.clone(), log_z).unwrap();
        let exact = crate::exact::log_likelihood(&rbm, data).unwrap();
        assert!((via_ais_api - exact).abs() < 1e-9);
    }

    #[test]
    fn too_few_runs_or_temperatures_are_errors() {
        let rbm = random_rbm(3, 2, 0.1, 55);
        let base = rbm.visible_bias.val();
        let err =
            ais_log_partition(&rbm, base.clone(), &AisConfig::new().with_n_runs(1)).unwrap_err();
        assert!(err.to_string().contains("n_runs = 1"), "{err}");
        let err = ais_log_partition(&rbm, base, &AisConfig::new().with_n_betas(2)).unwrap_err();
        assert!(err.to_string().contains("n_betas = 2"), "{err}");
    }
}
