//! The checks every backend must pass, generic over it: the tutorial's worked Examples 1-3 to
//! 1e-5, the class-weighted losses and their gradients against exact values, CD-k and the
//! sampled negative phase of PCD against the exact-gradient oracle, label units against
//! enumeration, AIS against the exact log Z of a small RBM (with and without label units), and
//! a save/load round trip with identical outputs.
//! Each check panics with what differs, as a test does.
//!
//! This crate's unit tests run them on `NdArray` and `Flex`; `dbn-train`'s `tests/backends.rs`
//! runs them on every backend it is built with (wgpu over a software Vulkan driver in CI), so
//! a backend that computes wrongly is caught where it computes. Compiled for tests and with the
//! `conformance` feature; the small models they use (the tutorial's, random ones, every binary
//! state) are here too.

use std::path::Path;

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;

use crate::ais::{AisConfig, ais_log_partition};
use crate::cd::{RbmDelta, cd_gradient, negative_phase};
use crate::classifier::{DbnClassifier, DbnClassifierConfig};
use crate::dbn::{Dbn, DbnConfig};
use crate::exact::{exact_gradient, log_partition};
use crate::numerics::to_f64;
use crate::persist::{load_module, save_module};
use crate::rbm::{Rbm, RbmConfig, VisibleUnits};

/// The tutorial's layer-1 RBM (Example 1): 4 visible, 3 hidden, zero visible biases
/// (Example 3 takes them as zero).
pub fn tutorial_rbm1<B: Backend>(device: &B::Device) -> Rbm<B> {
    let w = Tensor::from_floats(
        [
            [0.3, -0.1, 0.5],
            [0.2, 0.4, -0.3],
            [-0.1, 0.6, 0.2],
            [0.4, -0.2, 0.1],
        ],
        device,
    );
    let b = Tensor::from_floats([-0.1, 0.2, 0.1], device);
    Rbm::new(w, Tensor::zeros([4], device), b, VisibleUnits::Bernoulli).unwrap()
}

/// The tutorial's layer-2 RBM: 3 visible, 2 hidden; visible biases equal to b1, as
/// Example 3's top-down pass takes them.
pub fn tutorial_rbm2<B: Backend>(device: &B::Device) -> Rbm<B> {
    let w = Tensor::from_floats([[0.5, -0.3], [0.2, 0.7], [-0.4, 0.1]], device);
    let a = Tensor::from_floats([-0.1, 0.2, 0.1], device);
    let b = Tensor::from_floats([0.1, -0.2], device);
    Rbm::new(w, a, b, VisibleUnits::Bernoulli).unwrap()
}

/// The tutorial's two-layer DBN (Examples 1 and 3).
pub fn tutorial_dbn<B: Backend>(device: &B::Device) -> Dbn<B> {
    Dbn::new(vec![tutorial_rbm1(device), tutorial_rbm2(device)]).unwrap()
}

/// The tutorial's Example 2: the Example 1 stack with one sigmoid output unit,
/// W3 = [0.6, -0.4], b3 = 0.1.
pub fn tutorial_classifier<AB: AutodiffBackend>(device: &AB::Device) -> DbnClassifier<AB> {
    let mut net = DbnClassifierConfig::new(vec![4, 3, 2])
        .with_n_outputs(1)
        .pretrained::<AB, AB::InnerBackend>(&tutorial_dbn(device), device)
        .unwrap();
    net.output = Linear {
        weight: burn::module::Param::from_data([[0.6f32], [-0.4]], device),
        bias: Some(burn::module::Param::from_data([0.1f32], device)),
    };
    net
}

/// One example, `[1, values.len()]`.
pub fn row<B: Backend>(values: &[f32], device: &B::Device) -> Tensor<B, 2> {
    Tensor::<B, 1>::from_floats(values, device).unsqueeze()
}

