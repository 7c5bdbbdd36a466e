//! Hand-written FFI to DPDK 22.11 (Debian's `libdpdk-dev`, found through `pkg-config
//! libdpdk`), only for what Sluice's `dpdk` port uses, plus a small C shim (`shim/shim.c`,
//! compiled with `cc`) wrapping DPDK's `static inline` fast-path functions. No bindgen, no
//! libclang.
//!
//! Everything is behind the `link` feature: without it this crate is empty and needs no DPDK,
//! so a workspace build works on machines without it. Structs passed by pointer are declared
//! here by hand with the sizes of 22.11; the shim asserts those sizes at compile time, so a
//! different DPDK fails the build instead of corrupting memory.

#![cfg_attr(not(feature = "link"), allow(unused))]

#[cfg(feature = "link")]
pub use ffi::*;

#[cfg(feature = "link")]
mod ffi {
    use std::ffi::{c_char, c_int, c_uint, c_void};

    /// `RTE_PKTMBUF_HEADROOM` of the build (asserted by the shim).
    pub const PKTMBUF_HEADROOM: u16 = 128;
    /// `RTE_MBUF_DEFAULT_BUF_SIZE` = 2048 + headroom.
    pub const MBUF_DEFAULT_BUF_SIZE: u16 = 2048 + PKTMBUF_HEADROOM;
    /// `SOCKET_ID_ANY`.
    pub const SOCKET_ID_ANY: c_int = -1;
    /// `RTE_MAX_ETHPORTS` of Debian's build.
    pub const MAX_ETHPORTS: u16 = 32;

    /// `struct rte_mbuf`: only handled through pointers.
    #[repr(C)]
    pub struct RteMbuf {
        _opaque: [u8; 0],
    }

    /// `struct rte_mempool`: only handled through pointers.
    #[repr(C)]
    pub struct RteMempool {
        _opaque: [u8; 0],
    }

    /// `struct rte_eth_conf` (2272 bytes in 22.11, asserted by the shim). All zero is the
    /// default configuration (no RSS, no offloads, default MTU), which is all Sluice uses.
    #[repr(C, align(8))]
    pub struct RteEthConf {
        /// The struct's bytes.
        pub bytes: [u8; 2272],
    }

    impl Default for RteEthConf {
        fn default() -> Self {
            RteEthConf { bytes: [0; 2272] }
        }
    }

