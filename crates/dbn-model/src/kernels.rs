//! Fused CPU kernels for the hot loops of contrastive divergence and fine-tuning, with Burn's
//! generic tensor operations as the fallback.
//!
//! Each function here is generic over `B: Backend` and computes the same thing on every
//! backend. When the crate is built with the `flex` feature and `B` is Burn's `Flex` backend,
//! it runs one fused pass over the raw `f32` buffers instead of a chain of tensor operations
//! (each of which reads and writes a full weight-sized buffer), or, for the matrix products,
//! calls the `gemm` crate once per thread on its own band of the output. The backend is
//! recognised at run time by the type of its tensor primitive, so no signature in this crate
//! needs more than `B: Backend`, and a backend this crate does not know still works through the
//! generic path.
//! See `docs/performance.md` for the measurements behind each kernel.

use burn::prelude::*;

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
/// `(param, velocity)`. On `Flex`, one pass over the buffers, split between threads.
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
    generic_momentum_update(param, velocity, step, coefficients)
}

/// The logistic function `σ(x) = 1 / (1 + e^(−x))`, element-wise. On `Flex`, in place with a
/// vectorised exponential (at most a few `f32` rounding errors from the exact value, see the
/// tests); NaN stays NaN. On `Autodiff<Flex>`, the same forward pass and a backward pass of one
/// fused loop, `∂x = ∂y · y (1 − y)`, from the saved output (Burn's recomputes σ and makes four
/// passes).
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
    burn::tensor::activation::sigmoid(x)
}

/// One Bernoulli draw per element: 1.0 with probability `p`, else 0.0. Uses the backend's RNG
/// (seed it with `B::seed`); on `Flex`, one draw from it seeds a xoshiro256++ stream that makes
/// the samples in the same pass that compares them.
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
    p.random_like(burn::tensor::Distribution::Default)
        .lower(p)
        .float()
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
    let kept = x.random_like(burn::tensor::Distribution::Bernoulli(keep));
    x * kept * (1.0 / keep)
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
    a.matmul(b)
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
    x.matmul(w) + bias.unsqueeze()
}

/// Runs `f` on a thread of the pool that the `Flex` kernels split their work over (rayon's
/// global pool) and returns its result; without the `flex` feature, runs it here. A loop of
/// many short parallel sections, such as a CD epoch, then shares each section with the other
/// threads from inside the pool instead of waking the calling thread after every one (about
/// 5% of a CD-1 epoch at 784x500, docs/performance.md).
pub fn in_thread_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "flex")]
    return rayon::scope(|_| f());
    #[cfg(not(feature = "flex"))]
    f()
}

