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

use std::sync::{Mutex, MutexGuard, TryLockError};

/// Runs `f` with denormal floats flushed to zero, on the calling thread and on every thread of
/// the rayon pool it is called from (rayon's global pool when called outside one: where Burn's
/// CPU backends and this crate's kernels do their parallel work); threads started inside `f`
/// inherit the mode on Linux (and keep it after `f`). When `f` returns or unwinds, a calling
/// thread outside the pool gets its mode from before back; calls that overlap (from several
/// threads, in the pool or outside it) share one flushed period of the pool, whose threads get
/// back the mode from before the first of them (normally the default: denormals kept) when the
/// last ends. On targets other than x86-64 (which have no such mode here) it runs `f` as it is.
///
/// # Safety
/// Rust (and LLVM under it) assumes the default floating-point environment, in which
/// denormals are kept; changing it is undefined behaviour by the letter of the language. What
/// follows in practice: an operation the compiler evaluated at compile time keeps a denormal
/// result that the same operation at run time gives as 0, and a denormal input reads as 0
/// (so `x == 0.0` holds and `x.ln()` is `-inf` for such an `x`); and the compiler may move
/// arithmetic across the change of mode, so a value computed in `f` but first stored or used
/// after it may be computed with denormals kept. The caller must make sure
/// that nothing run inside `f`, on any of the pool's threads, relies on denormal arithmetic
/// (for memory safety above all); numerical training code in `f32` does not.
///
/// ```
/// let tiny = std::hint::black_box(f32::MIN_POSITIVE);
/// let half = std::hint::black_box(0.5);
/// // SAFETY: nothing inside relies on denormals; `black_box` makes the product be computed
/// // inside, not moved after the mode is given back.
/// let product =
///     unsafe { dbn_model::with_denormals_flushed(|| std::hint::black_box(tiny * half)) };
/// # #[cfg(target_arch = "x86_64")]
/// assert_eq!(product, 0.0); // not the denormal 5.9e-39
/// ```
pub unsafe fn with_denormals_flushed<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Flushed::start();
    f()
}

/// The calls of [`with_denormals_flushed`] running now, and the pool's mode from before the
/// first of them (the first caller's thread's).
static FLUSHED: Mutex<(usize, u32)> = Mutex::new((0, 0));

/// One call's share of the flushed period: its own thread's mode from before, given back when
/// it is dropped on a thread outside the pool, and the pool's when the last share is. All of
/// it under [`FLUSHED`]'s lock, so that a call never sees the pool between two modes.
struct Flushed {
    previous: u32,
}

impl Flushed {
    fn start() -> Self {
        let mut flushed = lock_flushed();
        let previous = mode();
        if flushed.0 == 0 {
            flushed.1 = previous;
            set_pool_mode(FLUSH);
        }
        flushed.0 += 1;
        set_mode(FLUSH); // this thread, when it is outside the pool
        Self { previous }
    }
}

impl Drop for Flushed {
    fn drop(&mut self) {
        let mut flushed = lock_flushed();
        flushed.0 -= 1;
        if flushed.0 == 0 {
            set_pool_mode(flushed.1);
        }
        // A thread of the pool keeps the period's mode, which the last call gives back.
        if rayon::current_thread_index().is_none() {
            set_mode(self.previous);
        }
    }
}

/// [`FLUSHED`], locked. While another call holds it, this thread runs its pool's pending work
/// instead of blocking: that call may be waiting in [`set_pool_mode`] for this very thread.
fn lock_flushed() -> MutexGuard<'static, (usize, u32)> {
    loop {
        match FLUSHED.try_lock() {
            Ok(flushed) => return flushed,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Sets `bits` (a combination of [`FLUSH`]'s) as the flush mode of every thread of the
/// current rayon pool.
fn set_pool_mode(bits: u32) {
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
