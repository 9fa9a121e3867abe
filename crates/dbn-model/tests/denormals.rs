//! `with_denormals_flushed`, in a test binary of its own: the mode it sets is the whole
//! thread pool's, which the other tests of a binary share.
#![cfg(target_arch = "x86_64")]

use std::hint::black_box;

use burn::prelude::*;
use dbn_model::{kernels, with_denormals_flushed};

type F = burn_flex::Flex;

/// `2^-126 · 0.5`: the denormal 5.9e-39, or 0 where denormal results are flushed.
fn denormal_result() -> f32 {
    black_box(f32::MIN_POSITIVE) * black_box(0.5)
}

/// The smallest denormal times `2^100`: 1.8e-15, or 0 where denormal inputs read as 0.
fn denormal_input() -> f32 {
    black_box(f32::from_bits(1)) * black_box(2f32.powi(100))
}

/// `f()` on this thread, on every thread of rayon's global pool and on a thread started now.
fn everywhere(f: fn() -> f32) -> Vec<f32> {
    let mut results = vec![f()];
    results.extend(rayon::broadcast(|_| f()));
    results.push(std::thread::spawn(f).join().expect("the thread ran"));
    results
}

/// `[256, 256] · [256, 256]` of 1e-20 everywhere: every term of every sum a denormal 1e-40;
/// 2.6e-38 each, or 0 where the terms are flushed. Large enough that the `Flex` kernel splits
/// it between the pool's threads.
fn product_of_tiny_terms() -> Vec<f32> {
    let device = Default::default();
    let x = Tensor::<F, 2>::full([256, 256], 1e-20, &device);
    let product = kernels::matmul(x.clone(), x);
    product.into_data().into_vec().expect("f32 data")
}

// One test, so that nothing else runs on the pool while its mode is changed.
#[test]
fn denormals_are_flushed_inside_and_kept_before_and_after() {
    let kept = |values: &[f32]| values.iter().all(|&x| x > 0.0 && x.is_finite());
    let flushed = |values: &[f32]| values.iter().all(|&x| x == 0.0);
    assert!(
        kept(&everywhere(denormal_result)),
        "denormals are kept by default"
    );
    assert!(kept(&everywhere(denormal_input)));
    assert!(kept(&product_of_tiny_terms()));

    // SAFETY: nothing inside relies on denormals; the test looks at what flushing does.
    let (results, inputs, product) = unsafe {
        with_denormals_flushed(|| {
            (
                everywhere(denormal_result),
                everywhere(denormal_input),
                product_of_tiny_terms(),
            )
        })
    };
    assert!(flushed(&results), "denormal results flushed: {results:?}");
    assert!(flushed(&inputs), "denormal inputs read as 0: {inputs:?}");
    assert!(flushed(&product), "the threaded product's terms flushed");

    assert!(kept(&everywhere(denormal_result)), "the mode restored");
    assert!(kept(&everywhere(denormal_input)));
    assert!(kept(&product_of_tiny_terms()));

    // Overlapping calls from threads outside the pool and from the pool's own threads: each
    // flushed on its own thread, none stuck waiting for another, the mode back after the last.
    // SAFETY: as above. `black_box` makes the product be computed inside, not after (the
    // compiler may move arithmetic across the mode change: `with_denormals_flushed`'s contract).
    let flushed_result = || unsafe { with_denormals_flushed(|| black_box(denormal_result())) };
    let fifty = || (0..50).map(|_| flushed_result()).collect::<Vec<_>>();
    let overlapping: Vec<f32> = std::thread::scope(|scope| {
        let outside: Vec<_> = (0..3).map(|_| scope.spawn(fifty)).collect();
        let inside = rayon::broadcast(|_| fifty()).concat();
        let outside = outside
            .into_iter()
            .flat_map(|run| run.join().expect("no panic"));
        outside.chain(inside).collect()
    });
    assert!(
        flushed(&overlapping),
        "overlapping calls flushed: {overlapping:?}"
    );
    assert!(
        kept(&everywhere(denormal_result)),
        "the mode restored after them"
    );
    assert!(kept(&everywhere(denormal_input)));
}
