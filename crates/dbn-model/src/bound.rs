//! The variational lower bound on `log p(v)` of a DBN cut at depth `d` (its first `d` RBMs),
//! as Hinton, Osindero & Teh (2006) derive it and Salakhutdinov & Murray (2008), *On the
//! quantitative analysis of deep belief networks*, estimate it:
//!
//! ```text
//! log p(v) ≥ E_Q[ log p*(h_{d-1}) + Σ_{l<d} (log p(h_{l-1} | h_l) + H(Q(h_l | h_{l-1}))) ] - log Z_d
//! ```
//!
//! with `h_0 = v`, `Q(h_l | h_{l-1})` RBM `l`'s factorial posterior `σ(b_l + W_lᵀ h_{l-1})`,
//! `p(h_{l-1} | h_l)` its down conditional, `p*(h) = exp(-F_d(h))` the top RBM's unnormalised
//! marginal of its visible layer (label units summed out) and `Z_d` its partition function
//! (exact for small RBMs, [`crate::exact::log_partition`]; by AIS otherwise). At depth 1 the
//! bound is the RBM's log-likelihood itself. The expectation is estimated by sampling paths
//! `h_1, …, h_{d-1}` from `Q`.

use burn::prelude::*;

use crate::dbn::Dbn;
use crate::error::ModelError;
use crate::exact::{MAX_ENUMERATED_UNITS, hidden_states, log_partition};
use crate::kernels::{bernoulli, sigmoid};
use crate::numerics::{log_sum_exp, log_sum_exp_rows, softplus, to_f64};
use crate::rbm::{Rbm, VisibleUnits};

/// `log p*(h) = -F(h)` of each row, the top RBM's unnormalised marginal; with label units,
/// `log Σ_k exp(-F([h, one-hot k]))`.
///
/// # Shapes
/// h `[n, n_features]` -> `[n]`
pub fn log_unnormalised_marginal<B: Backend>(rbm: &Rbm<B>, h: Tensor<B, 2>) -> Tensor<B, 1> {
    match rbm.labels {
        0 => rbm.free_energy(h).neg(),
        _ => log_sum_exp_rows(rbm.label_free_energies(h).neg()).squeeze_dim(1),
    }
}

/// Exact mean `log p(v)` of the examples `data` under the generative model of a two-RBM stack,
/// `p(v) = Σ_h1 p(v | h_1) p_2(h_1)` with `p_2` RBM 2's marginal of its visible layer (label
/// units summed out), by enumerating `h_1` and RBM 2's hidden layer: the oracle of the bound,
/// and of up-down, which trains this model.
///
/// # Shapes
/// data `[n, n_visible]`
///
/// # Errors
/// [`ModelError::InvalidConfig`] for a stack of other than two RBMs,
/// [`ModelError::TooLargeToEnumerate`] for more than [`MAX_ENUMERATED_UNITS`] units in `h_1` or
/// RBM 2's hidden layer.
pub fn exact_log_likelihood<B: Backend>(
    dbn: &Dbn<B>,
    data: Tensor<B, 2>,
) -> Result<f64, ModelError> {
    if dbn.rbms.len() != 2 {
        return Err(ModelError::invalid(
            "layers",
            format!("{:?}", dbn.layer_sizes()),
            "the exact log-likelihood enumerates the hidden layer of a two-RBM stack",
        ));
    }
    let n_h1 = dbn.rbms[0].n_hidden();
    if n_h1 > MAX_ENUMERATED_UNITS {
        return Err(ModelError::TooLargeToEnumerate {
            what: "stack log-likelihood",
            n_units: n_h1,
            limit: MAX_ENUMERATED_UNITS,
        });
    }
    let log_z = log_partition(&dbn.rbms[1])?;
    let count = 1 << n_h1;
    let states = hidden_states::<B>(n_h1, 0, count, &data.device()); // [2^n_h1, n_h1]
    let prior = to_f64(log_unnormalised_marginal(&dbn.rbms[1], states.clone()));
    let n = data.dims()[0];
    let total: f64 = (0..n)
        .map(|i| {
            let vs = data.clone().slice(i..i + 1).repeat_dim(0, count);
            let down = to_f64(log_down_probability(&dbn.rbms[0], vs, states.clone()));
            let joint: Vec<f64> = down.iter().zip(&prior).map(|(d, p)| d + p).collect();
            log_sum_exp(&joint) - log_z
        })
        .sum();
    Ok(total / n as f64)
}