/// All 2^n binary vectors, `[2^n, n]`, bit j of row i is unit j.
pub fn all_states<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 2> {
    let values: Vec<f32> = (0..1usize << n)
        .flat_map(|i| (0..n).map(move |j| ((i >> j) & 1) as f32))
        .collect();
    Tensor::from_data(TensorData::new(values, [1 << n, n]), device)
}

/// A small RBM with random weights and biases of standard deviation `scale`, seeded.
pub fn random_rbm<B: Backend>(
    n_visible: usize,
    n_hidden: usize,
    scale: f64,
    seed: u64,
    device: &B::Device,
) -> Rbm<B> {
    B::seed(device, seed);
    let rbm = RbmConfig::new(n_visible, n_hidden)
        .with_init_std(scale)
        .init::<B>(device);
    let a = Tensor::random([n_visible], Distribution::Normal(0.0, scale), device);
    let b = Tensor::random([n_hidden], Distribution::Normal(0.0, scale), device);
    Rbm {
        visible_bias: rbm.visible_bias.map(|_| a),
        hidden_bias: rbm.hidden_bias.map(|_| b),
        ..rbm
    }
}

/// [`random_rbm`] with its last `labels` visible units a softmax group of label units.
pub fn random_labelled_rbm<B: Backend>(
    n_features: usize,
    labels: usize,
    n_hidden: usize,
    scale: f64,
    seed: u64,
    device: &B::Device,
) -> Rbm<B> {
    random_rbm(n_features + labels, n_hidden, scale, seed, device)
        .with_labels(labels)
        .unwrap()
}

/// Every visible state of an RBM with `n_features` binary units and `labels` label units:
/// each binary vector beside each one-hot label, `[2^n_features · labels, n_features + labels]`.
pub fn all_labelled_states<B: Backend>(
    n_features: usize,
    labels: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let n = n_features + labels;
    let values: Vec<f32> = (0..1usize << n_features)
        .flat_map(|i| (0..labels).map(move |k| (i, k)))
        .flat_map(|(i, k)| {
            (0..n).map(move |j| match j < n_features {
                true => ((i >> j) & 1) as f32,
                false => f32::from(u8::from(j - n_features == k)),
            })
        })
        .collect();
    Tensor::from_data(
        TensorData::new(values, [(1 << n_features) * labels, n]),
        device,
    )
}

/// Pearson correlation of two equally long vectors.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    ab / (aa * bb).sqrt()
}

/// Asserts that `actual` and `expected` agree element by element within `tol`.
pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tol,
            "{actual:?} vs {expected:?} (tolerance {tol})"
        );
    }
}

/// Example 1, the up pass, through each RBM and through the stack: exact values σ(0.5),
/// σ(0.5), σ(0.9), then σ(0.1 + W2ᵀh1) computed in f64 (the tutorial prints them to three
/// decimals).
pub fn tutorial_example_1<B: Backend>(device: &B::Device) {
    let v = row::<B>(&[1.0, 0.0, 1.0, 1.0], device);
    let h1 = tutorial_rbm1::<B>(device).hidden_probs(v.clone());
    assert_close(&to_f64(h1.clone()), &[0.62246, 0.62246, 0.71095], 1e-5);
    let h2 = tutorial_rbm2::<B>(device).hidden_probs(h1);
    assert_close(&to_f64(h2), &[0.56251, 0.52998], 1e-5);
    let dbn = tutorial_dbn::<B>(device);
    assert_eq!(dbn.layer_sizes(), vec![4, 3, 2]);
    assert_close(
        &to_f64(dbn.up(v.clone(), 1)),
        &[0.62246, 0.62246, 0.71095],
        1e-5,
    );
    assert_close(&to_f64(dbn.encode(v)), &[0.56251, 0.52998], 1e-5);
}

