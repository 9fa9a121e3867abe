//! Fused kernels for the hot loops of contrastive divergence and fine-tuning, with Burn's
//! generic tensor operations as the fallback.
//!
//! Each function here is generic over `B: Backend` and computes the same thing on every
//! backend. When the crate is built with the `wgpu` or `cuda` feature and `B` is that backend,
//! the element-wise functions (sigmoid, Bernoulli sampling, the momentum update) are one CubeCL
//! kernel each. When the crate is built with the `flex` feature and `B` is Burn's `Flex` backend,
//! it runs one fused pass over the raw `f32` buffers instead of a chain of tensor operations
//! (each of which reads and writes a full weight-sized buffer), or, for the matrix products,
//! calls the `gemm` crate once per thread on its own band of the output. The backend is
//! recognised at run time by the type of its tensor primitive, so no signature in this crate
//! needs more than `B: Backend`, and a backend this crate does not know still works through the
//! generic path.
//!
//! Where to find what:
//! - `generic.rs`: the generic operations, what every other backend runs;
//! - `flex/mod.rs`: recognising a `Flex` tensor and reaching its buffer;
//! - `flex/products.rs`: the matrix products split between the threads in column bands;
//! - `flex/elementwise.rs`: the vectorised sigmoid, the one-pass momentum update, the scaled
//!   stacking and the finiteness check;
//! - `flex/sampling.rs`: Bernoulli samples and dropout masks from seeded xoshiro256++ streams;
//! - `flex/autodiff.rs`: the fused graph nodes of `Autodiff<Flex>`, under either of Burn's
//!   checkpointing strategies;
//! - `flex/threads.rs`: the pool's threads kept awake through [`in_thread_pool`]'s work;
//! - `flex/raw.rs`: every `unsafe` block of the crate but the two instructions of
//!   `crate::denormals`, with its safety argument (the crate denies `unsafe_code` elsewhere);
//! - `cube/mod.rs`: recognising a tensor of the CubeCL backends (`wgpu`, `cuda`: the crate's
//!   features of those names), and `cube/elementwise.rs`: their sigmoid, Bernoulli sampler and
//!   momentum update as CubeCL kernels;
//! - `downcast.rs`: reaching a backend's own tensor type from generic code.
//!
//! A new backend's kernel goes in a folder of its own beside `flex/`, tried before the generic
//! path in the functions below. See `docs/performance.md` for the measurements behind each
//! kernel.

use burn::prelude::*;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cube;
#[cfg(any(feature = "flex", feature = "wgpu", feature = "cuda"))]
mod downcast;
#[cfg(feature = "flex")]
mod flex;
pub(crate) mod generic;
#[cfg(test)]
mod tests;

/// Whether `B` has kernels of its own here (`Flex`'s fused loops, or the CubeCL kernels of
/// `wgpu` and `cuda`, as the crate's features allow) rather than only the generic path.
pub fn has_own_kernels<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    if flex::is_flex::<B>() {
        return true;
    }
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if cube::on_a_runtime::<B>() {
        return true;
    }
    false
}

/// The coefficients of a momentum step on one parameter tensor `p` with velocity `v`:
///
/// ```text
/// v ← momentum · v + step + param_term · p
/// p ← p + apply · v
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentumStep {
    /// Fraction of the previous velocity kept.
    pub momentum: f64,
    /// Multiple of the parameter added to the velocity (weight decay).
    pub param_term: f64,
    /// Multiple of the velocity added to the parameter.
    pub apply: f64,
}

impl MomentumStep {
    /// Contrastive divergence's form (Hinton's guide): the velocity holds the scaled update,
    /// `v ← momentum · v + step − decay · p`, `p ← p + v`, where `step` is the learning rate
    /// times the gradient estimate and `decay` the learning rate times the weight-decay
    /// coefficient.
    pub fn cd(momentum: f64, decay: f64) -> Self {
        Self {
            momentum,
            param_term: -decay,
            apply: 1.0,
        }
    }

    /// Gradient descent's form (PyTorch's and Burn's `Sgd` without dampening):
    /// `v ← momentum · v + g + weight_decay · p`, `p ← p − learning_rate · v`.
    pub fn sgd(momentum: f64, weight_decay: f64, learning_rate: f64) -> Self {
        Self {
            momentum,
            param_term: weight_decay,
            apply: -learning_rate,
        }
    }
}

