//! `dbn`: deep belief networks on Burn, from the command line.

mod backend;
mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Keeps freed memory in the process. A training step allocates and frees weight-sized
/// tensors hundreds of times a second; by default glibc serves each from fresh `mmap` pages (or
/// trims the heap after it), so every step pays page faults for memory it just gave back. A
/// training process holds its peak memory anyway. Measured in docs/performance.md (CD-1
/// 784x500: 4.4 s -> 3.2 s an epoch).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    const MIB: libc::c_int = 1 << 20;
    // SAFETY: mallopt only sets allocator tunables; called before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MIB); // glibc's maximum on 64-bit
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * MIB);
        libc::mallopt(libc::M_TOP_PAD, 64 * MIB);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = cli::Cli::parse();
    // Denormal floats cost some CPUs a microcode assist each: fine-tuning ran 2.2x slower
    // (docs/performance.md, attempt 29).
    // SAFETY: nothing `dbn` runs relies on denormal arithmetic: its numerics are training and
    // evaluation in `f32`, where a denormal read as 0 changes a value by less than 1.2e-38.
    match unsafe { dbn_model::with_denormals_flushed(|| cli.run()) } {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&*error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