/// Example 2, forward and backward through autodiff. Exact values (f64 from the unrounded
/// Example 1 activations): prediction 0.55614, loss -log 0.55614 = 0.58674,
/// ∂L/∂W3 = (ŷ - 1)·h2 = [-0.24967, -0.23524], error at h2 = (ŷ - 1)·W3 ⊙ h2 ⊙ (1 - h2) =
/// [-0.06554, 0.04423].
pub fn tutorial_example_2<AB: AutodiffBackend>(device: &AB::Device) {
    let net = tutorial_classifier::<AB>(device);
    let logits = net.forward(row(&[1.0, 0.0, 1.0, 1.0], device));
    assert_close(
        &to_f64(net.probabilities(logits.clone()).inner()),
        &[0.55614],
        1e-5,
    );
    let loss = net.loss(logits, Tensor::from_ints([1], device));
    assert_close(&to_f64(loss.clone().inner()), &[0.58674], 1e-5);
    let grads = loss.backward();
    let w3 = net.output.weight.grad(&grads).unwrap();
    assert_close(&to_f64(w3), &[-0.24967, -0.23524], 1e-5);
    // For one example, ∂L/∂b2 is the error at h2's total input.
    let b2 = net.encoder.layers[1]
        .bias
        .as_ref()
        .unwrap()
        .grad(&grads)
        .unwrap();
    assert_close(&to_f64(b2), &[-0.06554, 0.04423], 1e-5);
}

/// The class-weighted losses of both heads, and their gradients with respect to the logits,
/// against exact values: each example's loss times its class's weight, over the weights'
/// sum, so `∂L/∂z = w_y (p − onehot(y)) / Σ w` for softmax and `w_y (σ(z) − y) / Σ w` for one
/// sigmoid unit; equal weights, whatever their size, give the plain mean.
pub fn class_weighted_losses_are_exact<AB: AutodiffBackend>(device: &AB::Device) {
    let head = |outputs| {
        DbnClassifierConfig::new(vec![4, 3])
            .with_n_outputs(outputs)
            .init::<AB>(device)
            .unwrap()
    };
    // Loss and gradient for logits `z`, targets `y` and class weights `w`.
    let run = |net: &DbnClassifier<AB>, z: Tensor<AB, 2>, y: [i64; 2], w: Option<&[f32]>| {
        let z = z.require_grad();
        let loss = net.weighted_loss(z.clone(), Tensor::from_ints(y, device), w);
        let grad = z.grad(&loss.backward()).expect("the logits are tracked");
        (to_f64(loss.inner())[0], to_f64(grad))
    };
    // Softmax over three classes: targets 1 and 2, weights 2 and 0.5 of 2.5.
    let softmax3 = head(3);
    let z: [[f64; 3]; 2] = [[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]];
    let logits = || Tensor::<AB, 2>::from_floats(z, device);
    let p = z.map(|z| {
        let total: f64 = z.iter().map(|v| v.exp()).sum();
        z.map(|v| v.exp() / total)
    });
    let nll = [-p[0][1].ln(), -p[1][2].ln()];
    let (loss, grad) = run(&softmax3, logits(), [1, 2], Some(&[1.0, 2.0, 0.5]));
    assert_close(&[loss], &[(2.0 * nll[0] + 0.5 * nll[1]) / 2.5], 1e-5);
    let expected_grad = [p[0].map(|p| 2.0 * p / 2.5), p[1].map(|p| 0.5 * p / 2.5)];
    let mut expected_grad = expected_grad.concat();
    expected_grad[1] -= 2.0 / 2.5;
    expected_grad[5] -= 0.5 / 2.5;
    assert_close(&grad, &expected_grad, 1e-5);
    let (plain, _) = run(&softmax3, logits(), [1, 2], None);
    assert_close(&[plain], &[(nll[0] + nll[1]) / 2.0], 1e-5);
    let (equal, _) = run(&softmax3, logits(), [1, 2], Some(&[3.0, 3.0, 3.0]));
    assert_close(&[equal], &[plain], 1e-5);
    // One sigmoid unit: targets 1 and 0, weights 1 and 2 of 3.
    let sigmoid1 = head(1);
    let logits = Tensor::<AB, 2>::from_floats([[0.5], [-1.0]], device);
    let sigma = |z: f64| 1.0 / (1.0 + (-z).exp());
    let softplus = |z: f64| z.exp().ln_1p();
    let (loss, grad) = run(&sigmoid1, logits, [1, 0], Some(&[2.0, 1.0]));
    let expected = (softplus(0.5) - 0.5 + 2.0 * softplus(-1.0)) / 3.0;
    assert_close(&[loss], &[expected], 1e-5);
    let expected_grad = [(sigma(0.5) - 1.0) / 3.0, 2.0 * sigma(-1.0) / 3.0];
    assert_close(&grad, &expected_grad, 1e-5);
}