    /// `struct rte_eth_stats` (704 bytes in 22.11, layout asserted by the shim).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct RteEthStats {
        /// Packets received.
        pub ipackets: u64,
        /// Packets sent.
        pub opackets: u64,
        /// Bytes received.
        pub ibytes: u64,
        /// Bytes sent.
        pub obytes: u64,
        /// Packets the hardware dropped (RX queues full).
        pub imissed: u64,
        /// Erroneous received packets.
        pub ierrors: u64,
        /// Failed transmissions.
        pub oerrors: u64,
        /// RX mbuf allocation failures.
        pub rx_nombuf: u64,
        /// Per-queue counters (`RTE_ETHDEV_QUEUE_STAT_CNTRS` = 16).
        pub q_ipackets: [u64; 16],
        /// Per-queue counters.
        pub q_opackets: [u64; 16],
        /// Per-queue counters.
        pub q_ibytes: [u64; 16],
        /// Per-queue counters.
        pub q_obytes: [u64; 16],
        /// Per-queue counters.
        pub q_errors: [u64; 16],
    }

    impl Default for RteEthStats {
        fn default() -> Self {
            // SAFETY: all fields are integers; all zero is valid.
            unsafe { std::mem::zeroed() }
        }
    }

    /// `struct rte_eth_link`: `link_speed` (Mbps) then the bitfields duplex (bit 0),
    /// autoneg (bit 1) and status (bit 2) in a `u16` (checked at run time against the
    /// compiler's layout with [`sluice_link_status_bit`]).
    #[repr(C, align(8))]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct RteEthLink {
        /// Speed in Mbps.
        pub link_speed: u32,
        /// Bitfields.
        pub bits: u16,
        _pad: u16,
    }

    impl RteEthLink {
        /// `link_status` bit.
        pub const STATUS: u16 = 1 << 2;
        /// True when the link is up.
        pub fn up(&self) -> bool {
            self.bits & Self::STATUS != 0
        }
    }

    /// `struct rte_ether_addr`.
    #[repr(C, align(2))]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct RteEtherAddr {
        /// The address.
        pub addr_bytes: [u8; 6],
    }

    /// A received frame as `sluice_mbufs_view` reports it (`struct sluice_view` in the shim).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct SluiceView {
        /// First segment's data.
        pub data: *const u8,
        /// Whole frame length.
        pub pkt_len: u32,
        /// First segment's length.
        pub data_len: u16,
        /// Segments.
        pub nb_segs: u16,
    }

    impl Default for SluiceView {
        fn default() -> Self {
            SluiceView {
                data: std::ptr::null(),
                pkt_len: 0,
                data_len: 0,
                nb_segs: 0,
            }
        }
    }

    // DPDK's exported functions (librte_eal, librte_ethdev, librte_mbuf, librte_mempool).
    extern "C" {
        /// `int rte_eal_init(int argc, char **argv)`: returns the number of parsed arguments
        /// or -1 with `rte_errno` set. Once per process.
        pub fn rte_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
        /// `int rte_eal_cleanup(void)`.
        pub fn rte_eal_cleanup() -> c_int;
        /// `const char *rte_strerror(int errnum)`.
        pub fn rte_strerror(errnum: c_int) -> *const c_char;
        /// `const char *rte_version(void)`.
        pub fn rte_version() -> *const c_char;
        /// `int rte_thread_register(void)` (experimental in 22.11): give the calling thread
        /// an lcore id, so mempool caches work for it.
        pub fn rte_thread_register() -> c_int;
        /// `int rte_dev_probe(const char *devargs)`: probe (hot-plug) a device by PCI address
        /// or vdev string.
        pub fn rte_dev_probe(devargs: *const c_char) -> c_int;
        /// `int rte_eal_hotplug_remove(const char *busname, const char *devname)`.
        pub fn rte_eal_hotplug_remove(busname: *const c_char, devname: *const c_char) -> c_int;
        /// `int rte_eth_dev_get_port_by_name(const char *name, uint16_t *port_id)`.
        pub fn rte_eth_dev_get_port_by_name(name: *const c_char, port_id: *mut u16) -> c_int;
        /// `int rte_eth_dev_socket_id(uint16_t port_id)`.
        pub fn rte_eth_dev_socket_id(port_id: u16) -> c_int;
        /// `int rte_eth_dev_configure(uint16_t, uint16_t nb_rx_q, uint16_t nb_tx_q,
        /// const struct rte_eth_conf *)`.
        pub fn rte_eth_dev_configure(
            port_id: u16,
            nb_rx_q: u16,
            nb_tx_q: u16,
            conf: *const RteEthConf,
        ) -> c_int;
        /// `int rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t, uint16_t *nb_rx_desc,
        /// uint16_t *nb_tx_desc)`.
        pub fn rte_eth_dev_adjust_nb_rx_tx_desc(
            port_id: u16,
            nb_rx_desc: *mut u16,
            nb_tx_desc: *mut u16,
        ) -> c_int;
        /// `int rte_eth_rx_queue_setup(uint16_t, uint16_t, uint16_t nb_rx_desc,
        /// unsigned socket_id, const struct rte_eth_rxconf * (NULL: default),
        /// struct rte_mempool *)`.
        pub fn rte_eth_rx_queue_setup(
            port_id: u16,
            queue: u16,
            nb_rx_desc: u16,
            socket_id: c_uint,
            rx_conf: *const c_void,
            mb_pool: *mut RteMempool,
        ) -> c_int;
        /// `int rte_eth_tx_queue_setup(uint16_t, uint16_t, uint16_t nb_tx_desc,
        /// unsigned socket_id, const struct rte_eth_txconf * (NULL: default))`.
        pub fn rte_eth_tx_queue_setup(
            port_id: u16,
            queue: u16,
            nb_tx_desc: u16,
            socket_id: c_uint,
            tx_conf: *const c_void,
        ) -> c_int;
        /// `int rte_eth_dev_start(uint16_t)`.
        pub fn rte_eth_dev_start(port_id: u16) -> c_int;
        /// `int rte_eth_dev_stop(uint16_t)`.
        pub fn rte_eth_dev_stop(port_id: u16) -> c_int;
        /// `int rte_eth_dev_close(uint16_t)`.
        pub fn rte_eth_dev_close(port_id: u16) -> c_int;
        /// `int rte_eth_stats_get(uint16_t, struct rte_eth_stats *)`.
        pub fn rte_eth_stats_get(port_id: u16, stats: *mut RteEthStats) -> c_int;
        /// `int rte_eth_link_get_nowait(uint16_t, struct rte_eth_link *)`.
        pub fn rte_eth_link_get_nowait(port_id: u16, link: *mut RteEthLink) -> c_int;
        /// `int rte_eth_promiscuous_enable(uint16_t)`.
        pub fn rte_eth_promiscuous_enable(port_id: u16) -> c_int;
        /// `int rte_eth_dev_set_mtu(uint16_t, uint16_t mtu)`.
        pub fn rte_eth_dev_set_mtu(port_id: u16, mtu: u16) -> c_int;
        /// `int rte_eth_macaddr_get(uint16_t, struct rte_ether_addr *)`.
        pub fn rte_eth_macaddr_get(port_id: u16, mac: *mut RteEtherAddr) -> c_int;
        /// `struct rte_mempool *rte_pktmbuf_pool_create(const char *name, unsigned n,
        /// unsigned cache_size, uint16_t priv_size, uint16_t data_room_size, int socket_id)`.
        pub fn rte_pktmbuf_pool_create(
            name: *const c_char,
            n: c_uint,
            cache_size: c_uint,
            priv_size: u16,
            data_room_size: u16,
            socket_id: c_int,
        ) -> *mut RteMempool;
        /// `void rte_mempool_free(struct rte_mempool *)`.
        pub fn rte_mempool_free(mp: *mut RteMempool);
    }

    // The C shim (shim/shim.c).
    extern "C" {
        /// The `u16` after `link_speed` in a `struct rte_eth_link` with only `link_status`
        /// set (expected: [`RteEthLink::STATUS`]).
        pub fn sluice_link_status_bit() -> u16;
        /// The calling thread's `rte_errno`.
        pub fn sluice_errno() -> c_int;
        /// `rte_eth_rx_burst`.
        pub fn sluice_rx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
        /// `rte_eth_tx_burst`: the mbufs it takes belong to the driver.
        pub fn sluice_tx_burst(port: u16, queue: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
        /// `rte_pktmbuf_alloc`.
        pub fn sluice_pktmbuf_alloc(mp: *mut RteMempool) -> *mut RteMbuf;
        /// `rte_pktmbuf_alloc_bulk`: 0 on success (all `n`), else none allocated.
        pub fn sluice_pktmbuf_alloc_bulk(
            mp: *mut RteMempool,
            mbufs: *mut *mut RteMbuf,
            n: c_uint,
        ) -> c_int;
        /// `rte_pktmbuf_free`.
        pub fn sluice_pktmbuf_free(m: *mut RteMbuf);
        /// `rte_pktmbuf_free_bulk`.
        pub fn sluice_pktmbuf_free_bulk(mbufs: *mut *mut RteMbuf, n: c_uint);
        /// `rte_pktmbuf_mtod(m, void *)`.
        pub fn sluice_pktmbuf_mtod(m: *mut RteMbuf) -> *mut c_void;
        /// `rte_pktmbuf_data_len`.
        pub fn sluice_pktmbuf_data_len(m: *const RteMbuf) -> u16;
        /// `rte_pktmbuf_pkt_len`.
        pub fn sluice_pktmbuf_pkt_len(m: *const RteMbuf) -> u32;
        /// Fill `out[..n]` with the data pointer and lengths of `m[..n]`.
        pub fn sluice_mbufs_view(m: *const *mut RteMbuf, n: u16, out: *mut SluiceView);
        /// Copy a possibly chained frame into `dst` (`cap` bytes): its length, or -1 when
        /// it is longer than `cap` or truncated (segments shorter than `pkt_len`).
        pub fn sluice_pktmbuf_copy_out(m: *const RteMbuf, dst: *mut u8, cap: u32) -> i32;
        /// Set fresh mbufs `m[..n]` to hold `lens[i]` bytes and store where to write them in
        /// `ptrs`; returns how many fit (stops at the first that does not).
        pub fn sluice_mbufs_prepare(
            m: *mut *mut RteMbuf,
            n: u16,
            lens: *const u16,
            ptrs: *mut *mut u8,
        ) -> u16;
    }

    /// `rte_strerror(e)` as a Rust string.
    pub fn strerror(e: c_int) -> String {
        // SAFETY: rte_strerror returns a pointer to a NUL-terminated string (static, or in
        // a thread-local buffer that stays valid until the next call on this thread).
        unsafe {
            let p = rte_strerror(e);
            if p.is_null() {
                return format!("error {e}");
            }
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }

    /// The calling thread's `rte_errno` as text.
    pub fn last_error() -> String {
        // SAFETY: reads a thread-local integer.
        strerror(unsafe { sluice_errno() })
    }

    /// DPDK's version string, e.g. `DPDK 22.11.11`.
    pub fn version() -> String {
        // SAFETY: rte_version returns a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(rte_version()) }
            .to_string_lossy()
            .into_owned()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn layouts_match_the_compiler() {
            // SAFETY: the shim function has no preconditions (no EAL needed).
            assert_eq!(unsafe { sluice_link_status_bit() }, RteEthLink::STATUS);
            assert_eq!(std::mem::size_of::<RteEthStats>(), 704);
            assert_eq!(std::mem::size_of::<RteEthLink>(), 8);
            assert_eq!(std::mem::size_of::<RteEtherAddr>(), 6);
            assert!(version().starts_with("DPDK "), "{}", version());
        }
    }
}
