//! A deliberately broken NF for tests: it registers like any NF, then writes invalid
//! descriptors straight into shared memory (bypassing the SDK's checks):
//! an out-of-range slot index, a slot it does not hold, a length beyond the slot, an unknown
//! action, an unknown port and an unknown service on its tx ring, and, with `--victim IID`,
//! an out-of-range index on that instance's rx ring. It then waits to be stopped.

use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{bail, Context};
use sluice_ctl::{Conn, Request, Response};
use sluice_shm::{owner, ActionCode, Region};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sock = opt("--socket").context("--socket")?;
    let service = opt("--service").unwrap_or_else(|| "1".into());
    let victim: Option<u16> = opt("--victim").map(|v| v.parse()).transpose()?;
    let mut c = Conn::connect(std::path::Path::new(&sock))?;
    c.send(
        &Request::Register {
            name: opt("--name").unwrap_or_else(|| "badnf".into()),
            service,
            instance: None,
            mode: None,
            pid: std::process::id(),
        },
        &[],
    )?;
    let (resp, fds): (Response, Vec<OwnedFd>) = c.recv()?;
    let (iid, size) = match resp {
        Response::Registered {
            instance,
            region_size,
            ..
        } => (instance, region_size as usize),
        other => bail!("not registered: {other:?}"),
    };
    let memfd = fds.into_iter().next().context("no region fd")?;
    let region = Region::attach(memfd, size)?;
    c.send(&Request::Ready, &[])?;
    let _: (Response, _) = c.recv()?;
    c.send(&Request::Alloc { count: 4 }, &[])?;
    let slots = match c.recv::<Response>()?.0 {
        Response::Allocated { slots } if slots.len() == 4 => slots,
        other => bail!("alloc: {other:?}"),
    };
    let set = |s: u32, f: &dyn Fn(&mut sluice_shm::SlotMeta)| {
        // SAFETY: this process holds the granted slot.
        let m = unsafe { &mut *region.meta(s) };
        m.data_off = region.headroom() as u16;
        m.len = 60;
        m.owner = owner::MANAGER;
        f(m);
    };
    set(slots[0], &|m| m.len = u16::MAX);
    set(slots[1], &|m| m.action = 9);
    set(slots[2], &|m| {
        m.action = ActionCode::Out as u8;
        m.destination = 99;
    });
    set(slots[3], &|m| {
        m.action = ActionCode::ToService as u8;
        m.destination = 200;
    });
    let mut free_slot = [0u32; 1];
    region.alloc(&mut free_slot, owner::MANAGER);
    region.free(&free_slot);
    // Out of range, a free slot it does not hold, then the four broken ones.
    let bad = [
        region.slots() + 5,
        free_slot[0],
        slots[0],
        slots[1],
        slots[2],
        slots[3],
    ];
    let n = region.tx_ring(iid).enqueue_sp(&bad);
    println!("badnf: wrote {n} bad descriptors to my tx ring");
    if let Some(v) = victim {
        let n = region
            .rx_ring(v)
            .enqueue_mp(&[region.slots() + 7], &region.instance(iid).reservation);
        // No doorbell is rung: the victim finds it when it next polls (its sleep is bounded).
        println!("badnf: wrote {n} bad descriptors to instance {v}'s rx ring");
    }
    // Wait for Stop (or the manager going away).
    c.set_read_timeout(Some(Duration::from_secs(60)))?;
    loop {
        match c.recv::<Response>() {
            Ok((Response::Stop, _)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}
