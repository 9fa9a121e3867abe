//! Exact log partition function, log-likelihood and log-likelihood gradient of small RBMs, by
//! enumerating every hidden configuration (up to 2^[`MAX_ENUMERATED_UNITS`]).
//!
//! With `F(h)` the hidden free energy ([`Rbm::hidden_free_energy`]):
//!
//! ```text
//! log Z            = log Σ_h exp(-F(h))
//! mean log p(v)    = mean_v(-F(v)) - log Z
//! ∂/∂W mean log p  = ⟨v P(h|v)ᵀ⟩_data - Σ_h p(h) E[v|h] hᵀ,     p(h) = exp(-F(h) - log Z)
//! ```
//!
//! The visible side may be of any size (784 pixels included); the states are enumerated on the
//! backend in chunks, and the sums are accumulated on the host in `f64`. These are the oracles
//! the tests hold contrastive divergence and AIS against.

use burn::prelude::*;

use crate::cd::RbmDelta;
use crate::error::ModelError;
use crate::numerics::{log_sum_exp, to_f64};
use crate::rbm::Rbm;

/// Most hidden units an exact computation enumerates (2^24 ≈ 16.8 million states).
pub const MAX_ENUMERATED_UNITS: usize = 24;

/// States per chunk of the enumeration.
const CHUNK: usize = 1 << 12;

/// Hidden states `start..start + count` in binary counting order, `[count, n_hidden]`: bit j of
/// the state number is unit j.
pub(crate) fn hidden_states<B: Backend>(
    n_hidden: usize,
    start: usize,
    count: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let values: Vec<f32> = (start..start + count)
        .flat_map(|s| (0..n_hidden).map(move |j| ((s >> j) & 1) as f32))
        .collect();
    Tensor::from_data(TensorData::new(values, [count, n_hidden]), device)
}

/// The chunks `(start, count)` covering all `2^n_hidden` states.
fn chunks(n_hidden: usize) -> impl Iterator<Item = (usize, usize)> {
    let total = 1usize << n_hidden;
    (0..total)
        .step_by(CHUNK)
        .map(move |start| (start, CHUNK.min(total - start)))
}

fn check_size<B: Backend>(rbm: &Rbm<B>, what: &'static str) -> Result<(), ModelError> {
    let n_units = rbm.n_hidden();
    if n_units > MAX_ENUMERATED_UNITS {
        return Err(ModelError::TooLargeToEnumerate {
            what,
            n_units,
            limit: MAX_ENUMERATED_UNITS,
        });
    }
    Ok(())
}

/// Exact `log Z`.
///
/// # Errors
/// [`ModelError::TooLargeToEnumerate`] above [`MAX_ENUMERATED_UNITS`] hidden units.
pub fn log_partition<B: Backend>(rbm: &Rbm<B>) -> Result<f64, ModelError> {
    check_size(rbm, "log partition function")?;
    let device = rbm.weights.device();
    let per_chunk: Vec<f64> = chunks(rbm.n_hidden())
        .map(|(start, count)| {
            let h = hidden_states::<B>(rbm.n_hidden(), start, count, &device);
            log_sum_exp(&to_f64(rbm.hidden_free_energy(h).neg()))
        })
        .collect();
    Ok(log_sum_exp(&per_chunk))
}

/// Exact mean log-likelihood of the examples `data`, in nats per example.
///
/// # Shapes
/// data `[n, n_visible]`
///
/// # Errors
/// As [`log_partition`], and [`ModelError::Shape`] for data of the wrong width.
pub fn log_likelihood<B: Backend>(rbm: &Rbm<B>, data: Tensor<B, 2>) -> Result<f64, ModelError> {
    rbm.check_visible("data", &data)?;
    let log_z = log_partition(rbm)?;
    let unnormalised = to_f64(rbm.free_energy(data).neg());
    Ok(unnormalised.iter().sum::<f64>() / unnormalised.len() as f64 - log_z)
}

