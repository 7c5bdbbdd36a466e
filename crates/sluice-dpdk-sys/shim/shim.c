/* Out-of-line wrappers for DPDK's static inline fast-path functions (rx/tx burst, mbuf
 * allocation, free and data access), plus layout checks for the structs that the Rust side
 * declares by hand (src/lib.rs). Compiled by build.rs with every flag of
 * `pkg-config --cflags libdpdk`. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

/* The Rust declarations (src/lib.rs) depend on these: a mismatch fails the build. */
_Static_assert(sizeof(struct rte_eth_conf) == 2272, "rte_eth_conf size (RteEthConf)");
_Static_assert(_Alignof(struct rte_eth_conf) <= 8, "rte_eth_conf alignment (RteEthConf)");
_Static_assert(sizeof(struct rte_eth_stats) == 704, "rte_eth_stats size (RteEthStats)");
_Static_assert(offsetof(struct rte_eth_stats, imissed) == 32, "rte_eth_stats.imissed");
_Static_assert(offsetof(struct rte_eth_stats, rx_nombuf) == 56, "rte_eth_stats.rx_nombuf");
_Static_assert(sizeof(struct rte_eth_link) == 8, "rte_eth_link size (RteEthLink)");
_Static_assert(sizeof(struct rte_ether_addr) == 6, "rte_ether_addr size");
_Static_assert(RTE_PKTMBUF_HEADROOM == 128, "RTE_PKTMBUF_HEADROOM (PKTMBUF_HEADROOM)");

/* The 16 bits after link_speed with only link_status set: the Rust side checks it reads
 * this value, so the bitfield layout it assumes is the compiler's. */
uint16_t sluice_link_status_bit(void)
{
	struct rte_eth_link l;
	uint16_t bits;

	memset(&l, 0, sizeof(l));
	l.link_status = 1;
	memcpy(&bits, (const char *)&l + offsetof(struct rte_eth_link, link_speed) + 4, 2);
	return bits;
}

int sluice_errno(void)
{
	return rte_errno;
}

uint16_t sluice_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t sluice_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *sluice_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int sluice_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void sluice_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void sluice_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n)
{
	rte_pktmbuf_free_bulk(mbufs, n);
}

void *sluice_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t sluice_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

uint32_t sluice_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

/* One received frame as the Rust side sees it (struct SluiceView there). */
struct sluice_view {
	const uint8_t *data; /* first segment's data */
	uint32_t pkt_len;    /* whole frame */
	uint16_t data_len;   /* first segment */
	uint16_t nb_segs;
};

/* Views of a burst of received mbufs: one call per burst instead of three per frame. */
void sluice_mbufs_view(struct rte_mbuf *const *m, uint16_t n, struct sluice_view *out)
{
	for (uint16_t i = 0; i < n; i++) {
		out[i].data = rte_pktmbuf_mtod(m[i], const uint8_t *);
		out[i].pkt_len = rte_pktmbuf_pkt_len(m[i]);
		out[i].data_len = rte_pktmbuf_data_len(m[i]);
		out[i].nb_segs = m[i]->nb_segs;
	}
}

/* Copy a (possibly chained) frame into dst. Returns its length, or -1 when it is longer
 * than cap or its segments hold fewer bytes than pkt_len says (truncated). */
int32_t sluice_pktmbuf_copy_out(const struct rte_mbuf *m, uint8_t *dst, uint32_t cap)
{
	uint32_t len = rte_pktmbuf_pkt_len(m), done = 0;

	if (len > cap)
		return -1;
	for (const struct rte_mbuf *s = m; s != NULL && done < len; s = s->next) {
		uint32_t take = rte_pktmbuf_data_len(s);
		if (take > len - done)
			take = len - done;
		memcpy(dst + done, rte_pktmbuf_mtod(s, const uint8_t *), take);
		done += take;
	}
	return done == len ? (int32_t)len : -1;
}

/* Make fresh single-segment mbufs hold lens[i] bytes each and return where to write them.
 * Returns the number prepared: stops at the first frame that does not fit its mbuf. */
uint16_t sluice_mbufs_prepare(struct rte_mbuf **m, uint16_t n, const uint16_t *lens,
			      uint8_t **ptrs)
{
	for (uint16_t i = 0; i < n; i++) {
		if (lens[i] > rte_pktmbuf_tailroom(m[i]))
			return i;
		m[i]->data_len = lens[i];
		m[i]->pkt_len = lens[i];
		ptrs[i] = rte_pktmbuf_mtod(m[i], uint8_t *);
	}
	return n;
}
