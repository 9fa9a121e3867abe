//! The kernels on Burn's CubeCL backends (`wgpu`, `cuda`): the element-wise work of a CD step
//! (sigmoid, Bernoulli sampling, the momentum update) as one CubeCL kernel each, written in
//! place where the tensor's buffer is not shared, instead of a chain of Burn operations that
//! each launch a kernel and write a new tensor. This file recognises a backend's tensor (a
//! `CubeTensor` of one of the runtimes this crate is built with); the kernels are in
//! `elementwise.rs`. Burn's fusion (`burn/fusion`, off in this workspace) wraps the tensors in
//! another type, which these functions then leave to the generic path.

use burn::prelude::*;
use burn::tensor::{DType, Distribution, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::tensor::CubeTensor;

use super::MomentumStep;
use super::downcast::{cast, primitive, primitive_is, tensor_of};

mod elementwise;

/// `tensor`'s `CubeTensor<R>` when `B`'s tensors are those of runtime `R` and it holds `f32`;
/// the tensor itself otherwise.
fn to_cube<B: Backend, R: CubeRuntime, const D: usize>(
    tensor: Tensor<B, D>,
) -> Result<CubeTensor<R>, Tensor<B, D>> {
    match cast::<_, CubeTensor<R>>(primitive(tensor)) {
        Ok(cube) if cube.dtype == DType::F32 => Ok(cube),
        Ok(cube) => Err(tensor_of(cube)),
        Err(primitive) => Err(Tensor::from_primitive(TensorPrimitive::Float(primitive))),
    }
}

/// `Ok($body)` with `$cube` bound to `$tensor`'s `CubeTensor` of the first runtime this crate
/// is built with that is `$tensor`'s; `Err($tensor)` when it is none of them.
macro_rules! on_cube {
    ($tensor:expr, |$cube:ident| $body:expr) => {{
        let tensor = $tensor;
        #[cfg(feature = "wgpu")]
        let tensor = match to_cube::<_, burn::backend::wgpu::WgpuRuntime, _>(tensor) {
            Ok($cube) => return Ok($body),
            Err(tensor) => tensor,
        };
        #[cfg(feature = "cuda")]
        let tensor = match to_cube::<_, cubecl::cuda::CudaRuntime, _>(tensor) {
            Ok($cube) => return Ok($body),
            Err(tensor) => tensor,
        };
        Err(tensor)
    }};
}

/// The `CubeTensor` of `tensor`, whose backend runs on `R` (checked by the caller).
fn same_runtime<B: Backend, R: CubeRuntime, const D: usize>(tensor: Tensor<B, D>) -> CubeTensor<R> {
    cast(primitive(tensor)).unwrap_or_else(|_| unreachable!("the backend runs on R, checked"))
}

/// [`super::sigmoid`] on a CubeCL backend; `x` back otherwise.
pub(super) fn sigmoid<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    on_cube!(x, |x| tensor_of(elementwise::sigmoid(x)))
}

/// [`super::bernoulli`] on a CubeCL backend; `p` back otherwise. The kernel's random numbers
/// are keyed by two uniform draws from the backend's generator, made on the device (no
/// read-back), so `B::seed` makes the samples reproducible.
pub(super) fn bernoulli<B: Backend, const D: usize>(
    p: Tensor<B, D>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if !on_a_runtime::<B>() || p.dtype() != DType::F32 {
        // Drawing the key elsewhere would move the other backends' random streams.
        return Err(p);
    }
    let key = Tensor::<B, 1>::random([2], Distribution::Default, &p.device());
    on_cube!(p, |p| tensor_of(elementwise::bernoulli(
        p,
        same_runtime(key)
    )))
}

/// The three tensors of a momentum update: parameter, velocity, step.
type Three<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>);

/// [`super::momentum_update`] on a CubeCL backend; the inputs back otherwise.
pub(super) fn momentum_update<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    velocity: Tensor<B, D>,
    step: Tensor<B, D>,
    c: MomentumStep,
) -> Result<(Tensor<B, D>, Tensor<B, D>), Three<B, D>> {
    let f32s = [&param, &velocity, &step]
        .iter()
        .all(|t| t.dtype() == DType::F32);
    if !on_a_runtime::<B>() || !f32s {
        return Err((param, velocity, step));
    }
    let update = move || {
        on_cube!(param, |param| {
            let (velocity, step) = (same_runtime(velocity), same_runtime(step));
            let (param, velocity) = elementwise::momentum_update(param, velocity, step, c);
            (tensor_of(param), tensor_of(velocity))
        })
    };
    Ok(update().unwrap_or_else(|_| unreachable!("f32 tensors of a runtime, checked")))
}

/// Whether `B`'s float tensors are those of a runtime this crate is built with.
pub(super) fn on_a_runtime<B: Backend>() -> bool {
    #[cfg(feature = "wgpu")]
    if primitive_is::<B, CubeTensor<burn::backend::wgpu::WgpuRuntime>>() {
        return true;
    }
    #[cfg(feature = "cuda")]
    if primitive_is::<B, CubeTensor<cubecl::cuda::CudaRuntime>>() {
        return true;
    }
    false
}
