//! The kernels on Burn's `Flex` backend: plain loops over contiguous `f32` buffers, which the
//! compiler vectorises, and matrix products split between the threads. This file recognises a
//! `Flex` tensor and reaches its buffer; the kernels are in the files beside it.

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_flex::FlexTensor;

pub(super) use super::downcast::{cast, primitive, tensor_of};

mod autodiff;
mod elementwise;
mod products;
#[allow(unsafe_code)]
mod raw;
mod sampling;
mod threads;

pub(super) use autodiff::{differentiable_affine, differentiable_dropout, differentiable_sigmoid};
pub(super) use elementwise::{all_finite, momentum_update, stack_scaled};
pub(super) use products::product;
pub(super) use raw::sigmoid_slice;
#[cfg(test)]
pub(super) use sampling::dropout_mask;
pub(super) use sampling::{bernoulli_slice, seed_from};
#[cfg(test)]
pub(super) use threads::keeping_pool_awake;
pub(super) use threads::with_pool_awake;

/// Whether `B` is `Flex` (its float tensors are `FlexTensor`s).
pub(super) fn is_flex<B: Backend>() -> bool {
    super::downcast::primitive_is::<B, FlexTensor>()
}

/// Whether `B` is `Flex`, or `Flex` under Burn's autodiff (whatever its checkpointing
/// strategy: the primitive is the same type under all of them).
pub(super) fn is_flex_based<B: Backend>() -> bool {
    is_flex::<B>() || super::downcast::primitive_is::<B, autodiff::AdTensor>()
}

/// Whether the fused loops can read `flex` as one `f32` slice.
pub(super) fn contiguous_f32(flex: &FlexTensor) -> bool {
    flex.dtype() == burn::tensor::DType::F32 && flex.layout().contiguous_offsets().is_some()
}

/// `tensor`'s `Flex` primitive when `B` is `Flex` and the tensor is a contiguous `f32`
/// buffer; the tensor itself otherwise.
pub(super) fn to_flex<B: Backend, const D: usize>(
    tensor: Tensor<B, D>,
) -> Result<FlexTensor, Tensor<B, D>> {
    match cast::<_, FlexTensor>(primitive(tensor)) {
        Ok(flex) if contiguous_f32(&flex) => Ok(flex),
        Ok(flex) => Err(from_flex(flex)),
        Err(primitive) => Err(Tensor::from_primitive(TensorPrimitive::Float(primitive))),
    }
}

/// The tensor of a `Flex` primitive; `B` is `Flex` whenever this is called.
pub(super) fn from_flex<B: Backend, const D: usize>(flex: FlexTensor) -> Tensor<B, D> {
    tensor_of(flex)
}

/// The tensor again, whichever way [`to_flex`] or [`to_strided_flex`] went: for giving a
/// kernel's inputs back when one of them could not be taken as a `Flex` buffer.
pub(super) fn untaken<B: Backend, const D: usize>(
    taken: Result<FlexTensor, Tensor<B, D>>,
) -> Tensor<B, D> {
    taken.map_or_else(|tensor| tensor, from_flex)
}

/// The contiguous `f32` elements of `flex`, copied first if its buffer is shared.
pub(super) fn elements_mut(flex: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = flex
        .layout()
        .contiguous_offsets()
        .expect("checked by to_flex");
    &mut flex.storage_mut::<f32>()[start..end]
}

/// The contiguous `f32` elements of `flex`.
pub(super) fn elements(flex: &FlexTensor) -> &[f32] {
    flex.as_slice::<f32>().expect("checked by to_flex")
}

pub(super) type Inputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>);

/// `f` applied to `x`'s elements in place (after a copy if its buffer is shared); `x` back
/// when `B` is not `Flex`.
pub(in crate::kernels) fn map_in_place<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let mut flex = to_flex(x)?;
    f(elements_mut(&mut flex));
    Ok(from_flex(flex))
}
/// `tensor`'s `Flex` primitive, any layout, when `B` is `Flex` and the tensor holds `f32`;
/// the tensor itself otherwise.
pub(super) fn to_strided_flex<B: Backend, const D: usize>(
    tensor: Tensor<B, D>,
) -> Result<FlexTensor, Tensor<B, D>> {
    match cast::<_, FlexTensor>(primitive(tensor)) {
        Ok(flex) if flex.dtype() == burn::tensor::DType::F32 => Ok(flex),
        Ok(flex) => Err(from_flex(flex)),
        Err(primitive) => Err(Tensor::from_primitive(TensorPrimitive::Float(primitive))),
    }
}
