//! The one place where a cargo feature picks the concrete Burn backend.
//!
//! Everything else in the workspace is generic over `B: Backend` (or `B: AutodiffBackend`);
//! the binary instantiates it with [`Selected`]. When several features are on (the default
//! `flex` plus another, say), the first of `cuda`, `wgpu`, `ndarray`, `flex` wins, so
//! `--features cuda` or `--features ndarray` needs no `--no-default-features`.

use std::sync::{Arc, Mutex};

#[cfg(not(any(
    feature = "cuda",
    feature = "wgpu",
    feature = "flex",
    feature = "ndarray"
)))]
compile_error!("enable one backend feature of dbn-train: flex, ndarray, wgpu or cuda");

/// The backend selected by cargo features.
#[cfg(feature = "cuda")]
pub type Selected = burn::backend::Cuda;
/// Name of the selected backend, as printed and recorded in run summaries.
#[cfg(feature = "cuda")]
pub const NAME: &str = "cuda";

/// The backend selected by cargo features.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub type Selected = burn::backend::Wgpu;
/// Name of the selected backend, as printed and recorded in run summaries.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub const NAME: &str = "wgpu";

/// The backend selected by cargo features.
#[cfg(all(feature = "ndarray", not(any(feature = "cuda", feature = "wgpu"))))]
pub type Selected = burn::backend::NdArray;
/// Name of the selected backend, as printed and recorded in run summaries.
#[cfg(all(feature = "ndarray", not(any(feature = "cuda", feature = "wgpu"))))]
pub const NAME: &str = "ndarray";

/// The backend selected by cargo features.
#[cfg(all(
    feature = "flex",
    not(any(feature = "cuda", feature = "wgpu", feature = "ndarray"))
))]
pub type Selected = burn::backend::Flex;
/// Name of the selected backend, as printed and recorded in run summaries.
#[cfg(all(
    feature = "flex",
    not(any(feature = "cuda", feature = "wgpu", feature = "ndarray"))
))]
pub const NAME: &str = "flex";

/// What the selected backend needs from the machine, for the error when it cannot start.
const NEEDS: &str = match NAME.as_bytes() {
    b"cuda" => "an NVIDIA GPU with its driver (libcuda)",
    b"wgpu" => "a GPU with a Vulkan, Metal or DirectX 12 driver",
    _ => "nothing beyond the CPU",
};

/// The default device of the selected backend (the first GPU for `cuda` and `wgpu`), checked
/// to run a tensor operation. Burn's GPU runtimes panic when there is no driver or adapter; that
/// becomes an error naming the backend and what it needs.
///
/// # Errors
/// When the device cannot run an operation.
pub fn device() -> Result<burn::tensor::Device<Selected>, String> {
    without_panic(|| {
        let device = burn::tensor::Device::<Selected>::default();
        burn::tensor::Tensor::<Selected, 1>::zeros([1], &device).into_data();
        device
    })
    .map_err(|cause| {
        format!(
            "the {NAME} backend cannot start on this machine ({cause}); it needs {NEEDS}. \
             Build without --features {NAME} to run on the CPU"
        )
    })
}

/// Runs `work`, returning instead of printing the first panic message of any thread while it
/// runs (a GPU runtime fails in its own threads, and the caller then sees only a closed channel).
fn without_panic<T>(work: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    // The panic hook is global: one caller at a time swaps it.
    static HOOK: Mutex<()> = Mutex::new(());
    let _swapping = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let first = Arc::new(Mutex::new(None::<String>));
    let record = first.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(message);
    }));
    let result = std::panic::catch_unwind(work);
    std::panic::set_hook(hook);
    let first = first.lock().unwrap_or_else(|e| e.into_inner()).take();
    result.map_err(|_| first.unwrap_or_else(|| "no message".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_backend_starts() {
        assert!(device().is_ok());
    }

    #[test]
    fn a_panic_while_starting_becomes_its_message() {
        assert_eq!(without_panic(|| 7), Ok(7));
        let err = without_panic(|| -> u8 { panic!("no adapter found") });
        assert_eq!(err, Err("no adapter found".to_owned()));
        let err = without_panic(|| -> u8 { panic!("{} devices", 0) });
        assert_eq!(err, Err("0 devices".to_owned()));
        // A runtime failing in its own thread: its message, not the caller's closed channel.
        let err = without_panic(|| std::thread::spawn(|| panic!("no driver")).join().unwrap());
        assert_eq!(err, Err("no driver".to_owned()));
    }
}
