//! The fused graph nodes of `Autodiff<Flex>`: each a forward pass and a backward pass of its
//! own, prepared under the checkpointing strategy of the backend in use (either of Burn's:
//! the nodes keep what their backward pass needs as their own state, so they need nothing
//! from the checkpointer). An `Autodiff<Flex>` under a strategy of a user's own takes the
//! generic path.

use std::any::TypeId;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn_flex::{Flex, FlexTensor};

use super::products::{column_sums, flex_product};
use super::sampling::{dropout_mask, seed_from};
use super::{cast, contiguous_f32, elements, elements_mut, primitive, sigmoid_slice, tensor_of};

/// An `Autodiff<Flex>` float primitive: the same type under every checkpointing strategy.
pub(super) type AdTensor = FloatTensor<Autodiff<Flex>>;

/// The checkpointing strategy of an `Autodiff<Flex>` backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// [`NoCheckpointing`], `Autodiff<Flex>`'s default.
    Keep,
    /// [`BalancedCheckpointing`].
    Balanced,
}

/// The strategy when `B` is `Autodiff<Flex>` under one of Burn's strategies; `None` for any
/// other backend. Asked of the backend, not of the tensor primitive, which is the same type
/// under every strategy.
fn strategy<B: Backend>() -> Option<Strategy> {
    let b = TypeId::of::<B>();
    if b == TypeId::of::<Autodiff<Flex, NoCheckpointing>>() {
        Some(Strategy::Keep)
    } else if b == TypeId::of::<Autodiff<Flex, BalancedCheckpointing>>() {
        Some(Strategy::Balanced)
    } else {
        None
    }
}

/// The `Autodiff<Flex>` primitive of `tensor`; only called once [`strategy`] found `B` to be
/// `Autodiff<Flex>`.
fn ad_primitive<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> AdTensor {
    cast(primitive(tensor)).unwrap_or_else(|_| unreachable!("B is Autodiff<Flex>, checked"))
}

/// The backward step of the sigmoid: `∂x = ∂y · y (1 − y)` in place on `∂y`; its state is
/// the output `y`.
#[derive(Debug)]
struct FusedSigmoid;

impl Backward<Flex, 1> for FusedSigmoid {
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let output = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |mut grad| {
            let y = elements(&output);
            let g = elements_mut(&mut grad);
            assert_eq!(g.len(), y.len(), "gradient and output differ in size");
            for (g, y) in g.iter_mut().zip(y) {
                *g *= y * (1.0 - y);
            }
            grad
        });
    }
}

/// The sigmoid node under strategy `C`: σ computed in `x`'s buffer (in place if not shared).
fn sigmoid_node<C: CheckpointStrategy>(x: AdTensor) -> AdTensor {
    let node = x.node.clone();
    let mut output = x.primitive;
    sigmoid_slice(elements_mut(&mut output));
    match FusedSigmoid.prepare::<C>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(output.clone(), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

/// [`crate::kernels::sigmoid`] on `Autodiff<Flex>` as one graph node whose state is its
/// output; `x` back for any other backend.
pub(in crate::kernels) fn differentiable_sigmoid<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let Some(strategy) = strategy::<B>() else {
        return Err(x);
    };
    let x = ad_primitive(x);
    if !contiguous_f32(&x.primitive) {
        return Err(tensor_of(x));
    }
    let y = match strategy {
        Strategy::Keep => sigmoid_node::<NoCheckpointing>(x),
        Strategy::Balanced => sigmoid_node::<BalancedCheckpointing>(x),
    };
    Ok(tensor_of(y))
}

/// The backward step of the affine map; its state is `x` (kept when `w` is tracked) and `w`
/// (kept when `x` is tracked).
#[derive(Debug)]
struct FusedAffine;

impl Backward<Flex, 3> for FusedAffine {
    type State = (Option<FlexTensor>, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_bias] = ops.parents;
        let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
        let (x, w) = ops.state;
        if let Some(node) = node_x {
            let w = w.expect("w is kept when x is tracked");
            grads.register::<Flex>(node.id, flex_product(&grad, &w.transpose(0, 1), None));
        }
        if let Some(node) = node_w {
            let x = x.expect("x is kept when w is tracked");
            grads.register::<Flex>(node.id, flex_product(&x.transpose(0, 1), &grad, None));
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, column_sums(&grad));
        }
    }
}

/// The affine node under strategy `C`.
fn affine_node<C: CheckpointStrategy>(x: AdTensor, w: AdTensor, bias: AdTensor) -> AdTensor {
    let output = flex_product(&x.primitive, &w.primitive, Some(elements(&bias.primitive)));
    let (x_tracked, w_tracked) = (x.is_tracked(), w.is_tracked());
    match FusedAffine
        .prepare::<C>([x.node.clone(), w.node.clone(), bias.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (
                w_tracked.then_some(x.primitive),
                x_tracked.then_some(w.primitive),
            );
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

type AffineInputs<B> = (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>);

/// [`crate::kernels::affine`] on `Autodiff<Flex>` as one graph node whose backward pass makes
/// its two products the same way: `∂x = ∂y · wᵀ`, `∂w = xᵀ · ∂y`, `∂bias` the column sums of
/// `∂y`. The inputs back for any other backend.
pub(in crate::kernels) fn differentiable_affine<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    bias: Tensor<B, 1>,
) -> Result<Tensor<B, 2>, AffineInputs<B>> {
    let Some(strategy) = strategy::<B>() else {
        return Err((x, w, bias));
    };
    let (x, w, bias) = (ad_primitive(x), ad_primitive(w), ad_primitive(bias));
    let f32_inputs = [&x, &w, &bias]
        .iter()
        .all(|t| t.primitive.dtype() == burn::tensor::DType::F32);
    if !f32_inputs || !contiguous_f32(&bias.primitive) {
        let [x, w] = [x, w].map(tensor_of::<B, _, 2>);
        return Err((x, w, tensor_of(bias)));
    }
    let y = match strategy {
        Strategy::Keep => affine_node::<NoCheckpointing>(x, w, bias),
        Strategy::Balanced => affine_node::<BalancedCheckpointing>(x, w, bias),
    };
    Ok(tensor_of(y))
}

/// [`crate::kernels::dropout`] on `Autodiff<Flex>`: `x` times a mask of `1 / keep`
/// (probability `keep`) and 0, a constant of the graph, so that the backward pass is
/// `∂x = ∂y · mask`; `x` back for any other backend.
pub(in crate::kernels) fn differentiable_dropout<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    keep: f64,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if strategy::<B>().is_none() || x.dtype() != burn::tensor::DType::F32 {
        return Err(x);
    }
    let device = x.device();
    let shape = x.shape();
    let mut mask = vec![0.0f32; shape.num_elements()];
    dropout_mask(&mut mask, keep, seed_from::<B>(&device));
    Ok(x * Tensor::from_data(TensorData::new(mask, shape), &device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_of_burns_strategies_are_recognised_and_nothing_else() {
        type Balanced = Autodiff<Flex, BalancedCheckpointing>;
        assert_eq!(strategy::<Autodiff<Flex>>(), Some(Strategy::Keep));
        assert_eq!(strategy::<Balanced>(), Some(Strategy::Balanced));
        assert_eq!(strategy::<Flex>(), None);
        assert_eq!(strategy::<Autodiff<burn::backend::NdArray>>(), None);
    }
}
