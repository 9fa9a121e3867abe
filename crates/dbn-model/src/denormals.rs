//! Denormal floats flushed to zero while work runs on the CPU.
//!
//! A saturated sigmoid unit's output and derivative fall below `f32::MIN_POSITIVE` (about
//! 1.2e-38), and the backward products of a fine-tuned sigmoid net then meet such denormal
//! numbers by the million. Many CPUs (Intel's among them) handle each one with a microcode
//! assist of about a hundred cycles: one fine-tuning epoch of 784-500-500-2000-10 took three
//! times as long as with denormals flushed (docs/performance.md, attempt 29). Flushed, a
//! result below `f32::MIN_POSITIVE` becomes 0 and such an input reads as 0: a change in the
//! 38th decimal place, far below anything `f32` training resolves. The `dbn` command runs all
//! its work this way; a library user opts in with [`with_denormals_flushed`].

// The floating-point control register is read and written with one instruction each, which
// Rust has no safe function for (the `_mm_setcsr` intrinsic is deprecated for inline
// assembly).
#![allow(unsafe_code)]

/// Runs `f` with denormal floats flushed to zero, on the calling thread and on every thread of
/// the rayon pool it is called from (rayon's global pool when called outside one: where Burn's
/// CPU backends and this crate's kernels do their parallel work); threads started inside `f`
/// inherit the mode. When `f` returns or unwinds, the calling thread and the pool's get the
/// calling thread's mode from before back (normally the default: denormals kept). On targets
/// other than x86-64 (which have no such mode here) it runs `f` as it is.
///
/// ```
/// let tiny = std::hint::black_box(f32::MIN_POSITIVE);
/// let product = dbn_model::with_denormals_flushed(|| tiny * std::hint::black_box(0.5));
/// # #[cfg(target_arch = "x86_64")]
/// assert_eq!(product, 0.0); // not the denormal 5.9e-39
/// ```
pub fn with_denormals_flushed<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Flushed::start();
    f()
}

/// The flush mode of the calling thread and the pool's while it lives; each thread's previous
/// mode back when it is dropped.
struct Flushed {
    /// The calling thread's mode before: restored on it and on the pool's threads (whose
    /// own modes rayon gives no way to collect and give back one by one).
    previous: u32,
}

impl Flushed {
    fn start() -> Self {
        let previous = mode();
        set_mode_everywhere(FLUSH);
        Self { previous }
    }
}

impl Drop for Flushed {
    fn drop(&mut self) {
        set_mode_everywhere(self.previous);
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
    control_register() & FLUSH
}

/// Sets the calling thread's flush bits to `bits` ([`FLUSH`]'s), the rest of its control
/// register (rounding, exception masks) as it was.
#[cfg(target_arch = "x86_64")]
fn set_mode(bits: u32) {
    let register = (control_register() & !FLUSH) | (bits & FLUSH);
    // SAFETY: `ldmxcsr` loads the 32-bit value it is pointed to, which is live for the
    // instruction; the value differs from the current register in the two flush bits only,
    // both defined by every x86-64 CPU (SSE2), so it raises no fault.
    unsafe {
        std::arch::asm!(
            "ldmxcsr [{}]",
            in(reg) &register,
            options(nostack, preserves_flags, readonly)
        );
    }
}

/// The calling thread's MXCSR, SSE's floating-point control and status register.
#[cfg(target_arch = "x86_64")]
fn control_register() -> u32 {
    let mut register = 0u32;
    // SAFETY: `stmxcsr` stores the register into the 32-bit value it is pointed to, which is
    // live and exclusively borrowed for the instruction; it has no other effect.
    unsafe {
        std::arch::asm!(
            "stmxcsr [{}]",
            in(reg) &mut register,
            options(nostack, preserves_flags)
        );
    }
    register
}

#[cfg(not(target_arch = "x86_64"))]
fn mode() -> u32 {
    0
}

#[cfg(not(target_arch = "x86_64"))]
fn set_mode(_bits: u32) {}