/// [`momentum_update`] with Burn's tensor operations.
fn generic_momentum_update<B: Backend, const D: usize>(
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

#[cfg(feature = "flex")]
mod flex {
    //! The kernels on Burn's `Flex` backend: plain loops over contiguous `f32` buffers, which
    //! the compiler vectorises.

    use std::any::Any;

    use burn::prelude::*;
    use burn::tensor::TensorPrimitive;
    use burn_flex::FlexTensor;

    /// `value` as a `U` when it is one (the same type under another name); `value` back
    /// otherwise.
    fn cast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
        let boxed: Box<dyn Any> = Box::new(value);
        match boxed.downcast::<U>() {
            Ok(u) => Ok(*u),
            Err(boxed) => Err(*boxed.downcast::<T>().expect("the box holds a T")),
        }
    }

    /// The float primitive of `tensor`.
    fn primitive<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> B::FloatTensorPrimitive {
        let TensorPrimitive::Float(primitive) = tensor.into_primitive() else {
            unreachable!("a float tensor built by this crate is never quantized")
        };
        primitive
    }

    /// The tensor of primitive `p`, of a backend that is `B` under another name.
    fn tensor_of<B: Backend, P: 'static, const D: usize>(p: P) -> Tensor<B, D> {
        let primitive = cast::<P, B::FloatTensorPrimitive>(p)
            .unwrap_or_else(|_| unreachable!("called only when B is the primitive's backend"));
        Tensor::from_primitive(TensorPrimitive::Float(primitive))
    }

    /// Whether the fused loops can read `flex` as one `f32` slice.
    fn contiguous_f32(flex: &FlexTensor) -> bool {
        flex.dtype() == burn::tensor::DType::F32 && flex.layout().contiguous_offsets().is_some()
    }

    /// `tensor`'s `Flex` primitive when `B` is `Flex` and the tensor is a contiguous `f32`
    /// buffer; the tensor itself otherwise.
    fn to_flex<B: Backend, const D: usize>(
        tensor: Tensor<B, D>,
    ) -> Result<FlexTensor, Tensor<B, D>> {
        match cast::<_, FlexTensor>(primitive(tensor)) {
            Ok(flex) if contiguous_f32(&flex) => Ok(flex),
            Ok(flex) => Err(from_flex(flex)),
            Err(primitive) => Err(Tensor::from_primitive(TensorPrimitive::Float(primitive))),
        }
    }

    /// The tensor of a `Flex` primitive; `B` is `Flex` whenever this is called.
    fn from_flex<B: Backend, const D: usize>(flex: FlexTensor) -> Tensor<B, D> {
        tensor_of(flex)
    }

    /// The contiguous `f32` elements of `flex`, copied first if its buffer is shared.
    fn elements_mut(flex: &mut FlexTensor) -> &mut [f32] {
        let (start, end) = flex
            .layout()
            .contiguous_offsets()
            .expect("checked by to_flex");
        &mut flex.storage_mut::<f32>()[start..end]
    }

    /// The contiguous `f32` elements of `flex`.
    fn elements(flex: &FlexTensor) -> &[f32] {
        flex.as_slice::<f32>().expect("checked by to_flex")
    }

    type Inputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>);

    /// `f` applied to `x`'s elements in place (after a copy if its buffer is shared); `x` back
    /// when `B` is not `Flex`.
    pub(super) fn map_in_place<B: Backend, const D: usize>(
        x: Tensor<B, D>,
        f: impl FnOnce(&mut [f32]),
    ) -> Result<Tensor<B, D>, Tensor<B, D>> {
        let mut flex = to_flex(x)?;
        f(elements_mut(&mut flex));
        Ok(from_flex(flex))
    }

    /// The autodiff backend the fused graph nodes are prepared for.
    type Ad = burn::backend::Autodiff<
        burn_flex::Flex,
        burn::backend::autodiff::checkpoint::strategy::NoCheckpointing,
    >;

    /// Whether `B` is [`Ad`]. Asked of the backend, not of the tensor primitive:
    /// `Autodiff<Flex>` with another checkpointing strategy has the same primitive type.
    fn is_ad<B: Backend>() -> bool {
        std::any::TypeId::of::<B>() == std::any::TypeId::of::<Ad>()
    }

    /// The [`Ad`] primitive of `tensor`; only called once [`is_ad`] holds for `B`.
    fn ad_primitive<B: Backend, const D: usize>(
        tensor: Tensor<B, D>,
    ) -> burn::tensor::ops::FloatTensor<Ad> {
        cast(primitive(tensor)).unwrap_or_else(|_| unreachable!("B is Autodiff<Flex>, checked"))
    }

    /// [`super::sigmoid`] on `Autodiff<Flex>` (default checkpointing) as one graph node whose
    /// state is its output; `x` back for any other backend.
    pub(super) fn differentiable_sigmoid<B: Backend, const D: usize>(
        x: Tensor<B, D>,
    ) -> Result<Tensor<B, D>, Tensor<B, D>> {
        use burn::backend::autodiff::checkpoint::base::Checkpointer;
        use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
        use burn::backend::autodiff::grads::Gradients;
        use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
        use burn::tensor::ops::FloatTensor;
        use burn_flex::Flex;

        /// The backward step: `∂x = ∂y · y (1 − y)` in place on `∂y`.
        #[derive(Debug)]
        struct FusedSigmoid;

        impl Backward<Flex, 1> for FusedSigmoid {
            type State = FlexTensor;

            fn backward(
                self,
                ops: Ops<FlexTensor, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
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

        if !is_ad::<B>() {
            return Err(x);
        }
        let x = ad_primitive(x);
        let y: FloatTensor<Ad> = if contiguous_f32(&x.primitive) {
            let node = x.node.clone();
            let mut output = x.primitive; // x's buffer, overwritten in place if not shared
            sigmoid_slice(elements_mut(&mut output));
            match FusedSigmoid
                .prepare::<NoCheckpointing>([node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(output.clone(), output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            }
        } else {
            <Ad as burn::tensor::ops::ActivationOps<Ad>>::sigmoid(x)
        };
        Ok(tensor_of(y))
    }

    /// `tensor`'s `Flex` primitive, any layout, when `B` is `Flex` and the tensor holds `f32`;
    /// the tensor itself otherwise.
    fn to_strided_flex<B: Backend, const D: usize>(
        tensor: Tensor<B, D>,
    ) -> Result<FlexTensor, Tensor<B, D>> {
        match cast::<_, FlexTensor>(primitive(tensor)) {
            Ok(flex) if flex.dtype() == burn::tensor::DType::F32 => Ok(flex),
            Ok(flex) => Err(from_flex(flex)),
            Err(primitive) => Err(Tensor::from_primitive(TensorPrimitive::Float(primitive))),
        }
    }

    /// A matrix for `gemm`: its first element and its strides in elements.
    #[derive(Clone, Copy)]
    struct Operand {
        start: *const f32,
        row_stride: isize,
        col_stride: isize,
    }

    // SAFETY: operands live only inside `flex_product`, which borrows the buffers they point
    // into for the whole call; its inputs are only read, and the threads that write through
    // the output operand write disjoint columns of it (`banded_gemm`).
    unsafe impl Send for Operand {}
    unsafe impl Sync for Operand {}

    impl Operand {
        /// The operand of a 2-D `flex`, and its `[rows, cols]`.
        fn of(flex: &FlexTensor) -> (Self, [usize; 2]) {
            let (rows, cols, row_stride, col_stride) = flex
                .layout()
                .as_2d_strides()
                .expect("a Tensor<B, 2> has two dimensions");
            let storage = flex.storage::<f32>();
            let start = if rows * cols == 0 {
                storage.as_ptr()
            } else {
                &storage[flex.layout().start_offset()] as *const f32
            };
            let operand = Self {
                start,
                row_stride,
                col_stride,
            };
            (operand, [rows, cols])
        }

        /// The transposed matrix (the same elements, strides swapped).
        fn transposed(self) -> Self {
            Self {
                row_stride: self.col_stride,
                col_stride: self.row_stride,
                ..self
            }
        }

        /// The same matrix from column `col` on.
        fn at_col(self, col: usize) -> Self {
            Self {
                // SAFETY: `col` is a column of the matrix, so the element is in its buffer.
                start: unsafe { self.start.offset(col as isize * self.col_stride) },
                ..self
            }
        }
    }

    /// Products below this many multiply-adds run on one thread (burn-flex's own threshold).
    const THREADED_PRODUCT: usize = 192 * 192 * 192;

    /// Whether `gemm` wastes less work on the transposed problem `cᵀ = bᵀ aᵀ` than on
    /// `c = a · b` for an `[m, n]` output: its AVX-512 `f32` kernel computes tiles of 64 rows by
    /// 6 columns, so a 100-row output pads to 128 rows but 100 columns only to 102.
    fn transposed_is_cheaper(m: usize, n: usize) -> bool {
        let padded =
            |rows: usize, cols: usize| rows.next_multiple_of(64) * cols.next_multiple_of(6);
        padded(n, m) < padded(m, n)
    }

    /// `[m, n]` = `a · b` accumulated onto `dst`'s values (a row-major `[m, n]` buffer), the
    /// output's columns split into one band per thread, each band a multiple of 16 wide (one
    /// AVX-512 register of `f32`); each band computed as the transposed problem where that is
    /// cheaper.
    fn banded_gemm(dst: &mut [f32], a: Operand, b: Operand, [m, k, n]: [usize; 3]) {
        assert_eq!(dst.len(), m * n, "output buffer and product differ in size");
        let threads = if m * k * n >= THREADED_PRODUCT {
            rayon::current_num_threads()
        } else {
            1
        };
        let band = n.div_ceil(threads).next_multiple_of(16).max(1);
        let out = Operand {
            start: dst.as_mut_ptr(),
            row_stride: n as isize,
            col_stride: 1,
        };
        let run = |first: usize| {
            let (out, a, b) = (out, a, b); // whole operands, which are Sync, not their fields
            let width = band.min(n - first);
            let (out, b) = (out.at_col(first), b.at_col(first));
            let (rows, cols, out, lhs, rhs) = if transposed_is_cheaper(m, width) {
                (width, m, out.transposed(), b.transposed(), a.transposed())
            } else {
                (m, width, out, a, b)
            };
            // SAFETY: every operand points into a live buffer of the shape given, with its own
            // strides; the bands write disjoint columns of `dst`, which this function borrows
            // mutably, so no two calls write the same element.
            unsafe {
                gemm::gemm(
                    rows,
                    cols,
                    k,
                    out.start as *mut f32,
                    out.col_stride,
                    out.row_stride,
                    true,
                    lhs.start,
                    lhs.col_stride,
                    lhs.row_stride,
                    rhs.start,
                    rhs.col_stride,
                    rhs.row_stride,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        };
        if threads == 1 || n <= band {
            run(0);
        } else {
            use rayon::prelude::*;
            (0..n).into_par_iter().step_by(band).for_each(run);
        }
    }

    type ProductInputs<B> = (Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>);
    type AffineInputs<B> = (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>);

    /// [`super::matmul`] (no bias) and [`super::affine`] on `Flex`; the inputs back otherwise.
    pub(super) fn product<B: Backend>(
        a: Tensor<B, 2>,
        b: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
    ) -> Result<Tensor<B, 2>, ProductInputs<B>> {
        let back = |t: Result<FlexTensor, Tensor<B, 2>>| t.map_or_else(|t| t, from_flex);
        let (a, b) = match (to_strided_flex(a), to_strided_flex(b)) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => return Err((back(a), back(b), bias)),
        };
        let bias = match bias.map(to_flex) {
            Some(Err(bias)) => return Err((from_flex(a), from_flex(b), Some(bias))),
            Some(Ok(bias)) => Some(bias),
            None => None,
        };
        Ok(from_flex(flex_product(&a, &b, bias.as_ref().map(elements))))
    }

    /// `a · b (+ bias)` on `f32` buffers of any layout, as a new contiguous tensor.
    fn flex_product(a: &FlexTensor, b: &FlexTensor, bias: Option<&[f32]>) -> FlexTensor {
        let (a_operand, [m, k]) = Operand::of(a);
        let (b_operand, [k_b, n]) = Operand::of(b);
        assert_eq!(
            k, k_b,
            "matmul: inner dimensions differ ({m}x{k} times {k_b}x{n})"
        );
        let mut out = match bias {
            Some(bias) => {
                assert_eq!(
                    bias.len(),
                    n,
                    "affine: bias of {} for {n} columns",
                    bias.len()
                );
                bias.repeat(m)
            }
            None => vec![0.0; m * n],
        };
        banded_gemm(&mut out, a_operand, b_operand, [m, k, n]);
        FlexTensor::from_data(TensorData::new(out, [m, n]))
    }

    /// The sums of the columns of a 2-D `f32` tensor, `[n]`.
    fn column_sums(x: &FlexTensor) -> FlexTensor {
        let n = x.layout().shape()[1];
        let x = x.to_contiguous();
        let mut sums = vec![0.0f32; n];
        for row in elements(&x).chunks_exact(n.max(1)) {
            for (sum, value) in sums.iter_mut().zip(row) {
                *sum += value;
            }
        }
        FlexTensor::from_data(TensorData::new(sums, [n]))
    }

    /// [`super::affine`] on `Autodiff<Flex>` (default checkpointing) as one graph node whose
    /// backward pass makes its two products the same way: `∂x = ∂y · wᵀ`, `∂w = xᵀ · ∂y`,
    /// `∂bias` the column sums of `∂y`. The inputs back for any other backend.
    pub(super) fn differentiable_affine<B: Backend>(
        x: Tensor<B, 2>,
        w: Tensor<B, 2>,
        bias: Tensor<B, 1>,
    ) -> Result<Tensor<B, 2>, AffineInputs<B>> {
        use burn::backend::autodiff::checkpoint::base::Checkpointer;
        use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
        use burn::backend::autodiff::grads::Gradients;
        use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
        use burn::tensor::ops::FloatTensor;
        use burn_flex::Flex;

        /// The backward step; its state is `x` (kept when `w` is tracked) and `w` (kept when
        /// `x` is tracked).
        #[derive(Debug)]
        struct FusedAffine;

        impl Backward<Flex, 3> for FusedAffine {
            type State = (Option<FlexTensor>, Option<FlexTensor>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
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

        if !is_ad::<B>() {
            return Err((x, w, bias));
        }
        let (x, w, bias) = (ad_primitive(x), ad_primitive(w), ad_primitive(bias));
        let f32_inputs = [&x, &w, &bias]
            .iter()
            .all(|t| t.primitive.dtype() == burn::tensor::DType::F32);
        if !f32_inputs || !contiguous_f32(&bias.primitive) {
            let [x, w] = [x, w].map(tensor_of::<B, _, 2>);
            return Err((x, w, tensor_of(bias)));
        }
        let output = flex_product(&x.primitive, &w.primitive, Some(elements(&bias.primitive)));
        let (x_tracked, w_tracked) = (x.is_tracked(), w.is_tracked());
        let y: FloatTensor<Ad> = match FusedAffine
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), bias.node.clone()])
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
        };
        Ok(tensor_of(y))
    }

    /// A seed drawn from `B`'s RNG (two uniform draws, 48 random bits), so that `B::seed`
    /// makes the fused samplers reproducible.
    pub(super) fn seed_from<B: Backend>(device: &B::Device) -> u64 {
        let draws = Tensor::<B, 1>::random([2], burn::tensor::Distribution::Default, device)
            .into_data()
            .to_vec::<f32>()
            .expect("a float tensor reads back as f32");
        (u64::from(draws[0].to_bits()) << 32) | u64::from(draws[1].to_bits())
    }

    /// Replaces each probability by a Bernoulli draw: 1 when a uniform 24-bit number is below
    /// it.
    pub(super) fn bernoulli_slice(p: &mut [f32], seed: u64) {
        use rand::{Rng, SeedableRng, rngs::SmallRng};
        let mut rng = SmallRng::seed_from_u64(seed);
        const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
        for p in p {
            let u = (rng.next_u32() >> 8) as f32 * SCALE;
            *p = if u < *p { 1.0 } else { 0.0 };
        }
    }

    /// [`super::dropout`] on `Autodiff<Flex>` (default checkpointing): `x` times a mask of
    /// `1 / keep` (probability `keep`) and 0, a constant of the graph, so that the backward
    /// pass is `∂x = ∂y · mask`; `x` back for any other backend.
    pub(super) fn differentiable_dropout<B: Backend, const D: usize>(
        x: Tensor<B, D>,
        keep: f64,
    ) -> Result<Tensor<B, D>, Tensor<B, D>> {
        if !is_ad::<B>() || x.dtype() != burn::tensor::DType::F32 {
            return Err(x);
        }
        let device = x.device();
        let shape = x.shape();
        let mut mask = vec![0.0f32; shape.num_elements()];
        dropout_mask(&mut mask, keep, seed_from::<B>(&device));
        Ok(x * Tensor::from_data(TensorData::new(mask, shape), &device))
    }

    /// Fills `mask` with `1 / keep` (probability `keep`: a uniform 24-bit number below it) and
    /// 0, in blocks of a fixed size, each from its own xoshiro256++ stream seeded by `seed` and
    /// its index, split between the threads: the same mask for a seed whatever the threads.
    pub(super) fn dropout_mask(mask: &mut [f32], keep: f64, seed: u64) {
        use rand::{Rng, SeedableRng, rngs::SmallRng};
        use rayon::prelude::*;
        const BLOCK: usize = 1 << 14;
        const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
        let (keep_f32, kept) = (keep as f32, (1.0 / keep) as f32);
        mask.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(i, block)| {
                let stream = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let mut rng = SmallRng::seed_from_u64(stream);
                for m in block {
                    let u = (rng.next_u32() >> 8) as f32 * SCALE;
                    *m = if u < keep_f32 { kept } else { 0.0 };
                }
            });
    }

    /// σ on every element, with the widest vector instructions the CPU has.
    pub(super) fn sigmoid_slice(x: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, checked just above.
                return unsafe { sigmoid_avx512(x) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX2 and FMA, checked just above.
                return unsafe { sigmoid_avx2(x) };
            }
        }
        sigmoid_loop(x);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn sigmoid_avx512(x: &mut [f32]) {
        sigmoid_loop(x);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn sigmoid_avx2(x: &mut [f32]) {
        sigmoid_loop(x);
    }

    /// The loop the compiler vectorises for each instruction set above.
    #[inline(always)]
    fn sigmoid_loop(x: &mut [f32]) {
        for x in x {
            *x = 1.0 / (1.0 + super::exp_f32(-*x));
        }
    }

    /// [`super::momentum_update`] in one pass; the inputs back when `B` is not `Flex`.
    pub(super) fn momentum_update<B: Backend, const D: usize>(
        param: Tensor<B, D>,
        velocity: Tensor<B, D>,
        step: Tensor<B, D>,
        c: super::MomentumStep,
    ) -> Result<(Tensor<B, D>, Tensor<B, D>), Inputs<B, D>> {
        let flex = (to_flex(param), to_flex(velocity), to_flex(step));
        let (mut param, mut velocity, step) = match flex {
            (Ok(p), Ok(v), Ok(s)) => (p, v, s),
            (p, v, s) => {
                let back = |t: Result<FlexTensor, Tensor<B, D>>| t.map_or_else(|t| t, from_flex);
                return Err((back(p), back(v), back(s)));
            }
        };
        let (momentum, param_term, apply) =
            (c.momentum as f32, c.param_term as f32, c.apply as f32);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::to_f64;
    use crate::rbm::tests::assert_close;

    /// The update on `B`, and the generic one on `B`, from the same values.
    fn both<B: Backend>() -> Vec<[(Vec<f64>, Vec<f64>); 2]> {
        let device = Default::default();
        B::seed(&device, 5);
        let random =
            || Tensor::<B, 2>::random([7, 5], burn::tensor::Distribution::Default, &device);
        let (p, v, s) = (random(), random(), random());
        let mut results = Vec::new();
        for c in [
            MomentumStep::cd(0.9, 0.01),
            MomentumStep::sgd(0.9, 0.01, 0.5),
        ] {
            let fused = momentum_update(p.clone(), v.clone(), s.clone(), c);
            let generic = generic_momentum_update(p.clone(), v.clone(), s.clone(), c);
            results.push([fused, generic].map(|(p, v)| (to_f64(p), to_f64(v))));
        }
        results
    }

    #[test]
    fn the_update_is_the_formula() {
        let device = Default::default();
        let p = Tensor::<crate::rbm::tests::B, 1>::from_floats([1.0, -2.0], &device);
        let v = Tensor::from_floats([0.5, 0.25], &device);
        let s = Tensor::from_floats([0.1, 0.2], &device);
        let (p1, v1) = momentum_update(p.clone(), v.clone(), s.clone(), MomentumStep::cd(0.5, 0.1));
        // v = 0.5·v + s − 0.1·p; p = p + v
        assert_close(&to_f64(v1), &[0.25 + 0.1 - 0.1, 0.125 + 0.2 + 0.2], 1e-7);
        assert_close(&to_f64(p1), &[1.25, -2.0 + 0.525], 1e-7);
        let (p2, v2) = momentum_update(p, v, s, MomentumStep::sgd(0.5, 0.1, 2.0));
        // v = 0.5·v + g + 0.1·p; p = p − 2·v
        assert_close(&to_f64(v2), &[0.25 + 0.1 + 0.1, 0.125 + 0.2 - 0.2], 1e-7);
        assert_close(&to_f64(p2), &[1.0 - 0.9, -2.0 - 0.25], 1e-7);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_flex_kernel_matches_the_generic_path() {
        for [(p1, v1), (p2, v2)] in both::<burn_flex::Flex>() {
            assert_close(&p1, &p2, 1e-6);
            assert_close(&v1, &v2, 1e-6);
        }
    }

    #[test]
    fn the_vectorisable_exp_is_accurate_over_the_whole_range() {
        let mut worst: f64 = 0.0;
        for i in -8730..=8800 {
            let x = i as f32 * 0.01;
            let exact = (x as f64).exp();
            worst = worst.max((exp_f32(x) as f64 - exact).abs() / exact);
        }
        assert!(worst < 5e-7, "relative error {worst}");
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(f32::NEG_INFINITY) > 0.0 && exp_f32(f32::NEG_INFINITY) < 1.3e-38);
        assert!(exp_f32(f32::INFINITY).is_finite());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_flex_sigmoid_matches_the_exact_one() {
        type F = burn_flex::Flex;
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
        let x = Tensor::<F, 1>::from_floats(xs.as_slice(), &Default::default());
        let got = to_f64(sigmoid(x));
        let exact: Vec<f64> = xs
            .iter()
            .map(|&x| 1.0 / (1.0 + (-x as f64).exp()))
            .collect();
        assert_close(&got, &exact, 2e-7);
        let special =
            Tensor::<F, 1>::from_floats([f32::INFINITY, f32::NEG_INFINITY], &Default::default());
        assert_close(&to_f64(sigmoid(special)), &[1.0, 0.0], 1e-30);
        let nan = Tensor::<F, 1>::from_floats([f32::NAN], &Default::default());
        assert!(to_f64(sigmoid(nan))[0].is_nan());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_bernoulli_samples_have_the_right_means_and_follow_the_seed() {
        type F = burn_flex::Flex;
        let device = Default::default();
        let p =
            Tensor::<F, 2>::from_floats([[0.0, 0.1, 0.5, 0.9, 1.0]], &device).repeat_dim(0, 20_000);
        F::seed(&device, 3);
        let a = bernoulli(p.clone());
        F::seed(&device, 3);
        let b = bernoulli(p.clone());
        assert_eq!(to_f64(a.clone()), to_f64(b));
        let means = to_f64(a.mean_dim(0));
        // Binomial standard error at p = 0.5 and n = 20,000 is 0.0035: 5 of them.
        assert_close(&means, &[0.0, 0.1, 0.5, 0.9, 1.0], 0.018);
        assert_ne!(to_f64(bernoulli(p.clone())), to_f64(bernoulli(p)));
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_differentiable_sigmoid_has_burns_values_and_gradients() {
        type Ad = burn::backend::Autodiff<burn_flex::Flex>;
        let device = Default::default();
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.37).collect();
        let run = |f: fn(Tensor<Ad, 2>) -> Tensor<Ad, 2>| {
            let x = Tensor::<Ad, 1>::from_floats(xs.as_slice(), &device)
                .reshape([9, 9])
                .require_grad();
            // A weighted sum, so that each element's gradient differs.
            let weights = Tensor::<Ad, 1>::from_floats(xs.as_slice(), &device).reshape([9, 9]);
            let y = f(x.clone());
            let grads = (y.clone() * weights).sum().backward();
            let dx = x.grad(&grads).expect("x is tracked");
            (to_f64(y.inner()), to_f64(dx))
        };
        let (y, dx) = run(sigmoid);
        let (burn_y, burn_dx) = run(burn::tensor::activation::sigmoid);
        assert_close(&y, &burn_y, 2e-7);
        assert_close(&dx, &burn_dx, 1e-6);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_dropout_keeps_the_expectation_and_its_gradient_is_the_mask() {
        type Ad = burn::backend::Autodiff<burn_flex::Flex>;
        let x = uniform::<Ad, 2>([300, 200], 8).require_grad();
        let weights = uniform::<Ad, 2>([300, 200], 9);
        let y = dropout(x.clone(), 0.3);
        let grads = (y.clone() * weights.clone()).sum().backward();
        let dx = to_f64(x.grad(&grads).expect("x is tracked"));
        let (x, y, w) = (
            to_f64(x.inner()),
            to_f64(y.inner()),
            to_f64(weights.inner()),
        );
        let kept = (1.0 / 0.7f64) as f32;
        let mut dropped = 0;
        // (An input of exactly 0 would read as dropped either way: none is drawn here.)
        assert!(x.iter().all(|&x| x != 0.0));
        for i in 0..y.len() {
            if y[i] == 0.0 {
                dropped += 1;
                assert_eq!(dx[i], 0.0, "a dropped unit passes no gradient");
            } else {
                assert_eq!(y[i], f64::from(x[i] as f32 * kept), "kept units are scaled");
                assert_eq!(dx[i], f64::from(w[i] as f32 * kept), "their gradient too");
            }
        }
        // Binomial standard error at 0.3 over 60,000 units: 0.0019; 5 of them.
        let share = dropped as f64 / y.len() as f64;
        assert!((share - 0.3).abs() < 0.0095, "dropped share {share}");
        // Without autodiff (inference), or with probability 0, the input passes through.
        let plain = uniform::<burn_flex::Flex, 2>([30, 20], 10);
        assert_eq!(to_f64(dropout(plain.clone(), 0.3)), to_f64(plain));
        let tracked = uniform::<Ad, 2>([30, 20], 10);
        assert_eq!(to_f64(dropout(tracked.clone(), 0.0)), to_f64(tracked));
    }

    #[test]
    #[should_panic(expected = "dropout probability 1 outside [0, 1)")]
    fn a_dropout_of_every_unit_is_refused() {
        let x = Tensor::<crate::rbm::tests::B, 1>::ones([4], &Default::default());
        dropout(x, 1.0);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_dropout_mask_follows_its_seed_whatever_the_threads() {
        // Several blocks of the mask, so that more than one thread takes part.
        let draw = |seed| {
            let mut mask = vec![0.0f32; 100_000];
            flex::dropout_mask(&mut mask, 0.8, seed);
            mask
        };
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| draw(11));
        assert_eq!(draw(11), one_thread);
        assert_ne!(draw(11), draw(12));
        assert!(draw(11).iter().all(|&m| m == 0.0 || m == 1.25));
    }

    /// Values uniform in [-1, 1) from a generator of this test's own: drawing from the
    /// backend's shared RNG would race with the tests that seed it and compare two draws.
    #[cfg(feature = "flex")]
    fn uniform<B: Backend, const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
        use rand::{Rng, SeedableRng, rngs::SmallRng};
        let mut rng = SmallRng::seed_from_u64(seed);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_products_match_burns_on_strided_views_and_uneven_bands() {
        type F = burn_flex::Flex;
        // One thread (small), and split between threads with bands of uneven width.
        for [m, k, n] in [[3, 4, 5], [100, 784, 500], [37, 300, 1001], [250, 200, 17]] {
            // A transposed view of a row slice: neither operand is a plain row-major buffer.
            let a = uniform::<F, 2>([k + 2, m], 1).slice(1..k + 1).transpose();
            let b = uniform::<F, 2>([n, k], 2).transpose();
            let bias = uniform::<F, 1>([n], 3);
            let tolerance = 1e-5 * k as f64;
            assert_close(
                &to_f64(matmul(a.clone(), b.clone())),
                &to_f64(a.clone().matmul(b.clone())),
                tolerance,
            );
            assert_close(
                &to_f64(affine(a.clone(), b.clone(), bias.clone())),
                &to_f64(a.matmul(b) + bias.unsqueeze()),
                tolerance,
            );
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_differentiable_affine_map_has_burns_values_and_gradients() {
        type Ad = burn::backend::Autodiff<burn_flex::Flex>;
        // Above the threading threshold (split into bands) and below it.
        for [m, k, n] in [[100, 300, 500], [5, 7, 3]] {
            let x = uniform::<Ad, 2>([m, k], 4);
            let w = uniform::<Ad, 2>([k, n], 5);
            let bias = uniform::<Ad, 1>([n], 6);
            // A weighted sum, so that each output's gradient differs.
            let weights = uniform::<Ad, 2>([m, n], 7);
            for track_x in [true, false] {
                type Product = fn(Tensor<Ad, 2>, Tensor<Ad, 2>, Tensor<Ad, 1>) -> Tensor<Ad, 2>;
                let run = |f: Product| {
                    let x = if track_x {
                        x.clone().require_grad()
                    } else {
                        x.clone()
                    };
                    let (w, bias) = (w.clone().require_grad(), bias.clone().require_grad());
                    let y = f(x.clone(), w.clone(), bias.clone());
                    let grads = (y.clone() * weights.clone()).sum().backward();
                    let dx = x.grad(&grads).map(to_f64);
                    let dw = to_f64(w.grad(&grads).expect("w is tracked"));
                    let db = to_f64(bias.grad(&grads).expect("bias is tracked"));
                    (to_f64(y.inner()), dx, dw, db)
                };
                let (y, dx, dw, db) = run(affine);
                let (burn_y, burn_dx, burn_dw, burn_db) =
                    run(|x, w, b| x.matmul(w) + b.unsqueeze());
                let tolerance = 1e-5 * m.max(k) as f64;
                assert_close(&y, &burn_y, tolerance);
                assert_eq!(dx.is_some(), track_x);
                if let (Some(dx), Some(burn_dx)) = (dx, burn_dx) {
                    assert_close(&dx, &burn_dx, tolerance);
                }
                assert_close(&dw, &burn_dw, tolerance);
                assert_close(&db, &burn_db, tolerance);
            }
        }
    }

    #[test]
    fn the_generic_path_computes_products_and_affine_maps() {
        type N = crate::rbm::tests::B;
        let device = Default::default();
        let a = Tensor::<N, 2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let b = Tensor::<N, 2>::from_floats([[1.0, 0.5], [-1.0, 2.0]], &device);
        let bias = Tensor::<N, 1>::from_floats([10.0, 20.0], &device);
        assert_eq!(to_f64(matmul(a.clone(), b.clone())), [-1.0, 4.5, -1.0, 9.5]);
        assert_eq!(to_f64(affine(a, b, bias)), [9.0, 24.5, 9.0, 29.5]);
    }
}
