//! Each kernel against the generic path (or against exact values), on every backend it serves.

use super::*;
use crate::numerics::to_f64;
use crate::test_support::assert_close;

/// The update on `B`, and the generic one on `B`, from the same values.
fn both<B: Backend>() -> Vec<[(Vec<f64>, Vec<f64>); 2]> {
    let device = Default::default();
    B::seed(&device, 5);
    let random = || Tensor::<B, 2>::random([7, 5], burn::tensor::Distribution::Default, &device);
    let (p, v, s) = (random(), random(), random());
    let mut results = Vec::new();
    for c in [
        MomentumStep::cd(0.9, 0.01),
        MomentumStep::sgd(0.9, 0.01, 0.5),
    ] {
        let fused = momentum_update(p.clone(), v.clone(), s.clone(), c);
        let generic = generic::momentum_update(p.clone(), v.clone(), s.clone(), c);
        results.push([fused, generic].map(|(p, v)| (to_f64(p), to_f64(v))));
    }
    results
}

#[test]
fn the_update_is_the_formula() {
    let device = Default::default();
    let p = Tensor::<crate::test_support::B, 1>::from_floats([1.0, -2.0], &device);
    let v = Tensor::from_floats([0.5, 0.25], &device);
    let s = Tensor::from_floats([0.1, 0.2], &device);
    let (p1, v1) = momentum_update(p.clone(), v.clone(), s.clone(), MomentumStep::cd(0.5, 0.1));
    // v = 0.5·v + s − 0.1·p; p = p + v
    assert_close(&to_f64(v1), &[0.25 + 0.1 - 0.1, 0.125 + 0.2 + 0.2], 1e-7);
    assert_close(&to_f64(p1), &[1.25, -2.0 + 0.525], 1e-7);
    let (p2, v2) = momentum_update(p, v, s, MomentumStep::sgd(0.5, 0.1, 2.0));
    // v = 0.5·v + g + 0.1·p; p = p − 2·v
    assert_close(&to_f64(v2), &[0.25 + 0.1 + 0.1, 0.125 + 0.2 - 0.2], 1e-7);
    assert_close(&to_f64(p2), &[1.0 - 0.9, -2.0 - 0.25], 1e-7);
}

#[cfg(feature = "flex")]
#[test]
fn the_flex_kernel_matches_the_generic_path() {
    for [(p1, v1), (p2, v2)] in both::<burn_flex::Flex>() {
        assert_close(&p1, &p2, 1e-6);
        assert_close(&v1, &v2, 1e-6);
    }
}

#[test]
fn stacking_scales_each_part() {
    let device = Default::default();
    let a = Tensor::<crate::test_support::B, 2>::from_floats([[1.0, 2.0]], &device);
    let b = Tensor::from_floats([[3.0, -4.0], [0.5, 0.0]], &device);
    let stacked = stack_scaled([(a, 2.0), (b, -0.5)]);
    assert_eq!(stacked.dims(), [3, 2]);
    assert_close(&to_f64(stacked), &[2.0, 4.0, -1.5, 2.0, -0.25, 0.0], 1e-7);
}

#[cfg(feature = "flex")]
#[test]
fn the_flex_stacking_matches_the_generic_path() {
    type F = burn_flex::Flex;
    let device = Default::default();
    let a = Tensor::<F, 2>::random([7, 5], burn::tensor::Distribution::Default, &device);
    let b = Tensor::<F, 2>::random([3, 5], burn::tensor::Distribution::Default, &device);
    let parts = [(a, 0.3), (b, -1.7)];
    let generic = to_f64(generic::stack_scaled(parts.clone()));
    assert_eq!(to_f64(stack_scaled(parts.clone())), generic);
    // A strided part (columns of a wider tensor) takes the generic path, with the same result.
    let [(a, ca), (b, cb)] = parts;
    let wider = Tensor::cat(vec![a, Tensor::ones([7, 2], &device)], 1);
    let strided = [(wider.slice([0..7, 0..5]), ca), (b, cb)];
    assert_eq!(to_f64(stack_scaled(strided)), generic);
}

