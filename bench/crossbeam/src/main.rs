// crossbeam-epoch's costs, the peers of rcu::ReadGuard and rcu::Retire in
// //bench:showcase: pin()+unpin at 1 and 2 threads, a nested pin inside a
// pinned section, and defer_destroy of 64-byte objects from one thread
// (sustained: the collector frees them as epochs advance).
//
//   crossbeam_showcase [seconds per measurement]
//
// Prints one line per measurement, tab-separated, for the showcase to parse:
//   result <name> <threads> <value> <unit>
// Each figure is the median of 3 runs. rustc 1.63 has no stable black_box,
// so loop results go through read_volatile/write_volatile.
use crossbeam_epoch::{self as epoch, Owned};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn sink<T>(value: T) {
    let mut slot = value;
    unsafe {
        let p: *mut T = &mut slot;
        ptr::write_volatile(p, ptr::read_volatile(p));
    }
}

// Runs `body(iterations)` on `threads` threads for about `seconds`, returns
// ns per operation per thread (wall time: the loops never block).
fn per_thread_ns(threads: usize, seconds: f64, body: fn(u64)) -> f64 {
    // Calibrate on one thread.
    let mut iterations: u64 = 1000;
    loop {
        let start = Instant::now();
        body(iterations);
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed > seconds / 10.0 {
            iterations = ((iterations as f64) * seconds / elapsed).max(1000.0) as u64;
            break;
        }
        iterations *= 4;
    }
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                body(1000); // registers this thread's epoch participant
                barrier.wait();
                let start = Instant::now();
                body(iterations);
                start.elapsed().as_secs_f64()
            })
        })
        .collect();
    let total: f64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total / threads as f64 / iterations as f64 * 1e9
}

fn pin_unpin(iterations: u64) {
    for _ in 0..iterations {
        let guard = epoch::pin();
        sink(&guard as *const _);
    }
}

fn nested_pin(iterations: u64) {
    let outer = epoch::pin();
    for _ in 0..iterations {
        let guard = epoch::pin();
        sink(&guard as *const _);
    }
    drop(outer);
}

#[allow(dead_code)]
struct Payload {
    bytes: [u8; 64],
}

// Objects per second through defer_destroy from one thread, for `seconds`.
fn defer_destroy_rate(seconds: f64) -> f64 {
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(seconds);
    let mut count: u64 = 0;
    let stop = AtomicBool::new(false);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            let guard = epoch::pin();
            let owned = Owned::new(Payload { bytes: [1; 64] });
            let shared = owned.into_shared(&guard);
            unsafe { guard.defer_destroy(shared) };
        }
        count += 1024;
        if start.elapsed() >= deadline {
            stop.store(true, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    epoch::pin().flush();
    count as f64 / elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.2);
    for threads in [1usize, 2] {
        let ns = median((0..3).map(|_| per_thread_ns(threads, seconds, pin_unpin)).collect());
        println!("result\tpin_unpin\t{}\t{:.3}\tns", threads, ns);
    }
    let ns = median((0..3).map(|_| per_thread_ns(1, seconds, nested_pin)).collect());
    println!("result\tnested_pin\t1\t{:.3}\tns", ns);
    let rate = median((0..3).map(|_| defer_destroy_rate(seconds)).collect());
    println!("result\tdefer_destroy\t1\t{:.3}\tM/s", rate / 1e6);
}