/// Example 3, the top-down pass: h2 = [1, 0] down through RBM 2 (visible bias = b1), then
/// h1 = [1, 1, 0] through RBM 1, by each RBM and by the stack.
pub fn tutorial_example_3<B: Backend>(device: &B::Device) {
    let h1 = tutorial_rbm2::<B>(device).visible_mean(row(&[1.0, 0.0], device));
    assert_close(&to_f64(h1), &[0.59869, 0.59869, 0.42556], 1e-5);
    let v = tutorial_rbm1::<B>(device).visible_mean(row(&[1.0, 1.0, 0.0], device));
    assert_close(&to_f64(v), &[0.54983, 0.64566, 0.62246, 0.54983], 1e-5);
    let dbn = tutorial_dbn::<B>(device);
    let h1 = dbn.down_step(2, row(&[1.0, 0.0], device));
    assert_close(&to_f64(h1), &[0.59869, 0.59869, 0.42556], 1e-5);
    let v = dbn.down_step(1, row(&[1.0, 1.0, 0.0], device));
    assert_close(&to_f64(v), &[0.54983, 0.64566, 0.62246, 0.54983], 1e-5);
}

/// The cosine of the angle between two parameter-shaped quantities.
fn cosine<B: Backend>(a: RbmDelta<B>, b: RbmDelta<B>) -> f64 {
    let (a, b) = (to_f64(a.flatten()), to_f64(b.flatten()));
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    dot / (norm(&a) * norm(&b))
}

/// CD-50, averaged over 10,000 chains from `data` (4 rows), against the exact gradient of the
/// mean log-likelihood: their cosine.
fn cd_50_cosine<B: Backend>(rbm: &Rbm<B>, data: Tensor<B, 2>) -> f64 {
    let exact = exact_gradient(rbm, data.clone()).unwrap();
    let v0 = data.repeat_dim(0, 2500); // 10,000 chains
    let h0 = rbm.hidden_probs(v0.clone());
    let negative = negative_phase(rbm, rbm.sample_hidden(h0.clone()), 50, false);
    let estimate = cd_gradient(v0, h0, negative, 1.0);
    cosine(estimate, exact)
}

/// CD-50 on a 6x4 RBM, averaged over 10,000 chains from a small data set, points along the
/// exact gradient of the mean log-likelihood (all 2^4 hidden states enumerated): cosine > 0.9;
/// and so it does on an RBM of 4 binary and 2 label units (the last two columns one-hot).
pub fn cd_k_points_along_the_exact_gradient<B: Backend>(device: &B::Device) {
    let rbm = random_rbm::<B>(6, 4, 0.7, 21, device);
    let data = Tensor::<B, 2>::from_floats(
        [
            [1., 1., 0., 0., 1., 0.],
            [0., 1., 1., 0., 0., 1.],
            [1., 0., 0., 1., 1., 0.],
            [0., 0., 1., 1., 0., 1.],
        ],
        device,
    );
    let c = cd_50_cosine(&rbm, data.clone());
    assert!(c > 0.9, "cosine {c}");
    let labelled = random_labelled_rbm::<B>(4, 2, 4, 0.7, 21, device);
    let c = cd_50_cosine(&labelled, data);
    assert!(c > 0.9, "with label units: cosine {c}");
}