#[test]
fn the_vectorisable_exp_is_accurate_over_the_whole_range() {
    let mut worst: f64 = 0.0;
    for i in -8730..=8800 {
        let x = i as f32 * 0.01;
        let exact = (x as f64).exp();
        worst = worst.max((exp_f32(x) as f64 - exact).abs() / exact);
    }
    assert!(worst < 5e-7, "relative error {worst}");
    assert!(exp_f32(f32::NAN).is_nan());
    assert!(exp_f32(f32::NEG_INFINITY) > 0.0 && exp_f32(f32::NEG_INFINITY) < 1.3e-38);
    assert!(exp_f32(f32::INFINITY).is_finite());
}

#[cfg(feature = "flex")]
#[test]
fn the_flex_sigmoid_matches_the_exact_one() {
    type F = burn_flex::Flex;
    let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
    let x = Tensor::<F, 1>::from_floats(xs.as_slice(), &Default::default());
    let got = to_f64(sigmoid(x));
    let exact: Vec<f64> = xs
        .iter()
        .map(|&x| 1.0 / (1.0 + (-x as f64).exp()))
        .collect();
    assert_close(&got, &exact, 2e-7);
    let special =
        Tensor::<F, 1>::from_floats([f32::INFINITY, f32::NEG_INFINITY], &Default::default());
    assert_close(&to_f64(sigmoid(special)), &[1.0, 0.0], 1e-30);
    let nan = Tensor::<F, 1>::from_floats([f32::NAN], &Default::default());
    assert!(to_f64(sigmoid(nan))[0].is_nan());
}

#[cfg(feature = "flex")]
#[test]
fn flex_bernoulli_samples_have_the_right_means_and_follow_the_seed() {
    type F = burn_flex::Flex;
    let device = Default::default();
    let p = Tensor::<F, 2>::from_floats([[0.0, 0.1, 0.5, 0.9, 1.0]], &device).repeat_dim(0, 20_000);
    F::seed(&device, 3);
    let a = bernoulli(p.clone());
    F::seed(&device, 3);
    let b = bernoulli(p.clone());
    assert_eq!(to_f64(a.clone()), to_f64(b));
    let means = to_f64(a.mean_dim(0));
    // Binomial standard error at p = 0.5 and n = 20,000 is 0.0035: 5 of them.
    assert_close(&means, &[0.0, 0.1, 0.5, 0.9, 1.0], 0.018);
    assert_ne!(to_f64(bernoulli(p.clone())), to_f64(bernoulli(p)));
}

/// `Autodiff<Flex>` under each of Burn's checkpointing strategies, as the fused graph nodes
/// serve them all.
#[cfg(feature = "flex")]
type Balanced = burn::backend::Autodiff<
    burn_flex::Flex,
    burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing,
>;

#[cfg(feature = "flex")]
#[test]
fn the_differentiable_sigmoid_has_burns_values_and_gradients() {
    sigmoid_matches_burns::<burn::backend::Autodiff<burn_flex::Flex>>();
    sigmoid_matches_burns::<Balanced>();
}

#[cfg(feature = "flex")]
fn sigmoid_matches_burns<Ad: burn::tensor::backend::AutodiffBackend>() {
    let device = Default::default();
    let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.37).collect();
    let run = |f: fn(Tensor<Ad, 2>) -> Tensor<Ad, 2>| {
        let x = Tensor::<Ad, 1>::from_floats(xs.as_slice(), &device)
            .reshape([9, 9])
            .require_grad();
        // A weighted sum, so that each element's gradient differs.
        let weights = Tensor::<Ad, 1>::from_floats(xs.as_slice(), &device).reshape([9, 9]);
        let y = f(x.clone());
        let grads = (y.clone() * weights).sum().backward();
        let dx = x.grad(&grads).expect("x is tracked");
        (to_f64(y.inner()), to_f64(dx))
    };
    let (y, dx) = run(sigmoid);
    let (burn_y, burn_dx) = run(burn::tensor::activation::sigmoid);
    assert_close(&y, &burn_y, 2e-7);
    assert_close(&dx, &burn_dx, 1e-6);
}

