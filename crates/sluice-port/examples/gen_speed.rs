//! Generator speed: receive bursts from a `generator` port and free them straight back to the
//! pool for about a second per setting, then print the rate.
//!
//! `cargo run --release -p sluice-port --example gen_speed [seconds]`

use std::time::{Duration, Instant};

use sluice_port::{open, GeneratorConfig, Pattern, PortConfig, PortKind};
use sluice_shm::{Buffers, HugePolicy, Region, RegionConfig};

fn run(
    slots: u32,
    burst: usize,
    cfg: GeneratorConfig,
    secs: f64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let rc = RegionConfig {
        slots,
        data_room: 2048,
        headroom: 128,
        max_nfs: 4,
        ring_size: 64,
    };
    let region = Region::create(&rc, HugePolicy::Auto)?;
    let pc = PortConfig {
        name: "gen0".into(),
        kind: PortKind::Generator(cfg),
    };
    let mut port = open(0, &pc, &region)?;
    let rx = port.rx.as_mut().ok_or("generator has no rx half")?;
    let mut out = vec![0u32; burst];
    let mut total = 0u64;
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    loop {
        for _ in 0..1024 {
            let n = rx.rx_burst(&mut Buffers::direct(&region), &mut out);
            region.free(&out[..n]);
            total += n as u64;
        }
        if start.elapsed() >= limit {
            break;
        }
    }
    Ok(total as f64 / start.elapsed().as_secs_f64() / 1e6)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let base = GeneratorConfig::default();
    let cases: Vec<(&str, u32, usize, GeneratorConfig)> = vec![
        ("64 B, 1 flow, pool 1024, burst 32", 1024, 32, base.clone()),
        ("64 B, 1 flow, pool 256, burst 32", 256, 32, base.clone()),
        (
            "64 B, 1 flow, pool 32768, burst 32",
            32768,
            32,
            base.clone(),
        ),
        ("64 B, 1 flow, pool 1024, burst 64", 1024, 64, base.clone()),
        (
            "64 B, 1024 flows rr, pool 1024, burst 32",
            1024,
            32,
            GeneratorConfig {
                flows: 1024,
                ..base.clone()
            },
        ),
        (
            "64 B, 1024 flows random bidir, pool 1024, burst 32",
            1024,
            32,
            GeneratorConfig {
                flows: 1024,
                pattern: Pattern::Random,
                bidirectional: true,
                ..base.clone()
            },
        ),
        (
            "1500 B, 1 flow, pool 1024, burst 32",
            1024,
            32,
            GeneratorConfig {
                size: 1500,
                ..base.clone()
            },
        ),
    ];
    for (what, slots, burst, cfg) in cases {
        let mpps = run(slots, burst, cfg, secs)?;
        println!("{what:55} {mpps:7.1} Mpps");
    }
    Ok(())
}
