//! What the delivery lanes cost in memory per pending event: the bound of `delivery.maxPending`
//! comes from it (see the README). Not a test: it asserts nothing and prints numbers.
//!
//!   cargo bench --bench lanes_memory
//!
//! The lanes are built the way the object builds them at start (`Store::lanes`): one stored row
//! at a time, so what stays is the lanes themselves. Natively pointers are 8 bytes, in Wasm 4,
//! so these figures are an upper bound for the object.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use discord_gateway_do::delivery::lanes::Lanes;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    for (events, channels) in [
        (100_000u64, 1u64),
        (100_000, 1_000),
        (1_000_000, 1),
        (1_000_000, 100),
        (1_000_000, 10_000),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let rows = (0..events).map(|i| {
            let channel = 1_300_000_000_000_000_000 + i % channels;
            (channel.to_string(), i as i64, 0u64)
        });
        let lanes = Lanes::load(rows);
        let held = LIVE.load(Ordering::Relaxed) - before;
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "{events:>9} events on {channels:>6} channels: {:>6.1} MiB held, {:>6.1} MiB peak, {:>5.1} bytes per event (pending {})",
            held as f64 / 1_048_576.0,
            peak as f64 / 1_048_576.0,
            held as f64 / events as f64,
            lanes.pending()
        );
        drop(lanes);
    }
}
