//! The device a command runs on: asked for at run time (`--device`), started, and named in
//! the first line of every command and in `summary.json`.
//!
//! A [`DeviceRequest`] is what the user asks for (`default`, `cpu`, `gpu`, `gpu:N`, or one of
//! wgpu's adapter kinds, `discrete[:N]`, `integrated[:N]`, `virtual[:N]`); each backend the
//! binary can be built with ([`RunBackend`]) maps it to one of its devices or says why it has
//! none such, and names the device it starts. Burn's GPU runtimes panic when there is no driver
//! or adapter; [`start`] turns that into one sentence naming the backend and what it needs.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use burn::prelude::*;

/// The device asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceRequest {
    /// The best device the backend finds (the first or most powerful GPU, or the CPU).
    #[default]
    Default,
    /// The CPU (wgpu: its CPU adapter, e.g. a software Vulkan driver).
    Cpu,
    /// GPU number N, from 0 (CUDA's device N; wgpu's discrete GPU N).
    Gpu(usize),
    /// wgpu's discrete GPU N.
    Discrete(usize),
    /// wgpu's integrated GPU N.
    Integrated(usize),
    /// wgpu's virtual GPU N.
    Virtual(usize),
}

impl FromStr for DeviceRequest {
    type Err = String;

    /// `default`, `cpu`, `gpu` (the best GPU: `default` on a GPU backend), `gpu:N`,
    /// `discrete[:N]`, `integrated[:N]`, `virtual[:N]`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, index) = match text.split_once(':') {
            Some((kind, index)) => {
                let index = index
                    .parse::<usize>()
                    .map_err(|_| format!("'{index}' is not a device number"))?;
                (kind, Some(index))
            }
            None => (text, None),
        };
        let n = index.unwrap_or(0);
        match (kind, index) {
            ("default", None) => Ok(Self::Default),
            ("cpu", None) => Ok(Self::Cpu),
            ("gpu", None) => Ok(Self::Default),
            ("gpu", Some(n)) => Ok(Self::Gpu(n)),
            ("discrete", _) => Ok(Self::Discrete(n)),
            ("integrated", _) => Ok(Self::Integrated(n)),
            ("virtual", _) => Ok(Self::Virtual(n)),
            _ => Err(format!(
                "'{text}' is not a device: expected default, cpu, gpu, gpu:N, discrete[:N], \
                 integrated[:N] or virtual[:N]"
            )),
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "default"),
            Self::Cpu => write!(f, "cpu"),
            Self::Gpu(n) => write!(f, "gpu:{n}"),
            Self::Discrete(n) => write!(f, "discrete:{n}"),
            Self::Integrated(n) => write!(f, "integrated:{n}"),
            Self::Virtual(n) => write!(f, "virtual:{n}"),
        }
    }
}

/// A backend the `dbn` command runs on: its name, what it needs from the machine, its device
/// for a [`DeviceRequest`], and the name of a device.
pub trait RunBackend: Backend {
    /// The backend's name, as printed and recorded in `summary.json`.
    const NAME: &'static str;
    /// What it needs from the machine, for the error when it cannot start.
    const NEEDS: &'static str;
    /// Why it cannot fine-tune on several devices at once, if it cannot.
    const ONE_DEVICE_ONLY: Option<&'static str>;

    /// The device `request` names on this backend.
    ///
    /// # Errors
    /// Why this backend has no such device (e.g. a GPU asked of a CPU backend).
    fn device_for(request: DeviceRequest) -> Result<Self::Device, String>;

    /// What `device` is, e.g. `llvmpipe (LLVM 15.0.6, 256 bits), Vulkan, Cpu adapter`. Called
    /// before the device's first operation (wgpu learns its adapter while starting it), and
    /// may panic where the runtime does.
    fn describe(device: &Self::Device) -> String;
}

/// A started device and its name.
#[derive(Clone, Debug)]
pub struct RunDevice<B: Backend> {
    /// The device.
    pub device: B::Device,
    /// What it is ([`RunBackend::describe`]).
    pub name: String,
}

/// The devices a run uses: the first (main) device does everything; fine-tuning runs on all
/// of them at once with burn-train's multi-device strategy (data parallel: each device takes
/// its own batch, and the optimiser steps once with their gradients summed, on the main
/// device, where validation runs too).
#[derive(Clone, Debug)]
pub struct Devices<B: Backend> {
    all: Vec<B::Device>,
}

