//! Random draws on `Flex`: Bernoulli samples and dropout masks from xoshiro256++ streams
//! seeded by one draw of the backend's generator, so that `B::seed` makes them reproducible.

use burn::prelude::*;

/// A seed drawn from `B`'s RNG (two uniform draws, 48 random bits), so that `B::seed`
/// makes the fused samplers reproducible.
pub(in crate::kernels) fn seed_from<B: Backend>(device: &B::Device) -> u64 {
    let draws = Tensor::<B, 1>::random([2], burn::tensor::Distribution::Default, device)
        .into_data()
        .to_vec::<f32>()
        .expect("a float tensor reads back as f32");
    (u64::from(draws[0].to_bits()) << 32) | u64::from(draws[1].to_bits())
}

/// Replaces each probability by a Bernoulli draw: 1 when a uniform 24-bit number is below
/// it ([`with_uniforms`]).
pub(in crate::kernels) fn bernoulli_slice(p: &mut [f32], seed: u64) {
    with_uniforms(p, seed, |p, u| if u < p { 1.0 } else { 0.0 });
}

/// Fills `mask` with `1 / keep` (probability `keep`: a uniform 24-bit number below it) and
/// 0 ([`with_uniforms`]).
pub(in crate::kernels) fn dropout_mask(mask: &mut [f32], keep: f64, seed: u64) {
    let (keep, kept) = (keep as f32, (1.0 / keep) as f32);
    with_uniforms(mask, seed, |_, u| if u < keep { kept } else { 0.0 });
}

/// Replaces each element `x` by `f(x, u)`, `u` uniform in [0, 1) with 24 random bits, drawn
/// in blocks of a fixed size, each from its own xoshiro256++ stream seeded by `seed` and the
/// block's index, the blocks split between the threads: the same result for a seed whatever
/// the threads.
fn with_uniforms(x: &mut [f32], seed: u64, f: impl Fn(f32, f32) -> f32 + Sync) {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 14;
    const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
    x.par_chunks_mut(BLOCK).enumerate().for_each(|(i, block)| {
        let stream = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = SmallRng::seed_from_u64(stream);
        for x in block {
            let u = (rng.next_u32() >> 8) as f32 * SCALE;
            *x = f(*x, u);
        }
    });
}
