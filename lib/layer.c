// SPDX-License-Identifier: MIT
/* The layer table: capabilities as data (WFP-MODEL.md, "Layers and their Linux hooks"). */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <lfp/layer.h>

#define B(f) (1u << (f))
#define A(a) (1u << (a))

/* who: the process behind the socket */
#define F_WHO	 (B(LFP_F_APP) | B(LFP_F_USER) | B(LFP_F_GROUP) | B(LFP_F_CGROUP) | B(LFP_F_PID))
#define F_LOCAL	 (B(LFP_F_LOCAL_ADDR) | B(LFP_F_LOCAL_PORT))
#define F_REMOTE (B(LFP_F_REMOTE_ADDR) | B(LFP_F_REMOTE_PORT))
#define F_IP	 (B(LFP_F_PROTO) | B(LFP_F_IPVER))
#define F_ICMP	 (B(LFP_F_ICMP_TYPE) | B(LFP_F_ICMP_CODE))
#define F_ORIG	 (B(LFP_F_ORIG_ADDR) | B(LFP_F_ORIG_PORT))

#define A_AUTH (A(LFP_ACT_PERMIT) | A(LFP_ACT_BLOCK) | A(LFP_ACT_CALLOUT))

static const struct lfp_field_info fields[LFP_F_COUNT] = {
	[LFP_F_APP] = { LFP_F_APP, "app", LFP_FK_APP, 0,
			"executable, by identity (device + inode), re-resolved when replaced" },
	[LFP_F_USER] = { LFP_F_USER, "user", LFP_FK_INT, 0xffffffffu, "uid, or a user name" },
	[LFP_F_GROUP] = { LFP_F_GROUP, "group", LFP_FK_INT, 0xffffffffu, "gid, or a group name" },
	[LFP_F_CGROUP] = { LFP_F_CGROUP, "cgroup", LFP_FK_CGROUP, 0,
			   "cgroup v2 path: that cgroup and below" },
	[LFP_F_PID] = { LFP_F_PID, "pid", LFP_FK_INT, 0x3fffffu, "process id (thread group)" },
	[LFP_F_PROTO] = { LFP_F_PROTO, "proto", LFP_FK_INT, 255,
			  "IP protocol: tcp, udp, icmp, ..." },
	[LFP_F_IPVER] = { LFP_F_IPVER, "ipver", LFP_FK_INT, 6, "4 or 6 (v4-mapped IPv6 is 4)" },
	[LFP_F_LOCAL_ADDR] = { LFP_F_LOCAL_ADDR, "local.addr", LFP_FK_ADDR, 0, "local address" },
	[LFP_F_LOCAL_PORT] = { LFP_F_LOCAL_PORT, "local.port", LFP_FK_INT, 65535, "local port" },
	[LFP_F_REMOTE_ADDR] = { LFP_F_REMOTE_ADDR, "remote.addr", LFP_FK_ADDR, 0,
				"remote address" },
	[LFP_F_REMOTE_PORT] = { LFP_F_REMOTE_PORT, "remote.port", LFP_FK_INT, 65535,
				"remote port" },
	[LFP_F_ORIG_ADDR] = { LFP_F_ORIG_ADDR, "orig.addr", LFP_FK_ADDR, 0,
			      "original destination of a redirected flow" },
	[LFP_F_ORIG_PORT] = { LFP_F_ORIG_PORT, "orig.port", LFP_FK_INT, 65535,
			      "original destination port of a redirected flow" },
	[LFP_F_DIRECTION] = { LFP_F_DIRECTION, "direction", LFP_FK_INT, 1, "outbound or inbound" },
	[LFP_F_IFACE] = { LFP_F_IFACE, "iface", LFP_FK_INT, 0xffffffffu,
			  "interface, by name or index" },
	[LFP_F_ICMP_TYPE] = { LFP_F_ICMP_TYPE, "icmp.type", LFP_FK_INT, 255,
			      "ICMP type, by name or number" },
	[LFP_F_ICMP_CODE] = { LFP_F_ICMP_CODE, "icmp.code", LFP_FK_INT, 255,
			      "ICMP code, by name or number" },
	[LFP_F_FLAGS] = { LFP_F_FLAGS, "flags", LFP_FK_FLAGS, 0,
			  "loopback, redirected, reauthorize, raw, implicit-bind" },
};