/// One momentum step (see [`MomentumStep`]) on one parameter tensor; returns
/// `(param, velocity)`. On `Flex`, one pass over the buffers, split between threads; on `wgpu`
/// and `cuda`, one CubeCL kernel, in place when neither buffer is shared.
///
/// # Shapes
/// param, velocity, step: the same shape `S` -> `(S, S)`
pub fn momentum_update<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    velocity: Tensor<B, D>,
    step: Tensor<B, D>,
    coefficients: MomentumStep,
) -> (Tensor<B, D>, Tensor<B, D>) {
    #[cfg(feature = "flex")]
    let (param, velocity, step) = match flex::momentum_update(param, velocity, step, coefficients) {
        Ok(updated) => return updated,
        Err(inputs) => inputs,
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let (param, velocity, step) = match cube::momentum_update(param, velocity, step, coefficients) {
        Ok(updated) => return updated,
        Err(inputs) => inputs,
    };
    generic::momentum_update(param, velocity, step, coefficients)
}

/// The logistic function `σ(x) = 1 / (1 + e^(−x))`, element-wise. On `Flex`, in place with a
/// vectorised exponential (at most a few `f32` rounding errors from the exact value, see the
/// tests); NaN stays NaN. On `Autodiff<Flex>`, the same forward pass and a backward pass of one
/// fused loop, `∂x = ∂y · y (1 − y)`, from the saved output (Burn's recomputes σ and makes four
/// passes). On `wgpu` and `cuda` (without autodiff), one CubeCL kernel, in place when the
/// buffer is not shared.
///
/// # Shapes
/// any; output as input.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let x = match flex::map_in_place(x, flex::sigmoid_slice) {
        Ok(y) => return y,
        Err(x) => match flex::differentiable_sigmoid(x) {
            Ok(y) => return y,
            Err(x) => x,
        },
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let x = match cube::sigmoid(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    generic::sigmoid(x)
}

/// One Bernoulli draw per element: 1.0 with probability `p`, else 0.0. Uses the backend's RNG
/// (seed it with `B::seed`); on `Flex`, one draw from it seeds a xoshiro256++ stream that makes
/// the samples in the same pass that compares them; on `wgpu` and `cuda`, two draws from it,
/// left on the device, key a counter-based hash (PCG's) of each element's index in one CubeCL
/// kernel.
///
/// # Shapes
/// any; output as input.
pub fn bernoulli<B: Backend, const D: usize>(p: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "flex")]
    let p = {
        // The seed is drawn only once `B` is known to be Flex: elsewhere it would cost a
        // read-back (a device sync on GPUs) per call.
        let device = p.device();
        match flex::map_in_place(p, |p| {
            flex::bernoulli_slice(p, flex::seed_from::<B>(&device))
        }) {
            Ok(sample) => return sample,
            Err(p) => p,
        }
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let p = match cube::bernoulli(p) {
        Ok(sample) => return sample,
        Err(p) => p,
    };
    generic::bernoulli(p)
}

/// Dropout as in training: each element of `x` kept and scaled by `1 / (1 − prob)` with
/// probability `1 − prob`, else zeroed, so each element's expectation is its value; `x`
/// itself where the backend does not differentiate (inference) or `prob` is 0. Uses the
/// backend's RNG (seed it with `B::seed`): elsewhere it draws the mask as `burn::nn::Dropout`
/// does; on `Autodiff<Flex>` one draw from it seeds xoshiro256++ streams that make the mask,
/// already scaled, on every thread (Burn's draws it on one thread, then multiplies twice).
///
/// # Shapes
/// any; output as input.
///
/// # Panics
/// When `prob` is outside `[0, 1)` (as `burn::nn::DropoutConfig::init` for outside `[0, 1]`;
/// at 1 every unit would be dropped and the scale infinite).
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    assert!(
        (0.0..1.0).contains(&prob),
        "dropout probability {prob} outside [0, 1)"
    );
    if prob == 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    let keep = 1.0 - prob;
    #[cfg(feature = "flex")]
    let x = match flex::differentiable_dropout(x, keep) {
        Ok(y) => return y,
        Err(x) => x,
    };
    generic::dropout(x, keep)
}

/// Whether every element of `x` is finite (no NaN, no infinity), read back to the host. On
/// `Flex`, one pass over the buffer split between the threads (Burn's operations write a
/// boolean tensor of the same size and then reduce it); elsewhere one reduction and one
/// read-back.
///
/// # Shapes
/// any
pub fn all_finite<B: Backend, const D: usize>(x: Tensor<B, D>) -> bool {
    #[cfg(feature = "flex")]
    let x = match flex::all_finite(x) {
        Ok(finite) => return finite,
        Err(x) => x,
    };
    generic::all_finite(x)
}

