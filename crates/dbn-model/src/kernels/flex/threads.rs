//! The pool's threads kept awake through a loop of short parallel sections. A thread of
//! rayon's pool that finds no work goes to sleep after a few dozen tries, and waking it costs
//! tens of microseconds (on a virtual machine's idle core, more): at batch 100 a CD step has
//! about ten parallel sections with serial work between them, so the other thread slept and
//! was woken about ten times a step (docs/performance.md, attempt 30).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `f` on a thread of rayon's pool while the pool's other threads that are free stay
/// awake, running the pool's work as it appears instead of going to sleep between parallel
/// sections; after [`SPIN`] without work they look for it every [`POLL`] only.
pub(in crate::kernels) fn with_pool_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| {
        let _running = Running::start();
        let done = Arc::new(AtomicBool::new(false));
        for _ in 1..rayon::current_num_threads() {
            let done = done.clone();
            // Detached: `f`'s return never waits for a spinner busy with someone else's job.
            rayon::spawn(move || stay_awake(&done));
        }
        let _done = SetOnDrop(done);
        f()
    })
}

thread_local! {
    /// Whether this thread is inside a [`with_pool_awake`]'s `f` (how deep), or inside
    /// [`stay_awake`]: either way it must not start spinning.
    static BUSY: Cell<usize> = const { Cell::new(0) };
}

/// Whether the calling thread runs inside a [`with_pool_awake`]'s `f` (for tests).
#[cfg(test)]
pub(in crate::kernels) fn keeping_pool_awake() -> bool {
    BUSY.get() > 0
}

/// Marks the calling thread busy while it lives, on return or unwinding.
struct Running;

impl Running {
    fn start() -> Self {
        BUSY.set(BUSY.get() + 1);
        Self
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        BUSY.set(BUSY.get() - 1);
    }
}

/// Runs the pool's pending work on this thread until `done`, yielding the core when there is
/// none and, after [`SPIN`] without any, sleeping [`POLL`] between looks; returns at once on
/// a thread running an `f` (which must go on with it, not wait here) or already spinning.
fn stay_awake(done: &AtomicBool) {
    if BUSY.get() > 0 {
        return;
    }
    let _running = Running::start();
    let mut idle_since = Instant::now();
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle_since = Instant::now(),
            _ if idle_since.elapsed() < SPIN => std::thread::yield_now(),
            _ => std::thread::sleep(POLL),
        }
    }
}

/// How long a thread kept awake spins without work before it only polls.
const SPIN: Duration = Duration::from_millis(1);
/// How long it then sleeps between looks for work.
const POLL: Duration = Duration::from_micros(200);

/// Sets its flag when dropped, on return or unwinding.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::*;

    /// `threads` threads of a pool of their own, so that the test's spinners do not share the
    /// global pool with the other tests.
    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool")
    }

    fn parallel_sum(n: u64) -> u64 {
        (0..n).into_par_iter().sum()
    }

    #[test]
    fn the_work_inside_runs_and_returns_whatever_the_threads_and_nesting() {
        for threads in [1, 2, 5] {
            let (sum, nested) = pool(threads).install(|| {
                with_pool_awake(|| {
                    let sum: u64 = (0..1000).map(|_| parallel_sum(1000)).sum();
                    (sum, with_pool_awake(|| parallel_sum(100)))
                })
            });
            assert_eq!(sum, 1000 * 999 * 1000 / 2, "{threads} threads");
            assert_eq!(nested, 99 * 100 / 2);
        }
        // From outside any pool too, on the global one.
        assert_eq!(with_pool_awake(|| parallel_sum(10)), 45);
    }

    #[test]
    fn concurrent_callers_on_one_pool_all_finish() {
        // Four threads outside a pool of three, each running parallel work, broadcasts and
        // a nested call inside: a caller caught spinning for another would never return.
        let pool = pool(3);
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        pool.install(|| {
                            with_pool_awake(|| {
                                let sums: u64 = (0..200).map(|_| parallel_sum(500)).sum();
                                let threads = rayon::broadcast(|_| 1).len();
                                sums + with_pool_awake(|| parallel_sum(10)) + threads as u64
                            })
                        })
                    })
                })
                .collect();
            for run in runs {
                assert_eq!(run.join().expect("no panic"), 200 * 124_750 + 45 + 3);
            }
        });
    }

    #[test]
    fn a_panic_inside_reaches_the_caller_and_the_pool_stays_usable() {
        let pool = pool(3);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_pool_awake(|| panic!("inside")))
        }));
        assert!(panicked.is_err());
        assert_eq!(pool.install(|| with_pool_awake(|| parallel_sum(10))), 45);
    }
}
