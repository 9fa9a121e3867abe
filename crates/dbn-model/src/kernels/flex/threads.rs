//! The pool's threads kept awake through a loop of short parallel sections. A thread of
//! rayon's pool that finds no work goes to sleep after a few dozen tries, and waking it costs
//! tens of microseconds (on a virtual machine's idle core, more): at batch 100 a CD step has
//! about ten parallel sections with serial work between them, so the other thread slept and
//! was woken about ten times a step (docs/performance.md, attempt 30).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on a thread of rayon's pool while every other thread of the pool stays awake,
/// looking for work the whole time instead of going to sleep between parallel sections.
pub(in crate::kernels) fn with_pool_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let done = &AtomicBool::new(false);
    rayon::scope(|scope| {
        let runner = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(move |_| stay_awake(done, runner));
        }
        let _done = SetOnDrop(done);
        f()
    })
}

thread_local! {
    /// Whether this thread runs [`stay_awake`] already.
    static AWAKE: Cell<bool> = const { Cell::new(false) };
}

/// Runs the pool's pending work on this thread until `done`; returns at once on `runner`
/// (the thread of `f`, which must not wait inside it) or on a thread already awake.
fn stay_awake(done: &AtomicBool, runner: Option<usize>) {
    if rayon::current_thread_index() == runner || AWAKE.get() {
        return;
    }
    AWAKE.set(true);
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Idle) {
            std::thread::yield_now(); // the core to any other thread that wants it
        }
    }
    AWAKE.set(false);
}

/// Sets its flag when dropped, on return or unwinding.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
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
    fn a_panic_inside_reaches_the_caller_and_the_pool_stays_usable() {
        let pool = pool(3);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_pool_awake(|| panic!("inside")))
        }));
        assert!(panicked.is_err());
        assert_eq!(pool.install(|| with_pool_awake(|| parallel_sum(10))), 45);
    }
}