impl<B: Backend> Devices<B> {
    /// One device.
    pub fn one(device: B::Device) -> Self {
        Self { all: vec![device] }
    }

    /// `devices`, the main one first.
    ///
    /// # Errors
    /// No device, or a device listed twice (two of burn-train's workers on one device would
    /// be one device's work done twice as slowly, and its steps could not be told apart).
    pub fn new(devices: Vec<B::Device>) -> Result<Self, String> {
        if devices.is_empty() {
            return Err("no device given".into());
        }
        for (i, device) in devices.iter().enumerate() {
            if devices[..i].iter().any(|d| d.to_id() == device.to_id()) {
                return Err(format!("{device:?} is listed twice"));
            }
        }
        Ok(Self { all: devices })
    }

    /// The main device: the first.
    pub fn main(&self) -> &B::Device {
        &self.all[0]
    }

    /// All of them, the main one first.
    pub fn all(&self) -> &[B::Device] {
        &self.all
    }
}

/// The device of `request` on `B`, started (one tensor operation run on it) and named.
///
/// # Errors
/// One sentence, starting with the device asked for (`gpu:1: ...`, for the caller to put
/// after its flag), naming the backend, the cause and what the backend needs: for a request the
/// backend cannot serve, or a device that cannot start (no driver, no adapter).
pub fn start<B: RunBackend>(request: DeviceRequest) -> Result<RunDevice<B>, String> {
    let device = B::device_for(request)
        .map_err(|why| format!("{request}: the {} backend {why}", B::NAME))?;
    let started = without_panic(std::panic::AssertUnwindSafe(|| {
        let name = B::describe(&device);
        Tensor::<B, 1>::zeros([1], &device).into_data();
        name
    }));
    let name = started.map_err(|cause| {
        format!(
            "{request}: the {} backend cannot start this device on this machine ({cause}); it \
             needs {}",
            B::NAME,
            B::NEEDS
        )
    })?;
    Ok(RunDevice { device, name })
}

/// What a CPU backend says of a GPU request.
const CPU_ONLY: &str =
    "runs on the CPU only: build with --features wgpu or --features cuda for a GPU";

/// `CPU, N threads`.
fn cpu_name() -> String {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    format!("CPU, {threads} threads")
}

/// [`RunBackend`] for a CPU backend: its one device, named by [`cpu_name`].
macro_rules! cpu_backend {
    ($feature:literal, $backend:ty, $name:literal) => {
        #[cfg(feature = $feature)]
        impl RunBackend for $backend {
            const NAME: &'static str = $name;
            const NEEDS: &'static str = "nothing beyond the CPU";
            const ONE_DEVICE_ONLY: Option<&'static str> =
                Some("has one device, the CPU (it uses all its cores)");

            fn device_for(request: DeviceRequest) -> Result<Self::Device, String> {
                match request {
                    DeviceRequest::Default | DeviceRequest::Cpu => Ok(Default::default()),
                    _ => Err(CPU_ONLY.into()),
                }
            }

            fn describe(_: &Self::Device) -> String {
                cpu_name()
            }
        }
    };
}

cpu_backend!("flex", burn::backend::Flex, "flex");
cpu_backend!("ndarray", burn::backend::NdArray, "ndarray");

