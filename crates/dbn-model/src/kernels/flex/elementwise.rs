//! Element-wise kernels on `Flex`: the sigmoid with the widest vector instructions the CPU has,
//! the momentum update in one pass split between the threads, the scaled stacking of two
//! matrices in one pass, and the finiteness check in one pass split between the threads.

use burn::prelude::*;
use burn_flex::FlexTensor;

use super::{Inputs, elements, elements_mut, from_flex, to_flex, untaken};

/// σ on every element: the loop the compiler vectorises for each instruction set
/// ([`super::raw::sigmoid_slice`] picks the widest the CPU has).
#[inline(always)]
pub(super) fn sigmoid_loop(x: &mut [f32]) {
    for x in x {
        *x = 1.0 / (1.0 + crate::kernels::exp_f32(-*x));
    }
}

/// [`crate::kernels::momentum_update`] in one pass; the inputs back when `B` is not `Flex`.
pub(in crate::kernels) fn momentum_update<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    velocity: Tensor<B, D>,
    step: Tensor<B, D>,
    c: crate::kernels::MomentumStep,
) -> Result<(Tensor<B, D>, Tensor<B, D>), Inputs<B, D>> {
    let flex = (to_flex(param), to_flex(velocity), to_flex(step));
    let (mut param, mut velocity, step) = match flex {
        (Ok(p), Ok(v), Ok(s)) => (p, v, s),
        (p, v, s) => return Err((untaken(p), untaken(v), untaken(s))),
    };
    let (momentum, param_term, apply) = (c.momentum as f32, c.param_term as f32, c.apply as f32);
    {
        let s = elements(&step);
        let v = elements_mut(&mut velocity);
        assert_eq!(v.len(), s.len(), "velocity and step differ in size");
        let p = elements_mut(&mut param);
        assert_eq!(p.len(), s.len(), "parameter and step differ in size");
        // Memory-bound: split large tensors between the threads, 64 Ki elements a task.
        const CHUNK: usize = 1 << 16;
        let update = |((p, v), s): ((&mut [f32], &mut [f32]), &[f32])| {
            for ((p, v), s) in p.iter_mut().zip(v.iter_mut()).zip(s) {
                *v = momentum * *v + *s + param_term * *p;
                *p += apply * *v;
            }
        };
        use rayon::prelude::*;
        p.par_chunks_mut(CHUNK)
            .zip(v.par_chunks_mut(CHUNK))
            .zip(s.par_chunks(CHUNK))
            .for_each(update);
    }
    Ok((from_flex(param), from_flex(velocity)))
}

/// [`crate::kernels::stack_scaled`] in one pass; the parts back when `B` is not `Flex` or a
/// part is not a contiguous `f32` buffer.
pub(in crate::kernels) fn stack_scaled<B: Backend>(
    [(top, top_scale), (bottom, bottom_scale)]: [(Tensor<B, 2>, f64); 2],
) -> Result<Tensor<B, 2>, [(Tensor<B, 2>, f64); 2]> {
    let ([m1, n], [m2, n2]) = (top.dims(), bottom.dims());
    let (top, bottom) = match (to_flex(top), to_flex(bottom)) {
        (Ok(top), Ok(bottom)) => (top, bottom),
        (top, bottom) => return Err([(untaken(top), top_scale), (untaken(bottom), bottom_scale)]),
    };
    assert_eq!(n, n2, "stack_scaled: parts of {n} and {n2} columns");
    let mut out = Vec::with_capacity((m1 + m2) * n);
    for (part, scale) in [(&top, top_scale as f32), (&bottom, bottom_scale as f32)] {
        out.extend(elements(part).iter().map(|x| scale * x));
    }
    Ok(from_flex(FlexTensor::from_data(TensorData::new(
        out,
        [m1 + m2, n],
    ))))
}

/// [`crate::kernels::all_finite`] in one pass split between the threads; the tensor back when
/// `B` is not `Flex` or the tensor is not a contiguous `f32` buffer.
pub(in crate::kernels) fn all_finite<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> Result<bool, Tensor<B, D>> {
    let flex = to_flex(x)?;
    // An `f32` is finite exactly when its exponent bits are not all ones, that is when its
    // bits without the sign are below infinity's. The largest such value of a chunk is an
    // integer maximum, which the compiler vectorises (a short-circuiting `all` would not be).
    const INFINITY_BITS: u32 = 0x7f80_0000;
    const CHUNK: usize = 1 << 16;
    let largest_magnitude = |chunk: &[f32]| {
        chunk
            .iter()
            .map(|x| x.to_bits() & 0x7fff_ffff)
            .fold(0, u32::max)
    };
    use rayon::prelude::*;
    Ok(elements(&flex)
        .par_chunks(CHUNK)
        .all(|chunk| largest_magnitude(chunk) < INFINITY_BITS))
}