static const struct lfp_layer_info layers[LFP_LAYER_COUNT] = {
	[LFP_LAYER_RESOURCE_ASSIGNMENT] = { LFP_LAYER_RESOURCE_ASSIGNMENT, "resource-assignment",
					    "ALE_RESOURCE_ASSIGNMENT",
					    "cgroup sock_create (raw, ICMP sockets), post_bind4/6 "
					    "(explicit binds), connect4/6 and sendmsg4/6 (implicit "
					    "binds, local port 0)",
					    F_WHO | F_IP | F_LOCAL | B(LFP_F_FLAGS), A_AUTH, false,
					    "a socket is created or bound" },
	[LFP_LAYER_BIND_REDIRECT] = { LFP_LAYER_BIND_REDIRECT, "bind-redirect", "ALE_BIND_REDIRECT",
				      "cgroup bind4/6", F_WHO | F_IP | F_LOCAL | B(LFP_F_FLAGS),
				      A(LFP_ACT_PERMIT) | A(LFP_ACT_REDIRECT) | A(LFP_ACT_CALLOUT),
				      false,
				      "rewrite the local address of a bind (redirect to H:P)" },
	[LFP_LAYER_AUTH_LISTEN] = { LFP_LAYER_AUTH_LISTEN, "auth-listen", "ALE_AUTH_LISTEN",
				    "BPF LSM socket_listen, else sock_ops listen callback + "
				    "ingress SYN drop",
				    F_WHO | F_IP | F_LOCAL | B(LFP_F_FLAGS), A_AUTH, false,
				    "a TCP socket listens" },
	[LFP_LAYER_AUTH_RECV_ACCEPT] = { LFP_LAYER_AUTH_RECV_ACCEPT, "auth-recv-accept",
					 "ALE_AUTH_RECV_ACCEPT",
					 "cgroup_skb ingress: SYN to a listener, first datagram "
					 "from a new remote",
					 F_WHO | F_IP | F_LOCAL | F_REMOTE | B(LFP_F_DIRECTION) |
						 B(LFP_F_IFACE) | F_ICMP | B(LFP_F_FLAGS),
					 A_AUTH | A(LFP_ACT_ASK), true,
					 "an inbound connection or first datagram is accepted" },
	[LFP_LAYER_CONNECT_REDIRECT] = { LFP_LAYER_CONNECT_REDIRECT, "connect-redirect",
					 "ALE_CONNECT_REDIRECT",
					 "cgroup connect4/6, sendmsg4/6; getpeername4/6, "
					 "recvmsg4/6 hide the rewrite",
					 F_WHO | F_IP | F_LOCAL | F_REMOTE | B(LFP_F_FLAGS),
					 A(LFP_ACT_PERMIT) | A(LFP_ACT_REDIRECT) |
						 A(LFP_ACT_CALLOUT),
					 false, "rewrite the remote address of a connect or send" },
	[LFP_LAYER_AUTH_CONNECT] = { LFP_LAYER_AUTH_CONNECT, "auth-connect", "ALE_AUTH_CONNECT",
				     "cgroup connect4/6 (TCP, connected UDP), sendmsg4/6 "
				     "(unconnected UDP, cached per remote)",
				     F_WHO | F_IP | F_LOCAL | F_REMOTE | F_ORIG | F_ICMP |
					     B(LFP_F_FLAGS),
				     A_AUTH | A(LFP_ACT_ASK), true,
				     "an outbound connection or first datagram to a remote" },
	[LFP_LAYER_FLOW_ESTABLISHED] = { LFP_LAYER_FLOW_ESTABLISHED, "flow-established",
					 "ALE_FLOW_ESTABLISHED",
					 "sock_ops established callbacks (observe only)",
					 F_WHO | F_IP | F_LOCAL | F_REMOTE | B(LFP_F_DIRECTION) |
						 B(LFP_F_FLAGS),
					 A(LFP_ACT_PERMIT) | A(LFP_ACT_CALLOUT), false,
					 "a flow is established" },
	[LFP_LAYER_ENDPOINT_CLOSURE] = { LFP_LAYER_ENDPOINT_CLOSURE, "endpoint-closure",
					 "ALE_ENDPOINT_CLOSURE",
					 "sock_ops state callback (TCP), cgroup sock_release (UDP); observe only",
					 F_WHO | F_IP | F_LOCAL | F_REMOTE | B(LFP_F_FLAGS),
					 A(LFP_ACT_PERMIT) | A(LFP_ACT_CALLOUT), false,
					 "an endpoint is closed" },
	[LFP_LAYER_INBOUND_TRANSPORT] = { LFP_LAYER_INBOUND_TRANSPORT, "inbound-transport",
					  "INBOUND_TRANSPORT",
					  "cgroup_skb ingress; netfilter LOCAL_IN for packets "
					  "without a socket",
					  F_WHO | F_IP | F_LOCAL | F_REMOTE | F_ICMP |
						  B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					  A_AUTH, false,
					  "an inbound packet at the transport layer" },
	[LFP_LAYER_OUTBOUND_TRANSPORT] = { LFP_LAYER_OUTBOUND_TRANSPORT, "outbound-transport",
					   "OUTBOUND_TRANSPORT",
					   "cgroup_skb egress; netfilter LOCAL_OUT for packets "
					   "without a socket",
					   F_WHO | F_IP | F_LOCAL | F_REMOTE | F_ICMP |
						   B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					   A_AUTH, false,
					   "an outbound packet at the transport layer" },
	[LFP_LAYER_INBOUND_IPPACKET] = { LFP_LAYER_INBOUND_IPPACKET, "inbound-ippacket",
					 "INBOUND_IPPACKET",
					 "cgroup_skb ingress; netfilter LOCAL_IN",
					 F_IP | B(LFP_F_LOCAL_ADDR) | B(LFP_F_REMOTE_ADDR) |
						 B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					 A_AUTH, false, "an inbound IP packet" },
	[LFP_LAYER_OUTBOUND_IPPACKET] = { LFP_LAYER_OUTBOUND_IPPACKET, "outbound-ippacket",
					  "OUTBOUND_IPPACKET",
					  "cgroup_skb egress; netfilter LOCAL_OUT",
					  F_IP | B(LFP_F_LOCAL_ADDR) | B(LFP_F_REMOTE_ADDR) |
						  B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					  A_AUTH, false, "an outbound IP packet" },
	[LFP_LAYER_INBOUND_ICMP_ERROR] = { LFP_LAYER_INBOUND_ICMP_ERROR, "inbound-icmp-error",
					   "INBOUND_ICMP_ERROR",
					   "cgroup_skb ingress / netfilter LOCAL_IN, ICMP errors "
					   "with the header they quote",
					   F_WHO | F_IP | F_LOCAL | F_REMOTE | F_ICMP |
						   B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					   A_AUTH, false,
					   "an inbound ICMP error, attributed to the quoted flow" },
	[LFP_LAYER_OUTBOUND_ICMP_ERROR] = { LFP_LAYER_OUTBOUND_ICMP_ERROR, "outbound-icmp-error",
					    "OUTBOUND_ICMP_ERROR",
					    "cgroup_skb egress / netfilter LOCAL_OUT, ICMP errors "
					    "with the header they quote",
					    F_WHO | F_IP | F_LOCAL | F_REMOTE | F_ICMP |
						    B(LFP_F_IFACE) | B(LFP_F_FLAGS),
					    A_AUTH, false,
					    "an outbound ICMP error, attributed to the quoted "
					    "flow" },
	[LFP_LAYER_IPFORWARD] = { LFP_LAYER_IPFORWARD, "ipforward", "IPFORWARD",
				  "BPF netfilter program at FORWARD",
				  F_IP | F_LOCAL | F_REMOTE | F_ICMP | B(LFP_F_IFACE) |
					  B(LFP_F_FLAGS),
				  A(LFP_ACT_PERMIT) | A(LFP_ACT_BLOCK), false,
				  "a forwarded packet" },
	[LFP_LAYER_STREAM] = { LFP_LAYER_STREAM, "stream", "STREAM",
			       "sk_msg (outbound) and sk_skb (inbound) on TCP flows enrolled "
			       "through sock_ops",
			       F_WHO | B(LFP_F_IPVER) | F_LOCAL | F_REMOTE | B(LFP_F_DIRECTION) |
				       B(LFP_F_FLAGS),
			       A_AUTH, false, "TCP stream data" },
	[LFP_LAYER_DATAGRAM_DATA] = { LFP_LAYER_DATAGRAM_DATA, "datagram-data", "DATAGRAM_DATA",
				      "cgroup_skb on UDP payloads",
				      F_WHO | F_IP | F_LOCAL | F_REMOTE | B(LFP_F_DIRECTION) |
					      B(LFP_F_IFACE) | B(LFP_F_FLAGS),
				      A_AUTH, false, "a UDP datagram" },
};

