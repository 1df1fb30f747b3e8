// SPDX-License-Identifier: MIT
/*
 * nfq_verdict: the NFQUEUE peer of the connect benchmark. Binds a netfilter
 * queue (in the caller's network namespace: bench/run starts it with nsenter
 * in the bench netns) and accepts every packet queued to it, one verdict per
 * packet, the least a user-space firewall deciding per connection can do.
 * bench/run queues only SYNs (iptables -p tcp --syn -j NFQUEUE).
 *
 * Prints "ready" on stdout once the queue is bound, and on SIGTERM/SIGINT one
 * JSON line {"verdicts": N} before exiting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

static volatile sig_atomic_t stop;
static uint64_t verdicts;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
		     void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);

	(void)msg;
	(void)data;
	if (!ph)
		return -1;
	verdicts++;
	return nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct nfq_q_handle *qh;
	struct nfq_handle *h;
	char buf[65536] __attribute__((aligned));
	int queue = argc > 1 ? atoi(argv[1]) : 0, fd;
	ssize_t n;

	if (argc > 2 || queue < 0 || queue > 65535) {
		fprintf(stderr, "usage: nfq_verdict [QUEUE-NUM]\n");
		return 2;
	}
	/* no SA_RESTART: the signal must interrupt recv() */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	h = nfq_open();
	if (!h) {
		fprintf(stderr, "nfq_verdict: nfq_open: %s\n", strerror(errno));
		return 1;
	}
	qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
	if (!qh) {
		fprintf(stderr, "nfq_verdict: binding queue %d: %s\n", queue, strerror(errno));
		nfq_close(h);
		return 1;
	}
	if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 128) < 0) {
		fprintf(stderr, "nfq_verdict: copy mode: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	fd = nfq_fd(h);
	while (!stop) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: the kernel dropped queue messages; the packets are
			 * dropped too (no --queue-bypass), visible as connect retries */
			if (errno == ENOBUFS)
				continue;
			fprintf(stderr, "nfq_verdict: recv: %s\n", strerror(errno));
			break;
		}
		nfq_handle_packet(h, buf, (int)n);
	}
	printf("{\"verdicts\":%llu}\n", (unsigned long long)verdicts);
	nfq_destroy_queue(qh);
	nfq_close(h);
	return 0;
}