#[cfg(feature = "flex")]
#[test]
fn flex_dropout_keeps_the_expectation_and_its_gradient_is_the_mask() {
    type Ad = burn::backend::Autodiff<burn_flex::Flex>;
    let x = uniform::<Ad, 2>([300, 200], 8).require_grad();
    let weights = uniform::<Ad, 2>([300, 200], 9);
    let y = dropout(x.clone(), 0.3);
    let grads = (y.clone() * weights.clone()).sum().backward();
    let dx = to_f64(x.grad(&grads).expect("x is tracked"));
    let (x, y, w) = (
        to_f64(x.inner()),
        to_f64(y.inner()),
        to_f64(weights.inner()),
    );
    let kept = (1.0 / 0.7f64) as f32;
    let mut dropped = 0;
    // (An input of exactly 0 would read as dropped either way: none is drawn here.)
    assert!(x.iter().all(|&x| x != 0.0));
    for i in 0..y.len() {
        if y[i] == 0.0 {
            dropped += 1;
            assert_eq!(dx[i], 0.0, "a dropped unit passes no gradient");
        } else {
            assert_eq!(y[i], f64::from(x[i] as f32 * kept), "kept units are scaled");
            assert_eq!(dx[i], f64::from(w[i] as f32 * kept), "their gradient too");
        }
    }
    // Binomial standard error at 0.3 over 60,000 units: 0.0019; 5 of them.
    let share = dropped as f64 / y.len() as f64;
    assert!((share - 0.3).abs() < 0.0095, "dropped share {share}");
    // Without autodiff (inference), or with probability 0, the input passes through.
    let plain = uniform::<burn_flex::Flex, 2>([30, 20], 10);
    assert_eq!(to_f64(dropout(plain.clone(), 0.3)), to_f64(plain));
    let tracked = uniform::<Ad, 2>([30, 20], 10);
    assert_eq!(to_f64(dropout(tracked.clone(), 0.0)), to_f64(tracked));
}

#[test]
#[should_panic(expected = "dropout probability 1 outside [0, 1)")]
fn a_dropout_of_every_unit_is_refused() {
    let x = Tensor::<crate::test_support::B, 1>::ones([4], &Default::default());
    dropout(x, 1.0);
}

#[cfg(feature = "flex")]
#[test]
fn the_flex_samplers_follow_their_seed_whatever_the_threads() {
    // Several blocks, so that more than one thread takes part.
    let one_thread = |draw: &(dyn Fn(u64) -> Vec<f32> + Sync)| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| draw(11))
    };
    let mask = |seed| {
        let mut mask = vec![0.0f32; 100_000];
        flex::dropout_mask(&mut mask, 0.8, seed);
        mask
    };
    assert_eq!(mask(11), one_thread(&mask));
    assert_ne!(mask(11), mask(12));
    assert!(mask(11).iter().all(|&m| m == 0.0 || m == 1.25));
    let sample = |seed| {
        let mut p: Vec<f32> = (0..100_000).map(|i| (i % 10) as f32 / 10.0).collect();
        flex::bernoulli_slice(&mut p, seed);
        p
    };
    assert_eq!(sample(11), one_thread(&sample));
    assert_ne!(sample(11), sample(12));
    assert!(sample(11).iter().all(|&x| x == 0.0 || x == 1.0));
}

/// Values uniform in [-1, 1) from a generator of this test's own: drawing from the
/// backend's shared RNG would race with the tests that seed it and compare two draws.
#[cfg(feature = "flex")]
fn uniform<B: Backend, const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    let mut rng = SmallRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