/// An RBM of 4 binary and 3 label units against enumeration of its 48 visible states: the
/// label units' probabilities are the softmax of their inputs and sum to 1; their one-hot
/// draws are one-hot and follow those probabilities; `log Z` summed over the hidden side
/// (with the label group's log-sum-exp) equals `log Σ_v exp(-F(v))` over every visible state;
/// and the exact gradient is the finite difference of the exact log-likelihood.
pub fn label_units_agree_with_enumeration<B: Backend>(device: &B::Device) {
    let rbm = random_labelled_rbm::<B>(4, 3, 3, 1.0, 41, device);
    let h = all_states::<B>(3, device);
    let input = to_f64(rbm.visible_input(h.clone()));
    let mean = to_f64(rbm.visible_mean(h));
    for (x, m) in input.chunks(7).zip(mean.chunks(7)) {
        let z: f64 = x[4..].iter().map(|x| x.exp()).sum();
        let softmax: Vec<f64> = x[4..].iter().map(|x| x.exp() / z).collect();
        assert_close(&m[4..], &softmax, 1e-5);
        assert!((m[4..].iter().sum::<f64>() - 1.0).abs() < 1e-5, "{m:?}");
    }

    B::seed(device, 42);
    let n = 20_000;
    let probs = [0.2f32, 0.5, 0.3];
    let mean = row::<B>(&[0.5, 0.5, 0.5, 0.5, 0.2, 0.5, 0.3], device).repeat_dim(0, n);
    let drawn = rbm.split_labels(rbm.sample_visible(mean)).1;
    let values = to_f64(drawn.clone());
    assert!(values.iter().all(|&x| x == 0.0 || x == 1.0));
    assert!(values.chunks(3).all(|r| r.iter().sum::<f64>() == 1.0));
    let shares = to_f64(drawn.mean_dim(0));
    for (share, p) in shares.iter().zip(probs) {
        let p = f64::from(p);
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!((share - p).abs() < 4.0 * sd, "{shares:?} against {probs:?}");
    }

    let states = all_labelled_states::<B>(4, 3, device);
    let from_visible = crate::numerics::log_sum_exp(&to_f64(rbm.free_energy(states).neg()));
    let exact = log_partition(&rbm).unwrap();
    assert!(
        (from_visible - exact).abs() < 1e-4,
        "{from_visible} against {exact}"
    );

    let data = Tensor::<B, 2>::from_floats(
        [[1., 0., 1., 1., 0., 1., 0.], [0., 1., 1., 0., 0., 0., 1.]],
        device,
    );
    let gradient = to_f64(exact_gradient(&rbm, data.clone()).unwrap().flatten());
    let weights = to_f64(rbm.weights.val());
    let eps = 1e-2;
    let log_likelihood_at = |i: usize, delta: f64| {
        let mut w = weights.clone();
        w[i] += delta;
        let w: Vec<f32> = w.iter().map(|&x| x as f32).collect();
        let moved = Rbm {
            weights: rbm
                .weights
                .clone()
                .map(|_| Tensor::from_data(TensorData::new(w, [7, 3]), device)),
            ..rbm.clone()
        };
        crate::exact::log_likelihood(&moved, data.clone()).unwrap()
    };
    // The flattened gradient starts with the weights.
    for (i, exact) in gradient.iter().take(weights.len()).enumerate() {
        let numeric = (log_likelihood_at(i, eps) - log_likelihood_at(i, -eps)) / (2.0 * eps);
        assert!(
            (numeric - exact).abs() < 2e-3,
            "weight {i}: exact gradient {exact} against finite difference {numeric}"
        );
    }
}