/// `log p(x | above)` of each row under RBM `rbm`'s down conditional: Bernoulli units
/// `Σ_i x_i log σ(u_i) + (1 - x_i) log σ(-u_i)`, Gaussian ones `-½‖x - u‖² - (n/2) log 2π`,
/// with `u = a + W·above`.
///
/// # Shapes
/// x `[n, n_features]`, above `[n, n_hidden]` -> `[n]`
pub fn log_down_probability<B: Backend>(
    rbm: &Rbm<B>,
    x: Tensor<B, 2>,
    above: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let input = rbm.visible_input(above);
    let input = match rbm.labels {
        0 => input,
        _ => rbm.split_labels(input).0,
    };
    match rbm.visible {
        VisibleUnits::Bernoulli => {
            let on = x.clone() * softplus(input.clone().neg());
            let off = (x.neg() + 1.0) * softplus(input);
            (on + off).sum_dim(1).neg().squeeze_dim(1)
        }
        VisibleUnits::Gaussian => {
            let width = x.dims()[1] as f64;
            let log_2pi = (2.0 * std::f64::consts::PI).ln();
            (x - input)
                .square()
                .sum_dim(1)
                .div_scalar(-2.0)
                .sub_scalar(0.5 * width * log_2pi)
                .squeeze_dim(1)
        }
    }
}

/// Entropy of the factorial posterior `Q(h | x) = σ(u)`, `u = b + Wᵀx`, in nats:
/// `Σ_j p_j softplus(-u_j) + (1 - p_j) softplus(u_j)`.
///
/// # Shapes
/// x `[n, n_features]` -> `[n]`
pub fn posterior_entropy<B: Backend>(rbm: &Rbm<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let input = rbm.hidden_input(x);
    let p = sigmoid(input.clone());
    let on = p.clone() * softplus(input.clone().neg());
    let off = (p.neg() + 1.0) * softplus(input);
    (on + off).sum_dim(1).squeeze_dim(1)
}

/// The bound's integrand for one path `[v, h_1, …, h_{depth-1}]` (`log Z_depth` not
/// subtracted): `log p*(h_{depth-1}) + Σ_{l<depth} log p(h_{l-1} | h_l) + H(Q(h_l | h_{l-1}))`.
///
/// # Shapes
/// `path[l]` `[n, sizes[l]]`, `depth` entries -> `[n]`
///
/// # Panics
/// If the path does not have `depth` entries or `depth` is not between 1 and the stack's RBMs.
pub fn bound_integrand<B: Backend>(
    dbn: &Dbn<B>,
    depth: usize,
    path: &[Tensor<B, 2>],
) -> Tensor<B, 1> {
    assert!(
        (1..=dbn.rbms.len()).contains(&depth) && path.len() == depth,
        "a path of {depth} layers for a depth-{depth} bound"
    );
    let top = log_unnormalised_marginal(&dbn.rbms[depth - 1], path[depth - 1].clone());
    (1..depth).fold(top, |sum, l| {
        let rbm = &dbn.rbms[l - 1];
        sum + log_down_probability(rbm, path[l - 1].clone(), path[l].clone())
            + posterior_entropy(rbm, path[l - 1].clone())
    })
}

/// A path `[v, h_1, …, h_{depth-1}]` drawn from `Q` (each layer a binary sample of the
/// posterior of the one below). Uses the backend's generator.
///
/// # Shapes
/// v `[n, sizes[0]]` -> `depth` tensors, `path[l]` `[n, sizes[l]]`
pub fn sample_path<B: Backend>(dbn: &Dbn<B>, depth: usize, v: Tensor<B, 2>) -> Vec<Tensor<B, 2>> {
    let mut path = vec![v];
    for l in 1..depth {
        let below = path[l - 1].clone();
        path.push(bernoulli(dbn.rbms[l - 1].hidden_probs(below)));
    }
    path
}

