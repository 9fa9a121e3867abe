//! The one place where a cargo feature picks the concrete Burn backend.
//!
//! Everything else in the workspace is generic over `B: Backend` (or `B: AutodiffBackend`);
//! the binary instantiates it with [`Selected`], whose name, devices and needs are its
//! [`dbn_train::device::RunBackend`]. When several features are on (the default `flex` plus
//! another, say), the first of `cuda`, `wgpu`, `ndarray`, `flex` wins, so `--features cuda` or
//! `--features ndarray` needs no `--no-default-features`.

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

/// The backend selected by cargo features.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub type Selected = burn::backend::Wgpu;

/// The backend selected by cargo features.
#[cfg(all(feature = "ndarray", not(any(feature = "cuda", feature = "wgpu"))))]
pub type Selected = burn::backend::NdArray;

/// The backend selected by cargo features.
#[cfg(all(
    feature = "flex",
    not(any(feature = "cuda", feature = "wgpu", feature = "ndarray"))
))]
pub type Selected = burn::backend::Flex;