/// The negative phase of PCD and of `sample_negative` (chains that end on sampled visible
/// states): 20,000 chains run 50 steps on a 6x4 RBM from the data (all 64 states, repeated).
/// The data statistics cancel, so `estimate - exact` is the model statistics minus their
/// estimate. Sampling error is about 0.5/√20,000 ≈ 0.004; ending on the means instead is
/// biased by ten times that on this RBM (0.046 against 0.003 with samples on NdArray).
pub fn sampled_negatives_estimate_the_model_statistics<B: Backend>(device: &B::Device) {
    let rbm = random_rbm::<B>(6, 4, 1.0, 3, device);
    let data = all_states::<B>(6, device)
        .repeat_dim(0, 313)
        .slice(0..20_000);
    let exact = to_f64(exact_gradient(&rbm, data.clone()).unwrap().flatten());
    let h0 = rbm.hidden_probs(data.clone());
    let largest_error = |sample_visible: bool| {
        B::seed(device, 9);
        let start = rbm.sample_hidden(h0.clone());
        let negative = negative_phase(&rbm, start, 50, sample_visible);
        let estimate = to_f64(cd_gradient(data.clone(), h0.clone(), negative, 1.0).flatten());
        let errors = estimate.iter().zip(&exact).map(|(e, x)| (e - x).abs());
        errors.fold(0.0, f64::max)
    };
    let (sampled, means) = (largest_error(true), largest_error(false));
    assert!(sampled < 0.01, "sampled: largest error {sampled}");
    assert!(
        means > 0.02,
        "means: largest error {means}, no bias to show"
    );
}

/// AIS (2,000 temperatures, 200 runs from a uniform base) agrees with the exact log Z of a
/// 12x8 RBM within 0.1 nats, and of one whose last 3 visible units are label units.
pub fn ais_agrees_with_exact_log_z<B: Backend>(device: &B::Device) {
    let config = AisConfig::new().with_n_betas(2000).with_n_runs(200);
    for rbm in [
        random_rbm::<B>(12, 8, 1.0, 51, device),
        random_labelled_rbm::<B>(9, 3, 8, 1.0, 52, device),
    ] {
        let base = Tensor::<B, 1>::zeros([12], device);
        let exact = log_partition(&rbm).unwrap();
        let ais = ais_log_partition(&rbm, base, &config).unwrap();
        assert!(
            (ais.log_z - exact).abs() < 0.1,
            "AIS {ais:?} vs exact {exact} ({} label units)",
            rbm.labels
        );
    }
}

/// A stack and a classifier saved into `dir` and loaded back compute the same outputs, bit for
/// bit.
pub fn save_and_load_give_identical_outputs<B: Backend>(device: &B::Device, dir: &Path) {
    B::seed(device, 31);
    let config = DbnConfig::new(vec![7, 5, 3]).with_init_std(0.3);
    let dbn = config.init::<B>(device).unwrap();
    save_module(&dbn, &config, dir).unwrap();
    let (loaded, _) = load_module::<B, Dbn<B>>(dir, device).unwrap();
    let v = all_states::<B>(7, device);
    assert_eq!(
        to_f64(loaded.encode(v.clone())),
        to_f64(dbn.encode(v.clone()))
    );
    let config = DbnClassifierConfig::new(vec![7, 5, 3]).with_n_outputs(4);
    let net = config.init::<B>(device).unwrap();
    save_module(&net, &config, dir).unwrap();
    let (loaded, _) = load_module::<B, DbnClassifier<B>>(dir, device).unwrap();
    assert_eq!(to_f64(loaded.forward(v.clone())), to_f64(net.forward(v)));
}

