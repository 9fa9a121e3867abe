//! Matrix products on `Flex`: `gemm` called once per thread on its own band of the output's
//! columns, the bias (of an affine map) as the output's starting rows.

use burn::prelude::*;
use burn_flex::FlexTensor;

use super::raw::{Operand, banded_gemm, new_product};
use super::{elements, from_flex, to_flex, to_strided_flex, untaken};

type ProductInputs<B> = (Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>);

/// [`crate::kernels::matmul`] (no bias) and [`crate::kernels::affine`] on `Flex`; the inputs back otherwise.
pub(in crate::kernels) fn product<B: Backend>(
    a: Tensor<B, 2>,
    b: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Result<Tensor<B, 2>, ProductInputs<B>> {
    let (a, b) = match (to_strided_flex(a), to_strided_flex(b)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return Err((untaken(a), untaken(b), bias)),
    };
    let bias = match bias.map(to_flex) {
        Some(Err(bias)) => return Err((from_flex(a), from_flex(b), Some(bias))),
        Some(Ok(bias)) => Some(bias),
        None => None,
    };
    Ok(from_flex(flex_product(&a, &b, bias.as_ref().map(elements))))
}

/// `a · b (+ bias)` on `f32` buffers of any layout, as a new contiguous tensor.
pub(super) fn flex_product(a: &FlexTensor, b: &FlexTensor, bias: Option<&[f32]>) -> FlexTensor {
    let (a_operand, [m, k]) = Operand::of(a);
    let (b_operand, [k_b, n]) = Operand::of(b);
    assert_eq!(
        k, k_b,
        "matmul: inner dimensions differ ({m}x{k} times {k_b}x{n})"
    );
    let out = match bias {
        Some(bias) => {
            assert_eq!(
                bias.len(),
                n,
                "affine: bias of {} for {n} columns",
                bias.len()
            );
            let mut out = bias.repeat(m);
            banded_gemm(&mut out, a_operand, b_operand, [m, k, n]);
            out
        }
        None => new_product(a_operand, b_operand, [m, k, n]),
    };
    FlexTensor::from_data(TensorData::new(out, [m, n]))
}

/// The sums of the columns of a 2-D `f32` tensor, `[n]`.
pub(super) fn column_sums(x: &FlexTensor) -> FlexTensor {
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