/// Exact gradient of the mean log-likelihood of `data` with respect to every parameter.
///
/// # Shapes
/// data `[n, n_visible]`
///
/// # Errors
/// As [`log_likelihood`].
pub fn exact_gradient<B: Backend>(
    rbm: &Rbm<B>,
    data: Tensor<B, 2>,
) -> Result<RbmDelta<B>, ModelError> {
    rbm.check_visible("data", &data)?;
    let log_z = log_partition(rbm)?;
    let device = rbm.weights.device();
    let mut model = RbmDelta::zeros(rbm);
    for (start, count) in chunks(rbm.n_hidden()) {
        let h = hidden_states::<B>(rbm.n_hidden(), start, count, &device); // [count, n_hidden]
        let p = rbm
            .hidden_free_energy(h.clone())
            .neg()
            .sub_scalar(log_z)
            .exp(); // [count]
        let p = p.unsqueeze_dim::<2>(1); // [count, 1]
        let weighted_v = rbm.visible_mean(h.clone()) * p.clone(); // [count, n_visible]
        model = RbmDelta {
            weights: model.weights + weighted_v.clone().transpose().matmul(h.clone()),
            visible_bias: model.visible_bias + weighted_v.sum_dim(0).squeeze_dim(0),
            hidden_bias: model.hidden_bias + (h * p).sum_dim(0).squeeze_dim(0),
        };
    }
    let h_data = rbm.hidden_probs(data.clone());
    Ok(RbmDelta::statistics(data, h_data) - model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbm::VisibleUnits;
    use crate::test_support::{B, all_states, assert_close, random_rbm};

    /// Exact quantities by brute force over both layers, in f64 on the host.
    struct BruteForce {
        log_z: f64,
        /// p(v) for every visible state (bit i of the state number is unit i).
        p_v: Vec<f64>,
        /// ⟨v_i h_j⟩ under the model.
        model_vh: Vec<f64>,
    }

    fn brute_force(rbm: &Rbm<B>) -> BruteForce {
        let (nv, nh) = (rbm.n_visible(), rbm.n_hidden());
        let w = to_f64(rbm.weights.val());
        let (a, b) = (
            to_f64(rbm.visible_bias.val()),
            to_f64(rbm.hidden_bias.val()),
        );
        let bit = |s: usize, i: usize| ((s >> i) & 1) as f64;
        let mut neg_e = Vec::new();
        for sv in 0..1usize << nv {
            for sh in 0..1usize << nh {
                let mut e = 0.0;
                for i in 0..nv {
                    e += a[i] * bit(sv, i);
                    for j in 0..nh {
                        e += bit(sv, i) * w[i * nh + j] * bit(sh, j);
                    }
                }
                e += (0..nh).map(|j| b[j] * bit(sh, j)).sum::<f64>();
                neg_e.push(e);
            }
        }
        let log_z = log_sum_exp(&neg_e);
        let p: Vec<f64> = neg_e.iter().map(|e| (e - log_z).exp()).collect();
        let p_v = (0..1 << nv)
            .map(|sv| p[sv << nh..(sv + 1) << nh].iter().sum())
            .collect();
        let mut model_vh = vec![0.0; nv * nh];
        for (k, pk) in p.iter().enumerate() {
            let (sv, sh) = (k >> nh, k & ((1 << nh) - 1));
            for i in 0..nv {
                for j in 0..nh {
                    model_vh[i * nh + j] += pk * bit(sv, i) * bit(sh, j);
                }
            }
        }
        BruteForce {
            log_z,
            p_v,
            model_vh,
        }
    }

    #[test]
    fn log_partition_and_likelihood_match_brute_force() {
        let rbm = random_rbm(5, 4, 1.0, 31);
        let truth = brute_force(&rbm);
        let log_z = log_partition(&rbm).unwrap();
        assert!(
            (log_z - truth.log_z).abs() < 1e-4,
            "{log_z} vs {}",
            truth.log_z
        );
        // Data: states 3 and 17 (bit i = unit i).
        let data = Tensor::<B, 2>::from_floats(
            [[1., 1., 0., 0., 0.], [1., 0., 0., 0., 1.]],
            &Default::default(),
        );
        let expected = (truth.p_v[3].ln() + truth.p_v[17].ln()) / 2.0;
        let ll = log_likelihood(&rbm, data).unwrap();
        assert!((ll - expected).abs() < 1e-4, "{ll} vs {expected}");
        // Probabilities over all visible states sum to one.
        let all = to_f64(rbm.free_energy(all_states(5)).neg());
        let total: f64 = all.iter().map(|f| (f - log_z).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }

    #[test]
    fn exact_gradient_matches_brute_force_and_finite_differences() {
        let rbm = random_rbm(4, 3, 1.0, 32);
        let data = Tensor::<B, 2>::from_floats(
            [[1., 0., 1., 1.], [0., 1., 1., 0.], [1., 1., 0., 0.]],
            &Default::default(),
        );
        let gradient = exact_gradient(&rbm, data.clone()).unwrap();
        // Weights: ⟨v P(h|v)ᵀ⟩_data - ⟨v hᵀ⟩_model.
        let truth = brute_force(&rbm);
        let data_stats =
            to_f64(RbmDelta::statistics(data.clone(), rbm.hidden_probs(data.clone())).weights);
        let expected: Vec<f64> = data_stats
            .iter()
            .zip(&truth.model_vh)
            .map(|(d, m)| d - m)
            .collect();
        assert_close(&to_f64(gradient.weights), &expected, 1e-5);
        // Hidden bias 0, by central differences of the exact log-likelihood.
        let eps = 1e-2;
        let shifted = |delta: f32| {
            let b = rbm.hidden_bias.val().to_data().to_vec::<f32>().unwrap();
            let mut b = b;
            b[0] += delta;
            let rbm = Rbm::new(
                rbm.weights.val(),
                rbm.visible_bias.val(),
                Tensor::from_floats(b.as_slice(), &Default::default()),
                VisibleUnits::Bernoulli,
            )
            .unwrap();
            log_likelihood(&rbm, data.clone()).unwrap()
        };
        let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps as f64);
        let analytic = to_f64(gradient.hidden_bias)[0];
        assert!((numeric - analytic).abs() < 1e-3, "{numeric} vs {analytic}");
    }

    #[test]
    fn gaussian_log_partition_matches_the_closed_form_of_one_hidden_unit() {
        // One hidden unit: Z = (2π)^(n/2) [exp(0) + exp(b + ½‖a + w‖² - ½‖a‖²)].
        let device = Default::default();
        let w = Tensor::<B, 2>::from_floats([[0.5], [-0.3]], &device);
        let a = Tensor::from_floats([0.2, 0.1], &device);
        let b = Tensor::from_floats([0.4], &device);
        let rbm = Rbm::new(w, a, b, VisibleUnits::Gaussian).unwrap();
        let (aw0, aw1) = (0.2 + 0.5, 0.1 - 0.3);
        let second = 0.4 + 0.5 * (aw0 * aw0 + aw1 * aw1) - 0.5 * (0.04 + 0.01);
        let expected = (2.0 * std::f64::consts::PI).ln() + (1.0 + f64::exp(second)).ln();
        let log_z = log_partition(&rbm).unwrap();
        assert!((log_z - expected).abs() < 1e-5, "{log_z} vs {expected}");
    }

    #[test]
    fn too_many_hidden_units_is_an_error() {
        let rbm = random_rbm(2, 25, 0.1, 33);
        let err = log_partition(&rbm).unwrap_err();
        assert!(
            matches!(err, ModelError::TooLargeToEnumerate { n_units: 25, .. }),
            "{err}"
        );
    }
}