#[cfg(feature = "flex")]
#[test]
fn flex_products_match_burns_on_strided_views_and_uneven_bands() {
    type F = burn_flex::Flex;
    // One thread (small), and split between threads with bands of uneven width.
    for [m, k, n] in [[3, 4, 5], [100, 784, 500], [37, 300, 1001], [250, 200, 17]] {
        // A transposed view of a row slice: neither operand is a plain row-major buffer.
        let a = uniform::<F, 2>([k + 2, m], 1).slice(1..k + 1).transpose();
        let b = uniform::<F, 2>([n, k], 2).transpose();
        let bias = uniform::<F, 1>([n], 3);
        let tolerance = 1e-5 * k as f64;
        assert_close(
            &to_f64(matmul(a.clone(), b.clone())),
            &to_f64(a.clone().matmul(b.clone())),
            tolerance,
        );
        assert_close(
            &to_f64(affine(a.clone(), b.clone(), bias.clone())),
            &to_f64(a.matmul(b) + bias.unsqueeze()),
            tolerance,
        );
    }
    // No inner dimension: the new output is all zeros, not whatever its memory held.
    let device = Default::default();
    let empty = matmul(
        Tensor::<F, 2>::zeros([40, 0], &device),
        Tensor::zeros([0, 600], &device),
    );
    assert_eq!(to_f64(empty), vec![0.0; 40 * 600]);
}

#[cfg(feature = "flex")]
#[test]
fn the_differentiable_affine_map_has_burns_values_and_gradients() {
    affine_matches_burns::<burn::backend::Autodiff<burn_flex::Flex>>();
    affine_matches_burns::<Balanced>();
}

#[cfg(feature = "flex")]
fn affine_matches_burns<Ad: burn::tensor::backend::AutodiffBackend>() {
    // Above the threading threshold (split into bands) and below it.
    for [m, k, n] in [[100, 300, 500], [5, 7, 3]] {
        let x = uniform::<Ad, 2>([m, k], 4);
        let w = uniform::<Ad, 2>([k, n], 5);
        let bias = uniform::<Ad, 1>([n], 6);
        // A weighted sum, so that each output's gradient differs.
        let weights = uniform::<Ad, 2>([m, n], 7);
        for track_x in [true, false] {
            let run = |f: fn(Tensor<Ad, 2>, Tensor<Ad, 2>, Tensor<Ad, 1>) -> Tensor<Ad, 2>| {
                let x = if track_x {
                    x.clone().require_grad()
                } else {
                    x.clone()
                };
                let (w, bias) = (w.clone().require_grad(), bias.clone().require_grad());
                let y = f(x.clone(), w.clone(), bias.clone());
                let grads = (y.clone() * weights.clone()).sum().backward();
                let dx = x.grad(&grads).map(to_f64);
                let dw = to_f64(w.grad(&grads).expect("w is tracked"));
                let db = to_f64(bias.grad(&grads).expect("bias is tracked"));
                (to_f64(y.inner()), dx, dw, db)
            };
            let (y, dx, dw, db) = run(affine);
            let (burn_y, burn_dx, burn_dw, burn_db) = run(|x, w, b| x.matmul(w) + b.unsqueeze());
            let tolerance = 1e-5 * m.max(k) as f64;
            assert_close(&y, &burn_y, tolerance);
            assert_eq!(dx.is_some(), track_x);
            if let (Some(dx), Some(burn_dx)) = (dx, burn_dx) {
                assert_close(&dx, &burn_dx, tolerance);
            }
            assert_close(&dw, &burn_dw, tolerance);
            assert_close(&db, &burn_db, tolerance);
        }
    }
}

#[test]
fn the_generic_path_computes_products_and_affine_maps() {
    type N = crate::test_support::B;
    let device = Default::default();
    let a = Tensor::<N, 2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
    let b = Tensor::<N, 2>::from_floats([[1.0, 0.5], [-1.0, 2.0]], &device);
    let bias = Tensor::<N, 1>::from_floats([10.0, 20.0], &device);
    assert_eq!(to_f64(matmul(a.clone(), b.clone())), [-1.0, 4.5, -1.0, 9.5]);
    assert_eq!(to_f64(affine(a, b, bias)), [9.0, 24.5, 9.0, 29.5]);
}

/// Values that are finite at the edges of the range, and the non-finite ones.
const EDGE_VALUES: [(f32, bool); 8] = [
    (f32::MAX, true),
    (f32::MIN, true),
    (f32::MIN_POSITIVE / 2.0, true), // subnormal
    (-0.0, true),
    (f32::NAN, false),
    (-f32::NAN, false),
    (f32::INFINITY, false),
    (f32::NEG_INFINITY, false),
];

