//! Reaching a backend's own tensor type from generic code: a backend's kernels are chosen at
//! run time by the type of its float tensor primitive, so that no signature in this crate needs
//! more than `B: Backend`.

use std::any::{Any, TypeId};

use burn::prelude::*;
use burn::tensor::TensorPrimitive;

/// `value` as a `U` when it is one (the same type under another name); `value` back
/// otherwise.
pub(super) fn cast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    let boxed: Box<dyn Any> = Box::new(value);
    match boxed.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(boxed) => Err(*boxed.downcast::<T>().expect("the box holds a T")),
    }
}

/// Whether `B`'s float tensor primitive is `P`.
pub(super) fn primitive_is<B: Backend, P: 'static>() -> bool {
    TypeId::of::<B::FloatTensorPrimitive>() == TypeId::of::<P>()
}

/// The float primitive of `tensor`.
pub(super) fn primitive<B: Backend, const D: usize>(
    tensor: Tensor<B, D>,
) -> B::FloatTensorPrimitive {
    let TensorPrimitive::Float(primitive) = tensor.into_primitive() else {
        unreachable!("a float tensor built by this crate is never quantized")
    };
    primitive
}

/// The tensor of primitive `p`, of a backend that is `B` under another name.
pub(super) fn tensor_of<B: Backend, P: 'static, const D: usize>(p: P) -> Tensor<B, D> {
    let primitive = cast::<P, B::FloatTensorPrimitive>(p)
        .unwrap_or_else(|_| unreachable!("called only when B is the primitive's backend"));
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}
