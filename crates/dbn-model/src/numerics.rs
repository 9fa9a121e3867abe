//! Numerical building blocks shared by the models: stable softplus, finiteness checks, and log-sum-exp on the host.

use burn::prelude::*;

/// `log(1 + exp(x))`, stable for large |x| (Burn's `softplus` overflows in `f32` above ~88).
///
/// # Shapes
/// any; output as input.
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// `log Σ_j exp(x_ij)` of each row, stable (the row's maximum taken out first).
///
/// # Shapes
/// x `[batch, n]` -> `[batch, 1]`
pub fn log_sum_exp_rows<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let max = x.clone().max_dim(1); // [batch, 1]
    (x - max.clone()).exp().sum_dim(1).log() + max
}

pub use crate::kernels::all_finite;

/// `log(sum(exp(values)))`, stable; `-inf` for no values.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// A tensor's elements as `f64`s on the host.
pub fn to_f64<B: Backend, const D: usize>(x: Tensor<B, D>) -> Vec<f64> {
    x.into_data()
        .convert::<f64>()
        .into_vec()
        .expect("converted data is f64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn softplus_is_exact_and_does_not_overflow() {
        let device = Default::default();
        let x = Tensor::<NdArray, 1>::from_floats([-200.0, -1.0, 0.0, 2.0, 200.0], &device);
        let y = to_f64(softplus(x));
        let expected = [
            0.0,
            (1.0f64 + (-1.0f64).exp()).ln(),
            2f64.ln(),
            (1.0f64 + 2f64.exp()).ln(),
            200.0,
        ];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn log_sum_exp_of_rows_is_stable() {
        let device = Default::default();
        let x = Tensor::<NdArray, 2>::from_floats([[1000.0, 1000.0], [0.0, 3f32.ln()]], &device);
        let y = to_f64(log_sum_exp_rows(x));
        assert!((y[0] - (1000.0 + 2f64.ln())).abs() < 1e-3, "{y:?}");
        assert!((y[1] - 4f64.ln()).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }
}
