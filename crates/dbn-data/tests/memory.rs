//! Peak heap while loading the full MNIST training split: at most twice its decoded size.
//!
//! A counting global allocator (this test binary only) records the highest number of live
//! heap bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dbn_data::{ExampleSet, Split, shipped_mnist_dir};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn loading_the_training_split_holds_at_most_twice_its_decoded_size() {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let train = ExampleSet::load(shipped_mnist_dir(), Split::Train).unwrap();
    // Grey levels as bytes, labels as `usize`.
    let decoded = 60_000 * 784 + 60_000 * std::mem::size_of::<usize>();
    let peak = PEAK.load(Ordering::SeqCst) - before;
    let held = LIVE.load(Ordering::SeqCst) - before;
    eprintln!("decoded {decoded} B, peak heap {peak} B, held after loading {held} B");
    assert!(
        peak <= 2 * decoded,
        "peak {peak} B exceeds twice the decoded {decoded} B"
    );
    assert!(
        held >= decoded,
        "the split must be held in memory: {held} B"
    );
    drop(train);
}