#[cfg(feature = "wgpu")]
impl RunBackend for burn::backend::Wgpu {
    const NAME: &'static str = "wgpu";
    const NEEDS: &'static str = "a GPU with a Vulkan, Metal or DirectX 12 driver, or a software \
        Vulkan driver such as Mesa's lavapipe (Debian: apt-get install mesa-vulkan-drivers)";
    /// Found on lavapipe with two devices of one adapter: burn-cubecl 0.21 moves a tensor to
    /// another device through the runtime's device-to-device copy, which cubecl-wgpu 0.10 does
    /// not implement; its server thread panics and the copy is silently left unwritten, so a
    /// multi-device run learns from garbage.
    const ONE_DEVICE_ONLY: Option<&'static str> = Some(
        "cannot move tensors between devices in Burn 0.21 (cubecl-wgpu has no device-to-device \
         copy, and the copy is silently lost); use the cuda backend for several GPUs",
    );

    fn device_for(request: DeviceRequest) -> Result<Self::Device, String> {
        use burn::backend::wgpu::WgpuDevice;
        Ok(match request {
            DeviceRequest::Default => WgpuDevice::DefaultDevice,
            DeviceRequest::Cpu => WgpuDevice::Cpu,
            DeviceRequest::Gpu(n) | DeviceRequest::Discrete(n) => WgpuDevice::DiscreteGpu(n),
            DeviceRequest::Integrated(n) => WgpuDevice::IntegratedGpu(n),
            DeviceRequest::Virtual(n) => WgpuDevice::VirtualGpu(n),
        })
    }

    /// Starts the device's runtime with Burn's default options to learn its adapter, once per
    /// device and process (a second start of one device is refused by the runtime).
    fn describe(device: &Self::Device) -> String {
        use burn::backend::wgpu::{RuntimeOptions, graphics::AutoGraphicsApi, init_setup};
        use std::collections::HashMap;
        static NAMES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
        let key = format!("{device:?}");
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        let names = names.get_or_insert_with(HashMap::new);
        if let Some(name) = names.get(&key) {
            return name.clone();
        }
        let setup = init_setup::<AutoGraphicsApi>(device, RuntimeOptions::default());
        let info = setup.adapter.get_info();
        let name = format!(
            "{}, {:?}, {:?} adapter",
            info.name, info.backend, info.device_type
        );
        names.insert(key, name.clone());
        name
    }
}

#[cfg(feature = "cuda")]
impl RunBackend for burn::backend::Cuda {
    const NAME: &'static str = "cuda";
    const NEEDS: &'static str = "an NVIDIA GPU with its driver (libcuda)";
    const ONE_DEVICE_ONLY: Option<&'static str> = None;

    fn device_for(request: DeviceRequest) -> Result<Self::Device, String> {
        use burn::backend::cuda::CudaDevice;
        match request {
            DeviceRequest::Default => Ok(CudaDevice::new(0)),
            DeviceRequest::Gpu(n) => Ok(CudaDevice::new(n)),
            other => Err(format!(
                "has no {other} device: ask for default, gpu or gpu:N (CUDA devices)"
            )),
        }
    }

    fn describe(device: &Self::Device) -> String {
        format!("NVIDIA GPU {}, CUDA", device.index)
    }
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
    fn requests_read_as_documented() {
        let read = |text: &str| text.parse::<DeviceRequest>();
        assert_eq!(read("default"), Ok(DeviceRequest::Default));
        assert_eq!(read("cpu"), Ok(DeviceRequest::Cpu));
        assert_eq!(read("gpu"), Ok(DeviceRequest::Default));
        assert_eq!(read("gpu:1"), Ok(DeviceRequest::Gpu(1)));
        assert_eq!(read("discrete"), Ok(DeviceRequest::Discrete(0)));
        assert_eq!(read("integrated:2"), Ok(DeviceRequest::Integrated(2)));
        assert_eq!(read("virtual:0"), Ok(DeviceRequest::Virtual(0)));
        for request in [DeviceRequest::Gpu(3), DeviceRequest::Integrated(1)] {
            assert_eq!(read(&request.to_string()), Ok(request));
        }
        let err = read("tpu").unwrap_err();
        assert!(
            err.starts_with("'tpu' is not a device: expected default"),
            "{err}"
        );
        assert_eq!(read("gpu:x").unwrap_err(), "'x' is not a device number");
        assert!(read("cpu:1").is_err());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_cpu_backend_starts_and_refuses_a_gpu() {
        let started = start::<burn::backend::Flex>(DeviceRequest::Cpu).unwrap();
        assert!(started.name.starts_with("CPU, "), "{}", started.name);
        let err = start::<burn::backend::Flex>(DeviceRequest::Gpu(0)).unwrap_err();
        assert_eq!(
            err,
            "gpu:0: the flex backend runs on the CPU only: build with --features wgpu \
             or --features cuda for a GPU"
        );
    }

    #[cfg(feature = "flex")]
    #[test]
    fn a_device_list_is_not_empty_and_names_each_device_once() {
        use burn::backend::Flex;
        let cpu = || Default::default();
        assert_eq!(Devices::<Flex>::new(vec![cpu()]).unwrap().all().len(), 1);
        assert_eq!(Devices::<Flex>::new(vec![]).unwrap_err(), "no device given");
        let twice = Devices::<Flex>::new(vec![cpu(), cpu()]).unwrap_err();
        assert!(twice.ends_with("is listed twice"), "{twice}");
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