/// [`all_finite`] on `B` against the generic path and the expected answer: each edge value
/// alone among zeros, at the start, inside the second of the kernel's chunks, and at the end;
/// also on a strided view and on no elements.
fn finiteness_checks_agree<B: Backend>() {
    let device = Default::default();
    let n = (1 << 16) + 1000;
    for (value, finite) in EDGE_VALUES {
        for at in [0, (1 << 16) + 7, n - 1] {
            let mut values = vec![0.0f32; n];
            values[at] = value;
            let x = Tensor::<B, 1>::from_data(TensorData::new(values, [n]), &device);
            assert_eq!(all_finite(x.clone()), finite, "{value} at {at}");
            assert_eq!(generic::all_finite(x), finite, "generic: {value} at {at}");
        }
    }
    let rows = Tensor::<B, 2>::from_floats([[1.0, f32::NAN], [2.0, 3.0]], &device);
    assert!(all_finite(rows.clone().transpose().slice([0..1, 0..2])));
    assert!(!all_finite(rows.transpose()));
    assert!(all_finite(Tensor::<B, 1>::empty([0], &device)));
}

#[test]
fn finiteness_checks_agree_on_the_generic_path() {
    finiteness_checks_agree::<crate::test_support::B>();
    finiteness_checks_of_parts_agree::<crate::test_support::B>();
}

/// [`all_finite_each`] on `B` against the generic path: each edge value in the first, second
/// or last of three parts of other sizes; no parts; the generic sum that overflows.
fn finiteness_checks_of_parts_agree<B: Backend>() {
    let device = Default::default();
    let sizes = [(1 << 16) + 3, 5, 700];
    for (value, finite) in EDGE_VALUES {
        for part in 0..sizes.len() {
            let device = &device;
            let parts = || {
                sizes.iter().enumerate().map(move |(i, &n)| {
                    let mut values = vec![0.5f32; n];
                    if i == part {
                        values[n / 2] = value;
                    }
                    Tensor::<B, 1>::from_data(TensorData::new(values, [n]), device)
                })
            };
            assert_eq!(all_finite_each(parts()), finite, "{value} in part {part}");
            assert_eq!(
                generic::all_finite_each(parts()),
                finite,
                "generic: {value} in part {part}"
            );
        }
    }
    assert!(all_finite_each(std::iter::empty::<Tensor<B, 1>>()));
    assert!(generic::all_finite_each(std::iter::empty::<Tensor<B, 1>>()));
    let huge = [Tensor::<B, 1>::from_floats([f32::MAX, f32::MAX], &device)];
    assert!(!generic::all_finite_each(huge), "an overflowing sum counts");
}

#[cfg(feature = "flex")]
#[test]
fn finiteness_checks_agree_on_flex() {
    finiteness_checks_agree::<burn_flex::Flex>();
    finiteness_checks_of_parts_agree::<burn_flex::Flex>();
    // Each part checked on its own: no sum to overflow.
    let huge = Tensor::<burn_flex::Flex, 1>::from_floats([f32::MAX, f32::MAX], &Default::default());
    assert!(all_finite_each([huge]));
}

#[test]
#[cfg(feature = "flex")]
fn the_pool_is_kept_awake_for_flex_work_only() {
    // A test thread is outside rayon's pool: `f` moves into it on every backend, and the
    // pool is kept awake for `Flex` (under autodiff too) only.
    let seen = || {
        (
            rayon::current_thread_index().is_some(),
            flex::keeping_pool_awake(),
        )
    };
    assert_eq!(in_thread_pool::<burn_flex::Flex, _>(seen), (true, true));
    type Ad = burn::backend::Autodiff<burn_flex::Flex>;
    assert_eq!(in_thread_pool::<Ad, _>(seen), (true, true));
    type Balanced = burn::backend::Autodiff<
        burn_flex::Flex,
        burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing,
    >;
    assert_eq!(in_thread_pool::<Balanced, _>(seen), (true, true));
    assert_eq!(
        in_thread_pool::<crate::test_support::B, _>(seen),
        (true, false)
    );
}
