//! Every `unsafe` block of the crate but `crate::denormals`'s two instructions (the crate
//! denies `unsafe_code` elsewhere), each with its safety argument: matrix operands as raw
//! pointers for `gemm`, the `gemm` call on one band of an output, and the calls into functions
//! compiled for an instruction set the CPU was found to have.

use std::marker::PhantomData;

use burn_flex::FlexTensor;

use super::elementwise::sigmoid_loop;

/// A matrix for `gemm`: its first element and its strides in elements, borrowing the buffer
/// it points into for `'a`.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    start: *const f32,
    row_stride: isize,
    col_stride: isize,
    buffer: PhantomData<&'a [f32]>,
}

// SAFETY: an operand borrows the buffer it points into (`'a`) and is only read through, except
// for the output operand of `banded_gemm`, which borrows its buffer mutably for the whole call
// and whose threads write disjoint columns of it.
unsafe impl Send for Operand<'_> {}
unsafe impl Sync for Operand<'_> {}

impl<'a> Operand<'a> {
    /// The operand of a 2-D `flex`, and its `[rows, cols]`.
    pub(super) fn of(flex: &'a FlexTensor) -> (Self, [usize; 2]) {
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
            buffer: PhantomData,
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
    let padded = |rows: usize, cols: usize| rows.next_multiple_of(64) * cols.next_multiple_of(6);
    padded(n, m) < padded(m, n)
}

/// `[m, n]` = `a · b` accumulated onto `dst`'s values (a row-major `[m, n]` buffer), in bands
/// ([`gemm_in_bands`]).
pub(super) fn banded_gemm(dst: &mut [f32], a: Operand, b: Operand, [m, k, n]: [usize; 3]) {
    assert_eq!(dst.len(), m * n, "output buffer and product differ in size");
    // SAFETY: `dst` is a live, exclusively borrowed buffer of the `m · n` elements written.
    unsafe { gemm_in_bands(dst.as_mut_ptr(), a, b, [m, k, n], true) }
}

/// `[m, n]` = `a · b` as a new row-major buffer whose elements `gemm` writes once: no zeroed
/// buffer to fill first and read back (at a CD step's statistics, 4 MB of each).
pub(super) fn new_product(a: Operand, b: Operand, [m, k, n]: [usize; 3]) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * n);
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    // SAFETY: `out` has room for the `m · n` elements written. Told not to read its output,
    // `gemm` writes every element of it and reads none (zeros when `k` is 0), and the bands
    // cover every column, so all `m · n` elements are initialised before the length is set.
    unsafe {
        gemm_in_bands(dst, a, b, [m, k, n], false);
        out.set_len(m * n);
    }
    out
}

/// `[m, n]` = `a · b`, accumulated onto the values at `dst` if `accumulate`, else written over
/// them without reading them; the output's columns split into one band per thread, each band
/// a multiple of 16 wide (one AVX-512 register of `f32`); each band computed as the transposed
/// problem where that is cheaper.
///
/// # Safety
/// `dst` points to a row-major `[m, n]` buffer that nothing else reads or writes during the
/// call, valid for writes of all its elements, and for reads too if `accumulate`.
unsafe fn gemm_in_bands(
    dst: *mut f32,
    a: Operand,
    b: Operand,
    [m, k, n]: [usize; 3],
    accumulate: bool,
) {
    let threads = if m * k * n >= THREADED_PRODUCT {
        rayon::current_num_threads()
    } else {
        1
    };
    let band = n.div_ceil(threads).next_multiple_of(16).max(1);
    let out = Operand {
        start: dst,
        row_stride: n as isize,
        col_stride: 1,
        buffer: PhantomData,
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
        // strides; the bands write disjoint columns of `dst`, which the caller lends this
        // function alone (its contract), so no two calls write the same element.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                k,
                out.start as *mut f32,
                out.col_stride,
                out.row_stride,
                accumulate,
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

/// σ on every element, with the widest vector instructions the CPU has.
pub(in crate::kernels) fn sigmoid_slice(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { sigmoid_avx512(x) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
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