/// The bound at `depth` on the mean `log p(v)` of the rows of `v`, in nats per example: the
/// integrand averaged over `samples` paths per example (one at depth 1, whose path is `v`
/// alone), minus `log_z` (of RBM `depth`).
///
/// # Shapes
/// v `[n, sizes[0]]`
pub fn variational_bound<B: Backend>(
    dbn: &Dbn<B>,
    depth: usize,
    v: Tensor<B, 2>,
    log_z: f64,
    samples: usize,
) -> f64 {
    let samples = if depth == 1 { 1 } else { samples.max(1) };
    let total: f64 = (0..samples)
        .map(|_| {
            let path = sample_path(dbn, depth, v.clone());
            let values = to_f64(bound_integrand(dbn, depth, &path));
            values.iter().sum::<f64>() / values.len() as f64
        })
        .sum();
    total / samples as f64 - log_z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{all_states, random_labelled_rbm, random_rbm, row};
    use crate::test_support::B;

    /// The bound at depth 2 with the expectation over `Q(h_1 | v)` taken exactly (every `h_1`
    /// weighted by its probability), and the exact `log p(v)` of the two-RBM stack, from
    /// `p(v) = Σ_h1 p(v | h_1) p_2(h_1)`.
    fn exact_bound_and_log_likelihood(dbn: &Dbn<B>, v: &[f32]) -> (f64, f64) {
        let device = Default::default();
        let n_h1 = dbn.rbms[0].n_hidden();
        let states = all_states::<B>(n_h1, &device);
        let count = 1 << n_h1;
        let vs = row::<B>(v, &device).repeat_dim(0, count);
        let q = to_f64(dbn.rbms[0].hidden_probs(row(v, &device)));
        let h = to_f64(states.clone());
        let weights: Vec<f64> = h
            .chunks(n_h1)
            .map(|s| {
                s.iter()
                    .zip(&q)
                    .map(|(&x, &p)| if x == 1.0 { p } else { 1.0 - p })
                    .product()
            })
            .collect();
        let log_z = log_partition(&dbn.rbms[1]).unwrap();
        let integrand = to_f64(bound_integrand(dbn, 2, &[vs.clone(), states.clone()]));
        let bound = weights
            .iter()
            .zip(&integrand)
            .map(|(w, f)| w * f)
            .sum::<f64>()
            - log_z;
        (bound, exact_log_likelihood(dbn, row(v, &device)).unwrap())
    }

    #[test]
    fn at_depth_one_the_bound_is_the_rbms_log_likelihood() {
        let device = Default::default();
        let dbn = Dbn::new(vec![random_rbm::<B>(5, 3, 1.0, 71, &device)]).unwrap();
        let v = row::<B>(&[1.0, 0.0, 1.0, 1.0, 0.0], &device);
        let log_z = log_partition(&dbn.rbms[0]).unwrap();
        let exact = crate::exact::log_likelihood(&dbn.rbms[0], v.clone()).unwrap();
        let bound = variational_bound(&dbn, 1, v, log_z, 3);
        assert!((bound - exact).abs() < 1e-5, "{bound} against {exact}");
    }

    #[test]
    fn at_depth_two_the_bound_is_below_the_exact_log_likelihood() {
        let device = Default::default();
        let dbn = Dbn::new(vec![
            random_rbm::<B>(4, 3, 1.0, 72, &device),
            random_rbm::<B>(3, 2, 1.5, 73, &device),
        ])
        .unwrap();
        for v in [
            [1.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 0.0],
            [1.0, 1.0, 1.0, 1.0],
        ] {
            let (bound, exact) = exact_bound_and_log_likelihood(&dbn, &v);
            assert!(bound <= exact + 1e-6, "{v:?}: bound {bound} above {exact}");
            assert!(bound > exact - 5.0, "{v:?}: bound {bound}, exact {exact}");
        }
        // The sampled estimate converges to the exact expectation.
        B::seed(&device, 74);
        let v = row::<B>(&[1.0, 0.0, 1.0, 1.0], &device).repeat_dim(0, 4000);
        let log_z = log_partition(&dbn.rbms[1]).unwrap();
        let sampled = variational_bound(&dbn, 2, v, log_z, 5);
        let (bound, _) = exact_bound_and_log_likelihood(&dbn, &[1.0, 0.0, 1.0, 1.0]);
        assert!(
            (sampled - bound).abs() < 0.02,
            "sampled {sampled}, exact {bound}"
        );
    }

    /// With RBM 2 the mirror image of RBM 1 (W₂ = W₁ᵀ, its visible biases RBM 1's hidden ones
    /// and its hidden biases RBM 1's visible ones), the stack's prior over h_1 is RBM 1's own
    /// marginal, `Q(h_1 | v)` is the true posterior, and the bound is tight: Hinton et al.'s
    /// complementary prior, the start from which greedy training can only raise the bound.
    #[test]
    fn with_a_mirrored_second_rbm_the_bound_equals_the_log_likelihood() {
        let device = Default::default();
        let first = random_rbm::<B>(4, 3, 1.0, 75, &device);
        let mirror = Rbm::new(
            first.weights.val().transpose(),
            first.hidden_bias.val(),
            first.visible_bias.val(),
            VisibleUnits::Bernoulli,
        )
        .unwrap();
        let rbm_log_likelihood =
            |v: &[f32]| crate::exact::log_likelihood(&first, row(v, &device)).unwrap();
        let dbn = Dbn::new(vec![first.clone(), mirror]).unwrap();
        for v in [[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]] {
            let (bound, exact) = exact_bound_and_log_likelihood(&dbn, &v);
            assert!(
                (exact - rbm_log_likelihood(&v)).abs() < 1e-4,
                "the stack's p(v) is RBM 1's"
            );
            assert!(
                (bound - exact).abs() < 1e-4,
                "{v:?}: bound {bound}, exact {exact}"
            );
        }
    }

    #[test]
    fn a_labelled_top_rbm_sums_its_labels_out() {
        let device = Default::default();
        let rbm = random_labelled_rbm::<B>(3, 2, 2, 1.0, 76, &device);
        let h = all_states::<B>(3, &device);
        let marginal = to_f64(log_unnormalised_marginal(&rbm, h));
        let states = crate::conformance::all_labelled_states::<B>(3, 2, &device);
        let joint = to_f64(rbm.free_energy(states).neg());
        for (i, m) in marginal.iter().enumerate() {
            let expected = log_sum_exp(&joint[2 * i..2 * i + 2]);
            assert!((m - expected).abs() < 1e-5, "{m} against {expected}");
        }
    }
}