/// The kernels of `crate::kernels` that a backend may have its own of (the CubeCL ones on wgpu
/// and cuda, the fused loops on Flex) agree with Burn's generic operations: the sigmoid and the
/// momentum update to 1e-6, in place (an unshared buffer) and not; the Bernoulli sampler gives
/// 0 and 1 only, its mean within 0.01 of each probability, draws again on every call, and the
/// same draws after the same `B::seed`; and on a backend with kernels of its own
/// ([`crate::kernels::has_own_kernels`]), its sampler is the one that ran.
pub fn kernels_agree_with_the_generic_path<B: Backend>(device: &B::Device) {
    use crate::kernels::{self, MomentumStep, generic};
    B::seed(device, 41);
    let x = Tensor::<B, 2>::random([67, 33], Distribution::Uniform(-30.0, 30.0), device);
    let expected = to_f64(generic::sigmoid(x.clone()));
    assert_close(&to_f64(kernels::sigmoid(x.clone())), &expected, 1e-6);
    // Unshared: the kernel may write into the input's buffer.
    assert_close(&to_f64(kernels::sigmoid(x.clone() * 1.0)), &expected, 1e-6);
    let random = || Tensor::<B, 2>::random([129, 65], Distribution::Default, device);
    let (p, v, s) = (random(), random(), random());
    for c in [
        MomentumStep::cd(0.5, 0.01),
        MomentumStep::sgd(0.9, 0.001, 0.3),
    ] {
        let (p0, v0) = generic::momentum_update(p.clone(), v.clone(), s.clone(), c);
        let (p0, v0) = (to_f64(p0), to_f64(v0));
        let shared = kernels::momentum_update(p.clone(), v.clone(), s.clone(), c);
        let unshared = kernels::momentum_update(p.clone() * 1.0, v.clone() * 1.0, s.clone(), c);
        for (p1, v1) in [shared, unshared] {
            assert_close(&to_f64(p1), &p0, 1e-6);
            assert_close(&to_f64(v1), &v0, 1e-6);
        }
    }
    let n = 200_000;
    let probs = [0.0, 0.1, 0.5, 0.9, 1.0];
    let p = Tensor::<B, 1>::from_floats(probs, device)
        .unsqueeze_dim::<2>(0)
        .repeat_dim(0, n / probs.len());
    let draw = || to_f64(kernels::bernoulli(p.clone()));
    B::seed(device, 7);
    let (first, second) = (draw(), draw());
    B::seed(device, 7);
    assert_eq!(draw(), first, "the same seed draws the same samples");
    assert_ne!(first, second, "each call draws afresh");
    assert!(first.iter().all(|&b| b == 0.0 || b == 1.0));
    for (column, &prob) in probs.iter().enumerate() {
        let column: Vec<f64> = first
            .iter()
            .skip(column)
            .step_by(probs.len())
            .copied()
            .collect();
        let mean = column.iter().sum::<f64>() / column.len() as f64;
        assert!(
            (mean - prob).abs() < 0.01,
            "mean {mean} of Bernoulli({prob}) draws"
        );
    }
    // The backend's own sampler ran where it has one: its draws are not the generic path's.
    B::seed(device, 7);
    let generic = to_f64(generic::bernoulli(p.clone()));
    assert_eq!(
        first != generic,
        kernels::has_own_kernels::<B>(),
        "the samples of a backend's own kernel differ from the generic path's, and only those"
    );
    let unshared = to_f64(kernels::bernoulli(p.clone() * 1.0));
    assert!(unshared.iter().all(|&b| b == 0.0 || b == 1.0));
}

/// Every check of this module on one backend; a save folder is made in the system's temporary
/// folder and removed.
pub fn all<AB: AutodiffBackend>(device: &AB::Device) {
    kernels_agree_with_the_generic_path::<AB::InnerBackend>(device);
    tutorial_example_1::<AB::InnerBackend>(device);
    tutorial_example_2::<AB>(device);
    class_weighted_losses_are_exact::<AB>(device);
    tutorial_example_3::<AB::InnerBackend>(device);
    cd_k_points_along_the_exact_gradient::<AB::InnerBackend>(device);
    label_units_agree_with_enumeration::<AB::InnerBackend>(device);
    sampled_negatives_estimate_the_model_statistics::<AB::InnerBackend>(device);
    ais_agrees_with_exact_log_z::<AB::InnerBackend>(device);
    let dir = std::env::temp_dir().join(format!(
        "dbn-conformance-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    save_and_load_give_identical_outputs::<AB::InnerBackend>(device, &dir);
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex, NdArray};

    #[test]
    fn every_check_passes_on_ndarray() {
        super::all::<Autodiff<NdArray>>(&Default::default());
    }

    /// The fused kernels of `crate::kernels`.
    #[test]
    fn every_check_passes_on_flex() {
        super::all::<Autodiff<Flex>>(&Default::default());
    }
}