/// Whether every element of every tensor of `parts` is finite, read back to the host once (a
/// model's parameters, flattened). On `Flex`, [`all_finite`] on each; elsewhere one reduction
/// over the sum of all their elements (a NaN or an infinity propagates to it; a sum that
/// overflows counts as not finite) and one read-back, so a GPU waits once per check.
///
/// # Shapes
/// each part `[n_i]`
pub fn all_finite_each<B: Backend>(parts: impl IntoIterator<Item = Tensor<B, 1>>) -> bool {
    #[cfg(feature = "flex")]
    if flex::is_flex::<B>() {
        return parts.into_iter().all(all_finite);
    }
    generic::all_finite_each(parts)
}

/// The matrix product `a · b`. On `Flex`, the `gemm` crate called once per thread, each call
/// on its own band of the output's columns: at the shapes of a CD step this is 10-45% faster
/// than letting `gemm` split one call between the threads (docs/performance.md). Inputs may be
/// strided views (a transpose is not copied).
///
/// # Shapes
/// a `[m, k]`, b `[k, n]` -> `[m, n]`
pub fn matmul<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let (a, b) = match flex::product(a, b, None) {
        Ok(product) => return product,
        Err((a, b, _)) => (a, b),
    };
    generic::matmul(a, b)
}

/// The rows of each part, times the part's scale, stacked: `[c₁ · a₁; c₂ · a₂]` (the two
/// sides of the CD statistics' product). On `Flex`, one pass that writes the new tensor
/// (Burn's operations scale each part into a tensor of its own and then copy both).
///
/// # Shapes
/// parts `[m₁, n]`, `[m₂, n]` -> `[m₁ + m₂, n]`
pub fn stack_scaled<B: Backend>(parts: [(Tensor<B, 2>, f64); 2]) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let parts = match flex::stack_scaled(parts) {
        Ok(stacked) => return stacked,
        Err(parts) => parts,
    };
    generic::stack_scaled(parts)
}

/// The affine map `x · w + bias`, the bias added to every row (what `burn::nn::Linear` computes).
/// On `Flex`, [`matmul`]'s product accumulated onto rows that start as the bias (no separate
/// pass for the sum); on `Autodiff<Flex>`, the same as one graph node whose backward products
/// are split between the threads alike.
///
/// # Shapes
/// x `[m, k]`, w `[k, n]`, bias `[n]` -> `[m, n]`
pub fn affine<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>, bias: Tensor<B, 1>) -> Tensor<B, 2> {
    #[cfg(feature = "flex")]
    let (x, w, bias) = match flex::product(x, w, Some(bias)) {
        Ok(product) => return product,
        Err((x, w, bias)) => match flex::differentiable_affine(x, w, bias.expect("given above")) {
            Ok(product) => return product,
            Err(inputs) => inputs,
        },
    };
    generic::affine(x, w, bias)
}

/// Runs `f` on a thread of rayon's pool (the global pool, or the pool it is called from) and
/// returns its result; when `B` is `Flex` or `Flex` under autodiff, the pool's other free
/// threads are kept awake and looking for work until `f` returns. A loop of many short
/// parallel sections, such as a CD or fine-tuning epoch, then shares each section with the
/// other threads from inside the pool instead of waking the calling thread after every one
/// (about 5% of a CD-1 epoch at 784x500; ndarray's threaded products gain that too), and on
/// `Flex` the other threads take their share at once instead of being woken from sleep for
/// it (10-25% of an epoch at batch 100; docs/performance.md, attempt 30). The threads kept
/// awake call `sched_yield` when they find no work, so they compete with other runnable
/// threads rather than leave their cores to them: the pool's other cores show as busy while
/// `f` runs, until a millisecond without work, after which they look for it every 200 µs. On
/// other backends (a GPU's work does not run on the pool) nothing is kept awake.
pub fn in_thread_pool<B: Backend, R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "flex")]
    if flex::is_flex_based::<B>() {
        return flex::with_pool_awake(f);
    }
    rayon::scope(|_| f())
}

/// `e^x` in `f32` without library calls, so that loops over it vectorise: `x = n·ln2 + r`
/// with `|r| ≤ ln2/2`, `e^r` by its degree-6 Taylor polynomial (error below 3e-8 relative), and
/// `2^n` put into the exponent bits. Inputs are clamped to [−87.3, 88], where `2^n` is a normal
/// `f32` (so `e^(−inf)` gives about 1.2e-38, not 0); NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // ln 2 split in two for an exact n·ln2
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.0); // NaN stays NaN
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let poly = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let exponent = (shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32).wrapping_add(127);
    poly * f32::from_bits((exponent as u32) << 23)
}
