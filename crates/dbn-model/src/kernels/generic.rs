//! The kernels with Burn's tensor operations: what every backend without a fused kernel runs,
//! and the reference the fused kernels are tested against.

use burn::prelude::*;

use super::MomentumStep;

/// [`super::momentum_update`] with Burn's tensor operations.
pub(crate) fn momentum_update<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    velocity: Tensor<B, D>,
    step: Tensor<B, D>,
    c: MomentumStep,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let mut velocity = velocity.mul_scalar(c.momentum) + step;
    if c.param_term != 0.0 {
        velocity = velocity + param.clone().mul_scalar(c.param_term);
    }
    let param = if c.apply == 1.0 {
        param + velocity.clone()
    } else {
        param + velocity.clone().mul_scalar(c.apply)
    };
    (param, velocity)
}

/// [`super::all_finite`] with Burn's tensor operations: one reduction, one read-back.
pub(crate) fn all_finite<B: Backend, const D: usize>(x: Tensor<B, D>) -> bool {
    x.is_finite().all().into_scalar().to_bool()
}

/// [`super::all_finite_each`] with Burn's tensor operations: the parts' sums added, one
/// reduction, one read-back (`true` for no parts).
pub(crate) fn all_finite_each<B: Backend>(parts: impl IntoIterator<Item = Tensor<B, 1>>) -> bool {
    parts
        .into_iter()
        .map(Tensor::sum)
        .reduce(|a, b| a + b)
        .is_none_or(all_finite)
}

/// [`super::sigmoid`]: Burn's.
pub(crate) fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    burn::tensor::activation::sigmoid(x)
}

/// [`super::bernoulli`]: a uniform draw per element compared with it.
pub(crate) fn bernoulli<B: Backend, const D: usize>(p: Tensor<B, D>) -> Tensor<B, D> {
    p.random_like(burn::tensor::Distribution::Default)
        .lower(p)
        .float()
}

/// [`super::dropout`] with the probability `keep` of keeping a unit, as `burn::nn::Dropout`
/// draws its mask.
pub(crate) fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, keep: f64) -> Tensor<B, D> {
    let kept = x.random_like(burn::tensor::Distribution::Bernoulli(keep));
    x * kept * (1.0 / keep)
}

/// [`super::matmul`]: Burn's.
pub(crate) fn matmul<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    a.matmul(b)
}

/// [`super::stack_scaled`]: each part scaled, then concatenated.
pub(crate) fn stack_scaled<B: Backend>(parts: [(Tensor<B, 2>, f64); 2]) -> Tensor<B, 2> {
    Tensor::cat(parts.map(|(x, c)| x.mul_scalar(c)).to_vec(), 0)
}

/// [`super::affine`]: Burn's product, then the bias broadcast over the rows.
pub(crate) fn affine<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    bias: Tensor<B, 1>,
) -> Tensor<B, 2> {
    x.matmul(w) + bias.unsqueeze()
}
