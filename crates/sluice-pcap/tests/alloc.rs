//! Checks the "no per-packet allocation" promise with a counting global
//! allocator. (The `unsafe` here is confined to this test binary; the library
//! itself is `#![forbid(unsafe_code)]`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;

use sluice_pcap::{Format, PcapReader, PcapWriter, MAX_CAPLEN};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PACKETS: usize = 5_000;

fn size(i: usize) -> usize {
    [0, 1, 60, 64, 1514, 9000][i % 6] + i % 7
}

#[test]
fn write_and_read_do_not_allocate_per_packet() {
    // The counter works.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 10]));
    assert_eq!(allocations() - before, 1);

    let frame = vec![0x5a_u8; 9100];
    for format in [Format::Pcap, Format::PcapNg] {
        // Write path, into a sink.
        let mut w = PcapWriter::with_interface_name(io::sink(), format, MAX_CAPLEN, "p0").unwrap();
        let before = allocations();
        for i in 0..PACKETS {
            w.write_packet(i as u64 * 1_000, &frame[..size(i)]).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(allocations() - before, 0, "{format:?} write path allocated");

        // Read path, from memory, with a buffer that is already big enough.
        let mut w = PcapWriter::new(Vec::new(), format, MAX_CAPLEN).unwrap();
        for i in 0..PACKETS {
            w.write_packet(i as u64 * 1_000, &frame[..size(i)]).unwrap();
        }
        let file = w.into_inner().unwrap();
        let mut r = PcapReader::new(&file[..]).unwrap();
        let mut buf = Vec::with_capacity(9100);
        let before = allocations();
        let mut n = 0;
        while let Some(info) = r.next_packet(&mut buf).unwrap() {
            assert_eq!(info.caplen, size(n));
            n += 1;
        }
        assert_eq!(allocations() - before, 0, "{format:?} read path allocated");
        assert_eq!(n, PACKETS);
    }
}
