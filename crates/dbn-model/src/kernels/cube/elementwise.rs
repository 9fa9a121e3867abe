//! The CubeCL kernels: one thread per element, in place when the input's buffer is not shared
//! (Burn's `can_mut`), into a new buffer otherwise. `f32` only (the callers check).

use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::calculate_cube_count_elemwise;
use cubecl::prelude::*;

use crate::kernels::MomentumStep;

/// `σ(x) = 1 / (1 + e^(−x))`.
#[cube]
fn logistic<F: Float>(x: F) -> F {
    F::new(1.0) / (F::new(1.0) + F::exp(-x))
}

#[cube(launch)]
fn sigmoid_into<F: Float>(x: &Array<F>, y: &mut Array<F>) {
    if ABSOLUTE_POS < y.len() {
        y[ABSOLUTE_POS] = logistic::<F>(x[ABSOLUTE_POS]);
    }
}

#[cube(launch)]
fn sigmoid_in_place<F: Float>(x: &mut Array<F>) {
    if ABSOLUTE_POS < x.len() {
        x[ABSOLUTE_POS] = logistic::<F>(x[ABSOLUTE_POS]);
    }
}

/// A well-mixed 32-bit hash (PCG's output permutation of one LCG step).
#[cube]
fn pcg_hash(input: u32) -> u32 {
    let state = input * 747796405u32 + 2891336453u32;
    let word = ((state >> ((state >> 28u32) + 4u32)) ^ state) * 277803737u32;
    (word >> 22u32) ^ word
}

/// A uniform number in [0, 1) on a 2^-24 grid for element `i`, from the two key draws in
/// [0, 1): a different permutation of the elements' hashes for every key.
#[cube]
fn uniform<F: Float>(key: &Array<F>, i: u32) -> F {
    let k0 = u32::cast_from(key[0] * F::new(16777216.0));
    let k1 = u32::cast_from(key[1] * F::new(16777216.0));
    let h = pcg_hash(pcg_hash(i + k0) ^ k1);
    F::cast_from(h >> 8u32) / F::new(16777216.0)
}

#[cube(launch)]
fn bernoulli_into<F: Float>(p: &Array<F>, key: &Array<F>, out: &mut Array<F>) {
    if ABSOLUTE_POS < out.len() {
        let u = uniform::<F>(key, ABSOLUTE_POS as u32);
        out[ABSOLUTE_POS] = F::cast_from(u < p[ABSOLUTE_POS]);
    }
}

#[cube(launch)]
fn bernoulli_in_place<F: Float>(p: &mut Array<F>, key: &Array<F>) {
    if ABSOLUTE_POS < p.len() {
        let u = uniform::<F>(key, ABSOLUTE_POS as u32);
        p[ABSOLUTE_POS] = F::cast_from(u < p[ABSOLUTE_POS]);
    }
}

/// The new velocity of a momentum step: `momentum · v + step + param_term · p`.
#[cube]
fn new_velocity<F: Float>(p: F, v: F, step: F, momentum: f32, param_term: f32) -> F {
    F::cast_from(momentum) * v + step + F::cast_from(param_term) * p
}

#[cube(launch)]
fn momentum_into<F: Float>(
    param: &Array<F>,
    velocity: &Array<F>,
    step: &Array<F>,
    param_out: &mut Array<F>,
    velocity_out: &mut Array<F>,
    momentum: f32,
    param_term: f32,
    apply: f32,
) {
    let i = ABSOLUTE_POS;
    if i < param_out.len() {
        let v = new_velocity::<F>(param[i], velocity[i], step[i], momentum, param_term);
        velocity_out[i] = v;
        param_out[i] = param[i] + F::cast_from(apply) * v;
    }
}

