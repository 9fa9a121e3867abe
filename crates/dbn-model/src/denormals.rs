//! Denormal floats flushed to zero while work runs on the CPU.
//!
//! A saturated sigmoid unit's output and derivative fall below `f32::MIN_POSITIVE` (about
//! 1.2e-38), and the backward products of a fine-tuned sigmoid net then meet such denormal
//! numbers by the million. Many CPUs (Intel's among them) handle each one with a microcode
//! assist of about a hundred cycles: one fine-tuning epoch of 784-500-500-2000-10 took two to
//! three times as long as with denormals flushed (docs/performance.md, attempt 29). Flushed, a
//! result below `f32::MIN_POSITIVE` becomes 0 and such an input reads as 0: an absolute
//! change below 1.2e-38, beneath anything `f32` training resolves, though for such a number
//! itself a relative error of 100%. The `dbn` command runs all its work this way; a library
//! user opts in with [`with_denormals_flushed`].

// The floating-point control register is read and written with one instruction each, which
// Rust has no safe function for (the `_mm_setcsr` intrinsic is deprecated for inline
// assembly, as changing the register is outside Rust's model of floating point).
#![allow(unsafe_code)]

use std::sync::{Mutex, PoisonError};

/// Runs `f` with denormal floats flushed to zero, on the calling thread and on every thread of
/// the rayon pool it is called from (rayon's global pool when called outside one: where Burn's
/// CPU backends and this crate's kernels do their parallel work); threads started inside `f`
/// inherit the mode on Linux (and keep it after `f`). Calls that overlap (from several
/// threads) share one flushed period: the mode goes back, to the calling thread's mode from
/// before the first of them (normally the default: denormals kept), when the last returns or
/// unwinds. On targets other than x86-64 (which have no such mode here) it runs `f` as it is.
///
/// # Safety
/// Rust (and LLVM under it) assumes the default floating-point environment, in which
/// denormals are kept; changing it is undefined behaviour by the letter of the language. What
/// follows in practice: an operation the compiler evaluated at compile time keeps a denormal
/// result that the same operation at run time gives as 0, and a denormal input reads as 0
/// (so `x == 0.0` holds and `x.ln()` is `-inf` for such an `x`). The caller must make sure
/// that nothing run inside `f`, on any of the pool's threads, relies on denormal arithmetic
/// (for memory safety above all); numerical training code in `f32` does not.
///
/// ```
/// let tiny = std::hint::black_box(f32::MIN_POSITIVE);
/// // SAFETY: nothing inside relies on denormals.
/// let product = unsafe { dbn_model::with_denormals_flushed(|| tiny * std::hint::black_box(0.5)) };
/// # #[cfg(target_arch = "x86_64")]
/// assert_eq!(product, 0.0); // not the denormal 5.9e-39
/// ```
pub unsafe fn with_denormals_flushed<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Flushed::start();
    f()
}

/// The calls of [`with_denormals_flushed`] running now, and the calling thread's mode from
/// before the first of them.
static FLUSHED: Mutex<(usize, u32)> = Mutex::new((0, 0));

/// One call's share of the flushed period; the mode back when the last share is dropped.
struct Flushed;

impl Flushed {
    fn start() -> Self {
        let mut flushed = FLUSHED.lock().unwrap_or_else(PoisonError::into_inner);
        if flushed.0 == 0 {
            flushed.1 = mode();
            set_mode_everywhere(FLUSH);
        }
        flushed.0 += 1;
        Self
    }
}

impl Drop for Flushed {
    fn drop(&mut self) {
        let mut flushed = FLUSHED.lock().unwrap_or_else(PoisonError::into_inner);
        flushed.0 -= 1;
        if flushed.0 == 0 {
            set_mode_everywhere(flushed.1);
        }
    }
}

/// Sets `bits` (a combination of [`FLUSH`]'s) as the flush mode of the calling thread and of
/// every thread of the current rayon pool.
fn set_mode_everywhere(bits: u32) {
    set_mode(bits);
    rayon::broadcast(|_| set_mode(bits));
}

/// MXCSR's flush-to-zero (bit 15: a denormal result becomes 0) and denormals-are-zero (bit
/// 6: a denormal input reads as 0) bits.
const FLUSH: u32 = 1 << 15 | 1 << 6;

/// The calling thread's flush bits ([`FLUSH`]'s that are set).
#[cfg(target_arch = "x86_64")]
fn mode() -> u32 {
    let mut register = 0u32;
    // SAFETY: `stmxcsr` stores MXCSR, SSE's control and status register, into the 32-bit
    // value it is pointed to, which is live and exclusively borrowed for the instruction; it
    // has no other effect.
    unsafe {
        std::arch::asm!(
            "stmxcsr [{}]",
            in(reg) &mut register,
            options(nostack, preserves_flags)
        );
    }
    register & FLUSH
}

/// Sets the calling thread's flush bits to `bits` ([`FLUSH`]'s), the rest of MXCSR (rounding,
/// exception masks and flags) as it was: read, changed and written back in one block, so
/// that no exception flag raised in between is lost.
#[cfg(target_arch = "x86_64")]
fn set_mode(bits: u32) {
    let mut register = 0u32;
    // SAFETY: the block stores MXCSR into `register` (live and exclusively borrowed for it),
    // changes the two flush bits there and loads the result back: a value that differs from
    // the register in bits every x86-64 CPU defines (SSE2), so `ldmxcsr` raises no fault. What
    // flushing means for the Rust code run afterwards is `with_denormals_flushed`'s contract.
    unsafe {
        std::arch::asm!(
            "stmxcsr [{register}]",
            "and dword ptr [{register}], {keep:e}",
            "or dword ptr [{register}], {bits:e}",
            "ldmxcsr [{register}]",
            register = in(reg) &mut register,
            keep = in(reg) !FLUSH,
            bits = in(reg) bits & FLUSH,
            options(nostack)
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn mode() -> u32 {
    0
}

#[cfg(not(target_arch = "x86_64"))]
fn set_mode(_bits: u32) {}