static const char *const cflag_names[] = {
	"loopback", "redirected", "reauthorize", "raw", "implicit-bind",
};

const struct lfp_layer_info *lfp_layer_info(enum lfp_layer l)
{
	return (unsigned int)l < LFP_LAYER_COUNT ? &layers[l] : NULL;
}

int lfp_layer_by_name(const char *name)
{
	for (int i = 0; i < LFP_LAYER_COUNT; i++)
		if (!strcmp(layers[i].name, name))
			return i;
	return -ENOENT;
}

const struct lfp_field_info *lfp_field_info(enum lfp_field f)
{
	return (unsigned int)f < LFP_F_COUNT ? &fields[f] : NULL;
}

int lfp_field_by_name(const char *name)
{
	for (int i = 0; i < LFP_F_COUNT; i++)
		if (!strcmp(fields[i].name, name))
			return i;
	return -ENOENT;
}

bool lfp_layer_has_field(enum lfp_layer l, enum lfp_field f)
{
	return (unsigned int)l < LFP_LAYER_COUNT && (unsigned int)f < LFP_F_COUNT &&
	       (layers[l].fields & B(f));
}

const char *lfp_cflag_name(unsigned int bit)
{
	return bit < sizeof(cflag_names) / sizeof(cflag_names[0]) ? cflag_names[bit] : NULL;
}

int lfp_cflag_by_name(const char *name)
{
	for (unsigned int i = 0; i < sizeof(cflag_names) / sizeof(cflag_names[0]); i++)
		if (!strcmp(cflag_names[i], name))
			return 1 << i;
	return -ENOENT;
}

static const struct {
	unsigned int num;
	const char *name;
} protos[] = {
	{ 1, "icmp" },	  { 2, "igmp" },   { 6, "tcp" },       { 17, "udp" },
	{ 41, "ipv6" },	  { 47, "gre" },   { 50, "esp" },      { 51, "ah" },
	{ 58, "icmpv6" }, { 132, "sctp" }, { 136, "udplite" }, { 255, "raw" },
};

const char *lfp_proto_name(unsigned int proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	return NULL;
}

int lfp_proto_by_name(const char *name)
{
	if (!strcasecmp(name, "ipv6-icmp"))
		return 58;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcasecmp(protos[i].name, name))
			return (int)protos[i].num;
	return -ENOENT;
}