#[cube(launch)]
fn momentum_in_place<F: Float>(
    param: &mut Array<F>,
    velocity: &mut Array<F>,
    step: &Array<F>,
    momentum: f32,
    param_term: f32,
    apply: f32,
) {
    let i = ABSOLUTE_POS;
    if i < param.len() {
        let v = new_velocity::<F>(param[i], velocity[i], step[i], momentum, param_term);
        velocity[i] = v;
        param[i] += F::cast_from(apply) * v;
    }
}

/// The cube count and dimensions of one thread per element of `n`.
fn elementwise_launch<R: CubeRuntime>(client: &ComputeClient<R>, n: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(client, n);
    (calculate_cube_count_elemwise(client, n, dim), dim)
}

/// A new tensor of `like`'s shape, device and type, contents undefined.
fn empty_like<R: CubeRuntime>(like: &CubeTensor<R>) -> CubeTensor<R> {
    empty_device_dtype(
        like.client.clone(),
        like.device.clone(),
        like.meta.shape().clone(),
        like.dtype,
    )
}

/// The logistic function of each element.
pub(super) fn sigmoid<R: CubeRuntime>(x: CubeTensor<R>) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let n = x.meta.num_elements();
    if n == 0 {
        return x;
    }
    let (count, dim) = elementwise_launch(&x.client, n);
    let client = x.client.clone();
    if x.can_mut() {
        sigmoid_in_place::launch::<f32, R>(&client, count, dim, x.clone().into_array_arg());
        return x;
    }
    let y = empty_like(&x);
    sigmoid_into::launch::<f32, R>(
        &client,
        count,
        dim,
        x.into_array_arg(),
        y.clone().into_array_arg(),
    );
    y
}

/// A Bernoulli draw for each probability of `p`, keyed by the two uniform draws of `key`.
pub(super) fn bernoulli<R: CubeRuntime>(p: CubeTensor<R>, key: CubeTensor<R>) -> CubeTensor<R> {
    let p = into_contiguous(p);
    let n = p.meta.num_elements();
    if n == 0 {
        return p;
    }
    let (count, dim) = elementwise_launch(&p.client, n);
    let client = p.client.clone();
    if p.can_mut() {
        bernoulli_in_place::launch::<f32, R>(
            &client,
            count,
            dim,
            p.clone().into_array_arg(),
            key.into_array_arg(),
        );
        return p;
    }
    let out = empty_like(&p);
    bernoulli_into::launch::<f32, R>(
        &client,
        count,
        dim,
        p.into_array_arg(),
        key.into_array_arg(),
        out.clone().into_array_arg(),
    );
    out
}

/// The momentum step `c` (see [`MomentumStep`]): `(param, velocity)` updated.
pub(super) fn momentum_update<R: CubeRuntime>(
    param: CubeTensor<R>,
    velocity: CubeTensor<R>,
    step: CubeTensor<R>,
    c: MomentumStep,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let [param, velocity, step] = [param, velocity, step].map(into_contiguous);
    let n = param.meta.num_elements();
    if n == 0 {
        return (param, velocity);
    }
    let (count, dim) = elementwise_launch(&param.client, n);
    let client = param.client.clone();
    let [momentum, param_term, apply] = [c.momentum, c.param_term, c.apply].map(|x| x as f32);
    if param.can_mut() && velocity.can_mut() {
        momentum_in_place::launch::<f32, R>(
            &client,
            count,
            dim,
            param.clone().into_array_arg(),
            velocity.clone().into_array_arg(),
            step.into_array_arg(),
            momentum,
            param_term,
            apply,
        );
        return (param, velocity);
    }
    let (param_out, velocity_out) = (empty_like(&param), empty_like(&param));
    momentum_into::launch::<f32, R>(
        &client,
        count,
        dim,
        param.into_array_arg(),
        velocity.into_array_arg(),
        step.into_array_arg(),
        param_out.clone().into_array_arg(),
        velocity_out.clone().into_array_arg(),
        momentum,
        param_term,
        apply,
    );
    (param_out, velocity_out)
}
